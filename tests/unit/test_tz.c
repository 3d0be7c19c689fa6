/*
 * test_tz.c - unit tests for services/common/tz.c: local
 * time in a zone and the next opening of a send window, across both DST
 * changes of 2026 in Europe/Warsaw and America/New_York, with the process's
 * own TZ left as it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "tz.h"
#include "unit.h"

/* s_ms - epoch ms of an RFC 3339 time */
static int64_t s_ms(const char *s)
{
    int64_t ms = -1;
    clock_parse(s, &ms);
    return ms;
}

static tz_window_t s_win(const char *hours, const char *days)
{
    tz_window_t w;
    char err[200];
    memset(&w, 0, sizeof w);
    if (tz_window_parse(hours, days, &w, err, sizeof err))
        fprintf(stderr, "%s\n", err);
    return w;
}

static void test_local_time_follows_dst_in_both_zones(void)
{
    struct tm t;
    CHECK_INT(tz_local(s_ms("2026-03-29T00:30:00Z"), "Europe/Warsaw", &t), 0);
    CHECK_INT(t.tm_hour, 1); /* CET, +1 */
    CHECK_INT(tz_local(s_ms("2026-03-29T01:30:00Z"), "Europe/Warsaw", &t), 0);
    CHECK_INT(t.tm_hour, 3); /* CEST, +2: 02:xx was skipped */
    CHECK_INT(tz_local(s_ms("2026-03-08T06:30:00Z"), "America/New_York", &t), 0);
    CHECK_INT(t.tm_hour, 1); /* EST, -5 */
    CHECK_INT(tz_local(s_ms("2026-03-08T07:30:00Z"), "America/New_York", &t), 0);
    CHECK_INT(t.tm_hour, 3); /* EDT, -4 */
    CHECK_INT(tz_local(s_ms("2026-11-01T05:30:00Z"), "America/New_York", &t), 0);
    CHECK_INT(t.tm_hour, 1); /* EDT: the first 01:30 */
    CHECK_INT(tz_local(s_ms("2026-11-01T06:30:00Z"), "America/New_York", &t), 0);
    CHECK_INT(t.tm_hour, 1); /* EST: the second 01:30 */
    CHECK_INT(t.tm_wday, 0);
}

static void test_window_waits_over_spring_forward(void)
{
    tz_window_t w = s_win("9-20", "all");
    /* Saturday 21:00 CET -> Sunday 09:00 CEST */
    CHECK(tz_window_next(&w, s_ms("2026-03-28T20:00:00Z"), "Europe/Warsaw") ==
          s_ms("2026-03-29T07:00:00Z"));
    /* Saturday 21:00 EST -> Sunday 09:00 EDT */
    CHECK(tz_window_next(&w, s_ms("2026-03-08T02:00:00Z"), "America/New_York") ==
          s_ms("2026-03-08T13:00:00Z"));
}

static void test_window_waits_over_fall_back(void)
{
    tz_window_t w = s_win("9-17", "mon-sun");
    CHECK(tz_window_next(&w, s_ms("2026-10-24T19:00:00Z"), "Europe/Warsaw") ==
          s_ms("2026-10-25T08:00:00Z"));
    CHECK(tz_window_next(&w, s_ms("2026-10-31T22:00:00Z"), "America/New_York") ==
          s_ms("2026-11-01T14:00:00Z"));
}

static void test_window_inside_is_now_and_weekend_waits_for_monday(void)
{
    tz_window_t w = s_win("9-20", "mon-fri");
    int64_t now = s_ms("2026-03-27T10:00:00Z"); /* Friday 11:00 in Warsaw */
    CHECK(tz_window_next(&w, now, "Europe/Warsaw") == now);
    /* Saturday 10:00 in Warsaw -> Monday 09:00 CEST */
    CHECK(tz_window_next(&w, s_ms("2026-03-28T09:00:00Z"), "Europe/Warsaw") ==
          s_ms("2026-03-30T07:00:00Z"));
    /* the same instant is Friday 19:45 in New York (inside, before 20:00) */
    now = s_ms("2026-03-27T23:45:00Z");
    CHECK(tz_window_next(&w, now, "America/New_York") == now);
    /* ... and Saturday 00:45 in Warsaw: Monday */
    CHECK(tz_window_next(&w, now, "Europe/Warsaw") == s_ms("2026-03-30T07:00:00Z"));
}

static void test_window_opening_in_a_skipped_hour_moves_forward(void)
{
    tz_window_t w = s_win("2-5", "all");
    /* 02:00 does not exist in Warsaw on 2026-03-29: opens at 03:00 CEST */
    CHECK(tz_window_next(&w, s_ms("2026-03-28T23:30:00Z"), "Europe/Warsaw") ==
          s_ms("2026-03-29T01:00:00Z"));
}

static void test_process_tz_is_restored(void)
{
    setenv("TZ", "Asia/Tokyo", 1);
    struct tm t;
    tz_local(0, "America/New_York", &t);
    CHECK_STR(getenv("TZ"), "Asia/Tokyo");
    unsetenv("TZ");
    tz_local(0, "Europe/Warsaw", &t);
    CHECK(getenv("TZ") == NULL);
    CHECK_INT(t.tm_hour, 1);
}

