/*
 * gateway_pump.c - a gateway loop's line to the journal.
 *
 * Each of the gateway's HTTP loops (common/httpd.c, httpd_loop_t) owns a
 * pump: one DEALER to the journal, driven from the loop's own thread.
 * POST /v1/events parses its request there and queues its events
 * (gateway_pump_queue); each time round the loop (gateway_pump_run), the
 * answers are read and their requests resumed on the same thread, and
 * whatever queued meanwhile goes as one JOURNAL_APPEND if none is in
 * flight (as Nagle's algorithm sends when nothing is unacknowledged, but
 * first waiting a moment for the clients the last answer freed:
 * PUMP_HOLD_MS).  A request thus crosses no thread in the gateway: no
 * eventfd to a pump thread, no ITC back to an HTTP one.
 * A worker (the routes that wait for other owners) hands its append to a
 * pump from its own thread (gateway_pump_submit: a locked inbox and an
 * eventfd in the loop's epoll set) and waits for it (gateway_append).
 *
 * Each job keeps its own all-or-nothing batch: the journal takes the jobs
 * of one message as separate batches ("batches" in proto/commands.json),
 * refusing one without touching the others.  A second message goes while
 * one is in flight once the queue holds [gateway] pipeline_events events,
 * so that the journal commits one group while the loop parses the next.
 *
 * A job not answered within journal_timeout fails as "not confirmed"
 * (503: the client retries with the same keys, which the journal stores
 * once).  The socket is then made anew, so nothing still queued in it can
 * reach the journal after its client was told to retry.  A job that waited
 * in the queue that long fails the same way, never having been sent.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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

/* Messages sent and not yet answered, at most: the second once the queue
 * holds [gateway] pipeline_events events.  One message at a time made
 * every round serial: the loop parsed a group of ~50 requests while the
 * journal slept, then the journal committed and fsynced them while the
 * loop slept (on the quiet machine the gateway was busy 56 % of the time,
 * the journal's loop 21 %).  A second message lets the journal commit one
 * group while the loop reads the next, and the journal's group commit
 * covers both with one fsync where they overlap.  More than two, or no
 * PUMP_HOLD_MS, made smaller rounds, each its own commit (21-29 requests
 * a journal fsync instead of 40-50 on the loaded machine, 5-8 us more
 * journal CPU a request). */
#define PUMP_MAX_INFLIGHT 2

/* With nothing in flight, the clients the last answer freed come back
 * within a fraction of a millisecond: the queue waits for as many
 * requests as that answer finished, or this long, and goes as one
 * message.  Sent as soon as anything queued (Nagle's rule alone), the
 * first few clients back went alone and the rest waited for them: one
 * event a request, 64 connections, one loop, on the loaded machine (load
 * 12-13, gateway_cost.py cpu): 30.3 requests a journal fsync without the
 * wait, 43.6 with it.  A lone client is not held: its request is as many
 * as the last answer finished. */
#define PUMP_HOLD_MS 2

/* Events that end the hold at once: large batches keep the journal's
 * commits back to back.  Not pipeline_events: ending the hold at 16
 * events split the freed clients into small first messages (31-35
 * requests a journal fsync against 40-41, ~6 us more CPU a request). */
#define PUMP_HOLD_EVENTS 1000

/* a send that found no journal connected (ZMQ_IMMEDIATE) is tried again
 * this often until its jobs' time is up */
#define PUMP_RETRY_MS 5

