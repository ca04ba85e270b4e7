{% macro shout(col) -%}
  upper({{ col }})
{%- endmacro %}

{% macro cents(col) -%}
  {{ return(adapter.dispatch('cents', 'util_local')(col)) }}
{%- endmacro %}

{% macro default__cents(col) -%}
  cast({{ col }} * 100 as integer)
{%- endmacro %}
