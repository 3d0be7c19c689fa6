/*
 * survey_run.c - the runs of relationship (scheduled) campaigns and the
 * weekly NPS digest: the two things hark-survey does because the clock
 * says so rather than because an event arrived.
 *
 * Both are exactly once by a row written in the same transaction as their
 * effect: a run's row in runs with its invites (the send timer mails them
 * as any other, through the outbox); a week's row in digests with the
 * digest's mail.requested in the outbox.  A crash before the commit leaves
 * neither, so the next tick does it; after it, the row says it is done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "campaign.h"
#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "log.h"
#include "outbox.h"
#include "staff_link.h"
#include "survey.h"

#define DAY_MS 86400000LL
/* a run that starts this late (hark-survey was down) spreads its invites
 * from when it starts, not from its planned time, which has passed */
#define LATE_MS 3600000LL
/* comments in one digest: a staff mail, not an export (hark report nps --csv) */
#define DIGEST_COMMENTS 100

/* s_col - a text column or "" */
static const char *s_col(sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    return v ? v : "";
}

/* s_locale_match - locales empty, or one of them is the customer's
 * locale or its language ("pt" takes "pt-BR"), ignoring case */
static int s_locale_match(const json_t *locales, const char *locale)
{
    if (json_array_size(locales) == 0)
        return 1;
    size_t i;
    json_t *l;
    json_array_foreach(locales, i, l) {
        const char *w = json_string_value(l);
        size_t n = w ? strlen(w) : 0;
        if (n && strncasecmp(locale, w, n) == 0 &&
            (locale[n] == '\0' || locale[n] == '-' || locale[n] == '_'))
            return 1;
    }
    return 0;
}

/* s_scalar_number - a's value when a is a number, or a string that is all
 * of one (strtod's syntax); 0/-1 */
static int s_scalar_number(const json_t *a, double *d)
{
    if (json_is_number(a)) {
        *d = json_number_value(a);
        return 0;
    }
    const char *s = json_string_value(a);
    char *end;
    if (!s || !*s || strchr(" \t\n\r\f\v", *s))
        return -1;
    *d = strtod(s, &end);
    return *end ? -1 : 0;
}

/* s_value_equal - JSON values equal; numbers by value (3 is 3.0), and a
 * string with a number or a boolean by the same value ("3" is 3, "true"
 * is true): `hark campaign set segment.attributes.N=V` can only say
 * strings, and customer events' attributes may be typed either way */
static int s_value_equal(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return 0;
    if (json_is_string(a) && json_is_string(b))
        return json_equal(a, b);
    double x, y;
    if ((json_is_number(a) || json_is_number(b)) && s_scalar_number(a, &x) == 0 &&
        s_scalar_number(b, &y) == 0)
        return x == y;
    if (json_is_boolean(a) && json_is_string(b))
        return strcmp(json_string_value(b), json_is_true(a) ? "true" : "false") == 0;
    if (json_is_boolean(b) && json_is_string(a))
        return strcmp(json_string_value(a), json_is_true(b) ? "true" : "false") == 0;
    return json_equal(a, b);
}

/* s_attrs_match - every attribute wanted has exactly that value */
static int s_attrs_match(const json_t *want, const char *have_text)
{
    if (json_object_size(want) == 0)
        return 1;
    json_t *have = *have_text ? json_loads(have_text, 0, NULL) : NULL;
    int ok = 1;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
        if (!s_value_equal(json_object_get(have, k), v)) {
            ok = 0;
            break;
        }
    }
    json_decref(have);
    return ok;
}

/* s_invite_id - r + 16 hex digits of FNV-1a 64 over campaign, run and
 * customer: the same on a redo, short enough for a link token, and
 * free of whatever characters a customer id has */
static void s_invite_id(const char *campaign, long run, const char *cid, char *out, size_t len)
{
    char runs[24];
    snprintf(runs, sizeof runs, "%ld", run);
    const char *parts[] = {campaign, runs, cid};
    uint64_t h = 14695981039346656037ULL;
    for (int i = 0; i < 3; i++)
        for (const unsigned char *p = (const unsigned char *)parts[i];; p++) {
            h ^= *p; /* the NUL too, so ("ab","c") differs from ("a","bc") */
            h *= 1099511628211ULL;
            if (!*p)
                break;
        }
    snprintf(out, len, "r%016llx", (unsigned long long)h);
}

