/*
 * gateway_survey.c - the NPS survey pages behind the score links in an
 * invite.
 *
 *   GET, HEAD /s/TOKEN?score=N  the question, eleven scores 0-10 with N
 *                  chosen, a comment box and a button.  Records NOTHING:
 *                  mail scanners open every link in a mail.
 *   POST /s/TOKEN  the form (application/x-www-form-urlencoded: score,
 *                  comment, csrf): journals one survey.answered, and only
 *                  after the journal's commit answers 200 with a thank-you
 *                  page that shows the form again, so the customer may
 *                  change the answer (the last one counts, in hark-survey).
 *
 * The token (survey_link.h) carries the invite, its expiry and the page's
 * language, so the gateway stays stateless.  A token that does not verify
 * is a 404 page, an expired one a 410 page; neither writes anything.  A
 * genuine token's invite is then asked of hark-survey (SURVEY_INVITE, at
 * most S_INVITE_TIMEOUT_MS): unknown is a 404 that writes nothing (GET and
 * POST); on GET, expired is a 410, an answered one shows its last score and
 * comment, any state but open or answered is a 404.  When hark-survey does
 * not answer, the token alone decides, so a customer still gets the form.  The
 * form's csrf field is an HMAC of the invite under another purpose, and a
 * POST that carries an Origin must come from [gateway] public_url's origin:
 * either failing is a 403 page.  Everything shown is HTML-escaped, the
 * comment above all; pages need no JavaScript.
 *
 * One click: the page of a score link carries one small script (allowed
 * by its hash in the page's CSP, nothing else may run) that posts the
 * form - the clicked score and the csrf field - once the page is visible
 * in a browser, and then says the answer is saved above the comment box.
 * A mail scanner that fetches the link (GET, HEAD) runs no script and so
 * records nothing; without JavaScript the customer presses Send as before.  The words come from the
 * "survey" part of <templates>/<locale>/words.json, in the link's locale.
 */
#include <ctype.h>
#include <nettle/base64.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "gateway.h"
#include "log.h"
#include "mime.h"
#include "proto.h"
#include "survey_link.h"
#include "words.h"

#define S_COMMENT_MAX 4000 /* characters (code points), as the event's schema */
/* how long a page waits for hark-survey's SURVEY_INVITE before going by the
 * token alone: a customer would rather get the form than wait */
#define S_INVITE_TIMEOUT_MS 500

/* What one page shows; every string is raw text, escaped when written. */
typedef struct {
    const char *lang;    /* the locale whose words.json the words come from */
    const char *token;   /* the form posts back to /s/<token> */
    const char *invite;
    int score;           /* -1: none chosen */
    const char *comment; /* put back into the box; "" for none */
    const char *err_field, *err_key; /* a 400's field and the word for it, or NULL */
    int autopost;        /* 1: the page posts its score itself once visible */
} s_page_t;

/* The one script of the survey page: post the form as it stands (the
 * clicked score, the csrf field, the comment box) when the page is shown,
 * once; on success reveal the "saved" line.  Kept tiny and constant so the
 * CSP can allow exactly it by its hash. */
static const char s_autopost_js[] =
    "(function(){var f=document.getElementById('answer'),m=document.getElementById('recorded'),"
    "done=false;if(!f||!window.fetch||!window.URLSearchParams)return;function go(){"
    "if(done||document.visibilityState!=='visible')return;done=true;"
    "fetch(f.action,{method:'POST',credentials:'same-origin',body:new URLSearchParams("
    "new FormData(f))}).then(function(r){if(r.ok&&m)m.hidden=false;},function(){});}"
    "go();document.addEventListener('visibilitychange',go);})();";

static pthread_once_t s_csp_once = PTHREAD_ONCE_INIT;
static char s_csp[300];

/* s_csp_make - the survey page's CSP with the script's hash */
static void s_csp_make(void)
{
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    char b64[BASE64_ENCODE_RAW_LENGTH(SHA256_DIGEST_SIZE) + 1];
    sha256_init(&ctx);
    sha256_update(&ctx, sizeof s_autopost_js - 1, (const uint8_t *)s_autopost_js);
    sha256_digest(&ctx, sizeof digest, digest);
    base64_encode_raw(b64, sizeof digest, digest);
    b64[sizeof b64 - 1] = '\0';
    snprintf(s_csp, sizeof s_csp,
             "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-%s';"
             " connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
             b64);
}

/* s_score - "0".."10" as a number; -1 for anything else (NULL, "", "07x",
 * "+7", "11", and "09" or "00": only the canonical forms, so one answer
 * has one spelling) */
