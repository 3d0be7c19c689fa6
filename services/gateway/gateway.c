/*
 * hark-gateway - HTTP in: events from shops, pages for customers, the admin
 * API.  Stateless: every write becomes a journal event, every read is asked
 * of the service that owns the data.
 *
 * Owns:     nothing on disk but generated keys (<state_dir>/keys/).
 * Serves:   HTTP on [gateway] listen
 *             POST /v1/events   (Bearer ingest key)  -> 202 {offsets, …}
 *             GET  /healthz                          -> 200 / 503
 *             GET, POST /u/TOKEN  unsubscribe pages (gateway_pages.c)
 *             GET, POST /s/TOKEN  NPS survey pages (gateway_survey.c)
 *             GET, PUT /v1/campaigns[/ID]  (Bearer admin key; gateway_admin.c)
 *             GET, PUT /v1/milestones[/KIND]  (Bearer admin key), read from
 *                  hark-milestone (gateway_milestone.c)
 *             GET, PUT /v1/templates[/LOCALE/NAME]  (Bearer admin key), read
 *                  from hark-mailer (gateway_templates.c)
 *             GET  /v1/reports/nps[.csv] (Bearer admin key), asked of
 *                  hark-survey (gateway_reports.c)
 *             GET, POST /feedback, /cancel  customer forms; GET /v1/cases[/ID],
 *                  POST /v1/cases/ID/reply|retag|resolve, GET
 *                  /v1/reports/reasons (Bearer admin key) (gateway_intake.c)
 *             POST /v1/loops, GET /v1/loops/preview, GET /v1/reports/loops
 *                  (Bearer admin key; gateway_loops.c), with hark-loop
 *             GET  /v1/customers/ID/export (Bearer admin key) everything
 *                  every owner holds of one customer (gateway_customers.c)
 *           [gateway] control (ROUTER): SERVICE_STATUS
 *             DELETE /v1/customers/ID (Bearer admin key): customer.erased
 *                  (gateway_customers.c)
 * Emits:    the events it accepts, mail.unsubscribed, survey.answered,
 *           customer.exported and customer.erased,
 *           via JOURNAL_APPEND.
 * Consumes: nothing.
 * Config:   [gateway] listen control public_url ingest_key admin_key max_body
 *           connection_timeout max_connections per_ip_connections
 *           journal_timeout survey_timeout milestone_timeout loop_timeout
 *           pipeline_events;
 *           [hark] token_key; [intake] control reasons timeout form_rate;
 *           [survey] control; [milestone] control; [loop] control; [mailer]
 *           control (the templates' versions); [journal] control (whether
 *           the customer of a link was erased: JOURNAL_ERASED, gateway_pages.c);
 *           shop_name (the survey page names the shop as the emails do),
 *           templates and default_locale (the words on pages, words.h).
 *
 * Threads: no thread per connection.  [gateway] threads loops (common/httpd.c
 * httpd_loop_t), each a thread with a libmicrohttpd daemon of its own behind
 * the shared front door (connection limits, head and body deadlines, errors
 * in our words) and its own DEALER to the journal (gateway_pump.c).  A
 * request that waits is suspended (MHD_suspend_connection), not a thread:
 * POST /v1/events queues its events on its loop's pump, which sends every
 * request queued in one JOURNAL_APPEND and resumes each with its own answer
 * on the same thread; every other route runs on one of a fixed set of
 * workers (four per CPU), each with its own DEALER to the owners it asks
 * (ZeroMQ sockets are not thread-safe; a pthread key closes each when the
 * thread ends).
 */
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "jtext.h"
#include "keys.h"
#include "log.h"
#include "proto.h"
#include "service.h"

static int s_init(service_t *svc);
static void s_fini(service_t *svc);
static void s_client_free(void *p);

enum { GW_WORKER, GW_INLINE };

/* What it serves over HTTP: method, path (ending in '/': a prefix, the
 * rest is the route's own) and handler (gateway_<file>.c); MHD's side of a
 * request is gateway_http.c */
