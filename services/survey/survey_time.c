/*
 * survey_time.c - local time in a customer's zone and send windows.
 *
 * Single-threaded only: TZ is a process-wide variable (see the header).
 */
#include "survey_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* survey_tz_ok - a known zone name with no path tricks */
int survey_tz_ok(const char *name)
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

int survey_time_local(int64_t ms, const char *tz, struct tm *out)
{
    s_tz_saved_t saved;
    s_tz_set(tz, &saved);
    int rc = s_local(ms, out);
    s_tz_restore(&saved);
    return rc;
}

int64_t survey_time_from_local(const struct tm *local, const char *tz)
{
    s_tz_saved_t saved;
    s_tz_set(tz, &saved);
    int64_t t = s_mktime(local);
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

int survey_window_parse(const char *hours, const char *days, survey_window_t *w, char *err,
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

int64_t survey_window_next(const survey_window_t *w, int64_t ms, const char *tz)
{
    /* one switch of TZ for the whole search: tzset() reloads the zone
     * file each time TZ changes, which is most of the cost */
    s_tz_saved_t saved;
    s_tz_set(tz, &saved);
    int64_t at = ms;
    struct tm lt;
    if (s_local(ms, &lt) == 0 &&
        !((w->days & (1u << lt.tm_wday)) && lt.tm_hour >= w->start_hour &&
          lt.tm_hour < w->end_hour)) {
        /* the next opening: START:00 on today or one of the next seven
         * days that is allowed and lies ahead (mktime normalizes mday) */
        for (int i = 0; i <= 7; i++) {
            struct tm c = lt, chk;
            c.tm_mday += i;
            c.tm_hour = w->start_hour;
            c.tm_min = c.tm_sec = 0;
            int64_t t = s_mktime(&c);
            if (t > ms && s_local(t, &chk) == 0 && (w->days & (1u << chk.tm_wday))) {
                at = t;
                break;
            }
        }
    }
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

int survey_check_config(const config_t *cfg, survey_window_t *w,
                        void (*report)(const char *msg, void *arg), void *arg)
{
    survey_window_t tmp;
    char err[300];
    int bad = 0;
    const char *hours = config_get(cfg, "survey", "window_hours");
    const char *days = config_get(cfg, "survey", "window_days");
    /* each key on its own, so the error names the line that is wrong */
    if (survey_window_parse(hours, "all", &tmp, err, sizeof err)) {
        s_report(cfg, "window_hours", err, report, arg);
        bad++;
    }
    if (survey_window_parse("0-24", days, &tmp, err, sizeof err)) {
        s_report(cfg, "window_days", err, report, arg);
        bad++;
    }
    const char *tz = config_get(cfg, "survey", "default_timezone");
    if (!survey_tz_ok(tz)) {
        snprintf(err, sizeof err, "default_timezone: unknown time zone \"%s\"", tz ? tz : "");
        s_report(cfg, "default_timezone", err, report, arg);
        bad++;
    }
    if (!bad && w)
        survey_window_parse(hours, days, w, err, sizeof err);
    return bad;
}
