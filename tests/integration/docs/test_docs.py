#!/usr/bin/env python3
"""Every command answers --help, has its man-style page under docs/cli/, and
docs/configuration.md is what the settings table generates (`protectlambda config --markdown`)."""
import os
import re
import subprocess
import sys

BIN = os.environ["PL_BIN"]
SRC = os.environ.get("PL_SOURCE_DIR", os.getcwd())
failures = []


def run(args):
    return subprocess.run([BIN] + args, capture_output=True, text=True, timeout=60)


top = run(["--help"])
if top.returncode != 0:
    failures.append(f"--help exited {top.returncode}")
commands = []
in_cmds = False
for line in top.stdout.splitlines():
    if line.startswith("commands:"):
        in_cmds = True
        continue
    if in_cmds:
        if not line.strip():
            break
        m = re.match(r"  (\S+(?: \S+)?)\s{2,}\S", line) or re.match(r"  (\S+ \S+) \S", line)
        if m:
            commands.append(m.group(1))
if len(commands) < 15:
    failures.append(f"expected the full command list, got {commands}")

for cmd in commands:
    words = cmd.split()
    p = run(words + ["--help"])
    out = p.stdout + p.stderr
    if p.returncode != 0:
        failures.append(f"'{cmd} --help' exited {p.returncode}")
    if "usage" not in out.lower():
        failures.append(f"'{cmd} --help' prints no usage line")
    page = os.path.join(SRC, "docs", "cli", "-".join(words) + ".md")
    if not os.path.exists(page) and not os.path.exists(os.path.join(SRC, "docs", "cli", words[0] + ".md")):
        failures.append(f"no docs/cli page for '{cmd}' ({page})")

bad = run(["no-such-command"])
if bad.returncode != 2 or "unknown command" not in bad.stderr:
    failures.append("an unknown command must exit 2 with a clear message")

gen = run(["config", "--markdown"])
doc = os.path.join(SRC, "docs", "configuration.md")
text = open(doc).read() if os.path.exists(doc) else ""
if gen.stdout.strip() not in text:
    failures.append("docs/configuration.md is stale: regenerate it with `make docs`")

for f in failures:
    print("FAIL: " + f)
print(f"{len(commands)} commands checked")
print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
sys.exit(1 if failures else 0)
