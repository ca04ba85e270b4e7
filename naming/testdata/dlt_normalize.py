"""Normalizes names with dlt's own snake_case naming convention, as dlt does for DuckDB.

Reads a JSON list of names on stdin and writes a JSON list of objects on stdout:
  identifier  NamingConvention.normalize_identifier (blank names: dlt's empty-key name)
  path        the name of a key in data (DataItemNormalizer: blank -> EMPTY_KEY_IDENTIFIER,
              else normalize_path)
  table       normalize_tables_path, used for table names
naming_test.go runs this with the dlt venv's python and compares every name with dango's.
"""
import json
import sys

import dlt
from dlt.common.normalizers.json.relational import DataItemNormalizer
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.destinations import duckdb

caps = duckdb().capabilities()
naming = NamingConvention(max_length=caps.max_identifier_length)
empty = DataItemNormalizer.EMPTY_KEY_IDENTIFIER


def blank(name):
    return not name or name.isspace()


out = []
for name in json.load(sys.stdin):
    out.append({
        "name": name,
        "identifier": empty if blank(name) else naming.normalize_identifier(name),
        "path": empty if blank(name) else naming.normalize_path(name),
        "table": empty if blank(name) else naming.normalize_tables_path(name),
    })
json.dump({"dlt_version": dlt.__version__, "max_length": caps.max_identifier_length, "names": out},
          sys.stdout, ensure_ascii=False, indent=1)
