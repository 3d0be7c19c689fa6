/*
 * config.c - load and check the INI file against config_table.
 *
 * libinih does the parsing.  Debian builds it without INI_HANDLER_LINENO, so
 * we feed it through our own line reader (ini_parse_stream) which counts
 * lines; the handler reads the count to name the line of every error.  The
 * reader also catches the syntax errors inih would only report the first of,
 * and lines longer than inih's fixed 200-byte buffer.
 */
#include "config.h"
#include "mailbox.h"
#include "tz.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char *section;
    char *key;
    char *value;    /* expanded */
    int line;       /* 0 for a default */
    const config_setting_t *setting;
} s_entry_t;

struct config {
    char *path;
    char *state_dir;
    s_entry_t *entries;
    size_t n_entries, cap_entries;
    char **errors;
    size_t n_errors, cap_errors;
    char **owned; /* copies handed out by config_list */
    size_t n_owned, cap_owned;
    /* parse state */
    FILE *fp;
    int line;
    char *linebuf;
    size_t linecap;
};

#define INI_LINE_MAX 200 /* Debian's libinih INI_MAX_LINE */

/* s_push - append to a growable pointer array; 0/-1 */
static int s_push(void *arrp, size_t *n, size_t *cap, size_t elem, const void *item)
{
    char **arr = arrp;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        void *na = realloc(*arr, nc * elem);
        if (!na)
            return -1;
        *arr = na;
        *cap = nc;
    }
    memcpy(*arr + *n * elem, item, elem);
    (*n)++;
    return 0;
}

/* s_error - record "FILE:LINE: message" */
static void s_error(config_t *cfg, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_error(config_t *cfg, int line, const char *fmt, ...)
{
    char msg[512], full[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(full, sizeof full, "%s:%d: %s", cfg->path, line, msg);
    else
        snprintf(full, sizeof full, "%s: %s", cfg->path, msg);
    char *e = strdup(full);
    if (e && s_push(&cfg->errors, &cfg->n_errors, &cfg->cap_errors, sizeof e, &e))
        free(e);
}

/* s_section_matches - "team.*" matches "team.support" */
static int s_section_matches(const char *pattern, const char *section)
{
    size_t n = strlen(pattern);
    if (n >= 2 && pattern[n - 1] == '*' && pattern[n - 2] == '.')
        return strncmp(pattern, section, n - 1) == 0 && section[n - 1] != '\0';
    return strcmp(pattern, section) == 0;
}

/* s_find_setting - table row for section/key, or NULL */
static const config_setting_t *s_find_setting(const char *section, const char *key)
{
    for (const config_setting_t *s = config_table; s->section; s++)
        if (s_section_matches(s->section, section) && (!key || strcmp(s->key, key) == 0))
            return s;
    return NULL;
}

/* s_number - the decimal number s starts with (at most 12 digits) into *v,
 * *end after it; 0, or -1 when s starts with no digit or too many */
static int s_number(const char *s, long long *v, char **end)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    *v = strtoll(s, end, 10);
    return errno || *end - s > 12 ? -1 : 0;
}

/* config_parse_duration - "500ms" "90s" "5m" "2h" "7d" "1w" (or "0") to ms */
int config_parse_duration(const char *s, long long *ms)
{
    long long v;
    char *end;
    if (s_number(s, &v, &end))
        return -1;
    long long mult;
    if (*end == '\0' && v == 0 && end - s == 1)
        mult = 1; /* a bare 0 is zero in any unit ("reminder = 0": off) */
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else if (strcmp(end, "d") == 0)
        mult = 86400000;
    else if (strcmp(end, "w") == 0)
        mult = 7 * 86400000LL;
    else
        return -1;
    if (v > LLONG_MAX / mult)
        return -1;
    *ms = v * mult;
    return 0;
}

/* config_parse_size - "512", "64k", "4M", "1G" to bytes */
int config_parse_size(const char *s, long long *bytes)
{
    long long v;
    char *end;
    if (s_number(s, &v, &end))
        return -1;
    long long mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1024, end++;
    else if (*end == 'M' || *end == 'm')
        mult = 1024 * 1024, end++;
    else if (*end == 'G' || *end == 'g')
        mult = 1024LL * 1024 * 1024, end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v > LLONG_MAX / mult)
        return -1;
    *bytes = v * mult;
    return 0;
}

