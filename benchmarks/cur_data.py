"""A realistic legacy AWS CUR of N rows, in the Athena/Parquet snake_case form, made in DuckDB.

Why this form: it is what AWS delivers when a legacy CUR is set up for Athena (Parquet), and both
tools read it — AutoStack as `aws_cur_legacy_athena`, focus-converter 1.0.0 as its `aws` provider
(its conversion configs name `line_item_unblended_cost`, `reservation_reservation_a_r_n` ...).

The rows are the real vocabulary of two shipped files, replicated and varied, all vectorized:
- data/samples/aws-cur-legacy/ (1,281 real, anonymized line items: Usage and Tax of 13 services),
  its `category/Attribute` headers snake-cased as Athena does (aws_cur_common.athena_name);
- tests/fixtures/aws/cur1_athena_2024-09.parquet (21 constructed line items covering Reserved
  Instances, Savings Plans with their negations, credits, refunds, discounts, fees, tags).
Copy c of template row t gets a new line item id, a start hour spread over September 2024 (hourly
rows) or the month (monthly rows), one of 2 payer and 40 linked accounts, a resource id of its own
(EC2 instances, EBS volumes, S3 buckets for rows that had none), team/env tags on ~80 % of resource
rows, and its amounts scaled by a factor 0.25-2.25. A Savings Plan covered line and its negation get
the same variation, so they still pair up. Deterministic: the same N gives the same file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestration.ingest.formats.aws_cur_common import athena_name  # noqa: E402

from bench_lib import DATA_DIR, PROJECT_ROOT  # noqa: E402

GENERATOR_VERSION = 1
SAMPLE_CSV = PROJECT_ROOT / "data" / "samples" / "aws-cur-legacy" / "aws-cur-legacy_sample-anonymous-aws-export-dataset.csv"
FIXTURE_PARQUET = PROJECT_ROOT / "tests" / "fixtures" / "aws" / "cur1_athena_2024-09.parquet"
MONTH_START = "2024-09-01"
MONTH_HOURS = 30 * 24
PAYERS = ["210987654321", "345678901234"]
TEAMS = ["payments", "search", "platform", "data", "mobile", "identity", "growth", "ml"]
ENVS = ["prod", "staging", "dev"]

TIMESTAMP_COLUMNS = {
    "bill_billing_period_start_date", "bill_billing_period_end_date",
    "line_item_usage_start_date", "line_item_usage_end_date",
}
NUMERIC_WORDS = ("cost", "amount", "rate", "quantity", "units", "fee", "value", "commitment", "factor",
                 "reservations")


def default_path(rows: int) -> Path:
    return DATA_DIR / f"cur1_athena_{rows}_v{GENERATOR_VERSION}.parquet"


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v + "'" for v in values) + "]"


def _sample_select(con: duckdb.DuckDBPyConnection, fixture_types: dict[str, str]) -> str:
    """The real sample's rows with Athena column names and Athena-like types."""
    headers = [r[0] for r in con.execute(
        f"DESCRIBE SELECT * FROM read_csv('{SAMPLE_CSV}', all_varchar=true)").fetchall()]
    exprs = []
    for header in headers:
        name = athena_name(header)
        src = f"NULLIF(TRIM(\"{header}\"), '')"
        kind = fixture_types.get(name)
        if name in TIMESTAMP_COLUMNS:
            expr = f"CAST(timezone('UTC', CAST({src} AS TIMESTAMPTZ)) AS TIMESTAMP)"
        elif kind == "DOUBLE" or (kind is None and name.split("_")[0] in ("line", "pricing", "reservation", "savings")
                                  and any(w in name for w in NUMERIC_WORDS)
                                  and not name.endswith(("_time", "_a_r_n", "_id", "_status", "_code"))):
            expr = f"TRY_CAST({src} AS DOUBLE)"
        else:
            expr = src
        exprs.append(f'{expr} AS "{name}"')
    return f"SELECT {', '.join(exprs)} FROM read_csv('{SAMPLE_CSV}', all_varchar=true)"


