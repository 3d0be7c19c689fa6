/*
 * httpd.c - the shared HTTP front door (httpd.h says what it guarantees).
 *
 * Three threads of its own beside libmicrohttpd's pool:
 *   - the acceptor accepts, counts the connection against the limits and
 *     holds it until its first request head is whole (peeking, so the
 *     bytes stay in the socket for MHD), then hands it to MHD with
 *     MHD_add_connection.  A head that is slow, too large or malformed is
 *     answered here with the service's own error.
 *   - the reaper closes (shutdown(2); MHD then closes the socket) a body
 *     past body_timeout and a kept-alive connection whose next request has
 *     not come within idle_timeout even though bytes trickle in.
 *   - MHD's pool runs the service's callbacks, wrapped here to keep each
 *     connection's phase and to refuse, behind a trusted proxy, a client
 *     over its per-address limit.
 *   - or, when the service gives a loop (httpd_loop_t), `threads` loops
 *     instead of the pool: each a thread with a daemon of its own, run
 *     from the loop's epoll set (MHD's epoll descriptor, the service's
 *     own descriptors, and an eventfd by which the acceptor hands it
 *     connections round robin), so the service's socket and the
 *     connections waiting on it share a thread.
 *
 * Why our own acceptor rather than only MHD's options: libmicrohttpd 0.9.75
 * times only idle periods (a head trickled a line at a time never times
 * out), counts connections only by peer (the proxy, behind one) and words
 * its own errors in fixed HTML.  The head check is deliberately small: it
 * checks the shape RFC 9112 gives a request head and leaves all meaning to
 * MHD.  A second request on a kept-alive connection is parsed by MHD alone:
 * its head size is checked at the access callback (a JSON 431 up to MHD's
 * memory pool, max_header + 16 KiB), and its time is bounded by idle_timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"
#include "log.h"

enum { PH_HEAD, PH_HANDED, PH_IDLE, PH_BODY, PH_WORK };

typedef struct conn {
    int fd;
    int phase;
    int shut;                     /* shutdown(2) sent: MHD will close it */
    int counted;                  /* key is counted in the address table */
    int requests;
    long long since;              /* when the phase began (ms, monotonic) */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    unsigned char key[17];        /* family byte + address: what is counted */
    struct conn *prev, *next;     /* h->conns, in accept order */
} conn_t;

typedef struct addr_count {
    unsigned char key[17];
    unsigned n;
    struct addr_count *next;
} addr_count_t;

#define ADDR_BUCKETS 4096

/* a connection on its way from the acceptor to a loop's daemon */
typedef struct handed {
    int fd;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    struct handed *next;
} handed_t;

/* one loop (httpd_loop_t): a thread, its daemon and its epoll set */
typedef struct hloop {
    struct httpd *h;
    unsigned i;
    struct MHD_Daemon *mhd;
    int epfd, wakefd;             /* wakefd: a connection handed, or stop */
    pthread_t thread;
    int on;
    atomic_int stop;
    pthread_mutex_t lock;         /* handed */
    handed_t *handed;
} hloop_t;

struct httpd {
    httpd_config_t conf;
    struct MHD_Daemon *mhd;       /* the pool's daemon (no loop) */
    hloop_t *loops;               /* or the loops' (conf.loop) */
    unsigned n_loops, next_loop;
    int lfd, epfd, stopfd;
    pthread_t acceptor, reaper;
    int acceptor_on, reaper_on;
    volatile int stopping;
    pthread_mutex_t lock;         /* everything below */
    pthread_cond_t reaper_cv;
    conn_t *head, *tail;          /* every open connection */
    unsigned open;
    conn_t **handoff;             /* fd -> conn between accept and MHD's STARTED */
    int handoff_len;
    addr_count_t *addrs[ADDR_BUCKETS];
    char *peek;                   /* the acceptor's buffer, max_header + 1 */
};

/* a request refused by the access wrapper (con_cls), answered by MHD */
static char s_refused;

/* the loop this thread runs (its number, or -1) */
static _Thread_local int s_loop_no = -1;
static _Thread_local struct hloop *s_loop_self;

static long long s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- addresses */

/* httpd_parse_addr - see httpd.h */
int httpd_parse_addr(const char *s, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        return 0;
    }
    return -1;
}

/* s_key - an address as a fixed-size key: family, then the 4 or 16 bytes
 * (ports aside; an IPv4-mapped IPv6 address counts as its IPv4) */
static void s_key(const struct sockaddr *sa, unsigned char key[17])
{
    memset(key, 0, 17);
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            key[0] = 4;
            memcpy(key + 1, a->s6_addr + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a->s6_addr, 16);
        }
    } else if (sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    }
}

static int s_trusted(const httpd_t *h, const struct sockaddr *sa)
{
    unsigned char k[17], p[17];
    s_key(sa, k);
    for (size_t i = 0; i < h->conf.n_proxies; i++) {
        s_key((const struct sockaddr *)&h->conf.proxies[i], p);
        if (memcmp(k, p, 17) == 0)
            return 1;
    }
    return 0;
}

static unsigned s_hash(const unsigned char key[17])
{
    uint32_t x = 2166136261u; /* FNV-1a over the whole key: exact, no collisions merge */
    for (int i = 0; i < 17; i++)
        x = (x ^ key[i]) * 16777619u;
    return x % ADDR_BUCKETS;
}

