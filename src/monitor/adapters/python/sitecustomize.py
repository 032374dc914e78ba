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
#
# This file is on every cold start of a Python function, and /opt is read-only in Lambda: it
# is compiled from source each time (no __pycache__). So it holds the hook and its fast path
# only; what runs when there is something to report (the caller check, the message, the
# socket) is _protectlambda_report.py beside it, imported the first time it is needed.
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
    isfile = os.path.isfile
    this_file = __file__
    here = os.path.dirname(os.path.abspath(this_file))
    state = {"busy": False, "report": None}

    def report(kind, what):
        # the caller check and the message: _protectlambda_report, loaded once
        r = state["report"]
        if r is None:
            from importlib.machinery import SourceFileLoader
            path = os.path.join(here, "_protectlambda_report.py")
            m = type(sys)("_protectlambda_report")
            m.__file__ = path
            SourceFileLoader(m.__name__, path).exec_module(m)
            r = state["report"] = m.Reporter(policy, (this_file, path))
        return r.report(kind, what)

    def hook(event, args):
        if state["busy"]:
            return
        if event == "import":
            name = args[0]
            if not isinstance(name, str):
                return
            if name not in restricted and name.split(".", 1)[0] not in restricted:
                return
            state["busy"] = True
            try:
                reported = report("import", name)
            finally:
                state["busy"] = False
            if reported and policy == "deny":
                raise PermissionError("protectlambda: import of %s is denied by python.policy"
                                      % name)
        elif event == "compile":
            source, filename = args[0], args[1]
            if not isinstance(source, (str, bytes)):
                return  # an AST: compiled from something already parsed
            state["busy"] = True
            try:
                if isinstance(filename, str) and filename[:1] != "<" and isfile(filename):
                    return  # code from a file (imports)
                reported = report("code", source)
            finally:
                state["busy"] = False
            if reported and policy == "deny":
                raise PermissionError("protectlambda: eval/exec of a source string is denied "
                                      "by python.policy")

    sys.addaudithook(hook)


try:
    _pl_install()
except Exception:  # never break the function because of the adapter
    pass
del _pl_install


# chain to a sitecustomize further down the path (the function's or the runtime's own), with
# importlib.machinery's loader (its bytecode cache used), not importlib.util: that one imports
# contextlib, functools and collections, ~2 ms of every cold start
def _pl_chain():
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
            from importlib.machinery import SourceFileLoader
            name = "_pl_chained_sitecustomize"
            loader = SourceFileLoader(name, cand)
            mod = type(sys)(name)
            mod.__file__ = cand
            mod.__loader__ = loader
            loader.exec_module(mod)
            return


try:
    _pl_chain()
except Exception:
    pass
del _pl_chain
