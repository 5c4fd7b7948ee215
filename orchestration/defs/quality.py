"""Checks on focus.costs after every load: totals reconcile to the sources, and FOCUS conformance."""


import re
from pathlib import Path

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue, asset_check
from dagster_duckdb import DuckDBResource

from orchestration.defs import inputs_state
from orchestration.ingest import sql
from orchestration.resources import AutoStackSettings

FOCUS_COSTS = AssetKey(["focus", "costs_v1_2"])
CENT = 0.005

# Per source file and billing period: the source's own billed total against sum(BilledCost) of the
# focus rows loaded from that file for that period. (Not per billing account: a mapping may name the
# account differently from the export's partition key, e.g. Azure MCA billing profile vs account.) Azure's actual export, when
# the amortized export of the same slice is loaded too, contributes only its commitment purchases and
# refunds (the amortized rows carry the rest), so its expected total is that part alone.
RECONCILIATION_SQL = """
WITH slices AS (
    SELECT p.*,
           bool_or(x_dataset = 'amortized') OVER (PARTITION BY raw_table, x_billing_account_id, x_billing_period) AS has_amortized
    FROM ingest.partitions p
),
expected AS (
    SELECT source_uri, raw_table, x_billing_period AS billing_period,
           string_agg(DISTINCT x_billing_account_id, ', ' ORDER BY x_billing_account_id) AS billing_account_id,
           sum(CASE WHEN x_dataset = 'actual' AND has_amortized AND paired_billed_total IS NOT NULL
                    THEN paired_billed_total ELSE billed_total END) AS source_billed,
           sum(row_count) AS source_rows
    FROM slices
    GROUP BY ALL
),
actual AS (
    SELECT x_SourceUri AS source_uri, CAST(date_trunc('month', BillingPeriodStart) AS DATE) AS billing_period,
           sum(BilledCost) AS focus_billed, count(*) AS focus_rows
    FROM focus.costs_v1_2
    GROUP BY ALL
)
SELECT coalesce(e.source_uri, a.source_uri) AS source_uri,
       e.raw_table,
       e.billing_account_id,
       coalesce(e.billing_period, a.billing_period) AS billing_period,
       e.source_billed, a.focus_billed,
       coalesce(a.focus_billed, 0) - coalesce(e.source_billed, 0) AS difference
FROM expected e FULL OUTER JOIN actual a
  ON e.source_uri = a.source_uri AND e.billing_period = a.billing_period
ORDER BY 1, 4
"""


def reconciliation_failures(rows: list[dict]) -> list[dict]:
    """Slices off by a cent or more. A source slice of zero billed with no focus rows is fine (header-only file)."""
    failing = []
    for r in rows:
        if r["source_billed"] is None:
            failing.append(r)  # focus rows whose file slice is not in the manifest
        elif r["focus_billed"] is None and abs(float(r["source_billed"])) >= CENT:
            failing.append(r)
        elif abs(float(r["difference"])) >= CENT:
            failing.append(r)
    return failing


def reconciliation_rows(con) -> list[dict]:
    cursor = con.execute(RECONCILIATION_SQL)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


@asset_check(
    asset=FOCUS_COSTS,
    name="billed_cost_reconciles_to_sources",
    blocking=True,
    pool="warehouse",
    description=(
        "For every loaded file and each billing account and period in it, sum(BilledCost) of the focus.costs "
        "rows from that file equals the file's own billed total to the cent (CUR unblended cost, Azure cost, "
        "GCP cost + credits, FOCUS BilledCost). Blocking: a mismatch stops publication."
    ),
)
def billed_cost_reconciles_to_sources(context: AssetCheckExecutionContext, warehouse: DuckDBResource) -> AssetCheckResult:
    with warehouse.get_connection() as con:
        rows = reconciliation_rows(con)
    failing = reconciliation_failures(rows)
    table = ["| file | billing account | period | source billed | focus billed | difference |", "|---|---|---|---|---|---|"]
    for r in (failing or rows)[:200]:
        table.append(
            f"| {r['source_uri']} | {r['billing_account_id']} | {r['billing_period']} | {r['source_billed']} | "
            f"{r['focus_billed'] if r['focus_billed'] is not None else 'no rows'} | {r['difference']} |"
        )
    return AssetCheckResult(
        passed=not failing,
        severity=AssetCheckSeverity.ERROR,
        description=f"{len(rows) - len(failing)} of {len(rows)} file billing periods reconcile to the cent",
        metadata={"slices": len(rows), "mismatches": len(failing), "details": MetadataValue.md("\n".join(table))},
    )


def run_load_ids(con, run_id: str) -> list[str]:
    """The loads a run made that are still current: the slices the conformance check validates."""
    rows = con.execute(
        "SELECT load_id FROM ingest.file_loads WHERE run_id = ? AND outcome = 'loaded' ORDER BY load_id", [run_id]
    ).fetchall()
    return [r[0] for r in rows if re.fullmatch(r"[0-9a-f]+", r[0])]


