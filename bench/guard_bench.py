#!/usr/bin/env python3
"""Guard overhead (bench, not a test): added latency per invocation through the guard vs the
same runtime talking to the Lambda simulator directly, and cold-start overhead.

  latency: 2,000 invocations of a 1 KB event and of a 1 MB event (echoing runtime), median and
           p99 of the time from the service queueing the event to the response arriving, direct
           vs through `protectlambda extension` + `wrap`; the difference is what the guard adds.
           Beside it the pass-through forwarder (the floor of any proxy process) and the guard's
           own time on the path, from its SHUTDOWN log line (one set of sandboxes per size).
           The simulator's functions are 128 MB ones (Lambda's default): the guard puts the
           runtime and its proxy thread on one CPU (colocate=auto, docs/harden.md); "guard+harden
           3008MB" is the guard with the harden defaults for a function above one vCPU, where
           only the runtime's main thread shares the proxy's CPU (the monitor library pins it).
  cold start: wrapper exec to the first GET /next at the service (with vs without wrap), and the
           extension's own start (register → event/next) with the precompiled rules database.

usage: bench/guard_bench.py [--bin PATH] [-n N]      (prints figures and ratios)
"""
import argparse
import atexit
import json
import random
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests/integration/guard"))
import lambdasim  # noqa: E402
from real_python import real_python3  # noqa: E402
from warm import warm_runtime  # noqa: E402

# the interpreter itself, as Lambda execs it (not a PATH shim: bench/real_python.py)
RUNTIME = [real_python3(), os.path.join(SRC, "examples/runtimes/python/bootstrap.py")]
ECHO_FN = "def handler(event, context):\n    return {'n': len(event['d'])}\n"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


# the guard alone (proxy + rules), without the monitor / Python audit hook / seccomp the
# wrapper adds by default (those are the harden part's cost, measured separately)
PROXY_ONLY = {"PROTECTLAMBDA_MONITOR": "false", "PROTECTLAMBDA_PYTHON_AUDIT": "false",
              "PROTECTLAMBDA_SECCOMP": "off", "PROTECTLAMBDA_SECURE_TMP": "false"}


def passthrough(sim, bin_path):
    """the pass-through forwarder (bench/passthrough_proxy.c) in front of sim: its port"""
    build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(bin_path))))
    exe = os.path.join(build, "bench", "passthrough_proxy")
    if not os.path.exists(exe):
        return None
    p = subprocess.Popen([exe, sim.address.rsplit(":", 1)[1]], stdout=subprocess.PIPE)
    sim.procs.append(p)
    line = p.stdout.readline().decode()
    return int(line.split()[1]) if line.startswith("port ") else None


