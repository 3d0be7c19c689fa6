/*
 * log.h - one key=value line per event, to stderr.
 *
 * Every line starts with ts=, svc= and level=, so grep and people can read
 * the same output.  Values given with %s that may contain spaces or quotes
 * should go through log_quote() first.
 */
#ifndef HARK_LOG_H
#define HARK_LOG_H

#include <stddef.h>

/* log_init - set the service name printed on every line (copied). */
void log_init(const char *service);

/* log_info/log_warn/log_error - print "ts=… svc=… level=… " then fmt. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* log_quote - write s as a double-quoted value with \" \\ and control
 * characters escaped into buf (truncated to fit); returns buf. */
const char *log_quote(const char *s, char *buf, size_t len);

/* log_value - s as a logfmt value for this log call: as it is when it is
 * a plain word (no space, quote, '=', backslash or control byte, not
 * empty), else quoted as log_quote does.  For ids and text that came from
 * outside (customer and order ids, actors, codes), so "c1 level=error"
 * cannot add a key to the line.  The result lives in a ring of 8 buffers
 * per thread: use it within the log call, at most 8 in one call; values
 * are cut at about 500 bytes. */
const char *log_value(const char *s);

#endif
