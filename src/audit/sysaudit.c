/* System view (protectlambda audit): writable places and the code in them, whether sensitive
 * files are readable (never their content), the runtime process (executable, ELF interpreter,
 * loaded objects) and its code-loading environment variables. Built into two buffers at once
 * (text and JSON); the caller gets the one it asked for. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protectlambda/audit.h"
#include "protectlambda/integrity.h"

static const unsigned char s_elf_magic[4] = {0x7f, 'E', 'L', 'F'};
#define S_MAX_LISTED 20

struct s_out {
    struct pl_buf t, j;
    size_t findings;
    int rc;
    bool first; /* first element of the current JSON array */
};

static void s_jsep(struct s_out *o)
{
    if (!o->first)
        o->rc |= pl_buf_append_char(&o->j, ',');
    o->first = false;
}

static void s_tstr(struct s_out *o, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        o->rc |= pl_buf_append_char(&o->t, (*p >= 0x20 && *p < 0x7f) ? (char)*p : '?');
}

static const char *s_file_code_kind(const char *path, const struct stat *st)
{
    if (S_ISDIR(st->st_mode))
        return NULL;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *so = strstr(base, ".so");
    if (so && (so[3] == '\0' || so[3] == '.'))
        return "shared object";
    if (S_ISREG(st->st_mode)) {
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
            unsigned char m[4];
            ssize_t r = read(fd, m, 4);
            close(fd);
            if (r == 4 && !memcmp(m, s_elf_magic, 4))
                return "ELF file";
        }
        if (st->st_mode & 0111)
            return "executable";
    }
    return NULL;
}

static void s_place(struct s_out *o, const char *path, bool code_dir)
{
    struct stat st;
    bool exists = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    bool writable = exists && access(path, W_OK) == 0;
    s_jsep(o);
    o->rc |= pl_buf_append_str(&o->j, "{\"path\":");
    o->rc |= pl_buf_append_json_cstr(&o->j, path);
    o->rc |= pl_buf_appendf(&o->j, ",\"exists\":%s,\"writable\":%s", exists ? "true" : "false",
                            writable ? "true" : "false");
    o->rc |= pl_buf_appendf(&o->t, "  %-28s ", path);
    if (!exists) {
        o->rc |= pl_buf_append_str(&o->t, "absent\n");
        o->rc |= pl_buf_append_char(&o->j, '}');
        return;
    }
    if (code_dir && writable) {
        o->findings++;
        o->rc |= pl_buf_append_str(&o->j, ",\"finding\":\"code directory is writable\"");
    }
    size_t n = 0, listed = 0;
    o->rc |= pl_buf_append_str(&o->j, ",\"entries\":[");
    struct pl_buf names = PL_BUF_INIT;
    DIR *d = writable ? opendir(path) : NULL;
    struct dirent *de;
    bool jfirst = true;
    // cppcheck-suppress readdirCalled ; one DIR stream per thread
    while (d && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        n++;
        char full[4096];
        if (snprintf(full, sizeof(full), "%s/%s", path, de->d_name) >= (int)sizeof(full))
            continue;
        struct stat fs;
        if (lstat(full, &fs) < 0)
            continue;
        const char *kind = code_dir ? NULL : s_file_code_kind(full, &fs);
        if (kind)
            o->findings++;
        if (listed >= S_MAX_LISTED && !kind)
            continue;
        listed++;
        o->rc |= pl_buf_append_str(&o->j, jfirst ? "{\"name\":" : ",{\"name\":");
        jfirst = false;
        o->rc |= pl_buf_append_json_cstr(&o->j, de->d_name);
        o->rc |= pl_buf_appendf(&o->j, ",\"type\":\"%s\",\"mode\":\"%04o\"",
                                S_ISDIR(fs.st_mode)   ? "dir"
                                : S_ISLNK(fs.st_mode) ? "link"
                                : S_ISREG(fs.st_mode) ? "file"
                                                      : "other",
                                (unsigned)(fs.st_mode & 07777));
        if (kind)
            o->rc |= pl_buf_appendf(&o->j, ",\"finding\":\"%s in a writable place\"", kind);
        o->rc |= pl_buf_append_char(&o->j, '}');
        if (kind) {
            o->rc |= pl_buf_appendf(&names, "      FINDING %s in a writable place: ", kind);
            for (const unsigned char *p = (const unsigned char *)de->d_name; *p; p++)
                o->rc |= pl_buf_append_char(&names, (*p >= 0x20 && *p < 0x7f) ? (char)*p : '?');
            o->rc |= pl_buf_append_char(&names, '\n');
        }
    }
    if (d)
        closedir(d);
    o->rc |= pl_buf_appendf(&o->j, "],\"count\":%zu}", n);
    o->rc |= pl_buf_appendf(&o->t, "%s%s", writable ? "writable" : "read-only",
                            code_dir && writable ? "  FINDING: code directory is writable" : "");
    if (writable && !code_dir)
        o->rc |= pl_buf_appendf(&o->t, ", %zu entries", n);
    o->rc |= pl_buf_append_char(&o->t, '\n');
    if (names.len)
        o->rc |= pl_buf_append(&o->t, names.data, names.len);
    pl_buf_clean_up(&names);
}

