/*
 * outbox.c - see outbox.h.
 */
#include "outbox.h"

#include <stdlib.h>

#include "db.h"
#include "jclient.h"
#include "log.h"

#define S_BATCH 500
#define S_LIMIT "500" /* S_BATCH, in the SQL */
#define S_ROUNDS 20          /* per flush, so one call cannot run unbounded */
#define S_TIMEOUT_MS 10000

int outbox_add(sqlite3 *db, const char *type, const char *key, const json_t *payload)
{
    char *text = json_dumps(payload, JSON_COMPACT);
    sqlite3_stmt *st = text ? db_prepare(db, "INSERT INTO outbox(type, key, payload)"
                                             " VALUES(?, ?, ?) ON CONFLICT(key) DO NOTHING")
                            : NULL;
    int rc = -1;
    if (st) {
        sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        db_finish(st);
    }
    free(text);
    return rc;
}

/* s_text - a text column, "" for NULL */
static const char *s_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

void outbox_flush(sqlite3 *db, wire_client_t *journal)
{
    for (int round = 0; round < S_ROUNDS; round++) {
        sqlite3_stmt *st = db_prepare(db, "SELECT id, type, key, payload FROM outbox"
                                          " ORDER BY id LIMIT " S_LIMIT);
        if (!st)
            return;
        json_t *events = json_array();
        int64_t last = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            last = sqlite3_column_int64(st, 0);
            json_t *payload = json_loads(s_text(st, 3), 0, NULL);
            json_array_append_new(events, json_pack("{s:s,s:s,s:o}", "type", s_text(st, 1),
                                                    "key", s_text(st, 2), "payload",
                                                    payload ? payload : json_object()));
        }
        db_finish(st);
        size_t n = json_array_size(events);
        if (n == 0) {
            json_decref(events);
            return;
        }
        char err[200];
        json_t *ok = jclient_append(journal, events, S_TIMEOUT_MS, err);
        json_decref(events);
        if (!ok) {
            log_warn("event=outbox_flush_failed error=\"%s\"", err);
            return; /* the rows stay; the next flush sends them */
        }
        json_decref(ok);
        sqlite3_stmt *del = db_prepare(db, "DELETE FROM outbox WHERE id <= ?");
        if (del) {
            sqlite3_bind_int64(del, 1, last);
            sqlite3_step(del);
            db_finish(del);
        }
        if (n < S_BATCH)
            return;
    }
}
