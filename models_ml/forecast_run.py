"""Forecast, project and backtest many scope series: what the `ml.*` forecast tables hold.

`forecast_scope` does one series: backtest the candidates, pick the winner, forecast daily from
the day after the as-of date to the end of the third month after it, and project the month-end
(actual month-to-date + forecast of the rest, with the 80% interval of backtest.py).
`forecast_many` does a list of series in worker processes and returns three DataFrames.

Prophet is a candidate only where it can win: the series is long and dense enough, the caller
allowed it (e.g. the largest scopes), and the best simple model's backtest WAPE is above
`prophet_min_wape` (a series the simple models already project within that error leaves
Prophet nothing to earn).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from models_ml import backtest as bt
from models_ml import forecasting as fc

FORECAST_COLUMNS = ["scope_type", "scope_value", "cost_view", "as_of_date", "forecast_date", "predicted_cost",
                    "lower_80", "upper_80", "lower_95", "upper_95", "model", "backtest_mape", "backtest_wape"]
PROJECTION_COLUMNS = ["scope_type", "scope_value", "cost_view", "month", "as_of_date", "actual_to_date",
                      "projected_total", "lower_80", "upper_80", "model", "backtest_mape"]
BACKTEST_COLUMNS = ["scope_type", "scope_value", "cost_view", "as_of_date", "model", "origin", "backtest_months",
                    "points", "mape", "wape", "coverage_80", "selected"]
SIMPLE_CANDIDATES = [fc.SEASONAL_MEAN, fc.SEASONAL_NAIVE, fc.LINEAR_TREND, fc.MONTHLY_NAIVE]
SPARSE_CANDIDATES = [fc.RECENT_MEAN, fc.MONTHLY_NAIVE]


@dataclass(frozen=True)
class ForecastConfig:
    months_ahead: int = 3  # the rest of the as-of month and this many more
    backtest_months: int = 12
    prophet_min_wape: float = 0.01
    prophet: str = "auto"  # auto | never | always (always still needs a long, dense series)


@dataclass
class ScopeSeries:
    scope_type: str
    scope_value: str
    cost_view: str
    start: date  # the day of values[0]
    values: np.ndarray  # one value per day, through the as-of date
    allow_prophet: bool = True

    @property
    def as_of(self) -> date:
        return self.start + timedelta(days=len(self.values) - 1)


@dataclass
class ScopeResult:
    forecasts: list[tuple] = field(default_factory=list)
    projection: tuple | None = None
    backtests: list[tuple] = field(default_factory=list)


def _origin_for(day: int) -> int:
    return min(bt.ORIGIN_DAYS, key=lambda d: abs(d - day))


def forecast_scope(series: ScopeSeries, config: ForecastConfig = ForecastConfig()) -> ScopeResult:
    values = np.asarray(series.values, dtype=float)
    as_of = series.as_of
    key = (series.scope_type, series.scope_value, series.cost_view)
    reason = fc.simple_reason(values)
    months = bt.backtest_months(series.start, as_of, config.backtest_months)
    scores: dict[str, bt.ModelScore] = {}
    if reason:
        candidates = list(SPARSE_CANDIDATES)
    else:
        candidates = list(SIMPLE_CANDIDATES)
    for model in candidates:
        scores[model], _ = bt.backtest_model(model, values, series.start, months)
    best_simple = bt.select(scores, candidates)
    simple_wape = scores[best_simple].metrics()["wape"]
    if (not reason and len(values) >= fc.MIN_DAYS_PROPHET and config.prophet != "never"
            and (config.prophet == "always" or (series.allow_prophet and (simple_wape is None or simple_wape > config.prophet_min_wape)))):
        candidates.append(fc.PROPHET)
        scores[fc.PROPHET], _ = bt.backtest_model(fc.PROPHET, values, series.start, months)
    chosen = bt.select(scores, candidates)
    label = f"{chosen} ({reason})" if reason else chosen
    # The winner's own backtest errors are the luckiest: its intervals come from the selection's errors.
    scores[chosen], selection_errors = bt.calibrate_on_selection(scores[chosen], scores, candidates)

    result = ScopeResult()
    for model, score in scores.items():
        for origin in (*bt.ORIGIN_DAYS, None):
            m = score.metrics(origin)
            result.backtests.append((*key, as_of, model, f"day_{origin}" if origin else "all", len(months), m["points"],
                                     m["mape"], m["wape"], m["coverage_80"], model == chosen))

    horizon_end = bt.month_end(bt.add_months(as_of.replace(day=1), config.months_ahead))
    horizon = (horizon_end - as_of).days
    prediction = fc.predict(chosen, values, series.start, horizon)
    bounds = fc.daily_intervals(prediction.predicted, prediction.residuals)
    pooled = scores[chosen].metrics()
    nearest = scores[chosen].metrics(_origin_for(as_of.day))
    mape = nearest["mape"] if nearest["mape"] is not None else pooled["mape"]
    for h in range(horizon):
        result.forecasts.append((*key, as_of, as_of + timedelta(days=h + 1), float(prediction.predicted[h]),
                                 float(bounds["lower_80"][h]), float(bounds["upper_80"][h]),
                                 float(bounds["lower_95"][h]), float(bounds["upper_95"][h]), label, mape, pooled["wape"]))

    month_first = as_of.replace(day=1)
    i_first = max((month_first - series.start).days, 0)
    actual_to_date = float(np.sum(values[i_first:]))
    remaining = (bt.month_end(as_of) - as_of).days
    rest = prediction.predicted[:remaining]
    # The live projection is made on the as-of day: its interval comes from the selection's errors of
    # the backtest origin day nearest it (the remainder-length scaling covers the few days between).
    lo, hi = bt.remainder_interval(rest, selection_errors[_origin_for(as_of.day)], prediction.residuals)
    result.projection = (*key, month_first, as_of, actual_to_date, actual_to_date + float(np.sum(rest)),
                         actual_to_date + lo, actual_to_date + hi, label, mape)
    return result


def _run_chunk(args: tuple[list[ScopeSeries], ForecastConfig]) -> list[ScopeResult]:
    chunk, config = args
    return [forecast_scope(s, config) for s in chunk]


def forecast_many(series: list[ScopeSeries], config: ForecastConfig = ForecastConfig(),
                  workers: int | None = None) -> dict[str, pd.DataFrame]:
    """Every series' forecasts, month-end projection and backtest scores, as three DataFrames."""
    workers = workers or min(len(series), os.cpu_count() or 1) or 1
    if workers <= 1 or len(series) < 8:
        results = [forecast_scope(s, config) for s in series]
    else:
        # Prophet series are the slow ones: deal them round-robin so each worker gets its share.
        ordered = sorted(series, key=lambda s: (not s.allow_prophet, -len(s.values)))
        chunks = [ordered[i::workers * 4] for i in range(workers * 4)]
        # spawn, not fork: the caller may hold threads (DuckDB, Dagster) that a forked child would deadlock on.
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = [r for part in pool.map(_run_chunk, [(c, config) for c in chunks if c]) for r in part]
    return {
        "forecasts": pd.DataFrame([row for r in results for row in r.forecasts], columns=FORECAST_COLUMNS),
        "month_end_projections": pd.DataFrame([r.projection for r in results], columns=PROJECTION_COLUMNS),
        "forecast_backtests": pd.DataFrame([row for r in results for row in r.backtests], columns=BACKTEST_COLUMNS),
    }
