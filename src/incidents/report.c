/* Reports from the store: text, JSON, or one self-contained HTML file (inline CSS and SVG). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protectlambda/incidents.h"

#define S_RECENT_N 10
#define S_CORR_N 50
#define S_RULES_N 64

struct s_rule_count {
    char rule[256];
    enum pl_event_type type;
    uint64_t n;
};

struct s_agg {
    uint64_t total;
    uint64_t by_level[PL_SEV_COUNT];
    uint64_t by_type[PL_EV_COUNT];
    int64_t first_ms, last_ms;
    struct pl_incident *recent; /* ring of S_RECENT_N */
    size_t recent_n, recent_head;
    struct pl_incident *corr; /* ring: the last S_CORR_N correlated */
    size_t corr_n, corr_head;
    uint64_t corr_total;
    struct s_rule_count *rules;
    size_t rules_n;
    uint64_t rules_other;
};

static int s_collect(void *ctx, const struct pl_incident *inc)
{
    struct s_agg *a = ctx;
    if (inc->type == PL_EV_QUARANTINED_INVOCATION)
        return 0;
    a->total++;
    a->by_level[inc->level]++;
    a->by_type[inc->type]++;
    if (!a->first_ms || inc->time_ms < a->first_ms)
        a->first_ms = inc->time_ms;
    if (inc->time_ms > a->last_ms)
        a->last_ms = inc->time_ms;
    a->recent[a->recent_head] = *inc;
    a->recent_head = (a->recent_head + 1) % S_RECENT_N;
    if (a->recent_n < S_RECENT_N)
        a->recent_n++;
    if (inc->correlation[0]) {
        a->corr_total++;
        a->corr[a->corr_head] = *inc;
        a->corr_head = (a->corr_head + 1) % S_CORR_N;
        if (a->corr_n < S_CORR_N)
            a->corr_n++;
    }
    const char *rule = inc->rule[0] ? inc->rule : "(no rule)";
    for (size_t i = 0; i < a->rules_n; i++) {
        if (a->rules[i].type == inc->type && !strcmp(a->rules[i].rule, rule)) {
            a->rules[i].n++;
            return 0;
        }
    }
    if (a->rules_n < S_RULES_N) {
        struct s_rule_count *r = &a->rules[a->rules_n++];
        snprintf(r->rule, sizeof(r->rule), "%s", rule);
        r->type = inc->type;
        r->n = 1;
    } else {
        a->rules_other++;
    }
    return 0;
}

/* most recent first */
static const struct pl_incident *s_recent_at(const struct s_agg *a, size_t i)
{
    return &a->recent[(a->recent_head + S_RECENT_N - 1 - i) % S_RECENT_N];
}

/* correlated, most recent first */
static const struct pl_incident *s_corr_at(const struct s_agg *a, size_t i)
{
    return &a->corr[(a->corr_head + S_CORR_N - 1 - i) % S_CORR_N];
}

static int s_cmp_rules(const void *x, const void *y)
{
    const struct s_rule_count *a = x, *b = y;
    return a->n < b->n ? 1 : a->n > b->n ? -1 : strcmp(a->rule, b->rule);
}

/* ---- recommendations ---- */
#define S_RECS_MAX 8
struct s_recs {
    char text[S_RECS_MAX][400];
    size_t n;
};

/* the next recommendation's buffer (NULL when full); callers snprintf into it */
static char *s_rec_slot(struct s_recs *r)
{
    return r->n < S_RECS_MAX ? r->text[r->n++] : NULL;
}

#define s_rec(r, ...)                                                                              \
    do {                                                                                           \
        char *slot_ = s_rec_slot(r);                                                               \
        if (slot_)                                                                                 \
            snprintf(slot_, sizeof((r)->text[0]), __VA_ARGS__);                                    \
    } while (0)

