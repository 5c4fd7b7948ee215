"""The planted truth: anomalies and waste, written beside the exports and never inside them.

`anomalies.json`: each planted anomaly (dates, provider, the account/subscription/project it hit,
the extra cost it caused as the writers billed it, from the ledger). `waste.json`: each resource
that is waste on the last day of the window, its monthly cost at list price and what fixing it is
worth a month, with the formula used. `summary.json` is written by generate.py.

Waste types:
- idle_instance: a machine whose CPU stays at 0-3 % (metrics); saving = its whole cost (stop it).
- oversized_instance: a machine whose CPU p95 stays under 18 %; saving = the price difference to
  the cheapest smaller size of the same family and region that keeps CPU p95 under 60 % and
  memory p95 under 80 %.
- unattached_volume: a disk attached to no machine; saving = its whole cost (snapshot and delete).
- nonprod_always_on: a staging/dev machine running 24x7; saving = the hours outside business
  hours (12 h on weekdays is 261 h of 730 h a month).
- uncommitted_steady_compute: a prod machine running 24x7 on demand for 30+ days without any
  commitment; saving = its cost times the discount of the provider's 1-year commitment bought here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from autostack.demo.estate import (
    ALWAYS_ON, IDLE, NO_COMMITMENT, NORMAL, ON_DEMAND, OVERSIZED, SPOT, Estate, Fleet,
)
from autostack.demo.ledger import Ledger

HOURS_PER_MONTH = 730.0
BUSINESS_HOURS_PER_MONTH = 12.0 * 261 / 12  # 12 h on each of ~261 weekdays a year, per month
STEADY_DAYS = 30
TARGET_P95 = 60.0  # % CPU a right-sized machine may reach at p95
TARGET_MEMORY_P95 = 80.0  # % memory a right-sized machine may reach at p95
OVERSIZED_P95 = 18.0  # the metrics' ceiling of an oversized machine's p95 (metrics.py)
SCOPE_TYPE = {"aws": "account", "azure": "subscription", "gcp": "project", "oci": "tenancy"}
ANOMALY_SERVICE = {"runaway-instances": "compute", "egress-spike": "data transfer", "query-spike": "BigQuery",
                   "scale-out": "virtual machines"}


def anomalies(estate: Estate, ledger: Ledger, providers: set[str]) -> list[dict]:
    out = []
    for index, a in enumerate(estate.anomalies):
        if a.provider not in providers:
            continue
        fleet = getattr(estate, a.provider)
        out.append({
            "id": a.id, "kind": a.kind, "provider": a.provider,
            "start_date": estate.window.date(a.first_day).isoformat(),
            "end_date": estate.window.date(a.last_day).isoformat(),
            "scope_type": SCOPE_TYPE[a.provider], "scope_value": fleet.accounts[a.account].id,
            "scope_name": fleet.accounts[a.account].name, "service": ANOMALY_SERVICE.get(a.kind, ""),
            "usage_factor": a.factor, "extra_cost": round(ledger.anomaly_cost.get(index, 0.0), 2),
            "extra_cost_how": "the cost of the anomaly's usage above normal, summed by the export writer as it billed it",
            "description": a.description,
        })
    return out


def disk_monthly_cost(provider: str, size_gb: float) -> tuple[float, str]:
    """A disk's monthly list price as its export writer bills it, and how."""
    if provider == "aws":
        from autostack.demo.aws_cur2 import EBS_GP3_GB_MONTH

        return size_gb * EBS_GP3_GB_MONTH, f"{size_gb:g} GB gp3 x {EBS_GP3_GB_MONTH:g} USD/GB-month"
    if provider == "azure":
        from autostack.demo.azure_exports import DISK_TIERS

        size, tier, price = next((t for t in DISK_TIERS if t[0] >= size_gb), DISK_TIERS[-1])
        return price, f"{size_gb:g} GB Premium SSD billed as tier {tier} ({size:g} GB) at {price:g} USD/month"
    if provider == "gcp":
        from autostack.demo.gcp_billing import PD_BALANCED_GB_MONTH

        return size_gb * PD_BALANCED_GB_MONTH, f"{size_gb:g} GB balanced PD x {PD_BALANCED_GB_MONTH:g} USD/GB-month"
    raise ValueError(f"no disk price for provider {provider!r}")


def _rate(fleet: Fleet, i: int) -> float:
    m, cat = fleet.machines, fleet.catalog
    inst = m.instance[i]
    if m.pricing[i] == SPOT and cat.spot[inst] > 0:
        return float(cat.spot[inst])
    return float(cat.on_demand[inst])


def _monthly_hours(fleet: Fleet, i: int) -> float:
    return HOURS_PER_MONTH if fleet.machines.schedule[i] == ALWAYS_ON else BUSINESS_HOURS_PER_MONTH


