/*
 * test_survey_run.c - unit tests for services/survey/survey_run.c on a real
 * survey.db in a temp dir: which customers a relationship run's segment
 * selects (attributes given on the command line, where every value is a
 * string, match numbers and booleans by value), and that a run happens
 * once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "contacts.h"
#include "db.h"
#include "survey.h"
#include "unit.h"
#include "unit_file.h"

static char s_dir[] = "/tmp/hark-survey-run-XXXXXX";

static void s_customer(sqlite3 *db, const char *json)
{
    json_t *c = json_loads(json, 0, NULL);
    CHECK(c != NULL);
    CHECK_INT(contacts_upsert(db, c), 0);
    CHECK_INT(survey_store_customer_extra(db, c, json_string_value(json_object_get(c, "id")), -1),
              0);
    json_decref(c);
}

/* s_invited - the customer ids invited by campaign, in order, as "a,b," */
static void s_invited(sqlite3 *db, const char *campaign, char *out, size_t len)
{
    *out = '\0';
    sqlite3_stmt *st = db_prepare(db, "SELECT customer_id FROM invites WHERE campaign = ?"
                                      " ORDER BY customer_id");
    CHECK(st != NULL);
    if (!st)
        return;
    sqlite3_bind_text(st, 1, campaign, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t n = strlen(out);
        snprintf(out + n, len - n, "%s,", (const char *)sqlite3_column_text(st, 0));
    }
    db_finish(st);
}

static void test_cli_attribute_strings_match_numbers_and_booleans_and_a_run_is_once(void)
{
    char path[160], dbpath[160], err[200] = "";
    snprintf(path, sizeof path, "%s/hark.conf", s_dir);
    snprintf(dbpath, sizeof dbpath, "%s/survey.db", s_dir);
    if (unit_write_file(path, "[survey]\nwindow_hours = 0-24\nwindow_days = all\n"))
        return;
    config_t *cfg = config_load(path);
    sqlite3 *db = db_open(dbpath, "normal", survey_store_migrations);
    CHECK(cfg != NULL && db != NULL);
    if (!cfg || !db)
        return;
    survey_config_t set;
    survey_config_load(cfg, &set);
    set.throttle = 0;
    s_customer(db, "{\"id\":\"a\",\"email\":\"a@example.com\",\"attributes\":"
                   "{\"vip\":true,\"visits\":3,\"tier\":\"gold\"}}");
    s_customer(db, "{\"id\":\"b\",\"email\":\"b@example.com\",\"attributes\":"
                   "{\"vip\":false,\"visits\":3,\"tier\":\"gold\"}}");
    s_customer(db, "{\"id\":\"c\",\"email\":\"c@example.com\",\"attributes\":"
                   "{\"vip\":true,\"visits\":3.0,\"tier\":\"gold\"}}");
    s_customer(db, "{\"id\":\"d\",\"email\":\"d@example.com\",\"attributes\":"
                   "{\"vip\":true,\"visits\":30,\"tier\":\"gold\"}}");
    s_customer(db, "{\"id\":\"e\",\"email\":\"e@example.com\",\"attributes\":"
                   "{\"vip\":\"true\",\"visits\":\"3\",\"tier\":\"gold\"}}");
    /* what `hark campaign set ... segment.attributes.vip=true
     * segment.attributes.visits=3` saves: strings */
    json_t *saved = json_loads("{\"id\":\"cli\",\"kind\":\"relationship\",\"enabled\":true,"
                               "\"by\":\"cli:test\",\"start\":\"2027-01-04T09:00:00Z\","
                               "\"segment\":{\"attributes\":{\"vip\":\"true\","
                               "\"visits\":\"3\",\"tier\":\"gold\"}}}",
                               0, NULL);
    CHECK_INT(survey_campaign_save(db, &set, saved, err, sizeof err), 0);
    json_decref(saved);
    /* and through the API, typed: a number matches the string "3" too */
    saved = json_loads("{\"id\":\"api\",\"kind\":\"relationship\",\"enabled\":true,"
                       "\"by\":\"api\",\"start\":\"2027-01-04T09:00:00Z\","
                       "\"segment\":{\"attributes\":{\"vip\":true,\"visits\":3}}}",
                       0, NULL);
    CHECK_INT(survey_campaign_save(db, &set, saved, err, sizeof err), 0);
    json_decref(saved);

    survey_env_t env = {.set = &set};
    int64_t now = 1799053200000LL + 1000; /* 2027-01-04T09:00:01Z */
    CHECK_INT(survey_run_due(db, &env, now), 2);
    char got[200];
    s_invited(db, "cli", got, sizeof got);
    CHECK_STR(got, "a,c,e,");
    s_invited(db, "api", got, sizeof got);
    CHECK_STR(got, "a,c,e,");
    /* done: the next tick (or a restart) runs nothing again */
    CHECK_INT(survey_run_due(db, &env, now + 5000), 0);
    CHECK_INT(db_int(db, "SELECT count(*) FROM invites", -1), 6);
    db_close(&db);
    config_destroy(&cfg);
}

int main(void)
{
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    UNIT_RUN(test_cli_attribute_strings_match_numbers_and_booleans_and_a_run_is_once);
    if (unit_remove_dir(s_dir) != 0)
        return 1;
    return UNIT_END();
}
