"""Warm-up starts for the cold-start benches.

This machine (a Firecracker guest) reclaims page cache within seconds whether or not it is in
use (docs/performance.md, session 11: `Cached` 307 -> 236 MB in 15 idle seconds with 23 GB
free; the guard binary 8.8 -> 6.6 MB resident in 10 s). A cold start measured right after
another one then reads a random part of the runtime's own files (the interpreter, its shared
library, the standard library) from disk: up to 5 MB and +40 ms in one round, landing on
either configuration at random. warm_runtime starts the runtime once, untimed, right before
each timed start, so both configurations begin with the runtime's files in the cache: the
difference measured is then protectlambda's work. protectlambda's own files (the guard, the
wrapper, the monitor library, rules.db) are NOT warmed: reading them counts against it, as
on a Lambda cold start.
"""
import os
import socket
import subprocess


def closed_port():
    """a 127.0.0.1 port nothing listens on (bound, never listening: connect is refused)"""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def warm_runtime(cmd, env=None, cwd=None, timeout=10):
    """start the runtime command once against a Runtime API that refuses connections: it loads
    what it loads on a cold start, then fails its first request and exits (killed after
    timeout seconds otherwise). Its output is discarded; its exit status does not matter."""
    hold, port = closed_port()
    e = dict(os.environ if env is None else env)
    e["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:%d" % port
    try:
        p = subprocess.Popen(cmd, env=e, cwd=cwd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    finally:
        hold.close()
