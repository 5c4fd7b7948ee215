"""dbt (through dagster-dbt): staging → intermediate → focus → marts, as Dagster assets.

dbt sources are keyed [schema, table] like the tables the `raw_billing_files` assets write, so the
graph reads: export files → raw.* / ingest.* → stg_* → int_* → focus/costs_v1_2 → marts.
"""


import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from autostack.settings import DBT_PROJECT_DIR, Settings

# The dbt next to this interpreter, so that running .venv/bin/autostack needs no activated venv.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


def dbt_environment(settings: Settings) -> dict[str, str]:
    """What dbt's profiles.yml reads from the environment."""
    return {"AUTOSTACK_WAREHOUSE_PATH": str(settings.warehouse_path), "DBT_LOG_PATH": str(settings.home / "dbt-logs")}


def dbt_project(settings: Settings) -> DbtProject:
    """The dbt project, with its manifest under AUTOSTACK_HOME; parsed again when the project changed."""
    os.environ.update(dbt_environment(settings))
    project = DbtProject(project_dir=DBT_PROJECT_DIR, target_path=settings.dbt_target_dir)
    if _manifest_is_stale(project):
        _dbt_cli(project).cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project


def _dbt_cli(project: DbtProject) -> DbtCliResource:
    return DbtCliResource(project_dir=project, profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=DBT_EXECUTABLE)


def _manifest_is_stale(project: DbtProject) -> bool:
    manifest = Path(project.manifest_path)
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    for folder in ("models", "macros", "tests"):
        for path in (DBT_PROJECT_DIR / folder).rglob("*"):
            if path.is_file() and path.stat().st_mtime > built:
                return True
    for path in (DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"):
        if path.stat().st_mtime > built:
            return True
    return False


def dbt_resource(settings: Settings) -> DbtCliResource:
    return _dbt_cli(dbt_project(settings))


KEPT_DBT_RUNS = 20


def _keep_newest(folder: Path, count: int) -> None:
    """dbt writes a few MB of artifacts per run; keep the newest runs' for debugging."""
    runs = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in runs[count:]:
        shutil.rmtree(old, ignore_errors=True)


class AutoStackDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([dbt_resource_props["schema"], dbt_resource_props.get("identifier") or dbt_resource_props["name"]])
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props.get("schema")
        return AssetKey([schema, dbt_resource_props["name"]]) if schema else AssetKey(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props.get("schema")
        return {"staging": "transform", "intermediate": "transform", "reference": "reference"}.get(schema, schema)


def build_dbt_assets(settings: Settings):
    project = dbt_project(settings)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=AutoStackDbtTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
        pool="warehouse",
        name="autostack_dbt",
    )
    def autostack_dbt(context: AssetExecutionContext, dbt: DbtCliResource):
        # Each run's dbt artifacts under AUTOSTACK_HOME, not in the project folder.
        runs = settings.dbt_target_dir / "runs"
        # Unit tests check the SQL against fixed rows, not the data: they run in the test suite and
        # `dbt build` by hand, not on every load (measured: ~20 unit tests, ~1-4 s each, per run).
        yield from dbt.cli(
            ["build", "--exclude-resource-type", "unit_test"], context=context, target_path=runs / context.run.run_id
        ).stream()
        _keep_newest(runs, KEPT_DBT_RUNS)

    return autostack_dbt
