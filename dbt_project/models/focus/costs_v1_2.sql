-- FOCUS 1.2: every provider's rows in one table. Each int_<source>__focus_costs model produces the
-- same columns (macros/focus_columns.sql); the contract in _focus__models.yml enforces the types.
{% set sources = [
    ref('int_focus__focus_costs'),
] %}
{% set columns = focus_1_2_columns() + autostack_x_columns() %}
{% for source in sources %}
select {% for column in columns %}{{ adapter.quote(column) }}{{ ", " if not loop.last }}{% endfor %}
from {{ source }}
{{ "union all" if not loop.last }}
{% endfor %}
