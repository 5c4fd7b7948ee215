-- Google Cloud Billing line items as FOCUS 1.2 rows, following Google's own FOCUS BigQuery view
-- (2024-03-19) and the FinOps Foundation focus-converters GCP rules, with these decisions:
-- * Credits are netted into their row, as Google's view does: BilledCost = EffectiveCost =
--   cost + all credits (what Google invoices); ContractedCost = cost; x_CreditAmount = the credits'
--   sum; every credit stays itemised in x_Extras.Credits. No credit is a row of its own.
-- * Commitments are billed monthly as they run (no upfront payment in the export), so no cost is
--   amortised: a commitment's fee row keeps its cost in BilledCost and EffectiveCost (Usage,
--   Recurring, PricingCategory Committed, as in Google's view); the usage it covers carries the
--   committed use discount credit (CommitmentDiscount* columns, Status Used).
-- * cost_type: regular -> Usage, tax -> Tax, adjustment and rounding_error -> Adjustment.
--   ChargeClass is Correction only for a correction (adjustment_info type *_CORRECTION or a
--   correcting mode) of usage before this invoice month, i.e. of a previously invoiced period.
-- * Google invoices by Pacific time: BillingPeriodStart/End are invoice.month's first instant and
--   the next month's, in America/Los_Angeles, expressed in UTC.
with line_items as (
    select
        *,
        case lower(cost_type)
            when 'regular' then 'Usage'
            when 'tax' then 'Tax'
            when 'adjustment' then 'Adjustment'
            when 'rounding_error' then 'Adjustment'
            when 'rounding error' then 'Adjustment'
        end as charge_category,
        timezone('UTC', timezone('America/Los_Angeles', strptime(invoice_month, '%Y%m'))) as billing_period_start,
        timezone(
            'UTC', timezone('America/Los_Angeles', strptime(invoice_month, '%Y%m') + interval 1 month)
        ) as billing_period_end
    from {{ ref('int_gcp__line_items_with_credits') }}
),

classified as (
    select
        *,
        case
            when (adjustment_info_type in ('USAGE_CORRECTION', 'PRICE_CORRECTION', 'METADATA_CORRECTION')
                    or adjustment_info_mode in (
                        'PARTIAL_CORRECTION', 'COMPLETE_NEGATION', 'COMPLETE_NEGATION_WITH_REMONETIZATION'
                    ))
                and usage_started_at < billing_period_start
                then 'Correction'
        end as charge_class,
        case when charge_category = 'Usage' then committed_use_credit_type end as commitment_credit_type
    from line_items
),

priced as (
    select
        *,
        charge_category in ('Usage', 'Purchase') and charge_class is null as needs_prices,
        case
            when charge_category <> 'Tax' and usage_pricing_unit is not null then usage_amount_in_pricing_units
        end as pricing_quantity,
        coalesce(cost_at_list, cost) as list_cost,
        cost + credit_amount as billed_cost
    from classified
),

region_names as (
    -- GCP region display names, as listed in Google's FOCUS view; multi-regions added.
    select * from (values
        ('africa-south1', 'Johannesburg'), ('asia-east1', 'Taiwan'), ('asia-east2', 'Hong Kong'),
        ('asia-northeast1', 'Tokyo'), ('asia-northeast2', 'Osaka'), ('asia-northeast3', 'Seoul'),
        ('asia-southeast1', 'Singapore'), ('australia-southeast1', 'Sydney'),
        ('australia-southeast2', 'Melbourne'), ('europe-central2', 'Warsaw'), ('europe-north1', 'Finland'),
        ('europe-southwest1', 'Madrid'), ('europe-west1', 'Belgium'), ('europe-west2', 'London'),
        ('europe-west3', 'Frankfurt'), ('europe-west4', 'Netherlands'), ('europe-west6', 'Zurich'),
        ('europe-west8', 'Milan'), ('europe-west9', 'Paris'), ('europe-west10', 'Berlin'),
        ('europe-west12', 'Turin'), ('asia-south1', 'Mumbai'), ('asia-south2', 'Delhi'),
        ('asia-southeast2', 'Jakarta'), ('me-central1', 'Doha'), ('me-central2', 'Dammam'),
        ('me-west1', 'Tel Aviv'), ('northamerica-northeast1', 'Montréal'),
        ('northamerica-northeast2', 'Toronto'), ('us-central1', 'Iowa'), ('us-east1', 'South Carolina'),
        ('us-east4', 'Northern Virginia'), ('us-east5', 'Columbus'), ('us-south1', 'Dallas'),
        ('us-west1', 'Oregon'), ('us-west2', 'Los Angeles'), ('us-west3', 'Salt Lake City'),
        ('us-west4', 'Las Vegas'), ('southamerica-east1', 'São Paulo'), ('southamerica-west1', 'Santiago'),
        ('us', 'United States (multi-region)'), ('eu', 'European Union (multi-region)'),
        ('asia', 'Asia Pacific (multi-region)')
    ) as t (region_id, region_name)
),

