#!/usr/bin/env python3
"""Quarantine and terminate through the real guard (`protectlambda invoke`: emulator, guard as
an external extension, the Python runtime through the wrapper):
  - a playbook quarantine is answered by the guard (503 JSON) without the handler, in the same
    sandbox and by a NEW guard process using the same store file; --clear lifts it;
  - terminate: PutFunctionConcurrency(0) reaches the local Lambda API endpoint (signature
    checked by aws4), the guard denies and logs its final line."""
import json
import os
import subprocess

from plinc import *

d = tmpdir()
ev = os.path.join(SRC, "examples", "events")
fn = os.path.join(SRC, "examples", "functions", "clean")
rules_db = os.path.join(d, "rules.db")
r = subprocess.run([PL_BIN, "compile", "-q", "-o", rules_db], env=dict(os.environ, PROTECTLAMBDA_RULES_DIR=os.path.join(SRC, "rules")),
                   capture_output=True, text=True, timeout=120)
check(r.returncode == 0, "rules database compiled (cold starts load it)")
conf = os.path.join(d, "pl.conf")
db = os.path.join(d, "store", "incidents.db")
with open(conf, "w") as f:
    f.write("# incidents test\nstore.path = %s\nfunction_name = guard-fn\n"
            "playbook.IN_RULE_VIOLATION.* = block,quarantine,alert\nterminate_remote = false\n" % db)
env = aws_env({"PROTECTLAMBDA_CONFIG": conf})


def invoke(*events, extra_env=()):
    cmd = [PL_BIN, "invoke", "--function", fn, "--handler", "app.handler", "--name", "guard-fn",
           "--env", "PROTECTLAMBDA_RULES_DIR=" + os.path.join(SRC, "rules"),
           "--env", "PROTECTLAMBDA_RULES_DB=" + rules_db, "--env", "PROTECTLAMBDA_CONFIG=" + conf]
    for e in extra_env:
        cmd += ["--env", e]
    for e in events:
        cmd += ["--event", e]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    return r.returncode, [l for l in r.stdout.splitlines() if l.strip()], r.stderr


rc, out, log = invoke(os.path.join(ev, "command-injection.json"), os.path.join(ev, "hello.json"))
check(rc == 0 and len(out) == 2, "sandbox 1: two answers (%s) %s" % (out, log[-800:] if rc else ""))
check("Security Violation" in out[0], "the injection is denied")
q = json.loads(json.loads(out[1])) if out[1].startswith('"') else json.loads(out[1])
body = json.loads(q["body"]) if "body" in q else q
check(body["error"] == "Function quarantined due to security incident" and body["quarantine_reason"] == "IN_RULE_VIOLATION"
      and body["quarantine_timestamp"], "the next invocation is answered with the quarantine JSON")
check("hello Ada" not in out[1], "the handler did not run")

rc, out, log = invoke(os.path.join(ev, "hello.json"))
check(rc == 0 and len(out) == 1 and "Function quarantined due to security incident" in out[0] and "hello Ada" not in out[0],
      "a NEW guard process answers from the stored quarantine: %s" % out)
check("is quarantined" in log and "Invocation denied: quarantined" in log, "the guard logs the quarantine")

r = subprocess.run([PL_BIN, "quarantine", "--clear"], env=env, capture_output=True, text=True)
check(r.returncode == 0, "quarantine --clear")
rc, out, log = invoke(os.path.join(ev, "hello.json"))
check(rc == 0 and len(out) == 1 and "hello Ada" in out[0], "after --clear the handler answers again: %s" % out)

# HTTP trigger: a quarantined API Gateway event gets a 503 proxy response
r = subprocess.run([PL_BIN, "quarantine", "--set", "manual test"], env=env, capture_output=True, text=True)
http_ev = os.path.join(d, "http.json")
json.dump({"httpMethod": "GET", "path": "/", "headers": {}, "requestContext": {"requestId": "r1"}, "body": "hi",
           "isBase64Encoded": False}, open(http_ev, "w"))
rc, out, log = invoke(http_ev)
resp = json.loads(out[0]) if out else {}
check(resp.get("statusCode") == 503 and "Function quarantined" in resp.get("body", ""),
      "HTTP trigger: statusCode 503 with the quarantine JSON body (%s)" % out)
subprocess.run([PL_BIN, "quarantine", "--clear"], env=env, capture_output=True, text=True)

# terminate through the local Lambda API endpoint
slog = os.path.join(d, "aws.jsonl")
srv, port = start_sigv4_server(slog)
with open(conf, "a") as f:
    f.write("playbook.IN_RULE_VIOLATION.* = terminate,alert\nterminate_remote = true\n"
            "lambda_endpoint = http://127.0.0.1:%d\n" % port)
rc, out, log = invoke(os.path.join(ev, "command-injection.json"),
                      extra_env=["AWS_ACCESS_KEY_ID=" + ACCESS_KEY, "AWS_SECRET_ACCESS_KEY=" + SECRET,
                                 "AWS_REGION=eu-west-1"])
check(out and "Security Violation" in out[0], "terminate: the invocation is denied (%s)" % out)
reqs = [q for q in read_log(slog) if q["kind"] == "lambda"]
check(len(reqs) == 1 and reqs[0]["method"] == "PUT" and reqs[0]["path"] == "/2017-10-31/functions/guard-fn/concurrency"
      and json.loads(reqs[0]["body"]) == {"ReservedConcurrentExecutions": 0},
      "PutFunctionConcurrency(0) reached the Lambda API endpoint")
check(reqs[0]["signature_ok"], "its SigV4 signature verified by aws4")
check("terminated by a security playbook" in log, "the guard's final log line")
check(SECRET not in log, "the secret key is not logged")
stop(srv)
print("PASS")
