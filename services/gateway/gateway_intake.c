/*
 * gateway_intake.c - what the gateway does for hark-intake: the taxonomy
 * and the customer forms.
 *
 * The taxonomy: when `intake` is in [hark] services, the gateway loads
 * [intake] reasons itself at start (the same file and parser as
 * hark-intake), so POST /v1/events can answer 400 naming reason_code for a
 * complaint or cancellation whose code is not in it, without a round trip.
 * After editing reasons.conf restart both (harkd restarts what exits).
 *
 * Customer forms (no JavaScript, every value HTML-escaped):
 *   GET  /feedback[?customer=TOKEN]   a complaint form: the reason list in
 *                  the customer's language and a text box (without a token
 *                  it also asks for an email address)
 *   GET  /cancel?customer=TOKEN       the same for a cancellation reason
 *   POST the form (csrf, reason, text[, email]): the csrf field is a token
 *        (purpose "intake-form") over the form's kind and customer, valid a
 *        day, and a POST with an Origin must come from public_url: else
 *        403.  At most [intake] form_rate POSTs a minute per client address,
 *        each address counted on its own (ratelimit.h): 429 with
 *        Retry-After.  Bad input (text not UTF-8 or longer than 4000 characters,
 *        an unknown reason, neither reason nor text, a bad email) shows the
 *        form again with the error (400) and stores nothing.  A good one
 *        journals a complaint/cancellation (channel "web") and only then
 *        answers 200; its key hashes the csrf token and the fields, so the
 *        same form re-POSTed unchanged is stored once.
 *   The token of a customer who was erased is a 410 page (GET and POST) that
 *   stores nothing (gateway_pages_erased).
 *   TOKEN is customer_token_make() of the customer id and locale, e.g. from
 *   `hark cases link CUSTOMER`.  The page's language is the token's, else
 *   ?lang=, else the browser's Accept-Language, among the locale folders
 *   of words.json (the "form" words); reasons show their label there.
 *
 * The cases admin API is gateway_cases.c, the reasons report
 * gateway_reports.c.
 */
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "customer_token.h"
#include "gateway.h"
#include "log.h"
#include "mime.h"
#include "proto.h"
#include "mailbox.h"
#include "ratelimit.h"
#include "reasons.h"
#include "token.h"
#include "utf8.h"
#include "words.h"

#define S_TEXT_MAX 4000       /* characters a form takes */
#define S_RATE_ADDRS 4096     /* client addresses remembered at once */
#define S_CSRF_TTL_S 86400

static void s_report(const char *msg, void *arg)
{
    (void)arg;
    log_error("event=bad_reasons error=\"%s\"", msg);
}

int gateway_intake_init(gateway_t *gw)
{
    gw->form_rate = ratelimit_new(gw->conf.form_rate, 60000, S_RATE_ADDRS);
    if (!gw->form_rate)
        return -1;
    if (!gw->conf.intake_on)
        return 0;
    int errors = 0;
    gw->reasons = reasons_load(gw->conf.reasons, s_report, NULL, &errors);
    return gw->reasons && !errors ? 0 : -1;
}

void gateway_intake_fini(gateway_t *gw)
{
    reasons_destroy(&gw->reasons);
    ratelimit_destroy(&gw->form_rate);
}

int gateway_intake_check(gateway_req_t *r, const char *type, const json_t *data, long index)
{
    if (!r->gw->reasons || (strcmp(type, EV_COMPLAINT) != 0 && strcmp(type, EV_CANCELLATION) != 0))
        return 0;
    const char *code = json_string_value(json_object_get(data, "reason_code"));
    if (!code || reasons_find(r->gw->reasons, code) >= 0)
        return 0;
    char msg[300];
    snprintf(msg, sizeof msg, "data.reason_code \"%s\" is not a reason in the taxonomy", code);
    gateway_error(r, 400, "unknown_reason", msg, "data.reason_code", index);
    return -1;
}

/* ---- the customer forms ------------------------------------------------ */

