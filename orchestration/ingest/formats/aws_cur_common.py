"""What the AWS Cost and Usage Report variants share: one typed row shape in `raw.aws_cur`.

AWS writes the same line items three ways (see aws_cur_legacy.py and aws_cur2.py):

- legacy CUR, CSV headers `category/AttributeName` (`lineItem/UnblendedCost`, `resourceTags/user:team`);
- legacy CUR as Athena/Parquet writes it, the same names in snake case (`line_item_unblended_cost`,
  `resource_tags_user_team`, `product_product_name`): every capital letter starts a new word, so
  `reservation/ReservationARN` becomes `reservation_reservation_a_r_n`;
- CUR 2.0 (AWS Data Exports), snake case with a fixed schema in which product attributes, resource
  tags, cost categories and discounts are MAP columns (`product`, `resource_tags`, ...), written as
  JSON text in CSV. Static column names: AWS Data Exports table dictionary, "Cost and Usage Report
  (CUR) 2.0".

All three become the CUR 2.0 column names below, typed: amounts DECIMAL(38, 12) read from their text
(no float rounding on CSV), times UTC TIMESTAMP, the maps JSON objects. Product attributes that CUR
2.0 keeps only in its `product` map (`product_name`, `region`, `servicename`) are lifted into columns
so every variant answers the same questions. Tag keys keep the source's spelling here (`user:team`
or `user_team`); the dbt models decide what FOCUS sees.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from orchestration.ingest import sql
from orchestration.ingest.formats.base import ExportFormat, FileProbe, UnrecognizedFileError

DECIMAL = sql.DECIMAL
TEXT, AMOUNT, TIME = "VARCHAR", DECIMAL, "TIMESTAMP"

# The raw table's columns (CUR 2.0 names) and their types. Columns a file lacks are NULL.
RAW_COLUMNS: dict[str, str] = {
    "identity_line_item_id": TEXT,
    "identity_time_interval": TEXT,
    "bill_bill_type": TEXT,
    "bill_billing_entity": TEXT,
    "bill_billing_period_start_date": TIME,
    "bill_billing_period_end_date": TIME,
    "bill_invoice_id": TEXT,
    "bill_invoicing_entity": TEXT,
    "bill_payer_account_id": TEXT,
    "bill_payer_account_name": TEXT,
    "line_item_availability_zone": TEXT,
    "line_item_blended_cost": AMOUNT,
    "line_item_currency_code": TEXT,
    "line_item_legal_entity": TEXT,
    "line_item_line_item_description": TEXT,
    "line_item_line_item_type": TEXT,
    "line_item_net_unblended_cost": AMOUNT,
    "line_item_normalization_factor": AMOUNT,
    "line_item_normalized_usage_amount": AMOUNT,
    "line_item_operation": TEXT,
    "line_item_product_code": TEXT,
    "line_item_resource_id": TEXT,
    "line_item_tax_type": TEXT,
    "line_item_unblended_cost": AMOUNT,
    "line_item_unblended_rate": AMOUNT,
    "line_item_usage_account_id": TEXT,
    "line_item_usage_account_name": TEXT,
    "line_item_usage_amount": AMOUNT,
    "line_item_usage_end_date": TIME,
    "line_item_usage_start_date": TIME,
    "line_item_usage_type": TEXT,
    "pricing_currency": TEXT,
    "pricing_lease_contract_length": TEXT,
    "pricing_offering_class": TEXT,
    "pricing_public_on_demand_cost": AMOUNT,
    "pricing_public_on_demand_rate": AMOUNT,
    "pricing_purchase_option": TEXT,
    "pricing_rate_code": TEXT,
    "pricing_rate_id": TEXT,
    "pricing_term": TEXT,
    "pricing_unit": TEXT,
    "product_product_name": TEXT,
    "product_servicecode": TEXT,
    "product_servicename": TEXT,
    "product_product_family": TEXT,
    "product_region": TEXT,
    "product_region_code": TEXT,
    "product_location": TEXT,
    "product_location_type": TEXT,
    "product_from_location": TEXT,
    "product_from_location_type": TEXT,
    "product_from_region_code": TEXT,
    "product_to_region_code": TEXT,
    "product_sku": TEXT,
    "product_usagetype": TEXT,
    "product_operation": TEXT,
    "product_instance_type": TEXT,
    "product_fee_code": TEXT,
    "reservation_amortized_upfront_cost_for_usage": AMOUNT,
    "reservation_amortized_upfront_fee_for_billing_period": AMOUNT,
    "reservation_effective_cost": AMOUNT,
    "reservation_start_time": TEXT,
    "reservation_end_time": TEXT,
    "reservation_modification_status": TEXT,
    "reservation_normalized_units_per_reservation": AMOUNT,
    "reservation_number_of_reservations": AMOUNT,
    "reservation_recurring_fee_for_usage": AMOUNT,
    "reservation_reservation_a_r_n": TEXT,
    "reservation_subscription_id": TEXT,
    "reservation_total_reserved_normalized_units": AMOUNT,
    "reservation_total_reserved_units": AMOUNT,
    "reservation_units_per_reservation": AMOUNT,
    "reservation_unused_amortized_upfront_fee_for_billing_period": AMOUNT,
    "reservation_unused_normalized_unit_quantity": AMOUNT,
    "reservation_unused_quantity": AMOUNT,
    "reservation_unused_recurring_fee": AMOUNT,
    "reservation_upfront_value": AMOUNT,
    "savings_plan_amortized_upfront_commitment_for_billing_period": AMOUNT,
    "savings_plan_recurring_commitment_for_billing_period": AMOUNT,
    "savings_plan_savings_plan_a_r_n": TEXT,
    "savings_plan_savings_plan_effective_cost": AMOUNT,
    "savings_plan_savings_plan_rate": AMOUNT,
    "savings_plan_total_commitment_to_date": AMOUNT,
    "savings_plan_used_commitment": AMOUNT,
    "savings_plan_offering_type": TEXT,
    "savings_plan_payment_option": TEXT,
    "savings_plan_purchase_term": TEXT,
    "savings_plan_region": TEXT,
    "savings_plan_instance_type_family": TEXT,
    "savings_plan_start_time": TEXT,
    "savings_plan_end_time": TEXT,
    "capacity_reservation_capacity_reservation_arn": TEXT,
    "capacity_reservation_capacity_reservation_status": TEXT,
    "capacity_reservation_capacity_reservation_type": TEXT,
    "discount_bundled_discount": AMOUNT,
    "discount_total_discount": AMOUNT,
    # Maps as JSON objects: product attributes not lifted above, tags, cost categories, discounts.
    "product": "JSON",
    "resource_tags": "JSON",
    "cost_category": "JSON",
    "discount": "JSON",
    # Which spelling the file used: cur1 (slash headers), cur1-athena (snake), cur2.
    "x_cur_schema": TEXT,
}

# The columns a CUR file must have for its rows to become FOCUS rows (and be placed in a slice).
REQUIRED = (
    "bill_payer_account_id",
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_product_code",
    "line_item_currency_code",
    "line_item_unblended_cost",
)

# CUR 2.0 keeps these product attributes only inside its `product` map: key in the map.
PRODUCT_MAP_KEYS = {name: name.removeprefix("product_") for name in RAW_COLUMNS if name.startswith("product_")}
MAP_COLUMNS = ("product", "resource_tags", "cost_category", "discount")

# Columns only CUR 2.0 has; a snake-case file with any of them is CUR 2.0 (aws_cur2.py).
CUR2_ONLY = frozenset({
    "product", "resource_tags", "cost_category", "discount", "tags",
    "bill_payer_account_name", "line_item_usage_account_name",
    "line_item_iam_principal", "line_item_user_identifier",
    "capacity_reservation_capacity_reservation_arn", "capacity_reservation_capacity_reservation_status",
    "capacity_reservation_capacity_reservation_type",
})
SNAKE_SIGNATURE = frozenset({"line_item_unblended_cost", "line_item_line_item_type"})


def is_raw_column(name: str) -> bool:
    """A raw column read straight from a file column of the same (snake) name; maps are built."""
    return name in RAW_COLUMNS and name not in MAP_COLUMNS and name != "x_cur_schema"


def snake_name(name: str) -> str:
    """A legacy CUR header part as Athena spells it: `ReservationARN` -> `reservation_a_r_n`."""
    spaced = re.sub(r"([A-Z])", r"_\1", name).lower()
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", spaced)).strip("_")


def athena_name(header: str) -> str:
    """`lineItem/UnblendedCost` -> `line_item_unblended_cost` (category and attribute snake-cased)."""
    category, _, attribute = header.partition("/")
    return f"{snake_name(category)}_{snake_name(attribute)}"


def parquet_column_types(probe: FileProbe) -> dict[str, str]:
    """Column name -> DuckDB type of a Parquet file (CSV columns are all text)."""
    if probe.container != "parquet":
        return {}
    con = duckdb.connect()
    try:
        return {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {probe.read_sql()}").fetchall()}
    finally:
        con.close()


def typed(expr: str, type_: str, source_type: str | None = None) -> str:
    """The raw column from a file column: typed Parquet columns are cast directly, text is cleaned."""
    if type_ == TIME:
        return sql.utc_timestamp(expr, source_type)
    if type_ == DECIMAL:
        return sql.decimal(expr, source_type)
    return sql.text(expr)


def map_as_json(column: str, column_type: str | None) -> str:
    """A CUR 2.0 map column as a JSON object: a Parquet MAP/STRUCT, or JSON text in CSV."""
    src = sql.ident(column)
    if column_type and column_type.upper().startswith(("MAP", "STRUCT")):
        return f"CAST({src} AS JSON)"
    return sql.json_text(src)


@dataclass(frozen=True)
class CurColumns:
    """How one file's columns feed the raw row (expressions over the file's own columns)."""

    direct: dict[str, str]  # raw column -> source column
    product_json: str  # JSON expression of the product attributes not lifted into columns
    product_map: bool  # product_json is a CUR 2.0 map from which lifted attributes are read
    tags_json: str
    cost_category_json: str
    discount_json: str


def missing_required(columns: CurColumns) -> list[str]:
    return [name for name in REQUIRED if name not in columns.direct]


def build_select(probe: FileProbe, columns: CurColumns, schema: str, native: Callable[[str], str]) -> str:
    """The loader's SELECT: every raw column typed, plus the slice keys (payer, billing period)."""
    missing = missing_required(columns)
    if missing:
        raise UnrecognizedFileError(
            f"{probe.path}: an AWS Cost and Usage Report ({schema}) without the required column(s) "
            f"{', '.join(native(name) for name in missing)}; AutoStack needs "
            f"{', '.join(native(name) for name in REQUIRED)}"
        )
    selected = []
    for name, type_ in RAW_COLUMNS.items():
        if name in MAP_COLUMNS or name == "x_cur_schema":
            continue
        if name in columns.direct:
            expr = typed(sql.ident(columns.direct[name]), type_, probe.type_of(columns.direct[name]))
        elif columns.product_map and name in PRODUCT_MAP_KEYS:
            expr = typed(f"json_extract_string(__product, '$.\"{PRODUCT_MAP_KEYS[name]}\"')", type_)
        else:
            expr = f"CAST(NULL AS {type_})"
        selected.append(f"{expr} AS {sql.ident(name)}")
    selected += [
        "__product AS product",
        f"{columns.tags_json} AS resource_tags",
        f"{columns.cost_category_json} AS cost_category",
        f"{columns.discount_json} AS discount",
        f"'{schema}' AS x_cur_schema",
    ]
    return f"""
    SELECT *,
        bill_payer_account_id AS x_billing_account_id,
        CAST(bill_billing_period_start_date AS DATE) AS x_billing_period,
        'cur' AS x_dataset
    FROM (
        SELECT {", ".join(selected)}
        FROM (SELECT __source.*, {columns.product_json} AS __product FROM {probe.read_sql()} AS __source)
    )
    """


