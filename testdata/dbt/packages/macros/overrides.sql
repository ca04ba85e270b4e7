{% macro default__label(x) -%}
  'root says ' || {{ x }}
{%- endmacro %}

{% macro shout(col) -%}
  lower({{ col }})
{%- endmacro %}
