/*
 * milestone_tick.c - hark-milestone's timer: which customers' birthdays and
 * anniversaries are due now (zone by zone, with a cache of send instants),
 * and one decision per customer and year, written with its mail.requested
 * into the outbox in one transaction (see milestone.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "log.h"
#include "milestone.h"
#include "outbox.h"
#include "tz.h"

/* s_col - a text column or "" */
static const char *s_col(sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    return v ? v : "";
}

/* milestone_tick_slot - the cache entry of local date `day` (days since the epoch) at
 * `minutes` in zone tz (NULL: none; the default zone when tz is not one),
 * its send instant computed on first use */
milestone_slot_t *milestone_tick_slot(milestone_t *m, const char *tz, int64_t day, int minutes)
{
    int none = tz == NULL;
    if (!tz || strlen(tz) >= sizeof m->cache[0].tz)
        tz = "";
    uint32_t h = 2166136261u; /* FNV-1a over zone, day and minutes */
    for (const char *p = tz; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ (uint32_t)day) * 16777619u;
    h = (h ^ (uint32_t)minutes) * 16777619u;
    h = (h ^ (uint32_t)none) * 16777619u;
    milestone_slot_t *e = &m->cache[h % MILESTONE_CACHE_SLOTS];
    if (e->at && e->day == day && e->minutes == minutes && e->none == none &&
        strcmp(e->tz, tz) == 0)
        return e;
    int y, mo, d;
    clock_civil_from_days(day, &y, &mo, &d);
    const char *zone = tz_ok(tz) ? tz : m->mc.default_tz;
    memset(e, 0, sizeof *e);
    e->at = milestone_date_send_instant(y, mo, d, minutes, zone);
    snprintf(e->tz, sizeof e->tz, "%s", tz);
    e->day = day;
    e->minutes = minutes;
    e->none = none;
    return e;
}

/* s_zones - the distinct zones of the customers whose milestone column
 * matches md, read from the (md, timezone) index alone, so the zones whose
 * send time has not come cost no table reads.  *out gets a malloc'd array
 * of malloc'd names (NULL for customers without a zone); returns the
 * count, or -1. */
static int s_zones(sqlite3 *db, int kind, int from_signup, const int md[2], char ***out)
{
    /* the column names come from this fixed list, never from input */
    const char *sql = kind == MILESTONE_BIRTHDAY ? "SELECT DISTINCT timezone FROM customers"
                                            " WHERE b_md IN (?1, ?2)"
                      : from_signup ? "SELECT DISTINCT timezone FROM customers"
                                      " WHERE s_md IN (?1, ?2)"
                                    : "SELECT DISTINCT timezone FROM customers"
                                      " WHERE p_md IN (?1, ?2)";
    sqlite3_stmt *st = db_prepare(db, sql);
    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, md[0]);
    sqlite3_bind_int(st, 2, md[1]);
    int n = 0, cap = 0, rc = 0;
    char **z = NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **g = realloc(z, (size_t)cap * sizeof *g);
            if (!g) {
                rc = -1;
                break;
            }
            z = g;
        }
        const char *tz = (const char *)sqlite3_column_text(st, 0);
        z[n] = tz ? strdup(tz) : NULL;
        if (tz && !z[n]) {
            rc = -1;
            break;
        }
        n++;
    }
    db_finish(st);
    if (rc) {
        while (n > 0)
            free(z[--n]);
        free(z);
        return -1;
    }
    *out = z;
    return n;
}

/* s_scan_zone - the decisions due now among the customers of one zone
 * (tz, NULL for none) whose milestone of year y is kept on `day`; appended
 * to *out (grown; caller frees).  0/-1 */
