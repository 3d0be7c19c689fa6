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
 *        403.  At most [intake] form_rate POSTs a minute per client address
 *        (429).  Bad input (text not UTF-8 or longer than 4000 characters,
 *        an unknown reason, neither reason nor text, a bad email) shows the
 *        form again with the error (400) and stores nothing.  A good one
 *        journals a complaint/cancellation (channel "web") and only then
 *        answers 200; its key hashes the csrf token and the fields, so the
 *        same form re-POSTed unchanged is stored once.
 *   TOKEN is customer_token_make() of the customer id and locale, e.g. from
 *   `hark cases link CUSTOMER`.
 *
 * The cases admin API is gateway_cases.c, the reasons report
 * gateway_reports.c.
 */
#include <arpa/inet.h>
#include <nettle/sha2.h>
#include <netinet/in.h>
#include <pthread.h>
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
#include "reasons.h"
#include "token.h"
#include "utf8.h"

#define S_TEXT_MAX 4000       /* characters a form takes */
#define S_RATE_SLOTS 1024     /* client addresses tracked at once */
#define S_CSRF_TTL_S 86400

typedef struct {
    char ip[64];
    int64_t window; /* the minute (mono ms / 60000) counted */
    int count;
} s_slot_t;

typedef struct {
    pthread_mutex_t mu;
    s_slot_t slots[S_RATE_SLOTS];
    int limit;
} s_rate_t;

static void s_report(const char *msg, void *arg)
{
    (void)arg;
    log_error("event=bad_reasons error=\"%s\"", msg);
}

int gateway_intake_init(gateway_t *gw)
{
    s_rate_t *rate = calloc(1, sizeof *rate);
    if (!rate || pthread_mutex_init(&rate->mu, NULL)) {
        free(rate);
        return -1;
    }
    rate->limit = gw->conf.form_rate;
    gw->form_rate = rate;
    if (!gw->conf.intake_on)
        return 0;
    int errors = 0;
    gw->reasons = reasons_load(gw->conf.reasons, s_report, NULL, &errors);
    return gw->reasons && !errors ? 0 : -1;
}

void gateway_intake_fini(gateway_t *gw)
{
    reasons_destroy(&gw->reasons);
    s_rate_t *rate = gw->form_rate;
    if (rate) {
        pthread_mutex_destroy(&rate->mu);
        free(rate);
    }
    gw->form_rate = NULL;
}

int gateway_intake_check(gateway_req_t *r, const char *type, const json_t *data, long index)
{
    if (!r->gw->reasons || (strcmp(type, "complaint") != 0 && strcmp(type, "cancellation") != 0))
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
    const char *lang;
    const char *feedback_title, *cancel_title;
    const char *reason, *choose, *text, *email, *send;
    const char *thanks, *saved;
    const char *refused, *bad_link, *too_large, *too_many;
    const char *bad_text, *long_text, *bad_reason, *empty, *bad_email, *error;
} s_words_t;

