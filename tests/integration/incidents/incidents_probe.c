/* Test driver for the incidents integration tests (a real process with the real libraries):
 *   incidents_probe report TYPE SEVERITY [COUNT] [--flush MS] [--quarantine-check]
 *     settings from PROTECTLAMBDA_CONFIG / PROTECTLAMBDA_* as the guard reads them; reports
 *     COUNT events, printing one JSON line each (with the time report() took), flushes, and
 *     prints the incidents and sinks statistics.
 *   incidents_probe writer DBFILE
 *     puts incidents into a SQLite store forever, printing "ACK <id>" after each put returned
 *     (the kill -9 durability test). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protectlambda/incidents.h"
#include "protectlambda/log.h"

static int s_writer(const char *db)
{
    struct pl_store_options o = {.kind = PL_STORE_SQLITE, .path = db, .create = true};
    struct pl_store *s;
    if (pl_store_open(&o, &s)) {
        fprintf(stderr, "writer: %s\n", pl_last_error_msg());
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (long i = 0;; i++) {
        struct pl_incident inc;
        memset(&inc, 0, sizeof(inc));
        snprintf(inc.id, sizeof(inc.id), "w-%08ld", i);
        snprintf(inc.function, sizeof(inc.function), "durability");
        inc.time_ms = pl_wall_ms();
        inc.type = PL_EV_IN_RULE_VIOLATION;
        inc.severity = inc.level = PL_SEV_MEDIUM;
        memset(inc.detail, 'x', 900);
        inc.expires_s = inc.time_ms / 1000 + 86400;
        if (pl_store_put(s, &inc)) {
            fprintf(stderr, "writer: %s\n", pl_last_error_msg());
            return 2;
        }
        printf("ACK %s\n", inc.id);
    }
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "writer"))
        return s_writer(argv[2]);
    if (argc < 4 || strcmp(argv[1], "report")) {
        fprintf(stderr, "usage: incidents_probe report TYPE SEVERITY [COUNT] [--flush MS]\n"
                        "       incidents_probe writer DBFILE\n");
        return 2;
    }
    enum pl_event_type type;
    enum pl_severity sev;
    if (pl_event_type_parse(argv[2], &type) || pl_severity_parse(argv[3], &sev)) {
        fprintf(stderr, "incidents_probe: %s\n", pl_last_error_msg());
        return 2;
    }
    long count = 1, flush_ms = 5000;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--flush") && i + 1 < argc)
            flush_ms = atol(argv[++i]);
        else
            count = atol(argv[i]);
    }
    struct pl_config cfg;
    if (pl_config_load_standard(&cfg)) {
        fprintf(stderr, "incidents_probe: %s\n", pl_last_error_msg());
        return 2;
    }
    struct pl_incidents_options o = {.cfg = &cfg};
    struct pl_incidents *x;
    if (pl_incidents_new(&o, &x)) {
        fprintf(stderr, "incidents_probe: %s\n", pl_last_error_msg());
        pl_config_clean_up(&cfg);
        return 2;
    }
    printf("{\"op\":\"start\",\"quarantined\":%s}\n",
           pl_incidents_quarantined(x, NULL) ? "true" : "false");
    for (long i = 0; i < count; i++) {
        struct pl_event ev;
        pl_event_init(&ev, type, sev, "probe");
        snprintf(ev.request_id, sizeof(ev.request_id), "req-%ld", i);
        PL_EVENT_SET(&ev, rule, "probe-rule");
        PL_EVENT_SET(&ev, path, "$.body");
        PL_EVENT_SET(&ev, detail, "probe event");
        struct pl_incident_result r;
        uint64_t t0 = pl_now_ns();
        int rc = pl_incidents_report(x, &ev, &r);
        uint64_t us = (pl_now_ns() - t0) / 1000;
        char acts[64];
        pl_actions_format(r.actions, acts, sizeof(acts));
        printf("{\"op\":\"report\",\"rc\":%d,\"id\":\"%s\",\"level\":\"%s\",\"actions\":\"%s\","
               "\"correlation\":\"%s\",\"deny\":%s,\"terminate\":%s,\"us\":%llu}\n",
               rc, r.id, pl_severity_name(r.level), acts, r.correlation, r.deny ? "true" : "false",
               r.terminate ? "true" : "false", (unsigned long long)us);
        fflush(stdout);
    }
    uint64_t t0 = pl_now_ns();
    int frc = pl_incidents_flush(x, flush_ms);
    printf("{\"op\":\"flush\",\"rc\":%d,\"ms\":%llu}\n", frc,
           (unsigned long long)((pl_now_ns() - t0) / 1000000));
    struct pl_incidents_stats st;
    struct pl_sinks_stats ss;
    pl_incidents_get_stats(x, &st);
    pl_sinks_get_stats(pl_incidents_sinks(x), &ss);
    printf("{\"op\":\"stats\",\"reported\":%llu,\"escalated\":%llu,\"stored\":%llu,"
           "\"store_failures\":%llu,\"store_dropped\":%llu,\"store_pending\":%llu,"
           "\"lambda_calls\":%llu,\"lambda_failures\":%llu,\"sinks_submitted\":%llu,"
           "\"sinks_dropped\":%llu,\"webhook_sent\":%llu,\"webhook_failed\":%llu,"
           "\"sns_sent\":%llu,\"sns_failed\":%llu,\"sqs_sent\":%llu,\"sqs_failed\":%llu,"
           "\"quarantined\":%s,\"terminating\":%s}\n",
           (unsigned long long)st.reported, (unsigned long long)st.escalated,
           (unsigned long long)st.stored, (unsigned long long)st.store_failures,
           (unsigned long long)st.store_dropped, (unsigned long long)st.store_pending,
           (unsigned long long)st.lambda_calls, (unsigned long long)st.lambda_failures,
           (unsigned long long)ss.submitted, (unsigned long long)ss.dropped,
           (unsigned long long)ss.sent[PL_SINK_WEBHOOK],
           (unsigned long long)ss.failed[PL_SINK_WEBHOOK], (unsigned long long)ss.sent[PL_SINK_SNS],
           (unsigned long long)ss.failed[PL_SINK_SNS], (unsigned long long)ss.sent[PL_SINK_SQS],
           (unsigned long long)ss.failed[PL_SINK_SQS],
           pl_incidents_quarantined(x, NULL) ? "true" : "false",
           pl_incidents_terminating(x) ? "true" : "false");
    fflush(stdout);
    pl_incidents_destroy(x);
    pl_config_clean_up(&cfg);
    return 0;
}
