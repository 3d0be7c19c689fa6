/*
 * gateway_http.c - the gateway's side of libmicrohttpd, behind the shared
 * front door (common/httpd.c): a request's body gathered and bounded, the
 * route taken (gateway_route) on the HTTP thread when it never waits, else
 * on a worker while the connection is suspended, and the answer handed
 * back with its headers.  Errors the front door makes itself are worded
 * here too (s_front_error): JSON on the API, a page in the reader's
 * language on the customers' pages.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "log.h"
#include "words.h"

/* s_respond - hand the answer to MHD */
static enum MHD_Result s_respond(gateway_req_t *r)
{
    struct MHD_Response *resp;
    if (r->reader) {
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, r->reader,
                                                 r->reader_cls, r->reader_free);
    } else if (r->out.data && !buf_failed(&r->out)) {
        /* the body is handed over, not copied: a malloc and a copy less a
         * request */
        size_t len = r->out.len;
        char *body = buf_release(&r->out);
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(body);
    } else {
        resp = MHD_create_response_from_buffer(r->out.len,
                                               r->out.data ? r->out.data : (char *)"",
                                               MHD_RESPMEM_MUST_COPY);
    }
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

/* s_work_push - queue r for a worker (r's connection is suspended); -1
 * when the workers are stopping */
static int s_work_push(gateway_t *gw, gateway_req_t *r)
{
    r->next = NULL;
    pthread_mutex_lock(&gw->work_lock);
    if (gw->work_stop) {
        pthread_mutex_unlock(&gw->work_lock);
        return -1;
    }
    if (gw->work_tail)
        gw->work_tail->next = r;
    else
        gw->work_head = r;
    gw->work_tail = r;
    pthread_cond_signal(&gw->work_cv);
    pthread_mutex_unlock(&gw->work_lock);
    return 0;
}

/* s_job_done - the pump's answer to a request's append (on the request's
 * own loop thread): kept for the access callback, which words the answer
 * when MHD runs the resumed connection, in the same turn of the loop */
static void s_job_done(gateway_job_t *j, json_t *ok, const char *err, int refused)
{
    gateway_req_t *r = (gateway_req_t *)((char *)j - offsetof(gateway_req_t, job));
    r->job_ok = ok;
    r->job_refused = refused;
    if (err)
        snprintf(r->job_err, sizeof r->job_err, "%s", err);
    else
        r->job_err[0] = '\0';
    r->job_done = 1;
    MHD_resume_connection(r->conn);
}

/* s_job_done_text - as s_job_done, for a result given as text: worded at
 * once (r is suspended, and this is its loop's thread) */
static void s_job_done_text(gateway_job_t *j, const char *ok, size_t len)
{
    gateway_req_t *r = (gateway_req_t *)((char *)j - offsetof(gateway_req_t, job));
    r->then_text(r, ok, len);
    r->job_done = 1;
    r->answered = 1;
    MHD_resume_connection(r->conn);
}

/* gateway_append_then_text - see gateway.h */
void gateway_append_then_text(gateway_req_t *r,
                              void (*then_text)(gateway_req_t *r, const char *ok, size_t len))
{
    r->then_text = then_text;
    r->job.done_text = then_text ? s_job_done_text : NULL;
}

/* gateway_append_then - see gateway.h: s_access suspends r and submits */
void gateway_append_then(gateway_req_t *r, char *text, size_t len, size_t n,
                         void (*then)(gateway_req_t *r, json_t *ok, const char *err,
                                      int refused))
{
    r->job.text = text;
    r->job.text_len = len;
    r->job.n_events = n;
    r->job.done = s_job_done;
    r->then = then;
}

