/*
 * survey_send.c - hark-survey's timer: relationship runs, the weekly
 * digest, and the invites and reminders that are due, each written into
 * the outbox in the transaction that marks it sent (see survey.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "log.h"
#include "outbox.h"
#include "survey.h"
#include "survey_link.h"

/* s_col - a text column or NULL */
static const char *s_col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
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
        snprintf(url, sizeof url, "%s/s/%s?score=%d", s->set.public_url, tok, n);
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
    const char *status = "sent", *locale = *d->locale ? d->locale : s->set.default_locale;
    campaign_t camp;
    char err[200];
    if (survey_campaign_get(db, &s->set, d->campaign, &camp, err, sizeof err)) {
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
    } else if (s->set.throttle > 0) {
        /* sent meanwhile by another campaign or order */
        sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM invites WHERE email = ? AND id <> ?"
                                          " AND status = 'sent' AND sent_at > ? LIMIT 1");
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, d->email, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, d->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, now - s->set.throttle);
        if (sqlite3_step(st) == SQLITE_ROW)
            status = "throttled";
        db_finish(st);
    }
    int64_t expires = now + expiry;
    if (strcmp(status, "sent") == 0) {
        json_t *mail =
            s_mail(s, "nps_invite", d->id, d->cid, d->locale, *d->order ? d->order : NULL, expires);
        char key[128];
        snprintf(key, sizeof key, "survey/invite/%s", d->id);
        int rc = mail ? outbox_add(db, EV_MAIL_REQUESTED, key, mail) : -1;
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

/* s_due - up to SURVEY_SEND_BATCH rows of sql (bound to now) as s_due_t */
static size_t s_due(sqlite3 *db, const char *sql, int64_t now, s_due_t *out)
{
    sqlite3_stmt *st = db_prepare(db, sql);
    size_t n = 0;
    if (!st)
        return 0;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, SURVEY_SEND_BATCH);
    while (n < SURVEY_SEND_BATCH && sqlite3_step(st) == SQLITE_ROW) {
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

/* survey_send_sync - survey_env_t's sync: apply the journal up to its head now (a
 * batch at a time, as the consumer's own timer would, but before a run or
 * digest reads the tables); 0 caught up, -1 journal unreachable or still
 * behind after many batches (the caller tries on a later tick) */
int survey_send_sync(void *arg)
{
    consumer_t *c = service_consumer(arg);
    for (int i = 0; c && i < 100; i++) {
        int r = consumer_caught_up(c);
        if (r)
            return r < 0 ? -1 : 0;
    }
    return c ? -1 : 0;
}

/* survey_send_due - send the invites and reminders that are due */
int survey_send_due(evloop_t *loop, void *arg)
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
    /* nothing is sent on a state behind the journal: in a replay the
     * journal already holds the mail.requested of invites the first run
     * sent, and applying it marks them (survey_apply_requested) */
    if (survey_send_sync(svc))
        return 0;
    s_due_t *due = calloc(SURVEY_SEND_BATCH, sizeof *due);
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
        bad = !mail || outbox_add(db, EV_MAIL_REQUESTED, key, mail);
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
