#!/usr/bin/env bash
# lint.clang_tidy: clang-tidy (checks and their reasons: .clang-tidy at the repo root) over every
# C file of src/ in BUILD/compile_commands.json. Fails on any finding. A finding that is not a
# defect is silenced in place with `// NOLINT(check-name): reason` on that line, never globally
# without a reason in .clang-tidy.
# usage: tests/lint/run-clang-tidy.sh BUILD_DIR [JOBS]
set -euo pipefail
build=$(cd "$1" && pwd)
jobs=${2:-2}
src=$(cd "$(dirname "$0")/../.." && pwd)
tidy=${CLANG_TIDY:-clang-tidy}
command -v "$tidy" >/dev/null || { echo "clang-tidy not installed (scripts/setup.sh installs it)"; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
python3 "$src/tests/lint/sources.py" "$build" "$src" > "$out.files"
n=$(wc -l < "$out.files")
# -extra-arg: the gcc build's flags are fine for clang, except warnings gcc lacks
xargs -a "$out.files" -P "$jobs" -n 4 "$tidy" -p "$build" --quiet \
    --extra-arg=-Wno-unknown-warning-option > "$out" 2>/dev/null || true
rm -f "$out.files"
findings=$(grep -cE '^[^ ].*:[0-9]+:[0-9]+: (warning|error):' "$out" || true)
cat "$out"
echo "clang-tidy: $n files, $findings finding(s)"
[ "$findings" = 0 ]
