/*
 * db.c - SQLite helpers.
 */
#include "db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/*
 * Writers inside one process queue on a mutex, not on SQLite's lock.  A
 * service that writes its file from several threads (the mailer: its main
 * loop and one connection per SMTP worker) would otherwise meet SQLITE_BUSY
 * at BEGIN IMMEDIATE, and SQLite's busy handler sleeps 1, 2, 5, 10 ms... -
 * measured in the mailer at 0.3 sleeps of >= 1 ms per message sent.  A mutex
 * hands the write lock over the moment COMMIT returns.  Connections to the
 * same file share one mutex; each connection remembers whether it holds it.
 * Other processes (none write a service's file, by design) still meet the
 * busy timeout.
 */
#define S_MAX_CONNS 64
#define S_BUSY_MS 5000 /* SQLite busy timeout, and the longest wait for a turn */
#define S_MAX_IDLE 32 /* statements kept per connection for db_prepare */

typedef struct {
    sqlite3 *db;
    pthread_mutex_t *lock; /* shared by every connection to the same file */
    char *file;
    int held;              /* this connection's transaction holds lock */
    int n_idle;
    sqlite3_stmt *idle[S_MAX_IDLE]; /* given back by db_finish, reset, unbound */
} s_conn_t;

static pthread_mutex_t s_table_lock = PTHREAD_MUTEX_INITIALIZER;
static s_conn_t s_conns[S_MAX_CONNS];

/* s_conn - the entry of db, or NULL (not opened through db_open); under s_table_lock */
static s_conn_t *s_conn(sqlite3 *db)
{
    if (!db)
        return NULL;
    for (int i = 0; i < S_MAX_CONNS; i++)
        if (s_conns[i].db == db)
            return &s_conns[i];
    return NULL;
}

/* s_register - give db an entry and the file's mutex; 0/-1 (then it just has
 * no in-process queue, which is only slower) */
static int s_register(sqlite3 *db)
{
    const char *file = sqlite3_db_filename(db, "main");
    if (!file || !*file)
        return -1;
    pthread_mutex_lock(&s_table_lock);
    s_conn_t *slot = NULL;
    pthread_mutex_t *lock = NULL;
    for (int i = 0; i < S_MAX_CONNS; i++) {
        if (!s_conns[i].db && !slot)
            slot = &s_conns[i];
        else if (s_conns[i].db && strcmp(s_conns[i].file, file) == 0)
            lock = s_conns[i].lock;
    }
    char *copy = slot ? strdup(file) : NULL;
    if (copy && !lock && (lock = malloc(sizeof *lock)))
        pthread_mutex_init(lock, NULL);
    if (!copy || !lock) {
        free(copy);
        pthread_mutex_unlock(&s_table_lock);
        return -1;
    }
    *slot = (s_conn_t){.db = db, .lock = lock, .file = copy};
    pthread_mutex_unlock(&s_table_lock);
    return 0;
}

/* s_unregister - drop db's entry; the mutex goes with the file's last connection */
static void s_unregister(sqlite3 *db)
{
    pthread_mutex_lock(&s_table_lock);
    s_conn_t *c = s_conn(db);
    if (c) {
        int shared = 0;
        for (int i = 0; i < S_MAX_CONNS; i++)
            if (&s_conns[i] != c && s_conns[i].db && s_conns[i].lock == c->lock)
                shared = 1;
        if (c->held)
            pthread_mutex_unlock(c->lock);
        if (!shared) {
            pthread_mutex_destroy(c->lock);
            free(c->lock);
        }
        free(c->file);
        *c = (s_conn_t){0};
    }
    pthread_mutex_unlock(&s_table_lock);
}

/* s_writer - take (1) or give back (0) db's in-process write turn; 1 when
 * this call changed it.  Taking waits at most the busy timeout: a turn that
 * is never given back (a transaction ended by hand, or a thread beginning on
 * a second connection while its first is open) then costs that wait, after
 * which SQLite's own lock decides, as it would without the queue. */
static int s_writer(sqlite3 *db, int take)
{
    pthread_mutex_lock(&s_table_lock);
    s_conn_t *c = s_conn(db);
    pthread_mutex_t *lock = c ? c->lock : NULL;
    int held = c ? c->held : 0;
    pthread_mutex_unlock(&s_table_lock);
    if (!lock || held == take)
        return 0;
    /* only this connection's own thread changes its held flag, so it can be
     * set outside s_table_lock; the entry itself lives until db_close */
    if (take) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += S_BUSY_MS / 1000;
        if (pthread_mutex_timedlock(lock, &until) != 0) {
            log_warn("event=db_writer_queue_timeout db=%s", sqlite3_db_filename(db, "main"));
            return 0;
        }
        c->held = 1;
    } else {
        c->held = 0;
        pthread_mutex_unlock(lock);
    }
    return 1;
}

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