/* the offset cache answers exactly what the zone files say: local time of
 * every ~2.2 hours over 400 days, and back, in zones with and without DST,
 * half-hour offsets and a southern summer, against localtime_r/mktime
 * under TZ (set once per zone: the reference times of a zone are taken
 * first, and the cache asked after with TZ unset again, since setting TZ
 * around every call reread the zone file twice a step) */
#define S_CACHE_STEPS 4400
static void test_cache_agrees_with_the_zone_files(void)
{
    static const char *const zones[] = {"Europe/Warsaw", "America/New_York", "Asia/Kolkata",
                                        "Australia/Lord_Howe", "America/Sao_Paulo", "UTC",
                                        NULL};
    static struct tm wants[S_CACHE_STEPS];
    static int64_t want_mss[S_CACHE_STEPS];
    int64_t start = s_ms("2026-01-01T00:00:00Z");
    int bad = 0;
    for (int z = 0; zones[z]; z++) {
        setenv("TZ", zones[z], 1);
        tzset();
        for (int i = 0; i < S_CACHE_STEPS; i++) {
            int64_t ms = start + (int64_t)i * 7919 * 1000;
            time_t t = (time_t)(ms / 1000);
            localtime_r(&t, &wants[i]);
            struct tm back = wants[i];
            back.tm_isdst = -1;
            want_mss[i] = (int64_t)mktime(&back) * 1000;
        }
        unsetenv("TZ");
        tzset();
        for (int i = 0; i < S_CACHE_STEPS && bad < 5; i++) {
            int64_t ms = start + (int64_t)i * 7919 * 1000;
            struct tm got;
            const struct tm *want = &wants[i];
            CHECK_INT(tz_local(ms, zones[z], &got), 0);
            if (got.tm_year != want->tm_year || got.tm_yday != want->tm_yday ||
                got.tm_hour != want->tm_hour || got.tm_min != want->tm_min ||
                got.tm_wday != want->tm_wday || got.tm_isdst != want->tm_isdst ||
                tz_from_local(want, zones[z]) != want_mss[i]) {
                fprintf(stderr, "%s at %lld differs\n", zones[z], (long long)ms);
                bad++;
            }
        }
    }
    CHECK_INT(bad, 0);
}

static void test_window_parse(void)
{
    tz_window_t w;
    char err[200];
    CHECK_INT(tz_window_parse("0-24", "sat-mon", &w, err, sizeof err), 0);
    CHECK_INT(w.days, (1u << 6) | (1u << 0) | (1u << 1));
    CHECK_INT(tz_window_parse("9-20", "mon,wed Fri", &w, err, sizeof err), 0);
    CHECK_INT(w.days, (1u << 1) | (1u << 3) | (1u << 5));
    CHECK_INT(tz_window_parse("20-9", "all", &w, err, sizeof err), -1);
    CHECK(strstr(err, "window_hours") != NULL);
    CHECK_INT(tz_window_parse("9-25", "all", &w, err, sizeof err), -1);
    CHECK_INT(tz_window_parse("9", "all", &w, err, sizeof err), -1);
    CHECK_INT(tz_window_parse("9-20x", "all", &w, err, sizeof err), -1);
    CHECK_INT(tz_window_parse("9-20", "mon-xyz", &w, err, sizeof err), -1);
    CHECK(strstr(err, "window_days") != NULL);
    CHECK_INT(tz_window_parse("9-20", " , ", &w, err, sizeof err), -1);
}

static void test_tz_names(void)
{
    CHECK(tz_ok("Europe/Warsaw"));
    CHECK(tz_ok("UTC"));
    CHECK(tz_ok("America/Argentina/Buenos_Aires"));
    CHECK(!tz_ok("Europe/Nowhere"));
    CHECK(!tz_ok("../../etc/passwd"));
    CHECK(!tz_ok("/etc/localtime"));
    CHECK(!tz_ok("Europe"));  /* a directory */
    CHECK(!tz_ok(""));
    CHECK(!tz_ok(NULL));
    /* files under zoneinfo that are not zones: the one validator refuses
     * them for settings as schema validation does for payloads */
    CHECK(!tz_ok("leapseconds"));
    CHECK(!tz_ok("localtime"));
    CHECK(!tz_ok("zone.tab"));
    CHECK(!tz_ok("Europe//Warsaw"));
}

int main(void)
{
    UNIT_RUN(test_local_time_follows_dst_in_both_zones);
    UNIT_RUN(test_window_waits_over_spring_forward);
    UNIT_RUN(test_window_waits_over_fall_back);
    UNIT_RUN(test_window_inside_is_now_and_weekend_waits_for_monday);
    UNIT_RUN(test_window_opening_in_a_skipped_hour_moves_forward);
    UNIT_RUN(test_process_tz_is_restored);
    UNIT_RUN(test_cache_agrees_with_the_zone_files);
    UNIT_RUN(test_window_parse);
    UNIT_RUN(test_tz_names);
    return UNIT_END();
}