/* s_worker - a worker: run queued routes, resume their connections */
static void *s_worker(void *arg)
{
    gateway_t *gw = arg;
    for (;;) {
        pthread_mutex_lock(&gw->work_lock);
        while (!gw->work_head && !gw->work_stop)
            pthread_cond_wait(&gw->work_cv, &gw->work_lock);
        gateway_req_t *r = gw->work_head;
        if (r) {
            gw->work_head = r->next;
            if (!gw->work_head)
                gw->work_tail = NULL;
        }
        int stop = gw->work_stop;
        pthread_mutex_unlock(&gw->work_lock);
        if (!r && stop)
            return NULL;
        if (stop) { /* stopping: answer without waiting for anyone */
            r->retry_after = "5";
            gateway_error(r, 503, "stopping", "the gateway is stopping; try again", NULL, -1);
        } else {
            gateway_route(r, 1);
        }
        r->answered = 1;
        void *loop = r->loop; /* r is MHD's again once resumed */
        MHD_resume_connection(r->conn);
        httpd_loop_wake(loop);
    }
}

/* s_access - MHD's request callback (through httpd.c): gather the body,
 * then route */
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
         * is not known.  (httpd.c refuses it before a connection's first
         * request; this is for the ones after.) */
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
    if (r->job_done && !r->answered) { /* resumed by the pump: word its answer */
        r->then(r, r->job_ok, r->job_err, r->job_refused);
        r->job_ok = NULL;
        r->answered = 1;
    }
    if (r->answered) /* resumed: a worker or the pump answered */
        return s_respond(r);
    if (r->status) /* already answered (the early 400 or 413) */
        return MHD_YES;
    if (buf_failed(&r->body))
        r->too_large = 1;
    if (!gateway_route(r, 0)) { /* it waits: on a worker, suspended */
        r->loop = httpd_loop_self();
        MHD_suspend_connection(conn);
        if (s_work_push(gw, r) == 0)
            return MHD_YES;
        MHD_resume_connection(conn);
        r->retry_after = "5";
        gateway_error(r, 503, "stopping", "the gateway is stopping; try again", NULL, -1);
        r->answered = 1;
        return MHD_YES;
    }
    if (r->job.text) { /* it appends: suspended until this loop's pump answers */
        MHD_suspend_connection(conn);
        gateway_pump_queue(gw->pumps[httpd_loop_current()], &r->job);
        return MHD_YES;
    }
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
    json_decref(r->job.events);
    json_decref(r->job_ok);
    free(r->job.text);
    buf_free(&r->body);
    buf_free(&r->out);
    free(r);
    *con_cls = NULL;
}

/* s_page_path - the customers' pages: their errors are pages */
static int s_page_path(const char *path)
{
    return strncmp(path, "/s/", 3) == 0 || strncmp(path, "/u/", 3) == 0 ||
           strcmp(path, "/feedback") == 0 || strcmp(path, "/cancel") == 0;
}

/* s_front_error - an error the front door answers itself (httpd.c): JSON,
 * or on a customer page a short page in the reader's language */
static void s_front_error(void *cls, unsigned status, const char *code, const char *message,
                          const char *field, const char *path, const char *lang, buf_t *out,
                          const char **content_type, const char **csp)
{
    gateway_t *gw = cls;
    if (s_page_path(path) && gw->words) {
        /* the page a customer's own request would get, in their words */
        gateway_req_t tmp = {.gw = gw};
        int busy = status == 503 || status == 429 || status == 408;
        const char *loc = words_accept(gw->words, lang);
        gateway_pages_say(&tmp, status, loc ? loc : words_locale(gw->words, NULL),
                          busy ? "http.busy_title" : "http.bad_title", "err",
                          busy ? "http.busy_text" : "http.bad_text", NULL);
        buf_append(out, tmp.out.data ? tmp.out.data : "", tmp.out.len);
        buf_free(&tmp.out);
        *content_type = "text/html; charset=utf-8";
        *csp = tmp.csp;
        return;
    }
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    if (field)
        json_object_set_new(json_object_get(body, "error"), "field", json_string(field));
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (s) {
        buf_puts(out, s);
        buf_putc(out, '\n');
    }
    free(s);
    json_decref(body);
    *content_type = "application/json";
}

