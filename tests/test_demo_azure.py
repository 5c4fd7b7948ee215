"""The demo estate's Azure Cost Management exports: what the loader detects, what FOCUS reconciles to,
determinism, and a whole `autostack ingest` of the folder."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pytest

from conftest import run_dbt
from autostack.demo.azure_exports import AzureExportsWriter
from autostack.demo.estate import Window, build_estate
from autostack.demo.ledger import Ledger
from orchestration.ingest.loader import SourceFile, ensure_raw_tables, load_file

WINDOW = Window(date(2026, 3, 1), date(2026, 5, 10))  # two closed months and a month to date
SCALE = 0.3
FOCUS_MODEL = "intermediate.int_azure__focus_costs"
COMMITMENT_COLUMNS = ("reservationId", "benefitId", "productOrderId")


def write(out: Path, seed: int = 7) -> Ledger:
    ledger = Ledger()
    AzureExportsWriter(build_estate(seed, SCALE, WINDOW), out, ledger).write()
    return ledger


def files(out: Path, dataset: str) -> list[Path]:
    return sorted((out / "azure").glob(f"*-{dataset}/*/*/part_0_0001.csv"), key=lambda p: p.stat().st_mtime)


def final_runs(out: Path, dataset: str) -> list[Path]:
    """The latest run of each month (the current month also has an earlier month-to-date run)."""
    latest: dict[str, Path] = {}
    for path in files(out, dataset):
        latest[path.parent.parent.name] = path
    return [latest[k] for k in sorted(latest)]


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def total(paths: list[Path], keep=lambda r: True) -> Decimal:
    return sum((Decimal(r["costInBillingCurrency"]) for p in paths for r in rows(p) if keep(r)), Decimal(0))


def is_commitment(row: dict[str, str]) -> bool:
    return any(row[c] for c in COMMITMENT_COLUMNS)


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> tuple[Path, Ledger]:
    out = tmp_path_factory.mktemp("demo") / "exports"
    return out, write(out)


def test_layout_one_folder_per_export_run_and_month(exports):
    out, ledger = exports
    for dataset in ("actual", "amortized"):
        months = [p.parent.parent.name for p in final_runs(out, dataset)]
        assert months == ["20260301-20260331", "20260401-20260430", "20260501-20260531"]
        assert len(files(out, dataset)) == 4  # May also has an earlier month-to-date run
        assert ledger.rows[f"azure_{dataset}"] == sum(len(rows(p)) for p in final_runs(out, dataset))
        assert ledger.billed[f"azure_{dataset}"] == pytest.approx(float(total(final_runs(out, dataset))), abs=0.01)
    assert set(ledger.files) == {str(p) for d in ("actual", "amortized") for p in files(out, d)}
    header = next(csv.reader(open(final_runs(out, "actual")[0], encoding="utf-8")))
    fixture = Path(__file__).parent / "fixtures" / "azure" / "MCA_ActualCost_Constructed.csv"
    assert header == next(csv.reader(open(fixture, encoding="utf-8")))  # the MCA schema's columns, as written


def test_actual_and_amortized_agree_except_for_the_reservation(exports):
    out, _ = exports
    for actual, amortized in zip(final_runs(out, "actual"), final_runs(out, "amortized")):
        a, m = rows(actual), rows(amortized)
        plain = lambda rs: Counter(tuple(r.values()) for r in rs if not is_commitment(r))  # noqa: E731
        assert plain(a) == plain(m) and sum(plain(a).values()) > 100
        kinds_a = Counter(r["chargeType"] for r in a if is_commitment(r))
        kinds_m = Counter(r["chargeType"] for r in m if is_commitment(r))
        assert kinds_a["Purchase"] == 1 and "UnusedReservation" not in kinds_a
        assert "Purchase" not in kinds_m and kinds_m["Usage"] == kinds_a["Usage"] > 0
        covered_a = [r for r in a if is_commitment(r) and r["chargeType"] == "Usage"]
        covered_m = [r for r in m if is_commitment(r) and r["chargeType"] == "Usage"]
        assert all(Decimal(r["costInBillingCurrency"]) == 0 for r in covered_a)
        for r in covered_m:
            assert Decimal(r["costInBillingCurrency"]) == Decimal(r["quantity"]) * Decimal(r["effectivePrice"]) > 0
            assert Decimal(r["effectivePrice"]) < Decimal(r["PayGPrice"])
            assert r["pricingModel"] == "Reservation" and "D4s v4" in r["meterName"]


def test_reservation_hours_no_vm_used_are_unused_reservation_rows_in_the_amortized_export(tmp_path):
    estate = build_estate(7, SCALE, WINDOW)
    m, reservation = estate.azure.machines, estate.azure.commitments[0]
    matching = (m.instance == reservation.instance) & (m.account == 0)
    m.end_day[matching] = np.minimum(m.end_day[matching], 20)  # every VM it could cover is gone after day 20
    AzureExportsWriter(estate, tmp_path, Ledger()).write()
    actual = [r for p in final_runs(tmp_path, "actual") for r in rows(p)]
    amortized = [r for p in final_runs(tmp_path, "amortized") for r in rows(p)]
    unused = [r for r in amortized if r["chargeType"] == "UnusedReservation"]
    assert not any(r["chargeType"] == "UnusedReservation" for r in actual)
    days_after = estate.window.days - 20
    full_days = [r for r in unused if Decimal(r["quantity"]) == Decimal(str(reservation.quantity * 24))]
    assert len(full_days) == days_after and len(unused) >= days_after
    for r in unused:
        assert Decimal(r["costInBillingCurrency"]) == pytest.approx(
            Decimal(r["quantity"]) * Decimal(r["effectivePrice"]), abs=Decimal("1e-9"))
        assert r["ResourceId"] == r["benefitId"] and r["consumedService"] == "Microsoft.Capacity"
        assert r["pricingModel"] == "Reservation" and r["reservationId"] in r["benefitId"]


def test_usage_patterns_tags_and_the_scale_out_anomaly(exports):
    out, ledger = exports
    all_rows = [r for p in final_runs(out, "actual") for r in rows(p)]
    tags = [r["tags"] for r in all_rows if r["tags"]]
    assert any(t.startswith("{") for t in tags) and any(not t.startswith("{") for t in tags)
    assert any('"Team"' in t for t in tags)  # mis-spelled key
    assert any(not r["tags"] for r in all_rows if r["consumedService"] == "Microsoft.Compute")  # untagged
    assert {r["consumedService"] for r in all_rows} >= {
        "Microsoft.Compute", "Microsoft.Storage", "Microsoft.Sql", "Microsoft.Network", "Microsoft.Capacity"}
    # Non-prod VMs on business hours stop at weekends: fewer non-prod VM hours on a weekend day.
    hours: dict[bool, Counter] = {False: Counter(), True: Counter()}
    for r in all_rows:
        if r["meterCategory"] == "Virtual Machines" and r["subscriptionName"] == "kestrel-nonprod":
            month, day, year = map(int, r["date"].split("/"))
            on = date(year, month, day)
            hours[on.weekday() >= 5][on] += float(r["quantity"])
    weekday = sum(hours[False].values()) / len(hours[False])
    weekend = sum(hours[True].values()) / len(hours[True])
    assert weekend < 0.9 * weekday
    # The scale-out: D8s v4 VMs in the non-prod subscription for a week; the ledger holds their cost.
    estate = build_estate(7, SCALE, WINDOW)
    anomaly = next(a for a in estate.anomalies if a.kind == "scale-out")
    scaled = estate.azure.machines
    ids = {scaled.id[i] for i in range(len(scaled)) if scaled.anomaly[i] >= 0}
    hit = [r for r in all_rows if r["ResourceId"] in ids]
    days = {r["date"] for r in hit}
    assert len(days) == anomaly.last_day - anomaly.first_day + 1
    cost = float(sum(Decimal(r["costInBillingCurrency"]) for r in hit))
    assert cost > 0 and ledger.anomaly_cost[estate.anomalies.index(anomaly)] == pytest.approx(cost, abs=1e-6)


def test_the_same_seed_writes_the_same_bytes(exports, tmp_path):
    out, _ = exports

    def digest(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*.csv"))}

    write(tmp_path / "again")
    assert digest(tmp_path / "again") == digest(out)
    write(tmp_path / "other", seed=8)
    assert digest(tmp_path / "other") != digest(out)


def test_loaded_as_actual_and_amortized_and_focus_reconciles(exports, autostack_home, warehouse):
    out, _ = exports
    ensure_raw_tables(warehouse)
    for dataset in ("actual", "amortized"):
        for path in files(out, dataset):
            result = load_file(warehouse, SourceFile.local(path))
            assert (result.outcome, result.format) == ("loaded", "azure"), result.error
    datasets = warehouse.execute(
        "SELECT source_uri, x_dataset FROM ingest.partitions WHERE raw_table = 'raw.azure_costs'").fetchall()
    current = {str(p.resolve()) for d in ("actual", "amortized") for p in final_runs(out, d)}
    assert {uri for uri, _ in datasets} == current  # the month-to-date run was superseded
    assert all(("-amortized/" in uri) == (dataset == "amortized") for uri, dataset in datasets)
    warehouse.close()
    run_dbt(autostack_home, "build", "--select", "+int_azure__focus_costs")
    con = duckdb.connect(str(autostack_home.warehouse_path))
    billed, effective = con.execute(f"SELECT sum(BilledCost), sum(EffectiveCost) FROM {FOCUS_MODEL}").fetchall()[0]
    per_file = con.execute(
        f"""WITH focus AS (SELECT x_SourceUri AS uri, sum(BilledCost) AS billed FROM {FOCUS_MODEL} GROUP BY 1),
            expected AS (SELECT source_uri AS uri, CASE WHEN x_dataset = 'actual' THEN paired_billed_total
                         ELSE billed_total END AS billed FROM ingest.partitions)
            SELECT e.uri, e.billed, f.billed FROM expected e LEFT JOIN focus f USING (uri)"""
    ).fetchall()
    con.close()
    assert billed == total(final_runs(out, "actual"))  # the invoices, to the last decimal
    assert effective == total(final_runs(out, "amortized"))
    assert len(per_file) == 6
    for uri, expected, got in per_file:
        assert abs((got or 0) - expected) < Decimal("0.005"), uri


@pytest.mark.slow
def test_autostack_ingest_of_the_azure_folder_passes_every_check(exports, autostack_home, capsys):
    from autostack.cli import main

    out, _ = exports
    assert main(["ingest", str(out / "azure")]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["status"]) == 0
    status = capsys.readouterr().out
    assert "billed_cost_reconciles_to_sources: succeeded" in status
    assert "failed" not in status.lower(), status
    assert main(["sql", "SELECT sum(BilledCost) AS b, sum(EffectiveCost) AS e FROM focus.costs", "--format", "csv"]) == 0
    billed, effective = capsys.readouterr().out.splitlines()[1].split(",")
    assert Decimal(billed) == pytest.approx(total(final_runs(out, "actual")), abs=Decimal("0.01"))
    assert Decimal(effective) == pytest.approx(total(final_runs(out, "amortized")), abs=Decimal("0.01"))
