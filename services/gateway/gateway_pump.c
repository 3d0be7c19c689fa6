/*
 * gateway_pump.c - the gateway's one line to the journal.
 *
 * Every request that appends (a thread of libmicrohttpd's pool for
 * POST /v1/events, a worker for the rest) hands its events to this thread
 * as a job and does not wait on a socket of its own.  The thread takes
 * every job waiting, sends them together, and finishes each job from the
 * journal's answer: its own offsets, or its own error.  So one DEALER
 * serves every connection, and the more requests arrive at once, the more
 * each JOURNAL_APPEND (and the journal's one transaction) carries.
 *
 * Each job keeps its own all-or-nothing batch: the journal takes the jobs
 * of one message as separate batches ("batches" in proto/commands.json),
 * refusing one without touching the others.
 *
 * Two messages wait for the journal at most (PUMP_MAX_INFLIGHT); jobs
 * arriving meanwhile wait in the queue and go together in the next
 * message, and after an answer the queue waits a moment (PUMP_HOLD_MS) for
 * the clients that answer freed, so a busy gateway sends few large
 * messages (one commit each) rather than one per wake-up.  The journal
 * commits a round while the last one's fsync runs (hark-journal(8), Group
 * commit), so the second message in flight is worth its round: the
 * clients settle into two groups, one in the journal while the other is
 * answered and comes back.
 *
 * A job not answered within journal_timeout fails as "not confirmed"
 * (503: the client retries with the same keys, which the journal stores
 * once).  The socket is then made anew, so nothing still queued in it can
 * reach the journal after its client was told to retry.  A job that waited
 * in the queue that long fails the same way, never having been sent.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "curve.h"
#include "gateway.h"
#include "jclient.h"
#include "jtext.h"
#include "log.h"

/* the most batches the journal takes in one message */
#define PUMP_MAX_BATCHES JCLIENT_MAX_BATCHES

/* messages sent and not yet answered, at most: a second one once the
 * clients the last answer freed are back, or the queue holds
 * PUMP_PIPELINE_EVENTS (see s_take) */
#define PUMP_MAX_INFLIGHT 2

/* Events enough for a message of their own while another is in flight.
 * A round's fixed cost (a commit, an fsync, a round of wake-ups here, in
 * ZeroMQ's thread and in the journal) is worth paying twice at once only
 * when each message is large: batches of 100 events keep the journal's
 * commits back to back, as before.  With one event a request it is not:
 * two messages in flight split 64 clients into two halves that took turns
 * (about 22 requests a commit), and the gateway and the journal spent
 * ~75 us of CPU a request between them, measured on the loaded machine.
 * That was with the journal's rounds serialized behind their fsyncs; now
 * that it commits the next round while the last one's fsync runs, two
 * halves taking turns is the point (load 10, gateway_cost.py cpu, old and
 * new builds one after the other: 5,346 -> 6,258 requests/s, requests a
 * journal fsync 53.6 -> 34.5, CPU per request of the gateway 38.5 -> 38.0
 * us and of the journal 24.7 -> 29.4 us), and the queue waits only for
 * the clients the last answer freed before a second message goes. */
#define PUMP_PIPELINE_EVENTS 1000

/* With nothing in flight, the clients the last answer freed come back
 * within a fraction of a millisecond: the queue waits for them (and for
 * those queued meanwhile, below), or this long, and goes as one message.  One
 * event a request, 64 connections, this and PUMP_PIPELINE_EVENTS against
 * two messages in flight (perf stat, old and new builds alternately on
 * the loaded machine): requests a commit 21-22 -> 33-36, CPU per request
 * of the gateway 47.8-49.6 -> 40.4-41.9 us and of the journal 26.7-28.4 ->
 * 21.9-23.3 us, the gateway's system calls 8.9-9.2 -> 7.6-7.7 and context
 * switches 0.53-0.58 -> 0.34-0.35 a request.  A lone client is not held:
 * its request is as many as the last answer finished.
 *
 * The queue waits for the freed clients *and* for those that queued while
 * the message was in flight: waiting only for as many as were freed, the
 * 64 clients settled into two halves, each sent as soon as the other's
 * answer came (about 35 requests a commit).  Waiting for both, old and
 * new builds alternately on the loaded machine (load 6-16, medians of six
 * runs): requests a journal fsync 34.7 -> 50.5, CPU per request of the
 * gateway 54.7 -> 52.9 us and of the journal 54.8 -> 43.2 us. */
#define PUMP_HOLD_MS 2

