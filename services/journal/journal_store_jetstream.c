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
 * Threads: libnats reads the socket and calls s_on_ack in a thread of its
 * own; the journal's thread waits in js_PublishAsyncComplete.  The issue's
 * wish was libnats in the journal's own poll loop (natsOptions_SetEventLoop),
 * but that mode hands the loop read/write interest callbacks per socket and
 * a wake-up from other threads (timers, reconnects), which evloop.c does
 * not have; and a round's reply waits for the acks anyway (the journal
 * answers only after the events are durable), so the loop would block in
 * the round either way.  What the threads share is the round's records,
 * under one mutex.
 *
 * Fetch reads message by message (js_GetMsg, from the leader, so an
 * acknowledged event is always seen), at most limit messages per fetch.
 */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "clock.h"
#include "journal_store.h"
#include "jstream.h"
#include "log.h"

#define S_RESEND_MS 1000 /* a publish without an ack after this is resent */
#define S_PAUSE_MS 100   /* before resending what was refused (no leader yet) */

enum { S_QUEUED, S_PENDING, S_STORED, S_DUP, S_RESEND };

/* one append of the round */
typedef struct {
    journal_scan_event_t *e; /* the caller's, filled in at flush */
    natsMsg *msg;            /* built, not yet handed to libnats */
    uint64_t seq;
    int state;
} s_rec_t;

typedef struct {
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    char stream[40];
    int64_t ack_ms;
    uint64_t boot, round;
    pthread_mutex_t mu; /* rec[].state, seq, resend: s_on_ack writes them */
    s_rec_t *rec;
    natsMsg **resend;   /* per record: handed back by s_on_ack to publish again */
    size_t n, cap, published;
    buf_t data, scratch;
    journal_store_t *store; /* the store it serves (its head and crypt) */
} s_js_t;

/* s_now_ms - a monotonic clock */
static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* s_sleep_ms - pause */
static void s_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* s_subject - the subject of key */
static void s_subject(const s_js_t *s, const char *key, size_t key_len, char *out, size_t size)
{
    jstream_subject(s->stream, key, key_len, out, size);
}

/* s_slot - the round and slot of one of our publishes, from its Nats-Msg-Id;
 * 0, or -1 when it is not this process's */
static int s_slot(const s_js_t *s, natsMsg *msg, uint64_t *round, size_t *slot)
{
    const char *id = NULL;
    unsigned long long boot, r, i;
    if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK || !id ||
        sscanf(id, "%llx.%llu.%llu", &boot, &r, &i) != 3 || boot != s->boot)
        return -1;
    *round = r;
    *slot = (size_t)i;
    return 0;
}

/* s_on_ack - libnats' thread: one publish's answer into its record */
static void s_on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    s_js_t *s = closure;
    uint64_t round;
    size_t slot;
    if (s_slot(s, msg, &round, &slot)) {
        natsMsg_Destroy(msg);
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (round != s->round || slot >= s->n || s->rec[slot].state != S_PENDING) {
        /* the answer to a round that gave up: that event may be stored; the
         * retry of its request finds it (a duplicate with its offset) */
        pthread_mutex_unlock(&s->mu);
        natsMsg_Destroy(msg);
        return;
    }
    s_rec_t *r = &s->rec[slot];
    const char *at;
    if (pa) {
        /* Duplicate here is the server's window recognising our own resend
         * (the id is unique to this append): it is stored, and ours */
        r->seq = pa->Sequence;
        r->state = S_STORED;
    } else if (pae && pae->ErrCode == JSStreamWrongLastSequenceErr && pae->ErrText &&
               (at = strstr(pae->ErrText, "sequence: ")) &&
               strtoull(at + 10, NULL, 10) > 0) {
        r->seq = strtoull(at + 10, NULL, 10); /* the key's first event */
        r->state = S_DUP;
    } else {
        /* no leader, no quorum, a timeout the library saw: again, same id */
        log_warn("event=jetstream_publish_refused code=%d status=%d error=\"%s\"",
                 pae ? (int)pae->ErrCode : 0, pae ? (int)pae->Err : 0,
                 pae && pae->ErrText ? pae->ErrText : "");
        s->resend[slot] = msg;
        msg = NULL;
        r->state = S_RESEND;
    }
    pthread_mutex_unlock(&s->mu);
    natsMsg_Destroy(msg);
}

