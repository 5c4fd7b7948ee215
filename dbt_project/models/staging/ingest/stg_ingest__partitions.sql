select
    raw_table,
    format as source_format,
    x_billing_account_id as billing_account_id,
    x_billing_period as billing_period,
    x_dataset as dataset,
    source_uri,
    delivery,
    load_id,
    row_count,
    billed_total,
    paired_billed_total,
    currency
from {{ source('ingest', 'partitions') }}
