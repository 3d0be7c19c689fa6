/*
 * console_auth.c - signing in and out, sessions, CSRF and the POST origin
 * check.
 *
 *   GET  /login[?next=PATH]  the form; sets a short-lived login cookie whose
 *                            value the form carries too (a CSRF token for
 *                            the one form that has no session yet)
 *   POST /login              username, password, csrf, next: Argon2id check
 *                            (crypto_pwhash_str_verify), then a session and
 *                            303 to next (a same-site path only) or /
 *   POST /logout             ends the session, 303 to /login
 *
 * Throttling, both answered 429 with Retry-After: per client address,
 * [console] login_rate attempts a minute (ratelimit.c); per account,
 * login_failures failures within login_lockout refuse it until the window
 * ends, counted in console.db so a restart does not reset them.  A name
 * nobody has is checked against a dummy hash, so the answer takes as long
 * and says the same ("wrong name or password") as for a real account.
 *
 * The session cookie holds 32 random bytes (hex); console.db keeps only
 * their BLAKE2b hash.  It is HttpOnly, SameSite=Strict, Path=/, and Secure
 * with the __Host- prefix when [console] public_url is https.  Every POST
 * of a signed-in page must carry the session's csrf field and, when the
 * browser sends Origin (all current ones do on POST), come from public_url.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "console.h"
#include "log.h"
#include "ratelimit.h"

#define S_PASSWORD_MAX 1024

void console_token(char *out)
{
    unsigned char raw[CONSOLE_TOKEN_HEX / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, CONSOLE_TOKEN_HEX + 1, raw, sizeof raw);
}

/* s_session_id - the stored id of a cookie value: BLAKE2b-256, hex */
static void s_session_id(const char *cookie, char *out)
{
    unsigned char h[CONSOLE_TOKEN_HEX / 2];
    crypto_generichash(h, sizeof h, (const unsigned char *)cookie, strlen(cookie), NULL, 0);
    sodium_bin2hex(out, CONSOLE_TOKEN_HEX + 1, h, sizeof h);
}

/* s_same - a and b are the same token (constant time for equal lengths) */
static int s_same(const char *a, const char *b)
{
    size_t n = a ? strlen(a) : 0;
    return a && b && n > 0 && n == strlen(b) && sodium_memcmp(a, b, n) == 0;
}

/* s_cookie_name - the session cookie's name: __Host- when Secure */
static const char *s_cookie_name(const console_t *con)
{
    return con->conf.secure ? "__Host-hark_console" : "hark_console";
}

/* s_set_cookie - Set-Cookie name=value with the flags; max_age < 0: a
 * session cookie, 0: delete it */
static void s_set_cookie(console_req_t *r, const char *name, const char *value, long max_age)
{
    char c[400];
    int n = snprintf(c, sizeof c, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s", name, value,
                     r->con->conf.secure ? "; Secure" : "");
    if (max_age >= 0 && n > 0 && (size_t)n < sizeof c)
        snprintf(c + n, sizeof c - (size_t)n, "; Max-Age=%ld", max_age);
    console_header(r, "Set-Cookie", c);
}

