"""What every side-by-side pipeline shares: where to load, and the hooks the Go test reads.

The Go test (compat/dlt/sidebyside_test.go) sets:
  DLT_DUCKDB, DLT_DATASET, DLT_PIPELINE, DLT_PIPELINES_DIR  where and how to load
  API_URL      base URL of this side's copy of the case's API (with a trailing slash)
  DATA_DIR     the input files
  DB_URL       SQLAlchemy URL of the case's database
  DLT_CONFIG_OUT  where record_config writes the rest_api dict, for the test to check that
               dango was given the same one
"""
import json
import os
import urllib.request

import dlt

API_URL = os.environ.get("API_URL", "")
DATA_DIR = os.environ.get("DATA_DIR", "")
DB_URL = os.environ.get("DB_URL", "")


def pipeline():
    return dlt.pipeline(
        pipeline_name=os.environ["DLT_PIPELINE"],
        destination=dlt.destinations.duckdb(os.environ["DLT_DUCKDB"]),
        dataset_name=os.environ["DLT_DATASET"],
        pipelines_dir=os.environ["DLT_PIPELINES_DIR"],
    )


def run(p, data, **kwargs):
    """Runs the pipeline and fails on any failed job."""
    info = p.run(data, **kwargs)
    info.raise_on_failed_jobs()
    print(info)
    return info


def advance():
    """Moves this side's API to its next phase (what changes between two runs)."""
    urllib.request.urlopen(urllib.request.Request(API_URL + "_advance", method="POST")).close()


def record_config(config):
    with open(os.environ["DLT_CONFIG_OUT"], "w") as f:
        json.dump(config, f)
