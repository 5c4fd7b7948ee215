"""Data quality of what was just loaded into a `raw.*` table, checked with great-expectations.

Each raw table's suite is one RawTableSuite entry in RAW_SUITES: which columns are keys (never
NULL), amounts (numeric), currency codes (ISO 4217) and the charge period (a sane date range,
end not before start). The expectations run on the rows of the given load ids only
(`x_load_id IN (...)`), grouped to their distinct combinations of keys, currencies and charge
period (so unexpected counts are of distinct combinations, not rows), through an ephemeral GX
context (GX Core 1.x API; nothing is written to disk, analytics off).

Currency codes: babel's `list_currencies()` (CLDR's ISO 4217 list, current and historic codes;
pycountry is not installed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb

# Columns every raw table has (base.PARTITION_COLUMNS and the loader's provenance): a row
# without them cannot be placed in a slice or traced to its file.
PROVENANCE_KEYS: tuple[str, ...] = ("x_billing_account_id", "x_billing_period", "x_source_uri")
EARLIEST_CHARGE = date(2000, 1, 1)
NUMERIC_DTYPES = ["float64", "Float64", "float32", "Float32", "int64", "Int64", "int32", "Int32"]


@dataclass(frozen=True)
class RawTableSuite:
    """What to expect of one raw table's rows; empty fields mean no such expectation."""

    amounts: tuple[str, ...] = ()  # costs and prices: numeric
    currencies: tuple[str, ...] = ()  # ISO 4217 codes (NULL allowed)
    charge_period: tuple[str, str | None] | None = None  # (start, end) timestamps; end may be None
    keys: tuple[str, ...] = PROVENANCE_KEYS  # never NULL

    def columns(self) -> tuple[str, ...]:
        period = tuple(c for c in (self.charge_period or ()) if c)
        return tuple(dict.fromkeys((*self.keys, *self.amounts, *self.currencies, *period)))


RAW_SUITES: dict[str, RawTableSuite] = {
    "raw.focus_costs": RawTableSuite(
        amounts=("BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ListUnitPrice", "ContractedUnitPrice"),
        currencies=("BillingCurrency", "PricingCurrency"),
        charge_period=("ChargePeriodStart", "ChargePeriodEnd"),
    ),
    "raw.aws_cur": RawTableSuite(
        amounts=("line_item_unblended_cost", "line_item_net_unblended_cost", "line_item_blended_cost",
                 "pricing_public_on_demand_cost", "line_item_unblended_rate"),
        currencies=("line_item_currency_code", "pricing_currency"),
        charge_period=("line_item_usage_start_date", "line_item_usage_end_date"),
    ),
    "raw.azure_costs": RawTableSuite(
        amounts=("Cost", "CostInPricingCurrency", "PaygCostInBillingCurrency", "EffectivePrice", "UnitPrice",
                 "Quantity"),
        currencies=("BillingCurrency", "PricingCurrency"),
        charge_period=("Date", None),  # one charge date per row; service periods can be months long
    ),
    "raw.gcp_billing": RawTableSuite(
        amounts=("cost", "cost_at_list", "credits_amount", "usage_amount"),
        currencies=("currency",),
        charge_period=("usage_start_time", "usage_end_time"),
    ),
}


@dataclass(frozen=True)
class ExpectationResult:
    expectation: str  # the GX expectation type, e.g. expect_column_values_to_be_in_set
    column: str  # the column, or "end >= start" for the period pair
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    sample_values: tuple[str, ...] = ()  # some unexpected values, as text
    observed: str | None = None  # e.g. the dtype a type expectation saw
    error: str | None = None  # the expectation could not be evaluated


@dataclass(frozen=True)
class RawQualityResult:
    table: str
    load_ids: tuple[str, ...]
    row_count: int
    results: tuple[ExpectationResult, ...] = field(default_factory=tuple)

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def failures(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.success]

    def get(self, expectation: str, column: str) -> ExpectationResult:
        for result in self.results:
            if result.expectation == expectation and result.column == column:
                return result
        raise KeyError(f"no {expectation} on {column} for {self.table}")

    def to_markdown(self) -> str:
        verdict = "passed" if self.success else f"{len(self.failures)} of {len(self.results)} expectations failed"
        lines = [
            f"**{self.table}**: {verdict}; {self.row_count} rows of load(s) {', '.join(self.load_ids) or 'none'}",
            "",
            "| expectation | column | ok | unexpected | sample values |",
            "|---|---|---|---:|---|",
        ]
        for r in self.results:
            unexpected = "" if r.unexpected_count is None else f"{r.unexpected_count} ({r.unexpected_percent or 0:.2f}%)"
            sample = ", ".join(r.sample_values) or (r.error or (f"observed {r.observed}" if r.observed else ""))
            lines.append(
                f"| {r.expectation} | {r.column} | {'yes' if r.success else '**no**'} | {unexpected} "
                f"| {sample.replace('|', '/')[:200]} |"
            )
        return "\n".join(lines)


def iso_currency_codes() -> frozenset[str]:
    from babel.numbers import list_currencies

    return frozenset(list_currencies())


