/*
 * loop_store.c - loop.db: customers' contact copies and suppressions, the
 * feedback cases and their reasons (from feedback.tagged), the loops and
 * their recipients, hark-survey's invites and answers (for the report),
 * and the outbox of events for the journal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "privacy.h"
#include "loop.h"

const char *const loop_store_migrations[] = {
    "CREATE TABLE customers("
    "  id TEXT PRIMARY KEY, email TEXT, name TEXT, locale TEXT, timezone TEXT);"
    "CREATE TABLE suppressions(address TEXT PRIMARY KEY, reason TEXT NOT NULL);"
    /* one row per case (intake's id); given_at: when the customer said it */
    "CREATE TABLE cases(id TEXT PRIMARY KEY, customer_id TEXT, kind TEXT NOT NULL,"
    "  text TEXT, locale TEXT, given_at INTEGER NOT NULL, source_offset INTEGER NOT NULL);"
    "CREATE INDEX cases_customer ON cases(customer_id);"
    /* a case's current reason codes; covered_loop: the loop that last told
     * its author about this reason (NULL: open) */
    "CREATE TABLE case_reasons(reason TEXT NOT NULL, case_id TEXT NOT NULL,"
    "  covered_loop TEXT, PRIMARY KEY(reason, case_id)) WITHOUT ROWID;"
    "CREATE INDEX case_reasons_case ON case_reasons(case_id);"
    "CREATE TABLE loops(id TEXT PRIMARY KEY, reason TEXT NOT NULL, title TEXT NOT NULL,"
    "  announcement TEXT NOT NULL, since TEXT, by TEXT, closed_at INTEGER NOT NULL,"
    "  source_offset INTEGER NOT NULL, closes INTEGER NOT NULL DEFAULT 1);"
    "CREATE INDEX loops_reason ON loops(reason, closed_at);"
    /* who hears about a loop: chosen when loop.closed is applied, then
     * 'pending' until the sender decides: sent, unsubscribed, bounced,
     * no_address */
    "CREATE TABLE recipients(loop TEXT NOT NULL, customer_id TEXT NOT NULL,"
    "  status TEXT NOT NULL, locale TEXT, told_at INTEGER,"
    "  PRIMARY KEY(loop, customer_id));"
    "CREATE INDEX recipients_pending ON recipients(status) WHERE status = 'pending';"
    "CREATE INDEX recipients_customer ON recipients(customer_id);"
    /* which feedback of a recipient a loop answers (quotes, loop.notified's
     * cases, the median) */
    "CREATE TABLE told_cases(loop TEXT NOT NULL, customer_id TEXT NOT NULL,"
    "  case_id TEXT NOT NULL, PRIMARY KEY(loop, customer_id, case_id)) WITHOUT ROWID;"
    /* hark-survey's invites (from its mail.requested) and their answers */
    "CREATE TABLE invites(id TEXT PRIMARY KEY, customer_id TEXT NOT NULL);"
    "CREATE TABLE answers(invite TEXT PRIMARY KEY, customer_id TEXT NOT NULL,"
    "  score INTEGER NOT NULL, answered_at INTEGER NOT NULL);"
    "CREATE INDEX answers_customer ON answers(customer_id, answered_at);"
    "CREATE TABLE outbox(id INTEGER PRIMARY KEY, type TEXT NOT NULL,"
    "  key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL);",
    /* the title and announcement per locale (loop.closed's texts, JSON;
     * NULL: everyone reads the fallback), and which a recipient read
     * (NULL: the fallback) */
    "ALTER TABLE loops ADD COLUMN texts TEXT;"
    "ALTER TABLE recipients ADD COLUMN text_locale TEXT;",
    /* the address a recipient was told at (lower case): one email per
     * address and loop, however many customer ids share it */
    "ALTER TABLE recipients ADD COLUMN address TEXT;"
    "CREATE INDEX recipients_address ON recipients(loop, address) WHERE address IS NOT NULL;",
    NULL,
};

/* What an erasure or retention blanks here (privacy.h): the contact, what they
 * said in their cases, the address a loop told them at; who was told and
 * the scores stay, so `hark report loops` keeps its counts */
static const char *const s_erase[] = {
    "DELETE FROM suppressions WHERE address IN (SELECT lower(email) FROM customers"
     " WHERE id = ?1 AND email IS NOT NULL UNION SELECT address FROM recipients"
     " WHERE customer_id = ?1 AND address IS NOT NULL)",
    "UPDATE cases SET text = NULL WHERE customer_id = ?1",
    "UPDATE recipients SET address = NULL WHERE customer_id = ?1",
    "DELETE FROM customers WHERE id = ?1",
    NULL,
};
static const char *const s_free_text[] = {
    "UPDATE cases SET text = NULL WHERE customer_id = ?1",
    NULL,
};
static const char *const s_contact[] = {
    "UPDATE recipients SET address = NULL WHERE customer_id = ?1",
    "UPDATE customers SET email = NULL, name = NULL WHERE id = ?1",
    NULL,
};
const privacy_sql_t loop_store_privacy = {s_erase, s_free_text, s_contact};

