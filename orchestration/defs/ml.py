"""ML assets: forecasts, month-end projections, backtests and anomalies, recomputed after every load.

Thin: read the warehouse (marts.daily_costs, marts.daily_scope_costs, focus.costs), call the
pure functions of `models_ml`, write `ml.*`. The as-of date is the data's last complete day
(`models_ml.asof`), never the wall clock, so a replayed history gives the same tables.
"""


import json
import os
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    asset,
    asset_check,
    multi_asset,
)
from dagster_duckdb import DuckDBResource

from models_ml import anomalies as an
from models_ml.asof import last_complete_day
from models_ml.forecast_run import ForecastConfig, ScopeSeries, forecast_many
from models_ml.scopes import dense_series
from orchestration.defs import inputs_state
from orchestration.resources import AutoStackSettings

DAILY_SCOPE_COSTS = AssetKey(["marts", "daily_scope_costs"])
DAILY_COSTS = AssetKey(["marts", "daily_costs"])
FOCUS_COSTS = AssetKey(["focus", "costs"])
FORECASTS = AssetKey(["ml", "forecasts"])
PROJECTIONS = AssetKey(["ml", "month_end_projections"])
BACKTESTS = AssetKey(["ml", "forecast_backtests"])
ANOMALIES = AssetKey(["ml", "anomalies"])
ML_ASSET_KEYS = [FORECASTS, PROJECTIONS, BACKTESTS, ANOMALIES]

# Prophet is fit (and backtested) only for the largest series: the rest are simple models' ground.
PROPHET_MAX_SERIES = 12

MONEY = "DECIMAL(38,12)"
TABLE_TYPES = {
    "forecasts": {"as_of_date": "DATE", "forecast_date": "DATE", "predicted_cost": MONEY, "lower_80": MONEY,
                  "upper_80": MONEY, "lower_95": MONEY, "upper_95": MONEY, "backtest_mape": "DOUBLE",
                  "backtest_wape": "DOUBLE"},
    "month_end_projections": {"month": "DATE", "as_of_date": "DATE", "actual_to_date": MONEY,
                              "projected_total": MONEY, "lower_80": MONEY, "upper_80": MONEY,
                              "backtest_mape": "DOUBLE"},
    "forecast_backtests": {"as_of_date": "DATE", "backtest_months": "INTEGER", "points": "INTEGER", "mape": "DOUBLE",
                           "wape": "DOUBLE", "coverage_80": "DOUBLE", "selected": "BOOLEAN"},
    "anomalies": {"anomaly_date": "DATE", "actual_cost": MONEY, "expected_cost": MONEY, "lower_bound": MONEY,
                  "upper_bound": MONEY, "impact": MONEY, "status": "VARCHAR", "feedback": "VARCHAR",
                  "root_causes": "JSON"},
}


# --------------------------------------------------------------------------- reading
def read_as_of(con, as_of: date | None = None) -> date | None:
    """The data's last complete day (or `as_of` if given, which must not be after it); None without cost data."""
    daily = pl.from_pandas(con.execute(
        "SELECT charge_date AS date, provider_name AS provider, sum(billed_cost)::DOUBLE AS cost "
        "FROM marts.daily_costs GROUP BY ALL").df())
    if daily.height == 0:
        if as_of is not None:
            raise ValueError("there is no cost data: nothing to recompute")
        return None
    complete = last_complete_day(daily)
    if as_of is None:
        return complete
    if as_of > complete:
        raise ValueError(f"as-of date {as_of} is after the last complete day in the cost data ({complete})")
    return as_of


def read_scope_series(con, as_of: date, tag_keys: tuple[str, ...]):
    frame = con.execute(
        "SELECT charge_date, scope_type, scope_value, billed_cost::DOUBLE AS billed_cost, "
        "effective_cost::DOUBLE AS effective_cost FROM marts.daily_scope_costs WHERE charge_date <= ?",
        [as_of]).df()
    return dense_series(frame, as_of, tag_keys)