static void s_sensitive(struct s_out *o, const char *path, bool finding_if_readable)
{
    struct stat st;
    bool exists = lstat(path, &st) == 0;
    bool readable = exists && access(path, R_OK) == 0;
    bool finding = readable && finding_if_readable;
    if (finding)
        o->findings++;
    s_jsep(o);
    o->rc |= pl_buf_append_str(&o->j, "{\"path\":");
    o->rc |= pl_buf_append_json_cstr(&o->j, path);
    o->rc |= pl_buf_appendf(&o->j, ",\"exists\":%s,\"readable\":%s%s}", exists ? "true" : "false",
                            readable ? "true" : "false",
                            finding ? ",\"finding\":\"sensitive file readable\"" : "");
    o->rc |= pl_buf_appendf(&o->t, "  %-28s %s%s\n", path,
                            !exists    ? "absent"
                            : readable ? "readable"
                                       : "not readable",
                            finding ? "  FINDING: sensitive file readable" : "");
}

static bool s_value_in_writable_place(const char *v)
{
    return strstr(v, "/tmp/") || strstr(v, "/dev/shm") || strstr(v, "/var/tmp") ||
           !strcmp(v, "/tmp") || strstr(v, "/tmp:") || strstr(v, "/tmp ");
}

static void s_runtime(struct s_out *o, pid_t pid)
{
    char p[64], exe[4096] = "", interp[4096] = "";
    snprintf(p, sizeof(p), "/proc/%d/exe", pid > 0 ? (int)pid : (int)getpid());
    ssize_t n = readlink(p, exe, sizeof(exe) - 1);
    if (n > 0)
        exe[n] = '\0';
    if (exe[0])
        pl_elf_interp(exe, interp, sizeof(interp));
    pl_error_clear();
    o->rc |= pl_buf_appendf(&o->j,
                            "\"runtime\":{\"pid\":%d,\"exe\":", pid > 0 ? (int)pid : (int)getpid());
    o->rc |= pl_buf_append_json_cstr(&o->j, exe);
    o->rc |= pl_buf_append_str(&o->j, ",\"interpreter\":");
    o->rc |= pl_buf_append_json_cstr(&o->j, interp);
    o->rc |= pl_buf_appendf(&o->t, "\nruntime process %d\n  executable   ",
                            pid > 0 ? (int)pid : (int)getpid());
    s_tstr(o, exe);
    o->rc |= pl_buf_append_str(&o->t, "\n  interpreter  ");
    s_tstr(o, interp[0] ? interp : "(static)");
    o->rc |= pl_buf_append_str(&o->t, "\n  loaded objects:\n");

    struct pl_proc_maps m;
    pl_proc_maps_init(&m);
    o->rc |= pl_buf_append_str(&o->j, ",\"objects\":[");
    o->first = true;
    if (pl_proc_maps_read(pid, &m) == 0) {
        for (size_t i = 0; i < m.n; i++) {
            bool finding = m.objs[i].writable_place && m.objs[i].exec;
            if (finding)
                o->findings++;
            s_jsep(o);
            o->rc |= pl_buf_append_str(&o->j, "{\"path\":");
            o->rc |= pl_buf_append_json_cstr(&o->j, m.objs[i].path);
            o->rc |= pl_buf_appendf(&o->j, ",\"exec\":%s,\"writable_place\":%s}",
                                    m.objs[i].exec ? "true" : "false",
                                    m.objs[i].writable_place ? "true" : "false");
            o->rc |= pl_buf_appendf(&o->t, "    %s ", m.objs[i].exec ? "x" : "-");
            s_tstr(o, m.objs[i].path);
            if (finding)
                o->rc |= pl_buf_append_str(&o->t, "  FINDING: code from a writable place");
            o->rc |= pl_buf_append_char(&o->t, '\n');
        }
    } else {
        o->rc |= pl_buf_appendf(&o->t, "    (not readable: %s)\n", pl_last_error_msg());
        pl_error_clear();
    }
    pl_proc_maps_clean_up(&m);
    o->rc |= pl_buf_append_str(&o->j, "],\"code_loading_env\":[");
    o->rc |= pl_buf_append_str(&o->t, "  code-loading environment:\n");
    o->first = true;
    struct pl_buf env = PL_BUF_INIT;
    size_t nv = 0, shown = 0;
    if (pl_proc_environ_read(pid, &env, &nv) == 0) {
        for (size_t pos = 0; pos < env.len;) {
            const char *kv = env.data + pos;
            pos += strlen(kv) + 1;
            const char *eq = strchr(kv, '=');
            if (!eq || !pl_is_code_loading_var(kv, (size_t)(eq - kv)))
                continue;
            shown++;
            const char *v = eq + 1;
            bool secret = pl_secret_value_kind(v, strlen(v)) != NULL;
            bool finding = s_value_in_writable_place(v);
            if (finding)
                o->findings++;
            char hash[9];
            pl_sha256_prefix8(v, strlen(v), hash);
            s_jsep(o);
            o->rc |= pl_buf_append_str(&o->j, "{\"name\":");
            o->rc |= pl_buf_append_json_str(&o->j, kv, (size_t)(eq - kv));
            if (secret) {
                o->rc |= pl_buf_appendf(&o->j, ",\"sha256_prefix\":\"%s\"", hash);
            } else {
                o->rc |= pl_buf_append_str(&o->j, ",\"value\":");
                o->rc |= pl_buf_append_json_cstr(&o->j, v);
            }
            if (finding)
                o->rc |=
                    pl_buf_append_str(&o->j, ",\"finding\":\"loads code from a writable place\"");
            o->rc |= pl_buf_append_char(&o->j, '}');
            o->rc |= pl_buf_appendf(&o->t, "    %.*s=", (int)(eq - kv), kv);
            if (secret)
                o->rc |= pl_buf_appendf(&o->t, "(secret-shaped value, sha256=%s)", hash);
            else
                s_tstr(o, v);
            if (finding)
                o->rc |= pl_buf_append_str(&o->t, "  FINDING: loads code from a writable place");
            o->rc |= pl_buf_append_char(&o->t, '\n');
        }
    } else {
        pl_error_clear();
    }
    if (!shown)
        o->rc |= pl_buf_append_str(&o->t, "    (none set)\n");
    pl_buf_clean_up(&env);
    o->rc |= pl_buf_append_str(&o->j, "]}");
}

