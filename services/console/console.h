/*
 * console.h - what the parts of hark-console share: the console, one HTTP
 * request as its handlers see it (no libmicrohttpd type in sight: only
 * console_http.c knows the HTTP library), the signed-in staff member, and
 * the helpers each part offers the others.
 */
#ifndef HARK_CONSOLE_H
#define HARK_CONSOLE_H

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "config.h"
#include "privacy.h"
#include "service.h"

struct reasons;
struct ratelimit;
struct words;
typedef struct console_http console_http_t;

#define CONSOLE_NAME_MAX 64  /* an account name: 1-64 of A-Z a-z 0-9 . _ @ - */
#define CONSOLE_TOKEN_HEX 64 /* a session or CSRF token: 32 random bytes, hex */
#define CONSOLE_PAGE_MAX 32  /* templates in templates/console/ */
#define CONSOLE_LINK_MS (24LL * 3600 * 1000) /* a one-time link lives a day */
#define CONSOLE_PASSWORD_MIN 10              /* characters, as `hark user` asks */
#define CONSOLE_PASSWORD_MAX 1024            /* bytes */

/* console_conf_t - the settings, read once at start */
typedef struct {
    const char *listen, *public_url, *templates, *default_locale, *reasons_path;
    const char *journal_endpoint, *intake_control;
    const char *mailer_control; /* [mailer] control: is mail to a customer suppressed */
    char origin[300];       /* public_url's scheme://host[:port]: the Origin a POST must have */
    int secure;             /* public_url is https: the cookie is Secure */
    unsigned threads;
    int64_t session_idle_ms, session_max_ms, lockout_ms;
    int login_failures, login_rate, page_size;
    int intake_timeout_ms, journal_timeout_ms;
    const char *loop_control; /* [loop] control: LOOP_PREVIEW, LOOP_REPORT */
    int loop_timeout_ms;      /* [gateway] loop_timeout */
    const char *survey_control; /* [survey] control: the campaigns */
    int survey_timeout_ms;      /* [gateway] survey_timeout */
    const char *milestone_control; /* [milestone] control: its settings */
    int milestone_timeout_ms;   /* [gateway] milestone_timeout */
} console_conf_t;

typedef struct console {
    const config_t *cfg;
    console_conf_t conf;
    void *zctx;
    /* console.db: the skeleton's connection, shared by the control commands
     * (main thread) and the HTTP threads, one at a time */
    sqlite3 *db;
    pthread_mutex_t db_lock;
    console_http_t *http;
    struct words *words;        /* templates/<locale>/words.json */
    json_t *word_keys;          /* the "console" words' keys (an array), from the fallback */
    char *pages[CONSOLE_PAGE_MAX]; /* templates/console/<name>.html, read at start */
    char *page_names[CONSOLE_PAGE_MAX];
    size_t n_pages;
    char *stylesheet;           /* templates/console/console.css */
    char *script;               /* templates/console/console.js: the live preview */
    struct reasons *reasons;    /* [intake] reasons: filters and retag (NULL: none) */
    struct ratelimit *login_rate; /* sign-in attempts per address */
    char dummy_hash[160];       /* verified against for an unknown name: same time */
    pthread_key_t intake_key, journal_key; /* each HTTP thread's own DEALERs */
    pthread_key_t mailer_key;
    pthread_key_t render_key;   /* each HTTP thread's render_t (the reply preview) */
    struct console_imports *imports; /* /import's files in memory (console_import.c) */
    pthread_key_t survey_key, milestone_key; /* each HTTP thread's DEALERs to them */
} console_t;

/* console_user_t - who a request is from, once its session is found */
typedef struct {
    char name[CONSOLE_NAME_MAX + 1];
    char role[16];          /* admin, support, marketer */
    char locale[36];        /* the account's --locale, or "" */
    char csrf[CONSOLE_TOKEN_HEX + 1];
    char session[CONSOLE_TOKEN_HEX + 1]; /* the session's id (a hash of the cookie) */
} console_user_t;

