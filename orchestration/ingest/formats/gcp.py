"""Google Cloud Billing standard (and detailed) usage cost export, delivered as files.

The export lives in BigQuery (`gcp_billing_export_v1_<ACCOUNT>`; the detailed
`gcp_billing_export_resource_v1_<ACCOUNT>` adds `resource`, `price`, `subscription`). Schema:
Google Cloud "Structure of Standard data export" / "Structure of Detailed data export". Files
reach us in the forms BigQuery writes them:

- JSON Lines (`.json`, `.jsonl`, optionally gzip): one record per line, nested as in BigQuery
  (`service.description`, `credits[].amount`, `labels[].key`, ...). BigQuery writes INT64 as JSON
  strings and timestamps as `2024-09-01 00:00:00 UTC`; both are accepted, as is RFC 3339.
- Parquet: the same nested records as structs and lists.
- CSV: BigQuery cannot write nested or repeated fields to CSV, so a CSV comes from a query that
  flattens records into dotted headers (`service.description`, `invoice.month`; underscores,
  `service_description`, are accepted too) and serialises each repeated field (`credits`,
  `labels`, `system_labels`, `project.labels`, `project.ancestors`, `tags`) as JSON text, the way
  `TO_JSON_STRING(credits)` writes it: an array of records. Label columns may also be a JSON
  object `{"key": "value"}`, as some tools write them.

Every form becomes the same typed row in `raw.gcp_billing`: scalars flattened with `_` for `.`,
amounts DECIMAL(38, 12) read from their text (no float rounding), repeated fields kept as typed
lists, and `credits_amount`, the exact sum of the row's credits. A row that cannot be read stops
the load with an error naming the file, line (JSON Lines; CSV data row; Parquet row) and field.
"""

from __future__ import annotations

import json

import duckdb

from orchestration.ingest import sql
from orchestration.ingest.formats.base import ExportFormat, FileProbe, UnrecognizedFileError

DECIMAL = sql.DECIMAL
LABELS_TYPE = "STRUCT(key VARCHAR, value VARCHAR)[]"
TAGS_TYPE = "STRUCT(key VARCHAR, value VARCHAR, inherited BOOLEAN, namespace VARCHAR)[]"
ANCESTORS_TYPE = "STRUCT(resource_name VARCHAR, display_name VARCHAR)[]"
CREDITS_TYPE = f"STRUCT(name VARCHAR, amount {DECIMAL}, full_name VARCHAR, id VARCHAR, type VARCHAR)[]"

# Repeated fields: their record's fields, read as text first (JSON numbers keep their digits).
REPEATED_FIELDS: dict[str, tuple[str, ...]] = {
    "labels": ("key", "value"),
    "tags": ("key", "value", "inherited", "namespace"),
    "ancestors": ("resource_name", "display_name"),
    "credits": ("name", "amount", "full_name", "id", "type"),
}

