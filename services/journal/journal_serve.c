/*
 * journal_serve.c - what hark-journal serves on [journal] endpoint: the
 * handlers of journal.c's command table, and the round's one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "db.h"
#include "journal.h"
#include "log.h"

/* s_check_append - validate one JOURNAL_APPEND body (the jansson path); NULL or a message */
static const char *s_check_append(const json_t *body, size_t *index)
{
    json_t *events = json_object_get(body, "events");
    if (!json_is_array(events) || json_array_size(events) == 0 || json_object_size(body) != 1)
        return "body must be {\"events\": [...]} with at least one event";
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        *index = i;
        const char *k;
        json_t *v;
        size_t fields = 0;
        json_object_foreach((json_t *)e, k, v) {
            fields++;
            if (strcmp(k, "type") && strcmp(k, "key") && strcmp(k, "payload") &&
                strcmp(k, "occurred_at"))
                return "unknown field in event";
        }
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *key = json_string_value(json_object_get(e, "key"));
        json_t *occ = json_object_get(e, "occurred_at");
        int64_t ms;
        if (!json_is_object(e) || !type || !*type || strlen(type) > 64 || !key || !*key ||
            strlen(key) > 512 || !json_is_object(json_object_get(e, "payload")))
            return "event needs type (1-64 chars), key (1-512 chars) and payload (object)";
        if (occ && (!json_is_string(occ) || clock_parse(json_string_value(occ), &ms)))
            return "occurred_at must be an RFC 3339 timestamp";
        (void)fields;
    }
    return NULL;
}

/* s_slow_events - the events of a body checked by s_check_append into j->events;
 * payloads dumped to text kept in j->owned until the round ends.  0/-1 (memory) */
static int s_slow_events(journal_t *j, const json_t *body)
{
    size_t first = j->events.n, i;
    json_t *e;
    json_array_foreach(json_object_get(body, "events"), i, e) {
        if (j->n_owned == j->cap_owned) {
            size_t cap = j->cap_owned ? j->cap_owned * 2 : 64;
            char **o = realloc(j->owned, cap * sizeof *o);
            if (!o)
                goto fail;
            j->owned = o;
            j->cap_owned = cap;
        }
        char *payload = json_dumps(json_object_get(e, "payload"), JSON_COMPACT);
        journal_scan_event_t *ev = payload ? journal_scan_list_push(&j->events) : NULL;
        if (!ev) {
            free(payload);
            goto fail;
        }
        j->owned[j->n_owned++] = payload;
        memset(ev, 0, sizeof *ev);
        ev->type = json_string_value(json_object_get(e, "type"));
        ev->type_len = strlen(ev->type);
        ev->key = json_string_value(json_object_get(e, "key"));
        ev->key_len = strlen(ev->key);
        ev->occurred_at = json_string_value(json_object_get(e, "occurred_at"));
        ev->occurred_at_len = ev->occurred_at ? strlen(ev->occurred_at) : 0;
        ev->payload = payload;
        ev->payload_len = strlen(payload);
    }
    return 0;
fail:
    j->events.n = first; /* the texts already in owned are freed with the round */
    return -1;
}

/* s_put_int - append a decimal integer */
static void s_put_int(buf_t *b, int64_t v)
{
    char d[24], *p = d + sizeof d;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    buf_append(b, p, (size_t)(d + sizeof d - p));
}

/* s_reply_ok - JOURNAL_APPEND_OK {"offsets":[...],"duplicates":[...]} for events ev[0..n) */
static void s_reply_ok(journal_t *j, const wire_msg_t *m, const journal_scan_event_t *ev, size_t n)
{
    buf_t *b = &j->reply;
    buf_reset(b);
    buf_puts(b, "{\"offsets\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(b, ',');
        s_put_int(b, ev[i].offset);
    }
    buf_puts(b, "],\"duplicates\":[");
    for (size_t i = 0; i < n; i++)
        buf_puts(b, ev[i].dup ? (i ? ",true" : "true") : (i ? ",false" : "false"));
    buf_puts(b, "]}");
    if (buf_failed(b))
        wire_reply_error(j->router, m, "store_failed", "out of memory; retry");
    else
        wire_reply(j->router, m, CMD_JOURNAL_APPEND_OK, b->data, b->len);
}