def _scope_series(raw, prophet_max: int) -> list[ScopeSeries]:
    """ScopeSeries with Prophet allowed for the `prophet_max` series with the most cost in the last 28 days."""
    ranked = sorted(range(len(raw)), key=lambda i: -float(np.sum(np.abs(raw[i][2][-28:]))))
    allowed = set(ranked[:prophet_max])
    return [ScopeSeries(*key, start, values, allow_prophet=i in allowed) for i, (key, start, values) in enumerate(raw)]


def write_table(con, name: str, frame: pd.DataFrame) -> None:
    """Replace ml.<name> with the frame, casting columns to their published types, in one transaction."""
    types = TABLE_TYPES[name]
    select = ", ".join(f'CAST("{c}" AS {types[c]}) AS "{c}"' if c in types else f'"{c}"' for c in frame.columns)
    con.register("ml_frame", frame)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute("CREATE SCHEMA IF NOT EXISTS ml")
        con.execute(f"CREATE OR REPLACE TABLE ml.{name} AS SELECT {select} FROM ml_frame")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("ml_frame")


# --------------------------------------------------------------------------- unchanged inputs
ML_CODE = sorted((inputs_state.ROOT / "models_ml").glob("*.py")) + [Path(__file__).resolve()]
# What forecasts and anomalies read: the scope marts, and focus.costs' columns behind root causes and billing checks.
ML_INPUTS = {"marts.daily_costs": None, "marts.daily_scope_costs": None,
             "focus.costs": "ChargePeriodStart, ProviderName, BillingAccountId, SubAccountId, ServiceName, RegionId, "
                            "ResourceId, x_UsageType, CAST(Tags AS VARCHAR), BilledCost, EffectiveCost, ListCost"}


# --------------------------------------------------------------------------- forecasts
def compute_forecasts(con, tag_keys: tuple[str, ...], as_of: date | None = None,
                      config: ForecastConfig = ForecastConfig(), workers: int | None = None,
                      prophet_max: int = PROPHET_MAX_SERIES, keep=None) -> dict[str, pd.DataFrame]:
    """Forecast tables for every scope (or those whose (type, value, view) key `keep` accepts)."""
    as_of = read_as_of(con, as_of)
    raw = [r for r in read_scope_series(con, as_of, tag_keys) if keep is None or keep(r[0])] if as_of else []
    return forecast_many(_scope_series(raw, prophet_max), config, workers=workers)


@multi_asset(
    name="ml_forecasts",
    specs=[
        AssetSpec(FORECASTS, group_name="ml", deps=[DAILY_SCOPE_COSTS, DAILY_COSTS], kinds={"duckdb", "python"},
                  description="Daily cost forecast per scope and cost view from the day after the as-of date to "
                              "the end of the third month after it, with 80% and 95% intervals and the model used."),
        AssetSpec(PROJECTIONS, group_name="ml", deps=[DAILY_SCOPE_COSTS, DAILY_COSTS], kinds={"duckdb"},
                  description="Month-end projection per scope: actual month-to-date + forecast of the rest, "
                              "80% interval, and the model's backtest MAPE."),
        AssetSpec(BACKTESTS, group_name="ml", deps=[DAILY_SCOPE_COSTS, DAILY_COSTS], kinds={"duckdb"},
                  description="Rolling-origin backtests of the month-end projection (made on day 7, 15, 22) per "
                              "scope and candidate model: MAPE, WAPE, 80% coverage; `selected` marks the winner."),
    ],
    pool="warehouse",
    description="Forecasts, month-end projections and backtests of every scope (models_ml).",
)
def ml_forecasts(context: AssetExecutionContext, autostack: AutoStackSettings, warehouse: DuckDBResource):
    settings = autostack.get()
    outputs = ("forecasts", "month_end_projections", "forecast_backtests")
    with warehouse.get_connection() as con:
        options = {"tag_keys": settings.forecast_tag_keys, "prophet_max": PROPHET_MAX_SERIES, "config": ForecastConfig()}
        kept, fingerprint = inputs_state.kept(con, "forecasts", options, ML_INPUTS, ML_CODE,
                                              tuple(f"ml.{name}" for name in outputs))
        if kept:
            context.log.info("cost data, code and options unchanged since the forecasts were computed: kept")
            tables = {name: con.execute(f"SELECT * FROM ml.{name}").df() for name in outputs}
        else:
            tables = compute_forecasts(con, settings.forecast_tag_keys, workers=min(os.cpu_count() or 1, 4),
                                       prophet_max=PROPHET_MAX_SERIES)
            for name, frame in tables.items():
                write_table(con, name, frame)
            inputs_state.record(con, "forecasts", fingerprint)
    projections = tables["month_end_projections"]
    as_of = str(projections["as_of_date"].iloc[0]) if len(projections) else None
    models = tables["forecast_backtests"].query("selected and origin == 'all'")["model"].value_counts().to_dict()
    yield MaterializeResult(asset_key=FORECASTS, metadata={"as_of_date": as_of, "rows": len(tables["forecasts"]),
                                                           "scopes": len(projections), "models": json.dumps(models),
                                                           "recomputed": not kept})
    yield MaterializeResult(asset_key=PROJECTIONS, metadata={"as_of_date": as_of, "rows": len(projections)})
    yield MaterializeResult(asset_key=BACKTESTS, metadata={"as_of_date": as_of, "rows": len(tables["forecast_backtests"])})


