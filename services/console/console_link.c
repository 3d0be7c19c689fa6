/*
 * console_link.c - one-time links, and the audit of account changes; both
 * in console.db.
 *
 * A one-time link (`hark user add|reset --link`, and the /users page) lets
 * a new or reset account choose its own password, so the admin never
 * types or learns it: [console] public_url + /welcome/TOKEN.  TOKEN is 32
 * random bytes (libsodium), hex; console.db keeps only its BLAKE2b hash,
 * like a session's, so a copy of the file opens nothing.  A link works
 * once, for CONSOLE_LINK_MS (24 hours), and dies when its account is
 * disabled or reset again, or a newer link is made for it (each account
 * has at most one live link).  A used link's row stays until then, so its
 * page can say "already used" (410) rather than "no such link" (404).
 *
 * Why an audit table and not journaled events: accounts are kept out of
 * the journal on purpose (console_control.c says why), so who changed
 * which account, and when, is kept beside them: one row per change, by
 * "user:NAME" (the /users page) or "cli:USER" (`hark user`), shown on
 * /users.
 *
 * Every function is called with the console's db_lock held.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "console.h"
#include "db.h"
#include "log.h"

/* console_link_id - the stored id of a link's token: BLAKE2b-256, hex */
void console_link_id(const char *token, char *out)
{
    unsigned char h[CONSOLE_TOKEN_HEX / 2];
    crypto_generichash(h, sizeof h, (const unsigned char *)token, strlen(token), NULL, 0);
    sodium_bin2hex(out, CONSOLE_TOKEN_HEX + 1, h, sizeof h);
}

int console_link_kill(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = db_prepare(db, "DELETE FROM links WHERE user = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}

int console_link_new(console_t *con, const char *name, int64_t now, char *url, size_t ulen)
{
    char token[CONSOLE_TOKEN_HEX + 1], id[CONSOLE_TOKEN_HEX + 1];
    console_token(token);
    console_link_id(token, id);
    if (db_begin(con->db))
        return -1;
    if (console_link_kill(con->db, name)) {
        db_rollback(con->db);
        return -1;
    }
    sqlite3_stmt *st = db_prepare(con->db, "INSERT INTO links(id, user, created_at, expires_at)"
                                           " VALUES(?, ?, ?, ?)");
    if (!st) {
        db_rollback(con->db);
        return -1;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, now + CONSOLE_LINK_MS);
    int ok = sqlite3_step(st) == SQLITE_DONE;
    db_finish(st);
    if (!ok || db_commit(con->db)) {
        db_rollback(con->db);
        return -1;
    }
    /* public_url without its trailing slashes, then the path */
    const char *u = con->conf.public_url;
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
        n--;
    snprintf(url, ulen, "%.*s/welcome/%s", (int)n, u, token);
    sodium_memzero(token, sizeof token);
    return 0;
}

int console_link_get(sqlite3 *db, const char *id, int64_t now, char *name, size_t nlen,
                     char *locale, size_t llen)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT l.user, l.expires_at, l.used_at, u.disabled,"
                                      " coalesce(u.locale, '')"
                                      " FROM links l JOIN users u ON u.name = l.user"
                                      " WHERE l.id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        db_finish(st);
        return rc == SQLITE_DONE ? 0 : -1;
    }
    const unsigned char *u = sqlite3_column_text(st, 0);
    snprintf(name, nlen, "%s", u ? (const char *)u : "");
    u = sqlite3_column_text(st, 4);
    snprintf(locale, llen, "%s", u ? (const char *)u : "");
    int gone = sqlite3_column_type(st, 2) != SQLITE_NULL || now >= sqlite3_column_int64(st, 1) ||
               sqlite3_column_int(st, 3);
    db_finish(st);
    return gone ? 2 : 1;
}

int console_link_use(sqlite3 *db, const char *id, const char *name, const char *hash,
                     int64_t now)
{
    if (db_begin(db))
        return -1;
    /* still live: a second browser with the same link loses here */
    sqlite3_stmt *st = db_prepare(db, "UPDATE links SET used_at = ?3 WHERE id = ?1 AND"
                                      " user = ?2 AND used_at IS NULL AND expires_at > ?3");
    if (!st) {
        db_rollback(db);
        return -1;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    int ok = sqlite3_step(st) == SQLITE_DONE, used = sqlite3_changes(db);
    db_finish(st);
    if (ok && used) {
        st = db_prepare(db, "UPDATE users SET hash = ?2, fail_count = 0, fail_since = 0"
                            " WHERE name = ?1 AND disabled = 0");
        ok = st != NULL;
        if (st) {
            sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
            ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db) == 1;
            used = ok;
            db_finish(st);
        }
    }
    if (ok && used) {
        st = db_prepare(db, "DELETE FROM sessions WHERE user = ?");
        ok = st != NULL;
        if (st) {
            sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
            ok = sqlite3_step(st) == SQLITE_DONE;
            db_finish(st);
        }
    }
    if (!ok || !used) {
        db_rollback(db);
        return ok ? 1 : -1;
    }
    return db_commit(db) ? -1 : 0;
}

void console_audit(sqlite3 *db, const char *by, const char *action, const char *name,
                   const char *detail, int64_t now)
{
    sqlite3_stmt *st = db_prepare(db, "INSERT INTO audit(at, by, action, user, detail)"
                                      " VALUES(?, ?, ?, ?, ?)");
    int ok = st != NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_text(st, 2, by, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
        if (detail && *detail)
            sqlite3_bind_text(st, 5, detail, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE;
        db_finish(st);
    }
    if (!ok)
        log_warn("event=db_error op=audit error=\"%s\"", sqlite3_errmsg(db));
}

json_t *console_audit_list(sqlite3 *db, int limit)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT at, by, action, user, detail FROM audit"
                                      " ORDER BY id DESC LIMIT ?");
    if (!st)
        return NULL;
    sqlite3_bind_int(st, 1, limit);
    json_t *list = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        char at[40];
        const unsigned char *d = sqlite3_column_text(st, 4);
        json_array_append_new(
            list, json_pack("{s:s,s:s,s:s,s:s,s:s}", "at",
                            clock_format(sqlite3_column_int64(st, 0), at, sizeof at), "by",
                            (const char *)sqlite3_column_text(st, 1), "action",
                            (const char *)sqlite3_column_text(st, 2), "user",
                            (const char *)sqlite3_column_text(st, 3), "detail",
                            d ? (const char *)d : ""));
    }
    db_finish(st);
    return list;
}