/* journal_serve_commit - append every pending request in one transaction */
void journal_serve_commit(service_t *svc, journal_t *j, int n)
{
    sqlite3 *db = service_db(svc);
    char now[40];
    clock_format(clock_now_ms(), now, sizeof now);
    int64_t head = journal_store_head(j->store);
    journal_ckpt_before_begin(j->ckpt);
    int failed = db_begin(db) != 0;
    for (size_t i = 0; i < j->events.n && !failed; i++) {
        journal_scan_event_t *e = &j->events.ev[i];
        if (journal_store_append(j->store, e, now))
            failed = 1;
        else if (!e->dup && e->offset > head)
            head = e->offset;
    }
    if (!failed && db_commit(db) != 0)
        failed = 1;
    if (!failed)
        journal_ckpt_committed(j->ckpt); /* it copies pages while we reply */
    if (failed) {
        db_rollback(db);
        journal_store_reload_head(j->store);
        log_error("event=commit_failed requests=%d", n);
    } else {
        journal_store_set_head(j->store, head); /* rows only ever go in at the top */
    }
    /* replies only now: after COMMIT returned, the events are durable */
    for (int r = 0; r < n; r++) {
        if (failed) {
            wire_reply_error(j->router, &j->pending[r], "store_failed",
                             "the journal could not commit; retry");
            continue;
        }
        size_t end = r + 1 < n ? j->first[r + 1] : j->events.n;
        s_reply_ok(j, &j->pending[r], &j->events.ev[j->first[r]], end - j->first[r]);
    }
    if (!failed) {
        char body[64];
        int len = snprintf(body, sizeof body, "{\"head\":%lld}",
                           (long long)journal_store_head(j->store));
        wire_send(j->pub, NULL, 0, CMD_JOURNAL_HEAD, 0, body, (size_t)len, ZMQ_DONTWAIT);
    }
}

/* s_fetch - answer JOURNAL_FETCH */
static void s_fetch(journal_t *j, const wire_msg_t *m, json_t *body)
{
    json_t *after = json_object_get(body, "after"), *limit = json_object_get(body, "limit");
    json_t *types = json_object_get(body, "types");
    const char *tv[32];
    int nt = 0;
    if (!json_is_integer(after) || json_integer_value(after) < 0 ||
        (limit && (!json_is_integer(limit) || json_integer_value(limit) < 1)) ||
        (types && (!json_is_array(types) || json_array_size(types) > 32))) {
        wire_reply_error(j->router, m, "bad_request",
                         "JOURNAL_FETCH needs after >= 0, limit >= 1, types: up to 32 strings");
        return;
    }
    size_t i;
    json_t *t;
    json_array_foreach(types, i, t) {
        if (!json_is_string(t)) {
            wire_reply_error(j->router, m, "bad_request", "types must be strings");
            return;
        }
        tv[nt++] = json_string_value(t);
    }
    int lim = limit ? (int)(json_integer_value(limit) < j->fetch_max
                                ? json_integer_value(limit)
                                : j->fetch_max)
                    : j->fetch_max;
    buf_t out = BUF_INIT;
    if (journal_store_fetch(j->store, json_integer_value(after), lim, tv, nt, &out) == 0)
        wire_reply(j->router, m, CMD_JOURNAL_FETCH_OK, out.data, out.len);
    else
        wire_reply_error(j->router, m, "store_failed", "fetch failed");
    buf_free(&out);
}

/* journal_serve_fetch - JOURNAL_FETCH: answered at once */
int journal_serve_fetch(journal_t *j, int n)
{
    wire_msg_t *m = &j->pending[n];
    json_t *body = wire_body_json(m);
    if (!body)
        wire_reply_error(j->router, m, "bad_request", "body is not a JSON object");
    else
        s_fetch(j, m, body);
    json_decref(body);
    return 0;
}

/* journal_serve_unknown - a command not in the table (a body that is not
 * JSON is named first, as for any command) */
void journal_serve_unknown(journal_t *j, const wire_msg_t *m)
{
    json_t *body = wire_body_json(m);
    if (!body)
        wire_reply_error(j->router, m, "bad_request", "body is not a JSON object");
    else
        wire_reply_error(j->router, m, "unknown_command", m->cmd);
    json_decref(body);
}

/* journal_serve_append - a JOURNAL_APPEND into the round (1) or answered with an ERROR (0) */
int journal_serve_append(journal_t *j, int n)
{
    wire_msg_t *m = &j->pending[n];
    j->first[n] = j->events.n;
    j->bodies[n] = NULL;
    /* the fast path: one pass over the text; jansson only for what it does not take */
    int rc = journal_scan_append(m->body, m->body_len, &j->events);
    if (rc == JSCAN_OK)
        return 1;
    json_t *body = wire_body_json(m);
    size_t idx = 0;
    const char *bad = body ? s_check_append(body, &idx) : NULL;
    if (!body) {
        wire_reply_error(j->router, m, "bad_request", "body is not a JSON object");
    } else if (bad) {
        char msg[200];
        snprintf(msg, sizeof msg, "event %zu: %s", idx, bad);
        wire_reply_error(j->router, m, "bad_request", msg);
    } else if (s_slow_events(j, body)) {
        wire_reply_error(j->router, m, "store_failed", "out of memory; retry");
    } else {
        j->bodies[n] = body; /* the events point into it until the round commits */
        return 1;
    }
    json_decref(body);
    return 0;
}

/* journal_serve_status - add the head to SERVICE_STATUS_OK */
void journal_serve_status(service_t *svc, json_t *body)
{
    journal_t *j = service_state(svc);
    json_object_set_new(body, "head", json_integer(journal_store_head(j->store)));
}
