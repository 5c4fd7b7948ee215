"""AWS Cost and Usage Report ingestion (legacy CSV, legacy Athena/Parquet, CUR 2.0) and its FOCUS 1.2 model.

Fixtures: the real anonymized legacy CUR sample (data/samples/aws-cur-legacy) and one constructed
September 2024 scenario written in all four spellings (tests/fixtures/aws, see its README). The
scenario's expected totals are worked out by hand below, line by line, not by running the model.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from autostack.settings import DBT_PROJECT_DIR, get_settings
from conftest import FIXTURES, SAMPLES, run_dbt
from orchestration.ingest.formats.aws_cur_common import athena_name
from orchestration.ingest.formats.base import probe_file
from orchestration.ingest.formats.focus import FOCUS
from orchestration.ingest.loader import SourceFile, detect_format, ensure_raw_tables, load_file

AWS = FIXTURES / "aws"
REAL_SAMPLE = SAMPLES / "aws-cur-legacy" / "aws-cur-legacy_sample-anonymous-aws-export-dataset.csv"
FOCUS_SAMPLE = SAMPLES / "focus-1.0-sample-aws" / "focus_sample_aws.csv"
SCENARIO_FILES = {
    "cur2_csv": (AWS / "cur2_2024-09.csv.gz", "aws_cur2"),
    "cur2_parquet": (AWS / "cur2_2024-09.parquet", "aws_cur2"),
    "cur1_csv": (AWS / "cur1_2024-09.csv.gz", "aws_cur_legacy"),
    "cur1_athena": (AWS / "cur1_athena_2024-09.parquet", "aws_cur_legacy_athena"),
}

# The scenario by hand (tests/fixtures/aws/make_fixtures.py), unblended cost per line item:
#   usage 0.104 + 2.3 + 0.0155 + 0.2 + 0.085 = 2.7045; DiscountedUsage 0; RIFee 28.80; RI upfront Fee
#   175.20; SP covered 51.00 and 40.48 with negations -51.00 and -40.48; SP recurring fee 72.00; SP
#   upfront fee 438.00; tax 1.25; credits -5.00 and -1.00; refund -2.30; discounts -0.10 and -0.50;
#   Route 53 domain fee 12.00.
SCENARIO_BILLED = Decimal("721.0545")
# AWS amortized cost: the same on-demand usage 2.7045; RI: effective cost of the 570 used hours
# 34.20 (570 x 0.06) + unused 150 hours 9.00 (3.00 upfront + 6.00 recurring), fees 0; SP: effective
# costs 33.00 + 30.00, unused commitment 108.00 - 63.00 = 45.00, fees and negations 0; tax 1.25,
# credits/refund/discounts -8.90; the domain fee is no commitment: 12.00.
SCENARIO_EFFECTIVE = Decimal("158.2545")
# 21 line items; the two negations fold into their covered lines; the RIFee and the SP recurring fee
# each add an Unused row.
SCENARIO_ROWS = 21


def real_sample_unblended_total() -> tuple[Decimal, set[str]]:
    total, types = Decimal(0), set()
    with open(REAL_SAMPLE, newline="", encoding="utf-8") as fh:
        for record in csv.DictReader(fh):
            total += Decimal(record["lineItem/UnblendedCost"] or "0")
            types.add(record["lineItem/LineItemType"])
    return total, types


def focus_columns() -> list[str]:
    macros = (DBT_PROJECT_DIR / "macros" / "focus_columns.sql").read_text()
    blocks = re.findall(r"return\(\[(.*?)\]\)", macros, flags=re.S)
    return [name for block in blocks for name in re.findall(r"'([A-Za-z_]+)'", block)]


def load(con: duckdb.DuckDBPyConnection, path: Path):
    ensure_raw_tables(con)
    return load_file(con, SourceFile.local(path))


# --- detection --------------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(SCENARIO_FILES))
def test_each_spelling_is_detected_as_its_format(key):
    path, expected = SCENARIO_FILES[key]
    probe = probe_file(path)
    assert detect_format(probe).name == expected
    assert not FOCUS.matches(probe)


def test_real_legacy_sample_is_legacy_cur_and_focus_sample_is_not_cur():
    assert detect_format(probe_file(REAL_SAMPLE)).name == "aws_cur_legacy"
    assert detect_format(probe_file(FOCUS_SAMPLE)).name == "focus"


def test_legacy_athena_csv_is_told_from_cur2_csv(tmp_path):
    """A CSV exported from the legacy CUR's Athena table has flat product/tag columns and no maps."""
    athena_csv = tmp_path / "athena.csv"
    duckdb.execute(f"COPY (SELECT * FROM '{AWS / 'cur1_athena_2024-09.parquet'}') TO '{athena_csv}' (HEADER)")
    assert detect_format(probe_file(athena_csv)).name == "aws_cur_legacy_athena"
    assert detect_format(probe_file(AWS / "cur2_2024-09.csv.gz")).name == "aws_cur2"


