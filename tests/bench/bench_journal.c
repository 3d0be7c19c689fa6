/*
 * bench_journal.c - load hark-journal with JOURNAL_APPEND over ZeroMQ and
 * count what it acknowledges.
 *
 * T threads, each with its own DEALER connected to the journal's ROUTER,
 * keep W requests in flight (pipelined: each has its own request id, and a
 * new one is sent as soon as a reply arrives).  Every request is a batch of
 * B events of type "customer" with a unique key and a ~200-byte payload.
 * With -m M, every request is instead M batches of B events each, in the
 * batched form {"batches":[{"events":[...]}, ...]} a gateway coalescing its
 * clients' requests sends, and its reply must hold M results that pass the
 * same checks.
 *
 * Only JOURNAL_APPEND_OK replies count, and only when the reply carries as
 * many offsets as the request had events, every offset >= 1, consecutive
 * within the batch, and no event marked duplicate (keys are unique, so a
 * duplicate would mean an event was stored twice).  Anything else is an
 * error and is reported.
 *
 * Timeline: warm-up (counted nowhere), then the measured window (events
 * whose OK arrives inside it count towards events/s), then no new requests
 * and the ones in flight are drained, so that "sent" and "acknowledged" can
 * be compared at the end.
 *
 * With -p the main thread also subscribes to the journal's PUB socket and
 * counts JOURNAL_HEAD messages inside the window: one per committed
 * transaction, so events/commit shows how well group commit batches.
 *
 * Prints one JSON object on stdout.
 *
 * usage: bench_journal -e ENDPOINT [-p PUB_ENDPOINT] [-t THREADS] [-w WINDOW]
 *                      [-b BATCH] [-d SECONDS] [-u WARMUP_SECONDS] [-k KEY_PREFIX]
 *                      [-V WIRE_VERSION] [-r] [-m BATCHES_PER_MESSAGE]
 *
 * -c CUSTOMERS: the events' customer ids cycle over that many customers
 * (c0 .. cN-1, the same in every thread), instead of each event being a new
 * customer: returning customers, whose data keys the journal has already.
 *
 * -r: random keys "gw:<32 hex digits>" (keys in no order; the form
 * hark-gateway gave events that carry no id before its keys became
 * time-ordered), instead of the default "<prefix>-<thread>-<n>" (ascending
 * within each connection, like the gateway's keys now).
 *
 * WIRE_VERSION is the first word of every header ("hark/1" unless told):
 * proto/commands.json "version", which the binaries are built with.
 *
 * Built by tests/bench/run.py:
 *   cc -O2 -std=c11 bench_journal.c $(pkg-config --cflags --libs libzmq jansson) -lpthread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_THREADS 256
#define MAX_WINDOW 1024
#define DRAIN_SECONDS 15.0

typedef struct {
    /* set by main */
    int id;
    /* results */
    uint64_t sent_req, sent_events;
    uint64_t ok_req, ok_events;          /* every OK, warm-up and drain included */
    uint64_t win_req, win_events;        /* OKs inside the measured window */
    uint64_t err_replies, bad_replies;   /* ERROR replies, OKs that failed a check */
    uint64_t unmatched;                  /* replies with an unknown request id */
    uint64_t lost;                       /* still in flight when the drain gave up */
    uint64_t rng;                        /* -r key generator state */
    uint32_t *lat_us;                    /* latencies of OKs inside the window */
    size_t n_lat, cap_lat;
    char first_error[256];
    int failed;                          /* socket-level failure */
} worker_t;

