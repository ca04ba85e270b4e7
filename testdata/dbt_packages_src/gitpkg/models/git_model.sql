{{ config(materialized='table') }}
select {{ gitpkg.greet() }} as g, {{ gitpkg.label("name") }} as l, code
from {{ ref('git_codes') }}
