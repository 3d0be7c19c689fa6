/*
 * hark-survey - NPS surveys: invites after purchases, answers, reports.
 *
 * Owns:     survey.db ([survey] db): campaigns, customers (contact copies
 *           with attributes and last purchase time, for segments),
 *           suppressions, invites (with their answers), runs (of
 *           relationship campaigns), stats (aggregates per UTC day,
 *           campaign and locale), digests (weeks mailed), outbox (events on
 *           their way to the journal).
 * Consumes: customer, purchase (schedules an invite), mail.unsubscribed and
 *           mail.bounced (suppress: never even ask), mail.delivered (counts
 *           our invites delivered, matched on request_key),
 *           survey.answered (records the score), campaign.saved.
 * Emits:    mail.requested (nps_invite, nps_reminder, nps_detractor_alert,
 *           nps_digest),
 *           feedback.given (an answer's comment).
 * Serves:   [survey] control: SERVICE_STATUS, SURVEY_REPORT, SURVEY_RESPONSES,
 *           SURVEY_INVITE, SURVEY_CAMPAIGNS.
 * Config:   [survey] control db delay window_hours window_days
 *           default_timezone throttle expiry reminder alert_to staff_url
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
 * survey_time.c relies on (it switches TZ to read a customer's local time).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "jclient.h"
#include "keys.h"
#include "log.h"
#include "outbox.h"
#include "service.h"
#include "survey.h"
#include "survey_link.h"
#include "tz.h"

#define CAMPAIGN_POST_PURCHASE "post-purchase"
#define SEND_BATCH 200

typedef struct {
    const config_t *cfg;
    char token_key[128];
    char public_url[512];
    const char *staff_url, *alert_to, *default_tz, *default_locale;
    int64_t throttle; /* across campaigns; the rest is per campaign */
    survey_env_t env;        /* what runs and digests need (survey_run.c) */
    int64_t digest_check_at; /* no digest is due before this */
    int due_timer;
} survey_t;

static const char *const s_consumes[] = {
    "customer",      "purchase",        "mail.unsubscribed", "mail.bounced",
    "mail.delivered", "survey.answered", "campaign.saved", NULL,
};

/* s_col_text - a text column or NULL */
static const char *s_col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* s_purchase_ms - when a purchase happened: occurred_at, else the event's */
static int64_t s_purchase_ms(const hark_event_t *ev)
{
    int64_t at = 0;
    const char *occurred = json_string_value(json_object_get(ev->payload, "occurred_at"));
    if (!occurred || clock_parse(occurred, &at))
        if (!ev->occurred_at || clock_parse(ev->occurred_at, &at))
            at = consumer_event_ms(ev);
    return at;
}

