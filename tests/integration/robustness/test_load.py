#!/usr/bin/env python3
"""Load: N invocations in a row (default 10,000) through the real emulator
(`protectlambda emulate`), the real guard extension and the Python runtime loop. Every request
id is answered exactly once (the client sees its own request id back, the emulator's ledger
has no double, unknown, late or missing answer), one attack in 100 is denied, and the guard's
RSS stays flat (after 10 vs after N invocations). Prints a BENCH line with the RSS figures.

usage: test_load.py [N] [--bench]     env: PL_BIN, PL_SOURCE_DIR (set by CTest)
"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plrobust import PL_BIN, RULES, check  # noqa: E402

APP = '''
def handler(event, context):
    return {"rid": context.aws_request_id, "i": event.get("i")}
'''
ATTACK = {"name": "x; cat /etc/passwd"}
RSS_GROWTH_CAP_KB = 16 * 1024   # flat: at most 16 MB more after N than after 10


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def find_guard(emu_pid, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % p) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    argv = f.read().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            if ppid == emu_pid and len(argv) > 1 and argv[1] == b"extension":
                return int(p)
        time.sleep(0.05)
    raise RuntimeError("guard process not found")


def main(argv):
    n = 10000
    bench = "--bench" in argv
    args = [a for a in argv[1:] if not a.startswith("--")]
    if args:
        n = int(args[0])
    tmp = tempfile.mkdtemp(prefix="pl-robust-load-")
    fn = os.path.join(tmp, "fn")
    os.mkdir(fn)
    with open(os.path.join(fn, "app.py"), "w") as f:
        f.write(APP)
    log_path = os.path.join(tmp, "log")
    log = open(log_path, "wb")
    env = dict(os.environ)
    env.update({"PROTECTLAMBDA_RULES_DIR": RULES,
                "PROTECTLAMBDA_INTEGRITY_TAMPER_DIRS": tmp})
    emu = subprocess.Popen([PL_BIN, "emulate", "--port", "0", "--function", fn,
                            "--handler", "app.handler"], env=env, stdout=log, stderr=log,
                           start_new_session=True)
    try:
        port = None
        end = time.monotonic() + 120
        while port is None and time.monotonic() < end:
            time.sleep(0.05)
            with open(log_path, "rb") as f:
                m = re.search(rb'listening[^\n]*?127\.0\.0\.1:(\d+)', f.read())
            if m:
                port = int(m.group(1))
            check(emu.poll() is None, "emulate exited %r" % emu.poll())
        check(port, "no 'listening' line from emulate")
        guard = find_guard(emu.pid)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        seen = set()
        denied = 0
        rss10 = None
        t0 = time.monotonic()
        for i in range(n):
            attack = i % 100 == 57
            body = json.dumps(ATTACK if attack else {"i": i}).encode()
            c.request("POST", "/2015-03-31/functions/function/invocations", body=body,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            rid = r.getheader("X-Amzn-Requestid")
            check(r.status == 200 and rid, "invocation %d: %d %r" % (i, r.status, data[:200]))
            check(rid not in seen, "request id %s answered twice" % rid)
            seen.add(rid)
            if attack:
                check(b"Security Violation" in data, "attack %d passed: %r" % (i, data[:200]))
                denied += 1
            else:
                got = json.loads(data)
                check(got == {"rid": rid, "i": i}, "invocation %d got %r" % (i, got))
            if i + 1 == 10:
                rss10 = rss_kb(guard)
        secs = time.monotonic() - t0
        rss_n = rss_kb(guard)
        c.request("GET", "/_protectlambda/emulator/stats")
        r = c.getresponse()
        stats = json.loads(r.read())
        c.close()
        print("stats:", json.dumps(stats))
        check(stats["invocations"] == n and stats["responses"] == n, "ledger %r" % stats)
        for k in ("double_answers", "unknown_answers", "late_answers", "unanswered", "timeouts",
                  "runtime_exits", "function_errors", "http_errors"):
            check(stats.get(k, 0) == 0, "%s = %r" % (k, stats.get(k)))
        check(denied == len([i for i in range(n) if i % 100 == 57]), "denied %d" % denied)
        print("%d invocations in %.1f s (%.2f ms each), %d denied; guard RSS after 10: %d KB, "
              "after %d: %d KB (%+d KB)" % (n, secs, secs * 1000 / n, denied, rss10, n, rss_n,
                                            rss_n - rss10))
        print('BENCH {"row":"guard RSS after %d invocations","input":"python loop via emulate, '
              '1 attack in 100","unit":"KB","protectlambda":%d,"baseline":%d,'
              '"baseline_name":"guard RSS after 10 invocations","ratio":%.3f,'
              '"target":"<= 16 MB, no growth"}' % (n, rss_n, rss10, rss_n / rss10))
        print("guard RSS after %d: %.1f MB of the 16 MB target (%s); growth %+d KB" % (
            n, rss_n / 1024, "met" if rss_n <= 16 * 1024 else "NOT met", rss_n - rss10))
        check(rss_n - rss10 <= RSS_GROWTH_CAP_KB,
              "guard RSS grew %d KB over %d invocations" % (rss_n - rss10, n))
        check(guard and os.path.exists("/proc/%d" % guard), "the guard died")
        print("PASS load")
        return 0
    except Exception:
        log.flush()
        with open(log_path, "rb") as f:
            sys.stderr.write(f.read()[-4000:].decode("utf-8", "replace"))
        raise
    finally:
        if emu.poll() is None:
            emu.send_signal(signal.SIGTERM)
            try:
                emu.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(emu.pid, signal.SIGKILL)
                emu.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
