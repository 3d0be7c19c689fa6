/*
 * gateway_loops.c - closing the loop through the admin API (Bearer admin
 * key), with hark-loop, which owns the feedback and who was told:
 *
 *   POST /v1/loops             {reason, title, announcement, texts?, since?,
 *                              id?, dry_run?}: checked (loop_check.c, as `hark
 *                              loop close` checks it), the reason asked of
 *                              hark-loop (LOOP_PREVIEW: 400 when no feedback
 *                              was ever tagged with it and [intake] reasons
 *                              does not define it), then journaled as
 *                              loop.closed; 202 {loop, offset, customers,
 *                              note?} after the commit (note: a defined
 *                              reason no feedback carries: nobody told).  dry_run: 200 and the
 *                              preview; nothing is journaled.
 *                              texts: {locale: {title, announcement}},
 *                              the words of customers of that locale; the
 *                              others read title and announcement.
 *   GET /v1/loops/preview?reason=&since=&title=&announcement=&id=
 *                         &texts.<locale>.title=&texts.<locale>.announcement=
 *                              the same preview: how many would hear, per
 *                              locale, which text each locale reads, and
 *                              one rendered email per locale (with title
 *                              and announcement)
 *   GET /v1/reports/loops[?reason=]   LOOP_REPORT
 *
 * hark-loop not answering in [gateway] loop_timeout is a 503.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "log.h"
#include "loop_check.h"
#include "proto.h"

/* s_preview - LOOP_PREVIEW for a checked payload; the reply, or NULL
 * having answered (400 for a reason no feedback carries) */
static json_t *s_preview(gateway_req_t *r, const json_t *payload, int render)
{
    json_t *req = loop_check_preview_body(payload, render);
    json_t *p = gateway_ask(r, "loop", CMD_LOOP_PREVIEW, req, r->gw->conf.loop_timeout_ms,
                            CMD_LOOP_PREVIEW_OK);
    json_decref(req);
    if (p && !json_is_true(json_object_get(p, "known"))) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "unknown reason %.64s: no feedback has been tagged with it and [intake] "
                 "reasons does not define it",
                 json_string_value(json_object_get(payload, "reason")));
        gateway_error(r, 400, "unknown_reason", msg, "reason", -1);
        json_decref(p);
        return NULL;
    }
    const char *lr = json_string_value(json_object_get(p, "loop_reason"));
    const char *reason = json_string_value(json_object_get(payload, "reason"));
    if (lr && reason && strcmp(lr, reason) != 0) {
        char msg[240];
        snprintf(msg, sizeof msg, "id %.64s is a loop of reason %.64s: a loop closes one reason",
                 json_string_value(json_object_get(payload, "loop")), lr);
        gateway_error(r, 400, "invalid_field", msg, "id", -1);
        json_decref(p);
        return NULL;
    }
    return p;
}

/* gateway_loops_post - POST /v1/loops */
void gateway_loops_post(gateway_req_t *r)
{
    if (!gateway_bearer_ok(r, r->gw->admin_key))
        return;
    if (r->too_large) {
        gateway_error(r, 413, "body_too_large", "the body is too large", NULL, -1);
        return;
    }
    json_t *req = gateway_body_object(r);
    if (!req)
        return;
    json_t *payload = NULL;
    int dry_run = 0;
    char field[128], msg[300];
    char by[80];
    if (gateway_actor(r, by, sizeof by)) {
        json_decref(req);
        return;
    }
    int bad = loop_check_request(req, 0, by, &payload, &dry_run, field, sizeof field, msg,
                             sizeof msg);
    json_decref(req);
    if (bad) {
        gateway_error(r, 400, "invalid_field", msg, *field ? field : NULL, -1);
        return;
    }
    json_t *preview = s_preview(r, payload, dry_run);
    if (!preview) {
        json_decref(payload);
        return;
    }
    if (dry_run) { /* nothing is journaled */
        gateway_json(r, 200, preview);
        json_decref(preview);
        json_decref(payload);
        return;
    }
    /* a close sent again after a 503 tells nobody twice: the loop id is the same */
    long long off = gateway_journal_one(r, EV_LOOP_CLOSED, payload, NULL);
    const char *lid = json_string_value(json_object_get(payload, "loop"));
    if (off >= 0) {
        json_t *body = json_pack("{s:s,s:I,s:O}", "loop", lid, "offset", (json_int_t)off,
                                 "customers", json_object_get(preview, "customers"));
        if (json_integer_value(json_object_get(preview, "feedback")) == 0)
            json_object_set_new(body, "note",
                                json_string("no feedback carries this reason yet: nobody was "
                                            "told; later feedback tagged with it opens it "
                                            "again"));
        gateway_json(r, 202, body);
        json_decref(body);
    }
    json_decref(preview);
    json_decref(payload);
}