const char loop_store_candidates_sql[] =
    "SELECT c.id, c.customer_id FROM case_reasons r JOIN cases c ON c.id = r.case_id"
    " WHERE r.reason = ?1 AND c.customer_id IS NOT NULL"
    " AND (CASE WHEN ?2 >= 0 THEN c.given_at >= ?2 ELSE r.covered_loop IS NULL END)"
    " AND NOT EXISTS (SELECT 1 FROM recipients x WHERE x.loop = ?3"
    "                 AND x.customer_id = c.customer_id)";

/* s_step_done - run a bound statement to its end and give it back; 0/-1 */
static int s_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}

int64_t loop_store_since_ms(const char *since)
{
    if (!since)
        return -1;
    char ts[40];
    int64_t ms;
    if (strlen(since) != 10)
        return -2;
    snprintf(ts, sizeof ts, "%sT00:00:00Z", since);
    if (clock_parse(ts, &ms))
        return -2;
    return ms < 0 ? 0 : ms; /* before 1970: everything, and never -1 ("no date") */
}

int loop_store_tagged(sqlite3 *db, const json_t *p, int64_t offset)
{
    const char *id = json_string_value(json_object_get(p, "case"));
    const char *kind = json_string_value(json_object_get(p, "kind"));
    const char *given = json_string_value(json_object_get(p, "given_at"));
    const json_t *codes = json_object_get(p, "codes");
    int64_t given_ms;
    if (!id || !kind || !given || clock_parse(given, &given_ms) || !json_is_array(codes))
        return -1;
    /* a retag may leave out what the first tagging said: keep it */
    sqlite3_stmt *st = db_prepare(
        db, "INSERT INTO cases(id, customer_id, kind, text, locale, given_at, source_offset)"
            " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE SET"
            " customer_id = coalesce(excluded.customer_id, customer_id), kind = excluded.kind,"
            " text = coalesce(excluded.text, text), locale = coalesce(excluded.locale, locale)");
    if (!st)
        return -1;
    static const char *const f[] = {"customer_id", "kind", "text", "locale"};
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    for (int i = 0; i < 4; i++) {
        const char *v = json_string_value(json_object_get(p, f[i]));
        if (v && *v)
            sqlite3_bind_text(st, i + 2, v, -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_int64(st, 6, given_ms);
    sqlite3_bind_int64(st, 7, offset);
    if (s_step_done(st))
        return -1;
    /* the last tagging holds the codes: drop the others, add the new ones
     * (a reason the case keeps keeps its covered_loop) */
    char *list = json_dumps(codes, JSON_COMPACT);
    if (!list)
        return -1;
    int rc = -1;
    st = db_prepare(db, "DELETE FROM case_reasons WHERE case_id = ?1"
                        " AND reason NOT IN (SELECT value FROM json_each(?2))");
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, list, -1, SQLITE_TRANSIENT);
        rc = s_step_done(st);
    }
    st = rc ? NULL
            : db_prepare(db, "INSERT OR IGNORE INTO case_reasons(reason, case_id)"
                             " SELECT value, ?1 FROM json_each(?2) WHERE type = 'text'");
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, list, -1, SQLITE_TRANSIENT);
        rc = s_step_done(st);
    } else {
        rc = -1;
    }
    free(list);
    return rc;
}

