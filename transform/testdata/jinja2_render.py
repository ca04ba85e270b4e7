# Renders templates with Python's Jinja2 as dbt configures it (do + loopcontrols
# extensions, dbt's zip), for transform's comparison tests. Reads a JSON list of
# {"tpl": ..., "ctx": {...}} on stdin, writes a JSON list of {"out": ...} or {"err": ...}.
import json
import sys

import jinja2

env = jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])
env.globals["zip"] = zip
results = []
for case in json.load(sys.stdin):
    try:
        results.append({"out": env.from_string(case["tpl"]).render(**case.get("ctx", {}))})
    except Exception as e:  # the comparison wants to know that it failed, not how
        results.append({"err": "%s: %s" % (type(e).__name__, e)})
json.dump(results, sys.stdout)
