/*
 * journal_serve.c - what hark-journal serves on [journal] endpoint: the
 * handlers of journal.c's command table, and the round's one transaction.
 *
 * Every JOURNAL_APPEND becomes one or more batches of the round
 * (journal_batch_t): an {"events"} request is one, a {"batches"} request
 * one per element.  A batch is judged exactly as a request of its own
 * would be - the same checks, the same words - so that a gateway may
 * coalesce many clients' requests into one message and still tell each
 * client what it alone would have been told.  A refused batch stores
 * nothing and is answered in its place of the reply; the others go into
 * the round's transaction in order, and keys are deduplicated across
 * batches as across requests, by the order the events are stored in.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "db.h"
#include "jclient.h"
#include "journal.h"
#include "log.h"

/* what the journal takes is what its clients are told it takes */
_Static_assert(JOURNAL_MAX_BATCHES == JCLIENT_MAX_BATCHES, "batches in one message");

/* s_check_append - validate one JOURNAL_APPEND {"events"} body (the jansson
 * path), or one batch; NULL or a message.  *index is set to the event at
 * fault, and left alone when the body as a whole is. */
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

/* s_put_ok - {"offsets":[...],"duplicates":[...]} for events ev[0..n) */
static void s_put_ok(buf_t *b, const journal_scan_event_t *ev, size_t n)
{
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
}

/* s_refusal - the message of a refused body or batch, as a request of its own
 * has always been told it */
static void s_refusal(char *msg, size_t size, const char *why, size_t index)
{
    snprintf(msg, size, "event %zu: %s", index == SIZE_MAX ? 0 : index, why);
}

/* s_put_error - {"error":{"code","message","index"?}} for a refused batch */
static void s_put_error(buf_t *b, const journal_batch_t *bt)
{
    char msg[200];
    if (strcmp(bt->code, "bad_request") == 0)
        s_refusal(msg, sizeof msg, bt->why, bt->index);
    else
        snprintf(msg, sizeof msg, "%s", bt->why);
    buf_puts(b, "{\"error\":{\"code\":");
    buf_json_string(b, bt->code);
    buf_puts(b, ",\"message\":");
    buf_json_string(b, msg);
    if (bt->index != SIZE_MAX) {
        buf_puts(b, ",\"index\":");
        s_put_int(b, (int64_t)bt->index);
    }
    buf_puts(b, "}}");
}

/* s_hold - keep the reply in j->reply until round j->ticket is durable; 0/-1 (memory) */
static int s_hold(journal_t *j, const wire_msg_t *m)
{
    if (j->n_held == j->cap_held) {
        size_t cap = j->cap_held ? j->cap_held * 2 : 256;
        journal_held_t *h = realloc(j->held, cap * sizeof *h);
        if (!h)
            return -1;
        j->held = h;
        j->cap_held = cap;
    }
    char *body = malloc(j->reply.len + 1);
    if (!body)
        return -1;
    memcpy(body, j->reply.data, j->reply.len);
    body[j->reply.len] = '\0';
    journal_held_t *h = &j->held[j->n_held++];
    h->ticket = j->ticket;
    memcpy(h->to.ident, m->ident, m->ident_len);
    h->to.ident_len = m->ident_len;
    h->to.reqid = m->reqid;
    h->to.body = NULL;
    h->body = body;
    h->len = j->reply.len;
    return 0;
}

/* s_send - the reply in j->reply, unless building it ran out of memory;
 * held for its round's fdatasync when there is one (journal_sync.h) */
static void s_send(journal_t *j, const wire_msg_t *m)
{
    if (buf_failed(&j->reply) || (j->ticket && s_hold(j, m)))
        wire_reply_error(j->router, m, "store_failed", "out of memory; retry");
    else if (!j->ticket)
        wire_reply(j->router, m, CMD_JOURNAL_APPEND_OK, j->reply.data, j->reply.len);
}

/* s_publish - JOURNAL_HEAD, a hint to consumers */
static void s_publish(journal_t *j)
{
    char body[64];
    int len = snprintf(body, sizeof body, "{\"head\":%lld}", (long long)journal_store_head(j->store));
    wire_send(j->pub, NULL, 0, CMD_JOURNAL_HEAD, 0, body, (size_t)len, ZMQ_DONTWAIT);
}

