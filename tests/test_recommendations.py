"""models_ml.recommendations on small synthetic estates with known answers."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest

from models_ml import recommendations as rec

AS_OF = date(2026, 3, 31)
DAYS = 30


def catalog() -> pd.DataFrame:
    rows = [
        # provider, region, type, family, vcpu, memory, on-demand, spot
        ("aws", "us-east-1", "m5.large", "m5", 2, 8, 0.096, 0.04),
        ("aws", "us-east-1", "m5.xlarge", "m5", 4, 16, 0.192, 0.08),
        ("aws", "us-east-1", "m5.2xlarge", "m5", 8, 32, 0.384, 0.15),
        ("aws", "us-east-1", "m5.4xlarge", "m5", 16, 64, 0.768, 0.30),
        ("aws", "us-east-1", "c5.xlarge", "c5", 4, 8, 0.17, 0.07),
        ("aws", "us-west-2", "m5.xlarge", "m5", 4, 16, 0.192, 0.08),
        ("aws", "eu-west-1", "m5.xlarge", "m5", 4, 16, 0.214, 0.09),
        ("aws", "eu-north-1", "m5.xlarge", "m5", 4, 16, 0.17, 0.07),
        ("gcp", "us-central1", "n2-standard-4", "n2-standard", 4, 16, 0.194, 0.05),
        ("azure", "eastus", "Standard_D4s_v4", "Ds_v4", 4, 16, 0.192, 0.04),
    ]
    return pd.DataFrame(rows, columns=["provider", "region", "instance_type", "family", "vcpu", "memory_gb",
                                       "on_demand", "spot"])


def metrics_rows(resource_id: str, instance_type: str, vcpu: float, memory: float, cpu_p95: float, *,
                 region: str = "us-east-1", hours=24.0, memory_p95: float = 40.0, provider: str = "aws") -> list[dict]:
    rows = []
    for offset in range(DAYS):
        day = AS_OF - timedelta(days=offset)
        h = hours(day) if callable(hours) else hours
        if h <= 0:
            continue
        rows.append({"date": day, "provider": provider, "account_id": "111", "resource_id": resource_id,
                     "resource_name": resource_id + "-name", "instance_type": instance_type, "region": region,
                     "vcpu": vcpu, "memory_gb": memory, "hours_running": h, "cpu_p50_pct": cpu_p95 * 0.6,
                     "cpu_p95_pct": cpu_p95, "cpu_max_pct": min(cpu_p95 * 1.2, 100.0), "memory_p95_pct": memory_p95})
    return rows


def resource(resource_id: str, kind: str, cost: float, *, tags: dict | None = None, zone: str = "us-east-1a",
             account: str = "111", account_name: str = "prod", first: date = AS_OF - timedelta(days=DAYS - 1),
             last: date = AS_OF, committed: float = 0.0, spot: float = 0.0, hours: float = 0.0, data: float = 0.0,
             provider: str = "aws", region: str = "us-east-1") -> dict:
    rtype = {"machine": "instance", "volume": "volume", "load_balancer": "loadbalancer"}[kind]
    return {"provider": provider, "billing_account_id": "999", "sub_account_id": account, "sub_account_name": account_name,
            "resource_id": resource_id, "resource_name": None, "resource_type": rtype, "kind": kind, "region": region,
            "zone": zone, "tags": json.dumps(tags) if tags else None, "first_date": first, "last_date": last,
            "days_billed": (last - first).days + 1, "cost": cost, "committed_share": committed, "spot_share": spot,
            "hour_quantity": hours, "data_quantity": data}


def run(resources: list[dict], metrics: list[dict], discounts: dict | None = None) -> pd.DataFrame:
    inputs = rec.Inputs(resources=pd.DataFrame(resources, columns=rec.RESOURCE_COLUMNS),
                        utilization=pd.DataFrame(metrics, columns=rec.UTILIZATION_COLUMNS), catalog=catalog(),
                        as_of=AS_OF, commitment_discounts=discounts or {}, lookback_days=DAYS)
    return rec.recommend(inputs, equivalents=rec.cross_cloud_equivalents(catalog()))


def of(recs: pd.DataFrame, rec_type: str, resource_id: str) -> pd.Series:
    hit = recs[(recs["type"] == rec_type) & (recs["resource_id"] == resource_id)]
    assert len(hit) == 1, f"expected one {rec_type} for {resource_id}, got {len(hit)}:\n{recs[['type', 'resource_id']]}"
    return hit.iloc[0]


PROD = {"env": "prod"}


def test_idle_machine_is_recommended_with_its_whole_cost():
    cost = 0.192 * 24 * DAYS  # billed in the window
    recs = run([resource("i-idle", "machine", cost, tags=PROD), resource("i-busy", "machine", cost, tags=PROD)],
               metrics_rows("i-idle", "m5.xlarge", 4, 16, cpu_p95=2.0) + metrics_rows("i-busy", "m5.xlarge", 4, 16, cpu_p95=55.0))
    idle = of(recs, "idle_resource", "i-idle")
    assert idle["monthly_savings"] == pytest.approx(0.192 * 730, abs=0.01)
    assert idle["confidence"] == "high"
    assert "Stop" in idle["action"]
    # The busy one is not idle nor oversized (a steady prod machine: a commitment is its only advice).
    assert set(recs[recs["resource_id"] == "i-busy"]["type"]) == {"commitment"}
    assert list(recs.columns) == rec.CONTRACT_COLUMNS


def test_oversized_machine_gets_the_smallest_fitting_type_of_its_family_and_the_price_difference():
    cost = 0.768 * 24 * DAYS
    # 16 vCPU at 12 % p95 needs 16 x 12 / 60 = 3.2 vCPU -> m5.xlarge (4); memory 64 GB x 30 % / 80 % = 24 GB > 16
    # -> m5.2xlarge (8 vCPU, 32 GB) is the smallest that fits both.
    recs = run([resource("i-big", "machine", cost, tags=PROD)],
               metrics_rows("i-big", "m5.4xlarge", 16, 64, cpu_p95=12.0, memory_p95=30.0))
    r = of(recs, "rightsize", "i-big")
    assert r["proposed"] == "m5.2xlarge"
    assert r["monthly_savings"] == pytest.approx(0.768 * 730 * (1 - 0.384 / 0.768), abs=0.01)
    evidence = json.loads(r["evidence"])
    assert evidence["proposed_vcpu"] == 8 and evidence["expected_cpu_p95_pct"] == pytest.approx(24.0)
    # With little memory in use, the CPU need alone decides: m5.xlarge.
    recs = run([resource("i-big", "machine", cost, tags=PROD)],
               metrics_rows("i-big", "m5.4xlarge", 16, 64, cpu_p95=12.0, memory_p95=10.0))
    assert of(recs, "rightsize", "i-big")["proposed"] == "m5.xlarge"


def test_nonprod_machine_running_weekends_gets_a_schedule():
    cost = 0.192 * 24 * DAYS
    recs = run([resource("i-dev", "machine", cost, tags={"Env": "dev"}, account_name="dev"),
                resource("i-office", "machine", 0.192 * 12 * 22, tags={"env": "dev"}, account_name="dev")],
               metrics_rows("i-dev", "m5.xlarge", 4, 16, cpu_p95=40.0)
               + metrics_rows("i-office", "m5.xlarge", 4, 16, cpu_p95=40.0, hours=lambda d: 12.0 if d.weekday() < 5 else 0.0))
    r = of(recs, "schedule", "i-dev")
    assert r["monthly_savings"] == pytest.approx(0.192 * 730 * (730 - 261) / 730, abs=0.01)
    assert "i-office" not in set(recs[recs["type"] == "schedule"]["resource_id"])


def test_steady_on_demand_prod_machine_gets_a_commitment_with_break_even_and_payback():
    cost = 0.192 * 24 * DAYS
    recs = run([resource("i-steady", "machine", cost, tags=PROD),
                resource("i-covered", "machine", cost, tags=PROD, committed=1.0),
                resource("i-spot", "machine", cost, tags=PROD, spot=1.0)],
               metrics_rows("i-steady", "m5.xlarge", 4, 16, cpu_p95=50.0)
               + metrics_rows("i-covered", "m5.xlarge", 4, 16, cpu_p95=50.0)
               + metrics_rows("i-spot", "m5.xlarge", 4, 16, cpu_p95=50.0),
               discounts={"aws": 0.30})
    r = of(recs, "commitment", "i-steady")
    assert r["monthly_savings"] == pytest.approx(0.192 * 730 * 0.30, abs=0.01)
    evidence = json.loads(r["evidence"])
    assert evidence["break_even_utilization"] == pytest.approx(0.70)
    assert evidence["payback_months_all_upfront"] == pytest.approx(8.4)
    assert set(recs[recs["type"] == "commitment"]["resource_id"]) == {"i-steady"}
    # An implausible observed discount falls back to the typical 1-year rate.
    assert rec.commitment_discounts({"gcp": 0.70})["gcp"] == rec.DEFAULT_COMMITMENT_DISCOUNT["gcp"]


def test_fault_tolerant_machine_gets_spot_and_regions_and_clouds_are_compared():
    cost = 0.214 * 24 * DAYS
    recs = run([resource("i-batch", "machine", cost, tags={"env": "prod", "fault-tolerant": "true"}, region="eu-west-1",
                         zone="eu-west-1a")],
               metrics_rows("i-batch", "m5.xlarge", 4, 16, cpu_p95=50.0, region="eu-west-1"))
    spot = of(recs, "spot", "i-batch")
    assert spot["monthly_savings"] == pytest.approx(0.214 * 730 * (1 - 0.09 / 0.214), abs=0.01)
    region = of(recs, "cheaper_region", "i-batch")
    assert region["proposed"] == "m5.xlarge in eu-north-1"  # us-* regions are another geography
    # No european price for the other clouds in this catalog: no cross-cloud advice.
    assert recs[recs["type"] == "cheaper_cloud"].empty


def test_cheaper_cloud_for_the_same_size():
    cat = catalog()
    equivalents = rec.cross_cloud_equivalents(cat)
    row = equivalents[(equivalents["provider"] == "gcp") & (equivalents["instance_type"] == "n2-standard-4")]
    assert set(row["equivalent_provider"]) == {"aws", "azure"}
    # aws m5.xlarge (0.192) and azure D4s_v4 (0.192) are not 15 % cheaper than n2-standard-4 (0.194): no advice.
    recs = run([resource("gce-1", "machine", 0.194 * 24 * DAYS, tags=PROD, provider="gcp", region="us-central1",
                         zone="us-central1-a")],
               metrics_rows("gce-1", "n2-standard-4", 4, 16, cpu_p95=50.0, region="us-central1", provider="gcp"))
    assert recs[recs["type"] == "cheaper_cloud"].empty
    assert rec.memory_class(4, 16) == "general" and rec.memory_class(4, 8) == "compute"


def test_unattached_volume_is_found_and_attached_ones_are_not():
    recs = run([
        resource("i-web", "machine", 100.0, tags=PROD, zone="us-east-1a"),
        resource("vol-web", "volume", 8.0, tags=PROD, zone="us-east-1a"),
        resource("vol-restore", "volume", 20.0, tags={"env": "prod", "team": "data"}, zone="us-east-1a"),
        resource("vol-gone", "volume", 5.0, tags=PROD, zone="us-east-1b", last=AS_OF - timedelta(days=10)),
    ], metrics_rows("i-web", "m5.xlarge", 4, 16, cpu_p95=50.0))
    vols = recs[recs["type"] == "unattached_volume"]
    assert list(vols["resource_id"]) == ["vol-restore"]
    assert vols.iloc[0]["monthly_savings"] == pytest.approx(20.0 * 730 / 24 / DAYS, abs=0.01)


def test_idle_load_balancer_billed_for_hours_only():
    recs = run([resource("arn:aws:elasticloadbalancing:us-east-1:111:loadbalancer/app/idle/1", "load_balancer", 16.2,
                         hours=720.0, data=0.0),
                resource("arn:aws:elasticloadbalancing:us-east-1:111:loadbalancer/app/busy/2", "load_balancer", 40.0,
                         hours=720.0, data=900.0)], [])
    assert list(recs[recs["type"] == "idle_load_balancer"]["resource_id"]) == [
        "arn:aws:elasticloadbalancing:us-east-1:111:loadbalancer/app/idle/1"]


def test_alternatives_on_one_resource_are_never_added_up_and_ids_are_stable():
    cost = 0.192 * 24 * DAYS
    resources = [resource("i-dev-idle", "machine", cost, tags={"env": "dev"}, account_name="dev")]
    metrics = metrics_rows("i-dev-idle", "m5.xlarge", 4, 16, cpu_p95=2.0)
    recs = run(resources, metrics)
    on_it = recs[recs["resource_id"] == "i-dev-idle"]
    assert set(on_it["type"]) >= {"idle_resource", "schedule"}
    for _, r in on_it.iterrows():
        others = set(on_it["recommendation_id"]) - {r["recommendation_id"]}
        assert set(json.loads(r["evidence"])["exclusive_with"]) == others
    assert rec.achievable_savings(recs) == pytest.approx(on_it["monthly_savings"].max())
    assert rec.achievable_savings(recs) < on_it["monthly_savings"].sum()
    # A recompute gives the same ids; done ones leave the achievable total.
    again = run(resources, metrics)
    assert list(again["recommendation_id"]) == list(recs["recommendation_id"])
    idle_id = of(recs, "idle_resource", "i-dev-idle")["recommendation_id"]
    decided = rec.apply_states(recs, {idle_id: "done"})
    assert rec.achievable_savings(decided) == pytest.approx(of(recs, "schedule", "i-dev-idle")["monthly_savings"])


def test_no_metrics_and_no_resources_give_no_recommendations():
    recs = run([], [])
    assert recs.empty and list(recs.columns) == rec.CONTRACT_COLUMNS
    assert rec.classify_resource("microsoft.compute/disks", None, "/subscriptions/x/disks/d") == "volume"
    assert rec.classify_resource(None, None, "i-0abc") == "machine"
    assert rec.environment_of({"Environment": "Staging"}, None) == "nonprod"
    assert rec.environment_of({}, "kestrel-prod") == "prod"
    # A machine with metrics but no bill in the window has no account name: NaN after the merge.
    assert rec.environment_of({}, float("nan")) is None
