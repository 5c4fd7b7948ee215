"""Publish: an atomic read-only snapshot of the warehouse for the app, the CLI and SQL users.

Readers never open the working warehouse (DuckDB allows one writer or many readers, not both):
after a run changes the published tables, the warehouse is checkpointed, copied next to the
snapshot and swapped in with os.replace. A reader holding the old snapshot keeps reading it.

A run publishes twice: `serving_snapshot_costs` as soon as the cost tables are built and reconciled
(a new export's costs reach readers without waiting for the forecasts, anomalies and
recommendations, ~1.5 min at 10M rows), then `serving_snapshot` with everything.
"""


import os
import shutil

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset
from dagster_duckdb import DuckDBResource

from orchestration.resources import AutoStackSettings

# The cost tables a new export changes, published first.
COST_TABLES = [
    AssetKey(["focus", "costs_v1_2"]),
    AssetKey(["focus", "costs"]),
    AssetKey(["marts", "daily_costs"]),
    AssetKey(["marts", "monthly_costs"]),
    AssetKey(["marts", "daily_costs_by_tag"]),
]

PUBLISHED_UPSTREAMS = [
    *COST_TABLES,
    AssetKey(["ml", "forecasts"]),
    AssetKey(["ml", "month_end_projections"]),
    AssetKey(["ml", "forecast_backtests"]),
    AssetKey(["ml", "anomalies"]),
    AssetKey(["ml", "recommendations"]),
    AssetKey(["pricing", "instance_prices"]),
    AssetKey(["pricing", "instance_equivalents"]),
    AssetKey(["pricing", "egress_prices"]),
    AssetKey(["metrics", "utilization_daily"]),
    AssetKey(["marts", "budget_status"]),  # so budget_job publishes the status it just wrote
]


def publish(context: AssetExecutionContext, settings, warehouse: DuckDBResource) -> MaterializeResult:
    """Checkpoint the warehouse, copy it next to the snapshot and swap it in."""
    with warehouse.get_connection() as con:
        con.execute("CHECKPOINT")
        rows = con.execute("SELECT count(*) FROM focus.costs_v1_2").fetchall()[0][0]
    target = settings.serving_path
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{context.run.run_id[:8]}.tmp")
    shutil.copyfile(settings.warehouse_path, staging)
    os.replace(staging, target)
    return MaterializeResult(metadata={"path": str(target), "focus_rows": rows, "bytes": target.stat().st_size})


def _publishing_asset(key: str, deps: list[AssetKey], description: str, **extra):
    @asset(key=key, group_name="publish", deps=deps, kinds={"duckdb"}, pool="warehouse", description=description, **extra)
    def _publish(context: AssetExecutionContext, autostack: AutoStackSettings, warehouse: DuckDBResource) -> MaterializeResult:
        return publish(context, autostack.get(), warehouse)

    return _publish


serving_snapshot_costs = _publishing_asset(
    "serving_snapshot_costs", COST_TABLES,
    "The snapshot published as soon as the run's cost tables are built and reconciled, before the ML tables are "
    "recomputed (serving_snapshot follows with them).",
    # Among the steps ready after dbt (checks, ML), this one goes first.
    op_tags={"dagster/priority": "10"},
)
serving_snapshot = _publishing_asset(
    "serving_snapshot", PUBLISHED_UPSTREAMS,
    "Read-only copy of the warehouse, swapped in atomically; what the app and `autostack sql` read.",
)
