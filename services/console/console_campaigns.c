/*
 * console_campaigns.c - the survey campaigns, for marketers and admins
 * (support gets 403, by the route table):
 *
 *   GET  /campaigns[?done=ACTION]  every campaign in the order purchases try
 *                               them (post-purchase by priority, then id;
 *                               then the scheduled ones): status, kind,
 *                               priority, next run, counts (scheduled, sent,
 *                               answered, throttled, suppressed); move up,
 *                               move down, enable, disable
 *   GET  /campaigns/new         the form for a new one
 *   GET  /campaigns/ID          the form for one, its segment's size now,
 *                               its history (who, when, what changed)
 *   POST /campaigns/new, /campaigns/ID  do=save: campaign.saved by
 *                               "user:NAME"; do=preview: the page again
 *                               with the typed segment's size; do=enable,
 *                               do=disable, do=up, do=down (303 /campaigns);
 *                               do=test (locale): its invite to the account's
 *                               own address (console_testsend.c)
 *
 * A campaign is checked here exactly as the admin API checks it
 * (campaign_check and tz_window_parse of common/), field by field, so every
 * field at fault says so beside itself and the form keeps what was typed.
 * Reads are asked of hark-survey (SURVEY_CAMPAIGNS with history,
 * SURVEY_SEGMENT); a save waits (a moment, at most [gateway]
 * survey_timeout) until hark-survey has applied it, so the page that
 * follows shows it.  Moving a campaign renumbers the post-purchase
 * campaigns' priorities 1, 2, 3...: one campaign.saved for each that
 * changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campaign.h"
#include "clock.h"
#include "console.h"
#include "log.h"
#include "proto.h"
#include "tz.h"
#include "wire.h"

#define S(o, k) json_string_value(json_object_get((o), (k)))
#define S_PREFIX "/campaigns/"
#define S_FIELD_MAX 4000

/* The form's fields: name, which kind has it (0 both, 1 post_purchase, 2
 * relationship), how it is written (s: text; i: integer; n: number; l: a
 * list, comma-separated; a: attributes, NAME=VALUE a line), the payload's
 * key (segment.* nested) */
typedef struct {
    const char *name;
    int kind;
    char type;
    const char *key;
} s_field_t;

static const s_field_t s_fields[] = {
    {"delay", 1, 's', "delay"},
    {"priority", 1, 'i', "priority"},
    {"products", 1, 'l', "products"},
    {"sample_rate", 1, 'n', "sample_rate"},
    {"start", 2, 's', "start"},
    {"every", 2, 's', "every"},
    {"spread", 2, 's', "spread"},
    {"segment_locales", 2, 'l', "segment.locales"},
    {"segment_attributes", 2, 'a', "segment.attributes"},
    {"segment_within", 2, 's', "segment.purchased_within"},
    {"window_hours", 0, 's', "window_hours"},
    {"window_days", 0, 's', "window_days"},
    {"reminder", 0, 's', "reminder"},
    {"expiry", 0, 's', "expiry"},
    {NULL, 0, 0, NULL},
};

int console_campaigns_init(console_t *con)
{
    if (pthread_key_create(&con->survey_key, console_client_free))
        return -1;
    if (pthread_key_create(&con->milestone_key, console_client_free)) {
        pthread_key_delete(con->survey_key);
        return -1;
    }
    return 0;
}

void console_campaigns_fini(console_t *con)
{
    pthread_key_delete(con->survey_key);
    pthread_key_delete(con->milestone_key);
}

/* s_slug_ok - a campaign id: [a-z0-9-]{1,64} */
static int s_slug_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return 0;
    return 1;
}

/* s_when - an RFC 3339 time for people: "2026-12-07 04:33 UTC" */
static json_t *s_when(const char *iso)
{
    int64_t ms;
    if (!iso || clock_parse(iso, &ms))
        return json_string(iso ? iso : "");
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char out[40];
    strftime(out, sizeof out, "%Y-%m-%d %H:%M UTC", &tm);
    return json_string(out);
}

/* s_survey - a command to hark-survey (req stolen): the reply, or NULL
 * having answered 503 when answer is set */
static json_t *s_survey(console_req_t *r, const char *cmd, const char *ok, json_t *req,
                        int answer)
{
    console_t *con = r->con;
    wire_client_t *c = console_client(con, con->survey_key, con->conf.survey_control);
    char got[48] = "";
    json_t *reply = c && req ? wire_client_call_json(c, cmd, req, con->conf.survey_timeout_ms, got)
                             : NULL;
    json_decref(req);
    if (reply && strcmp(got, ok) == 0)
        return reply;
    json_decref(reply);
    log_warn("event=survey_unavailable cmd=%s", cmd);
    if (answer) {
        console_header(r, "Retry-After", "2");
        console_page_error(r, 503);
    }
    return NULL;
}

