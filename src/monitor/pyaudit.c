/* The Python audit hook, in C, inside the monitor library.
 *
 * What it reports is what the sitecustomize adapter (adapters/python) reports: imports of
 * python.restricted_modules, and eval/exec/compile of source strings, by function code (not by
 * the standard library or installed packages, which generate code and import these modules
 * legitimately); policy python.policy (log: report; deny: report, then the import or the eval
 * raises PermissionError).
 *
 * Why here too: the adapter is a Python file on PYTHONPATH. /opt is read-only in Lambda, so it
 * is compiled from source at every cold start, and a Python-level hook costs an interpreter
 * call per audit event: about 2.5 ms of each Python cold start (docs/performance.md, session
 * 10). PEP 578's PySys_AddAuditHook may be called before Py_Initialize, and this library's
 * constructor runs before the interpreter's main: when the process is a CPython 3.9+ (its
 * symbols are global: python3 exports them for extension modules, or libpython is a load-time
 * dependency), the hook is added here, and the adapter's directory is taken out of PYTHONPATH
 * before the interpreter reads it (it would only report the same events twice). Anything else
 * (CPython 3.8: no PyFrame_GetBack; an interpreter dlopen'd later; the monitor library not
 * loaded) keeps the adapter as before. Only the documented C API is used, resolved with dlsym,
 * and no structure layout is assumed, so one build serves every CPython version.
 *
 * The hook runs with the GIL held; its state is set once by the constructor (one thread). */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "mon_util.h"
#include "pyaudit.h"

typedef void pyobj; /* PyObject, opaque */
typedef int (*audit_hook_fn)(const char *event, pyobj *args, void *data);

static struct {
    int (*add_hook)(audit_hook_fn, void *);       /* PySys_AddAuditHook */
    pyobj *(*tuple_get)(pyobj *, ssize_t);         /* PyTuple_GetItem (borrowed) */
    ssize_t (*tuple_size)(pyobj *);                /* PyTuple_Size */
    int (*is_instance)(pyobj *, pyobj *);          /* PyObject_IsInstance */
    const char *(*utf8)(pyobj *, ssize_t *);       /* PyUnicode_AsUTF8AndSize */
    int (*bytes)(pyobj *, char **, ssize_t *);     /* PyBytes_AsStringAndSize */
    pyobj *(*frame)(void);                         /* PyEval_GetFrame (borrowed) */
    pyobj *(*frame_back)(pyobj *);                 /* PyFrame_GetBack (new, 3.9) */
    pyobj *(*frame_code)(pyobj *);                 /* PyFrame_GetCode (new, 3.9) */
    pyobj *(*getattr)(pyobj *, const char *);      /* PyObject_GetAttrString (new) */
    pyobj *(*sys_get)(const char *);               /* PySys_GetObject (borrowed) */
    pyobj *(*dict_get)(pyobj *, const char *);     /* PyDict_GetItemString (borrowed) */
    void (*incref)(pyobj *), (*decref)(pyobj *);   /* Py_IncRef, Py_DecRef */
    void (*err_set)(pyobj *, const char *);        /* PyErr_SetString */
    void (*err_clear)(void);                       /* PyErr_Clear */
    pyobj *str_type, *bytes_type;                  /* &PyUnicode_Type, &PyBytes_Type */
    pyobj **perm_error;                            /* &PyExc_PermissionError */
} Y;

#define S_MAX_MODULES 64
#define S_MODULES_POOL 2048
#define S_ROOTS 3
#define S_ROOT_MAX 1024

static struct {
    bool deny;
    const char *act;
    pl_mon_py_emit_fn emit;
    char pool[S_MODULES_POOL];
    const char *modules[S_MAX_MODULES];
    size_t n_modules;
    /* where the standard library and the interpreter live: set at the first report */
    bool roots_set;
    char roots[S_ROOTS][S_ROOT_MAX];
    size_t n_roots;
} P;

static bool s_resolve(void)
{
#define S_SYM(field, name)                                                                    \
    do {                                                                                      \
        *(void **)(&Y.field) = dlsym(RTLD_DEFAULT, name);                                     \
        if (!Y.field)                                                                         \
            return false;                                                                     \
    } while (0)
    S_SYM(add_hook, "PySys_AddAuditHook");
    S_SYM(frame_back, "PyFrame_GetBack");
    S_SYM(frame_code, "PyFrame_GetCode");
    S_SYM(tuple_get, "PyTuple_GetItem");
    S_SYM(tuple_size, "PyTuple_Size");
    S_SYM(is_instance, "PyObject_IsInstance");
    S_SYM(utf8, "PyUnicode_AsUTF8AndSize");
    S_SYM(bytes, "PyBytes_AsStringAndSize");
    S_SYM(frame, "PyEval_GetFrame");
    S_SYM(getattr, "PyObject_GetAttrString");
    S_SYM(sys_get, "PySys_GetObject");
    S_SYM(dict_get, "PyDict_GetItemString");
    S_SYM(incref, "Py_IncRef");
    S_SYM(decref, "Py_DecRef");
    S_SYM(err_set, "PyErr_SetString");
    S_SYM(err_clear, "PyErr_Clear");
    S_SYM(str_type, "PyUnicode_Type");
    S_SYM(bytes_type, "PyBytes_Type");
    S_SYM(perm_error, "PyExc_PermissionError");
#undef S_SYM
    return true;
}

