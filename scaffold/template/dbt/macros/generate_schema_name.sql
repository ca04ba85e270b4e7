{#
  Use a model's custom schema as it is (staging, marts) instead of dbt's default
  <target schema>_<custom schema>, so tables land where the docs say: marts.customer_metrics.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
