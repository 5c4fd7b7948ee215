"""Checks on focus.costs after every load: totals reconcile to the sources, and FOCUS conformance."""


from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue, asset_check
from dagster_duckdb import DuckDBResource

from orchestration.resources import AutoStackSettings

FOCUS_COSTS = AssetKey(["focus", "costs_v1_2"])
CENT = 0.005

# Expected billed total per (raw table, billing account, billing period) from the sources, against
# what focus.costs holds for the same slice. An Azure amortized export is not an invoice: when the
# actual export of the same account and period is loaded, the actual one is the billed authority.
RECONCILIATION_SQL = """
WITH slices AS (
    SELECT p.*, bool_or(x_dataset = 'actual') OVER (PARTITION BY raw_table, x_billing_account_id, x_billing_period) AS has_actual
    FROM ingest.partitions p
),
expected AS (
    SELECT raw_table, x_billing_account_id AS billing_account_id, x_billing_period AS billing_period,
           sum(billed_total) AS source_billed, sum(row_count) AS source_rows,
           string_agg(DISTINCT source_uri, ', ' ORDER BY source_uri) AS files
    FROM slices
    WHERE NOT (has_actual AND x_dataset = 'amortized')
    GROUP BY ALL
),
loads AS (SELECT DISTINCT load_id, raw_table FROM ingest.partitions),
actual AS (
    SELECT l.raw_table, f.BillingAccountId AS billing_account_id,
           CAST(date_trunc('month', f.BillingPeriodStart) AS DATE) AS billing_period,
           sum(f.BilledCost) AS focus_billed, count(*) AS focus_rows
    FROM focus.costs_v1_2 f LEFT JOIN loads l ON f.x_LoadId = l.load_id
    GROUP BY ALL
)
SELECT coalesce(e.raw_table, a.raw_table) AS raw_table,
       coalesce(e.billing_account_id, a.billing_account_id) AS billing_account_id,
       coalesce(e.billing_period, a.billing_period) AS billing_period,
       e.source_billed, a.focus_billed,
       coalesce(a.focus_billed, 0) - coalesce(e.source_billed, 0) AS difference,
       e.files
FROM expected e FULL OUTER JOIN actual a
  ON e.raw_table IS NOT DISTINCT FROM a.raw_table
 AND e.billing_account_id = a.billing_account_id AND e.billing_period = a.billing_period
ORDER BY 1, 2, 3
"""


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
        "For every billing account and billing period of every loaded file, sum(BilledCost) in focus.costs "
        "equals the source's own billed total to the cent (CUR unblended cost, Azure actual cost, GCP cost + "
        "credits, FOCUS BilledCost). Blocking: a mismatch stops publication."
    ),
)
def billed_cost_reconciles_to_sources(context: AssetCheckExecutionContext, warehouse: DuckDBResource) -> AssetCheckResult:
    with warehouse.get_connection() as con:
        rows = reconciliation_rows(con)
    failing = [r for r in rows if r["source_billed"] is None or r["focus_billed"] is None or abs(float(r["difference"])) >= CENT]
    table = ["| raw table | billing account | period | source billed | focus billed | difference | files |", "|---|---|---|---|---|---|---|"]
    for r in (failing or rows)[:200]:
        table.append(
            f"| {r['raw_table']} | {r['billing_account_id']} | {r['billing_period']} | {r['source_billed']} | "
            f"{r['focus_billed']} | {r['difference']} | {r['files'] or 'no source file'} |"
        )
    return AssetCheckResult(
        passed=not failing,
        severity=AssetCheckSeverity.ERROR,
        description=f"{len(rows) - len(failing)} of {len(rows)} account-periods reconcile to the cent",
        metadata={"slices": len(rows), "mismatches": len(failing), "details": MetadataValue.md("\n".join(table))},
    )


@asset_check(
    asset=FOCUS_COSTS,
    name="focus_1_2_conformance",
    pool="warehouse",
    description="The FinOps Foundation focus-validator (FOCUS 1.2 rules) on focus.costs: no MUST rule may fail.",
)
def focus_1_2_conformance(
    context: AssetCheckExecutionContext, warehouse: DuckDBResource, autostack: AutoStackSettings
) -> AssetCheckResult:
    from orchestration.checks.focus_conformance import run_focus_validator

    settings = autostack.get()
    workdir = settings.home / "validator"
    workdir.mkdir(parents=True, exist_ok=True)
    with warehouse.get_connection() as con:
        report = run_focus_validator(con, "focus.costs_v1_2", validator_python=settings.validator_python, workdir=workdir)
    failures = report.must_failures
    return AssetCheckResult(
        passed=not failures,
        severity=AssetCheckSeverity.ERROR,
        description=f"{len(failures)} MUST rule(s) failing",
        metadata={"report": MetadataValue.md(report.to_markdown())},
    )