static const s_words_t s_words[] = {
    {"en", "Tell us what went wrong", "Why are you cancelling?", "Reason", "Choose…",
     "Tell us more (optional if you chose a reason)", "Your email address", "Send",
     "Thank you!", "We have received your message and will get back to you.",
     "This form could not be accepted. Please open the page again.",
     "This link is not valid. It may have been copied incompletely.",
     "The message is too long.", "Too many attempts. Please try again in a minute.",
     "The text could not be read. Please type it again.",
     "The text is too long (at most 4000 characters).", "Please choose a reason from the list.",
     "Please choose a reason or tell us what happened.", "Please enter a valid email address.",
     "Something went wrong on our side and nothing was saved. Please try again in a minute."},
    {"ru", "Расскажите, что пошло не так", "Почему вы отменяете?", "Причина", "Выберите…",
     "Расскажите подробнее (необязательно, если выбрана причина)", "Ваш адрес email",
     "Отправить", "Спасибо!", "Мы получили ваше сообщение и ответим вам.",
     "Не удалось принять форму. Откройте страницу ещё раз.",
     "Ссылка недействительна. Возможно, она скопирована не полностью.",
     "Сообщение слишком длинное.", "Слишком много попыток. Попробуйте через минуту.",
     "Не удалось прочитать текст. Пожалуйста, напишите его ещё раз.",
     "Текст слишком длинный (не больше 4000 символов).", "Выберите причину из списка.",
     "Выберите причину или расскажите, что случилось.", "Введите правильный адрес email.",
     "У нас что-то пошло не так, ничего не сохранено. Попробуйте через минуту."},
    {"pl", "Powiedz nam, co poszło nie tak", "Dlaczego rezygnujesz?", "Powód", "Wybierz…",
     "Opowiedz więcej (opcjonalnie, jeśli wybrano powód)", "Twój adres e-mail", "Wyślij",
     "Dziękujemy!", "Otrzymaliśmy Twoją wiadomość i odpowiemy.",
     "Nie udało się przyjąć formularza. Otwórz stronę ponownie.",
     "Ten link jest nieprawidłowy. Być może nie został skopiowany w całości.",
     "Wiadomość jest za długa.", "Zbyt wiele prób. Spróbuj ponownie za minutę.",
     "Nie udało się odczytać tekstu. Wpisz go ponownie.",
     "Tekst jest za długi (najwyżej 4000 znaków).", "Wybierz powód z listy.",
     "Wybierz powód lub opisz, co się stało.", "Podaj prawidłowy adres e-mail.",
     "Coś poszło nie tak po naszej stronie i nic nie zapisano. Spróbuj za minutę."},
    {"zh", "告诉我们出了什么问题", "您为什么要取消？", "原因", "请选择…",
     "详细说明（已选择原因时可不填）", "您的电子邮箱", "提交", "谢谢！",
     "我们已收到您的留言，会尽快回复您。", "无法接受此表单，请重新打开页面。",
     "此链接无效，可能没有完整复制。", "留言太长了。", "尝试次数太多，请一分钟后再试。",
     "无法读取文字，请重新输入。", "文字太长（最多 4000 个字符）。", "请从列表中选择原因。",
     "请选择原因或告诉我们发生了什么。", "请输入有效的电子邮箱。",
     "我们这边出了点问题，没有保存任何内容。请一分钟后再试。"},
    {"be", "Раскажыце, што пайшло не так", "Чаму вы адмяняеце?", "Прычына", "Выберыце…",
     "Раскажыце падрабязней (неабавязкова, калі выбрана прычына)", "Ваш адрас email",
     "Адправіць", "Дзякуй!", "Мы атрымалі ваша паведамленне і адкажам вам.",
     "Не ўдалося прыняць форму. Адкрыйце старонку яшчэ раз.",
     "Спасылка несапраўдная. Магчыма, яна скапіравана не цалкам.",
     "Паведамленне занадта доўгае.", "Занадта шмат спроб. Паспрабуйце праз хвіліну.",
     "Не ўдалося прачытаць тэкст. Калі ласка, напішыце яго яшчэ раз.",
     "Тэкст занадта доўгі (не больш за 4000 знакаў).", "Выберыце прычыну са спісу.",
     "Выберыце прычыну або раскажыце, што здарылася.", "Увядзіце правільны адрас email.",
     "У нас нешта пайшло не так, нічога не захавана. Паспрабуйце праз хвіліну."},
};