def cur_format(
    name: str,
    description: str,
    matches: Callable[[FileProbe], bool],
    select_sql: Callable[[FileProbe], str],
) -> ExportFormat:
    """Every CUR variant loads into the same raw table and reconciles to the same total."""
    return ExportFormat(
        name=name,
        description=description,
        raw_table="raw.aws_cur",
        raw_columns=RAW_COLUMNS,
        matches=matches,
        select_sql=select_sql,
        # What AWS invoices: the unblended cost of every line item (fees, usage, tax, credits, refunds).
        billed_total_sql="sum(line_item_unblended_cost)",
        currency_sql="string_agg(DISTINCT line_item_currency_code, ',')",
        provider="AWS",
    )


def snake_columns(probe: FileProbe, map_types: dict[str, str] | None = None) -> CurColumns:
    """Snake-case columns, flat (legacy Athena) or with CUR 2.0 map columns; both are read."""
    map_types = map_types or {}
    present = probe.column_set
    direct: dict[str, str] = {}
    product, tags, categories = [], [], []
    for name in probe.columns:
        value = sql.text(sql.ident(name))
        if name in MAP_COLUMNS:
            continue
        if name.startswith("resource_tags_"):
            tags.append((name.removeprefix("resource_tags_"), value))
        elif name.startswith("cost_category_"):
            categories.append((name.removeprefix("cost_category_"), value))
        elif is_raw_column(name):
            direct[name] = name
        elif name.startswith("product_"):
            product.append((name.removeprefix("product_"), value))

    def map_or_flat(column: str, flat: list[tuple[str, str]]) -> str:
        return map_as_json(column, map_types.get(column)) if column in present else sql.object_of(flat)

    return CurColumns(
        direct=direct,
        product_json=map_or_flat("product", product),
        product_map="product" in present,
        tags_json=map_or_flat("resource_tags", tags),
        cost_category_json=map_or_flat("cost_category", categories),
        discount_json=map_or_flat("discount", []),
    )
