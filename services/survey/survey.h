/*
 * survey.h - what the parts of hark-survey share: its state (survey.c),
 * the event handlers (survey_apply.c), the sender (survey_send.c), the
 * control commands (survey_control.c), survey.db's schema and small writes
 * (survey_store.c) and the NPS report (survey_report.c).
 */
#ifndef HARK_SURVEY_H
#define HARK_SURVEY_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "campaign.h"
#include "reply_memo.h"
#include "service.h"
#include "tz.h"

extern const char *const survey_store_migrations[];
/* survey_store_privacy - what customer.erased and privacy.retention blank */
extern const struct privacy_sql survey_store_privacy;

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


/* survey_store_score_add - add delta to the answers of score on at_ms's UTC
 * day, campaign and locale (score_stats: the dashboard's distribution) */
int survey_store_score_add(sqlite3 *db, int64_t at_ms, const char *campaign, const char *locale,
                           int score, int delta);
/* survey_store_scores_fix - move the answers migration 3 counted without a
 * locale to default_locale, where stats counts them; 0/-1 */
int survey_store_scores_fix(sqlite3 *db, const char *default_locale);

/* survey_dashboard - the SURVEY_DASHBOARD_OK body (survey_dashboard.c), or
 * NULL with err set; an invite without a locale is default_locale's */
json_t *survey_dashboard(sqlite3 *db, const json_t *req, const char *default_locale, char *err,
                         size_t errlen);

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

/* --- settings (survey_config.c) ------------------------------------------ */

/* hark-survey's settings, read once at start.  Strings point into the
 * config (it lives as long as the process) or into the struct. */
typedef struct {
    /* the post-purchase campaign's [survey] values, as text: a campaign's
     * own settings fall back to them (campaign_view) */
    campaign_defaults_t campaign;
    const char *default_tz;     /* for customers whose record has none */
    const char *throttle_text;  /* [survey] throttle as written */
    int64_t throttle;           /* ms: one invite per address in this long */
    const char *alert_to;       /* detractor alerts; "": none */
    const char *digest_to;      /* the weekly digest; "": none */
    int digest_wday, digest_hour; /* tm_wday; 0..23 in default_tz */
    const char *default_locale; /* [mailer] */
    char public_url[512];       /* [gateway] public_url without a trailing '/' */
    char staff_url[512];        /* Hark Console's address (staff_link_base), no '/' at the end */
} survey_config_t;

/* survey_config_load - fill out from cfg (already checked); out keeps
 * pointers into cfg */
void survey_config_load(const config_t *cfg, survey_config_t *out);

/* survey_campaign_sampled - 1 when order_id is in a sample of rate (0..1):
 * a hash of the order id, so the same order always decides the same */
int survey_campaign_sampled(const char *order_id, double rate);

/* survey_campaign_matches - 1 when products (array of SKUs; NULL or empty:
 * any) holds the SKU of one of the purchase payload's items */
int survey_campaign_matches(const json_t *products, const json_t *purchase);

/* survey_campaign_list - the SURVEY_CAMPAIGNS_OK body (all, or id only,
 * with its history when history is set); caller decrefs; NULL on a
 * database error */
json_t *survey_campaign_list(sqlite3 *db, const survey_config_t *set, const char *id,
                             int history);

/* survey_campaign_history_add - keep one applied campaign.saved (its
 * journal offset, time in ms); 0/-1 */
int survey_campaign_history_add(sqlite3 *db, int64_t offset, int64_t at_ms,
                                const json_t *payload);

/* survey_campaign_get - the settings of campaign id ([survey]'s when there
 * is no such row); 0/-1 */
int survey_campaign_get(sqlite3 *db, const survey_config_t *set, const char *id,
                        campaign_t *out, char *err, size_t len);

/* survey_campaign_runs - a relationship campaign's runs so far and the
 * scheduled time of the last one (-1 when none); 0/-1 */
int survey_campaign_runs(sqlite3 *db, const char *id, long *runs, int64_t *last_at);

/* survey_campaign_pick - the first enabled post-purchase campaign in id
 * order whose products the purchase payload matches: 1 (out filled), 0
 * none, -1 on error */
