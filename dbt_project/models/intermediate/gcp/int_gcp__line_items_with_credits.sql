-- Each Google Cloud Billing line item with its repeated fields summarised into scalars:
-- the credits' total and the committed use discount among them, the merged labels and tags as
-- one FOCUS Tags object, and the Compute Engine reservation named in its system labels.
with line_items as not materialized (
    select
        *,
        list_filter(
            credits,
            lambda c: c.type in ('COMMITTED_USAGE_DISCOUNT', 'COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE')
        ) as committed_use_credits,
        map_from_entries(list_transform(system_labels, lambda l: {'key': l.key, 'value': l.value}))
            as system_label_map
    from {{ ref('stg_gcp__billing_line_items') }}
),

-- Tags: project labels, overridden by the resource's own labels (the same key on both means the
-- resource's value applies), then system labels (keys carry their googleapis.com domain, the
-- provider prefix) and Resource Manager tags under their fully qualified `namespace/key` (label
-- keys cannot contain '/', so neither collides with labels). As Google's FOCUS view includes them.
-- An export repeats a few hundred label sets over millions of lines: each set is merged once and joined.
tag_sets as (
    select
        project_labels,
        resource_labels,
        system_labels,
        resource_manager_tags,
        nullif(
            json_merge_patch(
                coalesce(to_json(map_from_entries(project_labels)), '{}'),
                coalesce(to_json(map_from_entries(resource_labels)), '{}'),
                coalesce(to_json(map_from_entries(system_labels)), '{}'),
                coalesce(to_json(map_from_entries(list_transform(
                    resource_manager_tags,
                    lambda t: {'key': coalesce(t.namespace || '/', '') || t.key, 'value': t.value}
                ))), '{}')
            ),
            '{}'
        ) as tags_json
    from (
        select distinct project_labels, resource_labels, system_labels, resource_manager_tags
        from {{ ref('stg_gcp__billing_line_items') }}
    )
)

select
    line_items.* exclude (committed_use_credits, system_label_map),
    len(coalesce(credits, [])) > 0 as has_credits,
    -- Every credit, whatever its type (CUD, SUD, free tier, promotion, ...), reduces what is billed.
    coalesce(credits_amount, 0) as credit_amount,
    array_to_string(list_sort(list_distinct(list_transform(credits, lambda c: c.type))), ',') as credit_types,
    committed_use_credits[1].type as committed_use_credit_type,
    committed_use_credits[1].id as committed_use_credit_id,
    coalesce(committed_use_credits[1].full_name, committed_use_credits[1].name) as committed_use_credit_name,
    list_sum(list_transform(committed_use_credits, lambda c: c.amount)) as committed_use_credit_amount,
    -- Resource-based commitments bill a "Commitment v1: ..." SKU, spend-based ones
    -- "Commitment - dollar based v1: ..." (Google's FOCUS view tests sku.description LIKE 'commitment%').
    lower(sku_description) like 'commitment%' as is_commitment_fee,
    system_label_map['compute.googleapis.com/reservation_name'] as reservation_name,
    system_label_map['compute.googleapis.com/reservation_project_id'] as reservation_project_id,
    system_label_map['compute.googleapis.com/is_unused_reservation'] = 'true' as is_unused_reservation,
    tag_sets.tags_json
from line_items
left join tag_sets
    on line_items.project_labels is not distinct from tag_sets.project_labels
    and line_items.resource_labels is not distinct from tag_sets.resource_labels
    and line_items.system_labels is not distinct from tag_sets.system_labels
    and line_items.resource_manager_tags is not distinct from tag_sets.resource_manager_tags