/* s_round_push - round j->ticket will move the head to head; 0/-1 (memory) */
static int s_round_push(journal_t *j, int64_t head)
{
    if (j->n_rounds == j->cap_rounds) {
        size_t cap = j->cap_rounds ? j->cap_rounds * 2 : 16;
        journal_round_t *r = realloc(j->rounds, cap * sizeof *r);
        if (!r)
            return -1;
        j->rounds = r;
        j->cap_rounds = cap;
    }
    j->rounds[j->n_rounds++] = (journal_round_t){.ticket = j->ticket, .head = head};
    return 0;
}

/* s_release - send the held replies of rounds up to ticket durable, move the head */
static void s_release(journal_t *j, uint64_t durable)
{
    size_t n = 0;
    while (n < j->n_held && j->held[n].ticket <= durable) {
        journal_held_t *h = &j->held[n++];
        wire_reply(j->router, &h->to, CMD_JOURNAL_APPEND_OK, h->body, h->len);
        free(h->body);
    }
    if (n) {
        memmove(j->held, j->held + n, (j->n_held - n) * sizeof *j->held);
        j->n_held -= n;
    }
    int64_t head = journal_store_head(j->store);
    size_t r = 0;
    while (r < j->n_rounds && j->rounds[r].ticket <= durable) {
        if (j->rounds[r].head > head)
            head = j->rounds[r].head;
        r++;
    }
    if (r) {
        memmove(j->rounds, j->rounds + r, (j->n_rounds - r) * sizeof *j->rounds);
        j->n_rounds -= r;
        journal_store_set_head(j->store, head);
        s_publish(j);
    }
}

/* journal_serve_durable - see journal.h */
void journal_serve_durable(journal_t *j)
{
    s_release(j, journal_sync_durable(j->sync));
}

/* journal_serve_flush - stopping: every round committed made durable here and answered */
void journal_serve_flush(journal_t *j)
{
    if (j->sync)
        s_release(j, journal_sync_wait(j->sync));
}

/* s_reply_ok - JOURNAL_APPEND_OK {"offsets":[...],"duplicates":[...]} for an
 * {"events"} request, its one batch bt */
static void s_reply_ok(journal_t *j, const wire_msg_t *m, const journal_batch_t *bt)
{
    buf_reset(&j->reply);
    s_put_ok(&j->reply, &j->events.ev[bt->first], bt->n);
    s_send(j, m);
}

/* s_reply_results - JOURNAL_APPEND_OK {"results":[...]} for a {"batches"}
 * request, its batches bt[0..n) in order */
static void s_reply_results(journal_t *j, const wire_msg_t *m, const journal_batch_t *bt,
                            size_t n)
{
    buf_t *b = &j->reply;
    buf_reset(b);
    buf_puts(b, "{\"results\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(b, ',');
        if (bt[i].code)
            s_put_error(b, &bt[i]);
        else
            s_put_ok(b, &j->events.ev[bt[i].first], bt[i].n);
    }
    buf_puts(b, "]}");
    s_send(j, m);
}

