"""Reading the published costs for budgets: known scope values, a scope's daily series, ml.forecasts.

Works on any DuckDB connection holding `focus.costs` (the serving snapshot for the app and the CLI,
the warehouse inside the Dagster run). Every value is passed as a parameter, never spliced into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from autostack.budgets.model import DIMENSIONS, Scope

COST_COLUMNS = {"billed": "BilledCost", "effective": "EffectiveCost"}


def scope_filter(scope: Scope) -> tuple[str, list]:
    """A WHERE clause (always valid, `true` for everything) and its parameters."""
    clauses, params = ["true"], []
    for dimension, column in DIMENSIONS.items():
        value = getattr(scope, dimension)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    for key, value in scope.tags:
        clauses.append("json_extract_string(Tags, ?) = ?")
        params += [tag_path(key), value]
    return " AND ".join(clauses), params


def tag_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def has_table(con, schema: str, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
    ).fetchall()[0][0])


class PublishedCatalog:
    """What exists in the published costs, for validating budget scopes and currencies."""

    def __init__(self, con):
        self.con = con
        self._values: dict[str, list[str]] = {}

    def values(self, dimension: str) -> list[str]:
        if dimension not in self._values:
            column = DIMENSIONS[dimension]
            rows = self.con.execute(f"SELECT DISTINCT {column} FROM focus.costs WHERE {column} IS NOT NULL ORDER BY 1").fetchall()
            self._values[dimension] = [r[0] for r in rows]
        return self._values[dimension]

    def tag_keys(self) -> list[str]:
        rows = self.con.execute(
            "SELECT DISTINCT unnest(json_keys(Tags)) FROM focus.costs WHERE Tags IS NOT NULL ORDER BY 1").fetchall()
        return [r[0] for r in rows]

    def tag_values(self, key: str) -> list[str]:
        rows = self.con.execute(
            "SELECT DISTINCT json_extract_string(Tags, ?) v FROM focus.costs WHERE v IS NOT NULL ORDER BY 1",
            [tag_path(key)]).fetchall()
        return [r[0] for r in rows]

    def currencies(self, scope: Scope) -> list[str]:
        where, params = scope_filter(scope)
        rows = self.con.execute(
            f"SELECT DISTINCT BillingCurrency FROM focus.costs WHERE {where} ORDER BY 1", params).fetchall()
        return [r[0] for r in rows]


def data_through(con) -> date | None:
    """The last day with any published cost (all scopes: a quiet scope is not a stale one)."""
    value = con.execute("SELECT max(ChargePeriodStart) FROM focus.costs").fetchall()[0][0]
    return value.date() if value is not None else None


def daily_series(con, scope: Scope, cost_view: str, start: date, end: date) -> dict[date, Decimal]:
    """Cost per UTC charge day in [start, end] for the scope; days without cost are absent."""
    where, params = scope_filter(scope)
    rows = con.execute(
        f"""SELECT CAST(ChargePeriodStart AS DATE) AS charge_date, sum({COST_COLUMNS[cost_view]})
            FROM focus.costs
            WHERE {where} AND ChargePeriodStart >= ? AND ChargePeriodStart < ? + INTERVAL 1 DAY
            GROUP BY 1 ORDER BY 1""",
        [*params, start, end],
    ).fetchall()
    return {day: Decimal(total) for day, total in rows}


@dataclass(frozen=True)
class ForecastSeries:
    as_of_date: date
    model: str | None
    daily: dict[date, Decimal]


def forecast_series(con, scope: Scope, cost_view: str) -> ForecastSeries | None:
    """The latest `ml.forecasts` run for exactly this scope and cost view, or None."""
    exact = scope.forecast_scope()
    if exact is None or not has_table(con, "ml", "forecasts"):
        return None
    scope_type, scope_value = exact
    rows = con.execute(
        """WITH latest AS (
               SELECT max(as_of_date) AS as_of_date FROM ml.forecasts
               WHERE scope_type = ? AND scope_value = ? AND cost_view = ?)
           SELECT f.as_of_date, f.forecast_date, f.predicted_cost, f.model
           FROM ml.forecasts f JOIN latest USING (as_of_date)
           WHERE f.scope_type = ? AND f.scope_value = ? AND f.cost_view = ?
           ORDER BY f.forecast_date""",
        [scope_type, scope_value, cost_view] * 2,
    ).fetchall()
    if not rows:
        return None
    as_of = rows[0][0]
    return ForecastSeries(
        as_of_date=_as_date(as_of),
        model=rows[0][3],
        daily={_as_date(d): Decimal(str(p)) for _, d, p, _ in rows if p is not None},
    )


def _as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value
