/*
 * loop_report.c - LOOP_REPORT: per reason, how much feedback came, how
 * many customers heard back and how fast, and how NPS moved for those who
 * were told against those who were not.
 *
 * NPS: hark-loop sees hark-survey's invites (its mail.requested, key
 * survey/invite/<id>, carries the customer) and the answers to them
 * (survey.answered, the last answer to an invite counts, timed by the
 * journal).  A customer who was told counts with their latest answer before
 * the first email that told them about this reason ("before") and their
 * latest answer after it ("after"); a customer who raised the reason and
 * was not told, with their latest answers before and after the reason's
 * first loop.  NPS is % promoters (9-10) - % detractors (0-6) over the
 * customers with such an answer; null when there are none.
 *
 * A date range (from, to: UTC days, both inclusive; Hark Console's
 * dashboard sends its own) narrows every part to what happened in it: the
 * feedback given in it (feedback, customers, open), the loops closed in it
 * (loops, told, history, median_days), the customers told by those loops,
 * those who raised the reason in it and were never told, and only the
 * answers given in it.  Without one the report is over all time.  Every
 * statement takes the range as ?2 (first ms) and ?3 (first ms after).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "loop.h"

/* the range: [from, until) in ms since the epoch */
typedef struct {
    int64_t from, until;
} s_range_t;

/* s_bind - reason as ?1, the range as ?2 and ?3 */
static void s_bind(sqlite3_stmt *st, const char *reason, const s_range_t *rg)
{
    sqlite3_bind_text(st, 1, reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, rg->from);
    sqlite3_bind_int64(st, 3, rg->until);
}

double loop_report_median(const double *v, size_t n)
{
    if (n == 0)
        return 0;
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double loop_report_nps(long promoters, long detractors, long n)
{
    if (n == 0)
        return 0;
    return round(1000.0 * (double)(promoters - detractors) / (double)n) / 10.0;
}

/* s_count - one integer from sql bound to reason and the range */
static long long s_count(sqlite3 *db, const char *sql, const char *reason, const s_range_t *rg)
{
    sqlite3_stmt *st = db_prepare(db, sql);
    long long n = 0;
    if (!st)
        return 0;
    s_bind(st, reason, rg);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    db_finish(st);
    return n;
}

/* s_text_locales - the locales the loops of reason gave a title and an
 * announcement of their own (loops.texts' keys), sorted */
static json_t *s_text_locales(sqlite3 *db, const char *reason, const s_range_t *rg)
{
    json_t *a = json_array();
    sqlite3_stmt *st = db_prepare(db, "SELECT DISTINCT j.key FROM loops l, json_each(l.texts) j"
                                      " WHERE l.reason = ?1 AND l.texts IS NOT NULL"
                                      " AND l.closed_at >= ?2 AND l.closed_at < ?3 ORDER BY 1");
    if (!st)
        return a;
    s_bind(st, reason, rg);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(a, json_string((const char *)sqlite3_column_text(st, 0)));
    db_finish(st);
    return a;
}

/* s_median_days - median days from a piece of feedback to the email that
 * answered it; JSON null when none was answered */
static json_t *s_median_days(sqlite3 *db, const char *reason, const s_range_t *rg)
{
    sqlite3_stmt *st = db_prepare(
        db, "SELECT (r.told_at - c.given_at) / 86400000.0 FROM loops l"
            " JOIN told_cases t ON t.loop = l.id"
            " JOIN recipients r ON r.loop = t.loop AND r.customer_id = t.customer_id"
            " JOIN cases c ON c.id = t.case_id"
            " WHERE l.reason = ?1 AND r.status = 'sent'"
            " AND l.closed_at >= ?2 AND l.closed_at < ?3 ORDER BY 1");
    if (!st)
        return json_null();
    s_bind(st, reason, rg);
    size_t n = 0, cap = 0;
    double *v = NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            double *nv = realloc(v, cap * sizeof *v);
            if (!nv)
                break;
            v = nv;
        }
        double d = sqlite3_column_double(st, 0);
        v[n++] = d < 0 ? 0 : d; /* a clock that went back says "at once" */
    }
    db_finish(st);
    json_t *r = n ? json_real(round(loop_report_median(v, n) * 10) / 10) : json_null();
    free(v);
    return r;
}

/* s_nps - NPS before and after of the (before score, after score) rows of
 * sql bound to reason */
