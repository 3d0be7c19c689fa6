/*
 * journal_store.c - append and fetch on journal.db.
 *
 * offset is the rowid: SQLite gives max+1, and rows are never deleted, so
 * offsets only grow.  The unique index on key makes appends idempotent.
 * Payloads are stored as compact JSON text (the text they arrived as minus
 * the whitespace between tokens, see journal_scan.c), and fetch copies that
 * text into the reply without parsing it again.
 */
#include "journal_store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "journal_crypt.h"
#include "log.h"

#define JSTORE_CACHE_KIB "65536" /* 64 MiB of page cache (SQLite's default is 2 MiB) */

const char *const journal_store_migrations[] = {
    "CREATE TABLE events("
    "  offset INTEGER PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  occurred_at TEXT NOT NULL,"
    "  recorded_at TEXT NOT NULL,"
    "  payload TEXT NOT NULL);"
    "CREATE UNIQUE INDEX events_key ON events(key);"
    "CREATE INDEX events_type ON events(type, offset);",
    /* personal fields sealed apart from the payload (journal_crypt.h) */
    "ALTER TABLE events ADD COLUMN sealed BLOB;"
    "ALTER TABLE events ADD COLUMN sealed_names TEXT;",
    /* whether a customer was erased (JOURNAL_ERASED), without reading
     * every erasure: only customer.erased rows are in it */
    "CREATE INDEX events_erased ON events(json_extract(payload, '$.customer_id'))"
    " WHERE type = 'customer.erased';",
    NULL,
};

struct jstore {
    sqlite3 *db;
    sqlite3_stmt *insert, *by_key, *fetch_all;
    int64_t head;
    jcrypt_t *crypt; /* borrowed; opens sealed fields on fetch */
    buf_t open;      /* one opened payload */
};

/* journal_store_new - prepare the statements */
journal_store_t *journal_store_new(sqlite3 *db)
{
    journal_store_t *js = calloc(1, sizeof *js);
    if (!js)
        return NULL;
    js->db = db;
    /* a page cache that holds the hot parts of both indexes, so a round of
     * thousands of inserts neither spills dirty pages to the WAL before its
     * COMMIT nor re-reads index pages it evicted a moment ago */
    db_exec(db, "PRAGMA cache_size = -" JSTORE_CACHE_KIB);
    js->insert = db_prepare(db, "INSERT INTO events(type, key, occurred_at, recorded_at, payload,"
                                " sealed, sealed_names)"
                                " VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING");
    js->by_key = db_prepare(db, "SELECT offset FROM events WHERE key = ?");
    js->fetch_all = db_prepare(db, "SELECT offset, type, key, occurred_at, recorded_at, payload,"
                                   " sealed, sealed_names"
                                   " FROM events WHERE offset > ? ORDER BY offset LIMIT ?");
    if (!js->insert || !js->by_key || !js->fetch_all) {
        journal_store_destroy(&js);
        return NULL;
    }
    journal_store_reload_head(js);
    return js;
}

/* journal_store_destroy - finalize; safe on NULL and twice */
void journal_store_destroy(journal_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    journal_store_t *js = *self_p;
    sqlite3_finalize(js->insert);
    sqlite3_finalize(js->by_key);
    sqlite3_finalize(js->fetch_all);
    buf_free(&js->open);
    free(js);
    *self_p = NULL;
}

int64_t journal_store_head(journal_store_t *js) { return js->head; }
void journal_store_set_head(journal_store_t *js, int64_t head) { js->head = head; }
void journal_store_reload_head(journal_store_t *js)
{
    js->head = db_int(js->db, "SELECT max(offset) FROM events", 0);
}

void journal_store_set_crypt(journal_store_t *js, jcrypt_t *crypt) { js->crypt = crypt; }

