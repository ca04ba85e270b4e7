from dlt.sources.rest_api import rest_api_source

from _harness import API_URL, pipeline, record_config, run

config = {
    "client": {"base_url": API_URL},
    "resources": [
        {
            "name": "search",
            "endpoint": {
                "path": "search",
                "data_selector": "$.data.items",
                "paginator": "single_page",
            },
        },
    ],
}
record_config(config)
run(pipeline(), rest_api_source(config))
