/*
 * hark-console - Hark Console: the web pages support staff work cases in.
 * Server-rendered HTML that works without JavaScript (one small script of
 * its own only adds the reply's live preview); every read is asked of the
 * service that owns the data, every change of a case or loop is a journal
 * event by "user:NAME".
 *
 * Owns:     console.db ([console] db): staff accounts (role, language,
 *           Argon2id password hash, failed sign-ins, own address for test
 *           sends) and sessions
 *           (console_store.c); one-time links and the accounts' audit
 *           (console_link.c); reply drafts (console_preview.c).
 * Consumes: feedback.tagged (whose each case is), customer.erased and
 *           privacy.retention: the reply drafts on the erased person's cases
 *           are deleted (console_store.c).
 * Emits:    case.replied, case.retagged, case.resolved, case.noted,
 *           case.assigned, case.reopened (by "user:NAME", via
 *           JOURNAL_APPEND), which hark-intake applies; loop.closed
 *           (by "user:NAME"), which hark-loop applies; template.saved (by
 *           "user:NAME"), which hark-mailer applies; mail.unsubscribed (via
 *           staff) and customer.unsuppressed (by "user:NAME"), which every
 *           copy of the suppressions applies; campaign.saved (by
 *           "user:NAME"), which hark-survey applies; milestone.saved (by
 *           "user:NAME"), which hark-milestone applies; mail.requested of
 *           category test (console_testsend.c), which hark-mailer sends to
 *           the signed-in account's own address.
 * Serves:   HTTP on [console] listen (console_http.c)
 *             GET  /console.css  /console.js the stylesheet, the live preview
 *             GET, POST /login  POST /logout sign in and out (console_auth.c)
 *             GET  /                         each role's home: /cases
 *             GET  /cases[?status=&team=&reason=&assignee=&lang=&q=&page=]
 *                  the inbox (console_inbox.c)
 *             POST /filters, /filters/delete  an account's saved filters
 *             GET  /cases/ID                 one case and its history
 *             POST /cases/ID/reply|retag|resolve|note|assign|reopen|preview
 *                                            (admin, support)
 *                  (console_cases.c; the cases are asked of hark-intake)
 *             GET  /loops  GET /loops/ID      the loop report, one close's
 *             GET, POST /loops/new            progress; closing a loop
 *                  (admin, support; console_loops.c, with hark-loop)
 *             GET, POST /users  POST /users/NAME/change|disable|enable|reset
 *                                            the accounts (admin;
 *                                            console_users.c)
 *             GET, POST /welcome/TOKEN       a one-time link's page: choose
 *                                            a password (console_welcome.c)
 *             GET  /dashboard[?from=&to=&campaign=&locale=&by=&score=]
 *                  GET /dashboard.csv?chart=NAME&...  the marketers'
 *                  dashboard and each chart's numbers as CSV (admin,
 *                  marketer; console_dashboard.c, with hark-survey,
 *                  hark-intake and hark-loop)
 *             GET  /templates  GET, POST /templates/LOCALE/NAME  GET
 *                  /templates.js  the email templates: list, editor with
 *                  live preview, save, restore (admin, marketer;
 *                  console_templates.c, with hark-mailer)
 *             GET  /customers[?q=&page=]  GET /customers/ID  POST
 *                  /customers/ID/suppress|unsuppress  finding a customer,
 *                  their profile and timeline from every owner, their mail
 *                  on or off (admin, marketer; console_customers.c)
 *             GET, POST /import  GET, POST /import/ID   a CSV of customers or
 *                  purchases: upload, map, preview, run, summary; GET /export
 *                  /export/customers.csv|answers.csv (admin, marketer;
 *                  console_import.c: it journals customer and purchase
 *                  events keyed import:TYPE:ID:HASH, a batch a timer turn)
 *             GET  /campaigns  GET, POST /campaigns/new|ID  the survey
 *                  campaigns: list, order, form, segment size, history
 *                  (admin, marketer; console_campaigns.c, with hark-survey)
 *             GET  /milestones  POST /milestones/KIND  birthdays and
 *                  anniversaries: settings, the next 7 days (admin,
 *                  marketer; console_milestones.c, with hark-milestone)
 *           [console] control (ROUTER): SERVICE_STATUS, CONSOLE_USER_ADD,
 *           CONSOLE_USER_LIST, CONSOLE_USER_DISABLE, CONSOLE_USER_RESET,
 *           CONSOLE_USER_SET (`hark user`, console_control.c).
 * Reads:    the mail templates (the reply's preview renders as hark-mailer
 *           does, common/render.c); hark-intake's cases ([intake] control, its cases command);
 *           hark-loop's preview and report ([loop] control); hark-survey's
 *           dashboard ([survey] control, SURVEY_DASHBOARD); whether mail
 *           to a case's customer is suppressed ([mailer] control,
 *           MAILER_CONTACT); a customer, from each owner ([survey]
 *           [milestone] [intake] [loop] [mailer] control: the *_CUSTOMER
 *           commands, SURVEY_CUSTOMERS to find one; common/customer.c);
 *           hark-survey's campaigns (SURVEY_CAMPAIGNS, SURVEY_SEGMENT);
 *           hark-milestone's settings and schedule (MILESTONE_SETTINGS,
 *           MILESTONE_SCHEDULE).
 * Config:   [console] listen public_url control db threads session_idle
 *           session_max login_failures login_lockout login_rate page_size;
 *           [intake] control timeout reasons; [journal] endpoint;
 *           [gateway] journal_timeout loop_timeout survey_timeout
 *           milestone_timeout; [loop] control; [survey] control;
 *           [milestone] control;
 *           [mailer] control templates default_locale shop_name
 *           (the pages: templates/console/, the words: the "console" words
 *           of templates/<locale>/words.json).
 *
 * Roles: admin and support read and act on cases and close loops; a
 * marketer reads them (the inbox, a case and the loop report, without the
 * forms: what customers say is what marketing needs to hear) and is refused
 * every change with a 403.  The marketers' own page is the dashboard
 * (admin and marketer): NPS, scores, comments, reasons,
 * first responses and loop outcomes.  Only an admin administers accounts
 * (/users, as `hark user` does).
 *
 * Every answer is no-store, framed by nobody (frame-ancestors 'none',
 * X-Frame-Options DENY) and under a CSP that allows only the console's own
 * stylesheet and script file: customer text is escaped everywhere, and
 * even a slip would find no inline script allowed to run.
 *
 * Threads: the HTTP workers (console_http.c) serve the pages; the main
 * thread runs the skeleton's loop (the control socket, the session sweep).
 * console.db's one connection is shared under db_lock; each worker has its
 * own DEALERs to hark-intake and the journal (pthread keys).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "console.h"
#include "log.h"
#include "proto.h"
#include "service.h"

static int s_init(service_t *svc);
static void s_fini(service_t *svc);
static void s_home(console_req_t *r);

/* What it serves on [console] control (console_control.c) */
static const service_command_t s_commands[] = {
    {CMD_CONSOLE_USER_ADD, CMD_CONSOLE_USER_ADD_OK, console_control_user_add},
    {CMD_CONSOLE_USER_LIST, CMD_CONSOLE_USER_LIST_OK, console_control_user_list},
    {CMD_CONSOLE_USER_DISABLE, CMD_CONSOLE_USER_DISABLE_OK, console_control_user_disable},
    {CMD_CONSOLE_USER_RESET, CMD_CONSOLE_USER_RESET_OK, console_control_user_reset},
    {CMD_CONSOLE_USER_SET, CMD_CONSOLE_USER_SET_OK, console_control_user_set},
    {NULL, NULL, NULL},
};

