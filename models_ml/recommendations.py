"""Savings recommendations: pure functions over DataFrames (no Dagster, no I/O).

Inputs (built by orchestration/defs/recommendations.py from the warehouse):
- `resources`: one row per billed resource over the look-back window (RESOURCE_COLUMNS): who owns it,
  what kind it is, where it runs, its tags, first/last billed day, its cost over the window and how it
  was priced (on demand, spot, committed).
- `utilization`: daily machine metrics (the documented metrics file format, docs/demo-data.md).
- `catalog`: instance list prices and sizes (`pricing.instance_prices`, autostack/pricing.py).

Output: `recommend(...)` returns one row per recommendation with the `ml.recommendations` contract
columns. Every recommendation's evidence carries the resource's monthly cost and the formula of its
savings. Recommendations on one resource are exclusive alternatives (stop it, or resize it, or
commit to it — never all): each lists the others in `evidence.exclusive_with`, and
`achievable_savings` counts only the best open one per resource.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from autostack.pricing import (HOURS_PER_MONTH, cpu_architecture, geography, is_burstable, is_general_access_region,
                              memory_class)

CONTRACT_COLUMNS = [
    "recommendation_id", "type", "provider", "billing_account_id", "sub_account_id", "resource_id", "region",
    "current", "proposed", "monthly_savings", "confidence", "evidence", "action", "status",
]
RESOURCE_COLUMNS = [
    "provider", "billing_account_id", "sub_account_id", "sub_account_name", "resource_id", "resource_name",
    "resource_type", "kind", "region", "zone", "tags", "first_date", "last_date", "days_billed", "cost",
    "committed_share", "spot_share", "hour_quantity", "data_quantity",
]
UTILIZATION_COLUMNS = [
    "date", "provider", "account_id", "resource_id", "resource_name", "instance_type", "region", "vcpu",
    "memory_gb", "hours_running", "cpu_p50_pct", "cpu_p95_pct", "cpu_max_pct", "memory_p95_pct",
]
TYPES = ("idle_resource", "unattached_volume", "idle_load_balancer", "rightsize", "schedule", "commitment",
         "spot", "cheaper_region", "cheaper_cloud")
# Waste (something is being paid for nothing) versus an opportunity (the same thing, bought cheaper).
WASTE_TYPES = ("idle_resource", "unattached_volume", "idle_load_balancer", "rightsize", "schedule", "commitment")
PROVIDER_CODES = {"AWS": "aws", "Amazon Web Services": "aws", "Microsoft": "azure", "Azure": "azure",
                  "Google Cloud": "gcp", "Google": "gcp", "Oracle Cloud Infrastructure": "oci", "Oracle": "oci"}
NONPROD_VALUES = ("dev", "development", "test", "testing", "staging", "stage", "qa", "sandbox", "nonprod", "non-prod")
FAULT_TOLERANT_KEYS = ("fault-tolerant", "fault_tolerant", "faulttolerant", "interruptible", "spot-ok", "spot_ok")
DAYS_PER_MONTH = HOURS_PER_MONTH / 24.0
# Typical discounts of a 1-year, no-upfront commitment, used when the data has no commitment of the
# provider to learn from: AWS Compute Savings Plans, Azure reserved VM instances, Google resource-based
# committed use discounts (37 % for 1 year, Google's documented rate for general-purpose machines).
DEFAULT_COMMITMENT_DISCOUNT = {"aws": 0.28, "azure": 0.40, "gcp": 0.37}
COMMITMENT_PRODUCT = {"aws": "1-year Compute Savings Plan (or Standard Reserved Instance)",
                      "azure": "1-year Azure reservation (or savings plan for compute)",
                      "gcp": "1-year resource-based committed use discount"}


@dataclass(frozen=True)
class Thresholds:
    """What counts as idle, oversized, steady and worth saying; every rule reads its limits here."""

    idle_cpu_p95_pct: float = 5.0  # a machine whose daily CPU p95 never exceeded this is idle
    target_cpu_p95_pct: float = 60.0  # a right-sized machine's expected CPU p95 at its peak day
    target_memory_p95_pct: float = 80.0
    rightsize_max_cpu_p95_pct: float = 25.0  # only machines whose peak CPU p95 stays below this are resized
    min_utilization_days: int = 7
    steady_days: int = 30  # running 24 h on each of this many days: a commitment candidate
    steady_hours_per_day: float = 23.5
    weekend_hours: float = 20.0  # a non-production machine running this long on weekend days runs 24x7
    business_hours_per_month: float = 261.0  # 12 h on each weekday
    max_committed_share: float = 0.5  # below this share of commitment-covered cost, a machine counts as uncommitted
    min_monthly_savings: float = 1.0
    min_move_saving_share: float = 0.15  # a region or cloud move must save this share of the price
    idle_lb_max_data: float = 0.01  # GB / LCU processed over the window by an idle load balancer


@dataclass
class Inputs:
    resources: pd.DataFrame
    utilization: pd.DataFrame
    catalog: pd.DataFrame
    as_of: date
    commitment_discounts: dict[str, float] = field(default_factory=dict)
    lookback_days: int = 30


# --------------------------------------------------------------------------- helpers
def provider_code(provider_name: str) -> str:
    return PROVIDER_CODES.get(provider_name, str(provider_name).lower())


def classify_resource(resource_type: str | None, service_subcategory: str | None, resource_id: str | None) -> str:
    """machine, volume, load_balancer or other, from FOCUS ResourceType/ServiceSubcategory and the id."""
    rtype = (resource_type or "").lower()
    rid = (resource_id or "").lower()
    if "loadbalancer" in rtype.replace(" ", "").replace("-", "") or ":loadbalancer/" in rid:
        return "load_balancer"
    if rtype in ("volume", "block volume", "compute.disks", "microsoft.compute/disks", "disk", "boot volume") \
            or rid.startswith("vol-") or "/disks/" in rid or rid.startswith("ocid1.volume") or rid.startswith("ocid1.bootvolume"):
        return "volume"
    if rtype in ("instance", "compute.instances", "microsoft.compute/virtualmachines", "virtual machine") \
            or rid.startswith("i-") or "/instances/" in rid or "/virtualmachines/" in rid or rid.startswith("ocid1.instance"):
        return "machine"
    return "other"


def recommendation_id(rec_type: str, resource_id: str, proposed: str) -> str:
    """Stable across recomputes: the same advice on the same resource keeps its id (and its status)."""
    return hashlib.sha256(f"{rec_type}|{resource_id}|{proposed}".encode()).hexdigest()[:32]


def tags_of(value) -> dict[str, str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, str) and value.strip():
        parsed = json.loads(value)
        return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
    return {}


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags a person set (provider system labels such as compute.googleapis.com/... left out), keys lower case."""
    return {k.lower(): v.lower() for k, v in tags.items() if "/" not in k and not k.lower().startswith("aws:")}


