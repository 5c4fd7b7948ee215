"""Daily cost forecasts for one series: the candidate models and their prediction intervals.

A series is a numpy array of daily costs for consecutive days ending on the as-of date (missing
days are zero). Every model answers `predict(history, start, horizon)` with the next `horizon`
days and its one-step residuals over recent history (what the daily intervals come from).

Models (the name is what `ml.forecasts.model` says):
- `seasonal_naive`: each weekday repeats its value of the last week (baseline).
- `linear_trend`: least-squares line through the last 56 days (baseline).
- `seasonal_mean`: recent level + weekday profile of the last 8 weeks + recurring day-of-month
  charges (fees that land on the 1st), a robust simple model.
- `prophet`: Prophet with weekly seasonality, a month-start regressor and automatic
  changepoints (launches), fit on the last year; only where it can win (see `backtest.py`).
- `monthly_naive`: each day repeats the same day of last month (charges billed monthly).
- `recent_mean`: the mean of the last 28 days, for series too short or too sparse for the others
  (the model name says why, e.g. `recent_mean (short series: 12 days)`).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

SEASONAL_NAIVE = "seasonal_naive"
LINEAR_TREND = "linear_trend"
SEASONAL_MEAN = "seasonal_mean"
PROPHET = "prophet"
RECENT_MEAN = "recent_mean"
MONTHLY_NAIVE = "monthly_naive"

MIN_DAYS_SEASONAL = 28  # four weeks to see a weekday pattern
MIN_DAYS_PROPHET = 120  # Prophet's changepoints need a few months
MIN_NONZERO_SHARE = 0.5  # sparser than this: recent_mean
RESIDUAL_DAYS = 56
LEVEL_DAYS = 14
PROFILE_WEEKS = 8
TREND_DAYS = 56
PROPHET_TRAIN_DAYS = 365


@dataclass(frozen=True)
class Prediction:
    predicted: np.ndarray  # the next `horizon` days
    residuals: np.ndarray  # recent actual - one-step prediction, for the daily intervals


def _weekday(start: date, offsets: np.ndarray) -> np.ndarray:
    return (start.weekday() + offsets) % 7


def _day_of_month(start: date, offsets: np.ndarray) -> np.ndarray:
    base = np.datetime64(start, "D")
    days = base + offsets.astype("timedelta64[D]")
    months = days.astype("datetime64[M]")
    return (days - months).astype(int) + 1


def simple_reason(history: np.ndarray) -> str | None:
    """Why a series only gets `recent_mean` (too short or too sparse), or None."""
    if len(history) < MIN_DAYS_SEASONAL:
        return f"short series: {len(history)} days"
    recent = history[-RESIDUAL_DAYS:]
    share = float(np.mean(recent != 0))
    if share < MIN_NONZERO_SHARE:
        return f"sparse series: {share:.0%} of recent days have cost"
    return None


# --------------------------------------------------------------------------- point forecasts
def _seasonal_naive(history: np.ndarray, start: date, horizon: int) -> np.ndarray:
    last_week = history[-7:]
    if len(last_week) < 7:
        last_week = np.resize(history, 7) if len(history) else np.zeros(7)
    return np.array([last_week[h % 7] for h in range(horizon)], dtype=float)


def _linear_trend(history: np.ndarray, start: date, horizon: int) -> np.ndarray:
    y = history[-TREND_DAYS:]
    if len(y) < 2:
        return np.full(horizon, float(y[-1]) if len(y) else 0.0)
    x = np.arange(len(y), dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    return intercept + slope * (len(y) + np.arange(horizon))


def _recent_mean(history: np.ndarray, start: date, horizon: int) -> np.ndarray:
    y = history[-28:]
    return np.full(horizon, float(np.mean(y)) if len(y) else 0.0)


def _nanmedian_columns(a: np.ndarray) -> np.ndarray:
    """Median of each column ignoring NaN (NaN where a column has none); fast for a few rows."""
    ordered = np.sort(a, axis=0)  # NaN sort last
    valid = np.sum(~np.isnan(a), axis=0)
    cols = np.arange(a.shape[1])
    lo = ordered[np.maximum((valid - 1) // 2, 0), cols]
    hi = ordered[np.maximum(valid // 2, 0), cols]
    hi = np.where(valid % 2 == 1, lo, hi)
    return np.where(valid > 0, 0.5 * (lo + hi), np.nan)


def day_of_month_excess(history: np.ndarray, start: date, months: int = 3, *, any_rise: bool = False) -> np.ndarray:
    """Recurring monthly charges: excess per day of month (index 1..31) over its week-neighbours.

    For each day of month, the excess of its last `months` occurrences over the median of the
    same weekday one and two weeks before and after; kept only when all occurrences agree in sign and the median
    stands out from the day-to-day noise (fees landing on the 1st, or on the 3rd for a monthly
    reservation charge). Others are zero. With `any_rise`, a day counts when two of its recent
    occurrences (or its only one) rose out of the noise, whatever their size; its highest excess
    is returned.
    """
    out = np.zeros(32)
    n = len(history)
    if n < 35:
        return out
    # Only the last `months` occurrences of each day matter: look at the last months + 2 weeks.
    first = max(7, n - 31 * months - 14)
    offsets = np.arange(first, n)
    dom = _day_of_month(start, offsets)
    neighbours = np.full((4, len(offsets)), np.nan)  # the same weekday one and two weeks before and after
    for row, shift in enumerate((-14, -7, 7, 14)):
        source = offsets + shift
        ok = (source >= 0) & (source < n)
        neighbours[row, ok] = history[source[ok]]
    excess_all = history[offsets] - _nanmedian_columns(neighbours)
    table = np.full((32, months), np.nan)
    for d in range(1, 32):
        idx = np.flatnonzero(dom == d)[-months:]
        table[d, :len(idx)] = excess_all[idx]
    finite = np.isfinite(table)
    if not finite.any():
        return out
    pooled = table[finite]
    noise = 1.4826 * float(np.median(np.abs(pooled - np.median(pooled))))
    counts = finite.sum(axis=1)
    same_sign = (np.where(finite, table > 0, True).all(axis=1)) | (np.where(finite, table < 0, True).all(axis=1))
    med = np.nan_to_num(_nanmedian_columns(table.T))
    if any_rise:
        # Days of month on which any recent occurrence carried a charge standing out of the noise.
        highest = np.where(finite, table, -np.inf).max(axis=1)
        rises = (np.where(finite, table, 0.0) > 3 * noise).sum(axis=1)
        keep = (rises >= 2) | ((counts == 1) & (rises == 1))
        out[keep] = highest[keep]
        return out
    keep = (counts >= 2) & same_sign & (np.abs(med) > 3 * noise)
    out[keep] = med[keep]
    return out


def _seasonal_mean(history: np.ndarray, start: date, horizon: int, excess: np.ndarray | None = None) -> np.ndarray:
    n = len(history)
    offsets = np.arange(n)
    if excess is None:
        excess = day_of_month_excess(history, start)
    clean = history - excess[_day_of_month(start, offsets)]
    weeks = min(PROFILE_WEEKS, n // 7)
    window = clean[n - 7 * weeks:].reshape(weeks, 7)
    # Medians per weekday and a clipped mean level: one odd day (a spike, a fee that moved) must not
    # bend the profile or the level.
    medians = np.median(window, axis=0)  # column j is the weekday of the window's first day + j
    by_weekday = np.roll(medians, _weekday(start, np.array([n - 7 * weeks]))[0])
    profile = by_weekday - by_weekday.mean()
    recent = clean[-LEVEL_DAYS:]
    deseasoned = recent - profile[_weekday(start, offsets[-len(recent):])]
    centre = float(np.median(deseasoned))
    spread = 1.4826 * float(np.median(np.abs(deseasoned - centre)))
    level = float(np.clip(deseasoned, centre - 4 * spread, centre + 4 * spread).mean())
    future = n + np.arange(horizon)
    return level + profile[_weekday(start, future)] + excess[_day_of_month(start, future)]


def _monthly_naive(history: np.ndarray, start: date, horizon: int) -> np.ndarray:
    """Each day repeats the same day of the previous month (the last day for a shorter month)."""
    n = len(history)
    values = list(history)
    base = np.datetime64(start, "D")
    for t in range(n, n + horizon):
        day = (base + np.timedelta64(t, "D")).astype(object)
        prev_month = (day.replace(day=1) - timedelta(days=1))
        source = prev_month.replace(day=min(day.day, prev_month.day))
        i = (source - start).days
        values.append(values[i] if 0 <= i < len(values) else (float(np.mean(history[-28:])) if n else 0.0))
    return np.asarray(values[n:], dtype=float)


_SIMPLE = {MONTHLY_NAIVE: _monthly_naive, SEASONAL_NAIVE: _seasonal_naive, LINEAR_TREND: _linear_trend, SEASONAL_MEAN: _seasonal_mean,
           RECENT_MEAN: _recent_mean}


def _one_step_residuals(fn, history: np.ndarray, start: date, days: int) -> np.ndarray:
    n = len(history)
    first = max(7, n - days)
    if fn is _seasonal_mean:
        # The recurring day-of-month charges change slowly: estimate them once for the window.
        excess = day_of_month_excess(history[:first], start)
        return np.asarray([history[t] - _seasonal_mean(history[:t], start, 1, excess)[0] for t in range(first, n)])
    out = [history[t] - fn(history[:t], start, 1)[0] for t in range(first, n)]
    return np.asarray(out, dtype=float)


# --------------------------------------------------------------------------- Prophet
def _quiet_prophet() -> None:
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logging.getLogger(name).setLevel(logging.ERROR)
        logging.getLogger(name).propagate = False


class ProphetFit:
    """One Prophet fit, reusable for any horizon from its training end (fits are the cost)."""

    def __init__(self, history: np.ndarray, start: date):
        import pandas as pd
        from prophet import Prophet

        _quiet_prophet()
        y = history[-PROPHET_TRAIN_DAYS:]
        self.train_start = start + timedelta(days=len(history) - len(y))
        self.n = len(y)
        ds = pd.date_range(self.train_start, periods=self.n, freq="D")
        frame = pd.DataFrame({"ds": ds, "y": y, "month_start": (ds.day == 1).astype(float)})
        model = Prophet(weekly_seasonality=True, yearly_seasonality=False, daily_seasonality=False,
                        uncertainty_samples=0, changepoint_range=0.9)
        model.add_regressor("month_start", mode="additive")
        model.fit(frame, algorithm="LBFGS")
        self.model = model
        fitted = model.predict(frame[["ds", "month_start"]])["yhat"].to_numpy()
        self.residuals = (y - fitted)[-RESIDUAL_DAYS:]

    def predict(self, skip: int, horizon: int) -> np.ndarray:
        """`horizon` days starting `skip` days after the training end."""
        import pandas as pd

        ds = pd.date_range(self.train_start + timedelta(days=self.n + skip), periods=horizon, freq="D")
        frame = pd.DataFrame({"ds": ds, "month_start": (ds.day == 1).astype(float)})
        return self.model.predict(frame)["yhat"].to_numpy()


# --------------------------------------------------------------------------- interface
def predict(model: str, history: np.ndarray, start: date, horizon: int, *, residuals: bool = True) -> Prediction:
    """Forecast `horizon` days after the history (which starts on `start`) with `model`."""
    history = np.asarray(history, dtype=float)
    if model == PROPHET:
        fit = ProphetFit(history, start)
        return Prediction(fit.predict(0, horizon), fit.residuals)
    fn = _SIMPLE[model]
    pred = fn(history, start, horizon)
    res = _one_step_residuals(fn, history, start, RESIDUAL_DAYS) if residuals else np.zeros(0)
    return Prediction(np.asarray(pred, dtype=float), res)


def point_forecast(model: str, history: np.ndarray, start: date, horizon: int) -> np.ndarray:
    return predict(model, history, start, horizon, residuals=False).predicted


INTERVAL_QUANTILES = (0.025, 0.10, 0.90, 0.975)


def daily_intervals(predicted: np.ndarray, residuals: np.ndarray) -> dict[str, np.ndarray]:
    """80% and 95% intervals from the recent one-step residuals, widening with the horizon.

    The bounds are ordered lower_95 <= lower_80 <= predicted <= upper_80 <= upper_95.
    """
    if len(residuals) < 7:
        spread = np.abs(predicted) * 0.25
        q = np.array([-2 * spread.mean(), -spread.mean(), spread.mean(), 2 * spread.mean()]) if len(predicted) else np.zeros(4)
    else:
        q = np.quantile(residuals, INTERVAL_QUANTILES)
    q = np.array([min(q[0], q[1], 0.0), min(q[1], 0.0), max(q[2], 0.0), max(q[3], q[2], 0.0)])
    widen = np.sqrt(1.0 + np.arange(len(predicted)) / 28.0)
    return {
        "lower_95": predicted + q[0] * widen,
        "lower_80": predicted + q[1] * widen,
        "upper_80": predicted + q[2] * widen,
        "upper_95": predicted + q[3] * widen,
    }
