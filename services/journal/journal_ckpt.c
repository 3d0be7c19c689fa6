/*
 * journal_ckpt.c - the checkpoint thread (see the header for why).
 *
 * The loop thread owns wal_pages (set by the WAL hook SQLite calls after
 * each commit on the loop's connection) and asked_pages; asked, served,
 * running, held and stop are shared under mu.  The thread only ever
 * touches its own connection.
 *
 * journal_ckpt_truncate runs on the loop's connection while the thread is
 * held: every checkpoint first takes SQLite's checkpoint lock without
 * calling the busy handler (only FULL, RESTART and TRUNCATE call it, and
 * only for the writer lock and for readers), so a TRUNCATE that met the
 * thread's PASSIVE half-way would just fail with SQLITE_BUSY.
 */
#include "journal_ckpt.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "db.h"
#include "log.h"

struct jckpt {
    sqlite3 *db;            /* the loop's connection (borrowed) */
    sqlite3 *own;           /* the thread's connection (owned) */
    int wal_pages;          /* frames in the WAL after the last commit */
    int asked_pages;        /* wal_pages when the thread was last woken */
    int threaded;           /* 0: SQLite checkpoints inside COMMIT, as by default */
    int pages, max_pages;   /* JCKPT_PAGES, JCKPT_MAX_PAGES or the caller's */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* asked moved, or stop */
    pthread_cond_t done;    /* served moved */
    uint64_t asked, served; /* checkpoints asked for; the last one a finished checkpoint covered */
    int running;            /* the thread is inside a checkpoint */
    int held;               /* journal_ckpt_truncate is running: start none */
    int stop;
};

/* s_wal_hook - after each commit on the loop's connection: note the WAL's size */
static int s_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db, (void)name;
    ((journal_ckpt_t *)arg)->wal_pages = pages;
    return SQLITE_OK;
}

/* s_run - the thread: one PASSIVE checkpoint per wake-up, covering every ask so far */
static void *s_run(void *arg)
{
    journal_ckpt_t *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stop && (c->served == c->asked || c->held))
            pthread_cond_wait(&c->wake, &c->mu);
        if (c->stop)
            break;
        uint64_t upto = c->asked;
        c->running = 1;
        pthread_mutex_unlock(&c->mu);
        int frames = 0, copied = 0;
        int rc = sqlite3_wal_checkpoint_v2(c->own, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames,
                                           &copied);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_warn("event=checkpoint_failed error=\"%s\"", sqlite3_errmsg(c->own));
        pthread_mutex_lock(&c->mu);
        c->running = 0;
        c->served = upto;
        pthread_cond_broadcast(&c->done);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* s_open_own - the thread's connection, syncing like the loop's; 0/-1 */
static int s_open_own(journal_ckpt_t *c)
{
    const char *path = sqlite3_db_filename(c->db, "main");
    if (!path || !*path ||
        sqlite3_open_v2(path, &c->own, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        log_warn("event=checkpoint_thread_off error=\"%s\"",
                 c->own ? sqlite3_errmsg(c->own) : "no db file");
        sqlite3_close(c->own);
        c->own = NULL;
        return -1;
    }
    /* a checkpoint fsyncs the db file unless synchronous is off: keep the loop's level */
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA synchronous = %lld", db_int(c->db, "PRAGMA synchronous", 2));
    if (db_exec(c->own, sql) || db_exec(c->own, "PRAGMA wal_autocheckpoint = 0")) {
        sqlite3_close(c->own);
        c->own = NULL;
        return -1;
    }
    return 0;
}

/* journal_ckpt_new - own connection and thread, or SQLite's default */
journal_ckpt_t *journal_ckpt_new(sqlite3 *db)
{
    return journal_ckpt_new_every(db, JCKPT_PAGES, JCKPT_MAX_PAGES);
}

/* journal_ckpt_new_every - the same, woken every pages and waited for past max_pages */
journal_ckpt_t *journal_ckpt_new_every(sqlite3 *db, int pages, int max_pages)
{
    journal_ckpt_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->db = db;
    c->pages = pages > 0 ? pages : JCKPT_PAGES;
    c->max_pages = max_pages > c->pages ? max_pages : c->pages;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->wake, NULL);
    pthread_cond_init(&c->done, NULL);
    if (s_open_own(c) == 0) {
        if (pthread_create(&c->thread, NULL, s_run, c) == 0) {
            c->threaded = 1;
            sqlite3_wal_hook(db, s_wal_hook, c); /* this also turns automatic checkpoints off */
        } else {
            log_warn("event=checkpoint_thread_off error=\"pthread_create failed\"");
            sqlite3_close(c->own);
            c->own = NULL;
        }
    }
    if (!c->threaded) /* SQLite's checkpoint in COMMIT, as often as the thread's would be */
        sqlite3_wal_autocheckpoint(db, c->pages);
    return c;
}

