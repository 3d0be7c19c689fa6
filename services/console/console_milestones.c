/*
 * console_milestones.c - the birthday and anniversary messages, for
 * marketers and admins (support gets 403, by the route table):
 *
 *   GET  /milestones[?done=saved]  each kind's settings (on or off, local
 *                               send time, offset, template, what
 *                               anniversaries count from), who set them, its
 *                               counts, a form to change them; the next 7
 *                               days' schedule by zone (MILESTONE_SCHEDULE)
 *   POST /milestones/KIND       do=save: milestone.saved by "user:NAME",
 *                               checked as the admin API checks it
 *                               (milestone_settings_check, and the template
 *                               must exist); errors beside their field, the
 *                               form keeping what was typed; do=test
 *                               (locale): the kind's mail to the account's
 *                               own address (console_testsend.c)
 *
 * Reads are asked of hark-milestone (MILESTONE_SETTINGS); a save waits a
 * moment until hark-milestone has applied it, so the page shows it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "console.h"
#include "log.h"
#include "milestone_settings.h"
#include "proto.h"
#include "wire.h"

#define S(o, k) json_string_value(json_object_get((o), (k)))
#define S_PREFIX "/milestones/"

/* the form's fields, in the order shown */
static const char *const s_names[] = {"time", "offset", "template", "anniversary_from", NULL};

/* s_ask - a command to hark-milestone (req stolen): the reply, or NULL
 * having answered 503 when answer is set */
static json_t *s_ask(console_req_t *r, const char *cmd, const char *ok, json_t *req, int answer)
{
    console_t *con = r->con;
    wire_client_t *c = console_client(con, con->milestone_key, con->conf.milestone_control);
    char got[48] = "";
    json_t *reply = c && req ? wire_client_call_json(c, cmd, req, con->conf.milestone_timeout_ms,
                                                     got)
                             : NULL;
    json_decref(req);
    if (reply && strcmp(got, ok) == 0)
        return reply;
    json_decref(reply);
    log_warn("event=milestone_unavailable cmd=%s", cmd);
    if (answer) {
        console_header(r, "Retry-After", "2");
        console_page_error(r, 503);
    }
    return NULL;
}

/* s_applied - wait (at most [gateway] milestone_timeout) until
 * hark-milestone has applied the journal up to offset */