typedef struct {
    long selected, scheduled, throttled, suppressed;
} s_counts_t;

/* s_segment - walk the segment's customers (those with an address):
 * count them when insert is 0; else write one invite each for run, the
 * i-th of n due at base + spread * i / n in the customer's window */
static int s_segment(sqlite3 *db, const survey_env_t *env, const campaign_t *c,
                     long run, int64_t base, int64_t now, long n, int insert, s_counts_t *k)
{
    const json_t *locales = json_object_get(c->segment, "locales");
    const json_t *attrs = json_object_get(c->segment, "attributes");
    /* one invite per address: customers that share one (a web form's and
     * the shop's id of one person) are asked once, as the first by id
     * (SQLite takes the bare columns from the row min() picked) */
    sqlite3_stmt *st = db_prepare(db, "SELECT min(id), email, locale, timezone, attributes"
                                      " FROM customers WHERE email IS NOT NULL"
                                      " AND email <> '' AND (?1 IS NULL OR"
                                      " last_purchase_at >= ?1) GROUP BY lower(email)"
                                      " ORDER BY 1");
    if (!st)
        return -1;
    if (c->purchased_within >= 0) /* a zero (saved before it was refused) is nobody */
        sqlite3_bind_int64(st, 1, now - c->purchased_within);
    int rc = 0;
    long i = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const char *locale = *s_col(st, 2) ? s_col(st, 2) : env->set->default_locale;
        if (!s_locale_match(locales, locale) || !s_attrs_match(attrs, s_col(st, 4)))
            continue;
        if (!insert) {
            k->selected++;
            continue;
        }
        char cid[160], email[320], tz[80], loc[64], id[24];
        snprintf(cid, sizeof cid, "%s", s_col(st, 0));
        contacts_lower(s_col(st, 1), email, sizeof email);
        snprintf(loc, sizeof loc, "%s", s_col(st, 2));
        snprintf(tz, sizeof tz, "%s", s_col(st, 3));
        if (!tz_ok(tz))
            snprintf(tz, sizeof tz, "%s", env->set->default_tz);
        int64_t due = base + (n > 0 ? (int64_t)((double)c->spread * (double)i / (double)n) : 0);
        i++;
        due = tz_window_next(&c->window, due, tz);
        const char *status = "scheduled";
        int t = 0;
        if (contacts_suppressed(db, email))
            status = "suppressed";
        else if ((t = survey_store_throttled(db, email, due, env->set->throttle)) > 0)
            status = "throttled";
        if (t < 0) {
            rc = -1;
            break;
        }
        s_invite_id(c->id, run, cid, id, sizeof id);
        sqlite3_stmt *ins = db_prepare(db, "INSERT OR IGNORE INTO invites(id, campaign,"
                                           " customer_id, email, locale, status, source_offset,"
                                           " due_at, run) VALUES(?, ?, ?, ?, ?, ?, 0, ?, ?)");
        if (!ins) {
            rc = -1;
            break;
        }
        sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, c->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 3, cid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 4, email, -1, SQLITE_TRANSIENT);
        if (*loc)
            sqlite3_bind_text(ins, 5, loc, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 6, status, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 7, due);
        sqlite3_bind_int64(ins, 8, run);
        rc = sqlite3_step(ins) == SQLITE_DONE ? 0 : -1;
        int added = rc == 0 && sqlite3_changes(db) > 0;
        db_finish(ins);
        if (!added)
            continue;
        if (strcmp(status, "scheduled") == 0) {
            k->scheduled++;
            continue;
        }
        if (strcmp(status, "throttled") == 0)
            k->throttled++;
        else
            k->suppressed++;
        rc = survey_store_stat_add(db, now, c->id, *loc ? loc : env->set->default_locale, status,
                                   1);
    }
    db_finish(st);
    return rc;
}

