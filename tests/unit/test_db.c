/*
 * test_db.c - unit tests for services/common/db.c.
 *
 * Real SQLite files in a temp dir: the settings db_open applies (WAL,
 * synchronous, foreign keys, busy timeout), migrations applied once and in
 * one transaction each, a failing migration leaving the file as it was, a
 * file from a newer build refused, and the small helpers.  Expected failures
 * log an error line to stderr; that is the module doing its job.
 */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "unit.h"

static char s_dir[64];

/* s_rm - nftw callback removing one entry */
static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* s_path - <s_dir>/name into out */
static const char *s_path(const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", s_dir, name);
    return out;
}

/* s_text - the first column of the first row of sql as text into out */
static const char *s_text(sqlite3 *db, const char *sql, char *out, size_t len)
{
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

/* s_raw_int - open path with plain sqlite (no db_open) and run db_int */
static long long s_raw_int(const char *path, const char *sql, long long dflt)
{
    sqlite3 *db = NULL;
    long long v = -999;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK)
        v = db_int(db, sql, dflt);
    sqlite3_close(db);
    return v;
}

static const char *const s_two[] = {
    "CREATE TABLE t(x INTEGER NOT NULL);"
    "INSERT INTO t VALUES (1);",
    "CREATE TABLE u(id INTEGER PRIMARY KEY, t_x INTEGER REFERENCES t(x));",
    NULL,
};

/* s_open - db_open of <s_dir>/name with the two-step migrations, checked:
 * NULL (and a failed check) when it cannot be opened */
static sqlite3 *s_open(const char *name)
{
    char path[128];
    sqlite3 *db = db_open(s_path(name, path, sizeof path), "normal", s_two);
    CHECK(db != NULL);
    return db;
}

static void test_open_sets_wal_and_pragmas(void)
{
    char path[128], text[32];
    s_path("pragmas.db", path, sizeof path);
    sqlite3 *db = db_open(path, "normal", s_two);
    CHECK(db != NULL);
    if (!db)
        return;
    CHECK_STR(s_text(db, "PRAGMA journal_mode", text, sizeof text), "wal");
    CHECK_INT(db_int(db, "PRAGMA synchronous", -1), 1); /* NORMAL */
    CHECK_INT(db_int(db, "PRAGMA foreign_keys", -1), 1);
    CHECK_INT(db_int(db, "PRAGMA busy_timeout", -1), 5000);
    /* WAL is a property of the file: a plain open sees it too */
    CHECK_INT(db_exec(db, "INSERT INTO t VALUES (2)"), 0);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", path);
    CHECK_INT(access(wal, F_OK), 0);
    db_close(&db);
    CHECK(db == NULL);
    sqlite3 *raw = NULL;
    CHECK_INT(sqlite3_open(path, &raw), SQLITE_OK);
    CHECK_STR(s_text(raw, "PRAGMA journal_mode", text, sizeof text), "wal");
    sqlite3_close(raw);

    db = db_open(path, "full", s_two);
    CHECK(db != NULL);
    CHECK_INT(db_int(db, "PRAGMA synchronous", -1), 2); /* FULL */
    db_close(&db);
    /* anything but "normal" means full */
    db = db_open(path, "bogus", s_two);
    CHECK(db != NULL);
    CHECK_INT(db_int(db, "PRAGMA synchronous", -1), 2);
    db_close(&db);
}

static void test_foreign_keys_are_enforced(void)
{
    char path[128];
    s_path("fk.db", path, sizeof path);
    static const char *const m[] = {
        "CREATE TABLE p(id INTEGER PRIMARY KEY);"
        "CREATE TABLE c(p_id INTEGER NOT NULL REFERENCES p(id));",
        NULL,
    };
    sqlite3 *db = db_open(path, "normal", m);
    CHECK(db != NULL);
    if (!db)
        return;
    CHECK_INT(db_exec(db, "INSERT INTO p VALUES (1)"), 0);
    CHECK_INT(db_exec(db, "INSERT INTO c VALUES (1)"), 0);
    CHECK_INT(db_exec(db, "INSERT INTO c VALUES (2)"), -1);
    CHECK_INT(db_int(db, "SELECT count(*) FROM c", -1), 1);
    db_close(&db);
}