# --------------------------------------------------------------------------- anomalies
SCOPE_COLUMNS = {"provider": "provider", "billing_account": "billing_account", "sub_account": "sub_account",
                 "service": "service"}
DETAIL_SQL = """
SELECT CAST(ChargePeriodStart AS DATE) AS charge_date,
       ProviderName AS provider,
       BillingAccountId AS billing_account,
       coalesce(SubAccountId, '(none)') AS sub_account,
       coalesce(ServiceName, '(none)') AS service,
       coalesce(RegionId, '(none)') AS region,
       coalesce(ResourceId, '(none)') AS resource,
       coalesce(x_UsageType, '(none)') AS usage_type,
       CAST(Tags AS VARCHAR) AS tags,
       sum(BilledCost)::DOUBLE AS billed,
       sum(EffectiveCost)::DOUBLE AS effective,
       sum(ListCost)::DOUBLE AS list
FROM focus.costs
WHERE ChargePeriodStart >= ? AND ChargePeriodStart < ?
  AND CAST(ChargePeriodStart AS DATE) IN (SELECT unnest(?::DATE[]))
  AND {scope}
GROUP BY ALL
"""
# The scope as SQL, to read only its rows. scope_mask stays the definition: for tags this is a
# superset (the value appears in the tags' text), narrowed exactly in pandas.
SCOPE_SQL = {"provider": "ProviderName = ?", "billing_account": "BillingAccountId = ?",
             "sub_account": "coalesce(SubAccountId, '(none)') = ?", "service": "coalesce(ServiceName, '(none)') = ?"}