def environment_of(tags: dict[str, str], sub_account_name: str | None) -> str | None:
    """prod / nonprod / None (unknown) from an env tag, else from the account's name."""
    for key in ("env", "environment", "stage"):
        value = user_tags(tags).get(key)
        if value:
            return "nonprod" if value in NONPROD_VALUES else "prod" if value in ("prod", "production", "prd") else None
    # A machine in the metrics but not billed in the window has no account name (NaN after the merge).
    name = sub_account_name.lower() if isinstance(sub_account_name, str) else ""
    if any(word in name for word in ("nonprod", "non-prod", "staging", "-dev", " dev", "test", "sandbox")):
        return "nonprod"
    if "prod" in name:
        return "prod"
    return None


def is_fault_tolerant(tags: dict[str, str]) -> bool:
    tags = user_tags(tags)
    if any(tags.get(k) in ("true", "yes", "1") for k in FAULT_TOLERANT_KEYS):
        return True
    return tags.get("workload", "") in ("batch", "fault-tolerant", "stateless-batch") or tags.get("spot", "") in ("true", "ok")


def monthly(cost_in_window: float, days: float) -> float:
    return float(cost_in_window) * DAYS_PER_MONTH / max(days, 1.0)


def commitment_discounts(observed: dict[str, float]) -> dict[str, float]:
    """Per provider: the discount seen on its commitments in the data when plausible, else the typical 1-year rate."""
    out = dict(DEFAULT_COMMITMENT_DISCOUNT)
    for provider, discount in observed.items():
        if discount is not None and 0.05 <= float(discount) <= 0.6:
            out[provider] = float(discount)
    return out


class _Builder:
    """Collects recommendation rows; one place decides the id and the common evidence."""

    def __init__(self, thresholds: Thresholds):
        self.rows: list[dict] = []
        self.t = thresholds

    def add(self, res: pd.Series | dict, rec_type: str, current: str, proposed: str, savings: float, confidence: str,
            evidence: dict, action: str, monthly_cost: float) -> None:
        savings = round(min(float(savings), float(monthly_cost)), 2)
        if savings < self.t.min_monthly_savings:
            return
        self.rows.append({
            "recommendation_id": recommendation_id(rec_type, res["resource_id"], proposed),
            "type": rec_type, "provider": res["provider"], "billing_account_id": res.get("billing_account_id"),
            "sub_account_id": res.get("sub_account_id"), "resource_id": res["resource_id"], "region": res.get("region"),
            "current": current, "proposed": proposed, "monthly_savings": savings, "confidence": confidence,
            "evidence": {"resource_name": res.get("resource_name"), "monthly_cost": round(float(monthly_cost), 2), **evidence},
            "action": action, "status": "open",
        })


