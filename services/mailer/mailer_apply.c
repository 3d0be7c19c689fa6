/*
 * mailer_apply.c - what the mailer does with the events it consumes: contact
 * copies, suppressions, and mail.requested queued (in the consumer's
 * transaction, so exactly once).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "contacts.h"
#include "keys.h"
#include "log.h"
#include "mailer.h"
#include "partition.h"
#include "reply_token.h"

/* mailer_apply_customer - customer: the contact copy */
int mailer_apply_customer(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_upsert(db, ev->payload);
}

/* mailer_apply_contact - purchase, complaint, cancellation: the customer they carry */
int mailer_apply_contact(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    json_t *cust = json_object_get(ev->payload, "customer");
    return cust ? contacts_upsert(db, cust) : 0;
}

/* mailer_apply_unsubscribed - mail.unsubscribed: suppress the address */
int mailer_apply_unsubscribed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                              consumer_t *c)
{
    (void)svc, (void)c;
    return mailer_store_suppress(db, json_string_value(json_object_get(ev->payload, "address")),
                                 "unsubscribed", ev->offset);
}

/* mailer_apply_unsuppressed - customer.unsuppressed: staff say mail may go
 * to the address again, whatever suppressed it */
int mailer_apply_unsuppressed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                              consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_unsuppress(db, json_string_value(json_object_get(ev->payload, "address")));
}

/* mailer_apply_retry - mail.retry_requested: a failed message queued again.
 * Every partition reads it; only the one whose file holds the message's
 * number (unique across partitions, mailer_store_enqueue) has a row to
 * change. */
int mailer_apply_retry(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    mailer_t *m = service_state(svc);
    const json_t *p = ev->payload;
    json_int_t id = json_integer_value(json_object_get(p, "message"));
    if (mailer_store_requeue(db, id, clock_now_ms()))
        return -1;
    if (sqlite3_changes(db) == 0)
        return 0;
    log_info("event=retry_requested message=%lld actor=%s", (long long)id,
             log_value(json_string_value(json_object_get(p, "actor"))));
    if (m)
        evloop_timer_at(service_evloop(svc), m->dispatch_timer, 0);
    return 0;
}

/* mailer_apply_outcome - see mailer.h.  Live, each finds its message
 * already in that state and changes nothing.  When the file is made again
 * from the journal (hark rebuild mailer), the mail.requested before it
 * queued the message again: it is marked as it ended, with its attempts,
 * and a hard bounce suppresses its address again, so nothing is sent twice
 * (the dispatcher waits until the journal is read to its end). */
int mailer_apply_outcome(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    const json_t *p = ev->payload;
    const char *key = json_string_value(json_object_get(p, "request_key"));
    const char *status = strcmp(ev->type, EV_MAIL_DELIVERED) == 0 ? "delivered"
                         : strcmp(ev->type, EV_MAIL_BOUNCED) == 0 ? "bounced"
                         : strcmp(ev->type, EV_MAIL_FAILED) == 0  ? "failed"
                                                                  : "skipped";
    if (!key)
        return 0;
    sqlite3_stmt *st = db_prepare(db, "UPDATE messages SET status = ?2,"
                                      " attempts = max(attempts, ?3), lease_until = NULL,"
                                      " updated_at = ?4 WHERE request_key = ?1"
                                      " AND status IN ('queued', 'retry', 'sending')");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, json_integer_value(json_object_get(p, "attempts")));
    sqlite3_bind_int64(st, 4, consumer_event_ms(ev));
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    int replayed = sqlite3_changes(db) > 0;
    if (rc)
        return rc;
    if (replayed)
        log_info("event=outcome_replayed request=%s status=%s", log_value(key), status);
    /* partitioned, another partition's bounce suppresses the address here
     * too: the suppression list is every partition's, as one mailer's is,
     * so any partition answers MAILER_CONTACT and none mails it again */
    unsigned n;
    service_partition(svc, &n);
    const char *addr = json_string_value(json_object_get(p, "address"));
    if ((replayed || n > 1) && strcmp(status, "bounced") == 0 && addr && !ev->erased)
        rc = mailer_store_suppress(db, addr, "bounced", ev->offset);
    return rc;
}

/* s_thread - what a requested mail is about, for its Message-ID and reply
 * address: a case (the complaint mails carry its number), a survey invite
 * (its request key names it), else the mail itself (its offset) */
static char s_thread(const hark_event_t *ev, char *id, size_t len)
{
    const json_t *p = ev->payload;
    const char *category = json_string_value(json_object_get(p, "category"));
    const char *cn = json_string_value(json_object_get(json_object_get(p, "vars"), "case_number"));
    const char *key = ev->key ? ev->key : "";
    const char *inv = strncmp(key, "survey/invite/", 14) == 0     ? key + 14
                      : strncmp(key, "survey/reminder/", 16) == 0 ? key + 16
                                                                  : NULL;
    char tok[REPLY_TOKEN_MAX];
    /* reply_token_make refuses an id it cannot carry: then the mail's own */
    if (category && strcmp(category, "complaint") == 0 && cn &&
        reply_token_make("k", 'c', cn, 0, tok, sizeof tok) == 0) {
        snprintf(id, len, "%s", cn);
        return 'c';
    }
    if (category && strcmp(category, "survey") == 0 && inv &&
        reply_token_make("k", 's', inv, 0, tok, sizeof tok) == 0) {
        snprintf(id, len, "%s", inv);
        return 's';
    }
    snprintf(id, len, "%lld", (long long)ev->offset);
    return 'm';
}

