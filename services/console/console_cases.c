/*
 * console_cases.c - the cases of hark-intake, for people:
 *
 *   GET  /cases  the inbox (console_inbox.c); its rows are made here
 *   GET  /cases/ID[?done=ACTION]  the case: what the customer said, the
 *        customer's story (hark-intake's contact copy, their other cases),
 *        its history; the reply, note, assign, retag, resolve and reopen
 *        forms (admin, support)
 *   POST /cases/ID/reply (message: Markdown)  /retag (code, repeated)
 *        /resolve: journaled as case.replied, case.retagged, case.resolved
 *        with by "user:NAME" - the events the admin API and `hark cases`
 *        journal, so hark-intake applies them the same way (a reply is
 *        mailed to the customer in the customer's language) - then 303
 *        back to the case.
 *   POST /cases/ID/note (text) /assign (assignee: an enabled account or
 *        "") /reopen: case.noted, case.assigned, case.reopened, the same
 *        way; none is mailed to anyone.
 *   POST /cases/ID/preview (message): the case page again with the email
 *        the reply would be (console_preview.c), the message kept as the
 *        staff member's draft; a sent reply deletes the draft.
 *
 * Reads are asked of hark-intake (INTAKE_CASES on [intake] control); the
 * console keeps no copy.  Each form carries a nonce made when the page was
 * rendered, and the event's key is made from it: sending the same form
 * twice (a reload, a double click) journals one event, one reply mail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "console.h"
#include "jclient.h"
#include "log.h"
#include "mime.h"
#include "proto.h"
#include "reasons.h"
#include "wire.h"

#define S_MESSAGE_MAX 20000

/* console_client_free - see console.h */
void console_client_free(void *p)
{
    wire_client_t *c = p;
    wire_client_destroy(&c);
}

int console_cases_init(console_t *con)
{
    int errors = 0;
    con->reasons = reasons_load(con->conf.reasons_path, NULL, NULL, &errors);
    if (!con->reasons || errors)
        log_warn("event=no_reasons path=%s hint=\"the inbox filters and retag need [intake]"
                 " reasons\"",
                 log_value(con->conf.reasons_path));
    if (errors)
        reasons_destroy(&con->reasons);
    if (pthread_key_create(&con->intake_key, console_client_free))
        return -1;
    if (pthread_key_create(&con->journal_key, console_client_free)) {
        pthread_key_delete(con->intake_key);
        return -1;
    }
    if (pthread_key_create(&con->mailer_key, console_client_free)) {
        pthread_key_delete(con->intake_key);
        pthread_key_delete(con->journal_key);
        return -1;
    }
    return 0;
}

void console_cases_fini(console_t *con)
{
    pthread_key_delete(con->intake_key);
    pthread_key_delete(con->journal_key);
    pthread_key_delete(con->mailer_key);
    reasons_destroy(&con->reasons);
}

/* console_client - see console.h */
wire_client_t *console_client(console_t *con, pthread_key_t key, const char *endpoint)
{
    wire_client_t *c = pthread_getspecific(key);
    if (!c) {
        c = wire_client_new(con->zctx, endpoint);
        if (c && pthread_setspecific(key, c))
            wire_client_destroy(&c);
    }
    return c;
}

/* s_intake_ask - INTAKE_CASES with req (stolen): the reply (caller
 * decrefs; cmd says which), or NULL when hark-intake did not answer */
static json_t *s_intake_ask(console_req_t *r, json_t *req, char *cmd)
{
    console_t *con = r->con;
    wire_client_t *c = console_client(con, con->intake_key, con->conf.intake_control);
    json_t *reply = c ? wire_client_call_json(c, CMD_INTAKE_CASES, req,
                                              con->conf.intake_timeout_ms, cmd)
                      : NULL;
    json_decref(req);
    return reply;
}

/* s_intake - INTAKE_CASES with req (stolen): the reply's cases (caller
 * decrefs), or NULL having answered 404 (no such case) or 503 */