struct gateway_pump {
    void *zctx;
    const char *endpoint;
    int timeout_ms;
    size_t max_events;             /* [journal] max_batch: per message */
    size_t pipeline;               /* [gateway] pipeline_events (SIZE_MAX: 0, never) */
    int epfd;                      /* the loop's epoll set (-1: not attached) */
    int efd;                       /* the inbox has jobs, or stop */
    pthread_mutex_t lock;          /* inbox, stopped */
    gateway_job_t *inbox, *inbox_tail; /* from other threads */
    int stopped;
    /* the loop thread's own */
    void *sock;
    int sock_fd, mon_fd;           /* their ZMQ_FDs in epfd (-1: none) */
    uint64_t next_reqid;
    gateway_job_t *queue, *queue_tail; /* waiting for a message */
    size_t queued_ev;
    int64_t retry_at;              /* no journal connected: send again then (0: now) */
    gateway_job_t *flight, *flight_tail; /* sent, in order */
    int inflight;                  /* messages sent, not answered */
    int finished;                  /* a job finished this turn */
    size_t freed;                  /* jobs the last answer finished */
    int64_t hold_until;            /* holding the queue until then (0: not) */
    void *mon;                     /* the DEALER's monitor: its connection */
    unsigned mon_gen;              /* a fresh monitor endpoint per socket */
    atomic_int connected;          /* handshake done with the journal (/healthz) */
};

/* s_finish - a job is over: ok (stolen) or err */
static void s_finish(gateway_pump_t *p, gateway_job_t *j, json_t *ok, const char *err,
                     int refused)
{
    p->finished = 1;
    j->done(j, ok, err, refused);
}

/* s_watch - a ZeroMQ socket's descriptor in the loop's epoll set (it
 * signals that the socket may have something: the socket is asked each
 * turn anyway) */
static int s_watch(gateway_pump_t *p, void *sock)
{
    int fd = -1;
    size_t len = sizeof fd;
    if (p->epfd < 0 || !sock || zmq_getsockopt(sock, ZMQ_FD, &fd, &len))
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    return epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? fd : -1;
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
        int evs = 0;
        size_t elen = sizeof evs;
        /* ZMQ_EVENTS also clears the signal on its descriptor */
        if (zmq_getsockopt(p->mon, ZMQ_EVENTS, &evs, &elen) || !(evs & ZMQ_POLLIN))
            return;
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

/* s_close - close the DEALER and its monitor (out of the epoll set
 * first: ZeroMQ closes their descriptors later, on its own thread) */
static void s_close(gateway_pump_t *p)
{
    atomic_store(&p->connected, 0);
    if (p->sock_fd >= 0)
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->sock_fd, NULL);
    if (p->mon_fd >= 0)
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->mon_fd, NULL);
    p->sock_fd = p->mon_fd = -1;
    /* the monitor stopped first, then the DEALER, then the PAIR reading
     * the monitor: closed the other way, the DEALER's last events (its
     * disconnection, carrying the endpoint's text) were left to a monitor
     * nobody read, and LeakSanitizer found them at exit (86 bytes in
     * libzmq, once in a chaos run) */
    if (p->sock && p->mon)
        zmq_socket_monitor(p->sock, NULL, 0);
    if (p->sock)
        zmq_close(p->sock);
    p->sock = NULL;
    if (p->mon)
        zmq_close(p->mon);
    p->mon = NULL;
}

