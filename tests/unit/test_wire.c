/*
 * test_wire.c - unit tests for services/common/wire.c.
 *
 * Real ZeroMQ sockets: DEALER/ROUTER pairs over inproc:// and ipc:// (in a
 * temp dir).  Framing round trips, strict decoding of every malformed shape
 * (each rejected with EPROTO, the socket still good for the next message),
 * and wire_client_call against a ROUTER served by a thread that can answer
 * normally, twice, with a wrong request id, with garbage, or not at all.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zmq.h>

#include "clock.h"
#include "unit.h"
#include "wire.h"

static void *s_ctx;
static char s_dir[64];

/* s_rm - nftw callback removing one entry */
static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* s_socket - a socket with linger 0 (and a routing id when given) */
static void *s_socket(int type, const char *routing_id)
{
    void *s = zmq_socket(s_ctx, type);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (routing_id)
        zmq_setsockopt(s, ZMQ_ROUTING_ID, routing_id, strlen(routing_id));
    return s;
}

/* s_send_frames - send n raw text frames as one message */
static int s_send_frames(void *sock, const char *const *frames, int n)
{
    for (int i = 0; i < n; i++)
        if (zmq_send(sock, frames[i], strlen(frames[i]), i < n - 1 ? ZMQ_SNDMORE : 0) < 0)
            return -1;
    return 0;
}

/* s_wait_in - poll sock for input up to ms; 1 when readable */
static int s_wait_in(void *sock, int ms)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    return zmq_poll(&it, 1, ms) > 0 && (it.revents & ZMQ_POLLIN);
}

/* s_pair - ROUTER bound and DEALER connected on endpoint; the router has
 * already heard from the dealer (so it can route to "dealer-1") */
static int s_pair(const char *endpoint, void **router, void **dealer)
{
    *router = s_socket(ZMQ_ROUTER, NULL);
    *dealer = s_socket(ZMQ_DEALER, "dealer-1");
    if (zmq_bind(*router, endpoint) || zmq_connect(*dealer, endpoint))
        return -1;
    if (wire_send(*dealer, NULL, 0, "HELLO", 1, NULL, 0, 0))
        return -1;
    wire_msg_t m;
    if (!s_wait_in(*router, 2000) || wire_recv(*router, 1, &m, 0))
        return -1;
    wire_msg_free(&m);
    return 0;
}

/* s_close_pair - close both */
static void s_close_pair(void *router, void *dealer)
{
    zmq_close(router);
    zmq_close(dealer);
}

static void test_dealer_router_round_trip_inproc(void)
{
    void *router, *dealer;
    CHECK_INT(s_pair("inproc://round-trip", &router, &dealer), 0);

    const char *body = "{\"a\":1,\"s\":\"x y\"}";
    CHECK_INT(wire_send(dealer, NULL, 0, "JOURNAL_FETCH", 18446744073709551614ULL, body,
                        strlen(body), 0),
              0);
    wire_msg_t m;
    CHECK(s_wait_in(router, 2000));
    CHECK_INT(wire_recv(router, 1, &m, 0), 0);
    CHECK_STR(m.cmd, "JOURNAL_FETCH");
    CHECK(m.reqid == 18446744073709551614ULL);
    CHECK_INT(m.ident_len, 8);
    CHECK(memcmp(m.ident, "dealer-1", 8) == 0);
    CHECK_STR(m.body, body);
    CHECK_INT(m.body_len, strlen(body));
    json_t *j = wire_body_json(&m);
    CHECK(json_is_object(j));
    CHECK_INT(json_integer_value(json_object_get(j, "a")), 1);
    json_decref(j);

    /* the reply goes back to the same peer with the same request id */
    CHECK_INT(wire_reply(router, &m, "JOURNAL_FETCH_OK", "{\"ok\":true}", 11), 0);
    wire_msg_free(&m);
    CHECK(m.body == NULL);
    wire_msg_t r;
    CHECK(s_wait_in(dealer, 2000));
    CHECK_INT(wire_recv(dealer, 0, &r, 0), 0);
    CHECK_STR(r.cmd, "JOURNAL_FETCH_OK");
    CHECK(r.reqid == 18446744073709551614ULL);
    CHECK_INT(r.ident_len, 0);
    CHECK_STR(r.body, "{\"ok\":true}");
    wire_msg_free(&r);
    s_close_pair(router, dealer);
}