/* s_addr_add - add d (1 or -1) to key's count, under h->lock; the new count */
static unsigned s_addr_add(httpd_t *h, const unsigned char key[17], int d)
{
    addr_count_t **pp = &h->addrs[s_hash(key)];
    for (; *pp; pp = &(*pp)->next)
        if (memcmp((*pp)->key, key, 17) == 0)
            break;
    if (!*pp) {
        if (d < 0)
            return 0;
        addr_count_t *a = calloc(1, sizeof *a);
        if (!a)
            return UINT32_MAX; /* out of memory: refuse, as if over the limit */
        memcpy(a->key, key, 17);
        *pp = a;
    }
    addr_count_t *a = *pp;
    a->n = d < 0 ? (a->n ? a->n - 1 : 0) : a->n + 1;
    unsigned n = a->n;
    if (n == 0) { /* memory stays bounded by the connections open */
        *pp = a->next;
        free(a);
    }
    return n;
}

/* httpd_client_addr - see httpd.h.  X-Forwarded-For is read from the
 * right: each proxy appends the address it heard from, so the entries left
 * of the last one our own proxies added are the client's to forge. */
const struct sockaddr *httpd_client_addr(const httpd_t *h, struct MHD_Connection *conn,
                                         struct sockaddr_storage *out)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return NULL;
    const struct sockaddr *peer = ci->client_addr;
    size_t plen = peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
    memcpy(out, peer, plen);
    const char *xff = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For");
    if (!xff || !s_trusted(h, peer))
        return (const struct sockaddr *)out;
    char list[1024];
    if (strlen(xff) >= sizeof list) /* its trustworthy right end would be cut */
        return (const struct sockaddr *)out;
    snprintf(list, sizeof list, "%s", xff);
    for (;;) { /* the last entry, then the one before while they are proxies */
        char *comma = strrchr(list, ',');
        char *item = comma ? comma + 1 : list;
        item += strspn(item, " \t");
        for (char *t = item + strlen(item); t > item && (t[-1] == ' ' || t[-1] == '\t');)
            *--t = '\0';
        struct sockaddr_storage ss;
        if (httpd_parse_addr(item, &ss)) {
            memcpy(out, peer, plen); /* malformed: believe only the peer */
            break;
        }
        *out = ss;
        if (!comma || !s_trusted(h, (const struct sockaddr *)&ss))
            break;
        *comma = '\0';
    }
    return (const struct sockaddr *)out;
}

/* ---------------------------------------------------------------- answers */

