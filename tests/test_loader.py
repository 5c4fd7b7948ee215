"""Delivery semantics of the loader, on real DuckDB files and the real FOCUS sample."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from orchestration.ingest.loader import SourceFile, ensure_raw_tables, load_file
from conftest import SAMPLES

FOCUS_SAMPLE = SAMPLES / "focus-1.0-sample-aws" / "focus_sample_aws.csv"


def focus_subset(target: Path, where: str = "true", scale: float = 1.0, limit: int | None = None) -> Path:
    """A FOCUS CSV made from the real sample: a subset of rows, costs optionally scaled (a restatement)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    limit_sql = f"LIMIT {limit}" if limit else ""
    con.execute(
        f"""COPY (SELECT * REPLACE (CAST(CAST(BilledCost AS DECIMAL(38,12)) * {scale} AS VARCHAR) AS BilledCost)
            FROM read_csv('{FOCUS_SAMPLE}', all_varchar=true) WHERE {where} ORDER BY Id {limit_sql})
            TO '{target}' (FORMAT csv, HEADER true, FORCE_QUOTE *)"""
    )
    con.close()
    return target


def billed(con) -> float:
    return float(con.execute("SELECT coalesce(sum(BilledCost), 0) FROM raw.focus_costs").fetchall()[0][0])


def source_billed(path: Path) -> float:
    con = duckdb.connect()
    total = con.execute(
        f"SELECT sum(CAST(BilledCost AS DECIMAL(38,12))) FROM read_csv('{path}', all_varchar=true)"
    ).fetchall()[0][0]
    con.close()
    return float(total)


def outcomes(con) -> dict[str, str]:
    rows = con.execute("SELECT source_uri, outcome FROM ingest.file_loads ORDER BY loaded_at").fetchall()
    return {Path(uri).parent.name + "/" + Path(uri).name: outcome for uri, outcome in rows}


def test_loading_the_same_file_twice_changes_nothing(warehouse, tmp_path):
    ensure_raw_tables(warehouse)
    first = load_file(warehouse, SourceFile.local(FOCUS_SAMPLE))
    assert first.outcome == "loaded" and first.row_count == 942
    total = billed(warehouse)
    assert total == pytest.approx(source_billed(FOCUS_SAMPLE), abs=0.005)
    second = load_file(warehouse, SourceFile.local(FOCUS_SAMPLE))
    assert second.outcome == "unchanged"
    assert billed(warehouse) == total
    assert warehouse.execute("SELECT count(*) FROM raw.focus_costs").fetchall()[0][0] == 942


def test_a_restated_month_in_a_new_delivery_replaces_the_old_one(warehouse, tmp_path):
    old = focus_subset(tmp_path / "exports" / "delivery-1" / "focus.csv")
    new = focus_subset(tmp_path / "exports" / "delivery-2" / "focus.csv", scale=1.5)
    assert load_file(warehouse, SourceFile.local(old)).outcome == "loaded"
    assert load_file(warehouse, SourceFile.local(new)).outcome == "loaded"
    assert billed(warehouse) == pytest.approx(source_billed(new), abs=0.005)
    assert outcomes(warehouse) == {"delivery-1/focus.csv": "superseded", "delivery-2/focus.csv": "loaded"}


def test_a_changed_file_at_the_same_path_replaces_its_rows(warehouse, tmp_path):
    path = focus_subset(tmp_path / "exports" / "d" / "focus.csv")
    load_file(warehouse, SourceFile.local(path))
    focus_subset(path, scale=2.0)
    assert load_file(warehouse, SourceFile.local(path)).outcome == "loaded"
    assert billed(warehouse) == pytest.approx(source_billed(path), abs=0.005)
    rows = warehouse.execute("SELECT outcome FROM ingest.file_loads ORDER BY loaded_at").fetchall()
    assert [r[0] for r in rows] == ["replaced", "loaded"]


def test_parts_of_one_delivery_add_up(warehouse, tmp_path):
    part1 = focus_subset(tmp_path / "d" / "part-1.csv", where="CAST(Id AS INT) % 2 = 0")
    part2 = focus_subset(tmp_path / "d" / "part-2.csv", where="CAST(Id AS INT) % 2 = 1")
    load_file(warehouse, SourceFile.local(part1))
    load_file(warehouse, SourceFile.local(part2))
    assert billed(warehouse) == pytest.approx(source_billed(FOCUS_SAMPLE), abs=0.005)
    assert set(outcomes(warehouse).values()) == {"loaded"}


def test_a_corrupt_file_is_quarantined_with_a_specific_error_and_nothing_else_changes(autostack_home, warehouse, tmp_path):
    load_file(warehouse, SourceFile.local(FOCUS_SAMPLE))
    before = billed(warehouse)
    bad = tmp_path / "bad" / "focus.csv"
    focus_subset(bad, limit=20)
    text = bad.read_text().splitlines()
    text[5] = text[5].replace('"USD"', '"USD","extra"', 1)  # row 5 has one value too many
    bad.write_text("\n".join(text) + "\n")
    result = load_file(warehouse, SourceFile.local(bad), quarantine_dir=autostack_home.quarantine_dir)
    assert result.outcome == "quarantined"
    assert str(bad) in result.error
    assert "line" in result.error.lower() or "row" in result.error.lower()
    assert billed(warehouse) == before
    assert list(autostack_home.quarantine_dir.iterdir()), "a copy of the bad file is kept for inspection"
    # Quarantined once: delivered unchanged again, it stays quarantined without a new attempt.
    again = load_file(warehouse, SourceFile.local(bad), quarantine_dir=autostack_home.quarantine_dir)
    assert again.outcome == "quarantined"


