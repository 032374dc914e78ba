"""Helpers for the emulator integration tests: start `protectlambda emulate` / `invoke` as real
processes on 127.0.0.1, talk HTTP to them, and always clean up (process groups)."""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

SOURCE = os.environ.get("PL_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.environ.get("PL_BIN") or os.path.join(SOURCE, "build", "src", "cli", "protectlambda")
RIC = os.path.join(SOURCE, "tests", "node_modules", "aws-lambda-ric", "bin", "index.mjs")
SHELL_RUNTIME = os.path.join(SOURCE, "examples", "runtimes", "shell", "bootstrap")
PY_RUNTIME = os.path.join(SOURCE, "examples", "runtimes", "python", "bootstrap.py")
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
MAX_PAYLOAD = 6 * 1024 * 1024


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


class Emulate:
    """`protectlambda emulate --port 0 ...`: waits for the 'listening' line, parses the ports."""

    def __init__(self, args, env=None, start_timeout=20):
        self.args = [BIN, "emulate", "--port", "0"] + args
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=e, start_new_session=True)
        self.lines = []
        self.out = []
        self._ready = threading.Event()
        self.port = None
        self.runtime_api = None
        threading.Thread(target=self._drain, args=(self.proc.stderr, self.lines, True),
                         daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stdout, self.out, False),
                         daemon=True).start()
        if not self._ready.wait(start_timeout):
            self.kill()
            raise Failure("emulate did not start: " + self.log())

    def _drain(self, f, sink, parse):
        for raw in iter(f.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            sink.append(line)
            if parse and not self._ready.is_set() and "listening on" in line:
                try:
                    j = json.loads(line)
                    self.port = j["port"]
                    self.runtime_api = j["runtime_api"]
                except (ValueError, KeyError):
                    continue
                self._ready.set()

    def log(self):
        return "\n".join(self.lines[-60:])

    def request(self, method, path, body=None, headers=None, port=None, timeout=60):
        c = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def invoke(self, event, headers=None, timeout=60):
        body = event if isinstance(event, (bytes, str)) else json.dumps(event)
        return self.request("POST", INVOKE_PATH, body, headers, timeout=timeout)

    def stats(self):
        st, _, body = self.request("GET", "/_protectlambda/emulator/stats")
        check(st == 200, "stats: HTTP %d" % st)
        return json.loads(body)

    def runtime_api_request(self, method, path, body=None, headers=None):
        host, port = self.runtime_api.split(":")
        return self.request(method, path, body, headers, port=int(port))

    def stop(self, timeout=15):
        """SIGTERM, wait; returns the exit code"""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure("emulate did not stop within %ss after SIGTERM" % timeout)

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.kill()
        return False


def run_invoke(args, stdin=None, env=None, timeout=120):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([BIN, "invoke"] + args, input=stdin, capture_output=True, env=e,
                       timeout=timeout, start_new_session=True)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def descendants(pid):
    """pids whose ancestry reaches pid (from /proc)"""
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            parent[int(d)] = ppid
        except (OSError, ValueError):
            continue
    out = set()
    changed = True
    while changed:
        changed = False
        for p, pp in parent.items():
            if p not in out and (pp == pid or pp in out):
                out.add(p)
                changed = True
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def main(tests):
    if len(sys.argv) < 2 or sys.argv[1] not in tests:
        print("usage: %s {%s}" % (sys.argv[0], "|".join(tests)))
        return 2
    name = sys.argv[1]
    if not os.access(BIN, os.X_OK):
        print("FAIL %s: protectlambda binary not found at %s" % (name, BIN))
        return 1
    with tempfile.TemporaryDirectory(prefix="pl-emu-") as tmp:
        t0 = time.time()
        try:
            tests[name](tmp)
        except Failure as e:
            print("FAIL %s: %s" % (name, e))
            return 1
        print("ok %s (%.2fs)" % (name, time.time() - t0))
    return 0
