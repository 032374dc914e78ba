#!/usr/bin/env python3
"""Secrets never leak through protectlambda itself. Canary secret values (fresh random ones
each run) are put in the environment (AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN, DB_PASSWORD) and in
events; then the guard (through the real emulator and a real runtime), the CLI (check, audit-env,
report) and the sinks (a webhook and SNS/SQS endpoints captured on 127.0.0.1) run their usual
flows: attacks denied, responses and errors leaking the secrets denied, incidents stored and
alerted. Afterwards every log, store file (SQLite db and its journal under the test's dir),
report and alert body (and header) captured is searched for every canary: none may appear.

usage: test_secrets.py        env: PL_BIN, PL_SOURCE_DIR (set by CTest)
"""
import glob
import http.client
import http.server
import json
import os
import random
import re
import shutil
import signal
import socketserver
import string
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plrobust import PL_BIN, RULES, check  # noqa: E402

rnd = random.SystemRandom()


def s_rand(alphabet, n):
    return "".join(rnd.choice(alphabet) for _ in range(n))


UP = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits
CANARIES = {
    "AWS_SECRET_ACCESS_KEY": s_rand(ALNUM + "/+", 40),
    "GITHUB_TOKEN": "ghp_" + s_rand(ALNUM, 36),
    "DB_PASSWORD": "Cnry-" + s_rand(ALNUM, 20),
}
AKID = "AKIA" + s_rand(UP, 16)   # not secret by itself (it is in SigV4 headers); checked in bodies
EVENT_CANARY = "evt-" + s_rand(ALNUM, 24)   # a secret the caller put in an event

APP = r'''
import os
def handler(event, context):
    what = event.get("do")
    if what == "leak":
        return {"debug": {k: os.environ.get(k) for k in
                          ("AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "DB_PASSWORD")}}
    if what == "leak_b64":
        import base64
        return {"blob": base64.b64encode(os.environ["DB_PASSWORD"].encode()).decode()}
    if what == "raise":
        raise RuntimeError("connect failed with password " + os.environ["DB_PASSWORD"])
    if what == "echo":
        return {"echo": event.get("note")}
    return {"ok": True}
'''