/* s_schedule - an invite for a purchase (or a throttled/suppressed one) */
static int s_schedule(survey_t *s, sqlite3 *db, const hark_event_t *ev, const char *cid)
{
    const json_t *p = ev->payload;
    const char *order_id = json_string_value(json_object_get(p, "order_id"));
    if (!cid || !order_id)
        return -1;
    char email[320] = "", locale[64] = "", tz[80] = "";
    sqlite3_stmt *st = db_prepare(db, "SELECT email, locale, timezone FROM customers WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        if (s_col(st, 0))
            contacts_lower(s_col(st, 0), email, sizeof email);
        snprintf(locale, sizeof locale, "%s", s_col(st, 1) ? s_col(st, 1) : "");
        snprintf(tz, sizeof tz, "%s", s_col(st, 2) ? s_col(st, 2) : "");
    }
    db_finish(st);
    if (!tz_ok(tz))
        snprintf(tz, sizeof tz, "%s", s->default_tz);

    /* due: delay after the purchase, then the customer's next window */
    int64_t at = s_purchase_ms(ev);
    /* the first enabled campaign in id order that wants this purchase;
     * its sample decides, so a purchase gets at most one invite */
    campaign_t camp;
    char err[200];
    int picked = survey_campaign_pick(db, s->cfg, p, &camp, err, sizeof err);
    if (picked < 0)
        return -1;
    if (picked == 0) {
        log_info("event=no_campaign order=%s", order_id);
        return 0;
    }
    int64_t delay = camp.delay, expiry = camp.expiry;
    int64_t due = tz_window_next(&camp.window, at + delay, tz);
    int sampled = survey_campaign_sampled(order_id, camp.sample_rate);
    char campaign[sizeof camp.id];
    snprintf(campaign, sizeof campaign, "%s", camp.id);
    campaign_free(&camp);

    const char *status = "scheduled";
    if (!sampled) {
        status = "sampled_out"; /* kept, so the campaign's counts show it */
    } else if (at + delay + expiry < consumer_event_ms(ev)) {
        /* an old order (an import of past purchases): its invite would
         * have expired already, so asking now would only surprise people */
        status = "stale";
    } else if (*email && contacts_suppressed(db, email)) {
        status = "suppressed";
    } else {
        /* another invite to this address planned within the throttle */
        int t = survey_store_throttled(db, email, due, s->throttle);
        if (t < 0)
            return -1;
        if (t)
            status = "throttled";
    }
    char id[32];
    snprintf(id, sizeof id, "p%lld", (long long)ev->offset);
    st = db_prepare(db, "INSERT OR IGNORE INTO invites(id, campaign, order_id, customer_id,"
                        " email, locale, status, source_offset, due_at)"
                        " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, campaign, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, order_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, cid, -1, SQLITE_TRANSIENT);
    if (*email)
        sqlite3_bind_text(st, 5, email, -1, SQLITE_TRANSIENT);
    if (*locale)
        sqlite3_bind_text(st, 6, locale, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, ev->offset);
    sqlite3_bind_int64(st, 9, due);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    int inserted = rc == 0 && sqlite3_changes(db) > 0;
    db_finish(st);
    if (rc || !inserted) /* not twice for one purchase, nor for one order */
        return rc;
    char when[40];
    log_info("event=invite_%s invite=%s campaign=%s order=%s due=%s", status, id, campaign,
             order_id, clock_format(due, when, sizeof when));
    if (strcmp(status, "throttled") == 0 || strcmp(status, "suppressed") == 0)
        return survey_store_stat_add(db, consumer_event_ms(ev), campaign,
                               *locale ? locale : s->default_locale, status, 1);
    return 0;
}

/* s_delivered - mail.delivered of one of our invites */
static int s_delivered(sqlite3 *db, const hark_event_t *ev)
{
    const char *rk = json_string_value(json_object_get(ev->payload, "request_key"));
    static const char prefix[] = "survey/invite/";
    if (!rk || strncmp(rk, prefix, sizeof prefix - 1) != 0)
        return 0;
    sqlite3_stmt *st = db_prepare(db, "UPDATE invites SET delivered = 1 WHERE id = ?"
                                      " AND delivered = 0 RETURNING campaign, locale");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, rk + sizeof prefix - 1, -1, SQLITE_TRANSIENT);
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        char campaign[80], locale[64];
        snprintf(campaign, sizeof campaign, "%s", s_col(st, 0));
        snprintf(locale, sizeof locale, "%s", s_col(st, 1) ? s_col(st, 1) : "");
        sqlite3_step(st);
        db_finish(st);
        return survey_store_stat_add(db, consumer_event_ms(ev), campaign, *locale ? locale : NULL,
                               "delivered", 1);
    }
    db_finish(st);
    return rc;
}

/* s_category - the aggregate an NPS score counts in */
static const char *s_category(int score)
{
    return score >= 9 ? "promoters" : score >= 7 ? "passives" : "detractors";
}

