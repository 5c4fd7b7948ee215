{{ config(**per_load_incremental()) }}
-- The facts the conformance lookups are picked from, per load, in one pass over the mapped rows (one
-- aggregation with two grouping sets, so the mapping views are evaluated once for both):
-- - fact 'service_category': what each (provider, service, category) costs, for int_costs__service_categories;
-- - fact 'region_name': the name each (provider, region id) is given, for int_costs__region_names.
-- Kept per load, so that a build mapping only some loads (macros/incremental_mapping.sql) still weighs
-- every load's rows.
select
    "x_LoadId",
    case when grouping("ServiceName") = 0 then 'service_category' else 'region_name' end as fact,
    "ProviderName",
    "ServiceName",
    "ServiceCategory",
    case when grouping("ServiceName") = 0
         then sum(abs(coalesce("EffectiveCost", 0)) + abs(coalesce("BilledCost", 0))) end as cost,
    case when grouping("ServiceName") = 0 then count(*) end as row_count,
    "RegionId",
    case when grouping("RegionId") = 0 then min("RegionName") end as "RegionName"
from {{ ref('int_costs__unioned') }}
group by grouping sets (
    ("x_LoadId", "ProviderName", "ServiceName", "ServiceCategory"),
    ("x_LoadId", "ProviderName", "RegionId")
)
having grouping("ServiceName") = 0 or ("RegionId" is not null and min("RegionName") is not null)
