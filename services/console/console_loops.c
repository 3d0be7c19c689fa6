/*
 * console_loops.c - closing the loop from the console, with hark-loop,
 * which owns the feedback, the loops and who was told:
 *
 *   GET  /loops               the loop report per reason (LOOP_REPORT) and
 *                             every loop, newest first: who closed it, when,
 *                             how many were told
 *   GET  /loops/new[?reason=] the form: the reason (the taxonomy), then how
 *                             many customers would hear, per locale
 *                             (LOOP_PREVIEW); a fallback title and message
 *                             and a pair per locale that has customers
 *   POST /loops/new           do=preview: the same page with the exact email
 *                             each locale would get (LOOP_PREVIEW, render)
 *                             and which locales fall back; do=close: the
 *                             loop.closed event, checked and built as POST
 *                             /v1/loops builds it (loop_check.c), by
 *                             "user:NAME", then 303 to /loops/<loop id>
 *   GET  /loops/ID            the close's progress ("N of M told", the
 *                             loop's own counts from LOOP_REPORT's history;
 *                             the page refreshes itself while any is
 *                             pending), then the reason's report
 *
 * The emails of the preview are shown as their text part in a <pre>,
 * escaped like all customer text: their HTML never becomes part of the
 * console's page.  The form carries a nonce made when it was first shown,
 * and the event's key is made from it, so a double submit journals one
 * loop.closed.  (The loop id, too, is the same for the same reason and
 * title: hark-loop tells nobody twice either way.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "console.h"
#include "jclient.h"
#include "log.h"
#include "loop_check.h"
#include "proto.h"
#include "reasons.h"
#include "wire.h"

#define S_TITLE_MAX 200
#define S_MESSAGE_MAX 20000
#define S_LOCALES_MAX 64 /* texts a close may carry (LOOP_PREVIEW's schema) */

#define S(o, k) json_string_value(json_object_get((o), (k)))

static pthread_key_t s_loop_key; /* each HTTP thread's DEALER to hark-loop */

int console_loops_init(console_t *con)
{
    (void)con;
    return pthread_key_create(&s_loop_key, console_client_free) ? -1 : 0;
}

void console_loops_fini(console_t *con)
{
    (void)con;
    pthread_key_delete(s_loop_key);
}

/* s_loop - ask hark-loop cmd with req (not stolen); the reply (caller
 * decrefs), or NULL having answered 503 */
static json_t *s_loop(console_req_t *r, const char *cmd, const char *ok, const json_t *req)
{
    console_t *con = r->con;
    wire_client_t *c = console_client(con, s_loop_key, con->conf.loop_control);
    char got[48] = "";
    json_t *reply = c ? wire_client_call_json(c, cmd, req, con->conf.loop_timeout_ms, got) : NULL;
    if (reply && strcmp(got, ok) == 0)
        return reply;
    log_warn("event=loop_unavailable cmd=%s answer=%s", cmd, reply ? got : "none");
    json_decref(reply);
    console_header(r, "Retry-After", "5");
    console_page_error(r, 503);
    return NULL;
}

/* s_when - a report's timestamp for people: "2026-12-07 04:33 UTC" */
static void s_when(const char *iso, char *out, size_t len)
{
    if (iso && strlen(iso) >= 16)
        snprintf(out, len, "%.10s %.5s UTC", iso, iso + 11);
    else
        snprintf(out, len, "%s", iso ? iso : "");
}

/* s_reason_label - a reason code's label in r's language */
static const char *s_reason_label(console_req_t *r, const char *code)
{
    const reasons_t *rs = r->con->reasons;
    int i = rs && code ? reasons_find(rs, code) : -1;
    return i >= 0 ? reasons_label(rs, (size_t)i, r->locale) : code ? code : "";
}

/* s_can_close - the role may close loops */
static int s_can_close(const console_req_t *r)
{
    return strcmp(r->user.role, "admin") == 0 || strcmp(r->user.role, "support") == 0;
}

/* s_join - the strings of a JSON array, comma separated, or "—" */
static json_t *s_join(const json_t *a)
{
    buf_t b = BUF_INIT;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        if (i)
            buf_puts(&b, ", ");
        buf_puts(&b, json_string_value(v) ? json_string_value(v) : "");
    }
    json_t *s = json_string(b.data && *b.data ? b.data : "—");
    buf_free(&b);
    return s;
}