/* s_alert - the detractor alert to [survey] alert_to (emitted) */
static int s_alert(survey_t *s, sqlite3 *db, consumer_t *c, const hark_event_t *ev,
                   const char *cid, const char *order_id, int score, const char *comment)
{
    char name[256] = "", email[320] = "";
    sqlite3_stmt *st = db_prepare(db, "SELECT name, email FROM customers WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(name, sizeof name, "%s", s_col(st, 0) ? s_col(st, 0) : "");
        snprintf(email, sizeof email, "%s", s_col(st, 1) ? s_col(st, 1) : "");
    }
    db_finish(st);
    json_t *vars = json_pack("{s:s,s:i,s:s}", "customer_name",
                             *name ? name : *email ? email : cid, "score", score, "staff_url",
                             s->staff_url ? s->staff_url : s->public_url);
    if (*email)
        json_object_set_new(vars, "customer_email", json_string(email));
    if (comment)
        json_object_set_new(vars, "comment", json_string(comment));
    if (order_id)
        json_object_set_new(vars, "order_number", json_string(order_id));
    json_t *mail = json_pack("{s:s,s:s,s:s,s:o}", "address", s->alert_to, "template",
                             "nps_detractor_alert", "category", "alert", "vars", vars);
    return consumer_emit(c, ev, "mail.requested", "alert", mail);
}

