/*
 * mailer.h - what the mailer's parts share.
 */
#ifndef HARK_MAILER_H
#define HARK_MAILER_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#include "config.h"
#include "mailer_smtp.h"
#include "service.h"

/* One message on its way through a worker.  The main thread fills the
 * first part, a worker the result; the job is owned by whoever holds it. */
typedef struct mjob {
    int64_t id;
    char *to_addr, *to_name, *locale, *template_name, *category, *message_id;
    char *unsubscribe_url; /* NULL for complaint and alert mail */
    char *in_reply_to;     /* the thread's first message (NULL: it is the first) */
    char *reply_addr;      /* reply+TOKEN@reply_domain, or NULL */
    json_t *vars;          /* owned reference */
    /* result */
    int code;              /* SMTP code; 250 for a Maildir write */
    int permanent;         /* 5xx */
    int render_failed;
    int recorded;          /* its outcome is committed */
    char diag[256];
    struct mjob *next;
} mailer_pool_job_t;

void mailer_pool_job_free(mailer_pool_job_t *j);

/* --- the store (mailer_store.c) ------------------------------------------- */
extern const char *const mailer_store_migrations[];
/* mailer_store_privacy - what customer.erased and privacy.retention blank */
extern const struct privacy_sql mailer_store_privacy;

int mailer_store_suppress(sqlite3 *db, const char *address, const char *reason, int64_t offset);
/* mailer_store_enqueue - by_offset (partitioned, [mailer] partitions > 1):
 * the message's number is the journal offset of its mail.requested, so
 * numbers are unique across every partition's file and stay the same when
 * the files are made again with another number of partitions
 * (hark-scaling(7)); else the file's next row, as one mailer has always
 * numbered them */
int mailer_store_enqueue(sqlite3 *db, const char *request_key, int64_t offset, const json_t *req,
                   const char *message_id, const char *in_reply_to, int64_t not_before_ms,
                   int64_t now_ms, int by_offset);
int mailer_store_requeue(sqlite3 *db, int64_t id, int64_t now_ms);
/* mailer_store_thread - the first Message-ID of thread kind/id into first
 * (len bytes), or "" when message_id starts it (recorded as its first) */
int mailer_store_thread(sqlite3 *db, char kind, const char *id, const char *message_id,
                        char *first, size_t len);
/* mailer_store_outcome - set a message's status and queue its event (type NULL:
 * none).  For mail.skipped, code says why: 1 suppressed, 2 no address, 3
 * render failed.  Inside the caller's transaction. */
void mailer_store_outcome(sqlite3 *db, const char *ns, int64_t id, const char *status, const char *type,
                    const char *error, int code, int64_t next_at);

/* --- the worker pool (mailer_pool.c) --------------------------------------- */
typedef struct mpool mailer_pool_t;
typedef struct mailer_pool_conf {
    int workers;
    int per_connection;
    int rate;               /* messages per second, 0 = no limit */
    mailer_smtp_conf_t smtp;      /* host NULL or "" -> Maildir */
    const char *maildir;
    const char *templates, *default_locale;
    const char *from, *from_name, *reply_to;
    const char *db_path;    /* each worker records outcomes on its own connection */
    /* key_ns - the outcome events' keys begin with it: "mailer", or
     * "mailer-K" for partition K */
    const char *key_ns;
    int64_t retry_min, retry_max, give_up;
} mailer_pool_conf_t;

/* --- settings (mailer_config.c) ------------------------------------------- */
/* hark-mailer's settings, read once at start.  Strings point into the
 * config, which lives as long as the process. */
typedef struct {
    mailer_pool_conf_t pool;        /* what the workers need (smtp.password: s_init) */
    const char *public_url;         /* [gateway] public_url, for unsubscribe links */
    const char *shop_name;
    const char *from_domain;        /* of [mailer] from, for Message-IDs */
    const char *reply_domain;       /* [mailer] reply_domain, NULL when empty */
    int64_t lease;                  /* ms */
    const char *smtp_password_file;
} mailer_config_t;

/* mailer_config_load - fill out from cfg (already checked) */
void mailer_config_load(const config_t *cfg, mailer_config_t *out);

/* mailer_store_record - commit one job's outcome (see mailer_store.c) */
int mailer_store_record(sqlite3 *db, const mailer_pool_conf_t *rules, const mailer_pool_job_t *j);

