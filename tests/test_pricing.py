"""The price catalog (autostack/pricing.py, pricing.* tables) and the utilization metrics loader."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from autostack import pricing
from autostack.demo.catalog import load_catalog
from orchestration.defs.metrics import MetricsFileError, load_metrics, validated_select
from orchestration.defs.pricing import read_catalog, read_equivalents, write_catalog


def test_catalog_prices_and_sizes_real_instance_types():
    rows = {(r["region"], r["instance_type"]): r for r in pricing.iter_instance_prices("aws", regions=("us-east-1",))}
    m5 = rows[("us-east-1", "m5.xlarge")]
    assert (m5["vcpu"], m5["memory_gb"], m5["family"]) == (4.0, 16.0, "m5")
    assert m5["on_demand"] == pytest.approx(0.204)  # as the 2024-08-09 snapshot lists it
    assert 0 < m5["spot"] < m5["on_demand"]
    azure = {r["instance_type"]: r for r in pricing.iter_instance_prices("azure", regions=("eastus",))}
    assert azure["Standard_D4s_v4"]["vcpu"] == 4 and azure["Standard_D4s_v4"]["family"] == "Ds_v4"
    gcp = {r["instance_type"]: r for r in pricing.iter_instance_prices("gcp", regions=("us-central1",))}
    assert gcp["n2-standard-4"]["memory_gb"] == 16 and gcp["n2-standard-4"]["family"] == "n2-standard"
    assert pricing.geography("eastus") == pricing.geography("us-east-1") == pricing.geography("us-central1") == "americas"
    assert pricing.geography("westeurope") == pricing.geography("eu-west-1") == pricing.geography("europe-west1") == "europe"


def test_demo_catalog_is_built_from_the_same_parser():
    cat = load_catalog("aws", ("us-east-1",), ("m5",))
    shared = {r["instance_type"]: r["on_demand"] for r in pricing.iter_instance_prices("aws", ("us-east-1",), ("m5",))}
    assert dict(zip(cat.name, cat.on_demand)) == shared


def test_bad_reference_files_are_named(tmp_path):
    bad = tmp_path / "prices.csv"
    bad.write_text("provider,region,instance_type,on_demand_usd_per_hour,spot_usd_per_hour\naws,us-east-1,m5.xlarge,cheap,0\n")
    with pytest.raises(ValueError, match=r"prices.csv, line 2, column on_demand_usd_per_hour: expected a number"):
        list(pricing.iter_instance_prices("aws", prices_csv=bad))
    egress = tmp_path / "egress.csv"
    egress.write_text("provider,usd_per_gb\naws,0.09\n")
    with pytest.raises(ValueError, match="egress.csv: expected columns"):
        pricing.load_egress_prices(egress)


@pytest.mark.slow  # parses the 62k-row price table twice (~6 s)
def test_pricing_tables_in_the_warehouse(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    counts = write_catalog(con)
    assert counts["instance_prices"] > 20_000 and counts["egress_prices"] >= 10
    assert set(p for (p,) in con.execute("SELECT DISTINCT provider FROM pricing.instance_prices").fetchall()) == {"aws", "azure", "gcp"}
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_schema = 'pricing' AND table_name = 'instance_prices'").fetchall())
    assert types["on_demand_usd_per_hour"].startswith("DECIMAL") and types["vcpu"] == "DOUBLE"
    eq = read_equivalents(con)
    m5 = eq[(eq["provider"] == "aws") & (eq["region"] == "us-east-1") & (eq["instance_type"] == "m5.xlarge")]
    assert set(m5["equivalent_provider"]) == {"azure", "gcp"}
    assert (m5["equivalent_vcpu"] == 4).all()
    assert pricing.geography(m5.iloc[0]["equivalent_region"]) == "americas"
    egress = con.execute("SELECT usd_per_gb FROM pricing.egress_prices WHERE provider = 'aws' AND tier_start_gb = 0").fetchall()
    assert float(egress[0][0]) == pytest.approx(0.09)
    assert len(read_catalog(con)) == counts["instance_prices"]
    write_catalog(con)  # idempotent
    assert con.execute("SELECT count(*) FROM pricing.instance_prices").fetchall()[0][0] == counts["instance_prices"]
    con.close()


def _metrics_frame(**overrides) -> pd.DataFrame:
    row = {"date": date(2026, 3, 1), "provider": "aws", "account_id": "111", "resource_id": "i-1", "resource_name": "web",
           "instance_type": "m5.xlarge", "region": "us-east-1", "vcpu": 4.0, "memory_gb": 16.0, "hours_running": 24.0,
           "cpu_p50_pct": 20.0, "cpu_p95_pct": 35.0, "cpu_max_pct": 50.0, "memory_p95_pct": 40.0}
    rows = [row, {**row, "date": date(2026, 3, 2)}]
    frame = pd.DataFrame(rows)
    for key, value in overrides.items():
        frame.loc[1, key] = value
    return frame


def test_metrics_loader_loads_good_files_and_names_bad_ones(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    _metrics_frame().to_parquet(folder / "utilization-2026-03.parquet")
    _metrics_frame(cpu_p95_pct=120.0, cpu_max_pct=130.0).to_parquet(folder / "utilization-bad.parquet")
    _metrics_frame().drop(columns=["memory_p95_pct"]).to_parquet(folder / "utilization-short.parquet")
    (folder / "utilization-text.csv").write_text(
        "date,provider,account_id,resource_id,resource_name,instance_type,region,vcpu,memory_gb,hours_running,"
        "cpu_p50_pct,cpu_p95_pct,cpu_max_pct,memory_p95_pct\n2026-03-01,aws,1,i-9,x,m5.large,us-east-1,two,8,24,1,2,3,4\n")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    summary = load_metrics(con, (folder,))
    assert summary["rows"] == 2 and summary["loaded_files"] == 1 and summary["files"] == 4
    errors = summary["errors"]
    assert "row 2: expected cpu_p50_pct <= cpu_p95_pct <= cpu_max_pct <= 100" in errors[str(folder / "utilization-bad.parquet")]
    assert "missing column(s) ['memory_p95_pct']" in errors[str(folder / "utilization-short.parquet")]
    assert "row 1, column vcpu: expected DOUBLE, got 'two'" in errors[str(folder / "utilization-text.csv")]
    recorded = con.execute("SELECT count(*) FROM metrics.utilization_files WHERE error IS NOT NULL").fetchall()[0][0]
    assert recorded == 3
    # Idempotent: a second run with the same files keeps the table (and reports the same errors); a
    # changed file is read again; a removed file's rows go away.
    again = load_metrics(con, (folder,))
    assert again["unchanged"] and again["rows"] == 2 and again["loaded_files"] == 1 and again["errors"] == errors
    _metrics_frame(hours_running=12.0).to_parquet(folder / "utilization-2026-03.parquet")
    changed = load_metrics(con, (folder,))
    assert not changed["unchanged"] and changed["rows"] == 2
    assert con.execute("SELECT hours_running FROM metrics.utilization_daily ORDER BY date").fetchall() == [(24.0,), (12.0,)]
    (folder / "utilization-2026-03.parquet").unlink()
    assert load_metrics(con, (folder,))["rows"] == 0
    con.close()


def test_overlapping_metrics_files_keep_the_latest_files_row_per_machine_and_day(tmp_path):
    """A month delivered again under a name that sorts later, and an API source (CloudWatch) beside the files."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    _metrics_frame().to_parquet(folder / "utilization-2026-03.parquet")
    _metrics_frame(hours_running=6.0).iloc[1:].to_parquet(folder / "utilization-2026-03.v2.parquet")
    # Another machine, each of its days given twice by the API: one row each.
    api = pd.concat([_metrics_frame(resource_id="i-2")] * 2, ignore_index=True).assign(resource_id="i-2")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    summary = load_metrics(con, (folder,), {"cloudwatch:us-east-1": api})
    assert summary["rows"] == 4 and summary["loaded_files"] == 2
    assert con.execute("SELECT resource_id, date, hours_running, source_file FROM metrics.utilization_daily "
                       "ORDER BY ALL").fetchall() == [
        ("i-1", date(2026, 3, 1), 24.0, str(folder / "utilization-2026-03.parquet")),
        ("i-1", date(2026, 3, 2), 6.0, str(folder / "utilization-2026-03.v2.parquet")),
        ("i-2", date(2026, 3, 1), 24.0, "cloudwatch:us-east-1"),
        ("i-2", date(2026, 3, 2), 24.0, "cloudwatch:us-east-1"),
    ]
    assert dict(con.execute("SELECT source_file, row_count FROM metrics.utilization_files").fetchall()) == {
        str(folder / "utilization-2026-03.parquet"): 2, str(folder / "utilization-2026-03.v2.parquet"): 1,
        "cloudwatch:us-east-1": 4}
    con.close()


