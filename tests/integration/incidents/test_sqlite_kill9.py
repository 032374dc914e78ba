#!/usr/bin/env python3
"""Durability of the SQLite store: a real process writes incidents and prints "ACK <id>" after
each pl_store_put() returned; it is killed with SIGKILL at random moments, 20 times, on the same
file. After each kill the file passes PRAGMA integrity_check and holds every acknowledged
incident."""
import os
import random
import signal
import sqlite3
import subprocess
import time

from plinc import *

d = tmpdir()
db = os.path.join(d, "incidents.db")
acked = set()
rnd = random.Random(1234)
for i in range(20):
    p = spawn([PROBE, "writer", db], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.05 + rnd.random() * 0.25)
    os.kill(p.pid, signal.SIGKILL)
    out, err = p.communicate()
    new = [l.split()[1] for l in out.splitlines() if l.startswith("ACK ")]
    if p.returncode != -signal.SIGKILL:
        fail("writer ended by itself (%s): %s" % (p.returncode, err))
    acked.update(new)
    con = sqlite3.connect(db)
    ic = con.execute("PRAGMA integrity_check").fetchone()[0]
    ids = {r[0] for r in con.execute("SELECT id FROM incidents")}
    mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    con.close()
    if ic != "ok":
        fail("kill %d: integrity_check: %s" % (i + 1, ic))
    missing = acked - ids
    if missing:
        fail("kill %d: %d acknowledged incidents lost, e.g. %s" % (i + 1, len(missing), sorted(missing)[:3]))
    print("kill %2d: %4d acked so far, %4d rows, integrity ok" % (i + 1, len(acked), len(ids)))
check(mode == "wal", "the store runs in WAL mode")
check(len(acked) > 20, "writes were acknowledged between kills (%d)" % len(acked))
check(True, "20 kill -9: integrity_check ok and every acknowledged incident kept")
print("PASS")