static json_t *s_intake(console_req_t *r, json_t *req)
{
    char cmd[48] = "";
    json_t *reply = s_intake_ask(r, req, cmd);
    if (reply && strcmp(cmd, CMD_INTAKE_CASES_OK) == 0) {
        json_t *cases = json_incref(json_object_get(reply, "cases"));
        json_decref(reply);
        return cases;
    }
    const char *code = json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
    if (reply && code && strcmp(code, "not_found") == 0) {
        json_decref(reply);
        console_page_error(r, 404);
        return NULL;
    }
    log_warn("event=intake_unavailable cmd=%s answer=%s", CMD_INTAKE_CASES, reply ? cmd : "none");
    json_decref(reply);
    console_header(r, "Retry-After", "5");
    console_page_error(r, 503);
    return NULL;
}

#define S(o, k) json_string_value(json_object_get((o), (k)))

/* s_ms - a case's timestamp field as ms, or -1 */
static int64_t s_ms(const json_t *c, const char *k)
{
    int64_t ms;
    const char *v = S(c, k);
    return v && clock_parse(v, &ms) == 0 ? ms : -1;
}

/* s_span - a length of time in words: "3 d 4 h", "2 h 5 min", "7 min" */
static void s_span(console_req_t *r, int64_t ms, char *out, size_t len)
{
    long long m = ms / 60000, h = m / 60, d = h / 24;
    if (d > 0)
        snprintf(out, len, "%lld %s %lld %s", d, console_word(r, "unit_d"), h % 24,
                 console_word(r, "unit_h"));
    else if (h > 0)
        snprintf(out, len, "%lld %s %lld %s", h, console_word(r, "unit_h"), m % 60,
                 console_word(r, "unit_min"));
    else
        snprintf(out, len, "%lld %s", m < 1 ? 1 : m, console_word(r, "unit_min"));
}

/* s_when - a timestamp for people: "2026-12-07 04:33 UTC" */
static void s_when(int64_t ms, char *out, size_t len)
{
    char iso[40];
    clock_format(ms, iso, sizeof iso);
    snprintf(out, len, "%.10s %.5s UTC", iso, iso + 11);
}

/* s_clock - the first-response clock of c into row: clock (the words),
 * clock_state (a class: breached, overdue, due, answered, none) */
static void s_clock(console_req_t *r, const json_t *c, int64_t now, json_t *row)
{
    int64_t due = s_ms(c, "due_at"), first = s_ms(c, "first_reply_at");
    char text[160], span[64];
    const char *state;
    if (json_is_true(json_object_get(c, "breached"))) {
        state = "breached";
        if (first < 0 && due >= 0) {
            s_span(r, now - due, span, sizeof span);
            snprintf(text, sizeof text, "%s (%s %s)", console_word(r, "clock_breached"), span,
                     console_word(r, "clock_late"));
        } else {
            snprintf(text, sizeof text, "%s", console_word(r, "clock_breached"));
        }
    } else if (first >= 0) {
        state = "answered";
        snprintf(text, sizeof text, "%s", console_word(r, "clock_answered"));
    } else if (due < 0) {
        state = "none";
        snprintf(text, sizeof text, "%s", console_word(r, "clock_none"));
    } else if (now >= due) {
        state = "overdue";
        s_span(r, now - due, span, sizeof span);
        snprintf(text, sizeof text, "%s (%s %s)", console_word(r, "clock_overdue"), span,
                 console_word(r, "clock_late"));
    } else {
        state = "due";
        s_span(r, due - now, span, sizeof span);
        snprintf(text, sizeof text, "%s %s", console_word(r, "clock_due"), span);
    }
    json_object_set_new(row, "clock", json_string(text));
    json_object_set_new(row, "clock_state", json_string(state));
}

/* s_reason_label - a reason code's label in r's language */
static const char *s_reason_label(console_req_t *r, const char *code)
{
    const reasons_t *rs = r->con->reasons;
    int i = rs && code ? reasons_find(rs, code) : -1;
    return i >= 0 ? reasons_label(rs, (size_t)i, r->locale) : code ? code : "";
}

