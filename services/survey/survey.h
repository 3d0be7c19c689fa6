/*
 * survey.h - what the parts of hark-survey share: survey.db's schema and
 * small writes (survey_store.c) and the NPS report (survey_report.c).
 */
#ifndef HARK_SURVEY_H
#define HARK_SURVEY_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "tz.h"

extern const char *const survey_store_migrations[];

/* survey_store_throttled - 1 when another invite to email (lowercased) is
 * planned or sent within throttle of due (across campaigns), 0 when not
 * (or throttle is 0), -1 on error */
int survey_store_throttled(sqlite3 *db, const char *email, int64_t due, int64_t throttle);

/* survey_store_customer_extra - what the shared contacts copy leaves out and a
 * segment filters on: the attributes of a customer payload (replaced when
 * given) and, when purchase_ms >= 0, its last purchase time; 0/-1 */
int survey_store_customer_extra(sqlite3 *db, const json_t *customer, const char *cid,
                          int64_t purchase_ms);

/* survey_store_stat_add - add delta to one counter of the aggregate row of the
 * UTC day of at_ms, campaign and locale.  column is one of sent delivered
 * throttled suppressed responses comments promoters passives detractors.
 * 0/-1. */
int survey_store_stat_add(sqlite3 *db, int64_t at_ms, const char *campaign, const char *locale,
                    const char *column, int delta);


/* survey_report_nps - NPS (-100..100, one decimal) of the counts; 0 when n is 0 */
double survey_report_nps(long long promoters, long long detractors, long long responses);

/* survey_report - the SURVEY_REPORT_OK body for a SURVEY_REPORT request
 * {campaign?, from?, to?, by?} read from the aggregates only; NULL with a
 * message in err on a bad request.  Caller decrefs. */
json_t *survey_report(sqlite3 *db, const json_t *req, char *err, size_t errlen);

/* survey_report_responses - the SURVEY_RESPONSES_OK body: answered invites
 * {campaign?, from?, to? (UTC dates of the first answer), after?, limit?};
 * NULL with a message in err on a bad request.  Caller decrefs. */
json_t *survey_report_responses(sqlite3 *db, const json_t *req, char *err, size_t errlen);

/* --- campaigns (survey_campaign.c) --------------------------------------- */

/* A campaign's settings, parsed. */
typedef struct {
    char id[65];
    int enabled;
    int relationship;    /* 0: post_purchase; 1: relationship (scheduled) */
    int64_t delay, expiry, reminder; /* ms */
    tz_window_t window;
    double sample_rate;  /* 0..1 */
    json_t *products;    /* SKUs, or NULL for every purchase; owned */
    /* relationship only */
    int64_t start, spread; /* ms: the first run; the period invites spread over */
    int start_off;         /* start's UTC offset (minutes): months step its calendar */
    char every[16];        /* "" (once), "2w", "3mo" (campaign_every_parse) */
    json_t *segment;       /* {locales?, attributes?, purchased_within?} or NULL; owned */
    int64_t purchased_within; /* ms, -1 when not filtered */
} campaign_t;

/* survey_campaign_sampled - 1 when order_id is in a sample of rate (0..1):
 * a hash of the order id, so the same order always decides the same */
int survey_campaign_sampled(const char *order_id, double rate);

/* survey_campaign_matches - 1 when products (array of SKUs; NULL or empty:
 * any) holds the SKU of one of the purchase payload's items */
int survey_campaign_matches(const json_t *products, const json_t *purchase);

/* campaign_view - the effective campaign (SURVEY_CAMPAIGNS_OK item
 * without counts) of a row: its settings JSON over [survey].  Caller decrefs. */
json_t *campaign_view(const config_t *cfg, const char *id, int enabled,
                             const char *source, const char *settings);

/* campaign_parse - a view's settings into out (free with
 * campaign_free); 0, or -1 with a message in err */
int campaign_parse(const json_t *view, campaign_t *out, char *err, size_t len);
void campaign_free(campaign_t *c);

/* survey_campaign_list - the SURVEY_CAMPAIGNS_OK body (all, or id only);
 * caller decrefs; NULL on a database error */
json_t *survey_campaign_list(sqlite3 *db, const config_t *cfg, const char *id);

/* survey_campaign_get - the settings of campaign id ([survey]'s when there
 * is no such row); 0/-1 */
int survey_campaign_get(sqlite3 *db, const config_t *cfg, const char *id,
                        campaign_t *out, char *err, size_t len);

/* survey_campaign_runs - a relationship campaign's runs so far and the
 * scheduled time of the last one (-1 when none); 0/-1 */
int survey_campaign_runs(sqlite3 *db, const char *id, long *runs, int64_t *last_at);

/* survey_campaign_pick - the first enabled post-purchase campaign in id
 * order whose products the purchase payload matches: 1 (out filled), 0
 * none, -1 on error */
int survey_campaign_pick(sqlite3 *db, const config_t *cfg, const json_t *purchase,
                         campaign_t *out, char *err, size_t len);

/* survey_campaign_save - apply a campaign.saved payload: 0 applied, 1 not
 * applied because its settings cannot work (err says why), -1 on a
 * database error */
int survey_campaign_save(sqlite3 *db, const config_t *cfg, const json_t *payload, char *err,
                         size_t len);

/* --- relationship runs and the weekly digest (survey_run.c) ------------- */

/* What runs and digests need of hark-survey's settings. */
typedef struct {
    const config_t *cfg;
    int64_t throttle;
    const char *default_tz, *default_locale;
    const char *digest_to, *staff_url; /* digest_to NULL or "": no digest */
    int digest_wday, digest_hour;      /* tm_wday; 0..23 in default_tz */
    /* sync: apply every event journaled so far (0), or -1 when that could
     * not be done now; runs and digests wait for it, so they count every
     * customer and answer journaled before them.  NULL: nothing to wait for */
    int (*sync)(void *arg);
    void *sync_arg;
} survey_env_t;

/* survey_run_due - start every enabled relationship campaign's run whose
 * time has come (each in its own transaction, with its invites); returns
 * the number of runs done, -1 on error */
int survey_run_due(sqlite3 *db, const survey_env_t *env, int64_t now);

/* survey_run_digest_due - when the digest moment (digest_day, digest_hour) of
 * this week has passed, less than a day ago, and its week was not mailed:
 * queue nps_digest in the outbox with its row in digests (one
 * transaction).  Returns 1 queued, 0 nothing to do, -1 on error; *next_ms
 * gets the time of the next moment (nothing is due before it), or now when
 * env->sync could not catch up (try again). */
int survey_run_digest_due(sqlite3 *db, const survey_env_t *env, int64_t now, int64_t *next_ms);

#endif
