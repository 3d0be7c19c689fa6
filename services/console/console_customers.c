/*
 * console_customers.c - the customers, for marketing and the admin (support
 * works cases; it gets a 403 here):
 *
 *   GET  /customers[?q=&page=]   find a customer by name, address or id
 *                                (SURVEY_CUSTOMERS: hark-survey keeps the
 *                                profiles and the index), a page at a time
 *   GET  /customers/ID           the profile and the timeline, newest first,
 *                                gathered from every owner (customer.c); an
 *                                owner that does not answer in time is named
 *                                on the page, and the rest still shows
 *   POST /customers/ID/suppress  mail.unsubscribed (via staff), and
 *   POST /customers/ID/unsuppress customer.unsuppressed, by "user:NAME",
 *                                for the customer's address; 303 back
 *
 * A customer's id is anything up to 128 bytes of UTF-8 (the shop's), so it
 * travels percent-encoded in links and arrives decoded: the action is the
 * last path segment of a POST, the id all before it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "console.h"
#include "customer.h"
#include "log.h"
#include "partition.h"
#include "proto.h"
#include "utf8.h"
#include "wire.h"

#define S(o, k) json_string_value(json_object_get((o), (k)))
#define S_ID_MAX 128
#define S_PAGE 20
#define S_PAGES 500 /* SURVEY_CUSTOMERS' offset stops at 100,000 */

/* each HTTP thread's DEALER to each owner, in customer_owners' order */
static pthread_key_t s_keys[CUSTOMER_OWNERS];

int console_customers_init(console_t *con)
{
    (void)con;
    for (size_t i = 0; i < CUSTOMER_OWNERS; i++)
        if (pthread_key_create(&s_keys[i], console_client_free))
            return -1;
    return 0;
}

void console_customers_fini(console_t *con)
{
    (void)con;
    for (size_t i = 0; i < CUSTOMER_OWNERS; i++)
        pthread_key_delete(s_keys[i]);
}

/* s_utf8_ok - s[0..n) is valid UTF-8 without control characters */
static int s_utf8_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t l = utf8_decode((const unsigned char *)s + i, n - i, NULL);
        if (l == 0 || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
        i += l;
    }
    return 1;
}

/* s_call - customer_call_fn through this thread's client to owner */
static json_t *s_call(void *arg, const char *owner, const char *cmd, const json_t *body,
                      int timeout_ms, char *reply_cmd)
{
    console_t *con = arg;
    for (size_t i = 0; i < CUSTOMER_OWNERS; i++) {
        if (strcmp(customer_owners[i], owner) != 0)
            continue;
        const char *ep = config_get(con->cfg, owner, "control");
        char part[512];
        /* a partitioned owner (hark-scaling(7)): the customer's partition,
         * over a client of this call's own when it is not partition 0 */
        if (ep && partition_control(con->cfg, owner,
                                    json_string_value(json_object_get(body, "customer_id")), part,
                                    sizeof part) == 0 && strcmp(part, ep) != 0) {
            wire_client_t *one = wire_client_new(con->zctx, part);
            json_t *reply = one ? wire_client_call_json(one, cmd, body, timeout_ms, reply_cmd)
                                : NULL;
            wire_client_destroy(&one);
            return reply;
        }
        wire_client_t *c = ep ? console_client(con, s_keys[i], ep) : NULL;
        return c ? wire_client_call_json(c, cmd, body, timeout_ms, reply_cmd) : NULL;
    }
    return NULL;
}

/* s_when - an RFC 3339 time for people: "2026-12-07 04:33 UTC" */
static json_t *s_when(const char *iso)
{
    char out[40];
    if (iso && strlen(iso) >= 16)
        snprintf(out, sizeof out, "%.10s %.5s UTC", iso, iso + 11);
    else
        snprintf(out, sizeof out, "%s", iso ? iso : "");
    return json_string(out);
}

/* s_href - id percent-encoded for a path */
static json_t *s_href(const char *id)
{
    buf_t b = BUF_INIT;
    console_url_arg(&b, id);
    json_t *s = json_string(b.data ? b.data : "");
    buf_free(&b);
    return s;
}

