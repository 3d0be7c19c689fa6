/*
 * mailer_apply.c - what the mailer does with the events it consumes: contact
 * copies, suppressions, and mail.requested queued (in the consumer's
 * transaction, so exactly once).
 */
#include <stdio.h>

#include "clock.h"
#include "contacts.h"
#include "keys.h"
#include "log.h"
#include "mailer.h"

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

/* mailer_apply_retry - mail.retry_requested: a failed message queued again */
int mailer_apply_retry(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    mailer_t *m = service_state(svc);
    const json_t *p = ev->payload;
    log_info("event=retry_requested message=%lld actor=%s",
             (long long)json_integer_value(json_object_get(p, "message")),
             log_value(json_string_value(json_object_get(p, "actor"))));
    if (m)
        evloop_timer_at(service_evloop(svc), m->dispatch_timer, 0);
    return mailer_store_requeue(db, json_integer_value(json_object_get(p, "message")),
                                clock_now_ms());
}

/* mailer_apply_requested - mail.requested: a message queued */
int mailer_apply_requested(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
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
