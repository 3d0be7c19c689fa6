/*
 * survey_time.c - local time in a customer's zone and send windows.
 *
 * Single-threaded only: TZ is a process-wide variable (see the header).
 *
 * Switching TZ makes tzset() read the zone file again (glibc keeps only the
 * last zone), which was ~30% of hark-survey's CPU when scheduling a burst
 * of purchases from customers in several zones.  So conversions go through
 * a small cache of UTC offsets per zone and 15-minute span of UTC time,
 * filled by one real localtime_r() under TZ; a span is cached only when its
 * first and last second have the same offset (no change inside), and a
 * local-to-UTC conversion uses it only when the offset is the same for
 * three hours either side (the wall time is neither skipped nor repeated).
 * Anything else takes the exact path under TZ, as before.
 */
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* tz_ok - a known zone name with no path tricks */
int tz_ok(const char *name)
{
    if (!name || !*name || strlen(name) > 64 || name[0] == '/' || strstr(name, ".."))
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '/' || *p == '_' || *p == '-' || *p == '+'))
            return 0;
    if (strcmp(name, "UTC") == 0)
        return 1;
    const char *dir = getenv("TZDIR");
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

typedef struct {
    char old[128];
    int had;
} s_tz_saved_t;

/* s_tz_set - switch the process to zone tz, remembering the old TZ */
static void s_tz_set(const char *tz, s_tz_saved_t *saved)
{
    const char *old = getenv("TZ");
    saved->had = old != NULL && strlen(old) < sizeof saved->old;
    if (saved->had)
        snprintf(saved->old, sizeof saved->old, "%s", old);
    setenv("TZ", tz && *tz ? tz : "UTC", 1);
    tzset();
}

/* s_tz_restore - back to the TZ before s_tz_set */
static void s_tz_restore(const s_tz_saved_t *saved)
{
    if (saved->had)
        setenv("TZ", saved->old, 1);
    else
        unsetenv("TZ");
    tzset();
}

/* s_local / s_mktime - conversions in the zone already set */
static int s_local(int64_t ms, struct tm *out)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    return localtime_r(&t, out) ? 0 : -1;
}

static int64_t s_mktime(const struct tm *local)
{
    struct tm tm = *local;
    tm.tm_isdst = -1; /* the zone's rules decide */
    return (int64_t)mktime(&tm) * 1000;
}

/* --- the offset cache ----------------------------------------------------- */

#define S_SPAN 900       /* seconds of UTC one entry covers */
#define S_CACHE 512      /* entries, direct-mapped */
#define S_AROUND 10800   /* seconds either side with one offset: no DST change near */

typedef struct {
    char zone[72];       /* "" when empty */
    int64_t span;        /* floor(t / S_SPAN) */
    long gmtoff;         /* seconds east of UTC */
    int isdst;
} s_entry_t;

/* one process-wide table: hark-survey runs these on one thread only */
static s_entry_t s_cache[S_CACHE];

