"""Loads NDJSON files with dlt into a DuckDB file, one pipeline run per file, so a Go test can
compare dlt's tables with dango's load of the same files.

usage: load_ndjson.py DB DATASET TABLE DISPOSITION PRIMARY_KEY MAX_TABLE_NESTING FILE...
(PRIMARY_KEY and MAX_TABLE_NESTING may be "" for none / dlt's default)
"""
import json
import sys
import tempfile

import dlt

db, dataset, table, disposition, pk, nesting, *files = sys.argv[1:]
with tempfile.TemporaryDirectory() as pipelines:
    p = dlt.pipeline(pipeline_name="compare", destination=dlt.destinations.duckdb(db),
                     dataset_name=dataset, pipelines_dir=pipelines)
    for path in files:
        with open(path) as f:
            records = [json.loads(line) for line in f if line.strip()]
        kw = {"name": table, "write_disposition": disposition}
        if pk:
            kw["primary_key"] = pk
        if nesting:
            kw["max_table_nesting"] = int(nesting)
        p.run(dlt.resource(records, **kw))
