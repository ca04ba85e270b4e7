# The GitHub example of dlt's rest_api_resources docstring, run three times (the API changes
# between the first and the second run, not between the second and the third).
from dlt.sources.rest_api import rest_api_source

from _harness import API_URL, advance, pipeline, record_config, run

config = {
    "client": {
        "base_url": API_URL,
        "auth": {"token": "ghp-test-token-0001"},
    },
    "resource_defaults": {
        "primary_key": "id",
        "write_disposition": "merge",
        "endpoint": {"params": {"per_page": 100}},
    },
    "resources": [
        {
            "name": "issues",
            "endpoint": {
                "path": "issues",
                "params": {
                    "sort": "updated",
                    "direction": "desc",
                    "state": "open",
                    "since": "{incremental.start_value}",
                },
                "incremental": {
                    "cursor_path": "updated_at",
                    "initial_value": "2024-01-25T11:21:28Z",
                },
            },
        },
        {
            "name": "issue_comments",
            "endpoint": {"path": "issues/{resources.issues.number}/comments"},
        },
    ],
}
record_config(config)
p = pipeline()
run(p, rest_api_source(config))
advance()
run(p, rest_api_source(config))
advance()
run(p, rest_api_source(config))
