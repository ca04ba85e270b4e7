{{ config(tags=['daily']) }}
select customer_id, case when revenue > {{ var('threshold', 100) }} then 'vip' else 'regular' end as segment,
  {{ dbt.dateadd('day', 30, 'current_date') }} as review_on,
  {{ dbt.concat(["'seg_'", 'customer_id']) }} as label
from {{ ref('customer_metrics') }}
