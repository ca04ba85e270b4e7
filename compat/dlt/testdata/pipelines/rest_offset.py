from dlt.sources.rest_api import rest_api_source

from _harness import API_URL, pipeline, record_config, run

config = {
    "client": {"base_url": API_URL},
    "resources": [
        {
            "name": "items",
            "endpoint": {
                "path": "items",
                "paginator": {"type": "offset", "limit": 100},
            },
        },
    ],
}
record_config(config)
run(pipeline(), rest_api_source(config))