/* s_campaigns - SURVEY_CAMPAIGNS (id: that one, with its history): the
 * campaigns array (caller decrefs) or NULL having answered 503 */
static json_t *s_campaigns(console_req_t *r, const char *id)
{
    json_t *req = id ? json_pack("{s:s,s:b}", "id", id, "history", 1) : json_object();
    json_t *reply = s_survey(r, CMD_SURVEY_CAMPAIGNS, CMD_SURVEY_CAMPAIGNS_OK, req, 1);
    json_t *list = reply ? json_incref(json_object_get(reply, "campaigns")) : NULL;
    json_decref(reply);
    return list;
}

/* s_applied - wait (at most [gateway] survey_timeout) until hark-survey
 * has applied the journal up to offset: the page after a save shows it */
static void s_applied(console_req_t *r, long long offset)
{
    int64_t until = clock_now_ms() + r->con->conf.survey_timeout_ms;
    while (offset > 0 && clock_now_ms() < until) {
        json_t *st = s_survey(r, CMD_SERVICE_STATUS, CMD_SERVICE_STATUS_OK, json_object(), 0);
        long long cursor = json_integer_value(json_object_get(st, "cursor"));
        json_decref(st);
        if (cursor >= offset)
            return;
        struct timespec ts = {0, 30 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* s_ordered - the list in the order purchases try it: post-purchase by
 * priority then id, then relationship by id (a new array, borrowing) */
static json_t *s_ordered(const json_t *list)
{
    json_t *post = json_array(), *rel = json_array(), *c;
    size_t i;
    json_array_foreach(list, i, c) {
        const char *kind = S(c, "kind");
        json_array_append(kind && strcmp(kind, "relationship") == 0 ? rel : post, c);
    }
    /* insertion sort: campaigns are few */
    size_t n = json_array_size(post);
    for (size_t a = 1; a < n; a++) {
        for (size_t b = a; b > 0; b--) {
            json_t *x = json_array_get(post, b - 1), *y = json_array_get(post, b);
            json_int_t px = json_integer_value(json_object_get(x, "priority"));
            json_int_t py = json_integer_value(json_object_get(y, "priority"));
            if (px < py || (px == py && strcmp(S(x, "id"), S(y, "id")) <= 0))
                break;
            json_incref(x);
            json_array_set(post, b - 1, y);
            json_array_set_new(post, b, x);
        }
    }
    json_array_extend(post, rel);
    json_decref(rel);
    return post;
}

/* s_group - n with its thousands grouped by sep ("1,234") */
static json_t *s_group(long long n, const char *sep)
{
    char digits[32], out[64];
    snprintf(digits, sizeof digits, "%lld", n < 0 ? -n : n);
    size_t len = strlen(digits), o = 0;
    if (n < 0)
        out[o++] = '-';
    for (size_t i = 0; i < len && o + strlen(sep) + 2 < sizeof out; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            o += (size_t)snprintf(out + o, sizeof out - o, "%s", sep);
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return json_string(out);
}

/* s_count - one of a campaign's counts ("answered": its own field) */
static json_int_t s_count(const json_t *c, const char *name)
{
    if (strcmp(name, "answered") == 0)
        return json_integer_value(json_object_get(c, "answered"));
    return json_integer_value(json_object_get(json_object_get(c, "counts"), name));
}

/* console_campaigns_list - GET /campaigns */
void console_campaigns_list(console_req_t *r)
{
    json_t *list = s_campaigns(r, NULL);
    if (!list)
        return;
    json_t *ordered = s_ordered(list), *rows = json_array(), *c;
    json_decref(list);
    size_t i, n_post = 0;
    json_array_foreach(ordered, i, c) {
        if (strcmp(S(c, "kind"), "relationship") != 0)
            n_post++;
    }
    const char *sep = console_word(r, "thousands_sep");
    json_array_foreach(ordered, i, c) {
        int rel = strcmp(S(c, "kind"), "relationship") == 0;
        int on = json_is_true(json_object_get(c, "enabled"));
        char href[96];
        snprintf(href, sizeof href, S_PREFIX "%s", S(c, "id"));
        json_t *row = json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "id", S(c, "id"), "href", href,
                                "kind_word", console_word(r, rel ? "camp_kind_relationship"
                                                                 : "camp_kind_post_purchase"),
                                "status_word", console_word(r, on ? "camp_enabled"
                                                                  : "camp_disabled"),
                                "enabled", on, "relationship", rel);
        if (!rel) {
            json_object_set_new(row, "position", json_integer((json_int_t)i + 1));
            json_object_set(row, "priority", json_object_get(c, "priority"));
            json_object_set_new(row, "can_up", json_boolean(i > 0));
            json_object_set_new(row, "can_down", json_boolean(i + 1 < n_post));
            json_object_set_new(row, "next", json_string(console_word(r, "camp_each_purchase")));
        } else {
            const char *next = S(c, "next_run");
            json_object_set_new(row, "next", next ? s_when(next)
                                                  : json_string(console_word(r, "camp_no_run")));
        }
        static const char *const counts[] = {"scheduled", "sent", "answered", "throttled",
                                             "suppressed", NULL};
        for (int k = 0; counts[k]; k++)
            json_object_set_new(row, counts[k], s_group(s_count(c, counts[k]), sep));
        json_t *never = json_object_get(c, "never_invites");
        if (never)
            json_object_set(row, "never_because", json_object_get(never, "because"));
        json_array_append_new(rows, row);
    }
    json_decref(ordered);
    json_t *ctx = json_pack("{s:o,s:b}", "rows", rows, "none", json_array_size(rows) == 0);
    const char *done = console_http_arg(r, "done");
    static const char *const dones[] = {"saved", "enabled", "disabled", "moved", NULL};
    for (int k = 0; done && dones[k]; k++)
        if (strcmp(done, dones[k]) == 0) {
            char key[40];
            snprintf(key, sizeof key, "camp_done_%s", done);
            json_object_set_new(ctx, "done", json_string(console_word(r, key)));
        }
    console_page(r, 200, "campaigns", "camp_title", ctx);
}

/* --- one campaign's form -------------------------------------------- */

/* s_setting - settings' value for a field (segment.* nested) */
static json_t *s_setting(const json_t *settings, const char *key)
{
    if (strncmp(key, "segment.", 8) == 0)
        return json_object_get(json_object_get(settings, "segment"), key + 8);
    return json_object_get(settings, key);
}

/* s_shown - a setting as the form writes it (malloc'd, "" when absent) */
static char *s_shown(const json_t *v, char type)
{
    buf_t b = BUF_INIT;
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_string(v)) {
        buf_puts(&b, json_string_value(v));
    } else if (json_is_integer(v)) {
        buf_printf(&b, "%lld", (long long)json_integer_value(v));
    } else if (json_is_number(v)) {
        buf_printf(&b, "%g", json_number_value(v));
    } else if (json_is_array(v) && type == 'l') {
        json_array_foreach(v, i, x) {
            if (i)
                buf_puts(&b, ", ");
            buf_puts(&b, json_is_string(x) ? json_string_value(x) : "");
        }
    } else if (json_is_object(v) && type == 'a') {
        json_object_foreach((json_t *)v, k, x) {
            char *s = json_is_string(x) ? strdup(json_string_value(x))
                                        : json_dumps(x, JSON_ENCODE_ANY);
            buf_printf(&b, "%s=%s\n", k, s ? s : "");
            free(s);
        }
    }
    buf_putc(&b, '\0');
    return buf_release(&b);
}

/* s_trim - s without leading and trailing white space, in place */
static char *s_trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* s_put - set payload key (segment.* nested) to v (stolen) */
static void s_put(json_t *p, const char *key, json_t *v)
{
    if (strncmp(key, "segment.", 8) == 0) {
        json_t *seg = json_object_get(p, "segment");
        if (!seg) {
            seg = json_object();
            json_object_set_new(p, "segment", seg);
        }
        json_object_set_new(seg, key + 8, v);
    } else {
        json_object_set_new(p, key, v);
    }
}

/* s_parse - a typed value into the payload; 0, or -1 when it is not of its
 * type (the field's error) */
static int s_parse(json_t *p, const s_field_t *f, char *text)
{
    char *t = s_trim(text), *end;
    if (!*t)
        return 0; /* left out: [survey]'s value, or the check says it is needed */
    if (f->type == 's') {
        s_put(p, f->key, json_string(t));
    } else if (f->type == 'i') {
        long long v = strtoll(t, &end, 10);
        if (*end)
            return -1;
        s_put(p, f->key, json_integer(v));
    } else if (f->type == 'n') {
        double v = strtod(t, &end);
        if (*end)
            return -1;
        s_put(p, f->key, json_real(v));
    } else if (f->type == 'l') {
        json_t *a = json_array();
        for (char *save = NULL, *tok = strtok_r(t, ",\n", &save); tok;
             tok = strtok_r(NULL, ",\n", &save)) {
            tok = s_trim(tok);
            if (*tok)
                json_array_append_new(a, json_string(tok));
        }
        s_put(p, f->key, a);
    } else {
        json_t *o = json_object();
        for (char *save = NULL, *line = strtok_r(t, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            line = s_trim(line);
            char *eq = strchr(line, '=');
            if (!*line)
                continue;
            if (!eq || eq == line) {
                json_decref(o);
                return -1;
            }
            *eq = '\0';
            json_object_set_new(o, s_trim(line), json_string(s_trim(eq + 1)));
        }
        s_put(p, f->key, o);
    }
    return 0;
}

/* s_field_of - the form field a check's field ("segment.locales[0]",
 * "delay") belongs to, or NULL */
static const s_field_t *s_field_of(const char *field)
{
    for (int i = 0; s_fields[i].name; i++) {
        size_t n = strlen(s_fields[i].key);
        if (strncmp(field, s_fields[i].key, n) == 0 &&
            (field[n] == '\0' || field[n] == '[' || field[n] == '.' || field[n] == '/'))
            return &s_fields[i];
    }
    if (strncmp(field, "segment", 7) == 0)
        return &s_fields[7];
    return NULL;
}

/* s_remove - the payload's key (segment.* nested) taken away */
static void s_remove(json_t *p, const char *key)
{
    if (strncmp(key, "segment.", 8) == 0)
        json_object_del(json_object_get(p, "segment"), key + 8);
    else
        json_object_del(p, key);
}

/* s_form - the posted form: the payload (caller decrefs) for id, the typed
 * values into typed (name -> text) and the fields at fault into errors
 * (name -> 1).  A field at fault is taken out and the check run again, so
 * every wrong field is named at once, not one per save. */
static json_t *s_form(console_req_t *r, const char *id, json_t *typed, json_t *errors)
{
    char kind[24] = "", enabled[8] = "";
    console_form_get(r->body.data, r->body.len, "kind", 0, kind, sizeof kind);
    int on = console_form_get(r->body.data, r->body.len, "enabled", 0, enabled, sizeof enabled) == 1;
    int rel = strcmp(kind, "relationship") == 0;
    if (!rel && strcmp(kind, "post_purchase") != 0)
        json_object_set_new(errors, "kind", json_true());
    json_object_set_new(typed, "kind", json_string(rel ? "relationship" : "post_purchase"));
    json_object_set_new(typed, "enabled", json_boolean(on));
    char by[CONSOLE_NAME_MAX + 8];
    snprintf(by, sizeof by, "user:%s", r->user.name);
    json_t *p = json_pack("{s:s,s:s,s:b,s:s}", "id", id, "kind",
                          rel ? "relationship" : "post_purchase", "enabled", on, "by", by);
    char *text = malloc(S_FIELD_MAX + 1);
    for (int i = 0; text && s_fields[i].name; i++) {
        const s_field_t *f = &s_fields[i];
        int got = console_form_get(r->body.data, r->body.len, f->name, 0, text, S_FIELD_MAX + 1);
        if (got < 0) {
            json_object_set_new(errors, f->name, json_true());
            continue;
        }
        if (got == 0)
            *text = '\0';
        json_object_set_new(typed, f->name, json_string(text));
        if (f->kind && f->kind != (rel ? 2 : 1))
            continue; /* the other kind's: kept as typed, not sent */
        if (s_parse(p, f, text))
            json_object_set_new(errors, f->name, json_true());
    }
    free(text);
    /* what the shared checks say, one field at a time */
    char err[300];
    schema_t *s = campaign_schema(err, sizeof err);
    for (int round = 0; s && round < 20; round++) {
        char field[256] = "", msg[600];
        const char *bad = campaign_check(s, p, field, sizeof field, msg, sizeof msg);
        const s_field_t *f = bad ? s_field_of(field) : NULL;
        if (!bad)
            break;
        if (!f) {
            log_info("event=campaign_refused id=%s field=%s error=\"%s\"", id, log_value(field),
                     log_value(msg));
            json_object_set_new(errors, "kind", json_true());
            break;
        }
        json_object_set_new(errors, f->name, json_true());
        int required = strcmp(f->name, "delay") == 0 || strcmp(f->name, "start") == 0;
        if (!s_setting(p, f->key) && !required)
            break; /* nothing to take out */
        s_remove(p, f->key);
        if (json_object_size(json_object_get(p, "segment")) == 0)
            json_object_del(p, "segment");
        /* a required one stands in with a value that passes (nothing is
         * saved while a field is wrong), so the rest are checked too */
        if (strcmp(f->name, "delay") == 0)
            json_object_set_new(p, "delay", json_string("0"));
        else if (strcmp(f->name, "start") == 0)
            json_object_set_new(p, "start", json_string("2030-01-01T00:00:00Z"));
    }
    schema_destroy(&s);
    /* a window like 20-9 has the schema's shape but never opens: the
     * parser hark-survey uses decides, as the admin API's does */
    tz_window_t w;
    const char *hours = S(p, "window_hours"), *days = S(p, "window_days");
    if (hours && tz_window_parse(hours, "all", &w, err, sizeof err))
        json_object_set_new(errors, "window_hours", json_true());
    if (days && tz_window_parse("0-24", days, &w, err, sizeof err))
        json_object_set_new(errors, "window_days", json_true());
    return p;
}

/* s_history_rows - a campaign's history (newest first) as rows: when, who,
 * what changed from the version before */
static json_t *s_history_rows(console_req_t *r, const json_t *history)
{
    json_t *rows = json_array(), *h;
    size_t i, n = json_array_size(history);
    json_array_foreach(history, i, h) {
        const json_t *now = json_object_get(h, "settings");
        const json_t *before = i + 1 < n ? json_object_get(json_array_get(history, i + 1),
                                                           "settings")
                                         : NULL;
        json_t *changes = json_array();
        if (!before) {
            json_array_append_new(changes, json_pack("{s:s}", "text",
                                                     console_word(r, "camp_created")));
        } else {
            static const char *const keys[] = {"enabled", "kind", "delay", "priority",
                                               "products", "sample_rate", "start", "every",
                                               "spread", "segment", "window_hours",
                                               "window_days", "reminder", "expiry", NULL};
            for (int k = 0; keys[k]; k++) {
                json_t *a = json_object_get(before, keys[k]), *b = json_object_get(now, keys[k]);
                if ((!a && !b) || (a && b && json_equal(a, b)))
                    continue;
                char *as = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
                char *bs = b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
                char text[600];
                snprintf(text, sizeof text, "%s: %s → %s", keys[k],
                         as ? as : console_word(r, "camp_unset"),
                         bs ? bs : console_word(r, "camp_unset"));
                free(as);
                free(bs);
                json_array_append_new(changes, json_pack("{s:s}", "text", text));
            }
            if (json_array_size(changes) == 0)
                json_array_append_new(changes, json_pack("{s:s}", "text",
                                                         console_word(r, "camp_no_change")));
        }
        json_array_append_new(rows, json_pack("{s:o,s:O,s:o}", "at", s_when(S(h, "at")), "by",
                                              json_object_get(h, "by"), "changes", changes));
    }
    return rows;
}

/* s_segment_size - SURVEY_SEGMENT for segment (borrowed): the sentence
 * with the number into ctx, or the survey's refusal */
static void s_segment_size(console_req_t *r, const json_t *segment, json_t *ctx)
{
    json_t *req = segment ? json_pack("{s:O}", "segment", (json_t *)segment)
                          : json_pack("{s:{}}", "segment");
    json_t *reply = s_survey(r, CMD_SURVEY_SEGMENT, CMD_SURVEY_SEGMENT_OK, req, 0);
    if (!reply)
        return;
    json_object_set_new(ctx, "segment_size",
                        s_group(json_integer_value(json_object_get(reply, "customers")),
                                console_word(r, "thousands_sep")));
    json_decref(reply);
}

/* s_page - the form of campaign id (NULL: a new one) with typed (name ->
 * text; stolen), errors (name -> true; stolen) and c (SURVEY_CAMPAIGNS's
 * item, borrowed; NULL for a new one) */
static void s_page(console_req_t *r, unsigned status, const char *id, json_t *typed,
                   json_t *errors, const json_t *c, json_t *ctx)
{
    if (!ctx)
        ctx = json_object();
    int rel = strcmp(S(typed, "kind") ? S(typed, "kind") : "post_purchase", "relationship") == 0;
    json_t *groups[3] = {json_array(), json_array(), json_array()};
    /* each field at fault says what is wrong with it, beside it (the
     * input's aria-describedby names its hint and its error) and in the
     * list under the form's alert, in the page's order, each a link to
     * its field */
    json_t *list = json_array();
    if (json_is_true(json_object_get(errors, "id")))
        json_array_append_new(
            list, json_pack("{s:s,s:s,s:s}", "name", "id", "label", console_word(r, "camp_f_id"),
                            "error",
                            console_word(r, json_is_true(json_object_get(ctx, "id_taken"))
                                                ? "camp_id_taken"
                                                : "camp_e_id")));
    if (json_is_true(json_object_get(errors, "kind")))
        json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "name", "kind", "label",
                                              console_word(r, "camp_f_kind"), "error",
                                              console_word(r, "camp_e_kind")));
    for (int i = 0; s_fields[i].name; i++) {
        const s_field_t *f = &s_fields[i];
        char lk[48], hk[48], ek[48];
        snprintf(lk, sizeof lk, "camp_f_%s", f->name);
        snprintf(hk, sizeof hk, "camp_h_%s", f->name);
        snprintf(ek, sizeof ek, "camp_e_%s", f->name);
        int bad = json_is_true(json_object_get(errors, f->name));
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "name", f->name, "label",
                              console_word(r, lk), "hint", console_word(r, hk), "value",
                              S(typed, f->name) ? S(typed, f->name) : "", "textarea",
                              f->type == 'a', "bad", bad);
        if (bad) {
            json_object_set_new(o, "error", json_string(console_word(r, ek)));
            json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "name", f->name, "label",
                                                  console_word(r, lk), "error",
                                                  console_word(r, ek)));
        }
        json_array_append_new(groups[f->kind], o);
    }
    json_object_set_new(ctx, "has_error_list", json_boolean(json_array_size(list) > 0));
    json_object_set_new(ctx, "error_list", list);
    json_object_set_new(ctx, "common_fields", groups[0]);
    json_object_set_new(ctx, "post_fields", groups[1]);
    json_object_set_new(ctx, "rel_fields", groups[2]);
    json_object_set_new(ctx, "is_new", json_boolean(id == NULL));
    json_object_set_new(ctx, "id", json_string(id ? id : S(typed, "id") ? S(typed, "id") : ""));
    json_object_set_new(ctx, "id_bad", json_boolean(json_is_true(json_object_get(errors, "id"))));
    json_object_set_new(ctx, "kind_bad",
                        json_boolean(json_is_true(json_object_get(errors, "kind"))));
    json_object_set_new(ctx, "relationship", json_boolean(rel));
    json_object_set_new(ctx, "enabled",
                        json_boolean(json_is_true(json_object_get(typed, "enabled"))));
    json_object_set_new(ctx, "has_errors", json_boolean(json_object_size(errors) > 0));
    char action[96];
    snprintf(action, sizeof action, S_PREFIX "%s", id ? id : "new");
    json_object_set_new(ctx, "action", json_string(action));
    json_object_set_new(ctx, "locales", console_test_locales(r));
    if (c) {
        json_t *never = json_object_get(c, "never_invites");
        if (never)
            json_object_set(ctx, "never_because", json_object_get(never, "because"));
        json_object_set_new(ctx, "saved_enabled",
                            json_boolean(json_is_true(json_object_get(c, "enabled"))));
        json_object_set_new(ctx, "exists", json_true());
        json_t *hist = s_history_rows(r, json_object_get(c, "history"));
        json_object_set_new(ctx, "has_history", json_boolean(json_array_size(hist) > 0));
        json_object_set_new(ctx, "history", hist);
    }
    json_decref(typed);
    json_decref(errors);
    console_page(r, status, "campaign", id ? "camp_edit_title" : "camp_new_title", ctx);
}

