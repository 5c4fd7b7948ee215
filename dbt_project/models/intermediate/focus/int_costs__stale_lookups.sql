-- Rows of focus.costs_v1_2 that disagree with the conformance lookups over every load: what a build
-- that maps only some loads (macros/incremental_mapping.sql) leaves behind when the new loads change a
-- service's category or a region's name under rows it did not map again. Empty after a full build;
-- the orchestrator rebuilds focus.costs_v1_2 in full when it is not (orchestration/defs/transform.py).
with services as (
    select "ProviderName", "ServiceName", "ServiceCategory", count(*) as row_count
    from {{ ref('costs_v1_2') }}
    group by all
),

filled_regions as (
    select "ProviderName", "RegionId", "RegionName", count(*) as row_count
    from {{ ref('costs_v1_2') }}
    where list_contains("x_Repairs", 'RegionName: filled for RegionId')
    group by all
)

select
    'ServiceCategory' as column_name,
    s."ProviderName" as provider_name,
    s."ServiceName" as key,
    s."ServiceCategory" as found,
    coalesce(sc."ServiceCategory", 'Other') as expected,
    s.row_count
from services as s
left join {{ ref('int_costs__service_categories') }} as sc
  on sc."ProviderName" is not distinct from s."ProviderName" and sc."ServiceName" is not distinct from s."ServiceName"
where s."ServiceCategory" is distinct from coalesce(sc."ServiceCategory", 'Other')

union all

select
    'RegionName' as column_name,
    f."ProviderName" as provider_name,
    f."RegionId" as key,
    f."RegionName" as found,
    coalesce(rn."RegionName", f."RegionId") as expected,
    f.row_count
from filled_regions as f
left join {{ ref('int_costs__region_names') }} as rn
  on rn."ProviderName" is not distinct from f."ProviderName" and rn."RegionId" = f."RegionId"
where f."RegionName" is distinct from coalesce(rn."RegionName", f."RegionId")
