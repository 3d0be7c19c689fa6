/*
 * survey_dashboard.c - SURVEY_DASHBOARD: what Hark Console's dashboard
 * shows of the answers, for one date range, campaign and locale.
 *
 * Like the report (survey_report.c) it sums aggregates and never reads
 * invites: NPS over time, per campaign and per locale from stats (one row
 * per UTC day, campaign and locale), the score distribution from
 * score_stats (the same, per score), so a million answers cost what a
 * thousand do.  Only the newest comments read invites, through the partial
 * indexes invites_comments (answered_at first) and invites_comments_score
 * (score first), comments only, holding the columns the filters read:
 * newest first, a page costs one index walk from the end of the range.
 *
 * Shares and rates are percentages with one decimal, null when there is
 * nothing to divide by; the response rate is the answers over the invites
 * delivered (both counted on their own day).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "survey.h"

#define S_COMMENTS_MAX 100 /* the most comments one request may ask for */

enum { S_SENT, S_DELIVERED, S_RESPONSES, S_PROMOTERS, S_PASSIVES, S_DETRACTORS, S_N };
static const char *const s_names[S_N] = {"sent",      "delivered", "responses",
                                         "promoters", "passives",  "detractors"};

/* the request's filters, checked */
typedef struct {
    const char *from, *to, *campaign, *locale, *by, *default_locale;
    int score; /* the comments' score, -1 any */
    int limit;
} s_filter_t;

/* s_pct - part of whole in percent with one decimal, or JSON null */
static json_t *s_pct(long long part, long long whole)
{
    return whole > 0 ? json_real(round(1000.0 * (double)part / (double)whole) / 10.0)
                     : json_null();
}

/* s_counts - an object with the counters and what is derived from them */
static json_t *s_counts(const long long *v)
{
    json_t *o = json_object();
    for (int i = 0; i < S_N; i++)
        json_object_set_new(o, s_names[i], json_integer(v[i]));
    long long n = v[S_RESPONSES];
    json_object_set_new(o, "nps",
                        n > 0 ? json_real(survey_report_nps(v[S_PROMOTERS], v[S_DETRACTORS], n))
                              : json_null());
    json_object_set_new(o, "promoter_share", s_pct(v[S_PROMOTERS], n));
    json_object_set_new(o, "passive_share", s_pct(v[S_PASSIVES], n));
    json_object_set_new(o, "detractor_share", s_pct(v[S_DETRACTORS], n));
    json_object_set_new(o, "response_rate", s_pct(n, v[S_DELIVERED]));
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

/* s_bind - the filters as ?1 campaign, ?2 from, ?3 to, ?4 locale */
static void s_bind(sqlite3_stmt *st, const s_filter_t *f)
{
    if (f->campaign)
        sqlite3_bind_text(st, 1, f->campaign, -1, SQLITE_TRANSIENT);
    if (f->from)
        sqlite3_bind_text(st, 2, f->from, -1, SQLITE_TRANSIENT);
    if (f->to)
        sqlite3_bind_text(st, 3, f->to, -1, SQLITE_TRANSIENT);
    if (f->locale)
        sqlite3_bind_text(st, 4, f->locale, -1, SQLITE_TRANSIENT);
}

#define S_WHERE                                                                               \
    " WHERE (?1 IS NULL OR campaign = ?1) AND (?2 IS NULL OR day >= ?2)"                     \
    " AND (?3 IS NULL OR day <= ?3) AND (?4 IS NULL OR locale = ?4)"

/* s_group - stats summed per key (an SQL expression of its columns), each
 * row's counts with name = the key; totals (when not NULL) gets the sums */
static json_t *s_group(sqlite3 *db, const s_filter_t *f, const char *key, const char *name,
                       long long *totals)
{
    char sql[900];
    snprintf(sql, sizeof sql,
             "SELECT %s, sum(sent), sum(delivered), sum(responses), sum(promoters),"
             " sum(passives), sum(detractors) FROM stats" S_WHERE " GROUP BY 1 ORDER BY 1",
             key);
    sqlite3_stmt *st = db_prepare(db, sql);
    if (!st)
        return NULL;
    s_bind(st, f);
    json_t *rows = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        long long v[S_N];
        for (int i = 0; i < S_N; i++) {
            v[i] = sqlite3_column_int64(st, i + 1);
            if (totals)
                totals[i] += v[i];
        }
        json_t *row = s_counts(v);
        const char *k = (const char *)sqlite3_column_text(st, 0);
        json_object_set_new(row, name, json_string(k ? k : ""));
        json_array_append_new(rows, row);
    }
    db_finish(st);
    return rows;
}

/* s_scores - the answers per score 0..10 (eleven integers) */
static json_t *s_scores(sqlite3 *db, const s_filter_t *f)
{
    long long n[11] = {0};
    sqlite3_stmt *st = db_prepare(db, "SELECT score, sum(n) FROM score_stats" S_WHERE
                                      " GROUP BY score");
    if (!st)
        return NULL;
    s_bind(st, f);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int s = sqlite3_column_int(st, 0);
        if (s >= 0 && s <= 10)
            n[s] = sqlite3_column_int64(st, 1);
    }
    db_finish(st);
    json_t *a = json_array();
    for (int i = 0; i <= 10; i++)
        json_array_append_new(a, json_integer(n[i]));
    return a;
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

