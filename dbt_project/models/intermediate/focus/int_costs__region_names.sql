-- RegionName MUST NOT be null when RegionId is not: the name the same provider uses for that id in
-- any load (the least, when loads disagree).
select "ProviderName", "RegionId", min("RegionName") as "RegionName"
from {{ ref('int_costs__region_names_by_load') }}
group by all
