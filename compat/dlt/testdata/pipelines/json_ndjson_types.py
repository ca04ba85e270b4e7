# dlt's filesystem source with its read_jsonl reader.
from dlt.sources.filesystem import filesystem, read_jsonl

from _harness import DATA_DIR, pipeline, run

files = filesystem(bucket_url=DATA_DIR, file_glob="events.jsonl")
run(pipeline(), (files | read_jsonl()).with_name("events"))