/* s_reason_row - what the pages show of a report's reason */
static json_t *s_reason_row(console_req_t *r, const json_t *x)
{
    return json_pack("{s:s,s:s,s:O,s:O,s:O,s:O,s:O,s:o}", "code", S(x, "reason"), "label",
                     s_reason_label(r, S(x, "reason")), "feedback", json_object_get(x, "feedback"),
                     "customers", json_object_get(x, "customers"), "loops",
                     json_object_get(x, "loops"), "told", json_object_get(x, "told"), "open",
                     json_object_get(x, "open"), "text_locales",
                     s_join(json_object_get(x, "text_locales")));
}

/* s_loop_row - what the pages show of one loop of a report's history */
static json_t *s_loop_row(console_req_t *r, const json_t *reason, const json_t *l)
{
    char when[40];
    s_when(S(l, "closed_at"), when, sizeof when);
    /* the bar fills with the recipients dealt with, told or skipped, so
     * it is full when the sending is done */
    json_int_t handled = json_integer_value(json_object_get(l, "recipients")) -
                         json_integer_value(json_object_get(l, "pending"));
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:O,s:O,s:O,s:o,s:I}", "id", S(l, "loop"),
                     "title", S(l, "title"), "by", *S(l, "by") ? S(l, "by") : "—", "when", when,
                     "closed_at", S(l, "closed_at"), "reason",
                     s_reason_label(r, S(reason, "reason")), "recipients",
                     json_object_get(l, "recipients"), "sent", json_object_get(l, "sent"),
                     "pending", json_object_get(l, "pending"), "skipped",
                     json_object_get(l, "skipped"), "text_locales",
                     s_join(json_object_get(l, "text_locales")), "handled", handled);
}

/* s_newest - loops newest first (closed_at is RFC 3339 UTC: it sorts as text) */
static int s_newest(const void *a, const void *b)
{
    const char *x = S(*(json_t *const *)a, "closed_at"), *y = S(*(json_t *const *)b, "closed_at");
    return strcmp(y ? y : "", x ? x : "");
}

/* console_loops_list - GET /loops */
void console_loops_list(console_req_t *r)
{
    json_t *req = json_object();
    json_t *rep = s_loop(r, CMD_LOOP_REPORT, CMD_LOOP_REPORT_OK, req);
    json_decref(req);
    if (!rep)
        return;
    json_t *reasons = json_array(), *all = json_array(), *x, *l;
    size_t i, j;
    json_array_foreach(json_object_get(rep, "reasons"), i, x) {
        json_array_append_new(reasons, s_reason_row(r, x));
        json_array_foreach(json_object_get(x, "history"), j, l)
            json_array_append_new(all, s_loop_row(r, x, l));
    }
    size_t n = json_array_size(all);
    json_t **v = calloc(n ? n : 1, sizeof *v);
    json_t *loops = json_array();
    for (i = 0; v && i < n; i++)
        v[i] = json_array_get(all, i);
    if (v)
        qsort(v, n, sizeof *v, s_newest);
    for (i = 0; v && i < n; i++)
        json_array_append(loops, v[i]);
    free(v);
    json_decref(all);
    json_t *ctx = json_pack("{s:o,s:o,s:b,s:b,s:b}", "reasons", reasons, "loops", loops,
                            "has_reasons", json_array_size(reasons) > 0, "has_loops", n > 0,
                            "can_close", s_can_close(r));
    json_decref(rep);
    console_page(r, 200, "loops", "loops_title", ctx);
}

/* --- the form ---------------------------------------------------------- */

/* the form as sent (or as first shown) */
typedef struct {
    char reason[80];
    char fallback[40];          /* the locale the fallback text is written in */
    char nonce[CONSOLE_TOKEN_HEX + 2];
    char *title, *message;      /* the fallback's */
    json_t *texts;              /* {tag: {title, message}} as typed, maybe half empty */
} s_form_t;

static void s_form_free(s_form_t *f)
{
    free(f->title);
    free(f->message);
    json_decref(f->texts);
}

/* s_field - field name of the POSTed body (malloc'd, "" when absent); NULL
 * when too long or not text */
static char *s_field(console_req_t *r, const char *name, size_t max)
{
    char *v = malloc(max + 1);
    int got = v ? console_form_get(r->body.data, r->body.len, name, 0, v, max + 1) : -1;
    if (got < 0) {
        free(v);
        return NULL;
    }
    if (got == 0)
        *v = '\0';
    return v;
}

/* s_locales - the locale tags (normalised) of a preview's customers, the
 * mailer's default for those without one, and the fallback's: the locales
 * the form offers a text for, sorted */