/* mailer_apply_requested - mail.requested: a message queued, its Message-ID
 * <hark.TOKEN@from-domain> (reply_token.h) and, on a case or invite mailed
 * before, the first message it follows */
int mailer_apply_requested(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    mailer_t *m = service_state(svc);
    const json_t *p = ev->payload;
    /* partitioned: only the customer's own copy queues it (by address for
     * mail to no customer), so each message is queued exactly once */
    unsigned n, part = service_partition(svc, &n);
    const char *owner = json_string_value(json_object_get(p, "customer_id"));
    if (!owner)
        owner = json_string_value(json_object_get(p, "address"));
    if (n > 1 && partition_of(owner ? owner : "", n) != part)
        return 0;
    char mid[256], id[REPLY_TOKEN_ID_MAX + 1], tok[REPLY_TOKEN_MAX], first[256] = "";
    char kind = s_thread(ev, id, sizeof id);
    if (reply_token_make(m ? m->token_key : "", kind, id, ev->offset, tok, sizeof tok))
        return -1;
    snprintf(mid, sizeof mid, "<hark.%s@%s>", tok, m ? m->conf.from_domain : "localhost");
    if (kind != 'm' && mailer_store_thread(db, kind, id, mid, first, sizeof first))
        return -1;
    int64_t nb = 0;
    const char *nbs = json_string_value(json_object_get(p, "not_before"));
    if (nbs && clock_parse(nbs, &nb))
        nb = 0;
    if (m)
        evloop_timer_at(service_evloop(svc), m->dispatch_timer, 0);
    return mailer_store_enqueue(db, ev->key, ev->offset, p, mid, first, nb, clock_now_ms(),
                                n > 1);
}

/* mailer_apply_dsn - mail.dsn_received: a bounce that came back by mail
 * (hark-inbox).  A permanent one (5.x.x) ends the message as a bounce sent
 * at once would: the address suppressed and mail.bounced, the same key as
 * an SMTP bounce of that attempt, so it is never said twice.  A temporary
 * one (4.x.x) is counted on the message: the relay still tries. */
int mailer_apply_dsn(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    const json_t *p = ev->payload;
    const char *mid = json_string_value(json_object_get(p, "message_id"));
    const char *status = json_string_value(json_object_get(p, "status"));
    const char *diag = json_string_value(json_object_get(p, "diagnostic"));
    if (!mid || !status)
        return -1;
    sqlite3_stmt *st = db_prepare(db, "SELECT id, status, coalesce(sent_to, address) FROM messages"
                                      " WHERE message_id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, mid, -1, SQLITE_TRANSIENT);
    int64_t id = 0;
    char was[16] = "", to[330] = "";
    if (sqlite3_step(st) == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        snprintf(was, sizeof was, "%s", (const char *)sqlite3_column_text(st, 1));
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            snprintf(to, sizeof to, "%s", (const char *)sqlite3_column_text(st, 2));
    }
    db_finish(st);
    if (!id) {
        log_warn("event=dsn_unknown_message message_id=%s", log_value(mid));
        return 0;
    }
    if (status[0] != '5') {
        log_info("event=dsn_delayed message=%lld status=%s", (long long)id, status);
        st = db_prepare(db, "UPDATE messages SET deferrals = deferrals + 1 WHERE id = ?");
        if (!st)
            return -1;
        sqlite3_bind_int64(st, 1, id);
        int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        db_finish(st);
        return rc;
    }
    if (strcmp(was, "bounced") == 0)
        return 0;
    /* the code mail.bounced carries: the diagnostic's SMTP code, else 550 */
    int code = 550;
    const char *d = diag ? strpbrk(diag, "5") : NULL;
    if (d && d[1] >= '0' && d[1] <= '9' && d[2] >= '0' && d[2] <= '9' && (d[3] == ' ' || d[3] == '-'))
        code = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    char error[300];
    snprintf(error, sizeof error, "%s %s", status, diag ? diag : "(delivery status notification)");
    log_warn("event=bounced_later message=%lld status=%s", (long long)id, status);
    if (*to && mailer_store_suppress(db, to, "bounced", ev->offset))
        return -1;
    mailer_t *m = service_state(svc);
    mailer_store_outcome(db, m ? m->conf.pool.key_ns : NULL, id, "bounced", EV_MAIL_BOUNCED, error, code, 0);
    return 0;
}

/* mailer_apply_erased - the files [mailer] maildir holds of them go too: the
 * rows (kept, blanked, for the counts) name them */
int mailer_apply_erased(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    mailer_t *m = service_state(svc);
    const char *customer = json_string_value(json_object_get(ev->payload, "customer_id"));
    if (!m || !m->conf.pool.maildir || !*m->conf.pool.maildir || !customer)
        return 0;
    sqlite3_stmt *st = db_prepare(db, "SELECT id FROM messages WHERE customer_id = ?1"
                                      " UNION SELECT id FROM messages WHERE about = ?1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, customer, -1, SQLITE_TRANSIENT);
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            int64_t *t = realloc(ids, (cap = cap ? cap * 2 : 16) * sizeof *t);
            if (!t) {
                rc = SQLITE_NOMEM;
                break;
            }
            ids = t;
        }
        ids[n++] = sqlite3_column_int64(st, 0);
    }
    db_finish(st);
    if (rc == SQLITE_DONE && n) {
        int gone = mailer_maildir_forget(m->conf.pool.maildir, m->key_ns, ids, n);
        if (gone)
            log_info("event=maildir_erased files=%d", gone);
    }
    free(ids);
    return rc == SQLITE_DONE ? 0 : -1;
}