/* s_connect - (re)make the DEALER, failing everything in flight */
static void s_connect(gateway_pump_t *p, const char *why)
{
    for (gateway_job_t *j = p->flight, *next; j; j = next) {
        next = j->next;
        s_finish(p, j, NULL, why ? why : "the journal did not answer", 0);
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
    if (zmq_connect(p->sock, p->endpoint) < 0) {
        s_close(p);
        return;
    }
    p->sock_fd = s_watch(p, p->sock);
    p->mon_fd = s_watch(p, p->mon);
}

/* s_send - the jobs in list as one JOURNAL_APPEND of batches; 0, or -1
 * when no journal is connected (list untouched) */
static int s_send(gateway_pump_t *p, gateway_job_t *list)
{
    /* the body jclient_batches_body would make, from each job's events
     * as its request already wrote them: here they are only concatenated */
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
    if (rc)
        return -1;
    int64_t now = clock_mono_ms();
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
    return 0;
}

/* s_take - send what queued, in messages of at most max_events events (a
 * job larger than that alone) and PUMP_MAX_BATCHES jobs, while a message
 * may go (see PUMP_MAX_INFLIGHT) */
static void s_take(gateway_pump_t *p)
{
    /* a job that waited in the queue as long as the journal is given
     * fails as one unanswered would (it never reached the socket) */
    int64_t now = clock_mono_ms();
    for (gateway_job_t **pp = &p->queue; *pp;) {
        gateway_job_t *j = *pp;
        if (now - j->queued_ms < p->timeout_ms) {
            p->queue_tail = j;
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        p->queued_ev -= j->n_events;
        char why[80];
        snprintf(why, sizeof why, "the journal did not answer in %d ms", p->timeout_ms);
        s_finish(p, j, NULL, why, 0);
    }
    if (!p->queue)
        p->queue_tail = NULL;
    if (p->retry_at && now < p->retry_at)
        return;
    p->retry_at = 0;
    if (p->queue && p->inflight == 0 && p->freed > 1) {
        size_t queued = 0;
        for (gateway_job_t *j = p->queue; j && queued < p->freed; j = j->next)
            queued++;
        /* the clients the last answer freed are coming back: wait for
         * them (PUMP_HOLD_MS at most) and send them as one message */
        if (!p->hold_until)
            p->hold_until = now + PUMP_HOLD_MS;
        if (queued < p->freed && now < p->hold_until && p->queued_ev < PUMP_HOLD_EVENTS)
            return;
    }
    p->hold_until = 0;
    while (p->queue && (p->inflight == 0 || (p->inflight < PUMP_MAX_INFLIGHT &&
                                             p->queued_ev >= p->pipeline))) {
        gateway_job_t *list = p->queue, *last = list;
        size_t events = list->n_events, n = 1;
        while (last->next && n < PUMP_MAX_BATCHES &&
               events + last->next->n_events <= p->max_events) {
            last = last->next;
            events += last->n_events;
            n++;
        }
        gateway_job_t *rest = last->next;
        last->next = NULL;
        if (s_send(p, list)) {
            /* no journal connected (ZMQ_IMMEDIATE): they stay queued and
             * are sent again until their time is up, as a restarting
             * journal is back within a second or two */
            last->next = rest;
            p->retry_at = now + PUMP_RETRY_MS;
            return;
        }
        p->queue = rest;
        if (!rest)
            p->queue_tail = NULL;
        p->queued_ev -= events;
    }
}

/* s_int_list - at *pp, n comma-separated integers as the journal writes
 * them (s_put_int), then ']'; 0 (past the ']') or -1 */
static int s_int_list(const char **pp, const char *end, size_t n)
{
    const char *p = *pp;
    for (size_t i = 0; i < n; i++) {
        if (i && (p >= end || *p++ != ','))
            return -1;
        if (p < end && *p == '-')
            p++;
        const char *d = p;
        while (p < end && *p >= '0' && *p <= '9' && p - d < 19)
            p++;
        /* no leading zero, no more digits than an int64 surely holds */
        if (p == d || p - d > 18 || (*d == '0' && p - d > 1))
            return -1;
    }
    if (p >= end || *p++ != ']')
        return -1;
    *pp = p;
    return 0;
}

/* s_bool_list - at *pp, n comma-separated true/false, then ']'; 0/-1 */
static int s_bool_list(const char **pp, const char *end, size_t n)
{
    const char *p = *pp;
    for (size_t i = 0; i < n; i++) {
        if (i && (p >= end || *p++ != ','))
            return -1;
        if (end - p >= 4 && memcmp(p, "true", 4) == 0)
            p += 4;
        else if (end - p >= 5 && memcmp(p, "false", 5) == 0)
            p += 5;
        else
            return -1;
    }
    if (p >= end || *p++ != ']')
        return -1;
    *pp = p;
    return 0;
}

/* s_lit - the literal s at *pp; 0 (past it) or -1 */
static int s_lit(const char **pp, const char *end, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(end - *pp) < n || memcmp(*pp, s, n))
        return -1;
    *pp += n;
    return 0;
}

/* s_results_text - the journal's JOURNAL_APPEND_OK body for n batches,
 * exactly as journal_serve.c writes it when every batch was stored:
 * {"results":[{"offsets":[...],"duplicates":[...]},...]} with counts[i]
 * of each; each result's start and length into at[i], len[i]; 0, or -1
 * for anything else (a refused batch, another shape: jansson reads it) */
static int s_results_text(const char *body, size_t body_len, const size_t *counts, size_t n,
                          size_t *at, size_t *len)
{
    const char *p = body, *end = body + body_len;
    if (s_lit(&p, end, "{\"results\":["))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (i && s_lit(&p, end, ","))
            return -1;
        const char *start = p;
        if (s_lit(&p, end, "{\"offsets\":[") || s_int_list(&p, end, counts[i]) ||
            s_lit(&p, end, ",\"duplicates\":[") || s_bool_list(&p, end, counts[i]) ||
            s_lit(&p, end, "}"))
            return -1;
        at[i] = (size_t)(start - body);
        len[i] = (size_t)(p - start);
    }
    return s_lit(&p, end, "]}") || p != end ? -1 : 0;
}

