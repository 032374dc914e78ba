#!/usr/bin/env python3
"""End-to-end tests of the guard: a strict Lambda simulator (lambdasim.py) starts the real
`protectlambda extension` and a real runtime through `protectlambda wrap --`, then checks what
the Lambda service receives and what the guard logs.

usage: test_guard.py [TEST...]      (no argument: every test)
env:   PL_BIN, PL_SOURCE_DIR (set by CTest)
"""
import base64
import http.client
import json
import os
import re
import shutil
import subprocess
import socket
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lambdasim  # noqa: E402

SRC = os.environ.get("PL_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "../../.."))
PL_BIN = os.environ.get("PL_BIN") or os.path.join(SRC, "build/src/cli/protectlambda")
PY_RUNTIME = ["python3", os.path.join(SRC, "examples/runtimes/python/bootstrap.py")]
SHELL_RUNTIME = [os.path.join(SRC, "examples/runtimes/shell/bootstrap")]
FUNCS = os.path.join(SRC, "examples/functions")
RULES = os.path.join(SRC, "rules")
NODE_MODULES = os.path.join(SRC, "tests/node_modules")
RIC = os.path.join(NODE_MODULES, "aws-lambda-ric/bin/index.mjs")

# fake credentials (shape of real ones), split for the streaming test
SECRET = "kQ2v8Zr+Xw4yTb6NmP1sLd9Hf3Gj7Uc5Ve0Ra2Yo"
AKID = "AKIAQ3EGRZLKD7YT4W5N"
CMDI_EVENT = {"name": "x; cat /etc/passwd"}


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


class Env:
    """one simulated sandbox: the guard + a runtime"""

    def __init__(self, name, task_root, runtime=PY_RUNTIME, handler="app.handler", env=None,
                 guard=True, extra_next_headers=None, ext_argv=None, wrap_argv=None):
        self.tmp = tempfile.mkdtemp(prefix="pl-guard-%s-" % name)
        self.log_path = os.path.join(self.tmp, "log")
        self.sim = lambdasim.Sim(extra_next_headers=extra_next_headers)
        # every sandbox its own incident store: a quarantine in one test never leaks into another
        e = {"_HANDLER": handler, "PROTECTLAMBDA_RULES_DIR": RULES,
             "PROTECTLAMBDA_RULES_DB": os.path.join(self.tmp, "none.db"),
             "PROTECTLAMBDA_STORE_PATH": os.path.join(self.tmp, "incidents.db")}
        e.update(env or {})
        self.sim.start(PL_BIN, runtime, env=e, task_root=task_root, guard=guard,
                       log_path=self.log_path, ext_argv=ext_argv, wrap_argv=wrap_argv)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self, needle, component="guard"):
        """the guard's JSON log lines whose message contains needle"""
        out = []
        for line in self.log().splitlines():
            if needle in line:
                try:
                    l = json.loads(line)
                except ValueError:
                    continue
                if needle in l.get("msg", "") and l.get("component") == component:
                    out.append(l)
        return out

    def close(self):
        rc = self.sim.shutdown()
        self.sim.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return rc


def function_dir(tmp, files):
    d = tempfile.mkdtemp(prefix="pl-fn-", dir=tmp)
    for name, text in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    return d


# ------------------------------------------------------------------ scenarios


def test_code_rule():
    """scenario 1: code_protect.txt + check_output → every invocation denied, handler never runs"""
    tmp = tempfile.mkdtemp(prefix="pl-code-")
    marker = os.path.join(tmp, "handler-ran")
    src = open(os.path.join(FUNCS, "code-violation/app.py")).read()
    src = src.replace("def handler(event, context):\n",
                      "def handler(event, context):\n    open(%r, 'w').write('ran')\n" % marker)
    fn = function_dir(tmp, {"app.py": src, "code_protect.txt":
                            open(os.path.join(FUNCS, "code-violation/code_protect.txt")).read()})
    env = Env("code", fn)
    try:
        rids = []
        for _ in range(3):
            rid = env.sim.submit({"path": "/etc/hostname"})
            a = env.sim.wait(rid)
            check(a.kind == "response" and a.json() == "Security Violation...",
                  "expected the deny answer, got %r" % a)
            rids.append(rid)
        check(not os.path.exists(marker), "the handler ran")
        pattern = r".*(call|check_output|system|popen|run|local|spawn).*\(.*"
        lines = env.log_lines("Code Rule violation for")
        for rid in rids:
            hit = [l for l in lines if l.get("request_id") == rid and l.get("rule") == pattern]
            check(hit, "no Code Rule violation line for %s" % rid)
            check(hit[0]["msg"] == "Code Rule violation for " + pattern,
                  "wording: %r" % hit[0]["msg"])
            want_line = src.splitlines().index(
                [x for x in src.splitlines() if "check_output" in x][0]) + 1
            check(hit[0]["file"].endswith("app.py") and hit[0]["line"] == want_line,
                  "file:line %r" % hit[0])
    finally:
        env.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_in_rule():
    """scenario 2: a clean function, a command-injection event → in rule, rule id, JSON path"""
    env = Env("in", os.path.join(FUNCS, "clean"))
    try:
        a = env.sim.invoke(CMDI_EVENT)
        check(a.kind == "response" and a.json() == "Security Violation...", "got %r" % a)
        rid = [r for r in env.sim.answers][0]
        lines = [l for l in env.log_lines("In Rule violation for") if l.get("request_id") == rid]
        check(lines, "no In Rule violation line")
        l = lines[0]
        check(l["rule"].startswith("PL-IN-CMDI-") and l["path"] == "$.name", "line %r" % l)
        check(l["msg"] == "In Rule violation for " + l["rule"], "msg %r" % l["msg"])
        check(l["category"] == "command-injection" and l["action"] == "deny", "line %r" % l)
        check("/etc/passwd" not in json.dumps(l) or len(l.get("excerpt", "")) <= 120,
              "excerpt bound")
        # an HTTP-trigger event (API Gateway HTTP API) gets a 403 proxy response
        ev = {"version": "2.0", "routeKey": "GET /files", "rawPath": "/files",
              "rawQueryString": "name=x%3B%20cat%20%2Fetc%2Fpasswd",
              "headers": {"host": "example.com"},
              "queryStringParameters": {"name": "x; cat /etc/passwd"},
              "requestContext": {"http": {"method": "GET", "path": "/files",
                                          "sourceIp": "1.2.3.4"}, "requestId": "abc",
                                 "stage": "$default"},
              "isBase64Encoded": False}
        a = env.sim.invoke(ev)
        r = a.json()
        check(r["statusCode"] == 403 and r["headers"]["Content-Type"] == "application/json",
              "http deny %r" % r)
        check(json.loads(r["body"]) == {"message": "Security Violation..."}, "body %r" % r)
        # the runtime was never given either event: the next clean one is answered by it
        a = env.sim.invoke({"name": "Ada"})
        check(a.json()["greeting"] == "hello Ada", "clean after deny %r" % a)
    finally:
        env.close()


