/*
 * consumer.c - fetch, apply, emit, move the cursor: one transaction a batch.
 */
#include "consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "curve.h"
#include "db.h"
#include "jclient.h"
#include "log.h"
#include "outbox.h"
#include "proto.h"
#include "wire.h"

#define CONSUMER_TIMEOUT_MS 10000

struct consumer {
    char *name;
    sqlite3 *db;
    wire_client_t *journal;
    void *sub;
    const char *const *types;
    int batch;
    consumer_apply_fn apply;
    void *arg;
    int64_t cursor;
    int64_t head; /* the journal's head at the last fetch */
    evloop_t *loop;
    int timer;
};

/* s_load_cursor - read (creating) the cursor row; the outbox table too,
 * for a consumer whose migrations do not make it (outbox.h) */
static int s_load_cursor(consumer_t *c)
{
    if (db_exec(c->db, "CREATE TABLE IF NOT EXISTS hark_cursor("
                       " name TEXT PRIMARY KEY, offset INTEGER NOT NULL)") ||
        db_exec(c->db, "CREATE TABLE IF NOT EXISTS outbox(id INTEGER PRIMARY KEY,"
                       " type TEXT NOT NULL, key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL)"))
        return -1;
    sqlite3_stmt *st = db_prepare(c->db, "SELECT offset FROM hark_cursor WHERE name = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
    c->cursor = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return 0;
}

/* consumer_new - set up the client, the subscription and the cursor */
consumer_t *consumer_new(void *zctx, const char *name, sqlite3 *db,
                         const char *journal_endpoint, const char *pub_endpoint,
                         const char *const *types, int batch, consumer_apply_fn apply,
                         void *arg)
{
    consumer_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->name = strdup(name);
    c->db = db;
    c->types = types;
    c->batch = batch > 0 ? batch : 500;
    c->apply = apply;
    c->arg = arg;
    c->timer = -1;
    c->journal = wire_client_new(zctx, journal_endpoint);
    c->sub = zmq_socket(zctx, ZMQ_SUB);
    if (!c->name || !c->journal || !c->sub || s_load_cursor(c)) {
        consumer_destroy(&c);
        return NULL;
    }
    int linger = 0;
    zmq_setsockopt(c->sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(c->sub, ZMQ_SUBSCRIBE, HARK_WIRE_VERSION " " CMD_JOURNAL_HEAD,
                   strlen(HARK_WIRE_VERSION " " CMD_JOURNAL_HEAD));
    if (curve_client(c->sub, pub_endpoint) < 0 || zmq_connect(c->sub, pub_endpoint) < 0) {
        log_error("event=connect_failed endpoint=%s error=\"%s\"", pub_endpoint,
                  zmq_strerror(errno));
        consumer_destroy(&c);
        return NULL;
    }
    return c;
}

/* consumer_destroy - close sockets; safe on NULL and twice */
wire_client_t *consumer_journal(consumer_t *c)
{
    return c ? c->journal : NULL;
}

void consumer_destroy(consumer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    consumer_t *c = *self_p;
    wire_client_destroy(&c->journal);
    if (c->sub)
        zmq_close(c->sub);
    free(c->name);
    free(c);
    *self_p = NULL;
}

int64_t consumer_cursor(const consumer_t *c) { return c->cursor; }

/* consumer_emit - into the outbox, in the open transaction, with a
 * deterministic key */
int consumer_emit(consumer_t *c, const hark_event_t *source, const char *type,
                  const char *suffix, json_t *payload)
{
    char key[512];
    snprintf(key, sizeof key, "%s/%lld/%s", c->name, (long long)source->offset, suffix);
    int rc = payload ? outbox_add(c->db, type, key, payload) : -1;
    json_decref(payload);
    return rc;
}

/* s_shreds - 1 when the event makes services blank what they copied */
static int s_shreds(const char *type)
{
    return type && (strcmp(type, EV_CUSTOMER_ERASED) == 0 || strcmp(type, EV_PRIVACY_RETENTION) == 0);
}

/* s_apply_one - one event inside a savepoint */
static void s_apply_one(consumer_t *c, json_t *e)
{
    hark_event_t ev = {
        .offset = json_integer_value(json_object_get(e, "offset")),
        .type = json_string_value(json_object_get(e, "type")),
        .key = json_string_value(json_object_get(e, "key")),
        .occurred_at = json_string_value(json_object_get(e, "occurred_at")),
        .recorded_at = json_string_value(json_object_get(e, "recorded_at")),
        .payload = json_object_get(e, "payload"),
        .erased = json_is_true(json_object_get(e, "erased")),
    };
    if (!ev.type || !ev.key || !json_is_object(ev.payload)) {
        log_error("event=bad_journal_event offset=%lld", (long long)ev.offset);
        return;
    }
    db_exec(c->db, "SAVEPOINT ev");
    if (c->apply(c->arg, c->db, &ev, c) < 0) {
        /* its changes and its outbox rows alike */
        db_exec(c->db, "ROLLBACK TO ev");
        log_warn("event=apply_skipped offset=%lld type=%s", (long long)ev.offset, ev.type);
    }
    db_exec(c->db, "RELEASE ev");
}

/* consumer_poll - one batch, one transaction, then its outbox */
int consumer_poll(consumer_t *c)
{
    /* what a crash or a journal outage left after an earlier commit */
    outbox_flush(c->db, c->journal);
    json_t *r = jclient_fetch(c->journal, c->cursor, c->batch, c->types, CONSUMER_TIMEOUT_MS);
    if (!r)
        return -1;
    json_t *events = json_object_get(r, "events");
    int64_t next = json_integer_value(json_object_get(r, "next"));
    c->head = json_integer_value(json_object_get(r, "head"));
    size_t n = json_array_size(events);
    if (next <= c->cursor) {
        json_decref(r);
        return 0;
    }
    if (db_begin(c->db)) {
        json_decref(r);
        return -1;
    }
    int shred = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(events, i);
        s_apply_one(c, e);
        shred |= s_shreds(json_string_value(json_object_get(e, "type")));
    }
    sqlite3_stmt *st = db_prepare(c->db, "INSERT INTO hark_cursor(name, offset) VALUES(?, ?)"
                                         " ON CONFLICT(name) DO UPDATE SET offset = excluded.offset");
    int bad = !st;
    if (st) {
        sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, next);
        bad = sqlite3_step(st) != SQLITE_DONE;
        sqlite3_finalize(st);
    }
    if (bad || db_commit(c->db)) {
        db_rollback(c->db);
        json_decref(r);
        return -1;
    }
    c->cursor = next;
    json_decref(r);
    if (shred && db_exec(c->db, "PRAGMA wal_checkpoint(TRUNCATE)"))
        log_warn("event=shred_checkpoint_failed consumer=%s", c->name);
    /* after the commit, never with a transaction open: a crash before
     * this leaves the rows for the next flush, and the journal stores a
     * key once whoever sends it */
    outbox_flush(c->db, c->journal);
    return n > 0 ? (int)n : 0;
}

