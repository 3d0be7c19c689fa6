/*
 * console_control.c - [console] control: the staff accounts, for `hark
 * user` (CONSOLE_USER_ADD, _LIST, _DISABLE, _RESET, _SET), and the status.
 *
 * Why a control socket and not journaled user.* events: the journal is
 * append-only and every service may read it, so a password hash written
 * there could never be taken back (a reset would leave the old hash for
 * anyone to crack offline), and accounts are no one's business but the
 * console's.  So hark-console is the only writer of its accounts, as of
 * everything in console.db, and the CLI asks it.  The CLI hashes the
 * password itself (Argon2id, crypto_pwhash_str): the password never crosses
 * a socket, and the console keeps only the hash.  Or, with link (`--link`),
 * no password at all: the console makes a one-time link (console_link.c)
 * and answers it, for the admin to give the person, who chooses their own.
 * Each change is logged and kept in the audit (console_link.c) with who
 * made it (by: "cli:<user>").
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "console.h"
#include "log.h"
#include "mailbox.h"

/* s_locale_ok - a locale tag as CONSOLE_USER_ADD's pattern says */
static int s_locale_ok(const char *s)
{
    size_t n = strlen(s), first = strcspn(s, "-_");
    if (n > 35 || first < 2 || first > 8)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!(alpha || (i > first && ((c >= '0' && c <= '9') || c == '-' || c == '_'))))
            return 0;
    }
    return 1;
}

/* s_hash_ok - an Argon2id hash in crypto_pwhash_str form */
static int s_hash_ok(const char *h)
{
    return h && strncmp(h, "$argon2id$", 10) == 0 && strlen(h) < 128;
}

/* s_link_reply - a one-time link's URL and end into a reply (none: none) */
static void s_link_reply(json_t *ok, const char *url, int64_t now)
{
    char at[40];
    if (!*url)
        return;
    json_object_set_new(ok, "link", json_string(url));
    json_object_set_new(ok, "expires_at",
                        json_string(clock_format(now + CONSOLE_LINK_MS, at, sizeof at)));
}

json_t *console_control_user_add(service_t *svc, const json_t *req, service_err_t *err)
{
    console_t *con = service_state(svc);
    const char *name = json_string_value(json_object_get(req, "name"));
    const char *role = json_string_value(json_object_get(req, "role"));
    const char *locale = json_string_value(json_object_get(req, "locale"));
    const char *hash = json_string_value(json_object_get(req, "hash"));
    const char *by = json_string_value(json_object_get(req, "by"));
    if (!console_name_ok(name))
        return service_fail(err, "invalid_request", "name: 1-64 of A-Z a-z 0-9 . _ @ -");
    if (!role || (strcmp(role, "admin") && strcmp(role, "support") && strcmp(role, "marketer")))
        return service_fail(err, "invalid_request", "role: admin, support or marketer");
    if (locale && !s_locale_ok(locale))
        return service_fail(err, "invalid_request", "locale: a language tag such as en or pl-PL");
    int link = json_is_true(json_object_get(req, "link"));
    if (link == (hash != NULL) || (hash && !s_hash_ok(hash)))
        return service_fail(err, "invalid_request", "hash: an Argon2id hash, or link: true");
    if (!by || !*by)
        return service_fail(err, "invalid_request", "by: who adds the account");
    const char *email = json_string_value(json_object_get(req, "email"));
    if (email && !mailbox_valid(email, strlen(email), 0))
        return service_fail(err, "invalid_request", "email: an address like name@example.com");
    char url[600] = "";
    int64_t now = clock_now_ms();
    pthread_mutex_lock(&con->db_lock);
    int rc = console_store_user_add(con->db, name, role, locale, link ? "!" : hash, by, now);
    if (rc == 0)
        console_audit(con->db, by, "added", name, role, now);
    if (rc == 0 && email && console_store_user_email(con->db, name, email))
        rc = -1;
    if (rc == 0 && link && console_link_new(con, name, now, url, sizeof url))
        rc = -1;
    pthread_mutex_unlock(&con->db_lock);
    if (rc == 1)
        return service_fail(err, "conflict", "there is an account named %s already", name);
    if (rc < 0)
        return NULL;
    log_info("event=user_added user=%s role=%s link=%s by=%s", log_value(name), role,
             link ? "yes" : "no", log_value(by));
    json_t *ok = json_pack("{s:s,s:s}", "name", name, "role", role);
    s_link_reply(ok, url, now);
    return ok;
}