/* journal_store_append - insert or find the existing offset */
int journal_store_append(journal_store_t *js, journal_scan_event_t *e, const char *now,
                         const buf_t *sealed, const char *names)
{
    if (e->type_len > INT_MAX || e->key_len > INT_MAX || e->occurred_at_len > INT_MAX ||
        e->payload_len > INT_MAX) {
        log_error("event=append_failed error=\"event too large\"");
        return -1;
    }
    sqlite3_stmt *st = js->insert;
    sqlite3_bind_text(st, 1, e->type, (int)e->type_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, e->key, (int)e->key_len, SQLITE_STATIC);
    if (e->occurred_at)
        sqlite3_bind_text(st, 3, e->occurred_at, (int)e->occurred_at_len, SQLITE_STATIC);
    else
        sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, e->payload, (int)e->payload_len, SQLITE_STATIC);
    if (sealed && sealed->len <= INT_MAX) {
        sqlite3_bind_blob(st, 6, sealed->data, (int)sealed->len, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, names, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, 6);
        sqlite3_bind_null(st, 7);
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        log_error("event=append_failed error=\"%s\"", sqlite3_errmsg(js->db));
        return -1;
    }
    if (sqlite3_changes(js->db) == 1) {
        e->offset = sqlite3_last_insert_rowid(js->db);
        e->dup = 0;
        return 0;
    }
    st = js->by_key;
    sqlite3_bind_text(st, 1, e->key, (int)e->key_len, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -1;
    if (rc == 0) {
        e->offset = sqlite3_column_int64(st, 0);
        e->dup = 1;
    }
    sqlite3_reset(st);
    return rc;
}

/* journal_store_fetch - build the reply body from the rows */
int journal_store_fetch(journal_store_t *js, int64_t after, int limit, const char *const *types,
                 int n_types, buf_t *out)
{
    sqlite3_stmt *st = js->fetch_all;
    sqlite3_stmt *own = NULL;
    if (n_types > 0) {
        buf_t sql = BUF_INIT;
        buf_puts(&sql, "SELECT offset, type, key, occurred_at, recorded_at, payload, sealed,"
                       " sealed_names FROM events"
                       " WHERE offset > ? AND type IN (");
        for (int i = 0; i < n_types; i++)
            buf_puts(&sql, i ? ",?" : "?");
        buf_puts(&sql, ") ORDER BY offset LIMIT ?");
        own = sql.data ? db_prepare(js->db, sql.data) : NULL;
        buf_free(&sql);
        if (!own)
            return -1;
        st = own;
        for (int i = 0; i < n_types; i++)
            sqlite3_bind_text(st, 2 + i, types[i], -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2 + n_types, limit);
    } else {
        sqlite3_reset(st);
        sqlite3_bind_int(st, 2, limit);
    }
    sqlite3_bind_int64(st, 1, after);
    int64_t head = js->head, last = after;
    int n = 0, rc;
    buf_puts(out, "{\"events\":[");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        last = sqlite3_column_int64(st, 0);
        buf_printf(out, "%s{\"offset\":%lld,\"type\":", n ? "," : "", (long long)last);
        buf_json_string(out, (const char *)sqlite3_column_text(st, 1));
        buf_puts(out, ",\"key\":");
        buf_json_string(out, (const char *)sqlite3_column_text(st, 2));
        buf_puts(out, ",\"occurred_at\":");
        buf_json_string(out, (const char *)sqlite3_column_text(st, 3));
        buf_puts(out, ",\"recorded_at\":");
        buf_json_string(out, (const char *)sqlite3_column_text(st, 4));
        if (sqlite3_column_type(st, 6) == SQLITE_BLOB && js->crypt) {
            int erased = 0;
            buf_reset(&js->open);
            if (jcrypt_open(js->crypt, (const char *)sqlite3_column_text(st, 1),
                            (const char *)sqlite3_column_text(st, 2),
                            (const char *)sqlite3_column_text(st, 5), sqlite3_column_blob(st, 6),
                            (size_t)sqlite3_column_bytes(st, 6),
                            (const char *)sqlite3_column_text(st, 7), &js->open, &erased) ||
                buf_failed(&js->open)) {
                rc = SQLITE_NOMEM;
                break;
            }
            if (erased)
                buf_puts(out, ",\"erased\":true");
            buf_puts(out, ",\"payload\":");
            buf_append(out, js->open.data, js->open.len);
        } else {
            buf_puts(out, ",\"payload\":");
            buf_puts(out, (const char *)sqlite3_column_text(st, 5));
        }
        buf_putc(out, '}');
        n++;
    }
    if (own)
        sqlite3_finalize(own);
    else
        sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return -1;
    /* a short page means everything up to head was looked at, so a consumer
     * filtering on types can move its cursor past what it does not want */
    int64_t next = n < limit ? (head > after ? head : after) : last;
    buf_printf(out, "],\"next\":%lld,\"head\":%lld}", (long long)next, (long long)head);
    return buf_failed(out) ? -1 : 0;
}
