"""The CLI end to end: real Dagster runs, real dbt build, real validator, on the shipped samples."""

from __future__ import annotations

import json
import os
import shutil

import duckdb
import pytest

from autostack.cli import main
from conftest import SAMPLES

pytestmark = pytest.mark.slow


def sql_json(capsys, query: str):
    capsys.readouterr()
    assert main(["sql", query, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_ingest_status_sql_export_and_reload(autostack_home, capsys, tmp_path):
    focus_dir = tmp_path / "exports" / "focus"
    shutil.copytree(SAMPLES / "focus-1.0-sample-aws", focus_dir)

    assert main(["ingest", str(focus_dir)]) == 0
    err = capsys.readouterr().err
    assert "loaded" in err and "focus_sample_aws.csv" in err and "942 rows" in err

    totals = sql_json(capsys, "SELECT count(*) AS n, sum(BilledCost) AS billed FROM focus.costs")
    con = duckdb.connect()
    expected = con.execute(
        f"SELECT count(*), sum(CAST(BilledCost AS DECIMAL(38,12))) FROM read_csv('{focus_dir / 'focus_sample_aws.csv'}', all_varchar=true)"
    ).fetchall()[0]
    assert totals[0]["n"] == expected[0]
    assert totals[0]["billed"] == pytest.approx(float(expected[1]), abs=0.005)

    # The marts reconcile to focus.costs.
    marts = sql_json(capsys, "SELECT (SELECT sum(billed_cost) FROM marts.daily_costs) AS daily, (SELECT sum(billed_cost) FROM marts.monthly_costs) AS monthly")
    assert marts[0]["daily"] == pytest.approx(totals[0]["billed"], abs=1e-9)
    assert marts[0]["monthly"] == pytest.approx(totals[0]["billed"], abs=1e-9)

    # CSV output for scripts and a readable table by default.
    assert main(["sql", "SELECT ProviderName, count(*) AS n FROM focus.costs GROUP BY 1", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["ProviderName,n", "AWS,942"]
    assert main(["sql", "SELECT 1 AS one"]) == 0
    assert "one" in capsys.readouterr().out

    # The snapshot is read-only: SQL cannot change published data.
    assert main(["sql", "DELETE FROM focus.costs_v1_2"]) == 1
    assert "read-only" in capsys.readouterr().err.lower()

    for name in ("focus.csv", "focus.parquet"):
        out = tmp_path / "out" / name
        assert main(["export", "focus", str(out)]) == 0
        reader = "read_csv" if name.endswith(".csv") else "read_parquet"
        assert con.execute(f"SELECT count(*) FROM {reader}('{out}')").fetchall()[0][0] == expected[0]
    assert main(["export", "focus", str(tmp_path / "out" / "focus.xlsx")]) == 1

    capsys.readouterr()
    assert main(["status"]) == 0
    status = capsys.readouterr().out
    assert "focus_sample_aws.csv" in status and "2024-09" in status
    assert "1 of 1 file billing periods match" in status
    assert "billed_cost_reconciles_to_sources: succeeded" in status

    def seeds_built_at():
        with duckdb.connect(str(autostack_home.warehouse_path), read_only=True) as wh:
            return wh.execute("SELECT built_at FROM ingest.dbt_seed_state").fetchall()

    first_seed_build = seeds_built_at()
    assert len(first_seed_build) == 1

    # Loading the same files again changes no total.
    assert main(["ingest", str(focus_dir)]) == 0
    assert "unchanged" in capsys.readouterr().err
    again = sql_json(capsys, "SELECT count(*) AS n, sum(BilledCost) AS billed FROM focus.costs")
    assert again == totals
    # The reference seeds were current, so that run did not rebuild them...
    assert seeds_built_at() == first_seed_build
    from orchestration.defs.transform import _seeds, dbt_project, seed_fingerprint, seeds_are_current

    seeds = _seeds(dbt_project(autostack_home).manifest_path)
    fingerprint = seed_fingerprint(seeds)
    assert seeds_are_current(autostack_home.warehouse_path, seeds, fingerprint)
    # That run loaded no file, so the validator checked every row; the next such run, with the table
    # unchanged, keeps that result instead of running the validator again.
    results = autostack_home.home / "validator" / "focus_validator_results.xml"
    validated = results.stat().st_mtime_ns
    assert main(["ingest", str(focus_dir)]) == 0
    capsys.readouterr()
    assert results.stat().st_mtime_ns == validated
    assert main(["status"]) == 0
    status = capsys.readouterr().out
    assert "focus_1_2_conformance: succeeded" in status and "0 MUST rule(s) failing on all 942 rows (kept:" in status
    # Every run's dbt build started from the project's saved parse instead of parsing it all again.
    run_logs = sorted((autostack_home.dbt_target_dir / "runs").glob("*/dbt.log"))
    assert len(run_logs) == 3
    for log in run_logs:
        text = log.read_text()
        assert "PartialParsingEnabled" in text and "UnableToPartialParse" not in text, log
    # ...and the seeds are rebuilt when a file changed or a table is missing.
    assert not seeds_are_current(autostack_home.warehouse_path, seeds, "another fingerprint")
    with duckdb.connect(str(autostack_home.warehouse_path)) as wh:
        wh.execute(f"DROP TABLE {sorted(seeds)[0]}")
    assert not seeds_are_current(autostack_home.warehouse_path, seeds, fingerprint)


def test_a_corrupt_file_is_named_and_the_rest_still_loads(autostack_home, capsys, tmp_path):
    delivery = tmp_path / "exports"
    shutil.copytree(SAMPLES / "focus-1.0-sample-aws", delivery / "good")
    (delivery / "bad").mkdir()
    corrupt = delivery / "bad" / "truncated.csv.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00garbage")
    unknown = delivery / "bad" / "inventory.csv"
    unknown.write_text("sku,count\nA,1\n")

    assert main(["ingest", str(delivery)]) == 1
    err = capsys.readouterr().err
    assert "QUARANTINED" in err and str(corrupt) in err and str(unknown) in err
    assert "Tried:" in err
    rows = sql_json(capsys, "SELECT count(*) AS n FROM focus.costs")
    assert rows[0]["n"] == 942
    assert main(["status"]) == 0
    status = capsys.readouterr().out
    assert "Quarantined files" in status and str(unknown) in status


def test_missing_path_and_no_snapshot_give_clear_errors(autostack_home, capsys, tmp_path):
    assert main(["sql", "SELECT 1"]) == 1
    assert "nothing is published yet" in capsys.readouterr().err
    assert main(["ingest", str(tmp_path / "nope")]) == 1
    assert str(tmp_path / "nope") in capsys.readouterr().err


def test_a_file_landing_is_noticed_by_the_sensor_and_published_by_its_run(autostack_home, capsys):
    """Sensor tick → RunRequest → the real ingest job → the data in the published snapshot."""
    from dagster import DagsterInstance, build_sensor_context

    from autostack.cli import prepare_dagster_home
    from orchestration.definitions import INGEST_JOB, build_definitions

    prepare_dagster_home(autostack_home)
    delivery = autostack_home.default_landing_dir / "focus" / "2024-09"
    shutil.copytree(SAMPLES / "focus-1.0-sample-aws", delivery)
    defs = build_definitions(autostack_home)
    sensor = defs.resolve_sensor_def("new_export_files")
    with DagsterInstance.get() as instance:
        tick = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
        assert len(tick.run_requests) == 1
        request = tick.run_requests[0]
        assert request.run_config["ops"]["raw_billing_files"]["config"]["uris"] == [str(delivery / "focus_sample_aws.csv")]
        result = defs.resolve_job_def(INGEST_JOB).execute_in_process(
            run_config=request.run_config, instance=instance, tags=request.tags, raise_on_error=False
        )
        assert result.success
        # The costs are published before the ML steps run; everything is published again after them.
        started = {s.step_key: s.start_time for s in instance.get_run_step_stats(result.run_id)}
        assert started["serving_snapshot_costs"] < min(started["ml__anomalies"], started["ml__recommendations"],
                                                        started["ml_forecasts"]) < started["serving_snapshot"]
        next_tick = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs, cursor=tick.cursor))
        assert not next_tick.run_requests
        # A daemon started afresh (no cursor) does not request what the published manifest holds...
        restarted = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
        assert not restarted.run_requests and restarted.cursor
        # ...but does request the file once it changes.
        landed = delivery / "focus_sample_aws.csv"
        stat = landed.stat()
        os.utime(landed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
        changed = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
        assert [r.run_config["ops"]["raw_billing_files"]["config"]["uris"] for r in changed.run_requests] == [[str(landed)]]
    rows = sql_json(capsys, "SELECT count(*) AS n FROM focus.costs")
    assert rows[0]["n"] == 942