static const struct {
    const char *method, *path;
    void (*fn)(gateway_req_t *);
    int where; /* GW_INLINE: on an HTTP thread, never waiting (it appends
                * through gateway_append_then); GW_WORKER: on a worker */
} s_routes[] = {
    {"POST", "/v1/events", gateway_events_post, GW_INLINE},
    {"GET", "/healthz", gateway_health_get, GW_WORKER},
    {"HEAD", "/healthz", gateway_health_get, GW_WORKER},
    {"GET", "/u/", gateway_pages_unsubscribe, GW_WORKER},
    {"HEAD", "/u/", gateway_pages_unsubscribe, GW_WORKER},
    {"POST", "/u/", gateway_pages_unsubscribe, GW_WORKER},
    {"GET", "/s/", gateway_survey, GW_WORKER},
    {"HEAD", "/s/", gateway_survey, GW_WORKER},
    {"POST", "/s/", gateway_survey, GW_WORKER},
    {"GET", "/v1/campaigns", gateway_admin_campaigns, GW_WORKER},
    {"GET", "/v1/campaigns/", gateway_admin_campaigns, GW_WORKER},
    {"PUT", "/v1/campaigns/", gateway_admin_campaigns, GW_WORKER},
    {"GET", "/v1/milestones", gateway_milestone, GW_WORKER},
    {"GET", "/v1/milestones/", gateway_milestone, GW_WORKER},
    {"PUT", "/v1/milestones/", gateway_milestone, GW_WORKER},
    {"GET", "/v1/templates", gateway_templates, GW_WORKER},
    {"GET", "/v1/templates/", gateway_templates, GW_WORKER},
    {"PUT", "/v1/templates/", gateway_templates, GW_WORKER},
    {"GET", "/v1/reports/nps", gateway_reports_nps, GW_WORKER},
    {"GET", "/v1/reports/nps.csv", gateway_reports_nps_csv, GW_WORKER},
    {"GET", "/v1/reports/reasons", gateway_reports_reasons, GW_WORKER},
    {"GET", "/v1/cases", gateway_cases, GW_WORKER},
    {"GET", "/v1/cases/", gateway_cases, GW_WORKER},
    {"POST", "/v1/cases/", gateway_cases, GW_WORKER},
    {"GET", "/feedback", gateway_intake_form, GW_WORKER},
    {"POST", "/feedback", gateway_intake_form, GW_WORKER},
    {"GET", "/cancel", gateway_intake_form, GW_WORKER},
    {"POST", "/cancel", gateway_intake_form, GW_WORKER},
    {"POST", "/v1/loops", gateway_loops_post, GW_WORKER},
    {"GET", "/v1/loops/preview", gateway_loops_preview, GW_WORKER},
    {"GET", "/v1/reports/loops", gateway_loops_report, GW_WORKER},
    {"GET", "/v1/customers/", gateway_customers_export, GW_WORKER},
    {"DELETE", "/v1/customers/", gateway_customers_erase, GW_WORKER},
};

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "gateway",
        .init = s_init,
        .fini = s_fini,
    };
    return service_main(argc, argv, &def);
}

/* s_init - keys, schemas, the HTTP daemon */
static int s_init(service_t *svc)
{
    /* a request is hundreds of small JSON allocations and a few large
     * buffers; with glibc's fastbins each large one first consolidates
     * every small chunk freed since (7 % of the gateway's time under load,
     * measured with perf).  The per-thread tcache serves small sizes as
     * well without them. */
    mallopt(M_MXFAST, 0);
    gateway_t *gw = calloc(1, sizeof *gw);
    if (!gw)
        return -1;
    service_set_state(svc, gw);
    gw->cfg = service_config(svc);
    gw->zctx = service_zctx(svc);
    gateway_config_load(gw->cfg, &gw->conf);
    /* one per-thread client key per owner the gateway asks */
    pthread_key_t *tkeys[] = {&gw->owner_keys[0], &gw->owner_keys[1], &gw->owner_keys[2],
                              &gw->owner_keys[3], &gw->owner_keys[4], &gw->owner_keys[5]};
    size_t nk = sizeof tkeys / sizeof tkeys[0];
    for (size_t i = 0; i < nk; i++) {
        if (pthread_key_create(tkeys[i], s_client_free)) {
            while (i-- > 0)
                pthread_key_delete(*tkeys[i]);
            free(gw);
            service_set_state(svc, NULL);
            return -1;
        }
    }
    if (keys_from_config(gw->cfg, "gateway", "ingest_key", "ingest", gw->ingest_key,
                         sizeof gw->ingest_key) ||
        keys_from_config(gw->cfg, "gateway", "admin_key", "admin", gw->admin_key,
                         sizeof gw->admin_key) ||
        keys_from_config(gw->cfg, "hark", "token_key", "token", gw->token_key,
                         sizeof gw->token_key)) {
        log_error("event=keys_failed dir=%s/keys", config_state_dir(gw->cfg));
        return -1;
    }
    if (gateway_events_init(gw) || gateway_admin_init(gw) || gateway_milestone_init(gw) ||
        gateway_intake_init(gw) || gateway_pages_init(gw))
        return -1;
    return gateway_http_start(gw);
}

