/*
 * console_users.c - the staff accounts, for admins:
 *
 *   GET  /users[?done=ACTION]   every account (name, role, language,
 *                               enabled or not, created, last sign-in), the
 *                               form that adds one, and the audit: who
 *                               changed which account, when
 *   POST /users                 name, role, locale: a new account with no
 *                               password and a one-time link (console_link.c)
 *                               shown once on the page that answers, for the
 *                               admin to give the person: the admin never
 *                               types or learns their password
 *   POST /users/NAME/change     role, locale,  } 303 /users?done=ACTION
 *                               email (the account's own address, where its
 *                               test sends go; "" none)
 *   POST /users/NAME/disable                   } (disable ends the account's
 *   POST /users/NAME/enable                    }  sessions and kills its link)
 *   POST /users/NAME/reset      the password stops working, sessions end,
 *                               and a new one-time link is shown
 *
 * The same changes as `hark user` (console_control.c), kept in console.db
 * with the same functions, and recorded in the audit by "user:NAME".  An
 * admin cannot disable their own account or take their own admin role
 * away: the console would be left with nobody to undo it.  Errors are shown
 * beside the field, in the reader's language.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "console.h"
#include "db.h"
#include "log.h"
#include "mailbox.h"
#include "words.h"

#define S(o, k) json_string_value(json_object_get((o), (k)))
#define S_AUDIT_SHOWN 50

static const char *const s_roles[] = {"admin", "support", "marketer", NULL};

/* s_role_ok - one of s_roles */
static int s_role_ok(const char *role)
{
    for (int i = 0; s_roles[i]; i++)
        if (strcmp(role, s_roles[i]) == 0)
            return 1;
    return 0;
}

/* s_locale_ok - "" (none: the browser's) or a locale the console has words in */
static int s_locale_ok(const console_t *con, const char *loc)
{
    for (size_t i = 0; *loc && i < words_count(con->words); i++)
        if (strcmp(loc, words_name(con->words, i)) == 0)
            return 1;
    return !*loc;
}

/* s_when - a stored RFC 3339 time for people: "2026-12-07 04:33 UTC" */
static json_t *s_when(const char *iso)
{
    char out[40];
    if (iso && strlen(iso) >= 16)
        snprintf(out, sizeof out, "%.10s %.5s UTC", iso, iso + 11);
    else
        snprintf(out, sizeof out, "—");
    return json_string(out);
}

/* s_role_options - the roles as a select's options */
static json_t *s_role_options(console_req_t *r, const char *selected)
{
    json_t *a = json_array();
    for (int i = 0; s_roles[i]; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "value", s_roles[i], "label",
                                           console_word(r, s_roles[i]), "selected",
                                           selected && strcmp(selected, s_roles[i]) == 0));
    return a;
}

/* s_locale_options - "" (the browser's language) and every locale, each
 * named in its own language (its word language_name) */
static json_t *s_locale_options(console_req_t *r, const char *selected)
{
    const words_t *w = r->con->words;
    json_t *a = json_array();
    json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "value", "", "label",
                                       console_word(r, "users_locale_browser"), "selected",
                                       !selected || !*selected));
    for (size_t i = 0; i < words_count(w); i++) {
        const char *loc = words_name(w, i);
        char label[120];
        snprintf(label, sizeof label, "%s (%s)",
                 words_get(w, loc, "console.language_name"), loc);
        json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "value", loc, "label", label,
                                           "selected", selected && strcmp(selected, loc) == 0));
    }
    return a;
}

/* the page's parts beyond the list: an added account's form as typed
 * with its errors, a one-time link to show, a row's error */
typedef struct {
    const char *name, *role, *locale;  /* the add form as typed */
    const char *name_error, *role_error, *locale_error; /* word keys */
    const char *link_name, *link_url;  /* a link just made */
    const char *row_name, *row_error;  /* a row's form that failed */
} s_view_t;