typedef struct {
    const s_words_t *w;
    int cancel;
    const char *token;    /* "" without */
    char cid[129];        /* "" for an anonymous /feedback */
    char locale[36];
    const char *reason, *text, *email;
    const char *csrf;     /* the POST's csrf field (checked) */
    const char *err_field, *err_text;
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
    const s_words_t *w = f->w;
    const reasons_t *rs = r->gw->reasons;
    buf_t b = BUF_INIT;
    const char *title = f->cancel ? w->cancel_title : w->feedback_title;
    buf_puts(&b, "<h1>");
    buf_html(&b, title);
    buf_puts(&b, "</h1>");
    if (f->err_field) {
        buf_printf(&b, "<p class=\"err\" id=\"error-%s\" data-field=\"%s\">", f->err_field,
                   f->err_field);
        buf_html(&b, f->err_text);
        buf_puts(&b, "</p>");
    }
    buf_puts(&b, "<form method=\"post\" action=\"");
    buf_puts(&b, f->cancel ? "cancel" : "feedback");
    if (*f->token) {
        buf_puts(&b, "?customer=");
        buf_html(&b, f->token);
    }
    buf_puts(&b, "\"><p><label for=\"reason\">");
    buf_html(&b, w->reason);
    buf_puts(&b, "</label></p><select id=\"reason\" name=\"reason\"><option value=\"\">");
    buf_html(&b, w->choose);
    buf_puts(&b, "</option>");
    for (size_t i = 0; rs && i < reasons_count(rs); i++) {
        const char *code = reasons_get(rs, i)->code;
        buf_puts(&b, "<option value=\"");
        buf_html(&b, code);
        buf_puts(&b, f->reason && strcmp(f->reason, code) == 0 ? "\" selected>" : "\">");
        buf_html(&b, reasons_label(rs, i, w->lang));
        buf_puts(&b, "</option>");
    }
    buf_puts(&b, "</select><p><label for=\"text\">");
    buf_html(&b, w->text);
    buf_printf(&b, "</label></p><textarea id=\"text\" name=\"text\" maxlength=\"%d\">",
               S_TEXT_MAX);
    buf_html(&b, f->text ? f->text : "");
    buf_puts(&b, "</textarea>");
    if (!*f->cid) {
        buf_puts(&b, "<p><label for=\"email\">");
        buf_html(&b, w->email);
        buf_puts(&b, "</label></p><input type=\"email\" id=\"email\" name=\"email\" required"
                     " value=\"");
        buf_html(&b, f->email ? f->email : "");
        buf_puts(&b, "\">");
    }
    char *csrf = s_csrf(r->gw, f);
    buf_puts(&b, "<input type=\"hidden\" name=\"csrf\" value=\"");
    buf_html(&b, csrf ? csrf : "");
    buf_puts(&b, "\"><p><button type=\"submit\">");
    buf_html(&b, w->send);
    buf_puts(&b, "</button></p></form>");
    free(csrf);
    gateway_pages_show(r, status, w->lang, title, b.data ? b.data : "");
    buf_free(&b);
}

/* s_rate_ok - count one POST from this client; 0 when over the limit */
static int s_rate_ok(gateway_req_t *r)
{
    s_rate_t *rate = r->gw->form_rate;
    char ip[64] = "?";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
    }
    unsigned h = 5381;
    for (const char *p = ip; *p; p++)
        h = h * 33 + (unsigned char)*p;
    int64_t minute = clock_mono_ms() / 60000;
    pthread_mutex_lock(&rate->mu);
    s_slot_t *s = &rate->slots[h % S_RATE_SLOTS];
    if (strcmp(s->ip, ip) != 0 || s->window != minute) { /* a new minute, or evicted */
        snprintf(s->ip, sizeof s->ip, "%s", ip);
        s->window = minute;
        s->count = 0;
    }
    int ok = ++s->count <= rate->limit;
    pthread_mutex_unlock(&rate->mu);
    return ok;
}

/* s_email_ok - a plausible address (the event's schema checks it too) */
static int s_email_ok(const char *e)
{
    const char *at = strchr(e, '@');
    return at && at > e && strchr(at + 1, '.') && !strpbrk(e, " <>\"(),;:\\[]\r\n\t") &&
           strlen(e) <= 254 && !strchr(at + 1, '@');
}

