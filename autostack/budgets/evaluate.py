"""Evaluating one budget: spend so far in its period, the forecast at period end, breached thresholds.

Pure: the caller reads the data (`autostack.budgets.data`) and passes it in.

Forecast at period end = spent so far + predicted cost of each remaining day of the period, where
the remaining days are those after the last day with published costs (`data_through`).
* **ml.forecasts** when the forecasting job wrote a forecast for exactly this scope and cost view
  (scope_type total|provider|billing_account|sub_account|service|tag:<key>) whose latest run covers
  every remaining day.
* **Fallback** otherwise (a combined scope, a region, no or too short a forecast): each remaining
  day is predicted as the median of the same weekday over the scope's last 28 days of costs (days
  without cost count as 0). Weekday medians follow weekly cycles (weekends, business-hours
  machines) and ignore one-off spikes such as monthly fees posted on the 1st, which are already
  in the spend so far. With fewer than 7 days of history, the mean of the days there are.
`forecast_method` says which was used and why.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from autostack.budgets.data import ForecastSeries
from autostack.budgets.model import BudgetSpec, Threshold, period_bounds

RUN_RATE_DAYS = 28
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Evaluation:
    budget: BudgetSpec
    today: date
    period_start: date
    period_end: date
    data_through: date | None
    spent: Decimal
    forecast: Decimal
    forecast_method: str
    pct_spent: Decimal
    pct_forecast: Decimal
    days_left: int  # days of the period after today
    breached: tuple[Threshold, ...]

    def percent_for(self, threshold: Threshold) -> Decimal:
        return self.pct_forecast if threshold.basis == "forecasted" else self.pct_spent


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)] if end >= start else []


def weekday_run_rate(daily: Mapping[date, Decimal], last_actual: date, first_day: date | None = None,
                     window_days: int = RUN_RATE_DAYS) -> dict[int, Decimal] | None:
    """Median cost per weekday (0 = Monday) over the window ending on `last_actual`; None without history."""
    start = last_actual - timedelta(days=window_days - 1)
    if first_day is not None:
        start = max(start, first_day)
    window = _days(start, last_actual)
    if not window:
        return None
    values = {day: Decimal(daily.get(day, 0)) for day in window}
    if len(window) < 7:
        mean = sum(values.values(), Decimal(0)) / len(window)
        return {weekday: mean for weekday in range(7)}
    return {weekday: Decimal(statistics.median([v for d, v in values.items() if d.weekday() == weekday]))
            for weekday in range(7)}


def evaluate_budget(budget: BudgetSpec, *, today: date, data_through: date | None, daily: Mapping[date, Decimal],
                    forecast: ForecastSeries | None = None, history_start: date | None = None) -> Evaluation:
    """Evaluate `budget` for the period containing `today`.

    `daily`: the scope's cost per day (at least the period so far and the 28 days before the last
    day with data); `history_start`: the first day the published data covers (shorter windows
    before it); `forecast`: the latest ml.forecasts run for exactly this scope and view, if any."""
    start, end = period_bounds(budget.period, today)
    last_actual = min(d for d in (data_through, today, end) if d is not None) if data_through else start - timedelta(days=1)
    spent = sum((Decimal(v) for d, v in daily.items() if start <= d <= last_actual), Decimal(0))
    remaining = _days(max(start, last_actual + timedelta(days=1)), end)

    predicted, method = None, None
    if forecast is not None:
        missing = [d for d in remaining if d not in forecast.daily]
        if not missing:
            predicted = sum((forecast.daily[d] for d in remaining), Decimal(0))
            method = (f"ml.forecasts (model {forecast.model or 'unknown'}, as of {forecast.as_of_date.isoformat()})")
        else:
            method = (f"fallback: ml.forecasts as of {forecast.as_of_date.isoformat()} does not cover "
                      f"{missing[0].isoformat()}..{missing[-1].isoformat()}; ")
    elif budget.scope.forecast_scope() is None:
        method = "fallback: no ml.forecasts scope matches this combined scope; "
    else:
        method = "fallback: no ml.forecasts for this scope and cost view; "
    if predicted is None:
        if not remaining:
            predicted, how = Decimal(0), "period complete"
        else:
            rates = weekday_run_rate(daily, last_actual, history_start) if data_through else None
            if rates is None:
                predicted, how = Decimal(0), "no cost history to project"
            else:
                predicted = sum((rates[d.weekday()] for d in remaining), Decimal(0))
                how = f"spent so far + median of the same weekday over the last {RUN_RATE_DAYS} days"
        method = (method or "") + how

    forecast_total = spent + predicted
    pct_spent = spent / budget.amount * HUNDRED
    pct_forecast = forecast_total / budget.amount * HUNDRED
    breached = tuple(t for t in budget.thresholds
                     if (pct_forecast if t.basis == "forecasted" else pct_spent) >= t.percent)
    return Evaluation(
        budget=budget, today=today, period_start=start, period_end=end, data_through=data_through,
        spent=spent, forecast=forecast_total, forecast_method=method, pct_spent=pct_spent,
        pct_forecast=pct_forecast, days_left=max((end - today).days, 0), breached=breached,
    )