# --------------------------------------------------------------------------- machine profile
def machine_profiles(inputs: Inputs) -> pd.DataFrame:
    """One row per machine with metrics in the window: size, type, peak CPU/memory p95, hours, weekend hours."""
    util = inputs.utilization
    if util.empty:
        return pd.DataFrame(columns=["resource_id"])
    start = inputs.as_of - timedelta(days=inputs.lookback_days - 1)
    u = util[(pd.to_datetime(util["date"]).dt.date >= start) & (pd.to_datetime(util["date"]).dt.date <= inputs.as_of)].copy()
    if u.empty:
        return pd.DataFrame(columns=["resource_id"])
    u["weekday"] = pd.to_datetime(u["date"]).dt.day_of_week
    u = u.sort_values("date")
    grouped = u.groupby("resource_id", sort=True)
    prof = grouped.agg(
        provider=("provider", "last"), resource_name=("resource_name", "last"), instance_type=("instance_type", "last"), region=("region", "last"),
        vcpu=("vcpu", "last"), memory_gb=("memory_gb", "last"), days=("date", "nunique"), last_date=("date", "max"),
        cpu_p95_peak=("cpu_p95_pct", "max"), cpu_p95_median=("cpu_p95_pct", "median"), cpu_max=("cpu_max_pct", "max"),
        memory_p95_peak=("memory_p95_pct", "max"), hours_mean=("hours_running", "mean"),
        hours_min=("hours_running", "min"),
    )
    weekend = u[u["weekday"] >= 5].groupby("resource_id")["hours_running"].mean()
    prof["weekend_hours_mean"] = weekend.reindex(prof.index).fillna(0.0)
    prof["window_days"] = float(inputs.lookback_days)
    # Days not in the metrics were days the machine did not run (the format writes only days with hours > 0).
    prof["hours_per_month"] = u.groupby("resource_id")["hours_running"].sum() * DAYS_PER_MONTH / inputs.lookback_days
    return prof.reset_index()


class _CatalogIndex:
    """The price catalog (and the cross-cloud equivalents) indexed once per computation: each rule
    looks a machine's rows up by key instead of filtering the whole catalog per machine (28k rows,
    several times per machine: minutes at 10M billing rows)."""

    def __init__(self, catalog: pd.DataFrame, equivalents: pd.DataFrame | None = None):
        self.frame = catalog = catalog.reset_index(drop=True)  # row labels are positions (general_access)
        self._equivalents = equivalents if equivalents is not None else pd.DataFrame()
        self._general_access = np.zeros(0, dtype=bool)
        self._rows: dict[tuple, int] = {}
        self._families: dict = {}
        self._types: dict = {}
        self._equivalent_groups: dict = {}
        if not catalog.empty:
            lowered = catalog["instance_type"].astype(str).str.lower()
            for position, key in enumerate(zip(catalog["provider"], catalog["region"], lowered)):
                self._rows.setdefault(key, position)  # the first match, as a filter's .iloc[0] gave
            self._families = catalog.groupby(["provider", "region", "family"], sort=False).indices
            self._types = catalog.groupby(["provider", "instance_type"], sort=False).indices
            self._general_access = np.array([is_general_access_region(p, r)
                                             for p, r in zip(catalog["provider"], catalog["region"])], dtype=bool)
        if not self._equivalents.empty:
            self._equivalent_groups = self._equivalents.groupby(["provider", "region", "instance_type"], sort=False).indices

    def row(self, provider: str, instance_type: str, region: str) -> pd.Series | None:
        position = self._rows.get((provider, region, str(instance_type).lower()))
        return None if position is None else self.frame.iloc[position]

    def family(self, provider: str, region: str, family) -> pd.DataFrame:
        """The catalog rows of one instance family in one region (in catalog order)."""
        return self.frame.iloc[self._families.get((provider, region, family), [])]

    def general_access(self, rows: pd.DataFrame) -> np.ndarray:
        """Per row of this catalog: its region is one a workload may be proposed to move to."""
        return self._general_access[rows.index.to_numpy()] if len(rows) else np.zeros(0, dtype=bool)

    def same_type(self, provider: str, instance_type: str) -> pd.DataFrame:
        """The catalog rows of one instance type, every region."""
        return self.frame.iloc[self._types.get((provider, instance_type), [])]

    def equivalents(self, provider: str, region: str, instance_type: str) -> pd.DataFrame:
        """Cross-cloud equivalents of one type in one region."""
        return self._equivalents.iloc[self._equivalent_groups.get((provider, region, instance_type), [])]