#define CONSOLE_HEADERS_MAX 16

/* One HTTP request, alive from its first callback to its end. */
typedef struct {
    console_t *con;
    void *conn;              /* console_http.c's own */
    const char *method, *url;
    buf_t body;
    int too_large;
    /* the answer */
    unsigned status;
    buf_t out;
    const char *content_type;
    const char *hdr_name[CONSOLE_HEADERS_MAX];
    char *hdr_value[CONSOLE_HEADERS_MAX]; /* malloc'd */
    size_t n_hdr;
    /* the session, once console_auth_session has looked */
    int signed_in;
    console_user_t user;
    char locale[36];         /* the words' language of this answer */
    long long journaled;     /* the offset of the last event console_journal appended */
} console_req_t;

/* the pages' Content-Security-Policy: the console's own stylesheet and
 * its one script (/console.js, the reply's live preview: no inline script,
 * and it fetches only the console), no frames, forms only to itself */
#define CONSOLE_CSP                                                                        \
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "             \
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/* --- console_cases.c: what every page that asks or writes shares ------- */
/* console_client - this thread's DEALER to endpoint under key, made on
 * first use (a thread's own: ZeroMQ sockets are not thread-safe);
 * console_client_free is the keys' destructor */
wire_client_t *console_client(console_t *con, pthread_key_t key, const char *endpoint);
void console_client_free(void *p);
/* console_journal - append one event (payload borrowed) under key, by the
 * signed-in user; its payload's subject field ("case", "loop") names it in
 * the log.  0, or -1 having answered 503 */
int console_journal(console_req_t *r, const char *type, const char *key, const json_t *payload,
                    const char *subject);

/* --- console_http.c: the only file that knows libmicrohttpd ------------- */
/* console_http_start - serve listen ("host:port", "[v6]:port") with threads
 * workers over epoll, bodies up to max_body; each request is handed to
 * handle(r) once its body is in.  NULL (logged) on failure. */
console_http_t *console_http_start(const char *listen, unsigned threads, size_t max_body,
                                   void (*handle)(console_req_t *r), console_t *con);
/* console_http_stop - stop taking requests, join the workers; sets *p NULL */
void console_http_stop(console_http_t **p);
/* console_http_header - a request header, or NULL */
const char *console_http_header(console_req_t *r, const char *name);
/* console_http_arg - a query argument, or NULL when absent or empty */
const char *console_http_arg(console_req_t *r, const char *name);
/* console_http_query - the query, "?a=1&b=2" (encoded again), appended to
 * b; nothing when there is none */
void console_http_query(console_req_t *r, buf_t *b);
/* console_http_cookie - a cookie's value, or NULL */
const char *console_http_cookie(console_req_t *r, const char *name);
/* console_http_peer - the client's address into out; NULL when unknown */
const struct sockaddr *console_http_peer(console_req_t *r, struct sockaddr_storage *out);

/* console_header - add a response header (value copied) */
void console_header(console_req_t *r, const char *name, const char *value);
/* console_redirect - 303 See Other to a same-site path */
void console_redirect(console_req_t *r, const char *path);

/* --- console_form.c: application/x-www-form-urlencoded ---------------- */
/* console_form_get - the n-th (0: first) value of field name in a
 * urlencoded body, decoded into out (NUL-terminated).  1 found, 0 not, -1
 * when it is longer than outlen - 1 or not valid UTF-8 or holds a NUL. */
int console_form_get(const char *body, size_t len, const char *name, size_t n, char *out,
                     size_t outlen);
/* console_url_arg - s percent-encoded for a query or path (RFC 3986
 * unreserved kept), appended to b */
void console_url_arg(buf_t *b, const char *s);
/* console_name_ok - 1 when s is a valid account name */
int console_name_ok(const char *s);

