select n, n * {{ var('util_factor') }} as scaled, '{{ var("util_label") }}' as label, {{ shout("'x'") }} as shouted
from (values (1), (2), (3)) t(n)