/* who may take a route: no bits, anyone (no session needed) */
#define S_ADMIN 1
#define S_SUPPORT 2
#define S_MARKETER 4
#define S_STAFF (S_ADMIN | S_SUPPORT | S_MARKETER)

/* What it serves over HTTP: method, path (ending in '/': a prefix), who
 * may, handler */
static const struct {
    const char *method, *path;
    int roles;
    void (*fn)(console_req_t *);
} s_routes[] = {
    {"GET", "/console.css", 0, console_page_css},
    {"GET", "/console.js", 0, console_page_js},
    {"GET", "/welcome/", 0, console_welcome},
    {"POST", "/welcome/", 0, console_welcome},
    {"GET", "/login", 0, console_auth_login},
    {"POST", "/login", 0, console_auth_login},
    {"POST", "/logout", S_STAFF, console_auth_logout},
    {"GET", "/", S_STAFF, s_home},
    {"GET", "/cases", S_STAFF, console_cases_list},
    {"GET", "/cases/", S_STAFF, console_cases_show},
    {"POST", "/cases/", S_ADMIN | S_SUPPORT, console_cases_action},
    {"POST", "/filters", S_STAFF, console_inbox_save},
    {"POST", "/filters/delete", S_STAFF, console_inbox_forget},
    {"GET", "/loops", S_STAFF, console_loops_list},
    {"GET", "/loops/new", S_ADMIN | S_SUPPORT, console_loops_new},
    {"POST", "/loops/new", S_ADMIN | S_SUPPORT, console_loops_post},
    {"GET", "/loops/", S_STAFF, console_loops_show},
    {"GET", "/users", S_ADMIN, console_users_list},
    {"POST", "/users", S_ADMIN, console_users_post},
    {"POST", "/users/", S_ADMIN, console_users_post},
    {"GET", "/templates", S_ADMIN | S_MARKETER, console_templates_list},
    {"GET", "/templates/", S_ADMIN | S_MARKETER, console_templates_show},
    {"POST", "/templates/", S_ADMIN | S_MARKETER, console_templates_post},
    {"GET", "/templates.js", S_ADMIN | S_MARKETER, console_templates_js},
    {"GET", "/customers", S_ADMIN | S_MARKETER, console_customers_list},
    {"GET", "/customers/", S_ADMIN | S_MARKETER, console_customers_show},
    {"POST", "/customers/", S_ADMIN | S_MARKETER, console_customers_post},
    {"GET", "/import", S_ADMIN | S_MARKETER, console_import_form},
    {"POST", "/import", S_ADMIN | S_MARKETER, console_import_upload},
    {"GET", "/import/", S_ADMIN | S_MARKETER, console_import_show},
    {"POST", "/import/", S_ADMIN | S_MARKETER, console_import_post},
    {"GET", "/export", S_ADMIN | S_MARKETER, console_export_page},
    {"GET", "/export/", S_ADMIN | S_MARKETER, console_export_csv},
    {"GET", "/campaigns", S_ADMIN | S_MARKETER, console_campaigns_list},
    {"GET", "/campaigns/", S_ADMIN | S_MARKETER, console_campaigns_show},
    {"POST", "/campaigns/", S_ADMIN | S_MARKETER, console_campaigns_post},
    {"GET", "/milestones", S_ADMIN | S_MARKETER, console_milestones_show},
    {"POST", "/milestones/", S_ADMIN | S_MARKETER, console_milestones_post},
    {"GET", "/dashboard", S_ADMIN | S_MARKETER, console_dashboard},
    {"GET", "/dashboard.csv", S_ADMIN | S_MARKETER, console_dashboard_csv},
};

