"""The loader's typed reads: Parquet numbers and times cast directly, flat columns to JSON as text,
and the conformance export limited to a run's loads. Small, in-memory DuckDB only."""

import json

import duckdb
import pytest

from orchestration.ingest import sql


@pytest.mark.parametrize("value", ["0.1", "123456.789", "1e-13", "-0.0", "2.675", "1.0000000000005", "0.000123456789"])
def test_a_parquet_double_casts_to_the_same_decimal_as_its_text(value):
    con = duckdb.connect()
    direct, via_text = con.execute(
        f"SELECT {sql.decimal('x', 'DOUBLE')}, {sql.decimal('x')} FROM (SELECT CAST({value} AS DOUBLE) AS x)"
    ).fetchall()[0]
    assert "CAST(x AS DECIMAL(38, 12))" == sql.decimal("x", "DOUBLE"), "no text round trip for typed numbers"
    assert direct == via_text


def test_a_double_with_more_digits_than_it_holds_differs_from_its_text_only_below_a_millionth():
    # 17 significant digits: the DOUBLE's exact value, not its shortest text, is what the cast rounds.
    con = duckdb.connect()
    direct, via_text = con.execute(
        f"SELECT {sql.decimal('x', 'DOUBLE')}, {sql.decimal('x')} FROM (SELECT CAST(99999999.123456789012 AS DOUBLE) AS x)"
    ).fetchall()[0]
    assert direct != via_text and abs(direct - via_text) < 1e-6


def test_typed_timestamps_are_utc_without_parsing_text():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Europe/Paris'")
    naive, zoned, text = con.execute(
        f"""SELECT {sql.utc_timestamp('a', 'TIMESTAMP')}, {sql.utc_timestamp('b', 'TIMESTAMP WITH TIME ZONE')},
                   {sql.utc_timestamp('c')}
            FROM (SELECT TIMESTAMP '2024-09-01 10:00:00' AS a, TIMESTAMPTZ '2024-09-01 10:00:00+00' AS b,
                         '2024-09-01T10:00:00Z' AS c)"""
    ).fetchall()[0]
    assert str(naive) == str(zoned) == str(text) == "2024-09-01 10:00:00"
    assert "regexp" not in sql.utc_timestamp("a", "TIMESTAMP_NS")


def test_object_of_keeps_present_values_escapes_keys_and_is_null_when_empty():
    con = duckdb.connect()
    expr = sql.object_of([("team", "a"), ('we"ird\'key', "b"), ("empty", "c"), ("team", "d")])
    rows = con.execute(
        f"SELECT CAST({expr} AS VARCHAR) FROM (VALUES ('web', 'x\"y', NULL, 'ignored'), (NULL, NULL, NULL, 'z')) t(a, b, c, d)"
    ).fetchall()
    assert json.loads(rows[0][0]) == {"team": "web", 'we"ird\'key': 'x"y'}, "first column of a repeated key wins"
    assert rows[1][0] is None, "no present value: NULL, not {}"


def test_the_conformance_export_can_be_limited_to_a_run_s_loads(tmp_path):
    from orchestration.checks.focus_conformance import export_for_validator

    con = duckdb.connect()
    con.execute(
        """CREATE TABLE costs AS SELECT 'Usage' AS ChargeCategory, CAST(i AS DECIMAL(38, 12)) AS BilledCost,
               CASE WHEN i < 30 THEN 'aaa' ELSE 'bbb' END AS x_LoadId
           FROM range(100) t(i)"""
    )
    assert export_for_validator(con, "costs", tmp_path / "a.parquet", where="x_LoadId IN ('aaa')") == 30
    assert export_for_validator(con, "costs", tmp_path / "all.parquet") == 100