/* journal_serve_commit - append every pending request in one transaction */
void journal_serve_commit(service_t *svc, journal_t *j, int n)
{
    (void)svc;
    char now[40];
    clock_format(clock_now_ms(), now, sizeof now);
    int64_t head = journal_store_head(j->store);
    /* every batch refused: nothing to store, no transaction, no new head */
    int empty = j->events.n == 0, failed = 0, unshredded = 0;
    /* group commit: the COMMIT without its fsync, the replies held for it */
    int group = !empty && j->sync;
    if (!empty) {
        journal_ckpt_before_begin(j->ckpt);
        failed = (group && journal_sync_round_begin(j->sync)) ||
                 journal_store_begin(j->store) != 0;
    }
    for (size_t i = 0; i < j->events.n && !failed; i++) {
        journal_scan_event_t *e = &j->events.ev[i];
        const buf_t *sealed;
        const char *names;
        if (journal_privacy_seal(j, e, now, &sealed, &names) ||
            journal_store_append(j->store, e, now, sealed, names) ||
            journal_privacy_stored(j, e, now))
            failed = 1;
    }
    /* the keys before the events: no event is durable before its key */
    if (!empty && !failed && journal_privacy_commit(j) != 0)
        failed = 1;
    if (!empty && !failed && journal_store_commit(j->store) != 0)
        failed = 1;
    /* offsets are known now, whatever the engine (journal_store.h) */
    for (size_t i = 0; i < j->events.n && !failed; i++)
        if (!j->events.ev[i].dup && j->events.ev[i].offset > head)
            head = j->events.ev[i].offset;
    if (!empty && !failed) {
        journal_ckpt_committed(j->ckpt); /* it copies pages while we reply */
        unshredded = journal_privacy_done(j) != 0;
    }
    if (failed) {
        journal_privacy_rollback(j);
        journal_store_rollback(j->store);
        if (!group) /* else the head is the durable one, and stays */
            journal_store_reload_head(j->store);
        log_error("event=commit_failed requests=%d", n);
    } else if (group) {
        /* replies and head wait for the fdatasync (journal_serve_durable) */
        j->ticket = journal_sync_committed(j->sync);
        if (s_round_push(j, head)) { /* out of memory: durable here, as at full */
            s_release(j, journal_sync_wait(j->sync));
            j->ticket = 0;
            journal_store_set_head(j->store, head);
        }
    } else {
        journal_store_set_head(j->store, head); /* rows only ever go in at the top */
    }
    if (group)
        journal_sync_round_end(j->sync);
    /* replies only now: after COMMIT returned, the events are durable */
    for (int r = 0; r < n; r++) {
        if (failed) {
            wire_reply_error(j->router, &j->pending[r], "store_failed",
                             "the journal could not commit; retry");
            continue;
        }
        if (unshredded) { /* stored, but an erased key's old bytes may remain: a retry is a
                           * duplicate, acknowledged once a shred succeeds */
            wire_reply_error(j->router, &j->pending[r], "store_failed",
                             "stored, but the erased keys are not yet shredded; retry");
            continue;
        }
        size_t end = r + 1 < n ? j->bfirst[r + 1] : j->n_batch;
        if (j->batched[r])
            s_reply_results(j, &j->pending[r], &j->batch[j->bfirst[r]], end - j->bfirst[r]);
        else
            s_reply_ok(j, &j->pending[r], &j->batch[j->bfirst[r]]);
    }
    if (!failed && !empty && !j->ticket)
        s_publish(j);
    j->ticket = 0;
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

/* s_batch_push - one more batch of the round, not refused and empty; NULL
 * when out of memory */
static journal_batch_t *s_batch_push(journal_t *j)
{
    if (j->n_batch == j->cap_batch) {
        size_t cap = j->cap_batch ? j->cap_batch * 2 : 256;
        journal_batch_t *b = realloc(j->batch, cap * sizeof *b);
        if (!b)
            return NULL;
        j->batch = b;
        j->cap_batch = cap;
    }
    journal_batch_t *b = &j->batch[j->n_batch++];
    memset(b, 0, sizeof *b);
    b->first = j->events.n;
    b->index = SIZE_MAX;
    return b;
}

/* s_keep_tree - keep a jansson tree (the events point into it) until the
 * round ends; 0, or -1 (out of memory: the tree is freed) */
static int s_keep_tree(journal_t *j, json_t *tree)
{
    if (j->n_trees == j->cap_trees) {
        size_t cap = j->cap_trees ? j->cap_trees * 2 : 64;
        json_t **t = realloc(j->trees, cap * sizeof *t);
        if (!t) {
            json_decref(tree);
            return -1;
        }
        j->trees = t;
        j->cap_trees = cap;
    }
    j->trees[j->n_trees++] = tree;
    return 0;
}

/* s_batch_tree - judge one batch, a parsed {"events"} object kept until the
 * round ends, as a request of its own would be: its events into the round,
 * or its refusal into bt */
static void s_batch_tree(journal_t *j, journal_batch_t *bt, const json_t *tree)
{
    bt->first = j->events.n;
    bt->n = 0;
    const char *bad = s_check_append(tree, &bt->index);
    if (bad) {
        bt->code = "bad_request";
        bt->why = bad;
        return;
    }
    bt->index = SIZE_MAX;
    if (s_slow_events(j, tree)) {
        bt->code = "store_failed";
        bt->why = "out of memory; retry";
        return;
    }
    bt->n = j->events.n - bt->first;
}

/* s_events_in - how many events a batch holds, refused or not */
static size_t s_events_in(const json_t *batch)
{
    return json_array_size(json_object_get(batch, "events"));
}

/* s_take_one - an {"events"} request whose events from first on are in the
 * round: its one batch (1), or refused for memory (0) */
static int s_take_one(journal_t *j, int n, size_t first)
{
    journal_batch_t *bt = s_batch_push(j);
    if (!bt) {
        j->events.n = first;
        wire_reply_error(j->router, &j->pending[n], "store_failed", "out of memory; retry");
        return 0;
    }
    bt->first = first;
    bt->n = j->events.n - first;
    return 1;
}

/* s_refuse_batches - refuse request n, a {"batches"} request, as a whole:
 * forget its batches and events (its trees and texts go with the round) */
static int s_refuse_batches(journal_t *j, int n, size_t first, const char *code,
                            const char *msg)
{
    j->events.n = first;
    j->n_batch = j->bfirst[n];
    wire_reply_error(j->router, &j->pending[n], code, msg);
    return 0;
}

/* s_limit - request n's batches into the round (1), unless they are more
 * events than one round takes: a single batch is never too many, as a
 * single request is not (the round closes after it), but many are sent
 * together only as far as max_batch (0, refused) */
static int s_limit(journal_t *j, int n, size_t first, size_t total)
{
    if (j->n_batch - j->bfirst[n] > 1 && total > (size_t)j->max_batch) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "\"batches\" hold %zu events in all, more than [journal] max_batch (%d):"
                 " send them in more messages",
                 total, j->max_batch);
        return s_refuse_batches(j, n, first, "bad_request", msg);
    }
    j->batched[n] = 1;
    return 1;
}

