/*
 * mailer_dispatch.c - the dispatcher: claims due messages ('sending', with a
 * lease), resolving the address and checking the suppression list at send
 * time, hands them to the workers (mailer_pool.c), and takes back what they
 * finished.  Runs on the main thread, which alone writes SQLite here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "log.h"
#include "mailbox.h"
#include "mailer.h"
#include "token.h"

/* s_marketing - categories a suppressed address does not get */
static int s_marketing(const char *category)
{
    return strcmp(category, "survey") == 0 || strcmp(category, "milestone") == 0 ||
           strcmp(category, "loop") == 0;
}

/* mailer_dispatch_results - jobs the workers finished (and recorded): free them, send
 * the outcome events on, and look for more work */
int mailer_dispatch_results(evloop_t *loop, void *arg)
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

/* s_reply_addr - reply+TOKEN@[mailer] reply_domain for a Message-ID of
 * ours (<hark.TOKEN@...>), or NULL: no reply domain, an older message */
static char *s_reply_addr(mailer_t *m, const char *message_id)
{
    const char *rd = m->conf.reply_domain;
    if (!rd || !message_id || strncmp(message_id, "<hark.", 6) != 0)
        return NULL;
    const char *tok = message_id + 6, *at = strchr(tok, '@');
    char *addr = NULL;
    if (!at || asprintf(&addr, "reply+%.*s@%s", (int)(at - tok), tok, rd) < 0)
        return NULL;
    return addr;
}

/* mailer_dispatch_run - claim due messages and hand them to the workers */
int mailer_dispatch_run(evloop_t *loop, void *arg)
{
    (void)loop;
    service_t *svc = arg;
    mailer_t *m = service_state(svc);
    sqlite3 *db = service_db(svc);
    if (m->replaying) {
        /* a new file (hark rebuild, a first start on an old journal): the
         * outcomes of mail already sent are further on in the journal, so
         * nothing goes out before it is read to its end */
        if (consumer_caught_up(service_consumer(svc)) != 1)
            return 0;
        m->replaying = 0;
        log_info("event=replay_done");
    }
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
            " m.customer_id, m.in_reply_to FROM messages m LEFT JOIN customers c ON c.id = m.customer_id"
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
            mailer_store_outcome(db, m->conf.pool.key_ns, id, "skipped", EV_MAIL_SKIPPED, NULL, 2, 0);
            continue;
        }
        if (s_marketing(category) && contacts_suppressed(db, addr)) {
            log_info("event=suppressed message=%lld", (long long)id);
            mailer_store_outcome(db, m->conf.pool.key_ns, id, "skipped", EV_MAIL_SKIPPED, NULL, 1, 0);
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
        j->in_reply_to = s_strdup0(sqlite3_column_text(st, 9));
        /* staff alerts keep [mailer] reply_to: a colleague's answer to one
         * is not the customer's */
        if (strcmp(category, "alert") != 0)
            j->reply_addr = s_reply_addr(m, j->message_id);
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