/* s_reply_text - finish the jobs of mine (n, counts[i] events each) from
 * the answer's text when all of them take it (done_text) and it is of the
 * usual shape; 1 if done, 0 to read it with jansson */
static int s_reply_text(gateway_pump_t *p, wire_msg_t *m, gateway_job_t *mine,
                        const size_t *counts, size_t n)
{
    if (!m->body || strcmp(m->cmd, CMD_JOURNAL_APPEND_OK) != 0)
        return 0;
    for (gateway_job_t *j = mine; j; j = j->next)
        if (!j->done_text)
            return 0;
    size_t *at = malloc(2 * n * sizeof *at);
    if (!at || s_results_text(m->body, m->body_len, counts, n, at, at + n)) {
        free(at);
        return 0;
    }
    size_t i = 0;
    for (gateway_job_t *j = mine, *next; j; j = next, i++) {
        next = j->next;
        p->finished = 1;
        j->done_text(j, m->body + at[i], at[n + i]);
    }
    free(at);
    return 1;
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
    /* the next message waits for the clients this answer frees (see
     * PUMP_HOLD_MS) */
    p->freed = n;
    size_t *counts = calloc(n, sizeof *counts);
    jclient_result_t *res = calloc(n, sizeof *res);
    size_t i = 0;
    for (gateway_job_t *j = mine; j && counts; j = j->next)
        counts[i++] = j->n_events;
    if (counts && res && s_reply_text(p, m, mine, counts, n)) {
        free(counts);
        free(res);
        return;
    }
    /* the journal's answer is integers and flags: jtext_load reads it
     * without jansson's character stream (wire_body_json's json_loadb) */
    json_t *body = m->body ? jtext_load(m->body, m->body_len, NULL) : NULL;
    if (body && !json_is_object(body)) {
        json_decref(body);
        body = NULL;
    }
    if (counts && res)
        jclient_batches_split_n(m->cmd, body, counts, n, res);
    i = 0;
    for (gateway_job_t *j = mine, *next; j; j = next, i++) {
        next = j->next;
        if (!counts || !res)
            s_finish(p, j, NULL, "out of memory", 0);
        else if (res[i].ok)
            s_finish(p, j, res[i].ok, NULL, 0); /* given away */
        else
            s_finish(p, j, NULL, res[i].err, res[i].error == EBADMSG);
    }
    json_decref(body);
    free(counts);
    free(res);
}

/* s_prepare - a job's events as text, written on the submitter's thread;
 * -1 having failed it */
static int s_prepare(gateway_pump_t *p, gateway_job_t *j)
{
    j->next = NULL;
    if (!j->text) {
        j->text = json_dumps(j->events, JSON_COMPACT);
        j->text_len = j->text ? strlen(j->text) : 0;
        j->n_events = json_array_size(j->events);
        if (!j->text) {
            s_finish(p, j, NULL, "out of memory", 0);
            return -1;
        }
    }
    j->queued_ms = clock_mono_ms();
    return 0;
}

/* gateway_pump_new - a pump and its DEALER (made here, used from then on
 * only by the loop's thread) */