# --------------------------------------------------------------------------- rules
def idle_machines(b: _Builder, machines: pd.DataFrame) -> None:
    t = b.t
    for _, m in machines.iterrows():
        if pd.isna(m.get("cpu_p95_peak")) or m["days"] < t.min_utilization_days or m["cpu_p95_peak"] > t.idle_cpu_p95_pct:
            continue
        b.add(m, "idle_resource", f"{m['instance_type']} running {m['hours_per_month']:.0f} h/month", "stop or terminate",
              m["monthly_cost"], "high" if m["days"] >= 14 else "medium",
              {"metric_days": int(m["days"]), "cpu_p95_peak_pct": round(float(m["cpu_p95_peak"]), 2),
               "cpu_max_pct": round(float(m["cpu_max"]), 2), "threshold_pct": t.idle_cpu_p95_pct,
               "how": f"CPU p95 never above {t.idle_cpu_p95_pct:g} % in {int(m['days'])} days: stopping saves its whole cost"},
              f"Stop {m['resource_name'] or m['resource_id']} (snapshot its disks first if you may need it back); "
              f"CPU p95 peaked at {m['cpu_p95_peak']:.1f} % over {int(m['days'])} days.", m["monthly_cost"])


def rightsize_machines(b: _Builder, machines: pd.DataFrame, catalog: _CatalogIndex) -> None:
    """The cheapest smaller type of the same family and region that keeps peak CPU p95 and memory p95 under target."""
    t = b.t
    for _, m in machines.iterrows():
        if (pd.isna(m.get("cpu_p95_peak")) or m["days"] < t.min_utilization_days or m["cpu_p95_peak"] <= t.idle_cpu_p95_pct
                or m["cpu_p95_peak"] > t.rightsize_max_cpu_p95_pct):
            continue
        current = catalog.row(m["provider"], m["instance_type"], m["region"])
        if current is None:
            continue
        needed_vcpu = float(current["vcpu"]) * float(m["cpu_p95_peak"]) / t.target_cpu_p95_pct
        needed_mem = float(current["memory_gb"]) * float(m["memory_p95_peak"]) / t.target_memory_p95_pct
        family = catalog.family(m["provider"], m["region"], current["family"])
        options = family[(family["vcpu"] < current["vcpu"]) & (family["vcpu"] >= needed_vcpu)
                         & (family["memory_gb"] >= needed_mem) & (family["on_demand"] < current["on_demand"])]
        if options.empty:
            continue
        best = options.sort_values(["on_demand", "vcpu", "instance_type"]).iloc[0]
        ratio = float(best["on_demand"]) / float(current["on_demand"])
        saving = m["monthly_cost"] * (1.0 - ratio)
        expected = float(m["cpu_p95_peak"]) * float(current["vcpu"]) / float(best["vcpu"])
        b.add(m, "rightsize", f"{current['instance_type']} ({current['vcpu']:g} vCPU, {current['memory_gb']:g} GB, "
              f"{current['on_demand']:g} USD/h)", str(best["instance_type"]), saving, "high" if m["days"] >= 14 else "medium",
              {"metric_days": int(m["days"]), "cpu_p95_peak_pct": round(float(m["cpu_p95_peak"]), 2),
               "memory_p95_peak_pct": round(float(m["memory_p95_peak"]), 2),
               "target_cpu_p95_pct": t.target_cpu_p95_pct, "target_memory_p95_pct": t.target_memory_p95_pct,
               "proposed_vcpu": float(best["vcpu"]), "proposed_memory_gb": float(best["memory_gb"]),
               "current_usd_per_hour": float(current["on_demand"]), "proposed_usd_per_hour": float(best["on_demand"]),
               "expected_cpu_p95_pct": round(expected, 1),
               "how": f"monthly cost x (1 - {best['on_demand']:g} / {current['on_demand']:g}) list price per hour"},
              f"Resize {m['resource_name'] or m['resource_id']} from {current['instance_type']} to {best['instance_type']} "
              f"(peak CPU p95 {m['cpu_p95_peak']:.1f} % becomes ~{expected:.0f} %; memory p95 fits).", m["monthly_cost"])


def schedule_machines(b: _Builder, machines: pd.DataFrame) -> None:
    t = b.t
    for _, m in machines.iterrows():
        if m.get("environment") != "nonprod" or pd.isna(m.get("weekend_hours_mean")) or m["weekend_hours_mean"] < t.weekend_hours:
            continue
        hours = max(float(m["hours_per_month"]), 1.0)
        off = max(hours - t.business_hours_per_month, 0.0)
        saving = m["monthly_cost"] * off / hours
        b.add(m, "schedule", f"running {hours:.0f} h/month (24x7)", "weekdays 08:00-20:00 only", saving, "medium",
              {"weekend_hours_per_day": round(float(m["weekend_hours_mean"]), 1), "hours_per_month": round(hours, 1),
               "scheduled_hours_per_month": t.business_hours_per_month, "environment": "nonprod",
               "how": f"monthly cost x {off:.0f} h outside business hours / {hours:.0f} h"},
              f"Schedule {m['resource_name'] or m['resource_id']} (non-production) to stop nights and weekends "
              f"(e.g. AWS Instance Scheduler, Azure auto-shutdown, GCP instance schedules).", m["monthly_cost"])