/* s_secs - ms to whole seconds, rounding down */
static time_t s_secs(int64_t ms)
{
    return (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
}

/* s_offset - zone's UTC offset at t: 0, or -1 when it changes within t's
 * span (the caller takes the exact path) */
static int s_offset(const char *zone, time_t t, long *gmtoff, int *isdst)
{
    int64_t span = (int64_t)(t >= 0 ? t / S_SPAN : (t - S_SPAN + 1) / S_SPAN);
    uint64_t h = 14695981039346656037ULL; /* FNV-1a of the zone, then the span */
    for (const unsigned char *p = (const unsigned char *)zone; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h = (h ^ (uint64_t)span) * 1099511628211ULL;
    s_entry_t *e = &s_cache[(h ^ (h >> 29)) % S_CACHE];
    if (e->span == span && strcmp(e->zone, zone) == 0) {
        *gmtoff = e->gmtoff;
        *isdst = e->isdst;
        return 0;
    }
    s_tz_saved_t saved;
    s_tz_set(zone, &saved);
    time_t a = (time_t)(span * S_SPAN), b = a + S_SPAN - 1;
    struct tm ta, tb;
    int ok = localtime_r(&a, &ta) && localtime_r(&b, &tb) && ta.tm_gmtoff == tb.tm_gmtoff &&
             ta.tm_isdst == tb.tm_isdst;
    s_tz_restore(&saved);
    if (!ok || strlen(zone) >= sizeof e->zone)
        return -1;
    snprintf(e->zone, sizeof e->zone, "%s", zone);
    e->span = span;
    e->gmtoff = *gmtoff = ta.tm_gmtoff;
    e->isdst = *isdst = ta.tm_isdst;
    return 0;
}

/* s_zone - the zone s_tz_set would use */
static const char *s_zone(const char *tz)
{
    return tz && *tz ? tz : "UTC";
}

/* s_local_cached - localtime of ms in zone from the cache; 0/-1 */
static int s_local_cached(int64_t ms, const char *zone, struct tm *out)
{
    time_t t = s_secs(ms), l;
    long off;
    int dst;
    if (s_offset(zone, t, &off, &dst))
        return -1;
    l = t + off;
    if (!gmtime_r(&l, out))
        return -1;
    out->tm_isdst = dst;
    out->tm_gmtoff = off;
    out->tm_zone = ""; /* not known here; nothing prints %Z */
    return 0;
}

/* s_mktime_cached - local wall time in zone to epoch ms from the cache;
 * 0, or -1 when the offset changes within S_AROUND of the result */
static int s_mktime_cached(const struct tm *local, const char *zone, int64_t *out)
{
    struct tm c = *local;
    time_t wall = timegm(&c); /* the wall time's fields read as UTC (normalized) */
    long o1, o2;
    int dst;
    if (wall == (time_t)-1 || s_offset(zone, wall, &o1, &dst))
        return -1;
    time_t t = wall - o1;
    if (s_offset(zone, t, &o2, &dst) || o2 != o1 || s_offset(zone, t - S_AROUND, &o2, &dst) ||
        o2 != o1 || s_offset(zone, t + S_AROUND, &o2, &dst) || o2 != o1)
        return -1;
    *out = (int64_t)t * 1000;
    return 0;
}

int tz_local(int64_t ms, const char *tz, struct tm *out)
{
    if (s_local_cached(ms, s_zone(tz), out) == 0)
        return 0;
    s_tz_saved_t saved;
    s_tz_set(tz, &saved);
    int rc = s_local(ms, out);
    s_tz_restore(&saved);
    return rc;
}

int64_t tz_from_local(const struct tm *local, const char *tz)
{
    int64_t t;
    if (s_mktime_cached(local, s_zone(tz), &t) == 0)
        return t;
    s_tz_saved_t saved;
    s_tz_set(tz, &saved);
    t = s_mktime(local);
    s_tz_restore(&saved);
    return t;
}

static const char *const s_days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* s_day - index of a three-letter day name at p, or -1 */
static int s_day(const char *p, size_t n)
{
    if (n != 3)
        return -1;
    for (int i = 0; i < 7; i++)
        if (strncasecmp(p, s_days[i], 3) == 0)
            return i;
    return -1;
}

int tz_window_parse(const char *hours, const char *days, tz_window_t *w, char *err,
                        size_t errlen)
{
    int a, b, n = 0;
    if (!hours || sscanf(hours, "%d-%d%n", &a, &b, &n) != 2 || hours[n] != '\0' || a < 0 ||
        a > 23 || b < 1 || b > 24 || a >= b) {
        snprintf(err, errlen, "window_hours: expected START-END hours like 9-20 (0-24: all day),"
                              " got \"%s\"", hours ? hours : "");
        return -1;
    }
    w->start_hour = a;
    w->end_hour = b;
    w->days = 0;
    if (!days || strcasecmp(days, "all") == 0) {
        w->days = 0x7f;
        return 0;
    }
    const char *p = days;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, " ,-");
        int d1 = s_day(p, len), d2 = d1;
        p += len;
        if (*p == '-') {
            p++;
            len = strcspn(p, " ,-");
            d2 = s_day(p, len);
            p += len;
        }
        if (d1 < 0 || d2 < 0) {
            snprintf(err, errlen, "window_days: expected days like mon-sat or mon,wed,fri,"
                                  " got \"%s\"", days);
            return -1;
        }
        /* a range may wrap: sat-mon is sat, sun, mon */
        for (int d = d1;; d = (d + 1) % 7) {
            w->days |= 1u << d;
            if (d == d2)
                break;
        }
    }
    if (!w->days) {
        snprintf(err, errlen, "window_days: no days given");
        return -1;
    }
    return 0;
}