/* config_digits - n decimal digits at s as a number, or -1 */
int config_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* config_parse_time - "HH:MM" (two digits each) to minutes */
int config_parse_time(const char *s, int *minutes)
{
    if (!s || strlen(s) != 5 || s[2] != ':')
        return -1;
    int h = config_digits(s, 2), m = config_digits(s + 3, 2);
    if (h < 0 || h > 23 || m < 0 || m > 59)
        return -1;
    *minutes = h * 60 + m;
    return 0;
}

/* s_hour - "9", "09" or "09:00" at p (up to end) as a whole hour, or -1;
 * a minute other than :00 is refused: windows open on the hour */
static int s_hour(const char *p, size_t n)
{
    if (n >= 4 && p[n - 3] == ':') {
        if (config_digits(p + n - 2, 2) != 0)
            return -1;
        n -= 3;
    }
    return n >= 1 && n <= 2 ? config_digits(p, (int)n) : -1;
}

/* config_parse_hours - "START-END" in whole hours */
int config_parse_hours(const char *s, int *start, int *end)
{
    const char *dash = s ? strchr(s, '-') : NULL;
    if (!dash)
        return -1;
    int a = s_hour(s, (size_t)(dash - s)), b = s_hour(dash + 1, strlen(dash + 1));
    if (a < 0 || a > 23 || b < 1 || b > 24 || a >= b)
        return -1;
    *start = a;
    *end = b;
    return 0;
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

/* config_parse_days - day names and ranges to a tm_wday mask */
int config_parse_days(const char *s, unsigned *mask)
{
    if (!s)
        return -1;
    if (strcasecmp(s, "all") == 0) {
        *mask = 0x7f;
        return 0;
    }
    unsigned m = 0;
    const char *p = s;
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
        if (d1 < 0 || d2 < 0)
            return -1;
        /* a range may wrap: sat-mon is sat, sun, mon */
        for (int d = d1;; d = (d + 1) % 7) {
            m |= 1u << d;
            if (d == d2)
                break;
        }
    }
    if (!m)
        return -1;
    *mask = m;
    return 0;
}

/* s_check_listen - HOST:PORT or [V6]:PORT */
static int s_check_listen(const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v)
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || colon[1] == '\0' || port < 1 || port > 65535)
        return -1;
    for (const char *p = v; p < colon; p++)
        if (isspace((unsigned char)*p))
            return -1;
    return 0;
}