def commitment_machines(b: _Builder, machines: pd.DataFrame, discounts: dict[str, float]) -> None:
    """Steady on-demand machines: a 1-year commitment sized from the hours they ran each day."""
    t = b.t
    for _, m in machines.iterrows():
        d = discounts.get(m["provider"])
        # Idle or oversized machines are stopped or resized first; commit only to what stays.
        if (d is None or m.get("environment") == "nonprod" or m["days"] < t.steady_days
                or m["cpu_p95_peak"] <= t.rightsize_max_cpu_p95_pct
                or m["hours_min"] < t.steady_hours_per_day or m["committed_share"] > t.max_committed_share
                or m["spot_share"] > 0.5):
            continue
        hourly = m["monthly_cost"] / HOURS_PER_MONTH
        committed_hourly = hourly * (1 - d)
        b.add(m, "commitment", f"{m['instance_type']} on demand, {hourly:.4f} USD/h 24x7",
              f"{COMMITMENT_PRODUCT.get(m['provider'], '1-year commitment')}", m["monthly_cost"] * d, "medium",
              {"discount": round(d, 4), "hours_per_day_min": round(float(m["hours_min"]), 2),
               "hours_per_day_mean": round(float(m["hours_mean"]), 2), "steady_days": int(m["days"]),
               "commit_usd_per_hour": round(committed_hourly, 4),
               "break_even_utilization": round(1 - d, 4),
               "payback_months_all_upfront": round(12 * (1 - d), 1),
               "how": f"monthly cost x {d:.0%} discount; it ran >= {m['hours_min']:.1f} h every day for {int(m['days'])} days"},
              f"Cover {m['resource_name'] or m['resource_id']} with a {COMMITMENT_PRODUCT.get(m['provider'], '1-year commitment')} "
              f"of {committed_hourly:.4f} USD/h; it pays off if the workload runs more than {1 - d:.0%} of the hours.",
              m["monthly_cost"])


def spot_machines(b: _Builder, machines: pd.DataFrame, catalog: _CatalogIndex) -> None:
    for _, m in machines.iterrows():
        if not m.get("fault_tolerant") or m["spot_share"] > 0.5:
            continue
        row = catalog.row(m["provider"], m["instance_type"], m["region"])
        if row is None or not row["spot"] or row["spot"] <= 0 or row["spot"] >= row["on_demand"]:
            continue
        saving = m["monthly_cost"] * (1 - float(row["spot"]) / float(row["on_demand"]))
        b.add(m, "spot", f"{m['instance_type']} on demand at {row['on_demand']:g} USD/h",
              f"{m['instance_type']} spot", saving, "medium",
              {"on_demand_usd_per_hour": float(row["on_demand"]), "spot_usd_per_hour": float(row["spot"]),
               "how": "monthly cost x (1 - spot / on-demand list price)"},
              f"Run {m['resource_name'] or m['resource_id']} (tagged fault-tolerant) on spot capacity "
              f"with an interruption handler.", m["monthly_cost"])


