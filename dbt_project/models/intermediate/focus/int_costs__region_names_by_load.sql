{{ config(**per_load_incremental()) }}
-- The names each load gives each (provider, region id): int_costs__region_names, from which a row
-- that leaves its region unnamed is named. Kept per load, like int_costs__service_categories_by_load.
select
    "x_LoadId",
    "ProviderName",
    "RegionId",
    min("RegionName") as "RegionName"
from {{ ref('int_costs__unioned') }}
where "RegionId" is not null and "RegionName" is not null
group by all