/* survey_run_segment_count - see survey.h: the run's own first pass */
int survey_run_segment_count(sqlite3 *db, const survey_config_t *set, const json_t *segment,
                             int64_t now, long *n, char *err, size_t len)
{
    campaign_t c;
    memset(&c, 0, sizeof c);
    c.purchased_within = -1;
    const char *within = json_string_value(json_object_get(segment, "purchased_within"));
    long long pw = 0;
    if (within && config_parse_duration(within, &pw)) {
        snprintf(err, len, "segment.purchased_within is not a duration");
        return -1;
    }
    if (within)
        c.purchased_within = pw;
    c.segment = (json_t *)segment;
    survey_env_t env = {.set = set};
    s_counts_t k = {0, 0, 0, 0};
    if (s_segment(db, &env, &c, 0, now, now, 0, 0, &k)) {
        snprintf(err, len, "the customers could not be read");
        return -1;
    }
    *n = k.selected;
    return 0;
}

/* s_run - campaign c's due run, if it still is (read again in the
 * transaction); 1 done, 0 nothing due, -1 error (rolled back) */
static int s_run(sqlite3 *db, const survey_env_t *env, const campaign_t *c, int64_t now)
{
    if (db_begin(db))
        return -1;
    long runs = 0;
    int64_t last = -1, next = -1, due = -1;
    if (survey_campaign_runs(db, c->id, &runs, &last))
        goto fail;
    campaign_next_run(c->start, c->start_off, c->every, last, now, &next, &due);
    if (due < 0) {
        db_rollback(db);
        return 0;
    }
    long run = runs + 1;
    int64_t base = now - due > LATE_MS ? now : due;
    s_counts_t k = {0, 0, 0, 0};
    if (s_segment(db, env, c, run, base, now, 0, 0, &k) ||
        s_segment(db, env, c, run, base, now, k.selected, 1, &k))
        goto fail;
    sqlite3_stmt *st = db_prepare(db, "INSERT INTO runs(campaign, run, at, done_at, selected,"
                                      " scheduled, throttled, suppressed)"
                                      " VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st)
        goto fail;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, run);
    sqlite3_bind_int64(st, 3, due);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, k.selected);
    sqlite3_bind_int64(st, 6, k.scheduled);
    sqlite3_bind_int64(st, 7, k.throttled);
    sqlite3_bind_int64(st, 8, k.suppressed);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    if (rc || db_commit(db))
        goto fail;
    char when[40];
    log_info("event=campaign_run campaign=%s run=%ld at=%s selected=%ld scheduled=%ld"
             " throttled=%ld suppressed=%ld",
             c->id, run, clock_format(due, when, sizeof when), k.selected, k.scheduled,
             k.throttled, k.suppressed);
    return 1;
fail:
    db_rollback(db);
    return -1;
}

/* s_due_campaign - campaign id, read into *c, when it is enabled, a
 * relationship one and has a run due after its last one: 1 (caller frees
 * c), 0 not due, -1 error */
static int s_due_campaign(sqlite3 *db, const survey_env_t *env, const char *id, int64_t now,
                          campaign_t *c)
{
    char err[200];
    if (survey_campaign_get(db, env->set, id, c, err, sizeof err)) {
        log_error("event=bad_campaign campaign=%s error=\"%s\"", id, err);
        return 0;
    }
    long runs = 0;
    int64_t last = -1, next, due = -1;
    if (survey_campaign_runs(db, c->id, &runs, &last)) {
        campaign_free(c);
        return -1;
    }
    if (c->enabled && c->relationship)
        campaign_next_run(c->start, c->start_off, c->every, last, now, &next, &due);
    if (due < 0)
        campaign_free(c);
    return due >= 0;
}

