"""FOCUS 1.2 conformance through the real focus-validator 2.2.1 (its own virtualenv)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from orchestration.checks.focus_conformance import (
    AUTOSTACK_APPLICABILITY_CRITERIA,
    ConformanceReport,
    ValidatorNotInstalledError,
    _predicate_sql,
    export_for_validator,
    run_focus_validator,
)
from orchestration.ingest.focus_spec import FOCUS_1_2_COLUMNS
from orchestration.ingest.loader import SourceFile, ensure_raw_tables, load_file

from conftest import write_focus_table

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
AWS_FOCUS_SAMPLE = SAMPLES / "focus-1.0-sample-aws" / "focus_sample_aws.csv"

BASE = {
    "BillingAccountId": "100000000001", "BillingAccountName": "Acme Payer", "BillingAccountType": "Billing Account",
    "BillingCurrency": "USD", "BillingPeriodStart": "2025-03-01 00:00:00", "BillingPeriodEnd": "2025-04-01 00:00:00",
    "ChargePeriodStart": "2025-03-02 00:00:00", "ChargePeriodEnd": "2025-03-02 01:00:00",
    "InvoiceId": "INV-2025-03", "InvoiceIssuerName": "Amazon Web Services, Inc.", "ProviderName": "AWS",
    "PublisherName": "Amazon Web Services, Inc.", "SubAccountId": "200000000002", "SubAccountName": "prod",
    "SubAccountType": "Account", "PricingCurrency": "USD",
}
EC2 = {
    "ServiceName": "Amazon Elastic Compute Cloud", "ServiceCategory": "Compute", "ServiceSubcategory": "Virtual Machines",
    "RegionId": "us-east-1", "RegionName": "US East (N. Virginia)", "AvailabilityZone": "us-east-1a",
    "ResourceId": "i-0123456789abcdef0", "ResourceName": "web-1", "ResourceType": "Instance",
    "SkuId": "SKU-M5L", "SkuPriceId": "SKU-M5L.OD", "SkuMeter": "Compute Usage",
    "SkuPriceDetails": '{"x_InstanceType": "m5.large"}', "Tags": '{"env": "prod", "team": "web"}',
    "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based", "BilledCost": 1.0, "EffectiveCost": 1.0,
    "ListCost": 1.2, "ContractedCost": 1.0, "ListUnitPrice": 0.12, "ContractedUnitPrice": 0.10,
    "PricingQuantity": 10, "PricingUnit": "Hours", "ConsumedQuantity": 10, "ConsumedUnit": "Hours",
    "PricingCategory": "Standard", "PricingCurrencyEffectiveCost": 1.0, "PricingCurrencyListUnitPrice": 0.12,
    "PricingCurrencyContractedUnitPrice": 0.10,
}
SAVINGS_PLAN = {
    "CommitmentDiscountId": "arn:aws:savingsplans::100000000001:savingsplan/sp-1", "CommitmentDiscountName": "sp-1",
    "CommitmentDiscountCategory": "Spend", "CommitmentDiscountType": "Compute Savings Plan",
    "CommitmentDiscountUnit": "USD",
}
SP_RESOURCE = {
    "ServiceName": "Savings Plans for AWS Compute usage", "ServiceCategory": "Compute",
    "ServiceSubcategory": "Other (Compute)", "ResourceId": SAVINGS_PLAN["CommitmentDiscountId"],
    "ResourceName": "sp-1", "ResourceType": "Savings Plan", "SkuId": "SKU-SP", "SkuPriceId": "SKU-SP.1YR",
    "SkuMeter": "Savings Plan Fee",
}
# A small FOCUS 1.2 dataset using what AutoStack declares: commitment discounts (used, unused,
# purchase), a capacity reservation, regions, zones, tags, sub accounts, negotiated prices, tax.
VALID_ROWS = [
    {**BASE, **EC2, "ChargeDescription": "m5.large on demand"},
    {**BASE, **EC2, **SAVINGS_PLAN, "ChargeDescription": "m5.large covered by a savings plan",
     "PricingCategory": "Committed", "BilledCost": 0.0, "EffectiveCost": 0.8, "PricingCurrencyEffectiveCost": 0.8,
     "CommitmentDiscountStatus": "Used", "CommitmentDiscountQuantity": 0.8},
    {**BASE, **SP_RESOURCE, **SAVINGS_PLAN, "ChargeCategory": "Purchase", "ChargeFrequency": "Recurring",
     "ChargeDescription": "Savings plan hourly fee", "PricingCategory": "Standard", "BilledCost": 1.0,
     "EffectiveCost": 0.0, "ListCost": 1.0, "ContractedCost": 1.0, "ListUnitPrice": 1.0, "ContractedUnitPrice": 1.0,
     "PricingQuantity": 1, "PricingUnit": "Hours", "PricingCurrencyEffectiveCost": 0.0,
     "PricingCurrencyListUnitPrice": 1.0, "PricingCurrencyContractedUnitPrice": 1.0, "CommitmentDiscountQuantity": 1.0},
    {**BASE, **SP_RESOURCE, **SAVINGS_PLAN, "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based",
     "ChargeDescription": "Unused savings plan", "PricingCategory": "Committed", "BilledCost": 0.0,
     "EffectiveCost": 0.2, "ListCost": 0.0, "ContractedCost": 0.0, "PricingCurrencyEffectiveCost": 0.2,
     "CommitmentDiscountStatus": "Unused", "CommitmentDiscountQuantity": 0.2},
    {**BASE, **EC2, "ChargeDescription": "m5.large in an On-Demand Capacity Reservation",
     "CapacityReservationId": "cr-0123456789abcdef0", "CapacityReservationStatus": "Used"},
    {**BASE, "ServiceName": "Amazon Elastic Compute Cloud", "ServiceCategory": "Compute",
     "ServiceSubcategory": "Virtual Machines", "ChargeCategory": "Tax", "ChargeFrequency": "Recurring",
     "ChargeDescription": "Sales tax", "BilledCost": 0.2, "EffectiveCost": 0.2, "ListCost": 0.2,
     "ContractedCost": 0.2, "PricingCurrencyEffectiveCost": 0.2},
]
@pytest.fixture(scope="module")
def validator_python() -> Path:
    from autostack.settings import get_settings

    return get_settings().validator_python


def validate(tmp_path: Path, rows: list[dict], validator_python: Path, **kwargs) -> ConformanceReport:
    database = write_focus_table(tmp_path / "warehouse.duckdb", rows)
    return run_focus_validator(database, validator_python=validator_python, workdir=tmp_path / "validator", **kwargs)


def test_valid_focus_1_2_table_has_no_must_failures(tmp_path, validator_python):
    report = validate(tmp_path, VALID_ROWS, validator_python)

    assert report.must_failures == [], report.to_markdown()
    assert report.must_errors == [], report.to_markdown()
    assert report.is_conformant
    assert report.validator_version == "2.2.1"
    assert report.focus_version == "1.2"
    assert report.row_count == len(VALID_ROWS)
    assert report.applicability_criteria == AUTOSTACK_APPLICABILITY_CRITERIA
    # The rules of declared features ran (not skipped) and passed.
    for rule_id in ("CommitmentDiscountStatus-C-005-M", "CapacityReservationStatus-C-006-M", "Tags-C-001-M",
                    "RegionName-C-005-C", "BillingCurrency-C-006-M", "ChargeCategory-C-003-M",
                    "ServiceSubcategory-C-004-M", "BilledCost-C-003-M"):
        assert report.get(rule_id).status == "passed", report.get(rule_id)
    # Types survived the export: decimals, timestamps, JSON text.
    for rule_id in ("BilledCost-C-001-M", "ChargePeriodStart-C-001-M", "BillingAccountId-C-002-M"):
        assert report.get(rule_id).status == "passed", report.get(rule_id)
    # The validator's defects were decided again, and said so.
    status_when_no_reservation = report.get("CapacityReservationStatus-C-003-C")
    assert (status_when_no_reservation.validator_status, status_when_no_reservation.status) == ("failed", "passed")
    capacity = report.get("CapacityReservationStatus-C-004-C")
    assert (capacity.validator_status, capacity.status) == ("failed", "passed")
    assert "ignores" in capacity.known_defect
    markdown = report.to_markdown()
    assert "**FOCUS 1.2 conformant**" in markdown and "| 0 |" in markdown
    # The validator logged into the work folder, not into its site-packages.
    assert report.log_file.parent == (tmp_path / "validator").resolve()
    assert "Validation completed" in report.log_file.read_text()


def test_violations_are_reported_as_failed_rules(tmp_path, validator_python):
    rows = [dict(r) for r in VALID_ROWS]
    rows[0]["ChargeCategory"] = "Refund"  # not an allowed value; the other rows are fine
    rows[5]["BilledCost"] = None  # BilledCost MUST NOT be null
    rows[3]["CommitmentDiscountStatus"] = "Expired"  # allowed by the validator's model, not by FOCUS 1.2
    rows[1]["BillingCurrency"] = "US$"
    rows[2]["ChargePeriodStart"] = None  # a NULL timestamp is a nullability failure, not a missing column

    report = validate(tmp_path, rows, validator_python)

    failed = {r.rule_id: r for r in report.must_failures}
    assert not report.is_conformant
    assert failed["BilledCost-C-003-M"].failing_rows == 1
    assert failed["ChargeCategory-C-003-M"].failing_rows == 1
    assert failed["ChargeCategory-C-003-M"].validator_status == "passed"  # the validator's OR defect
    assert failed["CommitmentDiscountStatus-C-005-M"].failing_rows == 1
    assert failed["BillingCurrency-C-006-M"].failing_rows == 1
    assert failed["ChargePeriodStart-C-003-M"].failing_rows == 1
    assert not [r for r in report.must_failures if r.check == "Presence"]
    assert all(r.keyword in ("MUST", "MUST NOT") for r in failed.values())
    markdown = report.to_markdown()
    assert "NOT conformant" in markdown
    assert "| ChargeCategory-C-003-M | ChargeCategory | 1 |" in markdown


def test_missing_required_column_is_a_must_failure(tmp_path, validator_python):
    database = write_focus_table(tmp_path / "warehouse.duckdb", VALID_ROWS)
    with duckdb.connect(str(database)) as con:
        con.execute("ALTER TABLE focus.costs DROP COLUMN ChargeCategory")

    report = run_focus_validator(database, validator_python=validator_python, workdir=tmp_path / "v")

    presence = [r for r in report.must_failures if r.check == "Presence"]
    assert [r.column for r in presence] == ["ChargeCategory"], report.to_markdown()
    assert any(r.column == "ChargeCategory" for r in report.must_errors)


def test_aws_focus_1_0_sample_loaded_as_1_2(tmp_path, validator_python):
    """The published AWS FOCUS 1.0 sample, through our loader: the faults that are the data's own."""
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        ensure_raw_tables(con)
        loaded = load_file(con, SourceFile.local(AWS_FOCUS_SAMPLE))
        assert loaded.outcome == "loaded", loaded.error
        report = run_focus_validator(con, "raw.focus_costs", validator_python=validator_python, workdir=tmp_path / "v")

    failed = {r.rule_id: r.failing_rows for r in report.must_failures}
    assert report.row_count == loaded.row_count == 942
    # In the source file itself: a credit with a negative unit price, two rows with a region id
    # but "NULL" region name, EC2 split over Compute and Storage, ResourceType missing.
    assert failed["ContractedUnitPrice-C-009-C"] == 1
    assert failed["RegionName-C-005-C"] == 2
    assert failed["ServiceName-C-005-C"] == 1  # one ServiceName with two categories
    assert failed["ResourceType-C-005-C"] == 752
    # AWS is both provider "AWS" and invoice issuer "Amazon Web Services, Inc.": no MUST failure.
    assert report.get("BilledCost-C-005-C").status == "skipped"
    assert report.get("BilledCost-C-005-C").validator_status == "failed"


