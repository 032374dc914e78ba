"""A fake Lambda service that misbehaves on purpose (standard library only, raw sockets).

Serves the Runtime API and the Extensions API on 127.0.0.1 like Lambda, starts the guard
(`protectlambda extension`) and then a runtime through `protectlambda wrap --`, and records
every answer per request id. Faults are queued with fault_next(kind) (applied to the next
GET invocation/next that hands out an event) or fault_post(kind) (next POST of an answer):
  next:  "500"            answer 500 with an error body instead of the event
         "close_mid_body" send the head and half of the body, then close
         "slow"           wait 1.5 s before the head, then dribble the body in 4 pieces
         "huge_header"    add a 100 KB header (over the proxy's 64 KB head bound)
  post:  "500"            answer 500 (the answer is recorded as received)
         "slow"           answer after 1.5 s
"""
import json
import os
import socket
import subprocess
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


class Req:
    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body


def read_request(f):
    line = f.readline(65536)
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) < 2:
        return None
    method, path = parts[0], parts[1]
    headers = {}
    while True:
        h = f.readline(65536)
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            n = int(f.readline().split(b";")[0].strip() or b"0", 16)
            if n == 0:
                while f.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += f.read(n)
            f.readline()
    else:
        body = f.read(int(headers.get("content-length", "0") or 0))
    if headers.get("expect", "").lower() == "100-continue":
        pass  # bodies here are small; the proxy sends them without waiting
    return Req(method, path, headers, body)


