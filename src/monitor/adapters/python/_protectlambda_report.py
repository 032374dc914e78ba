# protectlambda Python adapter, the reporting half (see sitecustomize.py beside it, which
# imports this module the first time its audit hook has something to report): is the caller
# function code or a library, and the event sent to the guard over the monitor's datagram
# socket (the wire format of libprotectlambda_monitor.so, "src":"python").
import os
import sys

_TYPES = {"import": ("RESTRICTED_MODULE_IMPORT", "MEDIUM", "import",
                     "import of a restricted module by function code"),
          "code": ("DANGEROUS_FUNCTION_CALL", "HIGH", "code",
                   "eval/exec/compile of a source string")}


def _esc(s, cap):
    s = str(s)
    if len(s) > cap:
        s = s[:cap] + "..."
    out = []
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif o < 0x20 or o == 0x7F:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


class Reporter:
    def __init__(self, policy, adapter_files):
        self.policy = policy
        name = os.environ.get("PROTECTLAMBDA_MON_SOCKET", "")
        self.addr = "\0" + name[1:] if name.startswith("@") else name
        self.exe = sys.executable or ""
        self.sock = None
        self.pid = 0
        self.drops = 0
        # the adapter's own frames (its two files) are skipped when looking for the caller
        self.adapter_files = frozenset(adapter_files)
        # what the standard library and installed packages live under: their code generation
        # (dataclasses, namedtuple...) and their imports are not function code
        self.lib_roots = tuple(r + os.sep for r in {
            os.path.dirname(os.__file__),
            getattr(sys, "base_prefix", ""),
            getattr(sys, "prefix", ""),
        } if r)

    def caller_is_library(self):
        # the first frame that is neither the adapter nor the import machinery
        f = sys._getframe(1)
        while f is not None:
            fn = f.f_code.co_filename
            if fn in self.adapter_files or fn.startswith("<frozen") or "importlib" in fn:
                f = f.f_back
                continue
            if "site-packages" in fn or "dist-packages" in fn:
                return True
            return fn.startswith(self.lib_roots)
        return True  # no Python caller: the interpreter itself (python -c, the main script)

    def report(self, kind, what):
        """kind "import" (what: the module) or "code" (what: the source): False when the caller
        is a library (nothing reported, nothing denied), True when reported"""
        if self.caller_is_library():
            return False
        if kind == "code" and not isinstance(what, str):
            what = what.decode("utf-8", "replace")
        self.send(*_TYPES[kind], what)
        return True

    def send(self, type_, sev, cls, why, what):
        if not self.addr:
            return
        msg = ('{"v":1,"src":"python","type":%s,"sev":%s,"act":%s,"cls":%s,"pid":%d,'
               '"drops":%d,"exe":%s,"what":%s,"why":%s}') % (
            _esc(type_, 64), _esc(sev, 16), _esc(self.policy, 16), _esc(cls, 32), os.getpid(),
            self.drops, _esc(self.exe, 256), _esc(what, 512), _esc(why, 160))
        data = msg.encode("utf-8", "replace")[:4096]
        try:
            if self.sock is None or self.pid != os.getpid():
                import _socket
                s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
                s.setblocking(False)
                self.sock, self.pid = s, os.getpid()
            self.sock.sendto(data, self.addr)
        except Exception:
            self.drops += 1
            self.sock = None