static const char *s_reason(unsigned status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

/* s_refuse - answer on a socket MHD never saw, and close it.  What the
 * client sent is read and dropped first, so the close is a FIN after our
 * answer rather than a reset that could destroy it. */
static void s_refuse(httpd_t *h, int fd, unsigned status, const char *code, const char *msg,
                     const char *field, const char *path, const char *lang)
{
    buf_t body = {0}, out = {0};
    const char *ctype = "application/json", *csp = NULL;
    h->conf.error(h->conf.error_cls, status, code, msg, field, path ? path : "", lang, &body,
                  &ctype, &csp);
    buf_printf(&out,
               "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
               "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
               "Connection: close\r\n",
               status, s_reason(status), ctype, body.len);
    if (csp)
        buf_printf(&out, "Content-Security-Policy: %s\r\n", csp);
    if (status == 503 || status == 429)
        buf_puts(&out, "Retry-After: 1\r\n");
    buf_puts(&out, "\r\n");
    buf_append(&out, body.data ? body.data : "", body.len);
    char junk[4096];
    while (recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0)
        ;
    if (!buf_failed(&out)) {
        size_t off = 0;
        for (int tries = 0; off < out.len && tries < 50; tries++) {
            ssize_t n = send(fd, out.data + off, out.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                off += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != EINTR)
                break;
            else if (n < 0)
                usleep(1000);
        }
    }
    shutdown(fd, SHUT_WR);
    while (recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0)
        ;
    close(fd);
    buf_free(&body);
    buf_free(&out);
}

/* ---------------------------------------------------------------- the head */

static int s_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

typedef httpd_head_t head_check_t;

static void s_badf(head_check_t *hc, unsigned status, const char *code, const char *msg,
                   const char *field)
{
    if (!hc->status) {
        hc->status = status;
        hc->code = code;
        hc->msg = msg;
        hc->field = field;
    }
}

static void s_bad(head_check_t *hc, unsigned status, const char *code, const char *msg)
{
    s_badf(hc, status, code, msg, NULL);
}

/* httpd_head_check - see httpd.h */
void httpd_head_check(const char *p, size_t n, long long max_body, httpd_head_t *hc)
{
    memset(hc, 0, sizeof *hc);
    const char *end = p + n, *q = p;
    /* the request line: method SP target SP HTTP/1.x */
    const char *m = q;
    while (q < end && s_tchar((unsigned char)*q))
        q++;
    if (q == m || q - m > 16 || q >= end || *q != ' ')
        return s_bad(hc, 400, "bad_request", "the request line is malformed");
    const char *t = ++q;
    while (q < end && (unsigned char)*q > ' ' && (unsigned char)*q != 0x7f)
        q++;
    if (q == t || q >= end || *q != ' ')
        return s_bad(hc, 400, "bad_request", "the request line is malformed");
    size_t pl = 0;
    while (t + pl < q && t[pl] != '?')
        pl++;
    snprintf(hc->path, sizeof hc->path, "%.*s", (int)(pl < 500 ? pl : 500), t);
    q++;
    if (end - q < 10 || strncmp(q, "HTTP/", 5) != 0 || q[5] < '0' || q[5] > '9' ||
        q[6] != '.' || q[7] < '0' || q[7] > '9')
        return s_bad(hc, 400, "bad_request", "the request line is malformed");
    if (q[5] != '1' || (q[7] != '0' && q[7] != '1'))
        return s_bad(hc, 505, "http_version", "only HTTP/1.0 and HTTP/1.1 are served");
    int http11 = q[7] == '1';
    q += 8;
    if (*q == '\r')
        q++;
    if (q >= end || *q != '\n')
        return s_bad(hc, 400, "bad_request", "the request line is malformed");
    q++;
    int ncl = 0, te = 0, host = 0;
    while (q < end && *q != '\r' && *q != '\n') {
        const char *name = q;
        if (*q == ' ' || *q == '\t')
            return s_bad(hc, 400, "bad_request", "folded header lines are not accepted");
        while (q < end && s_tchar((unsigned char)*q))
            q++;
        size_t nl = (size_t)(q - name);
        if (nl == 0 || q >= end || *q != ':')
            return s_bad(hc, 400, "bad_request", "a header line is malformed");
        q++;
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        const char *v = q;
        while (q < end && *q != '\r' && *q != '\n') {
            unsigned char c = (unsigned char)*q;
            if ((c < ' ' && c != '\t') || c == 0x7f)
                return s_bad(hc, 400, "bad_request", "a header value holds a control character");
            q++;
        }
        const char *ve = q;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if (q < end && *q == '\r')
            q++;
        if (q >= end || *q != '\n')
            return s_bad(hc, 400, "bad_request", "a header line is malformed");
        q++;
        if (nl == 14 && strncasecmp(name, "Content-Length", 14) == 0) {
            ncl++;
            if (ve == v)
                return s_badf(hc, 400, "bad_request",
                  "Content-Length is empty", "Content-Length");
            unsigned long long len = 0;
            int over = 0;
            for (const char *d = v; d < ve; d++) {
                if (*d < '0' || *d > '9')
                    return s_badf(hc, 400, "bad_request",
                  "Content-Length is not a number", "Content-Length");
                if (len > 1000000000000ULL)
                    over = 1;
                else
                    len = len * 10 + (unsigned)(*d - '0');
            }
            if (over || len > (unsigned long long)max_body) {
                snprintf(hc->buf, sizeof hc->buf, "the body is larger than %lld bytes",
                         max_body);
                s_badf(hc, 413, "body_too_large", hc->buf, "Content-Length");
            }
        } else if (nl == 17 && strncasecmp(name, "Transfer-Encoding", 17) == 0) {
            te++;
            if ((size_t)(ve - v) != 7 || strncasecmp(v, "chunked", 7) != 0)
                s_badf(hc, 501, "not_implemented",
                  "only the chunked transfer coding is served", "Transfer-Encoding");
        } else if (nl == 4 && strncasecmp(name, "Host", 4) == 0) {
            host++;
        } else if (nl == 15 && strncasecmp(name, "Accept-Language", 15) == 0) {
            snprintf(hc->lang, sizeof hc->lang, "%.*s",
                     (int)((size_t)(ve - v) < 120 ? (size_t)(ve - v) : 120), v);
        }
    }
    /* two framings of one body (RFC 9112 6.3): a proxy in front may have
     * used the other one, so where this body ends is not known */
    if (ncl > 1)
        s_badf(hc, 400, "bad_request",
                  "send one Content-Length header, not several", "Content-Length");
    if (ncl && te)
        s_badf(hc, 400, "bad_request",
                  "send Content-Length or Transfer-Encoding, not both", "Content-Length");
    if (te > 1)
        s_badf(hc, 400, "bad_request", "send one Transfer-Encoding header", "Transfer-Encoding");
    if (http11 && host != 1)
        s_badf(hc, 400, "bad_request", "an HTTP/1.1 request names one Host", "Host");
}

/* s_head_meta - the path and Accept-Language of a head that is not whole
 * (too large), so even that refusal is worded for its reader */
static void s_head_meta(const char *p, size_t n, head_check_t *hc)
{
    const char *sp = memchr(p, ' ', n < 32 ? n : 32);
    if (sp) {
        const char *t = sp + 1, *end = p + n;
        size_t pl = 0;
        while (t + pl < end && t[pl] != ' ' && t[pl] != '?' && t[pl] != '\r' && t[pl] != '\n' &&
               pl < 500)
            pl++;
        snprintf(hc->path, sizeof hc->path, "%.*s", (int)pl, t);
    }
    for (size_t i = 0; i + 17 < n; i++) {
        if (p[i] == '\n' && strncasecmp(p + i + 1, "Accept-Language:", 16) == 0) {
            const char *v = p + i + 17;
            while (v < p + n && (*v == ' ' || *v == '\t'))
                v++;
            size_t vl = 0;
            while (v + vl < p + n && v[vl] != '\r' && v[vl] != '\n' && vl < 120)
                vl++;
            snprintf(hc->lang, sizeof hc->lang, "%.*s", (int)vl, v);
            break;
        }
    }
}

/* httpd_head_end - see httpd.h */
size_t httpd_head_end(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] != '\n')
            continue;
        if (p[i + 1] == '\n')
            return i + 2;
        if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* ---------------------------------------------------------------- connections */

