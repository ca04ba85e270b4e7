# dlt's filesystem source with its read_csv reader, as the filesystem docs show it.
from dlt.sources.filesystem import filesystem, read_csv

from _harness import DATA_DIR, pipeline, run

files = filesystem(bucket_url=DATA_DIR, file_glob="orders.csv")
run(pipeline(), (files | read_csv()).with_name("orders"))
