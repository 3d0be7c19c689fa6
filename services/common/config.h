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

/* config_parse_duration / config_parse_size - text to ms / bytes; 0 or -1 */
int config_parse_duration(const char *s, long long *ms);
int config_parse_size(const char *s, long long *bytes);

/* config_ensure_state_dir - create the state dir (0700) if missing; 0/-1 */
int config_ensure_state_dir(const config_t *cfg);

#endif
