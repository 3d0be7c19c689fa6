/*
 * console_inbox.c - the inbox, and each account's saved filters:
 *
 *   GET  /cases[?status=&team=&reason=&assignee=&lang=&q=&page=]  open
 *        cases (status "all": every status), breached first, then the
 *        soonest due; each filter's options with how many cases it would
 *        show under the others ("Billing (12)"), "Showing 51-100 of
 *        12,345", previous/next links that keep the filters.  assignee
 *        "~" is the unassigned; q is text anywhere in the case (hark-intake
 *        searches it).  A GET form: a filtered inbox is a bookmark.
 *   POST /filters (name, and the filter's fields)  save the filter under a
 *        name for the signed-in account (the same name again replaces it)
 *   POST /filters/delete (name)  forget one
 *
 * Both POSTs answer 303 to the inbox.  The page, the total and the counts
 * come from one INTAKE_CASES in order "due" (intake_list.c says how it
 * stays fast at 100,000 cases); the console keeps no copy of the cases.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

#include "clock.h"
#include "console.h"
#include "db.h"
#include "log.h"
#include "proto.h"
#include "reasons.h"
#include "wire.h"

#define S_Q_MAX 200       /* characters of a text search (INTAKE_CASES' q) */
#define S_NAME_MAX 80     /* characters of a saved filter's name */
#define S_SAVED_MAX 50    /* saved filters per account */
#define S_OFFSET_MAX 1000000

/* one inbox filter, as a query or a form gives it ("" for any) */
typedef struct {
    char status[16], team[80], reason[80], assignee[CONSOLE_NAME_MAX + 1], lang[40];
    char q[S_Q_MAX * 4 + 1];
} s_filter_t;

static const char *const s_fields[] = {"status", "team", "reason", "assignee", "lang", "q", NULL};

/* s_field - f's field i (s_fields order) and its size */
static char *s_field(s_filter_t *f, int i, size_t *len)
{
    char *p[] = {f->status, f->team, f->reason, f->assignee, f->lang, f->q};
    size_t n[] = {sizeof f->status, sizeof f->team, sizeof f->reason, sizeof f->assignee,
                  sizeof f->lang, sizeof f->q};
    *len = n[i];
    return p[i];
}

/* s_lang_ok - a language tag as cases carry it (en, pt-BR, zh-Hans-CN) */
static int s_lang_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 2 && n <= 35 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789-") == n;
}

/* s_check - 0 when every field of f is one the inbox takes, else -1 */
static int s_check(const console_req_t *r, const s_filter_t *f)
{
    const reasons_t *rs = r->con->reasons;
    const char *st = f->status;
    if (*st && strcmp(st, "open") && strcmp(st, "waiting") && strcmp(st, "resolved") &&
        strcmp(st, "all"))
        return -1;
    if ((*f->team && (!rs || reasons_team_find(rs, f->team) < 0)) ||
        (*f->reason && (!rs || reasons_find(rs, f->reason) < 0)) ||
        (*f->assignee && strcmp(f->assignee, "~") && !console_name_ok(f->assignee)) ||
        (*f->lang && !s_lang_ok(f->lang)))
        return -1;
    size_t n = strlen(f->q);
    return u8_check((const uint8_t *)f->q, n) || u8_mbsnlen((const uint8_t *)f->q, n) > S_Q_MAX
               ? -1
               : 0;
}

/* s_from_query - f from the request's query; -1 when a field is too long */
static int s_from_query(console_req_t *r, s_filter_t *f)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; s_fields[i]; i++) {
        size_t len;
        char *out = s_field(f, i, &len);
        const char *v = console_http_arg(r, s_fields[i]);
        if (v && strlen(v) >= len)
            return -1;
        snprintf(out, len, "%s", v ? v : "");
    }
    if (!*f->status)
        strcpy(f->status, "open");
    return 0;
}

/* s_from_form - f from a POST body's fields; -1 when one is malformed */
static int s_from_form(console_req_t *r, s_filter_t *f)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; s_fields[i]; i++) {
        size_t len;
        char *out = s_field(f, i, &len);
        if (console_form_get(r->body.data, r->body.len, s_fields[i], 0, out, len) < 0)
            return -1;
    }
    if (!*f->status)
        strcpy(f->status, "open");
    return 0;
}

/* s_query - f as the inbox's query string (status first, then what is set) */
static void s_query(const s_filter_t *f, buf_t *q)
{
    s_filter_t c = *f;
    for (int i = 0; s_fields[i]; i++) {
        size_t len;
        const char *v = s_field(&c, i, &len);
        if (!*v)
            continue;
        buf_puts(q, q->len ? "&" : "");
        buf_puts(q, s_fields[i]);
        buf_putc(q, '=');
        console_url_arg(q, v);
    }
}

