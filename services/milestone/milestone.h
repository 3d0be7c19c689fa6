/*
 * milestone.h - what the parts of hark-milestone share: its state
 * (milestone.c), the event handlers (milestone_apply.c), the tick
 * (milestone_tick.c), the control commands (milestone_control.c), the date
 * math (milestone_date.c) and milestone.db (milestone_store.c).  The marketer's
 * settings and the coupon codes are in common/ (milestone_settings.h,
 * milestone_coupon.h), so the admin API, the CLI and the service check the
 * same way.
 */
#ifndef HARK_MILESTONE_H
#define HARK_MILESTONE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "milestone_coupon.h"
#include "milestone_settings.h"
#include "service.h"
#include "schema.h"

/* --- dates (milestone_date.c) -------------------------------------------- */

/* milestone_date_leap - 1 for a Gregorian leap year */
int milestone_date_leap(int y);

/* milestone_date_parse - "YYYY-MM-DD" (a real date); 0/-1 */
int milestone_date_parse(const char *s, int *y, int *m, int *d);

/* milestone_date_parse_birthday - "YYYY-MM-DD" or "--MM-DD" into month and day (29
 * February is a birthday with or without a year); 0/-1 */
int milestone_date_parse_birthday(const char *s, int *m, int *d);

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
 * TZ (tz.c): single-threaded processes only. */
int64_t milestone_date_send_instant(int y, int m, int d, int minutes, const char *tz);

/* --- settings (milestone_config.c) --------------------------------------- */

/* milestone_config_load - fill out from cfg (already checked by the config
 * table); milestone_config_t is in milestone_settings.h, beside the
 * defaults it feeds */
void milestone_config_load(const config_t *cfg, milestone_config_t *out);

/* --- milestone.db (milestone_store.c) ------------------------------------ */

extern const char *const milestone_store_migrations[];
/* milestone_store_privacy - what customer.erased and privacy.retention blank */
extern const struct privacy_sql milestone_store_privacy;

/* milestone_store_customer - a customer object (from `customer`, or a purchase's
 * `customer`): contacts plus birthday and signup_date; 0/-1 */
int milestone_store_customer(sqlite3 *db, const json_t *c);

/* milestone_store_purchase - a purchase at ms by customer cid: the first purchase
 * (the anniversaries' start by default) is the earliest one; 0/-1 */
int milestone_store_purchase(sqlite3 *db, const char *cid, int64_t ms, const char *default_tz);

/* milestone_store_settings - kind's effective settings (the row a milestone.saved
 * left, else the defaults); 0/-1 */
int milestone_store_settings(sqlite3 *db, const milestone_config_t *mc, int kind,
                             milestone_settings_t *out);

/* milestone_store_save - apply a milestone.saved payload: 0 applied, 1 not applied
 * (err says why), -1 on a database error */
int milestone_store_save(sqlite3 *db, const milestone_config_t *mc, const json_t *p, char *err,
                         size_t len);

/* --- the service (milestone.c) and its parts ----------------------------- */

#define MILESTONE_DAY_MS 86400000LL
#define MILESTONE_CACHE_SLOTS 4096

/* A send instant once computed: (zone, local date, minutes) -> epoch ms.
 * Zone rules do not change while we run, so an entry stays right.  done[k]
 * is gen + 1 once that zone's customers of kind k were all decided at
 * generation gen: until an event changes customers or settings (a new
 * generation), later ticks need not read them again. */
typedef struct {
    char tz[65];
    int none; /* customers without a zone */
    int64_t day;
    int minutes;
    int64_t at;
    uint64_t done[MILESTONE_KINDS];
} milestone_slot_t;

/* One decision a tick has made about a customer's year. */
typedef struct {
    int kind, year, years;
    /* name: customer.json allows 200 characters, up to 4 bytes each in
     * UTF-8 (a shorter buffer cut names, mid-character at times) */
    char cid[129], email[320], name[801], locale[64];
    const char *status;        /* sent, suppressed, no_address, missed */
} milestone_due_t;

typedef struct {
    milestone_config_t mc; /* read once at start */
    char token_key[128];
    int timer;
    int64_t tick_at;           /* the clock at the start of the last finished tick */
    /* the decisions of the current tick, made a batch per loop turn */
    milestone_due_t *due;
    size_t n_due, i_due, cap_due, sent;
    milestone_settings_t set[MILESTONE_KINDS];
    int64_t scan_at, next_wait;
    int64_t busy_ms, ticks;    /* time spent finding and requesting, for the benchmark */
    milestone_slot_t *cache;   /* MILESTONE_CACHE_SLOTS entries */
    uint64_t gen;              /* bumped by every event that may change who is due */
} milestone_t;

/* Event handlers (milestone_apply.c), see service_event_fn */
int milestone_apply_customer(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                             consumer_t *c);
int milestone_apply_purchase(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                             consumer_t *c);
int milestone_apply_unsubscribed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                                 consumer_t *c);
int milestone_apply_unsuppressed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                                 consumer_t *c);
int milestone_apply_bounced(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                            consumer_t *c);
int milestone_apply_saved(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);

/* milestone_tick - the timer (arg: the service): find what is due, then
 * request it a batch per turn (milestone_tick.c) */
int milestone_tick(evloop_t *loop, void *arg);
/* milestone_tick_slot - the cache entry of local date `day` (days since
 * the epoch) at `minutes` in zone tz (NULL: none; the default zone when tz
 * is not one), its send instant computed on first use */
milestone_slot_t *milestone_tick_slot(milestone_t *m, const char *tz, int64_t day, int minutes);

/* Control commands (milestone_control.c), see service_command_fn */
json_t *milestone_control_settings(service_t *svc, const json_t *req, service_err_t *err);
json_t *milestone_control_schedule(service_t *svc, const json_t *req, service_err_t *err);
json_t *milestone_control_customer(service_t *svc, const json_t *req, service_err_t *err);
json_t *milestone_control_customers(service_t *svc, const json_t *req, service_err_t *err);
/* milestone_control_status - decisions by status and the last tick */
void milestone_control_status(service_t *svc, json_t *body);

#endif