service_subcategories as (
    -- FOCUS 1.2 ServiceSubcategory for common services; used only where its parent category matches.
    select * from (values
        ('Compute Engine', 'Virtual Machines', 'Compute'),
        ('Kubernetes Engine', 'Containers', 'Compute'),
        ('Cloud Run', 'Serverless Compute', 'Compute'),
        ('Cloud Functions', 'Serverless Compute', 'Compute'),
        ('App Engine', 'Application Platforms', 'Web'),
        ('Cloud Storage', 'Object Storage', 'Storage'),
        ('Cloud Filestore', 'File Storage', 'Storage'),
        ('BigQuery', 'Data Warehouses', 'Databases'),
        ('Cloud SQL', 'Relational Databases', 'Databases'),
        ('Cloud Spanner', 'Relational Databases', 'Databases'),
        ('Cloud Bigtable', 'NoSQL Databases', 'Databases'),
        ('Cloud Memorystore for Redis', 'Caching', 'Databases'),
        ('Cloud Logging', 'Observability', 'Management and Governance'),
        ('Cloud DNS', 'Network Infrastructure', 'Networking'),
        ('Cloud CDN', 'Content Delivery', 'Networking'),
        ('Cloud Pub/Sub', 'Messaging', 'Integration'),
        ('Secret Manager', 'Secret Management', 'Security'),
        ('Vertex AI', 'AI Platforms', 'AI and Machine Learning')
    ) as t (service_name, service_subcategory, service_category)
),

units as (
    -- GCP's unit names in FOCUS UnitFormat (data sizes as GiB, time units as plural words); a unit
    -- not listed passes through as Google wrote it.
    select * from (values
        ('byte-seconds', 'Byte-Seconds'), ('bytes', 'B'), ('byte', 'B'), ('seconds', 'Seconds'),
        ('second', 'Seconds'), ('s', 'Seconds'), ('hour', 'Hours'), ('hours', 'Hours'), ('h', 'Hours'),
        ('month', 'Months'), ('mo', 'Months'), ('gibibyte', 'GiB'), ('giby', 'GiB'), ('mebibyte', 'MiB'),
        ('tebibyte', 'TiB'), ('tiby', 'TiB'), ('gibibyte hour', 'GiB-Hours'), ('giby.h', 'GiB-Hours'),
        ('gibibyte month', 'GiB-Months'), ('giby.mo', 'GiB-Months'), ('gibibyte second', 'GiB-Seconds'),
        ('vcpu-second', 'vCPU-Seconds'), ('vcpu-hour', 'vCPU-Hours'), ('requests', 'Requests'),
        ('request', 'Requests'), ('count', 'Count')
    ) as t (gcp_unit, focus_unit)
),

mapped as (
    select
        priced.*,
        coalesce(category_mapping.ServiceCategory, 'Other') as service_category,
        coalesce(nullif(region, ''), nullif(location, 'global')) as region_id,
        coalesce(consumed_units.focus_unit, priced.usage_unit) as consumed_unit,
        coalesce(pricing_units.focus_unit, priced.usage_pricing_unit) as pricing_unit
    from priced
    left join units as consumed_units on consumed_units.gcp_unit = lower(priced.usage_unit)
    left join units as pricing_units on pricing_units.gcp_unit = lower(priced.usage_pricing_unit)
    left join {{ ref('gcp_category_mapping') }} as category_mapping
        on category_mapping.ConsumedService = priced.service_description
)