/* --- console_store.c: console.db ------------------------------------- */
extern const char *const console_store_migrations[];
/* console_store_privacy - what customer.erased deletes (drafts on their cases) */
extern const privacy_sql_t console_store_privacy;
/* console_store_tagged - feedback.tagged: whose a case is, for that */
int console_store_tagged(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
/* console_store_user_add - 0 added, 1 name taken, -1 error */
int console_store_user_add(sqlite3 *db, const char *name, const char *role, const char *locale,
                           const char *hash, const char *by, int64_t now);
/* console_store_user_list - every account, as CONSOLE_USER_LIST_OK's users */
json_t *console_store_user_list(sqlite3 *db);
/* console_store_user_disable / _reset - the sessions ended, -1 no such
 * account, -2 error */
int console_store_user_disable(sqlite3 *db, const char *name);
int console_store_user_reset(sqlite3 *db, const char *name, const char *hash);
/* console_store_user_email - set an account's own address (NULL or ""
 * removes it); 0, -1 no such account, -2 error */
int console_store_user_email(sqlite3 *db, const char *name, const char *email);
/* console_store_user_email_get - the account's address into out; 1 it has
 * one, 0 none, -1 error */
int console_store_user_email_get(sqlite3 *db, const char *name, char *out, size_t len);
/* console_store_users - how many accounts can sign in */
long long console_store_users(sqlite3 *db);
/* console_store_login_get - an enabled account's hash and who it is; 1
 * found, 0 none (or disabled), -1 error.  *locked_s > 0 when the account
 * has failed login_failures times in the window: the seconds left. */
int console_store_login_get(sqlite3 *db, const char *name, int64_t now, int failures,
                            int64_t window_ms, console_user_t *u, char *hash, size_t hlen,
                            int *locked_s);
/* console_store_login_failed / _ok - count a failure; clear them */
void console_store_login_failed(sqlite3 *db, const char *name, int64_t now, int64_t window_ms);
void console_store_login_ok(sqlite3 *db, const char *name, int64_t now);
/* console_store_session_new - 0/-1 */
int console_store_session_new(sqlite3 *db, const char *id, const char *user, const char *csrf,
                              int64_t now);
/* console_store_session_get - the live session id (its user into u, seen
 * now); 1, 0 when none or expired (an expired one is deleted), -1 error */
int console_store_session_get(sqlite3 *db, const char *id, int64_t now, int64_t idle_ms,
                              int64_t max_ms, console_user_t *u);
void console_store_session_end(sqlite3 *db, const char *id);
int console_store_sessions_sweep(sqlite3 *db, int64_t now, int64_t idle_ms, int64_t max_ms);

/* --- console_control.c: [console] control, `hark user` ----------------- */
json_t *console_control_user_add(service_t *svc, const json_t *req, service_err_t *err);
json_t *console_control_user_list(service_t *svc, const json_t *req, service_err_t *err);
json_t *console_control_user_disable(service_t *svc, const json_t *req, service_err_t *err);
json_t *console_control_user_reset(service_t *svc, const json_t *req, service_err_t *err);
json_t *console_control_user_set(service_t *svc, const json_t *req, service_err_t *err);
void console_control_status(service_t *svc, json_t *body);

/* --- console_page.c: templates and words, and answers ---------------- */
int console_page_init(console_t *con);
void console_page_fini(console_t *con);
/* console_page_locale - choose r->locale: the account's, else
 * Accept-Language's, else the fallback */
void console_page_locale(console_req_t *r);
/* console_page - render templates/console/<name>.html with ctx (stolen)
 * into the layout, as status.  ctx gains w (the words), lang, user, csrf
 * and title (the word title_key). */
void console_page(console_req_t *r, unsigned status, const char *name, const char *title_key,
                  json_t *ctx);
/* console_page_error - a page of a heading and one sentence, the words
 * console.error_<status>_title and _text */
void console_page_error(console_req_t *r, unsigned status);
/* console_page_css - GET /console.css */
void console_page_css(console_req_t *r);
/* console_word - a console word ("console.<key>") in r's language */
const char *console_word(console_req_t *r, const char *key);

/* --- console_auth.c: sign-in, sessions, CSRF, roles ------------------ */
int console_auth_init(console_t *con);
void console_auth_fini(console_t *con);
/* console_auth_session - look the session cookie up into r->user; 1 signed in */
int console_auth_session(console_req_t *r);
/* console_auth_post_ok - a POST from our own page: Origin (when sent) is
 * public_url's, and the csrf field is the session's; 0 having answered 403 */
int console_auth_post_ok(console_req_t *r);
void console_auth_login(console_req_t *r);
void console_auth_logout(console_req_t *r);
/* console_auth_to_login - 303 to /login?next=<this page> */
void console_auth_to_login(console_req_t *r);
/* console_token - 32 random bytes as hex into out (CONSOLE_TOKEN_HEX + 1) */
void console_token(char *out);
/* console_auth_begin - sign name in: a new session, its cookie, the
 * sign-in counted (db_lock not held); 0, or -1 having answered 503 */
int console_auth_begin(console_req_t *r, const char *name);
/* console_auth_peer - the client's address as text into out ("-" unknown) */
const struct sockaddr *console_auth_peer(console_req_t *r, struct sockaddr_storage *ss,
                                         char *out, size_t len);
/* console_auth_throttled - count an attempt against [console] login_rate
 * for r's address; 1 (having answered 429) when over it */
int console_auth_throttled(console_req_t *r);

/* --- console_link.c: one-time links and the accounts' audit ------------
 * (db_lock held for all) */
/* console_link_id - the stored id of a link's token (BLAKE2b, hex) */
void console_link_id(const char *token, char *out);
/* console_link_new - a fresh link for name (its earlier ones die), the URL
 * ([console] public_url/welcome/TOKEN) into url; 0/-1 */
int console_link_new(console_t *con, const char *name, int64_t now, char *url, size_t ulen);
/* console_link_kill - every link of name dies; 0/-1 */
int console_link_kill(sqlite3 *db, const char *name);
/* console_link_get - the link id: its account into name, the account's
 * language into locale ("" none); 1 live, 2 used or expired (or its
 * account disabled), 0 unknown, -1 error */
int console_link_get(sqlite3 *db, const char *id, int64_t now, char *name, size_t nlen,
                     char *locale, size_t llen);
/* console_link_use - use link id of name: the password's hash set, the
 * account's sessions ended; 0, 1 no longer live, -1 error */
int console_link_use(sqlite3 *db, const char *id, const char *name, const char *hash,
                     int64_t now);
/* console_audit - record a change of account name by by ("user:NAME",
 * "cli:USER"): action (added, disabled, enabled, reset, changed, link_used) */
void console_audit(sqlite3 *db, const char *by, const char *action, const char *name,
                   const char *detail, int64_t now);
/* console_audit_list - the newest limit changes, newest first */
json_t *console_audit_list(sqlite3 *db, int limit);

/* --- console_users.c: /users (admin) ----------------------------------- */
void console_users_list(console_req_t *r);
void console_users_post(console_req_t *r);

/* --- console_welcome.c: /welcome/TOKEN, a one-time link's page -------- */
void console_welcome(console_req_t *r);

/* --- console_preview.c: the reply's preview, drafts, /console.js ------- */
int console_preview_init(console_t *con);
void console_preview_fini(console_t *con);
/* console_preview_mail - the email the customer of case c would get for
 * message, as hark-mailer renders it: {subject, preheader, text, html,
 * locale} (caller decrefs), or NULL (logged) */
json_t *console_preview_mail(console_req_t *r, const json_t *c, const char *message);
/* console_draft_get - the signed-in user's draft of case id (malloc'd,
 * *saved its time) or NULL; _put saves it ("" deletes); _clear deletes it */
char *console_draft_get(console_req_t *r, const char *id, int64_t *saved);
void console_draft_put(console_req_t *r, const char *id, const char *text);
void console_draft_clear(console_req_t *r, const char *id);
/* console_page_js - GET /console.js */
void console_page_js(console_req_t *r);

/* --- console_cases.c: the cases of hark-intake ----------------------- */
int console_cases_init(console_t *con);
void console_cases_fini(console_t *con);
void console_cases_show(console_req_t *r);
void console_cases_action(console_req_t *r);
/* console_case_row - what the inbox and the case page show of a case c
 * (INTAKE_CASES' form) at now: a new object */
json_t *console_case_row(console_req_t *r, const json_t *c, int64_t now);

/* --- console_inbox.c: the inbox and the saved filters ----------------- */
void console_cases_list(console_req_t *r);
void console_inbox_save(console_req_t *r);
void console_inbox_forget(console_req_t *r);

/* --- console_loops.c: closing the loop, with hark-loop ----------------- */
int console_loops_init(console_t *con);
void console_loops_fini(console_t *con);
void console_loops_list(console_req_t *r);
void console_loops_new(console_req_t *r);
void console_loops_post(console_req_t *r);
void console_loops_show(console_req_t *r);

/* --- console_customers.c: the customers, their timelines ------------- */
int console_customers_init(console_t *con);
void console_customers_fini(console_t *con);
void console_customers_list(console_req_t *r);
void console_customers_show(console_req_t *r);
void console_customers_post(console_req_t *r);

/* --- console_templates.c: the email templates, with hark-mailer ------- */
void console_templates_list(console_req_t *r);
void console_templates_show(console_req_t *r);
void console_templates_post(console_req_t *r);
void console_templates_js(console_req_t *r);

/* --- console_import.c: CSV import and export (admin, marketer) ------- */
#define CONSOLE_IMPORT_MAX (20 * 1024 * 1024) /* bytes a POST /import may carry */
struct loop; /* evloop_t */
int console_import_init(console_t *con, struct loop *loop);
void console_import_fini(console_t *con);
void console_import_form(console_req_t *r);
void console_import_upload(console_req_t *r);
void console_import_show(console_req_t *r);
void console_import_post(console_req_t *r);
void console_export_page(console_req_t *r);
void console_export_csv(console_req_t *r);
/* console_multipart_get - field name of a multipart/form-data body: 1 with
 * its bytes at *val (*len; inside r->body) and, when filename is given, the
 * part's filename; 0 absent; -1 not multipart */
int console_multipart_get(console_req_t *r, const char *name, const char **val, size_t *len,
                          char *filename, size_t flen);
/* --- console_campaigns.c: the survey campaigns, with hark-survey ------ */
int console_campaigns_init(console_t *con);
void console_campaigns_fini(console_t *con);
void console_campaigns_list(console_req_t *r);
void console_campaigns_show(console_req_t *r);
void console_campaigns_post(console_req_t *r);

/* --- console_testsend.c: "Send me a test" ----------------------------- */
/* console_test_send - journal a test send of template in locale, on the
 * sample data (templates/samples.json; vars, borrowed, over them), to the
 * signed-in account's own address only (mail.requested, category test,
 * the subject prefixed with the localized "[test]").  Into ctx: test_note,
 * the sentence the page shows (sent, or how to add an address).  0 sent,
 * 1 not (no address), -1 having answered 503. */
int console_test_send(console_req_t *r, const char *template_name, const char *locale,
                      const json_t *vars, json_t *ctx);
/* console_test_locales - the locales a test can be sent in, for a <select>
 * (value, label, selected: r's), as a new array */
json_t *console_test_locales(console_req_t *r);

/* --- console_milestones.c: birthdays and anniversaries, with hark-milestone */
void console_milestones_show(console_req_t *r);
void console_milestones_post(console_req_t *r);
/* --- console_dashboard.c: the marketers' dashboard ------------------- */
int console_dashboard_init(console_t *con);
void console_dashboard_fini(console_t *con);
void console_dashboard(console_req_t *r);
void console_dashboard_csv(console_req_t *r);

#endif