def test_export_keeps_focus_types_and_drops_x_columns(tmp_path):
    database = write_focus_table(tmp_path / "w.duckdb", VALID_ROWS[:1])
    with duckdb.connect(str(database)) as con:
        rows = export_for_validator(con, "focus.costs", tmp_path / "out.parquet")
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(tmp_path / "out.parquet")]).fetchall()
        schema = {name: type_ for name, type_, *_ in described}
        tags = con.execute("SELECT Tags FROM read_parquet(?)", [str(tmp_path / "out.parquet")]).fetchall()[0][0]
    assert rows == 1
    assert list(schema) == list(FOCUS_1_2_COLUMNS)
    assert schema["BilledCost"] == "DECIMAL(38,12)"
    assert schema["ChargePeriodStart"] == "VARCHAR"  # as FOCUS DateTimeFormat text, see the module
    assert con_value(tmp_path / "out.parquet", "ChargePeriodStart") == "2025-03-02T00:00:00Z"
    assert schema["Tags"] == "VARCHAR" and schema["SkuPriceDetails"] == "VARCHAR"
    assert json.loads(tags) == {"env": "prod", "team": "web"}


def con_value(parquet: Path, column: str):
    with duckdb.connect() as con:
        return con.execute(f'SELECT "{column}" FROM read_parquet(?)', [str(parquet)]).fetchall()[0][0]


