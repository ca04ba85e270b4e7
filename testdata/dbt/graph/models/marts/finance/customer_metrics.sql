{% set cols = ['orders', 'revenue'] %}
select c.customer_id, c.email,
{%- for col in cols %}
  coalesce(i.{{ col }}, 0) as {{ col }}{{ "," if not loop.last }}
{%- endfor %}
from {{ ref('stg_shop_customers') }} c
left join {{ ref('int_orders_by_customer') }} i using (customer_id)
