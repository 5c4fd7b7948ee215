"""Azure Cost Management exports: detection, column variants, actual/amortized, reconciliation to FOCUS.

Real data: the EA samples from microsoft/finops-toolkit (data/samples/azure-ea-cost-export). Constructed
data: the MCA actual/amortized pair in tests/fixtures/azure (see its README), built so the two files of one
account and month reconcile.
"""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from conftest import FIXTURES, SAMPLES, run_dbt
from orchestration.ingest.focus_spec import FOCUS_1_2_COLUMNS
from orchestration.ingest.formats.azure import dataset_hint
from orchestration.ingest.loader import SourceFile, ensure_raw_tables, load_file

EA = SAMPLES / "azure-ea-cost-export"
EA_ACTUAL = EA / "EA_ActualCost_Small.csv"
EA_AMORTIZED = EA / "EA_AmortizedCost_Small.csv"
EA_EMPTY = EA / "EA_NoRows.csv"
MCA_ACTUAL = FIXTURES / "azure" / "MCA_ActualCost_Constructed.csv"
MCA_AMORTIZED = FIXTURES / "azure" / "MCA_AmortizedCost_Constructed.csv"
FOCUS_MODEL = "intermediate.int_azure__focus_costs"
X_COLUMNS = {
    "x_SourceFormat": "VARCHAR", "x_SourceUri": "VARCHAR", "x_LoadId": "VARCHAR", "x_IngestedAt": "TIMESTAMP",
    "x_Dataset": "VARCHAR", "x_ServiceCode": "VARCHAR", "x_UsageType": "VARCHAR", "x_Operation": "VARCHAR",
    "x_CostType": "VARCHAR", "x_CreditAmount": "DECIMAL(38,12)", "x_Extras": "JSON",
}


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: Path, rows: list[dict[str, str]], fieldnames=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def cost_column(row: dict[str, str]) -> str:
    return "Cost" if "Cost" in row else "costInBillingCurrency"


def file_total(path: Path, keep=lambda row: True) -> Decimal:
    """The file's own total in the billing currency, summed here in Python, independently of the loader."""
    return sum((Decimal(r[cost_column(r)]) for r in read_rows(path) if keep(r)), Decimal(0))


def is_commitment_usage(row: dict[str, str]) -> bool:
    model = row.get("PricingModel", row.get("pricingModel", ""))
    charge = row.get("ChargeType", row.get("chargeType", ""))
    return charge.startswith("Unused") or (model in ("Reservation", "SavingsPlan") and charge == "Usage")


def is_commitment_purchase(row: dict[str, str]) -> bool:
    model = row.get("PricingModel", row.get("pricingModel", ""))
    charge = row.get("ChargeType", row.get("chargeType", ""))
    return model in ("Reservation", "SavingsPlan") and charge in ("Purchase", "Refund")


def raw_slices(con) -> list[tuple]:
    return con.execute(
        "SELECT x_dataset, count(*), sum(Cost) FROM raw.azure_costs GROUP BY x_dataset ORDER BY x_dataset"
    ).fetchall()


def build_focus(settings) -> None:
    run_dbt(settings, "build", "--select", "+int_azure__focus_costs")


def focus_totals(settings, where: str = "true") -> tuple[Decimal, Decimal, int]:
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        return tuple(
            con.execute(f"SELECT sum(BilledCost), sum(EffectiveCost), count(*) FROM {FOCUS_MODEL} WHERE {where}").fetchall()[0]
        )
    finally:
        con.close()


# --- loading and detection ------------------------------------------------------------------------


