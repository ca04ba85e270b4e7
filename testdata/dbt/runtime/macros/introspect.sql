{% macro column_values(relation, column) %}
  {% set q %}select distinct {{ column }} from {{ relation }} order by 1{% endset %}
  {% set res = run_query(q) %}
  {% if execute %}
    {% do return(res.columns[0].values()) %}
  {% else %}
    {% do return([]) %}
  {% endif %}
{% endmacro %}

{% macro max_of(relation, column) %}
  {% call statement('max_of', fetch_result=True) %}
    select max({{ column }}) from {{ relation }}
  {% endcall %}
  {% if execute %}
    {% do return(load_result('max_of')['data'][0][0]) %}
  {% endif %}
  {% do return(0) %}
{% endmacro %}

{% macro record(tag) %}
  {% do run_query("insert into " ~ target.schema ~ ".audit values ('op', '" ~ tag ~ "')") %}
  {% do log("recorded " ~ tag, info=True) %}
{% endmacro %}
