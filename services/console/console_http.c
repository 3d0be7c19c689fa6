/*
 * console_http.c - hark-console's side of libmicrohttpd, and the only file
 * of the console that knows it: the daemon, a request's body gathered and
 * bounded, the handler called, the answer handed back with its headers.
 * The rest of the console sees console_req_t and the console_http_*
 * accessors of console.h, so a shared HTTP layer can take this file's place
 * without touching the pages.
 *
 * Behind the front door the gateway uses too (common/httpd.c: connection
 * limits, head and body deadlines, malformed requests answered with the
 * console's own error page).  Threads: a small pool (libmicrohttpd's epoll
 * mode), each serving many connections, instead of a thread per
 * connection: staff are few, and a page waits only for hark-intake or the
 * journal (milliseconds) or for one Argon2id check.
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
#include "httpd.h"
#include "log.h"
#include "words.h"

struct console_http {
    httpd_t *d;                /* the shared front door (common/httpd.c) */
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
        /* only an upload to /import may be larger than the pages' bodies */
        size_t max = strcmp(r->url, "/import") == 0 ? CONSOLE_IMPORT_MAX : h->max_body;
        if (!r->too_large && r->body.len + *upload_data_size <= max)
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

/* s_front_error - an error the shared front door answers itself (a head
 * too large, slow or malformed; too many connections): the console's own
 * error page, in the reader's language, under the console's CSP */
static void s_front_error(void *cls, unsigned status, const char *code, const char *message,
                          const char *field, const char *path, const char *lang, buf_t *out,
                          const char **content_type, const char **csp)
{
    (void)code, (void)message, (void)field, (void)path;
    console_http_t *h = cls;
    console_req_t tmp = {.con = h->con};
    const char *loc = words_accept(h->con->words, lang);
    snprintf(tmp.locale, sizeof tmp.locale, "%s", loc ? loc : words_locale(h->con->words, NULL));
    /* the page words there are: the front door's own statuses read as the
     * nearest one (a slow or refused request: try again; a bad one: 400) */
    unsigned shown = status == 408 || status == 503 ? 503
                     : status == 429               ? 429
                     : status == 413 || status == 431 ? 413
                                                   : 400;
    console_page_error(&tmp, shown);
    buf_append(out, tmp.out.data ? tmp.out.data : "", tmp.out.len);
    *content_type = tmp.content_type ? tmp.content_type : "text/html; charset=utf-8";
    *csp = CONSOLE_CSP;
    for (size_t i = 0; i < tmp.n_hdr; i++)
        free(tmp.hdr_value[i]);
    buf_free(&tmp.out);
}

console_http_t *console_http_start(const char *listen, unsigned threads, size_t max_body,
                                   void (*handle)(console_req_t *r), console_t *con)
{
    console_http_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->con = con;
    h->handle = handle;
    h->max_body = max_body;
    /* the console's pages are staff pages: few people, so the limits are
     * small and fixed (hark-console(8)); the front door is the gateway's */
    httpd_config_t hc = {
        .listen = listen,
        .name = "console",
        .threads = threads,
        .max_connections = 256,
        .per_ip_connections = 64,
        .head_timeout_ms = 10000,
        .body_timeout_ms = 60000,
        .idle_timeout_ms = 30000,
        .max_header = 16 * 1024,
        .max_body = (long long)(max_body > CONSOLE_IMPORT_MAX ? max_body : CONSOLE_IMPORT_MAX),
        .error = s_front_error,
        .error_cls = h,
        .access = s_access,
        .access_cls = h,
        .completed = s_completed,
        .completed_cls = h,
    };
    h->d = httpd_new(&hc);
    if (!h->d) {
        free(h);
        return NULL;
    }
    return h;
}

void console_http_stop(console_http_t **p)
{
    if (!p || !*p)
        return;
    httpd_destroy(&(*p)->d);
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