def test_out_rule():
    """scenario 3: a function leaking an AWS secret key → denied by an out rule, no secret in logs"""
    env = Env("out", os.path.join(FUNCS, "leaky"))
    try:
        a = env.sim.invoke({"name": "Ada"})
        check(a.kind == "response" and a.json() == "Security Violation...", "got %r" % a)
        lines = env.log_lines("Out Rule violation for")
        check(lines, "no Out Rule violation line")
        check(all(l.get("request_id") for l in lines), "request id missing")
        check(SECRET not in env.log() and AKID not in env.log(), "a secret reached the log")
        # the response to an HTTP-trigger event that passed the in rules gets the HTTP deny
        # answer (a bare string would be a malformed proxy response: API Gateway answers 502)
        ev = {"version": "2.0", "routeKey": "GET /x", "rawPath": "/x", "rawQueryString": "",
              "headers": {"host": "example.com"}, "isBase64Encoded": False,
              "requestContext": {"http": {"method": "GET", "path": "/x", "sourceIp": "1.2.3.4"},
                                 "requestId": "abc", "stage": "$default"}, "name": "Ada"}
        r = env.sim.invoke(ev).json()
        check(isinstance(r, dict) and r.get("statusCode") == 403 and
              json.loads(r["body"]) == {"message": "Security Violation..."},
              "HTTP event, response denied: %r" % r)
    finally:
        env.close()


def test_clean_passes():
    """scenario 4: a clean invocation passes through unchanged, every header included"""
    env = Env("clean", os.path.join(FUNCS, "clean"),
              extra_next_headers={"Lambda-Runtime-Zz-Unusual": "keep me, 42"})
    try:
        rid = env.sim.submit({"name": "Ada"})
        a = env.sim.wait(rid)
        want = json.dumps({"greeting": "hello Ada", "request_id": rid}).encode()
        check(a.kind == "response" and a.body == want, "body %r" % a.body)
        check(not env.log_lines("violation"), "noise in the log: %s" % env.log())
        noisy = [l for l in env.log().splitlines()
                 if '"component":"guard"' in l and ('"level":"warn"' in l or '"level":"error"' in l)]
        check(not noisy, "warnings on normal operation: %s" % noisy)
        for ev in ({"name": "Bob"}, {"name": "Cy"}):
            check(env.sim.invoke(ev).kind == "response", "a clean invocation failed")
        check(env.sim.shutdown() == 0, "the extension did not exit 0 on SHUTDOWN")
        # the shutdown line reports the guard's own time on the invocations' path
        down = env.log_lines("protectlambda shutting down")
        check(len(down) == 1 and down[0]["invocations"] >= 3, "shutdown line %r" % down)
        d = down[0]
        for side in ("event", "response"):
            p50, p99 = d.get("proxy_%s_us_p50" % side), d.get("proxy_%s_us_p99" % side)
            check(isinstance(p50, (int, float)) and isinstance(p99, (int, float)) and
                  0 < p50 <= p99 < 1e6, "own time of the %s path: %r" % (side, d))
    finally:
        env.close()


def test_monitor_mode():
    """monitor: same log line, the invocation passes"""
    env = Env("monitor", os.path.join(FUNCS, "clean"), env={"PROTECTLAMBDA_MODE": "monitor"})
    try:
        a = env.sim.invoke(CMDI_EVENT)
        check(a.kind == "response" and a.json()["greeting"] == "hello x; cat /etc/passwd",
              "monitor mode must pass: %r" % a)
        lines = env.log_lines("In Rule violation for")
        check(lines and lines[0]["action"] == "log" and lines[0]["mode"] == "monitor",
              "line %r" % lines)
    finally:
        env.close()


def test_fail_closed():
    """a broken rules file: the guard still serves and denies every invocation"""
    tmp = tempfile.mkdtemp(prefix="pl-broken-")
    bad = os.path.join(tmp, "in_protect.txt")
    with open(bad, "w") as f:
        f.write("(unclosed\n")
    env = Env("failclosed", os.path.join(FUNCS, "clean"), env={"PROTECTLAMBDA_RULES": bad})
    try:
        for ev in ({"name": "Ada"}, {"name": "Bob"}):
            a = env.sim.invoke(ev)
            check(a.json() == "Security Violation...", "not denied: %r" % a)
        check(env.log_lines("rules failed to load"), "no clear log line")
        check(env.log_lines("in_protect.txt:1: pattern '(unclosed' does not compile"),
              "the log line names the pattern's file:line (no rules.db: compiled, validated)")
        check(len(env.log_lines("Invocation denied")) == 2, "one line per denied invocation")
    finally:
        env.close()
    # the same with a rules.db of the packs alone (stale for packs + the bad file): the packs'
    # patterns are validated only when rules.db cannot stand for it, and it cannot here
    db = os.path.join(tmp, "rules.db")
    import subprocess
    subprocess.run([PL_BIN, "compile", "-q", "-o", db], check=True,
                   env=dict(os.environ, PROTECTLAMBDA_RULES_DIR=RULES))
    env = Env("failclosed-db", os.path.join(FUNCS, "clean"),
              env={"PROTECTLAMBDA_RULES": bad, "PROTECTLAMBDA_RULES_DB": db})
    try:
        a = env.sim.invoke({"name": "Ada"})
        check(a.json() == "Security Violation...", "stale rules.db, bad rule: not denied: %r" % a)
        check(env.log_lines("in_protect.txt:1: pattern '(unclosed' does not compile"),
              "stale rules.db, bad rule: no file:line log line")
    finally:
        env.close()
        shutil.rmtree(tmp, ignore_errors=True)
    # a bad setting: the guard still serves, with defaults, denying every invocation
    env = Env("badsetting", os.path.join(FUNCS, "clean"), env={"PROTECTLAMBDA_MAX_DEPTH": "many"})
    try:
        a = env.sim.invoke({"name": "Ada"})
        check(a.json() == "Security Violation...", "bad setting not denied: %r" % a)
        check([l for l in env.log().splitlines() if "PROTECTLAMBDA_MAX_DEPTH" in l],
              "the bad setting is not named in the log")
    finally:
        env.close()


