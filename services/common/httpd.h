/*
 * httpd.h - the HTTP front door Hark's web processes share: libmicrohttpd
 * in epoll mode on a fixed pool of threads (or on loops of the service's,
 * httpd_loop_t), behind a small acceptor that holds a connection until its
 * first request head is whole and well formed.
 *
 * What it guarantees, whatever the service behind it does:
 *   - no thread per connection and no select(): thousands of open
 *     connections cost memory, not threads or FD_SETSIZE;
 *   - at most max_connections at once (when full, the connection idle the
 *     longest between requests is closed to make room; with none idle, a
 *     503) and at most per_ip_connections from one address (429).  Behind
 *     a trusted proxy the address counted is the client's from
 *     X-Forwarded-For, not the proxy's;
 *   - deadlines for the whole request head (head_timeout, from accept)
 *     and for the whole body (body_timeout, from the end of the head), not
 *     only idle time; a kept-alive connection must send its next request
 *     within idle_timeout;
 *   - a request head larger than max_header is a 431, a malformed one a
 *     400, two Content-Length headers (or one with Transfer-Encoding) a 400,
 *     a Content-Length over max_body a 413, each answered by the service's
 *     own error function (JSON, or a page in the reader's language), never
 *     libmicrohttpd's HTML.
 *
 * The service supplies the access and completed callbacks as it would to
 * MHD_start_daemon; the daemon is started with MHD_ALLOW_SUSPEND_RESUME so
 * a request waiting for another process is suspended, not a thread.
 */
#ifndef HARK_HTTPD_H
#define HARK_HTTPD_H

#include <microhttpd.h>
#include <stddef.h>
#include <sys/socket.h>

#include "buf.h"

typedef struct httpd httpd_t;

/* httpd_error_fn - the answer to a request refused before it reaches the
 * service: the body into out, its type into *content_type, a
 * Content-Security-Policy (or NULL) into *csp.  field names the header
 * at fault (or NULL).  path is the request's path
 * ("" when no head was read), lang its Accept-Language (or NULL).  Called
 * from the acceptor's and MHD's threads: must be thread-safe. */
typedef void (*httpd_error_fn)(void *cls, unsigned status, const char *code, const char *message,
                               const char *field, const char *path, const char *lang,
                               buf_t *out, const char **content_type, const char **csp);

/* httpd_loop_t - run the service's own work on the HTTP threads.  With
 * loop set, each of the `threads` threads runs a libmicrohttpd daemon of
 * its own from its own epoll loop (MHD_USE_EPOLL, no internal thread)
 * instead of one daemon's pool: a service whose requests wait on a socket
 * of its own (the gateway's line to the journal) keeps that socket on the
 * same thread as its connections, and resumes them there, with no hand-off
 * between threads.  Each function gets loop_cls and the loop's number i,
 * and is called on loop i's thread. */
typedef struct {
    /* first, before any connection: epfd is the loop's epoll set, where
     * the service adds its own descriptors (data.ptr NULL: any event of
     * theirs only wakes the loop, which then calls run) */
    void (*start)(void *cls, unsigned i, int epfd);
    /* each time round, after libmicrohttpd has read and answered what it
     * could: the service's own work.  Sets *resumed when it resumed a
     * connection (libmicrohttpd then runs again at once); returns the ms
     * until it must run again, or -1 */
    long long (*run)(void *cls, unsigned i, int *resumed);
    /* last, when the server stops: answer every connection still
     * suspended (resume it) */
    void (*stop)(void *cls, unsigned i);
    void *cls;
} httpd_loop_t;

typedef struct {
    const char *listen;                 /* "host:port" or "[v6]:port" */
    const char *name;                   /* for log lines: "gateway", "console" */
    unsigned threads;                   /* libmicrohttpd's pool */
    unsigned max_connections;           /* at once, all addresses */
    unsigned per_ip_connections;        /* at once, one address */
    long long head_timeout_ms;          /* accept .. end of the request head */
    long long body_timeout_ms;          /* end of the head .. end of the body */
    long long idle_timeout_ms;          /* between requests on one connection */
    size_t max_header;                  /* bytes of request line and headers */
    long long max_body;                 /* a larger Content-Length is a 413 */
    const struct sockaddr_storage *proxies; /* whose X-Forwarded-For to believe */
    size_t n_proxies;
    httpd_error_fn error;
    void *error_cls;
    MHD_AccessHandlerCallback access;
    void *access_cls;
    MHD_RequestCompletedCallback completed;
    void *completed_cls;
    const httpd_loop_t *loop;           /* NULL: libmicrohttpd's own pool */
} httpd_config_t;

/* httpd_new - listen and serve; NULL (logged) when the address cannot be
 * bound or a thread cannot start.  conf is copied; its strings and
 * proxies must outlive the server. */
httpd_t *httpd_new(const httpd_config_t *conf);

/* httpd_quiesce - stop taking connections (the service then finishes or
 * fails what it has suspended, before httpd_destroy) */
void httpd_quiesce(httpd_t *h);

/* httpd_destroy - stop everything; open connections are closed */
void httpd_destroy(httpd_t **h_p);

/* httpd_parse_addr - a numeric IPv4 or IPv6 address (no port); 0/-1 */
int httpd_parse_addr(const char *s, struct sockaddr_storage *ss);

/* httpd_client_addr - who a request is from: the peer, or, when the peer
 * is a trusted proxy, the last address in X-Forwarded-For that is not
 * itself a trusted proxy (a malformed entry there: the peer).  Into out;
 * returns (struct sockaddr *)out, or NULL when MHD does not know the peer. */
const struct sockaddr *httpd_client_addr(const httpd_t *h, struct MHD_Connection *conn,
                                         struct sockaddr_storage *out);

/* httpd_loop_current - the number of the loop whose thread calls it, or
 * -1 on any other thread */
int httpd_loop_current(void);

/* httpd_loop_self - on a loop's thread, the loop (for httpd_loop_wake);
 * NULL on any other thread */
void *httpd_loop_self(void);

/* httpd_loop_wake - after MHD_resume_connection from another thread: wake
 * the loop (httpd_loop_self on the thread that suspended the connection)
 * to run it: a daemon run from a loop does not watch its own inter-thread
 * channel.  NULL: nothing to do (libmicrohttpd's pool). */
void httpd_loop_wake(void *loop);

/* httpd_open - connections open now (held by the acceptor or MHD) */
unsigned httpd_open(httpd_t *h);

/* The check of a connection's first request head, before libmicrohttpd
 * sees it (exposed for its tests and fuzz target). */
typedef struct {
    char path[512];              /* the target up to '?' (cut at 500) */
    char lang[128];              /* Accept-Language, if any */
    unsigned status;             /* 0: fine; else the answer: 400 413 501 505 */
    const char *code, *msg;      /* the error's code and words */
    const char *field;           /* the header at fault, or NULL */
    char buf[120];               /* msg when it is counted */
} httpd_head_t;

/* httpd_head_end - the length of a request head in p[0..n), up to and
 * including its empty line; 0 when it is not whole yet */
size_t httpd_head_end(const char *p, size_t n);

/* httpd_head_check - the shape of the head p[0..n) (as httpd_head_end
 * measured it): the request line (method, target, HTTP/1.0 or 1.1), each
 * header line (a token, ':', a value without control characters; no
 * folding), one Host for HTTP/1.1, and the body's framing (at most one
 * Content-Length, a number no larger than max_body; never with
 * Transfer-Encoding, which must be chunked).  Fills out. */
void httpd_head_check(const char *p, size_t n, long long max_body, httpd_head_t *out);

#endif
