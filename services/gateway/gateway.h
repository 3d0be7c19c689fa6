/*
 * gateway.h - what the gateway's parts share: the gateway, one request, and
 * the helpers that answer it.
 */
#ifndef HARK_GATEWAY_H
#define HARK_GATEWAY_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>

#include "buf.h"
#include "config.h"
#include "httpd.h"
#include "schema.h"
#include "wire.h"

typedef struct {
    const char *type;
    schema_t *schema;
} gateway_event_type_t;

/* the services the gateway asks: "survey", "milestone", "loop", "intake",
 * "mailer" */
#define GATEWAY_OWNERS 6
extern const char *const gateway_owners[GATEWAY_OWNERS];

/* hark-gateway's settings, read once at start (gateway_config.c).  Strings
 * point into the config, which lives as long as the process. */
#define GW_SERVICES_MAX 32
#define GW_PROXIES_MAX 32
typedef struct {
    const char *listen, *public_url;
    long long max_body;
    long long connection_timeout_ms;
    unsigned max_connections, per_ip_connections;
    unsigned threads;           /* [gateway] threads (0 in the config: the CPUs) */
    unsigned workers;           /* four per CPU */
    long long head_timeout_ms, body_timeout_ms;
    size_t max_header;
    int journal_timeout_ms;
    int survey_timeout_ms;      /* [gateway] survey_timeout, for reports */
    int milestone_timeout_ms;   /* [gateway] milestone_timeout */
    int loop_timeout_ms;        /* [gateway] loop_timeout */
    int intake_timeout_ms;      /* [intake] timeout */
    const char *journal_endpoint; /* [journal] endpoint */
    size_t journal_max_batch;   /* [journal] max_batch: events in one JOURNAL_APPEND */
    size_t pipeline_events;     /* [gateway] pipeline_events (0: one message at a time) */
    const char *owner_controls[GATEWAY_OWNERS]; /* each gateway_owners[i]'s [NAME] control */
    const char *services[GW_SERVICES_MAX]; /* [hark] services */
    const char *controls[GW_SERVICES_MAX]; /* each one's control endpoint, or NULL */
    size_t n_services;
    int intake_on;              /* hark-intake is one of them */
    int form_rate;              /* [intake] form_rate */
    const char *reasons;        /* [intake] reasons */
    const char *shop_name, *templates, *default_locale; /* [mailer] */
    /* [gateway] trusted_proxies, parsed: whose X-Forwarded-For we believe */
    struct sockaddr_storage proxies[GW_PROXIES_MAX];
    size_t n_proxies;
} gateway_config_t;

/* gateway_config_load - fill out from cfg (already checked) */
void gateway_config_load(const config_t *cfg, gateway_config_t *out);

/* A journal append handed to the pump (gateway_pump.c): events borrowed
 * until done, which runs on the pump's loop thread with the JOURNAL_APPEND_OK
 * result ({"offsets","duplicates"}, given to done) or err and refused (1:
 * the journal refused the events as they are, a retry cannot help).  The
 * events are given either as JSON (events; text is then written by
 * gateway_pump_submit) or already as text with their number (n_events). */
typedef struct gateway_job gateway_job_t;
struct gateway_job {
    json_t *events;
    char *text;               /* the events' JSON array text (owned) */
    size_t text_len;
    size_t n_events;          /* how many events text holds */
    void (*done)(gateway_job_t *j, json_t *ok, const char *err, int refused);
    /* when set, a result of the journal's usual shape goes here instead,
     * as its text {"offsets":[...],"duplicates":[...]} (len bytes, not
     * NUL-terminated): no tree to read it into and write it out again */
    void (*done_text)(gateway_job_t *j, const char *ok, size_t len);
    /* the pump's own */
    gateway_job_t *next;
    uint64_t reqid;
    int64_t queued_ms, sent_ms;
};
/* A pump: one HTTP loop's DEALER to the journal (gateway_pump.c) */
typedef struct gateway_pump gateway_pump_t;
gateway_pump_t *gateway_pump_new(void *zctx, const char *endpoint, int timeout_ms,
                                 size_t max_events, size_t pipeline_events);
void gateway_pump_attach(gateway_pump_t *p, int epfd);
void gateway_pump_queue(gateway_pump_t *p, gateway_job_t *j);
void gateway_pump_submit(gateway_pump_t *p, gateway_job_t *j);
long long gateway_pump_run(gateway_pump_t *p, int *finished);
void gateway_pump_stop(gateway_pump_t *p);
void gateway_pump_destroy(gateway_pump_t **p_p);
int gateway_pump_connected(gateway_pump_t *p);

