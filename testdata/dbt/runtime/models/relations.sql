{% set rel = adapter.get_relation(database=this.database, schema=this.schema, identifier='by_status') %}
{% set missing = adapter.get_relation(database=this.database, schema=this.schema, identifier='no_such_table') %}
{% set n = namespace(models=0) %}
{% for node in graph.nodes.values() %}{% if node.resource_type == 'model' %}{% set n.models = n.models + 1 %}{% endif %}{% endfor %}
select '{{ rel.identifier if rel is not none else "none" }}' as found,
       '{{ rel.type if rel is not none else "none" }}' as found_type,
       {{ 'true' if missing is none else 'false' }} as missing_is_none,
       {{ n.models }} as n_models
from {{ ref('wide') }}
limit 1
