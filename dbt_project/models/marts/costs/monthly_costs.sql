-- Cost per billing month: the daily mart rolled up (billing month, not charge month, so totals match invoices).
select
    billing_month,
    provider_name,
    billing_account_id,
    any_value(billing_account_name) as billing_account_name,
    sub_account_id,
    any_value(sub_account_name) as sub_account_name,
    service_category,
    service_name,
    region_id,
    any_value(region_name) as region_name,
    charge_category,
    billing_currency,
    sum(billed_cost) as billed_cost,
    sum(effective_cost) as effective_cost,
    sum(list_cost) as list_cost,
    sum(contracted_cost) as contracted_cost,
    sum(row_count) as row_count
from {{ ref('daily_costs') }}
group by all