static json_t *s_nps(sqlite3 *db, const char *sql, const char *reason, const s_range_t *rg)
{
    long pro[2] = {0, 0}, det[2] = {0, 0}, n[2] = {0, 0};
    sqlite3_stmt *st = db_prepare(db, sql);
    if (st) {
        s_bind(st, reason, rg);
        while (sqlite3_step(st) == SQLITE_ROW)
            for (int i = 0; i < 2; i++) {
                if (sqlite3_column_type(st, i) == SQLITE_NULL)
                    continue;
                int s = sqlite3_column_int(st, i);
                n[i]++;
                pro[i] += s >= 9;
                det[i] += s <= 6;
            }
        db_finish(st);
    }
    json_t *o = json_pack("{s:I,s:I}", "answers_before", (json_int_t)n[0], "answers_after",
                          (json_int_t)n[1]);
    json_object_set_new(o, "before", n[0] ? json_real(loop_report_nps(pro[0], det[0], n[0]))
                                          : json_null());
    json_object_set_new(o, "after", n[1] ? json_real(loop_report_nps(pro[1], det[1], n[1]))
                                         : json_null());
    return o;
}

/* s_history - the loops of reason, newest first, each with who closed it,
 * when, and its own counts (recipients by status): what a page showing a
 * close's progress reads */
static json_t *s_history(sqlite3 *db, const char *reason, const s_range_t *rg)
{
    json_t *a = json_array();
    sqlite3_stmt *st = db_prepare(
        db, "SELECT l.id, l.title, l.by, l.closed_at, l.closes,"
            " (SELECT count(*) FROM recipients r WHERE r.loop = l.id),"
            " (SELECT count(*) FROM recipients r WHERE r.loop = l.id AND r.status = 'pending'),"
            " (SELECT count(*) FROM recipients r WHERE r.loop = l.id AND r.status = 'sent'),"
            " (SELECT json_group_array(key) FROM (SELECT j.key FROM json_each(l.texts) j"
            "   ORDER BY 1))"
            " FROM loops l WHERE l.reason = ?1 AND l.closed_at >= ?2 AND l.closed_at < ?3"
            " ORDER BY l.closed_at DESC, l.id");
    if (!st)
        return a;
    s_bind(st, reason, rg);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char at[40];
        clock_format(sqlite3_column_int64(st, 3), at, sizeof at);
        long long n = sqlite3_column_int64(st, 5), pending = sqlite3_column_int64(st, 6),
                  sent = sqlite3_column_int64(st, 7);
        const char *by = (const char *)sqlite3_column_text(st, 2);
        const char *tl = (const char *)sqlite3_column_text(st, 8);
        json_t *locales = tl ? json_loads(tl, 0, NULL) : NULL;
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:o}", "loop",
                              (const char *)sqlite3_column_text(st, 0), "title",
                              (const char *)sqlite3_column_text(st, 1), "by", by ? by : "",
                              "closed_at", at, "closes", (json_int_t)sqlite3_column_int64(st, 4),
                              "recipients", (json_int_t)n, "pending", (json_int_t)pending, "sent",
                              (json_int_t)sent, "skipped", (json_int_t)(n - pending - sent),
                              "text_locales", json_is_array(locales) ? locales : json_array());
        if (!json_is_array(locales))
            json_decref(locales);
        if (o)
            json_array_append_new(a, o);
    }
    db_finish(st);
    return a;
}

#define S_BEFORE_AFTER                                                                      \
    " SELECT (SELECT score FROM answers a WHERE a.customer_id = w.cid AND a.answered_at < w.at" \
    "         AND a.answered_at >= ?2 AND a.answered_at < ?3"                                \
    "         ORDER BY a.answered_at DESC LIMIT 1),"                                          \
    "        (SELECT score FROM answers a WHERE a.customer_id = w.cid AND a.answered_at >= w.at" \
    "         AND a.answered_at >= ?2 AND a.answered_at < ?3"                                \
    "         ORDER BY a.answered_at DESC LIMIT 1) FROM w"

static const char s_told_nps_sql[] =
    "WITH w AS (SELECT r.customer_id cid, min(r.told_at) at FROM recipients r"
    "  JOIN loops l ON l.id = r.loop WHERE l.reason = ?1 AND r.status = 'sent'"
    "  AND l.closed_at >= ?2 AND l.closed_at < ?3"
    "  GROUP BY r.customer_id)" S_BEFORE_AFTER;

static const char s_untold_nps_sql[] =
    "WITH w AS (SELECT DISTINCT c.customer_id cid,"
    "  coalesce((SELECT min(closed_at) FROM loops WHERE reason = ?1), 9000000000000000000) at"
    "  FROM case_reasons cr JOIN cases c ON c.id = cr.case_id"
    "  WHERE cr.reason = ?1 AND c.customer_id IS NOT NULL"
    "  AND c.given_at >= ?2 AND c.given_at < ?3 AND c.customer_id NOT IN"
    "  (SELECT r.customer_id FROM recipients r JOIN loops l ON l.id = r.loop"
    "   WHERE l.reason = ?1 AND r.status = 'sent'))" S_BEFORE_AFTER;