int main(int argc, char **argv)
{
    /* consumed only to forget an erased customer's drafts */
    static const service_event_t events[] = {
        {EV_FEEDBACK_TAGGED, console_store_tagged},
        {NULL, NULL},
    };
    static const service_def_t def = {
        .name = "console",
        .migrations = console_store_migrations,
        .events = events,
        .privacy = &console_store_privacy,
        .commands = s_commands,
        .init = s_init,
        .fini = s_fini,
        .status = console_control_status,
    };
    return service_main(argc, argv, &def);
}

/* s_role_bit - a role's bit, 0 for an unknown one */
static int s_role_bit(const char *role)
{
    return strcmp(role, "admin") == 0     ? S_ADMIN
           : strcmp(role, "support") == 0 ? S_SUPPORT
           : strcmp(role, "marketer") == 0 ? S_MARKETER
                                           : 0;
}

/* s_home - GET /: each role's home.  Every role starts at the inbox (the
 * dashboard is one link away in the navigation). */
static void s_home(console_req_t *r)
{
    console_redirect(r, "/cases");
}

/* s_handle - one request: the policy headers, the route, the session and
 * the role, the CSRF check of a POST, then the handler */
static void s_handle(console_req_t *r)
{
    console_header(r, "Cache-Control", "no-store");
    console_header(r, "X-Content-Type-Options", "nosniff");
    console_header(r, "X-Frame-Options", "DENY");
    console_header(r, "Referrer-Policy", "same-origin");
    console_header(r, "Content-Security-Policy", CONSOLE_CSP);
    if (r->con->conf.secure) /* behind https: the browser never tries http again */
        console_header(r, "Strict-Transport-Security", "max-age=31536000");
    int found = -1;
    const char *allow = NULL;
    for (size_t i = 0; i < sizeof s_routes / sizeof s_routes[0]; i++) {
        const char *p = s_routes[i].path;
        size_t pl = strlen(p);
        int match = pl > 1 && p[pl - 1] == '/' ? strncmp(p, r->url, pl) == 0 && r->url[pl]
                                               : strcmp(p, r->url) == 0;
        if (!match)
            continue;
        if (strcmp(s_routes[i].method, r->method) == 0) {
            found = (int)i;
            break;
        }
        allow = allow ? "GET, POST" : s_routes[i].method;
    }
    if (found < 0 || s_routes[found].roles) /* its language, and its role */
        console_auth_session(r);
    console_page_locale(r);
    if (r->too_large) {
        console_page_error(r, 413);
        return;
    }
    if (found < 0) {
        if (allow)
            console_header(r, "Allow", allow);
        console_page_error(r, allow ? 405 : 404);
        return;
    }
    int roles = s_routes[found].roles;
    if (roles && !r->signed_in) {
        console_auth_to_login(r);
        return;
    }
    if (roles && !(roles & s_role_bit(r->user.role))) {
        log_info("event=forbidden user=%s role=%s method=%s path=%s", log_value(r->user.name),
                 r->user.role, r->method, log_value(r->url));
        console_page_error(r, 403);
        return;
    }
    if (roles && strcmp(r->method, "POST") == 0 && !console_auth_post_ok(r))
        return;
    s_routes[found].fn(r);
}

