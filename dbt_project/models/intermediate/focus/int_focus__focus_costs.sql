-- FOCUS files of any version (1.0–1.3) brought to FOCUS 1.2 values.
-- 1.0-preview wrote PricingCategory On-Demand/Commitment-Based; 1.1 renamed them Standard/Committed.
-- Columns a version lacks stay NULL; providers' x_ extras stay in x_Extras.
select
    {% for column in focus_1_2_columns() %}
    {%- if column == 'PricingCategory' -%}
    case "PricingCategory"
        when 'On-Demand' then 'Standard'
        when 'Commitment-Based' then 'Committed'
        else "PricingCategory"
    end as "PricingCategory",
    {%- elif column == 'ServiceCategory' -%}
    coalesce("ServiceCategory", 'Other') as "ServiceCategory",
    {%- else -%}
    {{ adapter.quote(column) }},
    {%- endif %}
    {% endfor %}
    source_format as x_SourceFormat,
    source_uri as x_SourceUri,
    load_id as x_LoadId,
    ingested_at as x_IngestedAt,
    dataset as x_Dataset,
    cast(coalesce(extras ->> 'x_ServiceCode', extras ->> 'x_ServiceCode') as varchar) as x_ServiceCode,
    cast(coalesce(extras ->> 'x_UsageType', extras ->> 'x_usagetype') as varchar) as x_UsageType,
    cast(extras ->> 'x_Operation' as varchar) as x_Operation,
    cast(null as varchar) as x_CostType,
    cast(null as decimal(38, 12)) as x_CreditAmount,
    extras as x_Extras
from {{ ref('stg_focus__costs') }}
