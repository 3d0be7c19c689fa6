/*
 * hark-mailer - renders and delivers every email Hark sends.
 *
 * Owns:     mailer.db ([mailer] db): customers (contact copies), suppressions,
 *           messages (the queue, with status, attempts, Message-ID, lease),
 *           outbox (events on their way to the journal), template_versions
 *           (every saved version of a template).
 * Consumes: customer, purchase, complaint, cancellation (contact copies),
 *           mail.requested (queue a message), mail.unsubscribed (suppress),
 *           customer.unsuppressed (staff: mail the address again),
 *           mail.retry_requested (staff: try a failed message again),
 *           mail.dsn_received (a bounce that came back by mail, from
 *           hark-inbox: 5.x.x bounces the message, 4.x.x is counted).
 *           template.saved (a new version of a template, used from the next
 *           message on without a restart; mailer_templates.c).
 *           customer.erased, privacy.retention: what it copied about the customer
 *           blanked, counts kept (mailer_store_privacy, privacy.h).
 *           mail.delivered, mail.bounced, mail.failed, mail.skipped: its own
 *           outcomes read back, so a file made again from the journal (hark
 *           rebuild mailer) marks what was sent and sends nothing twice: on a
 *           new file nothing is sent until the journal is read to its end.
 * Emits:    mail.delivered, mail.failed, mail.bounced, mail.skipped.
 * Serves:   [mailer] control: SERVICE_STATUS, MAILER_QUEUE, MAILER_CONTACT,
 *           MAILER_TEMPLATES, MAILER_CUSTOMER (all it holds of one customer).
 * Config:   [mailer] control db templates default_locale from from_name
 *           reply_to reply_domain shop_name connections per_connection rate retry_min
 *           retry_max give_up lease maildir partitions; [smtp] host port starttls
 *           tls_verify user password_file timeout; [gateway] public_url;
 *           [hark] token_key.
 *
 * Threads: every Message-ID is <hark.TOKEN@from-domain>, TOKEN signed and
 * naming the case, survey invite or mail (reply_token.h), and with
 * [mailer] reply_domain the Reply-To is reply+TOKEN@reply_domain, so
 * hark-inbox knows what a reply answers.  The first mail of a case or
 * invite starts its thread (table threads); later ones carry In-Reply-To
 * and References to it, so the customer's mail program shows one thread.
 *
 * The life of a message: a mail.requested event becomes a 'queued' row (in
 * the consumer's transaction, so exactly once).  The dispatcher claims due
 * rows ('sending', with a lease; mailer_dispatch.c), resolving the address and checking the
 * suppression list at send time, and hands them to the worker threads
 * (mailer_pool.c).  Results come back to this thread, which alone writes
 * SQLite: 2xx delivered; 5xx bounced (a hard bounce suppresses the
 * address); anything else retried with exponential backoff until give_up,
 * then failed.  Each outcome's event is written to the outbox in the same
 * transaction and then appended to the journal, so none is lost.
 *
 * Partitions: with [mailer] partitions = N > 1 this is one of N copies
 * (--partition K, hark-scaling(7)); it applies every event but queues only
 * the mail.requested of its customers (partition.h), on its own
 * mailer-K.db, and its outcome events' keys begin "mailer-K/".  A
 * message's number is then its request's journal offset, unique across the
 * partitions, so `hark mail queue` merges them and mail.retry_requested
 * finds its one partition (mailer_store_enqueue).
 *
 * At-least-once: a crash after the server's 250 and before the commit
 * leaves the row 'sending'; at start every such row is queued again, so at
 * most the messages of the batches in flight go twice.  Nothing accepted is
 * lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "keys.h"
#include "log.h"
#include "mailer.h"
#include "service.h"

static int s_init(service_t *svc);
static void s_fini(service_t *svc);

/* What hark-mailer consumes (its handlers in mailer_apply.c) */
static const service_event_t s_events[] = {
    {EV_CUSTOMER, mailer_apply_customer},
    {EV_PURCHASE, mailer_apply_contact},
    {EV_COMPLAINT, mailer_apply_contact},
    {EV_CANCELLATION, mailer_apply_contact},
    {EV_MAIL_REQUESTED, mailer_apply_requested},
    {EV_MAIL_UNSUBSCRIBED, mailer_apply_unsubscribed},
    {EV_CUSTOMER_UNSUPPRESSED, mailer_apply_unsuppressed},
    {EV_MAIL_RETRY_REQUESTED, mailer_apply_retry},
    {EV_MAIL_DSN_RECEIVED, mailer_apply_dsn},
    {EV_TEMPLATE_SAVED, mailer_apply_template},
    {EV_MAIL_DELIVERED, mailer_apply_outcome},
    {EV_MAIL_BOUNCED, mailer_apply_outcome},
    {EV_MAIL_FAILED, mailer_apply_outcome},
    {EV_MAIL_SKIPPED, mailer_apply_outcome},
    {EV_CUSTOMER_ERASED, mailer_apply_erased},
    {NULL, NULL},
};

