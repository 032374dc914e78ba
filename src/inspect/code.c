/* Code scanning: walk files and directories, skip binaries and dependency folders, scan each
 * file once with the code engine, report file, line, column, rule and excerpt, one finding per
 * (rule, line). Symlinks are followed; a directory already visited (same device and inode)
 * is not entered again, so symlink loops end. */
#include "inspect_private.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define S_MAX_FILE (64u << 20)      /* larger files are skipped (counted) */
#define S_BINARY_PROBE 8192
#define S_MAX_FINDINGS_PER_FILE 10000

static const char *const s_default_skip[] = {"node_modules", "site-packages", "*.dist-info",
                                             "__pycache__", ".git"};

void pl_code_scan_init(struct pl_code_scan *s) { memset(s, 0, sizeof(*s)); }

void pl_code_scan_clean_up(struct pl_code_scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        pl_free(s->findings[i].file);
        pl_free(s->findings[i].excerpt);
    }
    pl_free(s->findings);
    memset(s, 0, sizeof(*s));
}

static bool s_ends(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

const char *pl_code_language(const char *path, const char *head, size_t head_len)
{
    static const struct {
        const char *ext, *lang;
    } exts[] = {
        {".py", "python"}, {".pyw", "python"}, {".js", "node"},   {".mjs", "node"},
        {".cjs", "node"},  {".ts", "node"},    {".mts", "node"},  {".cts", "node"},
        {".jsx", "node"},  {".tsx", "node"},   {".java", "java"}, {".jsp", "java"}, {".kt", "java"},
        {".go", "go"},     {".rb", "ruby"},    {".erb", "ruby"},  {".rake", "ruby"},
        {".sh", "shell"},  {".bash", "shell"}, {".zsh", "shell"}, {".ksh", "shell"},
    };
    const char *base = path ? strrchr(path, '/') : NULL;
    base = base ? base + 1 : path;
    if (base) {
        for (size_t i = 0; i < PL_ARRAY_LEN(exts); i++)
            if (s_ends(base, exts[i].ext))
                return exts[i].lang;
        if (!strcmp(base, "Gemfile") || !strcmp(base, "Rakefile"))
            return "ruby";
        if (!strcmp(base, "bootstrap"))
            return "shell"; /* custom runtime entry point, usually a shell script */
    }
    if (head && head_len > 2 && head[0] == '#' && head[1] == '!') {
        const char *nl = memchr(head, '\n', head_len);
        size_t n = nl ? (size_t)(nl - head) : head_len;
        char line[256];
        if (n >= sizeof(line))
            n = sizeof(line) - 1;
        memcpy(line, head, n);
        line[n] = '\0';
        if (strstr(line, "python"))
            return "python";
        if (strstr(line, "node") || strstr(line, "deno") || strstr(line, "bun"))
            return "node";
        if (strstr(line, "ruby"))
            return "ruby";
        if (strstr(line, "sh"))
            return "shell"; /* sh, bash, zsh, dash, ksh */
    }
    return NULL;
}

struct s_line_hit {
    uint32_t rule;
    uint32_t line;
};

struct s_file_ctx {
    const char *data;
    size_t len;
    size_t *starts;           /* line start offsets */
    size_t n_lines, cap_starts;
    const uint8_t *applies;   /* per rule */
    uint32_t *last_line;      /* per rule: last line recorded */
    struct s_line_hit *hits;
    size_t n_hits, cap_hits;
    size_t n_rules;
    bool nomem;
};

static int s_build_lines(struct s_file_ctx *fc)
{
    size_t *cap = &fc->cap_starts;
    fc->n_lines = 0;
    const char *p = fc->data, *end = fc->data + fc->len;
    if (pl_array_reserve((void **)&fc->starts, cap, 64, sizeof(size_t)))
        return -1;
    fc->starts[fc->n_lines++] = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        if (pl_array_reserve((void **)&fc->starts, cap, fc->n_lines + 1, sizeof(size_t)))
            return -1;
        fc->starts[fc->n_lines++] = (size_t)(nl - fc->data) + 1;
        p = nl + 1;
    }
    return 0;
}

/* 0-based line containing offset */
static uint32_t s_line_of(const struct s_file_ctx *fc, size_t off)
{
    size_t lo = 0, hi = fc->n_lines;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fc->starts[mid] <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (uint32_t)(lo ? lo - 1 : 0);
}

