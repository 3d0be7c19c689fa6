/*
 * contacts.c - see contacts.h.
 */
#include "contacts.h"

#include "db.h"

int contacts_upsert(sqlite3 *db, const json_t *c)
{
    const char *id = json_string_value(json_object_get(c, "id"));
    if (!id)
        return -1;
    sqlite3_stmt *st = db_prepare(
        db, "INSERT INTO customers(id, email, name, locale, timezone) VALUES(?1, ?2, ?3, ?4, ?5)"
            " ON CONFLICT(id) DO UPDATE SET"
            " email = coalesce(?2, email), name = coalesce(?3, name),"
            " locale = coalesce(?4, locale), timezone = coalesce(?5, timezone)");
    if (!st)
        return -1;
    static const char *const fields[] = {"id", "email", "name", "locale", "timezone"};
    for (int i = 0; i < 5; i++) {
        const char *v = json_string_value(json_object_get(c, fields[i]));
        if (v)
            sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT);
    }
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}

int contacts_suppressed(sqlite3 *db, const char *address)
{
    char low[320];
    sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM suppressions WHERE address = ?");
    if (!st)
        return 0;
    sqlite3_bind_text(st, 1, contacts_lower(address, low, sizeof low), -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st) == SQLITE_ROW;
    db_finish(st);
    return r;
}

const char *contacts_lower(const char *a, char *out, size_t len)
{
    size_t i = 0;
    for (; a && a[i] && i + 1 < len; i++)
        out[i] = (a[i] >= 'A' && a[i] <= 'Z') ? (char)(a[i] + 32) : a[i];
    if (len)
        out[i] = '\0';
    return out;
}

int contacts_suppress(sqlite3 *db, const char *address, const char *reason)
{
    if (!address)
        return 0;
    char low[320];
    sqlite3_stmt *st = db_prepare(db, "INSERT INTO suppressions(address, reason) VALUES(?, ?)"
                                      " ON CONFLICT(address) DO NOTHING");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, contacts_lower(address, low, sizeof low), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}

int contacts_unsuppress(sqlite3 *db, const char *address)
{
    if (!address)
        return 0;
    char low[320];
    sqlite3_stmt *st = db_prepare(db, "DELETE FROM suppressions WHERE address = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, contacts_lower(address, low, sizeof low), -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}
