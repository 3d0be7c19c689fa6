/*
 * loop_apply.c - what hark-loop does with the events it consumes, each in
 * the consumer's transaction: contact copies, suppressions, taggings, the
 * survey's invites and answers (for the report), and loop.closed (a loop
 * and the customers to tell).
 */
#include "contacts.h"
#include "log.h"
#include "loop.h"

/* loop_apply_customer - customer: the contact copy */
int loop_apply_customer(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_upsert(db, ev->payload);
}

/* loop_apply_contact - purchase, complaint, cancellation: the customer they carry */
int loop_apply_contact(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    json_t *cust = json_object_get(ev->payload, "customer");
    return cust ? contacts_upsert(db, cust) : 0;
}

/* loop_apply_unsubscribed - mail.unsubscribed: no loop email */
int loop_apply_unsubscribed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                            consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_suppress(db, json_string_value(json_object_get(ev->payload, "address")),
                             "unsubscribed");
}

/* loop_apply_bounced - mail.bounced: no loop email */
int loop_apply_bounced(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_suppress(db, json_string_value(json_object_get(ev->payload, "address")),
                             "bounced");
}

/* loop_apply_unsuppressed - customer.unsuppressed: loop email again */
int loop_apply_unsuppressed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                            consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_unsuppress(db, json_string_value(json_object_get(ev->payload, "address")));
}

/* loop_apply_tagged - feedback.tagged: who raised which reason */
int loop_apply_tagged(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return loop_store_tagged(db, ev->payload, ev->offset);
}

/* loop_apply_requested - mail.requested: hark-survey's invites, for the
 * report; its own loop emails, whom it told */
int loop_apply_requested(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    loop_t *h = service_state(svc);
    if (loop_store_invite(db, ev->key, ev->payload))
        return -1;
    return loop_store_told(db, ev->key, ev->payload, consumer_event_ms(ev),
                           h ? h->send.default_locale : NULL);
}

/* loop_apply_answered - survey.answered: scores, for the report */
int loop_apply_answered(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return loop_store_answer(db, ev->payload, consumer_event_ms(ev));
}

/* loop_apply_closed - loop.closed: a loop and the customers to tell */
int loop_apply_closed(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    loop_t *h = service_state(svc);
    const json_t *p = ev->payload;
    long added = 0;
    if (loop_store_closed(db, p, consumer_event_ms(ev), ev->offset, &added)) {
        log_error("event=loop_not_closed offset=%lld loop=%s", (long long)ev->offset,
                  log_value(json_string_value(json_object_get(p, "loop"))));
        return -1;
    }
    log_info("event=loop_closed loop=%s reason=%s recipients=%ld",
             log_value(json_string_value(json_object_get(p, "loop"))),
             log_value(json_string_value(json_object_get(p, "reason"))), added);
    if (h && added)
        evloop_timer_at(service_evloop(svc), h->send_timer, 0);
    return 0;
}
