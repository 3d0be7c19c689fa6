/*
 * test_milestone_date.c - unit tests for hark-milestone's date math
 * (services/milestone/milestone_date.c): civil dates, 29 February in leap
 * and common years under both settings, and the local send instant on both
 * sides of the date line and across DST changes (gaps and repeats), plus
 * the coupon codes and the checks of a milestone.saved payload.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "milestone.h"
#include "unit.h"

/* s_at - the send instant as RFC 3339 (static buffer) */
static const char *s_at(int y, int m, int d, const char *hhmm, const char *tz)
{
    static char buf[40];
    int minutes = -1;
    milestone_settings_parse_time(hhmm, &minutes);
    return clock_format(milestone_date_send_instant(y, m, d, minutes, tz), buf, sizeof buf);
}

static void test_civil_days_round_trip_and_leap_years(void)
{
    CHECK_INT(clock_days_from_civil(1970, 1, 1), 0);
    CHECK_INT(clock_days_from_civil(2000, 3, 1), 11017);
    CHECK_INT(clock_days_from_civil(1969, 12, 31), -1);
    int bad = 0;
    for (int64_t z = clock_days_from_civil(1899, 1, 1); z < clock_days_from_civil(2201, 1, 1); z++) {
        int y, m, d;
        clock_civil_from_days(z, &y, &m, &d);
        bad += clock_days_from_civil(y, m, d) != z;
    }
    CHECK_INT(bad, 0);
    CHECK(milestone_date_leap(2024) && milestone_date_leap(2000) && milestone_date_leap(2028));
    CHECK(!milestone_date_leap(2026) && !milestone_date_leap(2100) && !milestone_date_leap(1900));
}

static void test_parse_birthday_time_offset(void)
{
    int m = 0, d = 0, v = 0;
    CHECK_INT(milestone_date_parse_birthday("--02-29", &m, &d), 0);
    CHECK_INT(m * 100 + d, 229);
    CHECK_INT(milestone_date_parse_birthday("2024-02-29", &m, &d), 0);
    CHECK_INT(milestone_date_parse_birthday("1990-12-31", &m, &d), 0);
    CHECK_INT(m * 100 + d, 1231);
    CHECK_INT(milestone_date_parse_birthday("2023-02-29", &m, &d), -1); /* no such day */
    CHECK_INT(milestone_date_parse_birthday("--13-01", &m, &d), -1);
    CHECK_INT(milestone_date_parse_birthday("--04-31", &m, &d), -1);
    CHECK_INT(milestone_date_parse_birthday("1990-1-1", &m, &d), -1);
    CHECK_INT(milestone_date_parse_birthday("", &m, &d), -1);
    CHECK_INT(milestone_date_parse_birthday(NULL, &m, &d), -1);
    CHECK_INT(milestone_settings_parse_time("09:00", &v), 0);
    CHECK_INT(v, 540);
    CHECK_INT(milestone_settings_parse_time("23:59", &v), 0);
    CHECK_INT(milestone_settings_parse_time("24:00", &v), -1);
    CHECK_INT(milestone_settings_parse_time("9:00", &v), -1);
    CHECK_INT(milestone_settings_parse_offset("-3d", &v), 0);
    CHECK_INT(v, -3);
    CHECK_INT(milestone_settings_parse_offset("+2d", &v), 0);
    CHECK_INT(v, 2);
    CHECK_INT(milestone_settings_parse_offset("0", &v), 0);
    CHECK_INT(v, 0);
    CHECK_INT(milestone_settings_parse_offset("-31d", &v), -1);
    CHECK_INT(milestone_settings_parse_offset("3", &v), -1);
    CHECK_INT(milestone_settings_parse_offset("-3h", &v), -1);
    char buf[8];
    CHECK_STR(milestone_settings_format_offset(-3, buf, sizeof buf), "-3d");
    CHECK_STR(milestone_settings_format_offset(2, buf, sizeof buf), "+2d");
    CHECK_STR(milestone_settings_format_offset(0, buf, sizeof buf), "0");
}