# (raw column, path in the export, kind). kind: text | decimal | timestamp | one of REPEATED_FIELDS.
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("billing_account_id", "billing_account_id", "text"),
    ("invoice_month", "invoice.month", "text"),
    ("invoice_publisher_type", "invoice.publisher_type", "text"),
    ("cost_type", "cost_type", "text"),
    ("service_id", "service.id", "text"),
    ("service_description", "service.description", "text"),
    ("sku_id", "sku.id", "text"),
    ("sku_description", "sku.description", "text"),
    ("usage_start_time", "usage_start_time", "timestamp"),
    ("usage_end_time", "usage_end_time", "timestamp"),
    ("project_id", "project.id", "text"),
    ("project_number", "project.number", "text"),
    ("project_name", "project.name", "text"),
    ("project_ancestry_numbers", "project.ancestry_numbers", "text"),
    ("project_ancestors", "project.ancestors", "ancestors"),
    ("project_labels", "project.labels", "labels"),
    ("labels", "labels", "labels"),
    ("system_labels", "system_labels", "labels"),
    ("tags", "tags", "tags"),
    ("location_location", "location.location", "text"),
    ("location_country", "location.country", "text"),
    ("location_region", "location.region", "text"),
    ("location_zone", "location.zone", "text"),
    ("resource_name", "resource.name", "text"),
    ("resource_global_name", "resource.global_name", "text"),
    ("cost", "cost", "decimal"),
    ("currency", "currency", "text"),
    ("currency_conversion_rate", "currency_conversion_rate", "decimal"),
    ("cost_at_list", "cost_at_list", "decimal"),
    ("usage_amount", "usage.amount", "decimal"),
    ("usage_unit", "usage.unit", "text"),
    ("usage_amount_in_pricing_units", "usage.amount_in_pricing_units", "decimal"),
    ("usage_pricing_unit", "usage.pricing_unit", "text"),
    ("credits", "credits", "credits"),
    ("adjustment_info_id", "adjustment_info.id", "text"),
    ("adjustment_info_description", "adjustment_info.description", "text"),
    ("adjustment_info_mode", "adjustment_info.mode", "text"),
    ("adjustment_info_type", "adjustment_info.type", "text"),
    ("export_time", "export_time", "timestamp"),
    ("transaction_type", "transaction_type", "text"),
    ("seller_name", "seller_name", "text"),
    ("price_effective_price", "price.effective_price", "decimal"),
    ("price_list_price", "price.list_price", "decimal"),
    ("price_tier_start_amount", "price.tier_start_amount", "decimal"),
    ("price_unit", "price.unit", "text"),
    ("price_pricing_unit_quantity", "price.pricing_unit_quantity", "decimal"),
    ("subscription_instance_id", "subscription.instance_id", "text"),
    ("consumption_model_id", "consumption_model.id", "text"),
    ("consumption_model_description", "consumption_model.description", "text"),
)

_RAW_TYPES = {
    "text": "VARCHAR",
    "decimal": DECIMAL,
    "timestamp": "TIMESTAMP",
    "labels": LABELS_TYPE,
    "tags": TAGS_TYPE,
    "ancestors": ANCESTORS_TYPE,
    "credits": CREDITS_TYPE,
}

RAW_COLUMNS: dict[str, str] = {name: _RAW_TYPES[kind] for name, _, kind in FIELDS}
RAW_COLUMNS["credits_amount"] = DECIMAL

# What a file must have to be read as this format (paths of the export).
REQUIRED_PATHS = ("billing_account_id", "service.description", "sku.id", "usage_start_time", "cost",
                  "currency", "invoice.month")


def _structure() -> dict:
    """The JSON structure for DuckDB's from_json: every known path, leaves read as text."""
    root: dict = {}
    for _, path, kind in FIELDS:
        parts = path.split(".")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if kind in REPEATED_FIELDS:
            node[parts[-1]] = [{field: "VARCHAR" for field in REPEATED_FIELDS[kind]}]
        else:
            node[parts[-1]] = "VARCHAR"
    return root


STRUCTURE_SQL = sql.literal(json.dumps(_structure()))


def _duckdb_type(node: dict | list | str) -> str:
    if isinstance(node, dict):
        return "STRUCT(" + ", ".join(f"{sql.ident(k)} {_duckdb_type(v)}" for k, v in node.items()) + ")"
    if isinstance(node, list):
        return _duckdb_type(node[0]) + "[]"
    return node


# The same structure as read_json's columns: each top-level field and its DuckDB type.
COLUMNS_SQL = "{" + ", ".join(f"{sql.literal(k)}: {sql.literal(_duckdb_type(v))}" for k, v in _structure().items()) + "}"


# --- detection ---------------------------------------------------------------------------------


def _csv_header(probe: FileProbe, path: str) -> str | None:
    for candidate in (path, path.replace(".", "_")):
        if candidate in probe.column_set:
            return candidate
    return None