/* s_answer - survey.answered: the last answer before expiry counts */
static int s_answer(survey_t *s, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    const json_t *p = ev->payload;
    const char *invite = json_string_value(json_object_get(p, "invite"));
    json_t *js = json_object_get(p, "score");
    const char *comment = json_string_value(json_object_get(p, "comment"));
    if (comment && !*comment)
        comment = NULL;
    if (!invite || !json_is_integer(js))
        return -1;
    int score = (int)json_integer_value(js);
    if (score < 0 || score > 10)
        return -1;
    sqlite3_stmt *st = db_prepare(
        db, "SELECT campaign, locale, customer_id, order_id, status, expires_at, score,"
            " comment IS NOT NULL, answered_at, alerted FROM invites WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, invite, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW || strcmp(s_col(st, 4), "sent") != 0) {
        db_finish(st);
        log_warn("event=answer_ignored invite=%s why=unknown_invite", invite);
        return 0;
    }
    char campaign[80], locale[64], cid[160], order[160];
    snprintf(campaign, sizeof campaign, "%s", s_col(st, 0));
    snprintf(locale, sizeof locale, "%s", s_col(st, 1) ? s_col(st, 1) : s->default_locale);
    snprintf(cid, sizeof cid, "%s", s_col(st, 2));
    snprintf(order, sizeof order, "%s", s_col(st, 3) ? s_col(st, 3) : "");
    int64_t expires = sqlite3_column_int64(st, 5);
    int had_score = sqlite3_column_type(st, 6) != SQLITE_NULL;
    int old = sqlite3_column_int(st, 6);
    int had_comment = sqlite3_column_int(st, 7);
    int64_t answered_at = sqlite3_column_int64(st, 8);
    int alerted = sqlite3_column_int(st, 9);
    db_finish(st);

    int64_t t = consumer_event_ms(ev); /* the journal's time, so a replay decides the same */
    if (t >= expires) {
        log_info("event=answer_ignored invite=%s why=expired", invite);
        return 0;
    }
    /* aggregates count an invite's response on the day of its first answer;
     * a changed score moves from one category to the other there */
    if (!had_score) {
        answered_at = t;
        if (survey_store_stat_add(db, t, campaign, locale, "responses", 1))
            return -1;
    } else if (survey_store_stat_add(db, answered_at, campaign, locale, s_category(old), -1)) {
        return -1;
    }
    if (survey_store_stat_add(db, answered_at, campaign, locale, s_category(score), 1))
        return -1;
    if (comment && !had_comment && survey_store_stat_add(db, answered_at, campaign, locale, "comments", 1))
        return -1;
    int alert = score <= 6 && !alerted && s->alert_to && *s->alert_to;
    st = db_prepare(db, "UPDATE invites SET score = ?2, comment = coalesce(?3, comment),"
                        " answered_at = ?4, alerted = alerted OR ?5 WHERE id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, invite, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, score);
    if (comment)
        sqlite3_bind_text(st, 3, comment, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, answered_at);
    sqlite3_bind_int(st, 5, alert);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    if (rc)
        return -1;
    log_info("event=answered invite=%s score=%d comment=%d", invite, score, comment != NULL);
    if (comment) {
        json_t *fb = json_pack("{s:s,s:s,s:s,s:i,s:s}", "text", comment, "source", "nps",
                               "customer_id", cid, "score", score, "invite", invite);
        const char *l = json_string_value(json_object_get(p, "locale"));
        json_object_set_new(fb, "locale", json_string(l ? l : locale));
        if (consumer_emit(c, ev, "feedback.given", "feedback", fb))
            return -1;
    }
    if (alert && s_alert(s, db, c, ev, cid, *order ? order : NULL, score, comment))
        return -1;
    return 0;
}

/* s_apply - one journal event */
static int s_apply(void *arg, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    service_t *svc = arg;
    survey_t *s = service_state(svc);
    const json_t *p = ev->payload;
    if (strcmp(ev->type, "customer") == 0)
        return contacts_upsert(db, p) ||
                       survey_store_customer_extra(db, p, json_string_value(json_object_get(p, "id")),
                                             -1)
                   ? -1
                   : 0;
    if (strcmp(ev->type, "purchase") == 0) {
        json_t *cust = json_object_get(p, "customer");
        if (cust && contacts_upsert(db, cust))
            return -1;
        const char *cid = json_string_value(json_object_get(cust ? cust : p,
                                                            cust ? "id" : "customer_id"));
        if (survey_store_customer_extra(db, cust, cid, s_purchase_ms(ev)))
            return -1;
        int rc = s_schedule(s, db, ev, cid);
        evloop_timer_at(service_evloop(svc), s->due_timer, 0);
        return rc;
    }
    if (strcmp(ev->type, "mail.unsubscribed") == 0)
        return contacts_suppress(db, json_string_value(json_object_get(p, "address")),
                               "unsubscribed");
    if (strcmp(ev->type, "mail.bounced") == 0)
        return contacts_suppress(db, json_string_value(json_object_get(p, "address")), "bounced");
    if (strcmp(ev->type, "mail.delivered") == 0)
        return s_delivered(db, ev);
    if (strcmp(ev->type, "survey.answered") == 0)
        return s_answer(s, db, ev, c);
    if (strcmp(ev->type, "campaign.saved") == 0) {
        char err[200] = "";
        int rc = survey_campaign_save(db, s->cfg, p, err, sizeof err);
        if (rc > 0)
            log_error("event=campaign_not_applied offset=%lld error=\"%s\"",
                      (long long)ev->offset, err);
        return rc < 0 ? -1 : 0;
    }
    return 0;
}


/* s_mail - the mail.requested payload of an invite or reminder */
static json_t *s_mail(survey_t *s, const char *template_name, const char *id, const char *cid,
                      const char *locale, const char *order_id, int64_t expires_ms)
{
    char *tok = survey_link_make(s->token_key, id, expires_ms / 1000, locale);
    if (!tok) /* a locale the link cannot carry: the page uses its default */
        tok = survey_link_make(s->token_key, id, expires_ms / 1000, "");
    if (!tok)
        return NULL;
    json_t *scores = json_array();
    for (int n = 0; n <= 10; n++) {
        char url[1200];
        snprintf(url, sizeof url, "%s/s/%s?score=%d", s->public_url, tok, n);
        json_array_append_new(scores, json_pack("{s:i,s:s}", "score", n, "url", url));
    }
    free(tok);
    json_t *vars = json_pack("{s:o}", "scores", scores);
    if (order_id)
        json_object_set_new(vars, "order_number", json_string(order_id));
    json_t *mail = json_pack("{s:s,s:s,s:s,s:o}", "customer_id", cid, "template", template_name,
                             "category", "survey", "vars", vars);
    if (locale && *locale)
        json_object_set_new(mail, "locale", json_string(locale));
    return mail;
}

typedef struct {
    char id[SURVEY_INVITE_MAX + 1], campaign[80], cid[160], email[320], locale[64], order[160];
    int64_t expires;
} s_due_t;

/* s_send_one - decide one due invite: send, or drop as suppressed,
 * throttled or without address */
static int s_send_one(survey_t *s, sqlite3 *db, const s_due_t *d, int64_t now)
{
    const char *status = "sent", *locale = *d->locale ? d->locale : s->default_locale;
    campaign_t camp;
    char err[200];
    if (survey_campaign_get(db, s->cfg, d->campaign, &camp, err, sizeof err)) {
        log_error("event=bad_campaign campaign=%s error=\"%s\"", d->campaign, err);
        return -1;
    }
    int64_t expiry = camp.expiry, reminder = camp.reminder;
    int enabled = camp.enabled;
    campaign_free(&camp);
    if (!enabled) {
        status = "cancelled"; /* disabled after this invite was planned */
    } else if (!*d->email) {
        status = "skipped";
    } else if (contacts_suppressed(db, d->email)) {
        status = "suppressed";
    } else if (s->throttle > 0) {
        /* sent meanwhile by another campaign or order */
        sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM invites WHERE email = ? AND id <> ?"
                                          " AND status = 'sent' AND sent_at > ? LIMIT 1");
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, d->email, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, d->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, now - s->throttle);
        if (sqlite3_step(st) == SQLITE_ROW)
            status = "throttled";
        db_finish(st);
    }
    int64_t expires = now + expiry;
    if (strcmp(status, "sent") == 0) {
        json_t *mail = s_mail(s, "nps_invite", d->id, d->cid, d->locale, *d->order ? d->order : NULL,
                              expires);
        char key[128];
        snprintf(key, sizeof key, "survey/invite/%s", d->id);
        int rc = mail ? outbox_add(db, "mail.requested", key, mail) : -1;
        json_decref(mail);
        if (rc)
            return -1;
    }
    sqlite3_stmt *st = db_prepare(db, "UPDATE invites SET status = ?2, email = ?3, sent_at = ?4,"
                                      " expires_at = ?5, reminder_at = ?6 WHERE id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    if (*d->email)
        sqlite3_bind_text(st, 3, d->email, -1, SQLITE_TRANSIENT);
    if (strcmp(status, "sent") == 0) {
        sqlite3_bind_int64(st, 4, now);
        sqlite3_bind_int64(st, 5, expires);
        if (reminder > 0 && reminder < expiry)
            sqlite3_bind_int64(st, 6, now + reminder);
    }
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    log_info("event=invite_%s invite=%s", status, d->id);
    if (rc || strcmp(status, "skipped") == 0 || strcmp(status, "cancelled") == 0)
        return rc;
    return survey_store_stat_add(db, now, d->campaign, locale, status, 1);
}