gateway_pump_t *gateway_pump_new(void *zctx, const char *endpoint, int timeout_ms,
                                 size_t max_events, size_t pipeline_events)
{
    gateway_pump_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->max_events = max_events ? max_events : 1;
    p->pipeline = pipeline_events ? pipeline_events : SIZE_MAX;
    p->zctx = zctx;
    p->endpoint = endpoint;
    p->timeout_ms = timeout_ms;
    p->epfd = p->sock_fd = p->mon_fd = -1;
    p->next_reqid = (uint64_t)clock_mono_ms() << 16;
    pthread_mutex_init(&p->lock, NULL);
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->efd < 0) {
        gateway_pump_destroy(&p);
        return NULL;
    }
    s_connect(p, NULL);
    return p;
}

/* gateway_pump_attach - on the loop's thread: its descriptors in the
 * loop's epoll set */
void gateway_pump_attach(gateway_pump_t *p, int epfd)
{
    p->epfd = epfd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, p->efd, &ev))
        log_warn("event=pump_watch_failed error=\"%s\"", strerror(errno));
    p->sock_fd = s_watch(p, p->sock);
    p->mon_fd = s_watch(p, p->mon);
}

/* gateway_pump_queue - on the loop's thread: queue a job for the next
 * message (sent when the loop runs the pump, this turn: sent at once, as
 * the second message while libmicrohttpd still read the turn's other
 * requests, it split the groups, 30 requests a journal fsync against 40
 * and ~9 us more CPU a request on the loaded machine) */
void gateway_pump_queue(gateway_pump_t *p, gateway_job_t *j)
{
    if (s_prepare(p, j))
        return;
    if (p->queue_tail)
        p->queue_tail->next = j;
    else
        p->queue = j;
    p->queue_tail = j;
    p->queued_ev += j->n_events;
}

/* gateway_pump_submit - from another thread: hand a job to the loop; its
 * done runs on the loop's thread (or on this one, when it is stopping) */
void gateway_pump_submit(gateway_pump_t *p, gateway_job_t *j)
{
    if (s_prepare(p, j))
        return;
    pthread_mutex_lock(&p->lock);
    if (p->stopped) {
        pthread_mutex_unlock(&p->lock);
        j->done(j, NULL, "the gateway is stopping", 0);
        return;
    }
    int was_empty = !p->inbox;
    if (p->inbox_tail)
        p->inbox_tail->next = j;
    else
        p->inbox = j;
    p->inbox_tail = j;
    pthread_mutex_unlock(&p->lock);
    uint64_t one = 1;
    if (was_empty && write(p->efd, &one, sizeof one) < 0)
        log_warn("event=pump_wake_failed error=\"%s\"", strerror(errno));
}

/* gateway_pump_run - on the loop's thread, each time round: the answers
 * (their jobs finished: *finished set), the jobs handed from other
 * threads, the deadline of what is in flight, then what queued goes; the
 * ms until it must run again, or -1 */