static void test_feb29_in_leap_and_common_years_both_settings(void)
{
    int m, d, md[2];
    milestone_date_observed(2026, 2, 29, 0, &m, &d);
    CHECK_INT(m * 100 + d, 228);
    milestone_date_observed(2026, 2, 29, 1, &m, &d);
    CHECK_INT(m * 100 + d, 301);
    milestone_date_observed(2028, 2, 29, 1, &m, &d);
    CHECK_INT(m * 100 + d, 229);
    milestone_date_observed(2026, 7, 14, 1, &m, &d);
    CHECK_INT(m * 100 + d, 714);
    /* the days whose lookups include the 29 February customers */
    CHECK_INT(milestone_date_match_md(2026, 2, 28, 0, md), 2);
    CHECK_INT(md[0], 228);
    CHECK_INT(md[1], 229);
    CHECK_INT(milestone_date_match_md(2026, 3, 1, 0, md), 1);
    CHECK_INT(md[0], 301);
    CHECK_INT(milestone_date_match_md(2026, 3, 1, 1, md), 2);
    CHECK_INT(md[1], 229);
    CHECK_INT(milestone_date_match_md(2026, 2, 28, 1, md), 1);
    CHECK_INT(milestone_date_match_md(2028, 2, 28, 0, md), 1); /* a leap year has its own 29th */
    CHECK_INT(milestone_date_match_md(2028, 2, 29, 0, md), 1);
    CHECK_INT(md[0], 229);
    CHECK_INT(milestone_date_match_md(2100, 2, 28, 0, md), 2); /* 2100 is not a leap year */
}

static void test_send_instant_both_sides_of_the_date_line(void)
{
    CHECK_STR(s_at(2026, 1, 1, "09:00", "Pacific/Kiritimati"), "2025-12-31T19:00:00.000Z");
    CHECK_STR(s_at(2026, 1, 1, "09:00", "Etc/GMT+12"), "2026-01-01T21:00:00.000Z");
    CHECK_STR(s_at(2026, 1, 1, "09:00", "Pacific/Pago_Pago"), "2026-01-01T20:00:00.000Z");
    CHECK_STR(s_at(2026, 1, 1, "09:00", "UTC"), "2026-01-01T09:00:00.000Z");
    CHECK_STR(s_at(2026, 6, 1, "09:00", "Asia/Kolkata"), "2026-06-01T03:30:00.000Z");
}

static void test_send_instant_across_dst(void)
{
    /* Warsaw: CET +1 until 29 March 2026 02:00, then CEST +2 */
    CHECK_STR(s_at(2026, 3, 28, "09:00", "Europe/Warsaw"), "2026-03-28T08:00:00.000Z");
    CHECK_STR(s_at(2026, 3, 29, "09:00", "Europe/Warsaw"), "2026-03-29T07:00:00.000Z");
    CHECK_STR(s_at(2026, 10, 25, "09:00", "Europe/Warsaw"), "2026-10-25T08:00:00.000Z");
    /* New York: EDT -4 from 8 March 2026, EST -5 from 1 November */
    CHECK_STR(s_at(2026, 3, 7, "09:00", "America/New_York"), "2026-03-07T14:00:00.000Z");
    CHECK_STR(s_at(2026, 3, 8, "09:00", "America/New_York"), "2026-03-08T13:00:00.000Z");
    CHECK_STR(s_at(2026, 11, 1, "09:00", "America/New_York"), "2026-11-01T14:00:00.000Z");
}

static void test_send_instant_in_a_gap_is_the_end_of_the_gap(void)
{
    /* 02:30 does not exist on these days: the clocks jump 02:00 -> 03:00 */
    CHECK_STR(s_at(2026, 3, 29, "02:30", "Europe/Warsaw"), "2026-03-29T01:00:00.000Z");
    CHECK_STR(s_at(2026, 3, 8, "02:30", "America/New_York"), "2026-03-08T07:00:00.000Z");
    /* Samoa skipped 30 December 2011 altogether: the first instant after */
    CHECK_STR(s_at(2011, 12, 30, "09:00", "Pacific/Apia"), "2011-12-30T10:00:00.000Z");
}

static void test_send_instant_in_a_repeated_hour_is_its_first_occurrence(void)
{
    /* 01:30 happens twice in New York on 1 November 2026: EDT first */
    CHECK_STR(s_at(2026, 11, 1, "01:30", "America/New_York"), "2026-11-01T05:30:00.000Z");
    CHECK_STR(s_at(2026, 10, 25, "02:30", "Europe/Warsaw"), "2026-10-25T00:30:00.000Z");
}

static void test_process_tz_is_left_as_it_was(void)
{
    setenv("TZ", "Asia/Tokyo", 1);
    milestone_date_send_instant(2026, 3, 29, 540, "Europe/Warsaw");
    CHECK_STR(getenv("TZ"), "Asia/Tokyo");
    unsetenv("TZ");
    milestone_date_send_instant(2026, 3, 29, 540, "Europe/Warsaw");
    CHECK(getenv("TZ") == NULL);
}

