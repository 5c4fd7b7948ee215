-- Azure Cost Management actual/amortized cost details as FOCUS 1.2, following Microsoft's own conversion
-- (finops-toolkit docs-mslearn/focus/convert.md and ConvertTo-FinOpsSchema): where both datasets of a
-- billing account and period are loaded, the FOCUS rows are every amortized row plus the actual dataset's
-- commitment purchases and refunds; where only one is loaded, all of its rows (see the model YAML).
{# Native fields FOCUS has no column for, kept in x_Extras: only those with a value. #}
{% set native_extras = [
    ('AgreementType', 'agreement_type'),
    ('BillingAccountId', 'billing_account_id'),
    ('BillingProfileId', 'billing_profile_id'),
    ('BillingProfileName', 'billing_profile_name'),
    ('InvoiceSectionId', 'invoice_section_id'),
    ('InvoiceSectionName', 'invoice_section_name'),
    ('AccountName', 'enrollment_account_name'),
    ('ResourceGroupName', 'resource_group_name'),
    ('MeterId', 'meter_id'),
    ('MeterCategory', 'meter_category'),
    ('MeterSubCategory', 'meter_subcategory'),
    ('MeterRegion', 'meter_region'),
    ('PartNumber', 'part_number'),
    ('OfferId', 'offer_id'),
    ('ServiceFamily', 'service_family'),
    ('PricingModel', 'pricing_model'),
    ('UnitOfMeasure', 'unit_of_measure'),
    ('PricingBlockSize', 'cast(block_size as double)'),
    ('EffectivePrice', 'cast(effective_price as double)'),
    ('ExchangeRatePricingToBilling', 'cast(exchange_rate_pricing_to_billing as double)'),
    ('CostInUsd', 'cast(cost_in_usd as double)'),
    ('CostCenter', 'cost_center'),
    ('CostAllocationRuleName', 'cost_allocation_rule_name'),
    ('ProductOrderId', 'product_order_id'),
    ('ReservationId', 'reservation_id'),
    ('PublisherType', 'publisher_type'),
    ('PlanName', 'plan_name'),
    ('Term', 'term'),
    ('IsAzureCreditEligible', 'is_azure_credit_eligible'),
    ('PreviousInvoiceId', 'previous_invoice_id'),
    ('ResellerName', 'reseller_name'),
    ('CustomerName', 'customer_name'),
    ('CustomerTenantId', 'customer_tenant_id'),
    ('PartnerTenantId', 'partner_tenant_id')
] %}

-- Not materialized: `coverage` reads three columns of it, `selected` the rows. Materialized, DuckDB
-- copied every staged column of every row first (9 s at 3.5M rows, then 6 s to scan the copy); inlined,
-- coverage's narrow read costs ~1 s and the mapping of 3.5M rows takes 15-16 s instead of 23-27 s.
with costs as not materialized (
    select * from {{ ref('stg_azure__costs') }}
),

coverage as (
    select
        partition_billing_account_id,
        partition_billing_period,
        bool_or(dataset = 'amortized') as has_amortized
    from costs
    group by all
),

selected as (
    select costs.*
    from costs
    inner join coverage
        on costs.partition_billing_account_id = coverage.partition_billing_account_id
        and costs.partition_billing_period = coverage.partition_billing_period
    where costs.dataset = 'amortized'
        or not coverage.has_amortized
        or costs.commitment_role = 'purchase'
),

services as (
    select
        lower(ConsumedService) as consumed_service_key,
        lower(ResourceType) as resource_type_key,
        ServiceName as service_name,
        ServiceCategory as service_category,
        ServiceSubcategory as service_subcategory,
        PublisherName as service_publisher_name
    from {{ ref('Services') }}
),

-- When ConsumedService and resource type together find nothing, either alone may still name one service.
services_by_resource_type as (
    select
        resource_type_key,
        any_value(service_name) as service_name,
        any_value(service_category) as service_category,
        any_value(service_subcategory) as service_subcategory
    from services
    where resource_type_key is not null
    group by resource_type_key
    having count(distinct concat_ws('|', service_name, service_category, service_subcategory)) = 1
),

services_by_consumed_service as (
    select
        consumed_service_key,
        any_value(service_name) as service_name,
        any_value(service_category) as service_category,
        any_value(service_subcategory) as service_subcategory
    from services
    where consumed_service_key is not null
    group by consumed_service_key
    having count(distinct concat_ws('|', service_name, service_category, service_subcategory)) = 1
),

category_mapping as (
    select lower(ConsumedService) as consumed_service_key, any_value(ServiceCategory) as service_category
    from {{ ref('azure_category_mapping') }}
    group by 1
),

regions as (
    select lower(trim(OriginalValue)) as location_key, any_value(RegionId) as region_id, any_value(RegionName) as region_name
    from {{ ref('Regions') }}
    group by 1
),

pricing_units as (
    select
        lower(trim(UnitOfMeasure)) as unit_key,
        cast(any_value(PricingBlockSize) as decimal(18, 0)) as block_size,
        any_value(DistinctUnits) as distinct_units
    from {{ ref('PricingUnits') }}
    group by 1
),

classified as (
    select
        selected.*,
        lower(selected.charge_type) as charge_type_key,
        replace(lower(selected.pricing_model), ' ', '') as pricing_model_key,
        case
            when selected.billing_account_id like '%:%' or length(selected.billing_account_id) > 32 then 'MCA'
            when selected.billing_account_id is not null then 'EA'
            else 'Other'
        end as agreement_type,
        -- ARM type: the namespace and each type segment after the last /providers/ of the resource id.
        string_split(regexp_extract(lower(selected.resource_id), '.*/providers/(.*)$', 1), '/') as provider_path,
        case
            when selected.tags is null then null
            when starts_with(selected.tags, '{') then try_cast(selected.tags as json)
            else try_cast('{' || selected.tags || '}' as json)
        end as tags_json,
        case when json_valid(selected.additional_info) then cast(selected.additional_info as json) end as additional_info_json,
        coalesce(selected.exchange_rate_pricing_to_billing, 1) as exchange_rate,
        coalesce(selected.cost_in_billing_currency, 0) as cost
    from selected
),

typed as (
    select
        classified.*,
        case
            when len(provider_path) >= 2 and provider_path[1] <> ''
                then provider_path[1] || '/' || array_to_string(
                    list_transform(range(2, len(provider_path) + 1, 2), lambda i: provider_path[i]), '/')
        end as resource_type_key,
        case when json_type(tags_json) = 'OBJECT' then json_keys(tags_json) end as tag_keys_as_written,
        case when json_type(additional_info_json) = 'OBJECT' then json_keys(additional_info_json) end
            as additional_info_keys_as_written,
        case charge_type_key
            when 'usage' then 'Usage'
            when 'unusedreservation' then 'Usage'
            when 'unusedsavingsplan' then 'Usage'
            when 'purchase' then 'Purchase'
            when 'refund' then 'Purchase'
            when 'tax' then 'Tax'
            when 'credit' then 'Credit'
            else 'Adjustment'
        end as charge_category,
        case when charge_type_key = 'refund' then 'Correction' end as charge_class,
        coalesce(
            benefit_id,
            case
                when reservation_id is not null and product_order_id is not null
                    then '/providers/Microsoft.Capacity/reservationOrders/' || product_order_id || '/reservations/' || reservation_id
            end
        ) as commitment_discount_id
    from classified
),

enriched as (
    select
        typed.*,
        coalesce(exact.service_name, by_type.service_name, by_service.service_name) as mapped_service_name,
        coalesce(exact.service_category, by_type.service_category, by_service.service_category, category_mapping.service_category) as mapped_service_category,
        coalesce(exact.service_subcategory, by_type.service_subcategory, by_service.service_subcategory) as mapped_service_subcategory,
        exact.service_publisher_name,
        coalesce(location_region.region_id, normalized_region.region_id) as mapped_region_id,
        coalesce(location_region.region_name, normalized_region.region_name) as mapped_region_name,
        coalesce(pricing_units.block_size, 1) as block_size,
        coalesce(pricing_units.distinct_units, typed.unit_of_measure, 'Units') as pricing_unit,
        -- JSON allows a key twice, a map does not: keep each key's first occurrence.
        list_filter(tag_keys_as_written, lambda k, i: list_position(tag_keys_as_written, k) = i) as tag_keys,
        list_filter(additional_info_keys_as_written, lambda k, i: list_position(additional_info_keys_as_written, k) = i)
            as additional_info_keys,
        case
            when lower(typed.commitment_discount_id) like '%/microsoft.capacity/%' then 'Reservation'
            when lower(typed.commitment_discount_id) like '%/microsoft.billingbenefits/%' then 'Savings Plan'
            when typed.commitment_discount_id is not null and typed.pricing_model_key = 'reservation' then 'Reservation'
            when typed.commitment_discount_id is not null and typed.pricing_model_key = 'savingsplan' then 'Savings Plan'
        end as commitment_discount_type
    from typed
    left join services as exact
        on lower(typed.consumed_service) = exact.consumed_service_key
        and typed.resource_type_key = exact.resource_type_key
    left join services_by_resource_type as by_type
        on typed.resource_type_key = by_type.resource_type_key
    left join services_by_consumed_service as by_service
        on lower(typed.consumed_service) = by_service.consumed_service_key
    left join category_mapping
        on lower(typed.consumed_service) = category_mapping.consumed_service_key
    left join regions as location_region
        on lower(trim(typed.resource_location)) = location_region.location_key
    left join regions as normalized_region
        on lower(trim(typed.resource_location_normalized)) = normalized_region.location_key
    left join pricing_units
        on lower(trim(typed.unit_of_measure)) = pricing_units.unit_key
),

measured as (
    select
        enriched.*,
        case when charge_category <> 'Tax' then cast(quantity * block_size as decimal(38, 12)) end as pricing_quantity,
        -- Cost details have no SKU id for EA: the meter stands in (MCA: ProductId).
        case when charge_category <> 'Tax' then coalesce(product_id, meter_id, part_number, product_order_id) end as sku_id,
        case when charge_type_key = 'refund' then null
            when commitment_role = 'purchase' then 'Standard'
            when charge_category = 'Tax' then null
            when pricing_model_key in ('reservation', 'savingsplan') then 'Committed'
            when commitment_discount_id is not null and charge_category = 'Usage' then 'Committed'
            when pricing_model_key = 'spot' then 'Dynamic'
            when pricing_model_key is null or pricing_model_key = 'ondemand' then 'Standard'
            else 'Other'
        end as pricing_category,
        case when commitment_role = 'usage' then 0 else cost end as billed_cost,
        case when commitment_role = 'purchase' then 0 else cost end as effective_cost,
        case commitment_discount_type when 'Reservation' then 'Usage' when 'Savings Plan' then 'Spend' end as commitment_discount_category,
        case
            when commitment_discount_id is null then null
            when charge_type_key in ('unusedreservation', 'unusedsavingsplan') then 'Unused'
            when charge_category = 'Usage' then 'Used'
        end as commitment_discount_status,
        -- Native prices are per UnitOfMeasure block (Cost = UnitPrice x Quantity) and, for MCA, in the
        -- pricing currency; FOCUS prices are per PricingUnit and in the billing currency.
        cast(payg_price * exchange_rate / block_size as decimal(38, 12)) as list_unit_price_native,
        cast(unit_price * exchange_rate / block_size as decimal(38, 12)) as contracted_unit_price_native,
        cast(effective_price * exchange_rate / block_size as decimal(38, 12)) as effective_unit_price_native,
        cast(payg_price / block_size as decimal(38, 12)) as pricing_currency_list_unit_price_native,
        cast(unit_price / block_size as decimal(38, 12)) as pricing_currency_contracted_unit_price_native,
        cast(effective_price / block_size as decimal(38, 12)) as pricing_currency_effective_unit_price_native,
        case
            when try_cast(term as integer) is not null then try_cast(term as integer)
            when regexp_matches(term, '^P\d+Y$') then cast(regexp_extract(term, '\d+') as integer) * 12
            when regexp_matches(term, '^P\d+M$') then cast(regexp_extract(term, '\d+') as integer)
        end as term_months
    from enriched
),

priced as (
    select
        measured.*,
        -- Missing or zero native prices (EA writes PayGPrice 0 for commitment usage and purchases) fall back
        -- as FinOps hubs do: list to contracted, contracted to effective.
        case when charge_category <> 'Tax' then coalesce(
            nullif(contracted_unit_price_native, 0), nullif(effective_unit_price_native, 0),
            contracted_unit_price_native, effective_unit_price_native, 0)
        end as contracted_unit_price,
        case when charge_category <> 'Tax' then coalesce(
            nullif(pricing_currency_contracted_unit_price_native, 0), nullif(pricing_currency_effective_unit_price_native, 0),
            pricing_currency_contracted_unit_price_native, pricing_currency_effective_unit_price_native, 0)
        end as pricing_currency_contracted_unit_price
    from measured
),

focus as (
    select
        priced.*,
        case when charge_category <> 'Tax' then coalesce(nullif(list_unit_price_native, 0), contracted_unit_price) end as list_unit_price,
        case when charge_category <> 'Tax' then coalesce(nullif(pricing_currency_list_unit_price_native, 0), pricing_currency_contracted_unit_price) end
            as pricing_currency_list_unit_price,
        case
            when commitment_discount_id is null or charge_category not in ('Usage', 'Purchase') or charge_class = 'Correction' then null
            when commitment_discount_category = 'Spend' then cast(
                (case when charge_category = 'Purchase' then cost else effective_cost end) / exchange_rate as decimal(38, 12))
            when charge_category = 'Purchase' and pricing_unit = 'Hours' and frequency ilike 'recurring'
                then cast(quantity * 24 * day(last_day(charge_at)) as decimal(38, 12))
            when charge_category = 'Purchase' and pricing_unit = 'Hours' and term_months is not null
                then cast(quantity * 24 * datediff('day', charge_at, charge_at + to_months(term_months)) as decimal(38, 12))
            else pricing_quantity
        end as commitment_discount_quantity,
        case when charge_type_key = 'usage' then pricing_quantity end as consumed_quantity,
        -- The native members with a value (macros/json_members.sql), over the export's unclaimed columns.
        case
            when extras is null then {{ json_members(native_extras) }}
            else json_merge_patch(extras, coalesce({{ json_members(native_extras) }}, '{}'::json))
        end as extras_json
    from priced
)

select
    cast(availability_zone as varchar) as AvailabilityZone,
    cast(billed_cost as decimal(38, 12)) as BilledCost,
    case agreement_type
        when 'MCA' then '/providers/Microsoft.Billing/billingAccounts/' || billing_account_id
            || coalesce('/billingProfiles/' || billing_profile_id, '')
        when 'EA' then '/providers/Microsoft.Billing/billingAccounts/' || billing_account_id
        else '/subscriptions/' || subscription_id
    end as BillingAccountId,
    case agreement_type
        when 'MCA' then coalesce(billing_profile_name, billing_account_name)
        when 'EA' then billing_account_name
        else subscription_name
    end as BillingAccountName,
    case agreement_type when 'MCA' then 'Billing Profile' when 'EA' then 'Billing Account' else 'Subscription' end
        as BillingAccountType,
    cast(billing_currency as varchar) as BillingCurrency,
    cast(coalesce(billing_period_end_at + interval 1 day,
        date_trunc('month', charge_at) + interval 1 month) as timestamp) as BillingPeriodEnd,
    cast(coalesce(billing_period_start_at, date_trunc('month', charge_at)) as timestamp) as BillingPeriodStart,
    cast(additional_info_json ->> 'VMCapacityReservationId' as varchar) as CapacityReservationId,
    case
        when additional_info_json ->> 'VMCapacityReservationId' is null then null
        when resource_type_key = 'microsoft.compute/capacityreservationgroups/capacityreservations' then 'Unused'
        else 'Used'
    end as CapacityReservationStatus,
    charge_category as ChargeCategory,
    charge_class as ChargeClass,
    cast(coalesce(product_name, meter_name) as varchar) as ChargeDescription,
    coalesce(
        case lower(frequency)
            when 'onetime' then 'One-Time'
            when 'recurring' then 'Recurring'
            when 'usagebased' then case when charge_category <> 'Purchase' then 'Usage-Based' end
        end,
        case when charge_category = 'Usage' then 'Usage-Based' else 'One-Time' end
    ) as ChargeFrequency,
    cast(charge_at + interval 1 day as timestamp) as ChargePeriodEnd,
    cast(charge_at as timestamp) as ChargePeriodStart,
    commitment_discount_category as CommitmentDiscountCategory,
    cast(commitment_discount_id as varchar) as CommitmentDiscountId,
    cast(case when commitment_discount_id is not null then coalesce(benefit_name, reservation_name) end as varchar)
        as CommitmentDiscountName,
    commitment_discount_quantity as CommitmentDiscountQuantity,
    commitment_discount_status as CommitmentDiscountStatus,
    commitment_discount_type as CommitmentDiscountType,
    case
        when commitment_discount_quantity is null then null
        when commitment_discount_category = 'Spend' then coalesce(pricing_currency, billing_currency)
        else pricing_unit
    end as CommitmentDiscountUnit,
    consumed_quantity as ConsumedQuantity,
    case when consumed_quantity is not null then pricing_unit end as ConsumedUnit,
    cast(case when charge_class = 'Correction' or charge_category = 'Tax' then cost
        else coalesce(contracted_unit_price * pricing_quantity, cost) end as decimal(38, 12)) as ContractedCost,
    cast(contracted_unit_price as decimal(38, 12)) as ContractedUnitPrice,
    cast(effective_cost as decimal(38, 12)) as EffectiveCost,
    cast(invoice_id as varchar) as InvoiceId,
    cast(coalesce(partner_name, 'Microsoft') as varchar) as InvoiceIssuerName,
    cast(case when charge_class = 'Correction' or charge_category = 'Tax' then cost
        else coalesce(list_unit_price * pricing_quantity, cost) end as decimal(38, 12)) as ListCost,
    cast(list_unit_price as decimal(38, 12)) as ListUnitPrice,
    pricing_category as PricingCategory,
    cast(coalesce(pricing_currency, billing_currency) as varchar) as PricingCurrency,
    cast(pricing_currency_contracted_unit_price as decimal(38, 12)) as PricingCurrencyContractedUnitPrice,
    cast(case when commitment_role = 'purchase' then 0
        else coalesce(cost_in_pricing_currency, cost / exchange_rate) end as decimal(38, 12)) as PricingCurrencyEffectiveCost,
    cast(pricing_currency_list_unit_price as decimal(38, 12)) as PricingCurrencyListUnitPrice,
    pricing_quantity as PricingQuantity,
    case when pricing_quantity is not null then pricing_unit end as PricingUnit,
    'Microsoft' as ProviderName,
    cast(coalesce(publisher_name, service_publisher_name, 'Microsoft') as varchar) as PublisherName,
    cast(coalesce(mapped_region_id, lower(replace(coalesce(resource_location, resource_location_normalized), ' ', '')))
        as varchar) as RegionId,
    cast(coalesce(mapped_region_name, resource_location, resource_location_normalized) as varchar) as RegionName,
    cast(resource_id as varchar) as ResourceId,
    cast(case when resource_id is not null then coalesce(
        resource_name,
        case when resource_type_key like 'microsoft.capacity/%' or resource_type_key like 'microsoft.billingbenefits/%'
            then coalesce(benefit_name, reservation_name) end,
        regexp_extract(resource_id, '([^/]+)/*$', 1)
    ) end as varchar) as ResourceName,
    case when resource_id is not null then coalesce(resource_type_key, 'unknown') end as ResourceType,
    coalesce(mapped_service_category, 'Other') as ServiceCategory,
    cast(coalesce(mapped_service_name, nullif(meter_category, ''), consumed_service, 'Other') as varchar) as ServiceName,
    coalesce(mapped_service_subcategory, 'Other (' || coalesce(mapped_service_category, 'Other') || ')') as ServiceSubcategory,
    cast(sku_id as varchar) as SkuId,
    cast(case when sku_id is not null then coalesce(meter_name, product_name) end as varchar) as SkuMeter,
    case
        when sku_id is not null and additional_info_keys <> []
            then cast(to_json(map_from_entries(list_transform(additional_info_keys,
                lambda k: {'key': 'x_' || k, 'value': additional_info_json -> k}))) as json)
    end as SkuPriceDetails,
    cast(case when sku_id is not null then concat_ws('_', sku_id, part_number, term) end as varchar) as SkuPriceId,
    cast('/subscriptions/' || subscription_id as varchar) as SubAccountId,
    cast(subscription_name as varchar) as SubAccountName,
    case when subscription_id is not null then 'Subscription' end as SubAccountType,
    case
        when tag_keys <> []
            then cast(to_json(map_from_entries(list_transform(tag_keys,
                lambda k: {'key': k, 'value': tags_json ->> k}))) as json)
    end as Tags,
    cast(source_format as varchar) as x_SourceFormat,
    cast(source_uri as varchar) as x_SourceUri,
    cast(load_id as varchar) as x_LoadId,
    cast(ingested_at as timestamp) as x_IngestedAt,
    cast(dataset as varchar) as x_Dataset,
    cast(consumed_service as varchar) as x_ServiceCode,
    cast(nullif(concat_ws(' / ', nullif(meter_category, ''), nullif(meter_subcategory, ''), nullif(meter_name, '')), '')
        as varchar) as x_UsageType,
    cast(null as varchar) as x_Operation,
    cast(charge_type as varchar) as x_CostType,
    cast(null as decimal(38, 12)) as x_CreditAmount,
    case
        when extras_json::varchar = '{}' then null
        else extras_json
    end as x_Extras
from focus