static void s_recommend(const struct s_agg *a, const struct pl_quarantine *q, struct s_recs *r)
{
    uint64_t high = a->by_level[PL_SEV_HIGH] + a->by_level[PL_SEV_CRITICAL];
    if (q && q->active) {
        char ts[40];
        pl_format_time(q->time_ms, ts, sizeof(ts));
        s_rec(r,
              "The function is quarantined since %s (%.120s, incident %.60s): investigate, then "
              "run 'protectlambda quarantine --clear'.",
              ts, q->reason, q->incident_id);
    }
    if (high)
        s_rec(r,
              "Review the %llu HIGH/CRITICAL events: check the requests, the function's logs "
              "and whether the deny answers were expected.",
              (unsigned long long)high);
    uint64_t dangerous = a->by_type[PL_EV_DANGEROUS_FUNCTION_CALL] +
                         a->by_type[PL_EV_PROCESS_EXECUTION] + a->by_type[PL_EV_CODE_INJECTION];
    if (dangerous >= 2) {
        const char *top = NULL;
        uint64_t topn = 0;
        for (size_t i = 0; i < a->rules_n; i++) {
            enum pl_event_type t = a->rules[i].type;
            if ((t == PL_EV_DANGEROUS_FUNCTION_CALL || t == PL_EV_PROCESS_EXECUTION ||
                 t == PL_EV_CODE_INJECTION) &&
                a->rules[i].n > topn)
                top = a->rules[i].rule, topn = a->rules[i].n;
        }
        s_rec(r,
              "Dangerous calls repeat (%llu events; most frequent: %s): do a code review of the "
              "code paths that evaluate or execute input.",
              (unsigned long long)dangerous, top ? top : "-");
    }
    uint64_t inj = a->by_type[PL_EV_COMMAND_INJECTION] + a->by_type[PL_EV_CODE_INJECTION] +
                   a->by_type[PL_EV_IN_RULE_VIOLATION];
    if (inj)
        s_rec(r,
              "%llu injection attempts or input rule violations: validate and type-check "
              "inputs at the handler's boundary.",
              (unsigned long long)inj);
    if (a->by_type[PL_EV_PATH_TRAVERSAL_ATTEMPT] + a->by_type[PL_EV_RESTRICTED_PATH_ACCESS])
        s_rec(r, "Path traversal / restricted file access seen: never build file paths from "
                 "request data; keep writes under /tmp.");
    if (a->by_type[PL_EV_SECRET_EXPOSURE] + a->by_type[PL_EV_PLAINTEXT_SECRET])
        s_rec(r, "Secrets were found in plain text or leaving in responses: move them to a secret "
                 "manager and rotate them.");
    if (a->by_type[PL_EV_RUNTIME_INTEGRITY_VIOLATION] + a->by_type[PL_EV_RUNTIME_MODIFICATION])
        s_rec(r, "The code package or runtime environment was modified: redeploy from a verified "
                 "build and compare with the manifest.");
    if (a->corr_total)
        s_rec(r,
              "%llu incidents were escalated by correlation: the events look like a "
              "coordinated attack, not noise.",
              (unsigned long long)a->corr_total);
    if (!a->total)
        s_rec(r, "No security events in this period.");
}

