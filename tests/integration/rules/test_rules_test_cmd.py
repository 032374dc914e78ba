#!/usr/bin/env python3
"""`protectlambda rules test` as a user runs it on their own rules: passing and failing rows,
file:line of failures, the summary line, exit status 0/1/2, @file inputs, code rows, table
errors (unknown target, verdict, rule id), and --no-default-rules."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rulescommon as rc  # noqa: E402

PACK = """rules:
  - id: my-in-1
    target: in
    category: test
    severity: HIGH
    pattern: 'forbidden-word'
  - id: my-out-1
    target: out
    category: test
    severity: LOW
    action: alert
    pattern: 'internal-hostname'
  - id: my-code-1
    target: code
    languages: [python]
    category: test
    severity: HIGH
    pattern: '\\bdanger\\s*\\('
"""

GOOD = """# a table that passes
in    deny   my-in-1   {"q": "a forbidden-word here"}
in    allow  -         {"q": "nothing to see"}
in    deny   my-in-1   @event.json
out   alert  my-out-1  {"body": "served by internal-hostname"}
out   allow  !my-out-1 {"body": "fine"}
code:python  deny   my-code-1  x = danger(1)
code:node    allow  -          x = danger(1)
in    deny   *         {"q": "forbidden-word"}
"""

FAILING = """in    deny   my-in-1   {"q": "harmless"}
in    allow  -         {"q": "forbidden-word"}
in    deny   my-in-1   {"q": "forbidden-word"}
"""

BAD = """in    deny   no-such-rule   {"q": "x"}
sideways deny  my-in-1   {"q": "x"}
in    maybe  my-in-1   {"q": "x"}
in    deny
"""


def run(args):
    p = subprocess.run([rc.BIN, "rules", "test"] + args, capture_output=True, text=True,
                       timeout=300)
    return p.returncode, p.stdout, p.stderr


def main():
    rc.need_binary()
    fails = []

    def expect(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            fails.append(what)

    with tempfile.TemporaryDirectory(prefix="pl-rules-test-cmd-") as tmp:
        pack = os.path.join(tmp, "mine.yaml")
        open(pack, "w").write(PACK)
        open(os.path.join(tmp, "event.json"), "w").write('{"body": "forbidden-word"}')
        tables = {}
        for name, text in (("good.tests", GOOD), ("failing.tests", FAILING),
                           ("bad.tests", BAD)):
            tables[name] = os.path.join(tmp, name)
            open(tables[name], "w").write(text)
        base = ["--no-default-rules", "--rules", pack]

        code, out, err = run(base + [tables["good.tests"]])
        expect(code == 0, "passing table exits 0 (got %d: %s%s)" % (code, out, err))
        expect("rules test: 8 rows, 8 passed, 0 failed" in out, "summary line counts 8 rows")

        code, out, err = run(base + [tables["failing.tests"]])
        expect(code == 1, "failing rows exit 1 (got %d)" % code)
        expect("failing.tests:1: FAIL: expected deny my-in-1, got allow -" in out,
               "failing row printed with file:line, expected and actual")
        expect("failing.tests:2: FAIL: expected allow -, got deny my-in-1" in out,
               "second failing row printed")
        expect("failing.tests:3" not in out, "passing row not printed")
        expect("3 rows, 1 passed, 2 failed" in out, "summary counts failures")

        code, out, err = run(base + [tables["bad.tests"]])
        expect(code == 2, "table errors exit 2 (got %d)" % code)
        expect("bad.tests:1: unknown rule id 'no-such-rule'" in err, "unknown rule id named")
        expect("bad.tests:2: bad TARGET" in err, "bad target named")
        expect("bad.tests:3: bad VERDICT" in err, "bad verdict named")
        expect("bad.tests:4: a row needs" in err, "short row named")

        code, out, err = run(base + ["--verbose", tables["good.tests"]])
        expect(code == 0 and out.count(": ok: ") == 8, "--verbose prints passing rows")

        code, out, err = run(base)
        expect(code == 2 and "no table" in err, "no table is a usage error")
        code, out, err = run(["--bogus", tables["good.tests"]])
        expect(code == 2, "unknown option exits 2")
        code, out, err = run(["--help"])
        expect(code == 0 and "TARGET" in out, "--help documents the row format")

        # the default packs with the shipped tables, through the same command
        tables_dir = os.path.join(rc.RULES, "tests")
        shipped = sorted(os.path.join(tables_dir, t) for t in os.listdir(tables_dir)
                         if t.endswith(".tests"))
        code, out, err = run(["--no-default-rules", "--rules", rc.RULES] + shipped)
        print(out.strip().splitlines()[-1] if out.strip() else err)
        expect(code == 0, "the shipped tables pass against the default packs\n" + out[-3000:])
    if fails:
        print("FAILED: %d checks" % len(fails))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
