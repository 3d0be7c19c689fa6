/*
 * survey_store.c - survey.db: campaigns, customers' contact copies,
 * suppressions, invites (one row per invite, with its answer), daily
 * aggregates and the outbox of events for the journal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "privacy.h"
#include "survey.h"

const char *const survey_store_migrations[] = {
    /* settings: JSON; source 'config' rows follow the [survey] section at
     * every start, 'admin' rows (later: hark campaign) are left alone */
    "CREATE TABLE campaigns(id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
    "  enabled INTEGER NOT NULL, source TEXT NOT NULL, settings TEXT NOT NULL);"
    "CREATE TABLE customers("
    "  id TEXT PRIMARY KEY, email TEXT, name TEXT, locale TEXT, timezone TEXT);"
    "CREATE TABLE suppressions(address TEXT PRIMARY KEY, reason TEXT NOT NULL);"
    "CREATE TABLE invites("
    "  id TEXT PRIMARY KEY,"          /* p<purchase offset>: the same on replay */
    "  campaign TEXT NOT NULL,"
    "  order_id TEXT,"
    "  customer_id TEXT NOT NULL,"
    "  email TEXT,"                   /* lowercased, for the throttle */
    "  locale TEXT,"
    "  status TEXT NOT NULL,"         /* scheduled sent throttled suppressed skipped stale */
    "  source_offset INTEGER NOT NULL,"
    "  due_at INTEGER NOT NULL,"
    "  sent_at INTEGER, expires_at INTEGER,"
    "  reminder_at INTEGER, reminded_at INTEGER,"
    "  delivered INTEGER NOT NULL DEFAULT 0,"
    "  score INTEGER, comment TEXT, answered_at INTEGER,"
    "  alerted INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE(campaign, order_id));"
    "CREATE INDEX invites_due ON invites(status, due_at);"
    "CREATE INDEX invites_email ON invites(email, due_at);"
    "CREATE INDEX invites_reminder ON invites(reminder_at) WHERE reminder_at IS NOT NULL;"
    "CREATE INDEX invites_answered ON invites(answered_at) WHERE score IS NOT NULL;"
    /* one row per UTC day, campaign and locale: a report sums these and
     * never reads invites */
    "CREATE TABLE stats(day TEXT NOT NULL, campaign TEXT NOT NULL, locale TEXT NOT NULL,"
    "  sent INTEGER NOT NULL DEFAULT 0, delivered INTEGER NOT NULL DEFAULT 0,"
    "  throttled INTEGER NOT NULL DEFAULT 0, suppressed INTEGER NOT NULL DEFAULT 0,"
    "  responses INTEGER NOT NULL DEFAULT 0, comments INTEGER NOT NULL DEFAULT 0,"
    "  promoters INTEGER NOT NULL DEFAULT 0, passives INTEGER NOT NULL DEFAULT 0,"
    "  detractors INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(day, campaign, locale));"
    "CREATE TABLE outbox(id INTEGER PRIMARY KEY, type TEXT NOT NULL,"
    "  key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL);",
    /* relationship (scheduled) campaigns: what a segment filters on (the
     * customer's attributes as JSON, the time of the last purchase seen
     * from now on), the runs done (one row each, written in the run's
     * transaction with its invites), and an invite's run: one invite per
     * campaign, run and customer.  Digests: one row per week mailed. */
    "ALTER TABLE customers ADD COLUMN attributes TEXT;"
    "ALTER TABLE customers ADD COLUMN last_purchase_at INTEGER;"
    "ALTER TABLE invites ADD COLUMN run INTEGER;"
    "CREATE UNIQUE INDEX invites_run ON invites(campaign, run, customer_id)"
    "  WHERE run IS NOT NULL;"
    "CREATE TABLE runs(campaign TEXT NOT NULL, run INTEGER NOT NULL,"
    "  at INTEGER NOT NULL,"           /* the run's scheduled time */
    "  done_at INTEGER NOT NULL,"
    "  selected INTEGER NOT NULL, scheduled INTEGER NOT NULL,"
    "  throttled INTEGER NOT NULL, suppressed INTEGER NOT NULL,"
    "  PRIMARY KEY(campaign, run));"
    "CREATE TABLE digests(week TEXT PRIMARY KEY, sent_at INTEGER NOT NULL);",
    /* customers as staff look them up (survey_customers.c): each purchase
     * (the timeline and the export), an invite's customer, and the search -
     * exact and prefix on id, address and name, FTS5 trigram for the rest,
     * fed in batches from customer_search_todo */
    "CREATE TABLE purchases(source_offset INTEGER PRIMARY KEY, customer_id TEXT NOT NULL,"
    "  order_id TEXT, at INTEGER NOT NULL, amount REAL, currency TEXT, items TEXT);"
    "CREATE INDEX purchases_customer ON purchases(customer_id);"
    "CREATE INDEX invites_customer ON invites(customer_id);"
    "CREATE INDEX customers_email ON customers(lower(email));"
    "CREATE INDEX customers_name ON customers(name);"
    "CREATE VIRTUAL TABLE customer_search USING fts5(words, tokenize = 'trigram');"
    "CREATE TABLE customer_search_todo(rid INTEGER PRIMARY KEY);"
    "CREATE TRIGGER customer_search_insert AFTER INSERT ON customers BEGIN"
    "  INSERT OR IGNORE INTO customer_search_todo VALUES(new.rowid);"
    " END;"
    "CREATE TRIGGER customer_search_update AFTER UPDATE OF id, name, email ON customers"
    " WHEN old.name IS NOT new.name OR old.email IS NOT new.email OR old.id IS NOT new.id BEGIN"
    "  INSERT OR IGNORE INTO customer_search_todo VALUES(new.rowid);"
    " END;"
    "CREATE TRIGGER customer_search_delete AFTER DELETE ON customers BEGIN"
    "  INSERT OR IGNORE INTO customer_search_todo VALUES(old.rowid);"
    " END;"
    "INSERT INTO customer_search_todo SELECT rowid FROM customers;",
    /* an invite of a customer who was erased: its link answers 410 */
    "ALTER TABLE invites ADD COLUMN erased INTEGER NOT NULL DEFAULT 0;",
    /* each campaign.saved applied, as the journal had it: who changed a
     * campaign when and to what (SURVEY_CAMPAIGNS history); the offset
     * makes a replay write each one once */
    "CREATE TABLE campaign_history(offset INTEGER PRIMARY KEY, campaign TEXT NOT NULL,"
    "  at INTEGER NOT NULL, by TEXT NOT NULL, settings TEXT NOT NULL);"
    "CREATE INDEX campaign_history_id ON campaign_history(campaign, offset);",
    /* 3: the dashboard (survey_dashboard.c): the answers per UTC day,
     * campaign, locale and score, kept like stats (on the day of an
     * invite's first answer), so the score distribution never reads
     * invites; the comments newest first from an index of their own.
     * Existing answers are counted here; an invite without a locale is
     * counted under '' and moved to [mailer] default_locale at start
     * (survey_store_scores_fix), as stats counts it there.  The comments'
     * indexes hold what their filters read, so a filter that matches few
     * walks index entries, not invites; one of a score starts at it */
    "CREATE TABLE score_stats(day TEXT NOT NULL, campaign TEXT NOT NULL,"
    "  locale TEXT NOT NULL, score INTEGER NOT NULL, n INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(day, campaign, locale, score)) WITHOUT ROWID;"
    "INSERT INTO score_stats(day, campaign, locale, score, n)"
    "  SELECT strftime('%Y-%m-%d', answered_at / 1000, 'unixepoch'), campaign,"
    "   coalesce(locale, ''), score, count(*) FROM invites"
    "  WHERE score IS NOT NULL AND answered_at IS NOT NULL GROUP BY 1, 2, 3, 4;"
    "CREATE INDEX invites_comments ON invites(answered_at, score, campaign, locale)"
    "  WHERE score IS NOT NULL AND comment IS NOT NULL;"
    "CREATE INDEX invites_comments_score ON invites(score, answered_at, campaign, locale)"
    "  WHERE score IS NOT NULL AND comment IS NOT NULL;",
    NULL,
};