static void test_round_trip_over_ipc_and_null_body_is_empty_object(void)
{
    char ep[128];
    snprintf(ep, sizeof ep, "ipc://%s/wire.sock", s_dir);
    void *router, *dealer;
    CHECK_INT(s_pair(ep, &router, &dealer), 0);
    CHECK_INT(wire_send(dealer, NULL, 0, "SERVICE_STATUS", 0, NULL, 0, 0), 0);
    wire_msg_t m;
    CHECK(s_wait_in(router, 2000));
    CHECK_INT(wire_recv(router, 1, &m, 0), 0);
    CHECK_STR(m.cmd, "SERVICE_STATUS");
    CHECK(m.reqid == 0);
    CHECK_STR(m.body, "{}");
    CHECK_INT(m.body_len, 2);
    wire_msg_free(&m);
    s_close_pair(router, dealer);
}

static void test_every_reqid_round_trips_up_to_uint64_max(void)
{
    void *router, *dealer;
    CHECK_INT(s_pair("inproc://reqids", &router, &dealer), 0);
    const uint64_t ids[] = {0, 1, 9, 10, 4294967296ULL, 1844674407370955161ULL,
                            18446744073709551609ULL, 18446744073709551610ULL,
                            18446744073709551615ULL};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        CHECK_INT(wire_send(dealer, NULL, 0, "PING", ids[i], NULL, 0, 0), 0);
        wire_msg_t m;
        CHECK(s_wait_in(router, 2000));
        CHECK_INT(wire_recv(router, 1, &m, 0), 0);
        if (m.reqid != ids[i])
            fprintf(stderr, "  reqid %llu came back as %llu\n", (unsigned long long)ids[i],
                    (unsigned long long)m.reqid);
        CHECK(m.reqid == ids[i]);
        wire_msg_free(&m);
    }
    s_close_pair(router, dealer);
}

static void test_header_frame_is_exact_text(void)
{
    void *router, *dealer;
    CHECK_INT(s_pair("inproc://header-text", &router, &dealer), 0);
    CHECK_INT(wire_send(dealer, NULL, 0, "JOURNAL_HEAD", 77, "{}", 2, 0), 0);
    char frames[3][64];
    int more = 0, n = 0;
    size_t sz = sizeof more;
    CHECK(s_wait_in(router, 2000));
    do {
        int len = zmq_recv(router, frames[n], sizeof frames[n] - 1, 0);
        CHECK(len >= 0);
        frames[n][len < 0 ? 0 : len] = '\0';
        n++;
        zmq_getsockopt(router, ZMQ_RCVMORE, &more, &sz);
    } while (more && n < 3);
    CHECK_INT(n, 3);
    CHECK_STR(frames[0], "dealer-1");
    CHECK_STR(frames[1], HARK_WIRE_VERSION " JOURNAL_HEAD 77");
    CHECK_STR(frames[2], "{}");
    s_close_pair(router, dealer);
}

static void test_recv_dontwait_on_empty_socket_is_eagain(void)
{
    void *router, *dealer;
    CHECK_INT(s_pair("inproc://eagain", &router, &dealer), 0);
    wire_msg_t m;
    errno = 0;
    CHECK_INT(wire_recv(router, 1, &m, ZMQ_DONTWAIT), -1);
    CHECK_INT(errno, EAGAIN);
    errno = 0;
    CHECK_INT(wire_recv(dealer, 0, &m, ZMQ_DONTWAIT), -1);
    CHECK_INT(errno, EAGAIN);
    s_close_pair(router, dealer);
}

static void test_send_refuses_overlong_command(void)
{
    void *router, *dealer;
    CHECK_INT(s_pair("inproc://long-cmd", &router, &dealer), 0);
    char cmd[100];
    memset(cmd, 'A', 99);
    cmd[99] = '\0';
    errno = 0;
    CHECK_INT(wire_send(dealer, NULL, 0, cmd, 1, NULL, 0, 0), -1);
    CHECK_INT(errno, EINVAL);
    /* nothing half-sent: the router sees nothing */
    CHECK(!s_wait_in(router, 50));
    s_close_pair(router, dealer);
}