def test_export_names_a_missing_table(tmp_path):
    with duckdb.connect() as con, pytest.raises(ValueError, match="focus.nope"):
        export_for_validator(con, "focus.nope", tmp_path / "out.parquet")


def test_missing_validator_environment_says_to_bootstrap(tmp_path):
    database = write_focus_table(tmp_path / "w.duckdb", VALID_ROWS[:1])
    with pytest.raises(ValidatorNotInstalledError, match=r"\./scripts/bootstrap"):
        run_focus_validator(database, validator_python=tmp_path / "no-venv" / "bin" / "python", workdir=tmp_path / "v")


def test_rules_model_checks_translate_to_sql():
    allowed = {"CheckFunction": "OR", "Items": [
        {"CheckFunction": "CheckValue", "ColumnName": "ChargeClass", "Value": None},
        {"CheckFunction": "CheckValue", "ColumnName": "ChargeClass", "Value": "Correction"},
    ]}
    assert _predicate_sql(allowed) == "(\"ChargeClass\" IS NULL OR \"ChargeClass\" = 'Correction')"
    assert _predicate_sql({"CheckFunction": "CheckNotValue", "ColumnName": "BilledCost", "Value": 0}) == '"BilledCost" <> 0'
    assert _predicate_sql({"CheckFunction": "CheckGreaterOrEqualThanValue", "ColumnName": "x", "Value": 0}) is None