/* What an erasure or retention blanks here (privacy.h): the contact, the addresses it suppressed, the comment and address of
 * each invite; scores and the daily stats stay, so NPS keeps its counts, and
 * the invites are marked erased (their links answer 410) */
static const char *const s_erase[] = {
    "DELETE FROM suppressions WHERE address IN (SELECT lower(email) FROM customers"
     " WHERE id = ?1 AND email IS NOT NULL UNION SELECT email FROM invites"
     " WHERE customer_id = ?1 AND email IS NOT NULL)",
    "UPDATE invites SET email = NULL, comment = NULL, erased = 1 WHERE customer_id = ?1",
    /* out of the customers' search now, not at its next indexing */
    "DELETE FROM customer_search WHERE rowid IN (SELECT rowid FROM customers WHERE id = ?1)",
    "DELETE FROM customers WHERE id = ?1",
    NULL,
};
static const char *const s_free_text[] = {
    "UPDATE invites SET comment = NULL WHERE customer_id = ?1",
    NULL,
};
static const char *const s_contact[] = {
    "UPDATE invites SET email = NULL WHERE customer_id = ?1",
    "DELETE FROM customer_search WHERE rowid IN (SELECT rowid FROM customers WHERE id = ?1)",
    "UPDATE customers SET email = NULL, name = NULL, attributes = NULL WHERE id = ?1",
    NULL,
};
const privacy_sql_t survey_store_privacy = {s_erase, s_free_text, s_contact};

