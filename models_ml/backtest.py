"""Rolling-origin backtests of the month-end projection, and the choice of model per scope.

For each of the last `months` complete months of a series, the projection is made as if on day
7, 15 and 22 (data through that day known): actual month-to-date + the model's forecast of the
rest of the month. Its error against the month's actual total gives MAPE and WAPE per origin day
and pooled; its 80% interval gives the coverage.

The 80% interval of a projection is split conformal on the model's own earlier errors made from
the same origin day: the remainder errors of earlier months' day-7 (or 15, or 22) projections, each
normalised by the remainder's absolute forecast, give the quantile that is scaled back to the
current remainder. Errors are kept per origin day because they are not exchangeable across origin
days: a day-7 projection misses a month-start level change its day-22 projection has already seen,
so relative errors of a 24-day remainder run larger than those of an 8-day one (pooled, they gave
day-7 intervals that were too narrow and day-22 ones too wide). The quantile is the finite-sample
conformal one: the ⌈(k+1)·0.8⌉-th smallest of k absolute errors, which exists from
`MIN_CONFORMAL` = 4 errors on (interpolated quantiles fall short of 80% with so few errors). With
fewer, it falls back to week-over-week differences (quantiles × days left). The same rule makes the
interval of the live projection (from the backtest errors of the origin day nearest the as-of day),
so the coverage measured here is the coverage of the published intervals.

Prophet costs a fit per origin, so its backtest fits once per month on day 7 and reuses that fit
for days 15 and 22 (the month-to-date actuals still come from the data).
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from models_ml import forecasting as fc

ORIGIN_DAYS = (7, 15, 22)
COVERAGE = 0.80


def conformal_rank(k: int, coverage: float = COVERAGE) -> int:
    """Rank (1-based) of the absolute error that is the split-conformal quantile of k errors; > k: none."""
    return math.ceil(round((k + 1) * coverage, 9))


MIN_CONFORMAL = next(k for k in range(1, 1000) if conformal_rank(k) <= k)  # 4 at 80%


@dataclass
class BacktestPoint:
    model: str
    month: date
    origin_day: int
    actual_total: float
    projected_total: float
    lower_80: float
    upper_80: float

    @property
    def covered(self) -> bool:
        return self.lower_80 <= self.actual_total <= self.upper_80


@dataclass
class ModelScore:
    model: str
    points: list[BacktestPoint] = field(default_factory=list)

    def metrics(self, origin_day: int | None = None) -> dict:
        pts = [p for p in self.points if origin_day is None or p.origin_day == origin_day]
        if not pts:
            return {"points": 0, "mape": None, "wape": None, "coverage_80": None}
        actual = np.array([p.actual_total for p in pts])
        err = np.abs(np.array([p.projected_total for p in pts]) - actual)
        nonzero = np.abs(actual) > 1e-9
        mape = float(np.mean(err[nonzero] / np.abs(actual[nonzero]))) if nonzero.any() else None
        denom = float(np.sum(np.abs(actual)))
        wape = float(np.sum(err) / denom) if denom > 1e-9 else None
        coverage = float(np.mean([p.covered for p in pts]))
        return {"points": len(pts), "mape": mape, "wape": wape, "coverage_80": coverage}


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def backtest_months(start: date, as_of: date, months: int) -> list[date]:
    """First days of the last `months` complete months with ≥ 28 days of history before their day 7."""
    current = as_of.replace(day=1)
    if as_of == month_end(as_of):
        current = add_months(current, 1)
    out = []
    for k in range(1, months + 1):
        first = add_months(current, -k)
        if (first + timedelta(days=6) - start).days + 1 >= fc.MIN_DAYS_SEASONAL:
            out.append(first)
    return sorted(out)


def remainder_interval(predicted_remainder: np.ndarray, earlier_z: list[float], residuals: np.ndarray) -> tuple[float, float]:
    """80% interval of the sum of the remaining days' cost (see the module docstring)."""
    n = len(predicted_remainder)
    total = float(np.sum(predicted_remainder))
    if n == 0:
        return total, total
    scale = _error_scale(predicted_remainder)
    if len(earlier_z) >= MIN_CONFORMAL:
        # Split conformal on the absolute errors: the ⌈(k+1)·0.8⌉-th smallest covers a new error
        # with probability ≥ 80% when the errors are exchangeable.
        ordered = np.sort(np.abs(np.asarray(earlier_z, dtype=float)))
        width = float(ordered[conformal_rank(len(ordered)) - 1]) * scale
        return total - width, total + width
    if len(residuals) >= 7:
        # Until the model has errors of its own: daily noise that may persist over the remainder.
        width = float(np.quantile(np.abs(residuals), 0.80)) * n
    else:
        width = 0.25 * abs(total)
    return total - width, total + width


def _error_scale(predicted_remainder: np.ndarray) -> float:
    # Errors of a remainder grow about linearly with its length (a level shift persists), so they
    # are normalised by the remainder's absolute forecast: a relative error.
    return max(float(np.sum(np.abs(predicted_remainder))), 1e-9)


def normalised_error(actual_remainder: float, predicted_remainder: np.ndarray) -> float:
    return (actual_remainder - float(np.sum(predicted_remainder))) / _error_scale(predicted_remainder)


def backtest_model(model: str, values: np.ndarray, start: date, months: list[date]) -> tuple[ModelScore, dict[int, list[float]]]:
    """Backtest points of `model` on the given months, and its normalised remainder errors per origin day (in time order)."""
    score = ModelScore(model)
    errors: dict[int, list[float]] = {day: [] for day in ORIGIN_DAYS}
    for first in months:
        last = month_end(first)
        i_first = (first - start).days
        i_last = (last - start).days
        if i_last >= len(values):
            continue
        actual_total = float(np.sum(values[max(i_first, 0):i_last + 1]))
        prophet_fit = None
        month_errors: dict[int, float] = {}
        for day in ORIGIN_DAYS:
            i_origin = i_first + day - 1
            history = values[:i_origin + 1]
            horizon = i_last - i_origin
            earlier = errors[day]
            if model == fc.PROPHET:
                if prophet_fit is None:
                    prophet_fit = fc.ProphetFit(history, start)
                    fit_origin = i_origin
                pred = prophet_fit.predict(i_origin - fit_origin, horizon)
                residuals = prophet_fit.residuals
            else:
                pred = fc.point_forecast(model, history, start, horizon)
                # Until the model has its own earlier errors, the cheap week-over-week differences.
                residuals = (history[7:] - history[:-7])[-fc.RESIDUAL_DAYS:] if len(earlier) < MIN_CONFORMAL else np.zeros(0)
            mtd = float(np.sum(values[max(i_first, 0):i_origin + 1]))
            lo, hi = remainder_interval(pred, earlier, residuals)
            score.points.append(BacktestPoint(model, first, day, actual_total, mtd + float(np.sum(pred)), mtd + lo, mtd + hi))
            month_errors[day] = normalised_error(float(np.sum(values[i_origin + 1:i_last + 1])), pred)
        # A month's errors are known only once it has ended: later months may use them, it may not.
        for day, error in month_errors.items():
            errors[day].append(error)
    return score, errors


def select(scores: dict[str, ModelScore], order: list[str]) -> str:
    """The model with the lowest pooled WAPE; ties (and missing scores) go to the earlier, simpler model."""
    best, best_wape = None, None
    for model in order:
        if model not in scores:
            continue
        wape = scores[model].metrics()["wape"]
        if wape is None:
            continue
        if best_wape is None or wape < best_wape - 1e-12:
            best, best_wape = model, wape
    return best or order[0]
