/*
 * journal_sync.c - the WAL's fsync thread (see the header for why).
 *
 * The loop thread owns the connection; committed, durable and stop are
 * shared under mu.  The thread only ever fdatasyncs its own descriptor of
 * the WAL file: an fsync flushes the file, whichever descriptor asks.
 */
#include "journal_sync.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "db.h"
#include "log.h"

struct jsync {
    sqlite3 *db;         /* the loop's connection (borrowed) */
    sqlite3_stmt *normal, *full; /* PRAGMA synchronous, parsed once (two a round) */
    char *wal_path;
    int wal_fd;          /* the WAL file, for fdatasync */
    int efd;             /* wakes the loop: durable moved */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* committed moved, or stop */
    uint64_t committed;  /* the newest round whose COMMIT returned */
    uint64_t durable;    /* the newest round an fdatasync covered */
    int stop;
};

/* s_fdatasync - the WAL to disk; a failure is fatal.  After a failed fsync
 * the kernel may have dropped the dirty pages and report the next fsync as
 * a success, so no retry can tell what is durable: the process exits, its
 * supervisor restarts it, and SQLite's recovery reads what is on disk (the
 * rounds held are not acknowledged; their clients retry with their keys). */
static void s_fdatasync(journal_sync_t *s)
{
    if (fdatasync(s->wal_fd) == 0)
        return;
    log_error("event=wal_fsync_failed path=\"%s\" error=\"%s\"", s->wal_path, strerror(errno));
    _exit(1);
}

/* s_run - the thread: one fdatasync per wake-up, covering every round committed before it */
static void *s_run(void *arg)
{
    journal_sync_t *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && s->durable == s->committed)
            pthread_cond_wait(&s->wake, &s->mu);
        if (s->stop)
            break;
        uint64_t upto = s->committed; /* their frames were written before this fdatasync */
        pthread_mutex_unlock(&s->mu);
        s_fdatasync(s);
        pthread_mutex_lock(&s->mu);
        if (upto > s->durable)
            s->durable = upto;
        uint64_t one = 1;
        if (write(s->efd, &one, sizeof one) < 0 && errno != EAGAIN)
            log_warn("event=sync_wake_failed error=\"%s\"", strerror(errno));
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* s_pragma - run a prepared PRAGMA synchronous; 0/-1 */
static int s_pragma(sqlite3_stmt *st)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* journal_sync_new - the WAL's descriptor, the eventfd, the thread */
journal_sync_t *journal_sync_new(sqlite3 *db)
{
    const char *path = sqlite3_db_filename(db, "main");
    if (!path || !*path || db_int(db, "PRAGMA synchronous", 0) != 2)
        return NULL; /* a memory db, or synchronous is not full: nothing to overlap */
    journal_sync_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->db = db;
    s->efd = -1;
    size_t len = strlen(path) + 5;
    s->wal_path = malloc(len);
    if (s->wal_path)
        snprintf(s->wal_path, len, "%s-wal", path);
    s->wal_fd = s->wal_path ? open(s->wal_path, O_RDONLY | O_CLOEXEC) : -1;
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->normal = db_prepare(db, "PRAGMA synchronous = NORMAL");
    s->full = db_prepare(db, "PRAGMA synchronous = FULL");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (s->wal_fd < 0 || s->efd < 0 || !s->normal || !s->full ||
        pthread_create(&s->thread, NULL, s_run, s)) {
        log_warn("event=group_commit_off path=\"%s\" error=\"%s\"",
                 s->wal_path ? s->wal_path : "", strerror(errno));
        if (s->wal_fd >= 0)
            close(s->wal_fd);
        if (s->efd >= 0)
            close(s->efd);
        sqlite3_finalize(s->normal);
        sqlite3_finalize(s->full);
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->mu);
        free(s->wal_path);
        free(s);
        return NULL;
    }
    return s;
}

/* journal_sync_destroy - stop, join, close */
void journal_sync_destroy(journal_sync_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    journal_sync_t *s = *self_p;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s_pragma(s->full);
    sqlite3_finalize(s->normal);
    sqlite3_finalize(s->full);
    close(s->wal_fd);
    close(s->efd);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mu);
    free(s->wal_path);
    free(s);
    *self_p = NULL;
}

int journal_sync_fd(const journal_sync_t *s) { return s->efd; }

/* journal_sync_round_begin - commit without the fsync: the thread does it */
int journal_sync_round_begin(journal_sync_t *s)
{
    return s_pragma(s->normal);
}

/* journal_sync_round_end - every other commit of the journal at full again */
void journal_sync_round_end(journal_sync_t *s)
{
    if (s_pragma(s->full))
        log_error("event=synchronous_full_failed error=\"%s\"", sqlite3_errmsg(s->db));
}

/* journal_sync_committed - a ticket for the round, and the thread woken */
uint64_t journal_sync_committed(journal_sync_t *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t t = ++s->committed;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    return t;
}

/* journal_sync_durable - read the wake-up, the newest durable ticket */
uint64_t journal_sync_durable(journal_sync_t *s)
{
    uint64_t v;
    if (read(s->efd, &v, sizeof v) < 0 && errno != EAGAIN)
        log_warn("event=sync_wake_failed error=\"%s\"", strerror(errno));
    pthread_mutex_lock(&s->mu);
    uint64_t d = s->durable;
    pthread_mutex_unlock(&s->mu);
    return d;
}

/* journal_sync_wait - fdatasync here, for rounds the thread has not covered yet */
uint64_t journal_sync_wait(journal_sync_t *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t upto = s->committed;
    pthread_mutex_unlock(&s->mu);
    s_fdatasync(s);
    pthread_mutex_lock(&s->mu);
    if (upto > s->durable)
        s->durable = upto;
    pthread_mutex_unlock(&s->mu);
    return upto;
}
