"""Daily utilization of every virtual machine in the estate, as the recommendation engine reads it.

Machines: the estate's virtual machines on AWS, Azure and Google Cloud, and the OCI tenancy's
instances (which its FOCUS writer defines). One Parquet file per month, `<metrics>/utilization-YYYY-MM.parquet`, one row per machine per day it
ran (hours_running > 0), written a day at a time (memory holds one day's machines). Columns
(METRICS_SCHEMA): date, provider, account_id, resource_id (exactly the id the billing export writes
for the machine), resource_name, instance_type, region, vcpu, memory_gb, hours_running,
cpu_p50_pct, cpu_p95_pct, cpu_max_pct, memory_p95_pct.

What the numbers follow: each machine's typical CPU and memory (estate.py) times daily noise; prod
CPU follows customer traffic (lower at weekends, higher at month start); idle machines stay at 0-3 %
CPU, oversized ones have a low p95; hours_running shows which machines run nights and weekends
(24 h every day) and which follow business hours (12 h on weekdays). The planted profile itself is
not written here: it is only in the ground truth.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from autostack.demo import arrowkit as ak
from autostack.demo.estate import IDLE, OVERSIZED, Estate, Fleet
from autostack.demo.ledger import Ledger
from autostack.demo.sinks import ParquetSink
from autostack.demo.usage import PROVIDER_CODES, day_rng, machine_hours, traffic_factor

S, F = pa.string(), pa.float64()
METRICS_SCHEMA = pa.schema([
    ("date", pa.date32()), ("provider", S), ("account_id", S), ("resource_id", S), ("resource_name", S),
    ("instance_type", S), ("region", S), ("vcpu", F), ("memory_gb", F), ("hours_running", F),
    ("cpu_p50_pct", F), ("cpu_p95_pct", F), ("cpu_max_pct", F), ("memory_p95_pct", F),
])

IDLE_CPU_CEILING = 3.0  # % CPU an idle machine never exceeds at p95


def _fleet_day(fleet: Fleet, rng: np.random.Generator, day: int, on: date, cache: dict) -> pa.Table | None:
    m, cat = fleet.machines, fleet.catalog
    hours = machine_hours(m, day, on)
    run = np.flatnonzero(hours > 0)
    if len(run) == 0:
        return None
    n = len(run)
    profile = m.profile[run]
    prod = m.environment[run] == 0
    # CPU: the machine's typical level, prod following traffic, with daily log-normal noise.
    level = m.cpu_mean[run] * np.where(prod, traffic_factor(on), 1.0) * rng.lognormal(0.0, 0.12, n)
    p50 = np.clip(level * rng.uniform(0.85, 0.97, n), 0.1, 92.0)
    p95 = np.clip(p50 * rng.uniform(1.25, 1.8, n), p50, 99.0)
    top = np.clip(p95 * rng.uniform(1.05, 1.45, n), p95, 100.0)
    idle = profile == IDLE
    p50 = np.where(idle, np.minimum(p50, IDLE_CPU_CEILING * 0.6), p50)
    p95 = np.where(idle, np.minimum(p95, IDLE_CPU_CEILING), p95)
    top = np.where(idle, np.minimum(top, IDLE_CPU_CEILING * 1.6), top)
    over = profile == OVERSIZED
    p95 = np.where(over, np.minimum(p95, 18.0), p95)
    top = np.where(over, np.minimum(top, 30.0), top)
    memory = np.clip(m.memory_p95[run] * rng.lognormal(0.0, 0.06, n), 1.0, 99.0)
    inst = m.instance[run]
    if "ids" not in cache:
        cache["ids"] = pa.array(m.id, type=S)
        cache["names"] = pa.array(m.name, type=S)
        cache["accounts"] = pa.array([a.id for a in fleet.accounts], type=S)
        cache["types"] = pa.array([str(x) for x in cat.name], type=S)
        cache["regions"] = pa.array([str(x) for x in cat.region], type=S)
    return ak.table(METRICS_SCHEMA, n, {
        "date": on, "provider": fleet.provider,
        "account_id": ak.take(cache["accounts"], m.account[run]),
        "resource_id": ak.take(cache["ids"], run), "resource_name": ak.take(cache["names"], run),
        "instance_type": ak.take(cache["types"], inst), "region": ak.take(cache["regions"], inst),
        "vcpu": cat.vcpu[inst], "memory_gb": cat.memory_gb[inst], "hours_running": hours[run],
        "cpu_p50_pct": np.round(p50, 2), "cpu_p95_pct": np.round(p95, 2), "cpu_max_pct": np.round(top, 2),
        "memory_p95_pct": np.round(memory, 2),
    })


class _OciInstances:
    """The OCI tenancy's compute instances as its FOCUS writer bills them (the writer owns that
    small fleet; estate.py has none): ids, compartments, sizes and lifecycles read from it."""

    SHAPE = "VM.Standard.E4.Flex"

    def __init__(self, estate: Estate) -> None:
        from autostack.demo.focus_oci import REGION, FocusOciWriter

        w = FocusOciWriter(estate, Path("."), Ledger())
        n = len(w.i_ids)
        rng = np.random.default_rng([estate.seed, PROVIDER_CODES["metrics"], PROVIDER_CODES["oci"]])
        self.provider = "oci"
        self.region = REGION[0]
        self.ids = pa.array(w.i_ids, type=S)
        self.names = pa.array(w.i_names, type=S)
        self.accounts = pa.array([w.compartments[c][0] for c in w.i_compartment], type=S)
        self.env, self.launch, self.end = np.asarray(w.i_env), np.asarray(w.i_launch), np.asarray(w.i_end)
        self.vcpu = np.asarray(w.i_ocpus, dtype=float) * 2.0  # an OCPU is two vCPUs
        self.memory_gb = np.asarray(w.i_memory, dtype=float)
        self.cpu_mean = rng.uniform(22, 55, n)
        self.memory_p95 = rng.uniform(45, 80, n)

    def day(self, rng: np.random.Generator, day: int, on: date) -> pa.Table | None:
        live = (self.launch <= day) & (day < self.end)
        hours = np.where(live, np.where(self.env == 0, 24.0, 12.0 if on.weekday() < 5 else 0.0), 0.0)
        run = np.flatnonzero(hours > 0)
        if len(run) == 0:
            return None
        n = len(run)
        level = self.cpu_mean[run] * np.where(self.env[run] == 0, traffic_factor(on), 1.0) * rng.lognormal(0.0, 0.12, n)
        p50 = np.clip(level * rng.uniform(0.85, 0.97, n), 0.1, 92.0)
        p95 = np.clip(p50 * rng.uniform(1.25, 1.8, n), p50, 99.0)
        top = np.clip(p95 * rng.uniform(1.05, 1.45, n), p95, 100.0)
        memory = np.clip(self.memory_p95[run] * rng.lognormal(0.0, 0.06, n), 1.0, 99.0)
        return ak.table(METRICS_SCHEMA, n, {
            "date": on, "provider": "oci", "account_id": ak.take(self.accounts, run),
            "resource_id": ak.take(self.ids, run), "resource_name": ak.take(self.names, run),
            "instance_type": self.SHAPE, "region": self.region, "vcpu": self.vcpu[run],
            "memory_gb": self.memory_gb[run], "hours_running": hours[run], "cpu_p50_pct": np.round(p50, 2),
            "cpu_p95_pct": np.round(p95, 2), "cpu_max_pct": np.round(top, 2), "memory_p95_pct": np.round(memory, 2),
        })


class MetricsWriter:
    """Writes the estate's daily utilization metrics, one Parquet file per month."""

    def __init__(self, estate: Estate, root: Path, ledger: Ledger,
                 providers: tuple[str, ...] = ("aws", "azure", "gcp", "oci")) -> None:
        unknown = set(providers) - {"aws", "azure", "gcp", "oci"}
        if unknown:
            raise ValueError(f"unknown providers for metrics: {sorted(unknown)}")
        self.estate, self.root, self.ledger = estate, Path(root), ledger
        self.fleets = [f for f in estate.fleets() if f.provider in providers]
        self.oci = _OciInstances(estate) if "oci" in providers else None

    def write(self) -> int:
        """Writes every month's file; returns the number of rows written."""
        est = self.estate
        caches: dict[str, dict] = {f.provider: {} for f in self.fleets}
        total = 0
        for month, first, stop in est.window.months():
            sink = ParquetSink(self.root / f"utilization-{month:%Y-%m}.parquet", METRICS_SCHEMA)
            for day in range(first, stop):
                on = est.window.date(day)
                rng = day_rng(est.seed, "metrics", day)
                tables = [t for f in self.fleets if (t := _fleet_day(f, rng, day, on, caches[f.provider])) is not None]
                if self.oci is not None and (t := self.oci.day(rng, day, on)) is not None:
                    tables.append(t)
                if tables:
                    sink.write(pa.concat_tables(tables))
            sink.close()
            total += sink.rows
            self.ledger.max_rows_in_memory = max(self.ledger.max_rows_in_memory, sink.max_rows_in_memory)
        return total