def _tag_map(tags: str | None, keys: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(tags, str) or not tags:
        return {}
    wanted = {k.lower() for k in keys}
    return {k.lower(): str(v) for k, v in json.loads(tags).items() if k.lower() in wanted and v is not None}


def scope_mask(rows: pd.DataFrame, tag_maps: dict[str, dict[str, str]], scope_type: str, scope_value: str) -> np.ndarray:
    """Which of DETAIL_SQL's `rows` belong to the scope; `tag_maps`: each tags text's configured tags (_tag_map)."""
    if scope_type in SCOPE_COLUMNS:
        return (rows[SCOPE_COLUMNS[scope_type]] == scope_value).to_numpy(dtype=bool)
    if scope_type.startswith("tag:"):
        key = scope_type[4:]
        tags = rows["tags"].astype("category")
        # One answer per distinct tags text, then one per row by its category code (-1, no tags: the last, False).
        per_text = [tag_maps[t].get(key) == scope_value for t in tags.cat.categories] + [False]
        return np.asarray(per_text, dtype=bool)[tags.cat.codes.to_numpy()]
    return np.ones(len(rows), dtype=bool)


def scope_rows(con, scope_type: str, scope_value: str, dates: list[date],
               tag_keys: tuple[str, ...]) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    """DETAIL_SQL's rows of one scope on `dates`, and each of their tags texts' configured tags (_tag_map).

    Read per scope, so that only the scope's rows of those days leave DuckDB (all scopes' rows of
    every anomaly's days, as pandas objects, took 5.7 GB at 10M billing rows)."""
    params: list = [min(dates), max(dates) + timedelta(days=1), dates]
    if scope_type in SCOPE_SQL:
        scope = SCOPE_SQL[scope_type]
        params.append(scope_value)
    elif scope_type.startswith("tag:") and not any(ch in scope_value for ch in '"\\') and scope_value.isprintable():
        scope = "contains(CAST(Tags AS VARCHAR), ?)"
        params.append(f'"{scope_value}"')
    else:
        scope = "true"
    rows = con.execute(DETAIL_SQL.format(scope=scope), params).df()
    rows["charge_date"] = pd.to_datetime(rows["charge_date"]).dt.date
    # Categories: each cost view and anomaly of the scope groups and filters these columns again
    # (grouping arrow strings took most of the anomalies' time at 10M billing rows).
    for column in ("provider", "billing_account", "sub_account", "service", "region", "resource", "usage_type", "tags"):
        rows[column] = rows[column].astype("category")
    # A few hundred distinct tags texts over a scope's rows (1.45M at 10M billing rows): each parsed once.
    tag_maps = {t: _tag_map(t, tag_keys) for t in rows["tags"].cat.categories}
    return rows[scope_mask(rows, tag_maps, scope_type, scope_value)], tag_maps


def contributor_detail(rows: pd.DataFrame, tag_maps: dict[str, dict[str, str]], scope_type: str,
                       cost_view: str) -> pd.DataFrame:
    """The scope's cost as (charge_date, dimension, value, cost), for models_ml.anomalies.root_causes.

    `rows` and `tag_maps` as scope_rows gives them (the rows already narrowed to the scope). Each
    dimension's cost is summed per (day, value) here, and tags per (day, tags text) before each text is
    spread into its configured `key=value` pairs: root_causes sums them per (dimension, value, day) all
    the same, from a few thousand rows instead of every row times every dimension.
    """
    parts = []
    for dimension, column in (("service", "service"), ("sub_account", "sub_account"), ("billing_account", "billing_account"),
                              ("region", "region"), ("resource", "resource"), ("usage_type", "usage_type")):
        if dimension == scope_type:
            continue
        summed = rows.groupby(["charge_date", column], sort=False, observed=True)[cost_view].sum()
        parts.append(pd.DataFrame({"charge_date": summed.index.get_level_values(0), "dimension": dimension,
                                   "value": summed.index.get_level_values(1).astype(object), "cost": summed.to_numpy()}))
    by_set = rows[rows["tags"].notna()].groupby(["charge_date", "tags"], sort=False, observed=True)[cost_view].sum()
    tag_rows = [(d, f"{k}={v}", c) for (d, t), c in by_set.items() for k, v in tag_maps[t].items() if f"tag:{k}" != scope_type]
    if tag_rows:
        parts.append(pd.DataFrame(tag_rows, columns=["charge_date", "value", "cost"]).assign(dimension="tag"))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["charge_date", "dimension", "value", "cost"])