def cheaper_placements(b: _Builder, machines: pd.DataFrame, catalog: _CatalogIndex) -> None:
    """The same type in a cheaper region of the same geography; an equivalent size in another cloud."""
    t = b.t
    # The options depend only on (provider, type, region), which many machines share: searched once per
    # key. On the 10M-row estate's 8,686 machines (93 keys) the rules took 33.6 s searching per machine,
    # 6.8 s in all now, with the same recommendations.
    placements: dict[tuple, tuple] = {}

    def options(provider: str, instance_type: str, region: str) -> tuple:
        key = (provider, instance_type, region)
        if key not in placements:
            current = catalog.row(provider, instance_type, region)
            region_best = cloud_best = None
            if current is not None:
                same = catalog.same_type(provider, current["instance_type"])
                same = same[(same["region"] != region) & catalog.general_access(same)]
                same = same[same["region"].map(geography) == geography(region)]
                if not same.empty:
                    region_best = same.sort_values(["on_demand", "region"]).iloc[0]
                eq = catalog.equivalents(provider, region, current["instance_type"])
                if not eq.empty:
                    cloud_best = eq.sort_values(["equivalent_on_demand", "equivalent_provider"]).iloc[0]
            placements[key] = (current, region_best, cloud_best)
        return placements[key]

    for _, m in machines.iterrows():
        current, region_best, cloud_best = options(m["provider"], m["instance_type"], m["region"])
        if current is None or m["spot_share"] > 0.5:
            continue
        geo = geography(m["region"])
        if region_best is not None:
            share = 1 - float(region_best["on_demand"]) / float(current["on_demand"])
            if share >= t.min_move_saving_share:
                b.add(m, "cheaper_region", f"{current['instance_type']} in {m['region']} at {current['on_demand']:g} USD/h",
                      f"{current['instance_type']} in {region_best['region']}", m["monthly_cost"] * share, "low",
                      {"current_usd_per_hour": float(current["on_demand"]),
                       "proposed_usd_per_hour": float(region_best["on_demand"]),
                       "geography": geo, "how": "monthly cost x list price difference; data transfer and latency not included"},
                      f"Consider moving {m['resource_name'] or m['resource_id']} to {region_best['region']} "
                      f"({share:.0%} cheaper list price; check latency, data residency and transfer costs).", m["monthly_cost"])
        if cloud_best is None:
            continue
        share = 1 - float(cloud_best["equivalent_on_demand"]) / float(current["on_demand"])
        if share >= t.min_move_saving_share:
            b.add(m, "cheaper_cloud", f"{m['provider']} {current['instance_type']} in {m['region']} at {current['on_demand']:g} USD/h",
                  f"{cloud_best['equivalent_provider']} {cloud_best['equivalent_instance_type']} in {cloud_best['equivalent_region']}",
                  m["monthly_cost"] * share, "low",
                  {"current_usd_per_hour": float(current["on_demand"]),
                   "proposed_usd_per_hour": float(cloud_best["equivalent_on_demand"]),
                   "vcpu": float(current["vcpu"]), "memory_gb": float(current["memory_gb"]),
                   "proposed_vcpu": float(cloud_best["equivalent_vcpu"]), "proposed_memory_gb": float(cloud_best["equivalent_memory_gb"]),
                   "how": "monthly cost x list price difference of the same vCPU count and memory class; "
                          "migration, egress and support costs not included"},
                  f"Consider running {m['resource_name'] or m['resource_id']}'s workload on {cloud_best['equivalent_provider']} "
                  f"{cloud_best['equivalent_instance_type']} ({share:.0%} cheaper list price for the same size).", m["monthly_cost"])


def _base_name(name) -> str:
    """A machine or disk name without the usual decorations (Azure `vm-` prefix), lower case."""
    text = "" if name is None or (isinstance(name, float) and np.isnan(name)) else str(name).lower()
    return text.removeprefix("vm-")


def unattached_volumes(b: _Builder, resources: pd.DataFrame, as_of: date) -> None:
    """A volume billed today that no machine of the window can be using.

    Billing exports do not say what a disk is attached to. A disk named after a machine of its account
    (GCP boot disks take the instance's name, Azure OS disks `<vm>_OsDisk_...`) belongs to it, even if
    the machine is stopped. Other disks live beside their machine (same account, zone and tags): in
    each such group, volumes and machines billed in the window are paired one to one, closest first
    billed day first; the volumes left over have no machine to be attached to.
    """
    window = resources.copy()
    if window.empty:
        return
    window["place"] = window["zone"].fillna(window["region"]).fillna("")
    window["tag_key"] = window["tags"].map(lambda t: json.dumps(user_tags(tags_of(t)), sort_keys=True))
    window["base"] = window["resource_name"].map(_base_name)
    machines = window[window["kind"] == "machine"]
    volumes = window[(window["kind"] == "volume") & (pd.to_datetime(window["last_date"]).dt.date >= as_of - timedelta(days=1))]
    # Machines indexed once (by account and name; by account, place and tags), in the frame's order,
    # instead of filtering every machine for every volume (minutes at 10M billing rows).
    by_name: dict[tuple, list[tuple[int, str]]] = {}
    by_place: dict[tuple, list[tuple[int, str, date]]] = {}
    for position, (provider, account, base, place, tag_key, resource_id, first) in enumerate(zip(
            machines["provider"], machines["sub_account_id"], machines["base"], machines["place"], machines["tag_key"],
            machines["resource_id"], pd.to_datetime(machines["first_date"]).dt.date)):
        if pd.isna(provider) or pd.isna(account):
            continue  # an unknown account is nobody's neighbour (as SQL's NULL = NULL)
        if base:
            by_name.setdefault((provider, account, base), []).append((position, resource_id))
        by_place.setdefault((provider, account, place, tag_key), []).append((position, resource_id, first))
    taken: set[str] = set()
    unmatched = []
    for _, v in volumes.sort_values(["first_date", "resource_id"]).iterrows():
        # A machine's name m names the volume when the volume is m, m_... or m-...: the candidates are
        # the volume's name and its prefixes ending before a '_' or '-'.
        base = v["base"]
        names = [base] + [base[:i] for i, ch in enumerate(base) if ch in "_-" and i > 0] if base else []
        named = [hit for name in names for hit in by_name.get((v["provider"], v["sub_account_id"], name), [])
                 if hit[1] not in taken]
        if named:
            taken.add(min(named)[1])  # the first matching machine in the frame's order
        else:
            unmatched.append(v)
    for v in unmatched:
        first = pd.to_datetime(v["first_date"]).date()
        beside = [(abs((started - first).days), position, resource_id) for position, resource_id, started
                  in by_place.get((v["provider"], v["sub_account_id"], v["place"], v["tag_key"]), []) if resource_id not in taken]
        if beside:
            taken.add(min(beside)[2])  # the closest first billed day; on a tie, the first in the frame's order
            continue
        cost = monthly(v["cost"], v["window_days"])
        b.add(v, "unattached_volume", f"volume billed {cost:.2f} USD/month", "snapshot and delete", cost,
              "high" if v["base"] else "medium",
              {"first_billed_in_window": str(first), "place": v["place"], "tags": user_tags(tags_of(v["tags"])),
               "how": "named after no machine, and no machine of the window in the same account, zone and tags; "
                      "deleting saves its whole cost"},
              f"Snapshot {v['resource_name'] if isinstance(v['resource_name'], str) else v['resource_id']} and delete "
              f"it: no machine in its account, zone and tag set is there to use it.", cost)