/* s_word_of - the word "<prefix>_<value>" (status_open, kind_complaint) */
static const char *s_word_of(console_req_t *r, const char *prefix, const char *value)
{
    char k[80];
    snprintf(k, sizeof k, "%s_%s", prefix, value ? value : "none");
    return console_word(r, k);
}

/* s_row - what the inbox and the case page show of a case */
static json_t *s_row(console_req_t *r, const json_t *c, int64_t now)
{
    char age[64];
    int64_t opened = s_ms(c, "opened_at");
    s_span(r, opened >= 0 ? now - opened : 0, age, sizeof age);
    json_t *row = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", S(c, "id") ? S(c, "id") : "",
                            "reason", s_reason_label(r, S(c, "reason")), "reason_code",
                            S(c, "reason") ? S(c, "reason") : "", "team",
                            S(c, "team") ? S(c, "team") : "", "customer",
                            S(c, "customer_id") ? S(c, "customer_id") : "—", "language",
                            S(c, "locale") ? S(c, "locale") : "—", "age", age, "status",
                            s_word_of(r, "status", S(c, "status")), "kind",
                            s_word_of(r, "kind", S(c, "kind")));
    if (S(c, "assignee"))
        json_object_set_new(row, "assignee", json_string(S(c, "assignee")));
    if (json_is_true(json_object_get(c, "needs_review"))) /* the tagger was not sure */
        json_object_set_new(row, "needs_review", json_true());
    s_clock(r, c, now, row);
    return row;
}

/* console_case_row - see console.h */
json_t *console_case_row(console_req_t *r, const json_t *c, int64_t now)
{
    return s_row(r, c, now);
}

/* s_options - a select's options: values (NULL-ended) or the taxonomy's */
static json_t *s_option(const char *value, const char *label, const char *selected)
{
    return json_pack("{s:s,s:s,s:b}", "value", value, "label", label, "selected",
                     selected && strcmp(value, selected) == 0);
}

/* s_accounts - the console's enabled accounts as options (selected: the
 * one chosen, or NULL): whom a case can be assigned to */
static json_t *s_accounts(console_req_t *r, const char *selected)
{
    pthread_mutex_lock(&r->con->db_lock);
    json_t *users = console_store_user_list(r->con->db);
    pthread_mutex_unlock(&r->con->db_lock);
    json_t *out = json_array(), *u;
    size_t i;
    json_array_foreach(users, i, u) {
        if (!json_is_true(json_object_get(u, "disabled")))
            json_array_append_new(out, s_option(S(u, "name"), S(u, "name"), selected));
    }
    json_decref(users);
    return out;
}

