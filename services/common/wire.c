/*
 * wire.c - framing, strict decoding and the request/reply client.
 */
#include "wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "curve.h"
#include "log.h"

struct wire_client {
    void *zctx;
    char *endpoint;
    void *sock;
    uint64_t next_reqid;
};

/* wire_send - write the frames of one message */
int wire_send(void *sock, const void *ident, size_t ident_len, const char *cmd,
              uint64_t reqid, const char *body, size_t body_len, int flags)
{
    char hdr[96];
    int n = snprintf(hdr, sizeof hdr, "%s %s %" PRIu64, HARK_WIRE_VERSION, cmd, reqid);
    if (n < 0 || (size_t)n >= sizeof hdr) {
        errno = EINVAL;
        return -1;
    }
    if (!body) {
        body = "{}";
        body_len = 2;
    }
    if (ident && zmq_send(sock, ident, ident_len, ZMQ_SNDMORE | flags) < 0)
        return -1;
    if (zmq_send(sock, hdr, (size_t)n, ZMQ_SNDMORE | flags) < 0)
        return -1;
    if (zmq_send(sock, body, body_len, flags) < 0)
        return -1;
    return 0;
}

/* wire_reply - answer the sender of m */
int wire_reply(void *sock, const wire_msg_t *m, const char *cmd, const char *body,
               size_t body_len)
{
    return wire_send(sock, m->ident_len ? m->ident : NULL, m->ident_len, cmd, m->reqid,
                     body, body_len, ZMQ_DONTWAIT);
}

/* wire_reply_error - answer with an ERROR */
int wire_reply_error(void *sock, const wire_msg_t *m, const char *code,
                     const char *message)
{
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int rc = s ? wire_reply(sock, m, CMD_ERROR, s, strlen(s)) : -1;
    free(s);
    json_decref(j);
    return rc;
}

/* s_drain - discard the rest of a multipart message */
static void s_drain(void *sock)
{
    int more = 1;
    size_t sz = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        zmq_msg_recv(&f, sock, 0);
        zmq_msg_close(&f);
    }
}

/* s_parse_header - "hark/1 CMD 123" into m */
static int s_parse_header(const char *h, size_t len, wire_msg_t *m)
{
    size_t vl = strlen(HARK_WIRE_VERSION);
    if (len < vl + 4 || len > 90 || memcmp(h, HARK_WIRE_VERSION, vl) != 0 || h[vl] != ' ')
        return -1;
    const char *p = h + vl + 1, *end = h + len;
    size_t cl = 0;
    while (p + cl < end && ((p[cl] >= 'A' && p[cl] <= 'Z') || p[cl] == '_'))
        cl++;
    if (cl == 0 || cl >= sizeof m->cmd || p + cl >= end || p[cl] != ' ')
        return -1;
    memcpy(m->cmd, p, cl);
    m->cmd[cl] = '\0';
    p += cl + 1;
    if (p == end)
        return -1;
    uint64_t id = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || id > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -1;
        id = id * 10 + (uint64_t)(*p - '0');
    }
    m->reqid = id;
    return 0;
}

/* wire_recv - one message, strictly decoded */
int wire_recv(void *sock, int router, wire_msg_t *m, int flags)
{
    memset(m, 0, sizeof *m);
    zmq_msg_t f;
    int more;
    size_t sz = sizeof more;
    if (router) {
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, sock, flags) < 0) {
            zmq_msg_close(&f);
            return -1;
        }
        size_t n = zmq_msg_size(&f);
        if (n > sizeof m->ident) {
            zmq_msg_close(&f);
            s_drain(sock);
            errno = EPROTO;
            return -1;
        }
        memcpy(m->ident, zmq_msg_data(&f), n);
        m->ident_len = n;
        zmq_msg_close(&f);
        flags = 0; /* the rest of a message is already here */
    }
    zmq_msg_init(&f);
    if (zmq_msg_recv(&f, sock, flags) < 0) {
        int e = errno;
        zmq_msg_close(&f);
        if (router) { /* identity without header: malformed */
            errno = EPROTO;
            return -1;
        }
        errno = e;
        return -1;
    }
    int bad = s_parse_header(zmq_msg_data(&f), zmq_msg_size(&f), m);
    zmq_msg_close(&f);
    zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
    if (bad || !more) {
        s_drain(sock);
        errno = EPROTO;
        return -1;
    }
    zmq_msg_init(&f);
    if (zmq_msg_recv(&f, sock, 0) < 0) {
        zmq_msg_close(&f);
        errno = EPROTO;
        return -1;
    }
    size_t n = zmq_msg_size(&f);
    m->body = malloc(n + 1);
    if (!m->body) {
        zmq_msg_close(&f);
        s_drain(sock);
        errno = ENOMEM;
        return -1;
    }
    memcpy(m->body, zmq_msg_data(&f), n);
    m->body[n] = '\0';
    m->body_len = n;
    zmq_msg_close(&f);
    zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
    if (more) { /* leftover frames are an error, not ignored */
        s_drain(sock);
        wire_msg_free(m);
        errno = EPROTO;
        return -1;
    }
    return 0;
}