select
    mapped.zone as AvailabilityZone,
    cast(mapped.billed_cost as decimal(38, 12)) as BilledCost,
    mapped.billing_account_id as BillingAccountId,
    cast(null as varchar) as BillingAccountName,
    'Cloud Billing Account' as BillingAccountType,
    mapped.currency as BillingCurrency,
    mapped.billing_period_end as BillingPeriodEnd,
    mapped.billing_period_start as BillingPeriodStart,
    case when mapped.charge_category = 'Usage' and mapped.reservation_name is not null then
        'projects/' || coalesce(mapped.reservation_project_id, mapped.project_id)
        || coalesce('/zones/' || mapped.zone, '') || '/reservations/' || mapped.reservation_name
    end as CapacityReservationId,
    case when mapped.charge_category = 'Usage' and mapped.reservation_name is not null then
        case when mapped.is_unused_reservation then 'Unused' else 'Used' end
    end as CapacityReservationStatus,
    mapped.charge_category as ChargeCategory,
    mapped.charge_class as ChargeClass,
    case
        when mapped.charge_category = 'Adjustment' then coalesce(mapped.adjustment_info_description, mapped.sku_description)
        else mapped.sku_description
    end as ChargeDescription,
    case
        when mapped.charge_category = 'Usage' and mapped.is_commitment_fee then 'Recurring'
        when mapped.charge_category = 'Usage' then 'Usage-Based'
        when mapped.charge_category = 'Tax' then 'Recurring'
        else 'One-Time'
    end as ChargeFrequency,
    mapped.usage_ended_at as ChargePeriodEnd,
    mapped.usage_started_at as ChargePeriodStart,
    case mapped.commitment_credit_type
        when 'COMMITTED_USAGE_DISCOUNT' then 'Usage'
        when 'COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE' then 'Spend'
    end as CommitmentDiscountCategory,
    case when mapped.commitment_credit_type is not null then mapped.committed_use_credit_id end
        as CommitmentDiscountId,
    case when mapped.commitment_credit_type is not null then mapped.committed_use_credit_name end
        as CommitmentDiscountName,
    cast(case
        -- Usage-based: the share of the pricing quantity the commitment covered (credit / cost).
        when mapped.commitment_credit_type = 'COMMITTED_USAGE_DISCOUNT' then
            coalesce(
                mapped.pricing_quantity * least(-mapped.committed_use_credit_amount / nullif(mapped.cost, 0), 1),
                mapped.pricing_quantity
            )
        -- Spend-based: the discounted spend drawn from the commitment, in the billing currency.
        when mapped.commitment_credit_type = 'COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE' then
            mapped.cost + mapped.committed_use_credit_amount
    end as decimal(38, 12)) as CommitmentDiscountQuantity,
    case when mapped.commitment_credit_type is not null then 'Used' end as CommitmentDiscountStatus,
    case mapped.commitment_credit_type
        when 'COMMITTED_USAGE_DISCOUNT' then 'Resource-based committed use discount'
        when 'COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE' then 'Spend-based committed use discount'
    end as CommitmentDiscountType,
    case mapped.commitment_credit_type
        when 'COMMITTED_USAGE_DISCOUNT' then mapped.pricing_unit
        when 'COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE' then mapped.currency
    end as CommitmentDiscountUnit,
    case when mapped.charge_category = 'Usage' then mapped.usage_amount end as ConsumedQuantity,
    case when mapped.charge_category = 'Usage' and mapped.usage_amount is not null
        then coalesce(mapped.consumed_unit, mapped.pricing_unit) end as ConsumedUnit,
    cast(mapped.cost as decimal(38, 12)) as ContractedCost,
    cast(case when mapped.needs_prices then
        coalesce(mapped.cost / nullif(mapped.pricing_quantity, 0), case when mapped.cost = 0 then 0 end)
    end as decimal(38, 12)) as ContractedUnitPrice,
    cast(mapped.billed_cost as decimal(38, 12)) as EffectiveCost,
    cast(null as varchar) as InvoiceId,
    'Google Cloud' as InvoiceIssuerName,
    cast(mapped.list_cost as decimal(38, 12)) as ListCost,
    cast(case when mapped.needs_prices then
        coalesce(mapped.list_cost / nullif(mapped.pricing_quantity, 0), case when mapped.list_cost = 0 then 0 end)
    end as decimal(38, 12)) as ListUnitPrice,
    case
        when not mapped.needs_prices then null
        when mapped.commitment_credit_type is not null or mapped.is_commitment_fee then 'Committed'
        when mapped.sku_description ilike '%preemptible%' or mapped.sku_description ilike 'spot %' then 'Dynamic'
        else 'Standard'
    end as PricingCategory,
    mapped.currency as PricingCurrency,
    cast(case when mapped.needs_prices then
        coalesce(mapped.cost / nullif(mapped.pricing_quantity, 0), case when mapped.cost = 0 then 0 end)
    end as decimal(38, 12)) as PricingCurrencyContractedUnitPrice,
    cast(mapped.billed_cost as decimal(38, 12)) as PricingCurrencyEffectiveCost,
    cast(case when mapped.needs_prices then
        coalesce(mapped.list_cost / nullif(mapped.pricing_quantity, 0), case when mapped.list_cost = 0 then 0 end)
    end as decimal(38, 12)) as PricingCurrencyListUnitPrice,
    mapped.pricing_quantity as PricingQuantity,
    case when mapped.pricing_quantity is not null then mapped.pricing_unit end as PricingUnit,
    'Google Cloud' as ProviderName,
    case
        when mapped.transaction_type in ('THIRD_PARTY_RESELLER', 'THIRD_PARTY_AGENCY')
            then coalesce(mapped.seller_name, 'Google Cloud')
        else 'Google Cloud'
    end as PublisherName,
    mapped.region_id as RegionId,
    case when mapped.region_id is not null then coalesce(region_names.region_name, mapped.region_id) end
        as RegionName,
    mapped.resource_global_name as ResourceId,
    mapped.resource_name as ResourceName,
    -- //compute.googleapis.com/projects/p/zones/z/instances/1 -> compute.instances (Google's view).
    case when mapped.resource_global_name is not null then
        coalesce(nullif(regexp_replace(
            mapped.resource_global_name,
            '(//)|(googleapis.com/)|(projects/[^/]+/)|(project_commitments/[^/]+/)|(locations/[^/]+/)|(regions/[^/]+/)|(zones/[^/]+/)|(global/)|(/[^/]+)',
            '', 'g'
        ), ''), mapped.service_description)
    end as ResourceType,
    mapped.service_category as ServiceCategory,
    mapped.service_description as ServiceName,
    coalesce(service_subcategories.service_subcategory, 'Other (' || mapped.service_category || ')')
        as ServiceSubcategory,
    case when mapped.charge_category <> 'Tax' then mapped.sku_id end as SkuId,
    case when mapped.charge_category <> 'Tax' and mapped.sku_id is not null then mapped.sku_description end
        as SkuMeter,
    cast(null as json) as SkuPriceDetails,
    -- A tiered SKU has one price per tier: the tier's start amount tells them apart.
    case when mapped.charge_category <> 'Tax' then
        mapped.sku_id || case
            when mapped.price_tier_start_amount > 0
                then '/tier/' || rtrim(rtrim(cast(mapped.price_tier_start_amount as varchar), '0'), '.')
            else ''
        end
    end as SkuPriceId,
    mapped.project_id as SubAccountId,
    case when mapped.project_id is not null then coalesce(mapped.project_name, mapped.project_id) end
        as SubAccountName,
    case when mapped.project_id is not null then 'Project' end as SubAccountType,
    mapped.tags_json as Tags,
    mapped.source_format as x_SourceFormat,
    mapped.source_uri as x_SourceUri,
    mapped.load_id as x_LoadId,
    mapped.ingested_at as x_IngestedAt,
    mapped.dataset as x_Dataset,
    mapped.service_id as x_ServiceCode,
    mapped.sku_description as x_UsageType,
    cast(null as varchar) as x_Operation,
    mapped.cost_type as x_CostType,
    cast(case when mapped.has_credits then mapped.credit_amount end as decimal(38, 12)) as x_CreditAmount,
    -- Only the members with a value (macros/json_members.sql).
    {{ json_members([
        ('Credits', "mapped.credits"),
        ('CreditTypes', "mapped.credit_types"),
        ('ProjectNumber', "mapped.project_number"),
        ('ProjectAncestryNumbers', "mapped.project_ancestry_numbers"),
        ('Location', "mapped.location"),
        ('Country', "mapped.country"),
        ('InvoiceMonth', "mapped.invoice_month"),
        ('InvoicePublisherType', "mapped.invoice_publisher_type"),
        ('CurrencyConversionRate', "mapped.currency_conversion_rate"),
        ('ExportTime', "mapped.exported_at"),
        ('TransactionType', "mapped.transaction_type"),
        ('SellerName', "mapped.seller_name"),
        ('AdjustmentInfo', "case when mapped.adjustment_info_id is not null
            or mapped.adjustment_info_type is not null then json_object(
                'Id', mapped.adjustment_info_id, 'Description', mapped.adjustment_info_description,
                'Mode', mapped.adjustment_info_mode, 'Type', mapped.adjustment_info_type) end"),
        ('IsCommitmentFee', "mapped.is_commitment_fee"),
        ('SubscriptionInstanceId', "mapped.subscription_instance_id"),
        ('PriceEffectivePrice', "mapped.price_effective_price"),
        ('PriceTierStartAmount', "mapped.price_tier_start_amount"),
        ('PriceUnit', "mapped.price_unit"),
        ('ConsumptionModelId', "mapped.consumption_model_id"),
    ]) }} as x_Extras
from mapped
left join region_names on region_names.region_id = mapped.region_id
left join service_subcategories
    on service_subcategories.service_name = mapped.service_description
    and service_subcategories.service_category = mapped.service_category
