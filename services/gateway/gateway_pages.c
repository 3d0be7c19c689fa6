/*
 * gateway_pages.c - the small HTML pages customers see, and the one-click
 * unsubscribe (RFC 8058).
 *
 *   GET  /u/TOKEN  a page with the address and a button; records nothing
 *                  (mail scanners follow links)
 *   POST /u/TOKEN  unsubscribe: mail.unsubscribed is journaled, then 200.
 *                  No redirect, no cookies, any body (mail clients send
 *                  "List-Unsubscribe=One-Click").  A POST with an Origin
 *                  other than public_url's (another site's page) records
 *                  nothing: 403 and the page with the button again.
 * A token that does not verify is a 404 page and writes nothing.  The link
 * of a customer who was erased is a 410 page, GET and POST, that shows
 * nothing of them and writes nothing (gateway_pages_erased).  Pages
 * are localized by the locale the token carries, need no JavaScript, and
 * every piece of customer data on them is HTML-escaped.
 *
 * The markup of every page is written here, with one escaping function
 * per context; the words on them are not: they come from
 * <templates>/<locale>/words.json (words.h), loaded at start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "jclient.h"
#include "log.h"
#include "token.h"
#include "words.h"

/* gateway_pages_init - the words of every page, from [mailer] templates
 * (the folders there are the languages pages come in); 0/-1 */
int gateway_pages_init(gateway_t *gw)
{
    char err[600];
    const char *dir = config_get(gw->cfg, "mailer", "templates");
    gw->words = words_load(dir, config_get(gw->cfg, "mailer", "default_locale"), err, sizeof err);
    if (!gw->words) {
        log_error("event=bad_words error=\"%s\"", err);
        return -1;
    }
    log_info("event=words_loaded dir=\"%s\" locales=%zu", dir, words_count(gw->words));
    return 0;
}

void gateway_pages_fini(gateway_t *gw)
{
    words_destroy(&gw->words);
}

/* gateway_pages_show - a complete small page: title and trusted body HTML */
void gateway_pages_show(gateway_req_t *r, unsigned status, const char *lang, const char *title,
             const char *body_html)
{
    buf_reset(&r->out);
    buf_puts(&r->out, "<!doctype html>\n<html lang=\"");
    buf_html(&r->out, lang);
    buf_puts(&r->out, "\"><head><meta charset=\"utf-8\">"
                      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                      "<meta name=\"color-scheme\" content=\"light dark\"><title>");
    buf_html(&r->out, title);
    buf_puts(&r->out,
             "</title><style>"
             "body{font:18px/1.5 system-ui,sans-serif;margin:0;padding:24px;"
             "background:#f6f6f4;color:#222}"
             "main{max-width:32rem;margin:0 auto;background:#fff;padding:24px;border-radius:12px}"
             "button{font:inherit;padding:12px 24px;border:0;border-radius:8px;"
             "background:#2d6cdf;color:#fff;min-height:48px}"
             "textarea{width:100%;box-sizing:border-box;font:inherit;min-height:6rem}"
             ".scores{display:flex;flex-wrap:wrap;gap:6px}"
             ".scores label{flex:1 0 2.6rem;text-align:center;border:1px solid #ccc;"
             "border-radius:8px;padding:10px 0}"
             ".scale{display:flex;justify-content:space-between;font-size:14px}"
             "fieldset{border:0;padding:0;margin:0}blockquote{white-space:pre-wrap}"
             ".err{color:#b00020}"
             "@media (prefers-color-scheme:dark){body{background:#111;color:#eee}"
             "main{background:#1d1d1d}.scores label{border-color:#555}}"
             "</style></head><body><main>");
    buf_puts(&r->out, body_html);
    buf_puts(&r->out, "</main></body></html>\n");
    r->status = status;
    r->content_type = "text/html; charset=utf-8";
    r->csp = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
             "frame-ancestors 'none'";
    /* page URLs hold tokens: never send them to another site.  Not
     * "no-referrer": under it browsers send "Origin: null" with the page's
     * own form POST, and the survey form checks Origin. */
    r->referrer = "same-origin";
}

/* gateway_pages_text - heading and one paragraph */
void gateway_pages_text(gateway_req_t *r, unsigned status, const char *lang, const char *title,
                  const char *cls, const char *text_html)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "<h1>");
    buf_html(&b, title);
    buf_puts(&b, cls ? "</h1><p class=\"" : "</h1><p>");
    if (cls) {
        buf_html(&b, cls);
        buf_puts(&b, "\">");
    }
    buf_puts(&b, text_html);
    buf_puts(&b, "</p>");
    gateway_pages_show(r, status, lang, title, b.data ? b.data : "");
    buf_free(&b);
}

/* gateway_pages_say - gateway_pages_text with the words title_key and
 * text_key of locale (text_key may be an "_html" word, filled in with vars) */
void gateway_pages_say(gateway_req_t *r, unsigned status, const char *locale,
                       const char *title_key, const char *cls, const char *text_key,
                       const json_t *vars)
{
    buf_t b = BUF_INIT;
    words_html(&b, r->gw->words, locale, text_key, vars);
    gateway_pages_text(r, status, locale, words_get(r->gw->words, locale, title_key), cls,
                       b.data ? b.data : "");
    buf_free(&b);
}

/* how long a page waits for hark-journal's JOURNAL_ERASED: without an
 * answer the page is shown as before (a person can still unsubscribe) */
#define S_ERASED_TIMEOUT_MS 500

