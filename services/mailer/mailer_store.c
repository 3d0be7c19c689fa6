/*
 * mailer_store.c - mailer.db: customers' contact copies, the suppression
 * list, the message queue and the outbox of events for the journal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "privacy.h"
#include "log.h"
#include "outbox.h"
#include "mailer.h"

const char *const mailer_store_migrations[] = {
    "CREATE TABLE customers("
    "  id TEXT PRIMARY KEY, email TEXT, name TEXT, locale TEXT, timezone TEXT);"
    "CREATE TABLE suppressions("
    "  address TEXT PRIMARY KEY, reason TEXT NOT NULL, source_offset INTEGER NOT NULL);"
    "CREATE TABLE messages("
    "  id INTEGER PRIMARY KEY,"
    "  request_key TEXT NOT NULL UNIQUE,"
    "  request_offset INTEGER NOT NULL,"
    "  category TEXT NOT NULL,"
    "  template TEXT NOT NULL,"
    "  locale TEXT,"
    "  customer_id TEXT,"
    "  address TEXT,"
    "  name TEXT,"
    "  vars TEXT NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  status TEXT NOT NULL," /* queued sending retry delivered failed bounced skipped */
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL,"
    "  lease_until INTEGER,"
    "  first_at INTEGER NOT NULL,"
    "  sent_to TEXT,"
    "  last_error TEXT,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX messages_due ON messages(status, next_at);"
    "CREATE TABLE outbox(id INTEGER PRIMARY KEY, type TEXT NOT NULL,"
    "  key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL);",
    /* threads: the first Message-ID of each case and survey invite, which
     * later mails on it answer (In-Reply-To, References); DSNs name a
     * message by its Message-ID, and temporary ones are counted */
    "ALTER TABLE messages ADD COLUMN in_reply_to TEXT;"
    "ALTER TABLE messages ADD COLUMN deferrals INTEGER NOT NULL DEFAULT 0;" /* 4.x.x DSNs */
    "CREATE TABLE threads(kind TEXT NOT NULL, id TEXT NOT NULL, message_id TEXT NOT NULL,"
    "  PRIMARY KEY(kind, id));"
    "CREATE INDEX messages_message_id ON messages(message_id);",
    /* template.saved, numbered per (locale, name); source NULL: the file */
    "CREATE TABLE template_versions(id INTEGER PRIMARY KEY, locale TEXT NOT NULL,"
    "  name TEXT NOT NULL, version INTEGER NOT NULL, source TEXT, by TEXT NOT NULL,"
    "  restored_from INTEGER, offset INTEGER NOT NULL UNIQUE, saved_at INTEGER NOT NULL,"
    "  UNIQUE(locale, name, version));",
    /* one customer's mail (MAILER_CUSTOMER), and when an address was
     * suppressed (NULL: before this column) */
    "CREATE INDEX messages_customer ON messages(customer_id);"
    "ALTER TABLE suppressions ADD COLUMN at INTEGER;",
    /* a staff mail's customer (mail.requested about): erased with them */
    "ALTER TABLE messages ADD COLUMN about TEXT;"
    "CREATE INDEX messages_about ON messages(about) WHERE about IS NOT NULL;",
    NULL,
};

/* What an erasure or retention blanks here (privacy.h): the contact, its
 * suppressed addresses, and every message to them: address, name and the
 * variables (the reply, the comment quoted) blanked, a message still
 * queued skipped; the rows and their statuses stay for the counts */
static const char *const s_erase[] = {
    "DELETE FROM suppressions WHERE address IN (SELECT lower(email) FROM customers"
     " WHERE id = ?1 AND email IS NOT NULL UNION SELECT lower(address) FROM messages"
     " WHERE customer_id = ?1 AND address IS NOT NULL UNION SELECT lower(sent_to)"
     " FROM messages WHERE customer_id = ?1 AND sent_to IS NOT NULL)",
    "UPDATE messages SET address = NULL, name = NULL, vars = '{}', sent_to = NULL,"
     " last_error = NULL, status = CASE WHEN status IN ('queued', 'retry')"
     " THEN 'skipped' ELSE status END WHERE customer_id = ?1",
    "UPDATE messages SET vars = '{}', last_error = NULL WHERE about = ?1",
    "DELETE FROM customers WHERE id = ?1",
    NULL,
};
static const char *const s_free_text[] = {
    "UPDATE messages SET vars = '{}', last_error = NULL WHERE customer_id = ?1"
     " AND status NOT IN ('queued', 'retry', 'sending')",
    "UPDATE messages SET vars = '{}' WHERE about = ?1 AND status NOT IN ('queued', 'retry',"
     " 'sending')",
    NULL,
};
static const char *const s_contact[] = {
    "UPDATE messages SET address = NULL, name = NULL, sent_to = NULL WHERE customer_id = ?1"
     " AND status NOT IN ('queued', 'retry', 'sending')",
    "UPDATE customers SET email = NULL, name = NULL WHERE id = ?1",
    NULL,
};
const privacy_sql_t mailer_store_privacy = {s_erase, s_free_text, s_contact};

