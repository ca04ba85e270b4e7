select * from {{ ref('customer_metrics') }} m join {{ ref('segments') }} s using (customer_id)
