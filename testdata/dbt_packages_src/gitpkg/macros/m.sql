{% macro greet() -%}
  'hello from gitpkg'
{%- endmacro %}

{% macro label(x) -%}
  {{ return(adapter.dispatch('label', 'gitpkg')(x)) }}
{%- endmacro %}

{% macro default__label(x) -%}
  'gitpkg says ' || {{ x }}
{%- endmacro %}
