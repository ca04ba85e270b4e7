{{ config(materialized='table', tags=['slow']) }}
with o as (select * from {{ ref('stg_shop_orders') }})
select {{ dbt.date_trunc('year', 'ordered_at') }} as year, sum(amount) as revenue
from o
where year(ordered_at) = {{ var('year') }}
group by 1
