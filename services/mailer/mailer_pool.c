/*
 * mailer_pool.c - the worker threads that render, compose and deliver.
 *
 * libesmtp blocks for a whole SMTP session, so delivery runs in
 * [mailer] connections threads, each with its own renderer (a render_t is
 * not shared between threads) and its own session of up to
 * [mailer] per_connection messages.  The main thread alone touches SQLite:
 * it hands jobs in and takes results out, woken by an eventfd.  A job
 * queue under one mutex is all the coordination there is: a template saved
 * by staff reaches each worker's renderer through mailer.db
 * (mailer_templates_sync, before each batch).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "mailer.h"
#include "mailer_compose.h"
#include "render.h"

struct mpool {
    mailer_pool_conf_t conf;
    pthread_t *threads;
    int n_threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    mailer_pool_job_t *head, *tail; /* waiting jobs */
    mailer_pool_job_t *results;
    size_t pending;
    int efd;
    int stop;
    int64_t next_slot; /* rate limit: the earliest time the next message may go */
};

/* mailer_pool_job_free - free a job and its strings */
void mailer_pool_job_free(mailer_pool_job_t *j)
{
    if (!j)
        return;
    free(j->to_addr);
    free(j->to_name);
    free(j->locale);
    free(j->template_name);
    free(j->category);
    free(j->message_id);
    free(j->in_reply_to);
    free(j->reply_addr);
    free(j->unsubscribe_url);
    json_decref(j->vars);
    free(j);
}

