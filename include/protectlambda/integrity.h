/* Integrity: SHA-256 manifests of a code tree (optionally Ed25519-signed), their verification,
 * a view of a process (loaded objects, code-loading environment variables), and the tamper
 * watch that turns changes between invocations into RUNTIME_MODIFICATION events.
 *
 * Manifest text format (docs/integrity.md):
 *   protectlambda-manifest 1
 *   hash sha256
 *   entries <N>
 *   <type> <mode> <size> <hash|-> <path>[ <link target>]     (N lines, sorted by path bytes)
 *   total <sha256 hex of every byte above this line>
 *   [signature ed25519 <base64 of the signature of every byte above this line>]
 * type: F file, L symlink (hash = SHA-256 of the target, not followed), D directory,
 * O other (fifo, socket, device; not opened). Paths and targets are percent-encoded: bytes
 * outside 0x21..0x7e and '%' become %XX (upper-case hex). */
#ifndef PROTECTLAMBDA_INTEGRITY_H
#define PROTECTLAMBDA_INTEGRITY_H

#include <sys/stat.h>
#include <sys/types.h>

#include "protectlambda/buf.h"
#include "protectlambda/event.h"

#define PL_SHA256_LEN 32
#define PL_MANIFEST_MAX_LINE 8192 /* longest manifest line accepted */
#define PL_MANIFEST_MAX_PATH 4096 /* longest decoded path or link target */
#define PL_MANIFEST_DEFAULT_MAX_ENTRIES 1000000u
#define PL_MANIFEST_MAX_BYTES (512u << 20) /* largest manifest file read */

/* one-shot SHA-256 (OpenSSL) */
int pl_sha256(const void *data, size_t len, uint8_t out[PL_SHA256_LEN]);
/* lower-case hex of n bytes into out (2n+1 bytes) */
void pl_hex(const uint8_t *in, size_t n, char *out);
/* first 8 hex digits of SHA-256(data) into out[9]: how secrets are named in reports */
void pl_sha256_prefix8(const void *data, size_t len, char out[9]);

enum pl_mf_type { PL_MF_FILE = 'F', PL_MF_LINK = 'L', PL_MF_DIR = 'D', PL_MF_OTHER = 'O' };

struct pl_manifest_entry {
    char *path;    /* relative to the root, '/'-separated, raw bytes, NUL-terminated */
    char *target;  /* symlink target (links only) */
    uint64_t size; /* files: bytes; links: length of the target; else 0 */
    uint32_t mode; /* permission bits (07777) */
    uint8_t type;  /* enum pl_mf_type */
    uint8_t hash[PL_SHA256_LEN]; /* files: content; links: target; else zero */
    int err;                     /* build only: errno when the file could not be read (0 ok) */
    bool deferred;               /* build only: content not read (pl_manifest_opts.defer) */
};

struct pl_manifest {
    struct pl_manifest_entry *entries;
    size_t n, cap;
    uint8_t total[PL_SHA256_LEN]; /* filled by write and parse */
    bool is_signed;               /* parse: a signature line was present (and checked if a key
                                     was given) */
    uint64_t bytes_hashed;        /* build: file bytes read */
};

struct pl_manifest_opts {
    unsigned threads;   /* hashing threads; 0 = min(2, online CPUs) */
    size_t max_entries; /* 0 = PL_MANIFEST_DEFAULT_MAX_ENTRIES */
    /* files to leave out (the manifest itself when it lives in the tree), by device/inode */
    const dev_t *skip_dev;
    const ino_t *skip_ino;
    size_t n_skip;
    /* files for which defer() returns true are not read: their type, size and mode are
     * compared, their content later by pl_verify_entries (path relative to the root) */
    bool (*defer)(void *ud, const char *path, const struct stat *st);
    void *defer_ud;
};

void pl_manifest_init(struct pl_manifest *m);
void pl_manifest_clean_up(struct pl_manifest *m);

/* Walk `dir` (symlinks recorded, never followed; other file systems entered), hash every
 * regular file, sort. Unreadable files are recorded with `err` set and make the call fail
 * (the manifest is still filled, for verify's report). */
int pl_manifest_build(const char *dir, const struct pl_manifest_opts *opts, struct pl_manifest *m);

/* Serialize (sets m->total). sign_key_pem: PEM private key (Ed25519) text, or NULL. */
int pl_manifest_write(struct pl_manifest *m, const char *sign_key_pem, size_t key_len,
                      struct pl_buf *out);

/* Parse untrusted manifest text, strictly (bounded lines, counts, sorted unique safe paths,
 * the total checked). pubkey_pem (Ed25519 public key PEM, or NULL): when given, a signature
 * line must be present and valid (PL_ERR_SIGNATURE otherwise). */
int pl_manifest_parse(const char *data, size_t len, const char *pubkey_pem, size_t pubkey_len,
                      size_t max_entries, struct pl_manifest *m);

/* ---- differences ---- */
#define PL_DIFF_ADDED 0x01u
#define PL_DIFF_MISSING 0x02u
#define PL_DIFF_CONTENT 0x04u
#define PL_DIFF_SIZE 0x08u
#define PL_DIFF_MODE 0x10u
#define PL_DIFF_TYPE 0x20u
#define PL_DIFF_TARGET 0x40u
#define PL_DIFF_UNREADABLE 0x80u

