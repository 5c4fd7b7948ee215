{{ config(**per_load_incremental(post_hook="{{ record_mapped_loads() }}")) }}
-- FOCUS 1.2: every provider's rows in one table, conformed (int_costs__conformed). The contract in
-- _focus__models.yml enforces names and types; the focus_1_2_conformance check runs the validator.
-- Incremental: a build maps only the loads of slices that changed (macros/incremental_mapping.sql).
select
    {% for column in focus_1_2_columns() + autostack_x_columns() %}{{ adapter.quote(column) }},
    {% endfor %}x_Repairs
from {{ ref('int_costs__conformed') }}
