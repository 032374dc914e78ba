#!/usr/bin/env python3
"""`protectlambda quarantine` and `store init` on SQLite: a playbook quarantine is visible to the
CLI and to a new process; --clear lifts it; --set quarantines by hand; errors exit 2."""
import json
import os
import subprocess

from plinc import *

d = tmpdir()
db = os.path.join(d, "sub", "incidents.db")
env = aws_env({"PROTECTLAMBDA_STORE_PATH": db, "PROTECTLAMBDA_FUNCTION_NAME": "cli-fn",
               "PROTECTLAMBDA_TERMINATE_REMOTE": "false"})


def pl(*args):
    return subprocess.run([PL_BIN] + list(args), env=env, capture_output=True, text=True, timeout=30)


r = pl("quarantine", "--status")
check(r.returncode == 2 and "protectlambda quarantine:" in r.stderr, "no store yet: exit 2 with a message")
r = pl("store", "init")
check(r.returncode == 0 and os.path.exists(db), "store init creates the file (and its directory)")
con_mode = subprocess.run(["sqlite3", db, "PRAGMA journal_mode"], capture_output=True, text=True).stdout.strip()
check(con_mode == "wal", "WAL mode")
r = pl("quarantine")
check(r.returncode == 0 and "not quarantined" in r.stdout, "not quarantined: exit 0")

lines, _ = run_probe(env, "RESOURCE_LIMIT_EXCEEDED", "HIGH")
check(reports(lines)[0]["actions"] == "quarantine,alert", "RESOURCE_LIMIT_EXCEEDED x HIGH = quarantine,alert")
r = pl("quarantine", "--status", "--json")
j = json.loads(r.stdout)
check(r.returncode == 1 and j["quarantined"] and j["quarantine_reason"] == "RESOURCE_LIMIT_EXCEEDED"
      and j["incident_id"] == reports(lines)[0]["id"], "the CLI sees the playbook's quarantine (exit 1)")
lines, _ = run_probe(env, "RUNTIME_EXCEPTION", "LOW", 0)
check(start_line(lines)["quarantined"], "a new process starts quarantined")
r = pl("quarantine", "--clear")
check(r.returncode == 0 and "cleared" in r.stdout, "--clear")
lines, _ = run_probe(env, "RUNTIME_EXCEPTION", "LOW", 0)
check(not start_line(lines)["quarantined"], "a new process serves after --clear")
r = pl("quarantine", "--set", "manual: leaked key under investigation")
check(r.returncode == 0 and "manual: leaked key" in r.stdout, "--set quarantines by hand")
lines, _ = run_probe(env, "RUNTIME_EXCEPTION", "LOW", 0)
check(start_line(lines)["quarantined"], "manual quarantine honoured by a new process")
r = pl("quarantine", "--clear", "--set", "x")
check(r.returncode == 2, "--clear and --set together: usage error")
r = pl("quarantine", "--function", "other-fn")
check(r.returncode == 0, "other functions are not quarantined")
r = pl("quarantine", "--help")
check(r.returncode == 0 and "503" in r.stdout, "--help")

# bad playbook in the config file: file:line error
cfg = os.path.join(d, "pl.conf")
open(cfg, "w").write("# playbook\nplaybook.COMMAND_INJECTION.HIGH = quarantine,explode\n")
r = subprocess.run([PROBE, "report", "COMMAND_INJECTION", "HIGH"], env=dict(env, PROTECTLAMBDA_CONFIG=cfg),
                   capture_output=True, text=True)
check(r.returncode == 2 and (cfg + ":2:") in r.stderr and "explode" in r.stderr, "bad playbook key: %s" % r.stderr.strip())
print("PASS")