static void test_coupon_verifies_offline_and_forgeries_do_not(void)
{
    const char *key = "0123456789abcdef0123456789abcdef";
    char *code = milestone_coupon_make(key, "GIFT", MILESTONE_BIRTHDAY, 2027, "c-42");
    CHECK(code != NULL && strncmp(code, "GIFT-", 5) == 0);
    int kind = -1, year = 0;
    char *cid = NULL;
    CHECK_INT(milestone_coupon_verify(key, code, &kind, &year, &cid), 0);
    CHECK_INT(kind, MILESTONE_BIRTHDAY);
    CHECK_INT(year, 2027);
    CHECK_STR(cid, "c-42");
    free(cid);
    cid = NULL;
    CHECK_INT(milestone_coupon_verify("another key", code, &kind, &year, &cid), -1);
    size_t n = strlen(code);
    code[n - 1] = code[n - 1] == 'A' ? 'B' : 'A'; /* one character changed */
    CHECK_INT(milestone_coupon_verify(key, code, &kind, &year, &cid), -1);
    CHECK_INT(milestone_coupon_verify(key, "GIFT", &kind, &year, &cid), -1);
    CHECK_INT(milestone_coupon_verify(key, "", &kind, &year, &cid), -1);
    free(code);
    code = milestone_coupon_make(key, "BDAY", MILESTONE_ANNIVERSARY, 2030, "Ола/7");
    CHECK_INT(milestone_coupon_verify(key, code, &kind, &year, &cid), 0);
    CHECK_INT(kind, MILESTONE_ANNIVERSARY);
    CHECK_STR(cid, "Ола/7");
    free(cid);
    free(code);
}

static void test_saved_payload_checks_name_the_field(void)
{
    char err[200];
    schema_t *s = milestone_settings_schema(err, sizeof err);
    CHECK(s != NULL);
    struct {
        const char *json, *field; /* field NULL: valid */
    } cases[] = {
        {"{\"kind\":\"birthday\",\"enabled\":true,\"by\":\"api\"}", NULL},
        {"{\"kind\":\"anniversary\",\"enabled\":false,\"time\":\"07:30\",\"offset\":\"-3d\","
         "\"template\":\"anniversary\",\"anniversary_from\":\"signup_date\",\"by\":\"cli:ann\"}",
         NULL},
        {"{\"kind\":\"birthday\",\"enabled\":true,\"time\":\"25:00\",\"by\":\"api\"}", "time"},
        {"{\"kind\":\"birthday\",\"enabled\":true,\"offset\":\"-45d\",\"by\":\"api\"}", "offset"},
        {"{\"kind\":\"birthday\",\"enabled\":true,\"anniversary_from\":\"signup_date\","
         "\"by\":\"api\"}",
         "anniversary_from"},
        {"{\"kind\":\"wedding\",\"enabled\":true,\"by\":\"api\"}", "kind"},
        {"{\"kind\":\"birthday\",\"enabled\":true,\"template\":\"../x\",\"by\":\"api\"}",
         "template"},
    };
    for (size_t i = 0; s && i < sizeof cases / sizeof *cases; i++) {
        json_t *p = json_loads(cases[i].json, 0, NULL);
        char field[64] = "", msg[300] = "";
        const char *code = milestone_settings_check(s, p, field, sizeof field, msg, sizeof msg);
        if (!cases[i].field) {
            CHECK(code == NULL);
        } else {
            CHECK(code != NULL);
            CHECK(strstr(field, cases[i].field) != NULL);
        }
        json_decref(p);
    }
    schema_destroy(&s);
}

int main(void)
{
    UNIT_RUN(test_civil_days_round_trip_and_leap_years);
    UNIT_RUN(test_parse_birthday_time_offset);
    UNIT_RUN(test_feb29_in_leap_and_common_years_both_settings);
    UNIT_RUN(test_send_instant_both_sides_of_the_date_line);
    UNIT_RUN(test_send_instant_across_dst);
    UNIT_RUN(test_send_instant_in_a_gap_is_the_end_of_the_gap);
    UNIT_RUN(test_send_instant_in_a_repeated_hour_is_its_first_occurrence);
    UNIT_RUN(test_process_tz_is_left_as_it_was);
    UNIT_RUN(test_coupon_verifies_offline_and_forgeries_do_not);
    UNIT_RUN(test_saved_payload_checks_name_the_field);
    return UNIT_END();
}
