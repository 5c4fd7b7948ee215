-- FOCUS 1.2 rules that real exports break, repaired the same way for every source, each repair
-- named in x_Repairs so nothing is changed silently. (Real FOCUS 1.0 files lack the 1.1/1.2
-- columns, leave ResourceType or RegionName empty, or give one service two categories.)
with unioned as not materialized (
    select * from {{ ref('int_costs__unioned') }}
),

subcategories as (
    select ServiceSubcategory, ServiceCategory from {{ ref('service_subcategories') }}
),

aligned as (
    select
        u.*,
        coalesce(sc.ServiceCategory, u.ServiceCategory, 'Other') as aligned_category,
        coalesce(u.RegionName, rn.RegionName, u.RegionId) as aligned_region_name
    from unioned u
    -- One category per ServiceName, a name for every RegionId: lookups over every load, not only the
    -- loads this build maps (macros/incremental_mapping.sql).
    left join {{ ref('int_costs__service_categories') }} sc
      on sc.ProviderName is not distinct from u.ProviderName and sc.ServiceName is not distinct from u.ServiceName
    left join {{ ref('int_costs__region_names') }} rn
      on u.RegionName is null and rn.ProviderName is not distinct from u.ProviderName and rn.RegionId = u.RegionId
),

repaired as (
    select
        a.* exclude (BillingAccountName, SubAccountName, ServiceCategory, ServiceSubcategory, RegionName, ResourceType, ContractedUnitPrice, ListUnitPrice,
                     PricingCurrency, PricingCurrencyEffectiveCost, PricingCurrencyListUnitPrice, PricingCurrencyContractedUnitPrice,
                     aligned_category, aligned_region_name),
        coalesce(a.BillingAccountName, a.BillingAccountId) as BillingAccountName,
        case when a.SubAccountId is not null then coalesce(a.SubAccountName, a.SubAccountId) end as SubAccountName,
        a.aligned_category as ServiceCategory,
        case when s.ServiceSubcategory is not null then a.ServiceSubcategory
             else 'Other (' || a.aligned_category || ')' end as ServiceSubcategory,
        a.aligned_region_name as RegionName,
        case when a.ResourceId is null then null
             else coalesce(
                 a.ResourceType,
                 nullif(regexp_extract(a.ResourceId, '^arn:[^:]+:[^:]+:[^:]*:[^:]*:([^:/]+)[:/]', 1), ''),
                 a.ServiceName
             ) end as ResourceType,
        case when a.ContractedUnitPrice < 0 then null else a.ContractedUnitPrice end as ContractedUnitPrice,
        case when a.ListUnitPrice < 0 then null else a.ListUnitPrice end as ListUnitPrice,
        coalesce(a.PricingCurrency, a.BillingCurrency) as PricingCurrency,
        case when a.PricingCurrencyEffectiveCost is null and coalesce(a.PricingCurrency, a.BillingCurrency) = a.BillingCurrency
             then a.EffectiveCost else a.PricingCurrencyEffectiveCost end as PricingCurrencyEffectiveCost,
        case when a.PricingCurrencyListUnitPrice is null and coalesce(a.PricingCurrency, a.BillingCurrency) = a.BillingCurrency
             then (case when a.ListUnitPrice < 0 then null else a.ListUnitPrice end)
             else a.PricingCurrencyListUnitPrice end as PricingCurrencyListUnitPrice,
        case when a.PricingCurrencyContractedUnitPrice is null and coalesce(a.PricingCurrency, a.BillingCurrency) = a.BillingCurrency
             then (case when a.ContractedUnitPrice < 0 then null else a.ContractedUnitPrice end)
             else a.PricingCurrencyContractedUnitPrice end as PricingCurrencyContractedUnitPrice,
        list_filter([
            case when a.BillingAccountName is null then 'BillingAccountName: the export has none, set to BillingAccountId' end,
            case when a.SubAccountName is null and a.SubAccountId is not null then 'SubAccountName: the export has none, set to SubAccountId' end,
            case when a.SubAccountName is not null and a.SubAccountId is null then 'SubAccountName: cleared, no SubAccountId' end,
            case when a.ServiceCategory is distinct from a.aligned_category then 'ServiceCategory: one category per ServiceName' end,
            case when a.ServiceSubcategory is not null and s.ServiceSubcategory is null then 'ServiceSubcategory: not a subcategory of its category' end,
            case when a.RegionName is null and a.RegionId is not null then 'RegionName: filled for RegionId' end,
            case when a.ResourceId is null and a.ResourceType is not null then 'ResourceType: cleared, no ResourceId' end,
            case when a.ResourceId is not null and a.ResourceType is null then 'ResourceType: derived from ResourceId' end,
            case when a.ContractedUnitPrice < 0 then 'ContractedUnitPrice: negative, cleared' end,
            case when a.ListUnitPrice < 0 then 'ListUnitPrice: negative, cleared' end
        ], lambda r: r is not null) as x_Repairs
    from aligned a
    left join subcategories s
      on s.ServiceSubcategory = a.ServiceSubcategory and s.ServiceCategory = a.aligned_category
)

select
    {% for column in focus_1_2_columns() + autostack_x_columns() %}{{ adapter.quote(column) }},
    {% endfor %}x_Repairs
from repaired
