"""Google Cloud Billing export files (JSON Lines, gzip, CSV, Parquet) -> raw.gcp_billing -> FOCUS 1.2.

Fixtures in tests/fixtures/gcp are constructed from Google's documented export schema (see the
README there); the same 30 line items in every form.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from autostack.settings import DBT_PROJECT_DIR, get_settings
from orchestration.ingest.formats.base import probe_file
from orchestration.ingest.formats.gcp import GCP
from orchestration.ingest.loader import SourceFile, detect_format, ensure_raw_tables, load_file

from conftest import FIXTURES, run_dbt

GCP_FIXTURES = FIXTURES / "gcp"
JSONL = GCP_FIXTURES / "gcp_billing_export_v1.jsonl"
FORMS = {
    "jsonl": JSONL,
    "jsonl.gz": GCP_FIXTURES / "gcp_billing_export_v1.jsonl.gz",
    "csv": GCP_FIXTURES / "gcp_billing_export_v1.csv",
    "parquet": GCP_FIXTURES / "gcp_billing_export_v1.parquet",
}
PER_LOAD_COLUMNS = ("x_SourceUri", "x_LoadId", "x_IngestedAt")


def _macro_list(name: str) -> list[str]:
    text = (DBT_PROJECT_DIR / "macros" / "focus_columns.sql").read_text()
    body = re.search(rf"macro {name}\(\).*?return\(\[(.*?)\]\)", text, re.S).group(1)
    return re.findall(r"'([^']+)'", body)


def _load(settings, path: Path):
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        ensure_raw_tables(con)
        return load_file(con, SourceFile.local(path))
    finally:
        con.close()


def _focus_rows(settings) -> tuple[list[str], list[tuple]]:
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        cur = con.execute("SELECT * FROM intermediate.int_gcp__focus_costs")
        names = [d[0] for d in cur.description]
        keep = [i for i, n in enumerate(names) if n not in PER_LOAD_COLUMNS]
        rows = sorted((tuple(str(r[i]) for i in keep) for r in cur.fetchall()))
        return [names[i] for i in keep], rows
    finally:
        con.close()


def _expected_billed_by_month() -> dict[str, Decimal]:
    """cost + credits per invoice month, summed independently of DuckDB from the JSON Lines."""
    totals: dict[str, Decimal] = {}
    for line in JSONL.read_text().splitlines():
        record = json.loads(line, parse_float=Decimal)
        billed = record["cost"] + sum((c["amount"] for c in record["credits"]), Decimal(0))
        month = record["invoice"]["month"]
        totals[month] = totals.get(month, Decimal(0)) + billed
    return totals


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_is_detected_as_the_gcp_export(form):
    probe = probe_file(FORMS[form])
    assert detect_format(probe) is GCP


def test_every_form_loads_and_gives_identical_focus_rows(tmp_path, monkeypatch):
    results = {}
    for form, path in FORMS.items():
        monkeypatch.setenv("AUTOSTACK_HOME", str(tmp_path / form.replace(".", "_")))
        settings = get_settings()
        settings.ensure_dirs()
        loaded = _load(settings, path)
        assert loaded.outcome == "loaded", loaded.error
        assert loaded.row_count == 30
        assert loaded.billing_periods == ("2024-09-01", "2024-10-01")
        assert loaded.billing_accounts == ("01A2B3-C4D5E6-F7A8B9",)
        run_dbt(settings, "build", "--select", "+int_gcp__focus_costs")
        results[form] = _focus_rows(settings)

    names, reference = results["jsonl"]
    assert names == [c for c in _macro_list("focus_1_2_columns") + _macro_list("autostack_x_columns")
                     if c not in PER_LOAD_COLUMNS]
    assert len(reference) == 30
    for form, (other_names, rows) in results.items():
        assert other_names == names
        assert rows == reference, f"{form} gives different FOCUS rows than JSON Lines"


@pytest.fixture
def loaded_warehouse(autostack_home):
    loaded = _load(autostack_home, JSONL)
    assert loaded.outcome == "loaded", loaded.error
    run_dbt(autostack_home, "build", "--select", "+int_gcp__focus_costs")
    con = duckdb.connect(str(autostack_home.warehouse_path))
    yield con, loaded
    con.close()


def test_billed_cost_is_cost_plus_credits_to_the_cent(loaded_warehouse):
    con, loaded = loaded_warehouse
    expected = _expected_billed_by_month()
    focus = dict(con.execute(
        "SELECT strftime(BillingPeriodStart AT TIME ZONE 'UTC' AT TIME ZONE 'America/Los_Angeles', '%Y%m'), "
        "sum(BilledCost) FROM intermediate.int_gcp__focus_costs GROUP BY 1"
    ).fetchall())
    assert set(focus) == {"202409", "202410"}
    for month, total in expected.items():
        assert round(focus[month], 2) == round(total, 2), month
    assert round(Decimal(str(loaded.billed_total)), 2) == round(sum(expected.values()), 2)
    # What the loader recorded as billed per slice is what focus rows add up to.
    partitions = dict(con.execute(
        "SELECT strftime(x_billing_period, '%Y%m'), billed_total FROM ingest.partitions"
    ).fetchall())
    assert {m: round(v, 2) for m, v in partitions.items()} == {m: round(v, 2) for m, v in focus.items()}


def test_no_credit_is_lost_and_each_row_nets_its_credits(loaded_warehouse):
    con, _ = loaded_warehouse
    raw_credits, raw_rows = con.execute(
        "SELECT sum(list_sum(list_transform(credits, lambda c: c.amount))), count(*) FROM raw.gcp_billing"
    ).fetchall()[0]
    focus_credits, focus_rows, mismatches = con.execute(
        "SELECT sum(x_CreditAmount), count(*), count(*) FILTER (WHERE BilledCost <> ContractedCost + "
        "coalesce(x_CreditAmount, 0) OR EffectiveCost <> BilledCost) FROM intermediate.int_gcp__focus_costs"
    ).fetchall()[0]
    assert focus_rows == raw_rows == 30
    assert focus_credits == raw_credits and raw_credits < 0
    assert mismatches == 0
    credit_types = {t for (t,) in con.execute(
        "SELECT DISTINCT unnest(string_split(x_Extras ->> 'CreditTypes', ',')) FROM intermediate.int_gcp__focus_costs"
    ).fetchall()}
    assert {"SUSTAINED_USAGE_DISCOUNT", "COMMITTED_USAGE_DISCOUNT", "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE",
            "FREE_TIER", "PROMOTION"} <= credit_types


def test_extras_keep_only_the_members_with_a_value(loaded_warehouse):
    con, _ = loaded_warehouse
    extras = [json.loads(text) for (text,) in con.execute(
        "SELECT x_Extras::VARCHAR FROM intermediate.int_gcp__focus_costs").fetchall()]
    assert len(extras) == 30
    assert all(None not in e.values() for e in extras)
    # A member is there when the export gives it a value, left out when it does not.
    adjusted = con.execute("SELECT count(*) FROM raw.gcp_billing WHERE adjustment_info_id IS NOT NULL "
                           "OR adjustment_info_type IS NOT NULL").fetchall()[0][0]
    assert 0 < adjusted < 30
    assert sum("AdjustmentInfo" in e for e in extras) == adjusted
    assert all("Credits" in e and "ExportTime" in e for e in extras)


def test_charge_categories_tags_and_accounts(loaded_warehouse):
    con, _ = loaded_warehouse
    by_cost_type = dict(con.execute(
        "SELECT x_CostType || '/' || coalesce(ChargeClass, '-'), ChargeCategory FROM intermediate.int_gcp__focus_costs"
    ).fetchall())
    assert by_cost_type == {"regular/-": "Usage", "tax/-": "Tax", "adjustment/Correction": "Adjustment",
                            "adjustment/-": "Adjustment", "rounding_error/-": "Adjustment"}
    vm = con.execute(
        "SELECT Tags, SubAccountId, SubAccountName, RegionId, RegionName, AvailabilityZone, ResourceType "
        "FROM intermediate.int_gcp__focus_costs WHERE SkuId = '2E27-4F75-95CD' AND ChargeCategory = 'Usage' "
        "AND BillingPeriodStart < TIMESTAMP '2024-10-01'"
    ).fetchall()
    tags = json.loads(vm[0][0])
    assert tags == {"env": "prod", "team": "web", "app": "frontend",
                    "compute.googleapis.com/machine_spec": "n1-standard-1", "compute.googleapis.com/cores": "1",
                    "compute.googleapis.com/memory": "3840", "111111111111/cost-center": "cc-42"}
    assert vm[0][1:] == ("acme-web-prod", "ACME Web Prod", "us-central1", "Iowa", "us-central1-a",
                         "compute.instances")
    support = con.execute(
        "SELECT SubAccountId, Tags, ServiceCategory FROM intermediate.int_gcp__focus_costs WHERE ServiceName = 'Support'"
    ).fetchall()
    assert support == [(None, None, "Other"), (None, None, "Other")]


@pytest.mark.parametrize("line", ["[1, 2]", "42", '"text"', "null", "\t[]", "  true"])
def test_a_jsonl_line_that_is_not_an_object_is_quarantined_naming_file_and_line(autostack_home, tmp_path, line):
    lines = JSONL.read_text().splitlines()
    bad = tmp_path / "gcp_billing_export_v1-not-object.jsonl"
    bad.write_text("\n".join(lines[:4] + [line] + lines[4:]) + "\n")
    result = _load(autostack_home, bad)
    assert result.outcome == "quarantined"
    assert f"{bad}: line 5 is not a JSON object: {line}" in result.error, result.error


def test_blank_and_whitespace_indented_jsonl_lines(autostack_home, tmp_path):
    """Lines of JSON whitespace only are skipped; an object after JSON whitespace (spaces, a tab) is an
    object. Line numbers in errors count the blank lines."""
    lines = JSONL.read_text().splitlines()
    spaced = tmp_path / "gcp_billing_export_v1-spaced.jsonl"
    spaced.write_text("\n".join([lines[0], "   ", " \t " + lines[1], "", "\t", " \t\r", *lines[2:]]) + "\n")
    result = _load(autostack_home, spaced)
    assert result.outcome == "loaded" and result.row_count == len(lines), result.error
    late = tmp_path / "gcp_billing_export_v1-late.jsonl"
    late.write_text("\n".join([lines[0], "", "\t", json.dumps({**json.loads(lines[1]), "cost": "twelve"})]) + "\n")
    result = _load(autostack_home, late)
    assert result.outcome == "quarantined" and "line 4: cost is not a number: twelve" in result.error, result.error


def _rows_of(select: str) -> list[tuple]:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        return sorted(con.execute(f"SELECT * FROM ({select})").fetchall(), key=repr)
    finally:
        con.close()


def test_the_fast_jsonl_reading_gives_the_checked_readings_rows(tmp_path):
    """JSON Lines load through DuckDB's JSON reader; the line-by-line reading the loader falls back to
    must give the very same raw rows wherever the fast one reads the file at all."""
    lines = JSONL.read_text().splitlines()
    first = json.loads(lines[0])
    odd = {**first, "cost": 1.5e-7, "labels": [{"key": "quote\"d", "value": 12}], "sku": {**first["sku"], "description": {"nested": [1, 2]}}}
    varied = tmp_path / "gcp_billing_export_v1-varied.jsonl"
    varied.write_text("\n".join([lines[0], "", *lines[1:], " \t", json.dumps(odd, ensure_ascii=True), json.dumps(odd, ensure_ascii=False)]) + "\n")
    for path in (JSONL, FORMS["jsonl.gz"], varied):
        probe = probe_file(path)
        fast, checked = GCP.select_sql(probe), GCP.checked_select_sql(probe)
        assert "read_json(" in fast and "read_json(" not in checked
        fast_rows = _rows_of(fast)
        assert len(fast_rows) == len(lines) + (2 if path == varied else 0)
        assert fast_rows == _rows_of(checked), path
    assert GCP.checked_select_sql(probe_file(FORMS["csv"])) is None


@pytest.mark.parametrize("change", ["a key twice", "text for an object"])
def test_what_only_the_checked_jsonl_reading_accepts_still_loads(autostack_home, tmp_path, change):
    """DuckDB's JSON reader refuses a record with a key twice (the checked reading takes its first
    value) or text where the export has an object (the checked reading leaves its fields NULL)."""
    lines = JSONL.read_text().splitlines()
    first = json.loads(lines[0])
    if change == "a key twice":
        line = json.dumps(first)[:-1] + ', "billing_account_id": "01A2B3-C4D5E6-000000"}'
    else:
        line = json.dumps({**first, "project": "acme-web-prod"})
    path = tmp_path / "gcp_billing_export_v1-lenient.jsonl"
    path.write_text("\n".join([*lines, line]) + "\n")
    probe = probe_file(path)
    with pytest.raises(duckdb.Error):
        _rows_of(GCP.select_sql(probe))
    result = _load(autostack_home, path)
    assert result.outcome == "loaded" and result.row_count == len(lines) + 1, result.error
    assert result.billing_accounts == (first["billing_account_id"],)


def test_malformed_jsonl_line_is_quarantined_naming_file_and_line(autostack_home, tmp_path):
    lines = JSONL.read_text().splitlines()
    bad = tmp_path / "gcp_billing_export_v1-broken.jsonl"
    bad.write_text("\n".join(lines[:3] + ['{"billing_account_id": "01A2B3-C4D5E6-F7A8B9", "cost": ,}'] + lines[3:]) + "\n")
    result = _load(autostack_home, bad)
    assert result.outcome == "quarantined"
    assert str(bad) in result.error and "line 4 is not valid JSON" in result.error, result.error
    con = duckdb.connect(str(autostack_home.warehouse_path))
    try:
        assert con.execute("SELECT count(*) FROM raw.gcp_billing").fetchall()[0][0] == 0
    finally:
        con.close()


def test_bad_values_name_the_file_row_and_field(autostack_home, tmp_path):
    csv_lines = FORMS["csv"].read_text().splitlines()
    broken = tmp_path / "credits.csv"
    # The second data row's credits column holds text that is not JSON.
    broken.write_text("\n".join([csv_lines[0], csv_lines[1], csv_lines[2].replace('"[{""name""', '"[{name', 1)]) + "\n")
    result = _load(autostack_home, broken)
    assert result.outcome == "quarantined"
    assert str(broken) in result.error and "data row 2: column credits: expected a JSON array" in result.error, result.error

    first, second = (json.loads(line) for line in JSONL.read_text().splitlines()[:2])
    cases = {
        "month.jsonl": ([first, {**second, "invoice": {"month": "2024-09"}}],
                        "line 2: invoice.month must be YYYYMM, got: 2024-09"),
        "cost.jsonl": ([{**first, "cost": "twelve"}], "line 1: cost is not a number: twelve"),
        "time.jsonl": ([{**first, "usage_start_time": "yesterday"}], "line 1: usage_start_time is not a timestamp"),
    }
    for name, (records, expected) in cases.items():
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        result = _load(autostack_home, path)
        assert result.outcome == "quarantined", name
        assert str(path) in result.error and expected in result.error, result.error


def test_underscore_headers_and_object_labels_are_read_too(autostack_home, tmp_path):
    """CSVs written by other tools: service_description headers, labels as a JSON object."""
    con = duckdb.connect()
    source = FORMS["csv"]
    columns = [c[0] for c in con.execute(f"DESCRIBE SELECT * FROM read_csv('{source}', all_varchar=true)").fetchall()]
    select = ", ".join(
        (f"""CASE WHEN "labels" IS NULL OR "labels" = '[]' THEN NULL ELSE to_json(map_from_entries(
              from_json("labels", '[{{"key":"VARCHAR","value":"VARCHAR"}}]'))) END AS "labels" """
         if c == "labels" else f'"{c}" AS "{c.replace(".", "_")}"')
        for c in columns
    )
    target = tmp_path / "underscored.csv"
    con.execute(f"COPY (SELECT {select} FROM read_csv('{source}', all_varchar=true)) TO '{target}' (HEADER true)")
    con.close()
    assert "service_description" in target.read_text().splitlines()[0]
    result = _load(autostack_home, target)
    assert result.outcome == "loaded", result.error
    wh = duckdb.connect(str(autostack_home.warehouse_path))
    try:
        labels = wh.execute(
            "SELECT labels FROM raw.gcp_billing WHERE sku_id = '2E27-4F75-95CD' AND cost_type = 'regular' LIMIT 1"
        ).fetchall()[0][0]
        total = wh.execute("SELECT sum(cost) + sum(credits_amount) FROM raw.gcp_billing").fetchall()[0][0]
    finally:
        wh.close()
    assert labels == [{"key": "app", "value": "frontend"}]
    assert round(total, 6) == round(sum(_expected_billed_by_month().values()), 6)


def test_fixture_script_reproduces_the_committed_fixtures(tmp_path):
    """The CSV and Parquet fixtures are derived from the JSON Lines by make_fixtures.py."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_gcp_fixtures", GCP_FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in module.rows()) == JSONL.read_text()
    module.write_csv(JSONL, tmp_path / "x.csv")
    assert (tmp_path / "x.csv").read_text() == FORMS["csv"].read_text()
    module.write_parquet(JSONL, tmp_path / "x.parquet")
    con = duckdb.connect()
    try:
        differing = con.execute(
            f"SELECT count(*) FROM ((SELECT * FROM read_parquet('{tmp_path / 'x.parquet'}') EXCEPT ALL "
            f"SELECT * FROM read_parquet('{FORMS['parquet']}')) UNION ALL (SELECT * FROM "
            f"read_parquet('{FORMS['parquet']}') EXCEPT ALL SELECT * FROM read_parquet('{tmp_path / 'x.parquet'}')))"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert differing == 0


def test_text_that_looks_like_a_delimiter_stays_in_its_line(autostack_home, tmp_path):
    """JSON Lines are split on newlines only: a label value with a literal backslash-x01 loads."""
    record = json.loads(JSONL.read_text().splitlines()[0])
    record["labels"] = [{"key": "note", "value": "a\\x01b, \"quoted\"; tab\tend"}]
    path = tmp_path / "odd-text.jsonl"
    path.write_text(json.dumps(record) + "\r\n")
    result = _load(autostack_home, path)
    assert result.outcome == "loaded", result.error
    con = duckdb.connect(str(autostack_home.warehouse_path))
    try:
        assert con.execute("SELECT labels FROM raw.gcp_billing").fetchall()[0][0] == record["labels"]
    finally:
        con.close()