struct pl_manifest_diff {
    char *path;
    unsigned what; /* PL_DIFF_* */
    uint64_t old_size, new_size;
    uint32_t old_mode, new_mode;
    uint8_t old_type, new_type;
};

struct pl_verify_report {
    struct pl_manifest_diff *diffs;
    size_t n, cap;
    size_t n_added, n_missing, n_changed;
    size_t entries_checked;
    size_t entries_deferred; /* files whose content was left for pl_verify_entries */
    uint64_t bytes_hashed;
};

void pl_verify_report_init(struct pl_verify_report *r);
void pl_verify_report_clean_up(struct pl_verify_report *r);
/* compare two sorted manifests (expected, actual) */
int pl_manifest_compare(const struct pl_manifest *expected, const struct pl_manifest *actual,
                        struct pl_verify_report *r);
/* Read manifest_path (and pubkey_path, or NULL), build the tree's manifest (leaving the
 * manifest file out when it is inside dir), compare. 0 when the comparison ran (r->n says
 * whether there are differences); -1 on a bad manifest (PL_ERR_SIGNATURE when forged,
 * unsigned with a key given, or the key is bad) or I/O failure. */
int pl_verify_dir(const char *manifest_path, const char *pubkey_path, const char *dir,
                  const struct pl_manifest_opts *opts, struct pl_verify_report *r);
/* The same; with opts->defer, `deferred` (initialized by the caller) receives copies of the
 * expected entries of the files whose content was not read, for pl_verify_entries. */
int pl_verify_dir_ex(const char *manifest_path, const char *pubkey_path, const char *dir,
                     const struct pl_manifest_opts *opts, struct pl_verify_report *r,
                     struct pl_manifest *deferred);
/* Hash the files `expected` lists under dir and compare them with it (content, size, mode,
 * type; a file gone is missing). 0 when the comparison ran (r->n says whether they differ). */
int pl_verify_entries(const char *dir, const struct pl_manifest *expected,
                      struct pl_verify_report *r);
/* "changed  app.py (content, size 10 -> 12)" lines, or a JSON object */
int pl_verify_report_text(const struct pl_verify_report *r, struct pl_buf *out);
int pl_verify_report_json(const struct pl_verify_report *r, struct pl_buf *out);

/* Ed25519 key pair as PEM text (private PKCS#8, public SubjectPublicKeyInfo) */
int pl_ed25519_keygen(struct pl_buf *priv_pem, struct pl_buf *pub_pem);

/* ---- process view (used by audit and the tamper watch) ---- */
/* The environment variables that change how runtimes load code. NULL-terminated. */
extern const char *const pl_code_loading_vars[];
bool pl_is_code_loading_var(const char *name, size_t len);

/* whether a path is in a place the function can write (/tmp, /dev/shm, /var/tmp, or a
 * directory writable by this process), or anonymous file memory (memfd:, "(deleted)") */
bool pl_path_is_writable_place(const char *path);

struct pl_mapped_object {
    char *path; /* as in /proc/<pid>/maps (may end in " (deleted)"; "memfd:x") */
    bool exec;  /* mapped executable at least once */
    bool writable_place;
};
struct pl_proc_maps {
    struct pl_mapped_object *objs;
    size_t n, cap;
};
void pl_proc_maps_init(struct pl_proc_maps *m);
void pl_proc_maps_clean_up(struct pl_proc_maps *m);
/* unique file-backed mappings of pid (0 = self), bounded */
int pl_proc_maps_read(pid_t pid, struct pl_proc_maps *m);

/* initial environment of pid (0 = self: the live environ) as "NAME=value" strings in a buf
 * separated by NUL; n = count */
int pl_proc_environ_read(pid_t pid, struct pl_buf *out, size_t *n);
/* ELF interpreter (PT_INTERP) of an executable file into out, "" when static */
int pl_elf_interp(const char *path, char *out, size_t outlen);

/* ---- tamper watch ---- */
typedef void (*pl_tamper_event_fn)(void *ud, const struct pl_event *ev);

struct pl_tamper_opts {
    const char *const *dirs; /* writable places to watch (NULL = "/tmp") */
    size_t n_dirs;
    pid_t pid; /* runtime process (0: none yet; see pl_tamper_watch_set_pid) */
    /* when pid is 0: find the runtime as the process whose environment holds
     * AWS_LAMBDA_RUNTIME_API=<this value> (the proxy address the wrapper gave it); retried
     * at every interval until found */
    const char *discover_runtime_api;
    unsigned interval_ms; /* periodic maps/environ check (0 = 2000) */
    pl_tamper_event_fn on_event;
    void *ud;
};

struct pl_tamper_watch;
/* take the baseline (files already in the dirs, objects mapped by pid, code-loading variables
 * of pid and its children) and start the watch thread */
int pl_tamper_watch_new(const struct pl_tamper_opts *opts, struct pl_tamper_watch **out);
/* set / change the runtime pid (its baseline is taken now) */
int pl_tamper_watch_set_pid(struct pl_tamper_watch *w, pid_t pid);
/* run the maps/environ check now, in the caller's thread (tests, SHUTDOWN) */
int pl_tamper_watch_check_now(struct pl_tamper_watch *w);
/* events reported so far */
uint64_t pl_tamper_watch_events(struct pl_tamper_watch *w);
void pl_tamper_watch_destroy(struct pl_tamper_watch *w);

#endif