static json_t *s_locales(console_req_t *r, const json_t *preview)
{
    json_t *set = json_object(), *v;
    const char *k;
    char tag[40];
    json_object_foreach(json_object_get(preview, "locales"), k, v) {
        if (loop_check_locale(*k ? k : r->con->conf.default_locale, tag, sizeof tag) == 0 &&
            json_object_size(set) < S_LOCALES_MAX)
            json_object_set_new(set, tag, json_true());
    }
    if (loop_check_locale(r->con->conf.default_locale, tag, sizeof tag) == 0)
        json_object_set_new(set, tag, json_true());
    json_t *a = json_array();
    json_object_foreach(set, k, v) json_array_append_new(a, json_string(k));
    json_decref(set);
    size_t n = json_array_size(a);
    for (size_t i = 1; i < n; i++) /* few: insertion sort */
        for (size_t j = i; j > 0 && strcmp(json_string_value(json_array_get(a, j - 1)),
                                           json_string_value(json_array_get(a, j))) > 0;
             j--) {
            json_t *t = json_incref(json_array_get(a, j));
            json_array_set(a, j, json_array_get(a, j - 1));
            json_array_set_new(a, j - 1, t);
        }
    return a;
}

/* s_fallback_row - how row (of locale loc, whose customers read the
 * fallback) says so: "the fallback" for the language the fallback is
 * written in ("en", "en-gb" for "en"), else "falls back to" it */
static void s_fallback_row(console_req_t *r, json_t *row, const char *loc, const char *fallback)
{
    char tag[40];
    size_t n = strlen(fallback);
    int same = loop_check_locale(loc && *loc ? loc : r->con->conf.default_locale, tag,
                                 sizeof tag) == 0 &&
               strncmp(tag, fallback, n) == 0 && (tag[n] == '\0' || tag[n] == '-');
    json_object_set_new(row, same ? "is_fallback" : "falls_back", json_string(fallback));
}

/* s_render - the form's page: f (what was typed), the counts and which
 * text each locale reads (preview), the rendered samples (when rendered),
 * an error */
static void s_render(console_req_t *r, unsigned status, const s_form_t *f, const json_t *locales,
                     const json_t *preview, const char *error)
{
    const reasons_t *rs = r->con->reasons;
    json_t *opts = json_array();
    for (size_t i = 0; rs && i < reasons_count(rs); i++) {
        const char *code = reasons_get(rs, i)->code;
        json_array_append_new(opts, json_pack("{s:s,s:s,s:b}", "value", code, "label",
                                              reasons_label(rs, i, r->locale), "selected",
                                              strcmp(code, f->reason) == 0));
    }
    json_t *ctx = json_pack("{s:o,s:s,s:s,s:s,s:s}", "reasons", opts, "reason", f->reason,
                            "nonce", f->nonce, "fallback_title", f->title ? f->title : "",
                            "fallback_message", f->message ? f->message : "");
    if (error)
        json_object_set_new(ctx, "error", json_string(error));
    if (*f->reason && preview) {
        json_t *counts = json_array(), *v;
        const char *k;
        const json_t *texts = json_object_get(preview, "texts");
        json_object_foreach(json_object_get(preview, "locales"), k, v) {
            json_t *row = json_pack("{s:s,s:O}", "locale",
                                    *k ? k : r->con->conf.default_locale, "count", v);
            const char *t = S(texts, k);
            if (t && strcmp(t, "fallback") != 0)
                json_object_set_new(row, "own", json_string(t));
            else if (t)
                s_fallback_row(r, row, k, f->fallback);
            json_array_append_new(counts, row);
        }
        json_t *skipped = json_array();
        json_object_foreach(json_object_get(preview, "skipped"), k, v) {
            /* why, in the reader's words (the code itself for one unknown) */
            char key[80];
            snprintf(key, sizeof key, "loops_why_%s", k);
            const char *why = console_word(r, key);
            json_array_append_new(skipped, json_pack("{s:s,s:O}", "why",
                                                     strstr(why, "loops_why_") ? k : why,
                                                     "count", v));
        }
        json_t *fb = json_array(), *pairs = json_array();
        size_t i;
        json_array_foreach(locales, i, v) {
            const char *tag = json_string_value(v);
            json_array_append_new(fb, json_pack("{s:s,s:b}", "value", tag, "selected",
                                                strcmp(tag, f->fallback) == 0));
            if (strcmp(tag, f->fallback) == 0)
                continue;
            json_t *typed = json_object_get(f->texts, tag);
            json_array_append_new(pairs, json_pack("{s:s,s:s,s:s}", "tag", tag, "title",
                                                   S(typed, "title") ? S(typed, "title") : "",
                                                   "message",
                                                   S(typed, "message") ? S(typed, "message")
                                                                       : ""));
        }
        json_t *samples = json_array(), *s;
        json_array_foreach(json_object_get(preview, "samples"), i, s) {
            const char *fl = S(s, "for_locale") ? S(s, "for_locale") : S(s, "locale");
            json_t *row = json_pack("{s:s,s:s,s:s}", "locale",
                                    fl && *fl ? fl : r->con->conf.default_locale, "subject",
                                    S(s, "subject") ? S(s, "subject") : "", "text",
                                    S(s, "text") ? S(s, "text") : "");
            const char *tl = S(s, "text_locale");
            if (tl && strcmp(tl, "fallback") != 0)
                json_object_set_new(row, "own", json_string(tl));
            else
                s_fallback_row(r, row, fl, f->fallback);
            json_array_append_new(samples, row);
        }
        json_object_set_new(ctx, "picked", json_pack("{s:s,s:O,s:o,s:o,s:b,s:o,s:o,s:o,s:b}",
                                                     "label", s_reason_label(r, f->reason),
                                                     "customers",
                                                     json_object_get(preview, "customers"),
                                                     "counts", counts, "skipped", skipped,
                                                     "has_skipped", json_array_size(skipped) > 0,
                                                     "fallbacks", fb, "pairs", pairs, "samples",
                                                     samples, "has_samples",
                                                     json_array_size(samples) > 0));
    }
    console_page(r, status, "loop_new", "loops_new_title", ctx);
}

