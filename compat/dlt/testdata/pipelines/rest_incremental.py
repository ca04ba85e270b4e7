# Two runs of one pipeline: the second asks for the tickets updated since the first.
from dlt.sources.rest_api import rest_api_source

from _harness import API_URL, advance, pipeline, record_config, run

config = {
    "client": {"base_url": API_URL},
    "resources": [
        {
            "name": "tickets",
            "primary_key": "id",
            "write_disposition": "merge",
            "endpoint": {
                "path": "tickets",
                "params": {"updated_since": "{incremental.start_value}"},
                "incremental": {
                    "cursor_path": "updated_at",
                    "initial_value": "2024-01-05T00:00:00Z",
                },
            },
        },
    ],
}
record_config(config)
p = pipeline()
run(p, rest_api_source(config))
advance()
run(p, rest_api_source(config))