def test_real_ea_exports_load_with_their_dataset_and_the_empty_one_loads_zero_rows(warehouse):
    ensure_raw_tables(warehouse)
    actual = load_file(warehouse, SourceFile.local(EA_ACTUAL))
    amortized = load_file(warehouse, SourceFile.local(EA_AMORTIZED))
    empty = load_file(warehouse, SourceFile.local(EA_EMPTY))
    assert (actual.outcome, actual.format, actual.row_count) == ("loaded", "azure", 11)
    assert (amortized.outcome, amortized.format, amortized.row_count) == ("loaded", "azure", 28)
    assert (empty.outcome, empty.format, empty.row_count, empty.error) == ("loaded", "azure", 0, None)
    assert actual.billing_accounts == ("8611537",) and actual.billing_periods == ("2023-09-01",)
    datasets = dict(
        warehouse.execute("SELECT x_source_uri, any_value(x_dataset) FROM raw.azure_costs GROUP BY 1").fetchall()
    )
    assert datasets == {str(EA_ACTUAL): "actual", str(EA_AMORTIZED): "amortized"}
    # Billed totals: actual = all its cost; amortized = its cost minus commitment-covered usage and unused rows.
    assert Decimal(str(actual.billed_total)) == pytest.approx(file_total(EA_ACTUAL), abs=Decimal("1e-9"))
    expected_amortized = file_total(EA_AMORTIZED, lambda r: not is_commitment_usage(r))
    assert file_total(EA_AMORTIZED) - expected_amortized > Decimal("0.4")  # the sample does have covered usage
    assert Decimal(str(amortized.billed_total)) == pytest.approx(expected_amortized, abs=Decimal("1e-9"))


def test_dataset_comes_from_the_content_even_against_the_file_name(warehouse, tmp_path):
    """Amortized content under an 'ActualCost' name and actual content under a neutral name."""
    ensure_raw_tables(warehouse)
    (tmp_path / "export-a").mkdir()
    (tmp_path / "export-b").mkdir()
    misnamed = Path(shutil.copy(MCA_AMORTIZED, tmp_path / "export-a" / "ActualCost_202405.csv"))
    neutral = Path(shutil.copy(MCA_ACTUAL, tmp_path / "export-b" / "part_0_0001.csv"))
    assert load_file(warehouse, SourceFile.local(misnamed)).outcome == "loaded"
    assert load_file(warehouse, SourceFile.local(neutral)).outcome == "loaded"
    rows = dict(warehouse.execute(
        "SELECT regexp_extract(x_source_uri, '[^/]+$'), any_value(x_dataset) FROM raw.azure_costs GROUP BY 1"
    ).fetchall())
    assert rows == {"ActualCost_202405.csv": "amortized", "part_0_0001.csv": "actual"}


def test_a_file_without_commitment_rows_takes_its_dataset_from_its_name(warehouse, tmp_path):
    on_demand = [r for r in read_rows(MCA_ACTUAL) if r["pricingModel"] == "OnDemand"]
    assert len(on_demand) == 3
    # One billing account each: two 'actual' slices of one account from two deliveries would replace each other.
    def for_account(account):
        return [{**r, "billingAccountId": account} for r in on_demand]

    named = write_rows(tmp_path / "d1" / "contoso-AmortizedCost-202405.csv", for_account("a1"))
    by_folder = write_rows(tmp_path / "actual-cost-export" / "20240501-20240531" / "part_1.csv", for_account("a2"))
    unnamed = write_rows(tmp_path / "d3" / "part_1.csv", for_account("a3"))
    assert dataset_hint(named) == "amortized"
    assert dataset_hint(by_folder) == "actual"
    assert dataset_hint(unnamed) == "actual"
    ensure_raw_tables(warehouse)
    for path in (named, by_folder, unnamed):
        assert load_file(warehouse, SourceFile.local(path)).outcome == "loaded"
    got = dict(warehouse.execute(
        "SELECT x_source_uri, any_value(x_dataset) FROM raw.azure_costs GROUP BY 1").fetchall())
    assert got == {str(named.resolve()): "amortized", str(by_folder.resolve()): "actual", str(unnamed.resolve()): "actual"}