def idle_load_balancers(b: _Builder, resources: pd.DataFrame, as_of: date) -> None:
    t = b.t
    lbs = resources[(resources["kind"] == "load_balancer")
                    & (pd.to_datetime(resources["last_date"]).dt.date >= as_of - timedelta(days=1))]
    for _, lb in lbs.iterrows():
        if lb["hour_quantity"] <= 0 or lb["data_quantity"] > t.idle_lb_max_data or lb["days_billed"] < 7:
            continue
        cost = monthly(lb["cost"], lb["window_days"])
        b.add(lb, "idle_load_balancer", f"load balancer billed {cost:.2f} USD/month for hours only", "delete", cost,
              "medium", {"hours_billed": float(lb["hour_quantity"]), "data_processed": float(lb["data_quantity"]),
                         "how": "billed for its hours, no data or capacity units processed in the window"},
              f"Delete {lb['resource_name'] or lb['resource_id']}: it processed no traffic in {int(lb['days_billed'])} days.", cost)


# --------------------------------------------------------------------------- entry points
def _machines_frame(inputs: Inputs, catalog: _CatalogIndex | None = None) -> pd.DataFrame:
    prof = machine_profiles(inputs)
    res = inputs.resources
    if prof.empty:
        return prof
    merged = prof.merge(res, on="resource_id", how="left", suffixes=("", "_billing"))
    merged["provider"] = merged["provider"].fillna(merged.get("provider_billing"))
    merged["window_days"] = merged["window_days"].astype(float)
    # Monthly cost from the bill when the machine was billed in the window, else from the catalog list price.
    billed = merged["cost"].astype(float).fillna(0.0) * DAYS_PER_MONTH / float(inputs.lookback_days)
    index = catalog if catalog is not None else _CatalogIndex(inputs.catalog)
    listed = []
    for provider, instance_type, region, hours in zip(merged["provider"], merged["instance_type"], merged["region"],
                                                      merged["hours_per_month"]):
        row = index.row(provider, instance_type, region)
        listed.append(float(row["on_demand"]) * float(hours) if row is not None else 0.0)
    merged["monthly_cost"] = np.where(billed > 0, billed, np.array(listed, dtype=float))
    merged["committed_share"] = merged["committed_share"].fillna(0.0)
    merged["spot_share"] = merged["spot_share"].fillna(0.0)
    tags = merged["tags"].map(tags_of)
    merged["environment"] = [environment_of(t, n) for t, n in zip(tags, merged["sub_account_name"])]
    merged["fault_tolerant"] = tags.map(is_fault_tolerant)
    merged["resource_name"] = merged["resource_name_billing"].fillna(merged["resource_name"])
    # Only machines still running at the as-of date: a machine gone since is nobody's saving.
    live = pd.to_datetime(merged["last_date"]).dt.date >= inputs.as_of - timedelta(days=2)
    return merged[(merged["monthly_cost"] > 0) & live]


