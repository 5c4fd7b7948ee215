{{ config(**per_load_incremental()) }}
-- What each (provider, service, category) costs, per load: the facts int_costs__service_categories picks each
-- service's one ServiceCategory from. Kept per load, so that a build mapping only some loads
-- (macros/incremental_mapping.sql) still weighs every load's rows.
select
    "x_LoadId",
    "ProviderName",
    "ServiceName",
    "ServiceCategory",
    sum(abs(coalesce("EffectiveCost", 0)) + abs(coalesce("BilledCost", 0))) as cost,
    count(*) as row_count
from {{ ref('int_costs__unioned') }}
group by all
