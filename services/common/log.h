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

#endif