/* s_search - the window search (see tz_window_next) with conversions
 * from the cache (cached 1) or under TZ already set (cached 0); 0, or -1
 * when the cache cannot answer one of them */
static int s_search(const tz_window_t *w, int64_t ms, const char *zone, int cached,
                    int64_t *at)
{
    struct tm lt;
    *at = ms;
    if (cached ? s_local_cached(ms, zone, &lt) : s_local(ms, &lt))
        return cached ? -1 : 0;
    if ((w->days & (1u << lt.tm_wday)) && lt.tm_hour >= w->start_hour &&
        lt.tm_hour < w->end_hour)
        return 0;
    /* the next opening: START:00 on today or one of the next seven days
     * that is allowed and lies ahead (mktime/timegm normalize mday) */
    for (int i = 0; i <= 7; i++) {
        struct tm c = lt, chk;
        c.tm_mday += i;
        c.tm_hour = w->start_hour;
        c.tm_min = c.tm_sec = 0;
        int64_t t;
        if (cached) {
            if (s_mktime_cached(&c, zone, &t) || (t > ms && s_local_cached(t, zone, &chk)))
                return -1;
        } else {
            t = s_mktime(&c);
            if (t > ms && s_local(t, &chk))
                continue;
        }
        if (t > ms && (w->days & (1u << chk.tm_wday))) {
            *at = t;
            break;
        }
    }
    return 0;
}

int64_t tz_window_next(const tz_window_t *w, int64_t ms, const char *tz)
{
    int64_t at;
    if (s_search(w, ms, s_zone(tz), 1, &at) == 0)
        return at;
    /* near a DST change: one switch of TZ for the whole exact search */
    s_tz_saved_t saved;
    s_tz_set(tz, &saved);
    s_search(w, ms, s_zone(tz), 0, &at);
    s_tz_restore(&saved);
    return at;
}

/* s_report - one "FILE:LINE: [survey] ..." error */
static void s_report(const config_t *cfg, const char *key, const char *msg,
                     void (*report)(const char *, void *), void *arg)
{
    char line[400];
    int n = config_line(cfg, "survey", key);
    if (n > 0)
        snprintf(line, sizeof line, "%s:%d: [survey] %s", config_path(cfg), n, msg);
    else
        snprintf(line, sizeof line, "%s: [survey] %s", config_path(cfg), msg);
    report(line, arg);
}

int campaign_check_config(const config_t *cfg, tz_window_t *w,
                        void (*report)(const char *msg, void *arg), void *arg)
{
    tz_window_t tmp;
    char err[300];
    int bad = 0;
    const char *hours = config_get(cfg, "survey", "window_hours");
    const char *days = config_get(cfg, "survey", "window_days");
    /* each key on its own, so the error names the line that is wrong */
    if (tz_window_parse(hours, "all", &tmp, err, sizeof err)) {
        s_report(cfg, "window_hours", err, report, arg);
        bad++;
    }
    if (tz_window_parse("0-24", days, &tmp, err, sizeof err)) {
        s_report(cfg, "window_days", err, report, arg);
        bad++;
    }
    const char *tz = config_get(cfg, "survey", "default_timezone");
    if (!tz_ok(tz)) {
        snprintf(err, sizeof err, "default_timezone: unknown time zone \"%s\"", tz ? tz : "");
        s_report(cfg, "default_timezone", err, report, arg);
        bad++;
    }
    if (!bad && w)
        tz_window_parse(hours, days, w, err, sizeof err);
    return bad;
}