typedef struct {
    const config_t *cfg;
    gateway_config_t conf;     /* read once at start */
    void *zctx;
    httpd_t *httpd;
    gateway_pump_t **pumps;    /* each HTTP loop's line to the journal */
    unsigned n_pumps;
    httpd_loop_t loop;         /* what the HTTP loops run beside MHD */
    /* the workers: requests that wait for an owner (gateway_http.c) */
    pthread_t *workers;
    unsigned n_workers;
    pthread_mutex_t work_lock;
    pthread_cond_t work_cv;
    struct gateway_req *work_head, *work_tail;
    int work_stop;
    char ingest_key[128];
    char admin_key[128];
    char token_key[128];      /* signs links in emails */
    schema_t *envelope;
    gateway_event_type_t types[32]; /* event types the gateway accepts */
    size_t n_types;
    char known_types[512];     /* "customer, purchase, …" for error messages */
    schema_t *answered;        /* survey.answered, which the gateway itself emits */
    schema_t *campaign;        /* campaign.saved, from the admin API (gateway_admin.c) */
    schema_t *milestone;       /* milestone.saved, from the admin API (gateway_milestone.c) */
    /* each worker's (and HTTP thread's, for streamed answers) DEALER to
     * each gateway_owners[i]'s control socket: a fixed number of threads */
    pthread_key_t owner_keys[GATEWAY_OWNERS];
    struct reasons *reasons;   /* [intake] reasons, NULL when intake is not run */
    struct ratelimit *form_rate; /* per-address counts of form POSTs (gateway_intake.c) */
    struct words *words;       /* the words on pages, per locale (gateway_pages.c) */
} gateway_t;

/* One HTTP request, alive from its first callback to MHD's "completed". */
typedef struct gateway_req {
    gateway_t *gw;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    buf_t body;
    int too_large;
    /* the answer */
    unsigned status;
    buf_t out;
    const char *content_type;
    const char *allow;         /* for 405 */
    const char *www_auth;      /* for 401 */
    const char *retry_after;   /* for 503 and 429 */
    char retry_buf[16];        /* retry_after when it is counted */
    const char *csp;           /* Content-Security-Policy for pages */
    const char *referrer;      /* Referrer-Policy for pages */
    const char *disposition;   /* Content-Disposition for downloads */
    int close;                 /* close the connection after answering */
    /* a streamed body instead of out (status and content_type still set):
     * MHD calls reader from this connection's thread until it ends, then
     * reader_free(reader_cls) */
    MHD_ContentReaderCallback reader;
    void *reader_cls;
    MHD_ContentReaderFreeCallback reader_free;
    /* while suspended: waiting for a worker, or for the pump (job) */
    int answered;              /* the answer is ready: queue it when resumed */
    void *loop;                /* the HTTP loop it is suspended on */
    gateway_job_t job;
    /* the pump's answer to job, turned into the answer by then() when
     * MHD runs the resumed connection */
    int job_done, job_refused;
    json_t *job_ok;
    char job_err[200];
    void (*then)(struct gateway_req *r, json_t *ok, const char *err, int refused);
    void (*then_text)(struct gateway_req *r, const char *ok, size_t len);
    struct gateway_req *next;  /* the workers' queue */
} gateway_req_t;

/* gateway_route - answer r by the route table (gateway.c); 404/405 itself.
 * On an HTTP thread (worker 0) only a route that never waits runs: 0 when
 * r must go to a worker instead, 1 when the route ran. */
int gateway_route(gateway_req_t *r, int worker);

/* gateway_append_then - from a route on an HTTP thread: append n events,
 * given as the text of their JSON array (stolen, len bytes), through the
 * pump without waiting; the request is suspended and then(r, ok (stolen),
 * err, refused) answers it on its HTTP thread when resumed */
void gateway_append_then(gateway_req_t *r, char *text, size_t len, size_t n,
                         void (*then)(gateway_req_t *r, json_t *ok, const char *err,
                                      int refused));
/* gateway_append_then_text - after gateway_append_then: a result of the
 * journal's usual shape goes to then_text(r, text, len) instead, which
 * words the answer from the result's text (see gateway_job_t done_text) */
void gateway_append_then_text(gateway_req_t *r,
                              void (*then_text)(gateway_req_t *r, const char *ok, size_t len));

