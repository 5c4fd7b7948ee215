"""ml.recommendations: a thin asset feeding models_ml.recommendations from the warehouse.

Recomputed after every load (it is downstream of focus.costs, the metrics and the price catalog);
people's decisions (done / dismissed) come from the app store and survive every recompute because
a recommendation's id is a hash of its type, resource and proposal.
"""


import json
import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_duckdb import DuckDBResource

from autostack.store.recommendations import get_statuses
from models_ml import recommendations as rec
from orchestration.defs import inputs_state
from orchestration.defs.ml import ML_CODE, read_as_of
from orchestration.defs.metrics import UTILIZATION_DAILY, ensure_metrics_tables
from orchestration.defs.pricing import EGRESS_PRICES, INSTANCE_EQUIVALENTS, INSTANCE_PRICES, read_catalog, read_equivalents
from orchestration.ingest import sql
from orchestration.ingest.focus_spec import FOCUS_1_2_COLUMNS
from orchestration.resources import AutoStackSettings

RECOMMENDATIONS = AssetKey(["ml", "recommendations"])
FOCUS_COSTS = AssetKey(["focus", "costs"])
LOOKBACK_DAYS = 30

TABLE_SQL = """
CREATE TABLE IF NOT EXISTS ml.recommendations (
    recommendation_id VARCHAR PRIMARY KEY, type VARCHAR, provider VARCHAR, billing_account_id VARCHAR,
    sub_account_id VARCHAR, resource_id VARCHAR, region VARCHAR, current VARCHAR, proposed VARCHAR,
    monthly_savings DECIMAL(18, 2), confidence VARCHAR, evidence JSON, action VARCHAR, status VARCHAR
)"""

RESOURCES_SQL = """
SELECT ProviderName AS provider_name, BillingAccountId AS billing_account_id, SubAccountId AS sub_account_id,
       any_value(SubAccountName) AS sub_account_name, ResourceId AS resource_id,
       arg_max(ResourceName, ChargePeriodStart) AS resource_name, arg_max(ResourceType, ChargePeriodStart) AS resource_type,
       arg_max(ServiceSubcategory, ChargePeriodStart) AS service_subcategory,
       arg_max(RegionId, ChargePeriodStart) AS region, arg_max(AvailabilityZone, ChargePeriodStart) AS zone,
       CAST(arg_max(Tags, ChargePeriodStart) AS VARCHAR) AS tags,
       min(ChargePeriodStart)::DATE AS first_date, max(ChargePeriodStart)::DATE AS last_date,
       count(DISTINCT ChargePeriodStart::DATE) AS days_billed,
       CAST(sum(EffectiveCost) AS DOUBLE) AS cost,
       CAST(coalesce(sum(ListCost) FILTER (WHERE CommitmentDiscountStatus = 'Used') / nullif(sum(ListCost), 0), 0) AS DOUBLE) AS committed_share,
       CAST(coalesce(sum(ListCost) FILTER (WHERE PricingCategory = 'Dynamic') / nullif(sum(ListCost), 0), 0) AS DOUBLE) AS spot_share,
       CAST(coalesce(sum(ConsumedQuantity) FILTER (WHERE lower(ConsumedUnit) LIKE '%hour%'), 0) AS DOUBLE) AS hour_quantity,
       CAST(coalesce(sum(ConsumedQuantity) FILTER (WHERE regexp_matches(lower(ConsumedUnit), 'gb|byte|lcu')
            AND NOT lower(ConsumedUnit) LIKE '%hour%'), 0) AS DOUBLE) AS data_quantity
FROM focus.costs
WHERE ResourceId IS NOT NULL AND ChargeCategory = 'Usage'
  AND ChargePeriodStart >= ? AND ChargePeriodStart < ?
GROUP BY ProviderName, BillingAccountId, SubAccountId, ResourceId
"""

# The discount each provider's commitments gave in the window: 1 - effective / list on covered usage.
DISCOUNTS_SQL = """
SELECT ProviderName, max(discount) FROM (
    SELECT ProviderName, CommitmentDiscountId, 1 - sum(EffectiveCost) / sum(ListCost) AS discount
    FROM focus.costs
    WHERE CommitmentDiscountStatus = 'Used' AND ChargeCategory = 'Usage' AND ListCost > 0
      AND ChargePeriodStart >= ? AND ChargePeriodStart < ?
    GROUP BY ALL) GROUP BY ALL
"""