struct gateway_pump {
    void *zctx;
    const char *endpoint;
    int timeout_ms;
    size_t max_events;             /* [journal] max_batch: per message */
    pthread_t thread;
    int running;
    int efd;                       /* wakes the thread: a job or stop */
    pthread_mutex_t lock;          /* queue, stop */
    gateway_job_t *queue, *queue_tail;
    size_t queued, queued_ev;      /* jobs in queue, and their events */
    size_t want;                   /* wake the thread when queued reaches it (0: no) */
    int stop;
    /* the thread's own */
    void *sock;
    uint64_t next_reqid;
    gateway_job_t *flight, *flight_tail; /* sent, in order */
    gateway_job_t *unsent;         /* no journal connected yet: tried again */
    int inflight;                  /* messages sent, not answered */
    int max_inflight;
    size_t hold_for;               /* jobs the queue waits for: see s_reply */
    size_t freed;                  /* jobs the last answer finished */
    int64_t hold_until;            /* holding the queue until then (0: not) */
    void *mon;                     /* the DEALER's monitor: its connection */
    unsigned mon_gen;              /* a fresh monitor endpoint per socket */
    atomic_int connected;          /* handshake done with the journal (/healthz) */
};

/* s_finish - a job is over: ok (stolen) or err */
static void s_finish(gateway_job_t *j, json_t *ok, const char *err, int refused)
{
    j->done(j, ok, err, refused);
}

/* s_monitor - watch the new DEALER's connection (before it connects,
 * so no event is missed): with ZMQ_IMMEDIATE an append sent while it is
 * not connected fails at once, so /healthz says 200 only once it is
 * (gateway_pump_connected) */
static void s_monitor(gateway_pump_t *p)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://gateway-pump-%p-%u", (void *)p, p->mon_gen++);
    if (zmq_socket_monitor(p->sock, ep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED))
        return;
    p->mon = zmq_socket(p->zctx, ZMQ_PAIR);
    if (p->mon && zmq_connect(p->mon, ep)) {
        zmq_close(p->mon);
        p->mon = NULL;
    }
    if (!p->mon)
        log_warn("event=pump_monitor_failed error=\"%s\"", zmq_strerror(zmq_errno()));
}

/* s_monitor_read - the DEALER's connection events: connected after a
 * handshake (NULL or CURVE), not after a disconnection */
static void s_monitor_read(gateway_pump_t *p)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, p->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        int more = zmq_msg_more(&m);
        if (zmq_msg_size(&m) >= 2) { /* the first frame: event (16 bits), value (32) */
            uint16_t ev;
            memcpy(&ev, zmq_msg_data(&m), sizeof ev);
            if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
                atomic_store(&p->connected, 1);
            else if (ev == ZMQ_EVENT_DISCONNECTED)
                atomic_store(&p->connected, 0);
        }
        zmq_msg_close(&m);
        while (more) { /* the endpoint */
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, p->mon, 0) < 0)
                more = 0;
            else
                more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
    }
}

/* s_close - close the DEALER and its monitor */
static void s_close(gateway_pump_t *p)
{
    atomic_store(&p->connected, 0);
    if (p->mon)
        zmq_close(p->mon);
    p->mon = NULL;
    if (p->sock)
        zmq_close(p->sock);
    p->sock = NULL;
}