/* ---- text ---- */
static int s_text(struct pl_buf *b, const struct pl_report_options *o, const struct s_agg *a,
                  const struct pl_quarantine *q, const struct s_recs *r)
{
    char t0[40], t1[40];
    pl_format_time(o->since_ms, t0, sizeof(t0));
    pl_format_time(o->now_ms, t1, sizeof(t1));
    int rc = pl_buf_appendf(b, "protectlambda security report\n");
    rc |= pl_buf_appendf(b, "function:   %s\nperiod:     %s .. %s (%.1f h)\n",
                         o->function && *o->function ? o->function : "(all)", t0, t1,
                         (double)(o->now_ms - o->since_ms) / 3600000.0);
    rc |= pl_buf_appendf(b, "quarantine: %s\n", q->active ? q->reason : "no");
    rc |= pl_buf_appendf(b, "total events: %llu (correlated: %llu)\n\nby severity:\n",
                         (unsigned long long)a->total, (unsigned long long)a->corr_total);
    for (int s = PL_SEV_CRITICAL; s >= 0; s--)
        rc |= pl_buf_appendf(b, "  %-9s %llu\n", pl_severity_name((enum pl_severity)s),
                             (unsigned long long)a->by_level[s]);
    rc |= pl_buf_append_str(b, "\nby type:\n");
    for (int t = 0; t < PL_EV_COUNT; t++)
        if (a->by_type[t])
            rc |= pl_buf_appendf(b, "  %-28s %llu\n", pl_event_type_name((enum pl_event_type)t),
                                 (unsigned long long)a->by_type[t]);
    rc |= pl_buf_appendf(b, "\n%zu most recent:\n", a->recent_n);
    for (size_t i = 0; i < a->recent_n; i++) {
        const struct pl_incident *inc = s_recent_at(a, i);
        char ts[40];
        pl_format_time(inc->time_ms, ts, sizeof(ts));
        rc |= pl_buf_appendf(b, "  %s  %-8s %-26s %s  rule=%.80s  actions=%s%s%s\n", ts,
                             pl_severity_name(inc->level), pl_event_type_name(inc->type), inc->id,
                             inc->rule, inc->actions, inc->correlation[0] ? "  correlation=" : "",
                             inc->correlation);
    }
    rc |= pl_buf_appendf(b, "\ncorrelated incidents: %llu\n", (unsigned long long)a->corr_total);
    for (size_t i = 0; i < a->corr_n; i++) {
        char ts[40];
        pl_format_time(s_corr_at(a, i)->time_ms, ts, sizeof(ts));
        rc |= pl_buf_appendf(b, "  %s  %s -> %s by '%s'  %s\n", ts,
                             pl_event_type_name(s_corr_at(a, i)->type),
                             pl_severity_name(s_corr_at(a, i)->level), s_corr_at(a, i)->correlation,
                             s_corr_at(a, i)->id);
    }
    rc |= pl_buf_append_str(b, "\nrecommendations:\n");
    for (size_t i = 0; i < r->n; i++)
        rc |= pl_buf_appendf(b, "  - %s\n", r->text[i]);
    return rc ? -1 : 0;
}

