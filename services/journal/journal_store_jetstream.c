/*
 * journal_store_jetstream.c - the journal's events in a NATS JetStream stream
 * ([journal] engine = jetstream).
 *
 * Offsets are the stream's sequence numbers: JetStream gives each stored
 * message the next one, never reuses one, and the stream denies deletes and
 * purges, so offsets only grow and have no gaps.
 *
 * Keys unique for ever.  Nats-Msg-Id deduplicates only within the stream's
 * duplicate window ([journal] dup_window), so it cannot be what makes a key
 * unique.  Each key has a subject of its own, <stream>.k.<BLAKE2b-128 of the
 * key in hex>, and every message is published with
 * Nats-Expected-Last-Subject-Sequence: 0 ("no message on this subject yet"):
 * the stream leader refuses a second one with error 10071 "wrong last
 * sequence: N", and N is the offset of the first - the duplicate's answer.
 * The cost is the server's per-subject index: one entry per key, for ever
 * (hark-journal(8) gives the measured figure).
 *
 * Nats-Msg-Id is still set, to <boot>.<round>.<slot>, unique to one append:
 * a publish whose ack timed out is resent with the same id, and the
 * server's window turns the resend of one it did store into "duplicate,
 * sequence N" rather than a refusal - so the window must outlast
 * ack_timeout (checked at start).
 *
 * A round: appends only build the messages; flush publishes them all
 * asynchronously and waits for every ack, resending what timed out or was
 * refused for want of a leader, until [journal] ack_timeout; commit is a
 * flush.  There is no atomic batch in JetStream 2.9: a round that fails
 * may have stored part of its events.  Its requests are told store_failed,
 * and a retry with the same keys completes it, the stored ones coming back
 * as duplicates with their offsets.
 *
 * Threads: none of libnats' own for the socket.  The connection runs in
 * libnats' event loop mode (natsOptions_SetEventLoop, SendAsap): libnats
 * never reads or writes the socket itself, it asks through four callbacks
 * (attach a socket, read interest on/off, write interest on/off, detach),
 * and the journal's thread does the reading and writing
 * (natsConnection_ProcessReadEvent / ProcessWriteEvent).  Between rounds the
 * journal's poll loop (evloop.c) watches the socket, so PINGs and late
 * answers are read there; inside a round - the journal answers only once the
 * events are durable, so the loop waits in the round either way - s_pump
 * polls the socket itself until the acks are in or [journal] ack_timeout has
 * passed: the journal's thread never waits on NATS longer than that.
 * libnats still calls the callbacks from threads of its own (its ping timer
 * asks to write, its reconnect thread attaches the new socket): they only
 * note what is asked, under s->mu, and wake the loop (evloop_wake), which
 * brings its watch in line (s_sync).  Every reply - publish acks and API
 * answers - comes to one synchronous subscription on an inbox of ours,
 * read in this thread (s_drain), so no libnats thread runs Hark's code.
 * Making or checking the stream at start uses a short-lived connection of
 * the ordinary kind (jstream_stream is shared with hark(1)), closed before
 * the journal serves.
 *
 * A publish's reply subject is <inbox>.<gen>.<slot>: gen names the round
 * or the batch of requests it belongs to, so a late answer to a round that
 * gave up is recognised and dropped (the retry of its request finds that
 * event: a duplicate with its offset).  A publish without an answer after
 * S_RESEND_MS is published again - the same message, so the same
 * Nats-Msg-Id and Nats-Expected-Last-Subject-Sequence - and a refusal for
 * want of a leader (or "no responders") again after S_PAUSE_MS.
 *
 * Fetch asks for up to S_GET_BATCH messages at once ($JS.API.STREAM.MSG.GET,
 * one request per sequence, all published before the first answer is
 * awaited), answered by the stream leader, so an acknowledged event is
 * always seen; memory is bounded by the batch.
 */
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "clock.h"
#include "evloop.h"
#include "journal_store.h"
#include "jstream.h"
#include "log.h"