/* s_clear - forget the round's records (messages not yet published freed) */
static void s_clear(s_js_t *s)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        natsMsg_Destroy(s->rec[i].msg);
        natsMsg_Destroy(s->resend[i]);
        s->resend[i] = NULL;
    }
    s->n = 0;
    s->published = 0;
    s->round++;
    pthread_mutex_unlock(&s->mu);
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
        pthread_mutex_lock(&s->mu);
        s_rec_t *r = realloc(s->rec, cap * sizeof *r);
        natsMsg **m = r ? realloc(s->resend, cap * sizeof *m) : NULL;
        if (r)
            s->rec = r;
        if (m) {
            s->resend = m;
            s->cap = cap;
        }
        pthread_mutex_unlock(&s->mu);
        if (!m)
            return -1;
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
    char subject[JSTREAM_SUBJECT_MAX], id[64];
    s_subject(s, e->key, e->key_len, subject, sizeof subject);
    snprintf(id, sizeof id, "%llx.%llu.%zu", (unsigned long long)s->boot,
             (unsigned long long)s->round, s->n);
    natsMsg *msg = NULL;
    if (natsMsg_Create(&msg, subject, NULL, b->data, (int)b->len) != NATS_OK ||
        natsMsgHeader_Set(msg, "Nats-Msg-Id", id) != NATS_OK ||
        natsMsgHeader_Set(msg, "Nats-Expected-Last-Subject-Sequence", "0") != NATS_OK) {
        natsMsg_Destroy(msg);
        return -1;
    }
    pthread_mutex_lock(&s->mu);
    s->rec[s->n] = (s_rec_t){.e = e, .msg = msg, .state = S_QUEUED};
    s->resend[s->n] = NULL;
    s->n++;
    pthread_mutex_unlock(&s->mu);
    e->offset = 0;
    e->dup = 0;
    return 0;
}

/* s_publish - hand msg to libnats (it owns it from then on); on failure it
 * is kept for a resend.  Called with the mutex not held: the ack may
 * arrive before js_PublishMsgAsync returns. */
static void s_publish(s_js_t *s, size_t i, natsMsg *msg)
{
    natsStatus st = js_PublishMsgAsync(s->js, &msg, NULL);
    if (st == NATS_OK)
        return;
    pthread_mutex_lock(&s->mu);
    if (msg && s->rec[i].state == S_PENDING) {
        s->resend[i] = msg;
        s->rec[i].state = S_RESEND;
        msg = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    natsMsg_Destroy(msg);
}

/* s_take_timed_out - publishes still unanswered after S_RESEND_MS: taken
 * back from libnats to be resent */
static void s_take_timed_out(s_js_t *s)
{
    natsMsgList list = {0};
    if (js_PublishAsyncGetPendingList(&list, s->js) != NATS_OK)
        return;
    pthread_mutex_lock(&s->mu);
    for (int k = 0; k < list.Count; k++) {
        uint64_t round;
        size_t slot;
        if (!list.Msgs[k] || s_slot(s, list.Msgs[k], &round, &slot) || round != s->round ||
            slot >= s->n || s->rec[slot].state != S_PENDING)
            continue;
        s->resend[slot] = list.Msgs[k];
        list.Msgs[k] = NULL;
        s->rec[slot].state = S_RESEND;
    }
    pthread_mutex_unlock(&s->mu);
    natsMsgList_Destroy(&list);
}

/* s_flush - publish the round's new appends and wait for every answer */
static int s_flush(void *self)
{
    s_js_t *s = self;
    for (size_t i = s->published; i < s->n; i++) {
        pthread_mutex_lock(&s->mu);
        natsMsg *msg = s->rec[i].msg;
        s->rec[i].msg = NULL;
        s->rec[i].state = S_PENDING;
        pthread_mutex_unlock(&s->mu);
        s_publish(s, i, msg);
    }
    s->published = s->n;
    int64_t deadline = s_now_ms() + s->ack_ms;
    size_t open = 0, resend = 0, resent = 0;
    for (;;) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        int64_t left = deadline - s_now_ms();
        po.MaxWait = left < S_RESEND_MS ? (left > 1 ? left : 1) : S_RESEND_MS;
        natsStatus st = js_PublishAsyncComplete(s->js, &po);
        if (st == NATS_TIMEOUT)
            s_take_timed_out(s);
        else if (st != NATS_OK)
            s_sleep_ms(S_PAUSE_MS); /* the connection is closed or broken: not a busy loop */
        open = resend = 0;
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < s->n; i++) {
            open += s->rec[i].state == S_PENDING;
            resend += s->rec[i].state == S_RESEND;
        }
        pthread_mutex_unlock(&s->mu);
        if ((open == 0 && resend == 0) || s_now_ms() >= deadline)
            break;
        if (resend == 0)
            continue;
        if (open == 0)
            s_sleep_ms(S_PAUSE_MS); /* a leader is being elected: not a busy loop */
        for (size_t i = 0; i < s->n; i++) {
            pthread_mutex_lock(&s->mu);
            natsMsg *msg = NULL;
            if (s->rec[i].state == S_RESEND) {
                msg = s->resend[i];
                s->resend[i] = NULL;
                s->rec[i].state = S_PENDING;
            }
            pthread_mutex_unlock(&s->mu);
            if (msg) {
                resent++;
                s_publish(s, i, msg);
            }
        }
    }
    if (resent)
        log_info("event=jetstream_resent n=%zu", resent);
    if (open || resend) {
        log_error("event=jetstream_round_failed events=%zu unanswered=%zu", s->n, open + resend);
        return -1;
    }
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        s->rec[i].e->offset = (int64_t)s->rec[i].seq;
        s->rec[i].e->dup = s->rec[i].state == S_DUP;
    }
    pthread_mutex_unlock(&s->mu);
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

