#!/usr/bin/env python3
"""Print the project's own C sources (src/**.c) listed in BUILD/compile_commands.json, once each."""
import json
import os
import sys

build, src = sys.argv[1], os.path.realpath(sys.argv[2])
seen = []
with open(os.path.join(build, "compile_commands.json")) as f:
    for e in json.load(f):
        p = os.path.realpath(os.path.join(e["directory"], e["file"]))
        if p.startswith(src + "/src/") and p.endswith(".c") and p not in seen:
            seen.append(p)
print("\n".join(sorted(seen)))
