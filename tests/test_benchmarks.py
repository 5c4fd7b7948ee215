"""The benchmarks in benchmarks/ run, at tiny sizes, and write their results table.

Results go to tmp_path, never into docs/. The focus-converter comparison creates that tool's own
pinned virtualenv when it is absent (about 30 s, from the package index), as the benchmark does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from autostack.settings import PROJECT_ROOT

BENCH = PROJECT_ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_lib  # noqa: E402
import cur_data  # noqa: E402

ROWS = 2_000


def _table_rows(markdown: str) -> list[dict[str, str]]:
    """The result table (the one whose header is RESULT_COLUMNS) as dicts."""
    lines = markdown.splitlines()
    header = "| " + " | ".join(bench_lib.RESULT_COLUMNS) + " |"
    assert header in lines, f"no results table with columns {bench_lib.RESULT_COLUMNS} in:\n{markdown[:2000]}"
    start = lines.index(header) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows.append(dict(zip(bench_lib.RESULT_COLUMNS, cells)))
    return rows


@pytest.fixture(scope="module")
def cur_file(tmp_path_factory) -> Path:
    return cur_data.generate(ROWS, tmp_path_factory.mktemp("cur") / f"cur1_athena_{ROWS}.parquet")


def test_generated_cur_is_a_realistic_legacy_athena_export(cur_file):
    from orchestration.ingest.formats.base import probe_file
    from orchestration.ingest.loader import detect_format

    assert detect_format(probe_file(cur_file)).name == "aws_cur_legacy_athena"
    con = duckdb.connect()
    stats = con.execute(f"""
        SELECT count(*), count(DISTINCT identity_line_item_id), count(DISTINCT bill_billing_period_start_date),
               count(DISTINCT line_item_usage_account_id), count(DISTINCT line_item_resource_id),
               count(DISTINCT CAST(line_item_usage_start_date AS DATE)) FILTER (WHERE line_item_line_item_type = 'Usage'),
               count(DISTINCT line_item_line_item_type)
        FROM read_parquet('{cur_file}')""").fetchall()[0]
    rows, ids, periods, accounts, resources, usage_days, line_item_types = stats
    assert rows == ROWS and ids == ROWS
    assert periods == 1
    assert accounts > 10 and resources > 100 and usage_days >= 25
    assert line_item_types >= 10  # Usage, Tax, RI and Savings Plans lines, credits, refunds, discounts, fees
    # A Savings Plan negation and the covered line it negates keep the same key after variation.
    unmatched = con.execute(f"""
        SELECT count(*) FROM read_parquet('{cur_file}') n
        WHERE n.line_item_line_item_type = 'SavingsPlanNegation' AND NOT EXISTS (
            SELECT 1 FROM read_parquet('{cur_file}') c
            WHERE c.line_item_line_item_type = 'SavingsPlanCoveredUsage'
              AND c.line_item_resource_id = n.line_item_resource_id
              AND c.line_item_usage_start_date = n.line_item_usage_start_date
              AND c.line_item_usage_account_id = n.line_item_usage_account_id)""").fetchall()[0][0]
    assert unmatched == 0


def test_generation_is_deterministic(tmp_path, cur_file):
    again = cur_data.generate(ROWS, tmp_path / "again.parquet")
    con = duckdb.connect()
    differing = con.execute(f"""
        SELECT count(*) FROM (SELECT * FROM read_parquet('{cur_file}') EXCEPT SELECT * FROM read_parquet('{again}'))""").fetchall()[0][0]
    assert differing == 0


def test_measure_reports_wall_time_and_peak_rss():
    m = bench_lib.measure("alloc", [sys.executable, "-c", "x = bytearray(200_000_000); print(len(x))"])
    assert m.ok and m.stdout.strip() == "200000000"
    assert m.peak_rss_bytes is not None and m.peak_rss_bytes > 200_000_000
    failed = bench_lib.measure("fail", [sys.executable, "-c", "import sys; sys.exit(3)"])
    assert failed.returncode == 3 and not failed.ok
    slow = bench_lib.measure("slow", [sys.executable, "-c", "import time; time.sleep(30)"], timeout=1)
    assert slow.timed_out and slow.seconds < 10


def _run(script: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=timeout)


@pytest.mark.slow
def test_cur_to_focus_writes_autostack_and_floor_results(tmp_path, cur_file):
    results, raw = tmp_path / "benchmarks.md", tmp_path / "results.json"
    done = _run("cur_to_focus.py", "--input", str(cur_file), "--results", str(results), "--json", str(raw),
                "--work-dir", str(tmp_path / "work"), "--focus-converter", "skip")
    assert done.returncode == 0, done.stderr[-4000:]
    text = results.read_text()
    assert text.startswith("# Benchmarks") and "Machine: cpus (nproc)" in text and "duckdb 2." in text
    rows = _table_rows(text)
    stages = {(r["tool"], r["stage"]) for r in rows}
    assert ("AutoStack", "load_file → raw.aws_cur") in stages
    assert ("AutoStack", "total: load + seed + run → focus.costs_v1_2") in stages
    assert any(tool == "DuckDB (floor)" for tool, _ in stages)
    for r in rows:
        assert r["rows"] == f"{ROWS:,}"
        assert float(r["seconds"]) > 0 and r["peak RSS (MB)"], r
    assert "EXPLAIN ANALYZE" in text and "dbt run: time per model" in text
    details = json.loads(raw.read_text())["sizes"][0]
    assert details["load"]["rows"] == ROWS and details["failures"] == []
    assert not (tmp_path / "work" / f"cur_to_focus_{ROWS}").exists()  # scratch warehouses removed


@pytest.mark.slow
def test_cur_to_focus_compares_with_focus_converter(tmp_path, cur_file):
    # "auto": the benchmark creates focus-converter's own pinned environment (about 30 s) when it is absent.
    results = tmp_path / "benchmarks.md"
    done = _run("cur_to_focus.py", "--input", str(cur_file), "--results", str(results), "--work-dir", str(tmp_path / "work"),
                "--focus-converter", "auto", "--skip-dbt-tests", "--no-profile")
    assert done.returncode == 0, done.stderr[-4000:]
    rows = _table_rows(results.read_text())
    converter = [r for r in rows if r["tool"] == "focus-converter"]
    assert len(converter) == 2 and all(r["notes"].startswith(f"{ROWS:,} rows written") for r in converter)
    assert "vs focus-converter" in results.read_text()


@pytest.mark.slow
def test_end_to_end_generates_the_demo_estate_and_writes_stage_timings(tmp_path):
    """`--generate`: a tiny demo estate from `autostack demo-data`, then the real ingest job, each stage timed."""
    import end_to_end

    results, raw = tmp_path / "benchmarks.md", tmp_path / "results.json"
    args = ["--generate", "--generate-args", "--out {out} --months 1 --scale 0.02", "--results", str(results),
            "--json", str(raw), "--work-dir", str(tmp_path / "work")]
    done = _run("end_to_end.py", *args)
    if not end_to_end.demo_data_available():
        assert done.returncode != 0 and "autostack demo-data" in done.stderr
        assert not results.exists()
        return
    assert done.returncode == 0, done.stderr[-4000:]
    rows = _table_rows(results.read_text())
    assert rows[0]["tool"] == "generate" and rows[0]["stage"] == "autostack demo-data"
    stages = [r["stage"] for r in rows]
    for expected in ("ingest", "dbt build (staging → focus → marts, tests)", "check: reconciliation",
                     "check: FOCUS 1.2 conformance (focus-validator)", "publish: serving snapshot",
                     "total (process: imports, definitions, run)"):
        assert expected in stages, stages
    run = json.loads(raw.read_text())[0]
    assert run["failures"] == [] and run["rows"] > 0
    total = next(r for r in rows if r["stage"].startswith("total"))
    published = int(total["notes"].split("focus.costs rows published: ", 1)[1].split(";", 1)[0])
    assert 0.5 * run["rows"] < published <= run["rows"]
    assert any(c["check"] == "billed_cost_reconciles_to_sources" and c["passed"] for c in run["checks"])
    assert "focus.costs_v1_2 / focus.costs" in run["layers"]


@pytest.mark.slow
def test_new_file_latency_runs_the_real_daemon_and_sees_the_delivery_published(tmp_path):
    """A tiny estate, the real dagster-daemon with a 5 s sensor: the next day's CUR delivery is published."""
    results, home = tmp_path / "benchmarks.md", tmp_path / "home"
    done = _run("new_file_latency.py", "--scale", "0.02", "--months", "2", "--sensor-interval", "5",
                "--home", str(home), "--timeout", "600", "--results", str(results), "--no-pristine")
    assert done.returncode == 0, done.stderr[-4000:]
    assert not home.with_name("home.pristine").exists()
    text = results.read_text()
    assert "## New export file → published tables (sensor on)" in text
    assert "**The first load's steps**" in text
    assert "| **total: landed → published** |" in text and "raw_billing_files" in text and "autostack_dbt" in text
    marker = text.split("month-to-date delivery `", 1)[1].split("`", 1)[0]
    from autostack.settings import get_settings

    serving = get_settings({"AUTOSTACK_HOME": str(home)}).serving_path
    with duckdb.connect(str(serving), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM focus.costs WHERE x_SourceUri LIKE ?", [f"%{marker}%"]).fetchall()[0][0] > 0
    # The daemon and its run workers were stopped: no process with this home is left.
    assert not _processes_with_env(f"AUTOSTACK_HOME={home}")


def _processes_with_env(entry: str) -> list[int]:
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if entry.encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def test_load_floor_loads_every_reader_group_and_counts_rows(tmp_path):
    exports = tmp_path / "exports"
    (exports / "a").mkdir(parents=True)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT range AS i, 'x' AS s FROM range(300)) TO '{exports / 'a' / 'part.parquet'}'")
    con.execute(f"COPY (SELECT range AS i FROM range(20)) TO '{exports / 'a' / 'costs.csv'}' (HEADER)")
    con.execute(f"COPY (SELECT range AS i FROM range(7)) TO '{exports / 'billing.jsonl'}' (FORMAT json)")
    (exports / "README.txt").write_text("not an export")
    results = tmp_path / "benchmarks.md"
    done = _run("load_floor.py", str(exports), "--results", str(results))
    assert done.returncode == 0, done.stderr[-4000:]
    table = {line.split(" | ")[0].strip("| *"): line.split(" | ") for line in results.read_text().splitlines()
             if line.startswith("| ") and "reader" not in line}
    assert table["read_parquet"][3] == "300" and table["read_csv"][3] == "20" and table["read_json"][3] == "7"
    assert table["total"][3] == "327"


def test_ml_speed_forecasts_and_backtests_a_few_series(tmp_path):
    results = tmp_path / "benchmarks.md"
    done = _run("ml_speed.py", "--series", "6", "--workers", "1", "--prophet-max", "1", "--results", str(results))
    assert done.returncode == 0, done.stderr[-4000:]
    text = results.read_text()
    assert "## ML speed: 6 series forecast and backtested" in text and "- Winners: " in text