static int s_scan_zone(milestone_t *m, sqlite3 *db, const milestone_settings_t *set,
                       const int md[2], int y, const char *tz, int64_t at, int64_t now,
                       milestone_due_t **out, size_t *n, size_t *cap)
{
    const char *sql =
        set->kind == MILESTONE_BIRTHDAY
            ? "SELECT id, email, name, locale, 0 FROM customers c"
              " WHERE b_md IN (?1, ?2) AND timezone IS ?5 AND NOT EXISTS"
              " (SELECT 1 FROM sends s WHERE s.kind = ?3 AND s.customer_id = c.id"
              " AND s.year = ?4)"
        : set->from_signup
            ? "SELECT id, email, name, locale, s_year FROM customers c"
              " WHERE s_md IN (?1, ?2) AND timezone IS ?5 AND NOT EXISTS"
              " (SELECT 1 FROM sends s WHERE s.kind = ?3 AND s.customer_id = c.id"
              " AND s.year = ?4)"
            : "SELECT id, email, name, locale, p_year FROM customers c"
              " WHERE p_md IN (?1, ?2) AND timezone IS ?5 AND NOT EXISTS"
              " (SELECT 1 FROM sends s WHERE s.kind = ?3 AND s.customer_id = c.id"
              " AND s.year = ?4)";
    sqlite3_stmt *st = db_prepare(db, sql);
    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, md[0]);
    sqlite3_bind_int(st, 2, md[1]);
    sqlite3_bind_text(st, 3, milestone_settings_kind_names[set->kind], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, y);
    if (tz) /* unbound: NULL, and "timezone IS NULL" finds those without */
        sqlite3_bind_text(st, 5, tz, -1, SQLITE_TRANSIENT);
    int rc = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int years = y - sqlite3_column_int(st, 4);
        if (set->kind == MILESTONE_ANNIVERSARY && years < 1)
            continue; /* whole years only: the first comes next year */
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 256;
            milestone_due_t *g = realloc(*out, nc * sizeof *g);
            if (!g) {
                rc = -1;
                break;
            }
            *out = g;
            *cap = nc;
        }
        milestone_due_t *e = &(*out)[(*n)++];
        memset(e, 0, sizeof *e);
        e->kind = set->kind;
        e->year = y;
        e->years = years;
        snprintf(e->cid, sizeof e->cid, "%s", s_col(st, 0));
        contacts_lower(s_col(st, 1), e->email, sizeof e->email);
        snprintf(e->name, sizeof e->name, "%s", s_col(st, 2));
        snprintf(e->locale, sizeof e->locale, "%s", s_col(st, 3));
        e->status = now >= at + m->mc.catch_up ? "missed" : "sent";
    }
    db_finish(st);
    return rc;
}

/* s_scan - the decisions due now for one kind and local send date `day`,
 * appended to *out (grown; caller frees); next_at gets the earliest send
 * instant still ahead.  Zone by zone: the zones whose send instant on
 * `day` has not come (or is long past and decided) cost an index read.
 * 0/-1 */
static int s_scan(milestone_t *m, sqlite3 *db, const milestone_settings_t *set, int64_t day,
                  int64_t now, milestone_due_t **out, size_t *n, size_t *cap, int64_t *next_at)
{
    /* the milestone kept on `day` is the one `offset` days later */
    int64_t event_day = day - set->offset_days;
    int y, mo, d, md[2];
    clock_civil_from_days(event_day, &y, &mo, &d);
    if (milestone_date_match_md(y, mo, d, m->mc.mar1, md) < 2)
        md[1] = md[0];
    char **zones = NULL;
    int nz = s_zones(db, set->kind, set->from_signup, md, &zones);
    if (nz < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < nz; i++) {
        milestone_slot_t *e = milestone_tick_slot(m, zones[i], day, set->minutes);
        int64_t at = e->at;
        /* an entry stands for exactly this zone unless the name was too
         * long to keep: then it is read every time */
        int exact = !zones[i] || strcmp(e->tz, zones[i]) == 0;
        if (now < at) { /* its local day or hour has not come yet */
            if (at < *next_at)
                *next_at = at;
        } else if (!rc && !(exact && e->done[set->kind] == m->gen + 1)) {
            rc = s_scan_zone(m, db, set, md, y, zones[i], at, now, out, n, cap);
            if (!rc && exact)
                e->done[set->kind] = m->gen + 1;
        }
        free(zones[i]);
    }
    free(zones);
    return rc;
}

/* s_mail - the mail.requested payload of one message; caller decrefs */
static json_t *s_mail(milestone_t *m, const milestone_settings_t *set, const milestone_due_t *d)
{
    json_t *vars = json_object();
    if (*d->name)
        json_object_set_new(vars, "name", json_string(d->name));
    if (d->kind == MILESTONE_ANNIVERSARY)
        json_object_set_new(vars, "years", json_integer(d->years));
    if (m->mc.coupon_prefix) {
        char *code =
            milestone_coupon_make(m->token_key, m->mc.coupon_prefix, d->kind, d->year, d->cid);
        if (!code) {
            json_decref(vars);
            return NULL;
        }
        json_object_set_new(vars, "coupon_code", json_string(code));
        free(code);
    }
    json_t *mail = json_pack("{s:s,s:s,s:s,s:o}", "customer_id", d->cid, "template",
                             set->template_name, "category", "milestone", "vars", vars);
    if (*d->locale)
        json_object_set_new(mail, "locale", json_string(d->locale));
    return mail;
}

/* s_decide - record one decision (and queue its message) inside the open
 * transaction; a year decided already is left alone.  0/-1 */
