"""Runs dlt's rest_api_source on configurations read as JSON from stdin and prints, for
each, the number of records every selected resource yields and how many distinct ids they
have (or the error dlt raised).

Used by the Go tests to compare dango's paginators with dlt's on the same local server."""
import json
import sys

from dlt.sources.rest_api import rest_api_source


LIMIT = 20000


def main() -> None:
    out = []
    for case in json.load(sys.stdin):
        try:
            source = rest_api_source(case)
            counts, distinct = {}, {}
            for name, resource in source.selected_resources.items():
                n, ids = 0, set()
                for item in resource:
                    n += 1
                    ids.add(json.dumps(item.get("id") if isinstance(item, dict) else item, default=str))
                    if n > LIMIT:  # a pagination that never ends
                        raise RuntimeError(f"{name}: more than {LIMIT} records, still paginating")
                counts[name], distinct[name] = n, len(ids)
            out.append({"counts": counts, "distinct": distinct})
        except Exception as e:  # report, the Go test decides
            out.append({"error": f"{type(e).__name__}: {e}"})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