static void s_link(httpd_t *h, conn_t *c)
{
    c->prev = h->tail;
    c->next = NULL;
    if (h->tail)
        h->tail->next = c;
    else
        h->head = c;
    h->tail = c;
    h->open++;
}

static void s_unlink(httpd_t *h, conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        h->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        h->tail = c->prev;
    h->open--;
}

/* s_forget - under h->lock: a connection is gone (its socket closed or
 * about to be) */
static void s_forget(httpd_t *h, conn_t *c)
{
    if (c->counted)
        s_addr_add(h, c->key, -1);
    s_unlink(h, c);
    free(c);
}

/* s_evict - under h->lock: close the connection idle the longest between
 * requests (HTTP lets a server close an idle kept-alive connection at any
 * time; the client opens a new one); 1 when one was found */
static int s_evict(httpd_t *h)
{
    conn_t *best = NULL;
    for (conn_t *c = h->head; c; c = c->next)
        if (c->phase == PH_IDLE && c->requests > 0 && !c->shut &&
            (!best || c->since < best->since))
            best = c;
    if (!best)
        return 0;
    best->shut = 1;
    shutdown(best->fd, SHUT_RDWR);
    return 1;
}

/* s_admit - a new socket: within the limits, watched until its head is
 * whole; else answered and closed */
static void s_admit(httpd_t *h, int fd, const struct sockaddr_storage *sa, socklen_t len)
{
    conn_t *c = calloc(1, sizeof *c);
    if (!c || fd >= h->handoff_len) {
        free(c);
        close(fd);
        return;
    }
    c->fd = fd;
    c->peer = *sa;
    c->peer_len = len;
    c->since = s_now();
    s_key((const struct sockaddr *)sa, c->key);
    pthread_mutex_lock(&h->lock);
    /* a trusted proxy carries many clients: they are counted by their
     * forwarded address when their request arrives (s_access) */
    int proxy = s_trusted(h, (const struct sockaddr *)sa);
    unsigned n = proxy ? 0 : s_addr_add(h, c->key, 1);
    c->counted = !proxy;
    const char *why = NULL;
    unsigned status = 0;
    if (n > h->conf.per_ip_connections) {
        status = 429;
        why = "too many connections from this address; close some and try again";
    } else if (h->open >= h->conf.max_connections && !s_evict(h)) {
        status = 503;
        why = "the server holds all the connections it can; try again shortly";
    }
    if (status) {
        if (c->counted)
            s_addr_add(h, c->key, -1);
        pthread_mutex_unlock(&h->lock);
        free(c);
        s_refuse(h, fd, status, status == 429 ? "too_many_connections" : "server_busy", why,
                 NULL, "", NULL);
        return;
    }
    s_link(h, c);
    pthread_mutex_unlock(&h->lock);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev)) {
        pthread_mutex_lock(&h->lock);
        s_forget(h, c);
        pthread_mutex_unlock(&h->lock);
        close(fd);
    }
}

/* s_drop - the acceptor gives up on a connection it holds */
static void s_drop(httpd_t *h, conn_t *c, unsigned status, const char *code, const char *msg,
                   const char *field, const char *path, const char *lang)
{
    int fd = c->fd;
    epoll_ctl(h->epfd, EPOLL_CTL_DEL, fd, NULL);
    pthread_mutex_lock(&h->lock);
    s_forget(h, c);
    pthread_mutex_unlock(&h->lock);
    if (status)
        s_refuse(h, fd, status, code, msg, field, path, lang);
    else
        close(fd);
}

/* s_add_failed - MHD closes the socket itself when it cannot take it, and
 * then never reports it: forget it here */
static void s_add_failed(httpd_t *h, int fd)
{
    pthread_mutex_lock(&h->lock);
    if (h->handoff[fd]) {
        s_forget(h, h->handoff[fd]);
        h->handoff[fd] = NULL;
    }
    pthread_mutex_unlock(&h->lock);
}

/* s_readable - bytes came on a held connection: hand it to MHD once its
 * head is whole and well formed */