def _record_has(record: dict, path: str) -> bool:
    node: object = record
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def matches(probe: FileProbe) -> bool:
    if probe.container == "csv":
        return all(_csv_header(probe, path) for path in REQUIRED_PATHS)
    if probe.container == "jsonl":
        return probe.first_record is not None and all(_record_has(probe.first_record, p) for p in REQUIRED_PATHS)
    if probe.container == "parquet":
        # Top-level columns only; the struct fields are checked when the file is read.
        return {p.split(".")[0] for p in REQUIRED_PATHS} <= probe.column_set
    return False


# --- reading each container into one row shape --------------------------------------------------


# Valid JSON is an object exactly when its first character after JSON whitespace (the only
# leading characters json_valid accepts: space, tab, LF, CR) is `{`: a prefix match instead of
# json_type parsing the whole line once more. Blank lines (nothing but JSON whitespace, which DuckDB's
# JSON reader skips too) are told by ltrim (it stops at the first other character) rather than trim,
# which reads the whole line to find its end: together 20 % of this select.
_OBJECT_START = r"'^[ \t\n\r]*[{]'"


def _jsonl_rows(probe: FileProbe) -> str:
    """Each line as text with its line number; a line that is not JSON stops the load, named."""
    compression = f", compression='{probe.compression}'" if probe.compression else ""
    where = sql.literal(f"{probe.path}: line ")
    lines = (
        # Delimiter: the byte 0x01, which valid JSON never holds unescaped, so a line stays whole.
        f"read_csv({probe.sql_path()}, columns={{'line': 'VARCHAR'}}, header=false, delim='{chr(1)}', "
        f"quote='', escape='', auto_detect=false, max_line_size=67108864{compression})"
    )
    # preserve_insertion_order (DuckDB's default) keeps row_number() in file order.
    return f"""
    SELECT line_number, CASE
            WHEN NOT json_valid(line)
            THEN error({where} || line_number || ' is not valid JSON: ' || left(line, 120))
            WHEN NOT regexp_matches(line, {_OBJECT_START})
            THEN error({where} || line_number || ' is not a JSON object: ' || left(line, 120))
            ELSE from_json(line, {STRUCTURE_SQL})
        END AS r
    FROM (SELECT row_number() OVER () AS line_number, line FROM {lines})
    WHERE ltrim(line, ' \t\r') <> ''
    """


def _jsonl_records(probe: FileProbe) -> str:
    """Each record through DuckDB's JSON reader, straight into the text-leaved structure.

    Twice as fast as `_jsonl_rows` on two cores, for a sixth less CPU: the lines are parsed once, not
    checked and parsed again, and with no row numbers (a row_number() window keeps DuckDB to one
    thread) the file is read in parallel. It reads what `_jsonl_rows` reads wherever it reads a file
    at all, but it is stricter: a line that is not valid JSON or not an object, a field of another
    JSON type than the export's (text where an object or a list belongs) or a key twice in one record
    stops it, and its errors name no line. So the loader falls back to `_jsonl_rows`
    (`checked_select_sql`) whenever this fails: that one names the line and field, or loads what
    only it accepts (a field of another type is NULL there, the first of two keys counts)."""
    compression = f", compression='{probe.compression}'" if probe.compression else ""
    return f"""
    SELECT NULL AS line_number, j AS r
    FROM read_json({probe.sql_path()}, columns={COLUMNS_SQL}, format='newline_delimited', records=true,
                   maximum_object_size=67108864{compression}) AS j
    """


def _parquet_rows(probe: FileProbe) -> str:
    """Parquet's nested columns through JSON into the same text-leaved structure as JSON Lines."""
    return f"""
    SELECT row_number() OVER () AS line_number, from_json(to_json(p), {STRUCTURE_SQL}) AS r
    FROM read_parquet({probe.sql_path()}) AS p
    """


def _path_expr(path: str) -> str:
    return "r." + ".".join(sql.ident(part) for part in path.split("."))


