/*
 * gateway_pages.c - the small HTML pages customers see, and the one-click
 * unsubscribe (RFC 8058).
 *
 *   GET  /u/TOKEN  a page with the address and a button; records nothing
 *                  (mail scanners follow links)
 *   POST /u/TOKEN  unsubscribe: mail.unsubscribed is journaled, then 200.
 *                  No redirect, no cookies, any body (mail clients send
 *                  "List-Unsubscribe=One-Click").
 * A token that does not verify is a 404 page and writes nothing.  Pages
 * are localized by the locale the token carries, need no JavaScript, and
 * every piece of customer data on them is HTML-escaped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "jclient.h"
#include "log.h"
#include "token.h"

typedef struct {
    const char *lang, *title, *ask, *button, *done, *gone, *error;
} s_words_t;

/* the unsubscribe page in Hark's languages; %s is the address */
static const s_words_t s_words[] = {
    {"en", "Unsubscribe", "Stop sending surveys, greetings and updates to <b>%s</b>?",
     "Unsubscribe", "Done: <b>%s</b> will get no more surveys, greetings or updates. "
                    "Replies to your own requests still reach you.",
     "This link is not valid. It may have been copied incompletely.",
     "Something went wrong on our side. Please try again in a minute."},
    {"ru", "Отписка", "Больше не присылать опросы, поздравления и новости на <b>%s</b>?",
     "Отписаться", "Готово: на <b>%s</b> больше не придут опросы, поздравления и новости. "
                   "Ответы на ваши обращения по-прежнему будут приходить.",
     "Ссылка недействительна. Возможно, она скопирована не полностью.",
     "У нас что-то пошло не так. Попробуйте ещё раз через минуту."},
    {"pl", "Wypisz się", "Nie wysyłać już ankiet, życzeń i nowości na <b>%s</b>?",
     "Wypisz mnie", "Gotowe: na <b>%s</b> nie wyślemy już ankiet, życzeń ani nowości. "
                    "Odpowiedzi na Twoje zgłoszenia nadal będą docierać.",
     "Ten link jest nieprawidłowy. Być może nie został skopiowany w całości.",
     "Coś poszło nie tak po naszej stronie. Spróbuj ponownie za minutę."},
    {"zh", "退订", "不再向 <b>%s</b> 发送问卷、祝福和新闻？", "退订",
     "已退订：<b>%s</b> 将不再收到问卷、祝福和新闻。关于您提交的问题的回复仍会发送给您。",
     "此链接无效，可能没有完整复制。", "我们这边出了点问题，请一分钟后再试。"},
    {"be", "Адпіска", "Больш не дасылаць апытанні, віншаванні і навіны на <b>%s</b>?",
     "Адпісацца", "Гатова: на <b>%s</b> больш не прыйдуць апытанні, віншаванні і навіны. "
                  "Адказы на вашы звароты па-ранейшаму будуць прыходзіць.",
     "Спасылка несапраўдная. Магчыма, яна скапіравана не цалкам.",
     "У нас нешта пайшло не так. Паспрабуйце яшчэ раз праз хвіліну."},
};

/* gateway_pages_words_for - the entry whose language starts the locale ("pl-PL" ->
 * pl); the first (English) otherwise.  Each table's first member is its
 * language, so one lookup serves every page's words. */
const void *gateway_pages_words_for(const void *table, size_t n, size_t size, const char *locale)
{
    const char *base = table;
    for (size_t i = 0; locale && i < n; i++) {
        const char *lang = *(const char *const *)(const void *)(base + i * size);
        if (strncmp(locale, lang, 2) == 0)
            return base + i * size;
    }
    return table;
}

/* s_words_for - the unsubscribe page's words for a locale */
static const s_words_t *s_words_for(const char *locale)
{
    return gateway_pages_words_for(s_words, sizeof s_words / sizeof s_words[0], sizeof s_words[0], locale);
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

/* gateway_pages_unsubscribe - GET and POST /u/TOKEN */
void gateway_pages_unsubscribe(gateway_req_t *r)
{
    const char *tok = r->url + 3;
    char *payload = NULL, *addr, *locale, *cid;
    if (s_unsub_token(r, tok, &payload, &addr, &locale, &cid)) {
        free(payload);
        const s_words_t *w = s_words_for(NULL);
        gateway_pages_text(r, 404, w->lang, w->title, NULL, w->gone);
        return;
    }
    const s_words_t *w = s_words_for(locale);
    buf_t addr_html = BUF_INIT, b = BUF_INIT;
    buf_html(&addr_html, addr);
    const char *a = addr_html.data ? addr_html.data : "";
    if (strcmp(r->method, "POST") == 0) {
        const char *body = r->body.data ? r->body.data : "";
        int one_click = strstr(body, "List-Unsubscribe=One-Click") != NULL;
        json_t *p = json_pack("{s:s,s:s}", "address", addr, "via", one_click ? "one-click" : "page");
        if (*cid)
            json_object_set_new(p, "customer_id", json_string(cid));
        const char *dot = strchr(tok, '.');
        char key[200];
        snprintf(key, sizeof key, "unsub:%.150s", dot ? dot + 1 : tok);
        json_t *events = json_pack("[{s:s,s:s,s:o}]", "type", "mail.unsubscribed", "key", key,
                                   "payload", p);
        char err[200];
        json_t *ok = gateway_append(r->gw, events, err);
        json_decref(events);
        if (!ok) {
            log_warn("event=unsubscribe_failed error=\"%s\"", err);
            r->retry_after = "60";
            gateway_pages_text(r, 503, w->lang, w->title, "err", w->error);
        } else {
            json_decref(ok);
            buf_printf(&b, "<h1>%s</h1><p>", w->title);
            buf_printf(&b, w->done, a);
            buf_puts(&b, "</p>");
            gateway_pages_show(r, 200, w->lang, w->title, b.data ? b.data : "");
        }
    } else {
        buf_printf(&b, "<h1>%s</h1><p>", w->title);
        buf_printf(&b, w->ask, a);
        buf_puts(&b, "</p><form method=\"post\"><button type=\"submit\">");
        buf_puts(&b, w->button);
        buf_puts(&b, "</button></form>");
        gateway_pages_show(r, 200, w->lang, w->title, b.data ? b.data : "");
    }
    buf_free(&b);
    buf_free(&addr_html);
    free(payload);
}
