"""Helpers of the incidents integration tests: free ports, child processes that are always
cleaned up, the probe driver, the SigV4 server and dynalite."""
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("PL_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))
BUILD = os.environ.get("PL_BUILD_DIR", os.path.join(SRC, "build"))
PL_BIN = os.environ.get("PL_BIN", os.path.join(BUILD, "src", "cli", "protectlambda"))
PROBE = os.path.join(BUILD, "tests", "integration", "incidents", "incidents_probe")
STORE_SUITE = os.path.join(BUILD, "tests", "unit", "incidents", "test_store_suite_sqlite")
NODE_MODULES = os.path.join(SRC, "tests", "node_modules")
HERE = os.path.dirname(os.path.abspath(__file__))

ACCESS_KEY = "AKIDPROTECTLAMBDATEST"
SECRET = "pl/secret+key/0123456789abcdefghijklmnop"

_children = []


def _cleanup():
    for p in _children:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()


atexit.register(_cleanup)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok   " + msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, start_new_session=True, **kw)
    _children.append(p)
    return p


def stop(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def tmpdir():
    d = tempfile.mkdtemp(prefix="pl-incidents-")
    atexit.register(shutil.rmtree, d, True)
    return d


def aws_env(extra=None):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("PROTECTLAMBDA_") or k in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_SESSION_TOKEN"):
            del env[k]
    env.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
                "AWS_REGION": "eu-west-1", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(k, None)
    if extra:
        env.update(extra)
    return env


def start_sigv4_server(log, extra_args=()):
    cmd = ["node", os.path.join(HERE, "sigv4_server.js"), "--log", log, "--access-key", ACCESS_KEY,
           "--secret", SECRET] + list(extra_args)
    p = spawn(cmd, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("LISTENING "):
        fail("sigv4 server did not start: %r" % line)
    return p, int(line.split()[1])


def read_log(log):
    if not os.path.exists(log):
        return []
    with open(log) as f:
        return [json.loads(l) for l in f if l.strip()]


def start_dynalite(port=None):
    port = port or free_port()
    cli = os.path.join(NODE_MODULES, "dynalite", "cli.js")
    p = spawn(["node", cli, "--port", str(port), "--createTableMs", "0", "--deleteTableMs", "0",
               "--updateTableMs", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, port
        except OSError:
            if p.poll() is not None:
                fail("dynalite exited")
            time.sleep(0.05)
    fail("dynalite did not listen")


def run_probe(env, *args, timeout=60):
    r = subprocess.run([PROBE, "report"] + [str(a) for a in args], env=env, capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        fail("probe failed (%d): %s" % (r.returncode, r.stderr[-2000:]))
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    return lines, r.stderr


def stats(lines):
    return [l for l in lines if l["op"] == "stats"][-1]


def reports(lines):
    return [l for l in lines if l["op"] == "report"]


def start_line(lines):
    return [l for l in lines if l["op"] == "start"][0]