#define S_RESEND_MS 1000 /* a publish or request without an answer after this is sent again */
#define S_PAUSE_MS 100   /* before resending what was refused (no leader yet) */
#define S_GET_BATCH 256  /* fetch: requests in flight at once */
#define S_STEP_MS 50     /* longest single poll inside a round */

enum { S_QUEUED, S_PENDING, S_STORED, S_DUP, S_RESEND };

/* one append of the round, or one request of a batch */
typedef struct {
    journal_scan_event_t *e; /* the caller's, filled in at flush (appends) */
    natsMsg *msg;            /* ours: published, and published again as is */
    natsMsg *reply;          /* a request's answer */
    uint64_t seq;
    int64_t due; /* when to (re)send it if still unanswered */
    int state;
} s_rec_t;

typedef struct {
    natsOptions *opts;
    natsConnection *nc;
    natsSubscription *sub; /* <inbox>.>: every answer */
    char inbox[64];
    char stream[40];
    int64_t ack_ms;
    uint64_t boot, gen, round;
    s_rec_t *rec; /* the round's appends */
    size_t n, cap, published, open;
    int64_t next_due; /* no record of the round is due to be sent again before */
    s_rec_t req[S_GET_BATCH]; /* the batch of requests under way */
    size_t n_req, open_req;
    uint64_t req_gen;
    buf_t data, scratch, raw;
    journal_store_t *store; /* the store it serves (its head and crypt) */
    /* what libnats asked for, from whichever thread: under mu */
    pthread_mutex_t mu;
    evloop_t *loop;
    int fd, want_read, want_write;
    int watched; /* the fd the loop watches (-1: none); loop thread only */
} s_js_t;

/* s_now_ms - a monotonic clock */
static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* s_subject - the subject of key */
static void s_subject(const s_js_t *s, const char *key, size_t key_len, char *out, size_t size)
{
    jstream_subject(s->stream, key, key_len, out, size);
}

/* --- libnats' event loop callbacks (any thread) ------------------------- */

/* s_asked - note what libnats asked for and wake the loop to follow it */
static void s_asked(s_js_t *s, int fd, int read, int write)
{
    pthread_mutex_lock(&s->mu);
    if (fd != -2)
        s->fd = fd;
    if (read >= 0)
        s->want_read = read;
    if (write >= 0)
        s->want_write = write;
    evloop_t *loop = s->loop;
    pthread_mutex_unlock(&s->mu);
    if (loop)
        evloop_wake(loop);
}

/* s_ev_attach - a (new) socket: read it */
static natsStatus s_ev_attach(void **user, void *loop, natsConnection *nc, natsSock fd)
{
    (void)nc;
    *user = loop; /* the "loop" handed to libnats is the store itself */
    s_asked(loop, (int)fd, 1, 0);
    return NATS_OK;
}

static natsStatus s_ev_read(void *user, bool add)
{
    s_asked(user, -2, add, -1);
    return NATS_OK;
}

static natsStatus s_ev_write(void *user, bool add)
{
    s_asked(user, -2, -1, add);
    return NATS_OK;
}

/* s_ev_detach - the connection is closed */
static natsStatus s_ev_detach(void *user)
{
    s_asked(user, -1, 0, 0);
    return NATS_OK;
}

/* --- answers ------------------------------------------------------------ */

/* s_ack - one publish's answer into its record: 0 answered, -1 not an
 * answer that settles it (sent again after a pause) */