/* s_typed_from - what the form shows of a saved campaign: its last
 * campaign.saved (what the marketer wrote), else its effective settings */
static json_t *s_typed_from(const json_t *c)
{
    const json_t *hist = json_array_get(json_object_get(c, "history"), 0);
    const json_t *settings = hist ? json_object_get(hist, "settings") : c;
    json_t *typed = json_pack("{s:s,s:b}", "kind", S(c, "kind"), "enabled",
                              json_is_true(json_object_get(c, "enabled")));
    for (int i = 0; s_fields[i].name; i++) {
        char *v = s_shown(s_setting(settings, s_fields[i].key), s_fields[i].type);
        json_object_set_new(typed, s_fields[i].name, json_string(v ? v : ""));
        free(v);
    }
    return typed;
}

/* s_id - the id of /campaigns/ID ("new" gives ""), or NULL having
 * answered 404 */
static const char *s_id(console_req_t *r)
{
    const char *id = r->url + strlen(S_PREFIX);
    if (strcmp(id, "new") == 0)
        return "";
    if (!s_slug_ok(id)) {
        console_page_error(r, 404);
        return NULL;
    }
    return id;
}

/* s_show - campaign id's page with ctx (stolen); with test set, a test
 * send of its invite first (do=test) */
static void s_show(console_req_t *r, const char *id, json_t *ctx, int test)
{
    json_t *list = s_campaigns(r, id);
    json_t *c = json_array_get(list, 0);
    if (!c) {
        if (list)
            console_page_error(r, 404);
        json_decref(list);
        json_decref(ctx);
        return;
    }
    if (test) {
        char locale[40] = "";
        console_form_get(r->body.data, r->body.len, "locale", 0, locale, sizeof locale);
        json_t *vars = json_object();
        int rc = console_test_send(r, "nps_invite", locale, vars, ctx);
        json_decref(vars);
        if (rc < 0) {
            json_decref(list);
            json_decref(ctx);
            return;
        }
    }
    if (strcmp(S(c, "kind"), "relationship") == 0)
        s_segment_size(r, json_object_get(c, "segment"), ctx);
    s_page(r, 200, id, s_typed_from(c), json_object(), c, ctx);
    json_decref(list);
}

