#!/usr/bin/env bash
# Build the protectlambda Lambda layer: BUILD/protectlambda-layer.zip (make layer).
#
#   extensions/protectlambda        the guard as an external extension (shell stub)
#   protectlambda/wrapper           AWS_LAMBDA_EXEC_WRAPPER=/opt/protectlambda/wrapper: the
#                                   protectlambda-wrap binary (its name makes it the wrapper)
#   protectlambda/bin/protectlambda protectlambda-lambda: Vectorscan runtime only, static
#                                   pcre2/yaml/sqlite/seccomp/crypto, glibc <= 2.34
#   protectlambda/bin/protectlambda-wrap  the `wrap` role alone (fast exec on cold start)
#   protectlambda/lib/              the monitor (LD_PRELOAD) and any non-glibc shared library
#                                   the binary needs (rpath $ORIGIN/../lib)
#   protectlambda/adapters/         the monitor's language adapters
#   protectlambda/rules/            the default rule packs
#   protectlambda/rules.db          those packs precompiled (protectlambda compile)
#
# usage: packaging/make-layer.sh [BUILD_DIR] [OUT_ZIP]
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:-$SRC/build}" && pwd)"
OUT="${2:-$BUILD/protectlambda-layer.zip}"
STAGE="$BUILD/layer"

# PL_LAYER_NO_BUILD=1: use the binaries as built (the test suite: never relink under other tests)
if [ -z "${PL_LAYER_NO_BUILD:-}" ]; then
  cmake --build "$BUILD" --target protectlambda protectlambda-lambda protectlambda-wrap -j "$(nproc)" >/dev/null
  # grep reads it all: `grep -q` would stop early, cmake die of SIGPIPE, and with pipefail
  # the test be false (the monitor then not rebuilt)
  if cmake --build "$BUILD" --target help | grep pl_monitor_so >/dev/null; then
    cmake --build "$BUILD" --target pl_monitor_so >/dev/null
  fi
fi
for b in protectlambda protectlambda-lambda protectlambda-wrap; do
  [ -x "$BUILD/src/cli/$b" ] || { echo "make-layer: $BUILD/src/cli/$b missing (build first)" >&2; exit 2; }
done

rm -rf "$STAGE"
mkdir -p "$STAGE/extensions" "$STAGE/protectlambda/bin" "$STAGE/protectlambda/lib" \
         "$STAGE/protectlambda/rules"
install -m 0755 "$SRC/packaging/extension" "$STAGE/extensions/protectlambda"
BIN="$STAGE/protectlambda/bin/protectlambda"
install -m 0755 "$BUILD/src/cli/protectlambda-lambda" "$BIN"
strip --strip-debug "$BIN"
install -m 0755 "$BUILD/src/cli/protectlambda-wrap" "$STAGE/protectlambda/bin/protectlambda-wrap"
strip --strip-debug "$STAGE/protectlambda/bin/protectlambda-wrap"
# the exec wrapper itself, not a script that execs it (a shell and a second exec, ~0.6 ms of
# every cold start): named `wrapper`, the binary takes every argument as the runtime's (main.c)
install -m 0755 "$STAGE/protectlambda/bin/protectlambda-wrap" "$STAGE/protectlambda/wrapper"

# the monitor library and its adapters (harden/monitor part), when built
MON="$(find "$BUILD/src/monitor" -maxdepth 1 -name 'libprotectlambda_monitor.so' 2>/dev/null | head -1)"
if [ -n "$MON" ]; then
  install -m 0755 "$MON" "$STAGE/protectlambda/lib/"
fi
if [ -d "$SRC/src/monitor/adapters" ]; then
  cp -r "$SRC/src/monitor/adapters" "$STAGE/protectlambda/adapters"
fi

# non-glibc shared libraries the binary needs go to lib/
GLIBC_RE='^(linux-vdso|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|ld-linux|libresolv\.so)'
ldd "$BIN" | awk '/=>/ {print $1, $3}' | while read -r name path; do
  if ! [[ "$name" =~ $GLIBC_RE ]] && [ -f "$path" ]; then
    cp -L "$path" "$STAGE/protectlambda/lib/$name"
  fi
done
# libcurl is loaded on first use (dlopen: sinks, DynamoDB store, Lambda API calls), not linked,
# so ldd of the binary does not list it: ship it and the libraries it needs
CURL_SO=$(ldconfig -p | awk '/libcurl\.so\.4 .*x86-64/ && !p {p = $NF} END {print p}')
if [ -n "$CURL_SO" ] && [ -f "$CURL_SO" ]; then
  cp -L "$CURL_SO" "$STAGE/protectlambda/lib/libcurl.so.4"
  ldd "$CURL_SO" | awk '/=>/ {print $1, $3}' | while read -r name path; do
    if ! [[ "$name" =~ $GLIBC_RE ]] && [ -f "$path" ]; then
      cp -L "$path" "$STAGE/protectlambda/lib/$name"
    fi
  done
else
  echo "make-layer: libcurl.so.4 not found: webhook/SNS/SQS sinks and DynamoDB store will fail" >&2
fi

# default rules and their precompiled database (compiled with the developer CLI, for a
# baseline CPU; the layer binary loads it with the Vectorscan runtime)
cp "$SRC"/rules/*.yaml "$STAGE/protectlambda/rules/" 2>/dev/null || true
for f in "$SRC"/rules/*_protect.txt; do [ -f "$f" ] && cp "$f" "$STAGE/protectlambda/rules/"; done
PROTECTLAMBDA_RULES_DIR="$STAGE/protectlambda/rules" PROTECTLAMBDA_RULES= \
  "$BUILD/src/cli/protectlambda" compile -q -o "$STAGE/protectlambda/rules.db"

# the layer's own integrity manifest, last: the guard verifies /opt/protectlambda against it at
# cold start (docs/integrity.md). Sign it by setting PL_LAYER_SIGNING_KEY to an Ed25519 PEM key
# (then set integrity.layer_pubkey in the function's configuration).
sign=()
[ -n "${PL_LAYER_SIGNING_KEY:-}" ] && sign=(--sign "$PL_LAYER_SIGNING_KEY")
"$BUILD/src/cli/protectlambda" manifest "$STAGE/protectlambda" -o "$STAGE/protectlambda/layer.manifest" "${sign[@]}"

rm -f "$OUT"
(cd "$STAGE" && zip -q -r -X -y "$OUT" extensions protectlambda)
echo "layer: $OUT ($(du -h "$OUT" | cut -f1))"