@pytest.mark.parametrize(("header", "snake"), [
    ("lineItem/UnblendedCost", "line_item_unblended_cost"),
    ("reservation/ReservationARN", "reservation_reservation_a_r_n"),
    ("savingsPlan/SavingsPlanEffectiveCost", "savings_plan_savings_plan_effective_cost"),
    ("pricing/publicOnDemandCost", "pricing_public_on_demand_cost"),
    ("product/servicecode", "product_servicecode"),
    ("bill/PayerAccountId", "bill_payer_account_id"),
])
def test_legacy_headers_get_their_athena_names(header, snake):
    assert athena_name(header) == snake


# --- loading ----------------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(SCENARIO_FILES))
def test_scenario_loads_with_its_billed_total(warehouse, key):
    path, fmt = SCENARIO_FILES[key]
    result = load(warehouse, path)
    assert result.outcome == "loaded", result.error
    assert (result.format, result.provider, result.row_count) == (fmt, "AWS", 21)
    assert result.billing_periods == ("2024-09-01",) and result.billing_accounts == ("111111111111",)
    total = warehouse.execute("SELECT sum(line_item_unblended_cost) FROM raw.aws_cur").fetchall()[0][0]
    assert total == SCENARIO_BILLED
    slices = warehouse.execute("SELECT x_dataset, billed_total FROM ingest.partitions").fetchall()
    assert slices == [("cur", SCENARIO_BILLED)]


def test_real_sample_loads_with_its_unblended_total(warehouse):
    expected, _ = real_sample_unblended_total()
    result = load(warehouse, REAL_SAMPLE)
    assert result.outcome == "loaded", result.error
    assert result.row_count == 1281 and result.billing_accounts == ("123412340534",)
    assert result.billing_periods == ("2023-11-01",)
    assert warehouse.execute("SELECT sum(line_item_unblended_cost) FROM raw.aws_cur").fetchall()[0][0] == expected


def test_legacy_product_attributes_and_tags_are_kept(warehouse):
    load(warehouse, AWS / "cur1_2024-09.csv.gz")
    product, tags, categories, name = warehouse.execute(
        "SELECT product, resource_tags, cost_category, product_product_name FROM raw.aws_cur "
        "WHERE identity_line_item_id LIKE 'li-01%'"
    ).fetchall()[0]
    assert name == "Amazon Elastic Compute Cloud"
    assert '"operating_system":"Linux"' in product
    assert tags == '{"aws:createdBy":"alice","user:team":"web"}'
    assert categories == '{"project":"alpha"}'