/* s_fini - stop HTTP first (answers what is suspended, joins the threads,
 * whose clients close as they end), then free */
static void s_fini(service_t *svc)
{
    gateway_t *gw = service_state(svc);
    if (!gw)
        return;
    gateway_http_stop(gw);
    gateway_events_fini(gw);
    gateway_admin_fini(gw);
    gateway_milestone_fini(gw);
    gateway_intake_fini(gw);
    gateway_pages_fini(gw);
    for (size_t i = 0; i < GATEWAY_OWNERS; i++)
        pthread_key_delete(gw->owner_keys[i]);
    free(gw);
    service_set_state(svc, NULL);
}

/* gateway_route - pick the handler; sets 404/405 itself */
int gateway_route(gateway_req_t *r, int worker)
{
    const char *allow = NULL;
    for (size_t i = 0; i < sizeof s_routes / sizeof s_routes[0]; i++) {
        size_t pl = strlen(s_routes[i].path);
        /* a path ending in '/' is a prefix: the rest is the route's own */
        if (s_routes[i].path[pl - 1] == '/' ? strncmp(s_routes[i].path, r->url, pl) != 0
                                             : strcmp(s_routes[i].path, r->url) != 0)
            continue;
        if (strcmp(s_routes[i].method, r->method) == 0) {
            if (!worker && s_routes[i].where != GW_INLINE)
                return 0;
            s_routes[i].fn(r);
            return 1;
        }
        allow = s_routes[i].method;
    }
    if (allow) {
        r->allow = strcmp(allow, "HEAD") == 0 ? "GET, HEAD" : allow;
        if (strncmp(r->url, "/u/", 3) == 0 || strncmp(r->url, "/s/", 3) == 0)
            r->allow = "GET, HEAD, POST";
        else if (strncmp(r->url, "/v1/campaigns/", 14) == 0 ||
                 strncmp(r->url, "/v1/milestones/", 15) == 0 ||
                 strncmp(r->url, "/v1/templates/", 14) == 0)
            r->allow = "GET, PUT";
        gateway_error(r, 405, "method_not_allowed", "this path does not take that method",
                 NULL, -1);
    } else {
        gateway_error(r, 404, "not_found", "no such path", NULL, -1);
    }
    return 1;
}

/* gateway_error - JSON error body */
void gateway_error(gateway_req_t *r, unsigned status, const char *code, const char *message,
              const char *field, long index)
{
    json_t *e = json_pack("{s:s,s:s}", "code", code, "message", message);
    if (field)
        json_object_set_new(e, "field", json_string(field));
    if (index >= 0)
        json_object_set_new(e, "index", json_integer(index));
    json_t *body = json_pack("{s:o}", "error", e);
    gateway_json(r, status, body);
    json_decref(body);
}

/* gateway_body_object - the admin API's bodies (campaigns, milestones, loops) */
json_t *gateway_body_object(gateway_req_t *r)
{
    json_error_t jerr;
    json_t *c = json_loadb(r->body.data ? r->body.data : "", r->body.len,
                           JSON_REJECT_DUPLICATES, &jerr);
    char deep[120];
    if (json_is_object(c) && schema_depth_check(c, PROTO_MAX_DEPTH, deep, sizeof deep)) {
        char msg[300];
        snprintf(msg, sizeof msg, "the body nests deeper than %d levels (at %s)",
                 PROTO_MAX_DEPTH, deep);
        gateway_error(r, 400, "too_deep", msg, deep, -1);
        json_decref(c);
        return NULL;
    }
    if (json_is_object(c))
        return c;
    char msg[300];
    snprintf(msg, sizeof msg, "the body must be a JSON object (line %d column %d: %s)",
             jerr.line, jerr.column, c ? "not an object" : jerr.text);
    gateway_error(r, 400, "invalid_json", msg, NULL, -1);
    json_decref(c);
    return NULL;
}