def test_a_large_table_is_validated_on_a_stratified_sample_that_keeps_every_combination(tmp_path):
    import duckdb

    from orchestration.checks.focus_conformance import export_for_validator

    con = duckdb.connect()
    con.execute(
        """CREATE TABLE costs AS SELECT
               CASE WHEN i = 7 THEN 'Credit' ELSE 'Usage' END AS ChargeCategory,
               'AWS' AS ProviderName, CAST(i AS DECIMAL(38, 12)) AS BilledCost, 'x' AS x_SourceUri
           FROM range(100000) t(i)"""
    )
    path = tmp_path / "sample.parquet"
    written = export_for_validator(con, "costs", path, max_rows=5000)
    assert 4000 <= written <= 7000
    categories = dict(con.execute(f"SELECT ChargeCategory, count(*) FROM read_parquet('{path}') GROUP BY 1").fetchall())
    assert categories["Credit"] == 1, "the one rare row is kept"
    assert written == export_for_validator(con, "costs", tmp_path / "again.parquet", max_rows=5000), "deterministic"
    assert export_for_validator(con, "costs", tmp_path / "all.parquet", max_rows=None) == 100000
    # A view has no row id: the sample hashes its FOCUS columns instead, with the same guarantees.
    con.execute("CREATE VIEW costs_view AS SELECT * FROM costs")
    from_view = export_for_validator(con, "costs_view", tmp_path / "view.parquet", max_rows=5000)
    assert 4000 <= from_view <= 7000
    assert con.execute(f"SELECT count(*) FROM read_parquet('{tmp_path / 'view.parquet'}') WHERE ChargeCategory = 'Credit'").fetchall() == [(1,)]
    # Only the rows `where` names are sampled.
    only_even = export_for_validator(con, "costs", tmp_path / "even.parquet", max_rows=5000, where="BilledCost % 2 = 0")
    assert 4000 <= only_even <= 7000  # 50,000 rows in scope, one in 10 kept
    assert con.execute(f"SELECT count(*) FROM read_parquet('{tmp_path / 'even.parquet'}') WHERE BilledCost % 2 = 1").fetchall() == [(0,)]


def test_the_whole_table_validation_is_kept_until_a_focus_column_changes(tmp_path):
    """A run that loads nothing validates every row, unless the last such validation saw the same FOCUS
    columns (what the validator reads); x_ columns, which it never sees, do not count."""
    from orchestration.defs.quality import _conformance_kept

    con = duckdb.connect(str(write_focus_table(tmp_path / "w.duckdb", VALID_ROWS[:1], "focus.costs_v1_2")))
    python = tmp_path / "python"
    first = _conformance_kept(con, python)[1]
    con.execute("""UPDATE focus.costs_v1_2 SET x_Extras = '{"a": 1}', x_SourceFormat = 'another'""")
    assert _conformance_kept(con, python)[1] == first
    con.execute("UPDATE focus.costs_v1_2 SET BilledCost = 2")
    assert _conformance_kept(con, python)[1] != first
