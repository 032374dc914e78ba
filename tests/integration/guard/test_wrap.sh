#!/usr/bin/env bash
# protectlambda wrap: points the runtime at the proxy, keeps the original Runtime API, passes
# the runtime's arguments unchanged (blanks, empty strings, dashes), always execs, and dies with
# a clear message (exit 127) only when the runtime cannot be executed.
set -u
# usage: test_wrap.sh [BINARY]   (default $PL_BIN; the layer also ships protectlambda-wrap)
BIN="${1:-${PL_BIN:?PL_BIN not set}}"
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1"; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
# the runtime's view: its arguments (one a line) and its Runtime API variables
cat > "$tmp/rt" <<'SH'
#!/bin/sh
for a in "$@"; do printf '<%s>\n' "$a"; done
echo "API=$AWS_LAMBDA_RUNTIME_API"
echo "UP=${PROTECTLAMBDA_UPSTREAM:-}"
SH
chmod +x "$tmp/rt"
export PROTECTLAMBDA_MONITOR=false PROTECTLAMBDA_SECCOMP=off

out="$(AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 PROTECTLAMBDA_PORT=9123 "$BIN" wrap -- "$tmp/rt" "a b" "" "--" "-x" 2>"$tmp/err")"
want="$(printf '<a b>\n<>\n<-->\n<-x>\nAPI=127.0.0.1:9123\nUP=127.0.0.1:9001')"
[ "$out" = "$want" ] && ok "arguments unchanged, API points at the proxy" || ko "wrap output: $out"
[ ! -s "$tmp/err" ] && ok "silent on normal operation" || ko "noise: $(cat "$tmp/err")"

# without `--` and through PATH, default port 9009
out="$(PATH="$tmp:$PATH" AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 "$BIN" wrap rt x 2>/dev/null)"
[ "$out" = "$(printf '<x>\nAPI=127.0.0.1:9009\nUP=127.0.0.1:9001')" ] && ok "PATH lookup, default port" || ko "PATH: $out"

# a runtime that cannot be executed: exit 127 and a clear message
"$BIN" wrap -- "$tmp/does-not-exist" 2>"$tmp/err"; rc=$?
[ "$rc" = 127 ] && grep -q "protectlambda wrap: cannot execute '$tmp/does-not-exist'" "$tmp/err" \
  && ok "missing runtime: 127 + message" || ko "missing runtime: rc=$rc $(cat "$tmp/err")"

# bad settings still exec the runtime (with defaults), logging the problem
out="$(AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 PROTECTLAMBDA_MODE=bogus "$BIN" wrap -- "$tmp/rt" y 2>"$tmp/err")"
[ "$out" = "$(printf '<y>\nAPI=127.0.0.1:9009\nUP=127.0.0.1:9001')" ] && grep -q "settings" "$tmp/err" \
  && ok "bad settings: exec with defaults, logged" || ko "bad settings: $out / $(cat "$tmp/err")"

# hardening that fails: logged, the runtime starts anyway; with wrap_strict it does not
out="$(PROTECTLAMBDA_MONITOR=true PROTECTLAMBDA_MONITOR_LIB=/nonexistent.so "$BIN" wrap -- "$tmp/rt" z 2>"$tmp/err")"
case "$out" in "<z>"*) grep -q "hardening failed, starting the runtime without it" "$tmp/err" \
  && ok "hardening failure: logged, exec anyway" || ko "hardening failure not logged: $(cat "$tmp/err")";;
  *) ko "hardening failure stopped the runtime: $out";; esac
out="$(PROTECTLAMBDA_WRAP_STRICT=true PROTECTLAMBDA_MONITOR=true PROTECTLAMBDA_MONITOR_LIB=/nonexistent.so "$BIN" wrap -- "$tmp/rt" z 2>"$tmp/err")"; rc=$?
[ "$rc" = 127 ] && [ -z "$out" ] && grep -q "wrap_strict" "$tmp/err" \
  && ok "wrap_strict: refuses to start unhardened" || ko "wrap_strict: rc=$rc out=$out"

# no command: usage error 2
"$BIN" wrap 2>/dev/null; rc=$?
[ "$rc" = 2 ] && ok "no command: exit 2" || ko "no command: rc=$rc"
"$BIN" wrap --help | grep -q "usage: protectlambda wrap" && ok "--help" || ko "--help"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
