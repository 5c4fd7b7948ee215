"""How much each resource is used on a given day: hours, gigabytes, requests, bytes.

Patterns every writer shares: machines run always, on business days only (non-prod schedules) or
the first days of each month (month-end batch); traffic dips at weekends and rises at month start;
storage grows; spot prices move daily. Each day draws from its own random stream (seed, provider,
day), so a day's numbers do not depend on how many other days were generated.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from autostack.demo.estate import ALWAYS_ON, BUSINESS_HOURS, MONTH_START_BATCH, Fleet, Machines

PROVIDER_CODES = {"aws": 1, "azure": 2, "gcp": 3, "oci": 4, "metrics": 9}


def day_rng(seed: int, provider: str, day: int) -> np.random.Generator:
    return np.random.default_rng([seed, PROVIDER_CODES[provider], day + 1000])


def traffic_factor(on: date) -> float:
    """Customer traffic relative to a weekday: weekends lower, the first days of a month higher."""
    factor = 0.62 if on.weekday() >= 5 else 1.0
    if on.day <= 2:
        factor *= 1.18
    return factor


def machine_hours(machines: Machines, day: int, on: date) -> np.ndarray:
    """Hours each machine ran on the day (0 when it did not exist or was stopped)."""
    alive = (machines.launch_day <= day) & (day < machines.end_day)
    weekday = on.weekday() < 5
    hours = np.select(
        [machines.schedule == ALWAYS_ON, machines.schedule == BUSINESS_HOURS, machines.schedule == MONTH_START_BATCH],
        [24.0, 12.0 if weekday else 0.0, 20.0 if on.day <= 3 else 0.0],
        0.0,
    )
    first_day = machines.launch_day == day
    hours = np.where(first_day, np.minimum(hours, 24.0 - machines.launch_hour), hours)
    return np.where(alive, hours, 0.0)


def alive(launch: np.ndarray, end: np.ndarray, day: int) -> np.ndarray:
    return (launch <= day) & (day < end)


def spot_factor(rng: np.random.Generator, n: int) -> np.ndarray:
    """Today's spot price relative to the catalog's spot price."""
    return rng.uniform(0.85, 1.15, n)


def bucket_gb(fleet: Fleet, day: int) -> np.ndarray:
    b = fleet.buckets
    return b.gb_at_start + b.gb_growth_per_day * day


def anomaly_factor(estate, provider: str, kind: str, account: int, day: int) -> tuple[float, int]:
    """The usage multiplier a planted usage anomaly applies (1.0 when none) and its index (-1)."""
    for index, anomaly in enumerate(estate.anomalies):
        if (anomaly.provider == provider and anomaly.kind == kind and anomaly.account == account
                and anomaly.first_day <= day <= anomaly.last_day):
            return anomaly.factor, index
    return 1.0, -1
