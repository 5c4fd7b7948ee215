-- FOCUS rows as delivered (already typed by the loader); the slice and provenance columns renamed.
select
    {% for column in focus_1_2_columns() %}{{ adapter.quote(column) }},
    {% endfor %}x_FocusVersion as focus_version,
    x_Extras as extras,
    x_billing_account_id as billing_account_id,
    x_billing_period as billing_period,
    x_dataset as dataset,
    x_source_uri as source_uri,
    x_source_format as source_format,
    x_load_id as load_id,
    x_ingested_at as ingested_at
from {{ source('raw_focus', 'focus_costs') }}
-- Only the loads this build maps (macros/incremental_mapping.sql): all of them in a full build.
{{ mapping_batch_filter('x_load_id') }}