def _csv_repeated(header: str | None, kind: str, where: str) -> str:
    """A repeated field written as JSON text (array of records; labels also as an object)."""
    record = "[" + json.dumps({field: "VARCHAR" for field in REPEATED_FIELDS[kind]}) + "]"
    if header is None:
        return f"CAST(NULL AS {_text_list_type(kind)})"
    value = sql.text(sql.ident(header))
    object_form = ""
    if kind == "labels":
        object_form = (
            f"WHEN json_type(CAST({value} AS JSON)) = 'OBJECT' "
            f"THEN map_entries(from_json({value}, '\"MAP(VARCHAR, VARCHAR)\"')) "
        )
    expected = "a JSON array of {key, value} records or a JSON object" if kind == "labels" else "a JSON array of records"
    message = sql.literal(f" column {header}: expected {expected}, got: ")
    return (
        f"CASE WHEN {value} IS NULL THEN NULL "
        f"WHEN NOT json_valid({value}) THEN error({where} || {message} || left({value}, 120)) "
        f"WHEN json_type(CAST({value} AS JSON)) = 'ARRAY' THEN from_json({value}, {sql.literal(record)}) "
        f"{object_form}"
        f"ELSE error({where} || {message} || left({value}, 120)) END"
    )


def _text_list_type(kind: str) -> str:
    return "STRUCT(" + ", ".join(f"{f} VARCHAR" for f in REPEATED_FIELDS[kind]) + ")[]"


def _csv_rows(probe: FileProbe) -> str:
    """Flattened headers into the nested shape the other forms have, so one SELECT types them all."""
    where = f"{sql.literal(str(probe.path) + ': data row ')} || line_number || ':'"
    fields = []
    for _, path, kind in FIELDS:
        header = _csv_header(probe, path)
        if kind in REPEATED_FIELDS:
            fields.append((path, _csv_repeated(header, kind, where)))
        elif header is None:
            fields.append((path, "CAST(NULL AS VARCHAR)"))
        else:
            fields.append((path, sql.ident(header)))
    compression = {"compression": f"'{probe.compression}'"} if probe.compression else {}
    return f"""
    SELECT line_number, {_nest(fields)} AS r
    FROM (SELECT row_number() OVER () AS line_number, * FROM {probe.read_sql(**compression)})
    """


def _nest(fields: list[tuple[str, str]]) -> str:
    """struct_pack(...) building the export's nesting from dotted paths."""
    tree: dict = {}
    for path, expr in fields:
        parts = path.split(".")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = expr

    def render(node: dict) -> str:
        items = []
        for key, value in node.items():
            rendered = render(value) if isinstance(value, dict) else value
            items.append(f"{sql.ident(key)} := {rendered}")
        return "struct_pack(" + ", ".join(items) + ")"

    return render(tree)


# --- typing --------------------------------------------------------------------------------------


def _typed(name: str, path: str, kind: str, where: str) -> str:
    expr = _path_expr(path)
    if kind == "text":
        return f"{sql.text(expr)} AS {name}"
    if kind == "timestamp":
        # Parsed once: coalesce evaluates the error only where the cast gave NULL for text that is not.
        value = sql.text(expr)
        bad = sql.literal(f" {path} is not a timestamp: ")
        return (
            f"coalesce(timezone('UTC', TRY_CAST({value} AS TIMESTAMPTZ)), "
            f"CASE WHEN {value} IS NOT NULL THEN error({where} || {bad} || {value}) END) AS {name}"
        )
    if kind == "decimal":
        return f"{_decimal(expr, path, where)} AS {name}"
    if kind == "labels":
        return f"list_transform({expr}, lambda x: {{'key': x.key, 'value': x.value}}) AS {name}"
    if kind == "ancestors":
        return f"list_transform({expr}, lambda x: {{'resource_name': x.resource_name, 'display_name': x.display_name}}) AS {name}"
    if kind == "tags":
        return (
            f"list_transform({expr}, lambda x: {{'key': x.key, 'value': x.value, "
            f"'inherited': TRY_CAST(x.inherited AS BOOLEAN), 'namespace': x.namespace}}) AS {name}"
        )
    if kind == "credits":
        amount = _decimal("x.amount", "credits.amount", where)
        return (
            f"list_transform({expr}, lambda x: {{'name': x.name, 'amount': {amount}, 'full_name': x.full_name, "
            f"'id': x.id, 'type': x.type}}) AS {name}"
        )
    raise ValueError(f"unknown field kind {kind!r} for {name}")


