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
 *           mail.bounced (suppress), milestone.saved (a marketer's settings).
 * Emits:    mail.requested (category milestone; templates birthday and
 *           anniversary by default; vars name, years, coupon_code), keyed
 *           milestone/<kind>/<customer id>/<year>.
 * Serves:   [milestone] control: SERVICE_STATUS, MILESTONE_SETTINGS,
 *           MILESTONE_CUSTOMER.
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
 * survey_time.c (used for local time) relies on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "keys.h"
#include "log.h"
#include "milestone.h"
#include "outbox.h"
#include "proto.h"
#include "service.h"
#include "tz.h"

#define DAY_MS 86400000LL
#define CACHE_SLOTS 4096

/* A send instant once computed: (zone, local date, minutes) -> epoch ms.
 * Zone rules do not change while we run, so an entry stays right.  done[k]
 * is gen + 1 once that zone's customers of kind k were all decided at
 * generation gen: until an event changes customers or settings (a new
 * generation), later ticks need not read them again. */
typedef struct {
    char tz[65];
    int none; /* customers without a zone */
    int64_t day;
    int minutes;
    int64_t at;
    uint64_t done[MILESTONE_KINDS];
} s_cache_t;

/* One decision a tick has made about a customer's year. */
typedef struct {
    int kind, year, years;
    /* name: customer.json allows 200 characters, up to 4 bytes each in
     * UTF-8 (a shorter buffer cut names, mid-character at times) */
    char cid[129], email[320], name[801], locale[64];
    const char *status;        /* sent, suppressed, no_address, missed */
} s_due_t;

typedef struct {
    const config_t *cfg;
    char token_key[128];
    const char *coupon_prefix; /* NULL: no coupons */
    const char *default_tz;
    int64_t catch_up, interval;
    int mar1, batch;
    int timer;
    int64_t tick_at;           /* the clock at the start of the last finished tick */
    /* the decisions of the current tick, made a batch per loop turn */
    s_due_t *due;
    size_t n_due, i_due, cap_due, sent;
    milestone_settings_t set[MILESTONE_KINDS];
    int64_t scan_at, next_wait;
    int64_t busy_ms, ticks;    /* time spent finding and requesting, for the benchmark */
    s_cache_t *cache;          /* CACHE_SLOTS entries */
    uint64_t gen;              /* bumped by every event that may change who is due */
} milestone_t;

static const char *const s_consumes[] = {
    "customer", "purchase", "mail.unsubscribed", "mail.bounced", "milestone.saved", NULL,
};

/* s_col - a text column or "" */
static const char *s_col(sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    return v ? v : "";
}

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

/* s_apply - one journal event */
static int s_apply(void *arg, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    service_t *svc = arg;
    milestone_t *m = service_state(svc);
    const json_t *p = ev->payload;
    if (strcmp(ev->type, "customer") == 0 || strcmp(ev->type, "purchase") == 0 ||
        strcmp(ev->type, "milestone.saved") == 0)
        m->gen++; /* who is due may change: zones are read again */
    if (strcmp(ev->type, "customer") == 0)
        return milestone_store_customer(db, p);
    if (strcmp(ev->type, "purchase") == 0) {
        json_t *cust = json_object_get(p, "customer");
        if (cust && milestone_store_customer(db, cust))
            return -1;
        const char *cid = json_string_value(json_object_get(cust ? cust : p,
                                                            cust ? "id" : "customer_id"));
        return milestone_store_purchase(db, cid, s_purchase_ms(ev), m->default_tz);
    }
    if (strcmp(ev->type, "mail.unsubscribed") == 0)
        return contacts_suppress(db, json_string_value(json_object_get(p, "address")),
                               "unsubscribed");
    if (strcmp(ev->type, "mail.bounced") == 0)
        return contacts_suppress(db, json_string_value(json_object_get(p, "address")), "bounced");
    if (strcmp(ev->type, "milestone.saved") == 0) {
        char err[200] = "";
        int rc = milestone_store_save(db, m->cfg, p, err, sizeof err);
        if (rc > 0)
            log_error("event=settings_not_applied offset=%lld error=\"%s\"",
                      (long long)ev->offset, err);
        else if (rc == 0)
            log_info("event=settings_saved kind=%s by=%s",
                     json_string_value(json_object_get(p, "kind")),
                     json_string_value(json_object_get(p, "by")));
        evloop_timer_at(service_evloop(svc), m->timer, 0); /* a new time may be due now */
        return rc < 0 ? -1 : 0;
    }
    return 0;
}

/* s_slot - the cache entry of local date `day` (days since the epoch) at
 * `minutes` in zone tz (NULL: none; the default zone when tz is not one),
 * its send instant computed on first use */
static s_cache_t *s_slot(milestone_t *m, const char *tz, int64_t day, int minutes)
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
    s_cache_t *e = &m->cache[h % CACHE_SLOTS];
    if (e->at && e->day == day && e->minutes == minutes && e->none == none &&
        strcmp(e->tz, tz) == 0)
        return e;
    int y, mo, d;
    clock_civil_from_days(day, &y, &mo, &d);
    const char *zone = tz_ok(tz) ? tz : m->default_tz;
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
static int s_scan_zone(milestone_t *m, sqlite3 *db, const milestone_settings_t *set, const int md[2],
                       int y, const char *tz, int64_t at, int64_t now, s_due_t **out, size_t *n,
                       size_t *cap)
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
            s_due_t *g = realloc(*out, nc * sizeof *g);
            if (!g) {
                rc = -1;
                break;
            }
            *out = g;
            *cap = nc;
        }
        s_due_t *e = &(*out)[(*n)++];
        memset(e, 0, sizeof *e);
        e->kind = set->kind;
        e->year = y;
        e->years = years;
        snprintf(e->cid, sizeof e->cid, "%s", s_col(st, 0));
        contacts_lower(s_col(st, 1), e->email, sizeof e->email);
        snprintf(e->name, sizeof e->name, "%s", s_col(st, 2));
        snprintf(e->locale, sizeof e->locale, "%s", s_col(st, 3));
        e->status = now >= at + m->catch_up ? "missed" : "sent";
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
                  int64_t now, s_due_t **out, size_t *n, size_t *cap, int64_t *next_at)
{
    /* the milestone kept on `day` is the one `offset` days later */
    int64_t event_day = day - set->offset_days;
    int y, mo, d, md[2];
    clock_civil_from_days(event_day, &y, &mo, &d);
    if (milestone_date_match_md(y, mo, d, m->mar1, md) < 2)
        md[1] = md[0];
    char **zones = NULL;
    int nz = s_zones(db, set->kind, set->from_signup, md, &zones);
    if (nz < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < nz; i++) {
        s_cache_t *e = s_slot(m, zones[i], day, set->minutes);
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
static json_t *s_mail(milestone_t *m, const milestone_settings_t *set, const s_due_t *d)
{
    json_t *vars = json_object();
    if (*d->name)
        json_object_set_new(vars, "name", json_string(d->name));
    if (d->kind == MILESTONE_ANNIVERSARY)
        json_object_set_new(vars, "years", json_integer(d->years));
    if (m->coupon_prefix) {
        char *code = milestone_coupon_make(m->token_key, m->coupon_prefix, d->kind, d->year, d->cid);
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
static int s_decide(milestone_t *m, sqlite3 *db, const milestone_settings_t *set, s_due_t *d,
                    int64_t now)
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
    snprintf(key, sizeof key, "milestone/%s/%s/%d", milestone_settings_kind_names[d->kind], d->cid, d->year);
    rc = mail ? outbox_add(db, "mail.requested", key, mail) : -1;
    json_decref(mail);
    return rc;
}

/* s_send_batch - decide the next batch of the pending list in one
 * transaction, then hand the outbox to the journal.  0/-1 */
static int s_send_batch(service_t *svc, milestone_t *m, sqlite3 *db)
{
    if (db_begin(db))
        return -1;
    size_t end = m->i_due + (size_t)m->batch < m->n_due ? m->i_due + (size_t)m->batch : m->n_due;
    int bad = 0;
    size_t sent = 0;
    for (size_t i = m->i_due; i < end && !bad; i++) {
        s_due_t *d = &m->due[i];
        bad = s_decide(m, db, &m->set[d->kind], d, m->scan_at);
        if (!bad && strcmp(d->status, "sent") == 0)
            sent++;
        if (!bad && strcmp(d->status, "missed") != 0)
            log_info("event=milestone_%s kind=%s customer=%s year=%d", d->status,
                     milestone_settings_kind_names[d->kind], d->cid, d->year);
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
        int64_t lo = (now - m->catch_up - 36 * 3600000LL) / DAY_MS;
        int64_t hi = (now + 14 * 3600000LL) / DAY_MS;
        int bad = 0;
        m->n_due = m->i_due = 0;
        m->sent = 0;
        m->scan_at = now;
        for (int k = 0; k < MILESTONE_KINDS && !bad; k++) {
            bad = milestone_store_settings(db, m->cfg, k, &m->set[k]);
            for (int64_t day = lo; day <= hi && !bad && m->set[k].enabled; day++)
                bad = s_scan(m, db, &m->set[k], day, now, &m->due, &m->n_due, &m->cap_due,
                             &next_at);
        }
        m->next_wait = m->interval;
        if (next_at != INT64_MAX && next_at - now + 1 < m->next_wait)
            m->next_wait = next_at - now + 1;
        if (bad)
            m->n_due = 0;
    }
    if (m->i_due < m->n_due && s_send_batch(svc, m, db)) {
        m->n_due = m->i_due = 0; /* decided again at the next scan */
        m->gen++;
        evloop_timer_at(loop, m->timer, m->interval);
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

/* s_on_tick - the timer: one turn, its time counted */
static int s_on_tick(evloop_t *loop, void *arg)
{
    service_t *svc = arg;
    milestone_t *m = service_state(svc);
    int64_t t0 = clock_mono_ms();
    s_turn(loop, svc, m, service_db(svc));
    m->busy_ms += clock_mono_ms() - t0;
    return 0;
}

/* s_reply - send body (stolen) as cmd */
static void s_reply(void *sock, const wire_msg_t *msg, const char *cmd, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (text)
        wire_reply(sock, msg, cmd, text, strlen(text));
    else
        wire_reply_error(sock, msg, "internal", "out of memory");
    free(text);
    json_decref(body);
}

/* s_settings_cmd - MILESTONE_SETTINGS {kind?} */
static int s_settings_cmd(service_t *svc, void *sock, const wire_msg_t *msg)
{
    milestone_t *m = service_state(svc);
    json_t *req = wire_body_json(msg);
    const char *kind = json_string_value(json_object_get(req, "kind"));
    if (!req || (json_object_get(req, "kind") && milestone_settings_kind(kind) < 0)) {
        json_decref(req);
        return wire_reply_error(sock, msg, "invalid_request",
                                "kind must be birthday or anniversary"), 0;
    }
    json_t *list = json_array();
    sqlite3 *db = service_db(svc);
    for (int k = 0; k < MILESTONE_KINDS; k++) {
        milestone_settings_t s;
        if ((kind && k != milestone_settings_kind(kind)) || milestone_store_settings(db, m->cfg, k, &s))
            continue;
        json_t *v = milestone_settings_view(&s), *counts = json_object();
        sqlite3_stmt *st = db_prepare(db, "SELECT status, count(*) FROM sends WHERE kind = ?"
                                          " GROUP BY status");
        if (st)
            sqlite3_bind_text(st, 1, milestone_settings_kind_names[k], -1, SQLITE_STATIC);
        while (st && sqlite3_step(st) == SQLITE_ROW)
            json_object_set_new(counts, s_col(st, 0), json_integer(sqlite3_column_int64(st, 1)));
        db_finish(st);
        json_object_set_new(v, "counts", counts);
        json_array_append_new(list, v);
    }
    json_decref(req);
    s_reply(sock, msg, CMD_MILESTONE_SETTINGS_OK, json_pack("{s:o}", "milestones", list));
    return 0;
}

/* s_next - the next milestone of kind for customer row values: the first
 * year whose message is neither decided nor missed; NULL when none */
static json_t *s_next(milestone_t *m, sqlite3 *db, const milestone_settings_t *set, const char *cid,
                      int md, int start_year, const char *tz, int64_t now)
{
    int y0, mo, d;
    clock_civil_from_days(now / DAY_MS, &y0, &mo, &d);
    for (int y = y0 - 1; y <= y0 + 2; y++) {
        if (set->kind == MILESTONE_ANNIVERSARY && y - start_year < 1)
            continue;
        int om, od;
        milestone_date_observed(y, md / 100, md % 100, m->mar1, &om, &od);
        int64_t event_day = clock_days_from_civil(y, om, od);
        int64_t at = s_slot(m, *tz ? tz : NULL, event_day + set->offset_days, set->minutes)->at;
        if (at + m->catch_up <= now)
            continue;
        sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM sends WHERE kind = ? AND"
                                          " customer_id = ? AND year = ?");
        if (!st)
            return NULL;
        sqlite3_bind_text(st, 1, milestone_settings_kind_names[set->kind], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, cid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 3, y);
        int decided = sqlite3_step(st) == SQLITE_ROW;
        db_finish(st);
        if (decided)
            continue;
        char date[16], when[40];
        snprintf(date, sizeof date, "%04d-%02d-%02d", y, om, od);
        json_t *next = json_pack("{s:i,s:s,s:s}", "year", y, "date", date, "send_at",
                                 clock_format(at, when, sizeof when));
        if (set->kind == MILESTONE_ANNIVERSARY)
            json_object_set_new(next, "years", json_integer(y - start_year));
        return next;
    }
    return NULL;
}

/* s_customer_cmd - MILESTONE_CUSTOMER {customer_id}: each kind's next
 * milestone and the years decided */
static int s_customer_cmd(service_t *svc, void *sock, const wire_msg_t *msg)
{
    milestone_t *m = service_state(svc);
    sqlite3 *db = service_db(svc);
    json_t *req = wire_body_json(msg);
    const char *cid = json_string_value(json_object_get(req, "customer_id"));
    sqlite3_stmt *st = cid ? db_prepare(db, "SELECT timezone, b_md, s_year, s_md, p_year, p_md"
                                            " FROM customers WHERE id = ?")
                           : NULL;
    if (st)
        sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        db_finish(st);
        json_decref(req);
        return wire_reply_error(sock, msg, "not_found", "no such customer"), 0;
    }
    char tz[80];
    snprintf(tz, sizeof tz, "%s", s_col(st, 0));
    int col[5];
    int has[5];
    for (int i = 0; i < 5; i++) {
        has[i] = sqlite3_column_type(st, i + 1) != SQLITE_NULL;
        col[i] = sqlite3_column_int(st, i + 1);
    }
    db_finish(st);
    int64_t now = clock_now_ms();
    json_t *list = json_array();
    for (int k = 0; k < MILESTONE_KINDS; k++) {
        milestone_settings_t set;
        if (milestone_store_settings(db, m->cfg, k, &set))
            continue;
        int mdi = k == MILESTONE_BIRTHDAY ? 0 : set.from_signup ? 2 : 4;
        json_t *item = json_pack("{s:s,s:b}", "kind", milestone_settings_kind_names[k], "enabled", set.enabled);
        if (has[mdi]) {
            json_t *next = s_next(m, db, &set, cid, col[mdi], k == MILESTONE_BIRTHDAY ? 0 : col[mdi - 1],
                                  tz, now);
            if (next)
                json_object_set_new(item, "next", next);
        }
        json_t *decided = json_array();
        st = db_prepare(db, "SELECT year, status FROM sends WHERE kind = ? AND customer_id = ?"
                            " ORDER BY year");
        if (st) {
            sqlite3_bind_text(st, 1, milestone_settings_kind_names[k], -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, cid, -1, SQLITE_TRANSIENT);
        }
        while (st && sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(decided, json_pack("{s:i,s:s}", "year",
                                                     sqlite3_column_int(st, 0), "status",
                                                     s_col(st, 1)));
        db_finish(st);
        json_object_set_new(item, "decided", decided);
        json_array_append_new(list, item);
    }
    json_t *body = json_pack("{s:s,s:o}", "customer_id", cid, "milestones", list);
    json_decref(req);
    s_reply(sock, msg, CMD_MILESTONE_CUSTOMER_OK, body);
    return 0;
}

/* s_command - MILESTONE_SETTINGS, MILESTONE_CUSTOMER */
static int s_command(service_t *svc, void *sock, const wire_msg_t *msg)
{
    if (strcmp(msg->cmd, CMD_MILESTONE_SETTINGS) == 0)
        return s_settings_cmd(svc, sock, msg);
    if (strcmp(msg->cmd, CMD_MILESTONE_CUSTOMER) == 0)
        return s_customer_cmd(svc, sock, msg);
    return -1;
}

/* s_status - decisions by status and the last tick, in SERVICE_STATUS */
static void s_status(service_t *svc, json_t *body)
{
    milestone_t *m = service_state(svc);
    json_t *d = json_object();
    sqlite3_stmt *st = db_prepare(service_db(svc),
                                  "SELECT status, count(*) FROM sends GROUP BY status");
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(d, s_col(st, 0), json_integer(sqlite3_column_int64(st, 1)));
    db_finish(st);
    char when[40];
    if (m && m->tick_at)
        json_object_set_new(d, "tick_at", json_string(clock_format(m->tick_at, when, sizeof when)));
    if (m) {
        json_object_set_new(d, "ticks", json_integer(m->ticks));
        json_object_set_new(d, "busy_ms", json_integer(m->busy_ms));
    }
    json_object_set_new(body, "detail", d);
}

/* s_config_error - a [milestone] value we cannot work with */
static void s_config_error(const char *msg, void *arg)
{
    (void)arg;
    log_error("event=bad_config error=\"%s\"", msg);
}

/* s_init - settings, keys, the tick */
static int s_init(service_t *svc)
{
    const config_t *cfg = service_config(svc);
    milestone_t *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    service_set_state(svc, m);
    m->cfg = cfg;
    if (milestone_settings_check_config(cfg, s_config_error, NULL))
        return -1;
    m->cache = calloc(CACHE_SLOTS, sizeof *m->cache);
    m->default_tz = config_get(cfg, "milestone", "default_timezone");
    m->catch_up = config_duration_ms(cfg, "milestone", "catch_up");
    m->interval = config_duration_ms(cfg, "milestone", "interval");
    /* a scan may come up to one interval after a send time: that is on
     * time, not a catch-up (so catch_up = 0 means "only on time") */
    if (m->catch_up < m->interval)
        m->catch_up = m->interval;
    m->batch = (int)config_int(cfg, "milestone", "batch");
    m->mar1 = strcmp(config_get(cfg, "milestone", "feb29"), "mar1") == 0;
    m->coupon_prefix = milestone_coupon_prefix(cfg);
    if (!m->cache ||
        keys_from_config(cfg, "hark", "token_key", "token", m->token_key, sizeof m->token_key))
        return -1;
    m->timer = evloop_add_timer(service_evloop(svc), m->interval, s_on_tick, svc);
    if (m->timer < 0)
        return -1;
    evloop_timer_at(service_evloop(svc), m->timer, 0);
    log_info("event=milestone_ready catch_up_ms=%lld feb29=%s coupon=%s",
             (long long)m->catch_up, m->mar1 ? "mar1" : "feb28",
             m->coupon_prefix ? m->coupon_prefix : "off");
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

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "milestone",
        .migrations = milestone_store_migrations,
        .apply = s_apply,
        .consumes = s_consumes,
        .init = s_init,
        .fini = s_fini,
        .status = s_status,
        .command = s_command,
    };
    return service_main(argc, argv, &def);
}
