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
#include "journal_store.h"
#include "log.h"
#include "service.h"
#include "wire.h"

#define JOURNAL_MAX_MSGS 4096 /* requests drained into one transaction */

typedef struct {
    void *router, *pub;
    jstore_t *store;
    int max_batch, fetch_max;
    wire_msg_t *pending; /* JOURNAL_APPEND requests of this round */
    json_t **bodies;
    char *refused; /* per request: 1 = replied ERROR already */
} journal_t;

/* s_check_append - validate one JOURNAL_APPEND body; NULL or a message */
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

/* s_reply_json - reply with a JSON body */
static void s_reply_json(void *sock, const wire_msg_t *m, const char *cmd, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    if (s)
        wire_reply(sock, m, cmd, s, strlen(s));
    free(s);
}

/* s_commit_round - append every pending request in one transaction */
static void s_commit_round(service_t *svc, journal_t *j, int n)
{
    sqlite3 *db = service_db(svc);
    char now[40];
    clock_format(clock_now_ms(), now, sizeof now);
    json_t **results = calloc((size_t)n, sizeof *results);
    int failed = !results || db_begin(db) != 0;
    for (int r = 0; r < n && !failed; r++) {
        if (j->refused[r])
            continue;
        json_t *events = json_object_get(j->bodies[r], "events");
        json_t *offsets = json_array(), *dups = json_array();
        results[r] = json_pack("{s:o,s:o}", "offsets", offsets, "duplicates", dups);
        size_t i;
        json_t *e;
        json_array_foreach(events, i, e) {
            const char *occ = json_string_value(json_object_get(e, "occurred_at"));
            char *payload = json_dumps(json_object_get(e, "payload"), JSON_COMPACT);
            int64_t off = 0;
            int dup = 0;
            if (!payload ||
                jstore_append(j->store, json_string_value(json_object_get(e, "type")),
                              json_string_value(json_object_get(e, "key")), occ ? occ : now,
                              now, payload, &off, &dup)) {
                failed = 1;
            }
            free(payload);
            if (failed)
                break;
            json_array_append_new(offsets, json_integer(off));
            json_array_append_new(dups, json_boolean(dup));
        }
    }
    if (!failed && db_commit(db) != 0)
        failed = 1;
    if (failed) {
        db_rollback(db);
        jstore_reload_head(j->store);
        log_error("event=commit_failed requests=%d", n);
    } else {
        jstore_reload_head(j->store);
    }
    /* replies only now: after COMMIT returned, the events are durable */
    for (int r = 0; r < n; r++) {
        if (j->refused[r])
            continue;
        if (failed)
            wire_reply_error(j->router, &j->pending[r], "store_failed",
                             "the journal could not commit; retry");
        else
            s_reply_json(j->router, &j->pending[r], CMD_JOURNAL_APPEND_OK, results[r]);
    }
    for (int r = 0; r < n; r++)
        json_decref(results[r]);
    free(results);
    if (!failed) {
        char body[64];
        int len = snprintf(body, sizeof body, "{\"head\":%lld}",
                           (long long)jstore_head(j->store));
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
    if (jstore_fetch(j->store, json_integer_value(after), lim, tv, nt, &out) == 0)
        wire_reply(j->router, m, CMD_JOURNAL_FETCH_OK, out.data, out.len);
    else
        wire_reply_error(j->router, m, "store_failed", "fetch failed");
    buf_free(&out);
}

/* s_on_router - drain the socket: fetches at once, appends as one round */
static int s_on_router(loop_t *loop, void *arg)
{
    (void)loop;
    service_t *svc = arg;
    journal_t *j = service_state(svc);
    int n = 0;
    size_t events = 0;
    while (n < JOURNAL_MAX_MSGS && events < (size_t)j->max_batch) {
        wire_msg_t *m = &j->pending[n];
        if (wire_recv(j->router, 1, m, ZMQ_DONTWAIT) < 0) {
            if (errno == EPROTO) {
                log_warn("event=bad_message socket=journal");
                continue;
            }
            break;
        }
        json_t *body = wire_body_json(m);
        if (!body) {
            wire_reply_error(j->router, m, "bad_request", "body is not a JSON object");
        } else if (strcmp(m->cmd, CMD_JOURNAL_APPEND) == 0) {
            size_t idx = 0;
            const char *bad = s_check_append(body, &idx);
            if (bad) {
                char msg[200];
                snprintf(msg, sizeof msg, "event %zu: %s", idx, bad);
                wire_reply_error(j->router, m, "bad_request", msg);
                json_decref(body);
            } else {
                j->bodies[n] = body;
                j->refused[n] = 0;
                events += json_array_size(json_object_get(body, "events"));
                n++;
                continue; /* keep m and body until the round commits */
            }
        } else if (strcmp(m->cmd, CMD_JOURNAL_FETCH) == 0) {
            s_fetch(j, m, body);
            json_decref(body);
        } else {
            wire_reply_error(j->router, m, "unknown_command", m->cmd);
            json_decref(body);
        }
        wire_msg_free(m);
    }
    if (n > 0)
        s_commit_round(svc, j, n);
    for (int r = 0; r < n; r++) {
        json_decref(j->bodies[r]);
        wire_msg_free(&j->pending[r]);
    }
    return 0;
}

/* s_status - add the head to SERVICE_STATUS_OK */
static void s_status(service_t *svc, json_t *body)
{
    journal_t *j = service_state(svc);
    json_object_set_new(body, "head", json_integer(jstore_head(j->store)));
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
    j->refused = calloc(JOURNAL_MAX_MSGS, 1);
    j->store = jstore_new(service_db(svc));
    j->router = service_bind(service_zctx(svc), ZMQ_ROUTER,
                             config_get(cfg, "journal", "endpoint"));
    j->pub = service_bind(service_zctx(svc), ZMQ_PUB,
                          config_get(cfg, "journal", "pub_endpoint"));
    if (!j->pending || !j->bodies || !j->refused || !j->store || !j->router || !j->pub)
        return -1;
    log_info("event=journal_open head=%lld", (long long)jstore_head(j->store));
    return loop_add_socket(service_loop(svc), j->router, s_on_router, svc);
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
    jstore_destroy(&j->store);
    free(j->pending);
    free(j->bodies);
    free(j->refused);
    free(j);
    service_set_state(svc, NULL);
}

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "journal",
        .migrations = journal_migrations,
        .init = s_init,
        .fini = s_fini,
        .status = s_status,
    };
    return service_main(argc, argv, &def);
}