/* s_record - journal the complaint/cancellation; 0 once committed, 1 when
 * the event would not pass its schema (nothing stored), -1 on failure */
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
        snprintf(id, sizeof id, "web:%.120s", low);
        json_t *c = json_pack("{s:s,s:s,s:s}", "id", id, "email", f->email, "locale", f->w->lang);
        json_object_set_new(p, "customer", c);
    }
    if (*f->reason)
        json_object_set_new(p, "reason_code", json_string(f->reason));
    if (*f->text)
        json_object_set_new(p, "text", json_string(f->text));
    /* what the form made must pass the same schema as an ingested event
     * (the address above all: s_email_ok is only a first filter) */
    const char *type = f->cancel ? "cancellation" : "complaint";
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
    json_t *ok = events ? gateway_append(r->gw, events, err) : NULL;
    json_decref(events);
    if (!ok) {
        log_warn("event=intake_form_failed error=\"%s\"", err);
        return -1;
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
    const s_words_t *w = f->w;
    const char *title = f->cancel ? w->cancel_title : w->feedback_title;
    if (r->too_large) {
        gateway_pages_text(r, 413, w->lang, title, "err", w->too_large);
        return;
    }
    if (!s_rate_ok(r)) {
        r->retry_after = "60";
        gateway_pages_text(r, 429, w->lang, title, "err", w->too_many);
        return;
    }
    const char *body = r->body.data ? r->body.data : "";
    size_t blen = r->body.len;
    buf_t csrf = BUF_INIT, reason = BUF_INIT, raw = BUF_INIT, text = BUF_INIT, email = BUF_INIT;
    if (!gateway_survey_origin_ok(r) || gateway_survey_form_field(body, blen, "csrf", &csrf) != 1 ||
        !csrf.data || strlen(csrf.data) != csrf.len || !s_csrf_ok(r->gw, f, csrf.data)) {
        log_info("event=intake_form_refused origin=%s",
                 gateway_header(r, "Origin") ? "other" : "none");
        gateway_pages_text(r, 403, w->lang, title, "err", w->refused);
        goto done;
    }
    f->csrf = csrf.data;
    int has_reason = gateway_survey_form_field(body, blen, "reason", &reason);
    int has_text = gateway_survey_form_field(body, blen, "text", &raw);
    int has_email = gateway_survey_form_field(body, blen, "email", &email);
    f->reason = has_reason == 1 && reason.data && strlen(reason.data) == reason.len ? reason.data
                                                                                   : "";
    f->email = has_email == 1 && email.data && strlen(email.data) == email.len ? email.data : "";
    f->text = "";
    if (has_text < 0 ||
        (has_text == 1 && raw.len &&
         (strlen(raw.data) != raw.len || gateway_survey_clean_text(raw.data, raw.len, &text)))) {
        f->err_field = "text";
        f->err_text = w->bad_text;
    } else if (has_text == 1 && raw.len && utf8_count(raw.data, raw.len) > S_TEXT_MAX) {
        f->err_field = "text";
        f->err_text = w->long_text;
    } else {
        f->text = text.data ? text.data : "";
    }
    if (!f->err_field && *f->reason && reasons_find(r->gw->reasons, f->reason) < 0) {
        f->err_field = "reason";
        f->err_text = w->bad_reason;
        f->reason = "";
    } else if (!f->err_field && !*f->reason && !*f->text) {
        f->err_field = "reason";
        f->err_text = w->empty;
    } else if (!f->err_field && !*f->cid && !s_email_ok(f->email)) {
        f->err_field = "email";
        f->err_text = w->bad_email;
    }
    if (f->err_field) {
        s_show(r, 400, f);
        goto done;
    }
    int rc = s_record(r, f);
    if (rc > 0) {
        f->err_field = "email";
        f->err_text = w->bad_email;
        s_show(r, 400, f);
        goto done;
    }
    if (rc) {
        r->retry_after = "60";
        gateway_pages_text(r, 503, w->lang, title, "err", w->error);
        goto done;
    }
    gateway_pages_text(r, 200, w->lang, w->thanks, "ok", w->saved);
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
    const char *lang = gateway_arg(r, "lang");
    f.w = gateway_pages_words_for(s_words, sizeof s_words / sizeof s_words[0], sizeof s_words[0],
                       *f.locale ? f.locale : lang);
    if (!r->gw->reasons) {
        gateway_pages_text(r, 404, f.w->lang, f.w->feedback_title, NULL, f.w->bad_link);
        return;
    }
    if (bad || (f.cancel && !tok)) { /* cancelling needs to know who */
        f.cid[0] = '\0';
        gateway_pages_text(r, 404, f.w->lang, f.cancel ? f.w->cancel_title : f.w->feedback_title,
                     NULL, f.w->bad_link);
        return;
    }
    f.token = tok ? tok : "";
    if (strcmp(r->method, "POST") == 0)
        s_post(r, &f);
    else
        s_show(r, 200, &f);
}
