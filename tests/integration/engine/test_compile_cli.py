#!/usr/bin/env python3
"""protectlambda compile, as a user runs it: writes a database, lists PCRE2 fallbacks, and
fails with file:line errors (exit 2) on bad rules."""
import os
import subprocess
import sys
import tempfile

PL_BIN = os.environ.get("PL_BIN", "build/src/cli/protectlambda")
SRC = os.environ.get("PL_SOURCE_DIR", os.getcwd())
DATA = os.path.join(SRC, "tests/unit/engine/data")
failures = []


def run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([PL_BIN, *args], capture_output=True, text=True, timeout=60, env=e)


def check(cond, what, p=None):
    if not cond:
        failures.append(what + (f"\n  rc={p.returncode}\n  stdout={p.stdout}\n  stderr={p.stderr}"
                                if p else ""))


with tempfile.TemporaryDirectory() as tmp:
    db = os.path.join(tmp, "rules.db")

    p = run("compile", "--help")
    check(p.returncode == 0 and "usage: protectlambda compile" in p.stdout, "--help", p)

    p = run("compile", "--no-default-rules", "--rules", DATA, "-o", db)
    check(p.returncode == 0, "compile exit 0", p)
    check(os.path.exists(db) and open(db, "rb").read(8) == b"PLRULEDB", "database written", p)
    check("rule 'backref-dup-word' runs on PCRE2: Vectorscan: Back-references are unsupported"
          in p.stdout, "fallback listed with its reason", p)
    check("compiled 8 rules (code 3, in 4, out 1; 2 on PCRE2)" in p.stdout, "summary line", p)

    # default packs off via the setting, same result
    p = run("compile", "--rules", DATA, "-o", db, env={"PROTECTLAMBDA_RULES_DIR": ""})
    check(p.returncode == 0 and "compiled 8 rules" in p.stdout, "PROTECTLAMBDA_RULES_DIR=''", p)

    bad = os.path.join(tmp, "in.yaml")
    with open(bad, "w") as f:
        f.write("rules:\n  - id: a\n    target: in\n    severity: HIGH\n    category: c\n"
                + "\n" * 8 + "    pattern: 'x('\n")
    p = run("compile", "--no-default-rules", "--rules", bad, "-o", os.path.join(tmp, "x.db"))
    check(p.returncode == 2, "bad rule: exit 2", p)
    check(f"protectlambda compile: {bad}:14: pattern 'x(' does not compile: missing closing "
          "parenthesis" in p.stderr, "bad rule: file:line message", p)
    check(not os.path.exists(os.path.join(tmp, "x.db")), "no database on error", p)

    p = run("compile", "--no-default-rules", "--rules", DATA)
    check(p.returncode == 2 and "missing -o" in p.stderr, "missing -o: exit 2", p)
    p = run("compile", "--bogus")
    check(p.returncode == 2, "unknown option: exit 2", p)
    p = run("compile", "--no-default-rules", "--rules", os.path.join(tmp, "nope"), "-o", db)
    check(p.returncode == 2 and "nope" in p.stderr, "missing rules path: exit 2", p)
    p = run("compile", "-o", db, env={"PROTECTLAMBDA_RULES_DIR": os.path.join(tmp, "none")})
    check(p.returncode == 2 and "default rules directory" in p.stderr,
          "missing configured default dir: exit 2 (fail closed)", p)

for f in failures:
    print("FAIL:", f)
print("ok" if not failures else f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
