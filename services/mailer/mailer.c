/*
 * hark-mailer - renders and delivers every email Hark sends.
 *
 * Owns:     mailer.db ([mailer] db): customers (contact copies), suppressions,
 *           messages (the queue, with status, attempts, Message-ID, lease),
 *           outbox (events on their way to the journal).
 * Consumes: customer, purchase, complaint, cancellation (contact copies),
 *           mail.requested (queue a message), mail.unsubscribed (suppress),
 *           mail.retry_requested (staff: try a failed message again).
 * Emits:    mail.delivered, mail.failed, mail.bounced, mail.skipped.
 * Serves:   [mailer] control: SERVICE_STATUS, MAILER_QUEUE.
 * Config:   [mailer] control db templates default_locale from from_name
 *           reply_to shop_name connections per_connection rate retry_min
 *           retry_max give_up lease maildir; [smtp] host port starttls
 *           tls_verify user password_file timeout; [gateway] public_url;
 *           [hark] token_key.
 *
 * The life of a message: a mail.requested event becomes a 'queued' row (in
 * the consumer's transaction, so exactly once).  The dispatcher claims due
 * rows ('sending', with a lease), resolving the address and checking the
 * suppression list at send time, and hands them to the worker threads
 * (mailer_pool.c).  Results come back to this thread, which alone writes
 * SQLite: 2xx delivered; 5xx bounced (a hard bounce suppresses the
 * address); anything else retried with exponential backoff until give_up,
 * then failed.  Each outcome's event is written to the outbox in the same
 * transaction and then appended to the journal, so none is lost.
 *
 * At-least-once: a crash after the server's 250 and before the commit
 * leaves the row 'sending'; at start every such row is queued again, so at
 * most the messages of the batches in flight go twice.  Nothing accepted is
 * lost.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "jclient.h"
#include "keys.h"
#include "log.h"
#include "mailbox.h"
#include "outbox.h"
#include "mailer.h"
#include "service.h"
#include "token.h"

typedef struct {
    mailer_pool_t *pool;
    mailer_config_t conf; /* read once at start */
    char password[256];
    char token_key[128];
    size_t capacity;
    int dispatch_timer;
} mailer_t;

static int s_on_customer(service_t *, sqlite3 *, const hark_event_t *, consumer_t *);
static int s_on_contact(service_t *, sqlite3 *, const hark_event_t *, consumer_t *);
static int s_on_requested(service_t *, sqlite3 *, const hark_event_t *, consumer_t *);
static int s_on_unsubscribed(service_t *, sqlite3 *, const hark_event_t *, consumer_t *);
static int s_on_retry(service_t *, sqlite3 *, const hark_event_t *, consumer_t *);
static json_t *s_queue(service_t *, const json_t *, service_err_t *);
static int s_init(service_t *svc);
static void s_fini(service_t *svc);
static void s_status(service_t *svc, json_t *body);

static const service_event_t s_events[] = {
    {EV_CUSTOMER, s_on_customer},
    {EV_PURCHASE, s_on_contact},
    {EV_COMPLAINT, s_on_contact},
    {EV_CANCELLATION, s_on_contact},
    {EV_MAIL_REQUESTED, s_on_requested},
    {EV_MAIL_UNSUBSCRIBED, s_on_unsubscribed},
    {EV_MAIL_RETRY_REQUESTED, s_on_retry},
    {NULL, NULL},
};

static const service_command_t s_commands[] = {
    {CMD_MAILER_QUEUE, CMD_MAILER_QUEUE_OK, s_queue},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "mailer",
        .migrations = mailer_store_migrations,
        .events = s_events,
        .commands = s_commands,
        .init = s_init, /* settings, the worker pool, the dispatch timer */
        .fini = s_fini,
        .status = s_status,
    };
    return service_main(argc, argv, &def);
}

/* s_marketing - categories a suppressed address does not get */
static int s_marketing(const char *category)
{
    return strcmp(category, "survey") == 0 || strcmp(category, "milestone") == 0 ||
           strcmp(category, "loop") == 0;
}

/* s_on_customer - customer: the contact copy */
static int s_on_customer(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_upsert(db, ev->payload);
}

/* s_on_contact - purchase, complaint, cancellation: the customer they carry */
static int s_on_contact(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    json_t *cust = json_object_get(ev->payload, "customer");
    return cust ? contacts_upsert(db, cust) : 0;
}

/* s_on_unsubscribed - mail.unsubscribed: suppress the address */
static int s_on_unsubscribed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                             consumer_t *c)
{
    (void)svc, (void)c;
    return mailer_store_suppress(db, json_string_value(json_object_get(ev->payload, "address")),
                                 "unsubscribed", ev->offset);
}