def _write_csv_gz(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with gzip.open(path, "wt", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _scenario_legacy_rows() -> tuple[list[str], list[list[str]]]:
    with gzip.open(AWS / "cur1_2024-09.csv.gz", "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_cur_file_without_a_required_column_is_quarantined_naming_it(warehouse, tmp_path):
    header, rows = _scenario_legacy_rows()
    drop = header.index("bill/PayerAccountId")
    path = tmp_path / "no-payer.csv.gz"
    _write_csv_gz(path, header[:drop] + header[drop + 1:], [r[:drop] + r[drop + 1:] for r in rows])
    result = load(warehouse, path)
    assert result.outcome == "quarantined"
    assert str(path) in result.error and "bill/PayerAccountId" in result.error
    assert warehouse.execute("SELECT count(*) FROM raw.aws_cur").fetchall()[0][0] == 0


def test_unreadable_cost_is_quarantined_naming_file_line_and_column(warehouse, tmp_path):
    header, rows = _scenario_legacy_rows()
    rows[4][header.index("lineItem/UnblendedCost")] = "12,5 USD"
    path = tmp_path / "bad-cost.csv.gz"
    _write_csv_gz(path, header, rows)
    result = load(warehouse, path)
    assert result.outcome == "quarantined"
    assert str(path) in result.error and "12,5 USD" in result.error
    assert "lineItem/UnblendedCost" in result.error and "line 6" in result.error


def test_cur2_csv_with_invalid_tag_json_is_quarantined(warehouse, tmp_path):
    with gzip.open(AWS / "cur2_2024-09.csv.gz", "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1][rows[0].index("resource_tags")] = "{user_team: web"
    path = tmp_path / "bad-tags.csv.gz"
    _write_csv_gz(path, rows[0], rows[1:])
    result = load(warehouse, path)
    assert result.outcome == "quarantined"
    assert str(path) in result.error and "JSON" in result.error


# --- the FOCUS model --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def focus_rows(tmp_path_factory):
    """int_aws__focus_costs and focus.costs_v1_2 built by dbt for each file, each in a warehouse of its own."""
    built = {}
    for key, path in {**{k: v[0] for k, v in SCENARIO_FILES.items()}, "real_sample": REAL_SAMPLE}.items():
        settings = get_settings({"AUTOSTACK_HOME": str(tmp_path_factory.mktemp(key))})
        settings.ensure_dirs()
        with duckdb.connect(str(settings.warehouse_path)) as con:
            result = load(con, path)
            assert result.outcome == "loaded", result.error
        run_dbt(settings, "build", "--select", "+costs_v1_2")
        built[key] = settings.warehouse_path
    return built


def query(warehouse_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse_path)) as con:
        return con.execute(sql).fetchall()


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(SCENARIO_FILES))
def test_scenario_focus_totals_match_the_hand_worked_numbers(focus_rows, key):
    rows, billed, effective = query(
        focus_rows[key],
        "SELECT count(*), sum(BilledCost), sum(EffectiveCost) FROM intermediate.int_aws__focus_costs",
    )[0]
    assert (rows, billed, effective) == (SCENARIO_ROWS, SCENARIO_BILLED, SCENARIO_EFFECTIVE)


@pytest.mark.slow
def test_real_sample_focus_totals_match_the_file(focus_rows):
    unblended, types = real_sample_unblended_total()
    # Only Usage and Tax lines: AWS's amortized cost of each is its unblended cost.
    assert types == {"Usage", "Tax"}
    rows, billed, effective = query(
        focus_rows["real_sample"],
        "SELECT count(*), sum(BilledCost), sum(EffectiveCost) FROM intermediate.int_aws__focus_costs",
    )[0]
    assert (rows, billed, effective) == (1281, unblended, unblended)
    assert round(billed, 2) == round(unblended, 2)


@pytest.mark.slow
def test_columns_are_the_focus_and_autostack_columns_with_their_types(focus_rows):
    described = query(focus_rows["cur2_csv"], "DESCRIBE intermediate.int_aws__focus_costs")
    assert [row[0] for row in described] == focus_columns()
    decimal_columns = {
        "BilledCost", "CommitmentDiscountQuantity", "ConsumedQuantity", "ContractedCost", "ContractedUnitPrice",
        "EffectiveCost", "ListCost", "ListUnitPrice", "PricingCurrencyContractedUnitPrice",
        "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice", "PricingQuantity", "x_CreditAmount",
    }
    timestamps = {"BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart", "x_IngestedAt"}
    json_columns = {"SkuPriceDetails", "Tags", "x_Extras"}
    for name, type_, *_ in described:
        expected = ("DECIMAL(38,12)" if name in decimal_columns else "TIMESTAMP" if name in timestamps
                    else "JSON" if name in json_columns else "VARCHAR")
        assert type_ == expected, name


@pytest.mark.slow
def test_commitments_negations_and_corrections_row_by_row(focus_rows):
    rows = query(focus_rows["cur2_parquet"], """
        SELECT x_CostType, ChargeCategory, ChargeClass, ChargeFrequency, PricingCategory, CommitmentDiscountStatus,
               BilledCost, EffectiveCost, x_CreditAmount, CommitmentDiscountQuantity, CommitmentDiscountUnit,
               ConsumedQuantity, ResourceId
        FROM intermediate.int_aws__focus_costs
        WHERE CommitmentDiscountId IS NOT NULL OR ChargeClass IS NOT NULL
        ORDER BY x_Extras->>'line_item_id', CommitmentDiscountStatus NULLS FIRST""")
    ri = "arn:aws:ec2:us-east-1:222222222222:reserved-instances/7f1c2a9e-0000-4000-8000-000000000001"
    sp = "arn:aws:savingsplans::111111111111:savingsplan/5b8e0c1d-0000-4000-8000-000000000002"
    d = Decimal
    assert rows == [
        ("DiscountedUsage", "Usage", None, "Usage-Based", "Committed", "Used", d(0), d("34.2"), None, d(570), "Hours", d(570), "i-0a1b2c3d4e5f60006"),
        ("RIFee", "Purchase", None, "Recurring", "Standard", None, d("28.8"), d(0), None, d(720), "Hours", None, ri),
        ("RIFee", "Usage", None, "Usage-Based", "Committed", "Unused", d(0), d(9), None, d(150), "Hours", None, ri),
        ("Fee", "Purchase", None, "One-Time", "Standard", None, d("175.2"), d(0), None, d(8760), "Hours", None, ri),
        ("SavingsPlanCoveredUsage", "Usage", None, "Usage-Based", "Committed", "Used", d(0), d(33), d(-51), d(33), "USD", d(600), "i-0a1b2c3d4e5f60009"),
        ("SavingsPlanCoveredUsage", "Usage", None, "Usage-Based", "Committed", "Used", d(0), d(30), d("-40.48"), d(30), "USD", d(1000),
         "arn:aws:ecs:us-east-1:333333333333:task/web/0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
        ("SavingsPlanRecurringFee", "Purchase", None, "Recurring", "Standard", None, d(72), d(0), None, d(108), "USD", None, sp),
        ("SavingsPlanRecurringFee", "Usage", None, "Usage-Based", "Committed", "Unused", d(0), d(45), None, d(45), "USD", None, sp),
        ("SavingsPlanUpfrontFee", "Purchase", None, "One-Time", "Standard", None, d(438), d(0), None, d(438), "USD", None, sp),
        ("Credit", "Credit", "Correction", "One-Time", None, None, d(-1), d(-1), None, None, None, None, None),
        ("Refund", "Usage", "Correction", "One-Time", "Standard", None, d("-2.3"), d("-2.3"), None, None, None, d(-100), None),
    ]


@pytest.mark.slow
def test_extras_keep_only_the_members_with_a_value(focus_rows):
    """x_Extras has no NULL members; row_kind marks only the rows the mapping derives (a CUR line item has
    none); the CUR spelling is x_SourceFormat, not repeated in every row's extras."""
    kinds = set()
    for key, warehouse_path in focus_rows.items():
        rows = query(warehouse_path, "SELECT x_Extras::VARCHAR, CommitmentDiscountStatus FROM intermediate.int_aws__focus_costs")
        for text, status in rows:
            extras = json.loads(text)
            assert None not in extras.values(), (key, extras)
            assert "line_item_id" in extras and "cur_schema" not in extras, (key, extras)
            assert (extras.get("row_kind") == "unused commitment") == (status == "Unused"), (key, extras)
            kinds.add(extras.get("row_kind"))
    assert kinds == {None, "unused commitment"}


@pytest.mark.slow
def test_every_spelling_gives_the_same_focus_rows(focus_rows):
    """Names exist only in CUR 2.0 and AWS-generated tag keys are spelled per format; all else agrees."""
    columns = [c for c in focus_columns() if not c.startswith("x_") and c not in ("BillingAccountName", "SubAccountName", "Tags")]
    sql = (f"SELECT {', '.join(chr(34) + c + chr(34) for c in columns)} FROM intermediate.int_aws__focus_costs "
           "ORDER BY ALL")
    results = {key: query(focus_rows[key], sql) for key in SCENARIO_FILES}
    assert results["cur2_csv"] == results["cur2_parquet"] == results["cur1_csv"] == results["cur1_athena"]


@pytest.mark.slow
def test_tags_names_and_regions(focus_rows):
    tags = {
        key: query(focus_rows[key], "SELECT Tags::VARCHAR FROM intermediate.int_aws__focus_costs "
                                    "WHERE x_Extras->>'line_item_id' LIKE 'li-01%'")[0][0]
        for key in SCENARIO_FILES
    }
    assert tags["cur1_csv"] == '{"aws:createdBy":"alice","team":"web"}'
    for key in ("cur2_csv", "cur2_parquet", "cur1_athena"):
        assert tags[key] in ('{"team":"web","aws:created_by":"alice"}', '{"aws:created_by":"alice","team":"web"}')
    # An empty tag value is no tag: li-11 carries team=web and env="".
    assert query(focus_rows["cur2_csv"], "SELECT Tags::VARCHAR FROM intermediate.int_aws__focus_costs "
                                         "WHERE x_Extras->>'line_item_id' LIKE 'li-11%'") == [('{"team":"web"}',)]
    names = query(focus_rows["cur2_csv"], "SELECT DISTINCT BillingAccountName, SubAccountId, SubAccountName "
                                          "FROM intermediate.int_aws__focus_costs ORDER BY ALL")
    assert names == [("Acme Payer", "111111111111", "Acme Payer"), ("Acme Payer", "222222222222", "acme-dev"),
                     ("Acme Payer", "333333333333", "acme-prod")]
    legacy_names = query(focus_rows["cur1_csv"], "SELECT DISTINCT BillingAccountName FROM intermediate.int_aws__focus_costs")
    assert legacy_names == [("111111111111",)]
    # The data transfer line (li-04) carries only the region code: the mapping leaves it unnamed and
    # focus.costs names it from the provider's other rows, saying so in x_Repairs.
    regions = query(focus_rows["cur1_athena"], "SELECT RegionId, RegionName FROM intermediate.int_aws__focus_costs "
                                               "WHERE x_Extras->>'line_item_id' SIMILAR TO 'li-0(4|5).*' ORDER BY ALL")
    assert regions == [("us-east-1", None), (None, None)]
    regions = query(focus_rows["cur1_athena"], "SELECT RegionId, RegionName, x_Repairs FROM focus.costs_v1_2 "
                                               "WHERE x_Extras->>'line_item_id' SIMILAR TO 'li-0(4|5).*' ORDER BY ALL")
    assert [r[:2] for r in regions] == [("us-east-1", "US East (N. Virginia)"), (None, None)]
    assert "RegionName: filled for RegionId" in regions[0][2]


@pytest.mark.slow
def test_real_sample_passes_the_focus_validator(focus_rows, tmp_path):
    # scripts/bootstrap always installs the validator environment; a missing one is a failure.
    from orchestration import checks
    import orchestration.checks.focus_conformance  # noqa: F401

    checks = checks.focus_conformance
    assert get_settings().validator_python.exists(), "run ./scripts/bootstrap: .venv-validator is missing"
    with duckdb.connect(str(focus_rows["real_sample"])) as con:
        # focus.costs_v1_2: the AWS rows as conformed (the mapping leaves a data transfer line's region unnamed).
        report = checks.run_focus_validator(con, "focus.costs_v1_2", workdir=tmp_path / "validator")
    assert report.row_count == 1281
    assert [r.rule_id for r in report.must_failures] == []
