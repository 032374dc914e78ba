#!/usr/bin/env bash
# lint.cppcheck: cppcheck over every C file of src/ in BUILD/compile_commands.json, with the
# suppressions of tests/lint/cppcheck-suppressions.txt (each explained there) and inline
# `// cppcheck-suppress id` comments (each with its reason). Fails on any finding.
# usage: tests/lint/run-cppcheck.sh BUILD_DIR [JOBS]
set -euo pipefail
build=$(cd "$1" && pwd)
jobs=${2:-2}
src=$(cd "$(dirname "$0")/../.." && pwd)
command -v cppcheck >/dev/null || { echo "cppcheck not installed (scripts/setup.sh installs it)"; exit 1; }
cell=$(mktemp -d)
trap 'rm -rf "$cell"' EXIT
python3 "$src/tests/lint/sources.py" "$build" "$src" > "$cell/files"
# a compile database of just those files (cppcheck's --file-filter needs globs)
python3 - "$build/compile_commands.json" "$cell/files" "$cell/compile_commands.json" <<'PY'
import json, os, sys
want = set(open(sys.argv[2]).read().split())
db = [e for e in json.load(open(sys.argv[1]))
      if os.path.realpath(os.path.join(e["directory"], e["file"])) in want]
seen, out = set(), []
for e in db:
    p = os.path.realpath(os.path.join(e["directory"], e["file"]))
    if p not in seen:
        seen.add(p)
        out.append(e)
json.dump(out, open(sys.argv[3], "w"))
PY
n=$(wc -l < "$cell/files")
cppcheck --project="$cell/compile_commands.json" -j "$jobs" --quiet --std=c11 --library=posix \
    --enable=warning,portability,performance --inconclusive --inline-suppr \
    --suppressions-list="$src/tests/lint/cppcheck-suppressions.txt" \
    --cppcheck-build-dir="$cell" \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
    2> "$cell/out" || true
findings=$(grep -cE ': (error|warning|style|performance|portability): ' "$cell/out" || true)
cat "$cell/out"
echo "cppcheck: $n files, $findings finding(s)"
[ "$findings" = 0 ]
