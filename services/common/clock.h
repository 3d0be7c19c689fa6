/*
 * clock.h - every "now" in Hark goes through here.
 *
 * Tests move time without sleeping: when the environment variable
 * HARK_CLOCK_FILE names a file, its content (a signed number of seconds,
 * re-read at most once per 100 ms) is added to the real clock.  Production
 * never sets it.
 */
#ifndef HARK_CLOCK_H
#define HARK_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* clock_now_ms - wall-clock milliseconds since the Unix epoch (UTC). */
int64_t clock_now_ms(void);

/* clock_mono_ms - monotonic milliseconds, for timers and timeouts. */
int64_t clock_mono_ms(void);

/* clock_format - RFC 3339 UTC with milliseconds ("2026-11-23T10:35:12.123Z")
 * into buf (at least 25 bytes); returns buf. */
const char *clock_format(int64_t ms, char *buf, size_t len);

/* clock_parse - parse RFC 3339 (Z or offset, optional fraction) into epoch
 * ms; 0 on success, -1 when it is not a valid timestamp. */
int clock_parse(const char *s, int64_t *ms);

/* clock_days_from_civil / clock_civil_from_days - a date (proleptic
 * Gregorian) as days since 1970-01-01 and back; exact for every date, with
 * no time zone involved (Howard Hinnant's algorithms) */
int64_t clock_days_from_civil(int y, int m, int d);
void clock_civil_from_days(int64_t days, int *y, int *m, int *d);

#endif