/* gateway_json - JSON body */
void gateway_json(gateway_req_t *r, unsigned status, const json_t *body)
{
    buf_reset(&r->out);
    /* reals (the report's rates and NPS) as the CLI prints them: 33.3,
     * not 33.299999999999997 */
    if (body) {
        jtext_write(&r->out, body, JSON_REAL_PRECISION(6));
        buf_putc(&r->out, '\n');
    }
    r->status = status;
    r->content_type = "application/json";
}

/* gateway_header - request header lookup */
const char *gateway_header(gateway_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* gateway_bearer_ok - check Authorization: Bearer KEY */
int gateway_bearer_ok(gateway_req_t *r, const char *key)
{
    const char *auth = gateway_header(r, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0 &&
        keys_equal(key, auth + 7, strlen(auth + 7)))
        return 1;
    r->www_auth = "Bearer realm=\"hark\"";
    gateway_error(r, 401, "unauthorized",
             auth ? "the key is not valid here" : "send Authorization: Bearer <key>",
             "Authorization", -1);
    return 0;
}

/* gateway_actor - who an admin-API change is by, for the event's `by`: "api",
 * or "api:<name>" when the request says X-Hark-Actor: <name> (the admin key
 * is shared, so the header is how a team's tool names the person; 1-64 of
 * A-Z a-z 0-9 . _ @ -).  0, or -1 having answered 400 naming the header. */
int gateway_actor(gateway_req_t *r, char *out, size_t len)
{
    const char *a = gateway_header(r, "X-Hark-Actor");
    if (!a) {
        snprintf(out, len, "api");
        return 0;
    }
    size_t n = strlen(a);
    int ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = (a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z') ||
             (a[i] >= '0' && a[i] <= '9') || a[i] == '.' || a[i] == '_' || a[i] == '@' ||
             a[i] == '-';
    if (!ok) {
        gateway_error(r, 400, "invalid_header",
                 "X-Hark-Actor names who acts: 1-64 of A-Z a-z 0-9 . _ @ -", "X-Hark-Actor", -1);
        return -1;
    }
    snprintf(out, len, "api:%s", a);
    return 0;
}

/* gateway_journal_one - journal one admin change (payload borrowed) under key
 * (NULL: a fresh one; a client's Idempotency-Key makes a retry the same
 * event, which the journal stores once) and wait for the commit; its
 * offset, or -1 having answered 503 (the change is not made: the client
 * sends it again) */
long long gateway_journal_one(gateway_req_t *r, const char *type, const json_t *payload,
                              const char *key)
{
    char fresh[64], err[200] = "out of memory";
    if (!key)
        key = gateway_events_key_fresh(fresh, sizeof fresh) == 0 ? fresh : NULL;
    json_t *events = key
                         ? json_pack("[{s:s,s:s,s:O}]", "type", type, "key", key, "payload",
                                     (json_t *)payload)
                         : NULL;
    int refused = 0;
    json_t *ok = events ? gateway_append(r->gw, events, err, &refused) : NULL;
    json_decref(events);
    if (!ok) {
        log_warn("event=change_not_journaled type=%s error=\"%s\"", type, err);
        if (refused) {
            gateway_error(r, 500, "journal_refused",
                          "the journal refused the change; sending it again will not help",
                          NULL, -1);
            return -1;
        }
        r->retry_after = "1";
        gateway_error(r, 503, "journal_unavailable",
                 "the journal did not confirm the change; send it again", NULL, -1);
        return -1;
    }
    long long off = json_integer_value(json_array_get(json_object_get(ok, "offsets"), 0));
    json_decref(ok);
    log_info("event=change_journaled type=%s offset=%lld", type, off);
    return off;
}

/* s_client_free - pthread key destructor: close the thread's client */
static void s_client_free(void *p)
{
    wire_client_t *c = p;
    wire_client_destroy(&c);
}

/* s_thread_client - the calling thread's client under key, connected to
 * endpoint on first use; owned by the thread (freed by s_client_free) */
static wire_client_t *s_thread_client(gateway_t *gw, pthread_key_t key, const char *endpoint)
{
    wire_client_t *c = pthread_getspecific(key);
    if (!c) {
        c = wire_client_new(gw->zctx, endpoint);
        if (c && pthread_setspecific(key, c)) {
            wire_client_destroy(&c);
            return NULL;
        }
    }
    return c;
}

/* the services the gateway asks, by name (their [NAME] control socket):
 * reads go to the owner of the data; gateway_t's owner_keys follow it */
const char *const gateway_owners[GATEWAY_OWNERS] = {"survey", "milestone", "loop", "intake",
                                                    "mailer", "journal"};

/* gateway_call - ask owner through this thread's client */
json_t *gateway_call(gateway_t *gw, const char *owner, const char *cmd, const json_t *body,
                int timeout_ms, char *reply_cmd)
{
    for (size_t i = 0; i < GATEWAY_OWNERS; i++) {
        if (strcmp(gateway_owners[i], owner) != 0)
            continue;
        wire_client_t *c = s_thread_client(gw, gw->owner_keys[i], gw->conf.owner_controls[i]);
        return c ? wire_client_call_json(c, cmd, body, timeout_ms, reply_cmd) : NULL;
    }
    log_error("event=unknown_owner owner=%s cmd=%s", owner, cmd);
    return NULL;
}

/* gateway_ask - call owner; the reply with cmd == want, else NULL having
 * answered 503 (no answer) or 400 (refused) */
json_t *gateway_ask(gateway_req_t *r, const char *owner, const char *cmd, const json_t *body,
               int timeout_ms, const char *want)
{
    char got[48] = "", code[64], msg[160];
    json_t *reply = gateway_call(r->gw, owner, cmd, body, timeout_ms, got);
    if (reply && strcmp(got, want) == 0)
        return reply;
    if (reply) {
        const char *m = json_string_value(json_object_get(json_object_get(reply, "error"),
                                                          "message"));
        snprintf(msg, sizeof msg, "hark-%s refused the request", owner);
        gateway_error(r, 400, "invalid_request", m ? m : msg, NULL, -1);
    } else {
        log_warn("event=%s_unavailable cmd=%s", owner, cmd);
        r->retry_after = "1";
        snprintf(code, sizeof code, "%s_unavailable", owner);
        snprintf(msg, sizeof msg, "hark-%s did not answer; try again", owner);
        gateway_error(r, 503, code, msg, NULL, -1);
    }
    json_decref(reply);
    return NULL;
}

/* gateway_relay - relay owner's answer: ok_cmd as 200, ERROR as 400/404 */
void gateway_relay(gateway_req_t *r, const char *owner, json_t *reply, const char *cmd,
              const char *ok_cmd)
{
    if (!reply) {
        char code[64], msg[160];
        snprintf(code, sizeof code, "%s_unavailable", owner);
        snprintf(msg, sizeof msg, "hark-%s did not answer", owner);
        r->retry_after = "5";
        gateway_error(r, 503, code, msg, NULL, -1);
        return;
    }
    if (strcmp(cmd, ok_cmd) == 0) {
        gateway_json(r, 200, reply);
        return;
    }
    json_t *e = json_object_get(reply, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    int nf = code && strcmp(code, "not_found") == 0;
    gateway_error(r, nf ? 404 : 400, code ? code : "error", msg ? msg : "", NULL, -1);
}

/* gateway_arg - a query argument, or NULL when absent or empty */
const char *gateway_arg(gateway_req_t *r, const char *name)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    return v && *v ? v : NULL;
}

/* gateway_client_addr - who the request is from (httpd.c reads
 * X-Forwarded-For from [gateway] trusted_proxies) */
const struct sockaddr *gateway_client_addr(gateway_req_t *r, struct sockaddr_storage *out)
{
    return httpd_client_addr(r->gw->httpd, r->conn, out);
}