int loop_store_invite(sqlite3 *db, const char *key, const json_t *p)
{
    static const char prefix[] = "survey/invite/";
    const char *cid = json_string_value(json_object_get(p, "customer_id"));
    if (!key || strncmp(key, prefix, sizeof prefix - 1) != 0 || !cid)
        return 0; /* not an invite: another service's mail, or ours */
    sqlite3_stmt *st = db_prepare(db, "INSERT OR IGNORE INTO invites(id, customer_id)"
                                      " VALUES(?, ?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key + sizeof prefix - 1, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, cid, -1, SQLITE_TRANSIENT);
    return s_step_done(st);
}

int loop_store_told(sqlite3 *db, const char *key, const json_t *p, int64_t at_ms,
                    const char *default_locale)
{
    static const char prefix[] = "loop/";
    const char *cid = json_string_value(json_object_get(p, "customer_id"));
    const char *slash = key && strncmp(key, prefix, sizeof prefix - 1) == 0
                            ? strchr(key + sizeof prefix - 1, '/')
                            : NULL;
    char loop[80];
    size_t ln = slash ? (size_t)(slash - key) - (sizeof prefix - 1) : 0;
    if (!slash || !cid || ln == 0 || ln >= sizeof loop || strncmp(slash, "/mail/", 6) != 0 ||
        strcmp(slash + 6, cid) != 0)
        return 0; /* not a loop email */
    memcpy(loop, key + sizeof prefix - 1, ln);
    loop[ln] = '\0';
    /* the text it read, as loop_send decided it: the loop's of its locale */
    const char *locale = json_string_value(json_object_get(p, "locale"));
    json_t *texts = NULL;
    sqlite3_stmt *st = db_prepare(db, "SELECT texts FROM loops WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, loop, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        texts = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    db_finish(st);
    const char *tl = loop_check_text_for(texts, locale ? locale : "", default_locale);
    /* told already (live, where the sender wrote this very email): as it is */
    st = db_prepare(db, "UPDATE recipients SET status = 'sent', locale = ?3, told_at = ?4,"
                        " text_locale = ?5, address = (SELECT lower(email) FROM customers"
                        " WHERE id = ?2 AND email <> '')"
                        " WHERE loop = ?1 AND customer_id = ?2 AND status <> 'sent'");
    if (!st) {
        json_decref(texts);
        return -1;
    }
    sqlite3_bind_text(st, 1, loop, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, cid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, locale ? locale : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, at_ms);
    if (tl)
        sqlite3_bind_text(st, 5, tl, -1, SQLITE_TRANSIENT);
    int rc = s_step_done(st);
    json_decref(texts);
    return rc;
}

int loop_store_answer(sqlite3 *db, const json_t *p, int64_t at_ms)
{
    const char *invite = json_string_value(json_object_get(p, "invite"));
    json_t *score = json_object_get(p, "score");
    if (!invite || !json_is_integer(score))
        return -1;
    /* an invite we never saw asked (sent before hark-loop's journal
     * history, or not hark-survey's) cannot be put to a customer */
    sqlite3_stmt *st = db_prepare(
        db, "INSERT INTO answers(invite, customer_id, score, answered_at)"
            " SELECT id, customer_id, ?2, ?3 FROM invites WHERE id = ?1"
            " ON CONFLICT(invite) DO UPDATE SET score = excluded.score,"
            " answered_at = excluded.answered_at");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, invite, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, json_integer_value(score));
    sqlite3_bind_int64(st, 3, at_ms);
    return s_step_done(st);
}

int loop_store_closed(sqlite3 *db, const json_t *p, int64_t closed_ms, int64_t offset, long *added)
{
    const char *id = json_string_value(json_object_get(p, "loop"));
    const char *reason = json_string_value(json_object_get(p, "reason"));
    const char *title = json_string_value(json_object_get(p, "title"));
    const char *ann = json_string_value(json_object_get(p, "announcement"));
    const char *since = json_string_value(json_object_get(p, "since"));
    const char *by = json_string_value(json_object_get(p, "by"));
    const json_t *texts = json_object_get(p, "texts");
    int64_t since_ms = loop_store_since_ms(since);
    *added = 0;
    if (!id || !reason || !title || !ann || since_ms == -2 || (texts && !json_is_object(texts)))
        return -1;
    /* closing a loop again keeps when it was first closed; its newest
     * words go to the customers not told yet */
    sqlite3_stmt *st = db_prepare(
        db, "INSERT INTO loops(id, reason, title, announcement, since, by, closed_at,"
            " source_offset, texts) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            " ON CONFLICT(id) DO UPDATE"
            " SET title = excluded.title, announcement = excluded.announcement,"
            " texts = excluded.texts,"
            " since = excluded.since, by = excluded.by, closes = closes + 1"
            " WHERE reason = excluded.reason");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, title, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, ann, -1, SQLITE_TRANSIENT);
    if (since)
        sqlite3_bind_text(st, 5, since, -1, SQLITE_TRANSIENT);
    if (by)
        sqlite3_bind_text(st, 6, by, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, closed_ms);
    sqlite3_bind_int64(st, 8, offset);
    if (texts && json_object_size(texts) > 0) {
        char *t = json_dumps(texts, JSON_COMPACT | JSON_SORT_KEYS);
        if (!t) {
            db_finish(st);
            return -1;
        }
        sqlite3_bind_text(st, 9, t, -1, SQLITE_TRANSIENT);
        free(t);
    }
    if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(db) == 0) {
        /* the same id with another reason: a loop belongs to one reason */
        db_finish(st);
        return -1;
    }
    db_finish(st);

    char sql[sizeof loop_store_candidates_sql + 200];
    snprintf(sql, sizeof sql,
             "INSERT OR IGNORE INTO told_cases(loop, customer_id, case_id)"
             " SELECT ?3, customer_id, id FROM (%s)", loop_store_candidates_sql);
    st = db_prepare(db, sql);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, since_ms);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_TRANSIENT);
    if (s_step_done(st))
        return -1;
    st = db_prepare(db, "INSERT OR IGNORE INTO recipients(loop, customer_id, status)"
                        " SELECT DISTINCT loop, customer_id, 'pending' FROM told_cases"
                        " WHERE loop = ?1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) {
        db_finish(st);
        return -1;
    }
    *added = sqlite3_changes(db);
    db_finish(st);
    st = db_prepare(db, "UPDATE case_reasons SET covered_loop = ?1 WHERE reason = ?2"
                        " AND covered_loop IS NOT ?1"
                        " AND case_id IN (SELECT case_id FROM told_cases WHERE loop = ?1)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
    return s_step_done(st);
}