/* ---- JSON ---- */
static int s_json(struct pl_buf *b, const struct pl_report_options *o, const struct s_agg *a,
                  const struct pl_quarantine *q, const struct s_recs *r,
                  const struct s_rule_count *rules, size_t nrules)
{
    char t0[40], t1[40];
    pl_format_time(o->since_ms, t0, sizeof(t0));
    pl_format_time(o->now_ms, t1, sizeof(t1));
    int rc = pl_buf_append_str(b, "{\"function\":");
    rc |= pl_buf_append_json_cstr(b, o->function && *o->function ? o->function : NULL);
    rc |= pl_buf_appendf(b, ",\"since\":\"%s\",\"until\":\"%s\",\"duration_s\":%lld,\"total\":%llu",
                         t0, t1, (long long)((o->now_ms - o->since_ms) / 1000),
                         (unsigned long long)a->total);
    rc |= pl_buf_append_str(b, ",\"by_severity\":{");
    for (int s = 0; s < PL_SEV_COUNT; s++)
        rc |=
            pl_buf_appendf(b, "%s\"%s\":%llu", s ? "," : "", pl_severity_name((enum pl_severity)s),
                           (unsigned long long)a->by_level[s]);
    rc |= pl_buf_append_str(b, "},\"by_type\":{");
    bool first = true;
    for (int t = 0; t < PL_EV_COUNT; t++) {
        if (!a->by_type[t])
            continue;
        rc |= pl_buf_appendf(b, "%s\"%s\":%llu", first ? "" : ",",
                             pl_event_type_name((enum pl_event_type)t),
                             (unsigned long long)a->by_type[t]);
        first = false;
    }
    rc |= pl_buf_append_str(b, "},\"recent\":[");
    for (size_t i = 0; i < a->recent_n; i++) {
        if (i)
            rc |= pl_buf_append_char(b, ',');
        rc |= pl_incident_to_json(s_recent_at(a, i), b);
    }
    rc |= pl_buf_appendf(b, "],\"correlated_total\":%llu,\"correlated\":[",
                         (unsigned long long)a->corr_total);
    for (size_t i = 0; i < a->corr_n; i++) {
        if (i)
            rc |= pl_buf_append_char(b, ',');
        rc |= pl_incident_to_json(s_corr_at(a, i), b);
    }
    rc |= pl_buf_append_str(b, "],\"top_rules\":[");
    for (size_t i = 0; i < nrules && i < 10; i++) {
        rc |= pl_buf_append_str(b, i ? ",{\"rule\":" : "{\"rule\":");
        rc |= pl_buf_append_json_cstr(b, rules[i].rule);
        rc |= pl_buf_appendf(b, ",\"type\":\"%s\",\"count\":%llu}",
                             pl_event_type_name(rules[i].type), (unsigned long long)rules[i].n);
    }
    rc |= pl_buf_append_str(b, "],\"quarantine\":");
    if (q->active) {
        char ts[40];
        pl_format_time(q->time_ms, ts, sizeof(ts));
        rc |= pl_buf_append_str(b, "{\"active\":true,\"reason\":");
        rc |= pl_buf_append_json_cstr(b, q->reason);
        rc |= pl_buf_appendf(b, ",\"timestamp\":\"%s\",\"incident_id\":", ts);
        rc |= pl_buf_append_json_cstr(b, q->incident_id);
        rc |= pl_buf_append_char(b, '}');
    } else {
        rc |= pl_buf_append_str(b, "{\"active\":false}");
    }
    rc |= pl_buf_append_str(b, ",\"recommendations\":[");
    for (size_t i = 0; i < r->n; i++) {
        if (i)
            rc |= pl_buf_append_char(b, ',');
        rc |= pl_buf_append_json_cstr(b, r->text[i]);
    }
    rc |= pl_buf_append_str(b, "]}\n");
    return rc ? -1 : 0;
}

/* ---- HTML ---- */
static int s_html_esc(struct pl_buf *b, const char *s)
{
    int rc = 0;
    for (; *s && !rc; s++) {
        switch (*s) {
        case '<':
            rc = pl_buf_append_str(b, "&lt;");
            break;
        case '>':
            rc = pl_buf_append_str(b, "&gt;");
            break;
        case '&':
            rc = pl_buf_append_str(b, "&amp;");
            break;
        case '"':
            rc = pl_buf_append_str(b, "&quot;");
            break;
        case '\'':
            rc = pl_buf_append_str(b, "&#39;");
            break;
        default:
            rc = pl_buf_append_char(b, *s);
        }
    }
    return rc;
}

static const char *const s_sev_colors[PL_SEV_COUNT] = {"#8fa3b8", "#3b82f6", "#eab308", "#f97316",
                                                       "#dc2626"};

