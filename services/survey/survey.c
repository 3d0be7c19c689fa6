/*
 * hark-survey - NPS surveys: invites after purchases, answers, reports.
 *
 * Owns:     survey.db ([survey] db): campaigns, customers (contact copies
 *           with attributes and last purchase time, for segments),
 *           suppressions, invites (with their answers), runs (of
 *           relationship campaigns), purchases, customer_search (FTS5,
 *           survey_customers.c), campaign_history (each campaign.saved
 *           applied), stats (aggregates per UTC day,
 *           campaign and locale), digests (weeks mailed), outbox (events on
 *           their way to the journal), score_stats (answers per UTC day,
 *           campaign, locale and score).
 * Consumes: customer, purchase (schedules an invite), mail.unsubscribed and
 *           mail.bounced (suppress: never even ask), mail.delivered (counts
 *           our invites delivered, matched on request_key),
 *           mail.requested (only its own: an invite or reminder the journal
 *           says was sent, for a replay to mark it as the timer did),
 *           survey.answered (records the score), survey.commented
 *           (hark-inbox: an emailed answer to an invite, added to its
 *           comment), campaign.saved, customer.unsuppressed (staff
 *           lift a suppression).
 *           customer.erased, privacy.retention: what it copied about the customer
 *           blanked, counts kept (survey_store_privacy, privacy.h).
 * Emits:    mail.requested (nps_invite, nps_reminder, nps_detractor_alert,
 *           nps_digest),
 *           feedback.given (an answer's comment, from the page or by mail).
 * Serves:   [survey] control: SERVICE_STATUS, SURVEY_REPORT, SURVEY_RESPONSES,
 *           SURVEY_INVITE, SURVEY_CAMPAIGNS, SURVEY_CUSTOMERS (finding a
 *           customer), SURVEY_CUSTOMER (all it holds of one;
 *           survey_customers.c), a campaign's history (SURVEY_CAMPAIGNS
 *           with history: the campaign.saved events applied),
 *           SURVEY_SEGMENT (how many a segment selects now), SURVEY_DASHBOARD
 *           (Hark Console's dashboard, from stats, score_stats and the
 *           comments' index).
 * Config:   [survey] control db delay window_hours window_days
 *           default_timezone throttle expiry reminder alert_to staff_url
 *           (else [console] public_url: the staff mails link Hark Console)
 *           digest_to digest_day digest_hour;
 *           [gateway] public_url; [mailer] default_locale; [hark] token_key.
 *
 * Campaigns (survey_campaign.c): "post-purchase" follows the [survey]
 * section until a campaign.saved for it arrives; campaign.saved events
 * (admin API, `hark campaign set`) create or replace others.  A purchase is
 * asked about by the first enabled campaign in id order whose products it
 * matches, if that campaign's sample (a hash of the order id) takes it.
 *
 * The life of an invite: a purchase becomes a 'scheduled' row, due `delay`
 * after the purchase and moved to the next opening of the send window in
 * the customer's own time zone (or 'throttled' / 'suppressed' at once),
 * in the consumer's transaction, so exactly once per purchase (the id is
 * p<purchase offset>; one per order_id).  A timer sends what is due: in
 * one transaction it marks the invite 'sent' and writes its mail.requested
 * (key survey/invite/<id>) into the outbox, then the outbox goes to the
 * journal.  A crash before the commit sends nothing; after it, the outbox
 * is flushed at the next start, and the journal stores a key once, so an
 * invite is requested exactly once.  Reminders work the same way
 * (survey/reminder/<id>).
 *
 * Relationship (scheduled) campaigns: the same timer starts a campaign's
 * run when its time (start, start + every, ...) has come: in one
 * transaction it selects the segment's customers, writes one invite each
 * (id r<hash of campaign, run, customer>; unique on campaign, run and
 * customer), due spread evenly over `spread` and then moved into the
 * customer's send window, throttled/suppressed ones counted, and the
 * run's row; so a run happens once whatever crashes, and its invites go
 * out like any other (they have no order).
 *
 * The weekly digest ([survey] digest_to): on digest_day at digest_hour
 * (default_timezone) the timer mails nps_digest for the seven days before,
 * in one transaction with its row in digests (key survey/digest/<ISO week>).
 *
 * Single-threaded: everything runs on the loop's thread, which
 * tz.c relies on (it switches TZ to read a customer's local time).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "keys.h"
#include "log.h"
#include "service.h"
#include "survey.h"
#include "tz.h"

#define CAMPAIGN_POST_PURCHASE "post-purchase"

static int s_init(service_t *svc);
static void s_fini(service_t *svc);

/* What hark-survey consumes (its handlers in survey_apply.c) */
static const service_event_t s_events[] = {
    {EV_CUSTOMER, survey_apply_customer},
    {EV_PURCHASE, survey_apply_purchase},
    {EV_MAIL_UNSUBSCRIBED, survey_apply_unsubscribed},
    {EV_MAIL_BOUNCED, survey_apply_bounced},
    {EV_MAIL_DELIVERED, survey_apply_delivered},
    {EV_MAIL_REQUESTED, survey_apply_requested},
    {EV_SURVEY_ANSWERED, survey_apply_answered},
    {EV_SURVEY_COMMENTED, survey_apply_commented},
    {EV_CAMPAIGN_SAVED, survey_apply_campaign},
    {EV_CUSTOMER_UNSUPPRESSED, survey_apply_unsuppressed},
    {NULL, NULL},
};

