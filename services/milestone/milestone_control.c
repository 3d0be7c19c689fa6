/*
 * milestone_control.c - hark-milestone's control commands (milestone.c
 * lists them in its command table; the skeleton decodes each request and
 * sends each reply) and its SERVICE_STATUS detail.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "customer.h"
#include "db.h"
#include "milestone.h"

/* s_col - a text column or "" */
static const char *s_col(sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    return v ? v : "";
}

/* milestone_control_settings - MILESTONE_SETTINGS {kind?} */
json_t *milestone_control_settings(service_t *svc, const json_t *req, service_err_t *err)
{
    milestone_t *m = service_state(svc);
    const char *kind = json_string_value(json_object_get(req, "kind"));
    if (json_object_get(req, "kind") && milestone_settings_kind(kind) < 0)
        return service_fail(err, "invalid_request", "kind must be birthday or anniversary");
    json_t *list = json_array();
    sqlite3 *db = service_db(svc);
    for (int k = 0; k < MILESTONE_KINDS; k++) {
        milestone_settings_t s;
        if ((kind && k != milestone_settings_kind(kind)) ||
            milestone_store_settings(db, &m->mc, k, &s))
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
    return json_pack("{s:o}", "milestones", list);
}

/* s_next - the next milestone of kind for customer row values: the first
 * year whose message is neither decided nor missed; NULL when none */
static json_t *s_next(milestone_t *m, sqlite3 *db, const milestone_settings_t *set, const char *cid,
                      int md, int start_year, const char *tz, int64_t now)
{
    int y0, mo, d;
    clock_civil_from_days(now / MILESTONE_DAY_MS, &y0, &mo, &d);
    for (int y = y0 - 1; y <= y0 + 2; y++) {
        if (set->kind == MILESTONE_ANNIVERSARY && y - start_year < 1)
            continue;
        int om, od;
        milestone_date_observed(y, md / 100, md % 100, m->mc.mar1, &om, &od);
        int64_t event_day = clock_days_from_civil(y, om, od);
        int64_t at =
            milestone_tick_slot(m, *tz ? tz : NULL, event_day + set->offset_days, set->minutes)->at;
        if (at + m->mc.catch_up <= now)
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

/* milestone_control_customer - MILESTONE_CUSTOMER {customer_id}: each kind's next
 * milestone and the years decided */
json_t *milestone_control_customer(service_t *svc, const json_t *req, service_err_t *err)
{
    milestone_t *m = service_state(svc);
    sqlite3 *db = service_db(svc);
    const char *cid = json_string_value(json_object_get(req, "customer_id"));
    sqlite3_stmt *st = cid ? db_prepare(db, "SELECT timezone, b_md, s_year, s_md, p_year, p_md"
                                            " FROM customers WHERE id = ?")
                           : NULL;
    if (st)
        sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        db_finish(st);
        return service_fail(err, "not_found", "no such customer");
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
        if (milestone_store_settings(db, &m->mc, k, &set))
            continue;
        int mdi = k == MILESTONE_BIRTHDAY ? 0 : set.from_signup ? 2 : 4;
        json_t *item = json_pack("{s:s,s:b}", "kind", milestone_settings_kind_names[k], "enabled",
                                 set.enabled);
        if (has[mdi]) {
            json_t *next = s_next(m, db, &set, cid, col[mdi],
                                  k == MILESTONE_BIRTHDAY ? 0 : col[mdi - 1], tz, now);
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
    /* the same decisions as the timeline's items (customer.h) */
    json_t *items = json_array();
    st = db_prepare(db, "SELECT kind, year, status, at FROM sends WHERE customer_id = ?");
    if (st)
        sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        json_t *it = customer_item(sqlite3_column_int64(st, 3), "milestone");
        customer_item_str(it, "milestone", s_col(st, 0));
        json_object_set_new(it, "year", json_integer(sqlite3_column_int(st, 1)));
        customer_item_str(it, "status", s_col(st, 2));
        json_array_append_new(items, it);
    }
    db_finish(st);
    customer_items_sort(items);
    return json_pack("{s:s,s:o,s:o}", "customer_id", cid, "milestones", list, "items", items);
}

/* milestone_control_status - decisions by status and the last tick, in SERVICE_STATUS */
void milestone_control_status(service_t *svc, json_t *body)
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

/* milestone_control_customers - MILESTONE_CUSTOMERS {after?, limit?}: a
 * page of customers in id order (the export reads them all, a page at a
 * time, so a big list never holds the loop long) */
json_t *milestone_control_customers(service_t *svc, const json_t *req, service_err_t *err)
{
    const char *after = json_string_value(json_object_get(req, "after"));
    json_int_t limit = json_integer_value(json_object_get(req, "limit"));
    if (limit <= 0)
        limit = 1000;
    sqlite3_stmt *st = db_prepare(service_db(svc),
                                  "SELECT id, email, name, locale, timezone, b_md, s_year, s_md"
                                  " FROM customers WHERE id > ?1 ORDER BY id LIMIT ?2");
    if (!st)
        return service_fail(err, "internal", "cannot read the customers");
    sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, limit);
    json_t *list = json_array();
    const char *last = NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *c = json_pack("{s:s}", "id", s_col(st, 0));
        static const char *const text[] = {NULL, "email", "name", "locale", "timezone"};
        for (int i = 1; i <= 4; i++)
            if (*s_col(st, i))
                json_object_set_new(c, text[i], json_string(s_col(st, i)));
        char d[16];
        if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
            int md = sqlite3_column_int(st, 5);
            snprintf(d, sizeof d, "--%02d-%02d", md / 100 % 100, md % 100);
            json_object_set_new(c, "birthday", json_string(d));
        }
        if (sqlite3_column_type(st, 6) != SQLITE_NULL && sqlite3_column_type(st, 7) != SQLITE_NULL) {
            int y = sqlite3_column_int(st, 6), md = sqlite3_column_int(st, 7);
            snprintf(d, sizeof d, "%04d-%02d-%02d", y % 10000, md / 100 % 100, md % 100);
            json_object_set_new(c, "signup_date", json_string(d));
        }
        json_array_append_new(list, c);
        last = json_string_value(json_object_get(c, "id"));
    }
    json_t *r = json_pack("{s:o}", "customers", list);
    if (last && (json_int_t)json_array_size(list) == limit)
        json_object_set_new(r, "next", json_string(last));
    db_finish(st);
    return r;
}

