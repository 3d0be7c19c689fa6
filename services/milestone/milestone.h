/*
 * milestone.h - what the parts of hark-milestone share: the date math
 * (milestone_date.c), the marketer's settings (milestone_settings.c), the
 * personal coupon codes (milestone_coupon.c) and milestone.db
 * (milestone_store.c).  The gateway and `hark` link the settings and coupon
 * parts too, so the admin API, the CLI and the service check the same way.
 */
#ifndef HARK_MILESTONE_H
#define HARK_MILESTONE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "schema.h"

/* --- dates (milestone_date.c) -------------------------------------------- */

/* milestone_date_leap - 1 for a Gregorian leap year */
int milestone_date_leap(int y);

/* milestone_date_parse - "YYYY-MM-DD" (a real date); 0/-1 */
int milestone_date_parse(const char *s, int *y, int *m, int *d);

/* milestone_date_parse_birthday - "YYYY-MM-DD" or "--MM-DD" into month and day (29
 * February is a birthday with or without a year); 0/-1 */
int milestone_date_parse_birthday(const char *s, int *m, int *d);

/* milestone_settings_parse_time - "HH:MM" (00:00..23:59) into minutes after midnight; 0/-1 */
int milestone_settings_parse_time(const char *s, int *minutes);

/* milestone_settings_parse_offset - "0", "-3d", "+2d", "2d" (-30..30 days); 0/-1 */
int milestone_settings_parse_offset(const char *s, int *days);

/* milestone_settings_format_offset - days as "0", "-3d" or "+2d" into out (size >= 8) */
const char *milestone_settings_format_offset(int days, char *out, size_t len);

/* milestone_date_observed - the day in year y a milestone of month m, day d is kept
 * on: itself, except 29 February in other years, which is 28 February,
 * or 1 March when mar1 is set */
void milestone_date_observed(int y, int m, int d, int mar1, int *om, int *od);

/* milestone_date_match_md - the stored (month * 100 + day) values whose milestone is
 * kept on y-m-d: that day's own, and 229 on the day that stands in for 29
 * February in a common year.  Fills out[0..1]; returns how many (1 or 2). */
int milestone_date_match_md(int y, int m, int d, int mar1, int out[2]);

/* milestone_date_send_instant - epoch ms of `minutes` after midnight on local date
 * y-m-d in zone tz: the first instant at which the local clock shows that
 * time or later.  So a time repeated by a fall-back change is its first
 * occurrence, and a time skipped by a spring-forward gap is the end of the
 * gap (02:30 on a day that jumps from 02:00 to 03:00 is 03:00).  Switches
 * TZ (survey_time.c): single-threaded processes only. */
int64_t milestone_date_send_instant(int y, int m, int d, int minutes, const char *tz);

/* --- settings (milestone_settings.c) ------------------------------------- */

#define MILESTONE_BIRTHDAY 0
#define MILESTONE_ANNIVERSARY 1
#define MILESTONE_KINDS 2

extern const char *const milestone_settings_kind_names[MILESTONE_KINDS]; /* "birthday", "anniversary" */

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

/* milestone_settings_default - the settings before any milestone.saved: enabled,
 * [milestone] time, offset 0, the template named like the kind,
 * [milestone] anniversary_from */
void milestone_settings_default(const config_t *cfg, int kind, milestone_settings_t *out);

/* milestone_settings_view - settings as the MILESTONE_SETTINGS_OK item (without
 * counts); caller decrefs */
json_t *milestone_settings_view(const milestone_settings_t *s);

/* milestone_settings_from_json - a milestone.saved payload over the defaults into
 * out; 0, or -1 with the field in field and a message in msg */
int milestone_settings_from_json(const config_t *cfg, const json_t *p, milestone_settings_t *out,
                          char *field, size_t flen, char *msg, size_t mlen);

/* milestone_settings_schema - milestone.saved's schema, compiled (caller frees with
 * schema_destroy); NULL with a message in err */
schema_t *milestone_settings_schema(char *err, size_t errlen);

/* milestone_settings_check - NULL when p is a milestone.saved payload that can be
 * applied; else the error code ("invalid_field") with the field and a
 * message naming it.  The gateway and `hark milestone set` call it. */
const char *milestone_settings_check(const schema_t *s, const json_t *p, char *field, size_t flen,
                           char *msg, size_t mlen);

/* milestone_settings_template_check - 0 when template `name` exists for the mailer:
 * <[mailer] templates>/<[mailer] default_locale>/<name>.md, the file every
 * locale falls back to.  Else -1 with field "template" and a message
 * naming it (a settings change to a missing template would otherwise be
 * accepted and fail at every send).  The gateway and `hark milestone set`
 * call it on a template given. */
int milestone_settings_template_check(const config_t *cfg, const char *name, char *field, size_t flen,
                      char *msg, size_t mlen);

/* milestone_settings_check_config - the [milestone] values the config table cannot check
 * (time, default_timezone, coupon): each error as "FILE:LINE: [milestone]
 * key: message" to report(msg, arg).  Returns the number of errors. */
int milestone_settings_check_config(const config_t *cfg, void (*report)(const char *msg, void *arg), void *arg);

/* --- coupons (milestone_coupon.c) ---------------------------------------- */

/* milestone_coupon_prefix - the prefix [milestone] coupon gives ("GIFT" for on),
 * or NULL when coupons are off */
const char *milestone_coupon_prefix(const config_t *cfg);

/* milestone_coupon_make - "<PREFIX>-<token>": an HMAC under key (purpose
 * "coupon") of kind, year and customer id, so whoever holds the key can
 * tell offline that the code is genuine, whose it is and for which year.
 * Caller frees; NULL on error. */
char *milestone_coupon_make(const char *key, const char *prefix, int kind, int year, const char *cid);

/* milestone_coupon_verify - 0 when code is genuine (kind, year and the customer
 * id, malloc'd for the caller, filled); -1 otherwise */
int milestone_coupon_verify(const char *key, const char *code, int *kind, int *year, char **cid);

/* --- milestone.db (milestone_store.c) ------------------------------------ */

extern const char *const milestone_store_migrations[];

/* milestone_store_customer - a customer object (from `customer`, or a purchase's
 * `customer`): contacts plus birthday and signup_date; 0/-1 */
int milestone_store_customer(sqlite3 *db, const json_t *c);

/* milestone_store_purchase - a purchase at ms by customer cid: the first purchase
 * (the anniversaries' start by default) is the earliest one; 0/-1 */
int milestone_store_purchase(sqlite3 *db, const char *cid, int64_t ms, const char *default_tz);

/* milestone_store_settings - kind's effective settings (the row a milestone.saved
 * left, else the defaults); 0/-1 */
int milestone_store_settings(sqlite3 *db, const config_t *cfg, int kind, milestone_settings_t *out);

/* milestone_store_save - apply a milestone.saved payload: 0 applied, 1 not applied
 * (err says why), -1 on a database error */
int milestone_store_save(sqlite3 *db, const config_t *cfg, const json_t *p, char *err, size_t len);

#endif
