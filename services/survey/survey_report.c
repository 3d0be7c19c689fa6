/*
 * survey_report.c - the NPS report, from the daily aggregates only.
 *
 * A report sums rows of stats (one per UTC day, campaign and locale), so it
 * costs the same with a thousand responses or a million: it never reads
 * invites.  NPS = % promoters (9-10) - % detractors (0-6) of responses,
 * one decimal; rates are percentages with one decimal; both are null when
 * there is nothing to divide by.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "survey.h"

enum { S_SENT, S_DELIVERED, S_THROTTLED, S_SUPPRESSED, S_RESPONSES, S_COMMENTS, S_PROMOTERS,
       S_PASSIVES, S_DETRACTORS, S_N };
static const char *const s_names[S_N] = {"sent",      "delivered", "throttled",
                                         "suppressed", "responses", "comments",
                                         "promoters", "passives",  "detractors"};

/* s_round1 - one decimal */
static double s_round1(double x) { return round(x * 10.0) / 10.0; }

double survey_report_nps(long long promoters, long long detractors, long long responses)
{
    if (responses <= 0)
        return 0;
    return s_round1(100.0 * (double)(promoters - detractors) / (double)responses);
}

/* s_pct - part of whole in percent, or JSON null */
static json_t *s_pct(long long part, long long whole)
{
    return whole > 0 ? json_real(s_round1(100.0 * (double)part / (double)whole)) : json_null();
}

/* s_counts - an object with every counter and the derived figures */
static json_t *s_counts(const long long *v)
{
    json_t *o = json_object();
    for (int i = 0; i < S_N; i++)
        json_object_set_new(o, s_names[i], json_integer(v[i]));
    json_object_set_new(o, "response_rate", s_pct(v[S_RESPONSES], v[S_SENT]));
    json_object_set_new(o, "comment_rate", s_pct(v[S_COMMENTS], v[S_RESPONSES]));
    json_object_set_new(o, "nps", v[S_RESPONSES] > 0
                                      ? json_real(survey_report_nps(v[S_PROMOTERS], v[S_DETRACTORS],
                                                             v[S_RESPONSES]))
                                      : json_null());
    return o;
}

/* s_date_ok - YYYY-MM-DD */
static int s_date_ok(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    return 1;
}

json_t *survey_report(sqlite3 *db, const json_t *req, char *err, size_t errlen)
{
    const char *campaign = json_string_value(json_object_get(req, "campaign"));
    const char *from = json_string_value(json_object_get(req, "from"));
    const char *to = json_string_value(json_object_get(req, "to"));
    const char *by = json_string_value(json_object_get(req, "by"));
    if (!by)
        by = "day";
    if ((from && !s_date_ok(from)) || (to && !s_date_ok(to))) {
        snprintf(err, errlen, "from and to are dates: YYYY-MM-DD");
        return NULL;
    }
    /* the period of a row: a week is named by its Monday */
    const char *key = strcmp(by, "day") == 0      ? "day"
                      : strcmp(by, "week") == 0   ? "date(day, '-' || ((CAST(strftime('%w', day)"
                                                    " AS INTEGER) + 6) % 7) || ' days')"
                      : strcmp(by, "month") == 0  ? "substr(day, 1, 7)"
                      : strcmp(by, "locale") == 0 ? "locale"
                      : strcmp(by, "campaign") == 0 ? "campaign"
                                                    : NULL;
    if (!key) {
        snprintf(err, errlen, "by is one of day, week, month, locale, campaign");
        return NULL;
    }
    char sql[900];
    snprintf(sql, sizeof sql,
             "SELECT %s, sum(sent), sum(delivered), sum(throttled), sum(suppressed),"
             " sum(responses), sum(comments), sum(promoters), sum(passives), sum(detractors)"
             " FROM stats WHERE (?1 IS NULL OR campaign = ?1) AND (?2 IS NULL OR day >= ?2)"
             " AND (?3 IS NULL OR day <= ?3) GROUP BY 1 ORDER BY 1",
             key);
    sqlite3_stmt *st = db_prepare(db, sql);
    if (!st) {
        snprintf(err, errlen, "the report query failed");
        return NULL;
    }
    if (campaign)
        sqlite3_bind_text(st, 1, campaign, -1, SQLITE_TRANSIENT);
    if (from)
        sqlite3_bind_text(st, 2, from, -1, SQLITE_TRANSIENT);
    if (to)
        sqlite3_bind_text(st, 3, to, -1, SQLITE_TRANSIENT);
    long long total[S_N] = {0};
    json_t *series = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        long long v[S_N];
        for (int i = 0; i < S_N; i++) {
            v[i] = sqlite3_column_int64(st, i + 1);
            total[i] += v[i];
        }
        json_t *row = s_counts(v);
        const char *period = (const char *)sqlite3_column_text(st, 0);
        json_object_set_new(row, "period", json_string(period ? period : ""));
        json_array_append_new(series, row);
    }
    db_finish(st);
    json_t *body = json_object();
    json_object_set_new(body, "by", json_string(by));
    if (campaign)
        json_object_set_new(body, "campaign", json_string(campaign));
    if (from)
        json_object_set_new(body, "from", json_string(from));
    if (to)
        json_object_set_new(body, "to", json_string(to));
    json_object_set_new(body, "totals", s_counts(total));
    json_object_set_new(body, "series", series);
    return body;
}

