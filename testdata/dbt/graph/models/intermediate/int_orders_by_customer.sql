select customer_id, count(*) as orders, sum(amount) as revenue,
  {{ dbt.date_trunc('month', 'max(ordered_at)') }} as last_month
from {{ ref('stg_shop_orders') }}
group by 1
