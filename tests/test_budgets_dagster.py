"""Budgets in Dagster: the job, the hourly schedule and the after-ingest sensor, started by the daemon."""

from __future__ import annotations

import dataclasses
import shutil
from decimal import Decimal

import duckdb
import pytest
from dagster import DagsterInstance, DefaultScheduleStatus, DefaultSensorStatus

from autostack.budgets import BudgetSpec, ChannelSpec, add_budget, add_channel
from autostack.settings import get_settings
from orchestration.definitions import INGEST_JOB, build_definitions
from orchestration.defs.budgets import BUDGET_JOB, BUDGET_SCHEDULE, BUDGET_SENSOR, DELIVERY_CHECK
from tests.test_notify_receivers import http_receivers  # noqa: F401

pytestmark = pytest.mark.slow

TOKEN = "T0PSECRET-dagster-3e5f7a9b1c2d4e6f"


def test_schedule_and_sensor_run_by_default(autostack_home, monkeypatch):
    monkeypatch.setenv("AUTOSTACK_BUDGET_SCHEDULE", "*/30 * * * *")
    defs = build_definitions(get_settings())
    schedule = defs.resolve_schedule_def(BUDGET_SCHEDULE)
    assert schedule.job_name == BUDGET_JOB and schedule.cron_schedule == "*/30 * * * *"
    assert schedule.default_status == DefaultScheduleStatus.RUNNING and schedule.execution_timezone == "UTC"
    sensor = defs.resolve_sensor_def(BUDGET_SENSOR)
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert sensor.job_name == BUDGET_JOB
    assert [job.name for job in sensor._monitored_jobs] == [INGEST_JOB]  # no public accessor in Dagster 1.13
    job = defs.resolve_job_def(BUDGET_JOB)
    assert [n.name for n in job.nodes_in_topological_order] == ["marts__budget_status", "serving_snapshot"]
    # The ingest job does not evaluate budgets itself; the sensor starts budget_job after it succeeds.
    assert "marts__budget_status" not in {n.name for n in defs.resolve_job_def(INGEST_JOB).nodes_in_topological_order}


def test_budget_job_publishes_status_and_shows_failed_deliveries(demo_home, tmp_path, monkeypatch, http_receivers):  # noqa: F811
    settings = dataclasses.replace(get_settings({"AUTOSTACK_HOME": str(tmp_path / "home")}), notify_backoff_seconds=0.01)
    settings.ensure_dirs()
    shutil.copyfile(demo_home.serving_path, settings.warehouse_path)
    monkeypatch.setenv("AUTOSTACK_HOME", str(settings.home))
    monkeypatch.setenv("AUTOSTACK_NOTIFY_BACKOFF_SECONDS", "0.01")
    good, down = http_receivers(), http_receivers(fail_first=10_000)
    monkeypatch.setenv("GOOD_URL", f"{good.base_url}/hook")
    monkeypatch.setenv("DOWN_URL", f"{down.base_url}/services/T0/B0/{TOKEN}")
    add_channel(settings, ChannelSpec("good", "slack", secret_refs={"url": "GOOD_URL"}))
    add_channel(settings, ChannelSpec("down", "slack", secret_refs={"url": "DOWN_URL"}))
    add_budget(settings, BudgetSpec(name="total", amount=Decimal(1000), currency="USD", channels=("down", "good")),
               check_data=False)

    defs = build_definitions(settings)
    instance = DagsterInstance.ephemeral()
    result = defs.resolve_job_def(BUDGET_JOB).execute_in_process(
        run_config={"ops": {"marts__budget_status": {"config": {"today": "2026-11-20"}}}},
        instance=instance, raise_on_error=False)
    assert result.success  # a channel being down never fails the run
    assert len(good.accepted) == 1 and len(down.requests) == 3
    (check,) = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert check.check_name == DELIVERY_CHECK and not check.passed and check.severity.value == "WARN"
    assert "1 of 2 deliveries failed: down: HTTP 500" in check.description
    (materialization,) = [e.event_specific_data.materialization for e in result.all_events
                          if e.event_type_value == "ASSET_MATERIALIZATION"
                          and e.event_specific_data.materialization.asset_key.path == ["marts", "budget_status"]]
    assert materialization.metadata["deliveries_failed"].value == 1
    assert materialization.metadata["alerts_fired"].value == 1
    run_log = "\n".join(f"{entry.user_message} {entry.dagster_event or ''}" for entry in instance.all_logs(result.run_id))
    assert "delivery FAILED: budget 'total' 100% actual → down" in run_log
    assert TOKEN not in run_log

    con = duckdb.connect(str(settings.serving_path), read_only=True)  # published for the app and the CLI
    ((name, pct, breached),) = con.execute(
        "SELECT budget_name, pct_spent, breached_thresholds FROM marts.budget_status").fetchall()
    con.close()
    assert name == "total" and pct > 100 and breached == ["100% actual"]


UI_QUERY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes {
    schedules { name cronSchedule scheduleState { status } }
    sensors { name sensorState { status } } } } } }
"""


def test_dagster_ui_shows_the_schedule_and_sensor_running(autostack_home):
    """The real dagster-webserver over workspace.yaml, as `autostack up` starts it with the daemon."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from autostack.cli import prepare_dagster_home
    from autostack.settings import PROJECT_ROOT
    from tests.test_dagster_ui import free_port, graphql

    prepare_dagster_home(autostack_home)
    port = free_port()
    env = {**os.environ, "AUTOSTACK_HOME": str(autostack_home.home), "DAGSTER_HOME": str(autostack_home.dagster_home)}
    log_path = autostack_home.home / "webserver.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-webserver"), "-w", str(PROJECT_ROOT / "workspace.yaml"),
             "-h", "127.0.0.1", "-p", str(port)], env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline, nodes = time.monotonic() + 180, None
            while time.monotonic() < deadline and not nodes:
                assert proc.poll() is None, log_path.read_text()[-3000:]
                try:
                    nodes = graphql(port, UI_QUERY)["data"]["repositoriesOrError"]["nodes"]
                except (OSError, KeyError, TypeError):
                    time.sleep(1)
            assert nodes, log_path.read_text()[-3000:]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    schedules = {s["name"]: (s["cronSchedule"], s["scheduleState"]["status"]) for n in nodes for s in n["schedules"]}
    sensors = {s["name"]: s["sensorState"]["status"] for n in nodes for s in n["sensors"]}
    assert schedules[BUDGET_SCHEDULE] == ("0 * * * *", "RUNNING")
    assert sensors[BUDGET_SENSOR] == "RUNNING"