/* console_customers_list - GET /customers[?q=&page=] */
void console_customers_list(console_req_t *r)
{
    const char *q = console_http_arg(r, "q");
    const char *p = console_http_arg(r, "page");
    long page = p ? strtol(p, NULL, 10) : 1;
    if (page < 1 || page > S_PAGES)
        page = 1;
    json_t *ctx = json_pack("{s:s}", "q", q ? q : "");
    if (!q || !*q) {
        console_page(r, 200, "customers", "cust_title", ctx);
        return;
    }
    if (strlen(q) > 200 || !s_utf8_ok(q, strlen(q))) {
        json_object_set_new(ctx, "q_error", json_string(console_word(r, "cust_q_too_long")));
        console_page(r, 400, "customers", "cust_title", ctx);
        return;
    }
    json_t *req = json_pack("{s:s,s:I,s:i}", "q", q, "offset", (json_int_t)(page - 1) * S_PAGE,
                            "limit", S_PAGE);
    char got[48] = "";
    json_t *reply = s_call(r->con, "survey", CMD_SURVEY_CUSTOMERS, req,
                           r->con->conf.intake_timeout_ms, got);
    json_decref(req);
    if (!reply || strcmp(got, CMD_SURVEY_CUSTOMERS_OK) != 0) {
        log_warn("event=survey_unavailable cmd=%s answer=%s", CMD_SURVEY_CUSTOMERS,
                 reply ? got : "none");
        json_decref(reply);
        json_decref(ctx);
        console_header(r, "Retry-After", "5");
        console_page_error(r, 503);
        return;
    }
    json_t *rows = json_array(), *c;
    size_t i;
    json_array_foreach(json_object_get(reply, "customers"), i, c) {
        const char *name = S(c, "name");
        json_t *row = json_pack("{s:s,s:o,s:s,s:s,s:o}", "label",
                                name && *name ? name : S(c, "id"), "href", s_href(S(c, "id")),
                                "email", S(c, "email") ? S(c, "email") : "—", "locale",
                                S(c, "locale") ? S(c, "locale") : "—", "last",
                                S(c, "last_activity") ? s_when(S(c, "last_activity"))
                                                      : json_string("—"));
        json_object_set_new(row, "id", json_string(S(c, "id")));
        json_array_append_new(rows, row);
    }
    json_object_set_new(ctx, "searched", json_true());
    json_object_set_new(ctx, "has_rows", json_boolean(json_array_size(rows) > 0));
    json_object_set_new(ctx, "rows", rows);
    buf_t b = BUF_INIT;
    if (page > 1) {
        buf_puts(&b, "/customers?q=");
        console_url_arg(&b, q);
        buf_printf(&b, "&page=%ld", page - 1);
        json_object_set_new(ctx, "prev", json_string(b.data));
    }
    if (json_is_true(json_object_get(reply, "more")) && page < S_PAGES) {
        buf_reset(&b);
        buf_puts(&b, "/customers?q=");
        console_url_arg(&b, q);
        buf_printf(&b, "&page=%ld", page + 1);
        json_object_set_new(ctx, "next", json_string(b.data));
    }
    buf_free(&b);
    json_object_set_new(ctx, "page", json_integer(page));
    json_decref(reply);
    console_page(r, 200, "customers", "cust_title", ctx);
}

