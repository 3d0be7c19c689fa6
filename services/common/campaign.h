/*
 * campaign.h - checking a campaign.saved payload (proto/events/
 * campaign.saved.json), for the two places that write one: the gateway's
 * admin API and `hark campaign set`.
 */
#ifndef HARK_CAMPAIGN_H
#define HARK_CAMPAIGN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "schema.h"
#include "tz.h"

/* campaign_schema - campaign.saved's schema, compiled (caller frees with
 * schema_destroy); NULL with a message in err */
schema_t *campaign_schema(char *err, size_t errlen);

/* campaign_check - NULL when c is a campaign.saved payload; else the error
 * code ("invalid_field"), with the offending field ("" for the whole;
 * "segment.purchased_within" for a nested one) and a message naming it */
const char *campaign_check(const schema_t *s, const json_t *c, char *field, size_t flen,
                           char *msg, size_t mlen);

/* campaign_every_parse - a relationship campaign's period: "10d" and "2w"
 * give *n days (*months 0), "3mo" gives *n = 3 with *months 1; 0/-1 */
int campaign_every_parse(const char *every, int *n, int *months);

/* campaign_start_parse - a campaign's start (RFC 3339) as epoch ms and
 * the UTC offset it was written in (minutes east; 0 for Z); 0/-1 */
int campaign_start_parse(const char *text, int64_t *ms, int *off_min);

/* campaign_run_at - the time of run k (0 = the first) of a campaign that
 * starts at start_ms (written at UTC offset off_min) and repeats every n
 * days (months 0) or n months of that offset's calendar */
int64_t campaign_run_at(int64_t start_ms, int off_min, int n, int months, long k);

/* campaign_next_run - of the runs start, start + every, ... (just start
 * when every is NULL or empty), *next: the first after both last_at (the
 * last run's time; -1 for none) and now, or -1; *due (when not NULL): the
 * latest one after last_at that is not after now (due to run), or -1.
 * Returns 1 when there is neither (a one-off campaign that ran), else 0. */
int campaign_next_run(int64_t start_ms, int off_min, const char *every, int64_t last_at,
                      int64_t now, int64_t *next, int64_t *due);

/* A post-purchase campaign's priority when it gives none: purchases try
 * campaigns in priority order (1 first), then in id order. */
#define CAMPAIGN_PRIORITY_DEFAULT 100
#define CAMPAIGN_PRIORITY_TEXT "100" /* the same, for SQL */

/* A campaign's settings, parsed. */
typedef struct {
    char id[65];
    int enabled;
    int relationship;    /* 0: post_purchase; 1: relationship (scheduled) */
    int64_t delay, expiry, reminder; /* ms */
    tz_window_t window;
    double sample_rate;  /* 0..1 */
    int priority;        /* post_purchase: tried in this order, 1 first */
    json_t *products;    /* SKUs, or NULL for every purchase; owned */
    /* relationship only */
    int64_t start, spread; /* ms: the first run; the period invites spread over */
    int start_off;         /* start's UTC offset (minutes): months step its calendar */
    char every[16];        /* "" (once), "2w", "3mo" (campaign_every_parse) */
    json_t *segment;       /* {locales?, attributes?, purchased_within?} or NULL; owned */
    int64_t purchased_within; /* ms, -1 when not filtered */
} campaign_t;

/* The [survey] values a campaign's own settings fall back to (the
 * post-purchase campaign's), as text: read once at start by hark-survey
 * (in its survey_config_t) and by `hark campaign set`.  They point into the
 * config. */
typedef struct {
    const char *delay, *window_hours, *window_days, *reminder, *expiry;
} campaign_defaults_t;

/* campaign_defaults_load - fill out from cfg (already checked) */
void campaign_defaults_load(const config_t *cfg, campaign_defaults_t *out);

/* campaign_view - the effective campaign (SURVEY_CAMPAIGNS_OK item
 * without counts) of a row: its settings JSON over def ([survey]'s).
 * Caller decrefs. */
json_t *campaign_view(const campaign_defaults_t *def, const char *id, int enabled,
                      const char *source, const char *settings);

/* campaign_parse - a view's settings into out (free with
 * campaign_free); 0, or -1 with a message in err */
int campaign_parse(const json_t *view, campaign_t *out, char *err, size_t len);
void campaign_free(campaign_t *c);

/* campaign_shadow - whether c (a view or a campaign.saved payload), an
 * enabled post-purchase campaign, can never invite anyone because an
 * enabled post-purchase campaign of views (SURVEY_CAMPAIGNS items; c's
 * own id in it is skipped) is tried before it and takes every purchase
 * c would: 1 with that campaign's id in by, else 0.  A marketer saving
 * such a campaign is told, not refused (the other one may be about to
 * change). */
int campaign_shadow(const json_t *views, const json_t *c, char *by, size_t len);

#endif
