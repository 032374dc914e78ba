/* Inspect: turns an event, a response or a code file into what rules see, and decides.
 * Works on bytes and JSON, never on connections.
 *
 * A view is one text buffer holding every inspected item (JSON keys and string values, and
 * their decoded forms), separated by '\n', plus an index of items (offset, length, JSON path,
 * decoding), so the engine scans the whole event in one pass and matches map back to items. */
#ifndef PROTECTLAMBDA_INSPECT_H
#define PROTECTLAMBDA_INSPECT_H

#include "protectlambda/engine.h"

enum pl_decoding {
    PL_DEC_NONE,     /* the value as sent (JSON escapes already resolved) */
    PL_DEC_URL,      /* percent / '+' decoding, possibly repeated */
    PL_DEC_HTML,     /* HTML entities */
    PL_DEC_BASE64,   /* base64 body (isBase64Encoded) */
    PL_DEC_JSON,     /* JSON nested in a string (API Gateway body, SQS body, SNS Message) */
    PL_DEC_RAW,      /* input was not JSON: raw bytes */
    PL_DEC_COUNT
};
const char *pl_decoding_name(enum pl_decoding d); /* "none","url","html","base64","json","raw" */

enum pl_item_kind { PL_ITEM_KEY, PL_ITEM_VALUE, PL_ITEM_RAW };

struct pl_inspect_item {
    size_t off, len;          /* in view->text */
    uint32_t path_off;        /* in view->paths (NUL-terminated "$.a.b[0]") */
    uint8_t kind;             /* enum pl_item_kind */
    uint8_t decoding;         /* enum pl_decoding (outermost decoding that produced it) */
};

struct pl_inspect_limits {
    uint32_t max_depth;       /* nesting (including JSON nested in strings) */
    uint64_t max_items;       /* keys + values */
    uint64_t max_decoded;     /* bytes in view->text */
    uint32_t decode_rounds;   /* nested URL/HTML decoding rounds */
    bool keep_repeats;        /* false (default): a value repeated verbatim in the same
                               * context gets no second item (docs/inspect.md) */
};
void pl_inspect_limits_default(struct pl_inspect_limits *l);

struct pl_inspect_view {
    struct pl_buf text;
    struct pl_buf paths;
    struct pl_inspect_item *items;
    size_t n_items, cap_items;
    bool non_json;            /* input was not JSON: scanned as raw bytes */
    bool bound_exceeded;      /* a limit was hit; what was inspected so far is in the view */
    char bound_reason[96];
    bool http_event;          /* API Gateway v1/v2, ALB or Function URL event (deny with 403) */
    struct pl_inspect_state *state; /* private: parser stacks and scratch, reused across events */
};

void pl_inspect_view_init(struct pl_inspect_view *v);
void pl_inspect_view_reset(struct pl_inspect_view *v);  /* reuse memory across events */
void pl_inspect_view_clean_up(struct pl_inspect_view *v);

/* Build the view of a JSON document (event or response); the view is reset first (its memory
 * is reused). Non-JSON input becomes one RAW item (after the items of any valid prefix).
 * Fails only on internal errors (memory); bounds set view->bound_exceeded. */
int pl_inspect_json(const struct pl_inspect_limits *lim, const char *data, size_t len,
                    struct pl_inspect_view *view);

/* item containing text offset `off` (binary search), or NULL */
const struct pl_inspect_item *pl_inspect_item_at(const struct pl_inspect_view *v, size_t off);

/* ---- decoders (exposed for tests and fuzzing); each appends to out, returns 1 when the
 * output differs from the input, 0 when there was nothing to decode, -1 on error ---- */
int pl_decode_url(const char *s, size_t len, bool plus_as_space, struct pl_buf *out);
int pl_decode_html(const char *s, size_t len, struct pl_buf *out);
int pl_decode_base64(const char *s, size_t len, struct pl_buf *out);

/* ---- verdicts ---- */
struct pl_match {
    uint32_t rule_index;      /* in the ruleset */
    const struct pl_rule *rule;
    char *path;               /* JSON path, or file path for code */
    enum pl_decoding decoding;
    char *excerpt;            /* matched text, bounded (<= 120 bytes), for logs */
    uint32_t line, column;    /* code matches (1-based); 0 otherwise */
};

struct pl_verdict {
    bool deny;                /* a deny-action rule matched (or bound exceeded with on_bound deny) */
    bool bound_exceeded;
    bool non_json;
    bool redact;              /* a redact-action rule matched (out direction) */
    struct pl_match *matches;
    size_t n_matches, cap_matches;
    uint64_t elapsed_us;      /* parse + decode + scan */
};

void pl_verdict_init(struct pl_verdict *v);
void pl_verdict_reset(struct pl_verdict *v);
void pl_verdict_clean_up(struct pl_verdict *v);

struct pl_checker {
    const struct pl_ruleset *set;
    const struct pl_engine *engine;       /* engine of the direction's target */
    struct pl_engine_scratch *scratch;
    struct pl_inspect_limits limits;
    bool deny_on_bound;
    struct pl_inspect_view view;          /* reused */
    struct pl_checker_state *state;       /* private: match bookkeeping, reused */
};

int pl_checker_init(struct pl_checker *c, const struct pl_ruleset *set,
                    const struct pl_engine *engine);
void pl_checker_clean_up(struct pl_checker *c);
/* Inspect and decide one event or response. One match per (rule, path) at most. */
int pl_checker_check(struct pl_checker *c, const char *data, size_t len, struct pl_verdict *out);

/* ---- code ---- */
struct pl_code_finding {
    char *file;
    uint32_t line, column;
    uint32_t rule_index;
    const struct pl_rule *rule;
    char *excerpt;            /* the matched text (bounded) */
};

struct pl_code_scan {
    struct pl_code_finding *findings;
    size_t n, cap;
    size_t files_scanned, bytes_scanned, files_skipped;
    size_t comment_matches; /* rule matches on comment-only lines (not findings) */
    size_t deps_skipped;    /* packages installed beside the code (pip -t: *.dist-info) */
};

void pl_code_scan_init(struct pl_code_scan *s);
void pl_code_scan_clean_up(struct pl_code_scan *s);
/* Scan files or directories (recursively; binaries and skip globs skipped). Rules with
 * language/path filters only apply to matching files. Python packages installed beside the
 * code (`pip install -t`: a *.dist-info or *.egg-info directory whose RECORD / top_level.txt
 * names them) are skipped like site-packages, except the module of the handler (_HANDLER);
 * a rule with languages does not match on comment-only lines of those languages. */
int pl_code_scan_paths(const struct pl_ruleset *set, const struct pl_engine *engine,
                       char *const *paths, size_t n_paths, char *const *skip_globs,
                       size_t n_skip, struct pl_code_scan *out);
/* language of a file by extension/shebang: "python", "node", "java", "go", "ruby", "shell",
 * or NULL */
const char *pl_code_language(const char *path, const char *head, size_t head_len);

#endif
