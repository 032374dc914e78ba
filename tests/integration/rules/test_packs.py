#!/usr/bin/env python3
"""The default packs load, compile entirely on Vectorscan (zero PCRE2 fallbacks), every rule
has a stable id of the form PL-<TARGET>-<CLASS>-NNN, and every rule id appears in at least one
positive row (deny/alert with that id) of the expectation tables in rules/tests/."""
import glob
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rulescommon as rc  # noqa: E402

ID_RE = re.compile(r"^\s*-\s*id:\s*(\S+)\s*$", re.M)
STABLE = re.compile(r"^PL-(IN|OUT|CODE)-[A-Z0-9]+-\d{3}$")


def main():
    rc.need_binary()
    failures = []
    packs = sorted(glob.glob(os.path.join(rc.RULES, "*.yaml")))
    ids = {}
    with tempfile.TemporaryDirectory(prefix="pl-rules-packs-") as tmp:
        for pack in packs:
            db = os.path.join(tmp, "one.db")
            p = subprocess.run([rc.BIN, "compile", "--no-default-rules", "--rules", pack,
                                "-o", db], capture_output=True, text=True, timeout=300)
            out = p.stdout + p.stderr
            m = re.search(r"compiled (\d+) rules .*?; (\d+) on PCRE2\)", out)
            print("%s: %s" % (os.path.basename(pack), out.strip().splitlines()[-1] if out.strip()
                               else "no output"))
            if p.returncode != 0 or not m:
                failures.append("%s does not compile: %s" % (pack, out.strip()[-500:]))
                continue
            if int(m.group(2)) != 0 or "runs on PCRE2" in out:
                failures.append("%s: rules fall back to PCRE2:\n%s" % (pack, out))
            text = open(pack, encoding="utf-8").read()
            for rid in ID_RE.findall(text):
                if not STABLE.match(rid):
                    failures.append("%s: id %s is not of the form PL-TARGET-CLASS-NNN" % (pack,
                                                                                       rid))
                if rid in ids:
                    failures.append("duplicate id %s in %s and %s" % (rid, ids[rid], pack))
                ids[rid] = pack
            if int(m.group(1)) != len(ID_RE.findall(text)):
                failures.append("%s: %s rules compiled, %d ids in the file" % (
                    pack, m.group(1), len(ID_RE.findall(text))))
        # the whole default set at once, as commands load it
        p = subprocess.run([rc.BIN, "compile", "--no-default-rules", "--rules", rc.RULES, "-o",
                            os.path.join(tmp, "all.db")], capture_output=True, text=True,
                           timeout=300)
        print("all packs: " + (p.stdout + p.stderr).strip().splitlines()[-1])
        if p.returncode != 0 or " 0 on PCRE2" not in p.stdout + p.stderr:
            failures.append("the default packs together: %s" % (p.stdout + p.stderr))

    positive = set()
    for table in glob.glob(os.path.join(rc.RULES, "tests", "*.tests")):
        for line in open(table, encoding="utf-8"):
            parts = line.split(None, 3)
            if len(parts) == 4 and not parts[0].startswith("#") and parts[1] in ("deny",
                                                                                   "alert"):
                positive.update(i for i in parts[2].split(",") if not i.startswith("!"))
    untested = sorted(set(ids) - positive)
    print("%d rules, %d with a positive table row" % (len(ids), len(set(ids) & positive)))
    if untested:
        failures.append("rules without a positive row in rules/tests: " + ", ".join(untested))
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
