/*
 * test_campaign_runs.c - unit tests for services/common/campaign.c's run
 * times of relationship campaigns: the period syntax, months stepping the
 * calendar (the 31st clamped, later runs back on the 31st), and which run
 * is due and which is next after the last one done.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "campaign.h"
#include "clock.h"
#include "unit.h"

static int64_t s_t(const char *s)
{
    int64_t ms = -1;
    clock_parse(s, &ms);
    return ms;
}

static void test_every_takes_days_weeks_and_months_only(void)
{
    int n, months;
    CHECK_INT(campaign_every_parse("10d", &n, &months), 0);
    CHECK(n == 10 && months == 0);
    CHECK_INT(campaign_every_parse("2w", &n, &months), 0);
    CHECK(n == 14 && months == 0);
    CHECK_INT(campaign_every_parse("3mo", &n, &months), 0);
    CHECK(n == 3 && months == 1);
    const char *bad[] = {"", "0w", "w", "2x", "2 w", "-1w", "+1w", "1000d", "2m", "1wk", NULL};
    for (int i = 0; bad[i]; i++)
        CHECK(campaign_every_parse(bad[i], &n, &months) == -1);
    CHECK(campaign_every_parse(NULL, &n, &months) == -1);
}

static void test_months_step_the_calendar_and_clamp_the_day(void)
{
    int64_t start = s_t("2027-01-31T09:00:00Z");
    CHECK(campaign_run_at(start, 0, 1, 1, 0) == start);
    CHECK(campaign_run_at(start, 0, 1, 1, 1) == s_t("2027-02-28T09:00:00Z"));
    CHECK(campaign_run_at(start, 0, 1, 1, 2) == s_t("2027-03-31T09:00:00Z"));
    CHECK(campaign_run_at(start, 0, 1, 1, 13) == s_t("2028-02-29T09:00:00Z")); /* leap */
    CHECK(campaign_run_at(start, 0, 3, 1, 4) == s_t("2028-01-31T09:00:00Z"));
    CHECK(campaign_run_at(start, 0, 14, 0, 2) == s_t("2027-02-28T09:00:00Z"));
}

static void test_next_and_due_after_the_last_run(void)
{
    int64_t start = s_t("2027-01-04T09:00:00Z"), week = 7 * 86400000LL, next, due;
    /* before the start: nothing due, the start next */
    CHECK_INT(campaign_next_run(start, 0, "1w", -1, start - 1, &next, &due), 0);
    CHECK(due == -1 && next == start);
    /* at the start: the first run due */
    campaign_next_run(start, 0, "1w", -1, start, &next, &due);
    CHECK(due == start && next == start + week);
    /* done: nothing due until a week later */
    campaign_next_run(start, 0, "1w", start, start + 1000, &next, &due);
    CHECK(due == -1 && next == start + week);
    /* three weeks missed: only the latest is due */
    campaign_next_run(start, 0, "1w", start, start + 3 * week + 5, &next, &due);
    CHECK(due == start + 3 * week && next == start + 4 * week);
    /* once: due at the start, then never again */
    campaign_next_run(start, 0, NULL, -1, start + 5, &next, &due);
    CHECK(due == start && next == -1);
    CHECK_INT(campaign_next_run(start, 0, "", start, start + 5 * week, &next, &due), 1);
    CHECK(due == -1 && next == -1);
}

/* months step the calendar start was written in: the 1st at 00:30 in
 * +01:00 is the 1st there every month, though in UTC it is the day before
 * (the last of a month of another length); a -05:00 31st is clamped to the
 * local last day */
static void test_months_step_the_calendar_of_the_start_offset(void)
{
    int64_t start, next, due;
    int off;
    CHECK_INT(campaign_start_parse("2027-03-01T00:30:00+01:00", &start, &off), 0);
    CHECK_INT(off, 60);
    campaign_next_run(start, off, "1mo", start, start + 1000, &next, &due);
    CHECK(next == s_t("2027-04-01T00:30:00+01:00"));
    CHECK(campaign_run_at(start, off, 1, 1, 2) == s_t("2027-05-01T00:30:00+01:00"));
    CHECK_INT(campaign_start_parse("2027-01-31T21:00:00-05:00", &start, &off), 0);
    CHECK_INT(off, -300);
    CHECK(campaign_run_at(start, off, 1, 1, 1) == s_t("2027-02-28T21:00:00-05:00"));
    CHECK(campaign_run_at(start, off, 1, 1, 2) == s_t("2027-03-31T21:00:00-05:00"));
    CHECK(campaign_run_at(start, off, 7, 0, 1) == s_t("2027-02-07T21:00:00-05:00"));
    CHECK_INT(campaign_start_parse("2027-01-31T21:00:00.250Z", &start, &off), 0);
    CHECK(off == 0 && start == s_t("2027-01-31T21:00:00.250Z"));
    CHECK_INT(campaign_start_parse("2027-01-31", &start, &off), -1);
    CHECK_INT(campaign_start_parse(NULL, &start, &off), -1);
}

/* a segment of those who bought within no time at all is nobody, but a
 * zero duration used to read as "not filtered": every customer asked */
static void test_purchased_within_zero_is_refused_naming_the_field(void)
{
    char err[256], field[128], msg[512];
    schema_t *s = campaign_schema(err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    const char *zero[] = {"0s", "0ms", "0d", "000w", NULL};
    for (int i = 0; zero[i]; i++) {
        json_t *c = json_pack("{s:s,s:s,s:b,s:s,s:s,s:{s:s}}", "id", "q", "kind",
                              "relationship", "enabled", 1, "by", "api", "start",
                              "2027-01-04T09:00:00Z", "segment", "purchased_within", zero[i]);
        field[0] = 0;
        const char *r = campaign_check(s, c, field, sizeof field, msg, sizeof msg);
        CHECK(r != NULL && strcmp(field, "segment.purchased_within") == 0);
        json_decref(c);
    }
    json_t *ok = json_pack("{s:s,s:s,s:b,s:s,s:s,s:{s:s}}", "id", "q", "kind", "relationship",
                           "enabled", 1, "by", "api", "start", "2027-01-04T09:00:00Z",
                           "segment", "purchased_within", "1s");
    CHECK(campaign_check(s, ok, field, sizeof field, msg, sizeof msg) == NULL);
    json_decref(ok);
    schema_destroy(&s);
}

int main(void)
{
    UNIT_RUN(test_every_takes_days_weeks_and_months_only);
    UNIT_RUN(test_months_step_the_calendar_and_clamp_the_day);
    UNIT_RUN(test_next_and_due_after_the_last_run);
    UNIT_RUN(test_months_step_the_calendar_of_the_start_offset);
    UNIT_RUN(test_purchased_within_zero_is_refused_naming_the_field);
    return UNIT_END();
}
