"""Budgets: evaluate every budget into marts.budget_status, fire alerts, deliver them; job, schedule, sensor.

`budget_job` runs `marts/budget_status` then `serving_snapshot` (so the app and the CLI see the new
status). It runs hourly (`AUTOSTACK_BUDGET_SCHEDULE`, cron in UTC) and after every successful
`ingest_job` run (a run-status sensor), both RUNNING by default so `autostack up`'s daemon starts
them. Failed deliveries show as asset metadata, a warning asset check and run-log warnings;
they never fail the run (a channel being down must not stop the status table or other channels).
"""

from datetime import UTC, date, datetime
from typing import Optional

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    Config,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    RunStatusSensorContext,
    ScheduleDefinition,
    asset,
    define_asset_job,
    in_process_executor,
    run_status_sensor,
)
from dagster_duckdb import DuckDBResource

from autostack.budgets.runner import RunSummary, deliver_pending, emit_alerts, evaluate_and_write
from autostack.settings import Settings
from orchestration.resources import AutoStackSettings

BUDGET_JOB = "budget_job"
BUDGET_SCHEDULE = "budget_schedule"
BUDGET_SENSOR = "budgets_after_ingest"
DELIVERY_CHECK = "alert_deliveries_succeeded"


class BudgetEvaluationConfig(Config):
    today: Optional[str] = None  # YYYY-MM-DD; default the current UTC day (set it to re-evaluate a past day)


@asset(
    key=AssetKey(["marts", "budget_status"]),
    group_name="budgets",
    deps=[AssetKey(["focus", "costs"]), AssetKey(["ml", "forecasts"])],
    kinds={"duckdb"},
    pool="warehouse",
    check_specs=[AssetCheckSpec(DELIVERY_CHECK, asset=AssetKey(["marts", "budget_status"]),
                                description="Every alert delivery of this run reached its channel.")],
    description="Per budget: spent so far this period, forecast at period end (ml.forecasts or the documented "
    "fallback), percentages, days left, breached thresholds. Fires each threshold once per period and "
    "delivers it to the budget's channels (Slack, signed webhook, e-mail).",
)
def budget_status(context: AssetExecutionContext, config: BudgetEvaluationConfig, autostack: AutoStackSettings,
                  warehouse: DuckDBResource):
    settings: Settings = autostack.get()
    today = date.fromisoformat(config.today) if config.today else datetime.now(UTC).date()
    with warehouse.get_connection() as con:
        evaluations = evaluate_and_write(con, settings, today)
    # The warehouse is released before any network call: a slow channel must not hold it.
    fired = emit_alerts(settings, evaluations, context.log)
    summary = RunSummary(evaluations, fired, deliver_pending(settings, logger=context.log))
    failed = summary.failed_deliveries
    for outcome in failed:
        context.log.warning(f"delivery FAILED: budget {outcome.budget!r} {outcome.threshold} → {outcome.channel} "
                            f"({outcome.purpose}) after {outcome.total_attempts} attempt(s): {outcome.error}")
    yield MaterializeResult(
        metadata={
            "budgets": len(summary.evaluations),
            "breached": sum(1 for ev in summary.evaluations if ev.breached),
            "alerts_fired": len(summary.fired),
            "deliveries": len(summary.deliveries),
            "deliveries_failed": len(failed),
            "evaluated_for": today.isoformat(),
            "status": MetadataValue.md("\n".join(f"- {line}" for line in summary.status_lines()) or "no budgets"),
            "failed_deliveries": MetadataValue.md(
                "\n".join(f"- {o.budget} {o.threshold} → {o.channel}: {o.error}" for o in failed) or "none"),
        }
    )
    yield AssetCheckResult(
        check_name=DELIVERY_CHECK, passed=not failed, severity=AssetCheckSeverity.WARN,
        description=(f"{len(failed)} of {len(summary.deliveries)} deliveries failed: "
                     + "; ".join(f"{o.channel}: {o.error}" for o in failed)) if failed
        else f"{len(summary.deliveries)} deliveries, all delivered",
    )


def build_budget_definitions(settings: Settings, ingest_job, serving_snapshot_asset):
    """The budget job, its hourly schedule and the after-ingest sensor."""
    job = define_asset_job(
        BUDGET_JOB,
        selection=AssetSelection.assets(budget_status, serving_snapshot_asset),
        description="Evaluate every budget, fire and deliver alerts, then publish a new serving snapshot.",
        executor_def=in_process_executor,  # two sequential steps: a process each only adds start-up
    )
    schedule = ScheduleDefinition(
        name=BUDGET_SCHEDULE, job=job, cron_schedule=settings.budget_schedule, execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
        description="Evaluate budgets on a schedule (AUTOSTACK_BUDGET_SCHEDULE, cron in UTC; hourly by default).",
    )

    @run_status_sensor(
        name=BUDGET_SENSOR,
        run_status=DagsterRunStatus.SUCCESS,
        monitored_jobs=[ingest_job],
        request_job=job,
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        description="Evaluate budgets as soon as an ingest run has loaded new costs successfully.",
    )
    def budgets_after_ingest(context: RunStatusSensorContext):
        return RunRequest(run_key=f"after-ingest-{context.dagster_run.run_id}",
                          tags={"autostack/trigger": "ingest", "autostack/ingest_run": context.dagster_run.run_id})

    return job, schedule, budgets_after_ingest

