"""models_ml on small synthetic series with known answers (no warehouse, no Dagster)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest

from models_ml import anomalies as an
from models_ml import backtest as bt
from models_ml import forecasting as fc
from models_ml.asof import last_complete_day
from models_ml.forecast_run import ForecastConfig, ScopeSeries, forecast_scope
from models_ml.scopes import dense_series

START = date(2026, 1, 1)  # a Thursday
NO_PROPHET = ForecastConfig(prophet="never", backtest_months=6)


def weekly_series(days: int, weekday: float = 120.0, weekend: float = 80.0, noise: float = 0.0, seed: int = 1) -> np.ndarray:
    wd = (START.weekday() + np.arange(days)) % 7
    values = np.where(wd < 5, weekday, weekend).astype(float)
    if noise:
        values = values + np.random.default_rng(seed).normal(0, noise, days)
    return values


# --------------------------------------------------------------------------- as-of date
def _daily(rows):
    return pl.DataFrame(rows, schema=["date", "provider", "cost"], orient="row")


def test_as_of_is_the_last_day_every_active_provider_delivered():
    rows = [(START + timedelta(days=i), p, 1.0) for i in range(10) for p in ("AWS", "Azure")]
    rows.append((START + timedelta(days=10), "AWS", 1.0))  # Azure has not delivered day 10 yet
    assert last_complete_day(_daily(rows)) == START + timedelta(days=9)


def test_as_of_ignores_a_provider_silent_for_more_than_a_week():
    rows = [(START + timedelta(days=i), "AWS", 1.0) for i in range(20)]
    rows += [(START + timedelta(days=i), "GCP", 1.0) for i in range(5)]  # GCP stopped after day 4
    assert last_complete_day(_daily(rows)) == START + timedelta(days=19)


def test_as_of_rejects_empty_or_malformed_input():
    with pytest.raises(ValueError, match="no cost data"):
        last_complete_day(pl.DataFrame(schema={"date": pl.Date, "provider": pl.Utf8, "cost": pl.Float64}))
    with pytest.raises(ValueError, match="provider"):
        last_complete_day(pl.DataFrame({"date": [START], "cost": [1.0]}))


# --------------------------------------------------------------------------- forecasts
def test_flat_series_gets_a_flat_forecast_with_tight_intervals():
    series = ScopeSeries("total", "total", "billed", START, np.full(150, 100.0))
    result = forecast_scope(series, NO_PROPHET)
    predicted = np.array([row[5] for row in result.forecasts])
    assert np.allclose(predicted, 100.0, atol=1e-6)
    lows, highs = np.array([row[6] for row in result.forecasts]), np.array([row[7] for row in result.forecasts])
    assert np.allclose(lows, 100.0, atol=1e-6) and np.allclose(highs, 100.0, atol=1e-6)
    _, _, _, month, as_of, actual_to_date, projected, lo, hi, model, mape = result.projection
    days_in_month = bt.month_end(as_of).day
    assert month == as_of.replace(day=1)
    assert actual_to_date == pytest.approx(100.0 * as_of.day)
    assert projected == pytest.approx(100.0 * days_in_month)
    assert mape == pytest.approx(0.0, abs=1e-9)


def test_weekly_pattern_is_captured():
    values = weekly_series(140, noise=1.0)
    prediction = fc.predict(fc.SEASONAL_MEAN, values, START, 14)
    future_wd = (START.weekday() + len(values) + np.arange(14)) % 7
    assert np.all(np.abs(prediction.predicted[future_wd < 5] - 120) < 3)
    assert np.all(np.abs(prediction.predicted[future_wd >= 5] - 80) < 3)


def test_month_start_fee_is_forecast_on_the_first():
    values = weekly_series(150, noise=0.5)
    days = [START + timedelta(days=i) for i in range(150)]
    values += np.array([300.0 if d.day == 1 else 0.0 for d in days])
    prediction = fc.predict(fc.SEASONAL_MEAN, values, START, 40)
    future = [START + timedelta(days=150 + h) for h in range(40)]
    firsts = [h for h, d in enumerate(future) if d.day == 1]
    assert len(firsts) == 2 and all(prediction.predicted[h] > 350 for h in firsts)
    assert max(p for h, p in enumerate(prediction.predicted) if h not in firsts) < 130


def test_short_series_gets_the_simple_model_and_says_so():
    series = ScopeSeries("service", "New thing", "billed", date(2026, 5, 1), np.full(12, 5.0))
    result = forecast_scope(series, NO_PROPHET)
    model = result.projection[9]
    assert model.startswith("recent_mean (short series: 12 days)")
    assert all(row[10] == model for row in result.forecasts)


def test_sparse_monthly_charge_is_projected_by_the_monthly_model():
    days = [START + timedelta(days=i) for i in range(200)]
    values = np.array([50.0 if d.day == 1 else 0.0 for d in days])
    result = forecast_scope(ScopeSeries("service", "Support", "billed", START, values), NO_PROPHET)
    assert "sparse series" in result.projection[9]
    selected = [row for row in result.backtests if row[-1] and row[5] == "all"]
    assert selected[0][4] == fc.MONTHLY_NAIVE
    as_of = result.projection[4]
    next_first = bt.add_months(as_of.replace(day=1), 1)
    by_date = {row[4]: row[5] for row in result.forecasts}
    assert by_date[next_first] == pytest.approx(50.0)


def test_intervals_are_ordered_and_backtest_metrics_are_reported():
    values = weekly_series(200, noise=6.0) * np.linspace(1.0, 1.3, 200)
    result = forecast_scope(ScopeSeries("total", "total", "billed", START, values), NO_PROPHET)
    for row in result.forecasts:
        assert row[8] <= row[6] <= row[5] <= row[7] <= row[9]
    _, _, _, _, _, actual, projected, lo, hi, model, mape = result.projection
    assert lo <= projected <= hi and actual < projected
    models = {row[4] for row in result.backtests}
    assert {fc.SEASONAL_MEAN, fc.SEASONAL_NAIVE, fc.LINEAR_TREND} <= models
    pooled = [row for row in result.backtests if row[5] == "all"]
    assert sum(row[-1] for row in pooled) == 1  # exactly one winner
    winner = min(pooled, key=lambda row: row[9])
    assert winner[-1] and winner[4] == model
    assert 0 <= mape < 0.05


def test_backtest_never_uses_the_month_it_projects():
    # A series that doubles on the 10th of its last backtest month: the projection made on day 7
    # cannot know, so its error must be large.
    values = np.full(180, 100.0)
    as_of = START + timedelta(days=179)
    months = bt.backtest_months(START, as_of, 1)
    jump = (months[0] - START).days + 9
    values[jump:] = 200.0
    score, _ = bt.backtest_model(fc.SEASONAL_MEAN, values, START, months)
    day7 = next(p for p in score.points if p.origin_day == 7)
    assert day7.projected_total < 0.8 * day7.actual_total


def test_conformal_interval_is_the_error_of_rank_k_plus_1_times_0_8():
    # k = 4 earlier errors: rank 5 · 0.8 = 4, the largest |error|, times the remainder.
    lo, hi = bt.remainder_interval(np.full(10, 10.0), [0.01, -0.04, 0.02, -0.03], np.zeros(0))
    assert (lo, hi) == pytest.approx((100.0 - 4.0, 100.0 + 4.0))
    # k = 9: rank 8.
    lo, hi = bt.remainder_interval(np.full(10, 10.0), [i / 100 for i in range(1, 10)], np.zeros(0))
    assert hi - 100.0 == pytest.approx(8.0)
    # k = 6: rank 5.6, between the 5th and the 6th smallest.
    lo, hi = bt.remainder_interval(np.full(10, 10.0), [0.01, 0.02, 0.03, 0.04, 0.05, 0.10], np.zeros(0))
    assert hi - 100.0 == pytest.approx(100.0 * (0.05 + 0.6 * 0.05))
    # Too few errors for a conformal quantile: the week-over-week fallback.
    lo, hi = bt.remainder_interval(np.full(10, 10.0), [0.01, 0.02, 0.03], np.full(7, 1.0))
    assert hi - 100.0 == pytest.approx(10.0)


def _score(model: str, months: list[date], errors: list[float]) -> bt.ModelScore:
    """Day-15 points with the given normalised errors on a remainder forecast of 100 (projected total 200)."""
    return bt.ModelScore(model, [bt.BacktestPoint(model, m, 15, 200.0 + 100.0 * e, 200.0, 150.0, 250.0, e, 100.0, 50.0)
                                 for m, e in zip(months, errors)])


def test_the_selected_models_intervals_come_from_the_errors_of_the_selection_not_its_own():
    # Model a is lucky in its first months and is selected on all of them; a projection published in
    # month m came from the model best on the months before m, so those are the errors to calibrate on.
    months = [date(2026, m, 1) for m in range(1, 9)]
    a = _score("a", months, [0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.02, 0.01])
    b = _score("b", months, [0.05, 0.06, 0.07, 0.08, 0.09, 0.10, 0.11, 0.12])
    c = _score("c", months, [-0.3, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    scores = {"c": c, "b": b, "a": a}
    assert bt.select(scores, ["c", "b", "a"]) == "a"
    chosen = bt.selection_errors(scores, ["c", "b", "a"])
    assert date(2026, 1, 1) not in chosen  # nothing to select on yet
    assert chosen[date(2026, 2, 1)] == {15: 0.0}  # a was best in January
    calibrated, errors = bt.calibrate_on_selection(a, scores, ["c", "b", "a"])
    assert errors[15] == [0.0, 0.0, 0.0, 0.0, 0.01, 0.02, 0.01]
    assert errors[7] == [] and errors[22] == []
    # Until four errors of the selection exist, the fallback; then the conformal width on them.
    assert [p.upper_80 - p.projected_total for p in calibrated.points[:5]] == [50.0] * 5
    assert calibrated.points[5].upper_80 - 200.0 == pytest.approx(0.0)  # rank 4 of [0, 0, 0, 0]
    assert calibrated.points[7].upper_80 - 200.0 == pytest.approx(100.0 * 0.016)  # rank 5.6 of [0, 0, 0, 0, .01, .02]
    # A model chosen every month calibrates on its own errors: the same as its own backtest.
    alone, _ = bt.calibrate_on_selection(a, {"a": a}, ["a"])
    assert [p.upper_80 for p in alone.points[5:]] == [p.upper_80 for p in calibrated.points[5:]]


def test_day_7_projections_get_intervals_from_day_7_errors():
    # Each month has its own level (known only once the month has begun): a projection made on day 7
    # still averages in last month's level, those made on days 15 and 22 do not. Its relative
    # errors are far larger than theirs; pooled with them, its interval would cover far less than 80%.
    rng = np.random.default_rng(3)
    days = 760
    offsets = np.arange(days)
    month_index = np.array([(START + timedelta(days=int(i))).year * 12 + (START + timedelta(days=int(i))).month
                            for i in offsets])
    levels = 100.0 * (1.0 + 0.15 * rng.standard_normal(month_index.max() - month_index.min() + 1))
    values = levels[month_index - month_index.min()] * np.where((START.weekday() + offsets) % 7 < 5, 1.2, 0.8)
    values = values + rng.normal(0, 1.0, days)
    as_of = START + timedelta(days=days - 1)
    months = bt.backtest_months(START, as_of, 24)
    score, errors = bt.backtest_model(fc.SEASONAL_MEAN, values, START, months)
    assert sorted(errors) == [7, 15, 22] and all(len(e) == len(months) for e in errors.values())
    conformal = [p for p in score.points if months.index(p.month) >= bt.MIN_CONFORMAL]
    for day in (7, 15, 22):
        coverage = np.mean([p.covered for p in conformal if p.origin_day == day])
        assert coverage >= 0.7, (day, coverage)
    width = {day: np.mean([(p.upper_80 - p.lower_80) / p.actual_total for p in conformal if p.origin_day == day])
             for day in (7, 22)}
    assert width[7] > 3 * width[22]


@pytest.mark.slow
def test_prophet_competes_and_must_win_its_place():
    values = weekly_series(200, noise=3.0)
    result = forecast_scope(ScopeSeries("total", "total", "billed", START, values),
                            ForecastConfig(prophet="always", backtest_months=2))
    models = {row[4] for row in result.backtests}
    assert fc.PROPHET in models
    pooled = {row[4]: row for row in result.backtests if row[5] == "all"}
    chosen = next(m for m, row in pooled.items() if row[-1])
    assert pooled[chosen][9] == min(row[9] for row in pooled.values())


# --------------------------------------------------------------------------- anomalies
def day_rules(**thresholds) -> an.AnomalyConfig:
    """The day's rules alone: no threshold on an anomaly's total (tests of which days are flagged)."""
    return an.AnomalyConfig(**{"min_total_impact": 0.0, "min_total_relative": 0.0, **thresholds})


def test_a_planted_spike_is_flagged_and_nothing_else():
    values = weekly_series(120, noise=2.0)
    values[100] += 90.0
    found = an.detect(values, START, an.AnomalyConfig())  # the defaults people get
    assert [a["anomaly_date"] for a in found] == [START + timedelta(days=100)]
    assert found[0]["impact"] == pytest.approx(90.0, abs=8.0)
    assert found[0]["actual_cost"] > found[0]["upper_bound"]


def test_thresholds_suppress_small_spikes():
    values = weekly_series(120, noise=0.5)
    values[100] += 8.0  # well outside the range, but under $10 and 20%
    assert an.detect(values, START, day_rules(min_impact=10, min_relative=0.2)) == []
    assert len(an.detect(values, START, day_rules(min_impact=1, min_relative=0.05))) == 1


def test_an_anomaly_is_reported_when_its_total_impact_reaches_the_thresholds():
    config = an.AnomalyConfig(min_impact=5, min_relative=0.2, min_total_impact=50, min_total_relative=0.4)
    values = weekly_series(150, noise=0.5)
    values[100] += 40.0  # one day far outside the range and above the day's thresholds, $40 in all
    assert an.detect(values, START, day_rules(min_impact=5, min_relative=0.2))  # the day is flagged
    assert an.detect(values, START, config) == []  # but the anomaly is under $50
    # The same rise for three days: $120 in all, 40% of the expected cost of those days → reported, every day.
    values[101:103] += 40.0
    found = an.detect(values, START, config)
    assert [(a["anomaly_date"] - START).days for a in found] == [100, 101, 102]
    assert sum(a["impact"] for a in found) == pytest.approx(120.0, abs=5.0)


def test_a_recent_rise_under_the_relative_total_waits_for_more_days_or_a_larger_rise():
    config = an.AnomalyConfig(min_impact=5, min_relative=0.2, min_total_impact=50, min_total_relative=0.4)
    values = weekly_series(140, noise=0.5)
    values[132:] *= 1.3  # the last eight days cost 30% more: a launch or an incident, too early to tell
    assert an.detect(values, START, day_rules(min_impact=5, min_relative=0.2))  # each day above its range
    assert an.detect(values, START, config) == []  # $270 in all, but 30% of expected
    values = weekly_series(140, noise=0.5)
    values[132:] *= 1.5
    found = an.detect(values, START, config)
    assert [(a["anomaly_date"] - START).days for a in found] == list(range(132, 140))


def test_anomaly_thresholds_come_from_the_settings():
    from autostack.settings import get_settings

    settings = get_settings({"AUTOSTACK_HOME": "/tmp/autostack-unused", "AUTOSTACK_ANOMALY_MIN_IMPACT": "7",
                             "AUTOSTACK_ANOMALY_MIN_RELATIVE": "0.1", "AUTOSTACK_ANOMALY_MIN_TOTAL_IMPACT": "200",
                             "AUTOSTACK_ANOMALY_MIN_TOTAL_RELATIVE": "0.25"})
    config = an.AnomalyConfig.from_settings(settings)
    assert (config.min_impact, config.min_relative, config.min_total_impact, config.min_total_relative) == (7, 0.1, 200, 0.25)
    assert an.AnomalyConfig.from_settings(get_settings({"AUTOSTACK_HOME": "/tmp/autostack-unused"})) == an.AnomalyConfig()


def test_a_launch_is_a_new_level_not_an_anomaly_but_a_spike_on_top_of_it_is():
    values = weekly_series(160, noise=1.0)
    values[80:] += 60.0  # a launch that stays
    values[83:86] += 50.0  # a scale-out three days later, gone after three days
    found = an.detect(values, START, day_rules(min_impact=10, min_relative=0.2))
    assert [(a["anomaly_date"] - START).days for a in found] == [83, 84, 85]


N2_SUD = (1.0, 0.8667, 0.7333, 0.6)  # of the list price by the quarter of the month a machine has run (GCP N2)


def _machine(days: int, daily: float, launch: int = 0, end: int | None = None) -> np.ndarray:
    """A machine's daily cost with sustained use discounts: a quarter of the month cheaper at a time."""
    out = np.zeros(days)
    for i in range(launch, days if end is None else end):
        on = START + timedelta(days=i)
        since = max(launch, i - on.day + 1)
        month_days = ((on.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day
        out[i] = daily * N2_SUD[min(((i - since + 1) * 4 - 1) // month_days, 3)]
    return out


def month_long_launch(spike_day: int | None = None) -> tuple[np.ndarray, int]:
    """A dev project (kestrel-ml-dev of the seed-42 demo estate, June 2026): a machine launched at noon
    that costs less each week of the month and is deleted a month later, on top of one that always runs."""
    days = 240
    launch = (date(2026, 5, 2) - START).days
    wd = (START.weekday() + np.arange(days)) % 7
    values = 0.2 + np.where(wd < 5, 2.6, 1.8) + _machine(days, 6.29) + _machine(days, 4.66, launch, launch + 31)
    values[launch] -= 4.66 / 2
    if spike_day is not None:
        values[spike_day:spike_day + 2] += 12.0
    return values, launch


def test_a_month_long_launch_that_declines_and_is_deleted_is_not_an_anomaly_but_a_spike_is():
    config = day_rules(min_impact=5, min_relative=0.2)
    values, launch = month_long_launch()
    # The launch is a new level (still there two weeks on); after its machine was deleted the old
    # level is back, which is not the launch's level to compare its first days with.
    assert an.detect(values, START, config) == []
    for spike_day in (launch + 10, launch + 60):  # on top of the launch, and long after it
        values, _ = month_long_launch(spike_day)
        found = an.detect(values, START, config)
        assert [(a["anomaly_date"] - START).days for a in found] == [spike_day, spike_day + 1]
        assert all(a["impact"] > 10.0 and a["actual_cost"] > a["upper_bound"] for a in found)


def test_days_in_a_new_levels_first_weeks_are_judged_against_it():
    config = day_rules(min_impact=5, min_relative=0.2)
    values = weekly_series(200, weekday=30.0, weekend=24.0)
    values[100:] *= 1.15  # a credit ran out: every day costs 15% more from day 100
    values[100] += 2.5
    values[106] += 4.8  # above the old level by 9.3 (31%), above the new one by 4.8 (14%): under the thresholds
    values[160] += 12.0  # a spike once the new level is the baseline
    found = an.detect(values, START, config)
    assert [(a["anomaly_date"] - START).days for a in found] == [160]
    assert found[0]["expected_cost"] == pytest.approx(30.0 * 1.15)


def test_a_fee_on_every_first_is_not_an_anomaly():
    values = weekly_series(200, noise=1.0)
    values += np.array([300.0 if (START + timedelta(days=i)).day == 1 else 0.0 for i in range(200)])
    assert an.detect(values, START, day_rules(min_impact=10, min_relative=0.2)) == []


def gcp_project(days: int = 300, seed: int = 5) -> np.ndarray:
    """A GCP project: customer traffic (weekends 0.62x, the first two days of a month 1.18x, log-normal
    noise) and an always-on N2 machine whose sustained use discount grows each week of the month, so
    the project costs more from the 1st and less each week after."""
    rng = np.random.default_rng(seed)
    on = [START + timedelta(days=i) for i in range(days)]
    traffic = np.array([(0.62 if d.weekday() >= 5 else 1.0) * (1.18 if d.day <= 2 else 1.0) for d in on])
    return 24.0 * traffic * rng.lognormal(0.0, 0.1, days) + _machine(days, 20.0)


def test_a_month_start_rise_declining_each_week_is_not_an_anomaly_but_a_spike_on_it_is():
    config = day_rules(min_impact=5, min_relative=0.2)
    values = gcp_project()
    assert an.detect(values, START, config) == []
    # Without the day-of-month factors the same-weekday baseline (weeks of the month before, at a
    # deeper discount) misses the month-start rise.
    uncorrected = an.detect(values, START, day_rules(min_impact=5, min_relative=0.2, position_months=0))
    assert [str(a["anomaly_date"]) for a in uncorrected] == ["2026-07-02"]
    factors = an.month_position_factors(values[:181], fc._day_of_month(START, np.arange(181)))  # up to July 1
    assert factors[2] > 1.1 and factors[20] == 1.0 and factors.min() == 1.0
    for day in (date(2026, 8, 3), date(2026, 8, 6), date(2026, 8, 19)):  # in the first week and mid-month
        spiked = values.copy()
        spiked[(day - START).days] += 25.0
        found = an.detect(spiked, START, config)
        assert [a["anomaly_date"] for a in found] == [day]
        assert found[0]["actual_cost"] > found[0]["upper_bound"] and found[0]["impact"] > 15.0


def test_a_rise_list_cost_does_not_share_is_a_billing_change():
    day = date(2026, 1, 6)
    base = an.baseline_dates(day)
    list_cost = {d: 55.0 for d in [day, *base]}
    # A promotion credit of 15 a day ended on the anomaly day: billed +15, list cost flat.
    billed = {**{d: 40.0 for d in base}, day: 55.0}
    assert an.credits_explain(billed, list_cost, day, impact=15.0)
    # A usage spike: list and billed cost both rose (credits unchanged or deeper).
    spike_list = {**list_cost, day: 75.0}
    assert not an.credits_explain({**billed, day: 60.0}, spike_list, day, impact=20.0)
    # A spike while the credit kept running: billed rose with list cost.
    assert not an.credits_explain({**{d: 40.0 for d in base}, day: 60.0}, spike_list, day, impact=20.0)
    # Days without cost count as zero; a new scope's first cost is not a billing change.
    assert not an.credits_explain({day: 30.0}, {day: 30.0}, day, impact=30.0)


def test_root_causes_are_ranked_by_their_rise():
    day = date(2026, 3, 10)
    rows = []
    for d in [day, *an.baseline_dates(day)]:
        spike = d == day
        rows += [(d, "service", "EC2", 100.0 + (80.0 if spike else 0.0)),
                 (d, "service", "S3", 20.0 + (5.0 if spike else 0.0)),
                 (d, "region", "us-east-1", 120.0 + (85.0 if spike else 0.0)),
                 (d, "tag", "team=data", 10.0)]
    causes = an.root_causes(pd.DataFrame(rows, columns=["charge_date", "dimension", "value", "cost"]), day)
    assert [(c["dimension"], c["value"]) for c in causes] == [("region", "us-east-1"), ("service", "EC2"), ("service", "S3")]
    assert causes[1]["delta"] == pytest.approx(80.0) and causes[1]["share"] == pytest.approx(80 / 85, abs=1e-4)



def test_one_scope_table_serves_each_of_its_anomalies_as_its_own_days_would():
    """compute_anomalies sums a scope's contributors once over all its anomalies' days: on that
    table each anomaly's causes are exactly those of its own five days, other days' contributors
    (one that appears only on another anomaly's date, one that falls on this one) left out."""
    first, second = date(2026, 3, 10), date(2026, 3, 24)
    days = sorted({first, second, *an.baseline_dates(first), *an.baseline_dates(second)})
    rows = []
    for d in days:
        rows += [(d, "service", "EC2", 100.0 + (80.0 if d == first else 0.0) + (30.0 if d == second else 0.0)),
                 (d, "region", "us-east-1", 100.0 + (80.0 if d == first else 0.0)),
                 (d, "tag", "team=data", 10.0 + 0.5 * days.index(d))]
        if d == second:
            rows.append((d, "service", "Lambda", 45.0))
        if d in an.baseline_dates(first):
            rows.append((d, "resource", "i-gone", 7.0))
    detail = pd.DataFrame(rows, columns=["charge_date", "dimension", "value", "cost"])
    table = an.contributor_days(detail)
    assert list(table.columns) == days
    for day in (first, second):
        own = detail[detail["charge_date"].isin([day, *an.baseline_dates(day)])]
        assert an.ranked_contributors(table, day) == an.root_causes(own, day) != []
    assert ("service", "Lambda") in [(c["dimension"], c["value"]) for c in an.ranked_contributors(table, second)]
    assert ("service", "Lambda") not in [(c["dimension"], c["value"]) for c in an.ranked_contributors(table, first)]


# --------------------------------------------------------------------------- scopes
def test_dense_series_fill_gaps_and_keep_configured_tags_only():
    frame = pd.DataFrame([
        (date(2026, 1, 1), "total", "total", 5.0, 4.0),
        (date(2026, 1, 3), "total", "total", 7.0, 6.0),
        (date(2026, 1, 2), "tag:team", "data", 1.0, 1.0),
        (date(2026, 1, 2), "tag:owner", "bob", 1.0, 1.0),
    ], columns=["charge_date", "scope_type", "scope_value", "billed_cost", "effective_cost"])
    out = {key: (start, list(values)) for key, start, values in dense_series(frame, date(2026, 1, 4), ("Team",))}
    assert out[("total", "total", "billed")] == (date(2026, 1, 1), [5.0, 0.0, 7.0, 0.0])
    assert ("tag:team", "data", "effective") in out
    assert not any(key[0] == "tag:owner" for key in out)
    with pytest.raises(ValueError, match="billed_cost"):
        dense_series(frame.drop(columns=["billed_cost"]), date(2026, 1, 4), ())


# --------------------------------------------------------------------------- anomalies that generalise
def test_a_spike_on_the_day_a_new_level_begins_is_reported():
    """A BigQuery query spike on the day a project's new machine went live (seed 555's anomaly-04):
    the first day is far further above the new level than the new level is above the old one, so it
    is not a launch starting high and declining."""
    config = day_rules(min_impact=5, min_relative=0.2)
    values = weekly_series(200, weekday=26.0, weekend=22.0, noise=0.5)
    values[120:] += 15.0  # a launch that stays
    values[120] += 110.0  # and a 14x query spike on its first day
    found = an.detect(values, START, config)
    assert [(a["anomaly_date"] - START).days for a in found] == [120]
    assert found[0]["impact"] > 100.0
    # The launch alone is a new level, not an anomaly.
    values[120] -= 110.0
    assert an.detect(values, START, config) == []


def test_the_upper_spread_follows_a_log_normal_tail():
    rng = np.random.default_rng(3)
    down, up = an._spreads(rng.normal(0.0, 2.0, 56))
    assert up == pytest.approx(down, rel=0.35) and 1.2 < down < 3.0
    # Log-normal (sigma 0.4): the median rise is e^(0.4 x 0.674) - 1 = 31% of the median; the median
    # fall, 24%, is under the MAD, which is the floor of both sides.
    skewed = 10.0 * rng.lognormal(0.0, 0.4, 4000) - 10.0
    down, up = an._spreads(skewed)
    assert up / 1.4826 == pytest.approx(3.1, rel=0.1) and up > 1.15 * down
    assert down == pytest.approx(1.4826 * np.median(np.abs(skewed - np.median(skewed))))
    assert an._spreads(np.zeros(56)) == (0.0, 0.0) and an._spreads(np.ones(6)) == (0.0, 0.0)


def log_normal_usage(seed: int, days: int = 300) -> np.ndarray:
    """A project whose usage varies by a factor (BigQuery bytes scanned: weekends 0.62x, log-normal
    noise sigma 0.25) on top of steady storage and machines."""
    rng = np.random.default_rng(seed)
    wd = (START.weekday() + np.arange(days)) % 7
    return 14.0 + 10.0 * np.where(wd < 5, 1.0, 0.62) * rng.lognormal(0.0, 0.25, days)


@pytest.mark.parametrize("seed", [9, 16])
def test_busy_days_of_log_normal_usage_are_not_anomalies_but_a_spike_is(seed):
    config = day_rules(min_impact=5, min_relative=0.2)
    values = log_normal_usage(seed)
    assert an.detect(values, START, config) == []
    values[250] += 40.0
    assert [(a["anomaly_date"] - START).days for a in an.detect(values, START, config)] == [250]


def test_a_deleted_spot_machine_is_not_a_credit_ending():
    """Seed 555's non-prod subscription: a spot machine (billed a tenth of list) was deleted nine
    days before a scale-out; counted over the whole scope, its discount's going looked like credits
    ending and hid the scale-out."""
    day = date(2026, 4, 23)
    base = an.baseline_dates(day)
    rows = [(d, "disk", 4.5, 4.5) for d in [day, *base]]
    rows += [(d, "spot-vm", 2.3, 22.1) for d in base[1:]]  # deleted between the 2nd and 1st baseline week
    rows += [(day, "vm-3", 9.2, 9.2), (day, "vm-4", 9.2, 9.2)]  # the scale-out
    frame = pd.DataFrame(rows, columns=["charge_date", "resource", "billed", "list"])
    by_day = frame.groupby("charge_date")[["billed", "list"]].sum()
    impact = 22.9 - 6.8
    assert an.credits_explain(by_day["billed"].to_dict(), by_day["list"].to_dict(), day, impact)  # the old reading
    assert not an.billing_change(frame, "billed", day, impact)
    # A promotion credit that ended on a resource still billed is a billing change.
    promo = pd.DataFrame([(d, "(none)", 40.0 if d != day else 55.0, 55.0) for d in [day, *base]],
                         columns=["charge_date", "resource", "billed", "list"])
    assert an.billing_change(promo, "billed", day, impact=15.0)


def test_the_spreads_are_the_medians_they_are_defined_as():
    # _spreads indexes sorted arrays instead of calling np.median (it runs for every day of every
    # series); it must give exactly the definition's numbers, for odd and even lengths.
    rng = np.random.default_rng(3)
    for n in (7, 8, 55, 56):
        residuals = rng.lognormal(0.0, 0.6, n) - 1.0
        ordered = np.sort(residuals)
        centre = float(np.median(ordered))
        half = (n + 1) // 2
        mad = 1.4826 * float(np.median(np.abs(ordered - centre)))
        expected = (max(mad, 1.4826 * float(np.median(centre - ordered[:half]))),
                    max(mad, 1.4826 * float(np.median(ordered[-half:] - centre))))
        assert an._spreads(residuals) == expected
