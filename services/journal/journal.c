/*
 * hark-journal - the durable, ordered event log; the single source of truth.
 *
 * Owns:     journal.db ([journal] db), table events(offset, type, key,
 *           occurred_at, recorded_at, payload).  Nothing else writes it.
 * Serves:   [journal] endpoint (ROUTER)
 *             JOURNAL_APPEND {events:[{type,key,occurred_at?,payload}]}
 *               -> JOURNAL_APPEND_OK {offsets, duplicates}, sent only after
 *                  the transaction holding the events has committed
 *             JOURNAL_FETCH {after, limit?, types?} -> JOURNAL_FETCH_OK
 *           [journal] control (ROUTER): SERVICE_STATUS (+ head)
 * Emits:    [journal] pub_endpoint (PUB): JOURNAL_HEAD {head} after each
 *           commit.  A hint only; consumers also poll.
 * Consumes: nothing.
 * Config:   [journal] endpoint pub_endpoint control db synchronous max_batch
 *           fetch_max.
 *
 * Group commit: the loop drains every request waiting on the socket, runs
 * all their appends in ONE transaction, commits, and only then replies.
 * Requests that arrive while a commit is under way wait in ZeroMQ's queue
 * and form the next transaction, so one fsync serves many clients and
 * throughput grows with concurrency.
 *
 * CPU per event: a JOURNAL_APPEND body is read by one pass of
 * journal_scan.c, which checks it as strictly as jansson and our rules
 * would and hands back each payload's own text (compacted), so the common
 * case builds no JSON tree and dumps nothing; a body it does not take goes
 * the jansson way (s_check_append), which also words every error.  Replies
 * are written straight into a reused buffer.  Checkpoints run in a thread
 * of their own (journal_ckpt.c), not inside COMMIT.
 *
 * Durability: WAL mode.  synchronous=full (the default) fsyncs the WAL at
 * every commit: an acknowledged event survives kill -9 of any process and
 * power loss.  synchronous=normal survives any process crash (the WAL is in
 * the OS page cache) but the last commits may be lost on power loss.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "journal_ckpt.h"
#include "journal_scan.h"
#include "journal_store.h"
#include "log.h"
#include "service.h"
#include "wire.h"

#define JOURNAL_MAX_MSGS 4096 /* requests drained into one transaction */

typedef struct {
    void *router, *pub;
    journal_store_t *store;
    journal_ckpt_t *ckpt;       /* WAL checkpoints, off the commit path */
    int max_batch, fetch_max;
    wire_msg_t *pending; /* JOURNAL_APPEND requests of this round */
    json_t **bodies;     /* per request: the jansson tree on the slow path, else NULL */
    size_t *first;       /* per request: its first event in events */
    journal_scan_list_t events; /* this round's events, pointing into pending[] bodies
                            or bodies[] trees (and owned[] payload texts) */
    char **owned;        /* payload texts made by json_dumps on the slow path */
    size_t n_owned, cap_owned;
    buf_t reply;         /* reused for every JOURNAL_APPEND_OK */
} journal_t;

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

/* s_commit_round - append every pending request in one transaction */
static void s_commit_round(service_t *svc, journal_t *j, int n)
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

/* s_take_append - a JOURNAL_APPEND into the round (1) or answered with an ERROR (0) */
static int s_take_append(journal_t *j, int n)
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

/* s_on_router - drain the socket: fetches at once, appends as one round */
static int s_on_router(evloop_t *loop, void *arg)
{
    (void)loop;
    service_t *svc = arg;
    journal_t *j = service_state(svc);
    int n = 0;
    while (n < JOURNAL_MAX_MSGS && j->events.n < (size_t)j->max_batch) {
        wire_msg_t *m = &j->pending[n];
        if (wire_recv(j->router, 1, m, ZMQ_DONTWAIT) < 0) {
            if (errno == EPROTO) {
                log_warn("event=bad_message socket=journal");
                continue;
            }
            break;
        }
        if (strcmp(m->cmd, CMD_JOURNAL_APPEND) == 0) {
            if (s_take_append(j, n)) {
                n++;
                continue; /* keep m (the events point into it) until the round commits */
            }
            wire_msg_free(m);
            continue;
        }
        json_t *body = wire_body_json(m);
        if (!body)
            wire_reply_error(j->router, m, "bad_request", "body is not a JSON object");
        else if (strcmp(m->cmd, CMD_JOURNAL_FETCH) == 0)
            s_fetch(j, m, body);
        else
            wire_reply_error(j->router, m, "unknown_command", m->cmd);
        json_decref(body);
        wire_msg_free(m);
    }
    if (n > 0)
        s_commit_round(svc, j, n);
    for (int r = 0; r < n; r++) {
        json_decref(j->bodies[r]);
        wire_msg_free(&j->pending[r]);
    }
    for (size_t i = 0; i < j->n_owned; i++)
        free(j->owned[i]);
    j->n_owned = 0;
    j->events.n = 0;
    return 0;
}

/* s_status - add the head to SERVICE_STATUS_OK */
static void s_status(service_t *svc, json_t *body)
{
    journal_t *j = service_state(svc);
    json_object_set_new(body, "head", json_integer(journal_store_head(j->store)));
}

/* s_init - bind the sockets */
static int s_init(service_t *svc)
{
    const config_t *cfg = service_config(svc);
    journal_t *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    service_set_state(svc, j);
    j->max_batch = (int)config_int(cfg, "journal", "max_batch");
    j->fetch_max = (int)config_int(cfg, "journal", "fetch_max");
    j->pending = calloc(JOURNAL_MAX_MSGS, sizeof *j->pending);
    j->bodies = calloc(JOURNAL_MAX_MSGS, sizeof *j->bodies);
    j->first = calloc(JOURNAL_MAX_MSGS, sizeof *j->first);
    j->store = journal_store_new(service_db(svc));
    j->ckpt = journal_ckpt_new(service_db(svc));
    j->router = service_bind(service_zctx(svc), ZMQ_ROUTER,
                             config_get(cfg, "journal", "endpoint"));
    j->pub = service_bind(service_zctx(svc), ZMQ_PUB,
                          config_get(cfg, "journal", "pub_endpoint"));
    if (!j->pending || !j->bodies || !j->first || !j->store || !j->ckpt || !j->router || !j->pub)
        return -1;
    log_info("event=journal_open head=%lld", (long long)journal_store_head(j->store));
    return evloop_add_socket(service_evloop(svc), j->router, s_on_router, svc);
}

/* s_fini - close and free */
static void s_fini(service_t *svc)
{
    journal_t *j = service_state(svc);
    if (!j)
        return;
    if (j->router)
        zmq_close(j->router);
    if (j->pub)
        zmq_close(j->pub);
    journal_ckpt_destroy(&j->ckpt);
    journal_store_destroy(&j->store);
    free(j->pending);
    free(j->bodies);
    free(j->first);
    journal_scan_list_free(&j->events);
    free(j->owned);
    buf_free(&j->reply);
    free(j);
    service_set_state(svc, NULL);
}

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "journal",
        .migrations = journal_store_migrations,
        .init = s_init,
        .fini = s_fini,
        .status = s_status,
    };
    return service_main(argc, argv, &def);
}
