/*
 * log.c - key=value logging to stderr.
 *
 * The service name is the one piece of process-wide state in Hark: every
 * line of a process carries it, and passing a logger through every call
 * would buy nothing.  Lines are written with a single write() so lines from
 * processes sharing harkd's stderr do not interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char s_service[32] = "hark";

/* log_init - remember the service name for every line */
void log_init(const char *service)
{
    snprintf(s_service, sizeof s_service, "%s", service);
}

/* s_defang - escape every control byte of line[from, len) as \xNN in place
 * (shifting the rest right, cutting at cap), so that no value, whatever a
 * call site forgot to quote, can end the line and forge another: a customer
 * id "m1\nts=... svc=journal level=error" stays one line of its own
 * service.  Returns the new length. */
static size_t s_defang(char *line, size_t from, size_t len, size_t cap)
{
    char tmp[2048];
    size_t o = 0;
    for (size_t i = from; i < len && o < sizeof tmp; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            if (o + 4 > sizeof tmp)
                break;
            tmp[o++] = '\\';
            tmp[o++] = 'x';
            tmp[o++] = hex[c >> 4];
            tmp[o++] = hex[c & 15];
        } else {
            tmp[o++] = (char)c;
        }
    }
    if (from + o > cap)
        o = cap - from;
    memcpy(line + from, tmp, o);
    return from + o;
}

/* s_log - format one line and write it whole */
static void s_log(const char *level, const char *fmt, va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ svc=%s level=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, s_service, level);
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    len = s_defang(line, (size_t)n, len, sizeof line - 1);
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

/* log_info - informational line */
void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_log("info", fmt, ap);
    va_end(ap);
}

/* log_warn - something went wrong but the process carries on */
void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_log("warn", fmt, ap);
    va_end(ap);
}

/* log_error - something failed */
void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_log("error", fmt, ap);
    va_end(ap);
}

/* log_quote - quote a value for a key=value line */
const char *log_quote(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    if (len < 3) {
        if (len)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (const char *p = s ? s : ""; *p && o + 5 < len; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* log_value - see log.h.  A per-thread ring rather than a caller's buffer
 * so that a call site stays one readable line; the gateway logs from many
 * threads, hence _Thread_local. */
const char *log_value(const char *s)
{
    static _Thread_local char ring[8][512];
    static _Thread_local unsigned next;
    char *buf = ring[next++ % 8];
    if (!s)
        s = "";
    int plain = *s != '\0';
    for (const unsigned char *p = (const unsigned char *)s; plain && *p; p++)
        plain = *p > 0x20 && *p != 0x7f && *p != '"' && *p != '=' && *p != '\\';
    if (plain && strlen(s) < sizeof ring[0]) {
        memcpy(buf, s, strlen(s) + 1);
        return buf;
    }
    return log_quote(s, buf, sizeof ring[0]);
}