/* s_due - up to SEND_BATCH rows of sql (bound to now) as s_due_t */
static size_t s_due(sqlite3 *db, const char *sql, int64_t now, s_due_t *out)
{
    sqlite3_stmt *st = db_prepare(db, sql);
    size_t n = 0;
    if (!st)
        return 0;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, SEND_BATCH);
    while (n < SEND_BATCH && sqlite3_step(st) == SQLITE_ROW) {
        s_due_t *d = &out[n++];
        snprintf(d->id, sizeof d->id, "%s", s_col(st, 0));
        snprintf(d->campaign, sizeof d->campaign, "%s", s_col(st, 1));
        snprintf(d->cid, sizeof d->cid, "%s", s_col(st, 2));
        contacts_lower(s_col(st, 3), d->email, sizeof d->email);
        snprintf(d->locale, sizeof d->locale, "%s", s_col(st, 4) ? s_col(st, 4) : "");
        snprintf(d->order, sizeof d->order, "%s", s_col(st, 5) ? s_col(st, 5) : "");
        d->expires = sqlite3_column_int64(st, 6);
    }
    db_finish(st);
    return n;
}

/* s_sync - survey_env_t's sync: apply the journal up to its head now (a
 * batch at a time, as the consumer's own timer would, but before a run or
 * digest reads the tables); 0 caught up, -1 journal unreachable or still
 * behind after many batches (the caller tries on a later tick) */
