# dlt's filesystem source with its read_jsonl reader; lists nested three levels deep.
from dlt.sources.filesystem import filesystem, read_jsonl

from _harness import DATA_DIR, pipeline, run

files = filesystem(bucket_url=DATA_DIR, file_glob="orders.jsonl")
run(pipeline(), (files | read_jsonl()).with_name("orders"))
