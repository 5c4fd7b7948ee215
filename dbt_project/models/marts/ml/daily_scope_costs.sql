-- Cost per day for every scope the forecasts and anomaly detection watch: the total, each provider,
-- billing account, sub account and service, and each value of every tag key (lower-cased, so `Team`
-- and `team` are one key). Days without cost are absent; the ML assets fill them with zero.
with daily as (
    select * from {{ ref('daily_costs') }}
),

tags as (
    select * from {{ ref('daily_costs_by_tag') }}
    where tag_key <> '(untagged)' and tag_value is not null
),

scoped as (
    select charge_date, 'total' as scope_type, 'total' as scope_value, billed_cost, effective_cost from daily
    union all
    select charge_date, 'provider', provider_name, billed_cost, effective_cost from daily
    union all
    select charge_date, 'billing_account', billing_account_id, billed_cost, effective_cost from daily
    union all
    select charge_date, 'sub_account', coalesce(sub_account_id, '(none)'), billed_cost, effective_cost from daily
    union all
    select charge_date, 'service', coalesce(service_name, '(none)'), billed_cost, effective_cost from daily
    union all
    select charge_date, 'tag:' || lower(tag_key), tag_value, billed_cost, effective_cost from tags
)

select
    charge_date,
    scope_type,
    scope_value,
    sum(billed_cost) as billed_cost,
    sum(effective_cost) as effective_cost
from scoped
group by all
