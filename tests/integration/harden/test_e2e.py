#!/usr/bin/env python3
"""harden/monitor end to end: `protectlambda invoke` runs a Python function (and a Node.js one
through aws-lambda-ric when it is installed) protected by the guard; the handler runs a
subprocess; the monitor event reaches the guard and shows in its log with the request id.
log: the subprocess runs and the event says action=log; deny: the subprocess fails with
EACCES in the handler, the event says action=deny, and the guard (block mode) answers the
invocation with its deny answer instead of the handler's response."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

PL_BIN = os.environ["PL_BIN"]
SRC = os.environ["PL_SOURCE_DIR"]
ID = shutil.which("id")
failures = []
# the guard drains the monitor's queue before forwarding a response (pl_guard_monitor_drain):
# then every event carries the request id of the invocation in flight
STRICT_ATTRIBUTION = "pl_guard_monitor_drain()" in open(
    os.path.join(SRC, "src/guard/guard.c")).read() if os.path.exists(
    os.path.join(SRC, "src/guard/guard.c")) else False


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, flush=True)
    return cond


PY_APP = '''
import subprocess
def handler(event, context):
    try:
        r = subprocess.run(["%s", "-u"], capture_output=True, text=True)
        return {"ran": True, "out": r.stdout.strip()}
    except PermissionError as e:
        return {"ran": False, "err": str(e)}
''' % ID

NODE_APP = '''
const cp = require('child_process');
exports.handler = async () => new Promise((resolve) => {
  cp.execFile('%s', ['-u'], (err, out) => resolve(err ? {ran: false, err: err.code} : {ran: true, out: out.trim()}));
});
''' % ID


def guard_events(stderr):
    evs = []
    for line in stderr.splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if j.get("component") == "guard" and j.get("type") == "PROCESS_EXECUTION" and \
                j.get("path", "").endswith("/id"):
            evs.append(j)
    return evs


def invoke(fdir, handler, mode, extra=()):
    argv = [PL_BIN, "invoke", "--function", fdir, "--handler", handler,
            "--env", "TMPDIR=" + os.path.dirname(fdir),  # the private temp dir goes there
            "--env", "PROTECTLAMBDA_MONITOR_PROCESS=" + mode,
            "--env", "PROTECTLAMBDA_LOG_LEVEL=info",
            # no default rule packs: a faster cold start; this test is about the monitor
            "--env", "PROTECTLAMBDA_RULES_DIR="] + list(extra)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    out = None
    for line in p.stdout.splitlines():
        try:
            out = json.loads(line)
        except ValueError:
            pass
    return p, out


def run_case(label, fdir, handler, extra=()):
    for mode in ("log", "deny"):
        p, out = invoke(fdir, handler, mode, extra)
        evs = guard_events(p.stderr)
        ok = check(p.returncode == 0 and out is not None,
                   "%s [%s]: invoke rc %d out %r err %s" % (label, mode, p.returncode, p.stdout,
                                                           p.stderr[-800:]))
        if not ok:
            continue
        if mode == "log":
            check(isinstance(out, dict) and out.get("ran") is True,
                  "%s [log]: handler result %r" % (label, out))
        else:
            # the handler saw EACCES, and the guard (mode block) answers the invocation itself
            # with the guard draining monitor events before it forwards a response, the deny
            # event always blocks the invocation in flight
            check(out == "Security Violation..." or (not STRICT_ATTRIBUTION and isinstance(out, dict)
                                                     and out.get("ran") is False),
                  "%s [deny]: answer %r" % (label, out))
        check(evs and evs[0].get("action") == mode and evs[0].get("source") == "monitor",
              "%s [%s]: no monitor event at the guard (%d lines of stderr)" % (
                  label, mode, len(p.stderr.splitlines())))
        if STRICT_ATTRIBUTION:
            check(evs and evs[0].get("request_id"), "%s [%s]: event without request id: %s" % (
                label, mode, evs[:1]))
        print("ok   %s [%s]: %s; guard logged %s %s" % (label, mode, out, evs[0].get("type") if evs else "-",
                                                  evs[0].get("action") if evs else "-"), flush=True)


def main():
    tmp = tempfile.mkdtemp(prefix="pl-harden-e2e-")
    try:
        py = os.path.join(tmp, "py")
        os.mkdir(py)
        with open(os.path.join(py, "app.py"), "w") as f:
            f.write(PY_APP)
        run_case("python function", py, "app.handler")
        ric = os.path.join(SRC, "tests/node_modules/aws-lambda-ric")
        if os.path.isdir(ric):
            js = os.path.join(tmp, "js")
            os.mkdir(js)
            with open(os.path.join(js, "index.js"), "w") as f:
                f.write(NODE_APP)
            run_case("node function (aws-lambda-ric)", js, "index.handler")
        else:
            print("note: tests/node_modules/aws-lambda-ric not installed (scripts/setup.sh): "
                  "Node.js case not run", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
