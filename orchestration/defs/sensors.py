"""The sensor that notices new or changed billing export files and asks for one ingest run.

The cursor is a JSON object {uri: version} of the files already requested. A tick lists every
source, requests one run for everything new or changed (oldest delivery first), and moves the
cursor only for what it requested. Files that disappeared are reported, never deleted from the
warehouse: a billing export that was moved away still describes money that was spent.
"""

from __future__ import annotations

import hashlib
import json

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from autostack.settings import Settings, get_settings
from orchestration.sources import ExportObject, Scan, scan

SENSOR_NAME = "new_export_files"
INGEST_OP = "raw_billing_files"
_SHOWN = 5  # file names quoted in a message before "and N more"


def build_export_files_sensor(job_name: str = "ingest_job", settings: Settings | None = None) -> SensorDefinition:
    """The `new_export_files` sensor, targeting `job_name` (whose op `raw_billing_files` takes `uris`)."""
    settings = settings or get_settings()

    @sensor(
        job_name=job_name,
        name=SENSOR_NAME,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description="Requests one ingest run for billing export files that are new or changed in the "
        "landing folders and S3 sources.",
    )
    def new_export_files(context: SensorEvaluationContext) -> SensorResult:
        seen = _read_cursor(context)
        found = scan(settings)
        for source, reason in found.failures.items():
            context.log.error(f"cannot list {source}: {reason}")
        if not context.cursor:
            # The first tick (e.g. right after `autostack up` loaded everything): files the published
            # manifest already holds, unchanged, are not requested again — a second full run for nothing.
            seen = already_loaded(found, settings.serving_path)
            if seen:
                context.log.info(f"first tick: {len(seen)} listed file(s) are already loaded and unchanged")
        return evaluate_tick(found, seen, context.log)

    return new_export_files


def evaluate_tick(found: Scan, seen: dict[str, str], log) -> SensorResult:
    """Decide a tick from a listing and the cursor: a run request, or why there is none."""
    changed = [obj for obj in found.objects if seen.get(obj.uri) != obj.version]
    listed = {obj.uri for obj in found.objects}
    # A file under a source that could not be listed is unknown, not removed: keep it in the cursor.
    removed = sorted(uri for uri in seen if uri not in listed and not found.covers_failed_source(uri))
    cursor = {uri: version for uri, version in seen.items() if uri not in removed}
    cursor.update({obj.uri: obj.version for obj in changed})
    new_cursor = json.dumps(cursor, sort_keys=True)

    if removed:
        log.warning(
            f"{len(removed)} file(s) no longer listed, their loaded data is kept: {_names(removed)}"
        )
    if changed:
        log.info(f"requesting ingest of {len(changed)} new or changed file(s): {_names([o.uri for o in changed])}")
        return SensorResult(run_requests=[_run_request(changed)], cursor=new_cursor)

    reasons = []
    if found.failures:
        reasons.append(
            "could not list " + "; ".join(f"{source} ({reason})" for source, reason in found.failures.items())
        )
    if removed:
        reasons.append(f"{len(removed)} file(s) no longer listed (loaded data kept): {_names(removed)}")
    reasons.append(f"no new or changed export files among {len(found.objects)} listed")
    return SensorResult(skip_reason=SkipReason("; ".join(reasons)), cursor=new_cursor)


def already_loaded(found: Scan, serving_path) -> dict[str, str]:
    """{uri: version} of the listed files whose newest load in the published manifest
    (ingest.file_loads of the serving snapshot) was of the same size and modification time."""
    import duckdb

    try:
        con = duckdb.connect(str(serving_path), read_only=True)
    except (duckdb.Error, OSError):
        return {}  # nothing published yet (or being replaced this instant): request everything
    try:
        rows = con.execute(
            """SELECT source_uri, size_bytes, epoch_us(source_modified_at) FROM ingest.file_loads
               QUALIFY row_number() OVER (PARTITION BY source_uri ORDER BY loaded_at DESC) = 1"""
        ).fetchall()
    except duckdb.Error:
        return {}
    finally:
        con.close()
    loaded = {uri: (size, modified_us) for uri, size, modified_us in rows}
    seen = {}
    for obj in found.objects:
        size, modified_us = loaded.get(obj.uri, (None, None))
        if size == obj.size and modified_us is not None:
            listed_us = obj.modified_at.timestamp() * 1_000_000
            if abs(listed_us - modified_us) < 1_000:  # the same file (float rounding of mtime aside)
                seen[obj.uri] = obj.version
    return seen


def run_key_for(objects: list[ExportObject]) -> str:
    """Stable for the same set of (uri, version) pairs, whatever their order."""
    pairs = sorted((obj.uri, obj.version) for obj in objects)
    return "export-files-" + hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:32]


def _run_request(objects: list[ExportObject]) -> RunRequest:
    return RunRequest(
        run_key=run_key_for(objects),
        run_config={"ops": {INGEST_OP: {"config": {"uris": [obj.uri for obj in objects], "force": False}}}},
        tags={"autostack/trigger": "sensor", "autostack/files": str(len(objects))},
    )


def _read_cursor(context: SensorEvaluationContext) -> dict[str, str]:
    if not context.cursor:
        return {}
    try:
        data = json.loads(context.cursor)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        # Starting over only re-requests files; the loader skips content it already has.
        context.log.warning(f"ignoring an unreadable cursor (expected a JSON object of uri → version): {context.cursor[:200]!r}")
        return {}
    return {str(uri): str(version) for uri, version in data.items()}


def _names(uris: list[str]) -> str:
    shown = ", ".join(uris[:_SHOWN])
    return shown + (f" and {len(uris) - _SHOWN} more" if len(uris) > _SHOWN else "")
