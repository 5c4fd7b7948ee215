"""All data access of the app: the published DuckDB snapshot, the app store and the Dagster instance.

The snapshot is swapped by `os.replace` after every run. DuckDB caches open databases by path, so
a plain `duckdb.connect(path)` after a swap can hand back the *old* file; instead each snapshot
version (inode, mtime, size) gets its own in-memory connection that ATTACHes the file read-only.
Query results are cached with `st.cache_data` keyed by that version, so a new snapshot is picked up
on the next page view and a reader never waits for a run.

Pages never write SQL against the app store or the Dagster instance themselves: they call the
functions here (the store writes go through one function each, to be switched to the store
modules of the forecast and recommendation work when those land).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb
import pandas as pd
import streamlit as st

from autostack.settings import Settings, get_settings

SNAPSHOT_ALIAS = "snapshot"
COST_VIEWS = {"billed": "billed_cost", "effective": "effective_cost"}
FOCUS_COST_COLUMNS = {"billed": "BilledCost", "effective": "EffectiveCost"}
NOT_COMPUTED = "not computed yet — runs after the next load"

# FOCUS dimensions offered by the cost explorer: (label, focus.costs column, marts.daily_costs column or None).
DIMENSIONS: list[tuple[str, str, str | None]] = [
    ("Provider", "ProviderName", "provider_name"),
    ("Billing account", "BillingAccountId", "billing_account_id"),
    ("Sub account", "SubAccountId", "sub_account_id"),
    ("Service category", "ServiceCategory", "service_category"),
    ("Service", "ServiceName", "service_name"),
    ("Region", "RegionId", "region_id"),
    ("Charge category", "ChargeCategory", "charge_category"),
    ("Billing currency", "BillingCurrency", "billing_currency"),
    ("Service subcategory", "ServiceSubcategory", None),
    ("Billing account name", "BillingAccountName", None),
    ("Sub account name", "SubAccountName", None),
    ("Region name", "RegionName", None),
    ("Availability zone", "AvailabilityZone", None),
    ("Charge class", "ChargeClass", None),
    ("Charge frequency", "ChargeFrequency", None),
    ("Pricing category", "PricingCategory", None),
    ("Commitment discount type", "CommitmentDiscountType", None),
    ("Commitment discount status", "CommitmentDiscountStatus", None),
    ("Resource type", "ResourceType", None),
    ("Resource id", "ResourceId", None),
    ("SKU id", "SkuId", None),
    ("Publisher", "PublisherName", None),
    ("Invoice issuer", "InvoiceIssuerName", None),
    ("Source format", "x_SourceFormat", None),
]
DIMENSION_COLUMNS = {label: column for label, column, _ in DIMENSIONS}
TAG_PREFIX = "Tag: "


# --------------------------------------------------------------------------- settings and snapshot
def settings() -> Settings:
    return get_settings()


def snapshot_version(current: Settings | None = None) -> str | None:
    """Identity of the published snapshot file; changes whenever a run swaps in a new one."""
    path = (current or settings()).serving_path
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return f"{path}:{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}"


@st.cache_resource(max_entries=2, show_spinner=False)
def _snapshot_connection(path: str, version: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(f"ATTACH '{path.replace(chr(39), chr(39) * 2)}' AS {SNAPSHOT_ALIAS} (READ_ONLY)")
    return con


def _cursor(version: str) -> duckdb.DuckDBPyConnection:
    path = version.rsplit(":", 3)[0]
    cursor = _snapshot_connection(path, version).cursor()
    cursor.execute(f"USE {SNAPSHOT_ALIAS}")
    cursor.execute("SET TimeZone = 'UTC'")
    return cursor


@st.cache_data(max_entries=512, show_spinner=False)
def _frame(version: str, sql: str, params: tuple) -> pd.DataFrame:
    cursor = _cursor(version)
    try:
        return cursor.execute(sql, list(params)).df()
    finally:
        cursor.close()


class NoSnapshot(Exception):
    """Nothing is published yet."""


def query(sql: str, params: tuple | list = ()) -> pd.DataFrame:
    """A read-only query on the current snapshot (cached per snapshot version)."""
    version = snapshot_version()
    if version is None:
        raise NoSnapshot(f"nothing is published yet ({settings().serving_path} does not exist): load exports first")
    return _frame(version, sql, tuple(params))


def scalar(sql: str, params: tuple | list = ()):
    frame = query(sql, params)
    return None if frame.empty else frame.iat[0, 0]


@st.cache_data(max_entries=16, show_spinner=False)
def _tables(version: str) -> frozenset[str]:
    cursor = _cursor(version)
    try:
        rows = cursor.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_catalog = ?",
            [SNAPSHOT_ALIAS],
        ).fetchall()
    finally:
        cursor.close()
    return frozenset(r[0] for r in rows)


def has_table(name: str) -> bool:
    version = snapshot_version()
    return version is not None and name in _tables(version)


def published_at() -> datetime | None:
    path = settings().serving_path
    return datetime.fromtimestamp(path.stat().st_mtime, UTC) if path.exists() else None


# --------------------------------------------------------------------------- cost numbers
def as_of_date(cost_view: str = "billed") -> date | None:
    """The last complete day in the cost data (the ML contract's as-of date), not the wall clock."""
    if has_table("ml.month_end_projections"):
        value = scalar("SELECT max(as_of_date) FROM ml.month_end_projections WHERE scope_type = 'total' AND cost_view = ?",
                       (cost_view,))
        if value is not None and not pd.isna(value):
            return pd.Timestamp(value).date()
    value = scalar("SELECT max(charge_date) FROM marts.daily_costs")
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def main_currency() -> str | None:
    return scalar("SELECT billing_currency FROM marts.daily_costs GROUP BY 1 ORDER BY sum(abs(billed_cost)) DESC LIMIT 1")


def _cost(cost_view: str) -> str:
    if cost_view not in COST_VIEWS:
        raise ValueError(f"cost view must be one of {sorted(COST_VIEWS)}, got {cost_view!r}")
    return COST_VIEWS[cost_view]


def cost_between(start: date, end: date, cost_view: str, currency: str) -> float:
    """Total cost of charge days start..end inclusive in one currency (from marts.daily_costs)."""
    value = scalar(
        f"SELECT coalesce(sum({_cost(cost_view)}), 0) FROM marts.daily_costs "
        "WHERE charge_date BETWEEN ? AND ? AND billing_currency = ?",
        (start, end, currency),
    )
    return float(value or 0)


@dataclass(frozen=True)
class Headline:
    as_of: date
    currency: str
    cost_view: str
    latest_day: float
    month_to_date: float
    last_month_same_period: float
    last_month_total: float
    projection: dict | None  # projected_total, lower_80, upper_80, model, backtest_mape


def headline(cost_view: str) -> Headline | None:
    as_of = as_of_date(cost_view)
    currency = main_currency()
    if as_of is None or currency is None:
        return None
    month_start = as_of.replace(day=1)
    last_month_start = (month_start - timedelta(days=1)).replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    same_day_last_month = min(last_month_start.replace(day=min(as_of.day, 28)) + timedelta(days=max(as_of.day - 28, 0)),
                              last_month_end)
    projection = None
    if has_table("ml.month_end_projections"):
        frame = query(
            "SELECT projected_total, lower_80, upper_80, model, backtest_mape FROM ml.month_end_projections "
            "WHERE scope_type = 'total' AND cost_view = ? AND month = ? ORDER BY as_of_date DESC LIMIT 1",
            (cost_view, month_start),
        )
        if not frame.empty:
            projection = {k: (None if pd.isna(v) else (float(v) if k != "model" else v)) for k, v in frame.iloc[0].items()}
    return Headline(
        as_of=as_of,
        currency=currency,
        cost_view=cost_view,
        latest_day=cost_between(as_of, as_of, cost_view, currency),
        month_to_date=cost_between(month_start, as_of, cost_view, currency),
        last_month_same_period=cost_between(last_month_start, same_day_last_month, cost_view, currency),
        last_month_total=cost_between(last_month_start, last_month_end, cost_view, currency),
        projection=projection,
    )


def daily_totals(start: date, end: date, cost_view: str, currency: str) -> pd.DataFrame:
    return query(
        f"SELECT charge_date, sum({_cost(cost_view)}) AS cost FROM marts.daily_costs "
        "WHERE charge_date BETWEEN ? AND ? AND billing_currency = ? GROUP BY 1 ORDER BY 1",
        (start, end, currency),
    )


def forecast(scope_type: str, scope_value: str, cost_view: str) -> pd.DataFrame:
    """The latest forecast of one scope (empty when ml.forecasts is not computed)."""
    if not has_table("ml.forecasts"):
        return pd.DataFrame()
    return query(
        "SELECT forecast_date, predicted_cost, lower_80, upper_80, lower_95, upper_95, model, as_of_date "
        "FROM ml.forecasts WHERE scope_type = ? AND scope_value = ? AND cost_view = ? "
        "AND as_of_date = (SELECT max(as_of_date) FROM ml.forecasts WHERE scope_type = ? AND scope_value = ? AND cost_view = ?) "
        "ORDER BY forecast_date",
        (scope_type, scope_value, cost_view, scope_type, scope_value, cost_view),
    )


def top_movers(as_of: date, cost_view: str, currency: str, days: int = 7, limit: int = 5) -> pd.DataFrame:
    """Services whose cost moved most: the last `days` days against the `days` before."""
    recent_start = as_of - timedelta(days=days - 1)
    previous_start = recent_start - timedelta(days=days)
    cost = _cost(cost_view)
    return query(
        f"""SELECT provider_name AS provider, service_name AS service,
                   sum({cost}) FILTER (WHERE charge_date >= ?) AS recent,
                   sum({cost}) FILTER (WHERE charge_date < ?) AS previous,
                   coalesce(recent, 0) - coalesce(previous, 0) AS change
            FROM marts.daily_costs
            WHERE charge_date BETWEEN ? AND ? AND billing_currency = ?
            GROUP BY 1, 2 ORDER BY abs(change) DESC, 1, 2 LIMIT ?""",
        (recent_start, recent_start, previous_start, as_of, currency, limit),
    )


def tag_keys() -> list[str]:
    if not has_table("marts.daily_costs_by_tag"):
        return []
    frame = query("SELECT DISTINCT tag_key FROM marts.daily_costs_by_tag WHERE tag_key <> '(untagged)' ORDER BY 1")
    return frame["tag_key"].tolist()


def group_spend(tag_key: str | None, as_of: date, cost_view: str, currency: str, days: int = 30) -> pd.DataFrame:
    """Spend per team/project (a tag's values, or sub accounts) over the last `days` days and the period before."""
    recent_start = as_of - timedelta(days=days - 1)
    previous_start = recent_start - timedelta(days=days)
    cost = _cost(cost_view)
    if tag_key:
        source, name, extra, params = ("marts.daily_costs_by_tag", "coalesce(tag_value, '(untagged)')", "AND tag_key = ?",
                                       (tag_key,))
    else:
        source, name, extra, params = ("marts.daily_costs", "coalesce(sub_account_name, sub_account_id, '(none)')", "", ())
    return query(
        f"""SELECT {name} AS name,
                   coalesce(sum({cost}) FILTER (WHERE charge_date >= ?), 0) AS spend,
                   coalesce(sum({cost}) FILTER (WHERE charge_date < ?), 0) AS previous
            FROM {source}
            WHERE charge_date BETWEEN ? AND ? AND billing_currency = ? {extra}
            GROUP BY 1 ORDER BY spend DESC, name""",
        (recent_start, recent_start, previous_start, as_of, currency, *params),
    )


# --------------------------------------------------------------------------- cost explorer
@dataclass(frozen=True)
class Exploration:
    start: date
    end: date
    granularity: str  # day | month
    cost_view: str
    group_by: str  # a DIMENSIONS label or "Tag: <key>"
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (dimension label or tag, values)
    top: int = 12


def _tag_key(label: str) -> str | None:
    return label[len(TAG_PREFIX):] if label.startswith(TAG_PREFIX) else None


def _mart_column(label: str) -> str | None:
    for name, _column, mart in DIMENSIONS:
        if name == label:
            return mart
    return None


def _focus_expression(label: str) -> str:
    key = _tag_key(label)
    if key is not None:
        return f"coalesce(json_extract_string(Tags, '$.\"' || {_sql_literal(key.replace(chr(34), chr(92) + chr(34)))} || '\"'), '(untagged)')"
    if label not in DIMENSION_COLUMNS:
        raise ValueError(f"unknown dimension {label!r}; expected one of {list(DIMENSION_COLUMNS)} or '{TAG_PREFIX}<key>'")
    return f"coalesce(CAST({DIMENSION_COLUMNS[label]} AS VARCHAR), '(none)')"


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def exploration_plan(spec: Exploration) -> tuple[str, str, dict[str, str]]:
    """Which table answers the question, and the SQL expression of each dimension on it.

    The pre-aggregated marts answer most questions; only dimensions they do not hold (a tag combined
    with other filters, or a FOCUS column outside marts.daily_costs) fall back to filtered
    aggregation on focus.costs.
    """
    labels = [spec.group_by, *(label for label, _ in spec.filters)]
    if all(_mart_column(label) for label in labels):
        return "marts.daily_costs", COST_VIEWS[spec.cost_view], {
            label: f"coalesce(CAST({_mart_column(label)} AS VARCHAR), '(none)')" for label in labels}
    tags = [label for label in labels if _tag_key(label) is not None]
    others = [label for label in labels if _tag_key(label) is None]
    if len(tags) == 1 and all(label in ("Provider", "Billing account", "Billing currency") for label in others) \
            and has_table("marts.daily_costs_by_tag"):
        mart = {"Provider": "provider_name", "Billing account": "billing_account_id", "Billing currency": "billing_currency"}
        expressions = {label: f"coalesce(CAST({mart[label]} AS VARCHAR), '(none)')" for label in others}
        expressions[tags[0]] = "coalesce(tag_value, '(untagged)')"
        return "marts.daily_costs_by_tag", COST_VIEWS[spec.cost_view], expressions
    return "focus.costs", FOCUS_COST_COLUMNS[spec.cost_view], {label: _focus_expression(label) for label in labels}


def explore(spec: Exploration) -> pd.DataFrame:
    """Cost per period and group (top groups kept, the rest as '(other)'), in the main currency; what is shown."""
    table, cost, expressions = exploration_plan(spec)
    date_column = "charge_date" if table.startswith("marts.") else "CAST(ChargePeriodStart AS DATE)"
    where = [f"{date_column} BETWEEN ? AND ?"]
    params: list = [spec.start, spec.end]
    if table == "marts.daily_costs_by_tag":
        where.append("tag_key = ?")
        params.append(_tag_key(spec.group_by) or next(_tag_key(label) for label, _ in spec.filters if _tag_key(label)))
    for label, values in spec.filters:
        if values:
            where.append(f"{expressions[label]} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
    period = f"CAST(date_trunc('month', {date_column}) AS DATE)" if spec.granularity == "month" else date_column
    sql = f"""
        WITH base AS (
            SELECT {period} AS period, {expressions[spec.group_by]} AS grp, sum({cost}) AS cost
            FROM {table} WHERE {' AND '.join(where)} GROUP BY ALL
        ),
        ranked AS (
            SELECT grp, row_number() OVER (ORDER BY sum(abs(cost)) DESC, grp) AS rank FROM base GROUP BY grp
        )
        SELECT b.period, CASE WHEN r.rank <= ? THEN b.grp ELSE '(other)' END AS "group",
               CAST(sum(b.cost) AS DOUBLE) AS cost
        FROM base b JOIN ranked r USING (grp)
        GROUP BY ALL ORDER BY 1, 3 DESC, 2"""
    frame = query(sql, (*params, spec.top))
    return frame.rename(columns={"group": spec.group_by})


def dimension_values(label: str, limit: int = 500) -> list[str]:
    """Values of one dimension, for filter pickers (from the marts where they hold it)."""
    key = _tag_key(label)
    if key is not None and has_table("marts.daily_costs_by_tag"):
        frame = query("SELECT DISTINCT coalesce(tag_value, '(untagged)') AS v FROM marts.daily_costs_by_tag "
                      "WHERE tag_key = ? ORDER BY 1 LIMIT ?", (key, limit))
    elif _mart_column(label):
        frame = query(f"SELECT DISTINCT coalesce(CAST({_mart_column(label)} AS VARCHAR), '(none)') AS v "
                      "FROM marts.daily_costs ORDER BY 1 LIMIT ?", (limit,))
    else:
        frame = query(f"SELECT DISTINCT {_focus_expression(label)} AS v FROM focus.costs ORDER BY 1 LIMIT ?", (limit,))
    return frame["v"].tolist()


def cost_date_range() -> tuple[date, date] | None:
    frame = query("SELECT min(charge_date) AS lo, max(charge_date) AS hi FROM marts.daily_costs")
    if frame.empty or pd.isna(frame.iat[0, 0]):
        return None
    return pd.Timestamp(frame.iat[0, 0]).date(), pd.Timestamp(frame.iat[0, 1]).date()


# --------------------------------------------------------------------------- forecasts
def forecast_scopes() -> pd.DataFrame:
    if not has_table("ml.forecasts"):
        return pd.DataFrame(columns=["scope_type", "scope_value"])
    return query("SELECT DISTINCT scope_type, scope_value FROM ml.forecasts ORDER BY scope_type <> 'total', 1, 2")


def scope_history(scope_type: str, scope_value: str, cost_view: str, start: date, end: date, currency: str) -> pd.DataFrame:
    """Actual daily cost of a forecast scope, from the marts."""
    cost = _cost(cost_view)
    columns = {"provider": "provider_name", "billing_account": "billing_account_id", "sub_account": "sub_account_id",
               "service": "service_name", "region": "region_id"}
    if scope_type == "total":
        table, where, params = "marts.daily_costs", "", ()
    elif scope_type in columns:
        table, where, params = "marts.daily_costs", f"AND {columns[scope_type]} = ?", (scope_value,)
    elif scope_type.startswith("tag:"):
        table, where, params = "marts.daily_costs_by_tag", "AND tag_key = ? AND tag_value = ?", (scope_type[4:], scope_value)
    else:
        return pd.DataFrame(columns=["charge_date", "cost"])
    return query(
        f"SELECT charge_date, sum({cost}) AS cost FROM {table} WHERE charge_date BETWEEN ? AND ? "
        f"AND billing_currency = ? {where} GROUP BY 1 ORDER BY 1",
        (start, end, currency, *params),
    )


def month_end_projection(scope_type: str, scope_value: str, cost_view: str) -> dict | None:
    if not has_table("ml.month_end_projections"):
        return None
    frame = query(
        "SELECT * FROM ml.month_end_projections WHERE scope_type = ? AND scope_value = ? AND cost_view = ? "
        "ORDER BY as_of_date DESC, month DESC LIMIT 1",
        (scope_type, scope_value, cost_view),
    )
    return None if frame.empty else frame.iloc[0].to_dict()


def backtests(scope_type: str, scope_value: str, cost_view: str) -> pd.DataFrame | None:
    """Backtest rows of one scope (every model and baseline); None when not computed yet."""
    if not has_table("ml.forecast_backtests"):
        return None
    frame = query("SELECT * FROM ml.forecast_backtests")
    for column, value in (("scope_type", scope_type), ("scope_value", scope_value), ("cost_view", cost_view)):
        if column in frame.columns:
            frame = frame[frame[column] == value]
    return frame.reset_index(drop=True)


# --------------------------------------------------------------------------- anomalies
def anomalies(cost_view: str | None = None) -> pd.DataFrame | None:
    """ml.anomalies with the feedback people gave in the app store laid over it; None when not computed."""
    if not has_table("ml.anomalies"):
        return None
    frame = query("SELECT * FROM ml.anomalies ORDER BY anomaly_date DESC, abs(impact) DESC")
    if cost_view:
        frame = frame[frame["cost_view"] == cost_view]
    frame = frame.copy()
    stored = anomaly_feedback_rows()
    if not frame.empty and stored:
        keyed = {(r["scope_type"], r["scope_value"], r["cost_view"], r["anomaly_date"]): r for r in stored}
        statuses, feedbacks = [], []
        for row in frame.itertuples(index=False):
            saved = keyed.get((row.scope_type, row.scope_value, row.cost_view, pd.Timestamp(row.anomaly_date).date()))
            statuses.append(saved["status"] if saved else row.status)
            feedbacks.append(saved["feedback"] if saved else row.feedback)
        frame["status"], frame["feedback"] = statuses, feedbacks
    return frame.reset_index(drop=True)


def root_causes(value) -> pd.DataFrame:
    """The JSON list of contributors as a table (whatever fields the detector wrote)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return pd.DataFrame()
    items = json.loads(value) if isinstance(value, str) else value
    if isinstance(items, dict):
        items = [items]
    return pd.json_normalize(items) if items else pd.DataFrame()


# --------------------------------------------------------------------------- recommendations
RECOMMENDATION_PICKER_LIMIT = 200  # recommendations the evidence picker lists (the largest)


def recommendations() -> pd.DataFrame | None:
    if not has_table("ml.recommendations"):
        return None
    frame = query("SELECT * FROM ml.recommendations ORDER BY monthly_savings DESC NULLS LAST, recommendation_id").copy()
    states = recommendation_states()
    if not frame.empty and states:
        frame["status"] = [states.get(rid, status) for rid, status in zip(frame["recommendation_id"], frame["status"])]
    return frame


# --------------------------------------------------------------------------- data sources
def file_loads() -> pd.DataFrame:
    """The latest load of every file, newest first."""
    return query(
        """SELECT source_uri AS file, format, provider, outcome, row_count AS rows,
                  CAST(billed_total AS DOUBLE) AS billed_total, currency,
                  array_to_string(list_transform(billing_periods, lambda p: strftime(p, '%Y-%m')), ', ') AS periods,
                  loaded_at, error
           FROM (SELECT *, row_number() OVER (PARTITION BY source_uri ORDER BY loaded_at DESC) AS n FROM ingest.file_loads)
           WHERE n = 1 ORDER BY loaded_at DESC, source_uri"""
    )


def recent_loads(limit: int = 10) -> pd.DataFrame:
    return query(
        "SELECT loaded_at, outcome, source_uri AS file, row_count AS rows FROM ingest.file_loads "
        "ORDER BY loaded_at DESC, source_uri LIMIT ?", (limit,))


def freshness() -> dict:
    return {
        "published_at": published_at(),
        "last_load_at": scalar("SELECT max(loaded_at) FROM ingest.file_loads WHERE outcome = 'loaded'")
        if has_table("ingest.file_loads") else None,
        "latest_charge_date": scalar("SELECT max(charge_date) FROM marts.daily_costs"),
    }


CHECKS = [
    (("focus", "costs_v1_2"), "billed_cost_reconciles_to_sources", "Reconciliation to source totals"),
    (("focus", "costs_v1_2"), "focus_1_2_conformance", "FOCUS 1.2 conformance"),
    (("ingest", "file_loads"), "files_loaded_without_errors", "Files loaded without errors"),
    (("ingest", "file_loads"), "loaded_rows_meet_expectations", "Loaded rows meet expectations"),
]


WARM_UP_DELAY_SECONDS = 2.0


@st.cache_resource(show_spinner=False)
def warm_up(dagster_home: str) -> None:
    """Once per server, after the first page view: import Dagster and open its instance in the background
    (a few seconds on a busy machine), so the first visit to Data sources does not pay for it. It waits
    a moment first, so that it does not compete with the browser still drawing that first page (under
    app.server, Dagster is already imported: only the instance is opened here)."""
    import time

    def warm():
        time.sleep(WARM_UP_DELAY_SECONDS)
        try:
            _dagster_instance(dagster_home)
        except Exception as exc:  # only a warm-up: the Data sources page opens it again and shows the error
            logging.getLogger(__name__).info("warm-up of the Dagster instance failed: %s", exc)

    threading.Thread(target=warm, name="autostack-warm-up", daemon=True).start()


_DAGSTER_INSTANCES: dict[str, object] = {}
_DAGSTER_LOCK = threading.Lock()


def _dagster_instance(dagster_home: str):
    """The Dagster instance of `dagster_home`, opened once per process (by warm_up after the first page view,
    or by the first Data sources view); None while it has no dagster.yaml (not remembered: it may appear later)."""
    with _DAGSTER_LOCK:
        if dagster_home not in _DAGSTER_INSTANCES:
            from dagster import DagsterInstance

            if not os.path.exists(os.path.join(dagster_home, "dagster.yaml")):
                return None
            _DAGSTER_INSTANCES[dagster_home] = DagsterInstance.from_config(dagster_home)
        return _DAGSTER_INSTANCES[dagster_home]


@st.cache_data(ttl=10, show_spinner=False)
def check_results(dagster_home: str) -> pd.DataFrame:
    """Latest evaluation of each pipeline check, from the Dagster instance's event log."""
    from dagster import AssetCheckKey, AssetKey

    instance = _dagster_instance(dagster_home)
    rows = []
    records = {}
    if instance is not None:
        keys = [AssetCheckKey(AssetKey(list(asset)), name) for asset, name, _ in CHECKS]
        records = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    for asset, name, title in CHECKS:
        record = records.get(AssetCheckKey(AssetKey(list(asset)), name))
        evaluation = record.event.asset_check_evaluation if record is not None and record.event else None
        rows.append({
            "check": title,
            "asset": "/".join(asset),
            "result": "never run" if record is None else record.status.value.lower(),
            "passed": None if evaluation is None else bool(evaluation.passed),
            "when": None if record is None else datetime.fromtimestamp(record.create_timestamp, UTC),
            "detail": (evaluation.description or "") if evaluation else "",
        })
    return pd.DataFrame(rows)


@st.cache_data(ttl=10, show_spinner=False)
def recent_runs(dagster_home: str, limit: int = 10) -> pd.DataFrame:
    instance = _dagster_instance(dagster_home)
    rows = []
    if instance is not None:
        for record in instance.get_run_records(limit=limit):
            run = record.dagster_run
            rows.append({
                "run": run.run_id[:8],
                "job": run.job_name,
                "status": run.status.value.lower(),
                "trigger": run.tags.get("autostack/trigger", run.tags.get("dagster/sensor_name", "")),
                "started": datetime.fromtimestamp(record.start_time, UTC) if record.start_time else None,
                "ended": datetime.fromtimestamp(record.end_time, UTC) if record.end_time else None,
            })
    return pd.DataFrame(rows, columns=["run", "job", "status", "trigger", "started", "ended"])


@st.cache_data(ttl=10, show_spinner=False)
def sensor_schedule(dagster_home: str) -> pd.DataFrame:
    """Each sensor's last tick and when it evaluates next (its minimum interval after the last tick)."""
    instance = _dagster_instance(dagster_home)
    rows = []
    if instance is not None:
        for state in instance.all_instigator_state():
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
            last = ticks[0] if ticks else None
            interval = getattr(state.instigator_data, "min_interval", None) if state.instigator_data else None
            last_at = datetime.fromtimestamp(last.timestamp, UTC) if last else None
            rows.append({
                "name": state.instigator_name,
                "type": state.instigator_type.value.lower(),
                "state": state.status.value.lower(),
                "last tick": last_at,
                "last result": last.status.value.lower() if last else "",
                "next evaluation": last_at + timedelta(seconds=interval) if last_at and interval else None,
            })
    return pd.DataFrame(rows, columns=["name", "type", "state", "last tick", "last result", "next evaluation"])


# --------------------------------------------------------------------------- app store
def _store():
    from autostack.store import session_scope

    return session_scope(settings())


def anomaly_feedback_rows() -> list[dict]:
    from autostack.store.anomalies import get_all

    return get_all(settings())


from autostack.store.anomalies import FEEDBACK_VALUES as ANOMALY_FEEDBACK  # noqa: E402
from autostack.store.anomalies import STATUS_VALUES as ANOMALY_STATUSES  # noqa: E402


def set_anomaly_feedback(scope_type: str, scope_value: str, cost_view: str, anomaly_date: date,
                         *, feedback: str | None = None, status: str | None = None, user: str | None = None) -> None:
    """Persist a person's feedback on one anomaly; `ml.anomalies` joins it in on every recompute."""
    from autostack.store.anomalies import set_feedback

    set_feedback(settings(), scope_type, scope_value, cost_view, anomaly_date, feedback=feedback, status=status, user=user)


def recommendation_states() -> dict[str, str]:
    from autostack.store.recommendations import get_statuses

    return get_statuses(settings())


from autostack.store.recommendations import STATUSES as RECOMMENDATION_STATUSES  # noqa: E402


def set_recommendation_status(recommendation_id: str, status: str, *, user: str | None = None) -> None:
    """Persist done/dismissed for one recommendation; `ml.recommendations` joins it in on every recompute."""
    from autostack.store.recommendations import set_status

    set_status(settings(), recommendation_id, status, user=user)


def request_refresh(user: str | None = None) -> int:
    """Ask for an ingest run of every configured source; the `refresh_requests` sensor runs it."""
    from autostack.store.models import RefreshRequest

    with _store() as session:
        request = RefreshRequest(kind="ingest", requested_by=user, status="pending")
        session.add(request)
        session.flush()
        return request.id


def refresh_requests(limit: int = 10) -> pd.DataFrame:
    from sqlalchemy import select

    from autostack.store.models import RefreshRequest

    with _store() as session:
        rows = session.scalars(select(RefreshRequest).order_by(RefreshRequest.id.desc()).limit(limit)).all()
        return pd.DataFrame(
            [{"id": r.id, "requested": r.requested_at, "by": r.requested_by, "status": r.status,
              "run": (r.run_id or "")[:8], "message": r.message or ""} for r in rows],
            columns=["id", "requested", "by", "status", "run", "message"],
        )


# --------------------------------------------------------------------------- downloads
def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


# --------------------------------------------------------------------------- budgets
# Definitions, alert history, freezes and channels live in the app store (through autostack.budgets,
# the functions the CLI uses, so the app validates exactly as the CLI does); the latest evaluation is
# marts.budget_status in the published snapshot. The app never evaluates budgets itself.
BUDGET_NOT_EVALUATED = "not evaluated yet — runs after the next load or on the hourly schedule"


def budget_definitions() -> list:
    """Every budget (autostack.budgets.BudgetSpec), by name."""
    from autostack.budgets import list_budgets

    return list_budgets(settings())


def budget_status() -> pd.DataFrame | None:
    """The latest evaluation of every budget (marts.budget_status); None when it was never written."""
    if not has_table("marts.budget_status"):
        return None
    return query(
        """SELECT budget_id, budget_name, owner, scope, period, period_start, period_end, cost_view, currency,
                  CAST(amount AS DOUBLE) AS amount, CAST(spent AS DOUBLE) AS spent,
                  CAST(forecast_at_period_end AS DOUBLE) AS forecast, forecast_method,
                  CAST(pct_spent AS DOUBLE) AS pct_spent, CAST(pct_forecast AS DOUBLE) AS pct_forecast,
                  days_left, data_through, breached_thresholds, evaluated_at
           FROM marts.budget_status ORDER BY budget_name""")


def budget_status_by_id() -> dict[int, dict]:
    """The status row of each evaluated budget, keyed by budget id (empty when never evaluated)."""
    try:
        frame = budget_status()
    except NoSnapshot:
        return {}
    if frame is None:
        return {}
    return {int(row["budget_id"]): row for row in frame.to_dict("records") if not pd.isna(row["budget_id"])}


def budget_at_risk(row: dict) -> bool:
    """At risk: the forecast at period end reaches the amount, or a threshold is breached."""
    breached = row.get("breached_thresholds")
    return bool((row.get("pct_forecast") or 0) >= 100 or (breached is not None and len(breached)))


def budgets_at_risk() -> pd.DataFrame | None:
    """Evaluated budgets that still exist and are at risk; None when budgets were never evaluated."""
    frame = budget_status()
    if frame is None:
        return None
    names = {b.id: b.name for b in budget_definitions()}
    rows = [row for row in frame.to_dict("records") if row["budget_id"] in names and budget_at_risk(row)]
    columns = ["budget_name", "scope", "currency", "amount", "spent", "pct_spent", "forecast", "pct_forecast",
               "breached", "days_left"]
    for row in rows:
        row["breached"] = ", ".join(row["breached_thresholds"] if row["breached_thresholds"] is not None else [])
    return pd.DataFrame(rows, columns=columns)


def budget_states_for_tag(tag_key: str | None) -> dict[str, str]:
    """Budget state per value of `tag_key`, for the cost cards: only budgets whose scope is exactly that tag value."""
    if not tag_key:
        return {}
    status = budget_status_by_id()
    states: dict[str, list[str]] = {}
    for budget in budget_definitions():
        scope = budget.scope.to_dict()
        if set(scope) != {"tags"} or len(scope["tags"]) != 1 or tag_key not in scope["tags"]:
            continue
        row = status.get(budget.id)
        if row is None:
            text = f"Budget {budget.name}: not evaluated yet"
        else:
            risk = " — at risk" if budget_at_risk(row) else ""
            text = (f"Budget {budget.name}: {row['pct_spent']:.0f}% spent, "
                    f"forecast {row['pct_forecast']:.0f}%{risk}")
        states.setdefault(scope["tags"][tag_key], []).append(text)
    return {value: "; ".join(texts) for value, texts in states.items()}


def save_budget(spec, original_name: str | None = None):
    """Create (or, given `original_name`, update) a budget with the CLI's validation; raises ValidationError."""
    from autostack.budgets import add_budget, update_budget

    if original_name:
        return update_budget(settings(), original_name, spec)
    return add_budget(settings(), spec)


def delete_budget(name: str) -> None:
    from autostack.budgets import remove_budget

    remove_budget(settings(), name)


def budget_alert_history(limit: int = 50) -> pd.DataFrame:
    """The latest alert events, newest first, with each delivery's outcome in one column."""
    from autostack.budgets import alert_history

    rows = []
    for event in alert_history(settings(), limit=limit):
        rows.append({
            "fired_at": event["fired_at"], "budget": event["budget"], "threshold": event["threshold"],
            "percent": float(event["percent"]) if event["percent"] is not None else None,
            "spent": float(event["spent"]) if event["spent"] is not None else None,
            "forecast": float(event["forecast"]) if event["forecast"] not in (None, "None") else None,
            "amount": float(event["amount"]) if event["amount"] is not None else None,
            "currency": event["currency"], "message": event["message"],
            "deliveries": "; ".join(f"{d['purpose']} → {d['channel']}: {d['status']} ({d['attempts']} attempt(s))"
                                    for d in event["deliveries"]) or "no channels",
        })
    return pd.DataFrame(rows, columns=["fired_at", "budget", "threshold", "percent", "spent", "forecast", "amount",
                                       "currency", "message", "deliveries"])


def budget_failed_deliveries() -> pd.DataFrame:
    """Alert deliveries that have not reached their channel (errors are stored with secrets redacted)."""
    from autostack.budgets import failed_deliveries

    return pd.DataFrame(failed_deliveries(settings()),
                        columns=["id", "budget", "threshold", "channel", "purpose", "status", "attempts",
                                 "last_error", "last_attempt_at"])


def budget_freezes(include_acknowledged: bool = False) -> list[dict]:
    from autostack.budgets import list_freezes

    return list_freezes(settings(), include_acknowledged=include_acknowledged)


def acknowledge_budget_freeze(freeze_id: int, by: str) -> dict:
    """Lift a deployment freeze (recorded with who and when); raises ValueError/LookupError."""
    from autostack.budgets import acknowledge_freeze

    return acknowledge_freeze(settings(), freeze_id, by)


def budget_channels() -> pd.DataFrame:
    """Alert channels as they may be shown: options, and secret names with masked values only."""
    from autostack.budgets import describe_channel, list_channels
    from autostack.notify.secrets import SecretError, SecretStore

    current = settings()
    secrets = SecretStore.from_settings(current)
    rows = []
    for channel in list_channels(current):
        try:
            shown = describe_channel(channel, secrets)
        except SecretError as exc:  # an unreadable secrets file: say so, show no value
            shown = {"name": channel.name, "kind": channel.kind, "options": channel.options,
                     "secrets": {role: f"{name} ({exc})" for role, name in channel.secret_refs.items()}}
        rows.append({"name": shown["name"], "kind": shown["kind"],
                     "options": ", ".join(f"{k}={v}" for k, v in shown["options"].items()) or "-",
                     "secrets": ", ".join(f"{k}: {v}" for k, v in shown["secrets"].items()) or "-"})
    return pd.DataFrame(rows, columns=["name", "kind", "options", "secrets"])
