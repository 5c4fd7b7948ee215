-- Cost per day, provider, billing account and tag key/value. Untagged cost appears under the
-- tag key '(untagged)' so that every key's total reconciles to the daily total.
with tagged as (
    select
        cast(ChargePeriodStart as date) as charge_date,
        ProviderName as provider_name,
        BillingAccountId as billing_account_id,
        BillingCurrency as billing_currency,
        BilledCost as billed_cost,
        EffectiveCost as effective_cost,
        unnest(coalesce(json_keys(Tags), ['(untagged)'])) as tag_key,
        Tags
    from {{ ref('costs_v1_2') }}
)
select
    charge_date,
    provider_name,
    billing_account_id,
    tag_key,
    case when tag_key = '(untagged)' then null else json_extract_string(Tags, '$."' || replace(tag_key, '"', '\"') || '"') end as tag_value,
    billing_currency,
    sum(billed_cost) as billed_cost,
    sum(effective_cost) as effective_cost,
    count(*) as row_count
from tagged
group by all
