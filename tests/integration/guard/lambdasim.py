"""A strict, minimal Lambda service for the guard's end-to-end tests (standard library only).

It serves the Runtime API and the Extensions API on 127.0.0.1 like Lambda does, starts the
guard (`protectlambda extension`) as an external extension and the runtime through
`protectlambda wrap -- <runtime>` (what AWS_LAMBDA_EXEC_WRAPPER does), in that order: as in
Lambda (rapid: AwaitExternalAgentsRegistered), the runtime starts as soon as the extension has
registered, while the guard is still loading its rules, so its first GET /next may reach the
proxy before the guard is ready. It records every answer per request id so tests can check
each invocation was answered exactly once.
"""
import base64
import http.server
import json
import os
import queue
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid

RT = "/2018-06-01/runtime/"
EXT = "/2020-01-01/extension/"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Answer:
    def __init__(self, kind, body, headers, trailers=None):
        self.kind = kind          # "response", "error", "init_error"
        self.body = body          # bytes
        self.headers = headers    # dict (lower-case names)
        self.trailers = trailers or {}

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Answer(%s, %r)" % (self.kind, self.body[:200])


class Sim:
    def __init__(self, extra_next_headers=None):
        mu = threading.RLock()
        self.lock = threading.Condition(mu)
        # the extension's event/next waits on its own condition (same lock): a notify for the
        # runtime side must not wake it (as in Lambda, where its long-poll costs the runtime's
        # requests nothing); with one condition every runtime-side notify woke that thread,
        # and the GIL it took showed up as latency added by the guard (~3 wake-ups per
        # invocation)
        self.ext_cond = threading.Condition(mu)
        self.pending = []                # invocations not yet fetched by the runtime
        self.answers = {}                # request id -> [Answer]
        self.events_for_ext = []         # extension events queue
        self.ext_registered = None
        self.ext_waiting = threading.Event()     # the extension called event/next (ready)
        self.ext_registered_evt = threading.Event()
        self.ext_ready_time = None               # its first event/next (monotonic)
        self.init_errors = []
        self.next_headers_seen = []      # headers of runtime GET /next requests
        self.post_headers_seen = []
        self.extra_next_headers = extra_next_headers or {}
        self.next_calls = 0
        self.first_next_time = None
        self.next_times = []             # arrival time of every runtime GET /next
        self.procs = []
        sim = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _body(self):
                te = self.headers.get("Transfer-Encoding", "")
                if "chunked" in te.lower():
                    data, trailers = b"", {}
                    while True:
                        line = self.rfile.readline().strip()
                        n = int(line.split(b";")[0], 16)
                        if n == 0:
                            while True:
                                t = self.rfile.readline()
                                if t in (b"\r\n", b"\n", b""):
                                    break
                                k, _, v = t.decode().partition(":")
                                trailers[k.strip().lower()] = v.strip()
                            return data, trailers, True
                        data += self.rfile.read(n)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length", "0") or 0)
                return self.rfile.read(n), {}, False

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _send(self, status, body=b"", headers=None):
                # one write for head and body (no Nagle / delayed-ACK stalls)
                head = ["HTTP/1.1 %d %s" % (status, self.responses.get(status, ("",))[0]),
                        "Date: " + self.date_time_string()]
                for k, v in (headers or {}).items():
                    head.append("%s: %s" % (k, v))
                head.append("Content-Length: %d" % len(body))
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

            def do_GET(self):
                p = self.path
                if p == RT + "invocation/next":
                    with sim.lock:
                        sim.next_calls += 1
                        now = time.monotonic()
                        if sim.first_next_time is None:
                            sim.first_next_time = now
                        sim.next_times.append(now)
                        sim.lock.notify_all()
                        sim.next_headers_seen.append(dict(self.headers))
                        while not sim.pending:
                            sim.lock.wait()
                        inv = sim.pending.pop(0)
                    h = {"Lambda-Runtime-Aws-Request-Id": inv["id"],
                         "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30000),
                         "Lambda-Runtime-Invoked-Function-Arn":
                             "arn:aws:lambda:us-east-1:123456789012:function:test",
                         "Lambda-Runtime-Trace-Id": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1",
                         "Content-Type": "application/json"}
                    h.update(sim.extra_next_headers)
                    self._send(200, inv["event"], h)
                    return
                if p == EXT + "event/next":
                    if sim.ext_ready_time is None:
                        sim.ext_ready_time = time.monotonic()
                    sim.ext_waiting.set()
                    with sim.lock:
                        while not sim.events_for_ext:
                            sim.ext_cond.wait()
                        ev = sim.events_for_ext.pop(0)
                    self._send(200, json.dumps(ev).encode(), {"Content-Type": "application/json"})
                    return
                self._send(404, b'{"errorMessage":"not found"}')

            def do_POST(self):
                p = self.path
                body, trailers, chunked = self._body()
                hdrs = {k.lower(): v for k, v in self.headers.items()}
                if p == EXT + "register":
                    sim.ext_registered = (hdrs.get("lambda-extension-name"), json.loads(body))
                    self._send(200, b'{"functionName":"test","functionVersion":"$LATEST","handler":"app.handler"}',
                               {"Lambda-Extension-Identifier": str(uuid.uuid4())})
                    sim.ext_registered_evt.set()
                    return
                if p.startswith(EXT):
                    with sim.lock:
                        sim.init_errors.append((p, body))
                    self._send(202, b"{}")
                    return
                if p == RT + "init/error":
                    with sim.lock:
                        sim.init_errors.append((p, body))
                        sim.lock.notify_all()
                    self._send(202, b'{"status":"OK"}')
                    return
                if p.startswith(RT + "invocation/"):
                    rid, _, what = p[len(RT + "invocation/"):].partition("/")
                    kind = "response" if what == "response" else "error"
                    if trailers.get("lambda-runtime-function-error-type"):
                        kind = "error"
                    with sim.lock:
                        sim.post_headers_seen.append(hdrs)
                        known = rid in sim.answers
                        if known:
                            sim.answers[rid].append(Answer(kind, body, hdrs, trailers))
                        sim.lock.notify_all()
                    if not known:
                        self._send(400, b'{"errorMessage":"unknown request id"}')
                    elif len(sim.answers[rid]) > 1:
                        self._send(400, b'{"errorMessage":"already answered"}')
                    else:
                        self._send(202, b'{"status":"OK"}')
                    return
                self._send(404, b'{"errorMessage":"not found"}')

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass  # peers closing keep-alive connections at shutdown

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    # ---- invocations
    def submit(self, event):
        if not isinstance(event, (bytes, bytearray)):
            event = json.dumps(event).encode()
        rid = str(uuid.uuid4())
        with self.lock:
            self.answers[rid] = []
            self.pending.append({"id": rid, "event": bytes(event)})
            # as Lambda: INVOKE only to an extension that subscribed to it
            if self.ext_registered is None or "INVOKE" in self.ext_registered[1].get("events", []):
                self.events_for_ext.append({"eventType": "INVOKE", "requestId": rid,
                                            "deadlineMs": int(time.time() * 1000) + 30000})
                self.ext_cond.notify_all()
            self.lock.notify_all()
        return rid

    def wait(self, rid, timeout=30):
        end = time.monotonic() + timeout
        with self.lock:
            while not self.answers[rid]:
                left = end - time.monotonic()
                if left <= 0:
                    fetched = all(inv["id"] != rid for inv in self.pending)
                    raise TimeoutError("no answer for %s (%s by the runtime side)" % (
                        rid, "fetched" if fetched else "never fetched"))
                self.lock.wait(left)
            return self.answers[rid][0]

    def invoke(self, event, timeout=30):
        return self.wait(self.submit(event), timeout)

    # ---- processes
    def start(self, pl_bin, runtime_cmd, env=None, task_root=None, guard=True, log_path=None,
              ext_argv=None, wrap_argv=None):
        """start the extension (guard) then the runtime through wrap (ext_argv / wrap_argv
        replace `pl_bin extension` / `pl_bin wrap --`, e.g. with a layer's stubs)"""
        pl_bin = os.path.abspath(pl_bin)
        self.proxy_port = free_port()
        base = dict(os.environ)
        base.update({
            "AWS_LAMBDA_RUNTIME_API": self.address,
            "AWS_LAMBDA_FUNCTION_NAME": "test",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_REGION": "us-east-1",
            "PROTECTLAMBDA_PORT": str(self.proxy_port),
        })
        if task_root:
            base["LAMBDA_TASK_ROOT"] = task_root
        base.update(env or {})
        self.log = open(log_path, "wb") if log_path else subprocess.DEVNULL
        if guard:
            p = subprocess.Popen(ext_argv or [pl_bin, "extension"], env=base,
                                 stdout=self.log, stderr=self.log)
            self.procs.append(p)
            if not self.ext_registered_evt.wait(90):
                raise RuntimeError("the extension never registered (exit %r)" % p.poll())
            cmd = list(wrap_argv or [pl_bin, "wrap", "--"]) + list(runtime_cmd)
        else:
            cmd = list(runtime_cmd)
        self.runtime_start = time.monotonic()
        r = subprocess.Popen(cmd, env=base, stdout=self.log, stderr=self.log,
                             cwd=task_root or None)
        self.procs.append(r)
        return r

    def shutdown(self, timeout=5):
        """send SHUTDOWN to the extension; returns the extension's exit code"""
        with self.lock:
            self.events_for_ext.append({"eventType": "SHUTDOWN", "shutdownReason": "spindown",
                                        "deadlineMs": int(time.time() * 1000) + 2000})
            self.ext_cond.notify_all()
            self.lock.notify_all()
        rc = None
        if self.procs and len(self.procs) >= 1:
            try:
                rc = self.procs[0].wait(timeout)
            except subprocess.TimeoutExpired:
                rc = "timeout"
        return rc

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(5)
            except Exception:
                pass
        self.server.shutdown()
        self.server.server_close()
        if self.log not in (None, subprocess.DEVNULL):
            self.log.close()


def stream_b64(s):
    return base64.b64decode(s)