/* s_schedule_zone - the customers of one zone (tz; NULL none) whose
 * milestone of year y is kept on the day: how many, and the first few
 * names (or ids) appended to names */
static long s_schedule_zone(sqlite3 *db, const milestone_settings_t *set, const int md[2], int y,
                            const char *tz, json_t *names)
{
    /* the column names come from this fixed list, never from input */
    const char *sql =
        set->kind == MILESTONE_BIRTHDAY
            ? "SELECT id, name, 0 FROM customers c WHERE b_md IN (?1, ?2) AND timezone IS ?5"
              " AND NOT EXISTS (SELECT 1 FROM sends s WHERE s.kind = ?3"
              " AND s.customer_id = c.id AND s.year = ?4) ORDER BY id"
        : set->from_signup
            ? "SELECT id, name, s_year FROM customers c WHERE s_md IN (?1, ?2) AND timezone IS ?5"
              " AND NOT EXISTS (SELECT 1 FROM sends s WHERE s.kind = ?3"
              " AND s.customer_id = c.id AND s.year = ?4) ORDER BY id"
            : "SELECT id, name, p_year FROM customers c WHERE p_md IN (?1, ?2) AND timezone IS ?5"
              " AND NOT EXISTS (SELECT 1 FROM sends s WHERE s.kind = ?3"
              " AND s.customer_id = c.id AND s.year = ?4) ORDER BY id";
    sqlite3_stmt *st = db_prepare(db, sql);
    if (!st)
        return 0;
    sqlite3_bind_int(st, 1, md[0]);
    sqlite3_bind_int(st, 2, md[1]);
    sqlite3_bind_text(st, 3, milestone_settings_kind_names[set->kind], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, y);
    if (tz)
        sqlite3_bind_text(st, 5, tz, -1, SQLITE_TRANSIENT);
    long n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (set->kind == MILESTONE_ANNIVERSARY && y - sqlite3_column_int(st, 2) < 1)
            continue; /* whole years only */
        if (json_array_size(names) < 5)
            json_array_append_new(names, json_string(*s_col(st, 1) ? s_col(st, 1)
                                                                   : s_col(st, 0)));
        n++;
    }
    db_finish(st);
    return n;
}

