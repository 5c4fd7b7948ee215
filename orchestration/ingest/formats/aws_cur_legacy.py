"""AWS Cost and Usage Report, legacy ("CUR 1"), in its two spellings.

- CSV or CSV.gz with the report's own headers, `category/Attribute`: `identity/LineItemId`,
  `bill/PayerAccountId`, `lineItem/UnblendedCost`, `product/ProductName`, `pricing/publicOnDemandCost`,
  `reservation/EffectiveCost`, `savingsPlan/SavingsPlanEffectiveCost`, one `resourceTags/user:<key>`
  or `resourceTags/aws:<key>` column per activated tag, `costCategory/<name>` per cost category.
  Which columns appear depends on the account's usage (AWS: "Data dictionary", legacy CUR).
- The Athena/Parquet form of the same report (Parquet, or CSV exported from Athena): the same
  columns snake-cased (`line_item_unblended_cost`, `product_product_name`,
  `resource_tags_user_team`, `savings_plan_savings_plan_a_r_n`), product attributes as flat columns.

Both become `raw.aws_cur` rows (aws_cur_common.py). Product attributes that are not raw columns are
kept in the `product` JSON, tags in `resource_tags` (keys as written: `user:team` / `user_team`).
"""

from __future__ import annotations

from orchestration.ingest import sql
from orchestration.ingest.formats.aws_cur_common import (
    CUR2_ONLY,
    SNAKE_SIGNATURE,
    CurColumns,
    athena_name,
    build_select,
    cur_format,
    is_raw_column,
    snake_columns,
)
from orchestration.ingest.formats.base import FileProbe

SLASH_SIGNATURE = frozenset({"lineItem/UnblendedCost", "lineItem/LineItemType"})


# --- CSV with `category/Attribute` headers ------------------------------------------------------

def matches_slash(probe: FileProbe) -> bool:
    return SLASH_SIGNATURE <= probe.column_set


def _slash_columns(probe: FileProbe) -> CurColumns:
    direct: dict[str, str] = {}
    product, tags, categories = [], [], []
    for header in probe.columns:
        category, _, attribute = header.partition("/")
        if not attribute:
            continue
        value = sql.text(sql.ident(header))
        if category == "resourceTags":
            tags.append((attribute, value))
        elif category == "costCategory":
            categories.append((attribute, value))
        else:
            name = athena_name(header)
            if is_raw_column(name):
                direct.setdefault(name, header)
            elif category == "product":
                product.append((name.removeprefix("product_"), value))
    return CurColumns(
        direct=direct,
        product_json=sql.object_of(product),
        product_map=False,
        tags_json=sql.object_of(tags),
        cost_category_json=sql.object_of(categories),
        discount_json="CAST(NULL AS JSON)",
    )


def _slash_native(name: str) -> str:
    """The legacy header AutoStack expected for a raw column, for error messages."""
    known = {
        "bill_payer_account_id": "bill/PayerAccountId",
        "bill_billing_period_start_date": "bill/BillingPeriodStartDate",
        "bill_billing_period_end_date": "bill/BillingPeriodEndDate",
        "line_item_line_item_type": "lineItem/LineItemType",
        "line_item_usage_start_date": "lineItem/UsageStartDate",
        "line_item_usage_end_date": "lineItem/UsageEndDate",
        "line_item_product_code": "lineItem/ProductCode",
        "line_item_currency_code": "lineItem/CurrencyCode",
        "line_item_unblended_cost": "lineItem/UnblendedCost",
    }
    return known.get(name, name)


def select_slash(probe: FileProbe) -> str:
    return build_select(probe, _slash_columns(probe), "cur1", _slash_native)


# --- Athena / Parquet snake case -----------------------------------------------------------------

def matches_snake(probe: FileProbe) -> bool:
    return SNAKE_SIGNATURE <= probe.column_set and not (probe.column_set & CUR2_ONLY)


def select_snake(probe: FileProbe) -> str:
    return build_select(probe, snake_columns(probe), "cur1-athena", lambda name: name)


AWS_CUR_LEGACY = cur_format(
    name="aws_cur_legacy",
    description="AWS Cost and Usage Report (legacy), `lineItem/UnblendedCost` style headers (CSV, CSV.gz)",
    matches=matches_slash,
    select_sql=select_slash,
)

AWS_CUR_LEGACY_ATHENA = cur_format(
    name="aws_cur_legacy_athena",
    description="AWS Cost and Usage Report (legacy), Athena/Parquet snake_case columns (Parquet, CSV)",
    matches=matches_snake,
    select_sql=select_snake,
)
