/*
 * console_store.c - console.db: staff accounts and their sessions.
 *
 * users:    one row per account: its role, language, the password's
 *           Argon2id hash (crypto_pwhash_str form; never the password),
 *           whether it is disabled, and its failed sign-ins in the current
 *           window (fail_count since fail_since), so a restart does not
 *           reset the lockout.
 *           An account made with a one-time link has no password until the
 *           link is used: its hash is "!", which no password matches.
 * sessions: one row per signed-in browser.  The id is a BLAKE2b hash of the
 *           cookie's value, not the value: a copy of console.db does not
 *           sign anyone in.  csrf is the token every form of the session
 *           carries.  A session ends session_idle after it was last used or
 *           session_max after it began, whichever is first.
 *
 * links, audit, drafts: console_link.c and console_preview.c.
 *
 * Every function is called with the console's db_lock held (console.h):
 * the main thread (CONSOLE_USER_* commands) and the HTTP threads share one
 * connection.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "console.h"
#include "db.h"
#include "log.h"

const char *const console_store_migrations[] = {
    "CREATE TABLE users ("
    "  name TEXT PRIMARY KEY,"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'support', 'marketer')),"
    "  locale TEXT,"
    "  hash TEXT NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  created_by TEXT,"
    "  last_login_at INTEGER,"
    "  fail_count INTEGER NOT NULL DEFAULT 0,"
    "  fail_since INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE sessions ("
    "  id TEXT PRIMARY KEY,"
    "  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
    "  csrf TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  seen_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX sessions_user ON sessions(user);",
    /* 2: one-time links (console_link.c), the accounts' audit (who changed
     * which account, when) and reply drafts (console_preview.c) */
    "CREATE TABLE links ("
    "  id TEXT PRIMARY KEY,"
    "  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  used_at INTEGER"
    ");"
    "CREATE INDEX links_user ON links(user);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  by TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  user TEXT NOT NULL,"
    "  detail TEXT"
    ");"
    "CREATE TABLE drafts ("
    "  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
    "  case_id TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  saved_at INTEGER NOT NULL,"
    "  PRIMARY KEY (user, case_id)"
    ");",
    /* 3: an account's saved inbox filters (console_inbox.c): a name and
     * the inbox's query string */
    "CREATE TABLE saved_filters ("
    "  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  query TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (user, name)"
    ");",
    /* 4: an account's own email address, where its test sends go */
    "ALTER TABLE users ADD COLUMN email TEXT;",
    /* 5: whose each case is (feedback.tagged), so a customer's erasure
     * deletes the staff's drafts on their cases */
    "CREATE TABLE case_customers(case_id TEXT PRIMARY KEY, customer TEXT NOT NULL);"
    "CREATE INDEX case_customers_customer ON case_customers(customer);",
    NULL,
};

/* What customer.erased and free-text retention delete here (privacy.h):
 * the reply drafts on the customer's cases; the accounts are staff's */
static const char *const s_drafts[] = {
    "DELETE FROM drafts WHERE case_id IN"
    " (SELECT case_id FROM case_customers WHERE customer = ?1)",
    NULL,
};
static const char *const s_none[] = {NULL};
const privacy_sql_t console_store_privacy = {s_drafts, s_drafts, s_none};