def response(status, body=b"", headers=None):
    head = ["HTTP/1.1 %d X" % status]
    for k, v in (headers or {}).items():
        head.append("%s: %s" % (k, v))
    head.append("Content-Length: %d" % len(body))
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class FaultSim:
    def __init__(self):
        self.lock = threading.Condition()
        self.pending = []
        self.answers = {}          # request id -> [(kind, body, headers)]
        self.delivered = []        # request ids handed out by GET /next
        self.ext_events = []
        self.ext_waiting = threading.Event()
        self.init_errors = []
        self.next_faults = []
        self.post_faults = []
        self.next_calls = 0
        self.procs = []
        self.stopping = False
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def fault_next(self, kind):
        with self.lock:
            self.next_faults.append(kind)

    def fault_post(self, kind):
        with self.lock:
            self.post_faults.append(kind)

    # ---- server
    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = c.makefile("rb")
        try:
            while True:
                r = read_request(f)
                if r is None:
                    return
                if not self._handle(c, r):
                    return
        except (OSError, ValueError):
            return
        finally:
            try:  # a makefile() keeps the fd open past close(): shut the connection down
                f.close()
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _handle(self, c, r):
        p = r.path
        if r.method == "GET" and p == RT + "invocation/next":
            with self.lock:
                self.next_calls += 1
                while not self.pending and not self.stopping:
                    self.lock.wait(0.5)
                if self.stopping:
                    return False
                inv = self.pending.pop(0)
                self.delivered.append(inv["id"])
                fault = self.next_faults.pop(0) if self.next_faults else None
            h = {"Lambda-Runtime-Aws-Request-Id": inv["id"],
                 "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30000),
                 "Lambda-Runtime-Invoked-Function-Arn":
                     "arn:aws:lambda:us-east-1:123456789012:function:test",
                 "Lambda-Runtime-Trace-Id": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1",
                 "Content-Type": "application/json"}
            body = inv["event"]
            if fault == "500":
                c.sendall(response(500, b'{"errorMessage":"internal","errorType":"ServiceException"}',
                                   {"Content-Type": "application/json"}))
                return True
            if fault == "huge_header":
                h["X-Huge"] = "h" * 100000
            if fault == "close_mid_body":
                whole = response(200, body, h)
                c.sendall(whole[:len(whole) - len(body) // 2])
                return False
            if fault == "slow":
                time.sleep(1.5)
                whole = response(200, body, h)
                k = len(whole) - len(body)
                c.sendall(whole[:k])
                step = max(1, len(body) // 4)
                for i in range(0, len(body), step):
                    time.sleep(0.2)
                    c.sendall(body[i:i + step])
                return True
            c.sendall(response(200, body, h))
            return True
        if r.method == "GET" and p == EXT + "event/next":
            self.ext_waiting.set()
            with self.lock:
                while not self.ext_events and not self.stopping:
                    self.lock.wait(0.5)
                if self.stopping:
                    return False
                ev = self.ext_events.pop(0)
            c.sendall(response(200, json.dumps(ev).encode(), {"Content-Type": "application/json"}))
            return True
        if r.method == "POST" and p == EXT + "register":
            c.sendall(response(200, b'{"functionName":"test","functionVersion":"$LATEST","handler":"app.handler"}',
                               {"Lambda-Extension-Identifier": str(uuid.uuid4())}))
            return True
        if r.method == "POST" and (p.startswith(EXT) or p == RT + "init/error"):
            with self.lock:
                self.init_errors.append((p, r.body))
                self.lock.notify_all()
            c.sendall(response(202, b'{"status":"OK"}'))
            return True
        if r.method == "POST" and p.startswith(RT + "invocation/"):
            rid, _, what = p[len(RT + "invocation/"):].partition("/")
            kind = "response" if what == "response" else "error"
            with self.lock:
                known = rid in self.answers
                if known:
                    self.answers[rid].append((kind, r.body, r.headers))
                self.lock.notify_all()
                fault = self.post_faults.pop(0) if self.post_faults else None
            if fault == "slow":
                time.sleep(1.5)
            if fault == "500":
                c.sendall(response(500, b'{"errorMessage":"internal"}'))
            elif not known:
                c.sendall(response(400, b'{"errorMessage":"unknown request id"}'))
            elif len(self.answers[rid]) > 1:
                c.sendall(response(403, b'{"errorMessage":"InvalidStateTransition"}'))
            else:
                c.sendall(response(202, b'{"status":"OK"}'))
            return True
        c.sendall(response(404, b'{"errorMessage":"not found"}'))
        return True

    # ---- invocations
    def submit(self, event):
        if not isinstance(event, (bytes, bytearray)):
            event = json.dumps(event).encode()
        rid = str(uuid.uuid4())
        with self.lock:
            self.answers[rid] = []
            self.pending.append({"id": rid, "event": bytes(event)})
            self.ext_events.append({"eventType": "INVOKE", "requestId": rid,
                                    "deadlineMs": int(time.time() * 1000) + 30000})
            self.lock.notify_all()
        return rid

    def wait(self, rid, timeout=30):
        end = time.monotonic() + timeout
        with self.lock:
            while not self.answers[rid]:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no answer for %s" % rid)
                self.lock.wait(left)
            return self.answers[rid][0]

    # ---- processes
    def start_guard(self, pl_bin, env, log):
        self.env = dict(os.environ)
        self.proxy_port = free_port()
        self.env.update({
            "AWS_LAMBDA_RUNTIME_API": self.address,
            "AWS_LAMBDA_FUNCTION_NAME": "test",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_REGION": "us-east-1",
            "PROTECTLAMBDA_PORT": str(self.proxy_port),
        })
        self.env.update(env)
        self.log = log
        self.guard = subprocess.Popen([pl_bin, "extension"], env=self.env, stdout=log, stderr=log)
        self.procs.append(self.guard)
        if not self.ext_waiting.wait(90):
            raise RuntimeError("the guard never called event/next (exit %r)" % self.guard.poll())
        return self.guard

    def start_runtime(self, pl_bin, runtime_cmd, cwd=None):
        r = subprocess.Popen([pl_bin, "wrap", "--"] + list(runtime_cmd), env=self.env,
                             stdout=self.log, stderr=self.log, cwd=cwd)
        self.procs.append(r)
        return r

    def shutdown_guard(self, timeout=5):
        with self.lock:
            self.ext_events.append({"eventType": "SHUTDOWN", "shutdownReason": "spindown",
                                    "deadlineMs": int(time.time() * 1000) + 2000})
            self.lock.notify_all()
        try:
            return self.guard.wait(timeout)
        except subprocess.TimeoutExpired:
            return "timeout"

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(5)
            except Exception:
                pass
        with self.lock:
            self.stopping = True
            self.lock.notify_all()
        self.ls.close()