json_t *console_control_user_list(service_t *svc, const json_t *req, service_err_t *err)
{
    (void)req, (void)err;
    console_t *con = service_state(svc);
    pthread_mutex_lock(&con->db_lock);
    json_t *users = console_store_user_list(con->db);
    pthread_mutex_unlock(&con->db_lock);
    return users ? json_pack("{s:o}", "users", users) : NULL;
}

/* s_change - disable or reset name (hash: the new password's) */
static json_t *s_change(service_t *svc, const json_t *req, service_err_t *err, int reset)
{
    console_t *con = service_state(svc);
    const char *name = json_string_value(json_object_get(req, "name"));
    const char *hash = json_string_value(json_object_get(req, "hash"));
    const char *by = json_string_value(json_object_get(req, "by"));
    if (!console_name_ok(name))
        return service_fail(err, "invalid_request", "name: 1-64 of A-Z a-z 0-9 . _ @ -");
    int link = reset && json_is_true(json_object_get(req, "link"));
    if (reset && (link == (hash != NULL) || (hash && !s_hash_ok(hash))))
        return service_fail(err, "invalid_request", "hash: an Argon2id hash, or link: true");
    if (!by || !*by)
        return service_fail(err, "invalid_request", "by: who changes the account");
    char url[600] = "";
    int64_t now = clock_now_ms();
    pthread_mutex_lock(&con->db_lock);
    int ended = reset ? console_store_user_reset(con->db, name, link ? "!" : hash)
                      : console_store_user_disable(con->db, name);
    if (ended >= 0)
        console_audit(con->db, by, reset ? "reset" : "disabled", name, NULL, now);
    if (ended >= 0 && link && console_link_new(con, name, now, url, sizeof url))
        ended = -2;
    pthread_mutex_unlock(&con->db_lock);
    if (ended == -1)
        return service_fail(err, "not_found", "no account named %s", name);
    if (ended < 0)
        return NULL;
    log_info("event=%s user=%s sessions_ended=%d link=%s by=%s",
             reset ? "user_reset" : "user_disabled", log_value(name), ended, link ? "yes" : "no",
             log_value(by));
    json_t *ok = json_pack("{s:s,s:i}", "name", name, "sessions_ended", ended);
    s_link_reply(ok, url, now);
    return ok;
}

json_t *console_control_user_disable(service_t *svc, const json_t *req, service_err_t *err)
{
    return s_change(svc, req, err, 0);
}

json_t *console_control_user_reset(service_t *svc, const json_t *req, service_err_t *err)
{
    return s_change(svc, req, err, 1);
}

void console_control_status(service_t *svc, json_t *body)
{
    console_t *con = service_state(svc);
    if (!con)
        return;
    pthread_mutex_lock(&con->db_lock);
    long long n = console_store_users(con->db);
    pthread_mutex_unlock(&con->db_lock);
    json_object_set_new(body, "detail", json_pack("{s:I}", "accounts", (json_int_t)n));
}

/* console_control_user_set - CONSOLE_USER_SET {name, email, by}: the
 * account's own address ("" removes it), by the shared address rule */
json_t *console_control_user_set(service_t *svc, const json_t *req, service_err_t *err)
{
    console_t *con = service_state(svc);
    const char *name = json_string_value(json_object_get(req, "name"));
    const char *email = json_string_value(json_object_get(req, "email"));
    const char *by = json_string_value(json_object_get(req, "by"));
    if (!console_name_ok(name) || !email || !by || !*by)
        return service_fail(err, "invalid_request", "name, email and by are needed");
    if (*email && !mailbox_valid(email, strlen(email), 0))
        return service_fail(err, "invalid_request", "email: an address like name@example.com");
    pthread_mutex_lock(&con->db_lock);
    int rc = console_store_user_email(con->db, name, email);
    if (rc == 0)
        console_audit(con->db, by, "changed", name, *email ? email : "email removed",
                      clock_now_ms());
    pthread_mutex_unlock(&con->db_lock);
    if (rc == -1)
        return service_fail(err, "not_found", "no account named %s", name);
    if (rc < 0)
        return NULL;
    log_info("event=user_email_set user=%s by=%s", log_value(name), log_value(by));
    json_t *ok = json_pack("{s:s}", "name", name);
    if (*email)
        json_object_set_new(ok, "email", json_string(email));
    return ok;
}