/* the malformed messages, each as frames after any identity */
static const struct {
    const char *name;
    const char *frames[4];
    int n;
} s_bad[] = {
    {"wrong version", {"hark/0 X 1", "{}"}, 2},
    {"no version", {"PING 1", "{}"}, 2},
    {"missing reqid", {HARK_WIRE_VERSION " PING", "{}"}, 2},
    {"empty reqid", {HARK_WIRE_VERSION " PING ", "{}"}, 2},
    {"lowercase command", {HARK_WIRE_VERSION " ping 1", "{}"}, 2},
    {"mixed-case command", {HARK_WIRE_VERSION " Ping 1", "{}"}, 2},
    {"digit in command", {HARK_WIRE_VERSION " PING2 1", "{}"}, 2},
    {"double space", {HARK_WIRE_VERSION "  PING 1", "{}"}, 2},
    {"negative reqid", {HARK_WIRE_VERSION " PING -1", "{}"}, 2},
    {"reqid with junk", {HARK_WIRE_VERSION " PING 12x", "{}"}, 2},
    {"reqid with trailing space", {HARK_WIRE_VERSION " PING 12 ", "{}"}, 2},
    {"reqid overflows", {HARK_WIRE_VERSION " PING 99999999999999999999", "{}"}, 2},
    {"reqid is 2^64", {HARK_WIRE_VERSION " PING 18446744073709551616", "{}"}, 2},
    {"empty header", {"", "{}"}, 2},
    {"header only", {HARK_WIRE_VERSION " PING 1"}, 1},
    {"extra frame", {HARK_WIRE_VERSION " PING 1", "{}", "extra"}, 3},
    {"two extra frames", {HARK_WIRE_VERSION " PING 1", "{}", "x", "y"}, 4},
};

/* s_check_bad_then_good - every bad shape is EPROTO, then a good message is
 * received whole: nothing of the bad one is left in the socket */
static void s_check_bad_then_good(void *from, int from_router, void *to, int to_router)
{
    for (size_t i = 0; i < sizeof s_bad / sizeof *s_bad; i++) {
        const char *frames[5];
        int n = 0;
        if (from_router)
            frames[n++] = "dealer-1";
        for (int k = 0; k < s_bad[i].n; k++)
            frames[n++] = s_bad[i].frames[k];
        CHECK_INT(s_send_frames(from, frames, n), 0);
        CHECK_INT(wire_send(from, from_router ? "dealer-1" : NULL, from_router ? 8 : 0,
                            "GOOD", 1000 + i, "{\"i\":1}", 7, 0),
                  0);
        wire_msg_t m;
        CHECK(s_wait_in(to, 2000));
        errno = 0;
        int rc = wire_recv(to, to_router, &m, ZMQ_DONTWAIT);
        int e = errno;
        if (rc != -1 || e != EPROTO)
            fprintf(stderr, "  %s: accepted or wrong errno (rc %d errno %d)\n",
                    s_bad[i].name, rc, e);
        CHECK_INT(rc, -1);
        CHECK_INT(e, EPROTO);
        CHECK(m.body == NULL);
        if (rc == 0)
            wire_msg_free(&m);
        CHECK(s_wait_in(to, 2000));
        CHECK_INT(wire_recv(to, to_router, &m, ZMQ_DONTWAIT), 0);
        CHECK_STR(m.cmd, "GOOD");
        CHECK(m.reqid == 1000 + i);
        CHECK_STR(m.body, "{\"i\":1}");
        wire_msg_free(&m);
    }
    /* and nothing else is waiting */
    CHECK(!s_wait_in(to, 20));
}

static void test_router_rejects_malformed_and_keeps_going(void)
{
    void *router, *dealer;
    CHECK_INT(s_pair("inproc://strict-router", &router, &dealer), 0);
    s_check_bad_then_good(dealer, 0, router, 1);
    s_close_pair(router, dealer);
}

static void test_dealer_rejects_malformed_and_keeps_going(void)
{
    void *router, *dealer;
    CHECK_INT(s_pair("inproc://strict-dealer", &router, &dealer), 0);
    s_check_bad_then_good(router, 1, dealer, 0);
    s_close_pair(router, dealer);
}

