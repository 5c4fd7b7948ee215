"""The demo estate's GCP billing export (JSON Lines) and OCI FOCUS export (CSV): read by our own
readers, reconciled to the cent, deterministic, and ingested end to end with every check passing."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from autostack.demo.estate import MIS_TAGGED, TAGGED, UNTAGGED, Window, build_estate
from autostack.demo.focus_oci import FocusOciWriter
from autostack.demo.gcp_billing import GcpBillingWriter
from autostack.demo.ledger import Ledger
from orchestration.ingest.formats.base import probe_file
from orchestration.ingest.loader import SourceFile, detect_format, ensure_raw_tables, load_file

END = date(2025, 3, 20)
MONTHS = 3
SCALE = 0.3


def _write(out: Path) -> Ledger:
    estate = build_estate(7, SCALE, Window.months_to(END, MONTHS))
    ledger = Ledger()
    GcpBillingWriter(estate, out, ledger).write()
    FocusOciWriter(estate, out, ledger).write()
    return ledger


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "exports"
    return out, _write(out)


def _gcp_files(out: Path) -> list[Path]:
    return sorted((out / "gcp").rglob("*.jsonl"))


def _oci_files(out: Path) -> list[Path]:
    return sorted((out / "oci").rglob("*.csv"))


def _records(out: Path) -> list[dict]:
    return [json.loads(line, parse_float=Decimal) for path in _gcp_files(out) for line in path.read_text().splitlines()]


def test_one_file_per_month_in_the_documented_layout(written):
    out, ledger = written
    gcp, oci = _gcp_files(out), _oci_files(out)
    assert [p.parent.name for p in gcp] == ["2025-01", "2025-02", "2025-03"]
    assert [p.parent.name for p in oci] == ["2025-01", "2025-02", "2025-03"]
    account = build_estate(7, SCALE, Window.months_to(END, MONTHS)).gcp_billing_account
    assert all(p.name == f"gcp_billing_export_v1_{account.replace('-', '_')}-000000000000.jsonl" for p in gcp)
    assert all(p.relative_to(out).parts[:2] == ("gcp", "billing-export") for p in gcp)
    assert sorted(ledger.files) == sorted(str(p) for p in gcp + oci)
    assert not list(out.rglob("*.partial"))
    assert ledger.rows["gcp_billing"] == sum(len(p.read_text().splitlines()) for p in gcp)
    assert ledger.rows["focus_oci"] == sum(len(p.read_text().splitlines()) - 1 for p in oci)


def test_files_are_detected_by_the_right_reader(written):
    out, _ = written
    for path in _gcp_files(out):
        assert detect_format(probe_file(path)).name == "gcp_billing", path
    for path in _oci_files(out):
        assert detect_format(probe_file(path)).name == "focus", path


def test_gcp_records_are_nested_as_bigquery_exports_them(written):
    out, _ = written
    records = _records(out)
    first = records[0]
    assert set(first) >= {"billing_account_id", "service", "sku", "usage_start_time", "usage_end_time", "project",
                          "labels", "system_labels", "location", "resource", "cost", "currency", "usage", "credits",
                          "invoice", "cost_type", "export_time", "cost_at_list"}
    assert first["usage_start_time"].endswith(" UTC") and isinstance(first["project"]["number"], str)
    credit_types = {c["type"] for r in records for c in r["credits"]}
    assert {"SUSTAINED_USAGE_DISCOUNT", "COMMITTED_USAGE_DISCOUNT", "PROMOTION"} <= credit_types
    for r in records:  # no credit is larger than its row's cost
        assert r["cost"] + sum((c["amount"] for c in r["credits"]), Decimal(0)) >= Decimal("-0.000001"), r
    skus = {r["sku"]["description"] for r in records}
    assert any(s.startswith("Commitment v1: N2 Cpu") for s in skus)
    assert any(s.startswith("Spot Preemptible ") for s in skus)
    assert {"Analysis", "Balanced PD Capacity", "Regional Standard Class A Operations"} <= skus
    services = {r["service"]["description"] for r in records}
    assert services == {"Compute Engine", "Cloud Storage", "BigQuery", "Cloud SQL", "Networking", "Invoice"}
    taxes = [r for r in records if r["cost_type"] == "tax"]
    assert {t["invoice"]["month"] for t in taxes} == {"202501", "202502", "202503"}
    # Imperfect label coverage: each VM's labels follow its tag quality (tagged, untagged, `owner` for `team`).
    machines = build_estate(7, SCALE, Window.months_to(END, MONTHS)).gcp.machines
    quality = dict(zip(machines.id, machines.tag_quality))
    expected = {TAGGED: {"team", "product", "env"}, UNTAGGED: set(), MIS_TAGGED: {"owner", "product"}}
    seen = set()
    for r in records:
        if r["resource"]["global_name"] in quality:
            q = quality[r["resource"]["global_name"]]
            assert {label["key"] for label in r["labels"]} == expected[q], r["resource"]
            seen.add(q)
    assert {TAGGED, UNTAGGED} <= seen
    assert any(not r["project"]["labels"] for r in records) and any(r["project"]["labels"] for r in records)


def test_committed_use_discount_credits_match_the_commitment(written):
    out, _ = written
    estate = build_estate(7, SCALE, Window.months_to(END, MONTHS))
    commitment = estate.gcp.commitments[0]
    by_day: dict[str, Decimal] = {}
    fees: dict[str, Decimal] = {}
    for r in _records(out):
        day = r["usage_start_time"][:10]
        for c in r["credits"]:
            if c["type"] == "COMMITTED_USAGE_DISCOUNT":
                assert r["sku"]["description"].startswith("N2 Instance Core") and r["project"]["id"] == commitment.id.split("/")[1]
                by_day[day] = by_day.get(day, Decimal(0)) + c["amount"]
        if r["sku"]["description"].startswith("Commitment v1"):
            fees[day] = r["cost"]
            assert float(r["usage"]["amount_in_pricing_units"]) == pytest.approx(commitment.quantity * 24)
    assert len(fees) == estate.window.days and by_day
    # The credit is the on-demand price of what the fee bought: more than the fee, never more than on-demand.
    for day, credit in by_day.items():
        assert -credit >= fees[day] * Decimal("0.99")


def test_the_bigquery_spike_is_in_the_export(written):
    out, ledger = written
    estate = build_estate(7, SCALE, Window.months_to(END, MONTHS))
    spike = next(a for a in estate.anomalies if a.kind == "query-spike")
    project = estate.gcp.accounts[spike.account].id
    daily = {}
    for r in _records(out):
        if r["sku"]["description"] == "Analysis" and r["project"]["id"] == project:
            daily[r["usage_start_time"][:10]] = r["cost"]
    spike_day = estate.window.date(spike.first_day).isoformat()
    others = sorted(v for k, v in daily.items() if k != spike_day)
    assert daily[spike_day] > 5 * others[len(others) // 2]
    index = estate.anomalies.index(spike)
    assert ledger.anomaly_cost[index] == pytest.approx(float(daily[spike_day]) * (1 - 1 / spike.factor), rel=1e-3)


def test_gcp_and_oci_load_and_reconcile_to_the_cent(written, autostack_home):
    out, ledger = written
    con = duckdb.connect(str(autostack_home.warehouse_path))
    try:
        ensure_raw_tables(con)
        results = [load_file(con, SourceFile.local(p)) for p in _gcp_files(out) + _oci_files(out)]
        assert all(r.outcome == "loaded" for r in results), [r.error for r in results if not r.ok]
        gcp = [r for r in results if r.format == "gcp_billing"]
        oci = [r for r in results if r.format == "focus"]
        assert sum(r.row_count for r in gcp) == ledger.rows["gcp_billing"]
        assert sum(r.row_count for r in oci) == ledger.rows["focus_oci"]
        assert sum(r.billed_total for r in gcp) == pytest.approx(ledger.billed["gcp_billing"], abs=0.005)
        assert sum(r.billed_total for r in oci) == pytest.approx(ledger.billed["focus_oci"], abs=0.005)
        # Independently of DuckDB: cost + credits from the JSON text, per invoice month.
        expected: dict[str, Decimal] = {}
        for rec in _records(out):
            billed = rec["cost"] + sum((c["amount"] for c in rec["credits"]), Decimal(0))
            expected[rec["invoice"]["month"]] = expected.get(rec["invoice"]["month"], Decimal(0)) + billed
        loaded = dict(con.execute(
            "SELECT invoice_month, sum(cost) + sum(credits_amount) FROM raw.gcp_billing GROUP BY 1").fetchall())
        assert loaded == expected
        oci_expected = Decimal(0)
        for path in _oci_files(out):
            with open(path, newline="") as fh:
                oci_expected += sum(Decimal(row["BilledCost"]) for row in csv.DictReader(fh))
        assert con.execute("SELECT sum(BilledCost) FROM raw.focus_costs").fetchall()[0][0] == oci_expected
    finally:
        con.close()


def test_output_is_deterministic(written, tmp_path):
    out, _ = written
    again = tmp_path / "exports"
    _write(again)
    for path in _gcp_files(out) + _oci_files(out):
        twin = again / path.relative_to(out)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(twin.read_bytes()).hexdigest(), path


def test_oci_csv_is_quoted_rfc3339_with_json_tags(written):
    out, _ = written
    path = _oci_files(out)[0]
    lines = path.read_text().splitlines()
    assert lines[1].startswith('"')
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert all(r["ChargePeriodStart"].endswith("T00:00:00Z") for r in rows)
    assert rows[0]["BillingPeriodStart"] == "2025-01-01T00:00:00Z" and rows[0]["BillingPeriodEnd"] == "2025-02-01T00:00:00Z"
    tags = [json.loads(r["Tags"]) for r in rows if r["Tags"]]
    assert tags and all(isinstance(t, dict) for t in tags) and any(not r["Tags"] for r in rows)
    assert {r["ServiceName"] for r in rows} == {"Compute", "Block Storage", "Object Storage"}


@pytest.mark.slow
def test_autostack_ingest_of_the_output_passes_every_check(written, autostack_home, capsys):
    from autostack.cli import main

    out, ledger = written
    assert main(["ingest", str(out)]) == 0
    err = capsys.readouterr().err
    assert "check(s) passed" in err and "failed" not in err.lower()
    assert main(["status"]) == 0
    status = capsys.readouterr().out
    files = MONTHS * 2
    assert f"{files} of {files} file billing periods reconcile to the cent" in status
    assert "focus_1_2_conformance: succeeded" in status and "0 MUST rule(s) failing" in status
    assert main(["sql", "SELECT ProviderName AS p, count(*) AS n, sum(BilledCost) AS billed, "
                        "count(*) FILTER (WHERE len(x_Repairs) > 0) AS repaired FROM focus.costs GROUP BY 1",
                 "--format", "json"]) == 0
    rows = {r["p"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["Google Cloud"]["n"] == ledger.rows["gcp_billing"]
    assert rows["Google Cloud"]["billed"] == pytest.approx(ledger.billed["gcp_billing"], abs=0.005)
    oci = rows["Oracle Cloud Infrastructure"]
    assert oci["n"] == ledger.rows["focus_oci"] and oci["repaired"] == 0
    assert oci["billed"] == pytest.approx(ledger.billed["focus_oci"], abs=0.005)
