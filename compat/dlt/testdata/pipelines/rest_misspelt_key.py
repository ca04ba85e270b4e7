# A misspelt endpoint key: dlt's config validation refuses the source (the test expects this
# script to fail, naming the key).
from dlt.sources.rest_api import rest_api_source

from _harness import API_URL, pipeline, run

config = {
    "client": {"base_url": API_URL},
    "resources": [
        {"name": "search", "endpoint": {"path": "search", "data_selectr": "$.data.items"}},
    ],
}
run(pipeline(), rest_api_source(config))