/* gateway_http_start - start the HTTP daemon on [gateway] listen
 * (gateway_http.c); 0/-1 (logged) */
int gateway_http_start(gateway_t *gw);
/* gateway_http_stop - stop it: no new connections, the suspended ones
 * answered, the threads joined */
void gateway_http_stop(gateway_t *gw);

/* gateway_error - a JSON error {"error":{"code","message","field"?,"index"?}};
 * index < 0 leaves it out */
void gateway_error(gateway_req_t *r, unsigned status, const char *code, const char *message,
              const char *field, long index);

/* gateway_json - answer with a JSON value (not stolen) */
void gateway_json(gateway_req_t *r, unsigned status, const json_t *body);

/* gateway_body_object - the request body as a JSON object (caller decrefs), or
 * NULL having answered 400 invalid_json with where the parse failed */
json_t *gateway_body_object(gateway_req_t *r);

/* gateway_header - a request header, or NULL */
const char *gateway_header(gateway_req_t *r, const char *name);

/* gateway_bearer_ok - whether Authorization: Bearer matches key (constant time);
 * answers 401 itself when not */
int gateway_bearer_ok(gateway_req_t *r, const char *key);

/* gateway_journal_one - journal one admin change (payload borrowed) under key
 * (NULL: a fresh one), waiting for the commit; its offset, or -1 having
 * answered 503 */
long long gateway_journal_one(gateway_req_t *r, const char *type, const json_t *payload,
                              const char *key);

/* gateway_actor - "api" or "api:<X-Hark-Actor>" into out (at least 72 bytes),
 * for the by field of an admin change; -1 having answered 400 */
int gateway_actor(gateway_req_t *r, char *out, size_t len);

/* gateway_append - on a worker: append events (a JSON array of
 * JOURNAL_APPEND events, not stolen) through the pump and wait for the commit.
 * Returns the JOURNAL_APPEND_OK body (caller decrefs), or NULL with err
 * (size >= 200) saying why and *refused (may be NULL) 1 when the journal
 * refused the events as they are (answer 500, not 503: a retry cannot help),
 * 0 when it did not answer or could not store them now (503). */
json_t *gateway_append(gateway_t *gw, const json_t *events, char *err, int *refused);
/* gateway_client_addr - who the request is from: the peer, or, when the
 * peer is one of [gateway] trusted_proxies, the last address in
 * X-Forwarded-For that is not itself a trusted proxy (a malformed entry
 * there: the peer).  Into out; returns (struct sockaddr *)out, or NULL
 * when MHD does not know the peer. */
const struct sockaddr *gateway_client_addr(gateway_req_t *r, struct sockaddr_storage *out);

/* gateway_call - one request to owner's control socket ([owner] control; one
 * of gateway_owners) through this thread's client, waiting at most timeout_ms.
 * Returns the reply body (caller decrefs) with its command in reply_cmd
 * (size 48; "ERROR" for an error reply), or NULL when owner did not
 * answer. */
json_t *gateway_call(gateway_t *gw, const char *owner, const char *cmd, const json_t *body,
                int timeout_ms, char *reply_cmd);

/* gateway_ask - gateway_call expecting reply command want: the reply (caller
 * decrefs), else NULL having answered 503 <owner>_unavailable (no answer)
 * or 400 invalid_request (refused) */
json_t *gateway_ask(gateway_req_t *r, const char *owner, const char *cmd, const json_t *body,
               int timeout_ms, const char *want);

/* gateway_relay - answer with owner's reply (borrowed; cmd its command): ok_cmd
 * as 200, an error reply as 404 (not_found) or 400, none as 503 */
void gateway_relay(gateway_req_t *r, const char *owner, json_t *reply, const char *cmd,
              const char *ok_cmd);

/* gateway_arg - a query argument, or NULL when absent or empty */
const char *gateway_arg(gateway_req_t *r, const char *name);

/* gateway_events_key_fresh - a fresh, time-ordered gateway event key "gw:…" into key
 * (size >= 48); 0/-1 */
int gateway_events_key_fresh(char *key, size_t len);

/* gateway_pages_show - a small HTML page with Hark's style; body_html is trusted */
void gateway_pages_show(gateway_req_t *r, unsigned status, const char *lang, const char *title,
             const char *body_html);

/* gateway_pages_text - a page of a heading and one paragraph (trusted HTML, class
 * cls when not NULL), for "not found", "try again" and the like */
