"""AWS Cost and Usage Report 2.0 (AWS Data Exports, table COST_AND_USAGE_REPORT).

A fixed schema of snake_case columns (AWS Data Exports table dictionary, "Cost and Usage Report (CUR)
2.0"): `bill_payer_account_id`, `line_item_usage_account_id`, `line_item_line_item_type`,
`line_item_unblended_cost`, `pricing_public_on_demand_cost`, `reservation_effective_cost`,
`savings_plan_savings_plan_effective_cost`, ... plus columns legacy CUR never had
(`bill_payer_account_name`, `line_item_usage_account_name`, `capacity_reservation_*`). Product
attributes, resource tags, cost categories and discounts are MAP columns (`product`,
`resource_tags`, `cost_category`, `discount`): MAP(VARCHAR, VARCHAR) in Parquet, JSON text in CSV.
Exports may select a subset of columns. Delivered as Parquet or CSV (gzip).
"""

from __future__ import annotations

from orchestration.ingest.formats.aws_cur_common import (
    CUR2_ONLY,
    SNAKE_SIGNATURE,
    build_select,
    cur_format,
    parquet_column_types,
    snake_columns,
)
from orchestration.ingest.formats.base import FileProbe


def matches(probe: FileProbe) -> bool:
    return SNAKE_SIGNATURE <= probe.column_set and bool(probe.column_set & CUR2_ONLY)


def select_sql(probe: FileProbe) -> str:
    columns = snake_columns(probe, parquet_column_types(probe))
    return build_select(probe, columns, "cur2", lambda name: name)


AWS_CUR2 = cur_format(
    name="aws_cur2",
    description="AWS Cost and Usage Report 2.0 / Data Exports, snake_case with map columns (Parquet, CSV, CSV.gz)",
    matches=matches,
    select_sql=select_sql,
)
