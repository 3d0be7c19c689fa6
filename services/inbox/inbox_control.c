/*
 * inbox_control.c - what hark-inbox serves on [inbox] control:
 * INBOX_UNMATCHED and its part of SERVICE_STATUS.
 */
#include <stdio.h>

#include "clock.h"
#include "db.h"
#include "inbox.h"

/* s_counts - messages recorded, by outcome */
static json_t *s_counts(sqlite3 *db)
{
    json_t *counts = json_object();
    sqlite3_stmt *st = db_prepare(db, "SELECT outcome, count(*) FROM messages GROUP BY outcome");
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(counts, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    db_finish(st);
    return counts;
}

/* inbox_control_unmatched - INBOX_UNMATCHED {limit?}: what staff should
 * look at, newest first: mail that matched nothing, and mail moved aside */
json_t *inbox_control_unmatched(service_t *svc, const json_t *req, service_err_t *err)
{
    sqlite3 *db = service_db(svc);
    json_int_t limit = json_integer_value(json_object_get(req, "limit"));
    if (limit <= 0 || limit > 1000)
        limit = 100;
    sqlite3_stmt *st = db_prepare(db, "SELECT file, received_at, outcome, from_addr, subject,"
                                      " reason, substr(text, 1, 2000) FROM messages"
                                      " WHERE outcome IN ('unmatched', 'bad')"
                                      " ORDER BY id DESC LIMIT ?");
    if (!st)
        return service_fail(err, "internal", "inbox.db: %s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, limit);
    json_t *rows = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        char at[40];
        json_t *r = json_pack("{s:s,s:s,s:s}", "file", sqlite3_column_text(st, 0), "received_at",
                              clock_format(sqlite3_column_int64(st, 1), at, sizeof at),
                              "outcome", sqlite3_column_text(st, 2));
        static const char *const opt[] = {"from", "subject", "reason", "text"};
        for (int i = 0; i < 4; i++)
            if (sqlite3_column_type(st, 3 + i) != SQLITE_NULL)
                json_object_set_new(r, opt[i],
                                    json_string((const char *)sqlite3_column_text(st, 3 + i)));
        json_array_append_new(rows, r);
    }
    db_finish(st);
    return json_pack("{s:o,s:o}", "counts", s_counts(db), "messages", rows);
}

/* inbox_control_status - SERVICE_STATUS: the Maildir, what was read */
void inbox_control_status(service_t *svc, json_t *body)
{
    inbox_t *in = service_state(svc);
    if (!in)
        return;
    json_object_set_new(body, "maildir", json_string(in->maildir));
    json_object_set_new(body, "read", s_counts(service_db(svc)));
}
