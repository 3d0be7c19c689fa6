/*
 * milestone_store.c - milestone.db: customers (contact copies with the
 * month and day of their milestones, indexed), suppressions, the
 * marketer's settings, the sends (one row per customer, kind and year:
 * what makes a message go out once) and the outbox.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "privacy.h"
#include "milestone.h"
#include "tz.h"

const char *const milestone_store_migrations[] = {
    /* b_md, s_md, p_md: month * 100 + day of the birthday, the signup date
     * and the first purchase (local date in the customer's zone), so the
     * customers whose day it is are an index range, not a scan */
    "CREATE TABLE customers("
    "  id TEXT PRIMARY KEY, email TEXT, name TEXT, locale TEXT, timezone TEXT,"
    "  b_md INTEGER, s_year INTEGER, s_md INTEGER,"
    "  p_at INTEGER, p_year INTEGER, p_md INTEGER);"
    "CREATE INDEX customers_b ON customers(b_md, timezone) WHERE b_md IS NOT NULL;"
    "CREATE INDEX customers_s ON customers(s_md, timezone) WHERE s_md IS NOT NULL;"
    "CREATE INDEX customers_p ON customers(p_md, timezone) WHERE p_md IS NOT NULL;"
    "CREATE TABLE suppressions(address TEXT PRIMARY KEY, reason TEXT NOT NULL);"
    /* one row per kind once a milestone.saved set it; none: the defaults */
    "CREATE TABLE settings(kind TEXT PRIMARY KEY, enabled INTEGER NOT NULL,"
    "  minutes INTEGER NOT NULL, offset_days INTEGER NOT NULL, template TEXT NOT NULL,"
    "  from_signup INTEGER NOT NULL, by TEXT);"
    /* the year a milestone falls in, decided once: sent, suppressed,
     * no_address (nothing to write to) or missed (beyond catch_up) */
    "CREATE TABLE sends(kind TEXT NOT NULL, customer_id TEXT NOT NULL, year INTEGER NOT NULL,"
    "  status TEXT NOT NULL, at INTEGER NOT NULL,"
    "  PRIMARY KEY(kind, customer_id, year)) WITHOUT ROWID;"
    "CREATE TABLE outbox(id INTEGER PRIMARY KEY, type TEXT NOT NULL,"
    "  key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL);",
    NULL,
};

/* What an erasure or retention blanks here (privacy.h): the contact and its suppressed address; the
 * years already decided (sends) stay */
static const char *const s_erase[] = {
    "DELETE FROM suppressions WHERE address IN (SELECT lower(email) FROM customers"
     " WHERE id = ?1 AND email IS NOT NULL)",
    "DELETE FROM customers WHERE id = ?1",
    NULL,
};
static const char *const s_free_text[] = {
    NULL,
};
static const char *const s_contact[] = {
    "UPDATE customers SET email = NULL, name = NULL, b_md = NULL WHERE id = ?1",
    NULL,
};
const privacy_sql_t milestone_store_privacy = {s_erase, s_free_text, s_contact};

/* s_update - run sql with ?1 = id and ?2.. the n integers of v; 0/-1 */
static int s_update(sqlite3 *db, const char *sql, const char *id, int n, const int64_t *v)
{
    sqlite3_stmt *st = db_prepare(db, sql);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    for (int i = 0; i < n; i++)
        sqlite3_bind_int64(st, i + 2, v[i]);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}

int milestone_store_customer(sqlite3 *db, const json_t *c)
{
    const char *id = json_string_value(json_object_get(c, "id"));
    const char *bday = json_string_value(json_object_get(c, "birthday"));
    const char *signup = json_string_value(json_object_get(c, "signup_date"));
    if (!id)
        return -1;
    /* one statement for the contact (as contacts_upsert: a field left out
     * is kept) and the dates: an import applies 100,000 of these, and
     * three statements on the same row cost three lookups of it.  A
     * birthday edited to a later day this year after this year's message
     * went out sends nothing more: sends is keyed on the year, not the day */
    sqlite3_stmt *st = db_prepare(
        db, "INSERT INTO customers(id, email, name, locale, timezone, b_md, s_year, s_md)"
            " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(id) DO UPDATE SET"
            " email = coalesce(?2, email), name = coalesce(?3, name),"
            " locale = coalesce(?4, locale), timezone = coalesce(?5, timezone),"
            " b_md = coalesce(?6, b_md), s_year = coalesce(?7, s_year), s_md = coalesce(?8, s_md)");
    if (!st)
        return -1;
    static const char *const fields[] = {"id", "email", "name", "locale", "timezone"};
    for (int i = 0; i < 5; i++) {
        const char *v = json_string_value(json_object_get(c, fields[i]));
        if (v)
            sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT);
    }
    int y, m, d;
    if (bday && milestone_date_parse_birthday(bday, &m, &d) == 0)
        sqlite3_bind_int(st, 6, m * 100 + d);
    if (signup && milestone_date_parse(signup, &y, &m, &d) == 0) {
        sqlite3_bind_int(st, 7, y);
        sqlite3_bind_int(st, 8, m * 100 + d);
    }
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}