/* wire_msg_free - free the body */
void wire_msg_free(wire_msg_t *m)
{
    free(m->body);
    m->body = NULL;
    m->body_len = 0;
}

/* wire_body_json - parse the body as a JSON object */
json_t *wire_body_json(const wire_msg_t *m)
{
    if (!m->body)
        return NULL;
    json_t *j = json_loadb(m->body, m->body_len, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* s_client_connect - (re)create the DEALER */
static int s_client_connect(wire_client_t *c)
{
    if (c->sock)
        zmq_close(c->sock);
    c->sock = zmq_socket(c->zctx, ZMQ_DEALER);
    if (!c->sock)
        return -1;
    int linger = 0, immediate = 1;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    /* queue nothing for a peer that is not connected yet: a request sent
     * into the void would only time out later */
    zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &immediate, sizeof immediate);
    if (curve_client(c->sock, c->endpoint) < 0 || zmq_connect(c->sock, c->endpoint) < 0) {
        zmq_close(c->sock);
        c->sock = NULL;
        return -1;
    }
    return 0;
}

/* wire_client_new - a DEALER connected to endpoint */
wire_client_t *wire_client_new(void *zctx, const char *endpoint)
{
    wire_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->zctx = zctx;
    c->endpoint = strdup(endpoint);
    c->next_reqid = (uint64_t)clock_mono_ms() << 16; /* distinct across restarts */
    if (!c->endpoint || s_client_connect(c)) {
        wire_client_destroy(&c);
        return NULL;
    }
    return c;
}

/* wire_client_destroy - close and free; safe on NULL and twice */
void wire_client_destroy(wire_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    wire_client_t *c = *self_p;
    if (c->sock)
        zmq_close(c->sock);
    free(c->endpoint);
    free(c);
    *self_p = NULL;
}

/* wire_client_call - one request, one matching reply, or a timeout */
int wire_client_call(wire_client_t *c, const char *cmd, const char *body,
                     size_t body_len, int timeout_ms, wire_msg_t *reply)
{
    memset(reply, 0, sizeof *reply);
    if (!c->sock && s_client_connect(c))
        return -1;
    uint64_t id = ++c->next_reqid;
    int64_t deadline = clock_mono_ms() + timeout_ms;
    zmq_pollitem_t item = {c->sock, 0, ZMQ_POLLOUT, 0};
    for (;;) { /* wait until a peer is connected and can take it */
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            goto timeout;
        if (zmq_poll(&item, 1, (long)left) < 0 && errno != EINTR)
            return -1;
        if (item.revents & ZMQ_POLLOUT)
            break;
    }
    if (wire_send(c->sock, NULL, 0, cmd, id, body, body_len, ZMQ_DONTWAIT) < 0) {
        if (errno == EAGAIN)
            goto timeout;
        return -1;
    }
    item.events = ZMQ_POLLIN;
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            goto timeout;
        item.revents = 0;
        if (zmq_poll(&item, 1, (long)left) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (!(item.revents & ZMQ_POLLIN))
            continue;
        if (wire_recv(c->sock, 0, reply, ZMQ_DONTWAIT) < 0) {
            if (errno == EAGAIN || errno == EPROTO)
                continue;
            return -1;
        }
        if (reply->reqid == id)
            return 0;
        wire_msg_free(reply); /* a late answer to an earlier call */
    }
timeout:
    /* a reply that arrives after we gave up must not be taken for the
     * answer to the next call: start over on a fresh socket */
    s_client_connect(c);
    errno = ETIMEDOUT;
    return -1;
}

/* wire_client_call_json - call with JSON in and out */
json_t *wire_client_call_json(wire_client_t *c, const char *cmd, const json_t *body,
                              int timeout_ms, char *reply_cmd)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !s)
        return NULL;
    wire_msg_t r;
    int rc = wire_client_call(c, cmd, s, s ? strlen(s) : 0, timeout_ms, &r);
    free(s);
    if (rc < 0)
        return NULL;
    json_t *j = wire_body_json(&r);
    if (reply_cmd)
        snprintf(reply_cmd, 48, "%s", r.cmd);
    wire_msg_free(&r);
    return j;
}
