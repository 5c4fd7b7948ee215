-- RegionName MUST NOT be null when RegionId is not: the name the same provider uses for that id in
-- any load (the least, when loads disagree).
select "ProviderName", "RegionId", min("RegionName") as "RegionName"
from {{ ref('int_costs__lookup_facts_by_load') }}
where fact = 'region_name'
group by all
