#!/usr/bin/env python3
"""`invoke` / `emulate --layer DIR`: the built layer runs as Lambda runs it (DIR/extensions/*
as the extensions, DIR/protectlambda/wrapper as AWS_LAMBDA_EXEC_WRAPPER, the layer's own
binaries, rules.db and manifest), with real runtimes, on API Gateway events.

  layer           benign events pass, attacks are denied (403 proxy answer), the guard verified
                  the layer against its manifest, the processes are the layer's
  layer_tampered  a copy of the layer with one rule file edited: every invocation denied
  layer_usage     the usage errors of --layer (no layer needed: runs under the sanitizers too)

The layer is built as integration.guard.layer builds it (packaging/make-layer.sh with the
binaries as built, zipped, unzipped with the command line tool, which keeps the modes).

usage: test_layer.py <case>"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emutest import (BIN, PY_RUNTIME, SHELL_RUNTIME, SOURCE, Emulate, check,  # noqa: E402
                     descendants, main, run_invoke, write)

BUILD = os.environ.get("PL_BUILD_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(BIN)))
DENIED = {"statusCode": 403, "headers": {"Content-Type": "application/json"},
          "body": json.dumps({"message": "Security Violation..."}, separators=(",", ":"))}

# an API Gateway (REST, proxy integration) handler that tells what it ran under
PY_FN = r"""
import json, os
def handler(event, context):
    mark = os.environ.get("RAN_MARK")
    if mark:
        open(mark, "a").write(context.aws_request_id + "\n")
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"query": event.get("queryStringParameters"),
                                "preload": os.environ.get("LD_PRELOAD", ""),
                                "wrapper": os.environ.get("AWS_LAMBDA_EXEC_WRAPPER", "")})}
