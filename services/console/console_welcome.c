/*
 * console_welcome.c - a one-time link's page (console_link.c says what the
 * links are):
 *
 *   GET  /welcome/TOKEN   the form: the new password twice, its minimum
 *                         length said; sets a short-lived cookie whose
 *                         value the form carries too (as /login does: no
 *                         session yet)
 *   POST /welcome/TOKEN   password, again, csrf: the password is set
 *                         (Argon2id), the link used, the account's other
 *                         sessions ended, then the person is signed in and
 *                         sent to their home page (303 /)
 *
 * A link used, expired or whose account was disabled answers 410, one
 * nobody made (or that died with a newer link, a reset or a disable) 404:
 * a page in the reader's language either way, saying to ask an admin for
 * a new link.  Attempts count against [console] login_rate per address,
 * as sign-ins do (429).
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "console.h"
#include "log.h"
#include "words.h"

#define S_COOKIE "hark_welcome"

/* s_token - the TOKEN of /welcome/TOKEN, or NULL when it cannot be one */
static const char *s_token(const console_req_t *r)
{
    const char *t = r->url + strlen("/welcome/");
    return strlen(t) == CONSOLE_TOKEN_HEX && strspn(t, "0123456789abcdef") == CONSOLE_TOKEN_HEX
               ? t
               : NULL;
}

/* s_chars - the characters (code points) of UTF-8 s */
static size_t s_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* s_gone - the page of a link that does not work: 404 unknown, 410 used
 * or expired */
static void s_gone(console_req_t *r, unsigned status)
{
    json_t *ctx = json_pack("{s:b,s:s}", "gone", 1, "text",
                            console_word(r, status == 410 ? "welcome_used" : "welcome_unknown"));
    console_page(r, status, "welcome", "welcome_title", ctx);
}

/* s_form - the form, with an error (a word key) beside the password */
static void s_form(console_req_t *r, unsigned status, const char *name, const char *error)
{
    char token[CONSOLE_TOKEN_HEX + 1], min[16];
    console_token(token);
    char c[200];
    snprintf(c, sizeof c, S_COOKIE "=%s; Path=/welcome/; HttpOnly; SameSite=Strict; Max-Age=3600%s",
             token, r->con->conf.secure ? "; Secure" : "");
    console_header(r, "Set-Cookie", c);
    snprintf(min, sizeof min, "%d", CONSOLE_PASSWORD_MIN);
    json_t *ctx = json_pack("{s:s,s:s,s:s,s:s}", "name", name, "welcome_csrf", token, "action",
                            r->url, "min", min);
    if (error)
        json_object_set_new(ctx, "error", json_string(console_word(r, error)));
    console_page(r, status, "welcome", "welcome_title", ctx);
}

/* s_look - the link of r: 1 live (its account into name), else 0 having
 * answered */
static int s_look(console_req_t *r, const char *token, char *name, size_t nlen)
{
    char id[CONSOLE_TOKEN_HEX + 1], locale[36];
    console_link_id(token, id);
    pthread_mutex_lock(&r->con->db_lock);
    int rc = console_link_get(r->con->db, id, clock_now_ms(), name, nlen, locale, sizeof locale);
    pthread_mutex_unlock(&r->con->db_lock);
    if (rc >= 1 && *locale) /* the page in the language the admin chose for them */
        snprintf(r->locale, sizeof r->locale, "%s", words_locale(r->con->words, locale));
    if (rc == 1)
        return 1;
    if (rc < 0)
        console_page_error(r, 503);
    else
        s_gone(r, rc == 2 ? 410 : 404);
    return 0;
}

/* s_post - set the password, use the link, sign in */
static void s_post(console_req_t *r, const char *token, const char *name)
{
    console_t *con = r->con;
    char csrf[CONSOLE_TOKEN_HEX + 2] = "", hash[crypto_pwhash_STRBYTES];
    char *pw = sodium_malloc(2 * (CONSOLE_PASSWORD_MAX + 1));
    if (!pw) {
        console_page_error(r, 503);
        return;
    }
    char *again = pw + CONSOLE_PASSWORD_MAX + 1;
    const char *body = r->body.data;
    size_t len = r->body.len;
    const char *cookie = console_http_cookie(r, S_COOKIE);
    const char *origin = console_http_header(r, "Origin");
    console_form_get(body, len, "csrf", 0, csrf, sizeof csrf);
    if ((origin && strcmp(origin, con->conf.origin) != 0) || !cookie ||
        strlen(cookie) != CONSOLE_TOKEN_HEX || strcmp(csrf, cookie) != 0) {
        log_warn("event=post_refused why=%s path=/welcome", origin && strcmp(origin,
                 con->conf.origin) ? "origin" : "csrf");
        console_page_error(r, 403);
        goto done;
    }
    int got = console_form_get(body, len, "password", 0, pw, CONSOLE_PASSWORD_MAX + 1);
    int got2 = console_form_get(body, len, "again", 0, again, CONSOLE_PASSWORD_MAX + 1);
    const char *error = got < 0 ? "welcome_too_long"
                        : got == 0 || s_chars(pw) < CONSOLE_PASSWORD_MIN ? "welcome_too_short"
                        : got2 != 1 || strcmp(pw, again) != 0 ? "welcome_mismatch"
                                                              : NULL;
    if (error) {
        s_form(r, 400, name, error);
        goto done;
    }
    /* slow by design (Argon2id): outside db_lock */
    if (crypto_pwhash_str(hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        console_page_error(r, 503);
        goto done;
    }
    char id[CONSOLE_TOKEN_HEX + 1], by[CONSOLE_NAME_MAX + 8];
    console_link_id(token, id);
    snprintf(by, sizeof by, "user:%s", name);
    int64_t now = clock_now_ms();
    pthread_mutex_lock(&con->db_lock);
    int rc = console_link_use(con->db, id, name, hash, now);
    if (rc == 0)
        console_audit(con->db, by, "link_used", name, NULL, now);
    pthread_mutex_unlock(&con->db_lock);
    if (rc != 0) {
        if (rc > 0)
            s_gone(r, 410);
        else
            console_page_error(r, 503);
        goto done;
    }
    if (console_auth_begin(r, name))
        goto done;
    log_info("event=link_used user=%s", log_value(name));
    console_header(r, "Set-Cookie", S_COOKIE "=; Path=/welcome/; HttpOnly; SameSite=Strict; "
                                    "Max-Age=0");
    console_redirect(r, "/");
done:
    sodium_memzero(hash, sizeof hash);
    sodium_free(pw);
}

/* console_welcome - GET and POST /welcome/TOKEN */
void console_welcome(console_req_t *r)
{
    const char *token = s_token(r);
    char name[CONSOLE_NAME_MAX + 1];
    if (strcmp(r->method, "POST") == 0 && console_auth_throttled(r))
        return;
    if (!token) {
        s_gone(r, 404);
        return;
    }
    if (!s_look(r, token, name, sizeof name))
        return;
    if (strcmp(r->method, "POST") == 0)
        s_post(r, token, name);
    else
        s_form(r, 200, name, NULL);
}