/* s_preview - LOOP_PREVIEW of req (not stolen); NULL having answered */
static json_t *s_preview(console_req_t *r, const json_t *req)
{
    return s_loop(r, CMD_LOOP_PREVIEW, CMD_LOOP_PREVIEW_OK, req);
}

/* console_loops_new - GET /loops/new[?reason=R] */
void console_loops_new(console_req_t *r)
{
    s_form_t f = {.texts = json_object()};
    const char *reason = console_http_arg(r, "reason");
    const reasons_t *rs = r->con->reasons;
    if (reason && (!rs || reasons_find(rs, reason) < 0)) {
        s_form_free(&f);
        console_page_error(r, 400);
        return;
    }
    snprintf(f.reason, sizeof f.reason, "%s", reason ? reason : "");
    snprintf(f.fallback, sizeof f.fallback, "%s", r->con->conf.default_locale);
    console_token(f.nonce);
    json_t *preview = NULL, *locales = NULL;
    if (reason) {
        json_t *req = json_pack("{s:s,s:b}", "reason", reason, "render", 0);
        preview = s_preview(r, req);
        json_decref(req);
        if (!preview) {
            s_form_free(&f);
            return;
        }
        locales = s_locales(r, preview);
    }
    s_render(r, 200, &f, locales, preview, NULL);
    json_decref(preview);
    json_decref(locales);
    s_form_free(&f);
}

