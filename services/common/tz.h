/*
 * tz.h - IANA time zone names.
 */
#ifndef HARK_TZ_H
#define HARK_TZ_H

/* tz_valid - 1 when name is a zone the system knows (a file under $TZDIR or
 * /usr/share/zoneinfo, or "UTC"), with no path tricks; 0 otherwise */
int tz_valid(const char *name);

#endif
