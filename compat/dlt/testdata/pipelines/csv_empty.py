# A folder of CSV files that hold no rows: one empty, one with a header only. dlt's read_csv
# (pandas) refuses a zero-byte file, so this is a plain dlt.resource over the files.
import csv
import glob
import os

import dlt

from _harness import DATA_DIR, pipeline, run


@dlt.resource(name="empty_files")
def rows():
    for path in sorted(glob.glob(os.path.join(DATA_DIR, "*.csv"))):
        with open(path, newline="", encoding="utf-8") as f:
            yield from csv.DictReader(f)


run(pipeline(), rows())