/* s_on_retry - mail.retry_requested: a failed message queued again */
static int s_on_retry(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    mailer_t *m = service_state(svc);
    const json_t *p = ev->payload;
    log_info("event=retry_requested message=%lld actor=%s",
             (long long)json_integer_value(json_object_get(p, "message")),
             json_string_value(json_object_get(p, "actor")));
    if (m)
        evloop_timer_at(service_evloop(svc), m->dispatch_timer, 0);
    return mailer_store_requeue(db, json_integer_value(json_object_get(p, "message")),
                                clock_now_ms());
}

/* s_on_requested - mail.requested: a message queued */
static int s_on_requested(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    mailer_t *m = service_state(svc);
    const json_t *p = ev->payload;
    char mid[256], rnd[17];
    if (keys_random_hex(rnd, 8))
        return -1;
    snprintf(mid, sizeof mid, "<hark.%lld.%s@%s>", (long long)ev->offset, rnd,
             m ? m->conf.from_domain : "localhost");
    int64_t nb = 0;
    const char *nbs = json_string_value(json_object_get(p, "not_before"));
    if (nbs && clock_parse(nbs, &nb))
        nb = 0;
    if (m)
        evloop_timer_at(service_evloop(svc), m->dispatch_timer, 0);
    return mailer_store_enqueue(db, ev->key, ev->offset, p, mid, nb, clock_now_ms());
}

/* s_on_results - jobs the workers finished (and recorded): free them, send
 * the outcome events on, and look for more work */
static int s_on_results(evloop_t *loop, void *arg)
{
    service_t *svc = arg;
    mailer_t *m = service_state(svc);
    mailer_pool_job_t *list = mailer_pool_results(m->pool);
    if (!list)
        return 0;
    for (mailer_pool_job_t *j = list, *nx; j; j = nx) {
        nx = j->next;
        mailer_pool_job_free(j);
    }
    service_flush_outbox(svc);
    evloop_timer_at(loop, m->dispatch_timer, 0);
    return 0;
}

/* s_strdup0 - strdup of a possibly NULL column */
static char *s_strdup0(const unsigned char *s)
{
    return s ? strdup((const char *)s) : NULL;
}

/* s_unsubscribe_url - the signed one-click link for an address */
static char *s_unsubscribe_url(mailer_t *m, const char *addr, const char *locale,
                               const char *cid)
{
    /* sized to fit: a fixed buffer signed a payload that snprintf had cut
     * (or, with the length it returned, read past the buffer) */
    char *payload = NULL;
    int n = asprintf(&payload, "%s\n%s\n%s", addr, locale ? locale : "", cid ? cid : "");
    if (n < 0)
        return NULL;
    char *tok = token_sign(m->token_key, "unsubscribe", payload, (size_t)n);
    free(payload);
    if (!tok)
        return NULL;
    size_t len = strlen(m->conf.public_url) + strlen(tok) + 8;
    char *url = malloc(len);
    if (url)
        snprintf(url, len, "%s/u/%s", m->conf.public_url, tok);
    free(tok);
    return url;
}