/* gateway_pages_erased - see gateway.h */
int gateway_pages_erased(gateway_t *gw, const char *cid)
{
    if (!cid || !*cid)
        return 0;
    char got[48] = "";
    json_t *body = json_pack("{s:s}", "customer_id", cid);
    json_t *reply = body ? gateway_call(gw, "journal", CMD_JOURNAL_ERASED, body,
                                        S_ERASED_TIMEOUT_MS, got)
                         : NULL;
    json_decref(body);
    int erased = reply && strcmp(got, CMD_JOURNAL_ERASED_OK) == 0 &&
                 json_is_true(json_object_get(reply, "erased"));
    if (!reply)
        log_warn("event=erased_unknown why=no_answer");
    json_decref(reply);
    return erased;
}

/* gateway_pages_erased_say - see gateway.h */
void gateway_pages_erased_say(gateway_req_t *r, const char *lang)
{
    log_info("event=erased_link status=410");
    gateway_pages_say(r, 410, lang, "erased.title", NULL, "erased.text", NULL);
}

/* s_unsub_token - verify; fills address, locale, customer id.  0/-1 */
static int s_unsub_token(gateway_req_t *r, const char *tok, char **payload, char **addr,
                         char **locale, char **cid)
{
    size_t len = 0;
    *payload = token_verify(r->gw->token_key, "unsubscribe", tok, &len);
    if (!*payload || strlen(*payload) != len)
        return -1;
    *addr = *payload;
    char *nl = strchr(*addr, '\n');
    if (!nl)
        return -1;
    *nl = '\0';
    *locale = nl + 1;
    nl = strchr(*locale, '\n');
    if (!nl)
        return -1;
    *nl = '\0';
    *cid = nl + 1;
    return **addr ? 0 : -1;
}

/* s_unsub_page - the unsubscribe page: the heading, word as a paragraph
 * with the address in it, and the button when asking */
static void s_unsub_page(gateway_req_t *r, unsigned status, const char *lang, const char *word,
                         const char *addr, int button)
{
    const words_t *w = r->gw->words;
    json_t *vars = json_pack("{s:s}", "address", addr);
    buf_t b = BUF_INIT;
    buf_puts(&b, "<h1>");
    words_html(&b, w, lang, "unsubscribe.title", NULL);
    buf_puts(&b, "</h1><p>");
    words_html(&b, w, lang, word, vars);
    buf_puts(&b, "</p>");
    if (button) {
        buf_puts(&b, "<form method=\"post\"><button type=\"submit\">");
        words_html(&b, w, lang, "unsubscribe.button", NULL);
        buf_puts(&b, "</button></form>");
    }
    gateway_pages_show(r, status, lang, words_get(w, lang, "unsubscribe.title"),
                       b.data ? b.data : "");
    buf_free(&b);
    json_decref(vars);
}

/* gateway_pages_unsubscribe - GET and POST /u/TOKEN */
void gateway_pages_unsubscribe(gateway_req_t *r)
{
    const char *tok = r->url + 3;
    char *payload = NULL, *addr, *locale, *cid;
    if (s_unsub_token(r, tok, &payload, &addr, &locale, &cid)) {
        free(payload);
        gateway_pages_say(r, 404, words_locale(r->gw->words, NULL), "unsubscribe.title", NULL,
                          "unsubscribe.gone", NULL);
        return;
    }
    const char *lang = words_locale(r->gw->words, locale);
    if (gateway_pages_erased(r->gw, cid)) {
        /* neither their address shown nor their unsubscribe journaled:
         * nothing of them is taken in again */
        gateway_pages_erased_say(r, lang);
    } else if (strcmp(r->method, "POST") == 0 && !gateway_survey_origin_ok(r)) {
        /* another site's page posting here (the survey and forms' rule):
         * mail clients' one-click POSTs come with no Origin (RFC 8058) and
         * our own button with ours.  Asking again on our page lets a
         * person who meant it finish, and records nothing. */
        log_info("event=unsubscribe_refused origin=other");
        s_unsub_page(r, 403, lang, "unsubscribe.ask_html", addr, 1);
    } else if (strcmp(r->method, "POST") == 0) {
        const char *body = r->body.data ? r->body.data : "";
        int one_click = strstr(body, "List-Unsubscribe=One-Click") != NULL;
        json_t *p = json_pack("{s:s,s:s}", "address", addr, "via", one_click ? "one-click" : "page");
        if (*cid)
            json_object_set_new(p, "customer_id", json_string(cid));
        const char *dot = strchr(tok, '.');
        char key[200];
        snprintf(key, sizeof key, "unsub:%.150s", dot ? dot + 1 : tok);
        json_t *events = json_pack("[{s:s,s:s,s:o}]", "type", EV_MAIL_UNSUBSCRIBED, "key", key,
                                   "payload", p);
        char err[200];
        int refused = 0;
        json_t *ok = gateway_append(r->gw, events, err, &refused);
        json_decref(events);
        if (!ok) {
            log_warn("event=unsubscribe_failed error=\"%s\"", err);
            if (!refused)
                r->retry_after = "60";
            gateway_pages_say(r, refused ? 500 : 503, lang, "unsubscribe.title", "err",
                              "unsubscribe.error", NULL);
        } else {
            json_decref(ok);
            s_unsub_page(r, 200, lang, "unsubscribe.done_html", addr, 0);
        }
    } else {
        s_unsub_page(r, 200, lang, "unsubscribe.ask_html", addr, 1);
    }
    free(payload);
}