static int s_score(const char *s)
{
    if (!s || !*s || strlen(s) > 2 || (s[0] == '0' && s[1]))
        return -1;
    int v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v <= 10 ? v : -1;
}

/* s_form_html - the question and the form, into b */
static void s_form_html(gateway_req_t *r, buf_t *b, const s_page_t *p)
{
    const words_t *w = r->gw->words;
    json_t *shop = json_pack("{s:s}", "shop", r->gw->conf.shop_name);
    if (p->autopost) {
        json_t *score = json_pack("{s:i}", "score", p->score);
        buf_puts(b, "<p id=\"recorded\" role=\"status\" hidden>");
        words_html(b, w, p->lang, "survey.saved_html", score);
        buf_puts(b, "</p>");
        json_decref(score);
    }
    buf_puts(b, "<form method=\"post\" action=\"");
    /* relative to /s/<token>: the same URL, also when public_url has a path
     * prefix in front of the gateway */
    buf_html(b, p->token);
    buf_puts(b, "\" id=\"answer\"><fieldset><legend><h2>");
    words_html(b, w, p->lang, "survey.question", shop);
    buf_puts(b, "</h2></legend><div class=\"scores\">");
    for (int i = 0; i <= 10; i++)
        buf_printf(b, "<label><input type=\"radio\" name=\"score\" value=\"%d\"%s%s> %d</label>",
                   i, i == 0 ? " required" : "", i == p->score ? " checked" : "", i);
    buf_puts(b, "</div><p class=\"scale\"><span>0 = ");
    words_html(b, w, p->lang, "survey.low", NULL);
    buf_puts(b, "</span><span>10 = ");
    words_html(b, w, p->lang, "survey.high", NULL);
    buf_puts(b, "</span></p></fieldset>");
    if (p->err_field && strcmp(p->err_field, "score") == 0) {
        buf_puts(b, "<p class=\"err\" id=\"error-score\" data-field=\"score\">");
        words_html(b, w, p->lang, p->err_key, NULL);
        buf_puts(b, "</p>");
    }
    buf_puts(b, "<p><label for=\"comment\">");
    words_html(b, w, p->lang, "survey.comment", NULL);
    buf_printf(b, "</label></p><textarea id=\"comment\" name=\"comment\" maxlength=\"%d\">",
               S_COMMENT_MAX);
    buf_html(b, p->comment ? p->comment : "");
    buf_puts(b, "</textarea>");
    if (p->err_field && strcmp(p->err_field, "comment") == 0) {
        buf_puts(b, "<p class=\"err\" id=\"error-comment\" data-field=\"comment\">");
        words_html(b, w, p->lang, p->err_key, NULL);
        buf_puts(b, "</p>");
    }
    char *csrf = survey_link_form_make(r->gw->token_key, p->invite);
    buf_puts(b, "<input type=\"hidden\" name=\"csrf\" value=\"");
    buf_html(b, csrf ? csrf : "");
    buf_puts(b, "\"><p><button type=\"submit\">");
    words_html(b, w, p->lang, "survey.send", NULL);
    buf_puts(b, "</button></p></form>");
    free(csrf);
    json_decref(shop);
}

/* s_show - the form page (status 200, or 400 with the error beside its field) */
static void s_show(gateway_req_t *r, unsigned status, const s_page_t *p)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "<h1>");
    words_html(&b, r->gw->words, p->lang, "survey.title", NULL);
    buf_puts(&b, "</h1>");
    s_form_html(r, &b, p);
    if (p->autopost) {
        buf_puts(&b, "<script>");
        buf_puts(&b, s_autopost_js);
        buf_puts(&b, "</script>");
    }
    gateway_pages_show(r, status, p->lang, words_get(r->gw->words, p->lang, "survey.title"),
                       b.data ? b.data : "");
    if (p->autopost && pthread_once(&s_csp_once, s_csp_make) == 0)
        r->csp = s_csp;
    buf_free(&b);
}

/* s_thanks - the page after a recorded answer: what was saved, then the
 * form again with it, to change it */
