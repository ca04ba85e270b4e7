from dlt.sources.rest_api import rest_api_source

from _harness import API_URL, pipeline, record_config, run

config = {
    "client": {
        "base_url": API_URL,
        "auth": {"type": "bearer", "token": "forge-token-5f2a"},
        "headers": {"Accept": "application/json"},
    },
    "resource_defaults": {
        "endpoint": {"params": {"per_page": 10}},
    },
    "resources": [
        {"name": "repos", "endpoint": {"path": "orgs/acme/repos"}},
        {
            "name": "issues",
            "endpoint": {"path": "repos/acme/{resources.repos.name}/issues"},
            "include_from_parent": ["name"],
        },
        {
            "name": "issue_comments",
            "endpoint": {
                "path": "issues/{issue_id}/comments",
                "params": {
                    "issue_id": {"type": "resolve", "resource": "issues", "field": "id"},
                },
            },
            "include_from_parent": ["id", "title"],
        },
    ],
}
record_config(config)
run(pipeline(), rest_api_source(config))
