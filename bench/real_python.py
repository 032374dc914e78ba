"""python3 as Lambda execs it, for the benches' Python runtime loop."""
import os
import sys


def real_python3():
    """The first python3 on PATH that is a program (ELF), not a wrapper script: a shim such as
    pyenv's runs a shell and several programs before the interpreter, on every cold start, and
    with the monitor on, each of them is a process the guard reports. Lambda execs the
    interpreter itself. Falls back to the interpreter running this bench."""
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d or ".", "python3")
        try:
            with open(p, "rb") as f:
                if f.read(4) == b"\x7fELF" and os.access(p, os.X_OK):
                    return p
        except OSError:
            continue
    return os.path.realpath(sys.executable)
