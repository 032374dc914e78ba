"""Helpers for the rule-pack integration tests: run the real protectlambda binary."""
import json
import os
import subprocess
import sys
import tempfile

BIN = os.environ.get("PL_BIN", "")
SRC = os.environ.get("PL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SHARED = os.environ.get("PL_SHARED_DIR", os.path.join(SRC, "..", "shared"))
RULES = os.path.join(SRC, "rules")
DATA = os.path.join(SRC, "tests", "data")
BATCH = 400


def need_binary():
    if not BIN or not os.access(BIN, os.X_OK):
        print("PL_BIN is not set to the protectlambda binary", file=sys.stderr)
        sys.exit(2)


def compile_db(tmp):
    """compile the default packs (the repository's rules/) once; checks load the database"""
    db = os.path.join(tmp, "rules.db")
    p = subprocess.run([BIN, "compile", "--no-default-rules", "--rules", RULES, "-o", db],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise SystemExit("compile failed: %s%s" % (p.stdout, p.stderr))
    return db, p.stdout + p.stderr


def check_many(db, direction, docs, tmp):
    """docs: list of bytes; returns list of parsed JSON verdicts, in order"""
    d = tempfile.mkdtemp(dir=tmp)
    names = []
    for i, doc in enumerate(docs):
        path = os.path.join(d, "%06d.json" % i)
        with open(path, "wb") as f:
            f.write(doc)
        names.append(path)
    results = {}
    for start in range(0, len(names), BATCH):
        chunk = names[start:start + BATCH]
        p = subprocess.run([BIN, "check", "--direction", direction, "--no-default-rules",
                            "--rules", RULES, "--rules-db", db, "--format", "json"] + chunk,
                           capture_output=True, text=True, timeout=300)
        if p.returncode not in (0, 1):
            raise SystemExit("check failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
        for line in p.stdout.splitlines():
            r = json.loads(line)
            results[r["file"]] = r
    for n in names:
        os.unlink(n)
    os.rmdir(d)
    missing = [n for n in names if n not in results]
    if missing:
        raise SystemExit("no verdict for %d inputs (e.g. %s)" % (len(missing), missing[0]))
    return [results[n] for n in names]


def read_lines(path):
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return [l.rstrip("\n").rstrip("\r") for l in f if l.strip()]


def pct(a, b):
    return 100.0 * a / b if b else 100.0
