"""Helpers shared by the robustness tests (standard library only)."""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("PL_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "../../.."))
PL_BIN = os.environ.get("PL_BIN") or os.path.join(SRC, "build/src/cli/protectlambda")
SHARED = os.environ.get("PL_SHARED_DIR") or os.path.join(SRC, "../shared")
RULES = os.path.join(SRC, "rules")


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


# Linux keeps ru_maxrss across fork/vfork + exec: a child started from this (big) Python
# process would report this process's peak. A small Python process in between starts the real
# child and reports the child's own peak RSS (KB) on fd 3.
_MEASURE = r"""
import os, subprocess, sys
fd = os.environ["PL_MEASURE_FD"]
p = subprocess.Popen(sys.argv[1:], env={k: v for k, v in os.environ.items() if k != "PL_MEASURE_FD"})
_, status, ru = os.wait4(p.pid, 0)
os.write(int(fd), b"%d" % ru.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status) & 0xff)
"""


def run_measured(argv, stdin_path=None, env=None, timeout=300, cwd=None):
    """run a child to completion; returns (rc, stdout, stderr, peak RSS in MB, seconds)"""
    e = dict(os.environ)
    e.update(env or {})
    rfd, wfd = os.pipe()
    e["PL_MEASURE_FD"] = str(wfd)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        fin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        t0 = time.monotonic()
        p = subprocess.Popen([sys.executable, "-c", _MEASURE] + list(argv), stdin=fin,
                             stdout=out, stderr=err, env=e, cwd=cwd,
                             pass_fds=(wfd,))
        os.close(wfd)
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                os.wait4(p.pid, 0)
                raise Fail("%s did not finish within %d s" % (argv[:3], timeout))
            time.sleep(0.02)
        secs = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        with os.fdopen(rfd, "rb") as r:
            kb = r.read().strip()
        if not kb:
            raise Fail("%s: no RSS measurement (exit %d)" % (argv[:3], p.returncode))
        if fin is not subprocess.DEVNULL:
            fin.close()
        out.seek(0)
        err.seek(0)
        return (p.returncode, out.read().decode("utf-8", "replace"),
                err.read().decode("utf-8", "replace"), int(kb) / 1024.0, secs)


def log_lines(stderr):
    """the JSON log lines of a protectlambda process's stderr"""
    out = []
    for line in stderr.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def main(tests, argv):
    names = argv[1:] or sorted(tests)
    failed = 0
    for n in names:
        t0 = time.monotonic()
        try:
            tests[n]()
            print("PASS %s (%.1f s)" % (n, time.monotonic() - t0), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure kind
            failed += 1
            import traceback
            traceback.print_exc()
            print("FAIL %s: %s" % (n, e), flush=True)
    return 1 if failed else 0
