#!/usr/bin/env python3
"""Guard overhead (bench, not a test): added latency per invocation through the guard vs the
same runtime talking to the Lambda simulator directly, and cold-start overhead.

  latency: 2,000 invocations of a 1 KB event and of a 1 MB event (echoing runtime), median and
           p99 of the time from the service queueing the event to the response arriving, direct
           vs through `protectlambda extension` + `wrap`; the difference is what the guard adds.
  cold start: wrapper exec to the first GET /next at the service (with vs without wrap), and the
           extension's own start (register → event/next) with the precompiled rules database.

usage: bench/guard_bench.py [--bin PATH] [-n N]      (prints figures and ratios)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests/integration/guard"))
import lambdasim  # noqa: E402

RUNTIME = ["python3", os.path.join(SRC, "examples/runtimes/python/bootstrap.py")]
ECHO_FN = "def handler(event, context):\n    return {'n': len(event['d'])}\n"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def run(bin_path, guard, sizes, n, db, fn_dir):
    sim = lambdasim.Sim()
    env = {"_HANDLER": "app.handler", "PROTECTLAMBDA_RULES_DIR": os.path.join(SRC, "rules"),
           "PROTECTLAMBDA_RULES_DB": db}
    t_ext = time.monotonic()
    sim.start(bin_path, RUNTIME, env=env, task_root=fn_dir, guard=guard)
    ext_ready = time.monotonic() - t_ext if guard else 0.0
    out = {"ext_ready_ms": ext_ready * 1000}
    try:
        # first invocation also tells when the runtime's first GET /next arrived
        sim.invoke({"d": "warm"})
        out["first_next_ms"] = (sim.first_next_time - sim.runtime_start) * 1000
        for size in sizes:
            ev = json.dumps({"d": "a" * size}).encode()
            for _ in range(20):
                sim.invoke(ev)
            lat = []
            for _ in range(n):
                t0 = time.perf_counter()
                sim.invoke(ev)
                lat.append((time.perf_counter() - t0) * 1e6)
            out[size] = (statistics.median(lat), pct(lat, 0.99))
    finally:
        sim.shutdown()
        sim.stop()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(SRC, "build/src/cli/protectlambda"))
    ap.add_argument("-n", type=int, default=2000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="pl-bench-")
    db = os.path.join(tmp, "rules.db")
    # the guard loads PROTECTLAMBDA_RULES_DIR: compile what it loads
    subprocess.run([a.bin, "compile", "-q", "-o", db], check=False,
                   env=dict(os.environ, PROTECTLAMBDA_RULES_DIR=os.path.join(SRC, "rules")))
    fn = os.path.join(tmp, "fn")
    os.makedirs(fn)
    with open(os.path.join(fn, "app.py"), "w") as f:
        f.write(ECHO_FN)
    sizes = [1024, 1024 * 1024]
    direct = run(a.bin, False, sizes, a.n, db, fn)
    guarded = run(a.bin, True, sizes, a.n, db, fn)
    print("guard bench: %d invocations per size, echo runtime (Python loop), rules: default packs"
          % a.n)
    print("%-8s %12s %12s %12s %12s %10s %10s" % ("event", "direct med", "guard med",
                                                  "added med", "added p99", "ratio med",
                                                  "ratio p99"))
    for s in sizes:
        dm, dp = direct[s]
        gm, gp = guarded[s]
        print("%-8s %10.0fus %10.0fus %10.0fus %10.0fus %9.2fx %9.2fx" % (
            "1KB" if s == 1024 else "1MB", dm, gm, gm - dm, gp - dp, gm / dm, gp / dp))
    print("cold start: runtime exec -> first GET /next: direct %.1f ms, through wrap %.1f ms "
          "(added %.1f ms, ratio %.2fx)" % (direct["first_next_ms"], guarded["first_next_ms"],
                                            guarded["first_next_ms"] - direct["first_next_ms"],
                                            guarded["first_next_ms"] / max(direct["first_next_ms"], 1e-3)))
    print("extension start (exec -> register -> rules.db load -> code scan -> listening -> "
          "event/next): %.1f ms" % guarded["ext_ready_ms"])
    print("targets: <= 50 us median / <= 200 us p99 added for 1 KB; <= 10 ms added cold start")


if __name__ == "__main__":
    main()