/* console_loops_post - POST /loops/new: do=preview or do=close */
void console_loops_post(console_req_t *r)
{
    s_form_t f = {.texts = json_object()};
    json_t *first = NULL, *locales = NULL, *payload = NULL, *shown = NULL;
    char do_[16] = "", fb[40] = "", field[128] = "", msg[300] = "";
    const char *body = r->body.data;
    size_t len = r->body.len;
    const reasons_t *rs = r->con->reasons;
    if (console_form_get(body, len, "reason", 0, f.reason, sizeof f.reason) != 1 || !rs ||
        reasons_find(rs, f.reason) < 0 ||
        console_form_get(body, len, "nonce", 0, f.nonce, sizeof f.nonce) != 1 ||
        strlen(f.nonce) != CONSOLE_TOKEN_HEX ||
        strspn(f.nonce, "0123456789abcdef") != CONSOLE_TOKEN_HEX ||
        console_form_get(body, len, "do", 0, do_, sizeof do_) != 1 ||
        (strcmp(do_, "preview") && strcmp(do_, "close"))) {
        console_page_error(r, 400);
        goto done;
    }
    if (console_form_get(body, len, "fallback", 0, fb, sizeof fb) != 1 ||
        loop_check_locale(fb, f.fallback, sizeof f.fallback))
        snprintf(f.fallback, sizeof f.fallback, "%s", r->con->conf.default_locale);
    f.title = s_field(r, "title", S_TITLE_MAX * 4);
    f.message = s_field(r, "message", S_MESSAGE_MAX * 4);
    /* who would hear, per locale: the locales the form has a text for */
    json_t *req = json_pack("{s:s,s:b}", "reason", f.reason, "render", 0);
    first = s_preview(r, req);
    json_decref(req);
    if (!first)
        goto done;
    locales = s_locales(r, first);
    /* the close as POST /v1/loops takes it; a locale's pair left empty
     * falls back */
    json_t *want = json_pack("{s:s,s:s,s:s}", "reason", f.reason, "title",
                              f.title ? f.title : "", "announcement", f.message ? f.message : "");
    json_t *texts = json_object(), *v;
    size_t i;
    json_array_foreach(locales, i, v) {
        const char *tag = json_string_value(v);
        if (strcmp(tag, f.fallback) == 0)
            continue;
        char name[64];
        snprintf(name, sizeof name, "title.%s", tag);
        char *t = s_field(r, name, S_TITLE_MAX * 4);
        snprintf(name, sizeof name, "message.%s", tag);
        char *m = s_field(r, name, S_MESSAGE_MAX * 4);
        if (!t || !m) {
            snprintf(field, sizeof field, "texts.%s", tag);
            snprintf(msg, sizeof msg, "texts.%s: the title or message is too long", tag);
        } else if (*t || *m) {
            json_object_set_new(f.texts, tag, json_pack("{s:s,s:s}", "title", t, "message", m));
            json_object_set_new(texts, tag, json_pack("{s:s,s:s}", "title", t, "announcement",
                                                      m));
        }
        free(t);
        free(m);
    }
    if (json_object_size(texts))
        json_object_set(want, "texts", texts);
    json_decref(texts);
    char by[CONSOLE_NAME_MAX + 8];
    snprintf(by, sizeof by, "user:%s", r->user.name);
    if (!f.title || !f.message)
        snprintf(msg, sizeof msg, "the fallback title or message is too long");
    else if (!*msg)
        loop_check_request(want, 0, by, &payload, NULL, field, sizeof field, msg, sizeof msg);
    json_decref(want);
    if (!payload) {
        s_render(r, 400, &f, locales, first, msg);
        goto done;
    }
    if (strcmp(do_, "preview") == 0) {
        json_t *pr = loop_check_preview_body(payload, 1);
        shown = s_preview(r, pr);
        json_decref(pr);
        if (shown)
            s_render(r, 200, &f, locales, shown, NULL);
        goto done;
    }
    /* do=close: the event POST /v1/loops journals, under a key made of the
     * form's nonce (a double submit is one event) */
    char key[200];
    snprintf(key, sizeof key, "console:loop:%s", f.nonce);
    if (console_journal(r, EV_LOOP_CLOSED, key, payload, "loop") == 0) {
        char to[160];
        snprintf(to, sizeof to, "/loops/%s", S(payload, "loop"));
        console_redirect(r, to);
    }
done:
    json_decref(first);
    json_decref(locales);
    json_decref(payload);
    json_decref(shown);
    s_form_free(&f);
}

/* s_id_ok - a loop id (LOOP_PREVIEW's pattern) */
static int s_id_ok(const char *id)
{
    size_t n = strlen(id);
    return n >= 1 && n <= 64 &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* console_loops_show - GET /loops/ID: the close's progress, then the report */
void console_loops_show(console_req_t *r)
{
    const char *id = r->url + strlen("/loops/");
    if (!s_id_ok(id)) {
        console_page_error(r, 404);
        return;
    }
    json_t *req = json_object();
    json_t *rep = s_loop(r, CMD_LOOP_REPORT, CMD_LOOP_REPORT_OK, req);
    json_decref(req);
    if (!rep)
        return;
    json_t *x, *l, *found = NULL, *reason = NULL;
    size_t i, j;
    json_array_foreach(json_object_get(rep, "reasons"), i, x) {
        json_array_foreach(json_object_get(x, "history"), j, l) {
            if (strcmp(S(l, "loop") ? S(l, "loop") : "", id) == 0) {
                found = l;
                reason = x;
            }
        }
    }
    json_t *ctx = json_pack("{s:s}", "id", id);
    if (found) {
        json_t *row = s_loop_row(r, reason, found);
        long long pending = json_integer_value(json_object_get(found, "pending"));
        json_object_set_new(row, "sending", json_boolean(pending > 0));
        json_object_set_new(ctx, "loop", row);
        json_object_set_new(ctx, "report", s_reason_row(r, reason));
        if (pending > 0)
            json_object_set_new(ctx, "refresh", json_true());
    } else {
        /* journaled, not yet taken by hark-loop (or no such loop) */
        json_object_set_new(ctx, "waiting", json_true());
        json_object_set_new(ctx, "refresh", json_true());
    }
    json_decref(rep);
    console_page(r, 200, "loop", "loops_loop_title", ctx);
}