"""

SHELL_FN = r"""
handler () {
  printf '{"echo":%s,"preload":"%s"}' "$1" "$LD_PRELOAD"
}
"""


def apigw(query):
    return {"resource": "/items", "path": "/items", "httpMethod": "GET",
            "headers": {"Accept": "application/json", "User-Agent": "curl/8.5.0"},
            "queryStringParameters": query, "pathParameters": None, "stageVariables": None,
            "requestContext": {"resourcePath": "/items", "httpMethod": "GET", "stage": "prod",
                               "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                               "identity": {"sourceIp": "203.0.113.7"}},
            "body": None, "isBase64Encoded": False}


BENIGN = apigw({"id": "42", "sort": "name"})
ATTACKS = [apigw({"id": "1' OR '1'='1"}),                       # SQL injection
           apigw({"file": "report.pdf; cat /etc/passwd"})]       # command injection


def build_layer(tmp):
    """make-layer.sh with the binaries as built, zipped, unzipped: returns the layer tree"""
    z = os.path.join(tmp, "layer.zip")
    r = subprocess.run(["bash", os.path.join(SOURCE, "packaging/make-layer.sh"), BUILD, z],
                       capture_output=True, text=True, env=dict(os.environ, PL_LAYER_NO_BUILD="1"))
    check(r.returncode == 0, "make-layer.sh failed: %s%s" % (r.stdout, r.stderr))
    opt = os.path.join(tmp, "opt")
    subprocess.run(["unzip", "-q", z, "-d", opt], check=True)
    return opt


def py_fn(tmp):
    fn = os.path.join(tmp, "fn")
    os.makedirs(fn)
    write(os.path.join(fn, "app.py"), PY_FN)
    return fn


def events(tmp, evs):
    args = []
    for i, ev in enumerate(evs):
        args += ["--event", write(os.path.join(tmp, "ev%d.json" % i), json.dumps(ev))]
    return args


def log_msgs(text, component):
    out = []
    for line in text.splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if isinstance(j, dict) and component in (None, j.get("component")):
            out.append(j)
    return out


def check_verified(log, opt):
    manifest = os.path.join(opt, "protectlambda", "layer.manifest")
    ok = [m for m in log_msgs(log, "integrity")
          if m["msg"].startswith("layer verified: ") and manifest in m["msg"]]
    check(ok, "the guard did not verify the layer against %s:\n%s" % (manifest, log[-3000:]))
    check("rules database not used" not in log, "the layer's rules.db was not used:\n" + log[-3000:])


def t_layer(tmp):
    opt = build_layer(tmp)
    lib = os.path.join(opt, "protectlambda", "lib", "libprotectlambda_monitor.so")
    wrapper = os.path.join(opt, "protectlambda", "wrapper")
    # invoke, the Python runtime loop: benign passes, both attacks get the guard's 403 answer
    fn = py_fn(tmp)
    rc, out, err = run_invoke(["--layer", opt, "--function", fn, "--handler", "app.handler",
                               "--runtime", "python3 " + PY_RUNTIME, "--stats"]
                              + events(tmp, [BENIGN] + ATTACKS))
    check(rc == 0, "invoke --layer: rc %d\n%s" % (rc, err[-3000:]))
    lines = [json.loads(x) for x in out.splitlines()]
    check(len(lines) == 3 and lines[0]["statusCode"] == 200, "benign: %r\n%s" % (out, err[-3000:]))
    body = json.loads(lines[0]["body"])
    check(body["query"] == BENIGN["queryStringParameters"], "benign body %r" % body)
    check(body["wrapper"] == wrapper, "AWS_LAMBDA_EXEC_WRAPPER %r, not the layer's" % body["wrapper"])
    check(lib in body["preload"].split(":"), "the layer's monitor is not preloaded: %r" % body)
    for ev, ans in zip(ATTACKS, lines[1:]):
        check(ans == DENIED, "attack %r answered %r" % (ev["queryStringParameters"], ans))
    check(len([m for m in log_msgs(err, "guard") if m["msg"].startswith("In Rule violation")]) >= 2,
          "no In Rule violation lines:\n" + err[-3000:])
    check_verified(err, opt)
    stats = json.loads([x for x in err.splitlines() if x.startswith('{"invocations"')][0])
    check(stats["extensions_registered"] == 1 and stats["responses"] == 3, repr(stats))

    # a rules layer: an in_protect.txt at the layers' root (Lambda's /opt, here the tree) is
    # read as the function's own rules, not some /opt of this machine
    write(os.path.join(opt, "in_protect.txt"), "zz-layer-rule-[0-9]+\n")
    rc, out, err = run_invoke(["--layer", opt, "--function", fn, "--handler", "app.handler",
                               "--runtime", "python3 " + PY_RUNTIME]
                              + events(tmp, [BENIGN, apigw({"q": "zz-layer-rule-42"})]))
    lines = [json.loads(x) for x in out.splitlines()]
    check(rc == 0 and len(lines) == 2 and lines[0]["statusCode"] == 200 and lines[1] == DENIED,
          "the rules layer's in_protect.txt: rc %d %r\n%s" % (rc, out, err[-3000:]))
    check([m for m in log_msgs(err, "guard")
           if m["msg"] == "In Rule violation for zz-layer-rule-[0-9]+"],
          "no In Rule violation line for the layer's rule:\n" + err[-3000:])
    check_verified(err, opt)
    os.unlink(os.path.join(opt, "in_protect.txt"))

    # emulate, the shell runtime: the same, and the guard is the layer's binary
    fn = os.path.join(tmp, "shfn")
    os.makedirs(fn)
    write(os.path.join(fn, "function.sh"), SHELL_FN)
    with Emulate(["--layer", opt, "--function", fn, "--handler", "function.handler",
                  "--runtime", SHELL_RUNTIME]) as em:
        st, _, body = em.invoke(BENIGN)
        j = json.loads(body)
        check(st == 200 and j["echo"] == BENIGN and lib in j["preload"].split(":"),
              "benign through emulate: %d %r\n%s" % (st, body[:300], em.log()))
        for ev in ATTACKS:
            st, _, body = em.invoke(ev)
            check(st == 200 and json.loads(body) == DENIED, "attack: %d %r" % (st, body[:300]))
        exes = set()
        for pid in descendants(em.proc.pid):
            try:
                exes.add(os.readlink("/proc/%d/exe" % pid))
            except OSError:
                pass
        check(os.path.join(opt, "protectlambda", "bin", "protectlambda") in exes,
              "the layer's guard binary is not running: %r" % exes)
        check(os.path.realpath(BIN) not in exes, "the CLI binary runs as a child: %r" % exes)
        s = em.stats()
        check(s["extensions_registered"] == 1 and s["responses"] == 3, repr(s))
        check(em.stop() == 0, "emulate exit code")
        check_verified("\n".join(em.lines), opt)


def t_layer_tampered(tmp):
    """one rule file of a copy of the layer edited after the build: the guard refuses the layer
    at cold start (RUNTIME_INTEGRITY_VIOLATION naming the file) and no invocation reaches the
    function"""
    opt = build_layer(tmp)
    with open(os.path.join(opt, "protectlambda", "rules", "in-sqli.yaml"), "a") as f:
        f.write("# edited after the manifest was made\n")
    fn = py_fn(tmp)
    mark = os.path.join(tmp, "ran")
    base = ["--layer", opt, "--function", fn, "--handler", "app.handler",
            "--runtime", "python3 " + PY_RUNTIME, "--env", "RAN_MARK=" + mark]
    evs = events(tmp, [BENIGN, BENIGN] + ATTACKS)

    def violations(err):
        viol = [m for m in log_msgs(err, None) if m.get("type") == "RUNTIME_INTEGRITY_VIOLATION"]
        check(viol and all("rules/in-sqli.yaml" in m.get("msg", "") for m in viol),
              "no RUNTIME_INTEGRITY_VIOLATION naming in-sqli.yaml:\n" + err[-3000:])

    # the playbook keeps the sandbox serving: every invocation gets the guard's deny answer
    conf = write(os.path.join(tmp, "pl.conf"), "playbook.RUNTIME_INTEGRITY_VIOLATION.* = monitor\n")
    rc, out, err = run_invoke(base + evs + ["--env", "PROTECTLAMBDA_CONFIG=" + conf])
    lines = [json.loads(x) for x in out.splitlines()]
    check(rc == 0 and len(lines) == 4 and all(a == DENIED for a in lines),
          "not every invocation denied (rc %d): %r\n%s" % (rc, out, err[-3000:]))
    check("Invocation denied: RUNTIME_INTEGRITY_VIOLATION: layer differs from its manifest" in err,
          "no deny line for the layer:\n" + err[-3000:])
    violations(err)
    check(not os.path.exists(mark), "the function ran")
    # the default playbook (terminate, as in Lambda): the first invocation is denied, then the
    # sandbox stops serving (in Lambda the function's concurrency is 0): later ones fail
    rc, out, err = run_invoke(base + evs)
    lines = [json.loads(x) for x in out.splitlines()]
    check(rc == 1 and lines and lines[0].get("statusCode") in (403, 503)
          and all("query" not in json.dumps(a) for a in lines),
          "terminate: rc %d %r\n%s" % (rc, out, err[-3000:]))
    check("sandbox of function stops serving" in err, "no terminate:\n" + err[-3000:])
    violations(err)
    check(not os.path.exists(mark), "the function ran")


def t_layer_usage(tmp):
    fn = os.path.join(tmp, "fn")
    os.makedirs(fn)
    write(os.path.join(fn, "function.sh"), SHELL_FN)
    base = ["--function", fn, "--handler", "function.handler", "--runtime", SHELL_RUNTIME]
    # layer-shaped trees missing one part (the wrapper a stub that never runs)
    full = os.path.join(tmp, "full")
    os.makedirs(os.path.join(full, "extensions"))
    os.makedirs(os.path.join(full, "protectlambda"))
    write(os.path.join(full, "protectlambda", "wrapper"), "#!/bin/sh\nexit 1\n", 0o755)
    noext = os.path.join(tmp, "noext")
    shutil.copytree(full, noext)
    os.rmdir(os.path.join(noext, "extensions"))
    nowrap = os.path.join(tmp, "nowrap")
    shutil.copytree(full, nowrap)
    os.unlink(os.path.join(nowrap, "protectlambda", "wrapper"))
    cases = [
        (["--layer", full, "--unprotected"], "--unprotected"),
        (["--unprotected", "--layer", full], "--unprotected"),
        (["--layer", full, "--extensions-dir", os.path.join(full, "extensions")],
         "--extensions-dir"),
        (["--layer", noext], os.path.join(noext, "extensions") + " is missing"),
        (["--layer", nowrap], os.path.join(nowrap, "protectlambda", "wrapper") + " is missing"),
        (["--layer", os.path.join(tmp, "nosuch")], "nosuch is not a directory"),
        (["--layer"], "--layer needs a value"),
    ]
    for cmd in ("invoke", "emulate"):
        for extra, want in cases:
            port = ["--port", "0"] if cmd == "emulate" else []
            p = subprocess.run([BIN, cmd] + port + base + extra,
                               capture_output=True, text=True, timeout=30)
            check(p.returncode == 2, "%s %r: exit %d, not 2\n%s" % (cmd, extra, p.returncode,
                                                                    p.stderr[-2000:]))
            check(p.stderr.startswith("protectlambda %s: " % cmd) and want in p.stderr,
                  "%s %r: message %r does not say %r" % (cmd, extra, p.stderr, want))
        h = subprocess.run([BIN, cmd, "--help"], capture_output=True, text=True, timeout=30)
        check(h.returncode == 0 and "--layer DIR" in h.stdout, "%s --help lacks --layer" % cmd)


TESTS = {
    "layer": t_layer,
    "layer_tampered": t_layer_tampered,
    "layer_usage": t_layer_usage,
}

if __name__ == "__main__":
    sys.exit(main(TESTS))