static void test_body_json_must_be_one_object(void)
{
    static const struct {
        const char *body;
        int ok;
    } cases[] = {
        {"{}", 1}, {"{\"a\":[1,2]}", 1}, {"[1]", 0}, {"\"s\"", 0}, {"42", 0},
        {"{", 0}, {"", 0}, {"{\"a\":1,\"a\":2}", 0}, {"{} {}", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        wire_msg_t m = {.body = (char *)cases[i].body, .body_len = strlen(cases[i].body)};
        json_t *j = wire_body_json(&m);
        if ((j != NULL) != cases[i].ok)
            fprintf(stderr, "  body %s\n", cases[i].body);
        CHECK((j != NULL) == cases[i].ok);
        json_decref(j);
    }
    wire_msg_t none = {0};
    CHECK(wire_body_json(&none) == NULL);
}

static void test_reply_error_body_shape(void)
{
    void *router, *dealer;
    CHECK_INT(s_pair("inproc://reply-error", &router, &dealer), 0);
    CHECK_INT(wire_send(dealer, NULL, 0, "JOURNAL_APPEND", 9, "{}", 2, 0), 0);
    wire_msg_t m, r;
    CHECK(s_wait_in(router, 2000));
    CHECK_INT(wire_recv(router, 1, &m, 0), 0);
    CHECK_INT(wire_reply_error(router, &m, "bad_request", "events: \"x\" is not \\ ok"), 0);
    wire_msg_free(&m);
    CHECK(s_wait_in(dealer, 2000));
    CHECK_INT(wire_recv(dealer, 0, &r, 0), 0);
    CHECK_STR(r.cmd, "ERROR");
    CHECK(r.reqid == 9);
    json_t *j = wire_body_json(&r);
    CHECK(json_is_object(j));
    CHECK_INT(json_object_size(j), 1);
    json_t *err = json_object_get(j, "error");
    CHECK(json_is_object(err));
    CHECK_INT(json_object_size(err), 2);
    CHECK_STR(json_string_value(json_object_get(err, "code")), "bad_request");
    CHECK_STR(json_string_value(json_object_get(err, "message")),
              "events: \"x\" is not \\ ok");
    json_decref(j);
    wire_msg_free(&r);
    s_close_pair(router, dealer);
}

/* --- wire_client_call against a served ROUTER ------------------------------ */

enum { SERVE_ECHO, SERVE_TWICE, SERVE_WRONG_ID_FIRST, SERVE_GARBAGE_FIRST,
       SERVE_LATE, SERVE_ERROR, SERVE_NEVER };

typedef struct {
    void *router;
    int mode;
    atomic_int stop;
    int served;
    uint64_t reqids[16];
    pthread_t thread;
} s_server_t;

/* s_serve_one - answer m the way the mode says */
static void s_serve_one(s_server_t *s, wire_msg_t *m, wire_msg_t *held, int *holding)
{
    switch (s->mode) {
    case SERVE_TWICE:
        wire_reply(s->router, m, "PONG", m->body, m->body_len);
        wire_reply(s->router, m, "PONG", "{\"dup\":true}", 12);
        break;
    case SERVE_WRONG_ID_FIRST:
        wire_send(s->router, m->ident, m->ident_len, "PONG", m->reqid - 1, "{\"stale\":1}",
                  11, ZMQ_DONTWAIT);
        wire_send(s->router, m->ident, m->ident_len, "PONG", m->reqid + 1, "{\"stale\":2}",
                  11, ZMQ_DONTWAIT);
        wire_reply(s->router, m, "PONG", m->body, m->body_len);
        break;
    case SERVE_GARBAGE_FIRST: {
        const char *frames[] = {(const char *)m->ident, HARK_WIRE_VERSION " pong 1", "{}"};
        zmq_send(s->router, m->ident, m->ident_len, ZMQ_SNDMORE);
        s_send_frames(s->router, frames + 1, 2);
        wire_reply(s->router, m, "PONG", m->body, m->body_len);
        break;
    }
    case SERVE_LATE:
        /* hold the first request; answer it only once the second came */
        if (!*holding) {
            *held = *m;
            *holding = 1;
            m->body = NULL;
            return;
        }
        wire_reply(s->router, held, "PONG", held->body, held->body_len);
        wire_reply(s->router, m, "PONG", m->body, m->body_len);
        break;
    case SERVE_ERROR:
        wire_reply_error(s->router, m, "nope", "refused");
        break;
    case SERVE_NEVER:
        break;
    default:
        wire_reply(s->router, m, "PONG", m->body, m->body_len);
    }
}

/* s_server_main - serve until told to stop (or 10 s pass) */
static void *s_server_main(void *arg)
{
    s_server_t *s = arg;
    wire_msg_t held = {0};
    int holding = 0;
    int64_t deadline = clock_mono_ms() + 10000;
    while (!atomic_load(&s->stop) && clock_mono_ms() < deadline) {
        if (!s_wait_in(s->router, 20))
            continue;
        wire_msg_t m;
        if (wire_recv(s->router, 1, &m, ZMQ_DONTWAIT))
            continue;
        if (s->served < 16)
            s->reqids[s->served] = m.reqid;
        s->served++;
        s_serve_one(s, &m, &held, &holding);
        wire_msg_free(&m);
    }
    wire_msg_free(&held);
    zmq_close(s->router);
    return NULL;
}

/* s_server_start - bind here, serve in a thread (the socket moves to it) */
static int s_server_start(s_server_t *s, const char *endpoint, int mode)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    atomic_init(&s->stop, 0);
    s->router = s_socket(ZMQ_ROUTER, NULL);
    if (zmq_bind(s->router, endpoint)) {
        zmq_close(s->router);
        return -1;
    }
    return pthread_create(&s->thread, NULL, s_server_main, s);
}