def test_a_file_mixing_actual_purchases_and_amortized_commitment_usage_is_quarantined(warehouse, tmp_path):
    mixed = write_rows(tmp_path / "mixed" / "costs.csv", read_rows(MCA_ACTUAL) + read_rows(MCA_AMORTIZED))
    ensure_raw_tables(warehouse)
    result = load_file(warehouse, SourceFile.local(mixed))
    assert result.outcome == "quarantined"
    assert "3 purchase/refund row(s)" in result.error and "4 amortized commitment row(s)" in result.error
    assert str(mixed) in result.error
    assert warehouse.execute("SELECT count(*) FROM raw.azure_costs").fetchall()[0][0] == 0


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("costInBillingCurrency", "12,5 EUR", "column costInBillingCurrency: expected a decimal number, got '12,5 EUR'"),
        ("date", "14.05.2024", "column date: expected a date (MM/DD/YYYY or ISO 8601), got '14.05.2024'"),
        ("tags", '"env": prod', "column tags: expected JSON key/value pairs, got '\"env\": prod'"),
    ],
)
def test_a_bad_value_is_quarantined_with_its_column_and_value(warehouse, tmp_path, column, value, expected):
    rows = read_rows(MCA_ACTUAL)
    rows[1][column] = value
    path = write_rows(tmp_path / "bad" / f"{column}.csv", rows)
    ensure_raw_tables(warehouse)
    result = load_file(warehouse, SourceFile.local(path))
    assert result.outcome == "quarantined"
    assert expected in result.error and str(path) in result.error


def test_csv_gz_and_parquet_exports_load_like_the_csv(warehouse, tmp_path):
    gz = tmp_path / "gz" / "part_0.csv.gz"
    gz.parent.mkdir()
    with open(MCA_ACTUAL, "rb") as src, gzip.open(gz, "wb") as dst:
        dst.write(src.read())
    parquet = tmp_path / "pq" / "part_0.parquet"
    parquet.parent.mkdir()
    # Parquet exports carry typed columns (dates, doubles): let DuckDB type them as an export would.
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_csv('{MCA_ACTUAL}', header=true)) TO '{parquet}' (FORMAT parquet)")
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{parquet}')").fetchall()}
    con.close()
    assert types["date"] == "DATE" and types["quantity"] == "DOUBLE"
    ensure_raw_tables(warehouse)
    results = [load_file(warehouse, SourceFile.local(p)) for p in (MCA_ACTUAL, gz, parquet)]
    assert [(r.outcome, r.format, r.row_count) for r in results] == [("loaded", "azure", 8)] * 3
    assert {round(r.billed_total, 9) for r in results} == {round(float(file_total(MCA_ACTUAL)), 9)}


def test_ea_and_mca_column_variants_land_in_the_same_raw_columns(warehouse, tmp_path):
    """EA 2019-10-01 names (Cost, BillingCurrency, Product, MM/DD/YYYY) versus 2024-08-01 names with ISO dates."""
    renames = {"Cost": "CostInBillingCurrency", "BillingCurrency": "BillingCurrencyCode", "Product": "ProductName",
               "SubscriptionId": "SubscriptionGuid", "Date": "UsageDate"}
    modern = []
    for row in read_rows(EA_ACTUAL):
        row = {renames.get(k, k): v for k, v in row.items()}
        for key in ("UsageDate", "BillingPeriodStartDate", "BillingPeriodEndDate"):
            month, day, year = row[key].split("/")
            row[key] = f"{year}-{month}-{day}"
        row["BillingAccountId"] = "8611538"  # another account, so the two deliveries do not replace each other
        modern.append(row)
    path = write_rows(tmp_path / "modern" / "EA_ActualCost_2024.csv", modern)
    ensure_raw_tables(warehouse)
    load_file(warehouse, SourceFile.local(EA_ACTUAL))
    load_file(warehouse, SourceFile.local(path))
    compared = "Cost, BillingCurrency, ProductName, SubscriptionId, Date, BillingPeriodStartDate, Tags, x_dataset"
    old = warehouse.execute(f"SELECT {compared} FROM raw.azure_costs WHERE x_source_uri = ? ORDER BY ALL",
                            [str(EA_ACTUAL)]).fetchall()
    new = warehouse.execute(f"SELECT {compared} FROM raw.azure_costs WHERE x_source_uri = ? ORDER BY ALL",
                            [str(path.resolve())]).fetchall()
    assert len(old) == 11 and old == new
    assert warehouse.execute(
        "SELECT count(*) FROM raw.azure_costs WHERE Cost IS NULL OR ProductName IS NULL OR Date IS NULL"
    ).fetchall()[0][0] == 0