/* s_day_ms - midnight UTC of a YYYY-MM-DD date; -1 when it is not one */
static int64_t s_day_ms(const char *date)
{
    char ts[40];
    int64_t ms = 0;
    if (strlen(date) != 10 || date[4] != '-' || date[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (date[i] < '0' || date[i] > '9'))
            return -1;
    snprintf(ts, sizeof ts, "%sT00:00:00Z", date);
    return clock_parse(ts, &ms) == 0 ? ms : -1;
}

/* the feedback (case_reasons cr) of reason ?1 given in the range; a loop
 * (l) closed in it */
#define S_GIVEN                                                                               \
    " JOIN cases c ON c.id = cr.case_id WHERE cr.reason = ?1"                                 \
    " AND c.given_at >= ?2 AND c.given_at < ?3"
#define S_CLOSED " AND l.closed_at >= ?2 AND l.closed_at < ?3"

json_t *loop_report_build(sqlite3 *db, const json_t *req, char *err, size_t errlen)
{
    const char *only = json_string_value(json_object_get(req, "reason"));
    const char *from = json_string_value(json_object_get(req, "from"));
    const char *to = json_string_value(json_object_get(req, "to"));
    s_range_t rg = {INT64_MIN, INT64_MAX};
    if ((from && (rg.from = s_day_ms(from)) < 0) || (to && (rg.until = s_day_ms(to)) < 0)) {
        snprintf(err, errlen, "from and to are dates: YYYY-MM-DD");
        return NULL;
    }
    if (to)
        rg.until += 86400000; /* to is inclusive */
    /* the reasons with feedback or a loop in the range (all time: every
     * reason with feedback) */
    sqlite3_stmt *st = db_prepare(
        db, "SELECT reason FROM case_reasons cr JOIN cases c ON c.id = cr.case_id"
            " WHERE (?1 IS NULL OR reason = ?1) AND c.given_at >= ?2 AND c.given_at < ?3"
            " UNION SELECT reason FROM loops WHERE (?1 IS NULL OR reason = ?1)"
            " AND closed_at >= ?2 AND closed_at < ?3"
            " AND reason IN (SELECT reason FROM case_reasons) ORDER BY 1");
    if (!st) {
        snprintf(err, errlen, "the report failed");
        return NULL;
    }
    s_bind(st, only, &rg); /* no reason: NULL, every reason */
    size_t n = 0;
    char **reasons = NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char **nr = realloc(reasons, (n + 1) * sizeof *nr);
        if (!nr)
            break;
        reasons = nr;
        reasons[n] = strdup((const char *)sqlite3_column_text(st, 0));
        if (reasons[n])
            n++;
    }
    db_finish(st);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *r = reasons[i];
        json_t *o = json_pack(
            "{s:s,s:I,s:I,s:I,s:I,s:I}", "reason", r, "feedback",
            (json_int_t)s_count(db, "SELECT count(*) FROM case_reasons cr" S_GIVEN, r, &rg),
            "customers",
            (json_int_t)s_count(db, "SELECT count(DISTINCT c.customer_id) FROM case_reasons cr"
                                    S_GIVEN, r, &rg),
            "open",
            (json_int_t)s_count(db, "SELECT count(*) FROM case_reasons cr" S_GIVEN
                                    " AND cr.covered_loop IS NULL", r, &rg),
            "loops",
            (json_int_t)s_count(db, "SELECT count(*) FROM loops l WHERE l.reason = ?1" S_CLOSED,
                                r, &rg),
            "told",
            (json_int_t)s_count(db, "SELECT count(DISTINCT r.customer_id) FROM recipients r"
                                    " JOIN loops l ON l.id = r.loop WHERE l.reason = ?1"
                                    " AND r.status = 'sent'" S_CLOSED,
                                r, &rg));
        json_object_set_new(o, "text_locales", s_text_locales(db, r, &rg));
        json_object_set_new(
            o, "told_own_text",
            json_integer(s_count(db, "SELECT count(DISTINCT r.customer_id) FROM recipients r"
                                     " JOIN loops l ON l.id = r.loop WHERE l.reason = ?1"
                                     " AND r.status = 'sent' AND r.text_locale IS NOT NULL"
                                     S_CLOSED, r, &rg)));
        json_object_set_new(o, "median_days", s_median_days(db, r, &rg));
        json_object_set_new(o, "history", s_history(db, r, &rg));
        json_object_set_new(o, "nps",
                            json_pack("{s:o,s:o}", "told", s_nps(db, s_told_nps_sql, r, &rg),
                                      "not_told", s_nps(db, s_untold_nps_sql, r, &rg)));
        json_array_append_new(list, o);
        free(reasons[i]);
    }
    free(reasons);
    return json_pack("{s:o}", "reasons", list);
}