/* What it serves on [survey] control (survey_control.c) */
static const service_command_t s_commands[] = {
    {CMD_SURVEY_REPORT, CMD_SURVEY_REPORT_OK, survey_control_report},
    {CMD_SURVEY_RESPONSES, CMD_SURVEY_RESPONSES_OK, survey_control_responses},
    {CMD_SURVEY_INVITE, CMD_SURVEY_INVITE_OK, survey_control_invite},
    {CMD_SURVEY_CAMPAIGNS, CMD_SURVEY_CAMPAIGNS_OK, survey_control_campaigns},
    {CMD_SURVEY_CUSTOMERS, CMD_SURVEY_CUSTOMERS_OK, survey_control_customers},
    {CMD_SURVEY_CUSTOMER, CMD_SURVEY_CUSTOMER_OK, survey_control_customer},
    {CMD_SURVEY_SEGMENT, CMD_SURVEY_SEGMENT_OK, survey_control_segment},
    {CMD_SURVEY_DASHBOARD, CMD_SURVEY_DASHBOARD_OK, survey_control_dashboard},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "survey",
        .migrations = survey_store_migrations,
        .privacy = &survey_store_privacy,
        .events = s_events,
        .commands = s_commands,
        .init = s_init, /* settings, the default campaign, the send timer (survey_send.c) */
        .fini = s_fini,
        .status = survey_control_status,
    };
    return service_main(argc, argv, &def);
}

/* s_campaign_row - the default campaign, its settings from [survey] */
static int s_campaign_row(sqlite3 *db, const survey_config_t *set)
{
    const char *const kv[][2] = {
        {"delay", set->campaign.delay},
        {"window_hours", set->campaign.window_hours},
        {"window_days", set->campaign.window_days},
        {"default_timezone", set->default_tz},
        {"throttle", set->throttle_text},
        {"expiry", set->campaign.expiry},
        {"reminder", set->campaign.reminder},
        {"alert_to", set->alert_to},
    };
    json_t *settings = json_object();
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
        json_object_set_new(settings, kv[i][0], json_string(kv[i][1] ? kv[i][1] : ""));
    char *text = json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(settings);
    sqlite3_stmt *st = text ? db_prepare(db, "INSERT INTO campaigns(id, kind, enabled, source,"
                                             " settings) VALUES(?1, 'post_purchase', 1, 'config',"
                                             " ?2) ON CONFLICT(id) DO UPDATE SET settings = ?2,"
                                             " kind = 'post_purchase'"
                                             " WHERE source = 'config'")
                            : NULL;
    int rc = -1;
    if (st) {
        sqlite3_bind_text(st, 1, CAMPAIGN_POST_PURCHASE, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        db_finish(st);
    }
    free(text);
    return rc;
}

/* s_init - settings, the default campaign, the send timer */
static int s_init(service_t *svc)
{
    const config_t *cfg = service_config(svc);
    survey_t *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    service_set_state(svc, s);
    survey_config_load(cfg, &s->set);
    s->env.set = &s->set;
    s->env.sync = survey_send_sync;
    s->env.sync_arg = svc;
    if (!(s->dashboard = reply_memo_new(16)))
        return -1;
    if (keys_from_config(cfg, "hark", "token_key", "token", s->token_key, sizeof s->token_key))
        return -1;
    if (s_campaign_row(service_db(svc), &s->set) ||
        survey_store_scores_fix(service_db(svc), s->set.default_locale))
        return -1;
    s->due_timer = evloop_add_timer(service_evloop(svc), 1000, survey_send_due, svc);
    if (s->due_timer < 0)
        return -1;
    evloop_timer_at(service_evloop(svc), s->due_timer, 0);
    if (evloop_add_timer(service_evloop(svc), 250, survey_customers_index_timer, svc) < 0)
        return -1;
    log_info("event=survey_ready throttle_ms=%lld", (long long)s->set.throttle);
    return 0;
}

/* s_fini - nothing in flight: every change is committed as it is made */
static void s_fini(service_t *svc)
{
    survey_t *s = service_state(svc);
    if (!s)
        return;
    reply_memo_destroy(&s->dashboard);
    free(s);
    service_set_state(svc, NULL);
}
