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
#include "survey_time.h"

extern const char *const survey_migrations[];

/* sstore_suppress - an address that gets no invites (unsubscribed,
 * bounced); 0/-1 */
int sstore_suppress(sqlite3 *db, const char *address, const char *reason);

/* sstore_stat_add - add delta to one counter of the aggregate row of the
 * UTC day of at_ms, campaign and locale.  column is one of sent delivered
 * throttled suppressed responses comments promoters passives detractors.
 * 0/-1. */
int sstore_stat_add(sqlite3 *db, int64_t at_ms, const char *campaign, const char *locale,
                    const char *column, int delta);


/* survey_nps - NPS (-100..100, one decimal) of the counts; 0 when n is 0 */
double survey_nps(long long promoters, long long detractors, long long responses);

/* survey_report - the SURVEY_REPORT_OK body for a SURVEY_REPORT request
 * {campaign?, from?, to?, by?} read from the aggregates only; NULL with a
 * message in err on a bad request.  Caller decrefs. */
json_t *survey_report(sqlite3 *db, const json_t *req, char *err, size_t errlen);

/* survey_responses - the SURVEY_RESPONSES_OK body: answered invites
 * {campaign?, from?, to? (UTC dates of the first answer), after?, limit?};
 * NULL with a message in err on a bad request.  Caller decrefs. */
json_t *survey_responses(sqlite3 *db, const json_t *req, char *err, size_t errlen);

/* --- campaigns (survey_campaign.c) --------------------------------------- */

/* A post-purchase campaign's settings, parsed. */
typedef struct {
    char id[65];
    int enabled;
    int64_t delay, expiry, reminder; /* ms */
    survey_window_t window;
    double sample_rate;  /* 0..1 */
    json_t *products;    /* SKUs, or NULL for every purchase; owned */
} survey_campaign_t;

/* survey_campaign_sampled - 1 when order_id is in a sample of rate (0..1):
 * a hash of the order id, so the same order always decides the same */
int survey_campaign_sampled(const char *order_id, double rate);

/* survey_campaign_matches - 1 when products (array of SKUs; NULL or empty:
 * any) holds the SKU of one of the purchase payload's items */
int survey_campaign_matches(const json_t *products, const json_t *purchase);

/* survey_campaign_view - the effective campaign (SURVEY_CAMPAIGNS_OK item
 * without counts) of a row: its settings JSON over [survey].  Caller decrefs. */
json_t *survey_campaign_view(const config_t *cfg, const char *id, int enabled,
                             const char *source, const char *settings);

/* survey_campaign_parse - a view's settings into out (free with
 * survey_campaign_free); 0, or -1 with a message in err */
int survey_campaign_parse(const json_t *view, survey_campaign_t *out, char *err, size_t len);
void survey_campaign_free(survey_campaign_t *c);

/* survey_campaigns_list - the SURVEY_CAMPAIGNS_OK body (all, or id only);
 * caller decrefs; NULL on a database error */
json_t *survey_campaigns_list(sqlite3 *db, const config_t *cfg, const char *id);

/* survey_campaign_get - the settings of campaign id ([survey]'s when there
 * is no such row); 0/-1 */
int survey_campaign_get(sqlite3 *db, const config_t *cfg, const char *id,
                        survey_campaign_t *out, char *err, size_t len);

/* survey_campaign_pick - the first enabled post-purchase campaign in id
 * order whose products the purchase payload matches: 1 (out filled), 0
 * none, -1 on error */
int survey_campaign_pick(sqlite3 *db, const config_t *cfg, const json_t *purchase,
                         survey_campaign_t *out, char *err, size_t len);

/* survey_campaign_save - apply a campaign.saved payload: 0 applied, 1 not
 * applied because its settings cannot work (err says why), -1 on a
 * database error */
int survey_campaign_save(sqlite3 *db, const config_t *cfg, const json_t *payload, char *err,
                         size_t len);

#endif
