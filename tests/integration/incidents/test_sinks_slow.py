#!/usr/bin/env python3
"""A sink that is slow or down never delays report() (the invocation's path): the report
returns while the webhook sleeps, and every alert is eventually delivered or counted (failed or
dropped). The latency figures are measured by bench/incidents_sinks.py, not asserted here."""
import json
import os

from plinc import *

d = tmpdir()
log = os.path.join(d, "requests.jsonl")
srv, port = start_sigv4_server(log, ["--webhook-delay-ms", "1500"])
base = "http://127.0.0.1:%d" % port
env = aws_env({"PROTECTLAMBDA_STORE": "none", "PROTECTLAMBDA_WEBHOOK_URL": base + "/webhook/slow",
               "PROTECTLAMBDA_SINKS_TIMEOUT_MS": "4000"})

# slow: 3 alerts, each webhook answer takes 1.5 s; report() must not wait for them
lines, _ = run_probe(env, "PATH_TRAVERSAL_ATTEMPT", "MEDIUM", 3, "--flush", 8000)
rs = reports(lines)
st = stats(lines)
check(len(rs) == 3 and all(r["rc"] == 0 for r in rs), "all 3 invocations completed")
check(max(r["us"] for r in rs) < 1500000, "no report() waited for the 1.5 s webhook (max %d us)" % max(r["us"] for r in rs))
check(st["webhook_sent"] == 3, "all 3 alerts delivered after the flush")
check(len([q for q in read_log(log) if q["kind"] == "webhook"]) == 3, "server received 3 webhooks")
lines, err = run_probe(dict(env, PROTECTLAMBDA_WEBHOOK_URL=""), "PATH_TRAVERSAL_ATTEMPT", "MEDIUM", 1)
inc = [json.loads(l) for l in err.splitlines() if '"component":"incidents"' in l and '"incident"' in l]
check(inc and inc[0]["incident"].get("detail") == "probe event" and inc[0]["incident"]["path"] == "$.body",
      "monitor action: the log line carries every field")

# down: nothing listens; alerts fail, counted, logged once
dead = free_port()
env_dead = dict(env, PROTECTLAMBDA_WEBHOOK_URL="http://127.0.0.1:%d/webhook/down" % dead)
lines, err = run_probe(env_dead, "PATH_TRAVERSAL_ATTEMPT", "MEDIUM", 4, "--flush", 8000)
st = stats(lines)
check(len(reports(lines)) == 4, "all 4 invocations completed with the webhook down")
check(st["webhook_failed"] == 4 and st["webhook_sent"] == 0, "4 failures counted")
check(err.count("webhook delivery failed") == 1, "the failure is logged once")

# overflow: a queue of 2 and a slow webhook: extra alerts are dropped and counted, never waited for
env_small = dict(env, PROTECTLAMBDA_SINKS_QUEUE="2")
lines, err = run_probe(env_small, "PATH_TRAVERSAL_ATTEMPT", "MEDIUM", 10, "--flush", 8000)
st = stats(lines)
rs = reports(lines)
check(len(rs) == 10 and max(r["us"] for r in rs) < 1500000, "10 invocations completed without waiting")
check(st["sinks_dropped"] > 0, "drops counted (%d)" % st["sinks_dropped"])
check(st["sinks_submitted"] + st["sinks_dropped"] == 10, "every alert queued or counted as dropped")
check(st["webhook_sent"] + st["webhook_failed"] == st["sinks_submitted"], "every queued alert delivered or counted failed")
check(err.count("sinks queue full") == 1, "drops logged once")
stop(srv)
print("PASS")