/* mailer_store_suppress - add an address to the suppression list */
int mailer_store_suppress(sqlite3 *db, const char *address, const char *reason, int64_t offset)
{
    char low[320];
    sqlite3_stmt *st = db_prepare(db, "INSERT INTO suppressions(address, reason, source_offset,"
                                      " at) VALUES(?, ?, ?, ?) ON CONFLICT(address) DO NOTHING");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, contacts_lower(address, low, sizeof low), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, offset);
    sqlite3_bind_int64(st, 4, clock_now_ms());
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}

/* mailer_store_enqueue - a requested message, queued; a request seen before is
 * ignored (its key is unique).  by_offset: its number is offset, not the
 * file's next row (mailer.h) */
int mailer_store_enqueue(sqlite3 *db, const char *request_key, int64_t offset, const json_t *req,
                   const char *message_id, const char *in_reply_to, int64_t not_before_ms,
                   int64_t now_ms, int by_offset)
{
    sqlite3_stmt *st = db_prepare(
        db, "INSERT INTO messages(request_key, request_offset, category, template, locale,"
            " customer_id, address, name, vars, message_id, status, next_at, first_at, updated_at,"
            " in_reply_to, about, id)"
            " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(request_key) DO NOTHING");
    if (!st)
        return -1;
    json_t *vars = json_object_get(req, "vars");
    char *vtext = vars ? json_dumps(vars, JSON_COMPACT) : strdup("{}");
    sqlite3_bind_text(st, 1, request_key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, offset);
    static const char *const f[] = {"category", "template", "locale", "customer_id",
                                    "address", "name"};
    for (int i = 0; i < 6; i++) {
        const char *v = json_string_value(json_object_get(req, f[i]));
        if (v)
            sqlite3_bind_text(st, 3 + i, v, -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_text(st, 9, vtext ? vtext : "{}", -1, SQLITE_TRANSIENT);
    const char *about = json_string_value(json_object_get(req, "about"));
    if (about)
        sqlite3_bind_text(st, 15, about, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 10, message_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 11, not_before_ms > now_ms ? not_before_ms : now_ms);
    sqlite3_bind_int64(st, 12, now_ms);
    sqlite3_bind_int64(st, 13, now_ms);
    if (in_reply_to && *in_reply_to)
        sqlite3_bind_text(st, 14, in_reply_to, -1, SQLITE_TRANSIENT);
    if (by_offset && offset > 0)
        sqlite3_bind_int64(st, 16, offset); /* else NULL: the next row */
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    free(vtext);
    return rc;
}

/* mailer_store_thread - the thread's first message, or this one becomes it */
int mailer_store_thread(sqlite3 *db, char kind, const char *id, const char *message_id,
                        char *first, size_t len)
{
    char k[2] = {kind, '\0'};
    first[0] = '\0';
    sqlite3_stmt *st = db_prepare(db, "INSERT INTO threads(kind, id, message_id) VALUES(?1, ?2, ?3)"
                                      " ON CONFLICT(kind, id) DO NOTHING");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, k, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, message_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    int started = rc == 0 && sqlite3_changes(db) > 0;
    db_finish(st);
    if (rc || started)
        return rc;
    st = db_prepare(db, "SELECT message_id FROM threads WHERE kind = ?1 AND id = ?2");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, k, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(first, len, "%s", (const char *)sqlite3_column_text(st, 0));
    db_finish(st);
    return 0;
}

/* mailer_store_requeue - staff retry: a failed or bounced message goes again,
 * with a fresh give-up clock */
int mailer_store_requeue(sqlite3 *db, int64_t id, int64_t now_ms)
{
    sqlite3_stmt *st = db_prepare(
        db, "UPDATE messages SET status = 'queued', next_at = ?2, first_at = ?2,"
            " updated_at = ?2 WHERE id = ?1 AND status IN ('failed', 'bounced', 'skipped')");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now_ms);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}


/* s_event - the payload of an outcome event for row id */
static json_t *s_event(sqlite3 *db, int64_t id)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT request_key, message_id, customer_id,"
                                      " coalesce(sent_to, address), template, category, attempts"
                                      " FROM messages WHERE id = ?");
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    json_t *e = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        e = json_pack("{s:I,s:s,s:s,s:s,s:s}", "message", (json_int_t)id, "request_key",
                      sqlite3_column_text(st, 0), "message_id", sqlite3_column_text(st, 1),
                      "template", sqlite3_column_text(st, 4), "category",
                      sqlite3_column_text(st, 5));
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            json_object_set_new(e, "customer_id",
                                json_string((const char *)sqlite3_column_text(st, 2)));
        if (sqlite3_column_type(st, 3) != SQLITE_NULL)
            json_object_set_new(e, "address",
                                json_string((const char *)sqlite3_column_text(st, 3)));
        json_object_set_new(e, "attempts", json_integer(sqlite3_column_int(st, 6)));
    }
    db_finish(st);
    return e;
}