long long gateway_pump_run(gateway_pump_t *p, int *finished)
{
    p->finished = 0;
    if (p->mon)
        s_monitor_read(p);
    if (p->sock) {
        /* ZMQ_EVENTS also clears the signal on its descriptor */
        for (;;) {
            int ev = 0;
            size_t len = sizeof ev;
            if (zmq_getsockopt(p->sock, ZMQ_EVENTS, &ev, &len) || !(ev & ZMQ_POLLIN))
                break;
            wire_msg_t m;
            if (wire_recv(p->sock, 0, &m, ZMQ_DONTWAIT) < 0) {
                if (errno == EPROTO)
                    continue;
                break;
            }
            s_reply(p, &m);
            wire_msg_free(&m);
        }
    }
    uint64_t v;
    if (read(p->efd, &v, sizeof v) == (ssize_t)sizeof v) {
        pthread_mutex_lock(&p->lock);
        gateway_job_t *in = p->inbox;
        p->inbox = p->inbox_tail = NULL;
        pthread_mutex_unlock(&p->lock);
        while (in) {
            gateway_job_t *next = in->next;
            in->next = NULL;
            if (p->queue_tail)
                p->queue_tail->next = in;
            else
                p->queue = in;
            p->queue_tail = in;
            p->queued_ev += in->n_events;
            in = next;
        }
    }
    int64_t now = clock_mono_ms();
    if (p->flight && now - p->flight->sent_ms >= p->timeout_ms) {
        char why[80];
        snprintf(why, sizeof why, "the journal did not answer in %d ms", p->timeout_ms);
        log_warn("event=journal_timeout ms=%d", p->timeout_ms);
        s_connect(p, why);
    } else if (!p->sock) {
        s_connect(p, NULL);
    }
    s_take(p);
    *finished = p->finished;
    long long wait = -1;
    if (p->queue) { /* its oldest job's deadline, the next try, or the hold */
        wait = p->queue->queued_ms + p->timeout_ms - now;
        if (p->retry_at && p->retry_at - now < wait)
            wait = p->retry_at - now;
        if (p->hold_until && p->hold_until - now < wait)
            wait = p->hold_until - now;
        if (wait < 0)
            wait = 0;
    }
    if (p->flight) {
        long long left = p->flight->sent_ms + p->timeout_ms - now;
        if (wait < 0 || left < wait)
            wait = left;
    }
    if (!p->sock && (wait < 0 || wait > 100))
        wait = 100;
    /* a send may have taken the socket's signal of an answer that arrived
     * meanwhile (its descriptor is edge-triggered, and any operation on
     * the socket may clear it): asked again, an answer waiting is read
     * next turn, not after whatever next wakes the loop.  With two
     * messages in flight that was a stall: without the wait of
     * PUMP_HOLD_MS, 64 connections, one event each, 695 requests/s */
    if (p->sock && p->inflight) {
        int ev = 0;
        size_t len = sizeof ev;
        if (zmq_getsockopt(p->sock, ZMQ_EVENTS, &ev, &len) == 0 && (ev & ZMQ_POLLIN))
            wait = 0;
    }
    return wait < 0 ? -1 : wait;
}

/* gateway_pump_stop - on the loop's thread, last: every job not answered
 * fails (503), and the sockets close */
void gateway_pump_stop(gateway_pump_t *p)
{
    pthread_mutex_lock(&p->lock);
    p->stopped = 1;
    gateway_job_t *in = p->inbox;
    p->inbox = p->inbox_tail = NULL;
    pthread_mutex_unlock(&p->lock);
    for (gateway_job_t *j = p->flight, *next; j; j = next) {
        next = j->next;
        s_finish(p, j, NULL, "the gateway is stopping", 0);
    }
    p->flight = p->flight_tail = NULL;
    p->inflight = 0;
    for (gateway_job_t *q = p->queue; q;) {
        gateway_job_t *next = q->next;
        s_finish(p, q, NULL, "the gateway is stopping", 0);
        q = next;
    }
    p->queue = p->queue_tail = NULL;
    while (in) {
        gateway_job_t *next = in->next;
        s_finish(p, in, NULL, "the gateway is stopping", 0);
        in = next;
    }
    s_close(p);
}

/* gateway_pump_connected - whether the pump's DEALER is connected to the
 * journal now (any thread) */
int gateway_pump_connected(gateway_pump_t *p)
{
    return p && atomic_load(&p->connected);
}

/* gateway_pump_destroy - free a stopped pump (its loop has ended) */
void gateway_pump_destroy(gateway_pump_t **p_p)
{
    gateway_pump_t *p = *p_p;
    if (!p)
        return;
    s_close(p);
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
 * worker's: the HTTP loops never wait), through the loops' pumps in turn */
json_t *gateway_append(gateway_t *gw, const json_t *events, char *err, int *refused)
{
    s_waiter_t w = {.job = {.events = (json_t *)events, .done = s_wake}};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cv, NULL);
    static atomic_uint next;
    gateway_pump_submit(gw->pumps[atomic_fetch_add(&next, 1) % gw->n_pumps], &w.job);
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
