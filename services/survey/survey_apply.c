/*
 * survey_apply.c - hark-survey's event handlers: each journal event it
 * consumes changes survey.db inside the consumer's transaction (survey.c
 * lists them in its event table).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "log.h"
#include "staff_link.h"
#include "survey.h"
#include "tz.h"

/* s_col - a text column or NULL */
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
        snprintf(tz, sizeof tz, "%s", s->set.default_tz);

    /* due: delay after the purchase, then the customer's next window */
    int64_t at = s_purchase_ms(ev);
    /* the first enabled campaign in id order that wants this purchase;
     * its sample decides, so a purchase gets at most one invite */
    campaign_t camp;
    char err[200];
    int picked = survey_campaign_pick(db, &s->set, p, &camp, err, sizeof err);
    if (picked < 0)
        return -1;
    if (picked == 0) {
        log_info("event=no_campaign order=%s", log_value(order_id));
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
        int t = survey_store_throttled(db, email, due, s->set.throttle);
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
    log_info("event=invite_%s invite=%s campaign=%s order=%s due=%s", status, id,
             log_value(campaign), log_value(order_id), clock_format(due, when, sizeof when));
    if (strcmp(status, "throttled") == 0 || strcmp(status, "suppressed") == 0)
        return survey_store_stat_add(db, consumer_event_ms(ev), campaign,
                               *locale ? locale : s->set.default_locale, status, 1);
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
    /* the case hark-intake opens from a comment gets its id only when the
     * journal stores our feedback.given, so the link is the customer's
     * cases in Hark Console (this answer's among them) */
    char staff[1200];
    staff_link_make(s->set.staff_url, "/cases?customer=", cid, staff, sizeof staff);
    json_t *vars = json_pack("{s:s,s:i,s:s}", "customer_name",
                             *name ? name : *email ? email : cid, "score", score, "staff_url",
                             staff);
    if (*email)
        json_object_set_new(vars, "customer_email", json_string(email));
    if (comment)
        json_object_set_new(vars, "comment", json_string(comment));
    if (order_id)
        json_object_set_new(vars, "order_number", json_string(order_id));
    json_t *mail = json_pack("{s:s,s:s,s:s,s:o}", "address", s->set.alert_to, "template",
                             "nps_detractor_alert", "category", "alert", "vars", vars);
    if (mail && *cid) /* whom it quotes: erased with them */
        json_object_set_new(mail, "about", json_string(cid));
    return consumer_emit(c, ev, EV_MAIL_REQUESTED, "alert", mail);
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
    snprintf(locale, sizeof locale, "%s", s_col(st, 1) ? s_col(st, 1) : s->set.default_locale);
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
    if ((had_score && survey_store_score_add(db, answered_at, campaign, locale, old, -1)) ||
        survey_store_score_add(db, answered_at, campaign, locale, score, 1))
        return -1;
    if (comment && !had_comment &&
        survey_store_stat_add(db, answered_at, campaign, locale, "comments", 1))
        return -1;
    int alert = score <= 6 && !alerted && s->set.alert_to && *s->set.alert_to;
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
        if (consumer_emit(c, ev, EV_FEEDBACK_GIVEN, "feedback", fb))
            return -1;
    }
    if (alert && s_alert(s, db, c, ev, cid, *order ? order : NULL, score, comment))
        return -1;
    return 0;
}

/* survey_apply_customer - customer: the contact, its attributes */
int survey_apply_customer(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    const json_t *p = ev->payload;
    return contacts_upsert(db, p) || survey_store_customer_extra(
                                         db, p, json_string_value(json_object_get(p, "id")), -1)
               ? -1
               : 0;
}

/* survey_apply_purchase - purchase: the customer, and an invite planned */
int survey_apply_purchase(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    survey_t *s = service_state(svc);
    const json_t *p = ev->payload;
    json_t *cust = json_object_get(p, "customer");
    if (cust && contacts_upsert(db, cust))
        return -1;
    const char *cid = json_string_value(json_object_get(cust ? cust : p,
                                                        cust ? "id" : "customer_id"));
    if (survey_store_customer_extra(db, cust, cid, s_purchase_ms(ev)) ||
        (cid && survey_customers_purchase(db, ev, cid, s_purchase_ms(ev))))
        return -1;
    int rc = s_schedule(s, db, ev, cid);
    evloop_timer_at(service_evloop(svc), s->due_timer, 0);
    return rc;
}

/* survey_apply_unsubscribed - mail.unsubscribed: never ask again */
int survey_apply_unsubscribed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                              consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_suppress(db, json_string_value(json_object_get(ev->payload, "address")),
                             "unsubscribed");
}

/* survey_apply_unsuppressed - customer.unsuppressed: staff say ask again */
int survey_apply_unsuppressed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                              consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_unsuppress(db, json_string_value(json_object_get(ev->payload, "address")));
}

/* survey_apply_bounced - mail.bounced: never ask again */
int survey_apply_bounced(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_suppress(db, json_string_value(json_object_get(ev->payload, "address")),
                             "bounced");
}

/* survey_apply_delivered - mail.delivered: one of our invites counted */
int survey_apply_delivered(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return s_delivered(db, ev);
}

/* survey_apply_answered - survey.answered: the score, maybe an alert */
int survey_apply_answered(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    return s_answer(service_state(svc), db, ev, c);
}

