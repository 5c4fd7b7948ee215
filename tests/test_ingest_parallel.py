"""Loading a run's files with several workers leaves exactly what loading them one by one leaves.

Real DuckDB files, real samples and fixtures of every provider; orchestration/ingest/parallel.py.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import duckdb
import pytest

from autostack.settings import get_settings
from conftest import FIXTURES, SAMPLES
from orchestration import sources
from orchestration.ingest import parallel
from orchestration.ingest.loader import (
    CONFLICT_ATTEMPTS,
    SourceFile,
    TransactionConflictError,
    ensure_raw_tables,
    load_file,
)

FOCUS_SAMPLE = SAMPLES / "focus-1.0-sample-aws" / "focus_sample_aws.csv"
RAW_TABLES = ("raw.aws_cur", "raw.azure_costs", "raw.focus_costs", "raw.gcp_billing")


def focus_copy(target: Path, *, scale: float = 1.0, bad_value_at: int | None = None) -> Path:
    """The FOCUS sample, its costs scaled (a restatement), or one BilledCost made unreadable."""
    target.parent.mkdir(parents=True, exist_ok=True)
    bad = f"CASE WHEN Id = (SELECT Id FROM s ORDER BY Id LIMIT 1 OFFSET {bad_value_at}) THEN '12.5x' ELSE " if bad_value_at is not None else ""
    con = duckdb.connect()
    con.execute(
        f"""COPY (WITH s AS (SELECT * FROM read_csv('{FOCUS_SAMPLE}', all_varchar=true))
            SELECT * REPLACE ({bad}CAST(CAST(BilledCost AS DECIMAL(38,12)) * {scale} AS VARCHAR){' END' if bad else ''} AS BilledCost)
            FROM s ORDER BY Id) TO '{target}' (FORMAT csv, HEADER true)"""
    )
    con.close()
    return target


@pytest.fixture
def landing(tmp_path) -> Path:
    """One run's delivery, oldest first: every format, restatements of one slice, and bad files."""
    root = tmp_path / "landing"
    files = [
        shutil.copy(FIXTURES / "aws" / "cur2_2024-09.csv.gz", _dir(root / "aws" / "d1")),
        focus_copy(root / "focus" / "d1" / "focus.csv"),
        shutil.copy(FIXTURES / "azure" / "MCA_ActualCost_Constructed.csv", _dir(root / "azure" / "actual")),
        shutil.copy(FIXTURES / "gcp" / "gcp_billing_export_v1.jsonl", _dir(root / "gcp" / "2024-09")),
        focus_copy(root / "focus-bad" / "focus.csv", bad_value_at=17),
        shutil.copy(FIXTURES / "azure" / "MCA_AmortizedCost_Constructed.csv", _dir(root / "azure" / "amortized")),
        _write(root / "junk" / "notes.csv", "name,amount\nlunch,12\n"),
        shutil.copy(FIXTURES / "aws" / "cur2_2024-09.parquet", _dir(root / "aws" / "d2")),  # restates d1's slice
        shutil.copy(SAMPLES / "aws-cur-legacy" / "aws-cur-legacy_sample-anonymous-aws-export-dataset.csv", _dir(root / "aws" / "legacy")),
        focus_copy(root / "focus" / "d2" / "focus.csv", scale=1.5),  # restates d1's slices
        _write(root / "junk" / "empty.csv", ""),
        shutil.copy(FIXTURES / "gcp" / "gcp_billing_export_v1.parquet", _dir(root / "gcp" / "2024-09-restated")),
    ]
    start = time.time() - 3600
    for n, path in enumerate(files):  # the listing orders by modification time: the order above
        os.utime(path, (start + n, start + n))
    return root


def _dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def ingest(settings, database: Path, landing: Path, workers: int, quarantine: Path):
    objects = sources.expand([str(landing)], settings)
    con = duckdb.connect(str(database))
    try:
        ensure_raw_tables(con)
        results = parallel.load_files(
            con, objects, fetch=lambda obj: sources.fetch(obj, settings), workers=workers,
            quarantine_dir=quarantine, run_id="test",
        )
        return results, snapshot(con)
    finally:
        con.close()