static int s_decide(milestone_t *m, sqlite3 *db, const milestone_settings_t *set,
                    milestone_due_t *d, int64_t now)
{
    if (strcmp(d->status, "sent") == 0) {
        if (!*d->email)
            d->status = "no_address";
        else if (contacts_suppressed(db, d->email))
            d->status = "suppressed";
    }
    sqlite3_stmt *st = db_prepare(db, "INSERT OR IGNORE INTO sends(kind, customer_id, year,"
                                      " status, at) VALUES(?, ?, ?, ?, ?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, milestone_settings_kind_names[d->kind], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->cid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, d->year);
    sqlite3_bind_text(st, 4, d->status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    int fresh = rc == 0 && sqlite3_changes(db) > 0;
    db_finish(st);
    if (rc || !fresh || strcmp(d->status, "sent") != 0)
        return rc;
    json_t *mail = s_mail(m, set, d);
    char key[256];
    snprintf(key, sizeof key, "milestone/%s/%s/%d", milestone_settings_kind_names[d->kind], d->cid,
             d->year);
    rc = mail ? outbox_add(db, EV_MAIL_REQUESTED, key, mail) : -1;
    json_decref(mail);
    return rc;
}

/* s_send_batch - decide the next batch of the pending list in one
 * transaction, then hand the outbox to the journal.  0/-1 */
static int s_send_batch(service_t *svc, milestone_t *m, sqlite3 *db)
{
    if (db_begin(db))
        return -1;
    size_t end =
        m->i_due + (size_t)m->mc.batch < m->n_due ? m->i_due + (size_t)m->mc.batch : m->n_due;
    int bad = 0;
    size_t sent = 0;
    for (size_t i = m->i_due; i < end && !bad; i++) {
        milestone_due_t *d = &m->due[i];
        bad = s_decide(m, db, &m->set[d->kind], d, m->scan_at);
        if (!bad && strcmp(d->status, "sent") == 0)
            sent++;
        if (!bad && strcmp(d->status, "missed") != 0)
            log_info("event=milestone_%s kind=%s customer=%s year=%d", d->status,
                     milestone_settings_kind_names[d->kind], log_value(d->cid), d->year);
    }
    if (bad || db_commit(db)) {
        db_rollback(db);
        return -1;
    }
    m->i_due = end;
    m->sent += sent;
    service_flush_outbox(svc);
    return 0;
}

/* s_turn - find what is due now, then request it a batch per turn of
 * the loop (so the consumer and control commands are served in between) */
static void s_turn(evloop_t *loop, service_t *svc, milestone_t *m, sqlite3 *db)
{
    if (m->i_due >= m->n_due) {
        service_flush_outbox(svc); /* left over from a crash or a journal outage */
        int64_t now = clock_now_ms(), next_at = INT64_MAX;
        /* local dates whose send instants can lie in (now - catch_up, now]:
         * D's instants run from D 00:00 at UTC+14 to D 23:59 at UTC-12 */
        int64_t lo = (now - m->mc.catch_up - 36 * 3600000LL) / MILESTONE_DAY_MS;
        int64_t hi = (now + 14 * 3600000LL) / MILESTONE_DAY_MS;
        int bad = 0;
        m->n_due = m->i_due = 0;
        m->sent = 0;
        m->scan_at = now;
        for (int k = 0; k < MILESTONE_KINDS && !bad; k++) {
            bad = milestone_store_settings(db, &m->mc, k, &m->set[k]);
            for (int64_t day = lo; day <= hi && !bad && m->set[k].enabled; day++)
                bad = s_scan(m, db, &m->set[k], day, now, &m->due, &m->n_due, &m->cap_due,
                             &next_at);
        }
        m->next_wait = m->mc.interval;
        if (next_at != INT64_MAX && next_at - now + 1 < m->next_wait)
            m->next_wait = next_at - now + 1;
        if (bad)
            m->n_due = 0;
    }
    if (m->i_due < m->n_due && s_send_batch(svc, m, db)) {
        m->n_due = m->i_due = 0; /* decided again at the next scan */
        m->gen++;
        evloop_timer_at(loop, m->timer, m->mc.interval);
        return;
    }
    if (m->i_due < m->n_due) {
        evloop_timer_at(loop, m->timer, 0);
        return;
    }
    if (m->n_due)
        log_info("event=tick decided=%zu sent=%zu", m->n_due, m->sent);
    m->n_due = m->i_due = 0;
    m->tick_at = m->scan_at;
    m->ticks++;
    evloop_timer_at(loop, m->timer, m->next_wait);
}

/* milestone_tick - the timer: one turn, its time counted */
int milestone_tick(evloop_t *loop, void *arg)
{
    service_t *svc = arg;
    milestone_t *m = service_state(svc);
    int64_t t0 = clock_mono_ms();
    s_turn(loop, svc, m, service_db(svc));
    m->busy_ms += clock_mono_ms() - t0;
    return 0;
}
