/*
 * db.h - SQLite the way every Hark service uses it.
 *
 * Each service owns one SQLite file and is its only writer.  db_open() sets
 * WAL mode, a busy timeout, foreign keys and the chosen synchronous level,
 * then brings the schema up to date from a list of migrations (each applied
 * once, in one transaction, counted in PRAGMA user_version).
 */
#ifndef HARK_DB_H
#define HARK_DB_H

#include <sqlite3.h>

/* db_open - open (creating) path.  synchronous is "full" or "normal".
 * migrations is a NULL-terminated list of SQL scripts; entry i moves the
 * schema from version i to i+1.  Returns NULL on error (logged).  Caller
 * closes with db_close(). */
sqlite3 *db_open(const char *path, const char *synchronous,
                 const char *const *migrations);

/* db_close - finalize everything and close; safe on NULL, sets *db_p NULL */
void db_close(sqlite3 **db_p);

/* db_exec - run SQL with no results; 0/-1 (logged) */
int db_exec(sqlite3 *db, const char *sql);

/* db_begin - BEGIN IMMEDIATE: take the write lock now, not halfway */
int db_begin(sqlite3 *db);
int db_commit(sqlite3 *db);
int db_rollback(sqlite3 *db);

/* db_prepare - a prepared statement for sql; NULL on error (logged).  The
 * caller gives it back with db_finish (kept for reuse: the same SQL text
 * next time costs no compile) or sqlite3_finalize. */
sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql);

/* db_finish - reset st, clear its bindings and keep it for db_prepare;
 * NULL is fine.  db_close finalizes what is kept. */
void db_finish(sqlite3_stmt *st);

/* db_int - the first column of the first row of sql as an integer, or dflt */
long long db_int(sqlite3 *db, const char *sql, long long dflt);

#endif