/* console_store_tagged - feedback.tagged: whose the case is */
int console_store_tagged(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc;
    (void)c;
    const char *cs = json_string_value(json_object_get(ev->payload, "case"));
    const char *who = json_string_value(json_object_get(ev->payload, "customer_id"));
    if (!cs || !who || !*who)
        return 0;
    sqlite3_stmt *st =
        db_prepare(db, "INSERT OR IGNORE INTO case_customers(case_id, customer) VALUES(?, ?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, cs, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, who, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}

/* s_text - column i as text, "" for NULL */
static const char *s_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

int console_store_user_add(sqlite3 *db, const char *name, const char *role, const char *locale,
                           const char *hash, const char *by, int64_t now)
{
    sqlite3_stmt *st = db_prepare(db, "INSERT INTO users(name, role, locale, hash, created_at,"
                                      " created_by) VALUES(?, ?, ?, ?, ?, ?)"
                                      " ON CONFLICT(name) DO NOTHING");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
    if (locale && *locale)
        sqlite3_bind_text(st, 3, locale, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_text(st, 6, by, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? (sqlite3_changes(db) ? 0 : 1) : -1;
    db_finish(st);
    return rc;
}

json_t *console_store_user_list(sqlite3 *db)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT name, role, locale, disabled, created_at,"
                                      " last_login_at, (SELECT count(*) FROM sessions s"
                                      " WHERE s.user = u.name), email FROM users u"
                                      " ORDER BY name");
    if (!st)
        return NULL;
    json_t *list = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        char at[40];
        json_t *u = json_pack("{s:s,s:s,s:b,s:s,s:I}", "name", s_text(st, 0), "role",
                              s_text(st, 1), "disabled", sqlite3_column_int(st, 3),
                              "created_at", clock_format(sqlite3_column_int64(st, 4), at, sizeof at),
                              "sessions", (json_int_t)sqlite3_column_int64(st, 6));
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            json_object_set_new(u, "locale", json_string(s_text(st, 2)));
        if (sqlite3_column_type(st, 7) != SQLITE_NULL)
            json_object_set_new(u, "email", json_string(s_text(st, 7)));
        if (sqlite3_column_type(st, 5) != SQLITE_NULL)
            json_object_set_new(u, "last_login_at",
                                json_string(clock_format(sqlite3_column_int64(st, 5), at,
                                                         sizeof at)));
        json_array_append_new(list, u);
    }
    db_finish(st);
    return list;
}

/* s_end_sessions - delete name's sessions, and its one-time links (a
 * disable or a reset kills them too); how many sessions, or -1 */
static int s_end_sessions(sqlite3 *db, const char *name)
{
    if (console_link_kill(db, name))
        return -1;
    sqlite3_stmt *st = db_prepare(db, "DELETE FROM sessions WHERE user = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db) : -1;
    db_finish(st);
    return rc;
}

/* s_update_user - run sql (binding ?1 name, ?2 hash when given); then end
 * the account's sessions: their count, -1 no such account, -2 error */
static int s_update_user(sqlite3 *db, const char *sql, const char *name, const char *hash)
{
    if (db_begin(db))
        return -2;
    sqlite3_stmt *st = db_prepare(db, sql);
    if (!st) {
        db_rollback(db);
        return -2;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (hash)
        sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
    int ok = sqlite3_step(st) == SQLITE_DONE;
    int changed = sqlite3_changes(db);
    db_finish(st);
    int ended = ok && changed ? s_end_sessions(db, name) : 0;
    if (!ok || ended < 0) {
        db_rollback(db);
        return -2;
    }
    if (db_commit(db))
        return -2;
    return changed ? ended : -1;
}

int console_store_user_disable(sqlite3 *db, const char *name)
{
    return s_update_user(db, "UPDATE users SET disabled = 1 WHERE name = ?1", name, NULL);
}

int console_store_user_reset(sqlite3 *db, const char *name, const char *hash)
{
    return s_update_user(db,
                         "UPDATE users SET hash = ?2, disabled = 0, fail_count = 0,"
                         " fail_since = 0 WHERE name = ?1",
                         name, hash);
}

int console_store_user_email(sqlite3 *db, const char *name, const char *email)
{
    sqlite3_stmt *st = db_prepare(db, "UPDATE users SET email = ?2 WHERE name = ?1");
    if (!st)
        return -2;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (email && *email)
        sqlite3_bind_text(st, 2, email, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? (sqlite3_changes(db) ? 0 : -1) : -2;
    db_finish(st);
    return rc;
}

int console_store_user_email_get(sqlite3 *db, const char *name, char *out, size_t len)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT email FROM users WHERE name = ?");
    *out = '\0';
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, len, "%s", s_text(st, 0));
    db_finish(st);
    return *out ? 1 : 0;
}

long long console_store_users(sqlite3 *db)
{
    return db_int(db, "SELECT count(*) FROM users WHERE disabled = 0", -1);
}

int console_store_login_get(sqlite3 *db, const char *name, int64_t now, int failures,
                            int64_t window_ms, console_user_t *u, char *hash, size_t hlen,
                            int *locked_s)
{
    *locked_s = 0;
    sqlite3_stmt *st = db_prepare(db, "SELECT role, locale, hash, fail_count, fail_since"
                                      " FROM users WHERE name = ? AND disabled = 0");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        db_finish(st);
        return rc == SQLITE_DONE ? 0 : -1;
    }
    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "%s", name);
    snprintf(u->role, sizeof u->role, "%s", s_text(st, 0));
    snprintf(u->locale, sizeof u->locale, "%s", s_text(st, 1));
    snprintf(hash, hlen, "%s", s_text(st, 2));
    int64_t count = sqlite3_column_int64(st, 3), since = sqlite3_column_int64(st, 4);
    if (count >= failures && now < since + window_ms)
        *locked_s = (int)((since + window_ms - now + 999) / 1000);
    db_finish(st);
    return 1;
}