static const char *g_endpoint;
static int g_threads = 1, g_window = 1, g_batch = 1;
static int g_batches;     /* -m: batches per message, 0 for the {"events"} form */
static int g_req_events;  /* events per request: B, or M * B */
static double g_seconds = 5, g_warmup = 1;
static unsigned long long g_customers; /* -c: customer ids cycle over this many (0: all new) */
static const char *g_prefix = "bench";
static const char *g_version = "hark/1";
static int g_random_keys;
static void *g_zctx;
static double g_t_start, g_t_win0, g_t_win1; /* monotonic seconds */
static atomic_int g_go, g_stop;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* s_rand - xorshift64*: random enough for keys, and cheap */
static uint64_t s_rand(uint64_t *st)
{
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* s_build - the JSON body of one request: B events with unique keys, or M
   batches of them */
static size_t s_build(char *buf, size_t cap, int tid, uint64_t seq, uint64_t *rng)
{
    size_t n = 0;
    int m = g_batches ? g_batches : 1;
    n += (size_t)snprintf(buf + n, cap - n, g_batches ? "{\"batches\":[" : "");
    for (int k = 0; k < m && n < cap; k++) {
        n += (size_t)snprintf(buf + n, cap - n, "%s{\"events\":[", k ? "," : "");
        for (int i = 0; i < g_batch; i++) {
            unsigned long long c = (unsigned long long)seq * (unsigned long long)g_req_events +
                                   (unsigned long long)(k * g_batch + i);
            char key[80];
            if (g_random_keys) {
                unsigned long long a = s_rand(rng), b = s_rand(rng);
                snprintf(key, sizeof key, "gw:%016llx%016llx", a, b);
            } else {
                snprintf(key, sizeof key, "%s-%d-%llu", g_prefix, tid, c);
            }
            n += (size_t)snprintf(
                buf + n, cap - n,
                "%s{\"type\":\"customer\",\"key\":\"%s\",\"payload\":"
                "{\"id\":\"c%d-%llu\",\"email\":\"customer.%d.%llu@example.com\","
                "\"name\":\"Customer Number %llu\",\"locale\":\"en-GB\","
                "\"timezone\":\"Europe/London\",\"signup_date\":\"2024-01-31\","
                "\"attributes\":{\"plan\":\"gold\",\"source\":\"bench\",\"visits\":%llu,"
                "\"newsletter\":true}}}",
                i ? "," : "", key, g_customers ? 0 : tid, g_customers ? c % g_customers : c,
                g_customers ? 0 : tid, g_customers ? c % g_customers : c, c, c % 1000);
            if (n >= cap)
                return 0;
        }
        n += (size_t)snprintf(buf + n, cap - n, "]}");
    }
    if (n < cap)
        n += (size_t)snprintf(buf + n, cap - n, g_batches ? "]}" : "");
    return n < cap ? n : 0;
}

/* s_check_batch - {"offsets","duplicates"} for a batch of B: 0 when it holds */
static int s_check_batch(const json_t *j, char *why, size_t why_len)
{
    json_t *off = json_object_get(j, "offsets"), *dup = json_object_get(j, "duplicates");
    int bad = 0;
    if (!json_is_array(off) || !json_is_array(dup)) {
        snprintf(why, why_len, "reply has no offsets/duplicates arrays");
        bad = 1;
    } else if ((int)json_array_size(off) != g_batch || (int)json_array_size(dup) != g_batch) {
        snprintf(why, why_len, "reply has %zu offsets for %d events", json_array_size(off),
                 g_batch);
        bad = 1;
    } else {
        json_int_t prev = 0;
        for (int i = 0; i < g_batch && !bad; i++) {
            json_int_t o = json_integer_value(json_array_get(off, (size_t)i));
            if (o < 1 || (i && o != prev + 1)) {
                snprintf(why, why_len, "offsets not consecutive and >= 1");
                bad = 1;
            }
            if (json_is_true(json_array_get(dup, (size_t)i))) {
                snprintf(why, why_len, "event with a unique key reported duplicate");
                bad = 1;
            }
            prev = o;
        }
    }
    return bad;
}

/* s_check_ok - a JOURNAL_APPEND_OK body for one request: 0 when it holds */
static int s_check_ok(const char *body, size_t len, char *why, size_t why_len)
{
    json_error_t jerr;
    json_t *j = json_loadb(body, len, 0, &jerr);
    int bad = 0;
    if (!g_batches) {
        bad = s_check_batch(j, why, why_len);
    } else {
        json_t *results = json_object_get(j, "results");
        if ((int)json_array_size(results) != g_batches) {
            snprintf(why, why_len, "reply has %zu results for %d batches",
                     json_array_size(results), g_batches);
            bad = 1;
        }
        for (int k = 0; k < g_batches && !bad; k++)
            bad = s_check_batch(json_array_get(results, (size_t)k), why, why_len);
    }
    json_decref(j);
    return bad;
}

static void s_lat_push(worker_t *w, double seconds)
{
    if (w->n_lat == w->cap_lat) {
        size_t cap = w->cap_lat ? w->cap_lat * 2 : 4096;
        uint32_t *p = realloc(w->lat_us, cap * sizeof *p);
        if (!p)
            return;
        w->lat_us = p;
        w->cap_lat = cap;
    }
    double us = seconds * 1e6;
    w->lat_us[w->n_lat++] = us > 4e9 ? 4000000000u : (uint32_t)us;
}

typedef struct {
    uint64_t reqid;
    double sent;
} slot_t;

/* s_send - one request; 0 or -1 */
static int s_send(void *sock, worker_t *w, slot_t *slot, char *buf, size_t cap)
{
    uint64_t seq = w->sent_req;
    size_t len = s_build(buf, cap, w->id, seq, &w->rng);
    if (!len)
        return -1;
    char hdr[64];
    uint64_t reqid = seq + 1;
    int hl = snprintf(hdr, sizeof hdr, "%s JOURNAL_APPEND %" PRIu64, g_version, reqid);
    slot->reqid = reqid;
    slot->sent = s_now();
    if (zmq_send(sock, hdr, (size_t)hl, ZMQ_SNDMORE) < 0 || zmq_send(sock, buf, len, 0) < 0)
        return -1;
    w->sent_req++;
    w->sent_events += (uint64_t)g_req_events;
    return 0;
}

static void *s_worker(void *arg)
{
    worker_t *w = arg;
    void *sock = zmq_socket(g_zctx, ZMQ_DEALER);
    int linger = 0, hwm = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_connect(sock, g_endpoint) < 0) {
        snprintf(w->first_error, sizeof w->first_error, "connect: %s", zmq_strerror(errno));
        w->failed = 1;
        zmq_close(sock);
        return NULL;
    }
    size_t cap = (size_t)g_req_events * 512 + (size_t)g_batches * 32 + 64;
    char *buf = malloc(cap);
    slot_t *slots = calloc((size_t)g_window, sizeof *slots);
    if (!buf || !slots) {
        w->failed = 1;
        goto out;
    }
    while (!atomic_load(&g_go))
        usleep(1000);
    int inflight = 0;
    for (int i = 0; i < g_window; i++) {
        if (s_send(sock, w, &slots[i], buf, cap) < 0) {
            snprintf(w->first_error, sizeof w->first_error, "send failed");
            w->failed = 1;
            goto out;
        }
        inflight++;
    }
    double drain_until = 0;
    zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
    while (inflight > 0) {
        int stopping = atomic_load(&g_stop);
        if (stopping && drain_until == 0)
            drain_until = s_now() + DRAIN_SECONDS;
        if (drain_until && s_now() > drain_until) {
            w->lost = (uint64_t)inflight;
            if (!w->first_error[0])
                snprintf(w->first_error, sizeof w->first_error,
                         "%d requests unanswered %.0f s after the window", inflight,
                         DRAIN_SECONDS);
            break;
        }
        item.revents = 0;
        if (zmq_poll(&item, 1, 100) < 0 && errno != EINTR)
            break;
        if (!(item.revents & ZMQ_POLLIN))
            continue;
        zmq_msg_t hdr, body;
        zmq_msg_init(&hdr);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&hdr, sock, 0) < 0 || !zmq_msg_more(&hdr) ||
            zmq_msg_recv(&body, sock, 0) < 0) {
            zmq_msg_close(&hdr);
            zmq_msg_close(&body);
            w->bad_replies++;
            continue;
        }
        double now = s_now();
        char h[96];
        size_t hl = zmq_msg_size(&hdr) < sizeof h - 1 ? zmq_msg_size(&hdr) : sizeof h - 1;
        memcpy(h, zmq_msg_data(&hdr), hl);
        h[hl] = '\0';
        char ver[32] = "", cmd[48] = "";
        uint64_t reqid = 0;
        if (sscanf(h, "%31s %47s %" SCNu64, ver, cmd, &reqid) != 3 ||
            strcmp(ver, g_version) != 0) {
            w->bad_replies++;
        } else {
            int s = -1;
            for (int i = 0; i < g_window; i++)
                if (slots[i].reqid == reqid) {
                    s = i;
                    break;
                }
            if (s < 0) {
                w->unmatched++;
            } else {
                char why[200];
                if (strcmp(cmd, "JOURNAL_APPEND_OK") != 0) {
                    w->err_replies++;
                    if (!w->first_error[0])
                        snprintf(w->first_error, sizeof w->first_error, "%s %.*s", cmd,
                                 (int)(zmq_msg_size(&body) < 200 ? zmq_msg_size(&body) : 200),
                                 (const char *)zmq_msg_data(&body));
                } else if (s_check_ok(zmq_msg_data(&body), zmq_msg_size(&body), why,
                                      sizeof why)) {
                    w->bad_replies++;
                    if (!w->first_error[0])
                        snprintf(w->first_error, sizeof w->first_error, "%s", why);
                } else {
                    w->ok_req++;
                    w->ok_events += (uint64_t)g_req_events;
                    if (now >= g_t_win0 && now < g_t_win1) {
                        w->win_req++;
                        w->win_events += (uint64_t)g_req_events;
                        s_lat_push(w, now - slots[s].sent);
                    }
                }
                inflight--;
                slots[s].reqid = 0;
                if (!atomic_load(&g_stop)) {
                    if (s_send(sock, w, &slots[s], buf, cap) < 0) {
                        w->failed = 1;
                        break;
                    }
                    inflight++;
                }
            }
        }
        zmq_msg_close(&hdr);
        zmq_msg_close(&body);
    }