/* s_num - n with the reader's thousands separator: 12,345 / 12 345 */
static void s_num(console_req_t *r, long long n, char *out, size_t len)
{
    char digits[32];
    int d = snprintf(digits, sizeof digits, "%lld", n < 0 ? 0 : n);
    const char *sep = console_word(r, "thousands_sep");
    size_t o = 0;
    for (int i = 0; i < d && o + strlen(sep) + 2 < len; i++) {
        if (i && (d - i) % 3 == 0)
            o += (size_t)snprintf(out + o, len - o, "%s", sep);
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

/* s_fill - word with {from}, {to} and {total} filled in, into b */
static void s_fill(const char *word, const char *from, const char *to, const char *total,
                   buf_t *b)
{
    for (const char *p = word; *p;) {
        const char *v = !strncmp(p, "{from}", 6)    ? from
                        : !strncmp(p, "{to}", 4)    ? to
                        : !strncmp(p, "{total}", 7) ? total
                                                    : NULL;
        if (!v) {
            buf_putc(b, *p++);
            continue;
        }
        buf_puts(b, v);
        p = strchr(p, '}') + 1;
    }
}

/* s_option - a select's option, its label "label (n)" */
static json_t *s_option(const char *value, const char *label, long long n, const char *selected)
{
    char text[400];
    snprintf(text, sizeof text, "%s (%lld)", label, n);
    return json_pack("{s:s,s:s,s:b}", "value", value, "label", text, "selected",
                     selected && strcmp(value, selected) == 0);
}

/* s_count - a facet's count of value, 0 when none */
static long long s_count(const json_t *counts, const char *facet, const char *value)
{
    return json_integer_value(json_object_get(json_object_get(counts, facet), value));
}

/* s_ask - INTAKE_CASES for one page of f: the reply (caller decrefs), or
 * NULL having answered 503 */
static json_t *s_ask(console_req_t *r, const s_filter_t *f, long long offset)
{
    console_t *con = r->con;
    json_t *req = json_pack("{s:s,s:i,s:I}", "order", "due", "limit", con->conf.page_size,
                            "offset", (json_int_t)offset);
    if (strcmp(f->status, "all") != 0)
        json_object_set_new(req, "status", json_string(f->status));
    static const char *const keys[] = {"team", "reason", "lang", "q"};
    const char *vals[] = {f->team, f->reason, f->lang, f->q};
    for (int i = 0; i < 4; i++)
        if (*vals[i])
            json_object_set_new(req, keys[i], json_string(vals[i]));
    if (*f->assignee)
        json_object_set_new(req, "assignee",
                            json_string(strcmp(f->assignee, "~") ? f->assignee : ""));
    wire_client_t *c = console_client(con, con->intake_key, con->conf.intake_control);
    char cmd[48] = "";
    json_t *reply = c ? wire_client_call_json(c, CMD_INTAKE_CASES, req,
                                              con->conf.intake_timeout_ms, cmd)
                      : NULL;
    json_decref(req);
    if (reply && strcmp(cmd, CMD_INTAKE_CASES_OK) == 0)
        return reply;
    log_warn("event=intake_unavailable cmd=%s answer=%s", CMD_INTAKE_CASES, reply ? cmd : "none");
    json_decref(reply);
    console_header(r, "Retry-After", "5");
    console_page_error(r, 503);
    return NULL;
}

/* s_filters - the form's selects, each option with its count */
static void s_filters(console_req_t *r, const s_filter_t *f, const json_t *counts, json_t *ctx)
{
    const reasons_t *rs = r->con->reasons;
    json_t *statuses = json_array(), *teams = json_array(), *reasons = json_array();
    json_t *assignees = json_array(), *langs = json_array();
    static const char *const st[] = {"open", "waiting", "resolved", NULL};
    long long all = 0;
    char k[40];
    for (int i = 0; st[i]; i++) {
        snprintf(k, sizeof k, "status_%s", st[i]);
        json_array_append_new(statuses, s_option(st[i], console_word(r, k),
                                                 s_count(counts, "status", st[i]), f->status));
        all += s_count(counts, "status", st[i]);
    }
    json_array_append_new(statuses, s_option("all", console_word(r, "status_all"), all, f->status));
    for (size_t i = 0; rs && i < reasons_team_count(rs); i++) {
        const char *name = reasons_team(rs, (int)i)->name;
        json_array_append_new(teams, s_option(name, name, s_count(counts, "team", name), f->team));
    }
    for (size_t i = 0; rs && i < reasons_count(rs); i++) {
        const char *code = reasons_get(rs, i)->code;
        json_array_append_new(reasons, s_option(code, reasons_label(rs, i, r->locale),
                                                s_count(counts, "reason", code), f->reason));
    }
    json_array_append_new(assignees, s_option("~", console_word(r, "unassigned"),
                                              s_count(counts, "assignee", ""), f->assignee));
    pthread_mutex_lock(&r->con->db_lock);
    json_t *users = console_store_user_list(r->con->db);
    pthread_mutex_unlock(&r->con->db_lock);
    json_t *u;
    size_t i;
    json_array_foreach(users, i, u) {
        const char *name = json_string_value(json_object_get(u, "name"));
        if (name && (!json_is_true(json_object_get(u, "disabled")) ||
                     strcmp(name, f->assignee) == 0))
            json_array_append_new(assignees, s_option(name, name,
                                                      s_count(counts, "assignee", name),
                                                      f->assignee));
    }
    json_decref(users);
    /* the languages the cases are in, by code; the chosen one even at 0 */
    const char *code;
    json_t *n;
    json_t *seen = json_object();
    json_object_foreach(json_object_get(counts, "lang"), code, n)
        if (*code)
            json_object_set_new(seen, code, json_integer(json_integer_value(n)));
    if (*f->lang && !json_object_get(seen, f->lang))
        json_object_set_new(seen, f->lang, json_integer(0));
    const char *codes[64];
    size_t nc = 0;
    json_object_foreach(seen, code, n) if (nc < 64) codes[nc++] = code;
    for (size_t a = 1; a < nc; a++) /* by code: the same order on every page */
        for (size_t b = a; b > 0 && strcmp(codes[b - 1], codes[b]) > 0; b--) {
            const char *t = codes[b];
            codes[b] = codes[b - 1];
            codes[b - 1] = t;
        }
    for (size_t a = 0; a < nc; a++)
        json_array_append_new(langs, s_option(codes[a], codes[a],
                                              json_integer_value(json_object_get(seen, codes[a])),
                                              f->lang));
    json_decref(seen);
    json_object_set_new(ctx, "statuses", statuses);
    json_object_set_new(ctx, "teams", teams);
    json_object_set_new(ctx, "reasons", reasons);
    json_object_set_new(ctx, "assignees", assignees);
    json_object_set_new(ctx, "langs", langs);
    json_object_set_new(ctx, "q", json_string(f->q));
}

/* s_saved - the account's saved filters as links, with their delete forms */
static json_t *s_saved(console_req_t *r)
{
    json_t *out = json_array();
    pthread_mutex_lock(&r->con->db_lock);
    sqlite3_stmt *st = db_prepare(r->con->db, "SELECT name, query FROM saved_filters"
                                              " WHERE user = ? ORDER BY name");
    if (st) {
        sqlite3_bind_text(st, 1, r->user.name, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(st) == SQLITE_ROW) {
            buf_t href = BUF_INIT;
            buf_puts(&href, "/cases?");
            buf_puts(&href, (const char *)sqlite3_column_text(st, 1));
            json_array_append_new(out, json_pack("{s:s,s:s}", "name",
                                                 (const char *)sqlite3_column_text(st, 0),
                                                 "href", href.data ? href.data : "/cases"));
            buf_free(&href);
        }
    }
    db_finish(st);
    pthread_mutex_unlock(&r->con->db_lock);
    return out;
}

void console_cases_list(console_req_t *r)
{
    console_t *con = r->con;
    s_filter_t f;
    const char *pg = console_http_arg(r, "page");
    long page = pg ? strtol(pg, NULL, 10) : 1;
    long long size = con->conf.page_size;
    if (s_from_query(r, &f) < 0 || s_check(r, &f) < 0 || page < 1 ||
        (page - 1) * size > S_OFFSET_MAX) {
        console_page_error(r, 400);
        return;
    }
    json_t *reply = s_ask(r, &f, (page - 1) * size);
    if (!reply)
        return;
    long long total = json_integer_value(json_object_get(reply, "total"));
    long pages = total ? (long)((total + size - 1) / size) : 1;
    if (page > pages) { /* past the end (the list shrank): the last page */
        page = pages;
        json_decref(reply);
        if (!(reply = s_ask(r, &f, (page - 1) * size)))
            return;
        total = json_integer_value(json_object_get(reply, "total"));
    }
    const json_t *cases = json_object_get(reply, "cases"), *c;
    int64_t now = clock_now_ms();
    json_t *rows = json_array();
    size_t i;
    json_array_foreach(cases, i, c) json_array_append_new(rows, console_case_row(r, c, now));
    buf_t q = BUF_INIT;
    s_query(&f, &q);
    const char *query = q.data ? q.data : "";
    json_t *ctx = json_pack("{s:o,s:I,s:I,s:s,s:b}", "cases", rows, "page", (json_int_t)page,
                            "pages", (json_int_t)pages, "query", query, "empty", total == 0);
    s_filters(r, &f, json_object_get(reply, "counts"), ctx);
    char from[32], to[32], all[32];
    s_num(r, (page - 1) * size + (json_array_size(cases) ? 1 : 0), from, sizeof from);
    s_num(r, (page - 1) * size + (long long)json_array_size(cases), to, sizeof to);
    s_num(r, total, all, sizeof all);
    buf_t shown = BUF_INIT;
    s_fill(console_word(r, "showing"), from, to, all, &shown);
    json_object_set_new(ctx, "showing", json_string(shown.data ? shown.data : ""));
    json_object_set_new(ctx, "total", json_string(all));
    buf_free(&shown);
    if (page > 1)
        json_object_set_new(ctx, "prev", json_integer(page - 1));
    if (page < pages)
        json_object_set_new(ctx, "next", json_integer(page + 1));
    /* anything but the default (open, no filter) can be cleared */
    json_object_set_new(ctx, "filtered", json_boolean(strcmp(query, "status=open") != 0));
    /* the current filter as the save form's hidden fields */
    json_t *keep = json_array();
    for (int k = 0; s_fields[k]; k++) {
        size_t len;
        const char *v = s_field(&f, k, &len);
        if (*v)
            json_array_append_new(keep, json_pack("{s:s,s:s}", "name", s_fields[k], "value", v));
    }
    json_object_set_new(ctx, "keep", keep);
    json_object_set_new(ctx, "saved", s_saved(r));
    /* "mine": the signed-in staff member's own cases, in the same status */
    buf_t mine = BUF_INIT;
    buf_puts(&mine, "/cases?status=");
    console_url_arg(&mine, f.status);
    buf_puts(&mine, "&assignee=");
    console_url_arg(&mine, r->user.name);
    json_object_set_new(ctx, "mine", json_string(mine.data ? mine.data : "/cases"));
    buf_free(&mine);
    buf_free(&q);
    json_decref(reply);
    console_page(r, 200, "cases", "cases_title", ctx);
}

/* s_name_ok - a saved filter's name: 1-S_NAME_MAX characters, no control */
static int s_name_ok(const char *s)
{
    size_t n = strlen(s), chars = u8_mbsnlen((const uint8_t *)s, n);
    if (!n || chars > S_NAME_MAX || u8_check((const uint8_t *)s, n) || strspn(s, " ") == n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

void console_inbox_save(console_req_t *r)
{
    s_filter_t f;
    char name[S_NAME_MAX * 4 + 1];
    if (s_from_form(r, &f) < 0 || s_check(r, &f) < 0 ||
        console_form_get(r->body.data, r->body.len, "name", 0, name, sizeof name) != 1 ||
        !s_name_ok(name)) {
        console_page_error(r, 400);
        return;
    }
    buf_t q = BUF_INIT;
    s_query(&f, &q);
    pthread_mutex_lock(&r->con->db_lock);
    sqlite3 *db = r->con->db;
    sqlite3_stmt *st = db_prepare(db, "INSERT INTO saved_filters(user, name, query, created_at)"
                                      " SELECT ?1, ?2, ?3, ?4 WHERE (SELECT count(*) FROM"
                                      " saved_filters WHERE user = ?1 AND name <> ?2) < ?5"
                                      " ON CONFLICT(user, name) DO UPDATE SET query = ?3");
    int rc = -1;
    if (st) {
        sqlite3_bind_text(st, 1, r->user.name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, q.data ? q.data : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, clock_now_ms());
        sqlite3_bind_int(st, 5, S_SAVED_MAX);
        rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db) > 0 : -1;
    }
    db_finish(st);
    pthread_mutex_unlock(&r->con->db_lock);
    if (rc <= 0) {
        buf_free(&q);
        console_page_error(r, rc < 0 ? 503 : 400); /* 0: S_SAVED_MAX already */
        return;
    }
    log_info("event=filter_saved user=%s name=%s", log_value(r->user.name), log_value(name));
    buf_t to = BUF_INIT;
    buf_puts(&to, "/cases?");
    buf_puts(&to, q.data ? q.data : "");
    console_redirect(r, to.data);
    buf_free(&to);
    buf_free(&q);
}

void console_inbox_forget(console_req_t *r)
{
    char name[S_NAME_MAX * 4 + 1];
    if (console_form_get(r->body.data, r->body.len, "name", 0, name, sizeof name) != 1) {
        console_page_error(r, 400);
        return;
    }
    pthread_mutex_lock(&r->con->db_lock);
    sqlite3_stmt *st =
        db_prepare(r->con->db, "DELETE FROM saved_filters WHERE user = ? AND name = ?");
    if (st) {
        sqlite3_bind_text(st, 1, r->user.name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_step(st);
    }
    db_finish(st);
    pthread_mutex_unlock(&r->con->db_lock);
    console_redirect(r, "/cases");
}