static int s_sync(void *arg)
{
    consumer_t *c = service_consumer(arg);
    for (int i = 0; c && i < 100; i++) {
        int r = consumer_caught_up(c);
        if (r)
            return r < 0 ? -1 : 0;
    }
    return c ? -1 : 0;
}

/* s_on_due - send the invites and reminders that are due */
static int s_on_due(evloop_t *loop, void *arg)
{
    service_t *svc = arg;
    survey_t *s = service_state(svc);
    sqlite3 *db = service_db(svc);
    int64_t now = clock_now_ms();
    /* relationship campaigns' runs make scheduled invites, sent below */
    if (survey_run_due(db, &s->env, now) < 0)
        log_error("event=run_failed error=\"%s\"", sqlite3_errmsg(db));
    if (now >= s->digest_check_at) {
        int64_t next;
        int r = survey_run_digest_due(db, &s->env, now, &next);
        if (r < 0)
            log_error("event=digest_failed error=\"%s\"", sqlite3_errmsg(db));
        else
            s->digest_check_at = next; /* done or skipped for this week */
    }
    service_flush_outbox(svc); /* left over from a crash or a journal outage */
    long long next = db_int(db, "SELECT min(t) FROM (SELECT min(due_at) t FROM invites"
                                " WHERE status = 'scheduled' UNION ALL SELECT min(reminder_at)"
                                " FROM invites WHERE reminder_at IS NOT NULL)", -1);
    if (next < 0 || next > now) {
        /* timers run on the monotonic clock, the schedule on clock_now_ms
         * (which tests move): never sleep longer than the timer's second */
        if (next >= 0 && next - now < 1000)
            evloop_timer_at(loop, s->due_timer, next - now);
        return 0;
    }
    s_due_t *due = calloc(SEND_BATCH, sizeof *due);
    if (!due || db_begin(db)) {
        free(due);
        return 0;
    }
    /* the customer's newest address and locale win over those at purchase */
    size_t n = s_due(db, "SELECT i.id, i.campaign, i.customer_id, coalesce(c.email, i.email),"
                         " coalesce(c.locale, i.locale), i.order_id, 0 FROM invites i"
                         " LEFT JOIN customers c ON c.id = i.customer_id"
                         " WHERE i.status = 'scheduled' AND i.due_at <= ?1"
                         " ORDER BY i.due_at LIMIT ?2",
                     now, due);
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++)
        bad = s_send_one(s, db, &due[i], now);
    /* reminders: once, unanswered, before expiry */
    n = bad ? 0
            : s_due(db, "SELECT id, campaign, customer_id, email, locale, order_id, expires_at"
                        " FROM invites WHERE reminder_at IS NOT NULL AND reminder_at <= ?1"
                        " ORDER BY reminder_at LIMIT ?2",
                    now, due);
    for (size_t i = 0; i < n && !bad; i++) {
        sqlite3_stmt *st = db_prepare(db, "UPDATE invites SET reminder_at = NULL,"
                                          " reminded_at = ?2 WHERE id = ?1"
                                          " RETURNING status = 'sent' AND score IS NULL");
        if (!st) {
            bad = 1;
            break;
        }
        sqlite3_bind_text(st, 1, due[i].id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, now);
        int go = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) &&
                 due[i].expires > now;
        sqlite3_step(st);
        db_finish(st);
        if (!go)
            continue;
        json_t *mail = s_mail(s, "nps_reminder", due[i].id, due[i].cid, due[i].locale,
                              *due[i].order ? due[i].order : NULL, due[i].expires);
        char key[128];
        snprintf(key, sizeof key, "survey/reminder/%s", due[i].id);
        bad = !mail || outbox_add(db, "mail.requested", key, mail);
        json_decref(mail);
        if (!bad)
            log_info("event=reminder_sent invite=%s", due[i].id);
    }
    free(due);
    if (bad || db_commit(db)) {
        db_rollback(db);
        return 0;
    }
    service_flush_outbox(svc);
    evloop_timer_at(loop, s->due_timer, 0); /* there may be more */
    return 0;
}

