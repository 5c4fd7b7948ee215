"""FOCUS 1.0, 1.1, 1.2 (and 1.3, which only adds columns) exports from any provider.

AWS Data Exports FOCUS, Azure/Microsoft FOCUS exports, GCP's FOCUS view, Oracle and others,
as CSV, CSV.gz or Parquet. Values may all be quoted, timestamps may be `2024-09-01 00:00:00`
or RFC 3339, Tags and SkuPriceDetails are JSON text. Columns a version lacks are NULL; columns
outside FOCUS 1.2 (1.3 additions, `x_` provider extras) are kept together in `x_Extras` (JSON, the
members with a value).
"""

from __future__ import annotations

from orchestration.ingest import sql
from orchestration.ingest.focus_spec import FOCUS_1_0_REQUIRED, FOCUS_1_2_COLUMNS, INTRODUCED_IN
from orchestration.ingest.formats.base import ExportFormat, FileProbe

RAW_COLUMNS: dict[str, str] = {**FOCUS_1_2_COLUMNS, "x_FocusVersion": "VARCHAR", "x_Extras": "JSON"}


def focus_version(columns: frozenset[str]) -> str:
    version = "1.0"
    for candidate, introduced in INTRODUCED_IN.items():
        if columns & introduced:
            version = candidate
    return version


def matches(probe: FileProbe) -> bool:
    return FOCUS_1_0_REQUIRED <= probe.column_set


def _column(name: str, type_: str, present: frozenset[str], source_type: str | None = None) -> str:
    if name not in present:
        return f"CAST(NULL AS {type_}) AS {sql.ident(name)}"
    src = sql.ident(name)
    if type_ == "TIMESTAMP":
        expr = sql.utc_timestamp(src, source_type)
    elif type_.startswith("DECIMAL"):
        expr = sql.decimal(src, source_type)
    elif type_ == "JSON":
        expr = sql.json_text(src)
    else:
        expr = sql.text(src)
    return f"{expr} AS {sql.ident(name)}"


def select_sql(probe: FileProbe) -> str:
    present = probe.column_set
    columns = [_column(name, type_, present, probe.type_of(name)) for name, type_ in FOCUS_1_2_COLUMNS.items()]
    extras = [c for c in probe.columns if c not in FOCUS_1_2_COLUMNS and c != "Id"]
    columns.append(f"{sql.object_of([(c, sql.text(sql.ident(c))) for c in extras])} AS x_Extras")
    version = focus_version(present)
    columns.append(f"'{version}' AS x_FocusVersion")
    return f"""
    SELECT *,
        BillingAccountId AS x_billing_account_id,
        CAST(BillingPeriodStart AS DATE) AS x_billing_period,
        'focus' AS x_dataset
    FROM (SELECT {", ".join(columns)} FROM {probe.read_sql()})
    """


FOCUS = ExportFormat(
    name="focus",
    description="FOCUS 1.0–1.3 cost and usage export, any provider (CSV, CSV.gz, Parquet)",
    raw_table="raw.focus_costs",
    raw_columns=RAW_COLUMNS,
    matches=matches,
    select_sql=select_sql,
    billed_total_sql='sum("BilledCost")',
    currency_sql='string_agg(DISTINCT "BillingCurrency", \',\')',
    provider="FOCUS",
)