int console_auth_init(console_t *con)
{
    if (sodium_init() < 0) {
        log_error("event=sodium_failed");
        return -1;
    }
    /* a hash of a random password: what an unknown name is checked against */
    char pw[CONSOLE_TOKEN_HEX + 1];
    console_token(pw);
    if (crypto_pwhash_str(con->dummy_hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        log_error("event=sodium_failed error=\"out of memory for Argon2id\"");
        return -1;
    }
    con->login_rate = ratelimit_new(con->conf.login_rate, 60000, 4096);
    return con->login_rate ? 0 : -1;
}

void console_auth_fini(console_t *con)
{
    ratelimit_destroy(&con->login_rate);
}

int console_auth_session(console_req_t *r)
{
    const char *c = console_http_cookie(r, s_cookie_name(r->con));
    if (!c || strlen(c) != CONSOLE_TOKEN_HEX)
        return 0;
    char id[CONSOLE_TOKEN_HEX + 1];
    s_session_id(c, id);
    console_t *con = r->con;
    pthread_mutex_lock(&con->db_lock);
    int rc = console_store_session_get(con->db, id, clock_now_ms(), con->conf.session_idle_ms,
                                       con->conf.session_max_ms, &r->user);
    pthread_mutex_unlock(&con->db_lock);
    r->signed_in = rc == 1;
    return r->signed_in;
}

/* s_origin_ok - no Origin, or public_url's */
static int s_origin_ok(console_req_t *r)
{
    const char *o = console_http_header(r, "Origin");
    return !o || strcmp(o, r->con->conf.origin) == 0;
}

int console_auth_post_ok(console_req_t *r)
{
    char csrf[CONSOLE_TOKEN_HEX + 2];
    int got = console_form_get(r->body.data, r->body.len, "csrf", 0, csrf, sizeof csrf);
    const char *mv;
    size_t ml;
    if (console_multipart_get(r, "csrf", &mv, &ml, NULL, 0) == 1) { /* an upload (/import) */
        got = ml < sizeof csrf ? 1 : -1;
        snprintf(csrf, sizeof csrf, "%.*s", (int)(ml < sizeof csrf - 1 ? ml : sizeof csrf - 1), mv);
    }
    const char *why = !s_origin_ok(r) ? "origin" : got != 1 || !s_same(csrf, r->user.csrf)
                                                       ? "csrf"
                                                       : NULL;
    if (!why)
        return 1;
    log_warn("event=post_refused why=%s user=%s path=%s", why, log_value(r->user.name),
             log_value(r->url));
    console_page_error(r, 403);
    return 0;
}

/* s_next_ok - a same-site path to go to after signing in: "/..." but not
 * "//host" or "/\host", of URL-safe characters, not /login itself */
static int s_next_ok(const char *n)
{
    if (!n || n[0] != '/' || n[1] == '/' || n[1] == '\\' || strlen(n) > 200 ||
        strncmp(n, "/login", 6) == 0)
        return 0;
    for (const char *c = n; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("/-_.~?=&%", *c)))
            return 0;
    return 1;
}

void console_auth_to_login(console_req_t *r)
{
    buf_t b = BUF_INIT, here = BUF_INIT;
    buf_puts(&b, "/login");
    buf_puts(&here, r->url); /* the page asked for, its query kept (the inbox's filters) */
    console_http_query(r, &here);
    buf_putc(&here, '\0');
    if (strcmp(r->method, "GET") == 0 && strcmp(r->url, "/") != 0 && !buf_failed(&here) &&
        s_next_ok(here.data)) {
        buf_puts(&b, "?next=");
        console_url_arg(&b, here.data);
    }
    buf_free(&here);
    console_redirect(r, b.data ? b.data : "/login");
    buf_free(&b);
}

/* s_login_page - the form, with a fresh login cookie and an error (a word
 * key) when there is one */
static void s_login_page(console_req_t *r, unsigned status, const char *next, const char *error,
                         const char *name)
{
    char token[CONSOLE_TOKEN_HEX + 1];
    console_token(token);
    s_set_cookie(r, "hark_login", token, 3600);
    json_t *ctx = json_pack("{s:s}", "login_csrf", token);
    if (s_next_ok(next))
        json_object_set_new(ctx, "next", json_string(next));
    if (error)
        json_object_set_new(ctx, "error", json_string(console_word(r, error)));
    if (name && *name)
        json_object_set_new(ctx, "username", json_string(name));
    console_page(r, status, "login", "login_title", ctx);
}

/* s_too_many - 429 with Retry-After */
static void s_too_many(console_req_t *r, int retry_s)
{
    char s[24];
    snprintf(s, sizeof s, "%d", retry_s > 0 ? retry_s : 1);
    console_header(r, "Retry-After", s);
    console_page_error(r, 429);
}

const struct sockaddr *console_auth_peer(console_req_t *r, struct sockaddr_storage *ss,
                                         char *out, size_t len)
{
    const struct sockaddr *peer = console_http_peer(r, ss);
    snprintf(out, len, "-");
    if (peer)
        inet_ntop(peer->sa_family,
                  peer->sa_family == AF_INET6
                      ? (const void *)&((const struct sockaddr_in6 *)peer)->sin6_addr
                      : (const void *)&((const struct sockaddr_in *)peer)->sin_addr,
                  out, (socklen_t)len);
    return peer;
}

int console_auth_throttled(console_req_t *r)
{
    struct sockaddr_storage ss;
    char addr[64];
    const struct sockaddr *peer = console_auth_peer(r, &ss, addr, sizeof addr);
    int retry = 0;
    if (ratelimit_hit(r->con->login_rate, peer, clock_mono_ms(), &retry))
        return 0;
    log_warn("event=login_throttled addr=%s path=%s retry_s=%d", addr, log_value(r->url), retry);
    s_too_many(r, retry);
    return 1;
}