/* s_detail - one line of what an item says, besides its kind and text */
static json_t *s_detail(const json_t *it)
{
    const char *kind = S(it, "kind");
    buf_t b = BUF_INIT;
    /* the fields worth a glance, per kind, in the order shown */
    static const struct {
        const char *kind, *keys[4];
    } show[] = {
        {"purchase", {"order_id", "currency", NULL}},
        {"invite", {"campaign", "status", "order_id", NULL}},
        {"answer", {"campaign", NULL}},
        {"milestone", {"milestone", "status", NULL}},
        {"case", {"case_kind", "reason", "status", NULL}},
        {"case_note", {"note", "by", NULL}},
        {"loop_email", {"title", "status", NULL}},
        {"mail", {"template", "status", "address", NULL}},
        {"bounce", {"address", "error", NULL}},
        {"unsubscribe", {"address", NULL}},
        {"bounce_suppression", {"address", NULL}},
    };
    for (size_t i = 0; i < sizeof show / sizeof *show; i++) {
        if (!kind || strcmp(show[i].kind, kind) != 0)
            continue;
        for (size_t k = 0; show[i].keys[k]; k++) {
            const char *v = S(it, show[i].keys[k]);
            if (v && *v)
                buf_printf(&b, "%s%s", b.len ? " · " : "", v);
        }
    }
    if (json_is_number(json_object_get(it, "amount")))
        buf_printf(&b, "%s%.2f", b.len ? " · " : "",
                   json_number_value(json_object_get(it, "amount")));
    if (json_is_integer(json_object_get(it, "score")))
        buf_printf(&b, "%s%lld/10", b.len ? " · " : "",
                   (long long)json_integer_value(json_object_get(it, "score")));
    if (json_is_integer(json_object_get(it, "year")))
        buf_printf(&b, "%s%lld", b.len ? " · " : "",
                   (long long)json_integer_value(json_object_get(it, "year")));
    json_t *s = json_string(b.data ? b.data : "");
    buf_free(&b);
    return s;
}

/* s_id - the id of /customers/ID[/ACTION] into id (action: the last
 * segment of a POST, which must be one); 0, or -1 having answered 404 */
static int s_id(console_req_t *r, int post, char *id, char *action, size_t alen)
{
    const char *rest = r->url + strlen("/customers/");
    size_t n = strlen(rest);
    *action = '\0';
    if (post) {
        const char *slash = strrchr(rest, '/');
        if (!slash || strlen(slash + 1) >= alen) {
            console_page_error(r, 404);
            return -1;
        }
        snprintf(action, alen, "%s", slash + 1);
        n = (size_t)(slash - rest);
    }
    if (n == 0 || n > S_ID_MAX || !s_utf8_ok(rest, n)) {
        console_page_error(r, 404);
        return -1;
    }
    memcpy(id, rest, n);
    id[n] = '\0';
    return 0;
}

/* s_mail_state - what the page says of mailing the customer */
static const char *s_mail_state(console_req_t *r, const json_t *g)
{
    if (json_is_true(json_object_get(g, "suppressed"))) {
        const char *why = S(g, "reason") ? S(g, "reason") : "";
        return strcmp(why, "bounced") == 0        ? console_word(r, "mail_bounced")
               : strcmp(why, "unsubscribed") == 0 ? console_word(r, "mail_unsubscribed")
                                                  : console_word(r, "mail_suppressed");
    }
    return S(g, "address") ? console_word(r, "mail_ok") : console_word(r, "cust_no_address");
}