int survey_campaign_pick(sqlite3 *db, const survey_config_t *set, const json_t *purchase,
                         campaign_t *out, char *err, size_t len);

/* survey_campaign_save - apply a campaign.saved payload: 0 applied, 1 not
 * applied because its settings cannot work (err says why), -1 on a
 * database error */
int survey_campaign_save(sqlite3 *db, const survey_config_t *set, const json_t *payload,
                         char *err, size_t len);

/* --- relationship runs and the weekly digest (survey_run.c) ------------- */

/* What runs and digests need of hark-survey's settings. */
typedef struct {
    const survey_config_t *set;
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

/* survey_run_segment_count - how many customers a segment ({locales?,
 * attributes?, purchased_within?}) would select if a run started now, as
 * a run selects them (SURVEY_SEGMENT); 0, or -1 with a message in err */
int survey_run_segment_count(sqlite3 *db, const survey_config_t *set, const json_t *segment,
                             int64_t now, long *n, char *err, size_t len);

/* survey_run_digest_due - when the digest moment (digest_day, digest_hour) of
 * this week has passed, less than a day ago, and its week was not mailed:
 * queue nps_digest in the outbox with its row in digests (one
 * transaction).  Returns 1 queued, 0 nothing to do, -1 on error; *next_ms
 * gets the time of the next moment (nothing is due before it), or now when
 * env->sync could not catch up (try again). */
int survey_run_digest_due(sqlite3 *db, const survey_env_t *env, int64_t now, int64_t *next_ms);

/* --- the service (survey.c) and its handlers ----------------------------- */

#define SURVEY_SEND_BATCH 200

/* hark-survey's state, set up by survey.c's init */
typedef struct {
    survey_config_t set; /* read once at start */
    char token_key[128];
    survey_env_t env;        /* what runs and digests need (survey_run.c) */
    int64_t digest_check_at; /* no digest is due before this */
    int due_timer;           /* survey_send_due */
    reply_memo_t *dashboard; /* SURVEY_DASHBOARD's replies while survey.db is unchanged */
} survey_t;

/* Event handlers (survey_apply.c), see service_event_fn */
int survey_apply_customer(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int survey_apply_purchase(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int survey_apply_unsubscribed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                              consumer_t *c);
int survey_apply_unsuppressed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                              consumer_t *c);
int survey_apply_bounced(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int survey_apply_delivered(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int survey_apply_requested(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int survey_apply_answered(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int survey_apply_commented(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int survey_apply_campaign(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);

/* survey_send_due - the timer (arg: the service) that starts due runs,
 * mails the digest and sends due invites and reminders (survey_send.c) */
int survey_send_due(evloop_t *loop, void *arg);
/* survey_send_sync - survey_env_t's sync (arg: the service) */
int survey_send_sync(void *arg);

/* --- customers (survey_customers.c) -------------------------------------- */
/* survey_customers_index - move up to max noted customers into
 * customer_search (outside any transaction); the number moved, -1 error */
int survey_customers_index(sqlite3 *db, int max);
/* survey_customers_index_timer - the timer that keeps customer_search fresh */
int survey_customers_index_timer(evloop_t *loop, void *arg);
/* survey_customers_purchase - record purchase event ev of customer cid; 0/-1 */
int survey_customers_purchase(sqlite3 *db, const hark_event_t *ev, const char *cid, int64_t at);
json_t *survey_control_customers(service_t *svc, const json_t *req, service_err_t *err);
json_t *survey_control_customer(service_t *svc, const json_t *req, service_err_t *err);

/* Control commands (survey_control.c), see service_command_fn */
json_t *survey_control_report(service_t *svc, const json_t *req, service_err_t *err);
json_t *survey_control_responses(service_t *svc, const json_t *req, service_err_t *err);
json_t *survey_control_invite(service_t *svc, const json_t *req, service_err_t *err);
json_t *survey_control_campaigns(service_t *svc, const json_t *req, service_err_t *err);
json_t *survey_control_segment(service_t *svc, const json_t *req, service_err_t *err);
json_t *survey_control_dashboard(service_t *svc, const json_t *req, service_err_t *err);
/* survey_control_status - invite counts in SERVICE_STATUS */
void survey_control_status(service_t *svc, json_t *body);

#endif
