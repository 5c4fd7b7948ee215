"""The as-of date of an analysis: the last complete day in the cost data, never the wall clock.

Exports arrive late and per provider: on a given morning AWS may have delivered yesterday while
Azure has not. A day D is **complete** when every provider that has cost rows on any of the seven
days before D also has cost rows on D. The as-of date is the latest complete day present in the
data; so a replayed history gives the same answer whenever it is run.

A provider that stops exporting for good blocks completeness for only seven days: after that it
is no longer "active in the prior 7 days" and the other providers' days count as complete again.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

ACTIVE_WINDOW_DAYS = 7


def last_complete_day(daily: pl.DataFrame) -> date:
    """The latest day on which every provider active in the previous 7 days has cost rows.

    `daily` has one row per (date, provider) with cost data, columns `date` (Date), `provider`
    and `cost` (the cost may be zero: a row means the provider delivered that day).
    """
    missing = {"date", "provider"} - set(daily.columns)
    if missing:
        raise ValueError(f"last_complete_day: input lacks column(s) {sorted(missing)}; expected date, provider, cost")
    if daily.height == 0:
        raise ValueError("last_complete_day: no cost data (0 rows); nothing to date the analysis by")
    present: dict[date, set[str]] = {}
    for day, provider in daily.select(pl.col("date").cast(pl.Date), pl.col("provider").cast(pl.Utf8)).unique().iter_rows():
        present.setdefault(day, set()).add(provider)
    for day in sorted(present, reverse=True):
        active: set[str] = set()
        for back in range(1, ACTIVE_WINDOW_DAYS + 1):
            active |= present.get(day - timedelta(days=back), set())
        if active <= present[day]:
            return day
    raise ValueError("last_complete_day: no day has data from every provider active in the week before it")