static void s_thanks(gateway_req_t *r, const s_page_t *p)
{
    const words_t *w = r->gw->words;
    json_t *score = json_pack("{s:i}", "score", p->score);
    buf_t b = BUF_INIT;
    buf_puts(&b, "<h1>");
    words_html(&b, w, p->lang, "survey.thanks", NULL);
    buf_puts(&b, "</h1><p>");
    words_html(&b, w, p->lang, "survey.saved_html", score);
    buf_puts(&b, "</p>");
    json_decref(score);
    if (*p->comment) {
        buf_puts(&b, "<p>");
        words_html(&b, w, p->lang, "survey.yours", NULL);
        buf_puts(&b, "</p><blockquote id=\"your-comment\">");
        buf_html(&b, p->comment);
        buf_puts(&b, "</blockquote>");
    }
    buf_puts(&b, "<hr><p>");
    words_html(&b, w, p->lang, "survey.change", NULL);
    buf_puts(&b, "</p>");
    s_form_html(r, &b, p);
    gateway_pages_show(r, 200, p->lang, words_get(w, p->lang, "survey.thanks"),
                       b.data ? b.data : "");
    buf_free(&b);
}

/* s_hex - a hex digit's value, or -1 */
static int s_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* s_decode - URL-decode s[0..n) ('+' is a space) into out (reset first);
 * 0, or -1 on a broken %-escape */
static int s_decode(const char *s, size_t n, buf_t *out)
{
    buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            buf_putc(out, ' ');
        } else if (s[i] == '%') {
            int hi = i + 2 < n ? s_hex(s[i + 1]) : -1;
            int lo = i + 2 < n ? s_hex(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            buf_putc(out, (char)(hi * 16 + lo));
            i += 2;
        } else {
            buf_putc(out, s[i]);
        }
    }
    return 0;
}

/* s_field - the first value of name in an urlencoded body, decoded into
 * out.  1 when found, 0 when absent, -1 when the body is malformed. */
static int s_field(const char *body, size_t len, const char *name, buf_t *out)
{
    size_t nl = strlen(name);
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eq ? eq : stop;
        if ((size_t)(kend - p) == nl && memcmp(p, name, nl) == 0) {
            const char *v = eq ? eq + 1 : stop;
            return s_decode(v, (size_t)(stop - v), out) ? -1 : 1;
        }
        p = stop + 1;
    }
    return 0;
}

/* s_clean_comment - the comment as stored: valid UTF-8 required (-1
 * otherwise); control characters but newline and tab dropped (C0 with CR,
 * so CRLF from a browser becomes LF; DEL; C1), whitespace trimmed at both
 * ends, and capped at S_COMMENT_MAX characters.  Into out; 0/-1. */
static int s_clean_comment(const char *s, size_t n, buf_t *out)
{
    buf_reset(out);
    if (!mime_utf8_valid(s, n))
        return -1;
    size_t chars = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n && chars < S_COMMENT_MAX;) {
        size_t len = u[i] < 0x80 ? 1 : u[i] < 0xe0 ? 2 : u[i] < 0xf0 ? 3 : 4;
        int control = (u[i] < 0x20 && u[i] != '\n' && u[i] != '\t') || u[i] == 0x7f ||
                      (u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f);
        if (!control && !(chars == 0 && (u[i] == ' ' || u[i] == '\n' || u[i] == '\t'))) {
            buf_append(out, s + i, len);
            chars++;
        }
        i += len;
    }
    while (out->len && strchr(" \n\t", out->data[out->len - 1]))
        out->data[--out->len] = '\0';
    return buf_failed(out) ? -1 : 0;
}

/* s_origin - the origin of url (scheme://host[:port], lower case, the
 * scheme's default port left out, as browsers write Origin) into out;
 * 0, or -1 when url has no scheme and host or trails more than a path */
