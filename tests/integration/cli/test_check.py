#!/usr/bin/env python3
"""protectlambda check: exit codes, JSON Lines shape, paths and decodings, bounds, out masking.

Runs the real binary ($PL_BIN) on events built from the shared corpus."""
import atexit
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ.get("PL_BIN", "build/src/cli/protectlambda")
SHARED = os.environ.get("PL_SHARED_DIR", "../shared")
BENIGN = os.path.join(SHARED, "corpus", "events", "benign", "powertools")
FAILS = []

RULES = """
rules:
  - id: T-CMD
    target: in
    pattern: ';\\s*cat\\s+/etc/passwd'
    severity: CRITICAL
    category: command-injection
    message: test command injection
  - id: T-ALERT
    target: in
    pattern: 'alertme'
    severity: LOW
    category: test
    action: alert
  - id: T-KEY
    target: out
    pattern: 'AKIA[0-9A-Z]{16}'
    severity: CRITICAL
    category: secrets
    allow: ['^AKIAIOSFODNN7EXAMPLE$']
"""


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)
    else:
        print("ok:", what)


def run(args, stdin=None, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([BIN] + args, input=stdin, capture_output=True, timeout=120, env=e)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def lines(out):
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def event(name):
    with open(os.path.join(BENIGN, name)) as f:
        return json.load(f)


def main():
    tmp = tempfile.mkdtemp(prefix="pl-check-")
    atexit.register(shutil.rmtree, tmp, True)
    rules = os.path.join(tmp, "test.yaml")
    with open(rules, "w") as f:
        f.write(RULES)
    base = ["check", "--no-default-rules", "--rules", rules, "--format", "json"]

    def write(name, obj):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(obj if isinstance(obj, str) else json.dumps(obj))
        return path

    rc, out, _ = run(["check", "--help"])
    check(rc == 0 and "--direction" in out, "check --help exits 0")
    rc, _, err = run(["check", "x.json"])
    check(rc == 2 and "protectlambda check:" in err, "missing --direction is a usage error (2)")
    rc, _, err = run(base + ["--direction", "in", os.path.join(tmp, "missing.json")])
    check(rc == 2 and "missing.json" in err, "unreadable input exits 2")
    bad = write("bad.yaml", "rules:\n  - id: B\n    target: in\n    pattern: 'x('\n    severity: LOW\n    category: t\n")
    rc, _, err = run(["check", "--no-default-rules", "--rules", bad, "--direction", "in", "-"], b"{}")
    check(rc == 2 and "bad.yaml:" in err, "a bad rule exits 2 naming file:line")
    # with --rules-db, patterns are validated when the database cannot stand for it (here:
    # missing): the same exit and file:line
    want_bad = "protectlambda check: %s:4: pattern 'x(' does not compile: missing closing " \
               "parenthesis" % bad
    rc, _, err = run(["check", "--no-default-rules", "--rules", bad, "--rules-db",
                      os.path.join(tmp, "none.db"), "--direction", "in", "-"], b"{}")
    check(rc == 2 and want_bad in err, "a bad rule with a missing --rules-db: exit 2, file:line")

    # API Gateway event, payload URL-encoded in the query string
    ev = event("apiGatewayProxyEvent.json")
    ev["queryStringParameters"] = {"q": "x%3B%20cat%20%2Fetc%2Fpasswd"}
    attack = write("attack.json", ev)
    benign = write("benign.json", event("apiGatewayProxyEvent.json"))
    rc, out, _ = run(base + ["--direction", "in", benign, attack])
    res = lines(out)
    check(rc == 1, "one denied input among two: exit 1")
    check(len(res) == 2 and res[0]["file"] == benign and res[1]["file"] == attack,
          "one JSON object per input, in order")
    check(res[0]["verdict"] == "allow" and res[0]["matches"] == [], "benign event allowed")
    m = [x for x in res[1]["matches"] if x["rule"] == "T-CMD"]
    check(res[1]["verdict"] == "deny" and len(m) == 1, "attack denied, one match per (rule, path)")
    if m:
        m = m[0]
        check(m["path"] == "$.queryStringParameters.q" and m["decoded"] == "url",
              "match path $.queryStringParameters.q decoded url: %s %s" % (m["path"], m["decoded"]))
        check(m["excerpt"] == "; cat /etc/passwd", "excerpt is the matched text: %r" % m["excerpt"])
        check(m["category"] == "command-injection" and m["severity"] == "CRITICAL"
              and m["action"] == "deny", "category, severity and action reported")
    check(isinstance(res[1]["elapsed_us"], int) and res[1]["elapsed_us"] >= 0, "elapsed_us is an integer")
    check(res[1]["http_event"] is True, "API Gateway event detected as HTTP")

    # base64 body with isBase64Encoded
    ev = event("apiGatewayProxyEvent.json")
    ev["body"] = base64.b64encode(json.dumps({"c": "; cat /etc/passwd"}).encode()).decode()
    ev["isBase64Encoded"] = True
    rc, out, _ = run(base + ["--direction", "in", write("b64.json", ev)])
    r = lines(out)[0]
    paths = {(x["path"], x["decoded"]) for x in r["matches"]}
    check(rc == 1 and ("$.body.c", "base64") in paths, "base64 body decoded, nested JSON path: %s" % paths)
    ev["isBase64Encoded"] = False
    rc, out, _ = run(base + ["--direction", "in", write("b64off.json", ev)])
    check(rc == 0, "base64 body not decoded when isBase64Encoded is false")

    # SQS body with JSON inside, SNS message, S3 key
    sqs = {"Records": [{"messageId": "1", "body": json.dumps({"x": "; cat /etc/passwd"}),
                        "eventSource": "aws:sqs"}]}
    rc, out, _ = run(base + ["--direction", "in", write("sqs.json", sqs)])
    r = lines(out)[0]
    check(rc == 1 and any(x["path"] == "$.Records[0].body.x" and x["decoded"] == "json"
                          for x in r["matches"]), "SQS JSON body inspected: %s" % r["matches"])
    s3 = {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "b"},
                       "object": {"key": "up%3B+cat+%2Fetc%2Fpasswd", "size": 1}}}]}
    rc, out, _ = run(base + ["--direction", "in", write("s3.json", s3)])
    r = lines(out)[0]
    check(rc == 1 and any(x["path"] == "$.Records[0].s3.object.key" and x["decoded"] == "url"
                          for x in r["matches"]), "S3 key URL-decoded ('+' is space)")

    # alert-only match: allowed, reported
    rc, out, _ = run(base + ["--direction", "in", "-"], b'{"a":"please alertme"}')
    r = lines(out)[0]
    check(rc == 0 and r["verdict"] == "allow" and r["matches"][0]["action"] == "alert",
          "alert rule reports without denying")

    # non-JSON input: raw scan with a log line
    rc, out, err = run(base + ["--direction", "in", "-"], b"GET /?a=1; cat /etc/passwd HTTP/1.1")
    r = lines(out)[0]
    check(rc == 1 and r["non_json"] is True and r["matches"][0]["decoded"] == "raw",
          "non-JSON input scanned raw")
    check("not JSON" in err, "log line says the input was scanned raw")

    # out direction: allow-list and masking
    rc, out, _ = run(base + ["--direction", "out", "-"], b'{"body":"key AKIAIOSFODNN7EXAMPLE"}')
    check(rc == 0, "allow-listed documentation key allowed")
    rc, out, _ = run(base + ["--direction", "out", "-"],
                     b'{"body":"AKIAIOSFODNN7EXAMPLE and AKIAQWERTYUIOPASDFGH"}')
    r = lines(out)[0]
    check(rc == 1 and r["matches"][0]["rule"] == "T-KEY", "real key after an allow-listed one denied")
    check("QWERTY" not in out and r["matches"][0]["excerpt"] == "AKIA***",
          "out excerpt masked, secret never printed")

    # bounds: deny by default, allow with on_bound=allow
    deep = "[" * 5000 + "]" * 5000
    rc, out, _ = run(base + ["--direction", "in", "-"], deep.encode())
    r = lines(out)[0]
    check(rc == 1 and r["bound_exceeded"] is True and "nesting" in r["bound"],
          "nesting past max_depth denied")
    rc, out, _ = run(base + ["--direction", "in", "-"], deep.encode(),
                     env={"PROTECTLAMBDA_ON_BOUND": "allow"})
    check(rc == 0 and lines(out)[0]["verdict"] == "allow", "on_bound=allow lets it through")
    rc, out, _ = run(base + ["--direction", "in", "-"], deep.encode(),
                     env={"PROTECTLAMBDA_MAX_DEPTH": "6000"})
    check(rc == 0, "max_depth setting raises the bound")

    # text format
    rc, out, _ = run(["check", "--no-default-rules", "--rules", rules, "--direction", "in", attack])
    check(rc == 1 and "DENY" in out and "T-CMD" in out and "$.queryStringParameters.q (url)" in out,
          "text format names verdict, rule, path and decoding")

    # --rules-db: a database compiled by `protectlambda compile` gives the same verdicts
    db = os.path.join(tmp, "rules.db")
    rc, _, err = run(["compile", "--no-default-rules", "--rules", rules, "-q", "-o", db])
    check(rc == 0 and os.path.exists(db), "compile writes a rules database (%s)" % err.strip()[-200:])
    rc, out, err = run(base + ["--rules-db", db, "--direction", "in", benign, attack])
    res = lines(out)
    check(rc == 1 and [r["verdict"] for r in res] == ["allow", "deny"] and "not used" not in err,
          "check --rules-db loads the database (no fallback log) and decides the same")
    rc, _, err = run(base + ["--rules", bad, "--rules-db", db, "--direction", "in", "-"], b"{}")
    check(rc == 2 and want_bad in err and "stale" in err,
          "a bad rule with a stale --rules-db: exit 2, file:line")
    with open(db, "r+b") as fh:
        fh.seek(40)
        fh.write(b"\xff\xff\xff\xff")
    rc, out, err = run(base + ["--rules-db", db, "--direction", "in", attack])
    check(rc == 1 and lines(out)[0]["verdict"] == "deny" and "not used" in err,
          "a corrupt database falls back to compiling with a log line (still denied)")

    # default packs: a benign event allowed, an obvious attack denied
    rc, out, err = run(["check", "--direction", "in", "--format", "json", benign, attack])
    res = lines(out) if rc in (0, 1) else []
    check(rc == 1 and len(res) == 2 and res[0]["verdict"] == "allow" and res[1]["verdict"] == "deny",
          "default in pack: benign allowed, attack denied (rc=%d %s)" % (rc, err[-300:]))

    print("%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