def snapshot(con) -> dict:
    """Everything a load leaves, without the load ids and times that differ between any two runs."""
    state = {
        table: con.execute(f"SELECT * EXCLUDE (x_load_id, x_ingested_at) FROM {table} ORDER BY ALL").fetchall()
        for table in RAW_TABLES
    }
    state["partitions"] = con.execute("SELECT * EXCLUDE (load_id) FROM ingest.partitions ORDER BY ALL").fetchall()
    state["file_loads"] = con.execute(
        """SELECT source_uri, delivery, checksum_sha256, size_bytes, format, raw_table, billing_account_ids,
                  billing_periods, row_count, billed_total, currency, outcome, error
           FROM ingest.file_loads ORDER BY ALL"""
    ).fetchall()
    return state


def described(results) -> list[tuple]:
    return [(r.uri, r.outcome, r.format, r.row_count, r.billed_total, r.billing_periods, r.error) for r in results]


def test_two_workers_leave_exactly_what_one_leaves(autostack_home, landing, tmp_path):
    one, one_state = ingest(autostack_home, tmp_path / "one.duckdb", landing, 1, tmp_path / "q1")
    two, two_state = ingest(autostack_home, tmp_path / "two.duckdb", landing, 2, tmp_path / "q2")

    assert described(two) == described(one)
    for key in one_state:
        assert two_state[key] == one_state[key], key
    outcomes = {Path(r.uri).relative_to(landing).as_posix(): r.outcome for r in two}
    assert outcomes == {
        "aws/d1/cur2_2024-09.csv.gz": "loaded", "aws/d2/cur2_2024-09.parquet": "loaded",
        "aws/legacy/aws-cur-legacy_sample-anonymous-aws-export-dataset.csv": "loaded",
        "azure/actual/MCA_ActualCost_Constructed.csv": "loaded",
        "azure/amortized/MCA_AmortizedCost_Constructed.csv": "loaded",
        "focus/d1/focus.csv": "loaded", "focus/d2/focus.csv": "loaded", "focus-bad/focus.csv": "quarantined",
        "gcp/2024-09/gcp_billing_export_v1.jsonl": "loaded",
        "gcp/2024-09-restated/gcp_billing_export_v1.parquet": "loaded",
        "junk/empty.csv": "quarantined", "junk/notes.csv": "quarantined",
    }
    # The restated deliveries of a slice, loaded in one run, end with the newer one current.
    current = {uri: outcome for uri, *_, outcome, _error in two_state["file_loads"]}
    for old, new in [("focus/d1/focus.csv", "focus/d2/focus.csv"),
                     ("aws/d1/cur2_2024-09.csv.gz", "aws/d2/cur2_2024-09.parquet"),
                     ("gcp/2024-09/gcp_billing_export_v1.jsonl", "gcp/2024-09-restated/gcp_billing_export_v1.parquet")]:
        assert (current[str(landing / old)], current[str(landing / new)]) == ("superseded", "loaded")
    con = duckdb.connect(str(tmp_path / "two.duckdb"), read_only=True)
    billed, count = con.execute("SELECT sum(BilledCost), count(*) FROM raw.focus_costs").fetchall()[0]
    sample = con.execute(f"SELECT sum(CAST(BilledCost AS DECIMAL(38,12))) FROM read_csv('{FOCUS_SAMPLE}', all_varchar=true)").fetchall()[0][0]
    con.close()
    assert count == 942 and float(billed) == pytest.approx(float(sample) * 1.5, abs=0.01)
    # The bad file is quarantined with the row and column at fault; the files beside it loaded.
    bad = next(r for r in two if r.uri.endswith("focus-bad/focus.csv"))
    assert "12.5x" in bad.error and "BilledCost" in bad.error and "line 19" in bad.error
    assert len(list((tmp_path / "q2").iterdir())) == 3  # the bad value, the unknown columns, the empty file


def test_files_of_one_raw_table_load_in_order_and_tables_side_by_side(autostack_home, landing, tmp_path, monkeypatch):
    spans: dict[str, tuple[float, float]] = {}
    real_load_file = parallel.load_file

    def timed_load_file(con, source, **kwargs):
        started = time.monotonic()
        time.sleep(0.05)  # long enough for the other worker to be seen loading at the same time
        result = real_load_file(con, source, **kwargs)
        spans[Path(source.uri).relative_to(landing).as_posix()] = (started, time.monotonic())
        return result

    monkeypatch.setattr(parallel, "load_file", timed_load_file)
    ingest(autostack_home, tmp_path / "w.duckdb", landing, 2, tmp_path / "q")
    aws = [spans[k] for k in ("aws/d1/cur2_2024-09.csv.gz", "aws/d2/cur2_2024-09.parquet",
                              "aws/legacy/aws-cur-legacy_sample-anonymous-aws-export-dataset.csv")]
    focus = [spans[k] for k in ("focus/d1/focus.csv", "focus-bad/focus.csv", "focus/d2/focus.csv")]
    for group in (aws, focus):
        assert all(earlier[1] <= later[0] for earlier, later in zip(group, group[1:])), "one after another, in order"
    everything = sorted(spans.values())
    assert any(b[0] < a[1] for a, b in zip(everything, everything[1:])), "two files were loading at the same time"