def test_a_bad_value_names_the_column(warehouse, tmp_path):
    bad = focus_subset(tmp_path / "bad-value" / "focus.csv", limit=10)
    rows = list(csv.reader(bad.read_text().splitlines()))
    rows[3][rows[0].index("ListCost")] = "zero point eight"
    with open(bad, "w", newline="") as fh:
        csv.writer(fh, quoting=csv.QUOTE_ALL).writerows(rows)
    result = load_file(warehouse, SourceFile.local(bad))
    assert result.outcome == "quarantined"
    assert "zero point eight" in result.error
    assert "line 4" in result.error and "ListCost" in result.error


def test_an_unknown_file_names_the_formats_tried(warehouse, tmp_path):
    unknown = tmp_path / "weird.csv"
    unknown.write_text("a,b,c\n1,2,3\n")
    result = load_file(warehouse, SourceFile.local(unknown))
    assert result.outcome == "quarantined"
    assert str(unknown) in result.error
    assert "Tried:" in result.error and "focus" in result.error


@pytest.mark.parametrize("content", [b"", b"\n\n"])
def test_empty_files_are_quarantined_with_a_reason(warehouse, tmp_path, content):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(content)
    result = load_file(warehouse, SourceFile.local(empty))
    assert result.outcome == "quarantined"
    assert "empty" in result.error


def test_gzip_and_parquet_focus_files_load_like_csv(warehouse, tmp_path):
    con = duckdb.connect()
    gz = tmp_path / "gz" / "focus.csv.gz"
    pq = tmp_path / "pq" / "focus.parquet"
    gz.parent.mkdir()
    pq.parent.mkdir()
    con.execute(f"COPY (SELECT * FROM read_csv('{FOCUS_SAMPLE}', all_varchar=true)) TO '{gz}' (FORMAT csv, HEADER, COMPRESSION gzip)")
    con.execute(
        f"""COPY (SELECT * REPLACE (CAST(BilledCost AS DOUBLE) AS BilledCost,
                 CAST(ChargePeriodStart AS TIMESTAMP) AS ChargePeriodStart)
            FROM read_csv('{FOCUS_SAMPLE}', all_varchar=true, nullstr='NULL')) TO '{pq}' (FORMAT parquet)"""
    )
    con.close()
    for path in (gz, pq):
        result = load_file(warehouse, SourceFile.local(path))
        assert result.outcome == "loaded", result.error
        assert result.row_count == 942
        assert result.billed_total == pytest.approx(source_billed(FOCUS_SAMPLE), abs=0.005)


def test_rfc3339_timestamps_are_read_as_utc(warehouse, tmp_path):
    path = focus_subset(tmp_path / "rfc" / "focus.csv", limit=3)
    text = path.read_text().replace('"2024-09-01 00:00:00"', '"2024-09-01T02:00:00+02:00"')
    path.write_text(text)
    assert load_file(warehouse, SourceFile.local(path)).outcome == "loaded"
    starts = warehouse.execute("SELECT DISTINCT CAST(BillingPeriodStart AS VARCHAR) FROM raw.focus_costs").fetchall()
    assert starts == [("2024-09-01 00:00:00",)]


def test_columns_outside_focus_1_2_are_kept_in_x_extras_when_they_have_a_value(warehouse, tmp_path):
    path = tmp_path / "exports" / "d" / "focus-with-extras.csv"
    path.parent.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT *, CASE WHEN CAST(Id AS INT) % 2 = 0 THEN 'web' ELSE '' END AS x_Team,
                   '' AS "it's empty"
            FROM read_csv('{FOCUS_SAMPLE}', all_varchar=true) ORDER BY Id LIMIT 10)
            TO '{path}' (FORMAT csv, HEADER true)"""
    )
    con.close()
    ensure_raw_tables(warehouse)
    assert load_file(warehouse, SourceFile.local(path)).outcome == "loaded"
    extras = sorted(warehouse.execute("SELECT CAST(x_Extras AS VARCHAR) FROM raw.focus_costs").fetchall(), key=str)
    even = duckdb.connect().execute(
        f"SELECT count(*) FILTER (WHERE CAST(Id AS INT) % 2 = 0) FROM (SELECT Id FROM read_csv('{path}', all_varchar=true))"
    ).fetchall()[0][0]
    assert 0 < even < 10
    # A member with a value is kept, one without is left out; with no member left, NULL rather than {}.
    assert extras == sorted([(None,)] * (10 - even) + [('{"x_Team":"web"}',)] * even, key=str)