static int s_ack(s_rec_t *r, natsMsg *m)
{
    const char *d = natsMsg_GetData(m);
    size_t n = (size_t)natsMsg_GetDataLength(m);
    /* the common answer, {"stream":"hark","seq":N} (maybe "duplicate":
     * true), read without a JSON parser: this is the journal's thread, and
     * it reads thousands a second */
    const char *at = d && !memmem(d, n, "\"error\"", 7) ? memmem(d, n, "\"seq\":", 6) : NULL;
    if (at && (size_t)(at - d) + 6 < n && at[6] >= '1' && at[6] <= '9') {
        r->seq = strtoull(at + 6, NULL, 10);
        r->state = S_STORED;
        return 0;
    }
    json_error_t jerr;
    json_t *j = json_loadb(d, n, 0, &jerr);
    json_t *err = json_object_get(j, "error");
    json_int_t seq = json_integer_value(json_object_get(j, "seq"));
    const char *text = json_string_value(json_object_get(err, "description"));
    int code = (int)json_integer_value(json_object_get(err, "err_code"));
    int rc = 0;
    if (j && !err && seq > 0) {
        /* "duplicate": true here is the server's window recognising our own
         * resend (the id is unique to this append): it is stored, and ours */
        r->seq = (uint64_t)seq;
        r->state = S_STORED;
    } else if (code == JSStreamWrongLastSequenceErr && text &&
               (at = strstr(text, "sequence: ")) && strtoull(at + 10, NULL, 10) > 0) {
        r->seq = strtoull(at + 10, NULL, 10); /* the key's first event */
        r->state = S_DUP;
    } else {
        /* no leader, no quorum, no responders (an empty answer): again,
         * same id */
        log_warn("event=jetstream_publish_refused code=%d error=\"%s\"", code,
                 text ? text : natsMsg_GetDataLength(m) ? "unreadable answer" : "no responders");
        rc = -1;
    }
    json_decref(j);
    return rc;
}

/* s_route - an answer to the round's appends or to the batch of requests;
 * anything else (a round or batch that gave up, a resend's second answer)
 * is dropped */
static void s_route(s_js_t *s, natsMsg *m)
{
    const char *subj = natsMsg_GetSubject(m);
    size_t len = strlen(s->inbox);
    unsigned long long gen, slot;
    char end;
    if (!subj || strncmp(subj, s->inbox, len) != 0 || subj[len] != '.' ||
        sscanf(subj + len + 1, "%llu.%llu%c", &gen, &slot, &end) != 2) {
        natsMsg_Destroy(m);
        return;
    }
    if (gen == s->round && slot < s->n &&
        (s->rec[slot].state == S_PENDING || s->rec[slot].state == S_RESEND)) {
        s_rec_t *r = &s->rec[slot];
        if (s_ack(r, m) == 0)
            s->open--;
        else {
            r->state = S_RESEND;
            r->due = s_now_ms() + S_PAUSE_MS;
            if (r->due < s->next_due)
                s->next_due = r->due;
        }
    } else if (gen == s->req_gen && slot < s->n_req && !s->req[slot].reply) {
        if (natsMsg_GetDataLength(m) > 0) {
            s->req[slot].reply = m;
            s->open_req--;
            return;
        }
        s->req[slot].due = s_now_ms() + S_PAUSE_MS; /* no responders: ask again */
    }
    natsMsg_Destroy(m);
}

/* s_drain - every answer libnats has read so far */
static void s_drain(s_js_t *s)
{
    uint64_t queued = 0;
    while (natsSubscription_QueuedMsgs(s->sub, &queued) == NATS_OK && queued > 0) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, s->sub, 0) != NATS_OK)
            break;
        s_route(s, m);
    }
}

/* s_pump - poll the socket until something happened or until (a monotonic
 * time), and let libnats read and write; then route the answers */
static void s_pump(s_js_t *s, int64_t until)
{
    pthread_mutex_lock(&s->mu);
    int fd = s->fd, rd = s->want_read, wr = s->want_write;
    pthread_mutex_unlock(&s->mu);
    int64_t wait = until - s_now_ms();
    wait = wait < 0 ? 0 : wait > S_STEP_MS ? S_STEP_MS : wait;
    struct pollfd p = {.fd = fd, .events = (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0))};
    if (fd < 0 || !p.events) {
        /* between connections: libnats' reconnect thread attaches the next */
        poll(NULL, 0, (int)wait);
        return;
    }
    if (poll(&p, 1, (int)wait) > 0) {
        if (p.revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
            natsConnection_ProcessReadEvent(s->nc);
        if (p.revents & POLLOUT)
            natsConnection_ProcessWriteEvent(s->nc);
    }
    s_drain(s);
}

