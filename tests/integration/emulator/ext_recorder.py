#!/usr/bin/env python3
"""An external Lambda extension for the tests: registers for INVOKE and SHUTDOWN with the
Extensions API, appends every step (with a nanosecond timestamp) to $EXT_RECORD as JSON lines,
and exits after SHUTDOWN, as a well-behaved extension does."""
import http.client
import json
import os
import sys
import time

record = os.environ["EXT_RECORD"]
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))


def req(method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    return r, r.read()


def rec(obj):
    obj["t"] = time.time_ns()
    with open(record, "a") as f:
        f.write(json.dumps(obj) + "\n")


name = os.path.basename(sys.argv[0])
r, data = req("POST", "/2020-01-01/extension/register",
              json.dumps({"events": ["INVOKE", "SHUTDOWN"]}), {"Lambda-Extension-Name": name, "Lambda-Extension-Accept-Feature": "accountId"})
ext_id = r.getheader("Lambda-Extension-Identifier")
rec({"what": "registered", "status": r.status, "id": ext_id, "body": json.loads(data),
     "version": r.version})
if r.status != 200:
    sys.exit(1)
while True:
    r, data = req("GET", "/2020-01-01/extension/event/next",
                  headers={"Lambda-Extension-Identifier": ext_id})
    ev = json.loads(data)
    rec({"what": "event", "status": r.status, "event": ev,
         "event_id": r.getheader("Lambda-Extension-Event-Identifier")})
    if ev.get("eventType") == "SHUTDOWN":
        sys.exit(0)
