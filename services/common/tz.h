/*
 * tz.h - time zones: the one check of a zone name, local time in a
 * customer's IANA zone, and windows of local hours (a survey's send window,
 * a team's business hours).
 *
 * C has no reentrant time-zone API: the conversions set TZ, call tzset()
 * and then localtime_r()/mktime(), and put TZ back.  That changes the
 * process's environment, so they are for single-threaded processes only
 * (every service that calls them runs its handlers on one thread).  The
 * name checks are thread-safe (the gateway's connection threads call them).
 */
#ifndef HARK_TZ_H
#define HARK_TZ_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* tz_valid - 1 when s[0..n) is "UTC" or an IANA name whose file under
 * /usr/share/zoneinfo is TZif data (so not "localtime", "leapseconds" or a
 * directory), with no path tricks.  Names that passed are remembered. */
int tz_valid(const char *s, size_t n);

/* tz_ok - tz_valid of a NUL-terminated name; 0 for NULL */
int tz_ok(const char *name);

/* tz_local - ms (epoch, UTC) as local time in zone tz (NULL or "": UTC);
 * 0/-1 */
int tz_local(int64_t ms, const char *tz, struct tm *out);

/* tz_from_local - local wall time (tm_isdst ignored: the zone's rules
 * decide; a time skipped by a DST change moves forward) to epoch ms */
int64_t tz_from_local(const struct tm *local, const char *tz);

/* A window: local hours [start, end) on the days in the mask. */
typedef struct {
    int start_hour, end_hour; /* 0..23, 1..24, start < end */
    unsigned days;            /* bit 0 Sunday .. bit 6 Saturday (tm_wday) */
} tz_window_t;

/* tz_window_parse - hours "9-20" or "09:00-20:00" ("0-24" all day) and
 * days "mon-sat", "mon,wed,fri", "sat-sun mon" or "all" (NULL: all), read by
 * the config's hour-range and weekday kinds; 0, or -1 with a message in err */
int tz_window_parse(const char *hours, const char *days, tz_window_t *w, char *err,
                    size_t errlen);

/* tz_window_next - ms when it is inside the window in zone tz, else the
 * next opening of the window after ms */
int64_t tz_window_next(const tz_window_t *w, int64_t ms, const char *tz);

#endif