static void s_applied(console_req_t *r, long long offset)
{
    int64_t until = clock_now_ms() + r->con->conf.milestone_timeout_ms;
    while (offset > 0 && clock_now_ms() < until) {
        json_t *st = s_ask(r, CMD_SERVICE_STATUS, CMD_SERVICE_STATUS_OK, json_object(), 0);
        long long cursor = json_integer_value(json_object_get(st, "cursor"));
        json_decref(st);
        if (cursor >= offset)
            return;
        struct timespec ts = {0, 30 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* s_kinds - the page's kinds from MILESTONE_SETTINGS's list (borrowed);
 * for the kind posted (posted non-NULL): typed values and errors instead */
static json_t *s_kinds(console_req_t *r, const json_t *list, const char *posted,
                       const json_t *typed, const json_t *errors)
{
    json_t *kinds = json_array(), *m;
    size_t i;
    json_array_foreach(list, i, m) {
        const char *kind = S(m, "kind");
        int mine = posted && strcmp(kind, posted) == 0;
        const json_t *src = mine ? typed : m;
        char key[48], action[64];
        snprintf(key, sizeof key, "ms_kind_%s", kind);
        snprintf(action, sizeof action, S_PREFIX "%s", kind);
        int anniversary = strcmp(kind, "anniversary") == 0;
        json_t *k = json_pack("{s:s,s:s,s:s,s:b,s:b,s:s}", "kind", kind, "kind_word",
                              console_word(r, key), "action", action, "enabled",
                              json_is_true(json_object_get(src, "enabled")), "anniversary",
                              anniversary, "by", S(m, "by") ? S(m, "by") : "");
        json_t *fields = json_array();
        for (int f = 0; s_names[f]; f++) {
            if (!anniversary && strcmp(s_names[f], "anniversary_from") == 0)
                continue;
            char lk[48], hk[48], id[64];
            snprintf(lk, sizeof lk, "ms_f_%s", s_names[f]);
            snprintf(hk, sizeof hk, "ms_h_%s", s_names[f]);
            snprintf(id, sizeof id, "%s-%s", kind, s_names[f]);
            int bad = mine && json_is_true(json_object_get(errors, s_names[f]));
            const char *v = S(src, s_names[f]);
            json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "id", id, "name", s_names[f],
                                  "label", console_word(r, lk), "hint", console_word(r, hk),
                                  "value", v ? v : "", "bad", bad);
            if (bad)
                json_object_set_new(o, "error", json_string(console_word(r, "camp_invalid")));
            json_array_append_new(fields, o);
        }
        json_object_set_new(k, "fields", fields);
        json_t *counts = json_object_get(m, "counts");
        json_object_set_new(k, "sent", json_integer(json_integer_value(json_object_get(counts, "sent"))));
        json_object_set_new(k, "suppressed",
                            json_integer(json_integer_value(json_object_get(counts, "suppressed"))));
        if (mine && json_object_size(errors))
            json_object_set_new(k, "has_errors", json_true());
        json_array_append_new(kinds, k);
    }
    return kinds;
}

/* s_schedule - the next 7 days by zone (MILESTONE_SCHEDULE) into ctx */
static void s_schedule(console_req_t *r, json_t *ctx)
{
    json_t *reply = s_ask(r, CMD_MILESTONE_SCHEDULE, CMD_MILESTONE_SCHEDULE_OK, json_object(), 0);
    json_t *rows = json_array(), *s;
    size_t i;
    json_array_foreach(json_object_get(reply, "schedule"), i, s) {
        char key[48];
        snprintf(key, sizeof key, "ms_kind_%s", S(s, "kind"));
        int64_t ms = 0;
        char when[40] = "";
        if (S(s, "send_at") && clock_parse(S(s, "send_at"), &ms) == 0) {
            time_t t = (time_t)(ms / 1000);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
        }
        json_t *row = json_pack("{s:s,s:s,s:s,s:s,s:I}", "date", S(s, "date"), "kind_word",
                                console_word(r, key), "timezone", S(s, "timezone"), "send_at",
                                when, "customers",
                                json_integer_value(json_object_get(s, "customers")));
        json_object_set(row, "names", json_object_get(s, "names"));
        json_array_append_new(rows, row);
    }
    json_object_set_new(ctx, "schedule_known", json_boolean(reply != NULL));
    json_object_set_new(ctx, "has_schedule", json_boolean(json_array_size(rows) > 0));
    json_object_set_new(ctx, "schedule", rows);
    json_decref(reply);
}

/* s_show - the page, as status, the posted kind's form from typed */
static void s_show(console_req_t *r, unsigned status, const char *posted, const json_t *typed,
                   const json_t *errors, json_t *ctx)
{
    json_t *reply = s_ask(r, CMD_MILESTONE_SETTINGS, CMD_MILESTONE_SETTINGS_OK, json_object(), 1);
    if (!reply) {
        json_decref(ctx);
        return;
    }
    json_object_set_new(ctx, "kinds", s_kinds(r, json_object_get(reply, "milestones"), posted,
                                              typed, errors));
    json_decref(reply);
    json_object_set_new(ctx, "locales", console_test_locales(r));
    s_schedule(r, ctx);
    console_page(r, status, "milestones", "ms_title", ctx);
}

/* console_milestones_show - GET /milestones */
void console_milestones_show(console_req_t *r)
{
    json_t *ctx = json_object();
    const char *done = console_http_arg(r, "done");
    if (done && strcmp(done, "saved") == 0)
        json_object_set_new(ctx, "done", json_string(console_word(r, "ms_done_saved")));
    s_show(r, 200, NULL, NULL, NULL, ctx);
}

/* s_field_of - the form's name for a check's field */
static const char *s_field_of(const char *field)
{
    for (int i = 0; s_names[i]; i++)
        if (strcmp(field, s_names[i]) == 0)
            return s_names[i];
    return NULL;
}

/* console_milestones_post - POST /milestones/KIND */
void console_milestones_post(console_req_t *r)
{
    const char *kind = r->url + strlen(S_PREFIX);
    if (milestone_settings_kind(kind) < 0) {
        console_page_error(r, 404);
        return;
    }
    char what[16] = "", v[80];
    console_form_get(r->body.data, r->body.len, "do", 0, what, sizeof what);
    if (strcmp(what, "test") == 0) {
        /* the kind's template, as hark-milestone would send it, to the
         * account's own address (console_testsend.c) */
        json_t *reply = s_ask(r, CMD_MILESTONE_SETTINGS, CMD_MILESTONE_SETTINGS_OK,
                              json_pack("{s:s}", "kind", kind), 1);
        if (!reply)
            return;
        const char *tmpl = S(json_array_get(json_object_get(reply, "milestones"), 0), "template");
        char name[80];
        snprintf(name, sizeof name, "%s", tmpl ? tmpl : kind);
        json_decref(reply);
        char locale[40] = "";
        console_form_get(r->body.data, r->body.len, "locale", 0, locale, sizeof locale);
        json_t *ctx = json_object(), *vars = json_object();
        int rc = console_test_send(r, name, locale, vars, ctx);
        json_decref(vars);
        if (rc < 0) {
            json_decref(ctx);
            return;
        }
        s_show(r, 200, NULL, NULL, NULL, ctx);
        return;
    }
    if (strcmp(what, "save") != 0) {
        console_page_error(r, 400);
        return;
    }
    char by[CONSOLE_NAME_MAX + 8];
    snprintf(by, sizeof by, "user:%s", r->user.name);
    int on = console_form_get(r->body.data, r->body.len, "enabled", 0, v, sizeof v) == 1;
    json_t *p = json_pack("{s:s,s:b,s:s}", "kind", kind, "enabled", on, "by", by);
    json_t *typed = json_pack("{s:b}", "enabled", on), *errors = json_object();
    for (int i = 0; s_names[i]; i++) {
        int got = console_form_get(r->body.data, r->body.len, s_names[i], 0, v, sizeof v);
        if (got < 0) {
            json_object_set_new(errors, s_names[i], json_true());
            continue;
        }
        char *t = v + strspn(v, " \t");
        size_t n = strlen(t);
        while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
            t[--n] = '\0';
        json_object_set_new(typed, s_names[i], json_string(got ? t : ""));
        if (got && *t)
            json_object_set_new(p, s_names[i], json_string(t));
    }
    /* the shared checks, one field at a time, so each wrong one is named */
    char err[300];
    schema_t *s = milestone_settings_schema(err, sizeof err);
    for (int round = 0; s && round < 8; round++) {
        char field[256] = "", msg[600];
        const char *bad = milestone_settings_check(s, p, field, sizeof field, msg, sizeof msg);
        const char *tmpl = S(p, "template");
        if (!bad && tmpl &&
            milestone_settings_template_check(r->con->conf.templates, r->con->conf.default_locale,
                                              tmpl, field, sizeof field, msg, sizeof msg))
            bad = "invalid_field";
        if (!bad)
            break;
        const char *f = s_field_of(field);
        if (!f || !json_object_get(p, f)) {
            log_info("event=milestone_refused kind=%s field=%s error=\"%s\"", kind,
                     log_value(field), log_value(msg));
            if (f)
                json_object_set_new(errors, f, json_true());
            break;
        }
        json_object_set_new(errors, f, json_true());
        json_object_del(p, f);
    }
    schema_destroy(&s);
    if (json_object_size(errors) == 0) {
        char key[120], tok[CONSOLE_TOKEN_HEX + 1];
        console_token(tok);
        snprintf(key, sizeof key, "console/milestone/%.16s", tok);
        int rc = console_journal(r, EV_MILESTONE_SAVED, key, p, "kind");
        json_decref(p);
        json_decref(typed);
        json_decref(errors);
        if (rc)
            return;
        s_applied(r, r->journaled);
        console_redirect(r, "/milestones?done=saved");
        return;
    }
    json_decref(p);
    s_show(r, 400, kind, typed, errors, json_object());
    json_decref(typed);
    json_decref(errors);
}
