/*
 * intake.h - the reason taxonomy (config/reasons.conf), text tagging and
 * the business-hours clock, shared by hark-intake, the gateway (which
 * checks reason codes and shows the customer forms) and the hark CLI
 * (check-config, retag).  Also hark-intake's schema and its report.
 *
 * Single-threaded use for the clock (intake_hours_*): it switches TZ
 * through survey_time.c.  Loading and tagging are thread-safe once loaded:
 * a loaded taxonomy is read-only.
 */
#ifndef HARK_INTAKE_H
#define HARK_INTAKE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "tz.h"

#define INTAKE_TAG_MAX 35        /* characters of a label's language tag */
#define REASONS_CODE_MAX 64
#define REASONS_MAX_CODES 32      /* feedback.tagged's maxItems */
#define INTAKE_TEXT_MAX 10000    /* characters, as complaint.json */

/* One label.<tag> of a reason: any language, as templates/ has folders */
typedef struct {
    char tag[INTAKE_TAG_MAX + 1]; /* lower case, '-' between subtags: "pt-br" */
    char *text;
} intake_label_t;

typedef struct {
    char name[64];
    char email[256];
    char tz[80];
    tz_window_t hours; /* business hours: local [start, end) on days */
} reasons_team_t;

typedef struct {
    char code[REASONS_CODE_MAX + 1];
    intake_label_t *labels;      /* as given; none for a language falls back */
    size_t nlabels;              /* to en, then the code */
    int team;                    /* index into the teams */
    int voluntary;               /* 1 voluntary churn, 0 involuntary */
    int influenceable;
    int64_t target_ms;           /* first-response target, business time */
} reasons_reason_t;

typedef struct reasons reasons_t;

/* reasons_load - parse path (libinih); every error goes to report(msg,
 * arg) as "FILE:LINE: message" and is counted in *errors.  Returns the
 * taxonomy (even with errors, when one could be built; NULL when the file
 * cannot be read or out of memory).  Caller frees with reasons_destroy(). */
reasons_t *reasons_load(const char *path, void (*report)(const char *msg, void *arg), void *arg,
                        int *errors);
void reasons_destroy(reasons_t **self_p);

size_t reasons_count(const reasons_t *r);
const reasons_reason_t *reasons_get(const reasons_t *r, size_t i);
/* reasons_code_ok - 1 when code is a well-formed reason code,
 * ^[a-z][a-z0-9_]{0,63}$ (feedback.tagged's and loop.closed's pattern) */
int reasons_code_ok(const char *code);

/* reasons_find - index of code, or -1 */
int reasons_find(const reasons_t *r, const char *code);
/* reasons_other - index of `other` (always present in a loaded taxonomy) */
int reasons_other(const reasons_t *r);
const reasons_team_t *reasons_team(const reasons_t *r, int team);
size_t reasons_team_count(const reasons_t *r);
int reasons_team_find(const reasons_t *r, const char *name);
/* reasons_label - the label of reason i for locale ("pl-PL" takes pl) */
const char *reasons_label(const reasons_t *r, size_t i, const char *locale);
/* reasons_keywords - how many keywords the matcher holds */
size_t reasons_keywords(const reasons_t *r);

/* reasons_tag - the reasons text (UTF-8, len bytes) mentions: fills
 * idx[0..n) with reason indices in taxonomy order, without `other`;
 * returns n (0: nothing matched, so the caller files it under `other`),
 * or -1 when text is not valid UTF-8 / out of memory. */
int reasons_tag(const reasons_t *r, const char *text, size_t len, int *idx, int max);

/* reasons_check_config - load [intake] reasons and report its errors
 * (hark check-config); returns the number of errors */
int reasons_check_config(const config_t *cfg, void (*report)(const char *msg, void *arg),
                        void *arg);

/* intake_hours_add - the moment `business_ms` of team's business hours
 * after start (start itself may be outside them: the clock starts at the
 * next opening) */
int64_t intake_hours_add(const reasons_team_t *t, int64_t start, int64_t business_ms);
/* intake_hours_between - business time of team between a and b (0 when
 * b <= a) */
int64_t intake_hours_between(const reasons_team_t *t, int64_t a, int64_t b);

/* intake_hours_format - ms as local "YYYY-MM-DD HH:MM (zone)" in tz */
const char *intake_hours_format(int64_t ms, const char *tz, char *buf, size_t len);

/* intake_store_migrations - intake.db's schema */
extern const char *const intake_store_migrations[];

/* intake_store_report - the reasons report (INTAKE_REPORT) from intake.db;
 * NULL with err on a bad request */
json_t *intake_store_report(sqlite3 *db, const reasons_t *r, const json_t *req, char *err,
                      size_t errlen);

/* intake_store_cases - INTAKE_CASES: a list (filters) or one case with notes */
json_t *intake_store_cases(sqlite3 *db, const reasons_t *r, const json_t *req, int64_t now, char *err,
                     size_t errlen);

/* Customer tokens (/feedback, /cancel): purpose "customer", payload
 * "<customer id>\n<locale>".  customer_token_make returns a malloc'd token;
 * customer_token_check fills id (129 bytes) and locale (36 bytes), 0/-1. */
char *customer_token_make(const char *key, const char *customer_id, const char *locale);
int customer_token_check(const char *key, const char *token, char *id, char *locale);

#endif
