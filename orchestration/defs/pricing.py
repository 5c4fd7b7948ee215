"""The price catalog in the warehouse: pricing.instance_prices, pricing.instance_equivalents, pricing.egress_prices.

A Dagster asset rather than dbt seeds: the reference files need the same parsing the demo estate
uses (Azure size names respelled, decimal commas, prices joined to sizes), and that parsing lives
once, in autostack/pricing.py. The tables are rebuilt atomically from data/reference on every run.
"""


import pandas as pd
from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, multi_asset
from dagster_duckdb import DuckDBResource

from autostack import pricing
from models_ml.recommendations import cross_cloud_equivalents

INSTANCE_PRICES = AssetKey(["pricing", "instance_prices"])
INSTANCE_EQUIVALENTS = AssetKey(["pricing", "instance_equivalents"])
EGRESS_PRICES = AssetKey(["pricing", "egress_prices"])


def instance_prices_frame() -> pd.DataFrame:
    rows = [r for provider in pricing.PROVIDERS for r in pricing.iter_instance_prices(provider)]
    return pd.DataFrame(rows, columns=["provider", "region", "instance_type", "family", "vcpu", "memory_gb",
                                       "on_demand", "spot"])


def write_catalog(con) -> dict[str, int]:
    """Rebuild the pricing tables in one transaction; returns their row counts."""
    prices = instance_prices_frame()
    equivalents = cross_cloud_equivalents(prices)
    egress = pd.DataFrame(pricing.load_egress_prices())
    con.execute("CREATE SCHEMA IF NOT EXISTS pricing")
    con.register("_prices", prices)
    con.register("_equivalents", equivalents)
    con.register("_egress", egress)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("""
            CREATE OR REPLACE TABLE pricing.instance_prices AS
            SELECT provider, region, instance_type, family, vcpu, memory_gb,
                   CAST(on_demand AS DECIMAL(18, 6)) AS on_demand_usd_per_hour,
                   CAST(CASE WHEN spot > 0 THEN spot END AS DECIMAL(18, 6)) AS spot_usd_per_hour
            FROM _prices ORDER BY provider, region, family, vcpu, instance_type""")
        con.execute("""
            CREATE OR REPLACE TABLE pricing.instance_equivalents AS
            SELECT provider, region, instance_type, vcpu, memory_gb, memory_class, equivalent_provider,
                   equivalent_region, equivalent_instance_type, equivalent_vcpu, equivalent_memory_gb,
                   CAST(equivalent_on_demand AS DECIMAL(18, 6)) AS equivalent_on_demand_usd_per_hour
            FROM _equivalents ORDER BY provider, region, instance_type, equivalent_provider""")
        con.execute("""
            CREATE OR REPLACE TABLE pricing.egress_prices AS
            SELECT provider, tier_start_gb, tier_end_gb, CAST(usd_per_gb AS DECIMAL(18, 6)) AS usd_per_gb,
                   applies_to, source_url
            FROM _egress ORDER BY provider, tier_start_gb""")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in ("_prices", "_equivalents", "_egress"):
            con.unregister(name)
    return {"instance_prices": len(prices), "instance_equivalents": len(equivalents), "egress_prices": len(egress)}


def read_catalog(con) -> pd.DataFrame:
    """pricing.instance_prices as the recommendations read it (on_demand / spot as floats, spot 0 when none)."""
    return con.execute("""
        SELECT provider, region, instance_type, family, vcpu, memory_gb,
               CAST(on_demand_usd_per_hour AS DOUBLE) AS on_demand, coalesce(CAST(spot_usd_per_hour AS DOUBLE), 0) AS spot
        FROM pricing.instance_prices""").df()


def read_equivalents(con) -> pd.DataFrame:
    return con.execute("""
        SELECT * EXCLUDE (equivalent_on_demand_usd_per_hour),
               CAST(equivalent_on_demand_usd_per_hour AS DOUBLE) AS equivalent_on_demand
        FROM pricing.instance_equivalents""").df()


@multi_asset(
    name="price_catalog",
    specs=[
        AssetSpec(INSTANCE_PRICES, group_name="pricing", kinds={"duckdb"},
                  description="On-demand and spot list prices (USD/h, Linux) per cloud, region and instance type, with "
                              "vCPU and memory (coroot/cloud-pricing 2024-08-09 x CCF instance specs)."),
        AssetSpec(INSTANCE_EQUIVALENTS, group_name="pricing", kinds={"duckdb"},
                  description="Per instance type and region: each other cloud's cheapest type of the same vCPU count and "
                              "memory class in the same geography."),
        AssetSpec(EGRESS_PRICES, group_name="pricing", kinds={"duckdb"},
                  description="Internet egress list prices per cloud and monthly volume tier (USD/GB), with sources."),
    ],
    pool="warehouse",
    description="The price catalog from data/reference, rebuilt atomically (autostack/pricing.py parses it).",
)
def price_catalog(context: AssetExecutionContext, warehouse: DuckDBResource):
    with warehouse.get_connection() as con:
        counts = write_catalog(con)
    for key, name in ((INSTANCE_PRICES, "instance_prices"), (INSTANCE_EQUIVALENTS, "instance_equivalents"),
                      (EGRESS_PRICES, "egress_prices")):
        yield MaterializeResult(asset_key=key, metadata={"rows": counts[name]})