int survey_run_due(sqlite3 *db, const survey_env_t *env, int64_t now)
{
    /* the ids first, 64 at a time: a run writes while this statement
     * would be open */
    char ids[64][65], after[65] = "";
    int n, done = 0, synced = 0;
    do {
        n = 0;
        sqlite3_stmt *st = db_prepare(db, "SELECT id FROM campaigns WHERE enabled = 1"
                                          " AND kind = 'relationship' AND id > ?"
                                          " ORDER BY id LIMIT 64");
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, after, -1, SQLITE_TRANSIENT);
        while (n < 64 && sqlite3_step(st) == SQLITE_ROW)
            snprintf(ids[n++], sizeof ids[0], "%s", s_col(st, 0));
        db_finish(st);
        for (int i = 0; i < n; i++) {
            campaign_t c;
            int r = s_due_campaign(db, env, ids[i], now, &c);
            if (r == 1 && !synced) {
                /* a run selects from what the journal says now: events
                 * journaled before it but not applied yet (a backlog after
                 * a pause or restart) first; then the campaign again,
                 * which they may have changed */
                campaign_free(&c);
                if (env->sync && env->sync(env->sync_arg))
                    return done; /* not caught up: the next tick tries again */
                synced = 1;
                r = s_due_campaign(db, env, ids[i], now, &c);
            }
            if (r == 1) {
                r = s_run(db, env, &c, now);
                campaign_free(&c);
            }
            if (r < 0)
                return -1;
            done += r;
        }
        if (n)
            snprintf(after, sizeof after, "%s", ids[n - 1]);
    } while (n == 64);
    return done;
}

/* --- the weekly digest ---------------------------------------------------- */

typedef struct {
    long long responses, promoters, passives, detractors;
} s_week_t;

/* s_week - answers first given in [from, to) by their (last) score */
static int s_week(sqlite3 *db, int64_t from, int64_t to, s_week_t *w)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT count(*), coalesce(sum(score >= 9), 0),"
                                      " coalesce(sum(score BETWEEN 7 AND 8), 0),"
                                      " coalesce(sum(score <= 6), 0) FROM invites"
                                      " WHERE score IS NOT NULL AND answered_at >= ?"
                                      " AND answered_at < ?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -1;
    if (rc == 0) {
        w->responses = sqlite3_column_int64(st, 0);
        w->promoters = sqlite3_column_int64(st, 1);
        w->passives = sqlite3_column_int64(st, 2);
        w->detractors = sqlite3_column_int64(st, 3);
    }
    db_finish(st);
    return rc;
}

/* s_local_time - "YYYY-MM-DD HH:MM" of ms in zone tz */
static const char *s_local_time(int64_t ms, const char *tz, char *out, size_t len)
{
    struct tm t;
    if (tz_local(ms, tz, &t) || !strftime(out, len, "%Y-%m-%d %H:%M", &t))
        snprintf(out, len, "?");
    return out;
}

/* s_digest_mail - the nps_digest mail.requested for [from, to) against
 * [prev, from); caller decrefs; NULL on error */
static json_t *s_digest_mail(sqlite3 *db, const survey_env_t *env, int64_t prev, int64_t from,
                             int64_t to)
{
    s_week_t w, p;
    if (s_week(db, from, to, &w) || s_week(db, prev, from, &p))
        return NULL;
    char nps[32], change[32], d1[24], d2[24], week[200];
    double now_nps = survey_report_nps(w.promoters, w.detractors, w.responses);
    if (w.responses)
        snprintf(nps, sizeof nps, "%.1f", now_nps);
    else
        snprintf(nps, sizeof nps, "–"); /* no answers: no score (any language) */
    const char *tz = env->set->default_tz;
    snprintf(week, sizeof week, "%s – %s (%s)", s_local_time(from, tz, d1, sizeof d1),
             s_local_time(to, tz, d2, sizeof d2), tz);
    json_t *vars = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "nps", nps, "week", week, "responses",
                             (json_int_t)w.responses, "promoters", (json_int_t)w.promoters,
                             "passives", (json_int_t)w.passives, "detractors",
                             (json_int_t)w.detractors);
    if (!vars)
        return NULL;
    /* a change needs responses in both weeks */
    if (w.responses && p.responses) {
        snprintf(change, sizeof change, "%+.1f",
                 now_nps - survey_report_nps(p.promoters, p.detractors, p.responses));
        json_object_set_new(vars, "nps_change", json_string(change));
    }
    json_t *comments = json_array();
    sqlite3_stmt *st = db_prepare(db, "SELECT i.score, i.comment, c.name FROM invites i"
                                      " LEFT JOIN customers c ON c.id = i.customer_id"
                                      " WHERE i.score IS NOT NULL AND i.comment IS NOT NULL"
                                      " AND i.answered_at >= ? AND i.answered_at < ?"
                                      " ORDER BY i.answered_at, i.id LIMIT ?");
    if (!st) {
        json_decref(comments);
        json_decref(vars);
        return NULL;
    }
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    sqlite3_bind_int(st, 3, DIGEST_COMMENTS);
    while (sqlite3_step(st) == SQLITE_ROW) {
        /* customer text: the template shows it with {{comment}} and
         * {{customer_name}}, which the renderer escapes */
        json_t *cm = json_pack("{s:i,s:s}", "score", sqlite3_column_int(st, 0), "comment",
                               s_col(st, 1));
        if (cm && *s_col(st, 2))
            json_object_set_new(cm, "customer_name", json_string(s_col(st, 2)));
        if (cm)
            json_array_append_new(comments, cm);
    }
    db_finish(st);
    json_object_set_new(vars, "comments", comments);
    char staff[600]; /* Hark Console's inbox */
    staff_link_make(env->set->staff_url, "/cases", NULL, staff, sizeof staff);
    json_object_set_new(vars, "staff_url", json_string(staff));
    return json_pack("{s:s,s:s,s:s,s:o}", "address", env->set->digest_to, "template", "nps_digest",
                     "category", "alert", "vars", vars);
}

