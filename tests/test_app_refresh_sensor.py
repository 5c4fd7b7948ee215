"""The refresh_requests sensor: a request written by the app starts one run, and the run's outcome
is reported back to the request."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, build_sensor_context, job, op
from sqlalchemy import select

from autostack.store import session_scope
from autostack.store.models import RefreshRequest
from orchestration.defs.requests import REQUEST_TAG, build_refresh_requests_sensor, evaluate_requests


class _Log:
    def __init__(self):
        self.lines = []

    def info(self, message):
        self.lines.append(message)


@op
def succeeds():
    return 1


@op
def fails():
    raise RuntimeError("planted failure")


@job
def good_job():
    succeeds()


@job
def bad_job():
    fails()


def _add_request(settings, kind="ingest") -> int:
    with session_scope(settings) as session:
        request = RefreshRequest(kind=kind, requested_by="test")
        session.add(request)
        session.flush()
        return request.id


def _statuses(settings) -> dict[int, tuple[str, str | None]]:
    with session_scope(settings) as session:
        return {r.id: (r.status, r.run_id) for r in session.scalars(select(RefreshRequest))}


def test_pending_request_starts_one_run_and_reports_success(autostack_home):
    instance = DagsterInstance.ephemeral()
    first = _add_request(autostack_home)
    result = evaluate_requests(autostack_home, instance, _Log())
    assert [r.run_key for r in result.run_requests] == [f"refresh-request-{first}"]
    request = result.run_requests[0]
    assert request.tags[REQUEST_TAG] == str(first)
    assert request.run_config == {"ops": {"raw_billing_files": {"config": {"uris": [], "force": False}}}}
    assert _statuses(autostack_home)[first] == ("running", None)

    # Not launched yet: asked again under the same run key (Dagster starts a run key once).
    again = evaluate_requests(autostack_home, instance, _Log())
    assert [r.run_key for r in again.run_requests] == [f"refresh-request-{first}"]

    run = good_job.execute_in_process(instance=instance, tags={REQUEST_TAG: str(first)})
    log = _Log()
    done = evaluate_requests(autostack_home, instance, log)
    assert not done.run_requests
    assert _statuses(autostack_home)[first] == ("succeeded", run.run_id)
    assert log.lines == [f"refresh requests finished: {first} succeeded"]
    # Nothing left to do: a skip, and the request stays succeeded.
    assert evaluate_requests(autostack_home, instance, _Log()).skip_reason is not None
    assert _statuses(autostack_home)[first][0] == "succeeded"


def test_failed_run_and_unknown_kind_mark_the_request_failed(autostack_home):
    instance = DagsterInstance.ephemeral()
    failing = _add_request(autostack_home)
    unknown = _add_request(autostack_home, kind="deploy")
    evaluate_requests(autostack_home, instance, _Log())
    run = bad_job.execute_in_process(instance=instance, tags={REQUEST_TAG: str(failing)}, raise_on_error=False)
    evaluate_requests(autostack_home, instance, _Log())
    with session_scope(autostack_home) as session:
        rows = {r.id: r for r in session.scalars(select(RefreshRequest))}
        assert (rows[failing].status, rows[failing].run_id) == ("failed", run.run_id)
        assert "failure" in rows[failing].message
        assert rows[unknown].status == "failed" and "unknown request kind 'deploy'" in rows[unknown].message


@pytest.mark.slow  # builds every definition (parses the dbt project)
def test_sensor_is_registered_and_evaluates(autostack_home):
    from orchestration.definitions import INGEST_JOB, build_definitions

    defs = build_definitions(autostack_home)
    sensor = defs.resolve_sensor_def("refresh_requests")
    assert sensor.job_name == INGEST_JOB
    _add_request(autostack_home)
    with DagsterInstance.ephemeral() as instance:
        result = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
    assert [r.run_key for r in result.run_requests] == ["refresh-request-1"]