/* horizontal bar chart: labels, values, colours */
static int s_svg_bars(struct pl_buf *b, const char *title, const char *const *labels,
                      const uint64_t *values, const char *const *colors, size_t n)
{
    uint64_t max = 1;
    for (size_t i = 0; i < n; i++)
        if (values[i] > max)
            max = values[i];
    int h = 40 + (int)n * 28;
    int rc = pl_buf_appendf(b,
                            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"540\" height=\"%d\" "
                            "role=\"img\" aria-label=\"",
                            h);
    rc |= s_html_esc(b, title);
    rc |= pl_buf_appendf(b,
                         "\"><rect x=\"0\" y=\"0\" width=\"540\" height=\"%d\" fill=\"#f8fafc\" "
                         "stroke=\"#cbd5e1\"/><text x=\"12\" y=\"24\" font-size=\"15\" "
                         "font-weight=\"bold\" fill=\"#0f172a\">",
                         h);
    rc |= s_html_esc(b, title);
    rc |= pl_buf_append_str(b, "</text>");
    for (size_t i = 0; i < n; i++) {
        int y = 38 + (int)i * 28;
        int w = (int)(300.0 * (double)values[i] / (double)max);
        if (values[i] && w < 3)
            w = 3;
        rc |=
            pl_buf_appendf(b, "<text x=\"12\" y=\"%d\" font-size=\"12\" fill=\"#334155\">", y + 15);
        rc |= s_html_esc(b, labels[i]);
        rc |= pl_buf_appendf(
            b,
            "</text><rect x=\"200\" y=\"%d\" width=\"300\" height=\"20\" "
            "fill=\"#e2e8f0\"/><rect x=\"200\" y=\"%d\" width=\"%d\" height=\"20\" "
            "fill=\"%s\"><title>%llu</title></rect><text x=\"%d\" y=\"%d\" "
            "font-size=\"12\" fill=\"#0f172a\">%llu</text>",
            y, y, w, colors[i], (unsigned long long)values[i],
            200 + w + 6 > 505 ? 505 : 200 + w + 6, y + 15, (unsigned long long)values[i]);
    }
    rc |= pl_buf_append_str(b, "</svg>\n");
    return rc;
}