static int s_code_match(void *ctx, uint32_t rule, unsigned long long from,
                        unsigned long long to)
{
    struct s_file_ctx *fc = ctx;
    if (rule >= fc->n_rules || !fc->applies[rule])
        return 0;
    size_t pos = to ? (size_t)to - 1 : 0;
    if (pos >= fc->len)
        pos = fc->len ? fc->len - 1 : 0;
    /* a match ending right after a line's text ends on that line */
    uint32_t line = s_line_of(fc, pos);
    if (fc->last_line[rule] == line + 1)
        return 0;
    fc->last_line[rule] = line + 1;
    if (fc->n_hits >= S_MAX_FINDINGS_PER_FILE)
        return 0;
    if (pl_array_reserve((void **)&fc->hits, &fc->cap_hits, fc->n_hits + 1, sizeof(*fc->hits))) {
        fc->nomem = true;
        return 1;
    }
    fc->hits[fc->n_hits++] = (struct s_line_hit){rule, line};
    return 0;
}

/* a path glob matches the path relative to the scanned directory, or any trailing part of
 * the file's path that starts at a directory boundary (handlers/NAME.py matches
 * /var/task/handlers/NAME.py); a glob without '/' matches the file name */
static bool s_glob_matches(const char *glob, const char *rel, const char *full)
{
    if (pl_glob_match(glob, rel) || pl_glob_match(glob, full))
        return true;
    for (const char *p = strchr(full, '/'); p; p = strchr(p + 1, '/'))
        if (p[1] && pl_glob_match(glob, p + 1))
            return true;
    return false;
}

static bool s_rule_applies(const struct pl_rule *r, const char *lang, const char *rel,
                           const char *full)
{
    if (r->target != PL_TARGET_CODE)
        return false;
    if (r->languages && r->languages[0]) {
        bool ok = false;
        for (char **l = r->languages; *l && !ok; l++)
            ok = lang && !strcmp(*l, lang);
        if (!ok)
            return false;
    }
    if (r->paths && r->paths[0]) {
        bool ok = false;
        for (char **g = r->paths; *g && !ok; g++)
            ok = s_glob_matches(*g, rel, full);
        if (!ok)
            return false;
    }
    return true;
}

static int s_hit_cmp(const void *a, const void *b)
{
    const struct s_line_hit *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

struct s_scan {
    const struct pl_ruleset *set;
    const struct pl_engine *engine;
    struct pl_engine_scratch *scratch;
    char *const *skip;
    size_t n_skip;
    struct pl_code_scan *out;
    uint8_t *applies;
    uint32_t *last_line;
    struct s_file_ctx fc;
    /* visited directories */
    struct {
        dev_t dev;
        ino_t ino;
    } *seen;
    size_t n_seen, cap_seen;
};

/* For a rule written for given languages (the packs' rules: they describe code), a line
 * that is only a comment in the file's language ("#" for Python, Ruby and shell;
 * "//", a block comment's opening slash-star or its "*" lines for JavaScript/TypeScript, Java
 * and Go) is not code: a rule matching there (an example in a comment, a commented-out call)
 * is no finding. Rules without languages (code_protect.txt) see every line, as they did. */
static bool s_comment_line(const char *lang, const char *line, size_t n)
{
    if (!lang)
        return false;
    size_t i = 0;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i >= n)
        return false;
    if (!strcmp(lang, "python") || !strcmp(lang, "ruby") || !strcmp(lang, "shell"))
        return line[i] == '#';
    if (!strcmp(lang, "node") || !strcmp(lang, "java") || !strcmp(lang, "go"))
        return (line[i] == '/' && i + 1 < n && (line[i + 1] == '/' || line[i + 1] == '*')) ||
               (line[i] == '*' && (i + 1 >= n || line[i + 1] == ' ' || line[i + 1] == '/' ||
                                   line[i + 1] == '\r'));
    return false;
}