int64_t consumer_event_ms(const hark_event_t *ev)
{
    int64_t ms = 0;
    if (!ev->recorded_at || clock_parse(ev->recorded_at, &ms))
        ms = clock_now_ms();
    return ms;
}

int consumer_caught_up(consumer_t *c)
{
    /* the journal's head, not a short batch: the journal may cap a fetch
     * below our batch ([journal] fetch_max), and a full batch may end at
     * the head */
    return consumer_poll(c) < 0 ? -1 : c->cursor >= c->head;
}

/* s_on_timer - poll until caught up (a batch at a time, so the loop stays
 * responsive: a full batch schedules the next one at once) */
static int s_on_timer(evloop_t *loop, void *arg)
{
    consumer_t *c = arg;
    int n = consumer_poll(c);
    if (n >= c->batch)
        evloop_timer_at(loop, c->timer, 0);
    return 0;
}

/* s_on_hint - a JOURNAL_HEAD announcement: fetch now if it is news */
static int s_on_hint(evloop_t *loop, void *arg)
{
    consumer_t *c = arg;
    wire_msg_t m;
    int news = 0;
    while (wire_recv(c->sub, 0, &m, ZMQ_DONTWAIT) == 0) {
        json_t *j = wire_body_json(&m);
        if (j && json_integer_value(json_object_get(j, "head")) > c->cursor)
            news = 1;
        json_decref(j);
        wire_msg_free(&m);
    }
    if (news)
        evloop_timer_at(loop, c->timer, 0);
    return 0;
}

/* consumer_attach - hints plus a timer, so a missed hint costs only latency */
int consumer_attach(consumer_t *c, evloop_t *loop, int poll_ms)
{
    c->loop = loop;
    c->timer = evloop_add_timer(loop, poll_ms, s_on_timer, c);
    if (c->timer < 0 || evloop_add_socket(loop, c->sub, s_on_hint, c) < 0)
        return -1;
    evloop_timer_at(loop, c->timer, 0);
    return 0;
}