/* the query of the preview: each parameter at most once */
typedef struct {
    json_t *req;
    const char *bad;
    int repeated;
} s_query_t;

/* s_text_arg - texts.<locale>.title or .announcement into q->req's texts,
 * as POST /v1/loops spells them; 0, -1 when key is not one, -2 when it is
 * repeated.  The locale is checked with the rest (loop_check_request). */
static int s_text_arg(s_query_t *q, const char *key, const char *value)
{
    const char *loc = key + sizeof "texts." - 1;
    const char *dot = strrchr(loc, '.');
    if (!dot || dot == loc || dot - loc > 64 ||
        (strcmp(dot + 1, "title") != 0 && strcmp(dot + 1, "announcement") != 0))
        return -1;
    char tag[65];
    snprintf(tag, sizeof tag, "%.*s", (int)(dot - loc), loc);
    json_t *texts = json_object_get(q->req, "texts");
    if (!texts) {
        texts = json_object();
        json_object_set_new(q->req, "texts", texts);
    }
    json_t *t = json_object_get(texts, tag);
    if (!t) {
        t = json_object();
        json_object_set_new(texts, tag, t);
    }
    if (json_object_get(t, dot + 1))
        return -2;
    json_object_set_new(t, dot + 1, json_string(value ? value : ""));
    return 0;
}

/* s_arg - MHD's iterator over the query string */
static enum MHD_Result s_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                             const char *value)
{
    (void)kind;
    s_query_t *q = cls;
    if (strncmp(key, "texts.", 6) == 0) {
        int rc = s_text_arg(q, key, value);
        if (rc && !q->bad) {
            q->bad = key;
            q->repeated = rc == -2;
        }
        return MHD_YES;
    }
    static const char *const known[] = {"reason", "since", "title", "announcement", "id", NULL};
    int i = 0;
    while (known[i] && strcmp(known[i], key) != 0)
        i++;
    if (!q->bad && (!known[i] || json_object_get(q->req, key))) {
        q->bad = key;
        q->repeated = known[i] != NULL;
    }
    if (known[i] && !json_object_get(q->req, key))
        json_object_set_new(q->req, key, json_string(value ? value : ""));
    return MHD_YES;
}

/* gateway_loops_preview - GET /v1/loops/preview */
void gateway_loops_preview(gateway_req_t *r)
{
    if (!gateway_bearer_ok(r, r->gw->admin_key))
        return;
    s_query_t q = {.req = json_object()};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, s_arg, &q);
    char field[128] = "", msg[300];
    json_t *payload = NULL;
    if (q.bad) {
        snprintf(field, sizeof field, "%s", q.bad);
        snprintf(msg, sizeof msg, q.repeated ? "%.64s is given more than once"
                                             : "unknown parameter %.64s; known: reason, since, "
                                               "title, announcement, id, "
                                               "texts.<locale>.title, "
                                               "texts.<locale>.announcement",
                 q.bad);
    }
    int bad = q.bad || loop_check_request(q.req, 1, "api", &payload, NULL, field, sizeof field, msg,
                                      sizeof msg);
    json_decref(q.req);
    if (bad) {
        gateway_error(r, 400, q.bad ? "invalid_parameter" : "invalid_field", msg,
                 *field ? field : NULL, -1);
        return;
    }
    json_t *preview = s_preview(r, payload, 1);
    json_decref(payload);
    if (preview) {
        gateway_json(r, 200, preview);
        json_decref(preview);
    }
}

/* gateway_loops_report - GET /v1/reports/loops[?reason=R] */
void gateway_loops_report(gateway_req_t *r)
{
    if (!gateway_bearer_ok(r, r->gw->admin_key))
        return;
    const char *reason = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "reason");
    json_t *req = json_object();
    if (reason) {
        /* checked as a close would check it, so the 400 reads the same */
        json_t *probe = json_pack("{s:s}", "reason", reason);
        char field[128], msg[300];
        int bad = loop_check_request(probe, 1, "api", NULL, NULL, field, sizeof field, msg,
                                 sizeof msg);
        json_decref(probe);
        if (bad) {
            json_decref(req);
            gateway_error(r, 400, "invalid_parameter", msg, "reason", -1);
            return;
        }
        json_object_set_new(req, "reason", json_string(reason));
    }
    json_t *rep = gateway_ask(r, "loop", CMD_LOOP_REPORT, req, r->gw->conf.loop_timeout_ms,
                              CMD_LOOP_REPORT_OK);
    json_decref(req);
    if (rep) {
        gateway_json(r, 200, rep);
        json_decref(rep);
    }
}
