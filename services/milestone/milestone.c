/*
 * hark-milestone - birthday and anniversary messages, once a year, at a
 * civil hour where each customer lives.
 *
 * Owns:     milestone.db ([milestone] db): customers (contact copies with
 *           the month and day of their birthday, signup and first purchase,
 *           indexed), suppressions, settings (per kind, from
 *           milestone.saved), sends (one row per customer, kind and year),
 *           outbox (events on their way to the journal).
 * Consumes: customer (birthday YYYY-MM-DD or --MM-DD, signup_date, contact),
 *           purchase (the first purchase starts the anniversaries; its
 *           customer object is upserted too), mail.unsubscribed and
 *           mail.bounced (suppress), customer.unsuppressed (staff lift it),
 *           milestone.saved (a marketer's settings).
 *           customer.erased, privacy.retention: what it copied about the customer
 *           blanked, counts kept (milestone_store_privacy, privacy.h).
 * Emits:    mail.requested (category milestone; templates birthday and
 *           anniversary by default; vars name, years, coupon_code), keyed
 *           milestone/<kind>/<customer id>/<year>.
 * Serves:   [milestone] control: SERVICE_STATUS, MILESTONE_SETTINGS,
 *           MILESTONE_CUSTOMER, MILESTONE_CUSTOMERS (every customer, paged: the
 *           CSV export), MILESTONE_SCHEDULE (the next 7 days by zone).
 * Config:   [milestone] control db time default_timezone catch_up feb29
 *           coupon anniversary_from interval batch; [hark] token_key.
 *
 * Finding whose day it is: a local date D runs from D 00:00 at UTC+14 to
 * D 23:59 at UTC-12, and a message may go out up to catch_up late, so at
 * any moment only the few local dates around the UTC date can have
 * messages due.  Each tick (every [milestone] interval) reads, for each
 * such date and enabled kind, the zones of the customers whose stored
 * month*100+day matches (29 February also on its stand-in day) from the
 * (md, timezone) index alone, computes each zone's send instant on D (the
 * settings' local time in that zone: milestone_date_send_instant, correct across DST
 * changes; cached per zone and day), and reads the customers of the zones
 * that are due, leaving out those whose year is decided already.
 * Due: send instant <= now < send instant + catch_up.  So each zone's
 * messages go out at its own morning, spread over the day instead of one
 * burst at midnight UTC, and the daily work grows with the customers whose
 * day it is, not with all customers.
 *
 * Exactly once per (customer, kind, year): in one transaction a due
 * message's row goes into sends (primary key kind, customer, year) and its
 * mail.requested into the outbox; then the outbox goes to the journal,
 * which stores each key once.  A crash before the commit sends nothing and
 * the next tick decides again; after it, the outbox is flushed at the next
 * start.  The year is decided once whatever happens later: a birthday
 * edited to a later day of the same year finds its year in sends.
 *
 * Single-threaded: everything runs on the loop's thread, which
 * tz.c (used for local time) relies on.
 */
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "milestone.h"
#include "service.h"

static int s_init(service_t *svc);
static void s_fini(service_t *svc);

/* What hark-milestone consumes (its handlers in milestone_apply.c) */
static const service_event_t s_events[] = {
    {EV_CUSTOMER, milestone_apply_customer},
    {EV_PURCHASE, milestone_apply_purchase},
    {EV_MAIL_UNSUBSCRIBED, milestone_apply_unsubscribed},
    {EV_MAIL_BOUNCED, milestone_apply_bounced},
    {EV_CUSTOMER_UNSUPPRESSED, milestone_apply_unsuppressed},
    {EV_MILESTONE_SAVED, milestone_apply_saved},
    {NULL, NULL},
};

/* What it serves on [milestone] control (milestone_control.c) */
static const service_command_t s_commands[] = {
    {CMD_MILESTONE_SETTINGS, CMD_MILESTONE_SETTINGS_OK, milestone_control_settings},
    {CMD_MILESTONE_CUSTOMER, CMD_MILESTONE_CUSTOMER_OK, milestone_control_customer},
    {CMD_MILESTONE_CUSTOMERS, CMD_MILESTONE_CUSTOMERS_OK, milestone_control_customers},
    {CMD_MILESTONE_SCHEDULE, CMD_MILESTONE_SCHEDULE_OK, milestone_control_schedule},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "milestone",
        .migrations = milestone_store_migrations,
        .privacy = &milestone_store_privacy,
        .events = s_events,
        .commands = s_commands,
        .init = s_init, /* settings, keys, the tick (milestone_tick.c) */
        .fini = s_fini,
        .status = milestone_control_status,
    };
    return service_main(argc, argv, &def);
}

/* s_init - settings, keys, the tick */
static int s_init(service_t *svc)
{
    const config_t *cfg = service_config(svc);
    milestone_t *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    service_set_state(svc, m);
    milestone_config_load(cfg, &m->mc);
    m->cache = calloc(MILESTONE_CACHE_SLOTS, sizeof *m->cache);
    /* a scan may come up to one interval after a send time: that is on
     * time, not a catch-up (so catch_up = 0 means "only on time") */
    if (m->mc.catch_up < m->mc.interval)
        m->mc.catch_up = m->mc.interval;
    if (!m->cache ||
        keys_from_config(cfg, "hark", "token_key", "token", m->token_key, sizeof m->token_key))
        return -1;
    m->timer = evloop_add_timer(service_evloop(svc), m->mc.interval, milestone_tick, svc);
    if (m->timer < 0)
        return -1;
    evloop_timer_at(service_evloop(svc), m->timer, 0);
    log_info("event=milestone_ready catch_up_ms=%lld feb29=%s coupon=%s",
             (long long)m->mc.catch_up, m->mc.mar1 ? "mar1" : "feb28",
             m->mc.coupon_prefix ? m->mc.coupon_prefix : "off");
    return 0;
}

/* s_fini - nothing in flight: every decision is committed as it is made */
static void s_fini(service_t *svc)
{
    milestone_t *m = service_state(svc);
    if (!m)
        return;
    free(m->cache);
    free(m->due);
    free(m);
    service_set_state(svc, NULL);
}