/* milestone_control_schedule - MILESTONE_SCHEDULE: the next 7 days, by
 * kind, local send date and zone */
json_t *milestone_control_schedule(service_t *svc, const json_t *req, service_err_t *err)
{
    (void)req;
    (void)err;
    milestone_t *m = service_state(svc);
    sqlite3 *db = service_db(svc);
    int64_t now = clock_now_ms(), end = now + 7 * MILESTONE_DAY_MS;
    json_t *list = json_array();
    /* local send dates from yesterday (zones ahead of UTC) to 8 days on */
    int64_t today = now / MILESTONE_DAY_MS;
    for (int64_t day = today - 1; day <= today + 8; day++) {
        for (int k = 0; k < MILESTONE_KINDS; k++) {
            milestone_settings_t set;
            if (milestone_store_settings(db, &m->mc, k, &set) || !set.enabled)
                continue;
            int y, mo, d, md[2];
            clock_civil_from_days(day - set.offset_days, &y, &mo, &d);
            if (milestone_date_match_md(y, mo, d, m->mc.mar1, md) < 2)
                md[1] = md[0];
            const char *col = k == MILESTONE_BIRTHDAY ? "b_md" : set.from_signup ? "s_md" : "p_md";
            char sql[160];
            snprintf(sql, sizeof sql, "SELECT DISTINCT timezone FROM customers WHERE %s IN (?1, ?2)"
                                      " ORDER BY timezone", col);
            sqlite3_stmt *st = db_prepare(db, sql);
            if (!st)
                continue;
            sqlite3_bind_int(st, 1, md[0]);
            sqlite3_bind_int(st, 2, md[1]);
            while (sqlite3_step(st) == SQLITE_ROW) {
                const char *tz = (const char *)sqlite3_column_text(st, 0);
                char zone[80];
                snprintf(zone, sizeof zone, "%s", tz ? tz : "");
                int64_t at = milestone_tick_slot(m, tz ? zone : NULL, day, set.minutes)->at;
                if (at < now || at >= end)
                    continue;
                json_t *names = json_array();
                long n = s_schedule_zone(db, &set, md, y, tz ? zone : NULL, names);
                if (n == 0) {
                    json_decref(names);
                    continue;
                }
                int ly, lm, ld;
                clock_civil_from_days(day, &ly, &lm, &ld);
                char date[16], when[40];
                snprintf(date, sizeof date, "%04d-%02d-%02d", ly, lm, ld);
                json_array_append_new(
                    list, json_pack("{s:s,s:s,s:s,s:s,s:I,s:o}", "kind",
                                    milestone_settings_kind_names[k], "date", date, "timezone",
                                    tz ? zone : m->mc.default_tz, "send_at",
                                    clock_format(at, when, sizeof when), "customers",
                                    (json_int_t)n, "names", names));
            }
            db_finish(st);
        }
    }
    /* in send order */
    size_t n = json_array_size(list);
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0; b--) {
            json_t *x = json_array_get(list, b - 1), *yv = json_array_get(list, b);
            if (strcmp(json_string_value(json_object_get(x, "send_at")),
                       json_string_value(json_object_get(yv, "send_at"))) <= 0)
                break;
            json_incref(x);
            json_array_set(list, b - 1, yv);
            json_array_set_new(list, b, x);
        }
    return json_pack("{s:o}", "schedule", list);
}