/* --- the journal's poll loop -------------------------------------------- */

static int s_on_read(evloop_t *loop, void *arg)
{
    (void)loop;
    s_js_t *s = arg;
    natsConnection_ProcessReadEvent(s->nc);
    s_drain(s);
    return 0;
}

static int s_on_write(evloop_t *loop, void *arg)
{
    (void)loop;
    natsConnection_ProcessWriteEvent(((s_js_t *)arg)->nc);
    return 0;
}

/* s_sync - make the loop's watch what libnats last asked for: a socket
 * not to be read is not watched at all (a closed one would poll as an
 * error for ever), and a new socket may have the old one's number */
static int s_sync(evloop_t *loop, void *arg)
{
    s_js_t *s = arg;
    pthread_mutex_lock(&s->mu);
    int fd = s->fd, rd = s->want_read, wr = s->want_write;
    pthread_mutex_unlock(&s->mu);
    if (s->watched >= 0 && (s->watched != fd || !(rd || wr))) {
        evloop_remove_fd(loop, s->watched);
        s->watched = -1;
    }
    if (fd >= 0 && (rd || wr) && s->watched < 0) {
        if (evloop_add_fd_rw(loop, fd, s_on_read, s_on_write, s)) {
            log_error("event=jetstream_watch_failed fd=%d", fd);
            return -1;
        }
        s->watched = fd;
    }
    if (s->watched >= 0)
        evloop_fd_interest(loop, fd, rd, wr);
    return 0;
}

/* s_attach - from now on the loop watches the socket between rounds */
static int s_attach(void *self, evloop_t *loop)
{
    s_js_t *s = self;
    if (evloop_on_wake(loop, s_sync, s))
        return -1;
    pthread_mutex_lock(&s->mu);
    s->loop = loop;
    pthread_mutex_unlock(&s->mu);
    s_drain(s);
    return s_sync(loop, s);
}

/* --- requests ----------------------------------------------------------- */

/* s_reqs_clear - forget the batch of requests */
static void s_reqs_clear(s_js_t *s)
{
    for (size_t i = 0; i < s->n_req; i++) {
        natsMsg_Destroy(s->req[i].msg);
        natsMsg_Destroy(s->req[i].reply);
        s->req[i] = (s_rec_t){0};
    }
    s->n_req = s->open_req = 0;
}

/* s_reqs_add - one request of a new batch (s_reqs_clear first): body to
 * subject, answered to <inbox>.<req_gen>.<slot> */
static int s_reqs_add(s_js_t *s, const char *subject, const char *body)
{
    if (s->n_req == S_GET_BATCH)
        return -1;
    if (s->n_req == 0)
        s->req_gen = ++s->gen;
    char reply[96];
    snprintf(reply, sizeof reply, "%s.%llu.%zu", s->inbox, (unsigned long long)s->req_gen,
             s->n_req);
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, subject, reply, body, (int)strlen(body)) != NATS_OK)
        return -1;
    s->req[s->n_req++] = (s_rec_t){.msg = m, .state = S_QUEUED};
    s->open_req++;
    return 0;
}

/* s_reqs_wait - publish the batch and wait for every answer, asking again
 * what is unanswered after S_RESEND_MS, at most ack_timeout; 0/-1 */
static int s_reqs_wait(s_js_t *s)
{
    int64_t deadline = s_now_ms() + s->ack_ms;
    while (s->open_req > 0) {
        int64_t now = s_now_ms(), next = deadline;
        if (now >= deadline) {
            log_error("event=jetstream_request_timeout unanswered=%zu", s->open_req);
            return -1;
        }
        for (size_t i = 0; i < s->n_req; i++) {
            s_rec_t *r = &s->req[i];
            if (r->reply)
                continue;
            if (r->due <= now) {
                /* a publish that fails now (closed) is tried again later */
                natsConnection_PublishMsg(s->nc, r->msg);
                r->due = now + S_RESEND_MS;
            }
            if (r->due < next)
                next = r->due;
        }
        s_pump(s, next);
    }
    return 0;
}

