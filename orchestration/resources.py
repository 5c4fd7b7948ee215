"""Resources, decided in one place from the settings (and so from AUTOSTACK_HOME)."""


import os

from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource

from autostack.settings import Settings, get_settings
from orchestration.ingest import duckdb_config


class AutoStackSettings(ConfigurableResource):
    """AutoStack's settings for assets that need paths (landing folders, quarantine, snapshot)."""

    home: str

    def get(self) -> Settings:
        return get_settings({**os.environ, "AUTOSTACK_HOME": self.home})


def build_resources(settings: Settings) -> dict:
    from orchestration.defs.transform import dbt_resource

    return {
        "autostack": AutoStackSettings(home=str(settings.home)),
        "warehouse": DuckDBResource(database=str(settings.warehouse_path), connection_config=duckdb_config.settings()),
        "dbt": dbt_resource(settings),
    }
