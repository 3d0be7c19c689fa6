/*
 * milestone_date.c - calendar arithmetic for birthdays and anniversaries,
 * and the local send instant in a customer's zone.
 *
 * Dates are counted in days (clock_days_from_civil / clock_civil_from_days,
 * which need no time zone), so adding days to a date is an addition.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "milestone.h"
#include "tz.h"

int milestone_date_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* s_mdays - days in month m of year y */
static int s_mdays(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && milestone_date_leap(y) ? 29 : d[m - 1];
}

int milestone_date_parse(const char *s, int *y, int *m, int *d)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    int yy = config_digits(s, 4), mm = config_digits(s + 5, 2), dd = config_digits(s + 8, 2);
    if (yy < 1 || mm < 1 || mm > 12 || dd < 1 || dd > s_mdays(yy, mm))
        return -1;
    *y = yy;
    *m = mm;
    *d = dd;
    return 0;
}

int milestone_date_parse_birthday(const char *s, int *m, int *d)
{
    int y;
    if (s && strlen(s) == 7 && s[0] == '-' && s[1] == '-' && s[4] == '-') {
        int mm = config_digits(s + 2, 2), dd = config_digits(s + 5, 2);
        if (mm < 1 || mm > 12 || dd < 1 || dd > s_mdays(2000, mm)) /* 2000: a leap year */
            return -1;
        *m = mm;
        *d = dd;
        return 0;
    }
    return milestone_date_parse(s, &y, m, d);
}

void milestone_date_observed(int y, int m, int d, int mar1, int *om, int *od)
{
    *om = m;
    *od = d;
    if (m == 2 && d == 29 && !milestone_date_leap(y)) {
        *om = mar1 ? 3 : 2;
        *od = mar1 ? 1 : 28;
    }
}

int milestone_date_match_md(int y, int m, int d, int mar1, int out[2])
{
    int n = 0;
    out[n++] = m * 100 + d;
    if (!milestone_date_leap(y) && ((!mar1 && m == 2 && d == 28) || (mar1 && m == 3 && d == 1)))
        out[n++] = 229;
    return n;
}

/* s_gmtoff - the zone's UTC offset in seconds at epoch second t */
static long s_gmtoff(int64_t t, const char *tz)
{
    struct tm tm;
    if (tz_local(t * 1000, tz, &tm))
        return 0;
    return tm.tm_gmtoff;
}

int64_t milestone_date_send_instant(int y, int m, int d, int minutes, const char *tz)
{
    /* u: the wall time read as if it were UTC.  A zone changes its offset
     * at most once within a day either side of any time (true of every
     * zone in tzdata), so the offsets a day before and a day after are the
     * only ones the wall time can have. */
    int64_t u = clock_days_from_civil(y, m, d) * 86400 + (int64_t)minutes * 60;
    long o1 = s_gmtoff(u - 86400, tz), o2 = s_gmtoff(u + 86400, tz);
    int64_t best = INT64_MAX;
    long offs[2] = {o1, o2};
    for (int i = 0; i < 2; i++) {
        int64_t x = u - offs[i];
        if (s_gmtoff(x, tz) == offs[i] && x < best)
            best = x; /* a real instant showing that time; the earlier wins */
    }
    if (best != INT64_MAX)
        return best * 1000;
    /* neither: the time falls in a gap.  The clocks jump at an instant T
     * between u - o2 (still the old offset) and u - o1 (already the new
     * one); T is the first instant whose local time is past the send time. */
    int64_t lo = u - (o1 > o2 ? o1 : o2), hi = u - (o1 < o2 ? o1 : o2);
    long before = s_gmtoff(lo, tz);
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (s_gmtoff(mid, tz) == before)
            lo = mid;
        else
            hi = mid;
    }
    return hi * 1000;
}