typedef struct {
    const char *lang;     /* the locale whose words.json the words come from */
    int cancel;
    const char *token;    /* "" without */
    char cid[129];        /* "" for an anonymous /feedback */
    char locale[36];
    const char *reason, *text, *email;
    const char *csrf;     /* the POST's csrf field (checked) */
    const char *err_field, *err_key; /* a 400's field and the word for it */
} s_form_t;

/* s_csrf - the form's csrf token: kind, customer, issue time */
static char *s_csrf(gateway_t *gw, const s_form_t *f)
{
    char payload[200];
    int n = snprintf(payload, sizeof payload, "%s\n%s\n%lld", f->cancel ? "cancel" : "feedback",
                     f->cid, (long long)(clock_now_ms() / 1000));
    return n > 0 && (size_t)n < sizeof payload ? token_sign(gw->token_key, "intake-form",
                                                           payload, (size_t)n)
                                               : NULL;
}

/* s_csrf_ok - the field is this form's token, issued within a day */
static int s_csrf_ok(gateway_t *gw, const s_form_t *f, const char *field)
{
    size_t len = 0;
    char *p = token_verify(gw->token_key, "intake-form", field, &len);
    if (!p)
        return 0;
    char want[200];
    snprintf(want, sizeof want, "%s\n%s\n", f->cancel ? "cancel" : "feedback", f->cid);
    size_t wl = strlen(want);
    int ok = len > wl && strncmp(p, want, wl) == 0;
    long long at = ok ? strtoll(p + wl, NULL, 10) : 0;
    long long now = clock_now_ms() / 1000;
    free(p);
    return ok && at <= now + 60 && now - at <= S_CSRF_TTL_S;
}

/* s_show - the form (200, or 400 with the error beside its field) */
static void s_show(gateway_req_t *r, unsigned status, const s_form_t *f)
{
    const words_t *w = r->gw->words;
    const reasons_t *rs = r->gw->reasons;
    buf_t b = BUF_INIT;
    const char *title = f->cancel ? "form.cancel_title" : "form.feedback_title";
    buf_puts(&b, "<h1>");
    words_html(&b, w, f->lang, title, NULL);
    buf_puts(&b, "</h1>");
    if (f->err_field) {
        buf_printf(&b, "<p class=\"err\" id=\"error-%s\" data-field=\"%s\">", f->err_field,
                   f->err_field);
        words_html(&b, w, f->lang, f->err_key, NULL);
        buf_puts(&b, "</p>");
    }
    buf_puts(&b, "<form method=\"post\" action=\"");
    buf_puts(&b, f->cancel ? "cancel" : "feedback");
    if (*f->token) {
        buf_puts(&b, "?customer=");
        buf_html(&b, f->token);
    }
    /* a language asked for with ?lang= (and not the link's own) goes with
     * the post, or the error page, the thanks and the acknowledgement
     * would fall back to the browser's */
    if (!*f->locale && gateway_arg(r, "lang")) {
        buf_puts(&b, *f->token ? "&amp;lang=" : "?lang=");
        buf_html(&b, f->lang);
    }
    buf_puts(&b, "\"><p><label for=\"reason\">");
    words_html(&b, w, f->lang, "form.reason", NULL);
    buf_puts(&b, "</label></p><select id=\"reason\" name=\"reason\"><option value=\"\">");
    words_html(&b, w, f->lang, "form.choose", NULL);
    buf_puts(&b, "</option>");
    for (size_t i = 0; rs && i < reasons_count(rs); i++) {
        const char *code = reasons_get(rs, i)->code;
        buf_puts(&b, "<option value=\"");
        buf_html(&b, code);
        buf_puts(&b, f->reason && strcmp(f->reason, code) == 0 ? "\" selected>" : "\">");
        buf_html(&b, reasons_label(rs, i, f->lang));
        buf_puts(&b, "</option>");
    }
    buf_puts(&b, "</select><p><label for=\"text\">");
    words_html(&b, w, f->lang, "form.text", NULL);
    buf_printf(&b, "</label></p><textarea id=\"text\" name=\"text\" maxlength=\"%d\">",
               S_TEXT_MAX);
    buf_html(&b, f->text ? f->text : "");
    buf_puts(&b, "</textarea>");
    if (!*f->cid) {
        buf_puts(&b, "<p><label for=\"email\">");
        words_html(&b, w, f->lang, "form.email", NULL);
        buf_puts(&b, "</label></p><input type=\"email\" id=\"email\" name=\"email\" required"
                     " value=\"");
        buf_html(&b, f->email ? f->email : "");
        buf_puts(&b, "\">");
    }
    char *csrf = s_csrf(r->gw, f);
    buf_puts(&b, "<input type=\"hidden\" name=\"csrf\" value=\"");
    buf_html(&b, csrf ? csrf : "");
    buf_puts(&b, "\"><p><button type=\"submit\">");
    words_html(&b, w, f->lang, "form.send", NULL);
    buf_puts(&b, "</button></p></form>");
    free(csrf);
    gateway_pages_show(r, status, f->lang, words_get(w, f->lang, title), b.data ? b.data : "");
    buf_free(&b);
}

