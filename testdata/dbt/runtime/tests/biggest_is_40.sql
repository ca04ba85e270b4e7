select * from {{ ref('biggest') }} where max_amount <> {{ max_of(ref('raw_orders'), 'amount') }}
