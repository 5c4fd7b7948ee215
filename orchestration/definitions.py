"""The Dagster code location: every asset, check, job and sensor of AutoStack, built from the settings.

`build_definitions(settings)` is the one place where policy is applied (the warehouse
concurrency pool, resources per environment); `defs` is what `workspace.yaml` loads.
"""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, definitions, in_process_executor

from autostack.settings import Settings, get_settings
from orchestration.defs.budgets import budget_status, build_budget_definitions
from orchestration.defs.ingest import raw_billing_files
from orchestration.defs.ml import ML_CHECKS, ml_anomalies, ml_forecasts
from orchestration.defs.metrics import utilization_daily
from orchestration.defs.pricing import price_catalog
from orchestration.defs.publish import serving_snapshot, serving_snapshot_costs
from orchestration.defs.quality import billed_cost_reconciles_to_sources, focus_1_2_conformance
from orchestration.defs.recommendations import recommendations
from orchestration.defs.requests import build_refresh_requests_sensor
from orchestration.defs.sensors import build_export_files_sensor
from orchestration.defs.transform import build_dbt_assets
from orchestration.resources import build_resources

INGEST_JOB = "ingest_job"


def build_definitions(settings: Settings) -> Definitions:
    settings.ensure_dirs()
    dbt_assets = build_dbt_assets(settings)
    ingest_job = define_asset_job(
        INGEST_JOB,
        # Reference seeds are not downstream of the raw tables but the models need them built.
        # So are the price catalog and the utilization metrics the recommendations read.
        # Budgets run in their own job, started by a sensor after each successful ingest run.
        selection=(AssetSelection.assets(raw_billing_files).downstream() - AssetSelection.assets(budget_status))
        | AssetSelection.groups("reference", "pricing", "metrics"),
        description="Load export files, then rebuild everything downstream: dbt, checks, the serving snapshot.",
        # One process runs every step in order. The steps share one DuckDB file (one writer at a time)
        # and parallelize inside (DuckDB threads, dbt threads, the forecasts' process pool), so a process
        # per step only added its start-up and code loading, several seconds per step.
        executor_def=in_process_executor,
    )
    budget_job, budget_schedule, budget_sensor = build_budget_definitions(settings, ingest_job, serving_snapshot)
    return Definitions(
        assets=[raw_billing_files, dbt_assets, ml_forecasts, ml_anomalies, price_catalog, utilization_daily,
                recommendations, serving_snapshot_costs, serving_snapshot, budget_status],
        asset_checks=[billed_cost_reconciles_to_sources, focus_1_2_conformance, *ML_CHECKS],
        jobs=[ingest_job, budget_job],
        schedules=[budget_schedule],
        sensors=[build_export_files_sensor(INGEST_JOB, settings), build_refresh_requests_sensor(INGEST_JOB, settings),
                 budget_sensor],
        resources=build_resources(settings),
    )


@definitions
def defs() -> Definitions:
    """Loaded lazily by `dagster-webserver -w workspace.yaml`, so importing this module has no side effects."""
    return build_definitions(get_settings())