/* s_in_batch_order - the events of request n's batches (from first on) in
 * batch order: the scanner put those of the batches it took first, and
 * jansson's came after, but offsets and which of two equal keys is the
 * duplicate follow the order the batches were sent in.  0/-1 (memory) */
static int s_in_batch_order(journal_t *j, int n, size_t first)
{
    size_t total = j->events.n - first, o = 0;
    journal_scan_event_t *tmp = malloc(total * sizeof *tmp);
    if (!tmp)
        return -1;
    for (size_t i = j->bfirst[n]; i < j->n_batch; i++) {
        journal_batch_t *bt = &j->batch[i];
        if (bt->n)
            memcpy(tmp + o, &j->events.ev[bt->first], bt->n * sizeof *tmp);
        bt->first = first + o;
        o += bt->n;
    }
    memcpy(&j->events.ev[first], tmp, total * sizeof *tmp);
    free(tmp);
    return 0;
}

/* s_batches_scanned - a {"batches"} request the scanner took (j->scanned):
 * its batches into the round, those it did not take judged by jansson */
static int s_batches_scanned(journal_t *j, int n, size_t first)
{
    size_t total = 0, slow = 0;
    for (size_t i = 0; i < j->scanned.n; i++) {
        const journal_scan_batch_t *sb = &j->scanned.b[i];
        journal_batch_t *bt = s_batch_push(j);
        if (!bt)
            return s_refuse_batches(j, n, first, "store_failed", "out of memory; retry");
        if (sb->rc == JSCAN_OK) {
            bt->first = sb->first;
            bt->n = sb->n;
            total += sb->n;
            continue;
        }
        /* valid JSON, the scanner made sure: jansson fails only for memory */
        json_t *tree = json_loadb(sb->text, sb->len, JSON_REJECT_DUPLICATES, NULL);
        if (!tree || s_keep_tree(j, tree)) {
            bt->code = "store_failed";
            bt->why = "out of memory; retry";
            continue;
        }
        total += s_events_in(tree);
        s_batch_tree(j, bt, tree);
        slow += bt->n > 0;
    }
    if (slow && s_in_batch_order(j, n, first))
        return s_refuse_batches(j, n, first, "store_failed", "out of memory; retry");
    return s_limit(j, n, first, total);
}

