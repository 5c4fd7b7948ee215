-- ServiceName MUST have one ServiceCategory: the one carrying most of the service's cost over every
-- load (ties: more rows, then the name). Rows without a category never win; they take the winner too.
with category_costs as (
    select "ProviderName", "ServiceName", "ServiceCategory", sum(cost) as cost, sum(row_count) as row_count
    from {{ ref('int_costs__lookup_facts_by_load') }}
    where fact = 'service_category' and "ServiceCategory" is not null
    group by all
)

select "ProviderName", "ServiceName", "ServiceCategory"
from category_costs
qualify row_number() over (
    partition by "ProviderName", "ServiceName" order by cost desc, row_count desc, "ServiceCategory"
) = 1
