"""From a long table of daily cost per scope to one dense series per (scope, cost view).

Input columns: charge_date, scope_type, scope_value, billed_cost, effective_cost (the
`marts.daily_scope_costs` shape). Tag scopes are kept only for the configured tag keys. Each series
runs from the scope's first day with cost to the as-of date, missing days as zero.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

COST_VIEWS = {"billed": "billed_cost", "effective": "effective_cost"}
REQUIRED = ["charge_date", "scope_type", "scope_value", "billed_cost", "effective_cost"]


def wanted_scope(scope_type: str, tag_keys: tuple[str, ...]) -> bool:
    if scope_type.startswith("tag:"):
        return scope_type[4:] in {k.lower() for k in tag_keys}
    return scope_type in ("total", "provider", "billing_account", "sub_account", "service")


def dense_series(frame: pd.DataFrame, as_of: date, tag_keys: tuple[str, ...],
                 cost_views: tuple[str, ...] = ("billed", "effective")) -> list[tuple[tuple[str, str, str], date, np.ndarray]]:
    """[((scope_type, scope_value, cost_view), start, values)] for every wanted scope with cost before as_of."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"daily scope costs lack column(s) {missing}; expected {REQUIRED}")
    df = frame[frame["scope_type"].map(lambda t: wanted_scope(str(t), tag_keys))].copy()
    df["charge_date"] = pd.to_datetime(df["charge_date"]).dt.date
    df = df[df["charge_date"] <= as_of]
    out = []
    for (scope_type, scope_value), group in df.groupby(["scope_type", "scope_value"], sort=True):
        for view in cost_views:
            column = COST_VIEWS[view]
            costs = group.groupby("charge_date")[column].sum().astype(float)
            costs = costs[costs != 0]
            if costs.empty:
                continue
            start = min(costs.index)
            values = np.zeros((as_of - start).days + 1)
            for day, cost in costs.items():
                values[(day - start).days] = cost
            out.append(((str(scope_type), str(scope_value), view), start, values))
    return out


def dates_of(start: date, values: np.ndarray) -> list[date]:
    return [start + timedelta(days=i) for i in range(len(values))]
