#!/usr/bin/env python3
"""Faults with real processes: a misbehaving upstream Runtime API (faultsim.py), runtimes that
crash, exit or answer twice, and a guard killed with SIGKILL or signalled by the function.
The property every test checks: no event reaches the handler unchecked, no response leaves
unchecked, the guard survives what it can survive, and when it cannot (SIGKILL) the function
gets errors, never a bypass.

usage: test_faults.py [TEST...]   env: PL_BIN, PL_SOURCE_DIR (set by CTest)
"""
import http.client
import json
import os
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import faultsim  # noqa: E402
from plrobust import PL_BIN, RULES, SRC, check, main  # noqa: E402

PY_RUNTIME = ["python3", os.path.join(SRC, "examples/runtimes/python/bootstrap.py")]
ATTACK = {"name": "x; cat /etc/passwd"}
# shape of an AWS secret access key, as the default out rules catch it
SECRET_RESPONSE = json.dumps({"dump": "aws_secret_access_key=kQ2v8Zr+Xw4yTb6NmP1sLd9Hf3Gj7Uc5Ve0Ra2Yo",
                              "id": "AKIAQ3EGRZLKD7YT4W5N"})

APP = r'''
import json, os, signal, sys, time
MARK = os.environ["PL_TEST_MARKS"]
def handler(event, context):
    rid = context.aws_request_id
    open(os.path.join(MARK, rid + ".started"), "w").write(json.dumps(event))
    what = event.get("do") if isinstance(event, dict) else None
    if what == "sleep":
        time.sleep(float(event.get("secs", 2)))
    elif what == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif what == "exit":
        os._exit(0)
    elif what == "kill_guard":
        return {"kill": kill_guard(event.get("sig", "SIGTERM"), int(event["guard"]))}
    open(os.path.join(MARK, rid + ".done"), "w").write("done")
    return {"ok": rid, "name": event.get("name") if isinstance(event, dict) else None}

def kill_guard(signame, guard):
    """what hostile function code does: find the guard through /proc and signal it. Other
    tests run in parallel on this machine, each with its own guard: only this sandbox's guard
    (its pid comes with the event) is a target; /proc tells that it is the guard."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) != guard:
            continue
        try:
            argv = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and argv[0].endswith(b"protectlambda") and argv[1] == b"extension":
            try:
                os.kill(int(pid), getattr(signal, signame))
                out.append([int(pid), "sent"])
            except OSError as e:
                out.append([int(pid), "error %d" % e.errno])
    return out
'''


