"""Publish: an atomic read-only snapshot of the warehouse for the app, the CLI and SQL users.

Readers never open the working warehouse (DuckDB allows one writer or many readers, not both):
after a run changes the published tables, the warehouse is checkpointed, copied next to the
snapshot and swapped in with os.replace. A reader holding the old snapshot keeps reading it.
"""


import os
import shutil

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset
from dagster_duckdb import DuckDBResource

from orchestration.resources import AutoStackSettings

PUBLISHED_UPSTREAMS = [
    AssetKey(["focus", "costs_v1_2"]),
    AssetKey(["focus", "costs"]),
    AssetKey(["marts", "daily_costs"]),
    AssetKey(["marts", "monthly_costs"]),
    AssetKey(["marts", "daily_costs_by_tag"]),
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


@asset(
    key="serving_snapshot",
    group_name="publish",
    deps=PUBLISHED_UPSTREAMS,
    kinds={"duckdb"},
    pool="warehouse",
    description="Read-only copy of the warehouse, swapped in atomically; what the app and `autostack sql` read.",
)
def serving_snapshot(context: AssetExecutionContext, autostack: AutoStackSettings, warehouse: DuckDBResource) -> MaterializeResult:
    settings = autostack.get()
    with warehouse.get_connection() as con:
        con.execute("CHECKPOINT")
        rows = con.execute("SELECT count(*) FROM focus.costs_v1_2").fetchall()[0][0]
    target = settings.serving_path
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{context.run.run_id[:8]}.tmp")
    shutil.copyfile(settings.warehouse_path, staging)
    os.replace(staging, target)
    return MaterializeResult(metadata={"path": str(target), "focus_rows": rows, "bytes": target.stat().st_size})