int milestone_store_purchase(sqlite3 *db, const char *cid, int64_t ms, const char *default_tz)
{
    if (!cid)
        return -1;
    /* a purchase of a customer we have not seen: a row to hang it on */
    sqlite3_stmt *st = db_prepare(db, "INSERT INTO customers(id) VALUES(?) ON CONFLICT DO NOTHING");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    st = rc ? NULL : db_prepare(db, "SELECT p_at, timezone FROM customers WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    int earlier = 0;
    char tz[80] = "";
    if (sqlite3_step(st) == SQLITE_ROW) {
        earlier = sqlite3_column_type(st, 0) == SQLITE_NULL || sqlite3_column_int64(st, 0) > ms;
        const char *t = (const char *)sqlite3_column_text(st, 1);
        snprintf(tz, sizeof tz, "%s", t ? t : "");
    }
    db_finish(st);
    if (!earlier)
        return 0;
    /* the day of the first purchase is the customer's local day then (the
     * zone known at the time; a later change of zone does not move it) */
    if (!tz_ok(tz))
        snprintf(tz, sizeof tz, "%s", default_tz);
    struct tm lt;
    if (tz_local(ms, tz, &lt))
        return -1;
    int64_t v[] = {ms, lt.tm_year + 1900, (lt.tm_mon + 1) * 100 + lt.tm_mday};
    return s_update(db, "UPDATE customers SET p_at = ?2, p_year = ?3, p_md = ?4 WHERE id = ?1",
                    cid, 3, v);
}

int milestone_store_settings(sqlite3 *db, const milestone_config_t *mc, int kind,
                             milestone_settings_t *out)
{
    milestone_settings_default(mc, kind, out);
    sqlite3_stmt *st = db_prepare(db, "SELECT enabled, minutes, offset_days, template,"
                                      " from_signup, by FROM settings WHERE kind = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, milestone_settings_kind_names[kind], -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        out->admin = 1;
        out->enabled = sqlite3_column_int(st, 0);
        out->minutes = sqlite3_column_int(st, 1);
        out->offset_days = sqlite3_column_int(st, 2);
        snprintf(out->template_name, sizeof out->template_name, "%s",
                 (const char *)sqlite3_column_text(st, 3));
        out->from_signup = sqlite3_column_int(st, 4);
        const char *by = (const char *)sqlite3_column_text(st, 5);
        snprintf(out->by, sizeof out->by, "%s", by ? by : "");
    }
    db_finish(st);
    return 0;
}

int milestone_store_save(sqlite3 *db, const milestone_config_t *mc, const json_t *p, char *err,
                         size_t len)
{
    milestone_settings_t s;
    char field[64], msg[200];
    if (milestone_settings_from_json(mc, p, &s, field, sizeof field, msg, sizeof msg)) {
        snprintf(err, len, "%s", msg);
        return 1;
    }
    sqlite3_stmt *st = db_prepare(
        db, "INSERT OR REPLACE INTO settings(kind, enabled, minutes, offset_days, template,"
            " from_signup, by) VALUES(?, ?, ?, ?, ?, ?, ?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, milestone_settings_kind_names[s.kind], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, s.enabled);
    sqlite3_bind_int(st, 3, s.minutes);
    sqlite3_bind_int(st, 4, s.offset_days);
    sqlite3_bind_text(st, 5, s.template_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, s.from_signup);
    sqlite3_bind_text(st, 7, s.by, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}