class Box:
    """one sandbox: fault simulator + guard + (optionally) a runtime"""

    def __init__(self, name, runtime=True, env=None):
        self.tmp = tempfile.mkdtemp(prefix="pl-faults-%s-" % name)
        self.marks = os.path.join(self.tmp, "marks")
        os.mkdir(self.marks)
        self.fn = os.path.join(self.tmp, "fn")
        os.mkdir(self.fn)
        with open(os.path.join(self.fn, "app.py"), "w") as f:
            f.write(APP)
        self.log_path = os.path.join(self.tmp, "log")
        self.log = open(self.log_path, "wb")
        self.sim = faultsim.FaultSim()
        e = {"_HANDLER": "app.handler", "PROTECTLAMBDA_RULES_DIR": RULES,
             "PROTECTLAMBDA_RULES_DB": os.path.join(self.tmp, "none.db"),
             "PROTECTLAMBDA_INTEGRITY_TAMPER_DIRS": self.tmp,
             "LAMBDA_TASK_ROOT": self.fn, "PL_TEST_MARKS": self.marks}
        e.update(env or {})
        self.guard = self.sim.start_guard(PL_BIN, e, self.log)
        self.runtime = self.start_runtime() if runtime else None

    def start_runtime(self):
        self.runtime = self.sim.start_runtime(PL_BIN, PY_RUNTIME, cwd=self.fn)
        return self.runtime

    def started(self, rid):
        return os.path.exists(os.path.join(self.marks, rid + ".started"))

    def wait_started(self, rid, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.started(rid):
                return True
            time.sleep(0.02)
        return False

    def text(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def guard_lines(self, needle):
        out = []
        for line in self.text().splitlines():
            if needle.lower() in line.lower():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def proxy(self):
        return http.client.HTTPConnection("127.0.0.1", self.sim.proxy_port, timeout=30)

    def alive(self):
        return self.guard.poll() is None

    def close(self):
        if sys.exc_info()[0] is not None:  # a failing test: show what the processes said
            sys.stderr.write("---- guard/runtime log (tail)\n%s\n----\n" % self.text()[-4000:])
        try:
            if self.alive():
                self.sim.shutdown_guard()
        finally:
            self.sim.stop()
            self.log.close()
            if os.environ.get("PL_KEEP_TMP"):
                print("  kept", self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)


def s_next(c):
    c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()


def s_post(c, rid, body, what="response"):
    c.request("POST", "/2018-06-01/runtime/invocation/%s/%s" % (rid, what), body=body,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    return r.status, r.read()


def s_healthy(box, via_runtime=False):
    """the guard still works: a clean event passes, an attack is denied"""
    check(box.alive(), "the guard died (exit %r)" % box.guard.poll())
    if via_runtime:
        rid = box.sim.submit({"name": "after"})
        kind, body, _ = box.sim.wait(rid)
        check(kind == "response" and json.loads(body)["ok"] == rid, "clean event after fault: %r" % body)
    else:
        c = box.proxy()
        rid = box.sim.submit({"name": "after"})
        st, h, body = s_next(c)
        check(st == 200 and h.get("lambda-runtime-aws-request-id") == rid, "next after fault: %d" % st)
        check(s_post(c, rid, b'{"ok":1}')[0] == 202, "post after fault")
        c.close()
    rid = box.sim.submit(ATTACK)
    if not via_runtime:
        # the proxy denies the attack when the runtime asks for the next event, answers it
        # itself and hands out the following one
        rid2 = box.sim.submit({"name": "after2"})
        c = box.proxy()
        st, h, body = s_next(c)
        check(st == 200 and h.get("lambda-runtime-aws-request-id") == rid2, "next: %d" % st)
        check(s_post(c, rid2, b'{"ok":2}')[0] == 202, "post after fault")
        c.close()
    kind, body, _ = box.sim.wait(rid)
    check(b"Security Violation" in body, "attack after fault not denied: %r" % body)
    check(not box.started(rid), "attack reached the handler")


# ------------------------------------------------------------------ upstream faults

def test_upstream_500():
    box = Box("up500", runtime=False)
    try:
        c = box.proxy()
        box.sim.fault_next("500")
        rid = box.sim.submit(ATTACK)
        st, h, body = s_next(c)
        check(st != 200 or h.get("lambda-runtime-aws-request-id") != rid,
              "an upstream error became an event")
        check(b"cat /etc/passwd" not in body, "attack passed on a 500: %r" % body)
        c.close()
        box.sim.fault_post("500")
        c = box.proxy()
        rid = box.sim.submit({"name": "a"})
        st, h, body = s_next(c)
        check(st == 200, "next %d" % st)
        st, body = s_post(c, rid, b'{"ok":1}')
        check(st == 500, "an upstream 500 on the answer must reach the runtime, got %d" % st)
        c.close()
        s_healthy(box)
    finally:
        box.close()


def test_upstream_close_mid_body():
    box = Box("upclose", runtime=False)
    try:
        c = box.proxy()
        box.sim.fault_next("close_mid_body")
        rid = box.sim.submit({"name": "y" * 5000 + "; cat /etc/passwd"})
        rid2 = box.sim.submit({"name": "whole"})
        # the cut event never reaches the runtime: the proxy answers it and hands out the next
        st, h, body = s_next(c)
        check(st == 200 and h.get("lambda-runtime-aws-request-id") == rid2,
              "after a cut event: %d %r" % (st, body[:200]))
        check(json.loads(body) == {"name": "whole"}, "wrong event %r" % body[:200])
        check(s_post(c, rid2, b'{"ok":1}')[0] == 202, "answer")
        c.close()
        # the cut invocation is answered with an error (or left to time out), never run
        time.sleep(0.5)
        ans = box.sim.answers[rid]
        check(len(ans) == 1, "cut event answered %d times" % len(ans))
        check(all(k == "error" or b"Security Violation" in b or b"errorMessage" in b
                  for k, b, _ in ans), "cut event answered as a success: %r" % ans)
        s_healthy(box)
    finally:
        box.close()


def test_upstream_slow():
    box = Box("upslow", runtime=True)
    try:
        box.sim.fault_next("slow")
        rid = box.sim.submit({"name": "slow", "pad": "p" * 4000})
        kind, body, _ = box.sim.wait(rid, timeout=30)
        check(kind == "response" and json.loads(body)["ok"] == rid, "slow event: %r" % body)
        box.sim.fault_post("slow")
        rid = box.sim.submit({"name": "slowpost"})
        kind, body, _ = box.sim.wait(rid, timeout=30)
        check(kind == "response", "slow answer: %r" % body)
        # slow and hostile: still denied
        box.sim.fault_next("slow")
        rid = box.sim.submit(ATTACK)
        kind, body, _ = box.sim.wait(rid, timeout=30)
        check(b"Security Violation" in body and not box.started(rid), "slow attack passed")
        s_healthy(box, via_runtime=True)
    finally:
        box.close()


def test_upstream_huge_header():
    box = Box("uphuge", runtime=False)
    try:
        c = box.proxy()
        box.sim.fault_next("huge_header")
        rid = box.sim.submit(ATTACK)
        try:
            st, h, body = s_next(c)
        except (ConnectionError, http.client.HTTPException):
            st, body = 0, b""
        check(st != 200 or h.get("lambda-runtime-aws-request-id") != rid,
              "an event with a 100 KB header was handed out (%d)" % st)
        check(b"cat /etc/passwd" not in body, "attack passed with a huge header")
        c.close()
        s_healthy(box)
    finally:
        box.close()


# ------------------------------------------------------------------ runtime faults

def test_runtime_crash():
    """SIGSEGV in the handler mid-invocation: no answer is invented, the guard keeps serving
    the restarted runtime"""
    box = Box("rtcrash")
    try:
        rid = box.sim.submit({"do": "segv"})
        check(box.wait_started(rid), "handler never started")
        box.runtime.wait(20)
        time.sleep(0.3)
        check(box.sim.answers[rid] == [] or box.sim.answers[rid][0][0] == "error",
              "crashed invocation answered as a success: %r" % box.sim.answers[rid])
        box.start_runtime()
        s_healthy(box, via_runtime=True)
    finally:
        box.close()


def test_runtime_exit():
    box = Box("rtexit")
    try:
        rid = box.sim.submit({"do": "exit"})
        check(box.wait_started(rid), "handler never started")
        check(box.runtime.wait(20) == 0, "runtime exit status")
        time.sleep(0.3)
        check(box.sim.answers[rid] == [] or box.sim.answers[rid][0][0] == "error",
              "exited invocation answered as a success")
        box.start_runtime()
        s_healthy(box, via_runtime=True)
    finally:
        box.close()


def test_response_twice():
    """a runtime answering twice: the second answer is checked too (a secret in it never
    reaches the service)"""
    box = Box("twice", runtime=False)
    try:
        c = box.proxy()
        rid = box.sim.submit({"name": "a"})
        st, h, body = s_next(c)
        check(st == 200, "next %d" % st)
        check(s_post(c, rid, b'{"ok":1}')[0] == 202, "first answer")
        st2, _ = s_post(c, rid, SECRET_RESPONSE.encode())
        check(st2 >= 400, "second answer accepted: %d" % st2)
        st3, _ = s_post(c, rid, b'{"again":1}', what="error")
        check(st3 >= 400, "third answer (error) accepted: %d" % st3)
        c.close()
        time.sleep(0.3)
        bodies = [b for _, b, _ in box.sim.answers[rid]]
        check(bodies and bodies[0] == b'{"ok":1}', "first answer lost: %r" % bodies)
        check(not any(b"kQ2v8Zr" in b for b in bodies), "secret in a second answer leaked")
        s_healthy(box)
    finally:
        box.close()


# ------------------------------------------------------------------ guard killed

def test_guard_sigkill():
    """SIGKILL the guard while the handler runs: that invocation's answer cannot leave
    unchecked, and no later event reaches the handler: the function gets errors, not a bypass"""
    box = Box("kill9")
    try:
        rid1 = box.sim.submit({"do": "sleep", "secs": 1.5})
        check(box.wait_started(rid1), "handler never started")
        os.kill(box.guard.pid, signal.SIGKILL)
        box.guard.wait(10)
        # the runtime's answer goes to the dead proxy: it fails, the runtime exits with an error
        rc = box.runtime.wait(20)
        check(rc != 0, "runtime exit %r: it should fail without its Runtime API" % rc)
        check(box.sim.answers[rid1] == [], "an answer left without the guard: %r" % box.sim.answers[rid1])
        # later events: the restarted runtime cannot reach the Runtime API through a dead guard
        rid2 = box.sim.submit(ATTACK)
        rid3 = box.sim.submit({"name": "clean"})
        rt = box.start_runtime()
        rc = rt.wait(20)
        check(rc != 0, "runtime without its guard exited %r" % rc)
        time.sleep(0.5)
        check(not box.started(rid2) and not box.started(rid3), "an event ran without the guard")
        check(rid2 not in box.sim.delivered and rid3 not in box.sim.delivered,
              "an event was fetched from the Runtime API without the guard")
        log = box.text()
        check("Runtime API is gone" in log, "the runtime did not report the lost Runtime API")
    finally:
        box.close()


def test_function_signals_guard():
    """function code finds the guard through /proc and signals it. The monitor library in the
    runtime refuses every signal to the guard (EPERM, as if it belonged to another user) and
    reports it; the guard stays up and serves. (A signal sent by a raw syscall bypasses the
    monitor: catchable ones are ignored and logged by the guard itself, and SIGKILL is the
    guard_sigkill case: fail closed.)"""
    box = Box("sig")
    try:
        for sig in ("SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGKILL"):
            rid = box.sim.submit({"do": "kill_guard", "sig": sig, "guard": box.guard.pid})
            kind, body, _ = box.sim.wait(rid)
            # the refused kill() is a deny decision of the monitor: the guard also denies the
            # invocation in flight, so the caller gets the deny answer
            check(kind == "response" and b"Security Violation" in body,
                  "%s: the invocation that signalled the guard was not denied: %r %r"
                  % (sig, kind, body))
            time.sleep(0.3)
            check(box.alive(), "%s from the function stopped the guard" % sig)
        lines = box.guard_lines("signal to the protectlambda guard")
        check(len(lines) >= 5, "refused signals not reported at the guard: %r" % lines)
        check(all(l.get("action") in ("deny", None) or "deny" in json.dumps(l) for l in lines),
              "refused signals not reported as denied: %r" % lines)
        check(all("RUNTIME_MODIFICATION" in json.dumps(l) for l in lines),
              "refused signals not reported as RUNTIME_MODIFICATION: %r" % lines)
        s_healthy(box, via_runtime=True)
    finally:
        box.close()


TESTS = {
    "upstream_500": test_upstream_500,
    "upstream_close_mid_body": test_upstream_close_mid_body,
    "upstream_slow": test_upstream_slow,
    "upstream_huge_header": test_upstream_huge_header,
    "runtime_crash": test_runtime_crash,
    "runtime_exit": test_runtime_exit,
    "response_twice": test_response_twice,
    "guard_sigkill": test_guard_sigkill,
    "function_signals_guard": test_function_signals_guard,
}

if __name__ == "__main__":
    sys.exit(main(TESTS, sys.argv))