def recommend(inputs: Inputs, thresholds: Thresholds = Thresholds(), equivalents: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every recommendation for the window ending `as_of`, with exclusivity marked in the evidence."""
    b = _Builder(thresholds)
    catalog = _CatalogIndex(inputs.catalog, equivalents)
    resources = inputs.resources.copy()
    resources["window_days"] = float(inputs.lookback_days)
    discounts = commitment_discounts(inputs.commitment_discounts)
    machines = _machines_frame(Inputs(resources, inputs.utilization, inputs.catalog, inputs.as_of, inputs.commitment_discounts,
                                      inputs.lookback_days), catalog)
    if not machines.empty:
        idle_machines(b, machines)
        rightsize_machines(b, machines, catalog)
        schedule_machines(b, machines)
        commitment_machines(b, machines, discounts)
        spot_machines(b, machines, catalog)
        cheaper_placements(b, machines, catalog)
    if not resources.empty:
        unattached_volumes(b, resources, inputs.as_of)
        idle_load_balancers(b, resources, inputs.as_of)
    return finish(b.rows)


def finish(rows: list[dict]) -> pd.DataFrame:
    """Contract columns; evidence as JSON text listing the exclusive alternatives on the same resource."""
    frame = pd.DataFrame(rows, columns=CONTRACT_COLUMNS)
    if frame.empty:
        return frame
    frame = frame.drop_duplicates("recommendation_id").sort_values(["resource_id", "monthly_savings"], ascending=[True, False])
    by_resource = frame.groupby("resource_id")["recommendation_id"].apply(list).to_dict()
    evidence = []
    for _, r in frame.iterrows():
        others = [i for i in by_resource[r["resource_id"]] if i != r["recommendation_id"]]
        evidence.append(json.dumps({**r["evidence"], "exclusive_with": others}, sort_keys=True, default=str))
    frame["evidence"] = evidence
    return frame.sort_values(["monthly_savings", "recommendation_id"], ascending=[False, True]).reset_index(drop=True)


def apply_states(recs: pd.DataFrame, states: dict[str, str]) -> pd.DataFrame:
    """The people's decisions (recommendation_id -> done | dismissed) from the app store."""
    out = recs.copy()
    out["status"] = [states.get(i, "open") for i in out["recommendation_id"]]
    return out


def best_per_resource(recs: pd.DataFrame, statuses: tuple[str, ...] = ("open",)) -> pd.DataFrame:
    """The one recommendation per resource a total counts: the largest saving among the given statuses."""
    live = recs[recs["status"].isin(statuses)]
    if live.empty:
        return live
    return live.sort_values(["monthly_savings", "recommendation_id"], ascending=[False, True]).drop_duplicates("resource_id")


def achievable_savings(recs: pd.DataFrame, statuses: tuple[str, ...] = ("open",)) -> float:
    """Monthly savings without double counting: the best recommendation of each resource, summed."""
    return round(float(best_per_resource(recs, statuses)["monthly_savings"].sum()), 2)


def cross_cloud_equivalents(catalog: pd.DataFrame) -> pd.DataFrame:
    """Per (provider, region, instance type): each other cloud's cheapest type with the same vCPU count,
    memory class, CPU architecture (x86_64 or arm64) and kind of cores (burstable or dedicated), in a
    region of the same geography that any customer may use (`is_general_access_region`)."""
    if catalog.empty:
        return pd.DataFrame(columns=["provider", "region", "instance_type", "vcpu", "memory_gb", "memory_class",
                                     "equivalent_provider", "equivalent_region", "equivalent_instance_type",
                                     "equivalent_vcpu", "equivalent_memory_gb", "equivalent_on_demand"])
    c = catalog.copy()
    c["memory_class"] = [memory_class(v, m) for v, m in zip(c["vcpu"], c["memory_gb"])]
    c["geography"] = c["region"].map(geography)
    c["architecture"] = [cpu_architecture(p, t) for p, t in zip(c["provider"], c["instance_type"])]
    c["burstable"] = [is_burstable(p, t) for p, t in zip(c["provider"], c["instance_type"])]
    like = ["geography", "vcpu", "memory_class", "architecture", "burstable"]
    proposable = c[[is_general_access_region(p, r) for p, r in zip(c["provider"], c["region"])]]
    cheapest = (proposable.sort_values(["on_demand", "region", "instance_type"])
                .drop_duplicates(["provider", *like])
                .rename(columns={"provider": "equivalent_provider", "region": "equivalent_region",
                                 "instance_type": "equivalent_instance_type", "memory_gb": "equivalent_memory_gb",
                                 "on_demand": "equivalent_on_demand"}))
    cheapest["equivalent_vcpu"] = cheapest["vcpu"]
    cheapest = cheapest[["equivalent_provider", "equivalent_region", "equivalent_instance_type", "equivalent_vcpu",
                         "equivalent_memory_gb", "equivalent_on_demand", *like]]
    merged = c[["provider", "region", "instance_type", "memory_gb", *like]].merge(cheapest, on=like)
    merged = merged[merged["provider"] != merged["equivalent_provider"]]
    return merged.drop(columns=["geography", "architecture", "burstable"]).reset_index(drop=True)
