"""SQL snippets the format modules share, so each cast is written once.

Billing files write the same value many ways: empty or the text NULL for missing values,
`2024-09-01 00:00:00`, `2024-09-01T00:00:00Z` or `09/01/2024` for times, JSON text for tags.
"""

from __future__ import annotations

DECIMAL = "DECIMAL(38, 12)"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def text(expr: str) -> str:
    """Text with empty strings and the literal NULL (as FOCUS samples write it) made NULL."""
    return f"NULLIF(NULLIF(TRIM(CAST({expr} AS VARCHAR)), ''), 'NULL')"


def decimal(expr: str) -> str:
    return f"CAST({text(expr)} AS {DECIMAL})"


def utc_timestamp(expr: str) -> str:
    """A UTC TIMESTAMP from ISO text with or without offset (`Z`, `+01:00`) or `MM/DD/YYYY`."""
    t = text(expr)
    return (
        f"CASE WHEN {t} IS NULL THEN NULL "
        f"WHEN regexp_matches({t}, '^\\d{{1,2}}/\\d{{1,2}}/\\d{{4}}') "
        f"THEN CAST(strptime(split_part({t}, ' ', 1), '%m/%d/%Y') AS TIMESTAMP) "
        f"ELSE timezone('UTC', CAST({t} AS TIMESTAMPTZ)) END"
    )


def month_start(timestamp_expr: str) -> str:
    return f"CAST(date_trunc('month', {timestamp_expr}) AS DATE)"


def json_text(expr: str) -> str:
    """JSON text kept as JSON; empty and NULL become NULL; invalid JSON fails the load."""
    return f"CAST({text(expr)} AS JSON)"