/* s_day_ms - midnight UTC of a YYYY-MM-DD date, plus days */
static int64_t s_day_ms(const char *date, int days)
{
    char ts[40];
    int64_t ms = 0;
    snprintf(ts, sizeof ts, "%sT00:00:00Z", date);
    clock_parse(ts, &ms);
    return ms + (int64_t)days * 86400000;
}

json_t *survey_report_responses(sqlite3 *db, const json_t *req, char *err, size_t errlen)
{
    const char *campaign = json_string_value(json_object_get(req, "campaign"));
    const char *from = json_string_value(json_object_get(req, "from"));
    const char *to = json_string_value(json_object_get(req, "to"));
    json_int_t after = json_integer_value(json_object_get(req, "after"));
    json_int_t limit = json_integer_value(json_object_get(req, "limit"));
    if (limit <= 0 || limit > 5000)
        limit = 1000;
    if ((from && !s_date_ok(from)) || (to && !s_date_ok(to))) {
        snprintf(err, errlen, "from and to are dates: YYYY-MM-DD");
        return NULL;
    }
    sqlite3_stmt *st = db_prepare(
        db, "SELECT i.rowid, i.id, i.campaign, i.customer_id, coalesce(c.email, i.email),"
            " i.locale, i.order_id, i.score, i.comment, i.answered_at FROM invites i"
            " LEFT JOIN customers c ON c.id = i.customer_id"
            " WHERE i.score IS NOT NULL AND i.rowid > ?1 AND (?2 IS NULL OR i.campaign = ?2)"
            " AND i.answered_at >= ?3 AND i.answered_at < ?4 ORDER BY i.rowid LIMIT ?5");
    if (!st) {
        snprintf(err, errlen, "the responses query failed");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, after);
    if (campaign)
        sqlite3_bind_text(st, 2, campaign, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, from ? s_day_ms(from, 0) : INT64_MIN);
    sqlite3_bind_int64(st, 4, to ? s_day_ms(to, 1) : INT64_MAX);
    sqlite3_bind_int64(st, 5, limit);
    json_t *rows = json_array();
    int64_t next = after;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char at[40];
        next = sqlite3_column_int64(st, 0);
        json_t *r = json_pack("{s:s,s:s,s:s,s:i,s:s}", "invite", sqlite3_column_text(st, 1),
                              "campaign", sqlite3_column_text(st, 2), "customer_id",
                              sqlite3_column_text(st, 3), "score", sqlite3_column_int(st, 7),
                              "answered_at",
                              clock_format(sqlite3_column_int64(st, 9), at, sizeof at));
        static const struct {
            int col;
            const char *name;
        } opt[] = {{4, "email"}, {5, "locale"}, {6, "order_id"}, {8, "comment"}};
        for (size_t k = 0; k < sizeof opt / sizeof *opt; k++)
            if (sqlite3_column_type(st, opt[k].col) != SQLITE_NULL)
                json_object_set_new(r, opt[k].name,
                                    json_string((const char *)sqlite3_column_text(st, opt[k].col)));
        json_array_append_new(rows, r);
    }
    db_finish(st);
    return json_pack("{s:o,s:I}", "responses", rows, "next", (json_int_t)next);
}
