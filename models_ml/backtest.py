"""Rolling-origin backtests of the month-end projection, and the choice of model per scope.

For each of the last `months` complete months of a series, the projection is made as if on day
7, 15 and 22 (data through that day known): actual month-to-date + the model's forecast of the
rest of the month. Its error against the month's actual total gives MAPE and WAPE per origin day
and pooled; its 80% interval gives the coverage.

The 80% interval of a projection is split conformal on earlier errors made from the same origin
day: the remainder errors of earlier months' day-7 (or 15, or 22) projections, each normalised by
the remainder's absolute forecast, give a quantile that is scaled back to the current remainder.
- Per origin day: errors are not exchangeable across origin days. A day-7 projection has not yet
  seen the month's level that a day-22 one has, so relative errors of a 24-day remainder run larger
  than those of an 8-day one (pooled, they gave day-7 intervals too narrow, day-22 ones too wide).
- Of the selection, not of the winner: the model used is the one with the lowest backtest WAPE, so
  its own backtest errors are the luckiest of the candidates' and understate its future errors
  (the winner's curse: its intervals covered less than 80% where every candidate's own covered
  80%). The selected model's intervals are calibrated on the errors of the procedure instead: for
  each month, the error of the model `select` would have chosen from the earlier months alone
  (`selection_errors`; the first month, with no earlier one, has none). That is the error a
  published projection had at the time, which is what a new projection's error is exchangeable with.
- The quantile is the conformal one aimed at 80% on average: with k absolute errors in order, the
  (k+1)·0.8-th smallest, interpolated between neighbouring ranks (using the j-th covers a new error
  with probability j/(k+1)); it exists from `MIN_CONFORMAL` = 4 errors on.
With fewer errors it falls back to week-over-week differences (quantiles × days left). The same
rule makes the interval of the live projection (from the selection's errors of the origin day
nearest the as-of day), so the coverage measured here is the coverage of the published intervals.

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


MIN_CONFORMAL = math.ceil(COVERAGE / (1 - COVERAGE) - 1e-9)  # (k+1)·0.8 <= k: 4 errors at 80%


def conformal_quantile(abs_errors: np.ndarray, coverage: float = COVERAGE) -> float:
    """The (k+1)·coverage-th smallest of k absolute errors, interpolated between ranks (needs k >= MIN_CONFORMAL)."""
    ordered = np.sort(np.asarray(abs_errors, dtype=float))
    position = (len(ordered) + 1) * coverage  # 1-based rank
    j = min(int(math.floor(position + 1e-9)), len(ordered))
    fraction = position - j if j < len(ordered) else 0.0
    return float(ordered[j - 1] + fraction * (ordered[j] - ordered[j - 1])) if fraction > 1e-9 else float(ordered[j - 1])


@dataclass
class BacktestPoint:
    model: str
    month: date
    origin_day: int
    actual_total: float
    projected_total: float
    lower_80: float
    upper_80: float
    error: float = 0.0  # normalised remainder error (see normalised_error)
    scale: float = 0.0  # the remainder's absolute forecast that normalised it
    fallback_width: float = 0.0  # half-width of the interval without conformal errors

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
    total = float(np.sum(predicted_remainder))
    if len(predicted_remainder) == 0:
        return total, total
    width = interval_width(earlier_z, _error_scale(predicted_remainder), fallback_width(predicted_remainder, residuals))
    return total - width, total + width


def interval_width(earlier_z: list[float], scale: float, fallback: float) -> float:
    """Half-width of the 80% interval: conformal on the earlier normalised errors, else `fallback`."""
    if len(earlier_z) >= MIN_CONFORMAL:
        return conformal_quantile(np.abs(np.asarray(earlier_z, dtype=float))) * scale
    return fallback


def fallback_width(predicted_remainder: np.ndarray, residuals: np.ndarray) -> float:
    if len(residuals) >= 7:
        # Until there are errors to calibrate on: daily noise that may persist over the remainder.
        return float(np.quantile(np.abs(residuals), 0.80)) * len(predicted_remainder)
    return 0.25 * abs(float(np.sum(predicted_remainder)))


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
                # Until there are earlier errors, the cheap week-over-week differences.
                residuals = (history[7:] - history[:-7])[-fc.RESIDUAL_DAYS:]
            mtd = float(np.sum(values[max(i_first, 0):i_origin + 1]))
            projected = mtd + float(np.sum(pred))
            scale = _error_scale(pred)
            fallback = fallback_width(pred, residuals) if len(pred) else 0.0
            width = interval_width(earlier, scale, fallback) if len(pred) else 0.0
            error = normalised_error(float(np.sum(values[i_origin + 1:i_last + 1])), pred)
            score.points.append(BacktestPoint(model, first, day, actual_total, projected, projected - width,
                                              projected + width, error, scale, fallback))
            month_errors[day] = error
        # A month's errors are known only once it has ended: later months may use them, it may not.
        for day, error in month_errors.items():
            errors[day].append(error)
    return score, errors


def select(scores: dict[str, ModelScore], order: list[str]) -> str:
    """The model with the lowest pooled WAPE; ties (and missing scores) go to the earlier, simpler model."""
    return _best(scores, order) or order[0]


def _best(scores: dict[str, ModelScore], order: list[str], before: date | None = None) -> str | None:
    """The model with the lowest WAPE over its points (of months before `before`, if given); None without any."""
    best, best_wape = None, None
    for model in order:
        if model not in scores:
            continue
        if before is None:
            wape = scores[model].metrics()["wape"]
        else:
            wape = ModelScore(model, [p for p in scores[model].points if p.month < before]).metrics()["wape"]
        if wape is None:
            continue
        if best_wape is None or wape < best_wape - 1e-12:
            best, best_wape = model, wape
    return best


def selection_errors(scores: dict[str, ModelScore], order: list[str]) -> dict[date, dict[int, float]]:
    """Per backtest month, the normalised errors (by origin day) of the model `select` would have chosen from
    the earlier months alone: the errors of select-then-project. The first month has none (nothing to select on)."""
    months = sorted({p.month for score in scores.values() for p in score.points})
    out: dict[date, dict[int, float]] = {}
    for month in months[1:]:
        model = _best(scores, order, before=month)
        if model is not None:
            out[month] = {p.origin_day: p.error for p in scores[model].points if p.month == month}
    return out


def calibrate_on_selection(score: ModelScore, scores: dict[str, ModelScore], order: list[str]) -> tuple[ModelScore, dict[int, list[float]]]:
    """The selected model's points with their intervals calibrated on the selection's earlier errors (the
    module docstring says why), and those errors per origin day (in time order) for the live projection."""
    chosen = selection_errors(scores, order)
    errors: dict[int, list[float]] = {day: [] for day in ORIGIN_DAYS}
    points = []
    for month in sorted({p.month for p in score.points}):
        for p in (q for q in score.points if q.month == month):
            width = interval_width(errors[p.origin_day], p.scale, p.fallback_width)
            points.append(BacktestPoint(p.model, p.month, p.origin_day, p.actual_total, p.projected_total,
                                        p.projected_total - width, p.projected_total + width, p.error, p.scale,
                                        p.fallback_width))
        for day, error in chosen.get(month, {}).items():
            errors[day].append(error)
    return ModelScore(score.model, points), errors