def compute_anomalies(con, tag_keys: tuple[str, ...], config: an.AnomalyConfig, feedback: list[dict],
                      as_of: date | None = None) -> pd.DataFrame:
    as_of = read_as_of(con, as_of)
    found = an.detect_many(read_scope_series(con, as_of, tag_keys) if as_of else [], config)
    causes: list[str] = []
    if len(found):
        explained_by_billing: dict[int, bool] = {}
        cause_of: dict[int, str] = {}
        # One read per scope (its rows on all its anomalies' days) and its contributors summed per day
        # once per cost view; then each anomaly's own days.
        for (scope_type, scope_value), group in found.groupby(["scope_type", "scope_value"], sort=False):
            days = sorted({d for a in group["anomaly_date"] for d in [a, *an.baseline_dates(a)]})
            scope_days, tag_maps = scope_rows(con, scope_type, scope_value, days, tag_keys)
            contributors = {view: an.contributor_days(contributor_detail(scope_days, tag_maps, scope_type, view))
                            for view in group["cost_view"].unique()} if len(scope_days) else {}
            for r in group.itertuples():
                scoped = scope_days[scope_days["charge_date"].isin({r.anomaly_date, *an.baseline_dates(r.anomaly_date)})]
                explained_by_billing[r.Index] = an.billing_change(scoped, r.cost_view, r.anomaly_date, r.impact)
                cause_of[r.Index] = json.dumps(an.ranked_contributors(contributors[r.cost_view], r.anomaly_date)
                                               if len(scoped) else [])
        causes = [cause_of[i] for i in found.index]
        keep = ~np.asarray([explained_by_billing[i] for i in found.index], dtype=bool)
        found = found[keep].reset_index(drop=True)
        causes = [c for c, k in zip(causes, keep) if k]
    found["as_of_date"] = as_of
    found["root_causes"] = causes
    return with_feedback(found, feedback)


def with_feedback(found: pd.DataFrame, feedback: list[dict]) -> pd.DataFrame:
    """The anomalies with the status and feedback people gave (app store rows), in the published columns."""
    found = found.copy()
    known = {(f["scope_type"], f["scope_value"], f["cost_view"], f["anomaly_date"]): f for f in feedback}
    keys = list(zip(found["scope_type"], found["scope_value"], found["cost_view"],
                    [pd.Timestamp(d).date() for d in found["anomaly_date"]]))
    found["status"] = [known[k]["status"] if k in known else "open" for k in keys]
    found["feedback"] = [known[k]["feedback"] if k in known else None for k in keys]
    columns = [*an.ANOMALY_COLUMNS, "status", "feedback", "root_causes", "as_of_date"]
    return found[columns].astype({"status": "object", "feedback": "object", "root_causes": "object"})


@asset(
    key=ANOMALIES,
    group_name="ml",
    deps=[DAILY_SCOPE_COSTS, DAILY_COSTS, FOCUS_COSTS],
    kinds={"duckdb", "python"},
    pool="warehouse",
    description="Days whose cost for a scope is above its expected range by at least the configured dollars and "
                "share (rises list cost does not share, credits ending, left out), with ranked root causes and the "
                "status/feedback people gave (kept in the app store).",
)
def ml_anomalies(context: AssetExecutionContext, autostack: AutoStackSettings, warehouse: DuckDBResource) -> MaterializeResult:
    from autostack.store.anomalies import get_all

    settings = autostack.get()
    config = an.AnomalyConfig.from_settings(settings)
    with warehouse.get_connection() as con:
        kept, fingerprint = inputs_state.kept(con, "anomalies", {"tag_keys": settings.forecast_tag_keys, "config": config},
                                              ML_INPUTS, ML_CODE, ("ml.anomalies",))
        if kept:  # the same anomalies; only people's status and feedback can have changed
            context.log.info("cost data, code and options unchanged since the anomalies were computed: kept, "
                             "status and feedback refreshed from the app store")
            frame = with_feedback(con.execute("SELECT * FROM ml.anomalies").df(), get_all(settings))
        else:
            frame = compute_anomalies(con, settings.forecast_tag_keys, config, get_all(settings))
        write_table(con, "anomalies", frame)
        if not kept:
            inputs_state.record(con, "anomalies", fingerprint)
    return MaterializeResult(metadata={"anomalies": len(frame), "scopes": int(frame[["scope_type", "scope_value"]].drop_duplicates().shape[0]),
                                       "min_impact": config.min_impact, "min_relative": config.min_relative,
                                       "recomputed": not kept})