/* s_page - /users: the accounts, the add form, the audit */
static void s_page(console_req_t *r, unsigned status, const s_view_t *v)
{
    console_t *con = r->con;
    pthread_mutex_lock(&con->db_lock);
    json_t *users = console_store_user_list(con->db);
    json_t *audit = console_audit_list(con->db, S_AUDIT_SHOWN);
    pthread_mutex_unlock(&con->db_lock);
    if (!users || !audit) {
        json_decref(users);
        json_decref(audit);
        console_page_error(r, 503);
        return;
    }
    json_t *rows = json_array(), *u;
    size_t i;
    json_array_foreach(users, i, u) {
        const char *name = S(u, "name"), *role = S(u, "role"), *loc = S(u, "locale");
        int off = json_is_true(json_object_get(u, "disabled"));
        json_t *row = json_pack(
            "{s:s,s:s,s:s,s:b,s:s,s:o,s:o,s:O,s:o,s:o,s:b}", "name", name, "role_word",
            console_word(r, role), "locale", loc ? loc : "—", "disabled", off, "state",
            console_word(r, off ? "users_disabled" : "users_enabled"), "created",
            s_when(S(u, "created_at")), "last", s_when(S(u, "last_login_at")), "sessions",
            json_object_get(u, "sessions"), "roles", s_role_options(r, role), "locales",
            s_locale_options(r, loc), "self", strcmp(name, r->user.name) == 0);
        json_object_set_new(row, "email", json_string(S(u, "email") ? S(u, "email") : ""));
        if (v->row_name && strcmp(v->row_name, name) == 0)
            json_object_set_new(row, "error", json_string(console_word(r, v->row_error)));
        json_array_append_new(rows, row);
    }
    json_decref(users);
    json_t *log = json_array(), *a;
    json_array_foreach(audit, i, a) {
        char k[40];
        snprintf(k, sizeof k, "audit_%s", S(a, "action"));
        json_t *row = json_pack("{s:s,s:o,s:s,s:s,s:s,s:s}", "iso", S(a, "at"), "at",
                                s_when(S(a, "at")), "by", S(a, "by"), "what", console_word(r, k),
                                "user", S(a, "user"), "detail", S(a, "detail"));
        json_array_append_new(log, row);
    }
    json_decref(audit);
    char hours[16];
    snprintf(hours, sizeof hours, "%lld", (long long)(CONSOLE_LINK_MS / 3600000));
    json_t *add = json_pack("{s:s,s:o,s:o}", "name", v->name ? v->name : "", "roles",
                            s_role_options(r, v->role ? v->role : "support"), "locales",
                            s_locale_options(r, v->locale));
    if (v->name_error)
        json_object_set_new(add, "name_error", json_string(console_word(r, v->name_error)));
    if (v->role_error)
        json_object_set_new(add, "role_error", json_string(console_word(r, v->role_error)));
    if (v->locale_error)
        json_object_set_new(add, "locale_error", json_string(console_word(r, v->locale_error)));
    json_t *ctx = json_pack("{s:o,s:o,s:b,s:o,s:s}", "users", rows, "audit", log, "has_audit",
                            json_array_size(log) > 0, "add", add, "hours", hours);
    if (v->link_url) {
        char until[40], iso[40];
        clock_format(clock_now_ms() + CONSOLE_LINK_MS, iso, sizeof iso);
        snprintf(until, sizeof until, "%.10s %.5s UTC", iso, iso + 11);
        json_object_set_new(ctx, "link", json_pack("{s:s,s:s,s:s}", "name", v->link_name, "url",
                                                   v->link_url, "until", until));
    }
    const char *done = console_http_arg(r, "done");
    if (done && (!strcmp(done, "change") || !strcmp(done, "disable") || !strcmp(done, "enable")))
        json_object_set_new(ctx, "done", json_string(console_word(r, strcmp(done, "change") == 0
                                                                         ? "users_done_change"
                                                                     : strcmp(done, "disable") == 0
                                                                         ? "users_done_disable"
                                                                         : "users_done_enable")));
    console_page(r, status, "users", "users_title", ctx);
}

void console_users_list(console_req_t *r)
{
    s_view_t v = {0};
    s_page(r, 200, &v);
}

/* s_field - a form field into out; "" when absent, NULL when bad */
static const char *s_field(console_req_t *r, const char *name, char *out, size_t len)
{
    return console_form_get(r->body.data, r->body.len, name, 0, out, len) >= 0 ? out : NULL;
}

/* s_by - "user:NAME" of the signed-in admin */
static void s_by(console_req_t *r, char *by, size_t len)
{
    snprintf(by, len, "user:%s", r->user.name);
}

/* s_add - POST /users */
static void s_add(console_req_t *r)
{
    console_t *con = r->con;
    char name[CONSOLE_NAME_MAX + 2], role[16], locale[40], by[CONSOLE_NAME_MAX + 8], url[600];
    s_view_t v = {0};
    v.name = s_field(r, "name", name, sizeof name);
    v.role = s_field(r, "role", role, sizeof role);
    v.locale = s_field(r, "locale", locale, sizeof locale);
    if (!v.name || !console_name_ok(name))
        v.name_error = "users_name_bad";
    if (!v.role || !s_role_ok(role))
        v.role_error = "users_role_bad";
    if (!v.locale || !s_locale_ok(con, locale))
        v.locale_error = "users_locale_bad";
    if (v.name_error || v.role_error || v.locale_error) {
        s_page(r, 400, &v);
        return;
    }
    s_by(r, by, sizeof by);
    int64_t now = clock_now_ms();
    pthread_mutex_lock(&con->db_lock);
    int rc = console_store_user_add(con->db, name, role, locale, "!", by, now);
    if (rc == 0)
        console_audit(con->db, by, "added", name, role, now);
    if (rc == 0 && console_link_new(con, name, now, url, sizeof url))
        rc = -1;
    pthread_mutex_unlock(&con->db_lock);
    if (rc < 0) {
        console_page_error(r, 503);
        return;
    }
    if (rc == 1) {
        v.name_error = "users_name_taken";
        s_page(r, 400, &v);
        return;
    }
    log_info("event=user_added user=%s role=%s link=yes by=%s", log_value(name), role,
             log_value(by));
    s_view_t shown = {.link_name = name, .link_url = url};
    s_page(r, 200, &shown);
}

