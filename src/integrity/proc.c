/* Process view: code-loading environment variables, writable places, /proc/<pid>/maps and
 * /proc/<pid>/environ, ELF interpreter. Shared by audit and the tamper watch. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protectlambda/integrity.h"

extern char **environ;

#define S_MAX_MAPS_BYTES (16u << 20)
#define S_MAX_OBJECTS 8192
#define S_MAX_ENVIRON (4u << 20)

const char *const pl_code_loading_vars[] = {
    /* dynamic loader and libc */
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "GCONV_PATH",
    /* Lambda */
    "AWS_LAMBDA_EXEC_WRAPPER",
    /* Node.js */
    "NODE_OPTIONS",
    "NODE_PATH",
    /* Python */
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "PYTHONWARNINGS",
    "PYTHONINSPECT",
    /* Java */
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    /* Ruby, Perl, PHP, Lua */
    "RUBYOPT",
    "RUBYLIB",
    "PERL5OPT",
    "PERL5LIB",
    "PERLLIB",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    "LUA_INIT",
    "LUA_PATH",
    "LUA_CPATH",
    /* .NET */
    "DOTNET_STARTUP_HOOKS",
    "DOTNET_ADDITIONAL_DEPS",
    "CORECLR_ENABLE_PROFILING",
    "CORECLR_PROFILER",
    "CORECLR_PROFILER_PATH",
    "COR_PROFILER",
    /* shells */
    "BASH_ENV",
    "ENV",
    NULL,
};

bool pl_is_code_loading_var(const char *name, size_t len)
{
    for (size_t i = 0; pl_code_loading_vars[i]; i++)
        if (strlen(pl_code_loading_vars[i]) == len && !memcmp(pl_code_loading_vars[i], name, len))
            return true;
    return false;
}

static bool s_has_prefix(const char *s, const char *p)
{
    return !strncmp(s, p, strlen(p));
}

/* cache (may be NULL): the last directory asked and its answer, for a run of paths (the
 * mapped files of one process share a few directories: one access() per directory) */
struct s_dir_cache {
    char dir[4096];
    bool writable;
};

static bool s_writable_place(const char *path, struct s_dir_cache *cache)
{
    size_t n = strlen(path);
    if (n >= 10 && !strcmp(path + n - 10, " (deleted)"))
        return true; /* file gone from disk: typically dropped, loaded, deleted */
    if (s_has_prefix(path, "/memfd:") || s_has_prefix(path, "memfd:"))
        return true;
    if (s_has_prefix(path, "/tmp/") || s_has_prefix(path, "/dev/shm/") ||
        s_has_prefix(path, "/var/tmp/") || s_has_prefix(path, "/run/user/"))
        return true;
    /* the effective uid, read once: this runs for every mapped file of every tamper pass */
    static int s_root = -1;
    int root = __atomic_load_n(&s_root, __ATOMIC_RELAXED);
    if (root < 0) {
        root = geteuid() == 0;
        __atomic_store_n(&s_root, root, __ATOMIC_RELAXED);
    }
    if (root)
        return false; /* root can write anywhere: only the well-known places count */
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path || (size_t)(slash - path) >= 4096)
        return false;
    char dir[4096];
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    if (cache && cache->dir[0] && !strcmp(cache->dir, dir))
        return cache->writable;
    bool w = access(dir, W_OK) == 0;
    if (cache) {
        memcpy(cache->dir, dir, (size_t)(slash - path) + 1);
        cache->writable = w;
    }
    return w;
}

bool pl_path_is_writable_place(const char *path) { return s_writable_place(path, NULL); }

void pl_proc_maps_init(struct pl_proc_maps *m)
{
    memset(m, 0, sizeof(*m));
}

void pl_proc_maps_clean_up(struct pl_proc_maps *m)
{
    for (size_t i = 0; i < m->n; i++)
        pl_free(m->objs[i].path);
    pl_free(m->objs);
    memset(m, 0, sizeof(*m));
}

int pl_proc_maps_read(pid_t pid, struct pl_proc_maps *m)
{
    char path[64];
    if (pid > 0)
        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    else
        snprintf(path, sizeof(path), "/proc/self/maps");
    char *text = NULL;
    size_t len = 0;
    if (pl_read_file(path, &text, &len, S_MAX_MAPS_BYTES))
        return -1;
    int ret = -1;
    char *save = NULL;
    struct s_dir_cache cache = {.dir = ""};
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        /* addr perms offset dev inode   path */
        char perms[8] = "";
        int off = 0;
        if (sscanf(line, "%*s %7s %*s %*s %*s %n", perms, &off) < 1 || off <= 0)
            continue;
        const char *p = line + off;
        while (*p == ' ')
            p++;
        if (*p != '/')
            continue; /* anonymous, [heap], [stack], [vdso] */
        bool exec = strchr(perms, 'x') != NULL;
        size_t i;
        for (i = 0; i < m->n; i++)
            if (!strcmp(m->objs[i].path, p))
                break;
        if (i < m->n) {
            m->objs[i].exec |= exec;
            continue;
        }
        if (m->n >= S_MAX_OBJECTS)
            break; /* bounded: a process with more mapped files is reported partially */
        if (pl_array_reserve((void **)&m->objs, &m->cap, m->n + 1, sizeof(m->objs[0])))
            goto out;
        struct pl_mapped_object *o = &m->objs[m->n];
        o->path = pl_strdup(p);
        if (!o->path)
            goto out;
        o->exec = exec;
        o->writable_place = s_writable_place(p, &cache);
        m->n++;
    }
    ret = 0;
out:
    pl_free(text);
    return ret;
}

int pl_proc_environ_read(pid_t pid, struct pl_buf *out, size_t *n)
{
    *n = 0;
    if (pid <= 0 || pid == getpid()) {
        for (char **e = environ; e && *e; e++) {
            if (out->len + strlen(*e) + 1 > S_MAX_ENVIRON)
                return pl_raise(PL_ERR_LIMIT, "environment larger than %u bytes", S_MAX_ENVIRON);
            if (pl_buf_append(out, *e, strlen(*e) + 1))
                return -1;
            (*n)++;
        }
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    char *text = NULL;
    size_t len = 0;
    if (pl_read_file(path, &text, &len, S_MAX_ENVIRON))
        return -1;
    int ret = -1;
    size_t pos = 0;
    while (pos < len) {
        size_t l = strnlen(text + pos, len - pos);
        if (l && pl_buf_append(out, text + pos, l) == 0 && pl_buf_append_char(out, '\0') == 0)
            (*n)++;
        else if (l)
            goto out;
        pos += l + 1;
    }
    ret = 0;
out:
    pl_free(text);
    return ret;
}

int pl_elf_interp(const char *path, char *out, size_t outlen)
{
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pl_raise(PL_ERR_IO, "%s: %s", path, strerror(errno));
    int ret = -1;
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 512) {
        pl_raise(PL_ERR_PARSE, "%s: not a 64-bit ELF file", path);
        goto out;
    }
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) !=
            (ssize_t)sizeof(ph))
            break;
        if (ph.p_type != PT_INTERP)
            continue;
        if (ph.p_filesz == 0 || ph.p_filesz >= outlen || ph.p_filesz > 4096) {
            pl_raise(PL_ERR_PARSE, "%s: bad PT_INTERP", path);
            goto out;
        }
        if (pread(fd, out, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz) {
            pl_raise(PL_ERR_IO, "%s: short read", path);
            goto out;
        }
        out[ph.p_filesz] = '\0';
        out[strnlen(out, ph.p_filesz)] = '\0';
        break;
    }
    ret = 0;
out:
    close(fd);
    return ret;
}