/* console_campaigns_show - GET /campaigns/new, /campaigns/ID */
void console_campaigns_show(console_req_t *r)
{
    const char *id = s_id(r);
    if (!id)
        return;
    if (!*id) {
        s_page(r, 200, NULL, json_pack("{s:s,s:b}", "kind", "post_purchase", "enabled", 1),
               json_object(), NULL, NULL);
        return;
    }
    json_t *ctx = json_object();
    const char *done = console_http_arg(r, "done");
    if (done && (strcmp(done, "saved") == 0 || strcmp(done, "enabled") == 0 ||
                 strcmp(done, "disabled") == 0)) {
        char key[40];
        snprintf(key, sizeof key, "camp_done_%s", done);
        json_object_set_new(ctx, "done", json_string(console_word(r, key)));
    }
    s_show(r, id, ctx, 0);
}

/* s_save - journal campaign.saved p (borrowed) by the user; its offset, or
 * -1 having answered 503 */
static long long s_save(console_req_t *r, const json_t *p)
{
    char key[120], tok[CONSOLE_TOKEN_HEX + 1];
    console_token(tok);
    snprintf(key, sizeof key, "console/campaign/%.16s", tok);
    if (console_journal(r, EV_CAMPAIGN_SAVED, key, p, "id"))
        return -1;
    return r->journaled;
}