/* s_sweep - the timer that deletes ended sessions */
static int s_sweep(evloop_t *loop, void *arg)
{
    (void)loop;
    console_t *con = service_state(arg);
    pthread_mutex_lock(&con->db_lock);
    int n = console_store_sessions_sweep(con->db, clock_now_ms(), con->conf.session_idle_ms,
                                         con->conf.session_max_ms);
    pthread_mutex_unlock(&con->db_lock);
    if (n > 0)
        log_info("event=sessions_ended count=%d", n);
    return 0;
}

/* s_conf - the settings, and public_url's origin */
static int s_conf(console_t *con)
{
    const config_t *cfg = con->cfg;
    console_conf_t *c = &con->conf;
    c->listen = config_get(cfg, "console", "listen");
    c->public_url = config_get(cfg, "console", "public_url");
    c->templates = config_get(cfg, "mailer", "templates");
    c->default_locale = config_get(cfg, "mailer", "default_locale");
    c->reasons_path = config_get(cfg, "intake", "reasons");
    c->journal_endpoint = config_get(cfg, "journal", "endpoint");
    c->intake_control = config_get(cfg, "intake", "control");
    c->mailer_control = config_get(cfg, "mailer", "control");
    c->threads = (unsigned)config_int(cfg, "console", "threads");
    c->session_idle_ms = config_duration_ms(cfg, "console", "session_idle");
    c->session_max_ms = config_duration_ms(cfg, "console", "session_max");
    c->lockout_ms = config_duration_ms(cfg, "console", "login_lockout");
    c->login_failures = (int)config_int(cfg, "console", "login_failures");
    c->login_rate = (int)config_int(cfg, "console", "login_rate");
    c->page_size = (int)config_int(cfg, "console", "page_size");
    c->intake_timeout_ms = (int)config_duration_ms(cfg, "intake", "timeout");
    c->journal_timeout_ms = (int)config_duration_ms(cfg, "gateway", "journal_timeout");
    c->loop_control = config_get(cfg, "loop", "control");
    c->loop_timeout_ms = (int)config_duration_ms(cfg, "gateway", "loop_timeout");
    c->survey_control = config_get(cfg, "survey", "control");
    c->survey_timeout_ms = (int)config_duration_ms(cfg, "gateway", "survey_timeout");
    c->milestone_control = config_get(cfg, "milestone", "control");
    c->milestone_timeout_ms = (int)config_duration_ms(cfg, "gateway", "milestone_timeout");
    /* the origin: scheme://host[:port], without path or trailing slash */
    const char *u = c->public_url;
    const char *hs = strstr(u, "://");
    if (!hs) {
        log_error("event=bad_public_url url=%s", log_value(u));
        return -1;
    }
    size_t ol = (size_t)(hs + 3 - u) + strcspn(hs + 3, "/?#");
    snprintf(c->origin, sizeof c->origin, "%.*s", (int)ol, u);
    c->secure = strncmp(u, "https:", 6) == 0;
    return 0;
}

