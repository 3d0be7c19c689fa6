/*
 * milestone_apply.c - hark-milestone's event handlers: each journal event
 * it consumes changes milestone.db inside the consumer's transaction
 * (milestone.c lists them in its event table).
 */
#include "clock.h"
#include "contacts.h"
#include "log.h"
#include "milestone.h"

/* s_purchase_ms - when the purchase happened: its occurred_at, else the
 * event's, else when the journal recorded it */
static int64_t s_purchase_ms(const hark_event_t *ev)
{
    int64_t ms = 0;
    const char *occ = json_string_value(json_object_get(ev->payload, "occurred_at"));
    if (occ && clock_parse(occ, &ms) == 0)
        return ms;
    if (ev->occurred_at && clock_parse(ev->occurred_at, &ms) == 0)
        return ms;
    if (ev->recorded_at && clock_parse(ev->recorded_at, &ms) == 0)
        return ms;
    return clock_now_ms();
}

/* milestone_apply_customer - customer: birthday, signup date, contact */
int milestone_apply_customer(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    milestone_t *m = service_state(svc);
    m->gen++; /* who is due may change: zones are read again */
    return milestone_store_customer(db, ev->payload);
}

/* milestone_apply_purchase - purchase: the first one starts the anniversaries */
int milestone_apply_purchase(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    milestone_t *m = service_state(svc);
    const json_t *p = ev->payload;
    m->gen++;
    json_t *cust = json_object_get(p, "customer");
    if (cust && milestone_store_customer(db, cust))
        return -1;
    const char *cid = json_string_value(json_object_get(cust ? cust : p,
                                                        cust ? "id" : "customer_id"));
    return milestone_store_purchase(db, cid, s_purchase_ms(ev), m->mc.default_tz);
}

/* milestone_apply_unsubscribed - mail.unsubscribed: suppress */
int milestone_apply_unsubscribed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                                 consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_suppress(db, json_string_value(json_object_get(ev->payload, "address")),
                             "unsubscribed");
}

/* milestone_apply_unsuppressed - customer.unsuppressed: mail them again */
int milestone_apply_unsuppressed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                                 consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_unsuppress(db, json_string_value(json_object_get(ev->payload, "address")));
}

/* milestone_apply_bounced - mail.bounced: suppress */
int milestone_apply_bounced(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_suppress(db, json_string_value(json_object_get(ev->payload, "address")),
                             "bounced");
}

/* milestone_apply_saved - milestone.saved: a marketer's settings */
int milestone_apply_saved(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    milestone_t *m = service_state(svc);
    const json_t *p = ev->payload;
    m->gen++;
    char err[200] = "";
    int rc = milestone_store_save(db, &m->mc, p, err, sizeof err);
    if (rc > 0)
        log_error("event=settings_not_applied offset=%lld error=\"%s\"", (long long)ev->offset,
                  err);
    else if (rc == 0)
        log_info("event=settings_saved kind=%s by=%s",
                 log_value(json_string_value(json_object_get(p, "kind"))),
                 log_value(json_string_value(json_object_get(p, "by"))));
    evloop_timer_at(service_evloop(svc), m->timer, 0); /* a new time may be due now */
    return rc < 0 ? -1 : 0;
}
