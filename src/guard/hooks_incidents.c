/* INTEGRATION POINT — owner: incidents/stores/sinks engineer.
 * The guard calls these at fixed places (see hooks.h): they hand every security event to the
 * incident machinery (playbooks, correlation, store, sinks) and answer quarantined invocations.
 * One guard per process, so the incidents instance is a file-level singleton. */
#include <stdio.h>
#include <string.h>

#include "hooks.h"
#include "protectlambda/incidents.h"
#include "protectlambda/log.h"

static struct pl_incidents *s_inc;
static bool s_dry_run;

/* Cold start, before every other hook: load playbooks, open the store (reading the quarantine
 * state, so a new sandbox honours it), start sinks and the worker. */
int pl_guard_hook_incidents_init(struct pl_guard *g)
{
    if (s_inc)
        return 0;
    s_dry_run = pl_guard_monitor_mode(g);
    /* the function_name setting wins over the sandbox's AWS_LAMBDA_FUNCTION_NAME */
    const char *fn = pl_config_str(pl_guard_config(g), PL_CFG_FUNCTION_NAME);
    struct pl_incidents_options o = {
        .cfg = pl_guard_config(g),
        .function = fn && *fn ? fn : pl_guard_function_name(g),
        .version = pl_guard_function_version(g),
        .dry_run = s_dry_run,
    };
    if (pl_incidents_new(&o, &s_inc)) {
        s_inc = NULL;
        return -1;
    }
    return 0;
}

/* Every security event (already logged by the guard). d is pre-filled with the guard's
 * default; the playbook may add block / quarantine / terminate (never remove the guard's own
 * block: a rule that denies keeps denying). */
int pl_guard_hook_event(struct pl_guard *g, const struct pl_event *ev, struct pl_guard_decision *d)
{
    (void)g;
    if (!s_inc)
        return 0;
    struct pl_incident_result r;
    if (pl_incidents_report(s_inc, ev, &r))
        return -1;
    if (r.deny)
        d->block = true;
    if (!s_dry_run && (r.actions & PL_PB_QUARANTINE))
        d->quarantine = true;
    if (r.terminate)
        d->terminate = true;
    return 0;
}

/* Every invocation, before the rules: a quarantined sandbox answers without the handler
 * (status 503, the quarantine JSON); a terminating one denies everything. */
int pl_guard_hook_invocation_start(struct pl_guard *g, const char *request_id,
                                   struct pl_guard_deny *deny)
{
    (void)g;
    if (!s_inc || s_dry_run)
        return 0;
    if (pl_incidents_terminating(s_inc)) {
        deny->deny = true;
        deny->status = 503;
        snprintf(deny->reason, sizeof(deny->reason), "function terminated by a security playbook");
        snprintf(deny->body, sizeof(deny->body),
                 "{\"error\":\"Function terminated due to security incident\"}");
        return 0;
    }
    struct pl_quarantine q;
    if (!pl_incidents_quarantined(s_inc, &q))
        return 0;
    struct pl_buf body = PL_BUF_INIT;
    if (!pl_incidents_quarantine_body(s_inc, &body) || body.len >= sizeof(deny->body)) {
        /* cannot build (memory) or too long (a long manual reason): the fixed text, still JSON */
        pl_buf_reset(&body);
        if (pl_buf_append_str(&body, "{\"error\":\"Function quarantined due to security "
                                     "incident\",\"quarantine_reason\":\"see logs\"}"))
            pl_buf_clean_up(&body);
    }
    deny->deny = true;
    deny->status = 503;
    snprintf(deny->reason, sizeof(deny->reason), "quarantined: %.50s (incident %.40s)", q.reason,
             q.incident_id);
    snprintf(deny->body, sizeof(deny->body), "%s", body.data ? body.data : "");
    pl_buf_clean_up(&body);
    pl_incidents_note_quarantined_invocation(s_inc, request_id);
    return 0;
}

/* SHUTDOWN (about 2 s left): store what is queued, deliver alerts, within flush_ms. */
void pl_guard_hook_shutdown(struct pl_guard *g)
{
    if (!s_inc)
        return;
    long ms = (long)pl_config_int(pl_guard_config(g), PL_CFG_FLUSH_MS);
    if (pl_incidents_flush(s_inc, ms))
        pl_log(PL_LOG_WARN, "incidents", "flush at shutdown incomplete: %s", pl_last_error_msg());
    struct pl_incidents_stats st;
    struct pl_sinks_stats ss;
    pl_incidents_get_stats(s_inc, &st);
    pl_sinks_get_stats(pl_incidents_sinks(s_inc), &ss);
    char f[400];
    snprintf(f, sizeof(f),
             "\"incidents\":%llu,\"escalated\":%llu,\"stored\":%llu,\"store_pending\":%llu,"
             "\"store_dropped\":%llu,\"sinks_dropped\":%llu,\"webhook_failed\":%llu",
             (unsigned long long)st.reported, (unsigned long long)st.escalated,
             (unsigned long long)st.stored, (unsigned long long)st.store_pending,
             (unsigned long long)st.store_dropped, (unsigned long long)ss.dropped,
             (unsigned long long)ss.failed[PL_SINK_WEBHOOK]);
    pl_log_fields(PL_LOG_INFO, "incidents", f, "incidents flushed");
    if (pl_incidents_terminating(s_inc))
        pl_log(PL_LOG_ERROR, "incidents",
               "sandbox of %s stops serving: terminated by a security playbook",
               pl_incidents_function(s_inc));
}