/* s_rate_wait - sleep until this message's slot under [mailer] rate */
static void s_rate_wait(mailer_pool_t *p)
{
    if (p->conf.rate <= 0)
        return;
    pthread_mutex_lock(&p->mu);
    int64_t now = clock_mono_ms();
    int64_t slot = p->next_slot > now ? p->next_slot : now;
    p->next_slot = slot + 1000 / p->conf.rate;
    pthread_mutex_unlock(&p->mu);
    if (slot > now) {
        struct timespec ts = {(slot - now) / 1000, ((slot - now) % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* s_maildir_write - deliver into Maildir: write tmp/, fsync, rename to new/.
 * The name says whose message it is (TIME.NS.ID_PID.hark, NS the outcome
 * keys' namespace, ID the message's row): mailer_maildir_forget finds an
 * erased customer's mail by it. */
static int s_maildir_write(const char *dir, const char *ns, const mailer_pool_job_t *j,
                           const char *data, size_t len, char *diag, size_t dlen)
{
    char tmp[4200], dst[4200], name[128];
    snprintf(name, sizeof name, "%lld.%s.%lld_%d.hark", (long long)(clock_now_ms() / 1000), ns,
             (long long)j->id, (int)getpid());
    snprintf(tmp, sizeof tmp, "%s/tmp/%s", dir, name);
    snprintf(dst, sizeof dst, "%s/new/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(diag, dlen, "maildir: %s", strerror(errno));
        return -1;
    }
    int bad = write(fd, data, len) != (ssize_t)len || fsync(fd) != 0;
    close(fd);
    if (bad || rename(tmp, dst) != 0) {
        snprintf(diag, dlen, "maildir: %s", strerror(errno));
        unlink(tmp);
        return -1;
    }
    snprintf(diag, dlen, "written to %.200s", dst); /* a diagnostic; a long path may be cut */
    return 0;
}

/* s_maildir_id - the message row a file name of s_maildir_write names when
 * it is ns's (a name from before the namespace, TIME.ID_PID.hark, counts as
 * the unpartitioned mailer's); -1 when it is not */
static int64_t s_maildir_id(const char *name, const char *ns)
{
    const char *at = strchr(name, '.');
    if (!at || !strstr(name, ".hark"))
        return -1;
    at++;
    size_t nslen = strlen(ns);
    if (strncmp(at, ns, nslen) == 0 && at[nslen] == '.')
        at += nslen + 1;
    else if (strcmp(ns, "mailer") != 0 || *at < '0' || *at > '9')
        return -1;
    char *end = NULL;
    long long id = strtoll(at, &end, 10);
    return end && *end == '_' && id > 0 ? (int64_t)id : -1;
}

static int s_cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int mailer_maildir_forget(const char *dir, const char *ns, int64_t *ids, size_t n)
{
    if (!dir || !*dir || n == 0)
        return 0;
    qsort(ids, n, sizeof *ids, s_cmp_id);
    static const char *const subs[] = {"new", "cur", "tmp"};
    int removed = 0;
    for (size_t s = 0; s < 3; s++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, subs[s]);
        DIR *d = opendir(path);
        if (!d)
            continue;
        struct dirent *de;
        int here = 0;
        while ((de = readdir(d)) != NULL) {
            int64_t id = s_maildir_id(de->d_name, ns);
            if (id < 0 || !bsearch(&id, ids, n, sizeof *ids, s_cmp_id))
                continue;
            snprintf(path, sizeof path, "%s/%s/%s", dir, subs[s], de->d_name);
            if (unlink(path) == 0)
                here++;
            else if (errno != ENOENT)
                log_warn("event=maildir_forget_failed path=%s error=\"%s\"", path,
                         strerror(errno));
        }
        closedir(d);
        if (here) { /* the names are gone for good once the directory is synced */
            snprintf(path, sizeof path, "%s/%s", dir, subs[s]);
            int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd >= 0) {
                fsync(fd);
                close(fd);
            }
        }
        removed += here;
    }
    return removed;
}

/* s_compose - render and compose one job; NULL (job marked) on failure */
static char *s_compose(mailer_pool_t *p, render_t *r, mailer_pool_job_t *j, size_t *len)
{
    rendered_t out = {0};
    char err[200];
    if (render_message(r, j->template_name, j->locale, j->vars, &out, err, sizeof err)) {
        j->render_failed = 1;
        snprintf(j->diag, sizeof j->diag, "render: %s", err);
        return NULL;
    }
    /* a test send from Hark Console says so first, in its own language
     * (mail.requested: category test, vars.subject_prefix) */
    const char *prefix = json_string_value(json_object_get(j->vars, "subject_prefix"));
    if (j->category && strcmp(j->category, "test") == 0 && prefix && *prefix && out.subject) {
        size_t n = strlen(prefix) + strlen(out.subject) + 2;
        char *subject = malloc(n);
        if (subject) {
            snprintf(subject, n, "%s %s", prefix, out.subject);
            free(out.subject);
            out.subject = subject;
        }
    }
    mailer_compose_opts_t o = {
        .from_name = p->conf.from_name,
        .from_addr = p->conf.from,
        .reply_to = j->reply_addr                           ? j->reply_addr
                    : p->conf.reply_to && *p->conf.reply_to ? p->conf.reply_to
                                                            : NULL,
        .in_reply_to = j->in_reply_to,
        .to_name = j->to_name,
        .to_addr = j->to_addr,
        .message_id = j->message_id,
        .date_ms = clock_now_ms(),
        .unsubscribe_url = j->unsubscribe_url,
        .category = j->category,
    };
    char *msg = mailer_compose_message(&o, &out, len, err, sizeof err);
    render_message_free(&out);
    if (!msg) {
        j->render_failed = 1;
        snprintf(j->diag, sizeof j->diag, "compose: %s", err);
    }
    return msg;
}

/* s_record - commit a job's outcome now, on the worker's own connection */
static void s_record(mailer_pool_t *p, sqlite3 *db, mailer_pool_job_t *j)
{
    if (!db || mailer_store_record(db, &p->conf, j))
        log_error("event=record_failed message=%lld code=%d", (long long)j->id, j->code);
}

/* The state msmtp's per-message callback needs to find the job. */
typedef struct {
    mailer_pool_t *p;
    sqlite3 *db;
    mailer_pool_job_t **jobs;
    mailer_smtp_msg_t *msgs;
    size_t *map;
} s_batch_t;

/* s_on_result - msmtp: one message's outcome is final: commit it now */
static void s_on_result(void *arg, mailer_smtp_msg_t *msg)
{
    s_batch_t *b = arg;
    mailer_pool_job_t *j = b->jobs[b->map[msg - b->msgs]];
    j->code = msg->code;
    j->permanent = msg->permanent;
    snprintf(j->diag, sizeof j->diag, "%s", msg->diag);
    j->recorded = 1;
    s_record(b->p, b->db, j);
}

/* s_deliver - one connection's worth of jobs; each outcome is committed
 * as soon as it is known */
static void s_deliver(mailer_pool_t *p, render_t *r, sqlite3 *db, mailer_pool_job_t **jobs,
                      size_t n)
{
    char **data = calloc(n, sizeof *data);
    size_t *lens = calloc(n, sizeof *lens);
    mailer_smtp_msg_t *msgs = calloc(n, sizeof *msgs);
    size_t *map = calloc(n, sizeof *map);
    if (!data || !lens || !msgs || !map) {
        for (size_t i = 0; i < n; i++)
            snprintf(jobs[i]->diag, sizeof jobs[i]->diag, "out of memory");
        goto out;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        data[i] = s_compose(p, r, jobs[i], &lens[i]);
        if (!data[i]) {
            s_record(p, db, jobs[i]);
            continue;
        }
        s_rate_wait(p);
        if (!p->conf.smtp.host || !*p->conf.smtp.host) {
            if (s_maildir_write(p->conf.maildir, p->conf.key_ns ? p->conf.key_ns : "mailer",
                                jobs[i], data[i], lens[i], jobs[i]->diag,
                                sizeof jobs[i]->diag) == 0)
                jobs[i]->code = 250;
            s_record(p, db, jobs[i]);
            continue;
        }
        msgs[m] = (mailer_smtp_msg_t){.envelope_from = p->conf.from, .rcpt = jobs[i]->to_addr,
                                .data = data[i], .len = lens[i]};
        map[m++] = i;
    }
    if (m > 0) {
        s_batch_t b = {p, db, jobs, msgs, map};
        mailer_smtp_conf_t conf = p->conf.smtp;
        conf.on_result = s_on_result;
        conf.on_result_arg = &b;
        mailer_smtp_send(&conf, msgs, m);
        for (size_t k = 0; k < m; k++) { /* those never offered */
            mailer_pool_job_t *j = jobs[map[k]];
            if (j->recorded)
                continue;
            j->code = msgs[k].code;
            j->permanent = msgs[k].permanent;
            snprintf(j->diag, sizeof j->diag, "%s", msgs[k].diag);
            s_record(p, db, j);
        }
    }
out:
    for (size_t i = 0; data && i < n; i++)
        free(data[i]);
    free(data);
    free(lens);
    free(msgs);
    free(map);
}

/* s_worker - take a batch, deliver it, hand back the results */
static void *s_worker(void *arg)
{
    mailer_pool_t *p = arg;
    char err[256];
    render_t *r = render_new(p->conf.templates, p->conf.default_locale, err, sizeof err);
    if (!r)
        log_error("event=render_init_failed error=\"%s\"", err);
    sqlite3 *db = db_open(p->conf.db_path, "normal", NULL);
    size_t cap = (size_t)p->conf.per_connection;
    mailer_pool_job_t **batch = calloc(cap, sizeof *batch);
    int64_t templates_seen = 0; /* template_versions applied to r (mailer_templates.c) */
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        size_t n = 0;
        while (p->head && n < cap && batch) {
            batch[n++] = p->head;
            p->head = p->head->next;
        }
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        if (r && batch) {
            mailer_templates_sync(db, r, &templates_seen);
            s_deliver(p, r, db, batch, n);
        } else {
            for (size_t i = 0; i < n; i++) {
                snprintf(batch[i]->diag, sizeof batch[i]->diag, "renderer unavailable");
                s_record(p, db, batch[i]);
            }
        }
        pthread_mutex_lock(&p->mu);
        for (size_t i = 0; i < n; i++) {
            batch[i]->next = p->results;
            p->results = batch[i];
        }
        pthread_mutex_unlock(&p->mu);
        uint64_t one = 1;
        ssize_t w = write(p->efd, &one, sizeof one);
        (void)w;
    }
    free(batch);
    render_destroy(&r);
    db_close(&db);
    return NULL;
}

/* mailer_pool_new - start the workers */
mailer_pool_t *mailer_pool_new(const mailer_pool_conf_t *conf, char *err, size_t errlen)
{
    mailer_pool_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->conf = *conf;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->threads = calloc((size_t)conf->workers, sizeof *p->threads);
    if (p->efd < 0 || !p->threads) {
        snprintf(err, errlen, "cannot set up the worker pool");
        mailer_pool_destroy(&p);
        return NULL;
    }
    if (!conf->smtp.host || !*conf->smtp.host) {
        char d[4200];
        mkdir(conf->maildir, 0700);
        snprintf(d, sizeof d, "%s/tmp", conf->maildir);
        mkdir(d, 0700);
        snprintf(d, sizeof d, "%s/new", conf->maildir);
        mkdir(d, 0700);
        snprintf(d, sizeof d, "%s/cur", conf->maildir);
        mkdir(d, 0700);
    }
    for (int i = 0; i < conf->workers; i++) {
        if (pthread_create(&p->threads[i], NULL, s_worker, p)) {
            snprintf(err, errlen, "cannot start worker %d", i);
            mailer_pool_destroy(&p);
            return NULL;
        }
        p->n_threads++;
    }
    return p;
}

/* mailer_pool_stop - end the workers after their current batch */
void mailer_pool_stop(mailer_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    p->n_threads = 0;
}

/* mailer_pool_destroy - stop, join and free; safe on NULL and twice */
void mailer_pool_destroy(mailer_pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mailer_pool_t *p = *self_p;
    mailer_pool_stop(p);
    for (mailer_pool_job_t *j = p->head, *nx; j; j = nx) {
        nx = j->next;
        mailer_pool_job_free(j);
    }
    for (mailer_pool_job_t *j = p->results, *nx; j; j = nx) {
        nx = j->next;
        mailer_pool_job_free(j);
    }
    if (p->efd >= 0)
        close(p->efd);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
    *self_p = NULL;
}

/* mailer_pool_submit - queue a job */
void mailer_pool_submit(mailer_pool_t *p, mailer_pool_job_t *job)
{
    job->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    p->pending++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* mailer_pool_results - take the finished jobs */
mailer_pool_job_t *mailer_pool_results(mailer_pool_t *p)
{
    uint64_t v;
    ssize_t r = read(p->efd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&p->mu);
    mailer_pool_job_t *list = p->results;
    p->results = NULL;
    for (mailer_pool_job_t *j = list; j; j = j->next)
        p->pending--;
    pthread_mutex_unlock(&p->mu);
    return list;
}

int mailer_pool_fd(mailer_pool_t *p) { return p->efd; }

size_t mailer_pool_pending(mailer_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->pending;
    pthread_mutex_unlock(&p->mu);
    return n;
}
