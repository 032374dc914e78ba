#!/usr/bin/env python3
"""protectlambda scan: findings with file/line/column, skips, filters, exit codes, and SARIF
validated against the official SARIF 2.1.0 schema with ajv."""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ.get("PL_BIN", "build/src/cli/protectlambda")
SRC = os.environ.get("PL_SOURCE_DIR", ".")
FAILS = []

CLASSIC = ".*(call|check_output|system|popen|run|local|spawn).*\\(.*\n"
YAML = """
rules:
  - id: T-PY-EVAL
    target: code
    pattern: '\\beval\\('
    severity: HIGH
    category: code-injection
    languages: [python]
    message: eval in Python
  - id: T-JS-EVAL
    target: code
    pattern: '\\beval\\('
    severity: MEDIUM
    category: code-injection
    languages: [node]
  - id: T-HANDLER-ONLY
    target: code
    pattern: 'TODO-SECRET'
    severity: LOW
    category: test
    action: alert
    paths: ['handlers/*.py']
"""


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)
    else:
        print("ok:", what)


def run(args, cwd=None):
    p = subprocess.run([os.path.abspath(BIN)] + args, capture_output=True, timeout=120, cwd=cwd)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def put(root, rel, data):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    return path


def main():
    tmp = tempfile.mkdtemp(prefix="pl-scan-")
    rules = tempfile.mkdtemp(prefix="pl-scan-rules-")
    atexit.register(shutil.rmtree, tmp, True)
    atexit.register(shutil.rmtree, rules, True)
    put(rules, "code_protect.txt", "# classic rules\n\n" + CLASSIC)
    put(rules, "pack.yaml", YAML)
    app = os.path.join(tmp, "app")
    put(app, "src/app.py", "import subprocess\n\ndef handler(event, ctx):\n"
        "    filetype = subprocess.check_output(command,shell=True).decode(\"utf-8\")\n"
        "    return eval(event['x']) + eval(event['y'])\n")
    put(app, "src/ui.js", "const x = 1;\nmodule.exports = () => eval(req.body);\n")
    put(app, "src/unicode.py", "s = 'héllo'; v = eval(s)\n")
    put(app, "handlers/h.py", "# TODO-SECRET\n")
    put(app, "other/o.py", "# TODO-SECRET\n")
    put(app, "node_modules/dep/index.js", "eval(x)\n")
    put(app, "lib/python3.12/site-packages/pkg/m.py", "eval(x)\n")
    put(app, "pkg-1.0.dist-info/x.py", "eval(x)\n")
    put(app, "__pycache__/c.py", "eval(x)\n")
    put(app, ".git/hooks/pre.py", "eval(x)\n")
    put(app, "bin/tool.bin", b"\x7fELF\x00\x00eval(x)\n")
    put(app, "bootstrap", "#!/bin/sh\nwhile true; do eval \"$x\"; done\n")
    os.symlink("..", os.path.join(app, "src", "loop"))
    base = ["scan", "--no-default-rules", "--rules", rules]

    rc, out, _ = run(["scan", "--help"])
    check(rc == 0 and "sarif" in out, "scan --help exits 0")
    rc, _, err = run(["scan"])
    check(rc == 2 and "protectlambda scan:" in err, "no path is a usage error (2)")
    rc, _, err = run(base + ["--format", "xml", app])
    check(rc == 2, "unknown format exits 2")
    rc, _, err = run(base + [os.path.join(tmp, "nope")])
    check(rc == 2 and "nope" in err, "missing path exits 2")
    bad = tempfile.mkdtemp(prefix="pl-scan-bad-")
    atexit.register(shutil.rmtree, bad, True)
    put(bad, "code_protect.txt", "ok\n(unclosed\n")
    rc, _, err = run(["scan", "--no-default-rules", "--rules", bad, app])
    check(rc == 2 and "code_protect.txt:2:" in err, "bad classic rule exits 2 naming file:line: %s" % err.strip())

    rc, out, err = run(base + ["--format", "json", app])
    check(rc == 1, "deny-level findings exit 1 (rc=%d %s)" % (rc, err.strip()))
    doc = json.loads(out)
    f = doc["findings"]
    files = {os.path.relpath(x["file"], app) for x in f}
    check(files == {"src/app.py", "src/ui.js", "src/unicode.py", "handlers/h.py"},
          "dependency folders, binaries, loops skipped; only matching files: %s" % sorted(files))
    classic = [x for x in f if x["rule"] == CLASSIC.strip()]
    check(any(x["line"] == 4 and x["column"] == 1 and "check_output" in x["match"] for x in classic),
          "classic rule flags the check_output line (reported by its pattern)")
    py_eval = [x for x in f if x["rule"] == "T-PY-EVAL" and x["file"].endswith("app.py")]
    check(len(py_eval) == 1 and py_eval[0]["line"] == 5 and py_eval[0]["column"] == 12,
          "one finding per (rule, line) with 1-based column: %s" % py_eval)
    check(py_eval and py_eval[0]["match"] == "eval(" and py_eval[0]["severity"] == "HIGH",
          "matched text and severity reported")
    js = [x for x in f if x["file"].endswith("ui.js")]
    check({x["rule"] for x in js} == {"T-JS-EVAL"}, "language filter: only the node rule on .js")
    uni = [x for x in f if x["file"].endswith("unicode.py") and x["rule"] == "T-PY-EVAL"]
    check(uni and uni[0]["column"] == 18, "column counts code points, not bytes: %s" % uni)
    check(not any(x["file"].endswith("o.py") for x in f), "path glob filter: other/o.py not matched")
    check(doc["files_scanned"] >= 6 and doc["files_skipped"] >= 1, "counts of scanned and skipped files")

    rc, out, _ = run(base + [app])
    check(rc == 1 and "src/app.py:5:12: HIGH T-PY-EVAL" in out, "text format file:line:col: SEVERITY rule")

    # --skip replaces the default skips
    rc, out, _ = run(base + ["--format", "json", "--skip", "src", "--skip", "handlers", app])
    files = {os.path.relpath(x["file"], app) for x in json.loads(out)["findings"]}
    check("node_modules/dep/index.js" in files and not any(x.startswith("src/") for x in files),
          "--skip replaces the default globs: %s" % sorted(files))

    # only alert-level findings: exit 0
    rc, out, _ = run(base + ["--format", "json", os.path.join(app, "handlers")])
    check(rc == 0 and len(json.loads(out)["findings"]) == 1, "alert-only findings exit 0")

    # an explicit file is scanned with its path for globs
    rc, out, _ = run(base + ["--format", "json", os.path.join(app, "src", "ui.js")])
    check(rc == 1 and len(json.loads(out)["findings"]) == 1, "a FILE argument is scanned")

    # SARIF, validated with ajv against the official schema
    rc, out, _ = run(base + ["--format", "sarif", "."], cwd=app)
    sarif = os.path.join(tmp, "out.sarif")
    with open(sarif, "w") as fh:
        fh.write(out)
    doc = json.loads(out)
    results = doc["runs"][0]["results"]
    check(rc == 1 and len(results) == len(f), "SARIF has one result per finding")
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    check("src/app.py" in uris, "SARIF URIs are relative to the scan root: %s" % sorted(uris))
    rules_arr = doc["runs"][0]["tool"]["driver"]["rules"]
    check(all(rules_arr[r["ruleIndex"]]["id"] == r["ruleId"] for r in results), "ruleIndex points at ruleId")
    schema = os.path.join(SRC, "tests", "data", "sarif-schema-2.1.0.json")
    v = subprocess.run(["node", os.path.join(SRC, "tests", "integration", "cli", "validate_sarif.js"),
                        schema, sarif], capture_output=True, timeout=60)
    check(v.returncode == 0, "SARIF output is valid against the SARIF 2.1.0 schema: %s" % v.stderr.decode()[-800:])
    # the validator itself rejects an invalid document (the test can fail)
    doc["runs"][0]["results"][0]["level"] = "fatal"
    badf = os.path.join(tmp, "bad.sarif")
    with open(badf, "w") as fh:
        json.dump(doc, fh)
    v = subprocess.run(["node", os.path.join(SRC, "tests", "integration", "cli", "validate_sarif.js"),
                        schema, badf], capture_output=True, timeout=60)
    check(v.returncode == 1, "the schema check rejects an invalid SARIF level")

    # no findings at all: valid SARIF, exit 0
    clean = os.path.join(tmp, "clean")
    put(clean, "ok.py", "print('hello')\n")
    rc, out, _ = run(base + ["--format", "sarif", clean])
    with open(sarif, "w") as fh:
        fh.write(out)
    v = subprocess.run(["node", os.path.join(SRC, "tests", "integration", "cli", "validate_sarif.js"),
                        schema, sarif], capture_output=True, timeout=60)
    check(rc == 0 and v.returncode == 0 and json.loads(out)["runs"][0]["results"] == [],
          "clean tree: exit 0, empty valid SARIF")

    # packages installed beside the code (pip install -t .): their *.dist-info RECORD (or an
    # *.egg-info's top_level.txt) lists them; skipped like site-packages, the handler's module not
    vend = os.path.join(tmp, "vendored")
    put(vend, "app.py", "import yaml\n# never eval(event) here\n    # nor eval(x)\n"
        "def handler(event, ctx):\n    return yaml.safe_load(event['b'])\n")
    put(vend, "yaml/__init__.py", "def load(s):\n    return eval(s)\n")
    put(vend, "six.py", "exec_ = eval\nx = eval(y)\n")
    put(vend, "PyYAML-6.0.dist-info/RECORD",
        "yaml/__init__.py,sha256=abc,30\nPyYAML-6.0.dist-info/RECORD,,\n../../bin/x,,\n")
    put(vend, "six-1.16.0.dist-info/RECORD", "six.py,sha256=def,20\n")
    put(vend, "legacy/__init__.py", "eval(z)\n")
    put(vend, "legacy-0.1.egg-info/top_level.txt", "legacy\n")
    # the handler's own package, installed the same way, is still scanned
    put(vend, "svc/handler.py", "def main(e, c):\n    return eval(e['q'])\n")
    put(vend, "svc-1.0.dist-info/RECORD", "svc/handler.py,,\n")
    env0 = {k: v for k, v in os.environ.items() if k != "_HANDLER"}
    p = subprocess.run([os.path.abspath(BIN)] + base + ["--format", "json", vend],
                       capture_output=True, timeout=120, env=env0)
    doc = json.loads(p.stdout)
    files = sorted({os.path.relpath(x["file"], vend) for x in doc["findings"]})
    check(files == [] and doc["dependencies_skipped"] == 4,
          "installed packages skipped (yaml, six.py, legacy; svc too without _HANDLER): %s %r" % (
              files, doc.get("dependencies_skipped")))
    check(doc["comment_matches"] == 2, "matches on comment lines ignored for language rules: %r"
          % doc.get("comment_matches"))
    env = dict(os.environ, _HANDLER="svc.handler.main")
    p = subprocess.run([os.path.abspath(BIN)] + base + ["--format", "json", vend],
                       capture_output=True, timeout=120, env=env)
    files = sorted({os.path.relpath(x["file"], vend) for x in json.loads(p.stdout)["findings"]})
    check(files == ["svc/handler.py"] and json.loads(p.stdout)["dependencies_skipped"] == 3,
          "the handler's module (_HANDLER) is never taken for a dependency: %s" % files)

    print("%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