def read_inputs(con, as_of: date, lookback_days: int = LOOKBACK_DAYS) -> rec.Inputs:
    start, end = as_of - timedelta(days=lookback_days - 1), as_of + timedelta(days=1)
    resources = con.execute(RESOURCES_SQL, [start, end]).df()
    resources["provider"] = resources["provider_name"].map(rec.provider_code)
    resources["kind"] = [rec.classify_resource(t, s, i) for t, s, i in
                         zip(resources["resource_type"], resources["service_subcategory"], resources["resource_id"])]
    ensure_metrics_tables(con)
    utilization = con.execute(
        "SELECT * EXCLUDE (source_file) FROM metrics.utilization_daily WHERE date BETWEEN ? AND ?", [start, as_of]).df()
    discounts = {rec.provider_code(p): float(d) for p, d in con.execute(DISCOUNTS_SQL, [start, end]).fetchall() if d is not None}
    return rec.Inputs(resources=resources, utilization=utilization, catalog=read_catalog(con), as_of=as_of,
                      commitment_discounts=discounts, lookback_days=lookback_days)


def compute(con, statuses: dict[str, str], as_of: date | None = None) -> tuple[pd.DataFrame, date | None]:
    as_of = read_as_of(con, as_of)
    if as_of is None:
        return pd.DataFrame(columns=rec.CONTRACT_COLUMNS), None
    inputs = read_inputs(con, as_of)
    recs = rec.recommend(inputs, equivalents=read_equivalents(con))
    return rec.apply_states(recs, statuses), as_of


def columns_read(*queries: str) -> str:
    """The focus.costs columns `queries` name (FOCUS and x_ columns), as inputs_state hashes them per row.

    Hashing only these, not every column, leaves out what no rule reads (x_Extras, the costliest
    column to hash): 5.5 of the recommendations' 26 s at 10M billing rows went to hashing all 70."""
    text = "\n".join(queries)
    names = [c for c in FOCUS_1_2_COLUMNS if re.search(rf"\b{c}\b", text)]
    names += sorted(set(re.findall(r"\bx_[A-Za-z]\w*", text)))
    return ", ".join(sql.ident(c) for c in names)


# Everything the recommendations read (the focus.costs columns their two queries name), and their code.
RECOMMENDATION_INPUTS = {"focus.costs": columns_read(RESOURCES_SQL, DISCOUNTS_SQL), "marts.daily_costs": None,
                         "metrics.utilization_daily": None,
                         "pricing.instance_prices": None, "pricing.instance_equivalents": None,
                         "pricing.egress_prices": None}
RECOMMENDATION_CODE = [*ML_CODE, Path(__file__).resolve(), inputs_state.ROOT / "autostack" / "pricing.py"]


def read_published(con) -> pd.DataFrame:
    """ml.recommendations as compute() returns them (evidence as JSON text, savings as floats)."""
    return con.execute("SELECT * REPLACE (CAST(evidence AS VARCHAR) AS evidence, "
                       "CAST(monthly_savings AS DOUBLE) AS monthly_savings) FROM ml.recommendations").df()


def write(con, recs: pd.DataFrame) -> None:
    """Replace ml.recommendations atomically with exactly the contract columns."""
    con.execute("CREATE SCHEMA IF NOT EXISTS ml")
    frame = recs[rec.CONTRACT_COLUMNS]
    con.register("_recs", frame)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(TABLE_SQL)
        con.execute("DELETE FROM ml.recommendations")
        con.execute("""
            INSERT INTO ml.recommendations
            SELECT recommendation_id, type, provider, billing_account_id, sub_account_id, resource_id, region, "current",
                   proposed, CAST(monthly_savings AS DECIMAL(18, 2)), confidence, CAST(evidence AS JSON), action, status
            FROM _recs""")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_recs")