/* s_check_value - message for a bad value, NULL when fine */
static const char *s_check_value(const config_setting_t *s, const char *v, char *msg,
                                 size_t len)
{
    long long n = 0;
    switch (s->type) {
    case CFG_STR:
    case CFG_PATH:
    case CFG_LIST:
        return NULL;
    case CFG_INT: {
        char *end;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno || !*v || *end) {
            snprintf(msg, len, "expected a whole number, got \"%s\"", v);
            return msg;
        }
        break;
    }
    case CFG_BOOL:
        if (strcmp(v, "yes") && strcmp(v, "no") && strcmp(v, "true") &&
            strcmp(v, "false") && strcmp(v, "on") && strcmp(v, "off") &&
            strcmp(v, "1") && strcmp(v, "0")) {
            snprintf(msg, len, "expected yes or no, got \"%s\"", v);
            return msg;
        }
        return NULL;
    case CFG_DURATION:
        if (config_parse_duration(v, &n)) {
            snprintf(msg, len,
                     "expected a duration like 500ms, 90s, 5m, 2h or 7d, got \"%s\"", v);
            return msg;
        }
        break;
    case CFG_SIZE:
        if (config_parse_size(v, &n)) {
            snprintf(msg, len, "expected a size like 65536, 64k or 4M, got \"%s\"", v);
            return msg;
        }
        break;
    case CFG_ENUM: {
        size_t vl = strlen(v);
        for (const char *c = s->choices; c && *c;) {
            const char *sp = strchr(c, ' ');
            size_t cl = sp ? (size_t)(sp - c) : strlen(c);
            if (cl == vl && strncmp(c, v, cl) == 0)
                return NULL;
            c += cl;
            while (*c == ' ')
                c++;
        }
        snprintf(msg, len, "expected one of: %s; got \"%s\"", s->choices, v);
        return msg;
    }
    case CFG_ENDPOINT:
        if ((strncmp(v, "ipc://", 6) == 0 && v[6] && strlen(v + 6) < 100) ||
            (strncmp(v, "tcp://", 6) == 0 && s_check_listen(v + 6) == 0))
            return NULL;
        snprintf(msg, len,
                 "expected ipc://PATH (under 100 bytes) or tcp://HOST:PORT, got \"%s\"", v);
        return msg;
    case CFG_LISTEN:
        if (s_check_listen(v) == 0)
            return NULL;
        snprintf(msg, len, "expected HOST:PORT, got \"%s\"", v);
        return msg;
    case CFG_EMAIL: {
        /* the one address rule (mailbox.h); a dotless domain is fine here
         * (hark@localhost) */
        if (!*v || mailbox_valid(v, strlen(v), 0))
            return NULL;
        snprintf(msg, len, "expected an email address, got \"%s\"", v);
        return msg;
    }
    case CFG_URL:
        if ((strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0) &&
            !strpbrk(v, " \t\"<>"))
            return NULL;
        snprintf(msg, len, "expected an http:// or https:// URL, got \"%s\"", v);
        return msg;
    case CFG_TIME: {
        int m;
        if (config_parse_time(v, &m) == 0)
            return NULL;
        snprintf(msg, len, "expected HH:MM (00:00 to 23:59), got \"%s\"", v);
        return msg;
    }
    case CFG_TZ:
        if (tz_ok(v))
            return NULL;
        snprintf(msg, len, "unknown time zone \"%s\"", v);
        return msg;
    case CFG_HOURS: {
        int a, b;
        if (config_parse_hours(v, &a, &b) == 0)
            return NULL;
        snprintf(msg, len,
                 "expected START-END hours like 9-20 or 09:00-20:00 (0-24: all day), got \"%s\"",
                 v);
        return msg;
    }
    case CFG_DAYS: {
        unsigned m;
        if (config_parse_days(v, &m) == 0)
            return NULL;
        snprintf(msg, len, "expected days like mon-sat, mon,wed,fri or all, got \"%s\"", v);
        return msg;
    }
    case CFG_ADDRS: {
        char copy[1024], *save = NULL;
        long long count = 0;
        snprintf(copy, sizeof copy, "%s", v);
        for (char *t = strtok_r(copy, " ,\t", &save); t; t = strtok_r(NULL, " ,\t", &save)) {
            unsigned char a[16];
            if (inet_pton(AF_INET, t, a) != 1 && inet_pton(AF_INET6, t, a) != 1) {
                snprintf(msg, len, "\"%s\" is not an IPv4 or IPv6 address", t);
                return msg;
            }
            count++;
        }
        if (count <= s->max && strlen(v) < sizeof copy)
            return NULL;
        snprintf(msg, len, "at most %lld addresses", s->max);
        return msg;
    }
    case CFG_WORD: {
        long long vl = (long long)strlen(v);
        int ok = vl >= s->min && vl <= s->max;
        for (const char *p = v; ok && *p; p++)
            ok = isascii((unsigned char)*p) && isalnum((unsigned char)*p);
        if (ok)
            return NULL;
        snprintf(msg, len, "expected %lld to %lld letters and digits, got \"%s\"", s->min,
                 s->max, v);
        return msg;
    }
    }
    if (n < s->min || n > s->max) {
        snprintf(msg, len, "\"%s\" is out of range", v);
        return msg;
    }
    return NULL;
}

/* s_find_entry - the entry for section/key, or NULL */
static s_entry_t *s_find_entry(const config_t *cfg, const char *section, const char *key)
{
    for (size_t i = 0; i < cfg->n_entries; i++)
        if (strcmp(cfg->entries[i].section, section) == 0 &&
            strcmp(cfg->entries[i].key, key) == 0)
            return &cfg->entries[i];
    return NULL;
}

/* s_add_entry - store a copy; 0/-1 */
static int s_add_entry(config_t *cfg, const char *section, const char *key,
                       const char *value, int line, const config_setting_t *s)
{
    s_entry_t e = {strdup(section), strdup(key), strdup(value), line, s};
    if (!e.section || !e.key || !e.value ||
        s_push(&cfg->entries, &cfg->n_entries, &cfg->cap_entries, sizeof e, &e)) {
        free(e.section), free(e.key), free(e.value);
        return -1;
    }
    return 0;
}

