{{ config(alias='customers_clean') }}
select id as customer_id, lower(email) as email, {{ dbt.hash('email') }} as email_hash, '{{ env_var("DANGO_FIXTURE_ENV", "dev") }}' as env
from {{ source('shop', 'customers') }}