/* journal_ckpt_destroy - join, close, hand checkpoints back to SQLite */
void journal_ckpt_destroy(journal_ckpt_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    journal_ckpt_t *c = *self_p;
    if (c->threaded) {
        pthread_mutex_lock(&c->mu);
        c->stop = 1;
        pthread_cond_broadcast(&c->wake);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
        sqlite3_wal_autocheckpoint(c->db, c->pages); /* drops our hook, which points at c */
    }
    sqlite3_close(c->own);
    pthread_cond_destroy(&c->done);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->mu);
    free(c);
    *self_p = NULL;
}

/* journal_ckpt_committed - wake the thread each time the WAL has grown by c->pages */
void journal_ckpt_committed(journal_ckpt_t *c)
{
    if (!c->threaded)
        return;
    if (c->wal_pages < c->asked_pages) /* the WAL started over */
        c->asked_pages = 0;
    /* not after every commit: small commits would each cost a checkpoint's fsync */
    if (c->wal_pages - c->asked_pages < c->pages)
        return;
    c->asked_pages = c->wal_pages;
    pthread_mutex_lock(&c->mu);
    c->asked++;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->mu);
}

/* journal_ckpt_before_begin - bound the WAL: wait for a checkpoint that starts now */
void journal_ckpt_before_begin(journal_ckpt_t *c)
{
    if (!c->threaded || c->wal_pages < c->max_pages)
        return;
    pthread_mutex_lock(&c->mu);
    uint64_t want = ++c->asked;
    pthread_cond_signal(&c->wake);
    while (c->served < want)
        pthread_cond_wait(&c->done, &c->mu);
    pthread_mutex_unlock(&c->mu);
    c->wal_pages = 0; /* the next commit tells the new size */
}

/* journal_ckpt_truncate - hold the thread, checkpoint everything and truncate the WAL */
int journal_ckpt_truncate(journal_ckpt_t *c)
{
    if (c->threaded) {
        pthread_mutex_lock(&c->mu);
        c->held = 1;
        while (c->running) /* a PASSIVE under way: it was copying our pages anyway */
            pthread_cond_wait(&c->done, &c->mu);
        pthread_mutex_unlock(&c->mu);
    }
    /* the busy handler (db_open's timeout) waits for another process's
     * readers and writer; a checkpoint of another process (the backup's,
     * say) fails at once, so that one is retried here, for up to a second */
    int rc, logf = -1, done = -1;
    int64_t until = clock_mono_ms() + 1000;
    for (;;) {
        rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &logf, &done);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || clock_mono_ms() >= until)
            break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (rc == SQLITE_OK && logf != 0) /* TRUNCATE leaves an empty WAL, or says why not */
        rc = SQLITE_ERROR;
    if (rc != SQLITE_OK)
        log_error("event=truncate_checkpoint_failed error=\"%s\" wal_frames=%d copied=%d",
                  sqlite3_errmsg(c->db), logf, done);
    c->wal_pages = 0;
    c->asked_pages = 0;
    if (c->threaded) {
        pthread_mutex_lock(&c->mu);
        c->held = 0;
        pthread_cond_signal(&c->wake); /* an ask that came while held */
        pthread_mutex_unlock(&c->mu);
    }
    return rc == SQLITE_OK ? 0 : -1;
}
