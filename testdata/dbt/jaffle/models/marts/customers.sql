{{ config(tags=['customer']) }}
with customers as (
    select * from {{ ref('stg_customers') }}
),
orders as (
    select * from {{ ref('orders') }}
),
customer_orders as (
    select customer_id, min(order_date) as first_order, max(order_date) as most_recent_order,
        count(order_id) as number_of_orders, sum(amount) as customer_lifetime_value
    from orders group by customer_id
)
select customers.customer_id, customers.first_name, customers.last_name,
    customer_orders.first_order, customer_orders.most_recent_order,
    coalesce(customer_orders.number_of_orders, 0) as number_of_orders,
    customer_orders.customer_lifetime_value
from customers
left join customer_orders using (customer_id)