/* s_server_client - s_server_start on endpoint, and a client of it
 * (checked: NULL when it could not be made) */
static wire_client_t *s_server_client(s_server_t *srv, const char *endpoint, int mode)
{
    CHECK_INT(s_server_start(srv, endpoint, mode), 0);
    wire_client_t *c = wire_client_new(s_ctx, endpoint);
    CHECK(c != NULL);
    return c;
}

/* s_echoed - a PING with body (JSON text) is answered with that body */
static void s_echoed(wire_client_t *c, const char *body)
{
    wire_msg_t r;
    CHECK_INT(wire_client_call(c, "PING", body, strlen(body), 2000, &r), 0);
    CHECK_STR(r.body, body);
    wire_msg_free(&r);
}

/* s_server_stop - stop and join */
static void s_server_stop(s_server_t *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
}

static void test_client_call_gets_matching_reply(void)
{
    s_server_t srv;
    wire_client_t *c = s_server_client(&srv, "inproc://client-echo", SERVE_ECHO);
    if (!c) {
        s_server_stop(&srv);
        return;
    }
    uint64_t last = 0;
    for (int i = 0; i < 5; i++) {
        char body[32];
        int n = snprintf(body, sizeof body, "{\"n\":%d}", i);
        wire_msg_t r;
        CHECK_INT(wire_client_call(c, "PING", body, (size_t)n, 2000, &r), 0);
        CHECK_STR(r.cmd, "PONG");
        CHECK_STR(r.body, body);
        CHECK(r.reqid > last); /* ids only grow */
        last = r.reqid;
        wire_msg_free(&r);
    }
    s_server_stop(&srv);
    CHECK_INT(srv.served, 5);
    CHECK(srv.reqids[4] == last);
    wire_client_destroy(&c);
    CHECK(c == NULL);
    wire_client_destroy(&c);
}

static void test_client_drops_duplicate_reply_of_earlier_call(void)
{
    s_server_t srv;
    wire_client_t *c = s_server_client(&srv, "inproc://client-twice", SERVE_TWICE);
    if (c) {
        s_echoed(c, "{\"call\":1}");
        /* the second answer to call 1 is waiting; call 2 must skip it */
        s_echoed(c, "{\"call\":2}");
    }
    s_server_stop(&srv);
    CHECK_INT(srv.served, 2);
    wire_client_destroy(&c);
}

static void test_client_drops_reply_with_wrong_reqid(void)
{
    s_server_t srv;
    wire_client_t *c = s_server_client(&srv, "inproc://client-wrong-id", SERVE_WRONG_ID_FIRST);
    if (c) {
        for (int i = 0; i < 3; i++)
            s_echoed(c, "{\"real\":1}");
    }
    s_server_stop(&srv);
    CHECK_INT(srv.served, 3);
    wire_client_destroy(&c);
}

static void test_client_skips_malformed_reply(void)
{
    s_server_t srv;
    wire_client_t *c = s_server_client(&srv, "inproc://client-garbage", SERVE_GARBAGE_FIRST);
    if (c) {
        wire_msg_t r;
        CHECK_INT(wire_client_call(c, "PING", "{\"g\":1}", 7, 2000, &r), 0);
        CHECK_STR(r.cmd, "PONG");
        CHECK_STR(r.body, "{\"g\":1}");
        wire_msg_free(&r);
    }
    s_server_stop(&srv);
    wire_client_destroy(&c);
}