@asset_check(
    asset=FOCUS_COSTS,
    name="focus_1_2_conformance",
    pool="warehouse",
    description=(
        "The FinOps Foundation focus-validator (FOCUS 1.2 rules) on the focus.costs rows of the files this run "
        "loaded (all rows when the run loaded none; a stratified sample keeping every category combination "
        "above 500k rows): no MUST rule may fail. A run that loaded no file keeps the last whole-table result "
        "when focus.costs_v1_2, the validator and this check's code are unchanged since."
    ),
)
def focus_1_2_conformance(
    context: AssetCheckExecutionContext, warehouse: DuckDBResource, autostack: AutoStackSettings
) -> AssetCheckResult:
    from orchestration.checks.focus_conformance import run_focus_validator

    settings = autostack.get()
    workdir = settings.home / "validator"
    workdir.mkdir(parents=True, exist_ok=True)
    # The resource's connections carry the warehouse's memory limit (duckdb_config.settings()): the stratified
    # sample's window over all rows spills instead of growing with the table (the 10M-row end-to-end run
    # passed 20 GB, most likely here; with the limit: 2.2 GB).
    with warehouse.get_connection() as con:
        load_ids = run_load_ids(con, context.run.run_id)
        fingerprint = None
        if not load_ids:
            # A run that loaded no file validates every row: the same answer as the last such run when
            # the table, the validator and this code are unchanged (36 s at 10M rows, ~4 s to hash).
            kept, fingerprint = _conformance_kept(con, settings.validator_python)
            if kept:
                context.log.info("focus.costs_v1_2, the validator and its rules unchanged since they were last "
                                 "validated: that result is kept")
                return _kept_conformance_result(con)
        where = f"x_LoadId IN ({', '.join(repr(i) for i in load_ids)})" if load_ids else None
        report = run_focus_validator(
            con, "focus.costs_v1_2", validator_python=settings.validator_python, workdir=workdir, where=where
        )
        total_rows = con.execute(f"SELECT count(*) FROM focus.costs_v1_2 WHERE {where or 'true'}").fetchall()[0][0]
        failures = report.must_failures
        rows = f"{total_rows} rows of the {len(load_ids)} file(s) this run loaded" if load_ids else f"{total_rows} rows"
        scope = f"all {rows}" if report.row_count >= total_rows else f"a stratified sample of {report.row_count} of {rows}"
        report_md = report.to_markdown()
        result = AssetCheckResult(
            passed=not failures,
            severity=AssetCheckSeverity.ERROR,
            description=f"{len(failures)} MUST rule(s) failing on {scope}",
            metadata={"report": MetadataValue.md(report_md), "rows_validated": report.row_count,
                      "rows_in_scope": total_rows, "files_in_scope": len(load_ids) or "all"},
        )
        if fingerprint is not None:
            _record_conformance(con, context.run.run_id, result, report_md, report.row_count, total_rows)
            inputs_state.record(con, CONFORMANCE_STEP, fingerprint)
    return result


CONFORMANCE_STEP = "focus_conformance"
CONFORMANCE_RESULT = "ingest.conformance_result"  # the last whole-table validation, for the runs that keep it
CONFORMANCE_CODE = [inputs_state.ROOT / "orchestration" / "checks" / "focus_conformance.py", Path(__file__).resolve(),
                    inputs_state.ROOT / "requirements-validator.lock"]


def _conformance_kept(con, validator_python: Path) -> tuple[bool, str]:
    """Whether the last whole-table validation (CONFORMANCE_RESULT) is the answer again, and the fingerprint."""
    columns = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'focus' AND table_name = 'costs_v1_2' ORDER BY ordinal_position"
    ).fetchall()
    options = {"validator": str(validator_python), "columns": columns}
    # The validator reads the FOCUS columns only (export_for_validator leaves the x_ ones out): hashing
    # those skips x_Extras, the costliest column to hash.
    validated = ", ".join(sql.ident(name) for name, _ in columns if not name.startswith("x_"))
    return inputs_state.kept(con, CONFORMANCE_STEP, options, {"focus.costs_v1_2": validated or None},
                             CONFORMANCE_CODE, (CONFORMANCE_RESULT,))


def _record_conformance(con, run_id: str, result: AssetCheckResult, report_md: str, validated: int, in_scope: int) -> None:
    con.execute(f"""CREATE TABLE IF NOT EXISTS {CONFORMANCE_RESULT} (run_id VARCHAR, validated_at TIMESTAMP,
        passed BOOLEAN, description VARCHAR, report VARCHAR, rows_validated BIGINT, rows_in_scope BIGINT)""")
    con.execute(f"DELETE FROM {CONFORMANCE_RESULT}")
    con.execute(f"INSERT INTO {CONFORMANCE_RESULT} VALUES (?, now(), ?, ?, ?, ?, ?)",
                [run_id, result.passed, result.description, report_md, validated, in_scope])


def _kept_conformance_result(con) -> AssetCheckResult:
    run_id, validated_at, passed, description, report_md, validated, in_scope = con.execute(
        f"SELECT run_id, validated_at, passed, description, report, rows_validated, rows_in_scope FROM {CONFORMANCE_RESULT}"
    ).fetchall()[0]
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=f"{description} (kept: the table is unchanged since run {run_id[:8]} validated it)",
        metadata={"report": MetadataValue.md(report_md), "rows_validated": validated, "rows_in_scope": in_scope,
                  "files_in_scope": "all", "kept_from_run": run_id, "validated_at": str(validated_at)},
    )