/* s_dispatch - claim due messages and hand them to the workers */
static int s_dispatch(evloop_t *loop, void *arg)
{
    (void)loop;
    service_t *svc = arg;
    mailer_t *m = service_state(svc);
    sqlite3 *db = service_db(svc);
    size_t pending = mailer_pool_pending(m->pool);
    if (pending >= m->capacity)
        return 0;
    int64_t now = clock_now_ms();
    if (db_begin(db))
        return 0; /* logged; the next dispatch tries again */
    /* a lease that ran out: the worker is stuck or gone; claim it again */
    sqlite3_stmt *st = db_prepare(db, "UPDATE messages SET status = 'retry'"
                                      " WHERE status = 'sending' AND lease_until < ?");
    if (st) {
        sqlite3_bind_int64(st, 1, now);
        sqlite3_step(st);
        db_finish(st);
    }
    st = db_prepare(
        db, "SELECT m.id, m.category, m.template, coalesce(m.locale, c.locale),"
            " coalesce(m.address, c.email), coalesce(m.name, c.name), m.vars, m.message_id,"
            " m.customer_id FROM messages m LEFT JOIN customers c ON c.id = m.customer_id"
            " WHERE m.status IN ('queued', 'retry') AND m.next_at <= ?"
            " ORDER BY m.next_at LIMIT ?");
    if (!st) {
        db_rollback(db);
        return 0;
    }
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(m->capacity - pending));
    mailer_pool_job_t *jobs = NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *category = (const char *)sqlite3_column_text(st, 1);
        const char *addr = (const char *)sqlite3_column_text(st, 4);
        /* the one address rule (mailbox.h): ingest refuses what it
         * refuses, so this catches only addresses from config or old data */
        if (!addr || !*addr || !mailbox_valid(addr, strlen(addr), 0)) {
            mailer_store_outcome(db, id, "skipped", EV_MAIL_SKIPPED, NULL, 2, 0);
            continue;
        }
        if (s_marketing(category) && contacts_suppressed(db, addr)) {
            log_info("event=suppressed message=%lld", (long long)id);
            mailer_store_outcome(db, id, "skipped", EV_MAIL_SKIPPED, NULL, 1, 0);
            continue;
        }
        mailer_pool_job_t *j = calloc(1, sizeof *j);
        if (!j)
            break;
        j->id = id;
        j->category = s_strdup0(sqlite3_column_text(st, 1));
        j->template_name = s_strdup0(sqlite3_column_text(st, 2));
        j->locale = s_strdup0(sqlite3_column_text(st, 3));
        j->to_addr = strdup(addr);
        j->to_name = s_strdup0(sqlite3_column_text(st, 5));
        j->message_id = s_strdup0(sqlite3_column_text(st, 7));
        const char *cid = (const char *)sqlite3_column_text(st, 8);
        j->vars = json_loads((const char *)sqlite3_column_text(st, 6), 0, NULL);
        if (!json_is_object(j->vars)) {
            json_decref(j->vars);
            j->vars = json_object();
        }
        if (j->to_name && !json_object_get(j->vars, "name"))
            json_object_set_new(j->vars, "name", json_string(j->to_name));
        json_object_set_new(j->vars, "shop_name", json_string(m->conf.shop_name));
        if (s_marketing(category)) {
            j->unsubscribe_url = s_unsubscribe_url(m, addr, j->locale, cid);
            if (j->unsubscribe_url)
                json_object_set_new(j->vars, "unsubscribe_url", json_string(j->unsubscribe_url));
        }
        j->next = jobs;
        jobs = j;
    }
    db_finish(st);
    /* sent_to: the address this attempt goes to, for the outcome event */
    sqlite3_stmt *claim = jobs ? db_prepare(db, "UPDATE messages SET status = 'sending',"
                                                " lease_until = ?1, sent_to = ?2 WHERE id = ?3")
                               : NULL;
    int unclaimed = jobs && !claim;
    for (mailer_pool_job_t *j = jobs; j && claim; j = j->next) {
        sqlite3_bind_int64(claim, 1, now + m->conf.lease);
        sqlite3_bind_text(claim, 2, j->to_addr, -1, SQLITE_STATIC);
        sqlite3_bind_int64(claim, 3, j->id);
        /* a job whose row did not become 'sending' must not reach a worker:
         * the next dispatch would claim and send it again */
        if (sqlite3_step(claim) != SQLITE_DONE || sqlite3_changes(db) != 1)
            unclaimed = 1;
        sqlite3_reset(claim);
    }
    db_finish(claim);
    if (unclaimed)
        log_error("event=claim_failed error=\"%s\"", sqlite3_errmsg(db));
    /* the claim is durable before any worker sees the job */
    if (unclaimed || db_commit(db)) {
        db_rollback(db); /* the rows stay due; the next dispatch tries again */
        for (mailer_pool_job_t *j = jobs, *nx; j; j = nx) {
            nx = j->next;
            mailer_pool_job_free(j);
        }
        return 0;
    }
    for (mailer_pool_job_t *j = jobs, *nx; j; j = nx) {
        nx = j->next;
        mailer_pool_submit(m->pool, j);
    }
    service_flush_outbox(svc);
    return 0;
}