def _right_size(fleet: Fleet, i: int) -> int:
    """The smallest size of the machine's family and region whose p95 stays under TARGET_P95."""
    cat, m = fleet.catalog, fleet.machines
    inst = m.instance[i]
    needed = cat.vcpu[inst] * OVERSIZED_P95 / TARGET_P95
    memory_needed = cat.memory_gb[inst] * m.memory_p95[i] / TARGET_MEMORY_P95
    same = np.flatnonzero((cat.family == cat.family[inst]) & (cat.region == cat.region[inst])
                          & (cat.vcpu >= needed) & (cat.memory_gb >= memory_needed) & (cat.vcpu < cat.vcpu[inst]))
    if len(same) == 0:
        return -1
    return int(same[np.argmin(cat.on_demand[same])])


def waste(estate: Estate, providers: set[str]) -> list[dict]:
    """Waste still there on the last day of the window."""
    items: list[dict] = []
    last = estate.window.days - 1
    for fleet in estate.fleets():
        if fleet.provider not in providers:
            continue
        m, cat = fleet.machines, fleet.catalog
        commitment_discount = max((c.discount for c in fleet.commitments), default=0.0)

        def item(kind: str, account: int, resource_id: str, name: str, cost: float, saving: float, how: str,
                 **extra) -> None:
            items.append({"type": kind, "provider": fleet.provider, "account": fleet.accounts[account].id,
                          "resource_id": resource_id, "resource_name": name, "monthly_cost": round(cost, 2),
                          "monthly_savings": round(saving, 2), "how": how, **extra})

        live = (m.launch_day <= last) & (last < m.end_day) & (m.anomaly < 0)
        for i in np.flatnonzero(live):
            rate, hours = _rate(fleet, i), _monthly_hours(fleet, i)
            cost = rate * hours
            itype = str(cat.name[m.instance[i]])
            if m.profile[i] == IDLE:
                item("idle_instance", m.account[i], m.id[i], m.name[i], cost, cost,
                     f"{itype} at {rate:g} USD/h x {hours:g} h/month; stopping it saves all of it",
                     instance_type=itype)
            elif m.profile[i] == OVERSIZED:
                target = _right_size(fleet, i)
                if target < 0:
                    continue
                new_rate = float(cat.on_demand[target]) if m.pricing[i] == ON_DEMAND else float(cat.spot[target])
                if new_rate <= 0 or new_rate >= rate:
                    continue
                item("oversized_instance", m.account[i], m.id[i], m.name[i], cost, (rate - new_rate) * hours,
                     f"{itype} ({cat.vcpu[m.instance[i]]:g} vCPU, CPU p95 <= {OVERSIZED_P95:g} %) -> "
                     f"{cat.name[target]} ({cat.vcpu[target]:g} vCPU, {cat.memory_gb[target]:g} GB; memory p95 "
                     f"{m.memory_p95[i]:.0f} % of {cat.memory_gb[m.instance[i]]:g} GB): ({rate:g} - {new_rate:g}) USD/h x {hours:g} h/month",
                     instance_type=itype, recommended_type=str(cat.name[target]))
            elif m.profile[i] == NORMAL and m.schedule[i] == ALWAYS_ON and m.environment[i] > 0:
                off = HOURS_PER_MONTH - BUSINESS_HOURS_PER_MONTH
                item("nonprod_always_on", m.account[i], m.id[i], m.name[i], cost, rate * off,
                     f"{itype} at {rate:g} USD/h runs {HOURS_PER_MONTH:g} h/month; business hours only "
                     f"({BUSINESS_HOURS_PER_MONTH:g} h) saves {rate:g} x {off:g} h", instance_type=itype)
            elif (m.profile[i] == NORMAL and m.schedule[i] == ALWAYS_ON and m.environment[i] == 0
                  and m.pricing[i] == ON_DEMAND and m.commitment[i] == NO_COMMITMENT
                  and last - m.launch_day[i] >= STEADY_DAYS and commitment_discount > 0):
                item("uncommitted_steady_compute", m.account[i], m.id[i], m.name[i], cost, cost * commitment_discount,
                     f"{itype} on demand at {rate:g} USD/h x {HOURS_PER_MONTH:g} h/month, 24x7 for "
                     f"{last - m.launch_day[i] + 1} days; a 1-year commitment saves {commitment_discount:.0%}",
                     instance_type=itype)
        v = fleet.volumes
        loose = np.flatnonzero((v.machine < 0) & (v.launch_day <= last) & (last < v.end_day))
        for i in loose:
            cost, how = disk_monthly_cost(fleet.provider, float(v.size_gb[i]))
            items.append({"type": "unattached_volume", "provider": fleet.provider, "account": fleet.accounts[v.account[i]].id,
                          "resource_id": v.id[i], "resource_name": v.name[i], "monthly_cost": round(cost, 2),
                          "monthly_savings": round(cost, 2),
                          "how": f"{how}; attached to no machine: snapshot and delete it"})
    return items


def write(root: Path, estate: Estate, ledger: Ledger, providers: set[str]) -> tuple[int, int]:
    """Writes anomalies.json and waste.json under root; returns their item counts."""
    root.mkdir(parents=True, exist_ok=True)
    found_anomalies = anomalies(estate, ledger, providers)
    found_waste = waste(estate, providers)
    (root / "anomalies.json").write_text(json.dumps(found_anomalies, indent=2) + "\n")
    (root / "waste.json").write_text(json.dumps(found_waste, indent=2) + "\n")
    return len(found_anomalies), len(found_waste)