/* the UTF-8 of a str (NULL, error cleared, for anything else) */
static const char *s_str(pyobj *o)
{
    if (!o || Y.is_instance(o, Y.str_type) != 1) {
        Y.err_clear();
        return NULL;
    }
    const char *s = Y.utf8(o, NULL);
    if (!s)
        Y.err_clear();
    return s;
}

static void s_add_root(const char *dir, size_t n)
{
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (!n || n + 2 > S_ROOT_MAX || P.n_roots >= S_ROOTS)
        return;
    memcpy(P.roots[P.n_roots], dir, n);
    P.roots[P.n_roots][n] = '/';
    P.roots[P.n_roots][n + 1] = '\0';
    P.n_roots++;
}

/* os.__file__'s directory, sys.base_prefix, sys.prefix (the adapter's lib_roots) */
static void s_set_roots(void)
{
    P.roots_set = true;
    pyobj *mods = Y.sys_get("modules");
    pyobj *os = mods ? Y.dict_get(mods, "os") : NULL;
    pyobj *file = os ? Y.getattr(os, "__file__") : NULL;
    const char *f = s_str(file);
    const char *slash = f ? strrchr(f, '/') : NULL;
    if (slash)
        s_add_root(f, (size_t)(slash - f));
    if (file)
        Y.decref(file);
    else
        Y.err_clear();
    static const char *const names[] = {"base_prefix", "prefix"};
    for (size_t i = 0; i < 2; i++) {
        const char *p = s_str(Y.sys_get(names[i]));
        if (p)
            s_add_root(p, strlen(p));
    }
}

/* site's own frames (it runs the .pth files' lines with exec at start-up: installed packages'
 * code, which the sitecustomize adapter, installed after it, never saw) */
static bool s_is_site(const char *fn)
{
    if (!strcmp(fn, "<frozen site>"))
        return true;
    size_t n = strlen(fn);
    return n >= 8 && !strcmp(fn + n - 8, "/site.py");
}

/* Is the code that caused the event a library's (the standard library, an installed package,
 * the interpreter itself) rather than the function's? The first frame that is not the import
 * machinery decides, unless site is running below it. */
static bool s_caller_is_library(void)
{
    pyobj *f = Y.frame();
    if (!f)
        return true; /* no Python caller: the interpreter itself */
    Y.incref(f);
    int first = -1; /* the first deciding frame's answer: 1 library, 0 function code */
    bool site = false;
    while (f && !site) {
        pyobj *code = Y.frame_code(f);
        pyobj *name = code ? Y.getattr(code, "co_filename") : NULL;
        if (code)
            Y.decref(code);
        const char *fn = s_str(name);
        if (fn && s_is_site(fn)) {
            site = true;
        } else if (fn && first < 0 && strncmp(fn, "<frozen", 7) != 0 && !strstr(fn, "importlib")) {
            if (strstr(fn, "site-packages") || strstr(fn, "dist-packages")) {
                first = 1;
            } else {
                if (!P.roots_set)
                    s_set_roots();
                first = 0;
                for (size_t i = 0; i < P.n_roots && !first; i++)
                    first = strncmp(fn, P.roots[i], strlen(P.roots[i])) == 0;
            }
        }
        if (name)
            Y.decref(name);
        else
            Y.err_clear();
        pyobj *back = Y.frame_back(f);
        Y.decref(f);
        f = back;
    }
    if (f)
        Y.decref(f);
    return site || first != 0;
}

static bool s_restricted(const char *name)
{
    size_t top = strcspn(name, ".");
    for (size_t i = 0; i < P.n_modules; i++) {
        const char *m = P.modules[i];
        if (!strcmp(m, name) || (strlen(m) == top && !strncmp(m, name, top)))
            return true;
    }
    return false;
}

/* report; under deny, the PermissionError the import or the eval raises (returns -1) */
static int s_report(const char *type, const char *sev, const char *cls, const char *what,
                    const char *why, const char *denied)
{
    P.emit(type, sev, P.act, cls, what, why);
    if (!P.deny)
        return 0;
    Y.err_set(*Y.perm_error, denied);
    return -1;
}