/* the HTTP loops' own work: each loop's pump (common/httpd.c runs them) */
static void s_loop_start(void *cls, unsigned i, int epfd)
{
    gateway_t *gw = cls;
    gateway_pump_attach(gw->pumps[i], epfd);
}

static long long s_loop_run(void *cls, unsigned i, int *resumed)
{
    gateway_t *gw = cls;
    return gateway_pump_run(gw->pumps[i], resumed);
}

static void s_loop_stop(void *cls, unsigned i)
{
    gateway_t *gw = cls;
    gateway_pump_stop(gw->pumps[i]);
}

/* gateway_http_start - the workers, a pump per HTTP loop and the front
 * door */
int gateway_http_start(gateway_t *gw)
{
    pthread_mutex_init(&gw->work_lock, NULL);
    pthread_cond_init(&gw->work_cv, NULL);
    gw->pumps = calloc(gw->conf.threads, sizeof *gw->pumps);
    if (!gw->pumps)
        return -1;
    for (; gw->n_pumps < gw->conf.threads; gw->n_pumps++) {
        gw->pumps[gw->n_pumps] = gateway_pump_new(gw->zctx, gw->conf.journal_endpoint,
                                                  gw->conf.journal_timeout_ms,
                                                  gw->conf.journal_max_batch,
                                                  gw->conf.pipeline_events);
        if (!gw->pumps[gw->n_pumps])
            return -1;
    }
    gw->loop = (httpd_loop_t){
        .start = s_loop_start, .run = s_loop_run, .stop = s_loop_stop, .cls = gw};
    unsigned nw = gw->conf.workers;
    gw->workers = calloc(nw, sizeof *gw->workers);
    if (!gw->workers)
        return -1;
    for (; gw->n_workers < nw; gw->n_workers++)
        if (pthread_create(&gw->workers[gw->n_workers], NULL, s_worker, gw))
            return -1;
    httpd_config_t hc = {
        .listen = gw->conf.listen,
        .name = "gateway",
        .threads = gw->conf.threads,
        .max_connections = gw->conf.max_connections,
        .per_ip_connections = gw->conf.per_ip_connections,
        .head_timeout_ms = gw->conf.head_timeout_ms,
        .body_timeout_ms = gw->conf.body_timeout_ms,
        .idle_timeout_ms = gw->conf.connection_timeout_ms,
        .max_header = gw->conf.max_header,
        .max_body = gw->conf.max_body,
        .proxies = gw->conf.proxies,
        .n_proxies = gw->conf.n_proxies,
        .error = s_front_error,
        .error_cls = gw,
        .access = s_access,
        .access_cls = gw,
        .completed = s_completed,
        .completed_cls = gw,
        .loop = &gw->loop,
    };
    gw->httpd = httpd_new(&hc);
    return gw->httpd ? 0 : -1;
}

/* gateway_http_stop - no new connections; the workers answer what they
 * hold (their appends still go through the loops), then the loops stop:
 * each pump fails what the journal has not answered (503) and only then
 * does its daemon stop, with no connection left suspended */
void gateway_http_stop(gateway_t *gw)
{
    httpd_quiesce(gw->httpd);
    pthread_mutex_lock(&gw->work_lock);
    gw->work_stop = 1;
    pthread_cond_broadcast(&gw->work_cv);
    pthread_mutex_unlock(&gw->work_lock);
    for (unsigned i = 0; i < gw->n_workers; i++)
        pthread_join(gw->workers[i], NULL);
    free(gw->workers);
    gw->workers = NULL;
    gw->n_workers = 0;
    httpd_destroy(&gw->httpd);
    for (unsigned i = 0; i < gw->n_pumps; i++)
        gateway_pump_destroy(&gw->pumps[i]);
    free(gw->pumps);
    gw->pumps = NULL;
    gw->n_pumps = 0;
    pthread_cond_destroy(&gw->work_cv);
    pthread_mutex_destroy(&gw->work_lock);
}