/* s_queue - MAILER_QUEUE {status?, limit?}: counts and the rows */
static json_t *s_queue(service_t *svc, const json_t *req, service_err_t *err)
{
    (void)err;
    sqlite3 *db = service_db(svc);
    const char *status = json_string_value(json_object_get(req, "status"));
    json_int_t limit = json_integer_value(json_object_get(req, "limit"));
    if (limit <= 0 || limit > 1000)
        limit = 100;
    json_t *counts = json_object(), *rows = json_array();
    sqlite3_stmt *st = db_prepare(db, "SELECT status, count(*) FROM messages GROUP BY status");
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(counts, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    sqlite3_finalize(st);
    st = db_prepare(db, "SELECT id, status, template, category, coalesce(sent_to, address,"
                        " customer_id), attempts, next_at, last_error FROM messages"
                        " WHERE (?1 IS NULL AND status NOT IN ('delivered', 'skipped'))"
                        " OR status = ?1 ORDER BY id LIMIT ?2");
    if (st) {
        if (status)
            sqlite3_bind_text(st, 1, status, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, limit);
        while (sqlite3_step(st) == SQLITE_ROW) {
            char at[40];
            json_t *r = json_pack("{s:I,s:s,s:s,s:s,s:s,s:i,s:s}", "id",
                                  (json_int_t)sqlite3_column_int64(st, 0), "status",
                                  sqlite3_column_text(st, 1), "template",
                                  sqlite3_column_text(st, 2), "category",
                                  sqlite3_column_text(st, 3), "to",
                                  sqlite3_column_text(st, 4) ? (const char *)sqlite3_column_text(st, 4) : "",
                                  "attempts", sqlite3_column_int(st, 5), "next_at",
                                  clock_format(sqlite3_column_int64(st, 6), at, sizeof at));
            if (sqlite3_column_type(st, 7) != SQLITE_NULL)
                json_object_set_new(r, "last_error",
                                    json_string((const char *)sqlite3_column_text(st, 7)));
            json_array_append_new(rows, r);
        }
        sqlite3_finalize(st);
    }
    return json_pack("{s:o,s:o}", "counts", counts, "messages", rows);
}

/* s_status - queue counts in SERVICE_STATUS */
static void s_status(service_t *svc, json_t *body)
{
    mailer_t *m = service_state(svc);
    json_t *d = json_object();
    sqlite3_stmt *st = db_prepare(service_db(svc),
                                  "SELECT status, count(*) FROM messages GROUP BY status");
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(d, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    sqlite3_finalize(st);
    if (m && m->pool)
        json_object_set_new(d, "in_flight", json_integer((json_int_t)mailer_pool_pending(m->pool)));
    json_object_set_new(body, "detail", d);
}

/* s_read_password - first line of [smtp] password_file */
static int s_read_password(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(out, (int)len, f) != NULL;
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return ok ? 0 : -1;
}

/* s_init - settings, the pool, stranded rows back in the queue */
static int s_init(service_t *svc)
{
    const config_t *cfg = service_config(svc);
    mailer_t *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    service_set_state(svc, m);
    mailer_config_load(cfg, &m->conf);
    if (keys_from_config(cfg, "hark", "token_key", "token", m->token_key, sizeof m->token_key))
        return -1;
    mailer_pool_conf_t *pc = &m->conf.pool;
    if (pc->smtp.user) {
        const char *pf = m->conf.smtp_password_file;
        if (!pf || s_read_password(pf, m->password, sizeof m->password)) {
            log_error("event=password_file_unreadable path=%s", pf ? pf : "");
            return -1;
        }
        pc->smtp.password = m->password;
    }
    m->capacity = (size_t)pc->workers * (size_t)pc->per_connection * 2;

    /* nobody else sends: whatever was being sent when we stopped goes again */
    sqlite3 *db = service_db(svc);
    db_exec(db, "UPDATE messages SET status = 'retry', lease_until = NULL"
                " WHERE status = 'sending'");
    long long stranded = sqlite3_changes(db);
    if (stranded)
        log_warn("event=requeued_after_restart messages=%lld", stranded);

    char err[256];
    m->pool = mailer_pool_new(pc, err, sizeof err);
    if (!m->pool) {
        log_error("event=pool_failed error=\"%s\"", err);
        return -1;
    }
    evloop_t *loop = service_evloop(svc);
    m->dispatch_timer = evloop_add_timer(loop, 250, s_dispatch, svc);
    if (m->dispatch_timer < 0 || evloop_add_fd(loop, mailer_pool_fd(m->pool), s_on_results, svc))
        return -1;
    log_info("event=mailer_ready delivery=%s workers=%d", pc->smtp.host ? pc->smtp.host : "maildir",
             pc->workers);
    return 0;
}

/* s_fini - stop the workers; record what they finished */
static void s_fini(service_t *svc)
{
    mailer_t *m = service_state(svc);
    if (!m)
        return;
    if (m->pool) {
        /* let the batches in flight finish (each message is recorded as it
         * ends, so a clean stop sends nothing twice); jobs not started go
         * back to the queue */
        mailer_pool_stop(m->pool);
        s_on_results(service_evloop(svc), svc);
        db_exec(service_db(svc), "UPDATE messages SET status = 'retry', lease_until = NULL"
                                 " WHERE status = 'sending'");
        mailer_pool_destroy(&m->pool);
    }
    free(m);
    service_set_state(svc, NULL);
}
