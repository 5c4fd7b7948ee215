"""The sensor that runs what people request in the app: a refresh (an ingest run of every source).

The app never runs pipelines itself: it writes a `RefreshRequest` (status `pending`) to the app
store. Each tick this sensor asks for one run per pending request (run key `refresh-request-<id>`,
so a request starts at most one run however often it is seen), marks it `running`, and on later
ticks reports the run's outcome back to the request: `succeeded` or `failed`.
"""


from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from sqlalchemy import select

from autostack.settings import Settings, get_settings
from autostack.store import session_scope
from autostack.store.models import RefreshRequest

SENSOR_NAME = "refresh_requests"
REQUEST_TAG = "autostack/refresh_request"
INGEST_OP = "raw_billing_files"
FAILED_STATUSES = {DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def build_refresh_requests_sensor(job_name: str = "ingest_job", settings: Settings | None = None) -> SensorDefinition:
    """The `refresh_requests` sensor, starting `job_name` (whose op `raw_billing_files` takes `uris`)."""
    settings = settings or get_settings()

    @sensor(
        job_name=job_name,
        name=SENSOR_NAME,
        minimum_interval_seconds=min(settings.sensor_interval_seconds, 30),
        default_status=DefaultSensorStatus.RUNNING,
        description="Starts an ingest run of every configured source for each refresh requested in the app, "
        "and reports the run's outcome back to the request.",
    )
    def refresh_requests(context: SensorEvaluationContext) -> SensorResult:
        return evaluate_requests(settings, context.instance, context.log)

    return refresh_requests


def run_key_for(request_id: int) -> str:
    return f"refresh-request-{request_id}"


def evaluate_requests(settings: Settings, instance: DagsterInstance, log) -> SensorResult:
    """Request runs for pending requests and copy finished runs' outcomes to their requests."""
    run_requests: list[RunRequest] = []
    finished: list[str] = []
    with session_scope(settings) as session:
        active = session.scalars(
            select(RefreshRequest).where(RefreshRequest.status.in_(("pending", "running"))).order_by(RefreshRequest.id)
        ).all()
        for request in active:
            if request.kind != "ingest":
                request.status, request.message = "failed", f"unknown request kind {request.kind!r}; expected 'ingest'"
                finished.append(f"{request.id} failed")
                continue
            runs = instance.get_runs(filters=RunsFilter(tags={REQUEST_TAG: str(request.id)}), limit=1)
            if not runs:
                # Not launched yet (or the launch was lost): asking again is safe, the run key dedupes.
                run_requests.append(_run_request(request.id))
                if request.status == "pending":
                    request.status, request.message = "running", "run requested"
                continue
            run = runs[0]
            request.run_id = run.run_id
            if run.status == DagsterRunStatus.SUCCESS:
                request.status, request.message = "succeeded", f"run {run.run_id[:8]} succeeded"
            elif run.status in FAILED_STATUSES:
                request.status = "failed"
                request.message = f"run {run.run_id[:8]} {run.status.value.lower()}; its log is in the Dagster UI"
            else:
                request.status, request.message = "running", f"run {run.run_id[:8]} {run.status.value.lower()}"
                continue
            finished.append(f"{request.id} {request.status}")
    if finished:
        log.info(f"refresh requests finished: {', '.join(finished)}")
    if run_requests:
        log.info(f"requesting {len(run_requests)} refresh run(s)")
        return SensorResult(run_requests=run_requests)
    return SensorResult(skip_reason=SkipReason(
        f"no pending refresh requests ({len(active) - len(finished)} still running)" if active else "no pending refresh requests"))


def _run_request(request_id: int) -> RunRequest:
    return RunRequest(
        run_key=run_key_for(request_id),
        # No uris: every configured landing folder and S3 source; unchanged files are skipped.
        run_config={"ops": {INGEST_OP: {"config": {"uris": [], "force": False}}}},
        tags={REQUEST_TAG: str(request_id), "autostack/trigger": "app"},
    )