/* s_json - a request's answer as JSON (NULL when unreadable) */
static json_t *s_json(const s_rec_t *r)
{
    json_error_t jerr;
    return json_loadb(natsMsg_GetData(r->reply), (size_t)natsMsg_GetDataLength(r->reply), 0,
                      &jerr);
}

/* --- the round ---------------------------------------------------------- */

/* s_clear - forget the round's records */
static void s_clear(s_js_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        natsMsg_Destroy(s->rec[i].msg);
    s->n = s->published = s->open = 0;
    s->round = ++s->gen;
}

static int s_begin(void *self)
{
    s_clear(self);
    return 0;
}

static void s_rollback(void *self) { s_clear(self); }

/* s_append - build e's message: nothing is sent before flush */
static int s_append(void *self, journal_scan_event_t *e, const char *now, const buf_t *sealed,
                    const char *names)
{
    s_js_t *s = self;
    if (e->key_len > 512 || e->payload_len > UINT32_MAX / 2)
        return -1;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        s_rec_t *r = realloc(s->rec, cap * sizeof *r);
        if (!r)
            return -1;
        s->rec = r;
        s->cap = cap;
    }
    int has = sealed && names;
    const char *f[JSTREAM_FIELDS] = {e->type, e->key, e->occurred_at ? e->occurred_at : now,
                                     now, e->payload, has ? names : NULL,
                                     has ? sealed->data : NULL};
    size_t len[JSTREAM_FIELDS] = {e->type_len, e->key_len,
                                  e->occurred_at ? e->occurred_at_len : strlen(now), strlen(now),
                                  e->payload_len, has ? strlen(names) : 0, has ? sealed->len : 0};
    buf_t *b = &s->data;
    if (jstream_encode(b, f, len))
        return -1;
    char subject[JSTREAM_SUBJECT_MAX], id[64], reply[96];
    s_subject(s, e->key, e->key_len, subject, sizeof subject);
    snprintf(id, sizeof id, "%llx.%llu.%zu", (unsigned long long)s->boot,
             (unsigned long long)s->round, s->n);
    snprintf(reply, sizeof reply, "%s.%llu.%zu", s->inbox, (unsigned long long)s->round, s->n);
    natsMsg *msg = NULL;
    if (natsMsg_Create(&msg, subject, reply, b->data, (int)b->len) != NATS_OK ||
        natsMsgHeader_Set(msg, "Nats-Msg-Id", id) != NATS_OK ||
        natsMsgHeader_Set(msg, "Nats-Expected-Last-Subject-Sequence", "0") != NATS_OK) {
        natsMsg_Destroy(msg);
        return -1;
    }
    s->rec[s->n++] = (s_rec_t){.e = e, .msg = msg, .state = S_QUEUED};
    e->offset = 0;
    e->dup = 0;
    return 0;
}

/* s_send - publish record r (again): its message stays ours, so a resend
 * is the very same bytes and headers */
static void s_send(s_js_t *s, s_rec_t *r, int64_t now)
{
    r->state = S_PENDING;
    r->due = now + S_RESEND_MS;
    if (natsConnection_PublishMsg(s->nc, r->msg) != NATS_OK) {
        /* closed or out of buffer: again after a pause */
        r->state = S_RESEND;
        r->due = now + S_PAUSE_MS;
    }
    if (r->due < s->next_due)
        s->next_due = r->due;
}

/* s_flush - publish the round's new appends and wait for every answer,
 * sending again what has none after S_RESEND_MS or was refused, until
 * [journal] ack_timeout */