/* survey_apply_campaign - campaign.saved: create or replace a campaign */
int survey_apply_campaign(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    survey_t *s = service_state(svc);
    char err[200] = "";
    int rc = survey_campaign_save(db, &s->set, ev->payload, err, sizeof err);
    if (rc > 0)
        log_error("event=campaign_not_applied offset=%lld error=\"%s\"", (long long)ev->offset,
                  err);
    if (rc == 0)
        rc = survey_campaign_history_add(db, ev->offset, consumer_event_ms(ev), ev->payload);
    return rc < 0 ? -1 : 0;
}

/* survey_apply_commented - survey.commented (hark-inbox): a customer's
 * emailed answer to an invite, added to its comment (after one given on
 * the page) and passed on as feedback.given like a page comment */
int survey_apply_commented(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    survey_t *s = service_state(svc);
    const json_t *p = ev->payload;
    const char *invite = json_string_value(json_object_get(p, "invite"));
    const char *comment = json_string_value(json_object_get(p, "comment"));
    if (!invite || !comment || !*comment)
        return -1;
    sqlite3_stmt *st = db_prepare(db, "SELECT campaign, locale, customer_id, score, comment IS NOT"
                                      " NULL, answered_at FROM invites WHERE id = ?"
                                      " AND status = 'sent'");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, invite, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
        db_finish(st);
        log_warn("event=comment_ignored invite=%s why=unknown_invite", invite);
        return 0;
    }
    char campaign[80], locale[64], cid[160];
    snprintf(campaign, sizeof campaign, "%s", s_col(st, 0));
    snprintf(locale, sizeof locale, "%s", s_col(st, 1) ? s_col(st, 1) : s->set.default_locale);
    snprintf(cid, sizeof cid, "%s", s_col(st, 2));
    int has_score = sqlite3_column_type(st, 3) != SQLITE_NULL;
    int score = sqlite3_column_int(st, 3);
    int had_comment = sqlite3_column_int(st, 4);
    int64_t answered_at = sqlite3_column_int64(st, 5);
    db_finish(st);
    /* counted on the answer's day, as a page comment is; unanswered: not yet */
    if (has_score && !had_comment &&
        survey_store_stat_add(db, answered_at, campaign, locale, "comments", 1))
        return -1;
    st = db_prepare(db, "UPDATE invites SET comment = substr(CASE WHEN comment IS NULL THEN ?2"
                        " ELSE comment || char(10) || char(10) || ?2 END, 1, 8000) WHERE id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, invite, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, comment, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    if (rc)
        return -1;
    log_info("event=commented_by_mail invite=%s", invite);
    json_t *fb = json_pack("{s:s,s:s,s:s,s:s,s:s}", "text", comment, "source", "nps",
                           "customer_id", cid, "invite", invite, "locale", locale);
    if (fb && has_score)
        json_object_set_new(fb, "score", json_integer(score));
    return consumer_emit(c, ev, EV_FEEDBACK_GIVEN, "feedback", fb);
}

/* survey_apply_requested - mail.requested of our own invite (key
 * survey/invite/<id>) or reminder (survey/reminder/<id>): what the timer
 * did, as the journal recorded it.  Live, the timer marked the row in the
 * transaction that wrote this event, and nothing changes here.  In a replay
 * (`hark rebuild survey`, a restore without survey.db) the row is still
 * 'scheduled' when its mail.requested comes by, and it is marked sent at
 * the journal's time, as the timer marked it: the answers that follow find
 * it 'sent', and the day counts are the first run's. */
int survey_apply_requested(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    survey_t *s = service_state(svc);
    const char *key = ev->key ? ev->key : "";
    int64_t t = consumer_event_ms(ev);
    if (strncmp(key, "survey/reminder/", 16) == 0) {
        sqlite3_stmt *st = db_prepare(db, "UPDATE invites SET reminder_at = NULL, reminded_at = ?2"
                                          " WHERE id = ?1 AND reminder_at IS NOT NULL");
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, key + 16, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, t);
        int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        db_finish(st);
        return rc;
    }
    if (strncmp(key, "survey/invite/", 14) != 0)
        return 0;
    const char *id = key + 14;
    sqlite3_stmt *st = db_prepare(db, "SELECT campaign FROM invites WHERE id = ?"
                                      " AND status = 'scheduled'");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    char campaign[80] = "";
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(campaign, sizeof campaign, "%s", s_col(st, 0));
    db_finish(st);
    if (!*campaign)
        return 0; /* the timer marked it already (or it is not ours) */
    campaign_t camp;
    char err[200];
    if (survey_campaign_get(db, &s->set, campaign, &camp, err, sizeof err)) {
        log_error("event=bad_campaign campaign=%s error=\"%s\"", campaign, err);
        return -1;
    }
    int64_t expiry = camp.expiry, reminder = camp.reminder;
    campaign_free(&camp);
    st = db_prepare(db, "UPDATE invites SET status = 'sent', sent_at = ?2, expires_at = ?3,"
                        " reminder_at = ?4, email = lower(coalesce((SELECT email FROM customers"
                        " WHERE id = invites.customer_id), email)) WHERE id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, t);
    sqlite3_bind_int64(st, 3, t + expiry);
    if (reminder > 0 && reminder < expiry)
        sqlite3_bind_int64(st, 4, t + reminder);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    if (rc)
        return -1;
    const char *locale = json_string_value(json_object_get(ev->payload, "locale"));
    if (!locale || !*locale)
        locale = s->set.default_locale;
    log_info("event=invite_sent invite=%s from=journal", id);
    return survey_store_stat_add(db, t, campaign, locale, "sent", 1);
}
