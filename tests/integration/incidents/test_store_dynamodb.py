#!/usr/bin/env python3
"""The DynamoDB store against dynalite (started here on 127.0.0.1): the SAME store suite as
SQLite (the test_store_suite_sqlite binary with PL_TEST_STORE=dynamodb), `store init`, shared
correlation and quarantine across sandboxes (separate processes), and DynamoDB unavailable:
incidents queue and are stored once it is back."""
import json
import os
import subprocess
import time

from plinc import *

dyn, port = start_dynalite()
endpoint = "http://127.0.0.1:%d" % port
env = aws_env({"PROTECTLAMBDA_STORE": "dynamodb", "PROTECTLAMBDA_DYNAMODB_ENDPOINT": endpoint,
               "PROTECTLAMBDA_DYNAMODB_TABLE": "incidents-test", "PROTECTLAMBDA_FUNCTION_NAME": "fleet-fn",
               "PROTECTLAMBDA_TERMINATE_REMOTE": "false", "PROTECTLAMBDA_QUARANTINE_POLL_MS": "200"})

# 1. the same suite as SQLite
r = subprocess.run([STORE_SUITE], env=dict(env, PL_TEST_STORE="dynamodb", PL_TEST_DDB_ENDPOINT=endpoint,
                                            PL_TEST_DDB_TABLE="suite"),
                   capture_output=True, text=True, timeout=120)
print(r.stdout)
check(r.returncode == 0, "store suite passes on DynamoDB (dynalite): %s" % r.stderr[-1500:])

# 2. store init creates the table (idempotent)
for i in range(2):
    r = subprocess.run([PL_BIN, "store", "init"], env=env, capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and "dynamodb:incidents-test" in r.stdout, "store init #%d: %s%s" % (i + 1, r.stdout, r.stderr))

# 3. shared correlation: 2 injections in sandbox A, the 3rd in sandbox B escalates to CRITICAL
lines, _ = run_probe(env, "COMMAND_INJECTION", "MEDIUM", 2)
check(stats(lines)["stored"] == 2, "sandbox A stored 2 incidents")
lines, _ = run_probe(env, "COMMAND_INJECTION", "MEDIUM", 1)
st = stats(lines)
check(reports(lines)[0]["level"] == "MEDIUM", "sandbox B alone sees one event")
check(st["escalated"] == 1 and st["terminating"], "the shared store escalates B's event to CRITICAL -> terminate")

# 4. quarantine in the shared store: a new sandbox starts quarantined; the CLI clears it
lines, _ = run_probe(env, "PATH_TRAVERSAL_ATTEMPT", "HIGH", 1)
check(stats(lines)["quarantined"], "PATH_TRAVERSAL HIGH quarantines")
lines, _ = run_probe(env, "RUNTIME_EXCEPTION", "LOW", 0)
check(start_line(lines)["quarantined"], "a new sandbox starts quarantined (read from DynamoDB)")
r = subprocess.run([PL_BIN, "quarantine", "--status"], env=env, capture_output=True, text=True)
check(r.returncode == 1 and "PATH_TRAVERSAL_ATTEMPT" in r.stdout, "quarantine --status: quarantined (exit 1)")
r = subprocess.run([PL_BIN, "quarantine", "--clear"], env=env, capture_output=True, text=True)
check(r.returncode == 0, "quarantine --clear")
lines, _ = run_probe(env, "RUNTIME_EXCEPTION", "LOW", 0)
check(not start_line(lines)["quarantined"], "a new sandbox serves again after --clear")
r = subprocess.run([PL_BIN, "report", "--format", "json"], env=env, capture_output=True, text=True)
check(r.returncode == 0 and '"total":4' in r.stdout.replace(" ", ""), "report from DynamoDB: %s" % r.stdout[:300])

# 5. DynamoDB down: incidents wait (bounded) and are stored when it is back
stop(dyn)
port2 = free_port()
env2 = dict(env, PROTECTLAMBDA_DYNAMODB_ENDPOINT="http://127.0.0.1:%d" % port2,
            PROTECTLAMBDA_FUNCTION_NAME="outage-fn", PROTECTLAMBDA_SINKS_TIMEOUT_MS="500")
probe = spawn([PROBE, "report", "IN_RULE_VIOLATION", "LOW", "5", "--flush", "20000"], env=env2,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
time.sleep(1.5)
dyn2, _ = start_dynalite(port2)
r = subprocess.run([PL_BIN, "store", "init"], env=env2, capture_output=True, text=True, timeout=60)
check(r.returncode == 0, "table created after the outage")
out, err = probe.communicate(timeout=60)
lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
st = stats(lines)
check(st["store_failures"] >= 1, "the outage was seen (%d failed writes)" % st["store_failures"])
check(st["stored"] == 5 and st["store_dropped"] == 0 and st["store_pending"] == 0, "all 5 incidents stored after the outage")
check(err.count("incidents are kept") == 1, "outage logged once")
r = subprocess.run([PL_BIN, "report", "--format", "json"], env=env2, capture_output=True, text=True)
check('"total":5' in r.stdout.replace(" ", ""), "the 5 incidents are in DynamoDB")

# 6. beyond the bound: a queue of 8 and 12 incidents while DynamoDB is down -> 4 dropped, counted
env3 = dict(env2, PROTECTLAMBDA_DYNAMODB_ENDPOINT="http://127.0.0.1:%d" % free_port(),
            PROTECTLAMBDA_INCIDENTS_QUEUE="8")
lines, err = run_probe(env3, "IN_RULE_VIOLATION", "LOW", 12, "--flush", 1500)
st = stats(lines)
check(len(reports(lines)) == 12, "12 invocations completed with DynamoDB down")
check(st["store_dropped"] + st["store_pending"] + st["stored"] == 12 and st["store_dropped"] >= 4,
      "beyond the bound incidents are dropped and counted (dropped %d, pending %d)" % (st["store_dropped"], st["store_pending"]))
stop(dyn2)
print("PASS")