/* s_id_ok - a case id as INTAKE_CASES takes it */
static int s_id_ok(const char *id, size_t n)
{
    if (n < 1 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* s_can_act - the role may change cases */
static int s_can_act(const console_req_t *r)
{
    return strcmp(r->user.role, "admin") == 0 || strcmp(r->user.role, "support") == 0;
}

/* s_customer - the customer's story into ctx: what hark-intake knows of
 * them (name, email, language, time zone) and their other cases.  Only
 * asked, never required: without an answer the page shows the case. */
static void s_customer(console_req_t *r, const json_t *c, json_t *ctx)
{
    const char *cid = S(c, "customer_id");
    const json_t *who = json_object_get(c, "customer");
    if (!cid)
        return;
    json_t *cust = json_pack("{s:s}", "id", cid);
    static const char *const keys[] = {"name", "email", "locale", "timezone", NULL};
    int known = 0;
    for (int i = 0; keys[i]; i++)
        if (S(who, keys[i]) && *S(who, keys[i])) {
            json_object_set_new(cust, keys[i], json_string(S(who, keys[i])));
            known = 1;
        }
    json_object_set_new(cust, "known", json_boolean(known));
    /* whether mail reaches them: hark-mailer keeps the suppression list */
    console_t *con = r->con;
    wire_client_t *mc = console_client(con, con->mailer_key, con->conf.mailer_control);
    char cmd[48] = "";
    json_t *ask = json_pack("{s:s}", "customer_id", cid);
    if (S(who, "email") && *S(who, "email"))
        json_object_set_new(ask, "address", json_string(S(who, "email")));
    json_t *mail = mc ? wire_client_call_json(mc, CMD_MAILER_CONTACT, ask,
                                              con->conf.intake_timeout_ms, cmd)
                      : NULL;
    json_decref(ask);
    if (mail && strcmp(cmd, CMD_MAILER_CONTACT_OK) == 0) {
        int off = json_is_true(json_object_get(mail, "suppressed"));
        const char *why = S(mail, "reason") ? S(mail, "reason") : "";
        json_object_set_new(cust, "mail",
                            json_string(!off ? console_word(r, "mail_ok")
                                        : strcmp(why, "bounced") == 0
                                            ? console_word(r, "mail_bounced")
                                            : strcmp(why, "unsubscribed") == 0
                                                ? console_word(r, "mail_unsubscribed")
                                                : console_word(r, "mail_suppressed")));
        json_object_set_new(cust, "mail_off", json_boolean(off));
    } else {
        log_warn("event=mailer_unavailable cmd=%s answer=%s", CMD_MAILER_CONTACT,
                 mail ? cmd : "none");
        json_object_set_new(cust, "mail", json_string(console_word(r, "mail_unknown")));
    }
    json_decref(mail);
    cmd[0] = '\0';
    json_t *reply = s_intake_ask(r, json_pack("{s:s,s:i}", "customer_id", cid, "limit", 50), cmd);
    json_t *others = json_array(), *v;
    size_t i;
    int64_t now = clock_now_ms();
    if (reply && strcmp(cmd, CMD_INTAKE_CASES_OK) == 0)
        json_array_foreach(json_object_get(reply, "cases"), i, v) {
            if (S(v, "id") && strcmp(S(v, "id"), S(c, "id") ? S(c, "id") : "") != 0)
                json_array_append_new(others, s_row(r, v, now));
        }
    json_decref(reply);
    json_object_set_new(cust, "has_others", json_boolean(json_array_size(others) > 0));
    json_object_set_new(cust, "others", others);
    json_object_set_new(ctx, "customer", cust);
}

/* s_draft - the reply form's draft (when nothing was typed) and preview
 * (stolen) into act */
static void s_draft(console_req_t *r, const json_t *c, json_t *act, const char *typed,
                    json_t *preview)
{
    int64_t saved = 0;
    char *draft = typed || !S(c, "id") ? NULL : console_draft_get(r, S(c, "id"), &saved);
    if (draft) {
        char when[40];
        s_when(saved, when, sizeof when);
        json_object_set_new(act, "message", json_string(draft));
        json_object_set_new(act, "draft_saved", json_string(when));
        free(draft);
    }
    if (preview)
        json_object_set_new(act, "preview", preview);
}

/* s_show - the case page of c (borrowed), with an error beside the form
 * that failed (form: reply or retag; word: the error's) and what was typed,
 * and a reply's preview (stolen; NULL none) */
static void s_show(console_req_t *r, const json_t *c, unsigned status, const char *form,
                   const char *word, const char *typed, json_t *preview)
{
    int64_t now = clock_now_ms();
    json_t *row = s_row(r, c, now);
    char when[40], nonce[CONSOLE_TOKEN_HEX + 1];
    int64_t opened = s_ms(c, "opened_at");
    s_when(opened >= 0 ? opened : 0, when, sizeof when);
    json_object_set_new(row, "opened_at", json_string(when));
    const char *keys[] = {"text", "order_id", "channel", NULL};
    for (int i = 0; keys[i]; i++)
        if (S(c, keys[i]) && *S(c, keys[i]))
            json_object_set_new(row, keys[i], json_string(S(c, keys[i])));
    /* what they said is marked with their language, so a screen reader reads it so */
    if (S(c, "locale") && *S(c, "locale"))
        json_object_set_new(row, "lang", json_string(S(c, "locale")));
    if (json_is_integer(json_object_get(c, "score")))
        json_object_set(row, "score", json_object_get(c, "score"));
    json_t *codes = json_array(), *notes = json_array(), *v;
    size_t i;
    json_array_foreach(json_object_get(c, "codes"), i, v)
        json_array_append_new(codes, json_pack("{s:s,s:s}", "code", json_string_value(v),
                                               "label", s_reason_label(r, json_string_value(v))));
    json_array_foreach(json_object_get(c, "notes"), i, v) {
        /* when: the moment, and how long ago in the reader's words */
        int64_t at = s_ms(v, "at");
        char iso[40], ago[120], span[64];
        s_when(at >= 0 ? at : 0, when, sizeof when);
        clock_format(at >= 0 ? at : 0, iso, sizeof iso);
        s_span(r, at >= 0 && now > at ? now - at : 0, span, sizeof span);
        snprintf(ago, sizeof ago, console_word(r, "ago")[0] ? "%s %s" : "%s", span,
                 console_word(r, "ago"));
        /* who: staff as journaled, else the customer (what they did) or
         * Hark itself (a missed deadline) */
        const char *kind = S(v, "kind") ? S(v, "kind") : "";
        const char *who = S(v, "by");
        if (!who)
            who = (!strcmp(kind, "opened") || !strcmp(kind, "answer")) && S(c, "customer_id")
                      ? S(c, "customer_id")
                      : console_word(r, "by_hark");
        json_array_append_new(notes, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "at", when, "iso",
                                               iso, "ago", ago, "by", who, "kind",
                                               s_word_of(r, "note", kind), "text",
                                               S(v, "text") ? S(v, "text") : ""));
    }
    json_object_set_new(row, "codes", codes);
    json_object_set_new(row, "has_notes", json_boolean(json_array_size(notes) > 0));
    json_object_set_new(row, "notes", notes);
    json_t *ctx = json_pack("{s:o}", "case", row);
    s_customer(r, c, ctx);
    if (s_can_act(r)) {
        console_token(nonce);
        json_t *all = json_array();
        const reasons_t *rs = r->con->reasons;
        for (size_t k = 0; rs && k < reasons_count(rs); k++) {
            const char *code = reasons_get(rs, k)->code;
            int on = 0;
            json_array_foreach(json_object_get(c, "codes"), i, v) on |=
                strcmp(json_string_value(v), code) == 0;
            json_array_append_new(all, json_pack("{s:s,s:s,s:b}", "code", code, "label",
                                                 reasons_label(rs, k, r->locale), "checked", on));
        }
        int resolved = strcmp(S(c, "status") ? S(c, "status") : "", "resolved") == 0;
        json_t *act = json_pack("{s:s,s:o,s:b,s:b,s:o}", "nonce", nonce, "reasons", all,
                                "resolvable", !resolved, "reopenable", resolved, "accounts",
                                s_accounts(r, S(c, "assignee")));
        if (form && word) {
            char k[40];
            snprintf(k, sizeof k, "%s_error", form);
            json_object_set_new(act, k, json_string(console_word(r, word)));
        }
        if (typed)
            json_object_set_new(act, form && strcmp(form, "note") == 0 ? "note_text" : "message",
                                json_string(typed));
        s_draft(r, c, act, typed, preview);
        preview = NULL;
        json_object_set_new(ctx, "act", act);
    }
    const char *done = console_http_arg(r, "done");
    if (done && (!strcmp(done, "reply") || !strcmp(done, "retag") || !strcmp(done, "resolve") ||
                 !strcmp(done, "note") || !strcmp(done, "assign") || !strcmp(done, "reopen")))
        json_object_set_new(ctx, "done", json_string(s_word_of(r, "done", done)));
    json_decref(preview);
    console_page(r, status, "case", "case_title", ctx);
}

/* s_split - /cases/ID[/ACTION] into id and action; 0, or -1 having answered 404 */
static int s_split(console_req_t *r, char *id, char *action)
{
    const char *rest = r->url + strlen("/cases/");
    size_t n = strcspn(rest, "/");
    const char *a = rest[n] ? rest + n + 1 : "";
    if (!s_id_ok(rest, n) || strchr(a, '/') || strlen(a) > 16 || (!*a && rest[n])) {
        console_page_error(r, 404);
        return -1;
    }
    memcpy(id, rest, n);
    id[n] = '\0';
    strcpy(action, a);
    return 0;
}

/* s_case - the one case id (caller decrefs), or NULL having answered */
static json_t *s_case(console_req_t *r, const char *id)
{
    json_t *cases = s_intake(r, json_pack("{s:s}", "id", id));
    json_t *c = json_incref(json_array_get(cases, 0));
    json_decref(cases);
    if (cases && !c)
        console_page_error(r, 404);
    return c;
}

void console_cases_show(console_req_t *r)
{
    char id[80], action[20];
    if (s_split(r, id, action))
        return;
    if (*action) {
        console_page_error(r, 404);
        return;
    }
    json_t *c = s_case(r, id);
    if (!c)
        return;
    s_show(r, c, 200, NULL, NULL, NULL, NULL);
    json_decref(c);
}

/* console_journal - see console.h */
int console_journal(console_req_t *r, const char *type, const char *key, const json_t *payload,
                    const char *subject)
{
    console_t *con = r->con;
    wire_client_t *jc = console_client(con, con->journal_key, con->conf.journal_endpoint);
    json_t *events = json_pack("[{s:s,s:s,s:O}]", "type", type, "key", key, "payload",
                               (json_t *)payload);
    char err[200] = "no journal client";
    json_t *ok = jc && events ? jclient_append(jc, events, con->conf.journal_timeout_ms, err)
                              : NULL;
    json_decref(events);
    if (!ok) {
        log_warn("event=change_not_journaled type=%s error=\"%s\"", type, err);
        console_header(r, "Retry-After", "2");
        console_page_error(r, 503);
        return -1;
    }
    long long off = json_integer_value(json_array_get(json_object_get(ok, "offsets"), 0));
    r->journaled = off;
    json_decref(ok);
    log_info("event=change_journaled type=%s %s=%s by=user:%s offset=%lld", type, subject,
             log_value(S(payload, subject)), log_value(r->user.name), off);
    return 0;
}

/* s_preview - POST /cases/ID/preview: the message kept as a draft, and
 * the case page with the email it would be */
static void s_preview(console_req_t *r, const char *id)
{
    json_t *c = s_case(r, id);
    if (!c)
        return;
    char *m = malloc(S_MESSAGE_MAX + 1);
    int got = m ? console_form_get(r->body.data, r->body.len, "message", 0, m,
                                   S_MESSAGE_MAX + 1)
                : -1;
    if (got < 0) {
        s_show(r, c, 400, "reply", "reply_too_long", NULL, NULL);
    } else {
        console_draft_put(r, id, m);
        json_t *mail = m[strspn(m, " \t\r\n")] ? console_preview_mail(r, c, m) : NULL;
        if (m[strspn(m, " \t\r\n")] && !mail)
            mail = json_pack("{s:b}", "failed", 1);
        s_show(r, c, 200, NULL, NULL, m, mail);
    }
    free(m);
    json_decref(c);
}

void console_cases_action(console_req_t *r)
{
    char id[80], action[20], nonce[CONSOLE_TOKEN_HEX + 2];
    if (s_split(r, id, action))
        return;
    if (strcmp(action, "preview") == 0) {
        s_preview(r, id);
        return;
    }
    const char *type = strcmp(action, "reply") == 0     ? EV_CASE_REPLIED
                       : strcmp(action, "retag") == 0   ? EV_CASE_RETAGGED
                       : strcmp(action, "resolve") == 0 ? EV_CASE_RESOLVED
                       : strcmp(action, "note") == 0    ? EV_CASE_NOTED
                       : strcmp(action, "assign") == 0  ? EV_CASE_ASSIGNED
                       : strcmp(action, "reopen") == 0  ? EV_CASE_REOPENED
                                                        : NULL;
    if (!type) {
        console_page_error(r, 404);
        return;
    }
    const char *body = r->body.data;
    size_t len = r->body.len;
    if (console_form_get(body, len, "nonce", 0, nonce, sizeof nonce) != 1 ||
        strlen(nonce) != CONSOLE_TOKEN_HEX || strspn(nonce, "0123456789abcdef") != CONSOLE_TOKEN_HEX) {
        console_page_error(r, 400);
        return;
    }
    json_t *c = s_case(r, id);
    if (!c)
        return;
    char by[CONSOLE_NAME_MAX + 8];
    snprintf(by, sizeof by, "user:%s", r->user.name);
    json_t *p = json_pack("{s:s,s:s}", "case", id, "by", by);
    if (strcmp(type, EV_CASE_REPLIED) == 0 || strcmp(type, EV_CASE_NOTED) == 0) {
        /* a reply's message, a note's text: both the staff's own words */
        int reply = strcmp(type, EV_CASE_REPLIED) == 0;
        const char *field = reply ? "message" : "text";
        char *m = malloc(S_MESSAGE_MAX + 1);
        int got = m ? console_form_get(body, len, field, 0, m, S_MESSAGE_MAX + 1) : -1;
        size_t ml = got == 1 ? strspn(m, " \t\r\n") : 0;
        if (got != 1 || !m[ml]) {
            s_show(r, c, 400, action,
                   got < 0 ? (reply ? "reply_too_long" : "note_too_long")
                           : (reply ? "reply_empty" : "note_empty"),
                   got == 1 ? m : NULL, NULL);
            free(m);
            goto done;
        }
        json_object_set_new(p, field, json_string(m));
        free(m);
    } else if (strcmp(type, EV_CASE_ASSIGNED) == 0) {
        /* an enabled account, or "" (nobody) */
        char who[CONSOLE_NAME_MAX + 2] = "";
        int got = console_form_get(body, len, "assignee", 0, who, sizeof who);
        int ok = got == 0 || (got == 1 && !*who);
        if (got == 1 && *who && console_name_ok(who)) {
            json_t *all = s_accounts(r, NULL), *v;
            size_t k;
            json_array_foreach(all, k, v) ok |= strcmp(S(v, "value"), who) == 0;
            json_decref(all);
        }
        if (!ok) {
            console_page_error(r, 400);
            goto done;
        }
        json_object_set_new(p, "assignee", json_string(got == 1 ? who : ""));
    } else if (strcmp(type, EV_CASE_RETAGGED) == 0) {
        json_t *codes = json_array();
        char code[80];
        for (size_t n = 0; n < REASONS_MAX_CODES + 1; n++) {
            int got = console_form_get(body, len, "code", n, code, sizeof code);
            if (got == 0)
                break;
            if (got < 0 || !r->con->reasons || reasons_find(r->con->reasons, code) < 0 ||
                n == REASONS_MAX_CODES) {
                json_array_clear(codes);
                break;
            }
            int dup = 0;
            size_t k;
            json_t *w;
            json_array_foreach(codes, k, w) dup |= strcmp(json_string_value(w), code) == 0;
            if (!dup)
                json_array_append_new(codes, json_string(code));
        }
        if (json_array_size(codes) == 0) {
            json_decref(codes);
            s_show(r, c, 400, "retag", "retag_none", NULL, NULL);
            goto done;
        }
        json_object_set_new(p, "codes", codes);
    }
    char key[200];
    snprintf(key, sizeof key, "console:%s:%s:%s", action, id, nonce);
    if (console_journal(r, type, key, p, "case") == 0) {
        if (strcmp(type, EV_CASE_REPLIED) == 0)
            console_draft_clear(r, id);
        char to[160];
        snprintf(to, sizeof to, "/cases/%s?done=%s", id, action);
        console_redirect(r, to);
    }
done:
    json_decref(p);
    json_decref(c);
}