def generate(rows: int, out: Path) -> Path:
    """Write `rows` CUR line items to `out` (Parquet, snappy); atomic, so a cached file is whole."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    fixture_types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM '{FIXTURE_PARQUET}'").fetchall()}
    con.execute(f"""
        CREATE TEMP TABLE template AS
        WITH unioned AS (
            {_sample_select(con, fixture_types)}
            UNION ALL BY NAME
            SELECT * FROM '{FIXTURE_PARQUET}'
        )
        SELECT row_number() OVER () - 1 AS __t, * FROM unioned
    """)
    columns = [r[0] for r in con.execute("DESCRIBE template").fetchall() if r[0] != "__t"]
    types = {r[0]: r[1] for r in con.execute("DESCRIBE template").fetchall()}
    templates = con.execute("SELECT count(*) FROM template").fetchall()[0][0]

    scaled = {c for c in columns if types[c] == "DOUBLE" and "rate" not in c and "normalization_factor" not in c}
    replaced = {
        "identity_line_item_id": "md5(CAST(t.__copy AS VARCHAR) || '-' || CAST(t.__t AS VARCHAR))",
        "identity_time_interval": "strftime(__start, '%Y-%m-%dT%H:%M:%SZ') || '/' || strftime(__end, '%Y-%m-%dT%H:%M:%SZ')",
        "bill_billing_period_start_date": f"TIMESTAMP '{MONTH_START}'",
        "bill_billing_period_end_date": f"TIMESTAMP '{MONTH_START}' + INTERVAL 1 MONTH",
        "bill_payer_account_id": f"{_sql_list(PAYERS)}[1 + t.__copy % {len(PAYERS)}]",
        "bill_invoice_id": "'EUINDE24-' || CAST(100000 + t.__copy % 2 AS VARCHAR)",
        "line_item_usage_account_id": "CAST(100000000000 + 7919 * (__key % 40) AS VARCHAR)",
        "line_item_usage_start_date": "__start",
        "line_item_usage_end_date": "__end",
        "line_item_resource_id": f"""CASE
            WHEN t.line_item_resource_id IS NULL AND t.line_item_line_item_type = 'Usage' THEN CASE
                WHEN t.line_item_product_code = 'AmazonEC2' AND t.line_item_usage_type LIKE '%BoxUsage%'
                    THEN 'i-0' || lpad(to_hex(__key % 50000), 16, '0')
                WHEN t.line_item_product_code = 'AmazonEC2' AND t.line_item_usage_type LIKE '%EBS:Volume%'
                    THEN 'vol-0' || lpad(to_hex(__key % 80000), 16, '0')
                WHEN t.line_item_product_code = 'AmazonEC2' THEN 'i-0' || lpad(to_hex(__key % 50000), 16, '0')
                WHEN t.line_item_product_code = 'AmazonS3' THEN 'acme-data-' || CAST(__key % 3000 AS VARCHAR)
                WHEN __key % 4 <> 0 THEN 'arn:aws:' || lower(replace(replace(t.line_item_product_code, 'Amazon', ''), 'AWS', ''))
                    || ':' || coalesce(t.product_region, 'us-east-1') || ':' || CAST(100000000000 + 7919 * (__key % 40) AS VARCHAR)
                    || ':resource/' || CAST(__key % 2000 AS VARCHAR)
            END
            WHEN regexp_matches(t.line_item_resource_id, '^[a-z]+-[0-9a-f]+$')
                THEN split_part(t.line_item_resource_id, '-', 1) || '-0' || lpad(to_hex(__key % 50000), 16, '0')
            ELSE t.line_item_resource_id || CASE WHEN t.line_item_resource_id IS NOT NULL
                THEN '-' || CAST(__key % 5000 AS VARCHAR) END
        END""",
    }
    if "resource_tags_user_team" in columns:
        replaced["resource_tags_user_team"] = (
            f"CASE WHEN __has_resource AND __key % 10 <> 0 THEN {_sql_list(TEAMS)}[1 + (__key // 7) % {len(TEAMS)}] END")
    if "resource_tags_user_env" in columns:
        replaced["resource_tags_user_env"] = (
            f"CASE WHEN __has_resource AND __key % 8 <> 0 THEN {_sql_list(ENVS)}[1 + (__key // 11) % {len(ENVS)}] END")

    select = []
    for c in columns:
        if c in replaced:
            expr = replaced[c]
        elif c in scaled:
            expr = f"round(t.\"{c}\" * __factor, 10)"
        else:
            expr = f't."{c}"'
        select.append(f'{expr} AS "{c}"')

    # The time a row keeps: hourly rows move to a start hour of the month, longer ones keep their
    # offset from their own billing period start (an August credit stays in August).
    con.execute(f"""
        COPY (
            WITH g AS (
                SELECT range // {templates} AS __copy, range % {templates} AS __t FROM range({rows})
            ),
            keyed AS (
                SELECT g.__copy, t.*,
                    hash(g.__copy, CASE WHEN t.line_item_line_item_type IN ('SavingsPlanCoveredUsage', 'SavingsPlanNegation')
                        THEN coalesce(t.line_item_resource_id, '') || CAST(t.line_item_usage_start_date AS VARCHAR)
                        ELSE CAST(t.__t AS VARCHAR) END) % 1000000007 AS __key0,
                    t.line_item_usage_end_date - t.line_item_usage_start_date AS __duration
                FROM g JOIN template t USING (__t)
            ),
            varied AS (
                SELECT * EXCLUDE (__key0), CAST(__key0 AS BIGINT) AS __key,
                    0.25 + (CAST(__key0 AS BIGINT) // 13 % 1000) / 500.0 AS __factor,
                    CASE WHEN __duration <= INTERVAL 1 DAY
                        THEN TIMESTAMP '{MONTH_START}' + to_hours(CAST(__key0 % ({MONTH_HOURS} - 24) AS BIGINT))
                        ELSE TIMESTAMP '{MONTH_START}' + (line_item_usage_start_date - bill_billing_period_start_date)
                    END AS __start,
                    line_item_resource_id IS NOT NULL
                        OR line_item_line_item_type = 'Usage' AS __has_resource
                FROM keyed
            )
            SELECT {", ".join(select)}
            FROM (SELECT *, __start + __duration AS __end FROM varied) AS t
        ) TO '{tmp}' (FORMAT parquet, COMPRESSION snappy)
    """)
    con.close()
    tmp.replace(out)
    return out


def ensure(rows: int, path: Path | None = None) -> Path:
    """The cached file for `rows`, generated if missing."""
    path = path or default_path(rows)
    if not path.exists():
        generate(rows, path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    path = generate(args.rows, args.out or default_path(args.rows))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