int survey_store_stat_add(sqlite3 *db, int64_t at_ms, const char *campaign, const char *locale,
                    const char *column, int delta)
{
    static const char *const cols[] = {"sent",      "delivered", "throttled",
                                       "suppressed", "responses", "comments",
                                       "promoters", "passives",  "detractors"};
    int known = 0;
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
        known |= strcmp(cols[i], column) == 0;
    if (!known)
        return -1;
    /* the column name comes from the list above, never from input */
    char sql[300], day[32];
    snprintf(sql, sizeof sql,
             "INSERT INTO stats(day, campaign, locale, %s) VALUES(?, ?, ?, ?)"
             " ON CONFLICT(day, campaign, locale) DO UPDATE SET %s = %s + excluded.%s",
             column, column, column, column);
    clock_format(at_ms, day, sizeof day);
    day[10] = '\0';
    sqlite3_stmt *st = db_prepare(db, sql);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, day, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, campaign, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, locale ? locale : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, delta);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}


int survey_store_customer_extra(sqlite3 *db, const json_t *customer, const char *cid,
                          int64_t purchase_ms)
{
    const json_t *attrs = json_object_get(customer, "attributes");
    char *text = json_is_object(attrs) ? json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!cid || (!text && purchase_ms < 0)) {
        free(text);
        return 0;
    }
    /* a purchase may name a customer we have not seen yet: the row is
     * made, and a later customer event fills in the address */
    sqlite3_stmt *st = db_prepare(
        db, "INSERT INTO customers(id, attributes, last_purchase_at) VALUES(?1, ?2, ?3)"
            " ON CONFLICT(id) DO UPDATE SET attributes = coalesce(?2, attributes),"
            " last_purchase_at = max(coalesce(last_purchase_at, ?3), coalesce(?3,"
            " last_purchase_at))");
    int rc = -1;
    if (st) {
        sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
        if (text)
            sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
        if (purchase_ms >= 0)
            sqlite3_bind_int64(st, 3, purchase_ms);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        db_finish(st);
    }
    free(text);
    return rc;
}

int survey_store_throttled(sqlite3 *db, const char *email, int64_t due, int64_t throttle)
{
    if (throttle <= 0 || !email || !*email)
        return 0;
    sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM invites WHERE email = ?1 AND status IN"
                                      " ('scheduled', 'sent') AND due_at > ?2 AND due_at < ?3"
                                      " LIMIT 1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, email, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, due - throttle);
    sqlite3_bind_int64(st, 3, due + throttle);
    int r = sqlite3_step(st) == SQLITE_ROW;
    db_finish(st);
    return r;
}

int survey_store_score_add(sqlite3 *db, int64_t at_ms, const char *campaign, const char *locale,
                           int score, int delta)
{
    char day[32];
    clock_format(at_ms, day, sizeof day);
    day[10] = '\0';
    sqlite3_stmt *st = db_prepare(
        db, "INSERT INTO score_stats(day, campaign, locale, score, n) VALUES(?, ?, ?, ?, ?)"
            " ON CONFLICT(day, campaign, locale, score) DO UPDATE SET n = n + excluded.n");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, day, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, campaign, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, locale ? locale : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, score);
    sqlite3_bind_int(st, 5, delta);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}

int survey_store_scores_fix(sqlite3 *db, const char *default_locale)
{
    if (db_int(db, "SELECT count(*) FROM score_stats WHERE locale = ''", 0) == 0)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = db_begin(db);
    if (rc == 0)
        st = db_prepare(db, "INSERT INTO score_stats(day, campaign, locale, score, n)"
                            " SELECT day, campaign, ?1, score, n FROM score_stats"
                            " WHERE locale = '' AND 1"
                            " ON CONFLICT(day, campaign, locale, score)"
                            " DO UPDATE SET n = n + excluded.n");
    if (st) {
        sqlite3_bind_text(st, 1, default_locale ? default_locale : "", -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        db_finish(st);
    } else {
        rc = -1;
    }
    if (rc == 0 && default_locale && *default_locale)
        rc = db_exec(db, "DELETE FROM score_stats WHERE locale = ''");
    return rc == 0 ? db_commit(db) : (db_rollback(db), -1);
}