/* scan one regular file; rel is the path used for rule path globs */
static int s_scan_file(struct s_scan *sc, const char *path, const char *rel)
{
    char *data = NULL;
    size_t len = 0;
    int rc = -1;
    struct s_file_ctx *fc = &sc->fc;
    if (pl_read_file(path, &data, &len, S_MAX_FILE)) {
        if (pl_last_error() == PL_ERR_NOMEM)
            return -1;
        sc->out->files_skipped++; /* unreadable or too large */
        pl_error_clear();
        return 0;
    }
    size_t probe = len < S_BINARY_PROBE ? len : S_BINARY_PROBE;
    if (memchr(data, '\0', probe)) {
        sc->out->files_skipped++;
        rc = 0;
        goto out;
    }
    const char *lang = pl_code_language(path, data, probe);
    size_t n_rules = sc->set->count;
    bool any = false;
    for (size_t i = 0; i < n_rules; i++) {
        sc->applies[i] = s_rule_applies(&sc->set->rules[i], lang, rel, path);
        any |= sc->applies[i];
        sc->last_line[i] = 0;
    }
    sc->out->files_scanned++;
    sc->out->bytes_scanned += len;
    if (!any || !len) {
        rc = 0;
        goto out;
    }
    fc->data = data;
    fc->len = len;
    fc->applies = sc->applies;
    fc->last_line = sc->last_line;
    fc->n_rules = n_rules;
    fc->n_hits = 0;
    fc->nomem = false;
    if (s_build_lines(fc))
        goto out;
    if (pl_engine_scan(sc->engine, sc->scratch, data, len, s_code_match, fc) && fc->nomem)
        goto out;
    if (fc->nomem)
        goto out;
    if (fc->n_hits)
        qsort(fc->hits, fc->n_hits, sizeof(*fc->hits), s_hit_cmp);
    for (size_t i = 0; i < fc->n_hits; i++) {
        const struct s_line_hit *h = &fc->hits[i];
        const struct pl_rule *r = &sc->set->rules[h->rule];
        size_t ls = fc->starts[h->line];
        size_t le = h->line + 1 < fc->n_lines ? fc->starts[h->line + 1] - 1 : len;
        if (le > ls && data[le - 1] == '\r')
            le--;
        if (r->languages && r->languages[0] && s_comment_line(lang, data + ls, le - ls)) {
            sc->out->comment_matches++;
            continue;
        }
        size_t f = 0, t = 0;
        int found = pl_inspect_confirm(sc->engine, r, h->rule, data + ls, le - ls, &f, &t);
        if (found < 0)
            goto out;
        if (!found) {
            if (r->allow && r->allow[0])
                continue; /* cannot tell whether the match is allow-listed: skip it */
            /* a match spanning lines: report where its last line starts */
            f = 0;
            t = le - ls;
        }
        struct pl_code_scan *o = sc->out;
        if (pl_array_reserve((void **)&o->findings, &o->cap, o->n + 1, sizeof(*o->findings)))
            goto out;
        struct pl_code_finding *fd = &o->findings[o->n];
        memset(fd, 0, sizeof(*fd));
        fd->file = pl_strdup(path);
        fd->excerpt = pl_inspect_excerpt(r, data + ls + f, t - f);
        if (!fd->file || !fd->excerpt) {
            pl_free(fd->file);
            pl_free(fd->excerpt);
            goto out;
        }
        fd->line = h->line + 1;
        /* column in Unicode code points (UTF-8 continuation bytes do not count) */
        uint32_t col = 1;
        for (size_t k = 0; k < f; k++)
            col += ((unsigned char)data[ls + k] & 0xC0) != 0x80;
        fd->column = col;
        fd->rule_index = h->rule;
        fd->rule = r;
        o->n++;
    }
    rc = 0;
out:
    pl_free(data);
    return rc;
}

static bool s_skipped(struct s_scan *sc, const char *name, const char *rel)
{
    for (size_t i = 0; i < sc->n_skip; i++)
        if (pl_glob_match(sc->skip[i], name) || pl_glob_match(sc->skip[i], rel))
            return true;
    return false;
}

static int s_seen(struct s_scan *sc, const struct stat *st)
{
    for (size_t i = 0; i < sc->n_seen; i++)
        if (sc->seen[i].dev == st->st_dev && sc->seen[i].ino == st->st_ino)
            return 1;
    if (pl_array_reserve((void **)&sc->seen, &sc->cap_seen, sc->n_seen + 1, sizeof(*sc->seen)))
        return -1;
    sc->seen[sc->n_seen].dev = st->st_dev;
    sc->seen[sc->n_seen].ino = st->st_ino;
    sc->n_seen++;
    return 0;
}

static int s_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- Python packages installed beside the code (pip install -t) ---- */

struct s_deps {
    char **names; /* top-level names in the directory being listed */
    size_t n, cap;
};

static void s_deps_clear(struct s_deps *d)
{
    for (size_t i = 0; i < d->n; i++)
        pl_free(d->names[i]);
    d->n = 0;
}

static bool s_deps_has(const struct s_deps *d, const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->names[i], name))
            return true;
    return false;
}

