# protectlambda Python adapter (PEP 578 audit hook), loaded through PYTHONPATH by the wrapper.
#
# It sees what only the language can see, and reports it to the guard over the monitor's
# datagram socket (same wire format as libprotectlambda_monitor.so, "src":"python"):
#   - imports of python.restricted_modules (ctypes, pickle, ...): RESTRICTED_MODULE_IMPORT
#   - eval/exec/compile of source strings by function code (not by the standard library or
#     site-packages, which generate code legitimately: dataclasses, namedtuple...):
#     DANGEROUS_FUNCTION_CALL
# Policy python.policy: allow (nothing), log (report), deny (report, then raise
# PermissionError: the import or the eval fails like any Python error).
# Processes, files, network are the .so's job (it sees them for every runtime).
# Audit hooks cannot be removed once added; ctypes can still poke memory (see docs/monitor.md).
import sys


def _pl_install():
    import os

    env = os.environ
    policy = env.get("PROTECTLAMBDA_PYTHON_POLICY", "log")
    if policy not in ("log", "deny"):
        return
    restricted = frozenset(
        m.strip()
        for m in env.get("PROTECTLAMBDA_PYTHON_RESTRICTED_MODULES",
                         "ctypes,_ctypes,cffi,pty,pickle,marshal").split(",")
        if m.strip()
    )
    sock_name = env.get("PROTECTLAMBDA_MON_SOCKET", "")
    if sock_name.startswith("@"):
        addr = "\0" + sock_name[1:]
    else:
        addr = sock_name
    exe = sys.executable or ""
    pid_cache = [0]
    state = {"sock": None, "drops": 0, "busy": False}
    # what the standard library and installed packages live under: their codegen is not
    # function code
    lib_roots = tuple(
        p for p in {
            os.path.dirname(os.__file__),
            getattr(sys, "base_prefix", ""),
            getattr(sys, "prefix", ""),
        } if p
    )
    this_file = __file__

    def esc(s, cap):
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

    def send(type_, sev, cls, what, why):
        if not addr:
            return
        msg = ('{"v":1,"src":"python","type":%s,"sev":%s,"act":%s,"cls":%s,"pid":%d,'
               '"drops":%d,"exe":%s,"what":%s,"why":%s}') % (
            esc(type_, 64), esc(sev, 16), esc(policy, 16), esc(cls, 32), os.getpid(),
            state["drops"], esc(exe, 256), esc(what, 512), esc(why, 160))
        data = msg.encode("utf-8", "replace")[:4096]
        try:
            s = state["sock"]
            if s is None or pid_cache[0] != os.getpid():
                import _socket
                s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
                s.setblocking(False)
                state["sock"] = s
                pid_cache[0] = os.getpid()
            s.sendto(data, addr)
        except Exception:
            state["drops"] += 1
            state["sock"] = None

    def caller_is_library():
        # the first frame that is neither this adapter nor the import machinery: is it the
        # standard library or an installed package (their code generation is legitimate)?
        f = sys._getframe(1)
        while f is not None:
            fn = f.f_code.co_filename
            if fn == this_file or fn.startswith("<frozen") or "importlib" in fn:
                f = f.f_back
                continue
            if "site-packages" in fn or "dist-packages" in fn:
                return True
            return any(fn.startswith(r + os.sep) for r in lib_roots)
        return True  # no Python caller: the interpreter itself (python -c, the main script)

    def hook(event, args):
        if state["busy"]:
            return
        if event == "import":
            name = args[0]
            if not isinstance(name, str):
                return
            top = name.split(".", 1)[0]
            if name not in restricted and top not in restricted:
                return
            state["busy"] = True
            try:
                if caller_is_library():
                    return
                send("RESTRICTED_MODULE_IMPORT", "MEDIUM", "import", name,
                     "import of a restricted module by function code")
            finally:
                state["busy"] = False
            if policy == "deny":
                raise PermissionError("protectlambda: import of %s is denied by python.policy"
                                      % name)
        elif event == "compile":
            source, filename = args[0], args[1]
            if not isinstance(source, (str, bytes)):
                return  # an AST: compiled from something already parsed
            state["busy"] = True
            try:
                if isinstance(filename, str) and filename[:1] != "<" and os.path.isfile(filename):
                    return  # code from a file (imports)
                if caller_is_library():
                    return
                text = source if isinstance(source, str) else source.decode("utf-8", "replace")
                send("DANGEROUS_FUNCTION_CALL", "HIGH", "code", text,
                     "eval/exec/compile of a source string")
            finally:
                state["busy"] = False
            if policy == "deny":
                raise PermissionError("protectlambda: eval/exec of a source string is denied "
                                      "by python.policy")

    sys.addaudithook(hook)


try:
    _pl_install()
except Exception:  # never break the function because of the adapter
    pass
del _pl_install

# chain to a sitecustomize further down the path (the function's or the runtime's own)
def _pl_chain():
    import importlib.util
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    for p in sys.path:
        try:
            if not p or os.path.abspath(p) == here:
                continue
        except Exception:
            continue
        cand = os.path.join(p, "sitecustomize.py")
        if os.path.isfile(cand):
            spec = importlib.util.spec_from_file_location("_pl_chained_sitecustomize", cand)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return


try:
    _pl_chain()
except Exception:
    pass
del _pl_chain
