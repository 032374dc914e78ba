#!/usr/bin/env python3
"""Guard memory under load: 10,000 invocations in a row (--quick: 1,000) through the real
emulator, guard and Python runtime loop (tests/integration/robustness/test_load.py, which also
checks every request id is answered exactly once). Prints the guard's RSS after 10 invocations
(baseline) and after N as a BENCH line; flat means ratio ~1.
usage: bench/guard_rss_bench.py [--quick]      env: PL_BIN (bench/run sets it)
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
n = "1000" if "--quick" in sys.argv else "10000"
sys.exit(subprocess.call([sys.executable, os.path.join(ROOT, "tests/integration/robustness/test_load.py"), n]))