/* s_rate_ok - count one POST from this client's address, and for the
 * customer its link names (one link posted from many addresses is held
 * to the same limit); 0 when over either, with r->retry_after set to when
 * that minute ends */
static int s_rate_ok(gateway_req_t *r, const s_form_t *f)
{
    struct sockaddr_storage ss;
    int retry = 60;
    int64_t now = clock_mono_ms();
    char name[160];
    snprintf(name, sizeof name, "customer:%s", f->cid);
    if (ratelimit_hit(r->gw->form_rate, gateway_client_addr(r, &ss), now, &retry) &&
        (!f->cid[0] || ratelimit_hit_name(r->gw->form_rate, name, now, &retry)))
        return 1;
    snprintf(r->retry_buf, sizeof r->retry_buf, "%d", retry);
    r->retry_after = r->retry_buf;
    return 0;
}

/* s_email_ok - the one address rule (mailbox.h), as the event's schema */
static int s_email_ok(const char *e)
{
    return mailbox_valid(e, strlen(e), MAILBOX_FQDN);
}

/* s_web_id - the customer id of a form's address (lower-cased), unique for
 * every address within the id's 128 characters: "web:<address>" while it
 * fits in 127, else "web:" + its first 83 bytes + "~" + 40 hex digits of
 * the SHA-256 of the whole address, 128 bytes.  Cutting at 120 made two
 * long addresses with the same start one customer.  The two forms differ
 * in length, so a whole address is never taken for a cut one. */
static void s_web_id(const char *low, char *id, size_t len)
{
    size_t n = strlen(low);
    if (n <= 123) {
        snprintf(id, len, "web:%s", low);
        return;
    }
    struct sha256_ctx h;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&h);
    sha256_update(&h, n, (const uint8_t *)low);
    sha256_digest(&h, sizeof d, d);
    size_t cut = 83;
    while (cut > 0 && ((unsigned char)low[cut] & 0xC0) == 0x80) /* not inside a character */
        cut--;
    int k = snprintf(id, len, "web:%.*s~", (int)cut, low);
    for (size_t i = 0; i < 20 && k > 0 && (size_t)k < len; i++)
        k += snprintf(id + k, len - (size_t)k, "%02x", d[i]);
}

/* s_record - journal the complaint/cancellation; 0 once committed, 1 when
 * the event would not pass its schema (nothing stored), -1 when the journal
 * did not answer, -2 when it refused the event (a retry cannot help) */