def check_raw_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    load_ids: list[str] | tuple[str, ...],
    *,
    suite: RawTableSuite | None = None,
    today: date | None = None,
) -> RawQualityResult:
    """Run `table`'s suite (RAW_SUITES unless given) on the rows of `load_ids`."""
    if suite is None:
        if table not in RAW_SUITES:
            raise KeyError(f"no expectation suite for {table}; add a RawTableSuite to RAW_SUITES "
                           f"(known: {', '.join(sorted(RAW_SUITES))})")
        suite = RAW_SUITES[table]
    load_ids = tuple(dict.fromkeys(str(i) for i in load_ids))
    if not load_ids:
        return RawQualityResult(table, load_ids, 0, ())
    frame = _rows_of_loads(con, table, suite, load_ids)
    results = _validate(frame, suite, today or datetime.now(UTC).date(), name=table)
    quoted_table = ".".join(_quote(p) for p in table.split("."))
    rows = con.execute(f"SELECT count(*) FROM {quoted_table} WHERE x_load_id IN ({_markers(load_ids)})", list(load_ids))
    return RawQualityResult(table, load_ids, int(rows.fetchall()[0][0]), results)


def check_raw_loads(
    con: duckdb.DuckDBPyConnection, load_ids: list[str] | tuple[str, ...], *, today: date | None = None
) -> list[RawQualityResult]:
    """Check every raw table these loads wrote to (from ingest.file_loads), one result per table."""
    if not load_ids:
        return []
    rows = con.execute(
        f"SELECT raw_table, list(load_id ORDER BY load_id) FROM ingest.file_loads "
        f"WHERE load_id IN ({_markers(load_ids)}) AND raw_table IS NOT NULL AND outcome = 'loaded' GROUP BY raw_table "
        f"ORDER BY raw_table",
        [str(i) for i in load_ids],
    ).fetchall()
    return [check_raw_table(con, table, ids, today=today) for table, ids in rows]


def _rows_of_loads(con, table: str, suite: RawTableSuite, load_ids: tuple[str, ...]):
    quoted_table = ".".join('"' + p.replace('"', '""') + '"' for p in table.split("."))
    try:
        present = {r[0] for r in con.execute(f"DESCRIBE {quoted_table}").fetchall()}
    except duckdb.Error as exc:
        raise ValueError(f"raw table {table} cannot be read: {str(exc).splitlines()[0]}") from exc
    missing = [c for c in (*suite.columns(), "x_load_id") if c not in present]
    if missing:
        raise ValueError(f"raw table {table} lacks column(s) {', '.join(missing)} that its expectation suite names")
    # Expectations see one row per distinct combination of keys, currencies and charge period (with
    # each amount's minimum, which keeps its type): the verdicts are those of the loaded rows, the
    # cost is that of the distinct values, so ten million loaded rows check as fast as a thousand.
    grouped = [c for c in suite.columns() if c not in suite.amounts]
    selected = ", ".join(
        [_quote(c) for c in grouped] + [f"min({_quote(c)}) AS {_quote(c)}" for c in suite.amounts]
    )
    group_by = ", ".join(_quote(c) for c in grouped) or "()"
    return con.execute(
        f"SELECT {selected} FROM {quoted_table} WHERE x_load_id IN ({_markers(load_ids)}) GROUP BY {group_by}",
        list(load_ids),
    ).df()


def _markers(values) -> str:
    """Parameter markers for an IN list of `values`."""
    return ", ".join("?" for _ in values)


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _expectations(suite: RawTableSuite, today: date):
    import great_expectations.expectations as gxe
    import pandas as pd

    for column in suite.keys:
        yield gxe.ExpectColumnValuesToNotBeNull(column=column)
    for column in suite.amounts:
        yield gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=NUMERIC_DTYPES)
    codes = sorted(iso_currency_codes())
    for column in suite.currencies:
        yield gxe.ExpectColumnValuesToBeInSet(column=column, value_set=codes)
    if suite.charge_period:
        start, end = suite.charge_period
        earliest = pd.Timestamp(EARLIEST_CHARGE)
        latest = pd.Timestamp(today + timedelta(days=366))
        for column in (start, end):
            if column:
                yield gxe.ExpectColumnValuesToBeBetween(column=column, min_value=earliest, max_value=latest)
        if end:
            yield gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=end, column_B=start, or_equal=True, ignore_row_if="either_value_is_missing"
            )


def _validate(frame, suite: RawTableSuite, today: date, *, name: str) -> tuple[ExpectationResult, ...]:
    # Imported here: great_expectations takes seconds to import.
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )
    batch = (
        context.data_sources.add_pandas("raw")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("rows of the loads")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    gx_suite = context.suites.add(gx.ExpectationSuite(name=f"{name} raw quality"))
    for expectation in _expectations(suite, today):
        gx_suite.add_expectation(expectation)
    validation = batch.validate(gx_suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})
    return tuple(_result(r) for r in validation.results)


def _result(gx_result) -> ExpectationResult:
    config = gx_result.expectation_config
    kwargs = config.kwargs
    column = kwargs.get("column") or f"{kwargs.get('column_A')} >= {kwargs.get('column_B')}"
    result = gx_result.result or {}
    exception = gx_result.exception_info or {}
    error = exception.get("exception_message") if exception.get("raised_exception") else None
    samples = tuple(_text(v) for v in (result.get("partial_unexpected_list") or []))
    observed = result.get("observed_value")
    return ExpectationResult(
        expectation=config.type,
        column=column,
        success=bool(gx_result.success),
        element_count=result.get("element_count"),
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=result.get("unexpected_percent"),
        sample_values=samples,
        observed=None if observed is None else str(observed),
        error=error,
    )


def _text(value) -> str:
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_text(v) for v in value) + ")"
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    text = str(value)
    if text.startswith("numpy.datetime64(") or "datetime64" in type(value).__name__:
        import pandas as pd

        return pd.Timestamp(value).isoformat(sep=" ")
    return text