/* console_customers_show - GET /customers/ID */
void console_customers_show(console_req_t *r)
{
    char id[S_ID_MAX + 1], action[16];
    if (s_id(r, 0, id, action, sizeof action))
        return;
    int known = 0;
    json_t *g = customer_gather(id, s_call, r->con, r->con->conf.intake_timeout_ms, &known);
    size_t n_missing = json_array_size(json_object_get(g, "missing"));
    if (!known && n_missing == 0) {
        json_decref(g);
        console_page_error(r, 404);
        return;
    }
    const json_t *prof = json_object_get(g, "profile");
    const char *name = S(prof, "name");
    json_t *ctx = json_pack("{s:s,s:s,s:o}", "id", id, "label", name && *name ? name : id,
                            "href", s_href(id));
    static const char *const keys[] = {"name", "email", "locale", "timezone"};
    for (size_t k = 0; k < 4; k++)
        if (S(prof, keys[k]))
            json_object_set_new(ctx, keys[k], json_string(S(prof, keys[k])));
    if (n_missing) {
        buf_t b = BUF_INIT;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(g, "missing"), i, v)
            buf_printf(&b, "%shark-%s", i ? ", " : "", json_string_value(v));
        json_object_set_new(ctx, "missing", json_string(b.data));
        buf_free(&b);
        log_warn("event=customer_owners_missing customer=%s missing=\"%s\"", log_value(id),
                 S(ctx, "missing"));
    }
    int mailer_answered = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(g, "owners"), i, v)
        mailer_answered |= strcmp(json_string_value(v), "mailer") == 0;
    json_object_set_new(ctx, "mail_state",
                        json_string(mailer_answered ? s_mail_state(r, g)
                                                    : console_word(r, "mail_unknown")));
    if (mailer_answered && S(g, "address")) {
        int off = json_is_true(json_object_get(g, "suppressed"));
        json_object_set_new(ctx, off ? "can_unsuppress" : "can_suppress", json_true());
        json_object_set_new(ctx, "address", json_string(S(g, "address")));
    }
    json_t *rows = json_array();
    json_array_foreach(json_object_get(g, "items"), i, v) {
        char key[64];
        snprintf(key, sizeof key, "cust_kind_%s", S(v, "kind") ? S(v, "kind") : "");
        const char *what = console_word(r, key);
        json_t *row = json_pack("{s:o,s:s,s:o}", "when", s_when(S(v, "at")), "what",
                                what && *what && strcmp(what, key) != 0 ? what : S(v, "kind"),
                                "detail", s_detail(v));
        const char *text = S(v, "text") ? S(v, "text") : S(v, "comment");
        if (text && *text)
            json_object_set_new(row, "text", json_string(text));
        if (S(v, "case"))
            json_object_set_new(row, "case", json_string(S(v, "case")));
        json_array_append_new(rows, row);
    }
    json_object_set_new(ctx, "has_items", json_boolean(json_array_size(rows) > 0));
    json_object_set_new(ctx, "items", rows);
    json_decref(g);
    console_page(r, 200, "customer", "cust_one_title", ctx);
}

/* console_customers_post - POST /customers/ID/suppress|unsuppress: the
 * customer's address off or back on every mailing list */
void console_customers_post(console_req_t *r)
{
    char id[S_ID_MAX + 1], action[16];
    if (s_id(r, 1, id, action, sizeof action))
        return;
    int on = strcmp(action, "unsuppress") == 0;
    if (!on && strcmp(action, "suppress") != 0) {
        console_page_error(r, 404);
        return;
    }
    /* the address as hark-mailer knows it: the one it would write to */
    json_t *ask = json_pack("{s:s}", "customer_id", id);
    char got[48] = "";
    json_t *mail = s_call(r->con, "mailer", CMD_MAILER_CONTACT, ask,
                          r->con->conf.intake_timeout_ms, got);
    json_decref(ask);
    if (!mail || strcmp(got, CMD_MAILER_CONTACT_OK) != 0) {
        json_decref(mail);
        console_header(r, "Retry-After", "5");
        console_page_error(r, 503);
        return;
    }
    const char *addr = S(mail, "address");
    if (!addr) {
        json_decref(mail);
        console_page_error(r, 404);
        return;
    }
    char by[CONSOLE_NAME_MAX + 8], key[CONSOLE_TOKEN_HEX + 32], nonce[CONSOLE_TOKEN_HEX + 1];
    snprintf(by, sizeof by, "user:%s", r->user.name);
    console_token(nonce);
    snprintf(key, sizeof key, "console/%s/%s", on ? "unsuppress" : "suppress", nonce);
    json_t *payload = on ? json_pack("{s:s,s:s,s:s}", "address", addr, "customer_id", id, "by", by)
                         : json_pack("{s:s,s:s,s:s,s:s}", "address", addr, "customer_id", id,
                                     "via", "staff", "by", by);
    int rc = console_journal(r, on ? EV_CUSTOMER_UNSUPPRESSED : EV_MAIL_UNSUBSCRIBED, key,
                             payload, "customer_id");
    json_decref(payload);
    json_decref(mail);
    if (rc)
        return;
    buf_t b = BUF_INIT;
    buf_puts(&b, "/customers/");
    console_url_arg(&b, id);
    console_redirect(r, b.data);
    buf_free(&b);
}