class Capture:
    """one HTTP server standing for the webhook, SNS and SQS: records every request"""

    def __init__(self):
        self.requests = []
        cap = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0") or 0)
                body = self.rfile.read(n)
                cap.requests.append((self.path, str(self.headers), body))
                if self.path.startswith("/sns"):
                    out = (b'<PublishResponse><PublishResult><MessageId>1</MessageId>'
                           b'</PublishResult></PublishResponse>')
                elif self.path.startswith("/sqs"):
                    out = (b'<SendMessageResponse><SendMessageResult><MessageId>1</MessageId>'
                           b'</SendMessageResult></SendMessageResponse>')
                else:
                    out = b"ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = S(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def run(argv, env, stdin=None, timeout=120):
    p = subprocess.run(argv, env=env, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def main():
    tmp = tempfile.mkdtemp(prefix="pl-robust-secrets-")
    cap = Capture()
    emu = None
    captured = {}   # name -> bytes
    try:
        fn = os.path.join(tmp, "fn")
        os.mkdir(fn)
        with open(os.path.join(fn, "app.py"), "w") as f:
            f.write(APP)
        store = os.path.join(tmp, "store", "incidents.db")
        base = "http://127.0.0.1:%d" % cap.port
        env = dict(os.environ)
        env.update(CANARIES)
        env.update({
            "AWS_ACCESS_KEY_ID": AKID,
            "AWS_REGION": "us-east-1",
            "PROTECTLAMBDA_RULES_DIR": RULES,
            "PROTECTLAMBDA_STORE_PATH": store,
            "PROTECTLAMBDA_WEBHOOK_URL": base + "/hook",
            "PROTECTLAMBDA_SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
            "PROTECTLAMBDA_SNS_ENDPOINT": base + "/sns",
            "PROTECTLAMBDA_SQS_QUEUE_URL": base + "/sqs/123456789012/alerts",
            "PROTECTLAMBDA_SQS_ENDPOINT": base + "/sqs",
            "PROTECTLAMBDA_SINKS_AWS_LEVEL": "LOW",
            "PROTECTLAMBDA_INTEGRITY_TAMPER_DIRS": tmp,
            "PROTECTLAMBDA_FUNCTION_NAME": "secrets-test",
        })
        env.pop("AWS_SESSION_TOKEN", None)
        conf = os.path.join(tmp, "pl.conf")
        with open(conf, "w") as f:
            f.write("playbook.*.* = alert\n")   # every incident alerts: all sinks get bodies
        env["PROTECTLAMBDA_CONFIG"] = conf

        # ---- 1. the guard, through the real emulator and the Python runtime
        log_path = os.path.join(tmp, "emulate.log")
        with open(log_path, "wb") as log:
            emu = subprocess.Popen([PL_BIN, "emulate", "--port", "0", "--function", fn,
                                    "--handler", "app.handler"], env=env, stdout=log,
                                   stderr=log, start_new_session=True)
            port = None
            end = time.monotonic() + 120
            while port is None and time.monotonic() < end:
                time.sleep(0.05)
                with open(log_path, "rb") as f:
                    m = re.search(rb'listening[^\n]*?127\.0\.0\.1:(\d+)', f.read())
                if m:
                    port = int(m.group(1))
                check(emu.poll() is None, "emulate exited %r" % emu.poll())
            check(port, "no listening line")
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            answers = []

            def invoke(ev):
                c.request("POST", "/2015-03-31/functions/function/invocations",
                          body=json.dumps(ev).encode())
                r = c.getresponse()
                body = r.read()
                answers.append(body)
                return r.status, body

            secret_all = " ".join(CANARIES.values())
            for ev in ({"do": "leak"}, {"do": "leak_b64"}, {"do": "raise"},
                       {"do": "echo", "note": "aws_secret_access_key=" +
                        CANARIES["AWS_SECRET_ACCESS_KEY"]},
                       {"name": "x; cat /etc/passwd", "password": CANARIES["DB_PASSWORD"],
                        "token": EVENT_CANARY},
                       {"q": "1' UNION SELECT password FROM users--", "auth": EVENT_CANARY,
                        "gh": CANARIES["GITHUB_TOKEN"]},
                       {"path": "../../../../etc/shadow", "secret": secret_all},
                       {"do": "ok", "note": EVENT_CANARY}):
                st, body = invoke(ev)
                check(st == 200, "invoke %r: %d" % (ev.get("do"), st))
            # every leaking answer was denied (canary out rules), the clean one passed
            for i in range(4):
                check(b"Security Violation" in answers[i], "leak %d not denied: %r" % (i, answers[i][:200]))
            for i in range(4, 7):
                check(b"Security Violation" in answers[i], "attack %d not denied" % i)
            check(json.loads(answers[7]) == {"ok": True}, "clean invocation: %r" % answers[7])
            c.close()
            time.sleep(1.0)
            emu.send_signal(signal.SIGTERM)
            emu.wait(30)
        with open(log_path, "rb") as f:
            captured["emulate/guard log"] = f.read()
        check(b"Out Rule violation for" in captured["emulate/guard log"], "no out rule line")
        check(b"In Rule violation for" in captured["emulate/guard log"], "no in rule line")

        # ---- 2. the CLI
        ev_path = os.path.join(tmp, "event.json")
        with open(ev_path, "w") as f:
            json.dump({"q": "; cat /etc/passwd", "password": CANARIES["DB_PASSWORD"],
                       "token": EVENT_CANARY}, f)
        for d in ("in", "out"):
            for fmt in ("text", "json"):
                rc, out, err = run([PL_BIN, "check", "--direction", d, "--format", fmt, ev_path], env)
                check(rc in (0, 1), "check %s: %d %s" % (d, rc, err[-500:]))
                captured["check %s %s" % (d, fmt)] = out + err
        resp = json.dumps({"creds": {"aws_secret_access_key": CANARIES["AWS_SECRET_ACCESS_KEY"]},
                           "dump": "aws_secret_access_key=" + CANARIES["AWS_SECRET_ACCESS_KEY"],
                           "gh": CANARIES["GITHUB_TOKEN"]}).encode()
        rc, out, err = run([PL_BIN, "check", "--direction", "out", "--format", "json", "-"], env,
                           stdin=resp)
        check(rc == 1, "out check of leaked secrets: %d" % rc)
        captured["check out (leak)"] = out + err
        for fmt in ("text", "json"):
            rc, out, err = run([PL_BIN, "audit-env", "--format", fmt], env)
            check(rc == 1, "audit-env must find the secrets: %d" % rc)
            check(b"DB_PASSWORD" in out and b"GITHUB_TOKEN" in out, "audit-env names missing")
            captured["audit-env " + fmt] = out + err
        check(os.path.exists(store), "no incident store written at %s" % store)
        for fmt in ("text", "json", "html"):
            rc, out, err = run([PL_BIN, "report", "--all", "--since", "1h", "--format", fmt,
                                "--store-path", store], env)
            check(rc == 0, "report %s: %d %s" % (fmt, rc, err[-500:]))
            captured["report " + fmt] = out + err
        check(b"IN_RULE_VIOLATION" in captured["report json"], "report has no incidents")

        # ---- 3. store files and alert bodies
        for p in glob.glob(os.path.join(tmp, "store", "*")) + glob.glob(os.path.join(fn, ".protectlambda", "*")):
            with open(p, "rb") as f:
                captured["store " + os.path.basename(p)] = f.read()
        check(cap.requests, "no alert was sent to the captured webhook/SNS/SQS")
        for i, (path, headers, body) in enumerate(cap.requests):
            captured["alert %d %s body" % (i, path)] = body
            captured["alert %d %s headers" % (i, path)] = headers.encode()
        print("captured: %d logs/outputs/files, %d alert requests (%s)" % (
            len(captured), len(cap.requests), sorted({p.split("/")[1] for p, _, _ in cap.requests})))

        # ---- 4. no canary anywhere
        needles = dict(CANARIES)
        needles["event canary"] = EVENT_CANARY
        leaks = []
        for name, data in captured.items():
            for cname, value in needles.items():
                v = value.encode()
                forms = [v, json.dumps(value)[1:-1].encode(), v[:16]]
                if cname != "event canary" or not name.startswith("check in"):
                    if any(f in data for f in forms):
                        leaks.append("%s in %s" % (cname, name))
            if not name.endswith("headers") and AKID.encode() in data and "alert" in name:
                leaks.append("AWS_ACCESS_KEY_ID in %s" % name)
        check(not leaks, "canaries leaked: %s" % "; ".join(leaks))
        print("PASS secrets: %d canaries x %d captured items, none found" % (
            len(needles), len(captured)))
        return 0
    finally:
        if emu and emu.poll() is None:
            os.killpg(emu.pid, signal.SIGKILL)
            emu.wait()
        cap.stop()
        if os.environ.get("PL_KEEP_TMP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