int console_auth_begin(console_req_t *r, const char *name)
{
    console_t *con = r->con;
    char token[CONSOLE_TOKEN_HEX + 1], id[CONSOLE_TOKEN_HEX + 1], csrf[CONSOLE_TOKEN_HEX + 1];
    console_token(token);
    console_token(csrf);
    s_session_id(token, id);
    int64_t now = clock_now_ms();
    pthread_mutex_lock(&con->db_lock);
    int rc = console_store_session_new(con->db, id, name, csrf, now);
    if (rc == 0)
        console_store_login_ok(con->db, name, now);
    pthread_mutex_unlock(&con->db_lock);
    if (rc) {
        console_page_error(r, 503);
        return -1;
    }
    s_set_cookie(r, s_cookie_name(con), token, -1);
    return 0;
}

/* s_login_post - check the form, the throttles and the password */
static void s_login_post(console_req_t *r)
{
    console_t *con = r->con;
    char name[CONSOLE_NAME_MAX + 2] = "", next[256] = "", csrf[CONSOLE_TOKEN_HEX + 2] = "";
    char *pw = sodium_malloc(S_PASSWORD_MAX + 1);
    if (!pw) {
        console_page_error(r, 503);
        return;
    }
    const char *body = r->body.data;
    size_t len = r->body.len;
    int pw_ok = console_form_get(body, len, "password", 0, pw, S_PASSWORD_MAX + 1) == 1;
    int name_ok = console_form_get(body, len, "username", 0, name, sizeof name) == 1;
    if (console_form_get(body, len, "next", 0, next, sizeof next) != 1)
        next[0] = '\0';
    console_form_get(body, len, "csrf", 0, csrf, sizeof csrf);
    if (!s_origin_ok(r) || !s_same(csrf, console_http_cookie(r, "hark_login"))) {
        log_warn("event=post_refused why=%s path=/login", s_origin_ok(r) ? "csrf" : "origin");
        console_page_error(r, 403);
        goto done;
    }
    struct sockaddr_storage ss;
    char addr[64];
    console_auth_peer(r, &ss, addr, sizeof addr);
    if (console_auth_throttled(r))
        goto done;
    if (!name_ok || !console_name_ok(name) || !pw_ok || !*pw) {
        s_login_page(r, 200, next, "login_failed", name_ok ? name : NULL);
        goto done;
    }
    console_user_t u;
    char hash[160] = "";
    int locked = 0;
    int64_t now = clock_now_ms();
    pthread_mutex_lock(&con->db_lock);
    int found = console_store_login_get(con->db, name, now, con->conf.login_failures,
                                        con->conf.lockout_ms, &u, hash, sizeof hash, &locked);
    pthread_mutex_unlock(&con->db_lock);
    if (found == 1 && locked > 0) {
        log_warn("event=login_locked user=%s addr=%s retry_s=%d", log_value(name), addr, locked);
        s_too_many(r, locked);
        goto done;
    }
    /* slow by design (Argon2id): outside db_lock, so others go on.  An
     * account whose one-time link is not used yet has no password ("!"):
     * checked against the dummy, so it takes as long as any other */
    int real = found == 1 && strncmp(hash, "$argon2id$", 10) == 0;
    int good = crypto_pwhash_str_verify(real ? hash : con->dummy_hash, pw, strlen(pw)) == 0 &&
               real;
    if (!(found == 1 && good)) {
        if (found == 1) {
            pthread_mutex_lock(&con->db_lock);
            console_store_login_failed(con->db, name, now, con->conf.lockout_ms);
            pthread_mutex_unlock(&con->db_lock);
        }
        log_warn("event=login_failed user=%s addr=%s", log_value(name), addr);
        s_login_page(r, 200, next, "login_failed", name);
        goto done;
    }
    if (console_auth_begin(r, name))
        goto done;
    log_info("event=login user=%s role=%s addr=%s", log_value(name), u.role, addr);
    s_set_cookie(r, "hark_login", "", 0);
    console_redirect(r, s_next_ok(next) ? next : "/");
done:
    sodium_free(pw);
}

void console_auth_login(console_req_t *r)
{
    if (strcmp(r->method, "POST") == 0) {
        s_login_post(r);
        return;
    }
    const char *next = console_http_arg(r, "next");
    if (console_auth_session(r)) {
        console_redirect(r, s_next_ok(next) ? next : "/");
        return;
    }
    s_login_page(r, 200, next, NULL, NULL);
}

void console_auth_logout(console_req_t *r)
{
    console_t *con = r->con;
    pthread_mutex_lock(&con->db_lock);
    console_store_session_end(con->db, r->user.session);
    pthread_mutex_unlock(&con->db_lock);
    log_info("event=logout user=%s", log_value(r->user.name));
    s_set_cookie(r, s_cookie_name(con), "", 0);
    console_redirect(r, "/login");
}