static int s_flush(void *self)
{
    s_js_t *s = self;
    int64_t now = s_now_ms(), deadline = now + s->ack_ms;
    s->next_due = deadline;
    for (size_t i = s->published; i < s->n; i++) {
        s_send(s, &s->rec[i], now);
        s->open++;
    }
    s->published = s->n;
    size_t resent = 0;
    while (s->open > 0) {
        now = s_now_ms();
        if (now >= deadline)
            break;
        if (now >= s->next_due) {
            /* look for what is due only when something is */
            s->next_due = deadline;
            for (size_t i = 0; i < s->n; i++) {
                s_rec_t *r = &s->rec[i];
                if (r->state != S_PENDING && r->state != S_RESEND)
                    continue;
                if (r->due <= now) {
                    s_send(s, r, now);
                    resent++;
                } else if (r->due < s->next_due) {
                    s->next_due = r->due;
                }
            }
        }
        s_pump(s, s->next_due < deadline ? s->next_due : deadline);
    }
    if (resent)
        log_info("event=jetstream_resent n=%zu", resent);
    if (s->open) {
        log_error("event=jetstream_round_failed events=%zu unanswered=%zu", s->n, s->open);
        return -1;
    }
    for (size_t i = 0; i < s->n; i++) {
        s->rec[i].e->offset = (int64_t)s->rec[i].seq;
        s->rec[i].e->dup = s->rec[i].state == S_DUP;
    }
    return 0;
}

/* s_commit - the round is durable when every append is answered */
static int s_commit(void *self)
{
    s_js_t *s = self;
    int rc = s_flush(s);
    s_clear(s);
    return rc;
}

/* s_api - one JetStream API request (subject $JS.API.<what>) and its
 * answer as JSON; NULL on timeout (logged) */
static json_t *s_api(s_js_t *s, const char *what, const char *body)
{
    char subject[128];
    snprintf(subject, sizeof subject, "$JS.API.%s", what);
    s_reqs_clear(s);
    json_t *j = NULL;
    if (s_reqs_add(s, subject, body) == 0 && s_reqs_wait(s) == 0 && !(j = s_json(&s->req[0])))
        log_error("event=jetstream_bad_answer request=%s", what);
    s_reqs_clear(s);
    return j;
}

/* s_has_key - a message on key's subject */
static int s_has_key(void *self, const char *key, size_t key_len)
{
    s_js_t *s = self;
    char subject[JSTREAM_SUBJECT_MAX], what[80];
    s_subject(s, key, key_len, subject, sizeof subject);
    snprintf(what, sizeof what, "STREAM.MSG.GET.%s", s->stream);
    json_t *q = json_pack("{s:s}", "last_by_subj", subject);
    char *body = q ? json_dumps(q, JSON_COMPACT) : NULL;
    json_decref(q);
    json_t *j = body ? s_api(s, what, body) : NULL;
    free(body);
    if (!j)
        return -1;
    json_t *err = json_object_get(j, "error");
    int code = (int)json_integer_value(json_object_get(err, "err_code"));
    int rc = json_object_get(j, "message") ? 1 : code == JSNoMessageFoundErr ? 0 : -1;
    if (rc < 0)
        log_error("event=jetstream_get_failed code=%d", code);
    json_decref(j);
    return rc;
}

/* s_last - the stream's last sequence; 0 when it cannot be read (logged) */
static int64_t s_last(void *self)
{
    s_js_t *s = self;
    char what[80];
    snprintf(what, sizeof what, "STREAM.INFO.%s", s->stream);
    json_t *j = s_api(s, what, "");
    json_t *last = json_object_get(json_object_get(j, "state"), "last_seq");
    int64_t seq = json_is_integer(last) ? (int64_t)json_integer_value(last) : 0;
    if (!json_is_integer(last))
        log_error("event=jetstream_info_failed stream=%s code=%d", s->stream,
                  (int)json_integer_value(
                      json_object_get(json_object_get(j, "error"), "err_code")));
    json_decref(j);
    return seq;
}

/* s_message - the stored bytes of a MSG.GET answer for seq, base64-decoded
 * into s->raw; 0/-1 (logged) */
