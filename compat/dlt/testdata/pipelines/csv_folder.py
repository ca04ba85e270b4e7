# dlt's filesystem source over a folder of CSV files, read with read_csv.
from dlt.sources.filesystem import filesystem, read_csv

from _harness import DATA_DIR, pipeline, run

files = filesystem(bucket_url=DATA_DIR, file_glob="*.csv")
run(pipeline(), (files | read_csv()).with_name("daily_sales"))
