#!/usr/bin/env bash
# make fuzz: run every libFuzzer target longer (FUZZ_SECONDS each, default 300) and keep any
# crash input under tests/fuzz/regressions/<target>/ so it becomes a regression test.
set -euo pipefail
build=${1:-build-san}
secs=${FUZZ_SECONDS:-300}
cd "$(dirname "$0")/../.."
status=0
for bin in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=${bin##*/fuzz_}
  mkdir -p "tests/fuzz/regressions/$name" "$build/tests/fuzz/corpus_$name"
  seeds=()
  [ -d "tests/fuzz/seeds/$name" ] && seeds+=("tests/fuzz/seeds/$name")
  if [ -f "tests/fuzz/seeds/$name.dirs" ]; then
    while read -r d; do [ -d "$d" ] && seeds+=("$d"); done < "tests/fuzz/seeds/$name.dirs"
  fi
  echo "== fuzz_$name for ${secs}s"
  rc=0
  "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=1048576 -timeout=10 \
      -artifact_prefix="tests/fuzz/regressions/$name/" -print_final_stats=1 \
      "$build/tests/fuzz/corpus_$name" "${seeds[@]}" > "$build/fuzz_$name.log" 2>&1 || rc=$?
  grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|Test unit written' "$build/fuzz_$name.log" || true
  [ "$rc" = 0 ] || status=1
done
exit $status