static int s_message(s_js_t *s, const s_rec_t *r, int64_t seq)
{
    json_t *j = s_json(r);
    json_t *m = json_object_get(j, "message");
    const char *data = json_string_value(json_object_get(m, "data"));
    int rc = -1;
    size_t n = 0, dlen = data ? strlen(data) : 0;
    if (!m || json_integer_value(json_object_get(m, "seq")) != seq) {
        log_error("event=jetstream_get_failed seq=%lld code=%d", (long long)seq,
                  (int)json_integer_value(
                      json_object_get(json_object_get(j, "error"), "err_code")));
    } else if ((buf_reset(&s->raw), buf_reserve(&s->raw, dlen / 4 * 3 + 4)) == 0 &&
               (dlen == 0 ||
                sodium_base642bin((unsigned char *)s->raw.data, s->raw.cap, data, dlen, NULL, &n,
                                  NULL, sodium_base64_VARIANT_ORIGINAL) == 0)) {
        s->raw.len = n;
        rc = 0;
    } else {
        log_error("event=jetstream_bad_message seq=%lld", (long long)seq);
    }
    json_decref(j);
    return rc;
}

/* s_fetch - read after+1 .. head in batches of S_GET_BATCH requests */
static int s_fetch(void *self, int64_t after, int limit, const char *const *types, int n_types,
                   buf_t *out)
{
    s_js_t *s = self;
    journal_store_t *js = s->store;
    int64_t head = journal_store_head(js), last = after, scanned = after;
    int64_t end = head < after + limit ? head : after + limit; /* never more than limit looked at */
    int n = 0;
    char subject[80];
    snprintf(subject, sizeof subject, "$JS.API.STREAM.MSG.GET.%s", s->stream);
    buf_puts(out, "{\"events\":[");
    for (int64_t from = after + 1; from <= end && n < limit;) {
        s_reqs_clear(s);
        char body[48];
        for (int64_t seq = from; seq <= end && s->n_req < S_GET_BATCH; seq++) {
            snprintf(body, sizeof body, "{\"seq\":%lld}", (long long)seq);
            if (s_reqs_add(s, subject, body))
                goto fail;
        }
        if (s_reqs_wait(s))
            goto fail;
        for (size_t i = 0; i < s->n_req && n < limit; i++) {
            int64_t seq = from + (int64_t)i;
            const char *f[JSTREAM_FIELDS];
            size_t len[JSTREAM_FIELDS];
            if (s_message(s, &s->req[i], seq))
                goto fail;
            int bad = jstream_decode(s->raw.data, s->raw.len, &s->scratch, f, len);
            if (bad || !f[0] || !f[1] || !f[2] || !f[3] || !f[4]) {
                log_error("event=jetstream_bad_message seq=%lld", (long long)seq);
                goto fail;
            }
            scanned = seq;
            int want = n_types == 0;
            for (int t = 0; t < n_types && !want; t++)
                want = strcmp(types[t], f[0]) == 0;
            if (!want)
                continue;
            if (journal_store_put_event(js, out, n == 0, seq, f[0], f[1], f[2], f[3], f[4],
                                        (const unsigned char *)f[6], len[6], f[5]))
                goto fail;
            last = seq;
            n++;
        }
        from += (int64_t)s->n_req;
    }
    s_reqs_clear(s);
    /* looked at everything up to head: the cursor may move there */
    if (scanned >= head)
        scanned = head;
    return journal_store_put_end(js, out, n, limit, after, n < limit ? scanned : last, last);
fail:
    s_reqs_clear(s);
    return -1;
}

/* s_destroy - close the connection and free */
static void s_destroy(void *self)
{
    s_js_t *s = self;
    if (!s)
        return;
    s_clear(s);
    s_reqs_clear(s);
    natsSubscription_Destroy(s->sub);
    jstream_close(&s->opts, &s->nc, &(jsCtx *){NULL});
    if (s->loop && s->watched >= 0)
        evloop_remove_fd(s->loop, s->watched);
    pthread_mutex_destroy(&s->mu);
    free(s->rec);
    buf_free(&s->data);
    buf_free(&s->scratch);
    buf_free(&s->raw);
    free(s);
    nats_Close();
}