static int s_record(gateway_req_t *r, const s_form_t *f)
{
    json_t *p = json_pack("{s:s}", "channel", "web");
    if (*f->cid) {
        json_object_set_new(p, "customer_id", json_string(f->cid));
    } else {
        char id[300], low[260];
        size_t i = 0;
        for (; f->email[i] && i < sizeof low - 1; i++)
            low[i] = (char)((f->email[i] >= 'A' && f->email[i] <= 'Z') ? f->email[i] + 32
                                                                       : f->email[i]);
        low[i] = '\0';
        s_web_id(low, id, sizeof id);
        json_t *c = json_pack("{s:s,s:s,s:s}", "id", id, "email", f->email, "locale", f->lang);
        json_object_set_new(p, "customer", c);
    }
    if (*f->reason)
        json_object_set_new(p, "reason_code", json_string(f->reason));
    if (*f->text)
        json_object_set_new(p, "text", json_string(f->text));
    /* what the form made must pass the same schema as an ingested event
     * (the address above all: s_email_ok is only a first filter) */
    const char *type = f->cancel ? EV_CANCELLATION : EV_COMPLAINT;
    for (size_t i = 0; i < r->gw->n_types; i++)
        if (strcmp(r->gw->types[i].type, type) == 0 &&
            schema_validate(r->gw->types[i].schema, p, NULL, 0, NULL, 0)) {
            json_decref(p);
            return 1;
        }
    /* the key: the form instance (its csrf token) and what was sent.  A
     * browser re-POSTs the same form on a refresh or after an answer it did
     * not get: the journal then stores the same key once, so that is one
     * case and one acknowledgement, while a changed text is a new event. */
    if (!f->csrf) {
        json_decref(p);
        return -1;
    }
    char key[64], err[200] = "no key";
    struct sha256_ctx h;
    uint8_t d[SHA256_DIGEST_SIZE];
    const char *parts[] = {f->csrf, type, f->cid, f->reason, f->text, f->email};
    sha256_init(&h);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        sha256_update(&h, strlen(parts[i]) + 1, (const uint8_t *)parts[i]); /* with the NUL */
    sha256_digest(&h, sizeof d, d);
    int kl = snprintf(key, sizeof key, "gw:form:");
    for (size_t i = 0; i < 20; i++)
        kl += snprintf(key + kl, sizeof key - (size_t)kl, "%02x", d[i]);
    json_t *events = json_pack("[{s:s,s:s,s:o}]", "type", type, "key", key, "payload", p);
    int refused = 0;
    json_t *ok = events ? gateway_append(r->gw, events, err, &refused) : NULL;
    json_decref(events);
    if (!ok) {
        log_warn("event=intake_form_failed error=\"%s\"", err);
        return refused ? -2 : -1;
    }
    log_info("event=intake_form_recorded kind=%s offset=%lld", f->cancel ? "cancellation" :
             "complaint",
             (long long)json_integer_value(json_array_get(json_object_get(ok, "offsets"), 0)));
    json_decref(ok);
    return 0;
}