/* mailer_pool_new - start the workers (each with its own renderer and SMTP
 * session).  The strings in conf must outlive the pool.  NULL on error. */
mailer_pool_t *mailer_pool_new(const mailer_pool_conf_t *conf, char *err, size_t errlen);
/* mailer_pool_destroy - stop after the batches in flight; unstarted jobs are
 * dropped (their rows stay claimed and are re-queued at the next start). */
void mailer_pool_destroy(mailer_pool_t **self_p);
/* mailer_pool_stop - let the workers finish their batches and end; the results
 * stay for mailer_pool_results */
void mailer_pool_stop(mailer_pool_t *p);
/* mailer_pool_submit - queue a job (taken over) */
void mailer_pool_submit(mailer_pool_t *p, mailer_pool_job_t *job);
/* mailer_pool_results - every finished job, as a list (caller frees each) */
mailer_pool_job_t *mailer_pool_results(mailer_pool_t *p);
/* mailer_maildir_forget - remove from the Maildir dir (new/, cur/, tmp/) the
 * messages ids[0..n) (sorted here) that namespace ns delivered there: an
 * erased customer's mail.  How many files went. */
int mailer_maildir_forget(const char *dir, const char *ns, int64_t *ids, size_t n);
/* mailer_pool_fd - readable when results are waiting */
int mailer_pool_fd(mailer_pool_t *p);
/* mailer_pool_pending - jobs submitted and not yet returned */
size_t mailer_pool_pending(mailer_pool_t *p);

/* --- the process's state (mailer.c) -------------------------------------- */
typedef struct {
    mailer_pool_t *pool;
    mailer_config_t conf; /* read once at start */
    char password[256];
    char token_key[128];
    char key_ns[32];      /* conf.pool.key_ns's storage */
    size_t capacity;
    int dispatch_timer;
    int replaying; /* started on a new file: nothing is sent until the
                    * journal is read to its end (mailer_dispatch.c) */
} mailer_t;

/* --- the events it consumes (mailer_apply.c) ------------------------------ */
int mailer_apply_customer(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int mailer_apply_contact(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int mailer_apply_requested(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int mailer_apply_unsuppressed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                              consumer_t *c);
int mailer_apply_unsubscribed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                              consumer_t *c);
int mailer_apply_retry(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
/* mailer_apply_outcome - mail.delivered, .bounced, .failed, .skipped read
 * back: what a replay queued is marked as it ended, not sent again */
int mailer_apply_outcome(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int mailer_apply_dsn(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);

/* --- templates saved by staff (mailer_templates.c) ------------------------ */
struct render;
/* mailer_apply_erased - customer.erased, after privacy_apply blanked the rows:
 * the customer's mail, and staff mail about them, out of the Maildir */
int mailer_apply_erased(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
/* mailer_apply_template - template.saved: the next version of (locale, name) */
int mailer_apply_template(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
/* mailer_control_templates - MAILER_TEMPLATES: the list, or one's history and text */
json_t *mailer_control_templates(service_t *svc, const json_t *req, service_err_t *err);
/* mailer_templates_sync - a worker: hand r the versions saved since *seen
 * (a template_versions id, 0 at start), in order; *seen moves on */
void mailer_templates_sync(sqlite3 *db, struct render *r, int64_t *seen);

/* --- the dispatcher (mailer_dispatch.c) ----------------------------------- */
/* mailer_dispatch_run - timer: claim due messages and hand them to the workers */
int mailer_dispatch_run(evloop_t *loop, void *arg);
/* mailer_dispatch_results - pool fd readable: free finished jobs, flush the
 * outbox, dispatch again */
int mailer_dispatch_results(evloop_t *loop, void *arg);

/* --- [mailer] control (mailer_control.c) ---------------------------------- */
json_t *mailer_control_queue(service_t *svc, const json_t *req, service_err_t *err);
/* mailer_control_contact - MAILER_CONTACT: is mail to a customer suppressed */
json_t *mailer_control_contact(service_t *svc, const json_t *req, service_err_t *err);
/* mailer_control_customer - MAILER_CUSTOMER: all it holds of one customer */
json_t *mailer_control_customer(service_t *svc, const json_t *req, service_err_t *err);
void mailer_control_status(service_t *svc, json_t *body);

#endif