static void test_client_times_out_without_server(void)
{
    char ep[128];
    snprintf(ep, sizeof ep, "ipc://%s/nobody.sock", s_dir);
    wire_client_t *c = wire_client_new(s_ctx, ep);
    CHECK(c != NULL);
    if (!c)
        return;
    wire_msg_t r;
    int64_t t0 = clock_mono_ms();
    errno = 0;
    CHECK_INT(wire_client_call(c, "PING", NULL, 0, 200, &r), -1);
    CHECK_INT(errno, ETIMEDOUT);
    CHECK(r.body == NULL);
    CHECK(clock_mono_ms() - t0 < 3000);
    /* the JSON form says NULL the same way */
    char cmd[48] = "unchanged";
    CHECK(wire_client_call_json(c, "PING", NULL, 100, cmd) == NULL);
    CHECK_STR(cmd, "unchanged");
    wire_client_destroy(&c);
}

static void test_client_times_out_when_server_is_silent(void)
{
    char ep[128];
    snprintf(ep, sizeof ep, "ipc://%s/silent.sock", s_dir);
    s_server_t srv;
    wire_client_t *c = s_server_client(&srv, ep, SERVE_NEVER);
    if (c) {
        wire_msg_t r;
        errno = 0;
        CHECK_INT(wire_client_call(c, "PING", NULL, 0, 200, &r), -1);
        CHECK_INT(errno, ETIMEDOUT);
    }
    s_server_stop(&srv);
    CHECK_INT(srv.served, 1); /* it did arrive */
    wire_client_destroy(&c);
}

static void test_late_reply_never_answers_the_next_call(void)
{
    char ep[128];
    snprintf(ep, sizeof ep, "ipc://%s/late.sock", s_dir);
    s_server_t srv;
    wire_client_t *c = s_server_client(&srv, ep, SERVE_LATE);
    if (c) {
        wire_msg_t r;
        CHECK_INT(wire_client_call(c, "PING", "{\"call\":1}", 10, 200, &r), -1);
        CHECK_INT(errno, ETIMEDOUT);
        /* the server now answers call 1, then call 2 */
        s_echoed(c, "{\"call\":2}");
        /* and a third call is not confused by anything left over */
        s_echoed(c, "{\"call\":3}");
    }
    s_server_stop(&srv);
    CHECK_INT(srv.served, 3);
    wire_client_destroy(&c);
}

static void test_client_call_json_returns_error_replies(void)
{
    s_server_t srv;
    wire_client_t *c = s_server_client(&srv, "inproc://client-error", SERVE_ERROR);
    if (c) {
        json_t *body = json_pack("{s:i}", "x", 1);
        char cmd[48] = "";
        json_t *j = wire_client_call_json(c, "PING", body, 2000, cmd);
        CHECK_STR(cmd, "ERROR");
        CHECK(json_is_object(j));
        CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                  "nope");
        json_decref(j);
        CHECK_INT(body->refcount, 1); /* not stolen */
        json_decref(body);
    }
    s_server_stop(&srv);
    wire_client_destroy(&c);
}

static void test_client_new_rejects_bad_endpoint(void)
{
    CHECK(wire_client_new(s_ctx, "bogus://nowhere") == NULL);
    CHECK(wire_client_new(s_ctx, "tcp://") == NULL);
}

int main(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/hark-test-wire-XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    s_ctx = zmq_ctx_new();
    UNIT_RUN(test_dealer_router_round_trip_inproc);
    UNIT_RUN(test_round_trip_over_ipc_and_null_body_is_empty_object);
    UNIT_RUN(test_every_reqid_round_trips_up_to_uint64_max);
    UNIT_RUN(test_header_frame_is_exact_text);
    UNIT_RUN(test_recv_dontwait_on_empty_socket_is_eagain);
    UNIT_RUN(test_send_refuses_overlong_command);
    UNIT_RUN(test_router_rejects_malformed_and_keeps_going);
    UNIT_RUN(test_dealer_rejects_malformed_and_keeps_going);
    UNIT_RUN(test_body_json_must_be_one_object);
    UNIT_RUN(test_reply_error_body_shape);
    UNIT_RUN(test_client_call_gets_matching_reply);
    UNIT_RUN(test_client_drops_duplicate_reply_of_earlier_call);
    UNIT_RUN(test_client_drops_reply_with_wrong_reqid);
    UNIT_RUN(test_client_skips_malformed_reply);
    UNIT_RUN(test_client_times_out_without_server);
    UNIT_RUN(test_client_times_out_when_server_is_silent);
    UNIT_RUN(test_late_reply_never_answers_the_next_call);
    UNIT_RUN(test_client_call_json_returns_error_replies);
    UNIT_RUN(test_client_new_rejects_bad_endpoint);
    zmq_ctx_term(s_ctx);
    nftw(s_dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    return UNIT_END();
}