def _decimal(expr: str, path: str, where: str) -> str:
    value = sql.text(expr)
    bad = sql.literal(f" {path} is not a number: ")
    return (
        f"CASE WHEN {value} IS NULL THEN NULL "
        f"ELSE coalesce(TRY_CAST({value} AS {DECIMAL}), error({where} || {bad} || {value})) END"
    )


def select_sql(probe: FileProbe) -> str:
    if probe.container == "jsonl":
        # No line numbers in its errors: the loader runs checked_select_sql when this fails.
        return _typed_select(_jsonl_records(probe), sql.literal(f"{probe.path}: a record:"))
    if probe.container == "parquet":
        _check_parquet_schema(probe)
        rows = _parquet_rows(probe)
        where = f"{sql.literal(str(probe.path) + ': row ')} || line_number || ':'"
    else:
        rows = _csv_rows(probe)
        where = f"{sql.literal(str(probe.path) + ': data row ')} || line_number || ':'"
    return _typed_select(rows, where)


def checked_select_sql(probe: FileProbe) -> str | None:
    """JSON Lines read line by line: every error names its line (and field); see _jsonl_records."""
    if probe.container != "jsonl":
        return None
    return _typed_select(_jsonl_rows(probe), f"{sql.literal(str(probe.path) + ': line ')} || line_number || ':'")


def _typed_select(rows: str, where: str) -> str:
    """The raw row of each of `rows` (line_number, r: the export's record with text leaves)."""
    typed = ",\n        ".join(_typed(name, path, kind, where) for name, path, kind in FIELDS)
    month_bad = sql.literal(" invoice.month must be YYYYMM, got: ")
    return f"""
    SELECT * EXCLUDE (line_number),
        coalesce(list_sum(list_transform(credits, lambda c: c.amount)), CAST(0 AS {DECIMAL})) AS credits_amount,
        billing_account_id AS x_billing_account_id,
        CASE WHEN regexp_full_match(coalesce(invoice_month, ''), '[0-9]{{6}}')
             THEN CAST(strptime(invoice_month, '%Y%m') AS DATE)
             ELSE error({where} || {month_bad} || coalesce(invoice_month, 'nothing')) END AS x_billing_period,
        'standard' AS x_dataset
    FROM (SELECT line_number,
        {typed}
    FROM ({rows}))
    """


def _check_parquet_schema(probe: FileProbe) -> None:
    """A Parquet file whose required struct fields are missing is not this format: say which."""
    con = duckdb.connect()
    try:
        types = dict(
            (row[0], row[1])
            for row in con.execute(f"DESCRIBE SELECT * FROM read_parquet({probe.sql_path()})").fetchall()
        )
    finally:
        con.close()
    missing = []
    for path in REQUIRED_PATHS:
        top, _, sub = path.partition(".")
        if top not in types or (sub and f"{sub} " not in types[top] and f'"{sub}" ' not in types[top]):
            missing.append(path)
    if missing:
        raise UnrecognizedFileError(
            f"{probe.path}: Parquet file looks like a GCP billing export but lacks {', '.join(missing)}"
        )


GCP = ExportFormat(
    name="gcp_billing",
    description="Google Cloud Billing standard/detailed usage cost export (JSON Lines, CSV, Parquet; gzip)",
    raw_table="raw.gcp_billing",
    raw_columns=RAW_COLUMNS,
    matches=matches,
    select_sql=select_sql,
    checked_select_sql=checked_select_sql,
    # What Google invoices: cost plus every credit (credits are negative), per Google's query examples.
    billed_total_sql="sum(cost) + sum(credits_amount)",
    currency_sql="string_agg(DISTINCT currency, ',')",
    provider="Google Cloud",
)
