select * from {{ ref('customer_totals') }} order by total desc limit 10
