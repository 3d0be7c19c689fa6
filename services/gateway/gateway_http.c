/*
 * gateway_http.c - the gateway's side of libmicrohttpd: the daemon (a
 * thread per connection), a request's body gathered and bounded, the route
 * taken (gateway_route) and the answer handed back with its headers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "gateway.h"
#include "log.h"

/* s_respond - hand the answer to MHD */
static enum MHD_Result s_respond(gateway_req_t *r)
{
    struct MHD_Response *resp =
        r->reader ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, r->reader,
                                                      r->reader_cls, r->reader_free)
                  : MHD_create_response_from_buffer(r->out.len,
                                                    r->out.data ? r->out.data : (char *)"",
                                                    MHD_RESPMEM_MUST_COPY);
    if (r->reader) { /* a made response owns reader_cls; MHD frees it */
        r->reader = NULL;
        if (!resp && r->reader_free)
            r->reader_free(r->reader_cls);
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type",
                            r->content_type ? r->content_type : "text/plain; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->allow)
        MHD_add_response_header(resp, "Allow", r->allow);
    if (r->www_auth)
        MHD_add_response_header(resp, "WWW-Authenticate", r->www_auth);
    /* a 503 is only for what a retry can fix, so it always says when */
    if (r->retry_after || r->status == 503)
        MHD_add_response_header(resp, "Retry-After", r->retry_after ? r->retry_after : "5");
    if (r->csp)
        MHD_add_response_header(resp, "Content-Security-Policy", r->csp);
    if (r->referrer)
        MHD_add_response_header(resp, "Referrer-Policy", r->referrer);
    if (r->disposition)
        MHD_add_response_header(resp, "Content-Disposition", r->disposition);
    if (r->close) /* libmicrohttpd closes the connection after this answer */
        MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result ret = MHD_queue_response(r->conn, r->status ? r->status : 500, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* s_count_cl - MHD_get_connection_values iterator: count Content-Length */
static enum MHD_Result s_count_cl(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind, (void)value;
    if (key && strcasecmp(key, "Content-Length") == 0)
        (*(int *)cls)++;
    return MHD_YES;
}

/* s_access - MHD's request callback: gather the body, then route */
static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size,
                                void **con_cls)
{
    (void)version;
    gateway_t *gw = cls;
    gateway_req_t *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->gw = gw;
        r->conn = conn;
        r->method = method;
        r->url = url;
        *con_cls = r;
        /* two Content-Length headers (same or not) frame the body two
         * ways: libmicrohttpd reads by the first, a proxy in front may
         * have used the other.  Refuse, and close: where this body ends
         * is not known. */
        int ncl = 0;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, s_count_cl, &ncl);
        if (ncl > 1) {
            r->close = 1;
            gateway_error(r, 400, "bad_request",
                          "send one Content-Length header, not several", "Content-Length", -1);
            return s_respond(r);
        }
        /* refuse an announced oversized body before reading any of it */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoll(cl, NULL, 10) > gw->conf.max_body) {
            char msg[120];
            snprintf(msg, sizeof msg, "the body is larger than %lld bytes", gw->conf.max_body);
            gateway_error(r, 413, "body_too_large", msg, NULL, -1);
            return s_respond(r);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->too_large && r->body.len + *upload_data_size <= (size_t)gw->conf.max_body)
            buf_append(&r->body, upload_data, *upload_data_size);
        else
            r->too_large = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->status) /* already answered (the early 400 or 413) */
        return MHD_YES;
    if (buf_failed(&r->body))
        r->too_large = 1;
    gateway_route(r);
    return s_respond(r);
}

/* s_completed - free the request */
static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    gateway_req_t *r = *con_cls;
    if (!r)
        return;
    buf_free(&r->body);
    buf_free(&r->out);
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

/* s_listen_addr - parse [gateway] listen into a sockaddr */
static int s_listen_addr(const char *listen, struct sockaddr_storage *ss, int *v6)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
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

/* gateway_http_start - listen on [gateway] listen; 0/-1 (logged) */
int gateway_http_start(gateway_t *gw)
{
    const char *listen = gw->conf.listen;
    struct sockaddr_storage ss;
    int v6 = 0;
    if (s_listen_addr(listen, &ss, &v6)) {
        log_error("event=bad_listen listen=%s", listen);
        return -1;
    }
    unsigned timeout_s = (unsigned)(gw->conf.connection_timeout_ms / 1000);
    gw->httpd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG |
            (v6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, s_access, gw, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, gw,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        gw->conf.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        gw->conf.per_ip_connections,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, gw, MHD_OPTION_END);
    if (!gw->httpd) {
        log_error("event=listen_failed listen=%s error=\"%s\"", listen, strerror(errno));
        return -1;
    }
    log_info("event=listening listen=%s", listen);
    return 0;
}

/* gateway_http_stop - stop taking requests; joins the connection threads */
void gateway_http_stop(gateway_t *gw)
{
    if (gw->httpd)
        MHD_stop_daemon(gw->httpd);
    gw->httpd = NULL;
}