def test_big_payloads():
    """a 6 MB event and a 6 MB response pass whole"""
    tmp = tempfile.mkdtemp(prefix="pl-big-")
    fn = function_dir(tmp, {"app.py": "def handler(event, context):\n"
                                      "    return {'n': len(event['blob']), 'blob': event['blob']}\n"})
    env = Env("big", fn)
    try:
        blob = ("abcdefghij" * 629000)[:6 * 1024 * 1024 - 100]
        ev = {"blob": blob}
        check(len(json.dumps(ev)) <= 6 * 1024 * 1024, "event size")
        a = env.sim.invoke(ev, timeout=60)
        r = a.json()
        check(r["n"] == len(blob) and r["blob"] == blob, "big payload changed")
    finally:
        env.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_many_invocations():
    """1,000 invocations in a row: every request id answered exactly once"""
    env = Env("many", os.path.join(FUNCS, "clean"))
    try:
        denied = 0
        for i in range(1000):
            attack = i % 50 == 7
            rid = env.sim.submit(CMDI_EVENT if attack else {"name": "n%d" % i})
            a = env.sim.wait(rid)
            if attack:
                check(a.json() == "Security Violation...", "attack %d passed" % i)
                denied += 1
            else:
                check(a.json()["request_id"] == rid, "wrong answer for %d" % i)
        time.sleep(0.2)
        with env.sim.lock:
            counts = [len(v) for v in env.sim.answers.values()]
        check(len(counts) == 1000 and all(c == 1 for c in counts),
              "answers per id: %r" % sorted(set(counts)))
        check(denied == 20, "denied %d" % denied)
    finally:
        env.close()


SLEEPY_FN = """import time


def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"n": event.get("n"), "request_id": context.aws_request_id}
"""


def test_spin():
    """spin_us on: the proxy polls for answers that come fast and sleeps for slow ones; every
    answer still arrives once and intact, attacks are still denied, in both regimes"""
    tmp = tempfile.mkdtemp(prefix="pl-guard-spin-")
    # not co-located (colocate=auto would put the runtime on the proxy's CPU for this 128 MB
    # function, and then polling is off: it would take the runtime's CPU)
    env = Env("spin", function_dir(tmp, {"app.py": SLEEPY_FN}),
              env={"PROTECTLAMBDA_SPIN_US": "2000", "PROTECTLAMBDA_LOG_LEVEL": "debug",
                   "PROTECTLAMBDA_COLOCATE": "off"})
    try:
        plan = ([0] * 30 + [0.05] * 3 + [0] * 40 + [0.003] * 10 + [0] * 10)
        for i, sleep in enumerate(plan):
            if i % 9 == 4:
                rid = env.sim.submit(CMDI_EVENT)
                check(env.sim.wait(rid).json() == "Security Violation...", "attack %d passed" % i)
            rid = env.sim.submit({"n": i, "sleep": sleep})
            a = env.sim.wait(rid)
            check(a.kind == "response" and a.json() == {"n": i, "request_id": rid},
                  "invocation %d (sleep %s): %r" % (i, sleep, a.body[:200]))
        with env.sim.lock:
            counts = [len(v) for v in env.sim.answers.values()]
        check(all(c == 1 for c in counts), "answers per id: %r" % sorted(set(counts)))
        off = env.log_lines("spin_us off")
        check(not off or os.cpu_count() < 2, "spin_us switched off on %d CPUs: %r"
              % (os.cpu_count(), off))
    finally:
        env.close()
        shutil.rmtree(tmp, ignore_errors=True)


AFFINITY_FN = r"""import os, subprocess, tempfile, threading
def _list(text):
    out = []
    for part in text.strip().split(","):
        a, _, b = part.partition("-")
        out += range(int(a), int(b or a) + 1)
    return out
def _child_cpus(cmd):
    return _list([l for l in subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()
                  if l.startswith("Cpus_allowed_list:")][0].split(":", 1)[1])
def handler(event, context):
    main = sorted(os.sched_getaffinity(0))
    box = []
    t = threading.Thread(target=lambda: box.append(sorted(os.sched_getaffinity(0))))
    t.start(); t.join()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, ",".join(map(str, sorted(os.sched_getaffinity(0)))).encode()); os._exit(0)
    os.waitpid(pid, 0); os.close(w)
    forked = _list(os.read(r, 100).decode()); os.close(r)
    spawned = _child_cpus(["cat", "/proc/self/status"])
    out = tempfile.mktemp()
    os.system("grep Cpus_allowed_list /proc/$$/status > " + out)  # the shell's own
    shell = _list(open(out).read().split(":", 1)[1]); os.unlink(out)
    out2 = tempfile.mktemp()
    fd = os.open(out2, os.O_WRONLY | os.O_CREAT, 0o600)
    p = os.posix_spawn("/bin/grep", ["grep", "Cpus_allowed_list", "/proc/self/status"], os.environ,
                       file_actions=[(os.POSIX_SPAWN_DUP2, fd, 1)])
    os.waitpid(p, 0); os.close(fd)
    spawn = _list(open(out2).read().split(":", 1)[1]); os.unlink(out2)
    # a program that sets its own mask keeps it (taskset execs grep on that CPU)
    last = max(os.sched_getaffinity(0))
    own = _child_cpus(["taskset", "-c", str(last), "grep", "Cpus_allowed_list", "/proc/self/status"])
    return {"cpus": main, "thread": box[0], "fork": forked, "subprocess": spawned, "own": own,
            "system": shell, "posix_spawn": spawn, "after": sorted(os.sched_getaffinity(0)),
            "pid": os.getpid()}
"""


def _thread_cpus(pid, names=None):
    """{tid: Cpus_allowed_list} of a process's threads (names: {tid: thread name} filled)"""
    out = {}
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open(os.path.join(base, tid, "status")) as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        out[int(tid)] = line.split(":", 1)[1].strip()
                    elif line.startswith("Name:") and names is not None:
                        names[int(tid)] = line.split(":", 1)[1].strip()
        except OSError:
            pass
    return out


def _cpu_list(text):
    """"0-2,5" -> [0, 1, 2, 5]"""
    cpus = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        cpus.extend(range(int(a), int(b or a) + 1))
    return cpus


def _check_denies(env, name):
    """co-located or not, an attack is still denied"""
    check(env.sim.invoke(CMDI_EVENT).json() == "Security Violation...",
          "%s: an attack passed" % name)


