/*
 * config.h - Hark's configuration: one INI file, every setting declared once.
 *
 * The settings table (config_table.c) names each section and key with its
 * type, default and bounds.  config_load() parses the file with libinih,
 * checks every value against the table and collects every error as
 * "FILE:LINE: [section] key: message", so `hark check-config` can show them
 * all at once and a service can refuse to start with a clear reason.
 *
 * Defaults and values may contain "{state_dir}", replaced by the absolute
 * state directory, so endpoints like ipc://{state_dir}/journal.sock follow it.
 */
#ifndef HARK_CONFIG_H
#define HARK_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    CFG_STR,      /* any text */
    CFG_INT,      /* integer within [min, max] */
    CFG_BOOL,     /* yes/no/true/false/on/off/1/0 */
    CFG_DURATION, /* 500ms, 90s, 5m, 2h, 7d -> milliseconds within [min, max] */
    CFG_SIZE,     /* 512, 64k, 4M -> bytes within [min, max] */
    CFG_ENUM,     /* one of the space-separated words in choices */
    CFG_ENDPOINT, /* a ZeroMQ endpoint: ipc://PATH or tcp://HOST:PORT */
    CFG_LISTEN,   /* HOST:PORT for a TCP listener */
    CFG_LIST,     /* words separated by spaces or commas */
    CFG_PATH,     /* a file system path */
    CFG_EMAIL,    /* an email address, may be empty */
    CFG_URL,      /* http:// or https:// URL */
    CFG_TIME,     /* time of day HH:MM, 00:00 to 23:59 -> minutes after midnight */
    CFG_TZ,       /* an IANA time zone the system knows (tz_ok) */
    CFG_HOURS,    /* local hours START-END: 9-17 or 09:00-17:00 (0-24: all day) */
    CFG_DAYS,     /* weekdays: mon-fri, mon,wed,fri, "sat sun" or all */
    CFG_WORD,     /* letters and digits, length within [min, max] */
    CFG_ADDRS,    /* numeric IPv4/IPv6 addresses, a LIST of at most max */
} config_type_t;

typedef struct {
    const char *section; /* "gateway"; "team.*" matches every [team.NAME] */
    const char *key;
    config_type_t type;
    const char *def;     /* default as text; NULL means "unset" */
    long long min, max;  /* bounds for INT, DURATION (ms), SIZE */
    const char *choices; /* ENUM words */
    const char *help;    /* one line, shown in hark.conf(5) */
} config_setting_t;

/* The one table of every setting of every service (config_table.c). */
extern const config_setting_t config_table[];

typedef struct config config_t;

/* config_load - parse and check FILE.  Returns NULL only when out of memory;
 * otherwise a config whose config_error_count() may be non-zero.  Caller
 * frees with config_destroy(). */
config_t *config_load(const char *path);
void config_destroy(config_t **self_p);

/* config_error_count / config_error - the collected errors, in file order */
size_t config_error_count(const config_t *cfg);
const char *config_error(const config_t *cfg, size_t i);

/* config_path - the file as given; config_state_dir - absolute state dir */
const char *config_path(const config_t *cfg);
const char *config_state_dir(const config_t *cfg);

/* config_get - the value (or default) with {state_dir} expanded; NULL when
 * unset and without default.  The string belongs to cfg. */
const char *config_get(const config_t *cfg, const char *section, const char *key);
/* config_line - the line of FILE that set [section] key; 0 when it has its
 * default.  For checks a service makes itself, so they name file and line. */
int config_line(const config_t *cfg, const char *section, const char *key);
long long config_int(const config_t *cfg, const char *section, const char *key);
int config_bool(const config_t *cfg, const char *section, const char *key);
/* config_duration_ms / config_size - parsed value of a DURATION / SIZE key */
long long config_duration_ms(const config_t *cfg, const char *section, const char *key);
long long config_size(const config_t *cfg, const char *section, const char *key);
/* config_list - split a LIST value; returns the count, fills up to max
 * pointers into a copy owned by cfg (valid until config_destroy). */
size_t config_list(const config_t *cfg, const char *section, const char *key,
                   const char **out, size_t max);
/* config_sections_like - names of sections matching "team.*" present in the
 * file; same ownership rules as config_list. */
size_t config_sections_like(const config_t *cfg, const char *prefix,
                            const char **out, size_t max);

/* config_time_min - TIME value as minutes after midnight; 0 when unset */
int config_time_min(const config_t *cfg, const char *section, const char *key);
/* config_hours - HOURS value as [start, end) whole hours; 0, or -1 when
 * unset (start 0, end 24 then) */
int config_hours(const config_t *cfg, const char *section, const char *key, int *start,
                 int *end);
/* config_days - DAYS value as a mask, bit 0 Sunday .. bit 6 Saturday
 * (tm_wday); every day when unset */
unsigned config_days(const config_t *cfg, const char *section, const char *key);

/* config_parse_duration / config_parse_size - text to ms / bytes; 0 or -1 */
int config_parse_duration(const char *s, long long *ms);
int config_parse_size(const char *s, long long *bytes);
/* config_digits - exactly n ASCII digits at s as a number, or -1 */
int config_digits(const char *s, int n);
/* config_parse_time - "09:30" to minutes after midnight; 0 or -1 */
int config_parse_time(const char *s, int *minutes);
/* config_parse_hours - "9-17" or "09:00-17:00" to whole hours start 0..23,
 * end 1..24, start < end; 0 or -1 */
int config_parse_hours(const char *s, int *start, int *end);
/* config_parse_days - "mon-fri", "mon,wed,fri", "sat-mon" (a range may
 * wrap), "sat sun" or "all" to a tm_wday bit mask, never empty; 0 or -1 */
int config_parse_days(const char *s, unsigned *mask);

/* config_default - the table's default of [section] key, {state_dir} not
 * expanded; NULL when it has none (or the key is unknown) */
const char *config_default(const char *section, const char *key);

/* config_print - every key of the table as "section.key = value", one a
 * line in table order, to fp.  CONFIG_PRINT_DEFAULTS prints the table's
 * defaults instead of cfg's values (cfg may then be NULL);
 * CONFIG_PRINT_CHANGED only keys set in the file to a value other than
 * their default.  Keys of "team.*"-like sections print per section present. */
enum { CONFIG_PRINT_VALUES, CONFIG_PRINT_DEFAULTS, CONFIG_PRINT_CHANGED };
void config_print(const config_t *cfg, int mode, FILE *fp);

/* config_ensure_state_dir - create the state dir (0700) if missing; 0/-1 */
int config_ensure_state_dir(const config_t *cfg);

#endif