static int s_deps_add(struct s_deps *d, const char *name, size_t len)
{
    if (!len || len >= 256 || (len == 2 && !memcmp(name, "..", 2)))
        return 0;
    char buf[256];
    memcpy(buf, name, len);
    buf[len] = '\0';
    if (s_deps_has(d, buf))
        return 0;
    if (pl_array_reserve((void **)&d->names, &d->cap, d->n + 1, sizeof(*d->names)))
        return -1;
    if (!(d->names[d->n] = pl_strdup(buf)))
        return -1;
    d->n++;
    return 0;
}

/* the top-level module of the handler ("app" of _HANDLER=app.handler, "pkg" of
 * pkg/sub.handler or pkg.sub.handler): never taken for a dependency */
static void s_handler_module(char *out, size_t len)
{
    const char *h = getenv("_HANDLER");
    out[0] = '\0';
    if (!h)
        return;
    size_t n = strcspn(h, "./");
    if (n < len) {
        memcpy(out, h, n);
        out[n] = '\0';
    }
}

/* names[] of dir: read each *.dist-info/RECORD (first path component of every row) and
 * *.dist-info|*.egg-info/top_level.txt; whatever they list (but the handler's module and the
 * metadata directories themselves) is a dependency */
static int s_deps_collect(const char *dir, char *const *names, size_t n_names, struct s_deps *d)
{
    char handler[256];
    s_handler_module(handler, sizeof(handler));
    for (size_t i = 0; i < n_names; i++) {
        bool dist = s_ends(names[i], ".dist-info"), egg = s_ends(names[i], ".egg-info");
        if (!dist && !egg)
            continue;
        static const char *const files[] = {"RECORD", "top_level.txt"};
        for (size_t f = 0; f < 2; f++) {
            if (f == 0 && !dist)
                continue;
            char path[4096];
            if (snprintf(path, sizeof(path), "%s/%s/%s", dir, names[i], files[f]) >=
                (int)sizeof(path))
                continue;
            char *text = NULL;
            size_t len = 0;
            if (pl_read_file(path, &text, &len, 4u << 20)) {
                pl_error_clear();
                continue;
            }
            for (size_t p = 0; p < len;) {
                const char *line = text + p;
                const char *nl = memchr(line, '\n', len - p);
                size_t ll = nl ? (size_t)(nl - line) : len - p;
                p += ll + 1;
                const char *q = line;
                if (ll && *q == '"') /* CSV quoting of a path with a comma */
                    q++, ll--;
                size_t k = 0;
                while (k < ll && q[k] != '/' && q[k] != ',' && q[k] != '"' && q[k] != '\r')
                    k++;
                if (k == ll && f == 0)
                    continue; /* not a RECORD row */
                if ((k == strlen(handler) && !memcmp(q, handler, k)) ||
                    (k == strlen(names[i]) && !memcmp(q, names[i], k)))
                    continue;
                /* a module file: "six.py" in RECORD is the name to skip as it is */
                if (s_deps_add(d, q, k)) {
                    pl_free(text);
                    return -1;
                }
            }
            pl_free(text);
        }
    }
    return 0;
}

/* Walk a directory tree iteratively: a stack of directory paths (root-relative parts kept
 * with the full path as "full\0rel"). */