void gateway_pages_text(gateway_req_t *r, unsigned status, const char *lang, const char *title,
                  const char *cls, const char *text_html);

/* gateway_pages_say - a page of a heading and one paragraph, the words
 * title_key and text_key of locale (words.h; vars fill text_key in, may be
 * NULL) */
void gateway_pages_say(gateway_req_t *r, unsigned status, const char *locale,
                       const char *title_key, const char *cls, const char *text_key,
                       const json_t *vars);

/* gateway_pages_erased - 1 when hark-journal says customer cid was erased
 * (JOURNAL_ERASED); 0 when not, for "" and when it does not answer in time */
int gateway_pages_erased(gateway_t *gw, const char *cid);

/* gateway_pages_erased_say - the 410 page of an erased customer's link */
void gateway_pages_erased_say(gateway_req_t *r, const char *lang);

/* gateway_pages_init - load the pages' words ([mailer] templates); 0/-1.
 * gateway_pages_fini frees them. */
int gateway_pages_init(gateway_t *gw);
void gateway_pages_fini(gateway_t *gw);

/* gateway_survey_form_field - the first value of name in an urlencoded body, decoded
 * into out: 1 found, 0 absent, -1 malformed (gateway_survey.c) */
int gateway_survey_form_field(const char *body, size_t len, const char *name, buf_t *out);
/* gateway_survey_origin_ok - 1 when the request has no Origin or public_url's */
int gateway_survey_origin_ok(gateway_req_t *r);
/* gateway_survey_clean_text - customer text as stored: valid UTF-8 (-1 otherwise),
 * control characters dropped, trimmed, at most 4000 characters; 0/-1 */
int gateway_survey_clean_text(const char *s, size_t n, buf_t *out);

/* gateway_intake.c: the reason taxonomy (when hark-intake runs) and the
 * customer forms; gateway_cases.c the cases admin API, gateway_reports.c
 * the reasons report */
int gateway_intake_init(gateway_t *gw);
void gateway_intake_fini(gateway_t *gw);
/* gateway_intake_check - a complaint/cancellation's reason_code must be in the
 * taxonomy; 0, or -1 having answered 400 */
int gateway_intake_check(gateway_req_t *r, const char *type, const json_t *data, long index);
void gateway_intake_form(gateway_req_t *r);
void gateway_cases(gateway_req_t *r);
void gateway_reports_reasons(gateway_req_t *r);
/* gateway_cases_param_ok - a cases or reasons-report query parameter's
 * value, or 0 having answered 400 naming it */
int gateway_cases_param_ok(gateway_req_t *r, const char *name, const char *v);
/* gateway_cases_params - the NULL-ended keys the query has, each checked,
 * into req as strings; 0, or -1 having answered 400 */
int gateway_cases_params(gateway_req_t *r, json_t *req, const char *const keys[]);

/* the routes */
void gateway_events_post(gateway_req_t *r);
void gateway_health_get(gateway_req_t *r);
void gateway_pages_unsubscribe(gateway_req_t *r);
void gateway_survey(gateway_req_t *r);
void gateway_admin_campaigns(gateway_req_t *r);
void gateway_milestone(gateway_req_t *r);
void gateway_templates(gateway_req_t *r); /* gateway_templates.c */
void gateway_reports_nps(gateway_req_t *r);
void gateway_reports_nps_csv(gateway_req_t *r);
void gateway_loops_post(gateway_req_t *r);
void gateway_loops_preview(gateway_req_t *r);
void gateway_loops_report(gateway_req_t *r);
void gateway_customers_erase(gateway_req_t *r); /* gateway_customers.c: DELETE /v1/customers/ID */

/* gateway_customers.c: GET /v1/customers/ID/export (admin key) */
void gateway_customers_export(gateway_req_t *r);

/* gateway_events_init - compile the event schemas the gateway accepts; 0/-1 */
int gateway_events_init(gateway_t *gw);
void gateway_events_fini(gateway_t *gw);

/* gateway_admin_init - what the admin API needs (campaign.saved's schema);
 * 0/-1.  gateway_admin_fini frees it. */
int gateway_admin_init(gateway_t *gw);
void gateway_admin_fini(gateway_t *gw);

/* gateway_milestone_init - milestone.saved's schema; 0/-1.
 * gateway_milestone_fini frees it. */
int gateway_milestone_init(gateway_t *gw);
void gateway_milestone_fini(gateway_t *gw);

#endif
