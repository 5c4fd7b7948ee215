{#
  A JSON object of the members that have a value: json_object() without its NULL members, or NULL when
  every member is NULL. `members` is a list of (key, SQL expression) pairs; keys are written as given.

  Built as text (concat_ws skips NULLs): on 10M rows it is a quarter cheaper to write than the
  json_object() it replaces and half the cost of json_merge_patch('{}', json_object(...)), which parses
  the object again and turns decimals into doubles. Provider extras are focus.costs' widest column, and
  most of their members are NULL on most rows.
#}
{% macro json_members(members) -%}
cast('{' || nullif(concat_ws(','
    {%- for key, expression in members %},
        '{{ tojson(key) }}:' || to_json({{ expression }})
    {%- endfor %}
    ), '') || '}' as json)
{%- endmacro %}