# --- FOCUS through dbt ----------------------------------------------------------------------------


def test_focus_rows_reconcile_to_both_files_when_both_datasets_are_loaded(autostack_home, warehouse):
    ensure_raw_tables(warehouse)
    actual = load_file(warehouse, SourceFile.local(MCA_ACTUAL))
    amortized = load_file(warehouse, SourceFile.local(MCA_AMORTIZED))
    assert (actual.outcome, amortized.outcome) == ("loaded", "loaded")
    warehouse.close()
    build_focus(autostack_home)
    billed, effective, rows = focus_totals(autostack_home)
    actual_total = file_total(MCA_ACTUAL)
    amortized_total = file_total(MCA_AMORTIZED)
    assert round(billed, 2) == round(actual_total, 2) and billed == actual_total  # 125.50778, to the cent and beyond
    assert effective == amortized_total  # 51.77898: purchases and refunds add 0
    purchases = [r for r in read_rows(MCA_ACTUAL) if is_commitment_purchase(r)]
    assert rows == len(read_rows(MCA_AMORTIZED)) + len(purchases) == 10
    con = duckdb.connect(str(autostack_home.warehouse_path))
    by_kind = con.execute(
        f"""SELECT x_Dataset, x_CostType, count(*), sum(BilledCost), sum(EffectiveCost) FROM {FOCUS_MODEL}
            GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    manifest = con.execute(
        "SELECT x_dataset, billed_total FROM ingest.partitions WHERE raw_table = 'raw.azure_costs' ORDER BY 1"
    ).fetchall()
    described = con.execute(f"DESCRIBE {FOCUS_MODEL}").fetchall()
    con.close()
    assert by_kind == [
        ("actual", "Purchase", 2, Decimal("114.172"), Decimal(0)),
        ("actual", "Refund", 1, Decimal("-36.8"), Decimal(0)),
        ("amortized", "Purchase", 1, Decimal("46"), Decimal("46")),  # marketplace: in both files, taken once
        ("amortized", "UnusedReservation", 1, Decimal(0), Decimal("0.4416")),
        ("amortized", "UnusedSavingsPlan", 1, Decimal(0), Decimal("0.092")),
        ("amortized", "Usage", 4, Decimal("2.13578"), Decimal("5.24538")),
    ]
    # The loader's source totals: the actual file's, and the amortized file's without commitment usage.
    assert manifest == [("actual", actual_total), ("amortized", amortized_total - Decimal("3.6432"))]
    # Exactly the FOCUS 1.2 columns then AutoStack's x_ columns, in order and with the contract's types.
    expected = [(name, "DECIMAL(38,12)" if t.startswith("DECIMAL") else t) for name, t in FOCUS_1_2_COLUMNS.items()]
    expected += list(X_COLUMNS.items())
    assert [(name, type_) for name, type_, *_ in described] == expected


def test_one_dataset_alone_gives_what_it_can(autostack_home, warehouse, tmp_path):
    """Only actual: exact BilledCost, EffectiveCost without amortization. Only amortized: no purchases."""
    other = write_rows(tmp_path / "other-account" / "amortized.csv",
                       [{**r, "billingAccountId": "other-account"} for r in read_rows(MCA_AMORTIZED)])
    ensure_raw_tables(warehouse)
    load_file(warehouse, SourceFile.local(MCA_ACTUAL))
    load_file(warehouse, SourceFile.local(other))
    warehouse.close()
    build_focus(autostack_home)
    account = read_rows(MCA_ACTUAL)[0]["billingAccountId"]
    billed, effective, rows = focus_totals(autostack_home, f"x_Extras ->> 'BillingAccountId' = '{account}'")
    assert rows == len(read_rows(MCA_ACTUAL))
    assert billed == file_total(MCA_ACTUAL)
    assert effective == file_total(MCA_ACTUAL, lambda r: not is_commitment_purchase(r))
    billed, effective, rows = focus_totals(autostack_home, "x_Extras ->> 'BillingAccountId' = 'other-account'")
    assert rows == len(read_rows(MCA_AMORTIZED))
    assert billed == file_total(MCA_AMORTIZED, lambda r: not is_commitment_usage(r))
    assert effective == file_total(MCA_AMORTIZED)


def test_real_ea_samples_become_focus_rows(autostack_home, warehouse):
    """The two EA samples are not one export pair (the amortized file has rows the actual one lacks), so
    their FOCUS totals are the amortized file's billed and effective totals plus the actual reservation purchase."""
    ensure_raw_tables(warehouse)
    for path in (EA_ACTUAL, EA_AMORTIZED, EA_EMPTY):
        assert load_file(warehouse, SourceFile.local(path)).outcome == "loaded"
    warehouse.close()
    build_focus(autostack_home)
    billed, effective, rows = focus_totals(autostack_home)
    purchase = file_total(EA_ACTUAL, is_commitment_purchase)
    assert purchase == Decimal("3.25")
    assert rows == 28 + 1
    assert billed == pytest.approx(file_total(EA_AMORTIZED, lambda r: not is_commitment_usage(r)) + purchase,
                                   abs=Decimal("1e-9"))
    assert effective == pytest.approx(file_total(EA_AMORTIZED), abs=Decimal("1e-9"))
    con = duckdb.connect(str(autostack_home.warehouse_path))
    sample = con.execute(
        f"""SELECT BillingAccountId, BillingAccountType, ServiceName, ServiceCategory, RegionId, PricingUnit,
                   PricingQuantity, ListUnitPrice, Tags ->> 'env'
            FROM {FOCUS_MODEL} WHERE ResourceName = 'dbstoragewp6hglwvvrad2'"""
    ).fetchall()
    reservation = con.execute(
        f"""SELECT ChargeCategory, PricingCategory, CommitmentDiscountType, CommitmentDiscountStatus, BilledCost,
                   EffectiveCost FROM {FOCUS_MODEL} WHERE x_CostType = 'Usage' AND PricingCategory = 'Committed'
            ORDER BY CommitmentDiscountType"""
    ).fetchall()
    extras = [json.loads(text) for (text,) in con.execute(f"SELECT x_Extras::VARCHAR FROM {FOCUS_MODEL}").fetchall()]
    con.close()
    # Only the members with a value: none the EA export lacks, no ReservationId on a row without a reservation.
    assert len(extras) == 29 and all(e and None not in e.values() for e in extras)
    assert not any("InvoiceSectionId" in e or "CostInUsd" in e for e in extras)  # not in an EA export
    assert sum("ReservationId" in e for e in extras) == 2
    # 0.0004 x "10K" operations at 0.1 per 10K: 4 operations at 0.00001 each.
    assert sample == [("/providers/Microsoft.Billing/billingAccounts/8611537", "Billing Account", "Storage Accounts",
                       "Storage", "eastus2", "Units", Decimal("4"), Decimal("0.00001"), "prod")]
    assert reservation == [
        ("Usage", "Committed", "Reservation", "Used", Decimal(0), Decimal("0.493152")),
        ("Usage", "Committed", "Savings Plan", "Used", Decimal(0), Decimal("0.006000000468")),
    ]