static int s_html(struct pl_buf *b, const struct pl_report_options *o, const struct s_agg *a,
                  const struct pl_quarantine *q, const struct s_recs *r,
                  const struct s_rule_count *rules, size_t nrules)
{
    char t0[40], t1[40];
    pl_format_time(o->since_ms, t0, sizeof(t0));
    pl_format_time(o->now_ms, t1, sizeof(t1));
    const char *fn = o->function && *o->function ? o->function : "(all functions)";
    int rc = pl_buf_append_str(
        b,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">"
        "<title>protectlambda security report</title><style>"
        "body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;"
        "margin:24px;color:#0f172a;background:#ffffff}"
        "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 8px;"
        "border-bottom:2px solid #1e3a8a;padding-bottom:3px}"
        ".meta{color:#475569;font-size:13px}.cards{display:flex;gap:12px;margin:14px 0}"
        ".card{background:#1e3a8a;color:#fff;padding:10px 16px;border-radius:6px;min-width:120px}"
        ".card b{display:block;font-size:24px}.q{background:#dc2626}"
        ".charts{display:flex;flex-wrap:wrap;gap:16px}"
        "table{border-collapse:collapse;font-size:12px;width:100%}"
        "th,td{border:1px solid #cbd5e1;padding:4px 6px;text-align:left;vertical-align:top}"
        "th{background:#e2e8f0}.sev{color:#fff;padding:1px 6px;border-radius:3px}"
        "li{margin:4px 0}</style></head><body>\n");
    rc |= pl_buf_append_str(b, "<h1>protectlambda security report</h1><div class=\"meta\">");
    rc |= s_html_esc(b, fn);
    rc |= pl_buf_appendf(b, " &middot; %s &ndash; %s (%.1f h)</div>\n", t0, t1,
                         (double)(o->now_ms - o->since_ms) / 3600000.0);
    rc |= pl_buf_appendf(b,
                         "<div class=\"cards\"><div class=\"card\"><b>%llu</b>events</div>"
                         "<div class=\"card\"><b>%llu</b>HIGH or CRITICAL</div>"
                         "<div class=\"card\"><b>%llu</b>correlated</div>",
                         (unsigned long long)a->total,
                         (unsigned long long)a->by_level[PL_SEV_HIGH] +
                             (unsigned long long)a->by_level[PL_SEV_CRITICAL],
                         (unsigned long long)a->corr_total);
    if (q->active) {
        rc |= pl_buf_append_str(b, "<div class=\"card q\"><b>QUARANTINED</b>");
        rc |= s_html_esc(b, q->reason);
        rc |= pl_buf_append_str(b, "</div>");
    }
    rc |= pl_buf_append_str(b, "</div>\n<h2>Events</h2><div class=\"charts\">");
    /* severity chart, most severe first */
    const char *sl[PL_SEV_COUNT], *sc[PL_SEV_COUNT];
    uint64_t sv[PL_SEV_COUNT];
    for (int i = 0; i < PL_SEV_COUNT; i++) {
        int s = PL_SEV_CRITICAL - i;
        sl[i] = pl_severity_name((enum pl_severity)s);
        sv[i] = a->by_level[s];
        sc[i] = s_sev_colors[s];
    }
    rc |= s_svg_bars(b, "Events by severity", sl, sv, sc, PL_SEV_COUNT);
    const char *tl[PL_EV_COUNT], *tc[PL_EV_COUNT];
    uint64_t tv[PL_EV_COUNT];
    size_t nt = 0;
    for (int t = 0; t < PL_EV_COUNT; t++) {
        if (!a->by_type[t])
            continue;
        tl[nt] = pl_event_type_name((enum pl_event_type)t);
        tv[nt] = a->by_type[t];
        tc[nt] = "#1e3a8a";
        nt++;
    }
    if (!nt) {
        tl[0] = "(no events)";
        tv[0] = 0;
        tc[0] = "#1e3a8a";
        nt = 1;
    }
    rc |= s_svg_bars(b, "Events by type", tl, tv, tc, nt);
    rc |= pl_buf_append_str(b, "</div>\n<h2>Most recent events</h2><table><tr><th>time</th>"
                               "<th>level</th><th>type</th><th>rule</th><th>path</th>"
                               "<th>actions</th><th>incident</th></tr>");
    for (size_t i = 0; i < a->recent_n; i++) {
        const struct pl_incident *inc = s_recent_at(a, i);
        char ts[40];
        pl_format_time(inc->time_ms, ts, sizeof(ts));
        rc |= pl_buf_appendf(b,
                             "<tr><td>%s</td><td><span class=\"sev\" style=\"background:%s\">%s"
                             "</span></td><td>%s</td><td>",
                             ts, s_sev_colors[inc->level], pl_severity_name(inc->level),
                             pl_event_type_name(inc->type));
        rc |= s_html_esc(b, inc->rule);
        rc |= pl_buf_append_str(b, "</td><td>");
        rc |= s_html_esc(b, inc->path);
        rc |= pl_buf_append_str(b, "</td><td>");
        rc |= s_html_esc(b, inc->actions);
        rc |= pl_buf_append_str(b, "</td><td>");
        rc |= s_html_esc(b, inc->id);
        rc |= pl_buf_append_str(b, "</td></tr>");
    }
    if (!a->recent_n)
        rc |= pl_buf_append_str(b, "<tr><td colspan=\"7\">no events</td></tr>");
    rc |= pl_buf_appendf(b,
                         "</table>\n<h2>Correlated incidents (%llu)</h2><table><tr><th>time"
                         "</th><th>type</th><th>escalated to</th><th>rule</th><th>incident"
                         "</th></tr>",
                         (unsigned long long)a->corr_total);
    for (size_t i = 0; i < a->corr_n; i++) {
        char ts[40];
        pl_format_time(s_corr_at(a, i)->time_ms, ts, sizeof(ts));
        rc |= pl_buf_appendf(b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>", ts,
                             pl_event_type_name(s_corr_at(a, i)->type),
                             pl_severity_name(s_corr_at(a, i)->level));
        rc |= s_html_esc(b, s_corr_at(a, i)->correlation);
        rc |= pl_buf_append_str(b, "</td><td>");
        rc |= s_html_esc(b, s_corr_at(a, i)->id);
        rc |= pl_buf_append_str(b, "</td></tr>");
    }
    if (!a->corr_n)
        rc |= pl_buf_append_str(b, "<tr><td colspan=\"5\">none</td></tr>");
    rc |= pl_buf_append_str(b, "</table>\n<h2>Top rules</h2><table><tr><th>rule</th><th>type"
                               "</th><th>events</th></tr>");
    for (size_t i = 0; i < nrules && i < 10; i++) {
        rc |= pl_buf_append_str(b, "<tr><td>");
        rc |= s_html_esc(b, rules[i].rule);
        rc |= pl_buf_appendf(b, "</td><td>%s</td><td>%llu</td></tr>",
                             pl_event_type_name(rules[i].type), (unsigned long long)rules[i].n);
    }
    rc |= pl_buf_append_str(b, "</table>\n<h2>Recommendations</h2><ul>");
    for (size_t i = 0; i < r->n; i++) {
        rc |= pl_buf_append_str(b, "<li>");
        rc |= s_html_esc(b, r->text[i]);
        rc |= pl_buf_append_str(b, "</li>");
    }
    rc |= pl_buf_append_str(b, "</ul>\n</body></html>\n");
    return rc ? -1 : 0;
}