def double_counting_problems(recs: pd.DataFrame) -> list[str]:
    """Each recommendation must name every other one on its resource as an exclusive alternative."""
    problems = []
    by_resource = recs.groupby("resource_id")["recommendation_id"].apply(set).to_dict()
    for _, r in recs.iterrows():
        listed = set(json.loads(r["evidence"]).get("exclusive_with", []))
        expected = by_resource[r["resource_id"]] - {r["recommendation_id"]}
        if listed != expected:
            problems.append(f"{r['recommendation_id']} ({r['type']} on {r['resource_id']}): exclusive_with {sorted(listed)}, "
                            f"expected {sorted(expected)}")
    best = rec.best_per_resource(recs, ("open", "done", "dismissed"))
    if best["resource_id"].duplicated().any():
        problems.append("a resource is counted twice in the total")
    return problems


def savings_over_cost(recs: pd.DataFrame) -> list[str]:
    out = []
    for _, r in recs.iterrows():
        cost = float(json.loads(r["evidence"]).get("monthly_cost", 0))
        if float(r["monthly_savings"]) > cost + 0.01 or float(r["monthly_savings"]) < 0:
            out.append(f"{r['recommendation_id']} ({r['type']} on {r['resource_id']}): saves {r['monthly_savings']} of {cost}")
    return out


@asset(
    key=RECOMMENDATIONS,
    group_name="ml",
    deps=[FOCUS_COSTS, AssetKey(["marts", "daily_costs"]), UTILIZATION_DAILY, INSTANCE_PRICES, INSTANCE_EQUIVALENTS, EGRESS_PRICES],
    kinds={"duckdb", "python"},
    pool="warehouse",
    description=("Savings recommendations (idle, unattached volumes, idle load balancers, rightsizing, schedules, "
                 "commitments, spot, cheaper region, cheaper cloud) over the 30 days up to the as-of date, with "
                 "people's decisions from the app store. Recommendations on one resource are exclusive alternatives."),
    check_specs=[
        AssetCheckSpec("no_resource_savings_counted_twice", asset=RECOMMENDATIONS,
                       description="Every recommendation lists the others on its resource as exclusive; the total "
                                   "takes one per resource."),
        AssetCheckSpec("savings_within_cost", asset=RECOMMENDATIONS,
                       description="No recommendation saves more than its resource costs a month (or a negative amount)."),
    ],
)
def recommendations(context: AssetExecutionContext, autostack: AutoStackSettings, warehouse: DuckDBResource):
    settings = autostack.get()
    statuses = get_statuses(settings)
    with warehouse.get_connection() as con:
        ensure_metrics_tables(con)
        kept, fingerprint = inputs_state.kept(con, "recommendations", {"lookback_days": LOOKBACK_DAYS},
                                              RECOMMENDATION_INPUTS, RECOMMENDATION_CODE, ("ml.recommendations",))
        if kept:  # the same recommendations; only people's decisions can have changed
            context.log.info("cost data, metrics, prices, code and options unchanged since the recommendations "
                             "were computed: kept, decisions refreshed from the app store")
            recs = rec.apply_states(read_published(con), statuses)
            as_of = read_as_of(con)
        else:
            recs, as_of = compute(con, statuses)
        write(con, recs)
        if not kept:
            inputs_state.record(con, "recommendations", fingerprint)
    doubles, over = double_counting_problems(recs), savings_over_cost(recs)
    by_type = ["| type | count | monthly savings |", "|---|---|---|"] + [
        f"| {t} | {len(g)} | {g['monthly_savings'].sum():.2f} |" for t, g in recs.groupby("type")]
    yield MaterializeResult(metadata={
        "as_of_date": str(as_of), "recommendations": len(recs),
        "achievable_monthly_savings": rec.achievable_savings(recs) if not recs.empty else 0.0,
        "by_type": MetadataValue.md("\n".join(by_type)), "recomputed": not kept,
    })
    yield AssetCheckResult(check_name="no_resource_savings_counted_twice", passed=not doubles,
                           severity=AssetCheckSeverity.ERROR, description=f"{len(doubles)} problem(s)",
                           metadata={"problems": MetadataValue.md("\n".join(f"- {p}" for p in doubles[:50]) or "none")})
    yield AssetCheckResult(check_name="savings_within_cost", passed=not over, severity=AssetCheckSeverity.ERROR,
                           description=f"{len(over)} recommendation(s) save more than the resource costs",
                           metadata={"problems": MetadataValue.md("\n".join(f"- {p}" for p in over[:50]) or "none")})