/* s_payload - the payload that saves campaign c (an item with history)
 * again as it is: its last campaign.saved, else its effective settings
 * (a campaign still following [survey]); by the user.  Caller decrefs. */
static json_t *s_payload(console_req_t *r, const json_t *c)
{
    const json_t *hist = json_array_get(json_object_get(c, "history"), 0);
    json_t *p;
    if (hist) {
        p = json_deep_copy(json_object_get(hist, "settings"));
    } else {
        p = json_pack("{s:O,s:O,s:O}", "id", json_object_get(c, "id"), "kind",
                      json_object_get(c, "kind"), "enabled", json_object_get(c, "enabled"));
        static const char *const keys[] = {"delay", "priority", "products", "sample_rate",
                                           "start", "every", "spread", "segment",
                                           "window_hours", "window_days", "reminder",
                                           "expiry", NULL};
        for (int k = 0; keys[k]; k++) {
            json_t *v = json_object_get(c, keys[k]);
            if (v)
                json_object_set(p, keys[k], v);
        }
    }
    char by[CONSOLE_NAME_MAX + 8];
    snprintf(by, sizeof by, "user:%s", r->user.name);
    json_object_set_new(p, "by", json_string(by));
    return p;
}

/* s_move - do=up/down: the post-purchase campaigns renumbered 1, 2, 3...
 * in their new order; one campaign.saved per priority that changes */