static int s_walk(struct s_scan *sc, const char *root)
{
    char **stack = NULL;
    size_t n = 0, cap = 0;
    char **names = NULL;
    size_t n_names = 0, cap_names = 0;
    struct s_deps deps = {0};
    int rc = -1;
    struct stat st;
    if (stat(root, &st) || s_seen(sc, &st) < 0)
        goto out;
    if (pl_array_reserve((void **)&stack, &cap, 1, sizeof(*stack)))
        goto out;
    if (!(stack[n++] = pl_strdup(root)))
        goto out;
    size_t root_len = strlen(root);
    while (n) {
        char *dir = stack[--n];
        DIR *d = opendir(dir);
        if (!d) {
            sc->out->files_skipped++;
            pl_free(dir);
            continue;
        }
        n_names = 0;
        struct dirent *de;
        bool oom = false;
        while (!oom && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            if (pl_array_reserve((void **)&names, &cap_names, n_names + 1, sizeof(*names)) ||
                !(names[n_names] = pl_strdup(de->d_name)))
                oom = true;
            else
                n_names++;
        }
        closedir(d);
        if (oom) {
            pl_free(dir);
            goto out_names;
        }
        if (n_names > 1) /* names is NULL for an empty directory: qsort(NULL) is undefined */
            qsort(names, n_names, sizeof(*names), s_str_cmp);
        s_deps_clear(&deps);
        if (s_deps_collect(dir, names, n_names, &deps)) {
            pl_free(dir);
            goto out_names;
        }
        /* files first in name order; directories pushed in reverse so they pop in order */
        size_t first_dir = n;
        for (size_t i = 0; i < n_names; i++) {
            struct pl_buf full = PL_BUF_INIT;
            if (pl_buf_appendf(&full, "%s%s%s", dir, s_ends(dir, "/") ? "" : "/", names[i])) {
                pl_buf_clean_up(&full);
                pl_free(dir);
                goto out_names;
            }
            const char *rel = full.data + root_len;
            while (*rel == '/')
                rel++;
            if (deps.n && s_deps_has(&deps, names[i])) {
                sc->out->deps_skipped++;
                pl_buf_clean_up(&full);
                continue;
            }
            if (stat(full.data, &st)) {
                pl_buf_clean_up(&full); /* dangling symlink or vanished */
                continue;
            }
            if (S_ISDIR(st.st_mode)) {
                int seen = s_skipped(sc, names[i], rel) ? 1 : s_seen(sc, &st);
                if (seen < 0) {
                    pl_buf_clean_up(&full);
                    pl_free(dir);
                    goto out_names;
                }
                if (seen) {
                    pl_buf_clean_up(&full);
                    continue;
                }
                if (pl_array_reserve((void **)&stack, &cap, n + 1, sizeof(*stack))) {
                    pl_buf_clean_up(&full);
                    pl_free(dir);
                    goto out_names;
                }
                stack[n++] = pl_buf_steal(&full, NULL);
            } else if (S_ISREG(st.st_mode)) {
                int r = s_skipped(sc, names[i], rel) ? 0 : s_scan_file(sc, full.data, rel);
                pl_buf_clean_up(&full);
                if (r) {
                    pl_free(dir);
                    goto out_names;
                }
            } else {
                pl_buf_clean_up(&full);
            }
        }
        /* reverse the directories pushed for this dir so the first name pops first */
        for (size_t a = first_dir, b = n; a + 1 < b; a++, b--) {
            char *t = stack[a];
            stack[a] = stack[b - 1];
            stack[b - 1] = t;
        }
        for (size_t i = 0; i < n_names; i++)
            pl_free(names[i]);
        n_names = 0;
        pl_free(dir);
    }
    rc = 0;
out_names:
    for (size_t i = 0; i < n_names; i++)
        pl_free(names[i]);
out:
    if (rc && pl_last_error() == PL_OK)
        pl_raise(PL_ERR_IO, "cannot read directory %s: %s", root, strerror(errno));
    while (n)
        pl_free(stack[--n]);
    pl_free(stack);
    pl_free(names);
    s_deps_clear(&deps);
    pl_free(deps.names);
    return rc;
}

int pl_code_scan_paths(const struct pl_ruleset *set, const struct pl_engine *engine,
                       char *const *paths, size_t n_paths, char *const *skip_globs,
                       size_t n_skip, struct pl_code_scan *out)
{
    int rc = -1;
    struct s_scan sc = {.set = set, .engine = engine, .out = out};
    sc.skip = skip_globs ? skip_globs : (char *const *)s_default_skip;
    sc.n_skip = skip_globs ? n_skip : PL_ARRAY_LEN(s_default_skip);
    if (!engine)
        return pl_raise(PL_ERR_INVALID_ARG, "no code engine");
    pl_error_clear();
    if (pl_engine_scratch_new(engine, &sc.scratch))
        return -1;
    sc.applies = pl_calloc(set->count + 1, 1);
    sc.last_line = pl_calloc(set->count + 1, sizeof(*sc.last_line));
    if (!sc.applies || !sc.last_line)
        goto out;
    for (size_t i = 0; i < n_paths; i++) {
        struct stat st;
        if (stat(paths[i], &st)) {
            pl_raise(PL_ERR_IO, "cannot read %s: %s", paths[i], strerror(errno));
            goto out;
        }
        if (S_ISDIR(st.st_mode)) {
            if (s_walk(&sc, paths[i]))
                goto out;
        } else {
            if (s_scan_file(&sc, paths[i], paths[i]))
                goto out;
        }
    }
    rc = 0;
out:
    pl_free(sc.fc.starts);
    pl_free(sc.fc.hits);
    pl_free(sc.applies);
    pl_free(sc.last_line);
    pl_free(sc.seen);
    pl_engine_scratch_destroy(sc.scratch);
    return rc;
}