/* db_begin - immediate transaction, after this process's other writers */
int db_begin(sqlite3 *db)
{
    int took = s_writer(db, 1);
    if (db_exec(db, "BEGIN IMMEDIATE")) {
        if (took) /* not when BEGIN failed inside our own open transaction */
            s_writer(db, 0);
        return -1;
    }
    return 0;
}

/* db_commit - commit; on failure the transaction stays open (and the write
 * turn held) for the caller's db_rollback */
int db_commit(sqlite3 *db)
{
    if (db_exec(db, "COMMIT"))
        return -1;
    s_writer(db, 0);
    return 0;
}

int db_rollback(sqlite3 *db)
{
    int rc = sqlite3_get_autocommit(db) ? 0 : db_exec(db, "ROLLBACK");
    s_writer(db, 0);
    return rc;
}

/* db_prepare - prepared statement or NULL: one that db_finish gave back with
 * the same SQL text, or a new one.  Compiling a statement costs more than
 * running a small one (~10-20 us), and the mailer runs the same few per
 * message. */
sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s_table_lock);
    s_conn_t *c = s_conn(db);
    for (int i = 0; c && i < c->n_idle; i++) {
        if (strcmp(sqlite3_sql(c->idle[i]), sql) == 0) {
            st = c->idle[i];
            c->idle[i] = c->idle[--c->n_idle];
            break;
        }
    }
    pthread_mutex_unlock(&s_table_lock);
    if (st)
        return st;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        char q[300];
        log_error("event=sql_prepare_failed error=%s sql=%s",
                  log_quote(sqlite3_errmsg(db), q, 160), log_quote(sql, q + 160, 140));
        return NULL;
    }
    return st;
}

/* db_finish - done with st from db_prepare: reset, unbound and kept for the
 * next db_prepare of the same SQL (finalized when there is no room, and by
 * db_close).  NULL is fine. */
void db_finish(sqlite3_stmt *st)
{
    if (!st)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    pthread_mutex_lock(&s_table_lock);
    s_conn_t *c = s_conn(sqlite3_db_handle(st));
    for (int i = 0; c && i < c->n_idle; i++) {
        if (c->idle[i] == st) { /* given back twice: keep it once */
            pthread_mutex_unlock(&s_table_lock);
            log_warn("event=db_finish_twice sql=\"%.80s\"", sqlite3_sql(st));
            return;
        }
    }
    int kept = c && c->n_idle < S_MAX_IDLE;
    if (kept)
        c->idle[c->n_idle++] = st;
    pthread_mutex_unlock(&s_table_lock);
    if (!kept)
        sqlite3_finalize(st);
}

/* db_int - single integer result */
long long db_int(sqlite3 *db, const char *sql, long long dflt)
{
    sqlite3_stmt *st = db_prepare(db, sql);
    long long v = dflt;
    if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    db_finish(st);
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
    sqlite3_busy_timeout(db, S_BUSY_MS);
    if (db_exec(db, "PRAGMA journal_mode = WAL") || db_exec(db, sync) ||
        db_exec(db, "PRAGMA foreign_keys = ON") ||
        /* what a service deletes or blanks (an erased customer's rows) is
         * zeroed in its page, not left in free space */
        db_exec(db, "PRAGMA secure_delete = ON") || s_migrate(db, path, migrations)) {
        sqlite3_close(db);
        return NULL;
    }
    if (s_register(db))
        log_warn("event=db_no_writer_queue db=%s", path);
    return db;
}

/* db_close - close, finalizing any statement left open */
void db_close(sqlite3 **db_p)
{
    if (!db_p || !*db_p)
        return;
    if (!sqlite3_get_autocommit(*db_p)) /* before the turn goes to another writer */
        db_exec(*db_p, "ROLLBACK");
    /* the statements kept for db_prepare, then close: it disconnects
     * virtual tables (FTS5), whose own statements are theirs to finalize -
     * finalizing them here too is a double free; only then what the
     * program left open */
    pthread_mutex_lock(&s_table_lock);
    s_conn_t *c = s_conn(*db_p);
    for (int i = 0; c && i < c->n_idle; i++)
        sqlite3_finalize(c->idle[i]);
    if (c)
        c->n_idle = 0;
    pthread_mutex_unlock(&s_table_lock);
    s_unregister(*db_p);
    if (sqlite3_close(*db_p) == SQLITE_BUSY) {
        sqlite3_stmt *st;
        while ((st = sqlite3_next_stmt(*db_p, NULL)))
            sqlite3_finalize(st);
        sqlite3_close(*db_p);
    }
    *db_p = NULL;
}