static const journal_store_ops_t s_ops = {
    .name = "jetstream",
    .begin = s_begin,
    .append = s_append,
    .flush = s_flush,
    .commit = s_commit,
    .rollback = s_rollback,
    .fetch = s_fetch,
    .has_key = s_has_key,
    .last = s_last,
    .attach = s_attach,
    .destroy = s_destroy,
    .deferred = 1,
};

/* s_setup - make or check the stream over an ordinary connection (libnats'
 * own threads, closed at once); its options, servers and all, are kept for
 * the journal's connection */
static int s_setup(const config_t *cfg, s_js_t *s)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    int rc = jstream_connect(cfg, "hark-journal", NULL, &s->opts, &nc, &js);
    if (rc == 0)
        rc = jstream_stream(cfg, js);
    natsOptions *keep = s->opts;
    s->opts = NULL;
    jstream_close(&s->opts, &nc, &js);
    s->opts = keep;
    return rc;
}

/* s_connect - the journal's connection, in event loop mode, and the
 * subscription every answer comes to */
static int s_connect(s_js_t *s)
{
    natsInbox *inbox = NULL;
    char all[80];
    natsStatus st = natsOptions_SetEventLoop(s->opts, s, s_ev_attach, s_ev_read, s_ev_write,
                                             s_ev_detach);
    if (st == NATS_OK)
        st = natsOptions_SetSendAsap(s->opts, true); /* no flusher thread */
    if (st == NATS_OK)
        st = natsConnection_Connect(&s->nc, s->opts);
    if (st == NATS_OK)
        st = natsInbox_Create(&inbox);
    if (st == NATS_OK) {
        snprintf(s->inbox, sizeof s->inbox, "%s", inbox);
        snprintf(all, sizeof all, "%s.>", s->inbox);
        st = natsConnection_SubscribeSync(&s->sub, s->nc, all);
    }
    natsInbox_Destroy(inbox);
    if (st == NATS_OK)
        st = natsSubscription_SetPendingLimits(s->sub, -1, -1); /* bounded by our batches */
    if (st != NATS_OK) {
        log_error("event=jetstream_connect_failed status=\"%s\" error=\"%s\"",
                  natsStatus_GetText(st), nats_GetLastError(NULL));
        return -1;
    }
    return 0;
}

/* journal_store_jetstream_new - connect, make or check the stream */
journal_store_t *journal_store_jetstream_new(const config_t *cfg)
{
    int replicas = (int)config_int(cfg, "journal", "replicas");
    if (replicas == 1 && !config_bool(cfg, "journal", "allow_single_node")) {
        log_error("event=config_refused error=\"[journal] replicas = 1 keeps one copy of every "
                  "event: set allow_single_node = yes to accept that\"");
        return NULL;
    }
    int64_t ack_ms = config_duration_ms(cfg, "journal", "ack_timeout");
    if (config_duration_ms(cfg, "journal", "dup_window") <= ack_ms) {
        log_error("event=config_refused error=\"[journal] dup_window must be longer than "
                  "ack_timeout: a resend is recognised only inside the window\"");
        return NULL;
    }
    s_js_t *s = sodium_init() < 0 ? NULL : calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->fd = s->watched = -1;
    snprintf(s->stream, sizeof s->stream, "%s", config_get(cfg, "journal", "stream"));
    s->ack_ms = ack_ms;
    randombytes_buf(&s->boot, sizeof s->boot);
    if (s_setup(cfg, s) || s_connect(s)) {
        s_destroy(s);
        return NULL;
    }
    journal_store_t *js = journal_store_wrap(&s_ops, s);
    if (!js)
        return NULL;
    s->store = js;
    journal_store_reload_head(js);
    log_info("event=jetstream_open stream=%s head=%lld", s->stream,
             (long long)journal_store_head(js));
    return js;
}
