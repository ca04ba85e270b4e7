select
  {{ util_local.shout("'a'") }} as s,
  {{ shout("'B'") }} as root_shout,
  {{ util_local.cents('1.5') }} as c,
  {{ var('root_only') }} as r,
  u.n,
  g.l,
  {{ hubpkg.hub_value() }} as h
from {{ ref('util_local', 'util_numbers') }} u
cross join {{ ref('git_model') }} g