static int s_hook(const char *event, pyobj *args, void *data)
{
    (void)data;
    if (event[0] == 'i' && !strcmp(event, "import")) {
        const char *name = s_str(Y.tuple_size(args) > 0 ? Y.tuple_get(args, 0) : NULL);
        if (!name || !s_restricted(name) || s_caller_is_library())
            return 0;
        char msg[256];
        snprintf(msg, sizeof(msg), "protectlambda: import of %.150s is denied by python.policy",
                 name);
        return s_report("RESTRICTED_MODULE_IMPORT", "MEDIUM", "import", name,
                        "import of a restricted module by function code", msg);
    }
    if (event[0] == 'c' && !strcmp(event, "compile")) {
        if (Y.tuple_size(args) < 2) {
            Y.err_clear();
            return 0;
        }
        pyobj *src = Y.tuple_get(args, 0);
        const char *text = NULL;
        char buf[600];
        if (Y.is_instance(src, Y.str_type) == 1) {
            text = s_str(src);
        } else if (Y.is_instance(src, Y.bytes_type) == 1) {
            char *b = NULL;
            ssize_t n = 0;
            if (Y.bytes(src, &b, &n) == 0 && b) {
                /* bytes: kept printable ASCII, the rest '?' (the event is JSON) */
                size_t k = 0;
                for (ssize_t i = 0; i < n && k + 1 < sizeof(buf); i++)
                    buf[k++] = (b[i] >= 0x20 && b[i] < 0x7F) || b[i] == '\n' || b[i] == '\t'
                                   ? b[i] : '?';
                buf[k] = '\0';
                text = buf;
            }
        }
        if (!text) {
            Y.err_clear();
            return 0; /* an AST: compiled from something already parsed */
        }
        const char *file = s_str(Y.tuple_get(args, 1));
        struct stat st;
        if (file && file[0] != '<' && stat(file, &st) == 0 && S_ISREG(st.st_mode))
            return 0; /* code from a file (imports) */
        if (s_caller_is_library())
            return 0;
        return s_report("DANGEROUS_FUNCTION_CALL", "HIGH", "code", text,
                        "eval/exec/compile of a source string",
                        "protectlambda: eval/exec of a source string is denied by python.policy");
    }
    return 0;
}

/* take `dir` out of PYTHONPATH, in place (the string lives in the initial environment; no
 * allocation): "a:DIR:b" -> "a:b" */
static void s_strip_pythonpath(const char *dir)
{
    char *pp = getenv("PYTHONPATH");
    size_t dl = dir ? strlen(dir) : 0;
    if (!pp || !dl)
        return;
    char *w = pp;
    const char *r = pp;
    bool first = true;
    while (*r) {
        const char *end = strchr(r, ':');
        size_t n = end ? (size_t)(end - r) : strlen(r);
        if (!(n == dl && !memcmp(r, dir, dl))) {
            if (!first)
                *w++ = ':';
            memmove(w, r, n);
            w += n;
            first = false;
        }
        r += n;
        if (*r == ':')
            r++;
    }
    *w = '\0';
    if (!*pp)
        unsetenv("PYTHONPATH"); /* it held the adapter only (the wrapper made it) */
}

int pl_mon_pyaudit_init(const char *policy, const char *modules, const char *adapter_dir,
                        pl_mon_py_emit_fn emit)
{
    if (!dlsym(RTLD_DEFAULT, "Py_Initialize"))
        return 0; /* not a Python process (or an interpreter not loaded yet) */
    if (!s_resolve())
        return 0; /* CPython before 3.9: the adapter on PYTHONPATH does it */
    bool audit = policy && (!strcmp(policy, "log") || !strcmp(policy, "deny"));
    if (audit) {
        P.deny = !strcmp(policy, "deny");
        P.act = P.deny ? "deny" : "log";
        P.emit = emit;
        size_t used = 0;
        for (const char *p = modules ? modules : ""; *p && P.n_modules < S_MAX_MODULES;) {
            while (*p == ' ' || *p == ',')
                p++;
            size_t n = strcspn(p, ",");
            size_t t = n;
            while (t && p[t - 1] == ' ')
                t--;
            if (t && used + t + 1 <= sizeof(P.pool)) {
                memcpy(P.pool + used, p, t);
                P.pool[used + t] = '\0';
                P.modules[P.n_modules++] = P.pool + used;
                used += t + 1;
            }
            p += n;
        }
        if (Y.add_hook(s_hook, NULL) != 0)
            return -1; /* refused (a hook already installed said no): the adapter stays */
    }
    /* allow: nothing to report, and nothing for the adapter to do either */
    s_strip_pythonpath(adapter_dir);
    return audit ? 1 : 0;
}