static void s_readable(httpd_t *h, conn_t *c)
{
    ssize_t n = recv(c->fd, h->peek, h->conf.max_header + 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        s_drop(h, c, 0, NULL, NULL, NULL, NULL, NULL);
        return;
    }
    size_t hl = httpd_head_end(h->peek, (size_t)n);
    if (!hl) {
        if ((size_t)n > h->conf.max_header) {
            head_check_t hc;
            memset(&hc, 0, sizeof hc);
            s_head_meta(h->peek, (size_t)n, &hc);
            s_drop(h, c, 431, "header_too_large",
                   "the request's header is larger than this server takes", NULL, hc.path,
                   hc.lang[0] ? hc.lang : NULL);
        }
        return; /* more to come (edge-triggered: the next segment wakes us) */
    }
    head_check_t hc;
    httpd_head_check(h->peek, hl, h->conf.max_body, &hc);
    if (hc.status) {
        s_drop(h, c, hc.status, hc.code, hc.msg, hc.field, hc.path, hc.lang[0] ? hc.lang : NULL);
        return;
    }
    epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    pthread_mutex_lock(&h->lock);
    c->phase = PH_HANDED;
    c->since = s_now();
    if (h->handoff[c->fd]) /* one MHD refused silently; its descriptor is reused */
        s_forget(h, h->handoff[c->fd]);
    h->handoff[c->fd] = c;
    pthread_mutex_unlock(&h->lock);
    if (h->n_loops) { /* the loop adds it to its daemon, on its own thread */
        hloop_t *l = &h->loops[h->next_loop++ % h->n_loops];
        handed_t *hd = malloc(sizeof *hd);
        if (!hd) {
            int fd = c->fd;
            s_add_failed(h, fd);
            close(fd);
            return;
        }
        hd->fd = c->fd;
        hd->peer = c->peer;
        hd->peer_len = c->peer_len;
        pthread_mutex_lock(&l->lock);
        hd->next = l->handed;
        l->handed = hd;
        pthread_mutex_unlock(&l->lock);
        uint64_t one = 1;
        if (write(l->wakefd, &one, sizeof one) < 0)
            log_warn("event=httpd_wake_failed server=%s", h->conf.name);
        return;
    }
    int fd = c->fd;
    if (MHD_add_connection(h->mhd, fd, (const struct sockaddr *)&c->peer, c->peer_len) !=
        MHD_YES)
        s_add_failed(h, fd);
}

/* s_acceptor - the acceptor thread */
static void *s_acceptor(void *arg)
{
    httpd_t *h = arg;
    struct epoll_event evs[64];
    while (!h->stopping) {
        /* the oldest held head's deadline: they are in accept order */
        int timeout = 1000;
        pthread_mutex_lock(&h->lock);
        long long now = s_now();
        conn_t *expired = NULL;
        for (conn_t *c = h->head; c; c = c->next) {
            if (c->phase != PH_HEAD)
                continue;
            long long left = c->since + h->conf.head_timeout_ms - now;
            if (left <= 0)
                expired = c;
            else if (left < timeout)
                timeout = (int)left;
            break;
        }
        pthread_mutex_unlock(&h->lock);
        if (expired) { /* only the acceptor changes PH_HEAD connections */
            s_drop(h, expired, 408, "request_timeout",
                   "the request's header did not arrive in time", NULL, NULL, NULL);
            continue;
        }
        int n = epoll_wait(h->epfd, evs, 64, timeout);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &h->lfd) {
                for (;;) {
                    struct sockaddr_storage ss;
                    socklen_t len = sizeof ss;
                    int fd = accept4(h->lfd, (struct sockaddr *)&ss, &len,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) {
                        if (errno == EMFILE || errno == ENFILE)
                            log_warn("event=accept_failed server=%s error=\"%s\"", h->conf.name,
                                     strerror(errno));
                        break;
                    }
                    s_admit(h, fd, &ss, len);
                }
            } else if (evs[i].data.ptr == &h->stopfd) {
                break;
            } else {
                s_readable(h, evs[i].data.ptr);
            }
        }
    }
    return NULL;
}

