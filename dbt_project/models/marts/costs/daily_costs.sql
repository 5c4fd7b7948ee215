-- Cost per day and per provider, billing account, sub account, service, region and currency,
-- in both views: billed (what the invoice says) and effective (amortized commitments).
select
    cast(ChargePeriodStart as date) as charge_date,
    cast(date_trunc('month', BillingPeriodStart) as date) as billing_month,
    ProviderName as provider_name,
    BillingAccountId as billing_account_id,
    any_value(BillingAccountName) as billing_account_name,
    SubAccountId as sub_account_id,
    any_value(SubAccountName) as sub_account_name,
    ServiceCategory as service_category,
    ServiceName as service_name,
    RegionId as region_id,
    any_value(RegionName) as region_name,
    ChargeCategory as charge_category,
    BillingCurrency as billing_currency,
    sum(BilledCost) as billed_cost,
    sum(EffectiveCost) as effective_cost,
    sum(ListCost) as list_cost,
    sum(ContractedCost) as contracted_cost,
    count(*) as row_count
from {{ ref('costs_v1_2') }}
group by all