int survey_run_digest_due(sqlite3 *db, const survey_env_t *env, int64_t now, int64_t *next_ms)
{
    *next_ms = INT64_MAX;
    if (!env->set->digest_to || !*env->set->digest_to)
        return 0;
    /* this week's moment: digest_day at digest_hour local, not after now */
    const char *tz = env->set->default_tz;
    struct tm lt;
    if (tz_local(now, tz, &lt))
        return -1;
    struct tm m = lt;
    m.tm_mday -= (lt.tm_wday - env->set->digest_wday + 7) % 7;
    m.tm_hour = env->set->digest_hour;
    m.tm_min = m.tm_sec = 0;
    int64_t moment = tz_from_local(&m, tz);
    if (moment > now) {
        m.tm_mday -= 7;
        moment = tz_from_local(&m, tz);
    }
    /* days step the local calendar, so a week across a DST change is
     * still Monday 09:00 to Monday 09:00 */
    struct tm x = m;
    x.tm_mday += 7;
    *next_ms = tz_from_local(&x, tz);
    if (now - moment >= DAY_MS) /* missed by a day (hark-survey was down): skipped */
        return 0;
    /* the week's answers include those journaled but not applied yet (a
     * backlog after a pause or restart): catch up first, or try later */
    if (env->sync && env->sync(env->sync_arg)) {
        *next_ms = now;
        return 0;
    }
    x = m;
    x.tm_mday -= 7;
    int64_t from = tz_from_local(&x, tz);
    x = m;
    x.tm_mday -= 14;
    int64_t prev = tz_from_local(&x, tz);
    struct tm wk;
    char week[16], key[64];
    if (tz_local(from, tz, &wk) || !strftime(week, sizeof week, "%G-W%V", &wk))
        return -1;
    if (db_begin(db))
        return -1;
    sqlite3_stmt *st = db_prepare(db, "INSERT OR IGNORE INTO digests(week, sent_at)"
                                      " VALUES(?, ?)");
    if (!st) {
        db_rollback(db);
        return -1;
    }
    sqlite3_bind_text(st, 1, week, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    int fresh = rc == 0 && sqlite3_changes(db) > 0;
    db_finish(st);
    json_t *mail = fresh ? s_digest_mail(db, env, prev, from, moment) : NULL;
    snprintf(key, sizeof key, "survey/digest/%s", week);
    if (rc || (fresh && (!mail || outbox_add(db, EV_MAIL_REQUESTED, key, mail))) ||
        db_commit(db)) {
        json_decref(mail);
        db_rollback(db);
        return -1;
    }
    json_decref(mail);
    if (fresh)
        log_info("event=digest_queued week=%s", week);
    return fresh;
}