/* s_handler - inih callback: check one key against the table */
static int s_handler(void *user, const char *section, const char *name, const char *value)
{
    config_t *cfg = user;
    if (!s_find_setting(section, NULL)) {
        /* one error per unknown section */
        int seen = 0;
        for (size_t i = 0; i < cfg->n_entries; i++)
            if (!cfg->entries[i].setting && strcmp(cfg->entries[i].section, section) == 0)
                seen = 1;
        if (!seen) {
            s_error(cfg, cfg->line, "unknown section [%s]", section);
            s_add_entry(cfg, section, "", "", cfg->line, NULL);
        }
        return 1;
    }
    const config_setting_t *s = s_find_setting(section, name);
    if (!s) {
        s_error(cfg, cfg->line, "[%s] %s: unknown key", section, name);
        return 1;
    }
    s_entry_t *old = s_find_entry(cfg, section, name);
    if (old) {
        s_error(cfg, cfg->line, "[%s] %s: set twice (first on line %d)", section, name,
                old->line);
        return 1;
    }
    char msg[300];
    const char *bad = s_check_value(s, value, msg, sizeof msg);
    if (bad) {
        s_error(cfg, cfg->line, "[%s] %s: %s", section, name, bad);
        return 1;
    }
    if (s_add_entry(cfg, section, name, value, cfg->line, s))
        s_error(cfg, cfg->line, "out of memory");
    return 1;
}