def test_duplicate_machine_days_are_rejected(tmp_path):
    path = tmp_path / "dup.parquet"
    frame = _metrics_frame()
    pd.concat([frame, frame]).to_parquet(path)
    con = duckdb.connect()
    with pytest.raises(MetricsFileError, match=r"dup.parquet: more than one row for date 2026-03-01, aws resource i-1"):
        validated_select(con, path)


def test_metrics_dirs_setting_defaults_to_the_quick_start_folder(tmp_path):
    from autostack.settings import get_settings

    settings = get_settings({"AUTOSTACK_HOME": str(tmp_path)})
    assert settings.metrics_dirs == (tmp_path.resolve() / "demo-truth" / "metrics",)
    custom = get_settings({"AUTOSTACK_HOME": str(tmp_path), "AUTOSTACK_METRICS_DIRS": f"{tmp_path}/a, {tmp_path}/b"})
    assert custom.metrics_dirs == (Path(tmp_path / "a").resolve(), Path(tmp_path / "b").resolve())


def test_regions_nobody_may_simply_use_are_priced_but_never_proposed():
    from models_ml.recommendations import cross_cloud_equivalents
    from orchestration.defs.pricing import instance_prices_frame

    prices = instance_prices_frame()
    regions = set(zip(prices["provider"], prices["region"]))
    # priced (a resource running there still gets its rightsizing and commitment prices) ...
    assert {("azure", "centraluseuap"), ("azure", "eastusslv"), ("azure", "usgovvirginia"), ("azure", "uknorth"),
            ("aws", "us-gov-west-1"), ("aws", "us-west-2-lax-1")} <= regions
    # ... but never where a workload is sent: canary, staging, restricted-access, sovereign, edge, Local Zones
    proposed = set(zip(cross_cloud_equivalents(prices)["equivalent_provider"],
                       cross_cloud_equivalents(prices)["equivalent_region"]))
    assert proposed and all(pricing.is_general_access_region(p, r) for p, r in proposed)
    assert not {r for _, r in proposed} & {"centraluseuap", "eastus2euap", "eastusstg", "eastusslv", "uknorth",
                                           "usgovvirginia", "chinaeast3", "attatlanta1", "us-gov-west-1",
                                           "us-west-2-lax-1", "brazilsoutheast", "Global"}
    assert pricing.is_general_access_region("azure", "eastus") and pricing.is_general_access_region("gcp", "us-east4")