/* s_post - check the form; journal it or show it again */
static void s_post(gateway_req_t *r, s_form_t *f)
{
    const char *lang = f->lang;
    const char *title = f->cancel ? "form.cancel_title" : "form.feedback_title";
    if (r->too_large) {
        gateway_pages_say(r, 413, lang, title, "err", "form.too_large", NULL);
        return;
    }
    if (!s_rate_ok(r, f)) {
        gateway_pages_say(r, 429, lang, title, "err", "form.too_many", NULL);
        return;
    }
    const char *body = r->body.data ? r->body.data : "";
    size_t blen = r->body.len;
    buf_t csrf = BUF_INIT, reason = BUF_INIT, raw = BUF_INIT, text = BUF_INIT, email = BUF_INIT;
    if (!gateway_survey_origin_ok(r) || gateway_survey_form_field(body, blen, "csrf", &csrf) != 1 ||
        !csrf.data || strlen(csrf.data) != csrf.len || !s_csrf_ok(r->gw, f, csrf.data)) {
        log_info("event=intake_form_refused origin=%s",
                 gateway_header(r, "Origin") ? "other" : "none");
        gateway_pages_say(r, 403, lang, title, "err", "form.refused", NULL);
        goto done;
    }
    f->csrf = csrf.data;
    int has_reason = gateway_survey_form_field(body, blen, "reason", &reason);
    int has_text = gateway_survey_form_field(body, blen, "text", &raw);
    int has_email = gateway_survey_form_field(body, blen, "email", &email);
    f->reason = has_reason == 1 && reason.data && strlen(reason.data) == reason.len ? reason.data
                                                                                   : "";
    f->email = has_email == 1 && email.data && strlen(email.data) == email.len ? email.data : "";
    /* spaces around an address (pasted) are not part of it, as browsers'
     * type=email fields agree */
    while (*f->email && strchr(" \t", f->email[email.len - 1]))
        email.data[--email.len] = '\0';
    f->email += strspn(f->email, " \t");
    f->text = "";
    if (has_text < 0 ||
        (has_text == 1 && raw.len &&
         (strlen(raw.data) != raw.len || gateway_survey_clean_text(raw.data, raw.len, &text)))) {
        f->err_field = "text";
        f->err_key = "form.bad_text";
    } else if (has_text == 1 && raw.len && utf8_count(raw.data, raw.len) > S_TEXT_MAX) {
        f->err_field = "text";
        f->err_key = "form.long_text";
    } else {
        f->text = text.data ? text.data : "";
    }
    if (!f->err_field && *f->reason && reasons_find(r->gw->reasons, f->reason) < 0) {
        f->err_field = "reason";
        f->err_key = "form.bad_reason";
        f->reason = "";
    } else if (!f->err_field && !*f->reason && !*f->text) {
        f->err_field = "reason";
        f->err_key = "form.empty";
    } else if (!f->err_field && !*f->cid && !s_email_ok(f->email)) {
        f->err_field = "email";
        f->err_key = "form.bad_email";
    }
    if (f->err_field) {
        s_show(r, 400, f);
        goto done;
    }
    int rc = s_record(r, f);
    if (rc > 0) {
        f->err_field = "email";
        f->err_key = "form.bad_email";
        s_show(r, 400, f);
        goto done;
    }
    if (rc) { /* -2: refused as it is, which a retry cannot fix */
        if (rc == -1)
            r->retry_after = "60";
        gateway_pages_say(r, rc == -1 ? 503 : 500, lang, title, "err", "form.error", NULL);
        goto done;
    }
    gateway_pages_say(r, 200, lang, "form.thanks", "ok", "form.saved", NULL);
done:
    buf_free(&csrf);
    buf_free(&reason);
    buf_free(&raw);
    buf_free(&text);
    buf_free(&email);
}

void gateway_intake_form(gateway_req_t *r)
{
    s_form_t f = {.cancel = strcmp(r->url, "/cancel") == 0, .token = "", .reason = "",
                  .text = "", .email = ""};
    const char *tok = gateway_arg(r, "customer");
    int bad = tok && customer_token_check(r->gw->token_key, tok, f.cid, f.locale) != 0;
    /* the customer's language, else the one asked for, else the browser's */
    const char *lang = *f.locale ? f.locale : gateway_arg(r, "lang");
    const words_t *w = r->gw->words;
    f.lang = lang ? words_locale(w, lang) : words_accept(w, gateway_header(r, "Accept-Language"));
    if (!f.lang)
        f.lang = words_locale(w, NULL);
    if (!r->gw->reasons) {
        gateway_pages_say(r, 404, f.lang, "form.feedback_title", NULL, "form.bad_link", NULL);
        return;
    }
    if (bad || (f.cancel && !tok)) { /* cancelling needs to know who */
        f.cid[0] = '\0';
        gateway_pages_say(r, 404, f.lang, f.cancel ? "form.cancel_title" : "form.feedback_title",
                          NULL, "form.bad_link", NULL);
        return;
    }
    if (gateway_pages_erased(r->gw, f.cid)) { /* the customer was erased */
        gateway_pages_erased_say(r, f.lang);
        return;
    }
    f.token = tok ? tok : "";
    if (strcmp(r->method, "POST") == 0)
        s_post(r, &f);
    else
        s_show(r, 200, &f);
}