static void s_move(console_req_t *r, const char *id, int up)
{
    json_t *list = s_campaigns(r, NULL);
    if (!list)
        return;
    json_t *ordered = s_ordered(list), *c;
    json_decref(list);
    json_t *post = json_array();
    size_t i, at = (size_t)-1;
    json_array_foreach(ordered, i, c) {
        if (strcmp(S(c, "kind"), "relationship") == 0)
            continue;
        if (strcmp(S(c, "id"), id) == 0)
            at = json_array_size(post);
        json_array_append(post, c);
    }
    json_decref(ordered);
    size_t n = json_array_size(post);
    if (at == (size_t)-1) {
        json_decref(post);
        console_page_error(r, 404);
        return;
    }
    size_t other = up ? at - 1 : at + 1;
    if ((up && at > 0) || (!up && at + 1 < n)) {
        json_t *x = json_incref(json_array_get(post, at));
        json_array_set(post, at, json_array_get(post, other));
        json_array_set_new(post, other, x);
    }
    long long last = 0;
    json_array_foreach(post, i, c) {
        if (json_integer_value(json_object_get(c, "priority")) == (json_int_t)i + 1)
            continue;
        json_t *one = s_campaigns(r, S(c, "id"));
        json_t *full = one ? json_array_get(one, 0) : NULL;
        json_t *p = full ? s_payload(r, full) : NULL;
        json_decref(one);
        if (!p) {
            if (one)
                console_page_error(r, 404);
            json_decref(post);
            return;
        }
        json_object_set_new(p, "priority", json_integer((json_int_t)i + 1));
        last = s_save(r, p);
        json_decref(p);
        if (last < 0) {
            json_decref(post);
            return;
        }
    }
    json_decref(post);
    s_applied(r, last);
    console_redirect(r, "/campaigns?done=moved");
}