@pytest.mark.parametrize("first_to_commit", ["focus", "azure"])
def test_loads_of_two_raw_tables_open_at_once_do_not_conflict(warehouse, tmp_path, first_to_commit):
    """Both transactions change the shared manifest (supersede an earlier load, replace its slices,
    insert their own) before either commits; DuckDB lets both commit, in either order."""
    ensure_raw_tables(warehouse)
    focus_old = focus_copy(tmp_path / "focus" / "d1" / "focus.csv")
    focus_new = focus_copy(tmp_path / "focus" / "d2" / "focus.csv", scale=2.0)
    azure_old = shutil.copy(FIXTURES / "azure" / "MCA_ActualCost_Constructed.csv", _dir(tmp_path / "azure" / "d1"))
    azure_new = shutil.copy(FIXTURES / "azure" / "MCA_ActualCost_Constructed.csv", _dir(tmp_path / "azure" / "d2"))
    for path in (focus_old, azure_old):
        assert load_file(warehouse, SourceFile.local(Path(path))).outcome == "loaded"

    at_commit = threading.Barrier(2, timeout=30)
    turn = {"focus": threading.Event(), "azure": threading.Event()}
    second = "azure" if first_to_commit == "focus" else "focus"
    failures: list[BaseException] = []
    results = {}

    class CommitTogether:
        """A cursor whose COMMIT waits until the other load reaches its COMMIT too, then commits in turn."""

        def __init__(self, cursor, name):
            self.cursor, self.name = cursor, name

        def execute(self, sql, *args):
            if sql == "COMMIT":
                at_commit.wait()
                if self.name == second:
                    turn[first_to_commit].wait(30)
                try:
                    return self.cursor.execute(sql, *args)
                finally:
                    turn[self.name].set()
            return self.cursor.execute(sql, *args)

    def load(name, path):
        cursor = warehouse.cursor()
        try:
            results[name] = load_file(CommitTogether(cursor, name), SourceFile.local(Path(path)))
        except BaseException as exc:
            failures.append(exc)
        finally:
            cursor.close()

    threads = [threading.Thread(target=load, args=args) for args in (("focus", focus_new), ("azure", azure_new))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    assert {name: r.outcome for name, r in results.items()} == {"focus": "loaded", "azure": "loaded"}
    rows = warehouse.execute(
        "SELECT delivery, raw_table, outcome FROM ingest.file_loads ORDER BY raw_table, delivery"
    ).fetchall()
    assert [(Path(d).name, t, o) for d, t, o in rows] == [
        ("d1", "raw.azure_costs", "superseded"), ("d2", "raw.azure_costs", "loaded"),
        ("d1", "raw.focus_costs", "superseded"), ("d2", "raw.focus_costs", "loaded"),
    ]
    counts = warehouse.execute(
        """SELECT (SELECT count(*) FROM raw.focus_costs), (SELECT count(*) FROM raw.azure_costs),
                  (SELECT count(DISTINCT load_id) FROM ingest.partitions)"""
    ).fetchall()[0]
    assert counts == (942, results["azure"].row_count, 2)


class ConflictingCommits:
    """A connection whose first `conflicts` COMMITs fail as DuckDB fails a commit in conflict."""

    def __init__(self, con, conflicts: int):
        self.con, self.conflicts, self.seen = con, conflicts, 0

    def execute(self, sql, *args):
        if sql == "COMMIT" and self.seen < self.conflicts:
            self.seen += 1
            raise duckdb.TransactionException("TransactionContext Error: Failed to commit: write-write conflict on key")
        return self.con.execute(sql, *args)


def test_a_load_whose_commit_conflicts_is_retried_not_quarantined(warehouse, tmp_path):
    ensure_raw_tables(warehouse)
    path = focus_copy(tmp_path / "d" / "focus.csv")
    con = ConflictingCommits(warehouse, conflicts=CONFLICT_ATTEMPTS - 1)
    result = load_file(con, SourceFile.local(path), quarantine_dir=tmp_path / "q")
    assert result.outcome == "loaded" and con.seen == CONFLICT_ATTEMPTS - 1
    assert warehouse.execute("SELECT count(*), count(DISTINCT x_load_id) FROM raw.focus_costs").fetchall() == [(942, 1)]
    assert warehouse.execute("SELECT outcome, row_count FROM ingest.file_loads").fetchall() == [("loaded", 942)]
    assert warehouse.execute("SELECT sum(row_count) FROM ingest.partitions").fetchall() == [(942,)]
    assert not (tmp_path / "q").exists()


def test_a_load_that_keeps_conflicting_fails_the_run_and_writes_nothing(warehouse, tmp_path):
    ensure_raw_tables(warehouse)
    path = focus_copy(tmp_path / "d" / "focus.csv")
    with pytest.raises(TransactionConflictError, match=r"focus\.csv: could not be loaded in 3 attempts"):
        load_file(ConflictingCommits(warehouse, conflicts=CONFLICT_ATTEMPTS), SourceFile.local(path))
    assert warehouse.execute(
        """SELECT (SELECT count(*) FROM raw.focus_costs), (SELECT count(*) FROM ingest.file_loads),
                  (SELECT count(*) FROM ingest.partitions)"""
    ).fetchall() == [(0, 0, 0)]
    # Nothing was recorded, so the next run loads the file.
    assert load_file(warehouse, SourceFile.local(path)).outcome == "loaded"


def test_a_worker_that_fails_fails_the_run_after_the_others_stop(autostack_home, landing, tmp_path, monkeypatch):
    real_load_file = parallel.load_file

    def failing_on_gcp(con, source, **kwargs):
        if "gcp" in source.uri:
            raise RuntimeError(f"{source.uri}: the disk went away")
        return real_load_file(con, source, **kwargs)

    monkeypatch.setattr(parallel, "load_file", failing_on_gcp)
    with pytest.raises(RuntimeError, match="the disk went away"):
        ingest(autostack_home, tmp_path / "w.duckdb", landing, 2, tmp_path / "q")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    # Whatever loaded, loaded whole: every recorded load has exactly its rows.
    loads = con.execute("SELECT load_id, raw_table, row_count FROM ingest.file_loads WHERE outcome = 'loaded'").fetchall()
    for load_id, table, rows in loads:
        assert con.execute(f"SELECT count(*) FROM {table} WHERE x_load_id = ?", [load_id]).fetchall()[0][0] == rows
    con.close()


def test_one_object_that_cannot_be_fetched_is_reported_in_its_place(autostack_home, landing, tmp_path):
    objects = sources.expand([str(landing)], autostack_home)

    def fetch(obj):
        if obj.uri.endswith("notes.csv"):
            raise OSError("connection reset")
        return sources.fetch(obj, autostack_home)

    reported = []
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_raw_tables(con)
    results = parallel.load_files(con, objects, fetch=fetch, workers=2,
                                  on_result=lambda number, result, fetched: reported.append((number, fetched)))
    con.close()
    assert [r.uri for r in results] == [o.uri for o in objects]
    failed = next(n for n, o in enumerate(objects, start=1) if o.uri.endswith("notes.csv"))
    assert results[failed - 1].error == f"{objects[failed - 1].uri}: cannot be fetched: connection reset"
    assert sorted(reported) == [(n, n != failed) for n in range(1, len(objects) + 1)]


@pytest.mark.parametrize("value, expected", [(None, None), ("", None), ("1", 1), ("2", 2), (" 3 ", 3)])
def test_ingest_workers_setting(value, expected):
    env = {"AUTOSTACK_HOME": "/tmp/x"} | ({"AUTOSTACK_INGEST_WORKERS": value} if value is not None else {})
    assert get_settings(env).ingest_workers == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_ingest_workers_setting_names_the_variable(value):
    with pytest.raises(ValueError, match=r"AUTOSTACK_INGEST_WORKERS=.*expected a whole number of at least 1"):
        get_settings({"AUTOSTACK_HOME": "/tmp/x", "AUTOSTACK_INGEST_WORKERS": value})
