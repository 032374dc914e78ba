#!/usr/bin/env python3
"""harden/monitor integration test: real hosts (Python, Node.js, bash, a static binary) started
through `protectlambda wrap`, with the real libprotectlambda_monitor.so, events received by the
real listener (pl_test_monitor_listen, the same code the guard runs).

For each action: `log` -> the action works and the event arrives with act=log; `deny` -> the
host exits normally and reports a clean error, the event arrives with act=deny; `allow` -> the
action works and no event. Also: the allow-listed executable runs under deny, the .so exports
only the hooked symbols, a host that closes every descriptor / dup2s over the monitor's socket
keeps working and reporting, seccomp strict stops new programs (also by direct syscall).
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.environ["PL_BUILD_DIR"]
PL_BIN = os.environ["PL_BIN"]
SO = os.path.join(BUILD, "src/monitor/libprotectlambda_monitor.so")
HELPERS = os.path.join(BUILD, "tests/integration/harden")
LISTEN = os.path.join(HELPERS, "pl_test_monitor_listen")
STATIC = os.path.join(HELPERS, "pl_test_static_exec")
PY = os.path.realpath(sys.executable)
NODE = shutil.which("node")
BASH = shutil.which("bash")
JAVA = shutil.which("java")  # optional host (not installed by scripts/setup.sh)
ID = shutil.which("id")
LIBZ = next((p for p in ("/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1",
                         "/lib/aarch64-linux-gnu/libz.so.1", "/usr/lib64/libz.so.1")
             if os.path.exists(p)), None)

failures = []
TMP_BASE = tempfile.mkdtemp(prefix="pl-harden-tmp-")


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, flush=True)
    return cond


class Listener:
    def __init__(self, name):
        self.name = name
        self.proc = subprocess.Popen([LISTEN, name], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        first = self.proc.stdout.readline()
        assert "ready" in first, first
        self.lines = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.n_sync = 0
        self.cursor = 0

    def _read(self):
        for line in self.proc.stdout:
            with self.cv:
                self.lines.append(json.loads(line))
                self.cv.notify_all()

    def sync(self):
        """events received since the last sync (datagrams are FIFO: a sentinel sent after the
        host exited arrives after everything the host sent)"""
        self.n_sync += 1
        tag = "sentinel-%d" % self.n_sync
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        msg = json.dumps({"v": 1, "src": "test", "type": "RUNTIME_EXCEPTION", "sev": "INFO",
                          "act": "log", "what": tag})
        s.sendto(msg.encode(), "\0" + self.name[1:])
        s.close()
        deadline = time.time() + 30
        with self.cv:
            while time.time() < deadline:
                for i in range(self.cursor, len(self.lines)):
                    if self.lines[i].get("path") == tag:
                        evs = self.lines[self.cursor:i]
                        self.cursor = i + 1
                        return evs
                self.cv.wait(0.1)
        raise RuntimeError("listener lost the sentinel")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(5)


def base_env(sock, port):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PROTECTLAMBDA_") and k not in ("LD_PRELOAD", "PYTHONPATH",
                                                                "NODE_OPTIONS")}
    env.update({
        "PROTECTLAMBDA_PORT": str(port),
        "PROTECTLAMBDA_MONITOR_SOCKET": sock,
        "PROTECTLAMBDA_MONITOR_LIB": SO,
        "PROTECTLAMBDA_LOG_LEVEL": "warn",
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % port,
        "LAMBDA_TASK_ROOT": "/nonexistent-task-root",
        "TMPDIR": TMP_BASE,  # the wrapper's private temp dirs go below it
    })
    return env


def run(argv, env, timeout=30):
    p = subprocess.run([PL_BIN, "wrap", "--"] + argv, env=env, capture_output=True, text=True,
                       timeout=timeout)
    res = None
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            try:
                res = json.loads(line)
            except ValueError:
                pass
    return p, res


PY_HOST = r'''
import json, os, socket, subprocess, sys
act = sys.argv[1]
res = {"tmpdir": os.environ.get("TMPDIR", "")}
try:
    if act == "exec":
        r = subprocess.run([sys.argv[2], "-u"], capture_output=True)
        res["ok"] = r.returncode == 0
    elif act == "system":
        rc = os.system(sys.argv[2] + " -u >/dev/null")
        res["ok"] = rc == 0
        res["err"] = "rc=%d" % rc
    elif act == "environ":
        open("/proc/self/environ", "rb").read()
        res["ok"] = True
    elif act == "symlink":
        # through a link planted in a writable place
        link = os.path.join(os.environ.get("TMPDIR", "/tmp"), "innocent.txt")
        os.symlink("/proc/self/environ", link)
        try:
            open(link, "rb").read()
        finally:
            os.unlink(link)
        res["ok"] = True
    elif act == "connect":
        socket.create_connection((sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1",
                                  int(sys.argv[2])), timeout=5).close()
        res["ok"] = True
    elif act == "ctypes":
        import ctypes
        res["ok"] = True
    elif act == "eval":
        res["ok"] = eval("6*7") == 42
    elif act == "hookinfo":
        sc = sys.modules.get("sitecustomize")
        res["pythonpath"] = os.environ.get("PYTHONPATH")
        res["sitecustomize"] = getattr(sc, "__file__", None)
        res["version"] = list(sys.version_info[:2])
        res["ok"] = True
    elif act == "libcode":
        # the standard library generating code and importing restricted modules itself
        import collections, dataclasses, shelve
        P = collections.namedtuple("P", "x y")
        D = dataclasses.make_dataclass("D", [("a", int)])
        res["ok"] = P(1, 2).y == 2 and D(3).a == 3 and "pickle" in sys.modules
    elif act == "traversal":
        open("/tmp/../etc/hostname", "rb").read()
        res["ok"] = True
    elif act == "write":
        with open(sys.argv[2], "w") as f:
            f.write("x")
        os.unlink(sys.argv[2])
        res["ok"] = True
    elif act == "source":
        # reading the function's code: fine during init, reported once the runtime has
        # connected to the Runtime API (the proxy)
        src = os.path.join(os.environ["LAMBDA_TASK_ROOT"], "handler.py")
        open(src).read()
        socket.create_connection(("127.0.0.1", int(sys.argv[2]))).close()
        open(src).read()
        res["ok"] = True
    elif act == "dlopen":
        import ctypes, shutil
        lib = os.path.join(os.environ.get("TMPDIR", "/tmp"), "libplanted.so")
        shutil.copy(sys.argv[2], lib)
        try:
            ctypes.CDLL(lib)
        finally:
            os.unlink(lib)
        res["ok"] = True
    elif act == "closefds":
        # a host that closes every descriptor and reuses the numbers
        os.closerange(3, 4096)
        r, w = os.pipe()
        for fd in range(3, 1024):
            try:
                os.dup2(r, fd)
            except OSError:
                pass
        r = subprocess.run([sys.argv[2], "-u"], capture_output=True, close_fds=False)
        res["ok"] = r.returncode == 0
except Exception as e:
    res["ok"] = False
    res["err"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(res), flush=True)
'''

NODE_HOST = r'''
'use strict';
const cp = require('child_process'), fs = require('fs'), net = require('net');
const act = process.argv[2];
const res = {tmpdir: process.env.TMPDIR || ''};
const done = () => { console.log(JSON.stringify(res)); };
try {
  if (act === 'exec') {
    cp.exec(process.argv[3] + ' -u', (err, out) => {
      res.ok = !err; if (err) res.err = err.code + ' ' + err.message.split('\n')[0]; done(); });
  } else if (act === 'readfile') {
    fs.readFileSync('/proc/self/environ'); res.ok = true; done();
  } else if (act === 'connect') {
    const s = net.connect(Number(process.argv[3]), '127.0.0.1');
    s.on('connect', () => { res.ok = true; s.destroy(); done(); });
    s.on('error', (e) => { res.ok = false; res.err = e.code; done(); });
  } else if (act === 'eval') {
    res.ok = eval('6*7') === 42; done();
  }
} catch (e) { res.ok = false; res.err = e.name + ': ' + e.message; done(); }
'''

JAVA_HOST = r'''
public class Host {
  public static void main(String[] a) throws Exception {
    String tmp = System.getenv().getOrDefault("TMPDIR", "");
    String ok = "false", err = "";
    try {
      if (a[0].equals("exec")) {
        Process p = new ProcessBuilder(a[1], "-u").start();
        ok = p.waitFor() == 0 ? "true" : "false";
      } else if (a[0].equals("environ")) {
        java.nio.file.Files.readAllBytes(java.nio.file.Paths.get("/proc/self/environ"));
        ok = "true";
      }
    } catch (Exception e) { err = e.getClass().getSimpleName() + ": " + e.getMessage(); }
    System.out.println("{\"ok\": " + ok + ", \"tmpdir\": \"" + tmp + "\", \"err\": \""
                       + err.replace("\"", "'") + "\"}");
  }
}
'''

BASH_HOST = r'''
act="$1"
if [ "$act" = exec ]; then
  if out=$("$2" -u 2>&1); then ok=true; else ok=false; fi
elif [ "$act" = environ ]; then
  if { read -r -d '' x < /proc/self/environ; } 2>/dev/null || [ -n "$x" ]; then ok=true; else ok=false; fi
fi
printf '{"ok": %s, "tmpdir": "%s"}\n' "$ok" "$TMPDIR"
exit 0
'''


# what the Python audit hook (or the adapter) reports
PY_TYPES = ("RESTRICTED_MODULE_IMPORT", "DANGEROUS_FUNCTION_CALL")


def events_of(evs, type_, path_part):
    return [e for e in evs if e.get("type") == type_ and path_part in e.get("path", "")]


def expect(L, label, proc, res, mode, type_, path_part):
    """the three-mode contract"""
    n_fail = len(failures)
    check(proc.returncode == 0, "%s [%s]: host exit %d, stderr %s" % (
        label, mode, proc.returncode, proc.stderr[-400:]))
    check(res is not None, "%s [%s]: no result line (stdout %r)" % (label, mode, proc.stdout[-300:]))
    res = res or {}
    evs = L.sync()
    mine = events_of(evs, type_, path_part)
    if mode == "allow":
        check(res.get("ok") is True, "%s [allow]: action failed: %s" % (label, res))
        check(not mine, "%s [allow]: unexpected events %s" % (label, mine))
    elif mode == "log":
        check(res.get("ok") is True, "%s [log]: action failed: %s" % (label, res))
        check(mine and mine[0].get("action") == "log",
              "%s [log]: no %s event for %s in %s" % (label, type_, path_part, evs))
    else:
        check(res.get("ok") is False, "%s [deny]: action was not denied: %s" % (label, res))
        check(mine and mine[0].get("action") == "deny",
              "%s [deny]: no deny event %s for %s in %s" % (label, type_, path_part, evs))
    if len(failures) == n_fail:
        print("ok   %s [%s] -> %s" % (label, mode, res.get("err", "ok")), flush=True)
    return mine


def main():
    for p in (PL_BIN, SO, LISTEN, STATIC):
        if not os.path.exists(p):
            print("missing", p)
            return 1
    if not JAVA:
        print("note: no java on PATH: the Java host is not run", flush=True)
    tmp = tempfile.mkdtemp(prefix="pl-harden-test-")
    hosts = {}
    for name, text in (("host.py", PY_HOST), ("host.js", NODE_HOST), ("host.sh", BASH_HOST),
                       ("Host.java", JAVA_HOST)):
        hosts[name] = os.path.join(tmp, name)
        with open(hosts[name], "w") as f:
            f.write(text)
    java_cmd = None
    if JAVA and shutil.which("javac"):
        # compiled once: the JVM then starts in a fraction of source-file mode's time
        c = subprocess.run(["javac", "-d", tmp, hosts["Host.java"]], capture_output=True, text=True)
        check(c.returncode == 0, "javac: %s" % c.stderr[-300:])
        java_cmd = [JAVA, "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", tmp, "Host"]
    elif JAVA:
        java_cmd = [JAVA, hosts["Host.java"]]

    # the .so exports nothing but the hooked libc symbols
    nm = subprocess.run(["nm", "-D", "--defined-only", SO], capture_output=True, text=True)
    syms = sorted(l.split()[-1] for l in nm.stdout.splitlines() if l.strip())
    allowed = {"execve", "execv", "execvp", "execvpe", "execl", "execle", "execlp", "fexecve",
               "execveat", "posix_spawn", "posix_spawnp", "system", "popen", "open", "open64",
               "openat", "openat64", "__open_2", "__open64_2", "__openat_2", "__openat64_2",
               "creat", "creat64", "fopen", "fopen64", "freopen", "freopen64", "connect",
               "dlopen", "getaddrinfo", "kill",
               # colocate, hand-off scope (docs/harden.md): threads start wide; a thread
               # receiving on a Runtime API connection is pinned
               "pthread_create", "read", "recv", "recvfrom", "recvmsg", "send", "sendto",
               "sendmsg"}
    check(syms and set(syms) <= allowed, "exported symbols beyond the hooks: %s" %
          sorted(set(syms) - allowed))
    check({"execve", "open", "connect", "posix_spawn"} <= set(syms), "hooks missing: %s" % syms)

    # a local TCP server the hosts connect to; the proxy port is another one
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    srv_port = srv.getsockname()[1]
    threading.Thread(target=lambda: [srv.accept()[0].close() for _ in iter(int, 1)],
                     daemon=True).start()
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(8)
    proxy_port = proxy.getsockname()[1]
    threading.Thread(target=lambda: [proxy.accept()[0].close() for _ in iter(int, 1)],
                     daemon=True).start()

    sock = "@pl-harden-test-%d" % os.getpid()
    L = Listener(sock)
    try:
        env0 = base_env(sock, proxy_port)

        def env(**kw):
            e = dict(env0)
            for k, v in kw.items():
                e["PROTECTLAMBDA_" + k.upper()] = v
            return e

        for mode in ("log", "deny", "allow"):
            # Python
            p, r = run([PY, hosts["host.py"], "exec", ID], env(monitor_process=mode))
            expect(L, "python subprocess.run(id)", p, r, mode, "PROCESS_EXECUTION", "/id")
            p, r = run([PY, hosts["host.py"], "system", ID], env(monitor_process=mode))
            expect(L, "python os.system", p, r, mode, "PROCESS_EXECUTION", "/bin/sh")
            p, r = run([PY, hosts["host.py"], "environ"], env(monitor_files=mode))
            expect(L, "python open(/proc/self/environ)", p, r, mode, "RESTRICTED_PATH_ACCESS",
                   "/environ")
            p, r = run([PY, hosts["host.py"], "symlink"], env(monitor_files=mode))
            expect(L, "python open(link to /proc/self/environ)", p, r, mode,
                   "RESTRICTED_PATH_ACCESS", "/environ")
            p, r = run([PY, hosts["host.py"], "connect", str(srv_port)],
                       env(monitor_network=mode, monitor_network_allow="10.0.0.0/8"))
            expect(L, "python socket.connect", p, r, mode, "SUSPICIOUS_NETWORK",
                   "127.0.0.1:%d" % srv_port)
            p, r = run([PY, hosts["host.py"], "dlopen", LIBZ],
                       env(monitor_library=mode, python_policy="allow"))
            expect(L, "python ctypes.CDLL(library in /tmp)", p, r, mode, "UNSAFE_LIBRARY_LOAD",
                   "libplanted.so")
            p, r = run([PY, hosts["host.py"], "ctypes"], env(python_policy=mode))
            expect(L, "python import ctypes", p, r, mode, "RESTRICTED_MODULE_IMPORT", "ctypes")
            p, r = run([PY, hosts["host.py"], "eval"], env(python_policy=mode))
            expect(L, "python eval", p, r, mode, "DANGEROUS_FUNCTION_CALL", "6*7")
            # Node.js
            if NODE:
                p, r = run([NODE, hosts["host.js"], "exec", ID], env(monitor_process=mode))
                expect(L, "node child_process.exec", p, r, mode, "PROCESS_EXECUTION", "/bin/sh")
                p, r = run([NODE, hosts["host.js"], "readfile"], env(monitor_files=mode))
                expect(L, "node fs.readFileSync(/proc/self/environ)", p, r, mode,
                       "RESTRICTED_PATH_ACCESS", "/environ")
                p, r = run([NODE, hosts["host.js"], "connect", str(srv_port)],
                           env(monitor_network=mode, monitor_network_allow="10.0.0.0/8"))
                expect(L, "node net.connect", p, r, mode, "SUSPICIOUS_NETWORK",
                       "127.0.0.1:%d" % srv_port)
            # Java (the JDK starts programs through jspawnhelper; the real exec is checked there)
            if java_cmd:
                p, r = run(java_cmd + ["exec", ID], env(monitor_process=mode), timeout=90)
                expect(L, "java ProcessBuilder(id)", p, r, mode, "PROCESS_EXECUTION", "/id")
                p, r = run(java_cmd + ["environ"], env(monitor_files=mode), timeout=90)
                expect(L, "java Files.readAllBytes(/proc/self/environ)", p, r, mode,
                       "RESTRICTED_PATH_ACCESS", "/environ")
            # bash
            p, r = run([BASH, hosts["host.sh"], "exec", ID], env(monitor_process=mode))
            expect(L, "bash running id", p, r, mode, "PROCESS_EXECUTION", "/id")
            p, r = run([BASH, hosts["host.sh"], "environ"], env(monitor_files=mode))
            expect(L, "bash < /proc/self/environ", p, r, mode, "RESTRICTED_PATH_ACCESS",
                   "/environ")

        # the other file classes
        task = os.path.join(TMP_BASE, "task")
        os.makedirs(task, exist_ok=True)
        with open(os.path.join(task, "handler.py"), "w") as f:
            f.write("def handler(e, c):\n    return 1\n")
        # a place outside monitor.write_allow (/tmp, /dev, /proc/self): not the build dir, which
        # may itself be under /tmp (CI clones anywhere)
        outside_dir = tempfile.mkdtemp(prefix="pl-harden-", dir="/var/tmp")
        outside = os.path.join(outside_dir, "pl-harden-write-test.txt")
        for mode in ("log", "deny", "allow"):
            p, r = run([PY, hosts["host.py"], "traversal"], env(monitor_traversal=mode))
            expect(L, "python open(/tmp/../etc/hostname)", p, r, mode, "PATH_TRAVERSAL_ATTEMPT",
                   "/tmp/../etc/hostname")
            p, r = run([PY, hosts["host.py"], "write", outside], env(monitor_writes=mode))
            expect(L, "python write outside write_allow", p, r, mode, "RUNTIME_MODIFICATION",
                   "pl-harden-write-test.txt")
            if mode == "allow":
                shutil.rmtree(outside_dir, ignore_errors=True)
            e = env(monitor_source_read=mode)
            e["LAMBDA_TASK_ROOT"] = task
            p, r = run([PY, hosts["host.py"], "source", str(proxy_port)], e)
            mine = expect(L, "python reads handler.py after init", p, r, mode,
                          "RESTRICTED_PATH_ACCESS", "handler.py")
            check(len(mine) <= 1, "source read reported before init too: %s" % mine)

        # Python: the monitor library's C audit hook stands for the sitecustomize adapter in
        # CPython 3.9+ (the adapter's directory taken out of PYTHONPATH, so no Python file is
        # compiled at each cold start); the adapter still does it without the library
        p, r = run([PY, hosts["host.py"], "hookinfo"], env(python_policy="log"))
        check(r and r.get("ok"), "hookinfo: %s %s" % (r, p.stderr[-300:]))
        if r and tuple(r.get("version", (0, 0))) >= (3, 9):
            check("adapters" not in (r.get("pythonpath") or "") and
                  "adapters" not in (r.get("sitecustomize") or ""),
                  "CPython %s: the sitecustomize adapter still loaded next to the C hook: %s" %
                  (r.get("version"), r))
        for mode in ("log", "deny"):
            p, r = run([PY, hosts["host.py"], "libcode"], env(python_policy=mode))
            evs = L.sync()
            check(r and r.get("ok") is True, "stdlib codegen/imports under python.policy=%s: %s %s"
                  % (mode, r, p.stderr[-400:]))
            check(not [e for e in evs if e.get("type") in PY_TYPES],
                  "stdlib codegen/imports reported (%s): %s" % (mode, evs))
        # a .pth line run by site at start-up (an installed package's code) under deny
        ubase = os.path.join(tmp, "userbase")
        v = sys.version_info
        upkgs = os.path.join(ubase, "lib", "python%d.%d" % (v[0], v[1]), "site-packages")
        os.makedirs(upkgs, exist_ok=True)
        with open(os.path.join(upkgs, "pl_test_exec.pth"), "w") as f:
            f.write("import os; exec('os.environ[\"PL_PTH_RAN\"] = \"1\"')\n")
        e = env(python_policy="deny")
        e["PYTHONUSERBASE"] = ubase
        p, r = run([PY, "-c", "import os, json; print(json.dumps({'ok': os.environ.get("
                    "'PL_PTH_RAN') == '1'}))"], e)
        evs = L.sync()
        check(p.returncode == 0 and r and r.get("ok") is True and
              not [x for x in evs if x.get("type") in PY_TYPES],
              ".pth exec at start-up under python.policy=deny: %s %s %s" % (r, evs, p.stderr[-400:]))
        e = env(monitor="false", python_policy="deny")
        p, r = run([PY, hosts["host.py"], "eval"], e)
        check(r and r.get("ok") is False and "PermissionError" in r.get("err", ""),
              "eval not denied by the adapter without the monitor library: %s %s" %
              (r, p.stderr[-300:]))
        # every other CPython on this machine (pyenv's, when there): the hook or the adapter
        # (3.8 and later: audit hooks are PEP 578's, 3.8)
        others = [o for o in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")))
                  if tuple(int(x) for x in o.split("/versions/")[1].split(".")[:2]) >= (3, 8)]
        for other in others:
            for mode in ("log", "deny"):
                p, r = run([other, hosts["host.py"], "eval"], env(python_policy=mode))
                expect(L, "%s eval" % other, p, r, mode, "DANGEROUS_FUNCTION_CALL", "6*7")
                p, r = run([other, hosts["host.py"], "libcode"], env(python_policy=mode))
                evs = L.sync()
                check(r and r.get("ok") is True and
                      not [x for x in evs if x.get("type") in PY_TYPES],
                      "%s stdlib codegen (%s): %s %s" % (other, mode, r, evs))
        if not others:
            print("note: no other CPython versions (~/.pyenv) on this machine", flush=True)
        print("ok   python: C audit hook for CPython 3.9+, stdlib and .pth code not reported, "
              "the adapter without the library", flush=True)

        # allow-list by name: addresses learnt when the name was resolved (getaddrinfo)
        p, r = run([PY, hosts["host.py"], "connect", str(srv_port), "localhost"],
                   env(monitor_network="deny", monitor_network_allow="*.example.com,localhost:%d" % srv_port))
        check(r and r.get("ok") is True, "connect to allow-listed name denied: %s %s" % (r, p.stderr[-300:]))
        check(not events_of(L.sync(), "SUSPICIOUS_NETWORK", ""), "event for an allow-listed name")
        p, r = run([PY, hosts["host.py"], "connect", str(srv_port)],
                   env(monitor_network="deny", monitor_network_allow="localhost:%d" % (srv_port + 1)))
        check(r and r.get("ok") is False, "connect by address not on the list allowed: %s" % r)
        L.sync()
        print("ok   network allow-list by host name (resolution cache)", flush=True)

        # Node eval in strict mode: V8 refuses code generation from strings (node_codegen)
        if NODE:
            p, r = run([NODE, hosts["host.js"], "eval"], env(node_codegen="deny"))
            check(p.returncode == 0 and r and r["ok"] is False and "EvalError" in r.get("err", ""),
                  "node eval not refused: %s %s" % (r, p.stderr[-300:]))
            p, r = run([NODE, hosts["host.js"], "eval"], env(node_codegen="allow"))
            check(r and r["ok"] is True, "node eval broken when allowed: %s" % r)
            L.sync()
            print("ok   node eval (strict mode) refused with node_codegen=deny", flush=True)

        # the allow-listed executable still runs under deny, silently
        p, r = run([PY, hosts["host.py"], "exec", ID],
                   env(monitor_process="deny", monitor_process_allow=ID))
        check(r and r["ok"] is True, "allow-listed id did not run: %s %s" % (r, p.stderr))
        check(not events_of(L.sync(), "PROCESS_EXECUTION", "/id"), "event for an allowed exec")
        p, r = run([PY, hosts["host.py"], "exec", ID],
                   env(monitor_process="deny", monitor_process_allow="id"))
        check(r and r["ok"] is True, "allow-listed (base name) id did not run: %s" % r)
        L.sync()
        print("ok   allow-listed executable runs under deny", flush=True)

        # a host that closes all descriptors and dup2s over the numbers keeps working and
        # its events still arrive (the monitor re-creates its socket)
        p, r = run([PY, hosts["host.py"], "closefds", ID], env(monitor_process="log"))
        check(p.returncode == 0 and r and r["ok"] is True, "closefds host: %s %s" % (r, p.stderr))
        check(events_of(L.sync(), "PROCESS_EXECUTION", "/id"), "no event after the host closed fds")
        print("ok   host closing/dup2-ing every fd still monitored", flush=True)

        # a child started with a scrubbed environment is still monitored (env re-injection)
        code = ("import subprocess,sys,json; r=subprocess.run([sys.executable,'-c',"
                "'import subprocess; subprocess.run([\"%s\",\"-u\"])'],env={},capture_output=True);"
                "print(json.dumps({'ok': r.returncode==0}))" % ID)
        p, r = run([PY, "-c", code], env(monitor_process="log"))
        evs = L.sync()
        check(any(e.get("path", "").endswith("/id") for e in events_of(evs, "PROCESS_EXECUTION", "")),
              "grandchild with env={} not monitored: %s" % evs)
        print("ok   scrubbed environment still monitored", flush=True)

        # seccomp strict: once the runtime connects to the proxy, no new programs, also
        # through a direct syscall the hooks cannot see (ctypes -> syscall(SYS_execve))
        strict_code = r'''
import ctypes, json, os, socket, subprocess, sys
res = {"tmpdir": os.environ.get("TMPDIR", "")}
r = subprocess.run([sys.argv[1], "-u"], capture_output=True)
res["before"] = r.returncode == 0
socket.create_connection(("127.0.0.1", int(sys.argv[2]))).close()   # the runtime starts
try:
    subprocess.run([sys.argv[1], "-u"], capture_output=True); res["hook"] = "ran"
except PermissionError as e:
    res["hook"] = "denied"
pid = os.fork()
if pid == 0:
    libc = ctypes.CDLL(None, use_errno=True)
    argv = (ctypes.c_char_p * 2)(sys.argv[3].encode(), None)
    libc.syscall(59, sys.argv[3].encode(), argv, None)   # SYS_execve on x86_64
    os._exit(ctypes.get_errno())
_, st = os.waitpid(pid, 0)
res["direct_errno"] = os.waitstatus_to_exitcode(st)
print(json.dumps(res), flush=True)
'''
        p, r = run([PY, "-c", strict_code, ID, str(proxy_port), STATIC],
                   env(seccomp="strict", monitor_process="log", python_policy="allow"))
        check(r is not None and r.get("before") is True and r.get("hook") == "denied" and
              r.get("direct_errno") == 1,
              "seccomp strict (python): %s %s" % (r, p.stderr[-300:]))
        evs = L.sync()
        check(any("seccomp" in e.get("rule", "") for e in evs), "no seccomp event: %s" % evs)
        print("ok   seccomp strict: hook EACCES, direct execve EPERM", flush=True)

        # rlimit.cpu: the runtime burning CPU gets SIGXCPU; the monitor reports it, then the
        # default action (death) happens as it would have
        p = subprocess.run([PL_BIN, "wrap", "--", PY, "-c", "while True: pass"],
                           env=env(rlimit_cpu="1"), capture_output=True, text=True, timeout=60)
        evs = L.sync()
        check(p.returncode == -24, "cpu limit: exit %d, expected death by SIGXCPU" % p.returncode)
        check(events_of(evs, "RESOURCE_LIMIT_EXCEEDED", "SIGXCPU"),
              "no RESOURCE_LIMIT_EXCEEDED event: %s" % evs)
        print("ok   rlimit.cpu -> SIGXCPU -> RESOURCE_LIMIT_EXCEEDED event", flush=True)

        # a static runtime (no LD_PRELOAD possible) under strict: the wrapper's exec ticket
        p = subprocess.run([PL_BIN, "wrap", "--", STATIC, ID], env=env(seccomp="strict"),
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0 and "Operation not permitted" in p.stdout,
              "static binary under strict: rc %d out %r err %r" % (p.returncode, p.stdout, p.stderr[-300:]))
        p = subprocess.run([PL_BIN, "wrap", "--", STATIC, ID], env=env(seccomp="basic"),
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0 and "uid=" in p.stdout,
              "static binary under basic should run id: %r %r" % (p.stdout, p.stderr[-300:]))
        print("ok   static binary: execve EPERM under strict, runs under basic", flush=True)
    finally:
        L.close()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(TMP_BASE, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