/* What it serves on [mailer] control (mailer_control.c) */
static const service_command_t s_commands[] = {
    {CMD_MAILER_QUEUE, CMD_MAILER_QUEUE_OK, mailer_control_queue},
    {CMD_MAILER_CONTACT, CMD_MAILER_CONTACT_OK, mailer_control_contact},
    {CMD_MAILER_TEMPLATES, CMD_MAILER_TEMPLATES_OK, mailer_control_templates},
    {CMD_MAILER_CUSTOMER, CMD_MAILER_CUSTOMER_OK, mailer_control_customer},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "mailer",
        .migrations = mailer_store_migrations,
        .privacy = &mailer_store_privacy,
        .events = s_events,
        .commands = s_commands,
        .init = s_init, /* settings, the worker pool, the dispatch timer (mailer_dispatch.c) */
        .fini = s_fini,
        .status = mailer_control_status,
    };
    return service_main(argc, argv, &def);
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
    m->conf.pool.db_path = service_db_path(svc); /* this partition's own file */
    unsigned nparts, part = service_partition(svc, &nparts);
    if (nparts > 1)
        snprintf(m->key_ns, sizeof m->key_ns, "mailer-%u", part);
    else
        snprintf(m->key_ns, sizeof m->key_ns, "mailer");
    m->conf.pool.key_ns = m->key_ns;
    if (keys_from_config(cfg, "hark", "token_key", "token", m->token_key, sizeof m->token_key))
        return -1;
    const char *rd = m->conf.reply_domain;
    if (rd && (strlen(rd) > 200 || strspn(rd, "abcdefghijklmnopqrstuvwxyz"
                                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(rd))) {
        log_error("event=bad_setting key=mailer.reply_domain value=\"%s\"", log_value(rd));
        return -1;
    }
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
    m->replaying = consumer_cursor(service_consumer(svc)) == 0;
    if (stranded)
        log_warn("event=requeued_after_restart messages=%lld", stranded);

    char err[256];
    m->pool = mailer_pool_new(pc, err, sizeof err);
    if (!m->pool) {
        log_error("event=pool_failed error=\"%s\"", err);
        return -1;
    }
    evloop_t *loop = service_evloop(svc);
    m->dispatch_timer = evloop_add_timer(loop, 250, mailer_dispatch_run, svc);
    if (m->dispatch_timer < 0 || evloop_add_fd(loop, mailer_pool_fd(m->pool), mailer_dispatch_results, svc))
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
        mailer_dispatch_results(service_evloop(svc), svc);
        db_exec(service_db(svc), "UPDATE messages SET status = 'retry', lease_until = NULL"
                                 " WHERE status = 'sending'");
        mailer_pool_destroy(&m->pool);
    }
    free(m);
    service_set_state(svc, NULL);
}