/* s_batches_tree - a {"batches"} request on the jansson path: the envelope
 * checked as a whole, then each batch on its own.  Takes body. */
static int s_batches_tree(journal_t *j, int n, size_t first, json_t *body)
{
    json_t *batches = json_object_get(body, "batches"), *e;
    size_t nb = json_array_size(batches), i;
    int good = json_object_size(body) == 1 && json_is_array(batches) && nb >= 1 &&
               nb <= JOURNAL_MAX_BATCHES;
    json_array_foreach(batches, i, e)
        good = good && json_is_object(e);
    if (!good) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "body must be {\"batches\": [{\"events\": [...]}, ...]} with 1 to %d batches,"
                 " or {\"events\": [...]}",
                 JOURNAL_MAX_BATCHES);
        json_decref(body);
        return s_refuse_batches(j, n, first, "bad_request", msg);
    }
    if (s_keep_tree(j, body))
        return s_refuse_batches(j, n, first, "store_failed", "out of memory; retry");
    size_t total = 0;
    json_array_foreach(batches, i, e) {
        journal_batch_t *bt = s_batch_push(j);
        if (!bt)
            return s_refuse_batches(j, n, first, "store_failed", "out of memory; retry");
        total += s_events_in(e);
        s_batch_tree(j, bt, e);
    }
    return s_limit(j, n, first, total);
}

/* journal_serve_append - a JOURNAL_APPEND into the round (1) or answered with an ERROR (0) */
int journal_serve_append(journal_t *j, int n)
{
    wire_msg_t *m = &j->pending[n];
    size_t first = j->events.n;
    j->bfirst[n] = j->n_batch;
    j->batched[n] = 0;
    /* the fast path: one pass over the text; jansson only for what it does not take */
    int rc = journal_scan_append(m->body, m->body_len, &j->events);
    if (rc == JSCAN_OK)
        return s_take_one(j, n, first);
    if (rc == JSCAN_SLOW) {
        j->scanned.n = 0;
        if (journal_scan_batches(m->body, m->body_len, JOURNAL_MAX_BATCHES, &j->events,
                                 &j->scanned) == JSCAN_OK)
            return s_batches_scanned(j, n, first);
    }
    json_t *body = wire_body_json(m);
    size_t idx = SIZE_MAX;
    const char *bad = NULL;
    if (body && json_object_get(body, "batches"))
        return s_batches_tree(j, n, first, body);
    if (body)
        bad = s_check_append(body, &idx);
    if (!body) {
        wire_reply_error(j->router, m, "bad_request", "body is not a JSON object");
    } else if (bad) {
        char msg[200];
        s_refusal(msg, sizeof msg, bad, idx);
        wire_reply_error(j->router, m, "bad_request", msg);
    } else if (s_keep_tree(j, body)) {
        body = NULL; /* freed */
        wire_reply_error(j->router, m, "store_failed", "out of memory; retry");
    } else if (s_slow_events(j, body)) {
        body = NULL; /* kept until the round ends */
        wire_reply_error(j->router, m, "store_failed", "out of memory; retry");
    } else {
        return s_take_one(j, n, first); /* the events point into body until the round ends */
    }
    json_decref(body);
    return 0;
}

/* journal_serve_end - forget the round */
void journal_serve_end(journal_t *j)
{
    for (size_t i = 0; i < j->n_trees; i++)
        json_decref(j->trees[i]);
    j->n_trees = 0;
    for (size_t i = 0; i < j->n_owned; i++)
        free(j->owned[i]);
    j->n_owned = 0;
    j->events.n = 0;
    j->n_batch = 0;
}

/* journal_serve_status - add the head to SERVICE_STATUS_OK */
void journal_serve_status(service_t *svc, json_t *body)
{
    journal_t *j = service_state(svc);
    json_object_set_new(body, "head", json_integer(journal_store_head(j->store)));
}
