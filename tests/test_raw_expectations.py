"""Raw-table data quality (great-expectations) on the rows of given loads."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from orchestration.checks.raw_expectations import (
    RAW_SUITES,
    RawTableSuite,
    check_raw_loads,
    check_raw_table,
    iso_currency_codes,
)
from orchestration.ingest.formats import FORMATS
from orchestration.ingest.formats.base import PARTITION_COLUMNS
from orchestration.ingest.loader import PROVENANCE_COLUMNS, SourceFile, ensure_raw_tables, load_file

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "samples" / "focus-1.0-sample-aws" / "focus_sample_aws.csv"
TODAY = date(2025, 6, 30)


def focus_file(path: Path, rows: int = 20, **changes_to_first_row: str) -> Path:
    """The first `rows` rows of the AWS FOCUS sample, the first one changed as given."""
    with open(SAMPLE, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        records = [next(reader) for _ in range(rows)]
        header = reader.fieldnames
    records[0].update(changes_to_first_row)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(records)
    return path


def load(warehouse, path: Path) -> str:
    result = load_file(warehouse, SourceFile.local(path))
    assert result.outcome == "loaded", result.error
    return result.load_id


@pytest.fixture
def loads(warehouse, tmp_path):
    """A clean load and a bad one (currency 'US$', a charge in 1970) in the same warehouse."""
    ensure_raw_tables(warehouse)
    clean = load(warehouse, focus_file(tmp_path / "exports" / "clean.csv"))
    bad = load(warehouse, focus_file(
        tmp_path / "exports" / "bad.csv",
        BillingCurrency="US$", ChargePeriodStart="1970-01-01 00:00:00", ChargePeriodEnd="1970-01-01 01:00:00",
    ))
    return clean, bad


def test_clean_load_passes(warehouse, loads):
    clean, _ = loads

    result = check_raw_table(warehouse, "raw.focus_costs", [clean], today=TODAY)

    assert result.success, result.to_markdown()
    assert result.row_count == 20  # only the clean load's rows, not the bad one's
    expectations = {(r.expectation, r.column) for r in result.results}
    assert ("expect_column_values_to_not_be_null", "x_source_uri") in expectations
    assert ("expect_column_values_to_be_in_type_list", "BilledCost") in expectations
    assert ("expect_column_pair_values_a_to_be_greater_than_b", "ChargePeriodEnd >= ChargePeriodStart") in expectations
    assert result.get("expect_column_values_to_be_in_set", "BillingCurrency").element_count == 20


def test_bad_currency_and_1970_charge_fail_exactly_those_expectations(warehouse, loads):
    _, bad = loads

    result = check_raw_table(warehouse, "raw.focus_costs", [bad], today=TODAY)

    assert not result.success
    failed = {(r.expectation, r.column): r for r in result.failures}
    assert set(failed) == {
        ("expect_column_values_to_be_in_set", "BillingCurrency"),
        ("expect_column_values_to_be_between", "ChargePeriodStart"),
        ("expect_column_values_to_be_between", "ChargePeriodEnd"),
    }
    currency = failed[("expect_column_values_to_be_in_set", "BillingCurrency")]
    assert (currency.unexpected_count, currency.sample_values) == (1, ("US$",))
    assert failed[("expect_column_values_to_be_between", "ChargePeriodStart")].sample_values == ("1970-01-01 00:00:00",)
    markdown = result.to_markdown()
    assert "3 of 14 expectations failed" in markdown and "US$" in markdown


def test_check_raw_loads_finds_the_tables_of_the_loads(warehouse, loads):
    clean, bad = loads

    results = check_raw_loads(warehouse, [clean, bad], today=TODAY)

    assert [(r.table, r.load_ids, r.row_count) for r in results] == [("raw.focus_costs", tuple(sorted(loads)), 40)]
    assert not results[0].success
    assert check_raw_loads(warehouse, [], today=TODAY) == []


def test_charge_ending_before_it_starts_and_a_future_charge(warehouse, tmp_path):
    ensure_raw_tables(warehouse)
    load_id = load(warehouse, focus_file(
        tmp_path / "late.csv", ChargePeriodStart="2024-09-18 23:00:00", ChargePeriodEnd="2024-09-18 22:00:00",
    ))

    assert check_raw_table(warehouse, "raw.focus_costs", [load_id], today=TODAY).failures[0].column == (
        "ChargePeriodEnd >= ChargePeriodStart"
    )
    # Eighteen months before the sample's charges, they are more than a year in the future.
    future = check_raw_table(warehouse, "raw.focus_costs", [load_id], today=date(2023, 3, 1))
    assert {r.column for r in future.failures} >= {"ChargePeriodStart", "ChargePeriodEnd"}


def test_text_amounts_and_null_keys_fail(warehouse, tmp_path):
    ensure_raw_tables(warehouse)
    load_id = load(warehouse, focus_file(tmp_path / "f.csv"))
    suite = RawTableSuite(amounts=("ChargeDescription",), keys=("x_source_uri", "ResourceName"))

    result = check_raw_table(warehouse, "raw.focus_costs", [load_id], suite=suite, today=TODAY)

    failed = {r.column: r for r in result.failures}
    assert set(failed) == {"ChargeDescription", "ResourceName"}
    assert failed["ResourceName"].unexpected_count > 0


def test_every_export_format_has_a_suite_over_its_own_columns():
    for fmt in FORMATS:
        assert fmt.raw_table in RAW_SUITES, f"{fmt.name}: add {fmt.raw_table} to RAW_SUITES"
        columns = {**fmt.raw_columns, **PARTITION_COLUMNS, **PROVENANCE_COLUMNS}
        suite = RAW_SUITES[fmt.raw_table]
        assert set(suite.columns()) <= set(columns), (fmt.raw_table, set(suite.columns()) - set(columns))
        assert all(columns[c].startswith("DECIMAL") for c in suite.amounts), fmt.raw_table
        assert all(columns[c] == "TIMESTAMP" for c in suite.charge_period or () if c), fmt.raw_table


def test_unknown_table_and_missing_column_are_named(warehouse):
    ensure_raw_tables(warehouse)
    with pytest.raises(KeyError, match="raw.nope"):
        check_raw_table(warehouse, "raw.nope", ["x"])
    with pytest.raises(ValueError, match="raw.focus_costs lacks column.*NoSuchColumn"):
        check_raw_table(warehouse, "raw.focus_costs", ["x"], suite=RawTableSuite(currencies=("NoSuchColumn",)))


def test_currency_list_is_iso_4217():
    codes = iso_currency_codes()
    assert {"USD", "EUR", "JPY", "CHF", "INR"} <= codes
    assert "US$" not in codes and "usd" not in codes