/* s_has_key - a message on key's subject */
static int s_has_key(void *self, const char *key, size_t key_len)
{
    s_js_t *s = self;
    char subject[JSTREAM_SUBJECT_MAX];
    s_subject(s, key, key_len, subject, sizeof subject);
    natsMsg *msg = NULL;
    jsErrCode err = 0;
    natsStatus st = js_GetLastMsg(&msg, s->js, s->stream, subject, NULL, &err);
    natsMsg_Destroy(msg);
    if (st == NATS_OK)
        return 1;
    if (err == JSNoMessageFoundErr || st == NATS_NOT_FOUND)
        return 0;
    log_error("event=jetstream_get_failed status=%d code=%d", (int)st, (int)err);
    return -1;
}

/* s_last - the stream's last sequence; 0 when it cannot be read (logged) */
static int64_t s_last(void *self)
{
    s_js_t *s = self;
    jsStreamInfo *si = NULL;
    jsErrCode err = 0;
    int64_t last = 0;
    if (js_GetStreamInfo(&si, s->js, s->stream, NULL, &err) == NATS_OK)
        last = (int64_t)si->State.LastSeq;
    else
        log_error("event=jetstream_info_failed stream=%s code=%d", s->stream, (int)err);
    jsStreamInfo_Destroy(si);
    return last;
}

/* s_fetch - read after+1 .. head message by message */
static int s_fetch(void *self, int64_t after, int limit, const char *const *types, int n_types,
                   buf_t *out)
{
    s_js_t *s = self;
    journal_store_t *js = s->store;
    int64_t head = journal_store_head(js), last = after, scanned = after;
    int n = 0;
    buf_puts(out, "{\"events\":[");
    for (int64_t seq = after + 1; seq <= head && n < limit && seq - after <= limit; seq++) {
        natsMsg *msg = NULL;
        jsErrCode err = 0;
        natsStatus st = js_GetMsg(&msg, s->js, s->stream, (uint64_t)seq, NULL, &err);
        if (st != NATS_OK) {
            natsMsg_Destroy(msg);
            log_error("event=jetstream_get_failed seq=%lld status=%d code=%d", (long long)seq,
                      (int)st, (int)err);
            return -1;
        }
        const char *f[JSTREAM_FIELDS];
        size_t len[JSTREAM_FIELDS];
        int bad = jstream_decode(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &s->scratch,
                           f, len);
        natsMsg_Destroy(msg);
        if (bad || !f[0] || !f[1] || !f[2] || !f[3] || !f[4]) {
            log_error("event=jetstream_bad_message seq=%lld", (long long)seq);
            return -1;
        }
        scanned = seq;
        int want = n_types == 0;
        for (int t = 0; t < n_types && !want; t++)
            want = strcmp(types[t], f[0]) == 0;
        if (!want)
            continue;
        if (journal_store_put_event(js, out, n == 0, seq, f[0], f[1], f[2], f[3], f[4],
                                    (const unsigned char *)f[6], len[6], f[5]))
            return -1;
        last = seq;
        n++;
    }
    /* looked at everything up to head: the cursor may move there */
    if (scanned >= head)
        scanned = head;
    return journal_store_put_end(js, out, n, limit, after, n < limit ? scanned : last, last);
}

/* s_destroy - close the connection and free */
static void s_destroy(void *self)
{
    s_js_t *s = self;
    if (!s)
        return;
    s_clear(s);
    jstream_close(&s->opts, &s->nc, &s->js);
    pthread_mutex_destroy(&s->mu);
    free(s->rec);
    free(s->resend);
    buf_free(&s->data);
    buf_free(&s->scratch);
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
    .destroy = s_destroy,
    .deferred = 1,
};

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
    snprintf(s->stream, sizeof s->stream, "%s", config_get(cfg, "journal", "stream"));
    s->ack_ms = ack_ms;
    randombytes_buf(&s->boot, sizeof s->boot);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = ack_ms;
    jo.PublishAsync.AckHandler = s_on_ack;
    jo.PublishAsync.AckHandlerClosure = s;
    jo.PublishAsync.MaxPending = 65536;
    if (jstream_connect(cfg, "hark-journal", &jo, &s->opts, &s->nc, &s->js)) {
        s_destroy(s);
        return NULL;
    }
    if (jstream_stream(cfg, s->js)) {
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
