"""Cost anomalies: a day's cost for a scope above its expected range, and what caused it.

Expected cost of day t: the median of the same weekday in the four weeks before (robust to one
odd week), times the day of month's factor when that day rose above this baseline in each of the
last three months (`month_position_factors`, re-estimated each month: Google's sustained use
discount starts again on the 1st, so a project costs more in the first days of a month and less
each week after; traffic is higher on the first days). Expected range: expected − `z` robust
standard deviations of the last 56 days' residuals below their median to expected + `z` of those
above it (`_spreads`: usage that is log-normal, as BigQuery's bytes scanned, rises further than it
falls), each with a floor of 2% of expected; when the residuals rise further than they fall, the
noise is taken as varying by a factor and the upper bound is at least expected × e^(`z` × the upper
spread of the log ratios actual / expected), a log-normal's longer upper tail. A day is an anomaly when its cost is above the range
AND its impact (actual − expected) is at least `min_impact` dollars AND at least `min_relative` of
expected.

Flagged days are left out of the residuals that set the range's width. Flagged days close
together (gaps up to `run_gap_days`) form one run; a run whose rise is still there `shift_days`
after it began is a new level (a launch, a planned migration, a credit that ran out): only its
days that also rose above the new level, after it had settled, are reported (a first day further
above the new level than the new level is above the old one is a spike on the launch's day, not the
launch starting high). The new level is read in hindsight from the same weekdays three to six
weeks on, but only while it lasted: from the first week whose rise fell below half the run's, the
old level is back (a machine run for a month and then deleted). Days flagged in the first two weeks after a new level began were
compared with weeks before it (the second pass compares later days with the weeks since it), so
they are judged against the new level too. A recent run, whose later days are not in the data
yet, is reported whole. Likewise a one-day rise that comes back on the same day of the next two
months is a new monthly charge, not an incident.

Days of month that carried a recurring charge in any of the last three months (a support fee on
the 1st, a reservation on the 3rd) are not judged: the charge's amount changes with purchases,
which are not usage incidents. The first five weeks of a series are its baseline.

An anomaly (reported days of one scope with gaps up to `run_gap_days`) is kept when its total
impact reaches `min_total_impact` dollars and `min_total_relative` of its total expected cost
(`_material`), as AWS Cost Anomaly Detection's total-impact alert thresholds: a day a little above
its range on a noisy usage, or one more small machine for a week, is not an incident to act on.
The defaults ($50, 40%) were chosen on the demo estate's development seeds (docs/accuracy.md).

Only increases are flagged: cost going down is not an incident to alert on (as in AWS Cost
Anomaly Detection). A rise that list cost does not share (`credits_explain`: a promotion credit
ended, a commitment lapsed) is a billing change, not a usage anomaly; the ML asset leaves it out,
comparing the credits of the resources billed on the anomaly's day only (`billing_change`: a spot
machine deleted before took its discount with it, which is no credit ending).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from models_ml.forecasting import _day_of_month, day_of_month_excess

ANOMALY_COLUMNS = ["scope_type", "scope_value", "cost_view", "anomaly_date", "actual_cost", "expected_cost",
                   "lower_bound", "upper_bound", "impact"]
ROOT_CAUSE_DIMENSIONS = ("service", "sub_account", "billing_account", "region", "resource", "usage_type", "tag")
NEW_LEVEL_WEEKS = 2  # same weekdays since a new level began that the second pass needs to compare a day with it


@dataclass(frozen=True)
class AnomalyConfig:
    min_impact: float = 5.0  # dollars a day
    min_relative: float = 0.2  # of expected
    z: float = 3.0
    warmup_days: int = 35
    residual_days: int = 56
    shift_days: int = 14
    run_gap_days: int = 2
    relative_floor: float = 0.02
    position_months: int = 3  # months of history the day-of-month factors are read from (0: none)
    min_total_impact: float = 50.0  # dollars over one anomaly's days (AWS: ANOMALY_TOTAL_IMPACT_ABSOLUTE)
    min_total_relative: float = 0.4  # its total impact / its total expected cost (ANOMALY_TOTAL_IMPACT_PERCENTAGE)

    @classmethod
    def from_settings(cls, settings) -> AnomalyConfig:
        """The thresholds people configure (`autostack.settings.Settings`: AUTOSTACK_ANOMALY_*)."""
        return cls(min_impact=settings.anomaly_min_impact, min_relative=settings.anomaly_min_relative,
                   min_total_impact=settings.anomaly_min_total_impact,
                   min_total_relative=settings.anomaly_min_total_relative)


def _median4(values: list[float]) -> float:
    ordered = sorted(values)
    k = len(ordered)
    return ordered[k // 2] if k % 2 else 0.5 * (ordered[k // 2 - 1] + ordered[k // 2])


def _runs(indexes: list[int], gap: int) -> list[list[int]]:
    runs: list[list[int]] = []
    for i in indexes:
        if runs and i - runs[-1][-1] <= gap + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def detect(values: np.ndarray, start: date, config: AnomalyConfig = AnomalyConfig()) -> list[dict]:
    """Anomalous days of one daily series starting on `start` (dicts with the ANOMALY_COLUMNS' values).

    Two passes: the second knows where the first found new levels (launches) and compares the days
    after one with the same weekdays since it, not with weeks that straddle it.
    """
    values = np.asarray(values, dtype=float)
    flagged = _scan(values, start, config, [])
    shifts = [run[0] for run in _runs(sorted(flagged), gap=config.run_gap_days)
              if _is_level_shift(values, run, flagged, config)]
    if shifts:
        flagged = _scan(values, start, config, shifts)
    found = []
    runs = _runs(sorted(flagged), gap=config.run_gap_days)
    i = 0
    while i < len(runs):
        run = runs[i]
        if _is_level_shift(values, run, flagged, config):
            # Until the scan has NEW_LEVEL_WEEKS same weekdays since the new level began, it compares
            # a day with weeks before it: days flagged then rose above the old level, not necessarily
            # above the new one, and are judged as the shift's own days are.
            days = list(run)
            while i + 1 < len(runs) and runs[i + 1][0] < run[0] + 7 * NEW_LEVEL_WEEKS:
                i += 1
                days.extend(runs[i])
            found.extend(_on_new_level(values, run, days, flagged, config))
        else:
            found.extend(flagged[t] for t in run if not _recurs_monthly(values, start, t, flagged[t]["impact"]))
        i += 1
    return _material(found, config)


def _material(found: list[dict], config: AnomalyConfig) -> list[dict]:
    """The anomalies (reported days with gaps up to `run_gap_days`) whose total impact reaches both
    `min_total_impact` dollars and `min_total_relative` of their total expected cost.

    As AWS Cost Anomaly Detection's alert thresholds, which judge an anomaly's total impact over its
    days, not a day's: a day a little above its range (a busy day of a log-normal usage, one more
    small machine for a week) is not an incident to act on, while an anomaly still going on reaches
    the thresholds as its days add up, and is reported from then on (all its days).
    """
    by_day = {row["anomaly_date"].toordinal(): row for row in found}
    out = []
    for days in _runs(sorted(by_day), gap=config.run_gap_days):
        run = [by_day[d] for d in days]
        impact = sum(r["impact"] for r in run)
        expected = sum(r["expected_cost"] for r in run)
        if impact >= config.min_total_impact and impact >= config.min_total_relative * max(abs(expected), 1e-9):
            out.extend(run)
    return out


def _scan(values: np.ndarray, start: date, config: AnomalyConfig, shifts: list[int]) -> dict[int, dict]:
    """Days above their expected range and the thresholds, by index; `shifts`: where new levels began."""
    n = len(values)
    doms = _day_of_month(start, np.arange(n))
    excess = np.zeros(32)
    position = np.ones(32)
    residuals: list[float] = []
    log_ratios: list[float] = []
    flagged: dict[int, dict] = {}
    for t in range(n):
        if doms[t] == 1 or t == config.warmup_days:
            # From the raw history: a fee on every 1st is expected, not an anomaly.
            excess = day_of_month_excess(values[:t], start, any_rise=True) if t >= 35 else np.zeros(32)
            position = month_position_factors(values[:t], doms[:t], config.position_months)
        if t < config.warmup_days:
            continue
        same_weekday = [values[t - 7 * k] for k in range(1, 5)]
        for since in sorted((c for c in shifts if c <= t), reverse=True):
            # The latest new level with two same weekdays since it (a launch may come in steps).
            after_shift = [values[t - 7 * k] for k in range(1, 5) if t - 7 * k >= since]
            if len(after_shift) >= NEW_LEVEL_WEEKS:
                same_weekday = after_shift
                break
        expected = _median4(same_weekday) * position[doms[t]]
        if excess[doms[t]] >= max(config.min_impact, config.min_relative * abs(expected)):
            continue
        sd_low, sd_up = _spreads(np.asarray(residuals[-config.residual_days:]))
        floor = max(config.relative_floor * abs(expected), 0.01)
        lower, upper = expected - config.z * max(sd_low, floor), expected + config.z * max(sd_up, floor)
        if sd_up > sd_low and expected > 0:
            # Residuals that rise further than they fall: usage that varies by a factor (log-normal,
            # as BigQuery's bytes scanned), whose busy days reach e^(z × spread of the log ratios).
            log_up = _spreads(np.asarray(log_ratios[-config.residual_days:]))[1]
            upper = max(upper, expected * float(np.exp(config.z * log_up)))
        actual = values[t]
        impact = actual - expected
        if (actual > upper and impact >= config.min_impact
                and impact >= config.min_relative * max(abs(expected), 1e-9)):
            flagged[t] = {"anomaly_date": start + timedelta(days=t), "actual_cost": float(actual),
                          "expected_cost": float(expected), "lower_bound": float(lower),
                          "upper_bound": float(upper), "impact": float(impact)}
        else:
            residuals.append(actual - expected)  # flagged days never widen the range
            log_ratios.append(float(np.log(max(actual, 0.01)) - np.log(max(expected, 0.01))))
    return flagged


def _spreads(residuals: np.ndarray) -> tuple[float, float]:
    """Robust standard deviations of the residuals below and above their median (0 with fewer than 7).

    Each side's is 1.4826 × the median distance from the median of that half of the residuals (the
    half whose values are at or below, at or above the median): for normal noise both equal the
    MAD's estimate, and days exactly on the median count as no spread. Costs whose usage is
    log-normal (BigQuery bytes scanned, traffic) have a long upper tail: their rises above the
    median are larger than their falls below it, and a range as wide upwards as downwards flags
    ordinary busy days.
    """
    if len(residuals) < 7:
        return 0.0, 0.0
    ordered = np.sort(residuals)
    centre = _sorted_median(ordered)
    half = (len(ordered) + 1) // 2
    below, above = centre - ordered[:half][::-1], ordered[-half:] - centre  # both ascending
    mad = 1.4826 * _sorted_median(np.sort(np.abs(ordered - centre)))
    return max(mad, 1.4826 * _sorted_median(below)), max(mad, 1.4826 * _sorted_median(above))


def _sorted_median(ordered: np.ndarray) -> float:
    """np.median of an ascending array, without sorting it again (called for every day of every series)."""
    n = len(ordered)
    return float(ordered[n // 2]) if n % 2 else float((ordered[n // 2 - 1] + ordered[n // 2]) / 2)


def month_position_factors(history: np.ndarray, doms: np.ndarray, months: int = 3) -> np.ndarray:
    """How much more than its same-weekday baseline each day of month costs (index 1..31; 1.0 = no more).

    For each past day s with four weeks before it, q(s) = its cost / the median of its weekday in
    the four weeks before (the baseline): what the baseline missed. A day of month's factor is the
    median of q over its last `months` occurrences, kept when there are at least two and every one
    rose out of the noise (by the robust spread of all the q's): a month-start rise is then
    expected (Google's sustained use discount starts again each month, so its projects cost more in
    the first days and less each week after; traffic is higher on the first days of a month), while a
    one-off spike in one month does not move the next month's baseline. Only rises are kept: a day
    that usually costs less than its baseline is not given a lower one (only increases are flagged,
    and lowering a baseline from a few months' noise turns ordinary days into alerts).
    """
    out = np.ones(32)
    n = len(history)
    if months <= 0:
        return out
    table: dict[int, list[float]] = {}
    for s in range(max(28, n - 31 * months - 3), n):
        base = _median4([history[s - 7 * k] for k in range(1, 5)])
        if base > 0:
            table.setdefault(int(doms[s]), []).append(history[s] / base)
    if not table:
        return out
    pooled = np.concatenate([np.asarray(r[-months:]) for r in table.values()])
    noise = 1.4826 * float(np.median(np.abs(pooled - np.median(pooled))))
    for d, ratios in table.items():
        recent = ratios[-months:]
        if len(recent) >= 2 and all(r > 1 + noise for r in recent):
            out[d] = float(np.median(recent))
    return out


def _recurs_monthly(values: np.ndarray, start: date, t: int, impact: float) -> bool:
    """A rise that comes back on the same day of the next two months is a new monthly charge.

    Judged in hindsight, once both later months are in the data.
    """
    day = start + timedelta(days=t)
    later_rises = []
    for months in (1, 2):
        index = day.year * 12 + day.month - 1 + months
        try:
            same_day = date(index // 12, index % 12 + 1, day.day)
        except ValueError:
            return False
        i = (same_day - start).days
        if i + 7 >= len(values):
            return False
        later_rises.append(values[i] - _median4([values[i - 7], values[i + 7]]))
    return all(rise >= 0.5 * impact for rise in later_rises)


def _on_new_level(values: np.ndarray, run: list[int], days: list[int], flagged: dict[int, dict],
                  config: AnomalyConfig) -> list[dict]:
    """Days of a level shift (`run`, and `days`: its own and those flagged in its first weeks) that rose
    above the new level too (a scale-out on the day after a launch).

    The new level of day t is the median of its weekday three to six weeks later, while the new level
    lasted (see `_level_end`): judged in hindsight, as the shift itself is. When it ended sooner (a
    machine run for a month, then deleted), the same weekdays after the run and before its end stand
    for it: the weeks after it ended are the old level again, not the new one.
    """
    end = _level_end(values, run, days[-1], flagged, config)

    def new_level(t: int) -> list[float]:
        later = [values[t + 7 * k] for k in range(3, 7) if t + 7 * k < end]
        if len(later) >= 2:
            return later
        return [values[t + 7 * k] for k in range(1, 7) if days[-1] < t + 7 * k < end]

    out = []
    for t in days:
        later = new_level(t)
        if not later:
            continue
        row = flagged[t]
        expected = _median4(later)
        half_width = row["upper_bound"] - row["expected_cost"]
        impact = values[t] - expected
        if (values[t] > expected + half_width and impact >= config.min_impact
                and impact >= config.min_relative * max(abs(expected), 1e-9)):
            out.append({**row, "expected_cost": float(expected), "lower_bound": float(expected - half_width),
                        "upper_bound": float(expected + half_width), "impact": float(impact)})
    # The run's own days only if the new level had settled when the rise came: a launch whose cost
    # starts high and then declines towards its new level is one change, not a change plus an
    # incident. A later run (flagged again after days back in range) is a rise of its own.
    # A launch starts at most about twice its settled rise (a sustained use discount takes off at
    # most 40%): a first day further above the new level than the new level is above the old one is
    # a spike on the launch's day (a query spike as a new project goes live), reported.
    first = run[0]
    later = new_level(first)
    settled_within = flagged[first]["upper_bound"] - flagged[first]["expected_cost"]  # the range's half-width
    if out and later:
        new, old = _median4(later), flagged[first]["expected_cost"]
        if settled_within < values[first] - new <= max(new - old, settled_within):
            out = [row for row in out if row["anomaly_date"] > flagged[run[-1]]["anomaly_date"]]
    return out


def _rise(values: np.ndarray, first: int, week_start: int) -> float | None:
    """Median rise, over the week from `week_start`, of a day over its weekday in the four weeks before `first`.

    None when fewer than three of the week's days are in the data.
    """
    rises = []
    for d in range(week_start, min(week_start + 7, len(values))):
        k0 = (d - first) // 7 + 1  # the same weekday in the weeks before the run began
        before = [values[d - 7 * k] for k in range(k0, k0 + 4) if d - 7 * k >= 0]
        if before:
            rises.append(values[d] - _median4(before))
    return float(np.median(rises)) if len(rises) >= 3 else None


def _run_impact(run: list[int], flagged: dict[int, dict]) -> float:
    return float(np.median([flagged[t]["impact"] for t in run]))


def _is_level_shift(values: np.ndarray, run: list[int], flagged: dict[int, dict], config: AnomalyConfig) -> bool:
    """A rise still there `shift_days` after it began is a new level (a launch), not an incident.

    Judged on the week starting `shift_days` after the run began (at least three of its days must
    be in the data): its median rise over the same weekdays before the run must be at least half the
    run's median impact. Until then the run is reported.
    """
    rise = _rise(values, run[0], run[0] + config.shift_days)
    return rise is not None and rise >= 0.5 * _run_impact(run, flagged)


def _level_end(values: np.ndarray, run: list[int], last: int, flagged: dict[int, dict], config: AnomalyConfig) -> int:
    """Index of the first day after a level shift's new level: the start of the first week, from
    `shift_days` on, whose rise fell below half the run's impact (the test `_is_level_shift` passed);
    the series' length if it is still there (or the data is too short to tell). Weeks more than six
    after `last` (the last day judged against the new level) are not looked at."""
    first, impact = run[0], _run_impact(run, flagged)
    week_start = first + config.shift_days + 7
    while week_start <= last + 42:
        rise = _rise(values, first, week_start)
        if rise is None:
            break
        if rise < 0.5 * impact:
            return week_start
        week_start += 7
    return len(values)


def detect_many(series: list[tuple[tuple[str, str, str], date, np.ndarray]],
                config: AnomalyConfig = AnomalyConfig()) -> pd.DataFrame:
    """detect() over [((scope_type, scope_value, cost_view), start, values)] into one DataFrame."""
    rows = []
    for key, start, values in series:
        for anomaly in detect(values, start, config):
            rows.append((*key, *(anomaly[c] for c in ANOMALY_COLUMNS[3:])))
    return pd.DataFrame(rows, columns=ANOMALY_COLUMNS)


def baseline_dates(anomaly_date: date, weeks: int = 4) -> list[date]:
    """The same weekday in the `weeks` weeks before: what a contributor's expected cost is read from."""
    return [anomaly_date - timedelta(days=7 * k) for k in range(1, weeks + 1)]


def credits_explain(cost: dict[date, float], list_cost: dict[date, float], anomaly_date: date, impact: float) -> bool:
    """Whether an anomaly is a change in credits or discounts rather than in usage.

    `cost` and `list_cost` are the scope's cost (the anomaly's cost view) and list cost by day, on
    the anomaly date and its `baseline_dates` (days without cost absent). The credits and discounts
    of a day are its cost minus its list cost; when they rose over their median on the baseline
    days by at least half the anomaly's impact, list cost did not share most of the rise: a
    promotion credit used up or ended, a sustained use discount starting again on the 1st, a
    commitment that lapsed. That is a billing change (the forecasts take the new level in), not a
    usage anomaly.
    """
    def credits(day: date) -> float:
        return cost.get(day, 0.0) - list_cost.get(day, 0.0)

    before = _median4([credits(d) for d in baseline_dates(anomaly_date)])
    return credits(anomaly_date) - before >= 0.5 * impact


def billing_change(rows: pd.DataFrame, cost_view: str, anomaly_date: date, impact: float) -> bool:
    """`credits_explain` on the resources billed on the anomaly date only.

    `rows`: the scope's cost rows on the anomaly date and its `baseline_dates`, with columns
    charge_date, resource ('(none)' for rows without one), `cost_view` and list. A resource whose
    discount was deep (a spot machine at a fifth of list price) and that went away before the
    anomaly took its discount with it: counted, that looks like credits that ended, and hid a
    scale-out on the same subscription. Compared on the same resources, credits rose only when
    the resources that are still billed lost a discount (a promotion, a commitment, a sustained
    use discount restarting).
    """
    present = set(rows.loc[rows["charge_date"] == anomaly_date, "resource"])
    same = rows[rows["resource"].isin(present)]
    by_day = same.groupby("charge_date")[[cost_view, "list"]].sum()
    return credits_explain(by_day[cost_view].to_dict(), by_day["list"].to_dict(), anomaly_date, impact)


def root_causes(detail: pd.DataFrame, anomaly_date: date, top: int = 10) -> list[dict]:
    """Contributors to one anomaly, ranked by how much they rose over their baseline.

    `detail` has the scope's cost on the anomaly date and its baseline dates, one row per
    (charge_date, dimension, value) with column `cost`; dimension is one of ROOT_CAUSE_DIMENSIONS
    (a tag's value is `key=value`). A contributor's expected cost is the median over the baseline
    dates (0 where it had none). Returns the top contributors with a positive delta:
    [{dimension, value, actual, expected, delta, share}], share = delta / the sum of positive
    deltas of that dimension.
    """
    if detail.empty:
        return []
    return ranked_contributors(contributor_days(detail), anomaly_date, top)


def contributor_days(detail: pd.DataFrame) -> pd.DataFrame:
    """`detail` (as root_causes takes it) as one row per (dimension, value), one column per day, 0 where none.

    It may hold more days than one anomaly's: a contributor with no cost on an anomaly's days has no
    rise on them, so ranked_contributors leaves it out. The anomalies of one scope share one table."""
    frame = detail.assign(charge_date=pd.to_datetime(detail["charge_date"]).dt.date)
    return frame.pivot_table(index=["dimension", "value"], columns="charge_date", values="cost", aggfunc="sum",
                             fill_value=0.0)


def ranked_contributors(days: pd.DataFrame, anomaly_date: date, top: int = 10) -> list[dict]:
    """root_causes from contributor_days' table."""
    base = baseline_dates(anomaly_date)
    actual = days[anomaly_date] if anomaly_date in days.columns else pd.Series(0.0, index=days.index)
    base_cols = [d for d in base if d in days.columns]
    base_frame = days.reindex(columns=base, fill_value=0.0)
    expected = base_frame.median(axis=1) if base_cols else pd.Series(0.0, index=days.index)
    delta = actual - expected
    out = pd.DataFrame({"actual": actual, "expected": expected, "delta": delta}).reset_index()
    out = out[out["delta"] > 0]
    positive_by_dimension = out.groupby("dimension")["delta"].transform("sum")
    out["share"] = out["delta"] / positive_by_dimension
    # Ranked on the delta as reported (4 decimals): contributors with the same delta, such as a scope's one
    # billing account and a tag every row carries, come in name order whatever order their costs were summed in.
    out = (out.assign(rank=out["delta"].round(4))
           .sort_values(["rank", "dimension", "value"], ascending=[False, True, True]).head(top))
    return [{"dimension": r.dimension, "value": str(r.value), "actual": round(float(r.actual), 4),
             "expected": round(float(r.expected), 4), "delta": round(float(r.delta), 4),
             "share": round(float(r.share), 4)} for r in out.itertuples()]