/* s_switch - do=enable/disable: the campaign saved again, on or off */
static void s_switch(console_req_t *r, const char *id, int on)
{
    json_t *list = s_campaigns(r, id);
    if (!list)
        return;
    json_t *c = json_array_get(list, 0);
    if (!c) {
        json_decref(list);
        console_page_error(r, 404);
        return;
    }
    json_t *p = s_payload(r, c);
    json_decref(list);
    json_object_set_new(p, "enabled", json_boolean(on));
    long long off = s_save(r, p);
    json_decref(p);
    if (off < 0)
        return;
    s_applied(r, off);
    char back[8] = "";
    console_form_get(r->body.data, r->body.len, "back", 0, back, sizeof back);
    char to[120];
    if (strcmp(back, "edit") == 0)
        snprintf(to, sizeof to, S_PREFIX "%s?done=%s", id, on ? "enabled" : "disabled");
    else
        snprintf(to, sizeof to, "/campaigns?done=%s", on ? "enabled" : "disabled");
    console_redirect(r, to);
}

/* console_campaigns_post - POST /campaigns/new, /campaigns/ID */
void console_campaigns_post(console_req_t *r)
{
    const char *path_id = s_id(r);
    if (!path_id)
        return;
    char what[16] = "";
    console_form_get(r->body.data, r->body.len, "do", 0, what, sizeof what);
    if (*path_id && (strcmp(what, "up") == 0 || strcmp(what, "down") == 0)) {
        s_move(r, path_id, strcmp(what, "up") == 0);
        return;
    }
    if (*path_id && (strcmp(what, "enable") == 0 || strcmp(what, "disable") == 0)) {
        s_switch(r, path_id, strcmp(what, "enable") == 0);
        return;
    }
    if (*path_id && strcmp(what, "test") == 0) {
        s_show(r, path_id, json_object(), 1);
        return;
    }
    if (strcmp(what, "save") != 0 && strcmp(what, "preview") != 0) {
        console_page_error(r, 400);
        return;
    }
    char id[80] = "";
    if (*path_id)
        snprintf(id, sizeof id, "%s", path_id);
    else
        console_form_get(r->body.data, r->body.len, "id", 0, id, sizeof id);
    json_t *typed = json_object(), *errors = json_object();
    json_object_set_new(typed, "id", json_string(id));
    int id_ok = s_slug_ok(id);
    json_t *p = s_form(r, id_ok ? id : "x", typed, errors);
    if (!id_ok)
        json_object_set_new(errors, "id", json_true());
    json_t *list = NULL, *c = NULL;
    if (id_ok) {
        list = s_campaigns(r, id);
        if (!list) {
            json_decref(p);
            json_decref(typed);
            json_decref(errors);
            return;
        }
        c = json_array_get(list, 0);
        /* a new one must not replace one that exists */
        if (!*path_id && c) {
            json_object_set_new(errors, "id", json_true());
            json_object_set_new(typed, "id_taken", json_true());
        }
    }
    if (strcmp(what, "save") == 0 && json_object_size(errors) == 0) {
        long long off = s_save(r, p);
        json_decref(p);
        json_decref(list);
        json_decref(typed);
        json_decref(errors);
        if (off < 0)
            return;
        s_applied(r, off);
        char to[120];
        snprintf(to, sizeof to, S_PREFIX "%s?done=saved", id);
        console_redirect(r, to);
        return;
    }
    json_t *ctx = json_object();
    if (json_is_true(json_object_get(typed, "id_taken")))
        json_object_set_new(ctx, "id_taken", json_true());
    if (strcmp(S(p, "kind"), "relationship") == 0 && !json_object_get(errors, "segment_locales") &&
        !json_object_get(errors, "segment_attributes") &&
        !json_object_get(errors, "segment_within"))
        s_segment_size(r, json_object_get(p, "segment"), ctx);
    json_decref(p);
    unsigned status = json_object_size(errors) ? 400 : 200;
    s_page(r, status, *path_id ? path_id : NULL, typed, errors, *path_id ? c : NULL, ctx);
    json_decref(list);
}
