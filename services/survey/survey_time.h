/*
 * tz.h - local time in a customer's IANA zone, and send windows.
 *
 * C has no reentrant time-zone API: these helpers set TZ, call tzset() and
 * then localtime_r()/mktime(), and put TZ back.  That changes the process's
 * environment, so they are for single-threaded processes only (hark-survey
 * is: one thread runs its loop and everything it calls).
 */
#ifndef HARK_SURVEY_TIME_H
#define HARK_SURVEY_TIME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

/* tz_ok - 1 when name is a zone the system knows (a file under
 * /usr/share/zoneinfo, or "UTC"), with no path tricks */
int tz_ok(const char *name);

/* tz_local - ms (epoch, UTC) as local time in zone tz; 0/-1 */
int tz_local(int64_t ms, const char *tz, struct tm *out);

/* tz_from_local - local wall time (tm_isdst ignored: the zone's
 * rules decide; a time skipped by a DST change moves forward) to epoch ms */
int64_t tz_from_local(const struct tm *local, const char *tz);

/* A send window: local hours [start, end) on the days in the mask. */
typedef struct {
    int start_hour, end_hour; /* 0..23, 1..24, start < end */
    unsigned days;            /* bit 0 Sunday .. bit 6 Saturday (tm_wday) */
} tz_window_t;

/* tz_window_parse - hours "9-20" (09:00 to 20:00; "0-24" all day) and
 * days "mon-sat", "mon,wed,fri", "sat-sun mon" or "all"; 0, or -1 with a
 * message in err */
int tz_window_parse(const char *hours, const char *days, tz_window_t *w, char *err,
                        size_t errlen);

/* tz_window_next - ms when it is inside the window in zone tz, else the
 * next opening of the window after ms */
int64_t tz_window_next(const tz_window_t *w, int64_t ms, const char *tz);

/* campaign_check_config - the [survey] values the config table cannot check
 * (window_hours, window_days, default_timezone): each error as
 * "FILE:LINE: [survey] key: message" to report(msg, arg).  Returns the
 * number of errors; w, when not NULL, gets the window. */
int campaign_check_config(const config_t *cfg, tz_window_t *w,
                        void (*report)(const char *msg, void *arg), void *arg);

#endif
