{#
  Incremental mapping: a build maps only the loads whose slices changed since the last build.

  A slice is (raw table, billing account, billing period) in ingest.partitions. Rows of one slice may
  depend on each other (a Savings Plan negation is folded into the covered line; an Azure actual export
  contributes only what the amortized export of the same slice lacks); rows of different slices never
  do, except through the conformance lookups of int_costs__conformed, which read per-load facts
  (int_costs__lookup_facts_by_load) and so see every load either way.

  loads_to_map() is the loads of every slice that holds a load not yet mapped (recorded in
  ingest.focus_mapped_loads by focus.costs_v1_2's post-hook), closed over loads that span several
  slices. It is None, meaning every load, on --full-refresh or when any incremental table or the record
  is missing. The staging models read only these loads (mapping_batch_filter); each incremental model
  first deletes their rows and the rows of loads that are no longer current (a newer delivery
  superseded them), then appends what the batch maps. The result equals a full build; when a lookup
  value changes under rows that were not remapped, int_costs__stale_lookups lists them and the
  orchestrator rebuilds in full (orchestration/defs/transform.py).
#}

{% macro incremental_mapping_relations() %}
    {{ return([
        ('ingest', 'focus_mapped_loads'),
        ('ingest', 'partitions'),
        ('focus', 'costs_v1_2'),
        ('intermediate', 'int_costs__lookup_facts_by_load'),
    ]) }}
{% endmacro %}


{% macro loads_to_map() %}
    {% if not execute or flags.FULL_REFRESH %}
        {{ return(none) }}
    {% endif %}
    {% for schema, name in incremental_mapping_relations() %}
        {% if adapter.get_relation(database=target.database, schema=schema, identifier=name) is none %}
            {{ return(none) }}
        {% endif %}
    {% endfor %}
    {% set query %}
        with recursive current_slices as (
            select distinct load_id, raw_table, x_billing_account_id, x_billing_period
            from ingest.partitions
        ),
        to_map(load_id) as (
            select load_id from current_slices
            where load_id not in (select load_id from ingest.focus_mapped_loads)
            union
            select other.load_id
            from to_map
            join current_slices as slice on slice.load_id = to_map.load_id
            join current_slices as other
              on other.raw_table = slice.raw_table
             and other.x_billing_account_id is not distinct from slice.x_billing_account_id
             and other.x_billing_period is not distinct from slice.x_billing_period
        )
        select distinct load_id from to_map order by load_id
    {% endset %}
    {{ return(run_query(query).columns[0].values() | list) }}
{% endmacro %}


{% macro load_id_list(loads) -%}
    ({% for load in loads %}'{{ load | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}


{# A WHERE clause for a staging model: only the rows of the loads this build maps. #}
{% macro mapping_batch_filter(load_id_column) %}
    {%- set loads = loads_to_map() -%}
    {%- if loads is none -%}
    {%- elif loads | length == 0 -%}
where false
    {%- else -%}
where {{ load_id_column }} in {{ load_id_list(loads) }}
    {%- endif -%}
{% endmacro %}


{# Pre-hook of an incremental model keyed by x_LoadId: drop the rows this build maps again, and the rows
   of loads that are no longer current. Every row when the whole batch is every load. #}
{% macro delete_remapped_loads(relation) %}
    {%- set loads = loads_to_map() -%}
    {%- if loads is none -%}
delete from {{ relation }}
    {%- else -%}
delete from {{ relation }}
where "x_LoadId" not in (select load_id from ingest.partitions)
        {%- if loads | length > 0 %} or "x_LoadId" in {{ load_id_list(loads) }}{% endif %}
    {%- endif -%}
{% endmacro %}


{# The configuration of every model kept per load (focus.costs_v1_2 and the conformance lookups' facts). #}
{% macro per_load_incremental(post_hook=none) %}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'append',
        'on_schema_change': 'fail',
        'pre_hook': "{% if is_incremental() %}{{ delete_remapped_loads(this) }}{% endif %}",
        'post_hook': post_hook or [],
    }) }}
{% endmacro %}


{# Post-hook of focus.costs_v1_2: every current load is now mapped. #}
{% macro record_mapped_loads() %}
create or replace table ingest.focus_mapped_loads as
select distinct load_id, current_timestamp as mapped_at from ingest.partitions
{% endmacro %}