static void test_migrations_run_once(void)
{
    sqlite3 *db = s_open("once.db");
    if (!db)
        return;
    CHECK_INT(db_int(db, "PRAGMA user_version", -1), 2);
    CHECK_INT(db_int(db, "SELECT count(*) FROM t", -1), 1);
    CHECK_INT(db_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'u'", -1), 1);
    db_close(&db);

    for (int i = 0; i < 3; i++) {
        db = s_open("once.db");
        if (!db)
            return;
        CHECK_INT(db_int(db, "PRAGMA user_version", -1), 2);
        CHECK_INT(db_int(db, "SELECT count(*) FROM t", -1), 1); /* INSERT not re-run */
        db_close(&db);
    }
}

static void test_new_migration_applies_only_itself(void)
{
    char path[128];
    s_path("grow.db", path, sizeof path);
    static const char *const one[] = {"CREATE TABLE t(x); INSERT INTO t VALUES (1);", NULL};
    static const char *const three[] = {
        "CREATE TABLE t(x); INSERT INTO t VALUES (1);",
        "INSERT INTO t VALUES (20);",
        "INSERT INTO t VALUES (300);",
        NULL,
    };
    sqlite3 *db = db_open(path, "normal", one);
    CHECK(db != NULL);
    db_close(&db);
    CHECK_INT(s_raw_int(path, "PRAGMA user_version", -1), 1);
    db = db_open(path, "normal", three);
    CHECK(db != NULL);
    if (!db)
        return;
    CHECK_INT(db_int(db, "PRAGMA user_version", -1), 3);
    CHECK_INT(db_int(db, "SELECT sum(x) FROM t", -1), 321);
    db_close(&db);
}

static void test_failing_migration_returns_null_and_keeps_version(void)
{
    char path[128];
    s_path("fail.db", path, sizeof path);
    static const char *const bad[] = {
        "CREATE TABLE t(x); INSERT INTO t VALUES (1);",
        /* the first statement works, the second fails: both must go */
        "CREATE TABLE half(y); INSERT INTO t VALUES (2); INSERT INTO nosuch VALUES (1);",
        NULL,
    };
    CHECK(db_open(path, "normal", bad) == NULL);
    /* migration 1 was committed on its own; migration 2 left no trace */
    CHECK_INT(s_raw_int(path, "PRAGMA user_version", -1), 1);
    CHECK_INT(s_raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'half'", -1),
              0);
    CHECK_INT(s_raw_int(path, "SELECT count(*) FROM t", -1), 1);

    /* again: still refused, still version 1, still one row */
    CHECK(db_open(path, "normal", bad) == NULL);
    CHECK_INT(s_raw_int(path, "PRAGMA user_version", -1), 1);
    CHECK_INT(s_raw_int(path, "SELECT count(*) FROM t", -1), 1);

    /* a fixed migration 2 then applies */
    static const char *const fixed[] = {
        "CREATE TABLE t(x); INSERT INTO t VALUES (1);",
        "CREATE TABLE half(y); INSERT INTO t VALUES (2);",
        NULL,
    };
    sqlite3 *db = db_open(path, "normal", fixed);
    CHECK(db != NULL);
    CHECK_INT(db_int(db, "PRAGMA user_version", -1), 2);
    CHECK_INT(db_int(db, "SELECT count(*) FROM t", -1), 2);
    db_close(&db);
}

static void test_failing_first_migration_leaves_version_zero(void)
{
    char path[128];
    s_path("fail0.db", path, sizeof path);
    static const char *const bad[] = {"CREATE TABLE a(x); SELEC 1;", NULL};
    CHECK(db_open(path, "normal", bad) == NULL);
    CHECK_INT(s_raw_int(path, "PRAGMA user_version", -1), 0);
    CHECK_INT(s_raw_int(path, "SELECT count(*) FROM sqlite_master", -1), 0);
}

static void test_file_from_newer_build_is_refused(void)
{
    char path[128];
    s_path("newer.db", path, sizeof path);
    sqlite3 *raw = NULL;
    CHECK_INT(sqlite3_open(path, &raw), SQLITE_OK);
    CHECK_INT(db_exec(raw, "CREATE TABLE t(x); PRAGMA user_version = 5;"), 0);
    sqlite3_close(raw);
    CHECK(db_open(path, "normal", s_two) == NULL);
    CHECK_INT(s_raw_int(path, "PRAGMA user_version", -1), 5);
    CHECK_INT(s_raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'u'", -1), 0);

    /* a negative version is nonsense, not "version -1" */
    CHECK_INT(sqlite3_open(path, &raw), SQLITE_OK);
    CHECK_INT(db_exec(raw, "PRAGMA user_version = -1;"), 0);
    sqlite3_close(raw);
    CHECK(db_open(path, "normal", s_two) == NULL);

    /* without migrations the file is opened as it is */
    sqlite3 *db = db_open(path, "normal", NULL);
    CHECK(db != NULL);
    CHECK_INT(db_int(db, "PRAGMA user_version", 0), -1);
    db_close(&db);
}

static void test_open_fails_in_missing_dir(void)
{
    char path[128];
    s_path("no/such/dir/x.db", path, sizeof path);
    CHECK(db_open(path, "normal", s_two) == NULL);
}

static void test_db_int_value_and_default(void)
{
    sqlite3 *db = s_open("int.db");
    if (!db)
        return;
    CHECK_INT(db_int(db, "SELECT 9007199254740993", 0), 9007199254740993LL);
    CHECK_INT(db_int(db, "SELECT -7", 0), -7);
    CHECK_INT(db_int(db, "SELECT x FROM t WHERE x = 42", -1), -1); /* no row */
    CHECK_INT(db_int(db, "SELECT NULL", 77), 77);                  /* NULL */
    CHECK_INT(db_int(db, "SELECT max(x) FROM t WHERE 0", 5), 5);   /* NULL aggregate */
    CHECK_INT(db_int(db, "SELECT x FROM nosuch", 123), 123);       /* error */
    CHECK_INT(db_int(db, "SELECT 0", 55), 0);                      /* 0 is a value */
    db_close(&db);
}

static void test_transactions_commit_and_roll_back(void)
{
    sqlite3 *db = s_open("tx.db");
    if (!db)
        return;
    CHECK_INT(db_rollback(db), 0); /* nothing open: fine */
    CHECK_INT(db_begin(db), 0);
    CHECK_INT(db_begin(db), -1); /* no nesting */
    CHECK_INT(db_exec(db, "INSERT INTO t VALUES (10)"), 0);
    CHECK_INT(db_rollback(db), 0);
    CHECK_INT(db_int(db, "SELECT count(*) FROM t WHERE x = 10", -1), 0);
    CHECK(sqlite3_get_autocommit(db));

    CHECK_INT(db_begin(db), 0);
    CHECK_INT(db_exec(db, "INSERT INTO t VALUES (11)"), 0);
    CHECK_INT(db_commit(db), 0);
    CHECK_INT(db_commit(db), -1); /* nothing to commit */
    db_close(&db);
    char path[128];
    s_path("tx.db", path, sizeof path);
    CHECK_INT(s_raw_int(path, "SELECT count(*) FROM t WHERE x = 11", -1), 1);
}

static void test_begin_immediate_takes_the_write_lock(void)
{
    char path[128];
    s_path("lock.db", path, sizeof path);
    sqlite3 *db = db_open(path, "normal", s_two);
    CHECK(db != NULL);
    if (!db)
        return;
    CHECK_INT(db_begin(db), 0);
    sqlite3 *other = NULL;
    CHECK_INT(sqlite3_open(path, &other), SQLITE_OK);
    sqlite3_busy_timeout(other, 0);
    /* a second writer is locked out before the first has written anything */
    CHECK_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_BUSY);
    /* readers are not (WAL) */
    CHECK_INT(db_int(other, "SELECT count(*) FROM t", -1), 1);
    sqlite3_close(other);
    CHECK_INT(db_rollback(db), 0);
    db_close(&db);
}

/* Writers on two connections to one file, in two threads, with SQLite's
 * busy timeout at 0: without db_begin's in-process queue a BEGIN IMMEDIATE
 * would meet the other's lock and fail with SQLITE_BUSY; with it, every one
 * of them waits its turn and commits. */
enum { S_TURNS = 1000 };

typedef struct {
    sqlite3 *db;
    int base, failed;
} s_writer_arg_t;

static void *s_writer_thread(void *arg)
{
    s_writer_arg_t *w = arg;
    for (int i = 0; i < S_TURNS; i++) {
        char sql[80];
        snprintf(sql, sizeof sql, "INSERT INTO t VALUES (%d)", w->base + i);
        if (db_begin(w->db) || db_exec(w->db, sql) || db_commit(w->db)) {
            db_rollback(w->db);
            w->failed++;
        }
    }
    return NULL;
}

static void test_writers_in_one_process_take_turns(void)
{
    sqlite3 *a = s_open("turns.db"), *b = s_open("turns.db");
    if (!a || !b) {
        db_close(&a);
        db_close(&b);
        return;
    }
    sqlite3_busy_timeout(a, 0);
    sqlite3_busy_timeout(b, 0);
    s_writer_arg_t wa = {.db = a, .base = 100000}, wb = {.db = b, .base = 200000};
    pthread_t ta, tb;
    CHECK_INT(pthread_create(&ta, NULL, s_writer_thread, &wa), 0);
    CHECK_INT(pthread_create(&tb, NULL, s_writer_thread, &wb), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_INT(wa.failed, 0);
    CHECK_INT(wb.failed, 0);
    CHECK_INT(db_int(a, "SELECT count(*) FROM t WHERE x >= 100000", -1), 2 * S_TURNS);
    /* a rollback gives the turn back too: b can begin after a rolled back */
    CHECK_INT(db_begin(a), 0);
    CHECK_INT(db_rollback(a), 0);
    CHECK_INT(db_begin(b), 0);
    CHECK_INT(db_commit(b), 0);
    db_close(&a);
    db_close(&b);
}

/* db_finish keeps a statement for the next db_prepare of the same SQL: reset
 * and unbound; one still in use is never handed out twice. */
static void test_finished_statements_are_reused(void)
{
    sqlite3 *db = s_open("reuse.db");
    if (!db)
        return;
    const char *sql = "SELECT ?1 + 1";
    sqlite3_stmt *a = db_prepare(db, sql);
    CHECK(a != NULL);
    sqlite3_bind_int(a, 1, 41);
    CHECK_INT(sqlite3_step(a), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(a, 0), 42);
    sqlite3_stmt *b = db_prepare(db, sql); /* a is still out: a new one */
    CHECK(b != NULL && b != a);
    db_finish(a);
    sqlite3_stmt *c = db_prepare(db, sql);
    CHECK(c == a);                          /* the one given back */
    CHECK_INT(sqlite3_stmt_busy(c), 0);     /* reset */
    CHECK_INT(sqlite3_step(c), SQLITE_ROW);
    CHECK_INT(sqlite3_column_type(c, 0), SQLITE_NULL); /* unbound: NULL + 1 */
    sqlite3_stmt *d = db_prepare(db, "SELECT 2");      /* other SQL: not a */
    CHECK(d != NULL && d != a && d != b);
    db_finish(b);
    db_finish(c);
    db_finish(d);
    db_finish(NULL);
    db_close(&db); /* finalizes the kept ones (LeakSanitizer checks) */
}

/* A statement given back twice is kept once, so it is never handed out to
 * two callers; closing a connection inside a transaction rolls it back and
 * lets the next writer in at once. */
static void test_finish_twice_and_close_inside_a_transaction(void)
{
    sqlite3 *a = s_open("misuse.db"), *b = s_open("misuse.db");
    if (!a || !b) {
        db_close(&a);
        db_close(&b);
        return;
    }
    sqlite3_stmt *st = db_prepare(a, "SELECT 7");
    db_finish(st);
    db_finish(st);
    sqlite3_stmt *x = db_prepare(a, "SELECT 7"), *y = db_prepare(a, "SELECT 7");
    CHECK(x == st);
    CHECK(y != NULL && y != x);
    db_finish(x);
    db_finish(y);
    CHECK_INT(db_begin(a), 0);
    CHECK_INT(db_exec(a, "INSERT INTO t VALUES (77)"), 0);
    db_close(&a); /* no COMMIT: rolled back, and the turn given back */
    sqlite3_busy_timeout(b, 0);
    CHECK_INT(db_begin(b), 0);
    CHECK_INT(db_int(b, "SELECT count(*) FROM t WHERE x = 77", -1), 0);
    CHECK_INT(db_commit(b), 0);
    db_close(&b);
}

static void test_prepare_and_close_finalize_leftovers(void)
{
    char path[128];
    s_path("stmt.db", path, sizeof path);
    sqlite3 *db = db_open(path, "normal", s_two);
    CHECK(db != NULL);
    if (!db)
        return;
    CHECK(db_prepare(db, "SELEKT") == NULL);
    sqlite3_stmt *a = db_prepare(db, "SELECT x FROM t");
    sqlite3_stmt *b = db_prepare(db, "INSERT INTO t VALUES (?)");
    CHECK(a != NULL && b != NULL);
    CHECK_INT(sqlite3_step(a), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(a, 0), 1);
    /* a and b are left open: db_close finalizes them (LeakSanitizer would
     * report the connection otherwise) and the file closes cleanly */
    db_close(&db);
    CHECK(db == NULL);
    db_close(&db);
    db_close(NULL);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", path);
    CHECK(access(wal, F_OK) != 0); /* last connection closed: WAL checkpointed away */
}

int main(void)
{
    log_init("test_db");
    snprintf(s_dir, sizeof s_dir, "/tmp/hark-test-db-XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    UNIT_RUN(test_open_sets_wal_and_pragmas);
    UNIT_RUN(test_writers_in_one_process_take_turns);
    UNIT_RUN(test_finished_statements_are_reused);
    UNIT_RUN(test_finish_twice_and_close_inside_a_transaction);
    UNIT_RUN(test_foreign_keys_are_enforced);
    UNIT_RUN(test_migrations_run_once);
    UNIT_RUN(test_new_migration_applies_only_itself);
    UNIT_RUN(test_failing_migration_returns_null_and_keeps_version);
    UNIT_RUN(test_failing_first_migration_leaves_version_zero);
    UNIT_RUN(test_file_from_newer_build_is_refused);
    UNIT_RUN(test_open_fails_in_missing_dir);
    UNIT_RUN(test_db_int_value_and_default);
    UNIT_RUN(test_transactions_commit_and_roll_back);
    UNIT_RUN(test_begin_immediate_takes_the_write_lock);
    UNIT_RUN(test_prepare_and_close_finalize_leftovers);
    nftw(s_dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    return UNIT_END();
}