def test_colocate():
    """colocate=auto with the monitor on: the runtime's hand-off threads at most one vCPU of
    time (Lambda: memory up to 1,769 MB), its main thread alone above — for the Python loop the
    same thread, which the monitor library pins to the highest CPU of the sandbox's, the proxy
    thread serving it on the same one; a thread it starts, a fork child, subprocess, os.system
    and posix_spawn children keep every CPU, and the main thread is back on its CPU after each.
    The monitor off: the whole runtime at most one vCPU of time, nothing above. colocate=off
    keeps every CPU, on pins the whole runtime; attacks are denied either way"""
    mine = sorted(os.sched_getaffinity(0))
    two = len(mine) >= 2
    tmp = tempfile.mkdtemp(prefix="pl-guard-colocate-")
    fn = function_dir(tmp, {"app.py": AFFINITY_FN})
    big = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008"}
    off = {"PROTECTLAMBDA_MONITOR": "false"}
    # name, environment, scope: "whole" (every thread and child on the CPU), "handoff",
    # "main" (for this runtime the same threads: the log names which), None
    cases = [("128 MB, auto", {}, "handoff" if two else None),
             ("3008 MB, auto", big, "main" if two else None),
             ("128 MB, auto, monitor off", off, "whole" if two else None),
             ("3008 MB, auto, monitor off", dict(big, **off), None),
             ("128 MB, off", {"PROTECTLAMBDA_COLOCATE": "off"}, None),
             ("3008 MB, on", dict(big, PROTECTLAMBDA_COLOCATE="on"), "whole" if two else None),
             ("3008 MB, main", dict(big, PROTECTLAMBDA_COLOCATE="main"), "main" if two else None),
             ("3008 MB, handoff", dict(big, PROTECTLAMBDA_COLOCATE="handoff"),
              "handoff" if two else None),
             ("128 MB, main, monitor off", dict(off, PROTECTLAMBDA_COLOCATE="main"), None)]
    try:
        for name, extra, scope in cases:
            # the function starts processes on purpose: the code rules would deny it
            env = Env("colocate", fn, env=dict(extra, PROTECTLAMBDA_CODE_SCAN="false"))
            try:
                a = env.sim.invoke({"x": 1})
                check(a.kind == "response", "%s: %r" % (name, a.body[:200]))
                got = a.json()
                check(isinstance(got, dict), "%s: answered %r" % (name, got))
                one = [mine[-1]]
                want_main = one if scope else mine
                want_rest = one if scope == "whole" else mine
                check(got["cpus"] == want_main and got["after"] == want_main,
                      "%s: the runtime's main thread runs on %r (after children: %r), want %r"
                      % (name, got["cpus"], got["after"], want_main))
                for k in ("thread", "fork", "subprocess", "system", "posix_spawn"):
                    check(got[k] == want_rest, "%s: %s runs on %r, want %r"
                          % (name, k, got[k], want_rest))
                check(got["own"] == [mine[-1]], "%s: `taskset -c %d` ran on %r"
                      % (name, mine[-1], got["own"]))
                guard_pid = env.sim.procs[0].pid
                names = {}
                threads = _thread_cpus(guard_pid, names)
                on_one = [t for t, c in threads.items() if c == str(mine[-1])]
                lines = env.log_lines("colocate: proxy and")
                if scope:
                    # the proxy's connection thread for this runtime, and only that kind
                    check(on_one and len(on_one) < len(threads),
                          "%s: guard threads %r" % (name, threads))
                    # and the guard's own threads keep off the runtime's CPU (its cold-start
                    # work beside the starting runtime, its background work out of its way)
                    others = {names.get(t): c for t, c in threads.items()
                              if names.get(t) != "pl-proxy-conn"}
                    check(all(mine[-1] not in _cpu_list(c) for c in others.values()) and
                          all(names.get(t) == "pl-proxy-conn" for t in on_one),
                          "%s: guard threads on the runtime's CPU %d: %r" % (name, mine[-1], others))
                    what = {"handoff": "the runtime's hand-off threads",
                            "main": "the runtime's main thread"}.get(scope, "runtime")
                    check(len(lines) == 1 and ("proxy and %s on CPU %d" % (what, mine[-1]))
                          in lines[0]["msg"], "%s: log %r" % (name, lines))
                else:
                    check(len(set(threads.values())) == 1 and not lines,
                          "%s: not co-located, yet %r / %r" % (name, threads, lines))
                _check_denies(env, name)
            finally:
                env.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_colocate_handoff():
    """colocate=auto, the monitor on, aws-lambda-ric at 128 MB: the runtime asks for the next
    event from a libuv pool thread, not the main thread. The hand-off threads (the main thread
    and each thread that received on the Runtime API connection) run on the proxy's CPU; the
    other threads (V8's GC and compiler workers) keep every CPU: pinned with the rest, their
    parallel work queued on one CPU and the main thread waited for it (docs/performance.md,
    session 11). At 3,008 MB the main thread, and a pool thread only while it waits for the next
    event (the pool may run the function's parallel work). The monitor off, 128 MB: the whole
    runtime is pinned (every thread)"""
    mine = sorted(os.sched_getaffinity(0))
    if len(mine) < 2:
        print("(one CPU: nothing to co-locate; skipped)")
        return
    if not os.path.exists(RIC):
        raise Fail("aws-lambda-ric is not installed in tests/node_modules (run scripts/setup.sh)")
    one = str(mine[-1])
    tmp = tempfile.mkdtemp(prefix="pl-guard-handoff-")
    fn = function_dir(tmp, {"index.js": NODE_FN})
    try:
        for name, extra in (("128 MB", {}), ("3008 MB", {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008"}),
                            ("128 MB, monitor off", {"PROTECTLAMBDA_MONITOR": "false"})):
            env = Env("handoff", fn, runtime=["node", RIC, "index.handler"],
                      handler="index.handler", env=extra)
            try:
                for i in range(5):
                    check(env.sim.invoke({"name": "n%d" % i}).json()["greeting"] == "hello n%d" % i,
                          "%s: invocation %d" % (name, i))
                pid = env.sim.procs[1].pid
                threads = _thread_cpus(pid)
                pinned = [t for t, c in threads.items() if c == one]
                check(len(threads) > 3, "%s: node has threads %r" % (name, threads))
                if "PROTECTLAMBDA_MONITOR" in extra:
                    check(len(pinned) == len(threads),
                          "%s: the whole runtime on CPU %s, yet %r" % (name, one, threads))
                    continue
                check(threads.get(pid) == one, "%s: main thread on %r" % (name, threads.get(pid)))
                if extra:
                    # above one vCPU: the main thread, and a pool thread only from its request
                    # for the next event to the answer: the one waiting now, no other
                    # (its request goes out after the answer to the last invocation: waited for)
                    deadline = time.monotonic() + 5
                    while time.monotonic() < deadline:
                        threads = _thread_cpus(pid)
                        others = [t for t, c in threads.items() if c == one and t != pid]
                        if others:
                            break
                        time.sleep(0.02)
                    check(len(others) == 1, "%s: want the main thread and the one thread "
                          "waiting for the next event on CPU %s: %r" % (name, one, threads))
                    continue
                # a libuv pool thread that received the next event
                check(any(t != pid for t in pinned),
                      "%s: no thread but the main one on CPU %s: %r" % (name, one, threads))
                wide = [t for t, c in threads.items() if _cpu_list(c) == mine]
                check(wide,
                      "%s: no thread keeps every CPU (V8's workers pinned too): %r" % (name, threads))
                _check_denies(env, name)
            finally:
                env.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _raw_runtime(env, fn):
    """act as a custom runtime speaking raw HTTP/1.1 to the proxy"""
    c = http.client.HTTPConnection("127.0.0.1", env.sim.proxy_port, timeout=30)
    try:
        return fn(c)
    finally:
        c.close()


def test_headers_pass():
    """every Lambda-Runtime-* header passes unchanged, both ways"""
    env = Env("headers", os.path.join(FUNCS, "clean"), runtime=["sleep", "60"],
              extra_next_headers={"Lambda-Runtime-Zz-Unusual": "keep me, 42",
                                  "Lambda-Runtime-Client-Context": '{"custom":{"a":"b"}}',
                                  "Lambda-Runtime-Cognito-Identity": '{"cognitoIdentityId":"x"}'})
    try:
        rid = env.sim.submit({"name": "Ada"})

        def run(c):
            c.request("GET", "/2018-06-01/runtime/invocation/next")
            r = c.getresponse()
            body = r.read()
            h = {k.lower(): v for k, v in r.getheaders()}
            check(h.get("lambda-runtime-aws-request-id") == rid, "request id header %r" % h)
            check(h.get("lambda-runtime-zz-unusual") == "keep me, 42", "unusual header lost %r" % h)
            check(h.get("lambda-runtime-client-context") == '{"custom":{"a":"b"}}', "cc %r" % h)
            for k in ("lambda-runtime-deadline-ms", "lambda-runtime-invoked-function-arn",
                      "lambda-runtime-trace-id", "lambda-runtime-cognito-identity"):
                check(k in h, "%s lost" % k)
            check(json.loads(body) == {"name": "Ada"}, "event changed")
            c.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid, body=b'"ok"',
                      headers={"Lambda-Runtime-Yy-Unusual": "from the runtime",
                               "Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            check(r.status == 202, "status %d" % r.status)
            # unknown paths pass through (the simulator answers 404 with its own body)
            c.request("GET", "/2018-06-01/runtime/something/else")
            r = c.getresponse()
            check(r.status == 404 and b"not found" in r.read(), "unknown path not proxied")
        _raw_runtime(env, run)
        a = env.sim.wait(rid)
        check(a.body == b'"ok"' and a.headers.get("lambda-runtime-yy-unusual") == "from the runtime",
              "runtime header lost %r" % a.headers)
        # Expect: 100-continue (curl sends it for bodies over 1 MB): answered by the proxy
        rid = env.sim.submit({"name": "Bob"})
        sk = socket.create_connection(("127.0.0.1", env.sim.proxy_port), timeout=10)
        try:
            sk.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
            buf = b""
            while b'"Bob"}' not in buf:
                buf += sk.recv(65536)
            body = b'"expect ok"'
            sk.sendall(b"POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\n"
                       b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % (rid.encode(), len(body)))
            sk.settimeout(0.5)
            got = sk.recv(4096)
            check(got.startswith(b"HTTP/1.1 100"), "no 100 Continue: %r" % got)
            sk.settimeout(10)
            sk.sendall(body)
            got = sk.recv(4096)
            check(b" 202 " in got.split(b"\r\n")[0], "final answer %r" % got)
        finally:
            sk.close()
        a = env.sim.wait(rid)
        check(a.body == b'"expect ok"' and "expect" not in a.headers, "expect forwarded %r" % a.headers)
    finally:
        env.close()


def _post_stream(c, rid, chunks, delay=0.05):
    c.putrequest("POST", "/2018-06-01/runtime/invocation/%s/response" % rid)
    c.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    c.putheader("Transfer-Encoding", "chunked")
    c.putheader("Content-Type", "application/octet-stream")
    c.putheader("Trailer", "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body")
    c.endheaders()
    for ch in chunks:
        c.send(b"%x\r\n%s\r\n" % (len(ch), ch))
        time.sleep(delay)
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    r.read()
    return r.status


def test_stream_split_secret():
    """a streamed response with a secret split across two chunks is caught, and no part leaves"""
    env = Env("stream", os.path.join(FUNCS, "clean"), runtime=["sleep", "60"])
    try:
        def run(c):
            out = []
            for chunks in ([b"part one, ", b"part two"],
                           [b"x" * 1000 + b'{"aws_secret_access_key":"' + SECRET[:20].encode(),
                            SECRET[20:].encode() + b'"} and more text after it']):
                rid = env.sim.submit({"name": "s"})
                c.request("GET", "/2018-06-01/runtime/invocation/next")
                r = c.getresponse()
                r.read()
                check(r.getheader("Lambda-Runtime-Aws-Request-Id") == rid, "next")
                check(_post_stream(c, rid, chunks) == 202, "stream post")
                out.append(env.sim.wait(rid))
            return out
        clean, leak = _raw_runtime(env, run)
        check(clean.kind == "response" and clean.body == b"part one, part two", "clean %r" % clean)
        check(leak.kind == "error", "the leaking stream must end in error: %r" % leak)
        check(leak.trailers.get("lambda-runtime-function-error-type") == "SecurityViolation",
              "trailers %r" % leak.trailers)
        check(SECRET[:8].encode() not in leak.body and SECRET[-8:].encode() not in leak.body,
              "a part of the secret left: %r" % leak.body[-80:])
        check(env.log_lines("Out Rule violation for"), "no log line")
    finally:
        env.close()


def test_shell_runtime():
    """the shell custom runtime (curl loop) through the guard"""
    env = Env("shell", os.path.join(FUNCS, "shell-echo"), runtime=SHELL_RUNTIME,
              handler="function.handler")
    try:
        a = env.sim.invoke({"name": "Ada"})
        check(a.json() == {"echo": {"name": "Ada"}}, "shell echo %r" % a)
        a = env.sim.invoke(CMDI_EVENT)
        check(a.json() == "Security Violation...", "shell attack %r" % a)
        a = env.sim.invoke({"name": "Bob"})
        check(a.json() == {"echo": {"name": "Bob"}}, "shell after deny %r" % a)
        big = {"blob": "b" * 50000}
        a = env.sim.invoke(big)
        check(a.json() == {"echo": big}, "shell big echo")
    finally:
        env.close()


def test_early_runtime():
    """Lambda starts the runtime once the extension has registered, while the guard still loads
    rules and scans the code: the runtime's first GET /next must wait for the guard (the proxy
    socket already listens), not be refused, and no event may pass uninspected meanwhile"""
    tmp = tempfile.mkdtemp(prefix="pl-early-")
    fn = function_dir(tmp, {"function.sh": open(os.path.join(FUNCS, "shell-echo/function.sh")).read()})
    # a function package big enough that the guard's cold-start code scan outlasts the shell
    # runtime's start (a few ms): 3,000 modules of ordinary code
    lib = os.path.join(fn, "lib")
    os.makedirs(lib)
    body = "".join("def f%d(x):\n    return x * %d + len(str(x))\n\n" % (i, i) for i in range(60))
    for i in range(3000):
        with open(os.path.join(lib, "m%04d.py" % i), "w") as f:
            f.write(body)
    env = Env("early", fn, runtime=SHELL_RUNTIME, handler="function.handler")
    try:
        rid = env.sim.submit(CMDI_EVENT)  # queued before the guard is ready
        a = env.sim.wait(rid)
        check(a.json() == "Security Violation...", "attack queued during init: %r" % a)
        a = env.sim.invoke({"name": "Ada"})
        check(a.json() == {"echo": {"name": "Ada"}}, "clean event %r" % a)
        ready = env.sim.ext_ready_time
        check(ready is not None and env.sim.runtime_start < ready,
              "the runtime did not start before the guard was ready (start %.3f, ready %r): "
              "the scenario was not exercised" % (env.sim.runtime_start, ready))
        check(env.sim.first_next_time >= env.sim.runtime_start, "first GET /next")
        check("Failed to connect" not in env.log(), "the runtime's connection was refused")
    finally:
        env.close()
        shutil.rmtree(tmp, ignore_errors=True)


NODE_FN = r"""
exports.handler = async (event, context) => {
  if (event.leak) return { key: "%(akid)s", secret: "%(secret)s" };
  return { greeting: "hello " + event.name, id: context.awsRequestId };
};
exports.stream = awslambda.streamifyResponse(async (event, responseStream, context) => {
  responseStream.setContentType("text/plain");
  responseStream.write(event.first);
  await new Promise((r) => setTimeout(r, 100));
  responseStream.write(event.second);
  responseStream.end();
});
""" % {"akid": AKID, "secret": SECRET}


def test_ric():
    """AWS's Node.js runtime interface client (aws-lambda-ric), a strict judge"""
    if not os.path.exists(RIC):
        raise Fail("aws-lambda-ric is not installed in tests/node_modules (run scripts/setup.sh)")
    tmp = tempfile.mkdtemp(prefix="pl-ric-")
    fn = function_dir(tmp, {"index.js": NODE_FN})
    try:
        for handler in ("index.handler", "index.stream"):
            env = Env("ric", fn, runtime=["node", RIC, handler], handler=handler)
            try:
                if handler == "index.handler":
                    rid = env.sim.submit({"name": "Ada"})
                    a = env.sim.wait(rid)
                    check(a.json() == {"greeting": "hello Ada", "id": rid}, "ric clean %r" % a)
                    a = env.sim.invoke(CMDI_EVENT)
                    check(a.json() == "Security Violation...", "ric attack %r" % a)
                    a = env.sim.invoke({"leak": True})
                    check(a.json() == "Security Violation...", "ric leak %r" % a)
                    a = env.sim.invoke({"name": "Bob"})
                    check(a.json()["greeting"] == "hello Bob", "ric after denies %r" % a)
                else:
                    a = env.sim.invoke({"first": "hello ", "second": "stream"})
                    check(a.kind == "response" and a.body == b"hello stream", "ric stream %r" % a)
                    a = env.sim.invoke({"first": "aws_secret_access_key=" + SECRET[:20],
                                        "second": SECRET[20:]})
                    check(a.kind == "error" and SECRET[:8].encode() not in a.body,
                          "ric split secret %r" % a)
            finally:
                env.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_shutdown():
    """SHUTDOWN: the guard flushes, logs a final line and exits 0 quickly"""
    env = Env("shutdown", os.path.join(FUNCS, "clean"))
    a = env.sim.invoke({"name": "Ada"})
    check(a.json()["greeting"] == "hello Ada", "invoke")
    t0 = time.monotonic()
    rc = env.sim.shutdown()
    took = time.monotonic() - t0
    log = env.log()
    env.sim.stop()
    shutil.rmtree(env.tmp, ignore_errors=True)
    check(rc == 0, "exit code %r" % rc)
    check(took < 2.0, "shutdown took %.2fs" % took)
    check("shutting down" in log, "no final line")


def test_layer():
    """make layer: glibc <= 2.34, nothing outside glibc + lib/, and a protected function runs
    through the unpacked layer (extension stub, wrapper, rules.db)"""
    import subprocess
    import zipfile
    build = os.environ.get("PL_BUILD_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(PL_BIN)))
    tmp = tempfile.mkdtemp(prefix="pl-layer-")
    try:
        z = os.path.join(tmp, "layer.zip")
        r = subprocess.run(["bash", os.path.join(SRC, "packaging/make-layer.sh"), build, z],
                           capture_output=True, text=True,
                           env=dict(os.environ, PL_LAYER_NO_BUILD="1"))
        check(r.returncode == 0, "make-layer.sh failed: %s%s" % (r.stdout, r.stderr))
        opt = os.path.join(tmp, "opt")
        with zipfile.ZipFile(z) as zf:
            names = zf.namelist()
            for want in ("extensions/protectlambda", "protectlambda/wrapper",
                         "protectlambda/bin/protectlambda", "protectlambda/rules.db"):
                check(want in names, "%s missing from the layer" % want)
            check(any(n.startswith("protectlambda/rules/") and n.endswith(".yaml") for n in names),
                  "no default rule packs")
        # unzip with the command line tool: it keeps the executable bits
        subprocess.run(["unzip", "-q", z, "-d", opt], check=True)
        binp = os.path.join(opt, "protectlambda/bin/protectlambda")
        libdir = os.path.join(opt, "protectlambda/lib")
        wrapb = os.path.join(opt, "protectlambda/bin/protectlambda-wrap")
        check(os.access(wrapb, os.X_OK), "bin/protectlambda-wrap missing")
        files = [binp, wrapb] + [os.path.join(libdir, f) for f in os.listdir(libdir)
                                 if ".so" in f]
        for f in files:
            out = subprocess.run(["objdump", "-T", f], capture_output=True, text=True).stdout
            vers = set(re.findall(r"GLIBC_(\d+)\.(\d+)", out))
            bad = sorted("GLIBC_%s.%s" % v for v in vers if (int(v[0]), int(v[1])) > (2, 34))
            check(not bad, "%s needs %s" % (os.path.basename(f), bad))
        ldd = subprocess.run(["ldd", binp], capture_output=True, text=True).stdout
        ldd += subprocess.run(["ldd", wrapb], capture_output=True, text=True).stdout
        for line in ldd.splitlines():
            line = line.strip()
            name = line.split()[0]
            parts = line.split("=>")
            where = parts[1].split("(")[0].strip() if len(parts) > 1 else ""
            in_lib = where and os.path.realpath(where).startswith(os.path.realpath(libdir))
            ok = re.match(r"(linux-vdso|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|"
                          r"ld-linux|/lib64/ld-linux|libresolv\.so)", name) or in_lib
            check(ok, "the layer binary needs %s outside glibc and lib/" % line)
        # the wrapper is the wrap program itself (no shell between Lambda and the runtime),
        # and finds the layer's monitor library and Python adapter from where it is
        wrapper = os.path.join(opt, "protectlambda/wrapper")
        with open(wrapper, "rb") as f:
            check(f.read(4) == b"\x7fELF", "protectlambda/wrapper is not a program")
        r = subprocess.run([wrapper, "/usr/bin/env"], capture_output=True, text=True,
                           env=dict(os.environ, AWS_LAMBDA_RUNTIME_API="127.0.0.1:9001",
                                    PROTECTLAMBDA_PORT="9119"))
        got = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)
        check(r.returncode == 0 and got.get("AWS_LAMBDA_RUNTIME_API") == "127.0.0.1:9119" and
              got.get("PROTECTLAMBDA_UPSTREAM") == "127.0.0.1:9001" and
              os.path.join(opt, "protectlambda/lib/libprotectlambda_monitor.so") in
              got.get("LD_PRELOAD", "") and
              os.path.join(opt, "protectlambda/adapters/python") in got.get("PYTHONPATH", ""),
              "the layer's wrapper running env: %s %s" % (r.returncode, r.stderr[-300:]))
        # run a function through the layer exactly as Lambda would
        env = Env("layer", os.path.join(FUNCS, "clean"),
                  env={"PROTECTLAMBDA_RULES_DIR": os.path.join(opt, "protectlambda/rules"),
                       "PROTECTLAMBDA_RULES_DB": os.path.join(opt, "protectlambda/rules.db")},
                  ext_argv=[os.path.join(opt, "extensions/protectlambda")],
                  wrap_argv=[os.path.join(opt, "protectlambda/wrapper")])
        try:
            a = env.sim.invoke({"name": "Ada"})
            check(a.json()["greeting"] == "hello Ada", "layer clean %r" % a)
            a = env.sim.invoke(CMDI_EVENT)
            check(a.json() == "Security Violation...", "layer attack %r" % a)
            check(env.sim.ext_registered[0] == "protectlambda", "extension name")
            check("rules database not used" not in env.log(), "rules.db not loaded: %s" % env.log())
        finally:
            env.close()
        layer_integrity(opt)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _flip_same_size(path, needle):
    """change one byte of `needle` inside the file, keeping its size (only a hash sees it)"""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    i = data.find(needle)
    check(i >= 0, "%r not found in %s" % (needle, path))
    data[i] ^= 0x20
    with open(path, "r+b") as f:
        f.write(data)


def _wait_log(env, needle, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if needle in env.log():
            return True
        time.sleep(0.1)
    return False


def layer_integrity(opt):
    """the layer's manifest at cold start: what the sandbox uses from the start is hashed
    before the first event; the guard's executable and libcurl's libraries after it (idle
    thread) — a same-size change to either is still found, and denies from then on"""
    def run(root, extra=None):
        pl = os.path.join(root, "protectlambda")
        e = {"PROTECTLAMBDA_RULES_DIR": os.path.join(pl, "rules"),
             "PROTECTLAMBDA_RULES_DB": os.path.join(pl, "rules.db"),
             "PROTECTLAMBDA_INTEGRITY_LAYER_MANIFEST": os.path.join(pl, "layer.manifest"),
             "PROTECTLAMBDA_INTEGRITY_LAYER_DIR": pl, "PROTECTLAMBDA_LOG_LEVEL": "info"}
        e.update(extra or {})
        return Env("layer-mf", os.path.join(FUNCS, "clean"), env=e,
                   ext_argv=[os.path.join(root, "extensions/protectlambda")],
                   wrap_argv=[os.path.join(root, "protectlambda/wrapper")])

    # untouched: verified, 2 sets after the cold start
    env = run(opt)
    try:
        a = env.sim.invoke({"name": "Ada"})
        check(a.json()["greeting"] == "hello Ada", "layer with manifest: clean %r" % a)
        log = env.log()
        check("layer verified: " in log and "verified after it (integrity.layer_lazy)" in log,
              "cold start verified the layer, some files left for later: %s" % log[-3000:])
        check(_wait_log(env, "layer (the guard's executable) verified off the cold start") and
              _wait_log(env, "layer (libcurl's libraries) verified off the cold start"),
              "the deferred files verified after the cold start: %s" % env.log()[-3000:])
        a = env.sim.invoke({"name": "Bob"})
        check(a.json()["greeting"] == "hello Bob", "still serving after the deferred check %r" % a)
    finally:
        env.close()
    # integrity.layer_lazy=false: everything at cold start
    env = run(opt, {"PROTECTLAMBDA_INTEGRITY_LAYER_LAZY": "false"})
    try:
        a = env.sim.invoke({"name": "Ada"})
        check(a.json()["greeting"] == "hello Ada", "layer_lazy=false: clean %r" % a)
        check("layer verified: " in env.log() and "verified after it" not in env.log(),
              "layer_lazy=false hashes everything at cold start: %s" % env.log()[-2000:])
    finally:
        env.close()
    # a same-size change to a library libcurl would load, then to the guard's own executable:
    # the cold start passes (sizes match), the deferred check finds it, every event denied
    for what, rel, needle in (("libcurl's libraries", "protectlambda/lib/libz.so.1", b"deflate"),
                              ("the guard's executable", "protectlambda/bin/protectlambda",
                               b"GCC: (Debian")):
        bad = opt + "-bad"
        shutil.rmtree(bad, ignore_errors=True)
        subprocess.run(["cp", "-a", opt, bad], check=True)
        _flip_same_size(os.path.join(bad, rel), needle)
        env = run(bad)
        try:
            found = _wait_log(env, "layer (%s) differs from its manifest" % what)
            check(found and rel.split("/", 1)[1] in env.log(),
                  "changed %s found after the cold start, naming the file: %s"
                  % (rel, env.log()[-3000:]))
            a = env.sim.invoke({"name": "Ada"})
            # denied (deny answer) or the sandbox ended by the CRITICAL playbook (terminate):
            # either way the function's answer never leaves
            check(b"hello Ada" not in a.body and (a.json() == "Security Violation..." or
                                                 b"terminated due to security incident" in a.body),
                  "changed %s: events denied %r" % (rel, a))
        finally:
            env.close()
            shutil.rmtree(bad, ignore_errors=True)
    # libcurl needed before the idle thread got to its libraries (a webhook alert for the first
    # incident): they are hashed first; changed, libcurl is never loaded and nothing is posted
    import http.server
    posted = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            posted.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass
    srv = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    conf = os.path.join(os.path.dirname(opt), "alert.conf")
    with open(conf, "w") as f:
        f.write("playbook.IN_RULE_VIOLATION.* = alert\n")
    hook_env = {"PROTECTLAMBDA_WEBHOOK_URL": "http://127.0.0.1:%d/hook" % srv.server_port,
                "PROTECTLAMBDA_CONFIG": conf}
    try:
        shell = CMDI_EVENT
        env = run(opt, hook_env)  # untouched layer: the alert goes out
        try:
            env.sim.invoke(shell)
            end = time.monotonic() + 10
            while not posted and time.monotonic() < end:
                time.sleep(0.1)
            check(posted, "untouched layer: the webhook alert is posted: %s" % env.log()[-2000:])
        finally:
            env.close()
        del posted[:]
        bad = opt + "-bad"
        shutil.rmtree(bad, ignore_errors=True)
        subprocess.run(["cp", "-a", opt, bad], check=True)
        _flip_same_size(os.path.join(bad, "protectlambda/lib/libcurl.so.4"), b"curl_easy_perform")
        env = run(bad, hook_env)
        try:
            env.sim.invoke(shell)
            check(_wait_log(env, "libcurl.so.4 not loaded"),
                  "changed libcurl: not loaded: %s" % env.log()[-3000:])
            check("layer (libcurl's libraries) differs from its manifest" in env.log(),
                  "changed libcurl: RUNTIME_INTEGRITY_VIOLATION: %s" % env.log()[-3000:])
            time.sleep(0.5)
            check(not posted, "changed libcurl: nothing posted through it: %r" % posted)
        finally:
            env.close()
            shutil.rmtree(bad, ignore_errors=True)
    finally:
        srv.shutdown()


def test_errors_and_redaction():
    """error posts are inspected (stack traces leak), a redact rule rewrites a response, and
    deny_as_error answers a denied event as a function error"""
    tmp = tempfile.mkdtemp(prefix="pl-err-")
    pack = os.path.join(tmp, "redact.yaml")
    with open(pack, "w") as f:
        f.write("name: test-redact\nrules:\n"
                "  - id: T-REDACT-EMAIL\n    target: out\n    category: pii\n"
                "    severity: LOW\n    action: redact\n"
                "    pattern: '[a-z]+@example\\.com'\n")
    fn = function_dir(tmp, {"app.py": (
        "def handler(event, context):\n"
        "    if event.get('fail'):\n"
        "        raise RuntimeError('cannot connect with key %s' % event['fail'])\n"
        "    return {'contact': 'ada@example.com', 'other': 'bob@example.com', 'n': 1}\n")})
    env = Env("errors", fn, env={"PROTECTLAMBDA_RULES": pack})
    try:
        a = env.sim.invoke({"x": 1})
        check(a.kind == "response" and a.json() == {"contact": "[REDACTED]",
                                                     "other": "[REDACTED]", "n": 1},
              "redaction %r" % a)
        a = env.sim.invoke({"fail": AKID})
        check(a.kind == "error" and AKID.encode() not in a.body, "error leaked: %r" % a)
        check(a.json().get("errorType") == "SecurityViolation" and
              a.headers.get("lambda-runtime-function-error-type") == "SecurityViolation",
              "error answer %r %r" % (a.body, a.headers))
        a = env.sim.invoke({"fail": "timeout"})
        check(a.kind == "error" and b"cannot connect with key timeout" in a.body,
              "a clean error must pass unchanged: %r" % a)
    finally:
        env.close()
    env = Env("denyerror", os.path.join(FUNCS, "clean"), env={"PROTECTLAMBDA_DENY_AS_ERROR": "1"})
    try:
        a = env.sim.invoke(CMDI_EVENT)
        check(a.kind == "error" and a.json() == {"errorMessage": "Security Violation...",
                                                 "errorType": "SecurityViolation"},
              "deny_as_error %r" % a)
    finally:
        env.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_terminate():
    """a playbook's terminate: the invocation is denied, then the extension reports exit/error
    to the Extensions API and exits (Lambda discards the sandbox)"""
    tmp = tempfile.mkdtemp(prefix="pl-term-")
    conf = os.path.join(tmp, "pl.conf")
    with open(conf, "w") as f:
        f.write("playbook.IN_RULE_VIOLATION.* = terminate\n")
    env = Env("terminate", os.path.join(FUNCS, "clean"),
              env={"PROTECTLAMBDA_CONFIG": conf, "PROTECTLAMBDA_STORE": "none"})
    try:
        a = env.sim.invoke({"name": "Ada"})
        check(a.json()["greeting"] == "hello Ada", "clean first %r" % a)
        a = env.sim.invoke(CMDI_EVENT)
        check(a.json() == "Security Violation...", "attack %r" % a)
        ext = env.sim.procs[0]
        try:
            rc = ext.wait(10)
        except Exception:
            rc = None
        check(rc == 1, "the extension did not exit after terminate (rc %r)" % rc)
        with env.sim.lock:
            paths = [p for p, _ in env.sim.init_errors]
        check("/2020-01-01/extension/exit/error" in paths, "no exit/error: %r" % paths)
        check("terminated by a security playbook" in env.log(), "no final log line")
    finally:
        env.sim.stop()
        shutil.rmtree(env.tmp, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("test_")}


def main(argv):
    names = argv or list(TESTS)
    passed = failed = 0
    for n in names:
        t0 = time.monotonic()
        try:
            TESTS[n]()
            passed += 1
            print("PASS %s (%.1fs)" % (n, time.monotonic() - t0), flush=True)
        except Exception as e:
            failed += 1
            print("FAIL %s: %s" % (n, e), flush=True)
            if not isinstance(e, Fail):
                traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
