/*
 * console_http.c - hark-console's side of libmicrohttpd, and the only file
 * of the console that knows it: the daemon, a request's body gathered and
 * bounded, the handler called, the answer handed back with its headers.
 * The rest of the console sees console_req_t and the console_http_*
 * accessors of console.h, so a shared HTTP layer can take this file's place
 * without touching the pages.
 *
 * Threads: a small pool of workers (MHD_USE_EPOLL_INTERNAL_THREAD with
 * MHD_OPTION_THREAD_POOL_SIZE), each serving many connections, instead of a
 * thread per connection: staff are few, and a page waits only for
 * hark-intake or the journal (milliseconds) or for one Argon2id check.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "console.h"
#include "log.h"

struct console_http {
    struct MHD_Daemon *d;
    console_t *con;
    void (*handle)(console_req_t *r);
    size_t max_body;
};

/* s_respond - hand the answer to MHD */
static enum MHD_Result s_respond(console_req_t *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->out.len, r->out.data ? r->out.data : (char *)"", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type",
                            r->content_type ? r->content_type : "text/plain; charset=utf-8");
    for (size_t i = 0; i < r->n_hdr; i++)
        MHD_add_response_header(resp, r->hdr_name[i], r->hdr_value[i]);
    enum MHD_Result ret = MHD_queue_response(r->conn, r->status ? r->status : 500, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* s_access - MHD's request callback: gather the body, then handle */
static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size,
                                void **con_cls)
{
    (void)version;
    console_http_t *h = cls;
    console_req_t *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->con = h->con;
        r->conn = conn;
        r->method = method;
        r->url = url;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->too_large && r->body.len + *upload_data_size <= h->max_body)
            buf_append(&r->body, upload_data, *upload_data_size);
        else
            r->too_large = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (buf_failed(&r->body))
        r->too_large = 1;
    h->handle(r);
    return s_respond(r);
}

/* s_completed - free the request */
static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    console_req_t *r = *con_cls;
    if (!r)
        return;
    buf_free(&r->body);
    buf_free(&r->out);
    for (size_t i = 0; i < r->n_hdr; i++)
        free(r->hdr_value[i]);
    free(r);
    *con_cls = NULL;
}

/* s_mhd_log - MHD's own errors as our log lines */
static void s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512], q[560];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_warn("event=httpd message=%s", log_quote(msg, q, sizeof q));
}

/* s_listen_addr - "host:port" or "[v6]:port" into a sockaddr; 0/-1 */
static int s_listen_addr(const char *listen, struct sockaddr_storage *ss, int *v6)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return -1;
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host)
        return -1;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    int port = atoi(colon + 1);
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[') {
        host[strlen(host) - 1] = '\0';
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *v6 = 1;
        return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *v6 = 0;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

console_http_t *console_http_start(const char *listen, unsigned threads, size_t max_body,
                                   void (*handle)(console_req_t *r), console_t *con)
{
    struct sockaddr_storage ss;
    int v6 = 0;
    if (s_listen_addr(listen, &ss, &v6)) {
        log_error("event=bad_listen listen=%s", listen);
        return NULL;
    }
    console_http_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->con = con;
    h->handle = handle;
    h->max_body = max_body;
    h->d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0), 0, NULL,
        NULL, s_access, h, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, h, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 256u,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, 64u, MHD_OPTION_NOTIFY_COMPLETED, s_completed, h,
        MHD_OPTION_END);
    if (!h->d) {
        log_error("event=listen_failed listen=%s error=\"%s\"", listen, strerror(errno));
        free(h);
        return NULL;
    }
    log_info("event=listening listen=%s threads=%u", listen, threads);
    return h;
}

void console_http_stop(console_http_t **p)
{
    if (!p || !*p)
        return;
    if ((*p)->d)
        MHD_stop_daemon((*p)->d);
    free(*p);
    *p = NULL;
}

const char *console_http_header(console_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *console_http_arg(console_req_t *r, const char *name)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    return v && *v ? v : NULL;
}

/* s_query_arg - MHD_get_connection_values iterator: one argument, encoded */
static enum MHD_Result s_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    buf_t *b = cls;
    buf_putc(b, b->len ? '&' : '?');
    console_url_arg(b, key);
    if (value) {
        buf_putc(b, '=');
        console_url_arg(b, value);
    }
    return MHD_YES;
}

void console_http_query(console_req_t *r, buf_t *b)
{
    buf_t q = BUF_INIT;
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, s_query_arg, &q);
    if (q.len)
        buf_append(b, q.data, q.len);
    buf_free(&q);
}

const char *console_http_cookie(console_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

const struct sockaddr *console_http_peer(console_req_t *r, struct sockaddr_storage *out)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return NULL;
    size_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                        : sizeof(struct sockaddr_in);
    memset(out, 0, sizeof *out);
    memcpy(out, ci->client_addr, len);
    return (const struct sockaddr *)out;
}