void console_store_login_failed(sqlite3 *db, const char *name, int64_t now, int64_t window_ms)
{
    sqlite3_stmt *st = db_prepare(
        db, "UPDATE users SET fail_count = CASE WHEN ?2 >= fail_since + ?3 THEN 1"
            " ELSE fail_count + 1 END, fail_since = CASE WHEN ?2 >= fail_since + ?3 THEN ?2"
            " ELSE fail_since END WHERE name = ?1");
    if (!st)
        return;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, window_ms);
    if (sqlite3_step(st) != SQLITE_DONE)
        log_warn("event=db_error op=login_failed error=\"%s\"", sqlite3_errmsg(db));
    db_finish(st);
}

void console_store_login_ok(sqlite3 *db, const char *name, int64_t now)
{
    sqlite3_stmt *st = db_prepare(db, "UPDATE users SET fail_count = 0, fail_since = 0,"
                                      " last_login_at = ?2 WHERE name = ?1");
    if (!st)
        return;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_step(st);
    db_finish(st);
}

int console_store_session_new(sqlite3 *db, const char *id, const char *user, const char *csrf,
                              int64_t now)
{
    sqlite3_stmt *st = db_prepare(db, "INSERT INTO sessions(id, user, csrf, created_at, seen_at)"
                                      " VALUES(?, ?, ?, ?, ?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, csrf, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, now);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}

int console_store_session_get(sqlite3 *db, const char *id, int64_t now, int64_t idle_ms,
                              int64_t max_ms, console_user_t *u)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT s.user, u.role, u.locale, s.csrf, s.created_at,"
                                      " s.seen_at, u.disabled FROM sessions s JOIN users u"
                                      " ON u.name = s.user WHERE s.id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        db_finish(st);
        return rc == SQLITE_DONE ? 0 : -1;
    }
    int64_t created = sqlite3_column_int64(st, 4), seen = sqlite3_column_int64(st, 5);
    int live = !sqlite3_column_int(st, 6) && now < seen + idle_ms && now < created + max_ms;
    if (live) {
        memset(u, 0, sizeof *u);
        snprintf(u->name, sizeof u->name, "%s", s_text(st, 0));
        snprintf(u->role, sizeof u->role, "%s", s_text(st, 1));
        snprintf(u->locale, sizeof u->locale, "%s", s_text(st, 2));
        snprintf(u->csrf, sizeof u->csrf, "%s", s_text(st, 3));
        snprintf(u->session, sizeof u->session, "%s", id);
    }
    db_finish(st);
    if (!live) {
        console_store_session_end(db, id);
        return 0;
    }
    st = db_prepare(db, "UPDATE sessions SET seen_at = ? WHERE id = ?");
    if (st) {
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_step(st);
        db_finish(st);
    }
    return 1;
}

void console_store_session_end(sqlite3 *db, const char *id)
{
    sqlite3_stmt *st = db_prepare(db, "DELETE FROM sessions WHERE id = ?");
    if (!st)
        return;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_step(st);
    db_finish(st);
}

/* console_store_sessions_sweep - delete the sessions that have ended (a
 * browser that never comes back leaves its row behind); how many */
int console_store_sessions_sweep(sqlite3 *db, int64_t now, int64_t idle_ms, int64_t max_ms)
{
    sqlite3_stmt *st = db_prepare(db, "DELETE FROM sessions WHERE seen_at + ?2 <= ?1"
                                      " OR created_at + ?3 <= ?1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, idle_ms);
    sqlite3_bind_int64(st, 3, max_ms);
    int rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db) : -1;
    db_finish(st);
    return rc;
}