/* mailer_store_outcome - record one message's end (or retry) with its event */
void mailer_store_outcome(sqlite3 *db, const char *ns, int64_t id, const char *status, const char *type,
                      const char *error, int code, int64_t next_at)
{
    int64_t now = clock_now_ms();
    sqlite3_stmt *st = db_prepare(db, "UPDATE messages SET status = ?2, last_error = ?3,"
                                      " next_at = ?4, lease_until = NULL, updated_at = ?5"
                                      " WHERE id = ?1");
    if (!st)
        return;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    if (error)
        sqlite3_bind_text(st, 3, error, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, next_at ? next_at : now);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_step(st);
    db_finish(st);
    if (!type)
        return;
    json_t *e = s_event(db, id);
    if (!e)
        return;
    if (strcmp(type, EV_MAIL_SKIPPED) == 0) {
        json_object_del(e, "attempts");
        json_object_set_new(e, "reason", json_string(code == 1   ? "suppressed"
                                                     : code == 2 ? "no_address"
                                                                 : "render_failed"));
        if (code == 3 && error)
            json_object_set_new(e, "error", json_string(error));
    } else if (error) {
        json_object_set_new(e, "error", json_string(error));
        if (strcmp(type, EV_MAIL_BOUNCED) == 0)
            json_object_set_new(e, "code", json_integer(code));
    }
    char key[200];
    snprintf(key, sizeof key, "%s/%s/%lld/%lld", ns ? ns : "mailer", type, (long long)id,
             (long long)json_integer_value(json_object_get(e, "attempts")));
    outbox_add(db, type, key, e);
    json_decref(e);
}

/* mailer_store_record - what happened to one job, committed at once: delivered,
 * bounced (and the address suppressed), retried with backoff, or failed
 * after give_up.  Called by the worker right after the server's answer, on
 * its own connection, so a crash can repeat at most the message whose
 * answer had not been committed yet. */
int mailer_store_record(sqlite3 *db, const mailer_pool_conf_t *rules, const mailer_pool_job_t *j)
{
    if (db_begin(db))
        return -1;
    int64_t now = clock_now_ms();
    if (j->render_failed) {
        log_error("event=render_failed message=%lld error=\"%s\"", (long long)j->id, j->diag);
        mailer_store_outcome(db, rules->key_ns, j->id, "skipped", EV_MAIL_SKIPPED, j->diag, 3, 0);
        return db_commit(db) ? (db_rollback(db), -1) : 0;
    }
    sqlite3_stmt *up = db_prepare(db, "UPDATE messages SET attempts = attempts + 1 WHERE id = ?");
    int counted = 0;
    if (up) {
        sqlite3_bind_int64(up, 1, j->id);
        counted = sqlite3_step(up) == SQLITE_DONE;
        db_finish(up);
    }
    if (!counted) { /* the caller sees -1 and the message stays claimed: the lease retries it */
        log_error("event=record_failed message=%lld error=\"%s\"", (long long)j->id,
                  sqlite3_errmsg(db));
        db_rollback(db);
        return -1;
    }
    if (j->code >= 200 && j->code < 300) {
        mailer_store_outcome(db, rules->key_ns, j->id, "delivered", EV_MAIL_DELIVERED, NULL, 0, 0);
    } else if (j->permanent) {
        log_warn("event=bounced message=%lld code=%d diag=\"%s\"", (long long)j->id, j->code,
                 j->diag);
        mailer_store_suppress(db, j->to_addr, "bounced", 0);
        mailer_store_outcome(db, rules->key_ns, j->id, "bounced", EV_MAIL_BOUNCED, j->diag,
                       j->code >= 500 && j->code < 600 ? j->code : 550, 0);
    } else {
        int attempts = 1;
        int64_t first = now;
        sqlite3_stmt *st = db_prepare(db, "SELECT attempts, first_at FROM messages WHERE id = ?");
        if (st) {
            sqlite3_bind_int64(st, 1, j->id);
            if (sqlite3_step(st) == SQLITE_ROW) {
                attempts = sqlite3_column_int(st, 0);
                first = sqlite3_column_int64(st, 1);
            }
            db_finish(st);
        }
        if (now - first >= rules->give_up) {
            log_warn("event=gave_up message=%lld attempts=%d error=\"%s\"", (long long)j->id,
                     attempts, j->diag);
            mailer_store_outcome(db, rules->key_ns, j->id, "failed", EV_MAIL_FAILED, j->diag, 0, 0);
        } else {
            int64_t delay = rules->retry_min;
            for (int i = 1; i < attempts && delay < rules->retry_max; i++)
                delay *= 2;
            if (delay > rules->retry_max)
                delay = rules->retry_max;
            log_info("event=retry message=%lld attempts=%d in_ms=%lld error=\"%s\"",
                     (long long)j->id, attempts, (long long)delay, j->diag);
            mailer_store_outcome(db, rules->key_ns, j->id, "retry", NULL, j->diag, 0, now + delay);
        }
    }
    if (db_commit(db)) {
        db_rollback(db);
        return -1;
    }
    return 0;
}
