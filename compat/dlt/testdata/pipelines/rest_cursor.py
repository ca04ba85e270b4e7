from dlt.sources.rest_api import rest_api_source

from _harness import API_URL, pipeline, record_config, run

config = {
    "client": {
        "base_url": API_URL,
        "paginator": {"type": "cursor"},
    },
    "resources": ["events"],
}
record_config(config)
run(pipeline(), rest_api_source(config))