out:
    free(buf);
    free(slots);
    zmq_close(sock);
    return NULL;
}

static int s_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double s_pct(const uint32_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

int main(int argc, char **argv)
{
    const char *pub = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "e:p:t:w:b:d:u:k:V:rm:c:")) != -1) {
        switch (opt) {
        case 'e': g_endpoint = optarg; break;
        case 'p': pub = optarg; break;
        case 't': g_threads = atoi(optarg); break;
        case 'w': g_window = atoi(optarg); break;
        case 'b': g_batch = atoi(optarg); break;
        case 'd': g_seconds = atof(optarg); break;
        case 'u': g_warmup = atof(optarg); break;
        case 'k': g_prefix = optarg; break;
        case 'V': g_version = optarg; break;
        case 'r': g_random_keys = 1; break;
        case 'm': g_batches = atoi(optarg); break;
        case 'c': g_customers = strtoull(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: %s -e ENDPOINT [-p PUB] [-t T] [-w W] [-b B] [-d S] "
                            "[-u WARMUP] [-k PREFIX] [-V VERSION] [-r] [-m M] [-c CUSTOMERS]\n", argv[0]);
            return 2;
        }
    }
    if (!g_endpoint || g_threads < 1 || g_threads > MAX_THREADS || g_window < 1 ||
        g_window > MAX_WINDOW || g_batch < 1 || g_batch > 100000 || g_seconds <= 0 ||
        g_warmup < 0 || g_batches < 0 || g_batches > 4096 ||
        (long)g_batch * (g_batches ? g_batches : 1) > 100000) {
        fprintf(stderr, "bench_journal: bad arguments\n");
        return 2;
    }
    g_req_events = g_batch * (g_batches ? g_batches : 1);
    g_zctx = zmq_ctx_new();
    void *sub = NULL;
    if (pub) {
        sub = zmq_socket(g_zctx, ZMQ_SUB);
        int linger = 0, hwm = 0;
        zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
        char topic[64];
        int tl = snprintf(topic, sizeof topic, "%s JOURNAL_HEAD", g_version);
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, topic, (size_t)tl);
        zmq_connect(sub, pub);
    }
    worker_t *ws = calloc((size_t)g_threads, sizeof *ws);
    pthread_t *th = calloc((size_t)g_threads, sizeof *th);
    if (!ws || !th)
        return 1;
    for (int i = 0; i < g_threads; i++) {
        ws[i].id = i;
        ws[i].rng = (0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1)) ^ (uint64_t)time(NULL) ^
                    ((uint64_t)getpid() << 32);
        if (pthread_create(&th[i], NULL, s_worker, &ws[i])) {
            fprintf(stderr, "bench_journal: pthread_create failed\n");
            return 1;
        }
    }
    usleep(300 * 1000); /* connections up, subscription through (slow joiner) */
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    g_t_start = s_now();
    g_t_win0 = g_t_start + g_warmup;
    g_t_win1 = g_t_win0 + g_seconds;
    atomic_store(&g_go, 1);
    /* count commits (JOURNAL_HEAD) while the window is open */
    uint64_t commits = 0;
    long long head0 = -1, head1 = -1;
    for (;;) {
        double now = s_now();
        if (now >= g_t_win1)
            break;
        if (!sub) {
            double left = g_t_win1 - now;
            usleep((useconds_t)(left > 0.05 ? 50000 : left * 1e6));
            continue;
        }
        zmq_pollitem_t it = {sub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 50) <= 0)
            continue;
        zmq_msg_t m;
        zmq_msg_init(&m);
        int more = 1;
        char body[128] = "";
        while (more) {
            if (zmq_msg_recv(&m, sub, 0) < 0)
                break;
            more = zmq_msg_more(&m);
            if (!more) {
                size_t n = zmq_msg_size(&m) < sizeof body - 1 ? zmq_msg_size(&m) : sizeof body - 1;
                memcpy(body, zmq_msg_data(&m), n);
                body[n] = '\0';
            }
        }
        zmq_msg_close(&m);
        double t = s_now();
        const char *p = strstr(body, "\"head\":");
        long long head = p ? atoll(p + 7) : -1;
        if (t < g_t_win0) {
            head0 = head;
            continue;
        }
        commits++;
        head1 = head;
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < g_threads; i++)
        pthread_join(th[i], NULL);
    double t_end = s_now();
    getrusage(RUSAGE_SELF, &ru1);
    if (sub)
        zmq_close(sub);
    zmq_ctx_term(g_zctx);

    worker_t tot = {0};
    size_t n_lat = 0;
    int failed = 0;
    const char *first_error = "";
    for (int i = 0; i < g_threads; i++) {
        tot.sent_req += ws[i].sent_req;
        tot.sent_events += ws[i].sent_events;
        tot.ok_req += ws[i].ok_req;
        tot.ok_events += ws[i].ok_events;
        tot.win_req += ws[i].win_req;
        tot.win_events += ws[i].win_events;
        tot.err_replies += ws[i].err_replies;
        tot.bad_replies += ws[i].bad_replies;
        tot.unmatched += ws[i].unmatched;
        tot.lost += ws[i].lost;
        n_lat += ws[i].n_lat;
        failed |= ws[i].failed;
        if (!*first_error && ws[i].first_error[0])
            first_error = ws[i].first_error;
    }
    uint32_t *lat = malloc((n_lat ? n_lat : 1) * sizeof *lat);
    size_t k = 0;
    for (int i = 0; i < g_threads; i++) {
        if (lat && ws[i].n_lat)
            memcpy(lat + k, ws[i].lat_us, ws[i].n_lat * sizeof *lat);
        k += ws[i].n_lat;
        free(ws[i].lat_us);
    }
    if (lat)
        qsort(lat, n_lat, sizeof *lat, s_cmp_u32);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    /* every event sent must have been acknowledged once the drain is over */
    int verified = !failed && tot.ok_events == tot.sent_events && tot.err_replies == 0 &&
                   tot.bad_replies == 0 && tot.unmatched == 0 && tot.lost == 0;
    json_t *out = json_pack(
        "{s:s,s:i,s:i,s:i,s:f,s:f,"
        "s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
        "s:f,s:f,s:{s:f,s:f,s:f,s:f,s:f},s:f,s:f,s:b,s:s}",
        "keys", g_random_keys ? "random" : "sequential", "threads", g_threads, "window", g_window, "batch", g_batch, "warmup_s", g_warmup,
        "window_s", g_seconds,
        "sent_requests", (json_int_t)tot.sent_req, "sent_events", (json_int_t)tot.sent_events,
        "acked_requests", (json_int_t)tot.ok_req, "acked_events", (json_int_t)tot.ok_events,
        "window_requests", (json_int_t)tot.win_req, "window_events",
        (json_int_t)tot.win_events, "error_replies", (json_int_t)tot.err_replies,
        "bad_replies", (json_int_t)tot.bad_replies, "unmatched_replies",
        (json_int_t)tot.unmatched, "lost_in_flight", (json_int_t)tot.lost,
        "events_per_s", (double)tot.win_events / g_seconds,
        "requests_per_s", (double)tot.win_req / g_seconds,
        "latency_ms", "p50", lat ? s_pct(lat, n_lat, 0.50) : 0.0, "p90",
        lat ? s_pct(lat, n_lat, 0.90) : 0.0, "p99", lat ? s_pct(lat, n_lat, 0.99) : 0.0,
        "max", lat && n_lat ? (double)lat[n_lat - 1] / 1000.0 : 0.0, "mean",
        0.0, "client_cpu_s", cpu, "total_s", t_end - g_t_start,
        "verified", verified, "first_error", first_error);
    json_object_set_new(out, "batches_per_message", json_integer(g_batches));
    if (lat && n_lat) {
        double sum = 0;
        for (size_t i = 0; i < n_lat; i++)
            sum += lat[i];
        json_object_set_new(json_object_get(out, "latency_ms"), "mean",
                            json_real(sum / (double)n_lat / 1000.0));
    }
    if (sub) {
        json_object_set_new(out, "commits", json_integer((json_int_t)commits));
        json_object_set_new(out, "commits_per_s", json_real((double)commits / g_seconds));
        json_object_set_new(out, "events_per_commit",
                            json_real(commits ? (double)tot.win_events / (double)commits : 0));
        json_object_set_new(out, "head_before_window", json_integer(head0));
        json_object_set_new(out, "head_at_window_end", json_integer(head1));
    }
    char *s = json_dumps(out, JSON_COMPACT);
    puts(s ? s : "{}");
    free(s);
    json_decref(out);
    free(lat);
    free(ws);
    free(th);
    return verified ? 0 : 1;
}