def test_equivalents_keep_architecture_cores_and_geography():
    from models_ml.recommendations import cross_cloud_equivalents
    from orchestration.defs.pricing import instance_prices_frame

    eq = cross_cloud_equivalents(instance_prices_frame())
    for column in ("provider", "equivalent_provider"):
        assert set(eq[column]) == {"aws", "azure", "gcp"}
    same = [(pricing.cpu_architecture(p, t), pricing.is_burstable(p, t), pricing.geography(r))
            == (pricing.cpu_architecture(ep, et), pricing.is_burstable(ep, et), pricing.geography(er))
            for p, t, r, ep, et, er in zip(eq["provider"], eq["instance_type"], eq["region"], eq["equivalent_provider"],
                                           eq["equivalent_instance_type"], eq["equivalent_region"])]
    assert all(same)
    # an x86 machine with dedicated cores is not offered a Graviton burstable one (seen: n2-standard-8 -> t4g.2xlarge)
    n2 = eq[(eq["provider"] == "gcp") & (eq["instance_type"] == "n2-standard-8") & (eq["region"] == "us-central1")]
    assert len(n2) == 2 and not any(t.startswith(("t4g", "t3", "Standard_B")) for t in n2["equivalent_instance_type"])
    assert (pricing.cpu_architecture("aws", "m7g.large"), pricing.cpu_architecture("azure", "Standard_D4ps_v5"),
            pricing.cpu_architecture("gcp", "t2a-standard-4"), pricing.cpu_architecture("aws", "g4dn.xlarge")) == \
        ("arm64", "arm64", "arm64", "x86_64")
    assert pricing.is_burstable("azure", "Standard_B2s") and pricing.is_burstable("gcp", "e2-medium")
    assert not pricing.is_burstable("gcp", "e2-standard-2") and not pricing.is_burstable("aws", "m5.large")
    assert pricing.geography("australiaeast") == pricing.geography("ap-southeast-2") == "asia-pacific"
    assert pricing.geography("me-west1") == pricing.geography("israelcentral") == "middle-east"
    assert pricing.geography("mexicocentral") == "americas" and pricing.geography("southafricanorth") == "africa"
