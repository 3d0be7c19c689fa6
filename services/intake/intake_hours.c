/*
 * intake_hours.c - the business-hours clock: a team's first-response
 * targets count only its working hours, in its zone.
 */
#include <stdio.h>
#include <time.h>

#include "intake.h"
#include "tz.h"

/* Local time comes from tz.c (tz_local, tz_from_local), as everywhere:
 * its cache of offsets spares the several conversions a case makes from
 * re-reading the zone file each time. */

/* s_day_bounds - business hours [open, close) of the local day `day` days
 * after the local day of ms; 0 when it is a working day, -1 when not */
static int s_day_bounds(const reasons_team_t *t, int64_t ms, int day, int64_t *open,
                        int64_t *close)
{
    struct tm lt;
    if (tz_local(ms, t->tz, &lt))
        return -1;
    struct tm a = lt;
    a.tm_mday += day;
    a.tm_hour = 12;
    a.tm_min = a.tm_sec = 0;
    /* the weekday of that date: a calendar's, whatever the zone */
    if (timegm(&a) == (time_t)-1 || !(t->hours.days & (1u << a.tm_wday)))
        return -1;
    struct tm o = a, c = a;
    o.tm_hour = t->hours.start_hour;
    c.tm_hour = t->hours.end_hour; /* 24: rolls over to the next midnight */
    *open = tz_from_local(&o, t->tz);
    *close = tz_from_local(&c, t->tz);
    return 0;
}

int64_t intake_hours_add(const reasons_team_t *t, int64_t start, int64_t business_ms)
{
    if (business_ms <= 0 || !t->hours.days)
        return start;
    int64_t left = business_ms;
    for (int d = 0; d < 3700; d++) {
        int64_t open, close;
        if (s_day_bounds(t, start, d, &open, &close))
            continue;
        int64_t a = open > start ? open : start;
        if (a >= close)
            continue;
        if (close - a >= left)
            return a + left;
        left -= close - a;
    }
    return start + business_ms;
}

int64_t intake_hours_between(const reasons_team_t *t, int64_t a, int64_t b)
{
    if (b <= a || !t->hours.days)
        return 0;
    /* open all day every day: every millisecond counts, in any zone (no
     * walk through the days, each of which switches TZ) */
    if (t->hours.days == 0x7f && t->hours.start_hour == 0 && t->hours.end_hour == 24)
        return b - a;
    int64_t sum = 0;
    for (int d = 0; d < 3700; d++) {
        int64_t open, close;
        if (s_day_bounds(t, a, d, &open, &close))
            continue;
        if (open >= b)
            break;
        int64_t x = open > a ? open : a, y = close < b ? close : b;
        if (y > x)
            sum += y - x;
    }
    return sum;
}

const char *intake_hours_format(int64_t ms, const char *tz, char *buf, size_t len)
{
    struct tm lt;
    char when[40] = "";
    if (tz_local(ms, tz, &lt) == 0)
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &lt);
    snprintf(buf, len, "%s (%s)", when, tz && *tz ? tz : "UTC");
    return buf;
}
