{% set statuses = column_values(ref('raw_orders'), 'status') %}
select
  customer,
  {% for s in statuses %}
  sum(case when status = '{{ s }}' then amount else 0 end) as {{ s }}_amount{% if not loop.last %},{% endif %}
  {% endfor %}
  {% if statuses | length == 0 %}0 as no_statuses{% endif %}
from {{ ref('raw_orders') }}
group by customer
