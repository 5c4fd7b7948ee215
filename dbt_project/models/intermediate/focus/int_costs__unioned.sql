-- Every source family's FOCUS rows in one relation. Each int_<source>__focus_costs model produces
-- the same columns (macros/focus_columns.sql); a new source is one more ref here.
{% set sources = [
    ref('int_focus__focus_costs'),
    ref('int_aws__focus_costs'),
    ref('int_azure__focus_costs'),
    ref('int_gcp__focus_costs'),
] %}
{% set columns = focus_1_2_columns() + autostack_x_columns() %}
{% for source in sources %}
select {% for column in columns %}{{ adapter.quote(column) }}{{ ", " if not loop.last }}{% endfor %}
from {{ source }}
{{ "union all" if not loop.last }}
{% endfor %}
