#!/usr/bin/env bash
# protectlambda demo (make demo): four functions run locally through `protectlambda invoke`,
# protected exactly as in Lambda (the guard as an external extension, the runtime through the
# exec wrapper), showing what the function's caller gets and what the guard logs.
#   1. the original protectLambda scenario: a code rule in code_protect.txt denies a function
#      that runs shell commands (subprocess.check_output) — the handler never runs
#   2. a clean function receiving a command-injection event: denied by an in rule
#   3. a function whose response leaks an AWS secret key: denied by an out rule
#   4. a clean invocation: passes through unchanged
# usage: examples/demo.sh [BUILD_DIR]
set -uo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:-$SRC/build}" && pwd)"
BIN="$BUILD/src/cli/protectlambda"
FN="$SRC/examples/functions"
EV="$SRC/examples/events"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
[ -x "$BIN" ] || { echo "demo: build first (make build): $BIN missing" >&2; exit 2; }

bold() { printf '\033[1m%s\033[0m\n' "$*"; }
# precompile the default packs once, as the layer does (rules.db)
PROTECTLAMBDA_RULES_DIR="$SRC/rules" "$BIN" compile -q -o "$TMP/rules.db" 2>/dev/null || true

failures=0
# scenario TITLE EXPECT FUNCTION_DIR EVENT_FILE
scenario() {
  local title="$1" expect="$2" dir="$3" event="$4"
  echo
  bold "== $title"
  "$BIN" invoke --function "$dir" --handler app.handler --event "$event" \
    --env "PROTECTLAMBDA_RULES_DIR=$SRC/rules" \
    --env "PROTECTLAMBDA_RULES_DB=$TMP/rules.db" \
    --env "PROTECTLAMBDA_STORE_PATH=$TMP/incidents.db" >"$TMP/out" 2>"$TMP/log"
  echo "   event:    $(tr -d '\n' < "$event")"
  echo "   response: $(cat "$TMP/out")"
  python3 - "$TMP/log" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        l = json.loads(line)
    except ValueError:
        continue
    m = l.get("msg", "")
    if ("Rule violation for" in m or m.startswith("Invocation denied")) and "request_id" in l:
        extra = []
        for k in ("request_id", "rule", "path", "category", "severity", "file", "line", "action"):
            if k in l and not (k == "rule" and l[k] in m):
                extra.append("%s=%s" % (k, l[k]))
        print("   log:      %s" % m)
        print("             %s" % " ".join(extra))
PY
  if grep -qF -- "$expect" "$TMP/out"; then
    echo "   => as expected"
  else
    echo "   => UNEXPECTED (wanted: $expect)"; failures=$((failures + 1))
  fi
}

bold "protectlambda demo: functions protected by the guard, run with protectlambda invoke"
echo "   rule in code_protect.txt: $(grep -v '^#' "$FN/code-violation/code_protect.txt")"
echo "   code in app.py:          $(grep -F check_output "$FN/code-violation/app.py" | sed 's/^ *//')"
scenario "1. code rule: a function that runs shell commands is never run" \
  '"Security Violation..."' "$FN/code-violation" "$EV/file.json"
scenario "2. in rule: a clean function receives a command-injection event" \
  '"Security Violation..."' "$FN/clean" "$EV/command-injection.json"
scenario "3. out rule: a function leaks an AWS secret key in its response" \
  '"Security Violation..."' "$FN/leaky" "$EV/hello.json"
scenario "4. a clean invocation passes through unchanged" \
  '"greeting": "hello Ada"' "$FN/clean" "$EV/hello.json"
echo
if [ "$failures" -eq 0 ]; then bold "demo: all four scenarios behaved as expected"; else bold "demo: $failures scenario(s) did not"; fi
exit $((failures > 0))