/* s_comments - the newest comments in the range, of a score or any */
static json_t *s_comments(sqlite3 *db, const s_filter_t *f)
{
    /* of one score: from that score's newest; else from the newest of all */
    sqlite3_stmt *st = db_prepare(
        db, f->score >= 0
                ? "SELECT id, campaign, coalesce(locale, ?5), score, comment, answered_at"
                  " FROM invites INDEXED BY invites_comments_score"
                  " WHERE score IS NOT NULL AND comment IS NOT NULL AND score = ?6"
                  " AND answered_at >= ?2 AND answered_at < ?3 AND (?1 IS NULL OR campaign = ?1)"
                  " AND (?4 IS NULL OR coalesce(locale, ?5) = ?4)"
                  " ORDER BY answered_at DESC LIMIT ?7"
                : "SELECT id, campaign, coalesce(locale, ?5), score, comment, answered_at"
                  " FROM invites INDEXED BY invites_comments"
                  " WHERE score IS NOT NULL AND comment IS NOT NULL"
                  " AND answered_at >= ?2 AND answered_at < ?3 AND (?1 IS NULL OR campaign = ?1)"
                  " AND (?4 IS NULL OR coalesce(locale, ?5) = ?4) AND ?6 < 0"
                  " ORDER BY answered_at DESC LIMIT ?7");
    if (!st)
        return NULL;
    if (f->campaign)
        sqlite3_bind_text(st, 1, f->campaign, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, f->from ? s_day_ms(f->from, 0) : INT64_MIN);
    sqlite3_bind_int64(st, 3, f->to ? s_day_ms(f->to, 1) : INT64_MAX);
    if (f->locale)
        sqlite3_bind_text(st, 4, f->locale, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, f->default_locale ? f->default_locale : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, f->score);
    sqlite3_bind_int(st, 7, f->limit);
    json_t *rows = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        char at[40];
        json_array_append_new(
            rows, json_pack("{s:s,s:s,s:s,s:i,s:s,s:s}", "invite", sqlite3_column_text(st, 0),
                            "campaign", sqlite3_column_text(st, 1), "locale",
                            sqlite3_column_text(st, 2), "score", sqlite3_column_int(st, 3),
                            "comment", sqlite3_column_text(st, 4), "answered_at",
                            clock_format(sqlite3_column_int64(st, 5), at, sizeof at)));
    }
    db_finish(st);
    return rows;
}

/* s_list - the first column of sql's rows, as strings */
static json_t *s_list(sqlite3 *db, const char *sql)
{
    json_t *a = json_array();
    sqlite3_stmt *st = db_prepare(db, sql);
    while (st && sqlite3_step(st) == SQLITE_ROW)
        if (sqlite3_column_text(st, 0))
            json_array_append_new(a, json_string((const char *)sqlite3_column_text(st, 0)));
    db_finish(st);
    return a;
}

json_t *survey_dashboard(sqlite3 *db, const json_t *req, const char *default_locale, char *err,
                         size_t errlen)
{
    s_filter_t f = {
        .campaign = json_string_value(json_object_get(req, "campaign")),
        .from = json_string_value(json_object_get(req, "from")),
        .to = json_string_value(json_object_get(req, "to")),
        .locale = json_string_value(json_object_get(req, "locale")),
        .by = json_string_value(json_object_get(req, "by")),
        .default_locale = default_locale,
        .score = -1,
        .limit = 20,
    };
    if (!f.by)
        f.by = "day";
    if ((f.from && !s_date_ok(f.from)) || (f.to && !s_date_ok(f.to))) {
        snprintf(err, errlen, "from and to are dates: YYYY-MM-DD");
        return NULL;
    }
    json_t *js = json_object_get(req, "score");
    if (js) {
        f.score = json_is_integer(js) ? (int)json_integer_value(js) : -2;
        if (f.score < 0 || f.score > 10) {
            snprintf(err, errlen, "score is 0 to 10");
            return NULL;
        }
    }
    json_t *jl = json_object_get(req, "comments");
    if (jl) {
        f.limit = json_is_integer(jl) ? (int)json_integer_value(jl) : -1;
        if (f.limit < 0 || f.limit > S_COMMENTS_MAX) {
            snprintf(err, errlen, "comments is 0 to %d", S_COMMENTS_MAX);
            return NULL;
        }
    }
    /* the period of a row: a week is named by its Monday */
    const char *key = strcmp(f.by, "day") == 0    ? "day"
                      : strcmp(f.by, "week") == 0 ? "date(day, '-' || ((CAST(strftime('%w', day)"
                                                    " AS INTEGER) + 6) % 7) || ' days')"
                      : strcmp(f.by, "month") == 0 ? "substr(day, 1, 7)"
                                                   : NULL;
    if (!key) {
        snprintf(err, errlen, "by is one of day, week, month");
        return NULL;
    }
    long long total[S_N] = {0};
    json_t *series = s_group(db, &f, key, "period", total);
    json_t *campaigns = s_group(db, &f, "campaign", "campaign", NULL);
    json_t *locales = s_group(db, &f, "locale", "locale", NULL);
    json_t *scores = s_scores(db, &f);
    json_t *comments = s_comments(db, &f);
    if (!series || !campaigns || !locales || !scores || !comments) {
        json_decref(series), json_decref(campaigns), json_decref(locales);
        json_decref(scores), json_decref(comments);
        snprintf(err, errlen, "the dashboard query failed");
        return NULL;
    }
    json_t *body = json_pack(
        "{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "by", f.by, "totals", s_counts(total), "series",
        series, "campaigns", campaigns, "locales", locales, "scores", scores, "comments",
        comments, "all_campaigns", s_list(db, "SELECT id FROM campaigns ORDER BY id"),
        "all_locales",
        s_list(db, "SELECT DISTINCT locale FROM stats WHERE locale <> '' ORDER BY 1"));
    static const char *const echo[] = {"campaign", "from", "to", "locale", "score"};
    for (size_t i = 0; i < sizeof echo / sizeof *echo; i++)
        if (json_object_get(req, echo[i]))
            json_object_set(body, echo[i], json_object_get(req, echo[i]));
    return body;
}