/* s_invite - SURVEY_INVITE {invite}: what the survey page shows */
static int s_invite(service_t *svc, void *sock, const wire_msg_t *msg)
{
    json_t *req = wire_body_json(msg);
    const char *id = json_string_value(json_object_get(req, "invite"));
    sqlite3_stmt *st = id && survey_link_invite_ok(id)
                           ? db_prepare(service_db(svc),
                                        "SELECT status, campaign, locale, score, comment,"
                                        " expires_at, due_at FROM invites WHERE id = ?")
                           : NULL;
    if (st)
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        db_finish(st);
        json_decref(req);
        return wire_reply_error(sock, msg, "not_found", "no such invite"), 0;
    }
    const char *status = s_col(st, 0);
    int64_t expires = sqlite3_column_int64(st, 5);
    int sent = strcmp(status, "sent") == 0;
    int scored = sqlite3_column_type(st, 3) != SQLITE_NULL;
    if (sent)
        status = expires <= clock_now_ms() ? "expired" : scored ? "answered" : "open";
    json_t *body = json_pack("{s:s,s:s,s:s}", "invite", id, "status", status, "campaign",
                             s_col(st, 1));
    if (s_col(st, 2))
        json_object_set_new(body, "locale", json_string(s_col(st, 2)));
    if (scored)
        json_object_set_new(body, "score", json_integer(sqlite3_column_int(st, 3)));
    if (s_col(st, 4))
        json_object_set_new(body, "comment", json_string(s_col(st, 4)));
    char at[40];
    if (sent)
        json_object_set_new(body, "expires_at", json_string(clock_format(expires, at, sizeof at)));
    if (strcmp(status, "scheduled") == 0)
        json_object_set_new(body, "due_at",
                            json_string(clock_format(sqlite3_column_int64(st, 6), at, sizeof at)));
    db_finish(st);
    json_decref(req);
    char *text = json_dumps(body, JSON_COMPACT);
    if (text)
        wire_reply(sock, msg, CMD_SURVEY_INVITE_OK, text, strlen(text));
    free(text);
    json_decref(body);
    return 0;
}

/* s_campaigns - SURVEY_CAMPAIGNS {id?} */
static int s_campaigns(service_t *svc, void *sock, const wire_msg_t *msg)
{
    json_t *req = wire_body_json(msg);
    json_t *body = req ? survey_campaign_list(service_db(svc), service_config(svc),
                                               json_string_value(json_object_get(req, "id")))
                       : NULL;
    json_decref(req);
    if (!body)
        return wire_reply_error(sock, msg, "invalid_request", "not a JSON object"), 0;
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (text)
        wire_reply(sock, msg, CMD_SURVEY_CAMPAIGNS_OK, text, strlen(text));
    free(text);
    json_decref(body);
    return 0;
}

/* s_command - SURVEY_REPORT, SURVEY_RESPONSES, SURVEY_INVITE, SURVEY_CAMPAIGNS */
static int s_command(service_t *svc, void *sock, const wire_msg_t *msg)
{
    if (strcmp(msg->cmd, CMD_SURVEY_INVITE) == 0)
        return s_invite(svc, sock, msg);
    if (strcmp(msg->cmd, CMD_SURVEY_CAMPAIGNS) == 0)
        return s_campaigns(svc, sock, msg);
    int report = strcmp(msg->cmd, CMD_SURVEY_REPORT) == 0;
    if (!report && strcmp(msg->cmd, CMD_SURVEY_RESPONSES) != 0)
        return -1;
    json_t *req = wire_body_json(msg);
    char err[200] = "not a JSON object";
    json_t *body = !req      ? NULL
                   : report ? survey_report(service_db(svc), req, err, sizeof err)
                            : survey_report_responses(service_db(svc), req, err, sizeof err);
    json_decref(req);
    if (!body)
        return wire_reply_error(sock, msg, "invalid_request", err), 0;
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (text)
        wire_reply(sock, msg, report ? CMD_SURVEY_REPORT_OK : CMD_SURVEY_RESPONSES_OK, text,
                   strlen(text));
    free(text);
    json_decref(body);
    return 0;
}

