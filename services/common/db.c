/*
 * db.c - SQLite helpers.
 */
#include "db.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* db_exec - run SQL, log failures */
int db_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        char q[300];
        log_error("event=sql_failed error=%s sql=%s",
                  log_quote(err ? err : sqlite3_errmsg(db), q, 160),
                  log_quote(sql, q + 160, 140));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* db_begin - immediate transaction */
int db_begin(sqlite3 *db) { return db_exec(db, "BEGIN IMMEDIATE"); }
int db_commit(sqlite3 *db) { return db_exec(db, "COMMIT"); }
int db_rollback(sqlite3 *db)
{
    if (sqlite3_get_autocommit(db))
        return 0;
    return db_exec(db, "ROLLBACK");
}

/* db_prepare - prepared statement or NULL */
sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        char q[300];
        log_error("event=sql_prepare_failed error=%s sql=%s",
                  log_quote(sqlite3_errmsg(db), q, 160), log_quote(sql, q + 160, 140));
        return NULL;
    }
    return st;
}

/* db_int - single integer result */
long long db_int(sqlite3 *db, const char *sql, long long dflt)
{
    sqlite3_stmt *st = db_prepare(db, sql);
    long long v = dflt;
    if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* s_migrate - apply the migrations the file has not seen */
static int s_migrate(sqlite3 *db, const char *path, const char *const *migrations)
{
    if (!migrations)
        return 0;
    long long have = db_int(db, "PRAGMA user_version", 0), known = 0;
    while (migrations[known])
        known++;
    if (have < 0 || have > known) { /* a newer build's file: do not guess */
        log_error("event=schema_too_new db=%s version=%lld known=%lld", path, have, known);
        return -1;
    }
    for (long long i = have; i < known; i++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %lld", i + 1);
        if (db_begin(db) || db_exec(db, migrations[i]) || db_exec(db, pragma) ||
            db_commit(db)) {
            db_rollback(db);
            log_error("event=migration_failed db=%s version=%lld", path, i + 1);
            return -1;
        }
        log_info("event=migrated db=%s version=%lld", path, i + 1);
    }
    return 0;
}

/* db_open - open with Hark's settings and migrate */
sqlite3 *db_open(const char *path, const char *synchronous,
                 const char *const *migrations)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        log_error("event=db_open_failed db=%s error=\"%s\"", path,
                  db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    char sync[64];
    snprintf(sync, sizeof sync, "PRAGMA synchronous = %s",
             strcmp(synchronous, "normal") == 0 ? "NORMAL" : "FULL");
    sqlite3_busy_timeout(db, 5000);
    if (db_exec(db, "PRAGMA journal_mode = WAL") || db_exec(db, sync) ||
        db_exec(db, "PRAGMA foreign_keys = ON") || s_migrate(db, path, migrations)) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* db_close - close, finalizing any statement left open */
void db_close(sqlite3 **db_p)
{
    if (!db_p || !*db_p)
        return;
    sqlite3_stmt *st;
    while ((st = sqlite3_next_stmt(*db_p, NULL)))
        sqlite3_finalize(st);
    sqlite3_close(*db_p);
    *db_p = NULL;
}