/* s_reaper - the deadlines libmicrohttpd does not keep */
static void *s_reaper(void *arg)
{
    httpd_t *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        long long now = s_now();
        for (conn_t *c = h->head, *next; c; c = next) {
            next = c->next;
            if (c->phase == PH_HANDED && now - c->since > 10000 && h->handoff[c->fd] == c) {
                /* MHD refused it after taking it (its own limit) and closed
                 * it without a word: forget it */
                h->handoff[c->fd] = NULL;
                s_forget(h, c);
                continue;
            }
            if (c->shut)
                continue;
            long long limit = c->phase == PH_BODY   ? h->conf.body_timeout_ms
                              : c->phase == PH_IDLE ? h->conf.idle_timeout_ms
                                                    : -1;
            if (limit >= 0 && now - c->since > limit) {
                /* shutdown, not close: the socket is MHD's, which sees the
                 * end, closes it and tells us (s_notify) */
                c->shut = 1;
                shutdown(c->fd, SHUT_RDWR);
                log_info("event=connection_cut server=%s phase=%s ms=%lld", h->conf.name,
                         c->phase == PH_BODY ? "body" : "between_requests", now - c->since);
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->reaper_cv, &h->lock, &ts);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* ---------------------------------------------------------------- MHD's side */

/* s_notify - MHD took a connection (STARTED) or closed it (CLOSED; its
 * socket is closed after this returns, so the reaper cannot shut a reused
 * descriptor) */
static void s_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    httpd_t *h = cls;
    pthread_mutex_lock(&h->lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        int fd = ci ? ci->connect_fd : -1;
        if (fd >= 0 && fd < h->handoff_len && h->handoff[fd]) {
            *socket_context = h->handoff[fd];
            h->handoff[fd] = NULL;
        }
    } else if (*socket_context) {
        s_forget(h, *socket_context);
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&h->lock);
}

static conn_t *s_conn(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* s_answer - queue one of our own errors on an MHD connection, closing it */
static enum MHD_Result s_answer(httpd_t *h, struct MHD_Connection *conn, const char *url,
                                unsigned status, const char *code, const char *msg)
{
    buf_t body = {0};
    const char *ctype = "application/json", *csp = NULL;
    h->conf.error(h->conf.error_cls, status, code, msg, NULL, url,
                  MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Language"), &body,
                  &ctype, &csp);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        body.len, body.data ? body.data : (char *)"", MHD_RESPMEM_MUST_COPY);
    buf_free(&body);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Connection", "close");
    if (csp)
        MHD_add_response_header(r, "Content-Security-Policy", csp);
    if (status == 429 || status == 503)
        MHD_add_response_header(r, "Retry-After", "1");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* s_access - each request's phases for the reaper, the checks a second
 * request on a connection and a proxied client need, then the service */
static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size,
                                void **con_cls)
{
    httpd_t *h = cls;
    if (*con_cls == &s_refused)
        return MHD_YES;
    conn_t *c = s_conn(conn);
    if (!*con_cls && c) { /* a new request: its head is whole */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
        if (ci && ci->header_size > h->conf.max_header) {
            *con_cls = &s_refused;
            return s_answer(h, conn, url, 431, "header_too_large",
                            "the request's header is larger than this server takes");
        }
        /* behind a trusted proxy: count the client it names (it may
         * change from one request to the next on the proxy's connection) */
        struct sockaddr_storage ss;
        const struct sockaddr *sa = s_trusted(h, (const struct sockaddr *)&c->peer)
                                        ? httpd_client_addr(h, conn, &ss)
                                        : NULL;
        unsigned char k[17];
        if (sa)
            s_key(sa, k);
        unsigned over = 0;
        pthread_mutex_lock(&h->lock);
        c->phase = PH_BODY;
        c->since = s_now();
        c->requests++;
        if (sa && (!c->counted || memcmp(k, c->key, 17) != 0)) {
            if (c->counted)
                s_addr_add(h, c->key, -1);
            memcpy(c->key, k, 17);
            c->counted = 1;
            over = s_addr_add(h, c->key, 1) > h->conf.per_ip_connections;
        }
        pthread_mutex_unlock(&h->lock);
        if (over) {
            *con_cls = &s_refused;
            return s_answer(h, conn, url, 429, "too_many_connections",
                            "too many connections from this address; close some and try again");
        }
    } else if (c && *upload_data_size == 0) { /* the body is whole: the service's time */
        pthread_mutex_lock(&h->lock);
        c->phase = PH_WORK;
        pthread_mutex_unlock(&h->lock);
    }
    return h->conf.access(h->conf.access_cls, conn, url, method, version, upload_data,
                          upload_data_size, con_cls);
}

/* s_completed - a request is over: the connection waits for the next */
static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    httpd_t *h = cls;
    conn_t *c = s_conn(conn);
    if (c) {
        pthread_mutex_lock(&h->lock);
        c->phase = PH_IDLE;
        c->since = s_now();
        pthread_mutex_unlock(&h->lock);
    }
    if (*con_cls == &s_refused) {
        *con_cls = NULL;
        return;
    }
    if (h->conf.completed)
        h->conf.completed(h->conf.completed_cls, conn, con_cls, toe);
}

/* s_mhd_log - MHD's own messages as our log lines */
static void s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    httpd_t *h = cls;
    char msg[512], q[560];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_warn("event=httpd server=%s message=%s", h->conf.name, log_quote(msg, q, sizeof q));
}

/* ---------------------------------------------------------------- loops */

/* s_loop_take - add the connections the acceptor handed this loop */
static void s_loop_take(hloop_t *l)
{
    pthread_mutex_lock(&l->lock);
    handed_t *hd = l->handed;
    l->handed = NULL;
    pthread_mutex_unlock(&l->lock);
    while (hd) {
        handed_t *next = hd->next;
        if (MHD_add_connection(l->mhd, hd->fd, (const struct sockaddr *)&hd->peer,
                               hd->peer_len) != MHD_YES)
            s_add_failed(l->h, hd->fd);
        free(hd);
        hd = next;
    }
}

/* s_loop - a loop's thread: wait on its epoll set, let MHD read and answer,
 * then the service's own work (which may resume connections: MHD runs
 * again at once, so an answer is written in the same turn) */
static void *s_loop(void *arg)
{
    hloop_t *l = arg;
    httpd_t *h = l->h;
    const httpd_loop_t *ops = h->conf.loop;
    s_loop_no = (int)l->i;
    s_loop_self = l;
    ops->start(ops->cls, l->i, l->epfd);
    long long svc = -1;
    struct epoll_event evs[16];
    while (!atomic_load(&l->stop)) {
        MHD_UNSIGNED_LONG_LONG mt;
        long long t = MHD_get_timeout(l->mhd, &mt) == MHD_YES ? (long long)mt : -1;
        if (svc >= 0 && (t < 0 || svc < t))
            t = svc;
        int n = epoll_wait(l->epfd, evs, 16, t < 0 ? -1 : t > INT_MAX ? INT_MAX : (int)t);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &l->wakefd) {
                uint64_t v;
                if (read(l->wakefd, &v, sizeof v) < 0 && errno != EAGAIN)
                    log_warn("event=httpd_wake_failed server=%s", h->conf.name);
            }
        }
        s_loop_take(l);
        MHD_run(l->mhd);
        for (int k = 0; k < 8; k++) {
            int resumed = 0;
            svc = ops->run(ops->cls, l->i, &resumed);
            if (!resumed)
                break;
            MHD_run(l->mhd);
        }
    }
    /* stopping: the service answers what it holds; MHD writes it */
    ops->stop(ops->cls, l->i);
    for (int k = 0; k < 4; k++)
        MHD_run(l->mhd);
    return NULL;
}

