/*
 * milestone_settings.h - what a marketer sets per milestone kind (on/off,
 * local send time, offset, template, where anniversaries count from) and the
 * checks of a milestone.saved payload: shared by hark-milestone, the
 * gateway's admin API and `hark milestone set`.  [milestone]'s values are
 * checked by the config table (config_table.c).
 */
#ifndef HARK_MILESTONE_SETTINGS_H
#define HARK_MILESTONE_SETTINGS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "schema.h"

/* milestone_settings_parse_time - "HH:MM" (00:00..23:59) into minutes after midnight, as
 * the config's time-of-day kind reads it; 0/-1 */
int milestone_settings_parse_time(const char *s, int *minutes);

/* milestone_settings_parse_offset - "0", "-3d", "+2d", "2d" (-30..30 days); 0/-1 */
int milestone_settings_parse_offset(const char *s, int *days);

/* milestone_settings_format_offset - days as "0", "-3d" or "+2d" into out (size >= 8) */
const char *milestone_settings_format_offset(int days, char *out, size_t len);

#define MILESTONE_BIRTHDAY 0
#define MILESTONE_ANNIVERSARY 1
#define MILESTONE_KINDS 2

/* "birthday", "anniversary" */
extern const char *const milestone_settings_kind_names[MILESTONE_KINDS];

/* milestone_settings_kind - MILESTONE_BIRTHDAY, MILESTONE_ANNIVERSARY, or -1 for another name */
int milestone_settings_kind(const char *name);

/* One kind's effective settings. */
typedef struct {
    int kind;
    int enabled;
    int minutes;        /* local send time, minutes after midnight */
    int offset_days;    /* -3: three days before the day */
    char template_name[65];
    int from_signup;    /* anniversaries: count from signup_date, not the first purchase */
    int admin;          /* set by a milestone.saved (else [milestone]'s defaults) */
    char by[80];
} milestone_settings_t;

/* hark-milestone's settings, read once at start (milestone_config_load, in
 * hark-milestone's milestone_config.c).  Strings point into the config,
 * which lives as long as the process. */
typedef struct {
    int time_min;               /* [milestone] time, minutes after midnight */
    int from_signup;            /* anniversary_from = signup_date */
    const char *default_tz;
    int64_t catch_up, interval; /* ms */
    int batch;
    int mar1;                   /* feb29 = mar1 */
    const char *coupon_prefix;  /* "GIFT" for on; NULL: no coupons */
} milestone_config_t;

/* milestone_settings_default - the settings before any milestone.saved: enabled,
 * [milestone] time, offset 0, the template named like the kind,
 * [milestone] anniversary_from */
void milestone_settings_default(const milestone_config_t *mc, int kind, milestone_settings_t *out);

/* milestone_settings_view - settings as the MILESTONE_SETTINGS_OK item (without
 * counts); caller decrefs */
json_t *milestone_settings_view(const milestone_settings_t *s);

/* milestone_settings_from_json - a milestone.saved payload over the defaults into
 * out; 0, or -1 with the field in field and a message in msg */
int milestone_settings_from_json(const milestone_config_t *mc, const json_t *p,
                                 milestone_settings_t *out, char *field, size_t flen, char *msg,
                                 size_t mlen);

/* milestone_settings_schema - milestone.saved's schema, compiled (caller frees with
 * schema_destroy); NULL with a message in err */
schema_t *milestone_settings_schema(char *err, size_t errlen);

/* milestone_settings_check - NULL when p is a milestone.saved payload that can be
 * applied; else the error code ("invalid_field") with the field and a
 * message naming it.  The gateway and `hark milestone set` call it. */
const char *milestone_settings_check(const schema_t *s, const json_t *p, char *field, size_t flen,
                           char *msg, size_t mlen);

/* milestone_settings_template_check - 0 when template `name` exists for the mailer:
 * <templates>/<default_locale>/<name>.md ([mailer]'s), the file every
 * locale falls back to.  Else -1 with field "template" and a message
 * naming it (a settings change to a missing template would otherwise be
 * accepted and fail at every send).  The gateway and `hark milestone set`
 * call it on a template given. */
int milestone_settings_template_check(const char *templates, const char *default_locale,
                                      const char *name, char *field, size_t flen, char *msg,
                                      size_t mlen);

#endif
