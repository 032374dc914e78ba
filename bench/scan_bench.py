#!/usr/bin/env python3
"""Code scan bench (not a test): `protectlambda scan` with the default code pack over a ~250 MB
tree (Debian's /usr/lib/python3* plus a tree generated under /tmp at bench time) against
ripgrep (`rg -f PATTERNS`, Debian package ripgrep) with the same code rules' regexes on the
same files, measured in the same run, warm page cache for both. Target: faster than ripgrep.

Same files: protectlambda skips binaries (a NUL byte in the first 8 KB), its default
`scan_skip` globs and Python packages installed beside the code (a *.dist-info RECORD lists
them); rg gets the list of the files scan reads, computed the same way (--no-ignore --hidden)
and skips binaries by itself. The file counts of both are printed.
Same patterns: every code rule's pattern, in ASCII mode `(?-u)` (`(?i-u)` for caseless
ones): protectlambda matches bytes (Vectorscan without UTF-8 mode: \b, \w, \s are ASCII), so
this is the same semantics, and it is rg's fast path: with its default Unicode classes rg 13
took ~180 s instead of ~25 s on this tree (docs/performance.md). Patterns rg refuses are left
out of rg's list (counted; that only makes rg's job easier).

--quick: only a 40 MB generated tree (no /usr/lib/python3*), one timed run of each, no rg -j1.

usage: bench/scan_bench.py [--quick] [--bin PATH] [--mb N] [--keep]
Prints a table and BENCH lines (bench/run)."""
import argparse
import fnmatch
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
SKIP = ["node_modules", "site-packages", "*.dist-info", "__pycache__", ".git"]

JS_TEMPLATE = """'use strict';
const path = require('path');
const {{ DynamoDBClient, GetItemCommand }} = require('@aws-sdk/client-dynamodb');
const client{n} = new DynamoDBClient({{ region: process.env.AWS_REGION }});

/**
 * Handler {n}: reads an item and returns it as JSON.
 */
exports.handler{n} = async (event, context) => {{
  const id = event.pathParameters && event.pathParameters.id;
  if (!id || !/^[a-z0-9-]{{1,64}}$/.test(id)) {{
    return {{ statusCode: 400, body: JSON.stringify({{ error: 'bad id' }}) }};
  }}
  const out = await client{n}.send(new GetItemCommand({{ TableName: 'items-{n}', Key: {{ id: {{ S: id }} }} }}));
  const file = path.join('/tmp', `cache-${{id}}.json`);
  for (let i = 0; i < {k}; i++) {{
    console.log('attempt', i, file, context.awsRequestId);
  }}
  return {{ statusCode: 200, headers: {{ 'content-type': 'application/json' }}, body: JSON.stringify(out.Item || {{}}) }};
}};
"""


