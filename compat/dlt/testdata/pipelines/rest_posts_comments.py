# dlt's introductory rest_api example: pagination and the record path left to detection.
from dlt.sources.rest_api import rest_api_source

from _harness import API_URL, pipeline, record_config, run

config = {
    "client": {"base_url": API_URL},
    "resources": [
        "posts",
        {
            "name": "comments",
            "endpoint": {
                "path": "posts/{post_id}/comments",
                "params": {
                    "post_id": {"type": "resolve", "resource": "posts", "field": "id"},
                },
            },
        },
    ],
}
record_config(config)
run(pipeline(), rest_api_source(config))
