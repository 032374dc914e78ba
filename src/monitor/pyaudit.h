/* The Python audit hook of the monitor library (pyaudit.c): PEP 578's hook added from the
 * library's constructor, before the interpreter starts, when the process is CPython 3.9+. */
#ifndef PL_MON_PYAUDIT_H
#define PL_MON_PYAUDIT_H

#include "mon_util.h"

/* sends one event of the wire format with "src":"python" */
typedef void (*pl_mon_py_emit_fn)(const char *type, const char *sev, const char *act,
                                  const char *cls, const char *what, const char *why);

/* policy: python.policy (allow|log|deny); modules: python.restricted_modules (comma list);
 * adapter_dir: the sitecustomize adapter's directory the wrapper put on PYTHONPATH (taken
 * out of it once this hook stands for it). Returns 1 when the hook was added, 0 when this is
 * not a CPython 3.9+ or the policy is allow (nothing to add), -1 when Python refused it. */
PL_MON_HIDDEN int pl_mon_pyaudit_init(const char *policy, const char *modules,
                                      const char *adapter_dir, pl_mon_py_emit_fn emit);

#endif