/* s_init - settings, pages, sign-in, cases, then HTTP */
static int s_init(service_t *svc)
{
    console_t *con = calloc(1, sizeof *con);
    if (!con)
        return -1;
    pthread_mutex_init(&con->db_lock, NULL);
    service_set_state(svc, con);
    con->cfg = service_config(svc);
    con->zctx = service_zctx(svc);
    con->db = service_db(svc);
    if (s_conf(con) || console_page_init(con) || console_auth_init(con) ||
        console_cases_init(con) || console_loops_init(con) || console_preview_init(con) ||
        console_customers_init(con) || console_import_init(con, service_evloop(svc)) ||
        console_campaigns_init(con) || console_dashboard_init(con))
        return -1;
    if (evloop_add_timer(service_evloop(svc), 60000, s_sweep, svc) < 0)
        return -1;
    /* before the HTTP workers start: from then on console.db is theirs too */
    long long accounts = console_store_users(con->db);
    con->http = console_http_start(con->conf.listen, con->conf.threads, 256 * 1024, s_handle,
                                   con);
    if (!con->http)
        return -1;
    if (accounts == 0)
        log_warn("event=no_accounts hint=\"nobody can sign in yet: create the first admin with"
                 " 'hark user add NAME --role admin' (the password is read from standard"
                 " input; or --link for a one-time link), then open %s\"",
                 con->conf.public_url);
    return 0;
}

/* s_fini - stop HTTP first (joins the workers), then free */
static void s_fini(service_t *svc)
{
    console_t *con = service_state(svc);
    if (!con)
        return;
    console_http_stop(&con->http);
    console_import_fini(con);
    console_cases_fini(con);
    console_loops_fini(con);
    console_customers_fini(con);
    console_preview_fini(con);
    console_campaigns_fini(con);
    console_dashboard_fini(con);
    console_auth_fini(con);
    console_page_fini(con);
    pthread_mutex_destroy(&con->db_lock);
    free(con);
    service_set_state(svc, NULL);
}
