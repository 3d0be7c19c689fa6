/*
 * test_clock.c - unit tests for services/common/clock.c.
 *
 * RFC 3339 formatting and parsing (round trips, offsets, fractions, the
 * dates that do not exist, trailing junk) and the HARK_CLOCK_FILE offset
 * tests use to move time, through a real file in a temp dir.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "unit.h"

/* s_sleep_ms - sleep ms milliseconds */
static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* s_parse - clock_parse s; returns ms or INT64_MIN when it failed */
static int64_t s_parse(const char *s)
{
    int64_t ms = 12345;
    return clock_parse(s, &ms) == 0 ? ms : INT64_MIN;
}

/* s_write_file - write text to path; 0/-1 */
static int s_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static void test_format_known_instants(void)
{
    char buf[32];
    CHECK_STR(clock_format(0, buf, sizeof buf), "1970-01-01T00:00:00.000Z");
    CHECK_STR(clock_format(1700000000123LL, buf, sizeof buf), "2023-11-14T22:13:20.123Z");
    CHECK_STR(clock_format(951782400000LL, buf, sizeof buf), "2000-02-29T00:00:00.000Z");
    CHECK_STR(clock_format(-1, buf, sizeof buf), "1969-12-31T23:59:59.999Z");
    CHECK_STR(clock_format(-1000, buf, sizeof buf), "1969-12-31T23:59:59.000Z");
    CHECK_INT(strlen(clock_format(253402300799999LL, buf, 25)), 24);
    CHECK_STR(buf, "9999-12-31T23:59:59.999Z");
}

static void test_format_then_parse_round_trips(void)
{
    const int64_t samples[] = {0, 1, 999, 1000, -1, -999, -1001, 86399999,
                               951782400000LL, 1700000000123LL, 4102444799999LL,
                               1234567890987LL};
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        char buf[32];
        clock_format(samples[i], buf, sizeof buf);
        CHECK_INT(s_parse(buf), samples[i]);
    }
    /* and a stride through many years, every millisecond digit exercised */
    for (int64_t ms = -2000000000000LL; ms < 4000000000000LL; ms += 12345678901LL) {
        char buf[32];
        clock_format(ms, buf, sizeof buf);
        int64_t back = 0;
        CHECK_INT(clock_parse(buf, &back), 0);
        CHECK_INT(back, ms);
    }
}

static void test_parse_now_matches_format_now(void)
{
    int64_t now = clock_now_ms();
    char buf[32];
    clock_format(now, buf, sizeof buf);
    CHECK_INT(s_parse(buf), now);
    /* sane: after 2020, before 2100 */
    CHECK(now > 1577836800000LL && now < 4102444800000LL);
}

static void test_parse_offsets_move_to_utc(void)
{
    int64_t z = s_parse("2024-06-01T12:00:00Z");
    CHECK(z != INT64_MIN);
    CHECK_INT(s_parse("2024-06-01T14:00:00+02:00"), z);
    CHECK_INT(s_parse("2024-06-01T06:30:00-05:30"), z);
    CHECK_INT(s_parse("2024-06-01T12:00:00+00:00"), z);
    CHECK_INT(s_parse("2024-06-01T12:00:00-00:00"), z);
    CHECK_INT(s_parse("2024-06-01T12:00:00z"), z);
    CHECK_INT(s_parse("2024-06-01t12:00:00Z"), z);
    CHECK_INT(s_parse("2024-06-01 12:00:00Z"), z);
    /* an offset that crosses midnight and a year */
    CHECK_INT(s_parse("2025-01-01T01:00:00+02:00"), s_parse("2024-12-31T23:00:00Z"));
    CHECK_INT(s_parse("2024-12-31T20:00:00-05:00"), s_parse("2025-01-01T01:00:00Z"));
}

static void test_parse_fractions(void)
{
    int64_t base = s_parse("2024-06-01T12:00:00Z");
    CHECK_INT(s_parse("2024-06-01T12:00:00.5Z"), base + 500);
    CHECK_INT(s_parse("2024-06-01T12:00:00.05Z"), base + 50);
    CHECK_INT(s_parse("2024-06-01T12:00:00.123Z"), base + 123);
    CHECK_INT(s_parse("2024-06-01T12:00:00.000Z"), base);
    /* digits past milliseconds are dropped, not rounded */
    CHECK_INT(s_parse("2024-06-01T12:00:00.123999999Z"), base + 123);
    CHECK_INT(s_parse("2024-06-01T14:00:00.250+02:00"), base + 250);
    CHECK_INT(s_parse("2024-06-01T12:00:00.Z"), INT64_MIN);
}