/* s_status - invite counts in SERVICE_STATUS */
static void s_status(service_t *svc, json_t *body)
{
    json_t *d = json_object();
    sqlite3_stmt *st = db_prepare(service_db(svc),
                                  "SELECT status, count(*) FROM invites GROUP BY status");
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(d, s_col(st, 0), json_integer(sqlite3_column_int64(st, 1)));
    db_finish(st);
    json_object_set_new(body, "detail", d);
}

/* s_campaign_row - the default campaign, its settings from [survey] */
static int s_campaign_row(sqlite3 *db, const config_t *cfg)
{
    static const char *const keys[] = {"delay", "window_hours", "window_days",
                                       "default_timezone", "throttle", "expiry", "reminder",
                                       "alert_to", NULL};
    json_t *settings = json_object();
    for (int i = 0; keys[i]; i++) {
        const char *v = config_get(cfg, "survey", keys[i]);
        json_object_set_new(settings, keys[i], json_string(v ? v : ""));
    }
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

/* s_config_error - a [survey] value we cannot work with */
static void s_config_error(const char *msg, void *arg)
{
    (void)arg;
    log_error("event=bad_config error=\"%s\"", msg);
}

/* s_init - settings, the default campaign, the send timer */
static int s_init(service_t *svc)
{
    const config_t *cfg = service_config(svc);
    survey_t *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    service_set_state(svc, s);
    s->cfg = cfg;
    snprintf(s->public_url, sizeof s->public_url, "%s", config_get(cfg, "gateway", "public_url"));
    size_t ul = strlen(s->public_url);
    while (ul > 0 && s->public_url[ul - 1] == '/')
        s->public_url[--ul] = '\0';
    s->staff_url = config_get(cfg, "survey", "staff_url");
    s->alert_to = config_get(cfg, "survey", "alert_to");
    s->default_tz = config_get(cfg, "survey", "default_timezone");
    s->default_locale = config_get(cfg, "mailer", "default_locale");
    s->throttle = config_duration_ms(cfg, "survey", "throttle");
    if (campaign_check_config(cfg, NULL, s_config_error, NULL))
        return -1;
    static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    const char *dday = config_get(cfg, "survey", "digest_day");
    for (int i = 0; i < 7; i++)
        if (dday && strcmp(dday, days[i]) == 0)
            s->env.digest_wday = i;
    s->env.cfg = cfg;
    s->env.sync = s_sync;
    s->env.sync_arg = svc;
    s->env.throttle = s->throttle;
    s->env.default_tz = s->default_tz;
    s->env.default_locale = s->default_locale;
    s->env.digest_to = config_get(cfg, "survey", "digest_to");
    s->env.digest_hour = (int)config_int(cfg, "survey", "digest_hour");
    s->env.staff_url = s->staff_url && *s->staff_url ? s->staff_url : s->public_url;
    if (keys_from_config(cfg, "hark", "token_key", "token", s->token_key, sizeof s->token_key))
        return -1;
    if (s_campaign_row(service_db(svc), cfg))
        return -1;
    s->due_timer = evloop_add_timer(service_evloop(svc), 1000, s_on_due, svc);
    if (s->due_timer < 0)
        return -1;
    evloop_timer_at(service_evloop(svc), s->due_timer, 0);
    log_info("event=survey_ready throttle_ms=%lld", (long long)s->throttle);
    return 0;
}

/* s_fini - nothing in flight: every change is committed as it is made */
static void s_fini(service_t *svc)
{
    survey_t *s = service_state(svc);
    if (!s)
        return;
    free(s);
    service_set_state(svc, NULL);
}

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "survey",
        .migrations = survey_store_migrations,
        .apply = s_apply,
        .consumes = s_consumes,
        .init = s_init,
        .fini = s_fini,
        .status = s_status,
        .command = s_command,
    };
    return service_main(argc, argv, &def);
}