def start(bin_path, guard, db, fn_dir, extra=None, through_passthrough=False, log_path=None):
    sim = lambdasim.Sim()
    env = {"_HANDLER": "app.handler", "PROTECTLAMBDA_RULES_DIR": os.path.join(SRC, "rules"),
           "PROTECTLAMBDA_RULES_DB": db}
    env.update(extra or {})
    if through_passthrough:
        port = passthrough(sim, bin_path)
        if port is None:
            sim.stop()
            return None
        env["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:%d" % port
    t0 = time.monotonic()
    sim.start(bin_path, RUNTIME, env=env, task_root=fn_dir, guard=guard, log_path=log_path)
    sim.invoke({"d": "warm"})
    sim.ext_ready_ms = (sim.ext_ready_time - t0) * 1000 if guard else 0.0
    sim.first_next_ms = (sim.first_next_time - sim.runtime_start) * 1000
    return sim


def own_time(log_path):
    """the guard's own time on the invocations' path, from its shutdown log line
    (proxy_event_us_p50 ... : pl_proxy_stats), or None"""
    try:
        with open(log_path, errors="replace") as f:
            for line in f:
                if '"proxy_event_us_p50"' in line:
                    rec = json.loads(line)
                    return {k: rec[k] for k in rec if k.startswith("proxy_")}
    except (OSError, ValueError):
        pass
    return None


def settled_invoke(sim, ev):
    """one invocation (its latency in us), then wait until the runtime is back in GET /next:
    the tail of an invocation (the runtime's next request, through the proxy or not) must not
    overlap the next sandbox's measured invocation (else the sandbox measured after the
    heaviest one pays for its tail: the direct one, measured after guard+harden)"""
    with sim.lock:
        seen = sim.next_calls
    t0 = time.perf_counter()
    sim.invoke(ev)
    dt = (time.perf_counter() - t0) * 1e6
    end = time.monotonic() + 5
    with sim.lock:
        while sim.next_calls <= seen and time.monotonic() < end:
            sim.lock.wait(0.05)
    return dt


def measure(sims, sizes, n):
    """alternate invocations between the sandboxes so all see the same machine load, in a new
    random order each round: with a fixed order the sandbox measured first in a round was
    measured on a different machine state than the ones after it (six sandboxes, two of them
    the same bare runtime, first and last: 64 us apart at the median)"""
    out = {}
    for size in sizes:
        ev = json.dumps({"d": "a" * size}).encode()
        rng = random.Random(size)
        order = list(range(len(sims)))
        for _ in range(20):
            for sim in sims:
                settled_invoke(sim, ev)
        lats = [[] for _ in sims]
        for _ in range(n):
            rng.shuffle(order)
            for k in order:
                lats[k].append(settled_invoke(sims[k], ev))
        out[size] = lats
    return out


def cold_starts(bin_path, db, fn_dir, configs, reps):
    """exec of a minimal runtime (sh + curl GET /next) to its request arriving at the service,
    direct or through `protectlambda wrap --` (the guard already running, as in Lambda). The
    sandboxes run side by side and are measured in turn, so they see the same machine load."""
    sims = []
    for guard, extra in configs:
        sim = lambdasim.Sim()
        env0 = {"PROTECTLAMBDA_RULES_DIR": os.path.join(SRC, "rules"),
                "PROTECTLAMBDA_RULES_DB": db}
        env0.update(extra or {})
        # the sandbox's own runtime does not poll: each measured runtime takes one event
        sim.start(bin_path, ["sleep", "600"], env=env0, task_root=fn_dir, guard=guard)
        if guard and not sim.ext_waiting.wait(90):  # the guard ready: only wrap is measured
            raise SystemExit("the guard did not start")
        env = dict(os.environ)
        env.update(extra or {})
        env["AWS_LAMBDA_RUNTIME_API"] = sim.address
        env["PROTECTLAMBDA_PORT"] = str(sim.proxy_port)
        sims.append((sim, guard, env, []))
    wb = os.path.join(os.path.dirname(bin_path), "protectlambda-wrap")
    wb = wb if os.path.exists(wb) else bin_path
    rt = ["sh", "-c", 'exec curl -s -o /dev/null '
          '"http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/next"']
    try:
        for _ in range(reps):
            for sim, guard, env, times in sims:
                with sim.lock:
                    seen = len(sim.next_times)
                t0 = time.monotonic()
                p = subprocess.Popen(([wb, "wrap", "--"] + rt) if guard else rt, env=env)
                with sim.lock:
                    while len(sim.next_times) <= seen:
                        sim.lock.wait(10)
                    arrived = sim.next_times[seen]
                times.append((arrived - t0) * 1000)
                sim.submit({"d": "x"})
                p.wait()
    finally:
        for sim, _, _, _ in sims:
            sim.shutdown()
            sim.stop()
    return [statistics.median(t) for _, _, _, t in sims]


def full_cold_starts(bin_path, db, fn_dir, runtime, handler, reps, extra=None):
    """the whole cold start as Lambda runs it: the extension exec'd first, the runtime
    (through wrap) as soon as the extension has registered, both initialising side by side;
    from the first exec to the runtime's first GET /next at the service. Baseline: the bare
    runtime, exec to first GET /next. Fresh sandboxes each time (empty tamper-watched /tmp, no
    incident store yet, as a new Lambda sandbox), alternated. Each timed start follows an
    untimed start of the runtime alone (bench/warm.py: this machine's page cache forgets the
    runtime's files within seconds)."""
    out = {False: [], True: []}
    rng = random.Random(reps)
    for _ in range(reps):
        order = [False, True]
        rng.shuffle(order)  # a new order each round (measure: the first differs)
        for guard in order:
            sim = lambdasim.Sim()
            # as a new Lambda sandbox: an empty /tmp for the tamper watch (this machine's has
            # thousands of entries) and no incident store yet
            sandbox = tempfile.mkdtemp(prefix="pl-cold-")
            os.mkdir(os.path.join(sandbox, "tmp"))
            env = {"_HANDLER": handler, "PROTECTLAMBDA_RULES_DIR": os.path.join(SRC, "rules"),
                   "PROTECTLAMBDA_RULES_DB": db,
                   "PROTECTLAMBDA_STORE_PATH": os.path.join(sandbox, "incidents.db"),
                   "PROTECTLAMBDA_INTEGRITY_TAMPER_DIRS": os.path.join(sandbox, "tmp")}
            env.update(extra or {})
            # the runtime's own files in the page cache for both configurations (bench/warm.py)
            warm_runtime(runtime, dict(os.environ, _HANDLER=handler, LAMBDA_TASK_ROOT=fn_dir),
                         cwd=fn_dir)
            t0 = time.monotonic()
            try:
                sim.start(bin_path, runtime, env=env, task_root=fn_dir, guard=guard,
                          ext_argv=[bin_path, "extension"],
                          wrap_argv=[_wrap_bin(bin_path), "wrap", "--"])
                with sim.lock:
                    while sim.first_next_time is None:
                        if not sim.lock.wait(30):
                            raise SystemExit("no GET /next from the runtime")
                    first = sim.first_next_time
                out[guard].append((first - t0) * 1000)
                sim.submit({"d": "x"})
            finally:
                sim.shutdown()
                sim.stop()
                shutil.rmtree(sandbox, True)
    full_cold_starts.mins = (min(out[False]), min(out[True]))
    return statistics.median(out[False]), statistics.median(out[True])


def _wrap_bin(bin_path):
    wb = os.path.join(os.path.dirname(bin_path), "protectlambda-wrap")
    return wb if os.path.exists(wb) else bin_path


def bench_line(row, inp, unit, value, baseline, target, baseline_name="direct (no guard)"):
    """the BENCH line bench/run collects"""
    print("BENCH " + json.dumps({
        "row": "guard " + row, "input": inp, "unit": unit, "protectlambda": round(value, 1),
        "baseline": None if baseline is None else round(baseline, 1),
        "baseline_name": baseline_name if baseline is not None else "",
        "ratio": None if not baseline else round(value / baseline, 2), "target": target}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("PL_BIN") or
                    os.path.join(SRC, "build/src/cli/protectlambda"))
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="300 invocations, 10 cold starts")
    a = ap.parse_args()
    if a.quick:
        a.n = min(a.n, 300)
    tmp = tempfile.mkdtemp(prefix="pl-bench-")
    atexit.register(shutil.rmtree, tmp, True)
    db = os.path.join(tmp, "rules.db")
    # the guard loads PROTECTLAMBDA_RULES_DIR: compile what it loads
    subprocess.run([a.bin, "compile", "-q", "-o", db], check=False,
                   env=dict(os.environ, PROTECTLAMBDA_RULES_DIR=os.path.join(SRC, "rules")))
    fn = os.path.join(tmp, "fn")
    os.makedirs(fn)
    with open(os.path.join(fn, "app.py"), "w") as f:
        f.write(ECHO_FN)
    sizes = [1024, 1024 * 1024]
    # the simulator runs every sandbox as a 128 MB function (Lambda's default): the guard's
    # sandboxes co-locate the runtime and the proxy on one CPU (colocate=auto, docs/harden.md);
    # "guard+harden 3008MB": the same for a function above one vCPU (only the runtime's main
    # thread co-located, by the monitor library: so with the harden defaults)
    names = ["direct", "guard", "guard+harden", "guard+harden 3008MB", "pass-through"]
    res, own = {}, {}
    # one set of sandboxes per size: the guard's own time (its shutdown log line) is then the
    # figure of that size alone
    for size in sizes:
        logs = {n: os.path.join(tmp, "%s-%d.log" % (n.replace("+", "-"), size))
                for n in ("guard", "guard+harden")}
        direct = start(a.bin, False, db, fn)
        guarded = start(a.bin, True, db, fn, PROXY_ONLY, log_path=logs["guard"])
        full = start(a.bin, True, db, fn, log_path=logs["guard+harden"])
        big = start(a.bin, True, db, fn, {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008"})
        sims = [direct, guarded, full, big]
        # the floor: a forwarder that moves bytes without looking at them
        fwd = start(a.bin, False, db, fn, through_passthrough=True)
        if fwd:
            sims.append(fwd)
        try:
            res[size] = measure(sims, [size], a.n)[size]
        finally:
            for sim in sims:
                sim.shutdown()
                sim.stop()
        own[size] = {n: own_time(p) for n, p in logs.items()}
    if not fwd:
        names.remove("pass-through")
        print("(bench/passthrough_proxy not built: no pass-through floor)")
    print("guard bench: %d invocations per size, alternating between %d sandboxes: direct (no "
          "protectlambda), guard (extension proxy + rules), guard+harden (defaults: + monitor "
          "LD_PRELOAD, Python audit hook, seccomp)%s; echo handler on the Python runtime loop; "
          "default packs from rules.db; 128 MB functions (runtime and proxy co-located: "
          "colocate=auto) but guard+harden 3008MB (the runtime's main thread co-located)" % (a.n, len(sims), ", pass-through (a forwarder that "
          "moves the bytes without reading them: the floor of any proxy process)"
          if "pass-through" in names else ""))
    print("%-6s %-20s %9s %9s %9s %9s %8s" % ("event", "sandbox", "median", "p99",
                                               "added med", "added p99", "ratio"))
    for s in sizes:
        d = res[s][0]
        dm, dp = statistics.median(d), pct(d, 0.99)
        label = "1KB" if s == 1024 else "1MB"
        floor = None
        if "pass-through" in names:
            fl = res[s][names.index("pass-through")]
            floor = (statistics.median(fl), pct(fl, 0.99))
        for name, lat in zip(names, res[s]):
            m, p = statistics.median(lat), pct(lat, 0.99)
            print("%-6s %-20s %7.0fus %7.0fus %7.0fus %7.0fus %7.2fx" % (
                label, name, m, p, m - dm, p - dp, m / dm))
            if name == "guard":
                bench_line("invocation latency median (added %+.0f us)" % (m - dm),
                           label + " event", "us", m, dm, "<= +50 us" if s == 1024 else "")
                bench_line("invocation latency p99 (added %+.0f us)" % (p - dp),
                           label + " event", "us", p, dp, "<= +200 us" if s == 1024 else "")
                if floor:
                    bench_line("invocation latency median, guard vs pass-through forwarder "
                               "(guard's own work %+.0f us)" % (m - floor[0]), label + " event",
                               "us", m, floor[0], "", baseline_name="pass-through forwarder "
                               "(bench/passthrough_proxy: same two loopback hops, no parsing)")
            if name == "guard+harden 3008MB":
                bench_line("invocation latency median, guard+harden, 3,008 MB: the runtime's "
                           "main thread co-located (added %+.0f us)" % (m - dm),
                           label + " event, 3,008 MB function", "us", m, dm,
                           "<= +50 us" if s == 1024 else "")
            if name == "pass-through":
                bench_line("invocation latency median, pass-through forwarder (added %+.0f us: "
                           "the floor of any proxy in a separate process)" % (m - dm),
                           label + " event", "us", m, dm, "")
        for name in ("guard", "guard+harden"):
            o = own[s].get(name)
            if not o:
                continue
            both = o["proxy_event_us_p50"] + o["proxy_response_us_p50"]
            print("%-6s %-20s own time on the path (guard's log): event %.1f us (p99 %.1f), "
                  "response %.1f us (p99 %.1f); medians together %.1f us" % (
                      label, name, o["proxy_event_us_p50"], o["proxy_event_us_p99"],
                      o["proxy_response_us_p50"], o["proxy_response_us_p99"], both))
            if name == "guard":
                bench_line("invocation latency, the guard's own time on the path: medians of the event path (read, check, "
                           "forward) + the response path (%.1f + %.1f us)"
                           % (o["proxy_event_us_p50"], o["proxy_response_us_p50"]),
                           label + " event", "us", both, None, "")
    for name, sim in (("guard", guarded), ("guard+harden", full)):  # the last size's sandboxes
        print("cold start (%s): runtime exec -> first GET /next: direct %.1f ms, through wrap "
              "%.1f ms (added %.1f ms, ratio %.2fx)" % (
                  name, direct.first_next_ms, sim.first_next_ms,
                  sim.first_next_ms - direct.first_next_ms,
                  sim.first_next_ms / max(direct.first_next_ms, 1e-3)))
    reps = 10 if a.quick else 30
    # what the layer runs: protectlambda-lambda extension, protectlambda-wrap wrap
    lbin = a.bin + "-lambda" if os.path.exists(a.bin + "-lambda") else a.bin
    c_direct, c_guard, c_full = cold_starts(
        lbin, db, fn, [(False, None), (True, PROXY_ONLY), (True, None)], reps)
    print("cold start, minimal runtime (sh + curl GET /next), layer binary %s, median of %d: direct %.1f ms, through "
          "wrap + proxy %.1f ms (added %.1f ms, %.2fx), with harden defaults %.1f ms (added "
          "%.1f ms, %.2fx)" % (os.path.basename(lbin), reps, c_direct, c_guard, c_guard - c_direct, c_guard / c_direct,
                               c_full, c_full - c_direct, c_full / c_direct))
    bench_line("cold start: runtime exec -> first GET /next (added %+.1f ms)"
               % (c_guard - c_direct), "sh+curl runtime", "ms", c_guard, c_direct, "<= +10 ms")
    bench_line("cold start with harden defaults (added %+.1f ms)" % (c_full - c_direct),
               "sh+curl runtime", "ms", c_full, c_direct, "")
    sh_rt = ["sh", "-c", 'exec curl -s -o /dev/null '
             '"http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/next"']
    # 40: the distribution has a long tail on this machine, in the runtime's start: its files
    # read again from disk (warmed now: bench/warm.py) and stretches where the same work takes
    # up to twice the CPU time (the host's; docs/performance.md, session 11)
    freps = 8 if a.quick else 40
    for label, rt, handler in (("sh+curl runtime", sh_rt, "app.handler"),
                               ("Python runtime loop", RUNTIME, "app.handler")):
        fd, fg = full_cold_starts(lbin, db, fn, rt, handler, freps)
        md, mg = full_cold_starts.mins
        print("cold start, whole (extension exec, runtime after it registered, as Lambda "
              "starts them) -> first GET /next, %s, median of %d: bare runtime %.1f ms, "
              "protected %.1f ms (added %.1f ms; fastest of each: %.1f / %.1f ms, added %.1f)"
              % (label, freps, fd, fg, fg - fd, md, mg, mg - md))
        bench_line("cold start, extension + wrap + runtime -> first GET /next (added %+.1f ms)"
                   % (fg - fd), label, "ms", fg, fd, "<= +10 ms",
                   baseline_name="bare runtime, exec -> first GET /next")
    bench_line("extension start: exec -> event/next", "default packs, rules.db", "ms",
               guarded.ext_ready_ms, None, "", baseline_name="")
    print("extension start (exec -> register -> rules.db -> code scan -> proxy listening -> "
          "event/next): %.1f ms (guard), %.1f ms (guard+harden)" % (guarded.ext_ready_ms,
                                                                    full.ext_ready_ms))
    print("targets: <= 50 us median / <= 200 us p99 added for 1 KB; <= 10 ms added cold start")


if __name__ == "__main__":
    main()