/* s_loops_stop - stop the loops' threads (their daemons stay, for
 * MHD_stop_daemon) */
static void s_loops_stop(httpd_t *h)
{
    for (unsigned i = 0; i < h->n_loops; i++) {
        hloop_t *l = &h->loops[i];
        if (!l->on)
            continue;
        atomic_store(&l->stop, 1);
        uint64_t one = 1;
        if (write(l->wakefd, &one, sizeof one) < 0)
            log_warn("event=httpd_wake_failed server=%s", h->conf.name);
        pthread_join(l->thread, NULL);
        l->on = 0;
    }
}

/* s_loops_free - the loops' daemons and descriptors; what was handed and
 * never added is closed */
static void s_loops_free(httpd_t *h)
{
    for (unsigned i = 0; i < h->n_loops; i++) {
        hloop_t *l = &h->loops[i];
        if (l->mhd)
            MHD_stop_daemon(l->mhd);
        for (handed_t *hd = l->handed, *next; hd; hd = next) {
            next = hd->next;
            close(hd->fd);
            free(hd);
        }
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->wakefd >= 0)
            close(l->wakefd);
        pthread_mutex_destroy(&l->lock);
    }
    free(h->loops);
    h->loops = NULL;
    h->n_loops = 0;
}

/* s_loops_start - the loops' daemons, epoll sets and threads (conf.loop);
 * 0/-1 (logged) */
static int s_loops_start(httpd_t *h, size_t pool)
{
    unsigned n = h->conf.threads ? h->conf.threads : 1;
    h->loops = calloc(n, sizeof *h->loops);
    if (!h->loops)
        return -1;
    h->n_loops = n;
    int ok = 1;
    for (unsigned i = 0; i < n; i++) {
        hloop_t *l = &h->loops[i];
        l->h = h;
        l->i = i;
        l->epfd = l->wakefd = -1;
        pthread_mutex_init(&l->lock, NULL);
    }
    for (unsigned i = 0; i < n && ok; i++) {
        hloop_t *l = &h->loops[i];
        /* the same daemon as the pool's, but run from the loop */
        l->mhd = MHD_start_daemon(
            MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME |
                MHD_USE_TURBO | MHD_USE_ERROR_LOG | MHD_USE_ITC,
            0, NULL, NULL, s_access, h, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, h,
            MHD_OPTION_CONNECTION_LIMIT, h->conf.max_connections + 64,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)((h->conf.idle_timeout_ms + 999) / 1000),
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool, MHD_OPTION_NOTIFY_CONNECTION, s_notify,
            h, MHD_OPTION_NOTIFY_COMPLETED, s_completed, h, MHD_OPTION_END);
        const union MHD_DaemonInfo *di =
            l->mhd ? MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct epoll_event mev = {.events = EPOLLIN, .data.ptr = l};
        struct epoll_event wev = {.events = EPOLLIN, .data.ptr = &l->wakefd};
        ok = di && l->epfd >= 0 && l->wakefd >= 0 &&
             epoll_ctl(l->epfd, EPOLL_CTL_ADD, di->epoll_fd, &mev) == 0 &&
             epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &wev) == 0;
    }
    for (unsigned i = 0; i < n && ok; i++) {
        h->loops[i].on = pthread_create(&h->loops[i].thread, NULL, s_loop, &h->loops[i]) == 0;
        ok = h->loops[i].on;
    }
    if (!ok)
        log_error("event=httpd_failed server=%s", h->conf.name);
    return ok ? 0 : -1;
}

/* httpd_loop_self - see httpd.h */
void *httpd_loop_self(void)
{
    return s_loop_self;
}

/* httpd_loop_wake - see httpd.h */
void httpd_loop_wake(void *loop)
{
    hloop_t *l = loop;
    uint64_t one = 1;
    if (l && write(l->wakefd, &one, sizeof one) < 0)
        log_warn("event=httpd_wake_failed server=%s", l->h->conf.name);
}

/* httpd_loop_current - see httpd.h */
int httpd_loop_current(void)
{
    return s_loop_no;
}

/* ---------------------------------------------------------------- start, stop */

/* s_listen - bind and listen on conf.listen */
static int s_listen(const char *addr)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    int port = atoi(colon + 1);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (host[0] == '[') {
        host[strlen(host) - 1] = '\0';
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
            return -1;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (strcmp(host, "localhost") == 0)
            snprintf(host, sizeof host, "127.0.0.1");
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return -1;
        len = sizeof *a;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 1024)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* httpd_new - see httpd.h */