static int s_origin(const char *url, int path_ok, char *out, size_t len)
{
    const char *sep = strstr(url, "://");
    if (!sep || sep == url)
        return -1;
    size_t hl = strcspn(sep + 3, "/?#");
    if (hl == 0 || (!path_ok && sep[3 + hl]))
        return -1;
    char buf[300];
    int n = snprintf(buf, sizeof buf, "%.*s", (int)(sep + 3 + hl - url), url);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -1;
    for (char *p = buf; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    size_t bl = strlen(buf);
    if (bl > 10 && strncmp(buf, "https://", 8) == 0 && strcmp(buf + bl - 4, ":443") == 0)
        buf[bl - 4] = '\0';
    else if (bl > 9 && strncmp(buf, "http://", 7) == 0 && strcmp(buf + bl - 3, ":80") == 0)
        buf[bl - 3] = '\0';
    snprintf(out, len, "%s", buf);
    return strlen(buf) < len ? 0 : -1;
}

/* s_origin_ok - 1 when the request has no Origin or public_url's */
static int s_origin_ok(gateway_req_t *r)
{
    const char *origin = gateway_header(r, "Origin");
    if (!origin)
        return 1;
    char want[300], got[300];
    return s_origin(r->gw->conf.public_url, 1, want, sizeof want) ==
               0 &&
           s_origin(origin, 0, got, sizeof got) == 0 && strcmp(want, got) == 0;
}

/* s_record - journal one survey.answered; 0 once committed, else -1 */
static int s_record(gateway_req_t *r, const survey_link_t *link, int score, const char *comment)
{
    char key[64];
    if (gateway_events_key_fresh(key, sizeof key))
        return -1;
    json_t *p = json_pack("{s:s,s:i}", "invite", link->invite, "score", score);
    if (p && *comment)
        json_object_set_new(p, "comment", json_string(comment));
    if (p && link->locale[0]) {
        json_object_set_new(p, "locale", json_string(link->locale));
        /* a link's locale is any [A-Za-z0-9-]; the event's must be a
         * language tag.  Only hark-survey signs links, from customers'
         * checked locales, but an answer is worth more than its language. */
        if (r->gw->answered && schema_validate(r->gw->answered, p, NULL, 0, NULL, 0)) {
            log_warn("event=survey_locale_dropped invite=%s", link->invite);
            json_object_del(p, "locale");
        }
    }
    json_t *events = p ? json_pack("[{s:s,s:s,s:o}]", "type", EV_SURVEY_ANSWERED, "key", key,
                                   "payload", p)
                       : NULL;
    char err[200] = "out of memory";
    int refused = 0;
    json_t *ok = events ? gateway_append(r->gw, events, err, &refused) : NULL;
    json_decref(events);
    if (!ok) {
        log_warn("event=survey_answer_failed invite=%s error=\"%s\"", link->invite, err);
        return refused ? -2 : -1;
    }
    log_info("event=survey_answered invite=%s score=%d offset=%lld", link->invite, score,
             (long long)json_integer_value(json_array_get(json_object_get(ok, "offsets"), 0)));
    json_decref(ok);
    return 0;
}

/* s_post - check and record the form */
static void s_post(gateway_req_t *r, s_page_t *pg, const survey_link_t *link)
{
    const char *lang = pg->lang;
    if (r->too_large) {
        gateway_pages_say(r, 413, lang, "survey.title", "err", "survey.too_large", NULL);
        return;
    }
    const char *body = r->body.data ? r->body.data : "";
    size_t blen = r->body.len;
    buf_t csrf = BUF_INIT, score = BUF_INIT, raw = BUF_INIT, comment = BUF_INIT;
    /* Origin and csrf first: a forged request learns nothing from the rest */
    if (!s_origin_ok(r) || s_field(body, blen, "csrf", &csrf) != 1 || !csrf.data ||
        strlen(csrf.data) != csrf.len ||
        !survey_link_form_check(r->gw->token_key, link->invite, csrf.data)) {
        log_info("event=survey_form_refused invite=%s origin=%s", link->invite,
                 gateway_header(r, "Origin") ? "other" : "none");
        gateway_pages_say(r, 403, lang, "survey.title", "err", "survey.refused", NULL);
        goto done;
    }
    int has_comment = s_field(body, blen, "comment", &raw);
    if (has_comment < 0 || (has_comment && s_clean_comment(raw.data ? raw.data : "", raw.len, &comment))) {
        pg->err_field = "comment";
        pg->err_key = "survey.bad_comment";
    }
    int sc = s_field(body, blen, "score", &score) == 1 && score.data &&
                     strlen(score.data) == score.len
                 ? s_score(score.data)
                 : -1;
    pg->comment = comment.data ? comment.data : "";
    if (sc < 0) { /* named first: the comment box keeps what was typed */
        pg->err_field = "score";
        pg->err_key = "survey.bad_score";
    }
    pg->score = sc;
    if (pg->err_field) {
        s_show(r, 400, pg);
        goto done;
    }
    int rc = s_record(r, link, sc, pg->comment);
    if (rc) { /* -2: refused as it is, which a retry cannot fix */
        if (rc == -1)
            r->retry_after = "60";
        gateway_pages_say(r, rc == -1 ? 503 : 500, lang, "survey.title", "err", "survey.error",
                          NULL);
        goto done;
    }
    s_thanks(r, pg);
done:
    buf_free(&csrf);
    buf_free(&score);
    buf_free(&raw);
    buf_free(&comment);
}

/* s_invite_state - ask hark-survey what it knows of the invite.  Returns
 * the SURVEY_INVITE_OK body (caller decrefs), or NULL with *not_found set
 * when hark-survey says there is no such invite; NULL with *not_found 0
 * when it did not answer in time (or answered otherwise): the caller then
 * goes by the token alone. */
static json_t *s_invite_state(gateway_req_t *r, const char *invite, int *not_found)
{
    *not_found = 0;
    json_t *body = json_pack("{s:s}", "invite", invite);
    char cmd[48] = "";
    int ms = r->gw->conf.survey_timeout_ms < S_INVITE_TIMEOUT_MS ? r->gw->conf.survey_timeout_ms
                                                                 : S_INVITE_TIMEOUT_MS;
    json_t *reply = body ? gateway_call(r->gw, "survey", CMD_SURVEY_INVITE, body, ms, cmd) : NULL;
    json_decref(body);
    if (reply && strcmp(cmd, CMD_SURVEY_INVITE_OK) == 0)
        return reply;
    if (!reply)
        log_info("event=survey_invite_unknown_state invite=%s why=no_answer", invite);
    else if (strcmp(cmd, CMD_ERROR) == 0) {
        const char *code =
            json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
        *not_found = code && strcmp(code, "not_found") == 0;
    }
    json_decref(reply);
    return NULL;
}

/* gateway_survey - GET, HEAD and POST /s/TOKEN */
void gateway_survey(gateway_req_t *r)
{
    const char *token = r->url + 3;
    survey_link_t link;
    int bad = survey_link_check(r->gw->token_key, token, &link) != 0;
    const char *lang = words_locale(r->gw->words, bad ? NULL : link.locale);
    if (bad) {
        gateway_pages_say(r, 404, lang, "survey.title", NULL, "survey.gone", NULL);
        return;
    }
    if (link.expires < clock_now_ms() / 1000) {
        gateway_pages_say(r, 410, lang, "survey.title", NULL, "survey.closed", NULL);
        return;
    }
    /* a genuine token may still name an invite hark-survey never made (a
     * leaked key, a wiped survey.db): say so and write nothing */
    int not_found = 0;
    json_t *inv = s_invite_state(r, link.invite, &not_found);
    if (not_found) {
        gateway_pages_say(r, 404, lang, "survey.title", NULL, "survey.gone", NULL);
        return;
    }
    const char *st = json_string_value(json_object_get(inv, "status"));
    if (st && strcmp(st, "erased") == 0) {
        /* the customer was erased: nothing is shown or taken, for good */
        json_decref(inv);
        gateway_pages_erased_say(r, lang);
        return;
    }
    s_page_t pg = {.lang = lang, .token = token, .invite = link.invite, .score = -1, .comment = ""};
    if (strcmp(r->method, "POST") == 0) {
        s_post(r, &pg, &link);
        json_decref(inv);
        return;
    }
    /* GET and HEAD show the form and record nothing, whatever the link */
    pg.score = s_score(MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "score"));
    const char *status = json_string_value(json_object_get(inv, "status"));
    if (status && strcmp(status, "expired") == 0) {
        gateway_pages_say(r, 410, lang, "survey.title", NULL, "survey.closed", NULL);
    } else if (status && strcmp(status, "open") != 0 && strcmp(status, "answered") != 0) {
        /* scheduled, throttled, suppressed, …: no invite went out with
         * this link, so there is nothing to answer */
        gateway_pages_say(r, 404, lang, "survey.title", NULL, "survey.gone", NULL);
    } else {
        /* a score link opened in a browser answers with one click (the
         * page's script); a link already answered with that score is not
         * answered again */
        pg.autopost = pg.score >= 0 && strcmp(r->method, "GET") == 0;
        if (status && strcmp(status, "answered") == 0) {
            /* the answer given, to change it; the link's score wins */
            json_t *last = json_object_get(inv, "score");
            if (json_is_integer(last) && pg.score == (int)json_integer_value(last))
                pg.autopost = 0;
            if (pg.score < 0 && json_is_integer(last))
                pg.score = (int)json_integer_value(last);
            const char *c = json_string_value(json_object_get(inv, "comment"));
            pg.comment = c ? c : "";
        }
        s_show(r, 200, &pg);
    }
    json_decref(inv); /* after the page: pg.comment points into it */
}

/* gateway_survey_form_field / gateway_survey_origin_ok / gateway_survey_clean_text - the survey
 * form's helpers, for the other customer forms (gateway_intake.c) */
int gateway_survey_form_field(const char *body, size_t len, const char *name, buf_t *out)
{
    return s_field(body, len, name, out);
}

int gateway_survey_origin_ok(gateway_req_t *r)
{
    return s_origin_ok(r);
}

int gateway_survey_clean_text(const char *s, size_t n, buf_t *out)
{
    return s_clean_comment(s, n, out);
}
