#!/usr/bin/env python3
"""The original tool's approach, as a baseline for bench/check_bench.c: load the event as
JSON, then for every rule pattern run Python's `re.search` over the event text.

    python_re_baseline.py PATTERNS EVENT ITERATIONS

PATTERNS has one "flags<TAB>pattern" line per rule (flags: protectlambda's bit set,
1 caseless, 2 dotall, 4 multiline). Patterns Python's `re` cannot compile are skipped and
counted on stderr. Prints the median microseconds per event (json.loads + all searches)."""
import json
import re
import statistics
import sys
import time


def main():
    pats, event_path, iters = sys.argv[1], sys.argv[2], int(sys.argv[3])
    compiled, skipped = [], 0
    with open(pats, encoding="utf-8") as f:
        for line in f:
            flags_s, _, pat = line.rstrip("\n").partition("\t")
            flags = int(flags_s or 0)
            reflags = (re.I if flags & 1 else 0) | (re.S if flags & 2 else 0) | (re.M if flags & 4 else 0)
            try:
                compiled.append(re.compile(pat, reflags))
            except re.error:
                skipped += 1
    with open(event_path, encoding="utf-8", errors="surrogateescape") as f:
        raw = f.read()
    times = []
    for _ in range(max(1, iters)):
        t0 = time.perf_counter()
        event = json.loads(raw)
        text = json.dumps(event)
        hits = 0
        for r in compiled:
            if r.search(text):
                hits += 1
        times.append((time.perf_counter() - t0) * 1e6)
    print("%.1f" % statistics.median(times))
    print("python re: %d patterns, %d skipped (not Python syntax), %d hits" % (len(compiled), skipped, hits),
          file=sys.stderr)


if __name__ == "__main__":
    main()