httpd_t *httpd_new(const httpd_config_t *conf)
{
    httpd_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->conf = *conf;
    h->lfd = h->epfd = h->stopfd = -1;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->reaper_cv, NULL);
    /* many connections need many descriptors: raise the soft limit to the
     * hard one, and hold no more connections than it allows */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)h->conf.max_connections + 128) {
            unsigned fit = rl.rlim_cur > 256 ? (unsigned)(rl.rlim_cur - 128) : 128;
            log_warn("event=max_connections_lowered server=%s from=%u to=%u nofile=%llu",
                     conf->name, conf->max_connections, fit, (unsigned long long)rl.rlim_cur);
            h->conf.max_connections = fit;
        }
        h->handoff_len = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1 << 20
                             ? 1 << 20
                             : (int)rl.rlim_cur;
    } else {
        h->handoff_len = 1024;
    }
    h->handoff = calloc((size_t)h->handoff_len, sizeof *h->handoff);
    h->peek = malloc(h->conf.max_header + 1);
    h->lfd = s_listen(conf->listen);
    if (!h->handoff || !h->peek || h->lfd < 0) {
        log_error("event=listen_failed server=%s listen=%s error=\"%s\"", conf->name,
                  conf->listen, strerror(errno));
        httpd_destroy(&h);
        return NULL;
    }
    /* MHD's memory per connection holds one request head, the answer's
     * headers and its read buffer: max_header and 16 KiB more, so our 431
     * (not MHD's) answers a later request's head up to about that.  It is
     * what an idle kept-alive connection costs: 1,000 of them ~32 MiB. */
    size_t pool = h->conf.max_header + 16 * 1024;
    if (conf->loop && s_loops_start(h, pool)) {
        httpd_destroy(&h);
        return NULL;
    }
    h->mhd = conf->loop ? NULL : MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_TURBO | /* read and write before asking epoll: fewer syscalls, each
                             * costly under a hypervisor (perf: a quarter of the time) */
            MHD_USE_ERROR_LOG | MHD_USE_ITC,
        0, NULL, NULL, s_access, h, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, h,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(conf->threads ? conf->threads : 1),
        MHD_OPTION_CONNECTION_LIMIT, h->conf.max_connections + 64,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)((h->conf.idle_timeout_ms + 999) / 1000),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool, MHD_OPTION_NOTIFY_CONNECTION, s_notify, h,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, h, MHD_OPTION_END);
    h->epfd = epoll_create1(EPOLL_CLOEXEC);
    h->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &h->lfd};
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &h->stopfd};
    if ((!h->mhd && !h->n_loops) || h->epfd < 0 || h->stopfd < 0 ||
        epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->lfd, &lev) ||
        epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->stopfd, &sev)) {
        log_error("event=httpd_failed server=%s", conf->name);
        httpd_destroy(&h);
        return NULL;
    }
    h->acceptor_on = pthread_create(&h->acceptor, NULL, s_acceptor, h) == 0;
    h->reaper_on = pthread_create(&h->reaper, NULL, s_reaper, h) == 0;
    if (!h->acceptor_on || !h->reaper_on) {
        httpd_destroy(&h);
        return NULL;
    }
    log_info("event=listening server=%s listen=%s threads=%u max_connections=%u "
             "per_ip_connections=%u",
             conf->name, conf->listen, conf->threads, h->conf.max_connections,
             conf->per_ip_connections);
    return h;
}

/* httpd_quiesce - see httpd.h */
void httpd_quiesce(httpd_t *h)
{
    if (!h || h->stopping)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    pthread_cond_signal(&h->reaper_cv);
    pthread_mutex_unlock(&h->lock);
    uint64_t one = 1;
    if (h->stopfd >= 0 && write(h->stopfd, &one, sizeof one) < 0)
        log_warn("event=httpd_stop_signal_failed server=%s", h->conf.name);
    if (h->acceptor_on)
        pthread_join(h->acceptor, NULL);
    if (h->reaper_on)
        pthread_join(h->reaper, NULL);
    h->acceptor_on = h->reaper_on = 0;
    /* connections the acceptor still held never reached MHD */
    pthread_mutex_lock(&h->lock);
    for (conn_t *c = h->head, *next; c; c = next) {
        next = c->next;
        if (c->phase == PH_HEAD) {
            close(c->fd);
            s_forget(h, c);
        }
    }
    pthread_mutex_unlock(&h->lock);
    if (h->lfd >= 0)
        close(h->lfd);
    h->lfd = -1;
}

/* httpd_destroy - see httpd.h */
void httpd_destroy(httpd_t **h_p)
{
    httpd_t *h = *h_p;
    if (!h)
        return;
    httpd_quiesce(h);
    s_loops_stop(h);
    s_loops_free(h);
    if (h->mhd)
        MHD_stop_daemon(h->mhd);
    /* handed over but never started by MHD (it closed them on stop) */
    for (conn_t *c = h->head, *next; c; c = next) {
        next = c->next;
        s_forget(h, c);
    }
    for (int i = 0; i < ADDR_BUCKETS; i++)
        for (addr_count_t *a = h->addrs[i], *n; a; a = n) {
            n = a->next;
            free(a);
        }
    if (h->epfd >= 0)
        close(h->epfd);
    if (h->stopfd >= 0)
        close(h->stopfd);
    pthread_cond_destroy(&h->reaper_cv);
    pthread_mutex_destroy(&h->lock);
    free(h->handoff);
    free(h->peek);
    free(h);
    *h_p = NULL;
}

/* httpd_open - see httpd.h */
unsigned httpd_open(httpd_t *h)
{
    pthread_mutex_lock(&h->lock);
    unsigned n = h->open;
    pthread_mutex_unlock(&h->lock);
    return n;
}