def gen_tree(root, target_bytes, seed=7):
    """code-like files: Python files stitched from stdlib sources (real code text), JS
    handlers, shell bootstraps; a few files carry rule findings (as real trees do)"""
    rnd = random.Random(seed)
    srcs = []
    for d in ("/usr/lib/python3.11", "/usr/lib/python3"):
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith(".py"):
                try:
                    with open(os.path.join(d, name), encoding="utf-8") as f:
                        srcs.append(f.read())
                except (OSError, UnicodeDecodeError):
                    pass
    if not srcs:
        srcs = ["def f(x):\n    return x * 2\n" * 200]
    total, n = 0, 0
    while total < target_bytes:
        d = os.path.join(root, "svc%03d" % (n // 200), "pkg%02d" % (n // 20 % 10))
        os.makedirs(d, exist_ok=True)
        kind = n % 10
        if kind < 7:
            parts = [rnd.choice(srcs) for _ in range(2)]
            text = "\n\n".join(p[: rnd.randint(4000, 40000)] for p in parts)
            if n % 97 == 0:
                text += "\nimport os\nos.system('rm -rf ' + user_path)\n"
            path = os.path.join(d, "mod%05d.py" % n)
        elif kind < 9:
            text = "".join(JS_TEMPLATE.format(n=n * 10 + j, k=j + 1) for j in range(rnd.randint(5, 30)))
            if n % 89 == 0:
                text += "\nrequire('child_process').exec('ls ' + event.q);\n"
            path = os.path.join(d, "handler%05d.js" % n)
        else:
            text = "#!/bin/sh\nset -eu\n" + "".join(
                'echo "step %d" >&2\nexport VAR_%d="${VAR_%d:-default}"\n' % (i, i, i)
                for i in range(rnd.randint(50, 400)))
            path = os.path.join(d, "bootstrap%05d" % n)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        total += len(text.encode("utf-8"))
        n += 1
    return total, n


def installed_names(dirpath, names):
    """what `scan` takes for packages installed beside the code in dirpath (src/inspect/code.c,
    s_deps_collect): the first path component of every *.dist-info/RECORD row and the lines of
    *.dist-info|*.egg-info/top_level.txt (the bench sets no _HANDLER)"""
    deps = set()
    for n in names:
        files = ["RECORD", "top_level.txt"] if n.endswith(".dist-info") else (
            ["top_level.txt"] if n.endswith(".egg-info") else [])
        for f in files:
            try:
                with open(os.path.join(dirpath, n, f), encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            except OSError:
                continue
            for line in text.split("\n"):
                q = line[1:] if line.startswith('"') else line
                m = re.search(r'[/,"\r]', q)
                if f == "RECORD" and not m:
                    continue
                k = q[:m.start()] if m else q
                if k and k != ".." and k != n and len(k) < 256:
                    deps.add(k)
    return deps


def scanned_files(paths):
    """the files `scan` reads: default skip globs, installed packages (binaries and files over
    64 MB are skipped by both tools themselves)"""
    out, total = [], 0
    for p in paths:
        for dirpath, dirnames, filenames in os.walk(p, followlinks=True):
            deps = installed_names(dirpath, dirnames + filenames)
            dirnames[:] = sorted(x for x in dirnames
                                 if x not in deps and not any(fnmatch.fnmatch(x, g) for g in SKIP))
            for fn in sorted(filenames):
                if fn in deps or any(fnmatch.fnmatch(fn, g) for g in SKIP):
                    continue
                path = os.path.join(dirpath, fn)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                out.append(path)
                total += st.st_size
    return out, total


def du_bytes(paths, skip_dirs):
    del skip_dirs
    return scanned_files(paths)[1]


def timed(argv, out_path, env=None):
    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, env=env)
        secs = time.perf_counter() - t0
    return secs, p.returncode, p.stderr.decode("utf-8", "replace")


def rg_accepts(rg, pattern):
    p = subprocess.run([rg, "-e", pattern, "--", "/dev/null"], capture_output=True)
    return p.returncode in (0, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--bin", default=os.environ.get("PL_BIN",
                                                    os.path.join(SRC, "build/src/cli/protectlambda")))
    ap.add_argument("--mb", type=int, default=250, help="size of the whole tree")
    ap.add_argument("--keep", action="store_true", help="keep the generated tree")
    a = ap.parse_args()
    rg = shutil.which("rg")
    if not rg:
        print("scan bench: ripgrep (rg) is not installed: apt-get install ripgrep", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="pl-scan-bench-")
    try:
        return run(a, rg, tmp)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _mini_yaml_rules(text):
    """the subset of YAML the packs use for these keys (without python3-yaml): `- id: X`,
    `target: T`, `flags: [a, b]`, `pattern: '...'` (single-quoted, '' for ')"""
    rules, cur = [], None
    for line in text.splitlines():
        t = line.strip()
        if t.startswith("- id:"):
            cur = {"id": t[5:].strip()}
            rules.append(cur)
        elif cur is None:
            continue
        elif t.startswith("target:"):
            cur["target"] = t[7:].strip()
        elif t.startswith("flags:"):
            cur["flags"] = [x.strip() for x in t[6:].strip().strip("[]").split(",") if x.strip()]
        elif t.startswith("pattern: '") and t.endswith("'"):
            cur["pattern"] = t[10:-1].replace("''", "'")
    return [r for r in rules if "pattern" in r]


def load_code_rules(pl_bin, tmp):
    """the code rules of the default packs (rules/*.yaml): id, pattern, flags"""
    try:
        import yaml  # python3-yaml, when installed
    except ImportError:
        yaml = None
    rules = []
    rdir = os.path.join(SRC, "rules")
    for name in sorted(os.listdir(rdir)):
        if not name.endswith((".yaml", ".yml")):
            continue
        with open(os.path.join(rdir, name), encoding="utf-8") as f:
            text = f.read()
        doc = yaml.safe_load(text).get("rules", []) if yaml else _mini_yaml_rules(text)
        for r in doc:
            if r.get("target") == "code":
                rules.append((r["id"], r["pattern"], r.get("flags") or []))
    return rules


def run(a, rg, tmp):
    roots = [] if a.quick else [p for p in ("/usr/lib/python3", "/usr/lib/python3.11")
                                if os.path.isdir(p)]
    base = du_bytes(roots, set(SKIP))
    gen = os.path.join(tmp, "gen")
    want = 40 * 1000 * 1000 if a.quick else max(a.mb * 1000 * 1000 - base, 10 * 1000 * 1000)
    t0 = time.time()
    gbytes, gfiles = gen_tree(gen, want)
    paths = roots + [gen]
    print("scan bench: tree = %s (%.0f MB outside skipped folders) + generated %s (%.0f MB, %d "
          "files, made in %.1f s)" % (" ".join(roots), base / 1e6, gen, gbytes / 1e6, gfiles,
                                      time.time() - t0))
    db = os.path.join(tmp, "rules.db")
    p = subprocess.run([a.bin, "compile", "-q", "-o", db], capture_output=True, text=True)
    if p.returncode != 0:
        print("scan bench: compile failed: %s" % p.stderr[-500:], file=sys.stderr)
        return 2
    rules = load_code_rules(a.bin, tmp)
    pats, left_out = [], []
    for rid, pat, flags in rules:
        full = ("(?i-u)" if "caseless" in flags else "(?-u)") + pat
        if rg_accepts(rg, full):
            pats.append(full)
        else:
            left_out.append(rid)
    pfile = os.path.join(tmp, "patterns")
    with open(pfile, "w", encoding="utf-8") as f:
        f.write("\n".join(pats) + "\n")
    # rg gets the very files scan reads (its globs cannot express "a package listed by a
    # *.dist-info beside it"), named one by one: no directory walk of its own
    files, _ = scanned_files(paths)
    rg_cmd = [rg, "--no-ignore", "--hidden", "-L", "-n", "--no-heading", "-f", pfile] + files
    rg1_cmd = rg_cmd[:1] + ["-j", "1"] + rg_cmd[1:]
    pl_cmd = [a.bin, "scan", "--rules-db", db, "--format", "json"] + paths
    out = os.path.join(tmp, "out")
    reps = 1 if a.quick else 3
    # warm the page cache and check that both run
    s, rc, err = timed(pl_cmd, out)
    if rc not in (0, 1):
        print("scan bench: protectlambda scan failed (exit %d): %s" % (rc, err[-500:]), file=sys.stderr)
        return 2
    with open(out, encoding="utf-8") as f:
        res = json.load(f)
    s, rc, err = timed(rg_cmd + ["--stats"], out)
    if rc not in (0, 1):
        print("scan bench: rg failed (exit %d): %s" % (rc, err[-500:]), file=sys.stderr)
        return 2
    rg_files = rg_matches = None
    with open(out, encoding="utf-8", errors="replace") as f:
        for line in f:
            w = line.split()
            if line.endswith("files searched\n"):
                rg_files = int(w[0])
            elif line.endswith("matched lines\n"):
                rg_matches = int(w[0])
    t_pl, t_rg, t_rg1 = [], [], []
    for _ in range(reps):  # interleaved: both see the same machine load
        t_pl.append(timed(pl_cmd, out)[0])
        t_rg.append(timed(rg_cmd, out)[0])
        if not a.quick:
            t_rg1.append(timed(rg1_cmd, out)[0])
    mp, mr = statistics.median(t_pl), statistics.median(t_rg)
    mr1 = statistics.median(t_rg1) if t_rg1 else None
    mb = res.get("bytes_scanned", 0) / 1e6
    print("protectlambda: %d files scanned (%d skipped), %.0f MB, %d findings; rg: %s files "
          "searched, %s matched lines" % (res.get("files_scanned", 0), res.get("files_skipped", 0),
                                          mb, len(res.get("findings", [])), rg_files, rg_matches))
    print("patterns: %d code rules; rg takes %d (left out, rg syntax: %s)" % (
        len(rules), len(pats), ", ".join(left_out) or "none"))
    print("%-34s %10s %10s" % ("median of %d, wall clock" % reps, "seconds", "MB/s"))
    rows = [("protectlambda scan (1 thread)", mp), ("rg -f (default threads)", mr)]
    if mr1:
        rows.append(("rg -f -j 1", mr1))
    for name, m in rows:
        print("%-34s %10.2f %10.0f" % (name, m, mb / m if m else 0))
    print("ratio protectlambda / rg = %.2f (target: < 1, faster than ripgrep)%s"
          % (mp / mr, "; vs rg -j1 %.2f" % (mp / mr1) if mr1 else ""))
    bases = [("rg -f, same patterns+files (%d threads)" % (os.cpu_count() or 1), mr)]
    if mr1:
        bases.append(("rg -f -j1, same patterns+files", mr1))
    for base_name, m in bases:
        print("BENCH " + json.dumps({
            "row": "code scan", "input": "%.0f MB tree, %d files" % (mb, res.get("files_scanned", 0)),
            "unit": "s", "protectlambda": round(mp, 3), "baseline": round(m, 3),
            "baseline_name": base_name, "ratio": round(mp / m, 3), "target": "faster than ripgrep (<1)"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