/* s_connect - (re)make the DEALER, failing everything in flight */
static void s_connect(gateway_pump_t *p, const char *why)
{
    for (gateway_job_t *j = p->flight, *next; j; j = next) {
        next = j->next;
        s_finish(j, NULL, why ? why : "the journal did not answer", 0);
    }
    p->flight = p->flight_tail = NULL;
    p->inflight = 0;
    s_close(p);
    p->sock = zmq_socket(p->zctx, ZMQ_DEALER);
    if (!p->sock)
        return;
    int linger = 0, immediate = 1, hwm = 0;
    zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof linger);
    /* nothing queued for a journal not connected: fail fast, 503 */
    zmq_setsockopt(p->sock, ZMQ_IMMEDIATE, &immediate, sizeof immediate);
    zmq_setsockopt(p->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(p->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (curve_client(p->sock, p->endpoint) < 0) {
        s_close(p);
        return;
    }
    s_monitor(p);
    if (zmq_connect(p->sock, p->endpoint) < 0)
        s_close(p);
}

/* s_send - the jobs in list (n of them) as one JOURNAL_APPEND of batches */
static void s_send(gateway_pump_t *p, gateway_job_t *list, size_t n)
{
    /* the body jclient_batches_body would make, from each job's events
     * as its submitter already wrote them: this thread serves every
     * request, so it only concatenates */
    (void)n;
    buf_t body = BUF_INIT;
    buf_puts(&body, "{\"batches\":[");
    for (gateway_job_t *j = list; j; j = j->next) {
        buf_puts(&body, j == list ? "{\"events\":" : ",{\"events\":");
        buf_append(&body, j->text, j->text_len);
        buf_putc(&body, '}');
    }
    buf_puts(&body, "]}");
    uint64_t id = p->next_reqid++;
    int rc = !buf_failed(&body) && p->sock
                 ? wire_send(p->sock, NULL, 0, CMD_JOURNAL_APPEND, id, body.data, body.len,
                             ZMQ_DONTWAIT)
                 : -1;
    buf_free(&body);
    int64_t now = clock_mono_ms();
    if (rc) {
        /* no journal connected (ZMQ_IMMEDIATE): keep them and try again
         * until their time is up, as a restarting journal is back within a
         * second or two */
        for (gateway_job_t *j = list, *next; j; j = next) {
            next = j->next;
            if (now - j->queued_ms >= p->timeout_ms) {
                s_finish(j, NULL, "the journal is not reachable", 0);
            } else {
                j->next = p->unsent;
                p->unsent = j;
            }
        }
        return;
    }
    for (gateway_job_t *j = list; j; j = j->next) {
        j->reqid = id;
        j->sent_ms = now;
    }
    p->inflight++;
    if (p->flight_tail)
        p->flight_tail->next = list;
    else
        p->flight = list;
    while (list->next)
        list = list->next;
    p->flight_tail = list;
}

/* s_take - every job waiting, sent in messages of at most max_events
 * events (a job larger than that alone) and PUMP_MAX_BATCHES jobs */
static void s_take(gateway_pump_t *p)
{
    if (p->inflight >= p->max_inflight)
        return; /* they wait for an answer, in the queue (see PUMP_MAX_INFLIGHT) */
    pthread_mutex_lock(&p->lock);
    /* with one message in flight the next waits for the clients the last
     * answer freed (not for those the one in flight will free), so two
     * groups take turns: one in the journal while the other is answered,
     * comes back and is read here */
    size_t wait_for = p->inflight > 0 ? p->freed : p->hold_for;
    if (!p->unsent && p->queue && p->queued < wait_for &&
        p->queued_ev < PUMP_PIPELINE_EVENTS) {
        /* the clients the last answer freed are coming back: wait for them
         * (PUMP_HOLD_MS at most) and send them, with those that queued
         * while it was in flight, in one message */
        int64_t now = clock_mono_ms();
        if (!p->hold_until)
            p->hold_until = now + PUMP_HOLD_MS;
        if (now < p->hold_until) {
            p->want = wait_for;
            pthread_mutex_unlock(&p->lock);
            return;
        }
    }
    p->hold_until = 0;
    p->want = 0;
    gateway_job_t *q = p->queue;
    p->queue = p->queue_tail = NULL;
    p->queued = p->queued_ev = 0;
    pthread_mutex_unlock(&p->lock);
    if (p->unsent) { /* the oldest first (unsent is kept newest first) */
        gateway_job_t *rev = NULL;
        while (p->unsent) {
            gateway_job_t *j = p->unsent;
            p->unsent = j->next;
            j->next = rev;
            rev = j;
        }
        gateway_job_t *last = rev;
        while (last->next)
            last = last->next;
        last->next = q;
        q = rev;
    }
    /* a job that waited in the queue as long as the journal is given
     * fails as one unanswered would (it never reached the socket) */
    int64_t now = clock_mono_ms();
    for (gateway_job_t **pp = &q; *pp;) {
        gateway_job_t *j = *pp;
        if (now - j->queued_ms < p->timeout_ms) {
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        char why[80];
        snprintf(why, sizeof why, "the journal did not answer in %d ms", p->timeout_ms);
        s_finish(j, NULL, why, 0);
    }
    while (q) {
        gateway_job_t *list = q, *last = q;
        size_t events = q->n_events, n = 1;
        q = q->next;
        while (q && n < PUMP_MAX_BATCHES && events + q->n_events <= p->max_events) {
            events += q->n_events;
            last = q;
            q = q->next;
            n++;
        }
        last->next = NULL;
        s_send(p, list, n);
    }
}

/* s_reply - the journal answered message m: finish its jobs */
static void s_reply(gateway_pump_t *p, wire_msg_t *m)
{
    gateway_job_t *mine = NULL, **tail = &mine, **pp = &p->flight;
    p->flight_tail = NULL;
    while (*pp) {
        gateway_job_t *j = *pp;
        if (j->reqid == m->reqid) {
            *pp = j->next;
            j->next = NULL;
            *tail = j;
            tail = &j->next;
        } else {
            p->flight_tail = j;
            pp = &j->next;
        }
    }
    if (!mine)
        return; /* a late answer to jobs already failed */
    if (p->inflight > 0)
        p->inflight--;
    size_t n = 0;
    for (gateway_job_t *j = mine; j; j = j->next)
        n++;
    /* the next message waits (PUMP_HOLD_MS at most) for the clients this
     * answer frees and for those already queued behind it, so the two
     * groups go as one message instead of taking turns (see PUMP_HOLD_MS) */
    pthread_mutex_lock(&p->lock);
    p->hold_for = n + p->queued;
    p->freed = n;
    pthread_mutex_unlock(&p->lock);
    size_t *counts = calloc(n, sizeof *counts);
    jclient_result_t *res = calloc(n, sizeof *res);
    /* the journal's answer is integers and flags: jtext_load reads it
     * without jansson's character stream (wire_body_json's json_loadb) */
    json_t *body = m->body ? jtext_load(m->body, m->body_len, NULL) : NULL;
    if (body && !json_is_object(body)) {
        json_decref(body);
        body = NULL;
    }
    size_t i = 0;
    for (gateway_job_t *j = mine; j && counts; j = j->next)
        counts[i++] = j->n_events;
    if (counts && res)
        jclient_batches_split_n(m->cmd, body, counts, n, res);
    i = 0;
    for (gateway_job_t *j = mine, *next; j; j = next, i++) {
        next = j->next;
        if (!counts || !res)
            s_finish(j, NULL, "out of memory", 0);
        else if (res[i].ok)
            s_finish(j, res[i].ok, NULL, 0); /* given away */
        else
            s_finish(j, NULL, res[i].err, res[i].error == EBADMSG);
    }
    json_decref(body);
    free(counts);
    free(res);
}

/* s_main - the pump's thread */
static void *s_main(void *arg)
{
    gateway_pump_t *p = arg;
    p->next_reqid = (uint64_t)clock_mono_ms() << 16;
    s_connect(p, NULL);
    for (;;) {
        zmq_pollitem_t items[3] = {{NULL, p->efd, ZMQ_POLLIN, 0},
                                   {p->sock, 0, ZMQ_POLLIN, 0},
                                   {p->mon, 0, ZMQ_POLLIN, 0}};
        long timeout = p->unsent ? 5 : -1;
        if (p->hold_until) {
            int64_t left = p->hold_until - clock_mono_ms();
            timeout = left <= 0 ? 0 : (long)left;
        }
        if (p->flight) {
            int64_t left = p->flight->sent_ms + p->timeout_ms - clock_mono_ms();
            timeout = left <= 0 ? 0 : timeout >= 0 && timeout < left ? timeout : (long)left;
        }
        int n = zmq_poll(items, !p->sock ? 1 : p->mon ? 3 : 2, p->sock ? timeout : 100);
        if (n < 0 && errno != EINTR)
            break;
        if (!p->sock) {
            s_connect(p, NULL);
            continue;
        }
        if (p->mon && (items[2].revents & ZMQ_POLLIN))
            s_monitor_read(p);
        if (items[0].revents & ZMQ_POLLIN) {
            uint64_t v;
            if (read(p->efd, &v, sizeof v) < 0 && errno != EAGAIN)
                log_warn("event=pump_wake_failed error=\"%s\"", strerror(errno));
        }
        pthread_mutex_lock(&p->lock);
        int stop = p->stop;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
        for (;;) { /* answers first: each frees a place for a message */
            wire_msg_t m;
            if (wire_recv(p->sock, 0, &m, ZMQ_DONTWAIT) < 0) {
                if (errno == EPROTO)
                    continue;
                break;
            }
            s_reply(p, &m);
            wire_msg_free(&m);
        }
        if (p->flight && clock_mono_ms() - p->flight->sent_ms >= p->timeout_ms) {
            char why[80];
            snprintf(why, sizeof why, "the journal did not answer in %d ms", p->timeout_ms);
            log_warn("event=journal_timeout ms=%d", p->timeout_ms);
            s_connect(p, why);
        }
        s_take(p);
    }
    /* stopping: nothing more will be answered */
    s_connect(p, "the gateway is stopping");
    for (gateway_job_t *j = p->unsent, *next; j; j = next) {
        next = j->next;
        s_finish(j, NULL, "the gateway is stopping", 0);
    }
    p->unsent = NULL;
    s_close(p);
    pthread_mutex_lock(&p->lock);
    gateway_job_t *q = p->queue;
    p->queue = p->queue_tail = NULL;
    p->queued = p->queued_ev = 0;
    pthread_mutex_unlock(&p->lock);
    for (gateway_job_t *j = q, *next; j; j = next) {
        next = j->next;
        s_finish(j, NULL, "the gateway is stopping", 0);
    }
    return NULL;
}

/* gateway_pump_new - start the pump's thread */
gateway_pump_t *gateway_pump_new(void *zctx, const char *endpoint, int timeout_ms,
                                 size_t max_events)
{
    gateway_pump_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->max_events = max_events ? max_events : 1;
    p->max_inflight = PUMP_MAX_INFLIGHT;
    p->zctx = zctx;
    p->endpoint = endpoint;
    p->timeout_ms = timeout_ms;
    pthread_mutex_init(&p->lock, NULL);
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->efd < 0 || pthread_create(&p->thread, NULL, s_main, p)) {
        gateway_pump_destroy(&p);
        return NULL;
    }
    p->running = 1;
    return p;
}

/* gateway_pump_submit - hand a job over; its done runs on the pump's
 * thread (or on this one, when the pump is stopping) */
void gateway_pump_submit(gateway_pump_t *p, gateway_job_t *j)
{
    j->next = NULL;
    if (!j->text) { /* written here, on the submitter's thread, not the pump's */
        j->text = json_dumps(j->events, JSON_COMPACT);
        j->text_len = j->text ? strlen(j->text) : 0;
        j->n_events = json_array_size(j->events);
        if (!j->text) {
            s_finish(j, NULL, "out of memory", 0);
            return;
        }
    }
    j->queued_ms = clock_mono_ms();
    pthread_mutex_lock(&p->lock);
    if (p->stop) {
        pthread_mutex_unlock(&p->lock);
        s_finish(j, NULL, "the gateway is stopping", 0);
        return;
    }
    int was_empty = !p->queue;
    if (p->queue_tail)
        p->queue_tail->next = j;
    else
        p->queue = j;
    p->queue_tail = j;
    p->queued++;
    size_t before = p->queued_ev;
    p->queued_ev += j->n_events;
    /* wake the thread for what it waits for: the clients it holds for,
     * or enough events for a second message in flight */
    if ((p->want && p->queued >= p->want) ||
        (before < PUMP_PIPELINE_EVENTS && p->queued_ev >= PUMP_PIPELINE_EVENTS)) {
        p->want = 0;
        was_empty = 1;
    }
    pthread_mutex_unlock(&p->lock);
    uint64_t one = 1;
    /* one wake-up per burst: the thread takes the whole queue */
    if (was_empty && write(p->efd, &one, sizeof one) < 0)
        log_warn("event=pump_wake_failed error=\"%s\"", strerror(errno));
}

/* gateway_pump_connected - whether the pump's DEALER is connected to the
 * journal now (any thread) */
int gateway_pump_connected(gateway_pump_t *p)
{
    return p && atomic_load(&p->connected);
}

/* gateway_pump_destroy - stop; every job not answered fails (503) */
void gateway_pump_destroy(gateway_pump_t **p_p)
{
    gateway_pump_t *p = *p_p;
    if (!p)
        return;
    if (p->running) {
        pthread_mutex_lock(&p->lock);
        p->stop = 1;
        pthread_mutex_unlock(&p->lock);
        uint64_t one = 1;
        if (write(p->efd, &one, sizeof one) < 0)
            log_warn("event=pump_wake_failed error=\"%s\"", strerror(errno));
        pthread_join(p->thread, NULL);
    }
    if (p->efd >= 0)
        close(p->efd);
    pthread_mutex_destroy(&p->lock);
    free(p);
    *p_p = NULL;
}

/* s_wake - a blocking append's job is done */
typedef struct {
    gateway_job_t job;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int done, refused;
    json_t *ok;
    char err[200];
} s_waiter_t;

static void s_wake(gateway_job_t *j, json_t *ok, const char *err, int refused)
{
    s_waiter_t *w = (s_waiter_t *)j;
    pthread_mutex_lock(&w->lock);
    w->ok = ok;
    w->refused = refused;
    if (err)
        snprintf(w->err, sizeof w->err, "%s", err);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->lock);
}

/* gateway_append - see gateway.h: a job, waited for on this thread (a
 * worker's: the HTTP threads never wait) */
json_t *gateway_append(gateway_t *gw, const json_t *events, char *err, int *refused)
{
    s_waiter_t w = {.job = {.events = (json_t *)events, .done = s_wake}};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cv, NULL);
    gateway_pump_submit(gw->pump, &w.job);
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.lock);
    free(w.job.text);
    if (refused)
        *refused = w.refused;
    if (!w.ok)
        snprintf(err, 200, "%s", w.err[0] ? w.err : "the journal did not answer");
    return w.ok;
}