/* s_reader - fgets-like reader that counts lines and checks syntax */
static char *s_reader(char *str, int num, void *stream)
{
    config_t *cfg = stream;
    ssize_t n = getline(&cfg->linebuf, &cfg->linecap, cfg->fp);
    if (n < 0)
        return NULL;
    cfg->line++;
    char *l = cfg->linebuf;
    while (n > 0 && (l[n - 1] == '\n' || l[n - 1] == '\r'))
        l[--n] = '\0';
    if (n >= num - 1 || n >= INI_LINE_MAX - 1) {
        s_error(cfg, cfg->line, "line is longer than %d characters", INI_LINE_MAX - 2);
        str[0] = '\0';
        return str;
    }
    if (memchr(l, '\0', (size_t)n)) {
        s_error(cfg, cfg->line, "line contains a NUL byte");
        str[0] = '\0';
        return str;
    }
    const char *p = l;
    if (cfg->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (isspace((unsigned char)*p))
        p++;
    if (*p && *p != ';' && *p != '#') {
        if (*p == '[') {
            if (!strchr(p, ']')) {
                s_error(cfg, cfg->line, "section header without closing ']'");
                str[0] = '\0';
                return str;
            }
        } else if (!strchr(p, '=') && !strchr(p, ':')) {
            s_error(cfg, cfg->line, "expected \"key = value\", got \"%.60s\"", p);
            str[0] = '\0';
            return str;
        }
    }
    /* hand inih the line without its indent: it would take an indented
     * "key = value" for a continuation of the previous key's value */
    size_t k = (size_t)n - (size_t)(p - l);
    memcpy(str, p, k);
    str[k] = '\n';
    str[k + 1] = '\0';
    return str;
}

/* s_expand - replace {state_dir}; malloc'd result or NULL */
static char *s_expand(const char *v, const char *state_dir)
{
    const char *tag = "{state_dir}";
    size_t tl = strlen(tag), sl = strlen(state_dir), n = 0;
    for (const char *p = strstr(v, tag); p; p = strstr(p + tl, tag))
        n++;
    char *out = malloc(strlen(v) + n * sl + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = v; *p;) {
        if (strncmp(p, tag, tl) == 0) {
            memcpy(o, state_dir, sl);
            o += sl;
            p += tl;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* config_load - read, check, fill defaults, expand */
config_t *config_load(const char *path)
{
    config_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg || !(cfg->path = strdup(path))) {
        free(cfg);
        return NULL;
    }
    cfg->fp = fopen(path, "r");
    if (!cfg->fp) {
        s_error(cfg, 0, "cannot open: %s", strerror(errno));
    } else {
        ini_parse_stream(s_reader, cfg, s_handler, cfg);
        fclose(cfg->fp);
        cfg->fp = NULL;
    }
    free(cfg->linebuf);
    cfg->linebuf = NULL;

    /* defaults for every key of every known section not set in the file */
    for (const config_setting_t *s = config_table; s->section; s++) {
        if (!s->def)
            continue;
        if (strchr(s->section, '*')) {
            for (size_t i = 0; i < cfg->n_entries; i++) {
                s_entry_t *e = &cfg->entries[i];
                if (e->setting && s_section_matches(s->section, e->section) &&
                    !s_find_entry(cfg, e->section, s->key))
                    s_add_entry(cfg, e->section, s->key, s->def, 0, s);
            }
        } else if (!s_find_entry(cfg, s->section, s->key)) {
            s_add_entry(cfg, s->section, s->key, s->def, 0, s);
        }
    }

    /* the state dir, made absolute against the working directory */
    const s_entry_t *sd = s_find_entry(cfg, "hark", "state_dir");
    const char *raw = sd ? sd->value : "var";
    char cwd[PATH_MAX];
    if (raw[0] == '/' || !getcwd(cwd, sizeof cwd)) {
        cfg->state_dir = strdup(raw);
    } else {
        size_t n = strlen(cwd) + strlen(raw) + 2;
        cfg->state_dir = malloc(n);
        if (cfg->state_dir)
            snprintf(cfg->state_dir, n, "%s/%s", cwd, raw);
    }
    if (!cfg->state_dir) {
        config_destroy(&cfg);
        return NULL;
    }
    size_t sl = strlen(cfg->state_dir);
    while (sl > 1 && cfg->state_dir[sl - 1] == '/')
        cfg->state_dir[--sl] = '\0';

    for (size_t i = 0; i < cfg->n_entries; i++) {
        s_entry_t *e = &cfg->entries[i];
        if (!strstr(e->value, "{state_dir}"))
            continue;
        char *x = s_expand(e->value, cfg->state_dir);
        if (!x)
            continue;
        free(e->value);
        e->value = x;
        char msg[300];
        if (e->setting && s_check_value(e->setting, x, msg, sizeof msg))
            s_error(cfg, e->line, "[%s] %s: %s", e->section, e->key, msg);
    }
    return cfg;
}

/* config_destroy - free everything; safe on NULL and twice */
void config_destroy(config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    config_t *cfg = *self_p;
    for (size_t i = 0; i < cfg->n_entries; i++) {
        free(cfg->entries[i].section);
        free(cfg->entries[i].key);
        free(cfg->entries[i].value);
    }
    for (size_t i = 0; i < cfg->n_errors; i++)
        free(cfg->errors[i]);
    for (size_t i = 0; i < cfg->n_owned; i++)
        free(cfg->owned[i]);
    free(cfg->entries);
    free(cfg->errors);
    free(cfg->owned);
    free(cfg->path);
    free(cfg->state_dir);
    free(cfg);
    *self_p = NULL;
}

size_t config_error_count(const config_t *cfg) { return cfg->n_errors; }
const char *config_error(const config_t *cfg, size_t i)
{
    return i < cfg->n_errors ? cfg->errors[i] : NULL;
}
const char *config_path(const config_t *cfg) { return cfg->path; }
const char *config_state_dir(const config_t *cfg) { return cfg->state_dir; }

/* config_get - expanded value or default, NULL when unset */
const char *config_get(const config_t *cfg, const char *section, const char *key)
{
    const s_entry_t *e = s_find_entry(cfg, section, key);
    return e ? e->value : NULL;
}

/* config_line - where a value was set */
int config_line(const config_t *cfg, const char *section, const char *key)
{
    const s_entry_t *e = s_find_entry(cfg, section, key);
    return e ? e->line : 0;
}

/* config_int - INT value; 0 when unset */
long long config_int(const config_t *cfg, const char *section, const char *key)
{
    const char *v = config_get(cfg, section, key);
    return v ? strtoll(v, NULL, 10) : 0;
}

/* config_bool - BOOL value; 0 when unset */
int config_bool(const config_t *cfg, const char *section, const char *key)
{
    const char *v = config_get(cfg, section, key);
    return v && (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") ||
                 !strcmp(v, "1"));
}

/* config_duration_ms - DURATION value in ms; 0 when unset */
long long config_duration_ms(const config_t *cfg, const char *section, const char *key)
{
    long long ms = 0;
    const char *v = config_get(cfg, section, key);
    if (v && config_parse_duration(v, &ms))
        ms = 0;
    return ms;
}

/* config_size - SIZE value in bytes; 0 when unset */
long long config_size(const config_t *cfg, const char *section, const char *key)
{
    long long n = 0;
    const char *v = config_get(cfg, section, key);
    if (v && config_parse_size(v, &n))
        n = 0;
    return n;
}

/* config_time_min - TIME value in minutes; 0 when unset */
int config_time_min(const config_t *cfg, const char *section, const char *key)
{
    int m = 0;
    const char *v = config_get(cfg, section, key);
    if (v && config_parse_time(v, &m))
        m = 0;
    return m;
}

/* config_hours - HOURS value; all day when unset */
int config_hours(const config_t *cfg, const char *section, const char *key, int *start,
                 int *end)
{
    const char *v = config_get(cfg, section, key);
    if (v && config_parse_hours(v, start, end) == 0)
        return 0;
    *start = 0;
    *end = 24;
    return -1;
}

/* config_days - DAYS value; every day when unset */
unsigned config_days(const config_t *cfg, const char *section, const char *key)
{
    unsigned m;
    const char *v = config_get(cfg, section, key);
    return v && config_parse_days(v, &m) == 0 ? m : 0x7f;
}

/* config_default - the table's default */
const char *config_default(const char *section, const char *key)
{
    const config_setting_t *s = s_find_setting(section, key);
    return s ? s->def : NULL;
}

/* s_print_key - one "section.key = value" line */
static void s_print_key(const config_t *cfg, const char *section, const config_setting_t *s,
                        int mode, FILE *fp)
{
    const char *v = s->def;
    if (mode != CONFIG_PRINT_DEFAULTS) {
        const s_entry_t *e = s_find_entry(cfg, section, s->key);
        v = e ? e->value : NULL;
        if (mode == CONFIG_PRINT_CHANGED) {
            if (!e || e->line == 0)
                return;
            char *d = s->def ? s_expand(s->def, cfg->state_dir) : NULL;
            int same = d && strcmp(d, v) == 0;
            free(d);
            if (same)
                return;
        }
    }
    fprintf(fp, "%s.%s =%s%s\n", section, s->key, v && *v ? " " : "", v ? v : "");
}

/* config_print - postconf's view: every key, one a line */
void config_print(const config_t *cfg, int mode, FILE *fp)
{
    for (const config_setting_t *s = config_table; s->section; s++) {
        if (!strchr(s->section, '*')) {
            s_print_key(cfg, s->section, s, mode, fp);
            continue;
        }
        /* a section per name ("team.*"): its keys under each one present */
        const char *names[64];
        size_t n = cfg ? config_sections_like(cfg, s->section, names, 64) : 0;
        for (size_t i = 0; i < n; i++)
            s_print_key(cfg, names[i], s, mode, fp);
    }
}

/* s_own - keep a string for the config's lifetime */
static char *s_own(config_t *cfg, const char *s)
{
    char *c = strdup(s);
    if (c && s_push(&cfg->owned, &cfg->n_owned, &cfg->cap_owned, sizeof c, &c)) {
        free(c);
        return NULL;
    }
    return c;
}

/* config_list - split a LIST on spaces and commas */
size_t config_list(const config_t *cfg, const char *section, const char *key,
                   const char **out, size_t max)
{
    const char *v = config_get(cfg, section, key);
    if (!v)
        return 0;
    char *copy = s_own((config_t *)cfg, v);
    if (!copy)
        return 0;
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(copy, " ,\t", &save); t;
         t = strtok_r(NULL, " ,\t", &save))
        if (n < max)
            out[n++] = t;
    return n;
}

/* config_sections_like - present sections matching "prefix.*" */
size_t config_sections_like(const config_t *cfg, const char *prefix, const char **out,
                            size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_entries; i++) {
        const char *sec = cfg->entries[i].section;
        if (!cfg->entries[i].setting || !s_section_matches(prefix, sec))
            continue;
        int dup = 0;
        for (size_t j = 0; j < n; j++)
            if (strcmp(out[j], sec) == 0)
                dup = 1;
        if (!dup && n < max)
            out[n++] = sec;
    }
    return n;
}

/* config_ensure_state_dir - mkdir -p for the state dir */
int config_ensure_state_dir(const config_t *cfg)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", cfg->state_dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(path, 0700) && errno != EEXIST)
        return -1;
    return 0;
}
