-- AWS Cost and Usage Report line items (legacy and 2.0 alike) as FOCUS 1.2 rows.
--
-- The mapping follows AWS's own FOCUS export (Data Exports "FOCUS 1.2 with AWS columns") where its
-- behaviour is visible, and the FinOps Foundation focus-converters rules for CUR
-- (data/reference/focus-converters-mappings/conversion_rules_aws-cur.csv) elsewhere:
-- * BilledCost is the unblended cost (what AWS invoices), except that a SavingsPlanNegation line is
--   folded into the SavingsPlanCoveredUsage line it negates, as AWS's FOCUS export shows them: one
--   covered row billed at 0 (FOCUS: "BilledCost MUST be 0 where the commitment covers the cost").
--   The folded amount is x_CreditAmount; a negation without a covered line stays a row of its own.
-- * EffectiveCost is AWS's amortized cost: reservation_effective_cost for DiscountedUsage,
--   savings_plan_effective_cost for SavingsPlanCoveredUsage, 0 for negations and for commitment
--   purchases (RIFee, SavingsPlanRecurringFee, SavingsPlanUpfrontFee, RI upfront Fee), the unblended
--   cost otherwise. The unused part of a commitment (RIFee: unused amortized upfront + unused
--   recurring fee; SavingsPlanRecurringFee: total commitment - used commitment) becomes an extra
--   Usage row with CommitmentDiscountStatus Unused, BilledCost 0, as FOCUS requires; the sum of
--   EffectiveCost over a file is therefore exactly AWS's amortized cost.
-- * Tags: user-defined tags without their `user:` / `user_` prefix (FOCUS: one user tag scheme, no
--   prefix; AWS's FOCUS export does the same), AWS-generated tags keep the `aws:` prefix.
-- DuckDB SQL: `* exclude` / `* replace`, lambdas and map functions have no cross-database macro.
with line_items as not materialized (
    select * from {{ ref('stg_aws__cur_line_items') }}
),

service_categories as (
    select product_code, "ServiceCategory" as service_category
    from {{ ref('aws_category_mapping') }}
),

-- FOCUS ServiceSubcategory of the services AWS bills most; each applies only under the
-- ServiceCategory the mapping seed gives the product code, otherwise 'Other (<category>)'.
service_subcategories (product_code, service_subcategory) as (
    values
        ('AmazonEC2', 'Virtual Machines'),
        ('AmazonLightsail', 'Virtual Machines'),
        ('AWSLambda', 'Serverless Compute'),
        ('AmazonECS', 'Containers'),
        ('AmazonEKS', 'Containers'),
        ('AmazonECR', 'Containers'),
        ('AmazonS3', 'Object Storage'),
        ('AmazonGlacier', 'Object Storage'),
        ('AmazonEFS', 'File Storage'),
        ('AmazonFSx', 'File Storage'),
        ('AWSBackup', 'Backup Storage'),
        ('AmazonRDS', 'Relational Databases'),
        ('AmazonDynamoDB', 'NoSQL Databases'),
        ('AmazonDocDB', 'NoSQL Databases'),
        ('AmazonElastiCache', 'Caching'),
        ('AmazonRedshift', 'Data Warehouses'),
        ('AmazonTimestream', 'Time Series Databases'),
        ('AmazonCloudFront', 'Content Delivery'),
        ('AWSDirectConnect', 'Network Connectivity'),
        ('AmazonCloudWatch', 'Observability'),
        ('AWSCloudTrail', 'Compliance'),
        ('AWSConfig', 'Compliance'),
        ('AWSCostExplorer', 'Cost Management'),
        ('AWSSecretsManager', 'Secret Management'),
        ('awskms', 'Secret Management'),
        ('AmazonGuardDuty', 'Threat Detection and Response'),
        ('AWSSecurityHub', 'Security Posture Management'),
        ('AmazonSNS', 'Messaging'),
        ('AWSQueueService', 'Messaging'),
        ('AmazonMQ', 'Messaging'),
        ('AmazonSageMaker', 'Machine Learning'),
        ('AmazonBedrock', 'Generative AI'),
        ('AmazonKinesis', 'Streaming Analytics'),
        ('AmazonQuickSight', 'Business Intelligence'),
        ('AmazonES', 'Search'),
        ('AWSGlue', 'Data Processing')
),

subcategory_parents (service_subcategory, service_category) as (
    values
        ('Virtual Machines', 'Compute'), ('Serverless Compute', 'Compute'), ('Containers', 'Compute'),
        ('Object Storage', 'Storage'), ('File Storage', 'Storage'), ('Backup Storage', 'Storage'),
        ('Relational Databases', 'Databases'), ('NoSQL Databases', 'Databases'), ('Caching', 'Databases'),
        ('Data Warehouses', 'Databases'), ('Time Series Databases', 'Databases'),
        ('Content Delivery', 'Networking'), ('Network Connectivity', 'Networking'),
        ('Observability', 'Management and Governance'), ('Compliance', 'Management and Governance'),
        ('Cost Management', 'Management and Governance'),
        ('Secret Management', 'Security'), ('Threat Detection and Response', 'Security'),
        ('Security Posture Management', 'Security'),
        ('Messaging', 'Integration'),
        ('Machine Learning', 'AI and Machine Learning'), ('Generative AI', 'AI and Machine Learning'),
        ('Streaming Analytics', 'Analytics'), ('Business Intelligence', 'Analytics'), ('Search', 'Analytics'),
        ('Data Processing', 'Analytics')
),

classified as not materialized (
    select
        line_items.*,
        coalesce(savings_plan_arn, reservation_arn) as commitment_id,
        case
            when savings_plan_arn is not null then 'Spend'
            when reservation_arn is not null then 'Usage'
        end as commitment_category,
        case
            when line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation')
                then 'Usage'
            when line_item_type in ('RIFee', 'Fee', 'SavingsPlanRecurringFee', 'SavingsPlanUpfrontFee')
                then 'Purchase'
            when line_item_type = 'Tax' then 'Tax'
            when line_item_type = 'Credit' or line_item_type like '%Discount' then 'Credit'
            -- FOCUS files a refund under the category of what it refunds.
            when line_item_type = 'Refund' then
                case
                    when tax_type is not null then 'Tax'
                    when savings_plan_arn is not null or reservation_arn is not null then 'Purchase'
                    else 'Usage'
                end
            else 'Adjustment'
        end as charge_category,
        case
            when line_item_type in ('RIFee', 'SavingsPlanRecurringFee') then 'Recurring'
            when line_item_type = 'SavingsPlanUpfrontFee' then 'One-Time'
            when line_item_type = 'Fee' then
                case when bill_type = 'Anniversary' and reservation_arn is null then 'Recurring' else 'One-Time' end
            when line_item_type = 'Tax' then
                case when bill_type = 'Anniversary' then 'Recurring' else 'One-Time' end
            when line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation')
                or line_item_type like '%Discount'
                then 'Usage-Based'
            else 'One-Time'
        end as charge_frequency,
        -- A refund or credit for usage before the billing period corrects an earlier invoice.
        case
            when line_item_type in ('Refund', 'Credit') and usage_start_at < billing_period_start_at
                then 'Correction'
        end as charge_class,
        -- The charge a Savings Plan negation belongs to: the covered line with the same key.
        case
            when line_item_type in ('SavingsPlanCoveredUsage', 'SavingsPlanNegation') then concat_ws(
                '|', payer_account_id, cast(billing_period_start_at as varchar), coalesce(usage_account_id, ''),
                savings_plan_arn, coalesce(product_code, ''), coalesce(usage_type, ''), coalesce(operation, ''),
                coalesce(resource_id, ''), cast(usage_start_at as varchar), cast(usage_end_at as varchar)
            )
        end as savings_plan_charge_key
    from line_items
),

negations as (
    select savings_plan_charge_key, sum(unblended_cost) as negated_cost
    from classified
    where line_item_type = 'SavingsPlanNegation'
    group by savings_plan_charge_key
),

covered_shares as (
    select
        covered.*,
        negations.negated_cost,
        count(*) over charge as lines_in_charge,
        row_number() over (partition by covered.savings_plan_charge_key order by covered.line_item_id, covered.unblended_cost) as line_in_charge,
        sum(covered.unblended_cost) over charge as charge_cost
    from classified as covered
    left join negations on covered.savings_plan_charge_key = negations.savings_plan_charge_key
    where covered.line_item_type = 'SavingsPlanCoveredUsage'
    window charge as (partition by covered.savings_plan_charge_key)
),

covered_proportional as (
    select
        *,
        case
            when negated_cost is null then null
            when charge_cost <> 0 then cast(negated_cost * unblended_cost / charge_cost as decimal(38, 12))
            else cast(negated_cost / lines_in_charge as decimal(38, 12))
        end as proportional_credit
    from covered_shares
),

-- Each covered line takes its share of the negation; the last takes the remainder, so the
-- negation is folded in to the last digit.
covered as (
    select
        * exclude (negated_cost, lines_in_charge, line_in_charge, charge_cost, proportional_credit),
        'line item' as row_kind,
        case
            when line_in_charge = lines_in_charge
                then negated_cost - (sum(proportional_credit) over (partition by savings_plan_charge_key) - proportional_credit)
            else proportional_credit
        end as folded_credit,
        cast(null as decimal(38, 12)) as unused_commitment_cost
    from covered_proportional
),

unmatched_negations as (
    select
        classified.*,
        'unmatched negation' as row_kind,
        cast(null as decimal(38, 12)) as folded_credit,
        cast(null as decimal(38, 12)) as unused_commitment_cost
    from classified
    where line_item_type = 'SavingsPlanNegation'
        and not exists (
            select 1
            from classified as covered
            where covered.line_item_type = 'SavingsPlanCoveredUsage'
                and covered.savings_plan_charge_key = classified.savings_plan_charge_key
        )
),

other_lines as (
    select
        classified.*,
        'line item' as row_kind,
        cast(null as decimal(38, 12)) as folded_credit,
        cast(null as decimal(38, 12)) as unused_commitment_cost
    from classified
    where line_item_type not in ('SavingsPlanCoveredUsage', 'SavingsPlanNegation')
),

-- The unused part of a commitment in the fee's charge period, as FOCUS wants it: a Usage row.
unused_commitments as (
    select * replace ('Usage' as charge_category, 'Usage-Based' as charge_frequency, cast(null as varchar) as charge_class)
    from (
        select
            classified.*,
            'unused commitment' as row_kind,
            cast(null as decimal(38, 12)) as folded_credit,
            cast(case
                when line_item_type = 'RIFee'
                    then coalesce(reservation_unused_amortized_upfront_fee_for_billing_period, 0)
                        + coalesce(reservation_unused_recurring_fee, 0)
                else savings_plan_total_commitment_to_date - savings_plan_used_commitment
            end as decimal(38, 12)) as unused_commitment_cost
        from classified
        where line_item_type in ('RIFee', 'SavingsPlanRecurringFee') and commitment_id is not null
    ) as fees
    where unused_commitment_cost <> 0
),

charges as (
    select * from other_lines
    union all
    select * from covered
    union all
    select * from unmatched_negations
    union all
    select * from unused_commitments
),

priced as (
    select
        charges.*,
        charge_category in ('Usage', 'Purchase') as is_usage_or_purchase,
        row_kind = 'unused commitment' as is_unused_commitment,
        case
            when row_kind = 'unused commitment' then 0
            when line_item_type = 'SavingsPlanCoveredUsage' then unblended_cost + coalesce(folded_credit, 0)
            else unblended_cost
        end as billed_cost,
        case
            when row_kind = 'unused commitment' then unused_commitment_cost
            when line_item_type = 'SavingsPlanCoveredUsage' then coalesce(savings_plan_effective_cost, 0)
            when line_item_type = 'DiscountedUsage' then coalesce(reservation_effective_cost, 0)
            when line_item_type in ('SavingsPlanNegation', 'SavingsPlanUpfrontFee', 'SavingsPlanRecurringFee', 'RIFee')
                then 0
            when line_item_type = 'Fee' and reservation_arn is not null then 0
            else unblended_cost
        end as effective_cost,
        case
            when commitment_id is null or charge_category not in ('Usage', 'Purchase') then null
            when row_kind = 'unused commitment' and commitment_category = 'Usage' then reservation_unused_quantity
            when row_kind = 'unused commitment' then unused_commitment_cost
            when commitment_category = 'Spend' then
                case line_item_type
                    when 'SavingsPlanCoveredUsage' then savings_plan_effective_cost
                    when 'SavingsPlanRecurringFee' then savings_plan_total_commitment_to_date
                    when 'SavingsPlanUpfrontFee' then unblended_cost
                end
            else
                case line_item_type
                    when 'DiscountedUsage' then usage_amount
                    when 'RIFee' then reservation_total_reserved_units
                    -- An upfront fee buys the reservation's hours over its whole term (AWS counts 8760 a year).
                    when 'Fee' then coalesce(
                        reservation_total_reserved_units,
                        case when regexp_matches(lease_contract_length, '^[0-9]+ ?yr$') then
                            coalesce(reservation_number_of_reservations, 1) * 8760
                                * cast(regexp_extract(lease_contract_length, '^([0-9]+)', 1) as integer)
                        end
                    )
                    else usage_amount
                end
        end as commitment_quantity,
        nullif(coalesce(region_code, product_region, from_region_code), 'global') as region_id,
        -- AWS names a region in the product attributes of the line items that run in it; a line that
        -- carries only the code (data transfer, S3) gets its name in int_costs__conformed from the
        -- provider's other rows, so that a slice is mapped without reading the others.
        case
            when region_code is not null then
                case when location_type = 'AWS Region' and region_code <> 'global' then location end
            when product_region is not null then null
            when from_location_type = 'AWS Region' and from_region_code <> 'global' then from_location
        end as own_region_name,
        case
            when row_kind = 'unused commitment' then commitment_id
            when line_item_type in ('RIFee', 'Fee', 'SavingsPlanRecurringFee', 'SavingsPlanUpfrontFee')
                then coalesce(resource_id, commitment_id)
            else resource_id
        end as focus_resource_id,
        case
            when commitment_id is null or charge_category <> 'Usage' then null
            when row_kind = 'unused commitment' then 'Unused'
            else 'Used'
        end as commitment_status,
        -- AWS's own FOCUS export spells CUR units the FOCUS way (Hrs -> Hours, GB-Mo -> GB-Months).
        regexp_replace(
            regexp_replace(pricing_unit, '(^|-)(Hrs|hours)$', '\1Hours'),
            '(^|-)(Mo|Month)$', '\1Months'
        ) as unit
    from charges
),

-- FOCUS Tags of each distinct resource_tags value: an export repeats a few hundred tag sets over
-- millions of lines, so they are parsed once per set and joined (parsing per line was a quarter of
-- the mapping's time at 1M lines).
tag_entries as (
    select
        resource_tags,
        list_filter(
            map_entries(cast(resource_tags as map(varchar, varchar))),
            lambda tag: tag.value is not null and tag.value <> ''
        ) as entries
    from (select distinct resource_tags from line_items where resource_tags is not null)
),

tag_sets as (
    select
        resource_tags,
        case
            when len(entries) > 0 then cast(map_from_entries(list_transform(
                entries,
                lambda tag: {
                    'key': case
                        when tag.key like 'user:%' or tag.key like 'user\_%' escape '\' then substr(tag.key, 6)
                        when tag.key like 'aws\_%' escape '\' then 'aws:' || substr(tag.key, 5)
                        else tag.key
                    end,
                    'value': tag.value
                }
            )) as json)
        end as focus_tags
    from tag_entries
),

enriched as (
    select
        priced.*,
        coalesce(service_categories.service_category, 'Other') as service_category,
        coalesce(
            subcategory_parents.service_subcategory,
            'Other (' || coalesce(service_categories.service_category, 'Other') || ')'
        ) as service_subcategory,
        case when priced.region_id is not null then priced.own_region_name end as region_name,
        case
            when is_unused_commitment then 0
            when not is_usage_or_purchase or row_kind = 'unmatched negation' then null
            when line_item_type = 'DiscountedUsage' then coalesce(public_on_demand_rate, unblended_rate)
            else unblended_rate
        end as contracted_unit_price,
        case
            when is_unused_commitment then 0
            when not is_usage_or_purchase or row_kind = 'unmatched negation' then null
            when public_on_demand_cost is not null then public_on_demand_rate
            else unblended_rate
        end as list_unit_price,
        coalesce(pricing_currency, currency_code) = currency_code as is_priced_in_billing_currency,
        tag_sets.focus_tags
    from priced
    left join tag_sets on priced.resource_tags = tag_sets.resource_tags
    left join service_categories on priced.product_code = service_categories.product_code
    left join service_subcategories on priced.product_code = service_subcategories.product_code
    left join subcategory_parents
        on service_subcategories.service_subcategory = subcategory_parents.service_subcategory
        and subcategory_parents.service_category = service_categories.service_category
)

select
    availability_zone as "AvailabilityZone",
    cast(billed_cost as decimal(38, 12)) as "BilledCost",
    payer_account_id as "BillingAccountId",
    coalesce(payer_account_name, payer_account_id) as "BillingAccountName",
    'Payer Account' as "BillingAccountType",
    currency_code as "BillingCurrency",
    billing_period_end_at as "BillingPeriodEnd",
    billing_period_start_at as "BillingPeriodStart",
    capacity_reservation_arn as "CapacityReservationId",
    case
        when capacity_reservation_arn is null then null
        when lower(capacity_reservation_status) like '%unused%' then 'Unused'
        else 'Used'
    end as "CapacityReservationStatus",
    charge_category as "ChargeCategory",
    charge_class as "ChargeClass",
    case
        when is_unused_commitment then concat('Unused commitment: ', coalesce(line_item_description, commitment_id))
        else line_item_description
    end as "ChargeDescription",
    charge_frequency as "ChargeFrequency",
    usage_end_at as "ChargePeriodEnd",
    usage_start_at as "ChargePeriodStart",
    case when commitment_id is not null then commitment_category end as "CommitmentDiscountCategory",
    commitment_id as "CommitmentDiscountId",
    cast(null as varchar) as "CommitmentDiscountName",
    cast(commitment_quantity as decimal(38, 12)) as "CommitmentDiscountQuantity",
    commitment_status as "CommitmentDiscountStatus",
    case commitment_category
        when 'Spend' then 'Savings Plan'
        when 'Usage' then 'Reserved Instance'
    end as "CommitmentDiscountType",
    case
        when commitment_quantity is null then null
        when commitment_category = 'Spend' then currency_code
        else 'Hours'
    end as "CommitmentDiscountUnit",
    cast(case
        when charge_category = 'Usage' and not is_unused_commitment and row_kind <> 'unmatched negation'
            then usage_amount
    end as decimal(38, 12)) as "ConsumedQuantity",
    case
        when charge_category = 'Usage' and not is_unused_commitment and row_kind <> 'unmatched negation'
            and usage_amount is not null
            then unit
    end as "ConsumedUnit",
    cast(case
        when is_unused_commitment or row_kind = 'unmatched negation' then 0
        when not is_usage_or_purchase then billed_cost
        when line_item_type = 'DiscountedUsage' then coalesce(public_on_demand_cost, unblended_cost)
        else unblended_cost
    end as decimal(38, 12)) as "ContractedCost",
    cast(contracted_unit_price as decimal(38, 12)) as "ContractedUnitPrice",
    cast(effective_cost as decimal(38, 12)) as "EffectiveCost",
    invoice_id as "InvoiceId",
    coalesce(invoicing_entity, legal_entity) as "InvoiceIssuerName",
    cast(case
        when is_unused_commitment or row_kind = 'unmatched negation' then 0
        when not is_usage_or_purchase then billed_cost
        else coalesce(public_on_demand_cost, unblended_cost)
    end as decimal(38, 12)) as "ListCost",
    cast(list_unit_price as decimal(38, 12)) as "ListUnitPrice",
    case
        when not is_usage_or_purchase then null
        when commitment_status is not null then 'Committed'
        when lower(coalesce(usage_type, '')) like '%spotusage%'
            or lower(coalesce(pricing_term, '')) = 'spot'
            or lower(coalesce(purchase_option, '')) like '%spot%'
            then 'Dynamic'
        else 'Standard'
    end as "PricingCategory",
    coalesce(pricing_currency, currency_code) as "PricingCurrency",
    cast(case when is_priced_in_billing_currency then contracted_unit_price end as decimal(38, 12))
        as "PricingCurrencyContractedUnitPrice",
    cast(case when is_priced_in_billing_currency then effective_cost end as decimal(38, 12))
        as "PricingCurrencyEffectiveCost",
    cast(case when is_priced_in_billing_currency then list_unit_price end as decimal(38, 12))
        as "PricingCurrencyListUnitPrice",
    cast(case
        when is_unused_commitment then commitment_quantity
        when is_usage_or_purchase and row_kind <> 'unmatched negation' then usage_amount
    end as decimal(38, 12)) as "PricingQuantity",
    case
        when is_unused_commitment then case when commitment_category = 'Spend' then currency_code else 'Hours' end
        when is_usage_or_purchase and row_kind <> 'unmatched negation' and usage_amount is not null then unit
    end as "PricingUnit",
    'AWS' as "ProviderName",
    coalesce(legal_entity, invoicing_entity) as "PublisherName",
    region_id as "RegionId",
    region_name as "RegionName",
    focus_resource_id as "ResourceId",
    cast(null as varchar) as "ResourceName",
    case
        when focus_resource_id is null then null
        when focus_resource_id like 'arn:%' then
            -- arn:partition:service:region:account:resource, resource = type/id, type:id or id
            case
                when regexp_matches(split_part(focus_resource_id, ':', 6), '[/]')
                    or len(string_split(focus_resource_id, ':')) > 6
                    then regexp_extract(split_part(focus_resource_id, ':', 6), '^([^/]+)', 1)
                else split_part(focus_resource_id, ':', 3)
            end
        when product_code = 'AmazonS3' then 'bucket'
        when regexp_matches(focus_resource_id, '^[a-z]+(-[a-z]+)*-[0-9a-f]{8,}$') then
            case regexp_extract(focus_resource_id, '^([a-z]+(-[a-z]+)*)-[0-9a-f]{8,}$', 1)
                when 'i' then 'instance'
                when 'vol' then 'volume'
                when 'snap' then 'snapshot'
                when 'eni' then 'network-interface'
                when 'nat' then 'natgateway'
                when 'eipalloc' then 'elastic-ip'
                when 'sg' then 'security-group'
                when 'ami' then 'image'
                when 'igw' then 'internet-gateway'
                when 'vpce' then 'vpc-endpoint'
                when 'tgw' then 'transit-gateway'
                when 'tgw-attach' then 'transit-gateway-attachment'
                else regexp_extract(focus_resource_id, '^([a-z]+(-[a-z]+)*)-[0-9a-f]{8,}$', 1)
            end
        else coalesce(product_family, product_code)
    end as "ResourceType",
    service_category as "ServiceCategory",
    coalesce(product_name, service_name, product_code) as "ServiceName",
    service_subcategory as "ServiceSubcategory",
    case when charge_category <> 'Tax' then sku end as "SkuId",
    case when charge_category <> 'Tax' and sku is not null then coalesce(product_family, usage_type) end as "SkuMeter",
    cast(null as json) as "SkuPriceDetails",
    case when charge_category <> 'Tax' and sku is not null then coalesce(rate_code, rate_id) end as "SkuPriceId",
    usage_account_id as "SubAccountId",
    case when usage_account_id is not null then coalesce(usage_account_name, usage_account_id) end as "SubAccountName",
    case when usage_account_id is not null then 'Linked Account' end as "SubAccountType",
    focus_tags as "Tags",
    source_format as "x_SourceFormat",
    source_uri as "x_SourceUri",
    load_id as "x_LoadId",
    ingested_at as "x_IngestedAt",
    dataset as "x_Dataset",
    product_code as "x_ServiceCode",
    usage_type as "x_UsageType",
    operation as "x_Operation",
    line_item_type as "x_CostType",
    cast(folded_credit as decimal(38, 12)) as "x_CreditAmount",
    -- Only the members with a value (macros/json_members.sql); row_kind only on the rows the mapping derives.
    {{ json_members([
        ('line_item_id', "line_item_id"),
        ('time_interval', "time_interval"),
        ('bill_type', "bill_type"),
        ('billing_entity', "billing_entity"),
        ('row_kind', "nullif(row_kind, 'line item')"),
        ('unblended_cost', "unblended_cost"),
        ('net_unblended_cost', "net_unblended_cost"),
        ('blended_cost', "blended_cost"),
        ('total_discount', "total_discount"),
        ('pricing_term', "pricing_term"),
        ('purchase_option', "purchase_option"),
        ('lease_contract_length', "lease_contract_length"),
        ('offering_class', "offering_class"),
        ('product_family', "product_family"),
        ('instance_type', "instance_type"),
        ('savings_plan_offering_type', "savings_plan_offering_type"),
        ('savings_plan_payment_option', "savings_plan_payment_option"),
        ('savings_plan_purchase_term', "savings_plan_purchase_term"),
        ('cost_categories', "cost_categories"),
        ('discounts', "discounts"),
    ]) }} as "x_Extras"
from enriched
