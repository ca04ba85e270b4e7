select id as order_id, customer_id, {{ money('amount') }} as amount, country, ordered_at
from {{ source('shop', 'orders') }}
where {{ region_filter() }}
