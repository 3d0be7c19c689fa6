/*
 * test_survey_report.c - unit tests for services/survey/survey_report.c and
 * survey_store.c's aggregates, on a real survey.db in a temp dir: NPS
 * rounding, totals and series by day, week (named by its Monday), month,
 * locale and campaign, filters, a changed score moving between categories,
 * and bad requests refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "survey.h"
#include "unit.h"
#include "unit_file.h"

static char s_dir[] = "/tmp/hark-survey-report-XXXXXX";
static char s_path[128];

static int64_t s_ms(const char *s)
{
    int64_t ms = -1;
    clock_parse(s, &ms);
    return ms;
}

static long long s_get(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static json_t *s_report(sqlite3 *db, const char *req_text)
{
    char err[200] = "";
    json_t *req = json_loads(req_text, 0, NULL);
    json_t *r = survey_report(db, req, err, sizeof err);
    json_decref(req);
    return r;
}

static void test_nps_is_promoters_minus_detractors_with_one_decimal(void)
{
    CHECK(survey_report_nps(2, 1, 3) == 33.3);
    CHECK(survey_report_nps(1, 2, 3) == -33.3);
    CHECK(survey_report_nps(3, 0, 3) == 100.0);
    CHECK(survey_report_nps(0, 7, 7) == -100.0);
    CHECK(survey_report_nps(0, 0, 0) == 0.0);
    CHECK(survey_report_nps(1, 0, 8) == 12.5);
}

static void test_report_sums_aggregates_by_period(void)
{
    sqlite3 *db = db_open(s_path, "normal", survey_store_migrations);
    CHECK(db != NULL);
    if (!db)
        return;
    static const struct {
        const char *at, *campaign, *locale, *stat;
        int delta;
    } adds[] = {
        /* Monday 2026-11-16 and Sunday 2026-11-22 are one week; 2026-11-23 the next */
        {"2026-11-16T10:00:00Z", "post-purchase", "en", "sent", 2},
        {"2026-11-22T23:59:00Z", "post-purchase", "pl", "sent", 1},
        {"2026-11-22T23:59:00Z", "post-purchase", "pl", "responses", 1},
        {"2026-11-22T23:59:00Z", "post-purchase", "pl", "promoters", 1},
        {"2026-11-23T00:00:01Z", "post-purchase", "en", "responses", 2},
        {"2026-11-23T00:00:01Z", "post-purchase", "en", "detractors", 1},
        {"2026-11-23T00:00:01Z", "post-purchase", "en", "passives", 1},
        {"2026-11-23T00:00:01Z", "post-purchase", "en", "comments", 1},
        {"2026-12-01T08:00:00Z", "other", "en", "throttled", 4},
        /* a changed score: passive -> promoter on the day of the first answer */
        {"2026-11-23T00:00:01Z", "post-purchase", "en", "passives", -1},
        {"2026-11-23T00:00:01Z", "post-purchase", "en", "promoters", 1},
    };
    for (size_t i = 0; i < sizeof adds / sizeof adds[0]; i++)
        CHECK_INT(survey_store_stat_add(db, s_ms(adds[i].at), adds[i].campaign, adds[i].locale,
                                        adds[i].stat, adds[i].delta),
                  0);
    CHECK_INT(survey_store_stat_add(db, 0, "x", "en", "sent; DROP TABLE stats", 1), -1);

    json_t *r = s_report(db, "{\"by\":\"week\"}");
    CHECK(r != NULL);
    json_t *t = json_object_get(r, "totals");
    CHECK_INT(s_get(t, "sent"), 3);
    CHECK_INT(s_get(t, "responses"), 3);
    CHECK_INT(s_get(t, "promoters"), 2);
    CHECK_INT(s_get(t, "passives"), 0);
    CHECK_INT(s_get(t, "detractors"), 1);
    CHECK_INT(s_get(t, "throttled"), 4);
    CHECK(json_real_value(json_object_get(t, "nps")) == 33.3);
    CHECK(json_real_value(json_object_get(t, "response_rate")) == 100.0);
    CHECK(json_real_value(json_object_get(t, "comment_rate")) == 33.3);
    json_t *series = json_object_get(r, "series");
    CHECK_INT(json_array_size(series), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(series, 0), "period")), "2026-11-16");
    CHECK_STR(json_string_value(json_object_get(json_array_get(series, 1), "period")), "2026-11-23");
    CHECK_STR(json_string_value(json_object_get(json_array_get(series, 2), "period")), "2026-11-30");
    CHECK(json_is_null(json_object_get(json_array_get(series, 2), "nps")));
    json_decref(r);

    r = s_report(db, "{\"by\":\"month\",\"campaign\":\"post-purchase\"}");
    series = json_object_get(r, "series");
    CHECK_INT(json_array_size(series), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(series, 0), "period")), "2026-11");
    CHECK_INT(s_get(json_object_get(r, "totals"), "throttled"), 0);
    json_decref(r);

    r = s_report(db, "{\"by\":\"locale\",\"from\":\"2026-11-22\",\"to\":\"2026-11-22\"}");
    series = json_object_get(r, "series");
    CHECK_INT(json_array_size(series), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(series, 0), "period")), "pl");
    CHECK(json_real_value(json_object_get(json_object_get(r, "totals"), "nps")) == 100.0);
    json_decref(r);

    r = s_report(db, "{}"); /* by day */
    CHECK_INT(json_array_size(json_object_get(r, "series")), 4);
    json_decref(r);
    r = s_report(db, "{\"by\":\"campaign\"}");
    CHECK_INT(json_array_size(json_object_get(r, "series")), 2);
    json_decref(r);

    CHECK(s_report(db, "{\"by\":\"year\"}") == NULL);
    CHECK(s_report(db, "{\"from\":\"2026-1-1\"}") == NULL);
    CHECK(s_report(db, "{\"to\":\"2026-01-01'\"}") == NULL);
    db_close(&db);
}

int main(void)
{
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(s_path, sizeof s_path, "%s/survey.db", s_dir);
    UNIT_RUN(test_nps_is_promoters_minus_detractors_with_one_decimal);
    UNIT_RUN(test_report_sums_aggregates_by_period);
    if (unit_remove_dir(s_dir) != 0)
        fprintf(stderr, "could not remove %s\n", s_dir);
    return UNIT_END();
}