int pl_sys_audit(const struct pl_sys_audit_opts *opts, struct pl_buf *out, size_t *findings)
{
    struct s_out o = {PL_BUF_INIT, PL_BUF_INIT, 0, 0, true};
    const char *task_root = opts->task_root;
    if (!task_root)
        task_root = getenv("LAMBDA_TASK_ROOT");
    if (!task_root || !*task_root)
        task_root = "/var/task";
    char home_aws[4096] = "";
    const char *home = getenv("HOME");
    if (home && *home)
        snprintf(home_aws, sizeof(home_aws), "%s/.aws/credentials", home);

    o.rc |= pl_buf_append_str(&o.j, "{\"writable_places\":[");
    o.rc |= pl_buf_append_str(&o.t, "writable places\n");
    static const char *const places[] = {"/tmp", "/dev/shm", "/var/tmp"};
    for (size_t i = 0; i < PL_ARRAY_LEN(places); i++)
        s_place(&o, places[i], false);
    o.rc |= pl_buf_append_str(&o.j, "],\"code_directories\":[");
    o.rc |= pl_buf_append_str(&o.t, "\ncode directories (should be read-only)\n");
    o.first = true;
    s_place(&o, task_root, true);
    s_place(&o, "/opt", true);
    o.rc |= pl_buf_append_str(&o.j, "],\"sensitive_files\":[");
    o.rc |= pl_buf_append_str(&o.t, "\nsensitive files (content never read)\n");
    o.first = true;
    static const struct {
        const char *path;
        bool finding;
    } sens[] = {
        {"/etc/shadow", true},          {"/etc/gshadow", true},
        {"/etc/sudoers", true},         {"/root/.aws/credentials", true},
        {"/var/run/docker.sock", true}, {"/proc/kcore", true},
        {"/etc/passwd", false},         {"/proc/self/environ", false},
        {"/proc/1/environ", false},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(sens); i++)
        s_sensitive(&o, sens[i].path, sens[i].finding);
    if (home_aws[0] && strcmp(home_aws, "/root/.aws/credentials") != 0)
        s_sensitive(&o, home_aws, true);
    o.rc |= pl_buf_append_str(&o.j, "],");
    s_runtime(&o, opts->pid);
    o.rc |= pl_buf_appendf(&o.j, ",\"findings\":%zu}\n", o.findings);
    o.rc |= pl_buf_appendf(&o.t, "\n%zu finding%s\n", o.findings, o.findings == 1 ? "" : "s");
    int ret = -1;
    if (o.rc) {
        pl_raise(PL_ERR_NOMEM, "out of memory building the audit report");
        goto out;
    }
    struct pl_buf *src = opts->json ? &o.j : &o.t;
    if (pl_buf_append(out, src->data, src->len))
        goto out;
    *findings = o.findings;
    ret = 0;
out:
    pl_buf_clean_up(&o.t);
    pl_buf_clean_up(&o.j);
    return ret;
}