int pl_report_build(struct pl_store *st, const struct pl_report_options *o, struct pl_buf *out)
{
    struct s_agg a;
    memset(&a, 0, sizeof(a));
    int ret = -1;
    a.recent = pl_calloc(S_RECENT_N, sizeof(*a.recent));
    a.corr = pl_calloc(S_CORR_N, sizeof(*a.corr));
    a.rules = pl_calloc(S_RULES_N, sizeof(*a.rules));
    if (!a.recent || !a.corr || !a.rules) {
        pl_raise(PL_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (pl_store_each(st, o->function, o->since_ms, s_collect, &a))
        goto out;
    struct pl_quarantine q;
    memset(&q, 0, sizeof(q));
    if (o->function && *o->function && pl_store_get_quarantine(st, o->function, &q))
        goto out;
    qsort(a.rules, a.rules_n, sizeof(*a.rules), s_cmp_rules);
    struct s_recs r;
    memset(&r, 0, sizeof(r));
    s_recommend(&a, &q, &r);
    switch (o->format) {
    case PL_REPORT_TEXT:
        ret = s_text(out, o, &a, &q, &r);
        break;
    case PL_REPORT_JSON:
        ret = s_json(out, o, &a, &q, &r, a.rules, a.rules_n);
        break;
    case PL_REPORT_HTML:
        ret = s_html(out, o, &a, &q, &r, a.rules, a.rules_n);
        break;
    }
    if (ret)
        pl_raise(PL_ERR_NOMEM, "out of memory building the report");
out:
    pl_free(a.recent);
    pl_free(a.corr);
    pl_free(a.rules);
    return ret;
}

int pl_report_parse_since(const char *text, int64_t now_ms, int64_t *since_ms)
{
    char *end;
    long long n = strtoll(text, &end, 10);
    if (end != text && n >= 0 && end[0] && !end[1]) {
        int64_t mult = 0;
        switch (end[0]) {
        case 's':
            mult = 1000;
            break;
        case 'm':
            mult = 60000;
            break;
        case 'h':
            mult = 3600000;
            break;
        case 'd':
            mult = 86400000;
            break;
        case 'w':
            mult = 7 * 86400000LL;
            break;
        }
        if (mult && n <= 3650LL * 86400) {
            *since_ms = now_ms - (int64_t)n * mult;
            return 0;
        }
    }
    /* absolute: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z] (UTC) */
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(text, "%Y-%m-%d", &tm);
    if (p && (*p == 'T' || *p == ' ')) {
        const char *q = strptime(p + 1, "%H:%M:%S", &tm);
        if (!q)
            q = strptime(p + 1, "%H:%M", &tm);
        p = q;
    }
    if (p && (*p == 'Z' || *p == '\0') && (!*p || !p[1])) {
        time_t t = timegm(&tm);
        if (t != (time_t)-1) {
            *since_ms = (int64_t)t * 1000;
            return 0;
        }
    }
    return pl_raise(PL_ERR_INVALID_ARG,
                    "'%s' is neither a duration (30m, 24h, 7d) nor a UTC time (2026-11-22 or "
                    "2026-11-22T08:00:00Z)",
                    text);
}
