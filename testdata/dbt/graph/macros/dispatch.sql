{% macro money(col) -%}{{ return(adapter.dispatch('money')(col)) }}{%- endmacro %}
{% macro default__money(col) -%}round({{ col }}, 2){%- endmacro %}
{% macro duckdb__money(col) -%}round(cast({{ col }} as decimal(18, 4)), 2){%- endmacro %}
{% macro region_filter() -%}
  {%- set r = var('region') -%}
  {%- if r == 'EU' -%}country in ('DE', 'FR', 'PT'){%- else -%}true{%- endif -%}
{%- endmacro %}