# --------------------------------------------------------------------------- checks
@asset_check(asset=FORECASTS, name="forecast_intervals_are_ordered", pool="warehouse",
             description="Every forecast row has lower_95 ≤ lower_80 ≤ predicted_cost ≤ upper_80 ≤ upper_95.")
def forecast_intervals_are_ordered(context: AssetCheckExecutionContext, warehouse: DuckDBResource) -> AssetCheckResult:
    with warehouse.get_connection() as con:
        bad, total = con.execute(
            "SELECT count(*) FILTER (WHERE NOT (lower_95 <= lower_80 AND lower_80 <= predicted_cost AND "
            "predicted_cost <= upper_80 AND upper_80 <= upper_95)), count(*) FROM ml.forecasts").fetchall()[0]
    return AssetCheckResult(passed=bad == 0, severity=AssetCheckSeverity.ERROR,
                            description=f"{bad} of {total} forecast rows have misordered intervals",
                            metadata={"misordered": bad, "rows": total})


@asset_check(asset=FORECASTS, name="every_scope_has_a_forecast", pool="warehouse",
             description="Every scope and cost view with cost in the 28 days up to the as-of date has a forecast "
                         "and a month-end projection.")
def every_scope_has_a_forecast(context: AssetCheckExecutionContext, warehouse: DuckDBResource,
                               autostack: AutoStackSettings) -> AssetCheckResult:
    from models_ml.scopes import wanted_scope

    tag_keys = autostack.get().forecast_tag_keys
    with warehouse.get_connection() as con:
        as_of = con.execute("SELECT max(as_of_date) FROM ml.month_end_projections").fetchall()[0][0]
        expected = con.execute(
            "SELECT DISTINCT scope_type, scope_value, v.cost_view FROM marts.daily_scope_costs, "
            "(VALUES ('billed'), ('effective')) v(cost_view) WHERE charge_date BETWEEN ? - INTERVAL 27 DAY AND ? "
            "AND CASE v.cost_view WHEN 'billed' THEN billed_cost ELSE effective_cost END <> 0", [as_of, as_of]).fetchall()
        forecast = set(con.execute("SELECT DISTINCT scope_type, scope_value, cost_view FROM ml.forecasts").fetchall())
        projected = set(con.execute("SELECT scope_type, scope_value, cost_view FROM ml.month_end_projections").fetchall())
    wanted = {tuple(r) for r in expected if wanted_scope(r[0], tag_keys)}
    missing = sorted(wanted - (forecast & projected))
    return AssetCheckResult(passed=not missing, severity=AssetCheckSeverity.ERROR,
                            description=f"{len(wanted) - len(missing)} of {len(wanted)} active scopes have a forecast",
                            metadata={"as_of_date": str(as_of), "missing": json.dumps(missing[:50])})


@asset_check(asset=ANOMALIES, name="anomalies_exceed_their_range", pool="warehouse",
             description="Every anomaly's actual cost is above its upper bound, with a positive impact and root causes "
                         "that are a JSON list.")
def anomalies_exceed_their_range(context: AssetCheckExecutionContext, warehouse: DuckDBResource) -> AssetCheckResult:
    with warehouse.get_connection() as con:
        bad, total = con.execute(
            "SELECT count(*) FILTER (WHERE NOT (actual_cost > upper_bound AND impact > 0 AND "
            "json_type(root_causes) = 'ARRAY')), count(*) FROM ml.anomalies").fetchall()[0]
    return AssetCheckResult(passed=bad == 0, severity=AssetCheckSeverity.ERROR,
                            description=f"{bad} of {total} anomalies are inconsistent", metadata={"bad": bad, "rows": total})


ML_CHECKS = [forecast_intervals_are_ordered, every_scope_has_a_forecast, anomalies_exceed_their_range]