static void test_parse_leap_day_and_leap_second(void)
{
    CHECK(s_parse("2024-02-29T00:00:00Z") != INT64_MIN);
    CHECK(s_parse("2000-02-29T00:00:00Z") != INT64_MIN);
    CHECK_INT(s_parse("2023-02-29T00:00:00Z"), INT64_MIN);
    CHECK_INT(s_parse("1900-02-29T00:00:00Z"), INT64_MIN);
    CHECK_INT(s_parse("2024-02-30T00:00:00Z"), INT64_MIN);
    /* :60 is held at :59 */
    CHECK_INT(s_parse("2016-12-31T23:59:60Z"), s_parse("2016-12-31T23:59:59Z"));
}

static void test_parse_rejects_impossible_fields(void)
{
    const char *bad[] = {
        "2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z", "2024-01-00T00:00:00Z",
        "2024-01-32T00:00:00Z", "2024-04-31T00:00:00Z", "2024-06-31T00:00:00Z",
        "2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z", "2024-01-01T23:59:61Z",
        "2024-01-01T00:00:00+24:00", "2024-01-01T00:00:00+01:60",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t ms = 777;
        CHECK_INT(clock_parse(bad[i], &ms), -1);
        CHECK_INT(ms, 777); /* untouched on failure */
    }
}

static void test_parse_rejects_wrong_shapes_and_trailing_junk(void)
{
    const char *bad[] = {
        "", "2024", "2024-06-01", "2024-06-01T12:00Z", "2024-06-01T12:00:00",
        "2024-06-01T12:00:00Zjunk", "2024-06-01T12:00:00Z ", " 2024-06-01T12:00:00Z",
        "2024-06-01T12:00:00+0200", "2024-06-01T12:00:00+02", "2024-6-01T12:00:00Z",
        "24-06-01T12:00:00Z", "2024/06/01T12:00:00Z", "2024-06-01X12:00:00Z",
        "2024-06-01T12:00:00.123", "2024-06-01T12:00:00+02:00x", "2024-06-01T1a:00:00Z",
        "2024-06-01T12:00:00UTC",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t ms = 0;
        if (clock_parse(bad[i], &ms) != -1) {
            fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
            CHECK(0);
        }
    }
    int64_t ms;
    CHECK_INT(clock_parse(NULL, &ms), -1);
}

static void test_mono_never_goes_back(void)
{
    int64_t a = clock_mono_ms();
    s_sleep_ms(20);
    int64_t b = clock_mono_ms();
    CHECK(b >= a + 15);
    CHECK(b < a + 5000);
}

/* s_offset_ms - how far clock_now_ms() is from the real time now */
static int64_t s_offset_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t real = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return clock_now_ms() - real;
}

static void test_clock_file_offset_moves_now(void)
{
    char tmpl[] = "/tmp/hark-test-clock-XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (!dir)
        return;
    char path[256];
    snprintf(path, sizeof path, "%s/offset", dir);

    CHECK_INT(s_write_file(path, "3600\n"), 0);
    setenv("HARK_CLOCK_FILE", path, 1);
    s_sleep_ms(150); /* past the per-thread cache */
    int64_t d = s_offset_ms();
    CHECK(d >= 3600000 - 1000 && d <= 3600000 + 1000);

    /* negative and fractional seconds are honoured */
    CHECK_INT(s_write_file(path, "-90.5"), 0);
    s_sleep_ms(150);
    d = s_offset_ms();
    CHECK(d >= -90500 - 1000 && d <= -90500 + 1000);

    /* garbage in the file means no offset */
    CHECK_INT(s_write_file(path, "soon"), 0);
    s_sleep_ms(150);
    d = s_offset_ms();
    CHECK(d >= -1000 && d <= 1000);

    /* a missing file means no offset */
    CHECK_INT(s_write_file(path, "7200"), 0);
    s_sleep_ms(150);
    CHECK(s_offset_ms() > 7000000);
    unlink(path);
    s_sleep_ms(150);
    d = s_offset_ms();
    CHECK(d >= -1000 && d <= 1000);

    /* the monotonic clock is never offset */
    CHECK_INT(s_write_file(path, "3600"), 0);
    s_sleep_ms(150);
    int64_t m1 = clock_mono_ms();
    clock_now_ms();
    CHECK(clock_mono_ms() - m1 < 1000);

    unsetenv("HARK_CLOCK_FILE");
    d = s_offset_ms();
    CHECK(d >= -1000 && d <= 1000);

    unlink(path);
    CHECK_INT(rmdir(dir), 0);
}

int main(void)
{
    unsetenv("HARK_CLOCK_FILE");
    UNIT_RUN(test_format_known_instants);
    UNIT_RUN(test_format_then_parse_round_trips);
    UNIT_RUN(test_parse_now_matches_format_now);
    UNIT_RUN(test_parse_offsets_move_to_utc);
    UNIT_RUN(test_parse_fractions);
    UNIT_RUN(test_parse_leap_day_and_leap_second);
    UNIT_RUN(test_parse_rejects_impossible_fields);
    UNIT_RUN(test_parse_rejects_wrong_shapes_and_trailing_junk);
    UNIT_RUN(test_mono_never_goes_back);
    UNIT_RUN(test_clock_file_offset_moves_now);
    return UNIT_END();
}