/* s_set - run sql on account name (?1 name, ?2 a, ?3 b); 1 changed, 0 no
 * such account, -1 error */
static int s_set(sqlite3 *db, const char *sql, const char *name, const char *a, const char *b)
{
    sqlite3_stmt *st = db_prepare(db, sql);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (a)
        sqlite3_bind_text(st, 2, a, -1, SQLITE_STATIC);
    if (b && *b)
        sqlite3_bind_text(st, 3, b, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db) > 0 : -1;
    db_finish(st);
    return rc;
}

/* s_action - POST /users/NAME/ACTION */
static void s_action(console_req_t *r)
{
    console_t *con = r->con;
    const char *rest = r->url + strlen("/users/");
    size_t n = strcspn(rest, "/");
    char name[CONSOLE_NAME_MAX + 1], by[CONSOLE_NAME_MAX + 8], url[600] = "";
    const char *action = rest[n] ? rest + n + 1 : "";
    if (n > CONSOLE_NAME_MAX || !n) {
        console_page_error(r, 404);
        return;
    }
    memcpy(name, rest, n);
    name[n] = '\0';
    int change = !strcmp(action, "change"), disable = !strcmp(action, "disable"),
        enable = !strcmp(action, "enable"), reset = !strcmp(action, "reset");
    if (!console_name_ok(name) || !(change || disable || enable || reset)) {
        console_page_error(r, 404);
        return;
    }
    char role[16] = "", locale[40] = "", email[300] = "";
    s_view_t v = {.row_name = name};
    int self = strcmp(name, r->user.name) == 0;
    /* the account's own address (test sends), when the form has the field */
    int has_email = change && console_form_get(r->body.data, r->body.len, "email", 0, email,
                                               sizeof email) != 0;
    char *em = email + strspn(email, " \t");
    em[strcspn(em, " \t")] = '\0';
    if (has_email && (strlen(email) >= sizeof email - 1 ||
                      (*em && !mailbox_valid(em, strlen(em), 0))))
        v.row_error = "users_email_bad";
    else if (change && (!s_field(r, "role", role, sizeof role) || !s_role_ok(role)))
        v.row_error = "users_role_bad";
    else if (change && (!s_field(r, "locale", locale, sizeof locale) || !s_locale_ok(con, locale)))
        v.row_error = "users_locale_bad";
    else if (self && (disable || (change && strcmp(role, "admin") != 0)))
        v.row_error = "users_self_refused";
    if (v.row_error) {
        s_page(r, 400, &v);
        return;
    }
    s_by(r, by, sizeof by);
    int64_t now = clock_now_ms();
    char detail[80] = "";
    pthread_mutex_lock(&con->db_lock);
    int rc;
    if (change) {
        rc = s_set(con->db, "UPDATE users SET role = ?2, locale = ?3 WHERE name = ?1", name, role,
                   locale);
        if (rc == 1 && has_email && console_store_user_email(con->db, name, em))
            rc = -1;
        snprintf(detail, sizeof detail, "%s %s", role, *locale ? locale : "-");
    } else if (enable) {
        rc = s_set(con->db, "UPDATE users SET disabled = 0, fail_count = 0, fail_since = 0"
                            " WHERE name = ?1", name, NULL, NULL);
    } else {
        int ended = disable ? console_store_user_disable(con->db, name)
                            : console_store_user_reset(con->db, name, "!");
        rc = ended >= 0 ? 1 : ended == -1 ? 0 : -1;
        if (ended >= 0)
            snprintf(detail, sizeof detail, "%d", ended);
        if (reset && rc == 1 && console_link_new(con, name, now, url, sizeof url))
            rc = -1;
    }
    if (rc == 1)
        console_audit(con->db, by, change ? "changed" : enable ? "enabled" : disable ? "disabled"
                                                                                 : "reset",
                      name, change ? detail : NULL, now);
    pthread_mutex_unlock(&con->db_lock);
    if (rc <= 0) {
        console_page_error(r, rc == 0 ? 404 : 503);
        return;
    }
    log_info("event=user_%s user=%s by=%s%s%s", action, log_value(name), log_value(by),
             disable || reset ? " sessions_ended=" : "", disable || reset ? detail : "");
    if (reset) {
        s_view_t shown = {.link_name = name, .link_url = url};
        s_page(r, 200, &shown);
        return;
    }
    char to[40];
    snprintf(to, sizeof to, "/users?done=%s", action);
    console_redirect(r, to);
}

/* console_users_post - POST /users and POST /users/NAME/ACTION */
void console_users_post(console_req_t *r)
{
    if (strcmp(r->url, "/users") == 0)
        s_add(r);
    else
        s_action(r);
}
