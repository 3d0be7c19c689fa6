/*
 * intake.h - what the parts of hark-intake share: its state (intake.c),
 * the cases' handlers (intake_case.c), the control commands
 * (intake_control.c), text tagging (intake_match.c), the business-hours
 * clock (intake_hours.c), intake.db's schema, its cases and its report
 * (intake_store.c).  The taxonomy itself
 * is common/reasons.h, the customers' tokens common/customer_token.h.
 *
 * Single-threaded use for the clock (intake_hours_*): local time comes
 * from tz.c.  A matcher is read-only once built.
 */
#ifndef HARK_INTAKE_H
#define HARK_INTAKE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "reasons.h"
#include "reply_memo.h"
#include "service.h"
#include "words.h"

#define INTAKE_TEXT_MAX 10000    /* characters, as complaint.json */

/* --- intake_match.c: tagging free text ---------------------------------- */

typedef struct intake_match intake_match_t;

/* intake_match_new - the matcher of every keyword of the taxonomy r (r may
 * be destroyed afterwards); NULL when out of memory.  Free with
 * intake_match_destroy().  Read-only once built. */
intake_match_t *intake_match_new(const reasons_t *r);
void intake_match_destroy(intake_match_t **self_p);

/* intake_match_keywords - how many keywords the matcher holds */
size_t intake_match_keywords(const intake_match_t *m);

/* intake_match_tag - the reasons text (UTF-8, len bytes) mentions: fills
 * idx[0..n) with reason indices in taxonomy order, without `other`;
 * returns n (0: nothing matched, so the caller files it under `other`),
 * or -1 when text is not valid UTF-8 / out of memory. */
int intake_match_tag(const intake_match_t *m, const char *text, size_t len, int *idx, int max);

/* --- intake_tagger.c: the reason tagger (a classifier over examples) ---- */

#include <stdio.h>

typedef struct intake_tagger intake_tagger_t;

/* What the tagger made of a text */
typedef struct {
    int idx[REASONS_MAX_CODES]; /* reasons, best first; idx[0] routes the case */
    int n;                      /* 0 only when praise */
    int praise;                 /* 1: praise, no reason, no case */
    int review;                 /* 1: not sure: idx[0] is `other`, staff decide */
    int keywords;               /* 1: a keyword of a listed reason is in the text */
    double confidence;          /* the probability of idx[0] (praise's when praise) */
    double praise_p;            /* the probability of praise */
} intake_tag_t;

/* intake_tagger_new - an empty tagger for taxonomy r with keyword matcher m
 * (both borrowed: they outlive it; m may be NULL) and the confidence
 * threshold in percent; NULL when out of memory.  Free with
 * intake_tagger_destroy(). */
intake_tagger_t *intake_tagger_new(const reasons_t *r, const intake_match_t *m,
                                   int threshold_percent);
void intake_tagger_destroy(intake_tagger_t **self_p);
/* intake_tagger_add - one labelled example (code: a reason of r or
 * "praise"); 0 added, 1 skipped (a code r does not have, bad UTF-8), -1 OOM */
int intake_tagger_add(intake_tagger_t *t, const char *locale, const char *code,
                      const char *text);
size_t intake_tagger_examples(const intake_tagger_t *t);
/* intake_tagger_train - learn from the examples added; 0, -1 OOM.  With
 * fewer than two classes there is no model and the keywords alone tag. */
int intake_tagger_train(intake_tagger_t *t);
int intake_tagger_trained(const intake_tagger_t *t);
/* intake_tagger_tag - tag text (UTF-8, len bytes); 0, or -1 on invalid
 * UTF-8 / OOM.  Read-only: any number of calls on a trained tagger. */
int intake_tagger_tag(const intake_tagger_t *t, const char *text, size_t len, intake_tag_t *out);
/* intake_tagger_evaluate - tag every example of the TSV at path (the
 * examples' format); per-locale accuracy and each miss to out (may be
 * NULL); the fraction right, or -1 when the file has errors (reported) */
double intake_tagger_evaluate(const intake_tagger_t *t, const char *path, FILE *out,
                              void (*report)(const char *msg, void *arg), void *arg);
/* intake_tagger_cross_validate - k-fold cross-validation on the examples
 * added (each fold trained on the others, then tagged as in service);
 * the fraction right.  Leaves the tagger untrained. */
double intake_tagger_cross_validate(intake_tagger_t *t, int k, FILE *out);

/* --- intake_hours.c: the business-hours clock --------------------------- */

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
/* intake_store_privacy - what customer.erased and privacy.retention blank */
extern const struct privacy_sql intake_store_privacy;

/* intake_store_response_fill - work out first_response_ms (the business
 * time of the case's team to its first reply) of case id, or of up to
 * limit cases replied to without it (id NULL); how many, or -1 */
int intake_store_response_fill(sqlite3 *db, const reasons_t *r, const char *id, int limit);
/* intake_response_timer - the cases replied to before schema version 8,
 * filled a batch at a time (arg: the service) */
int intake_response_timer(evloop_t *loop, void *arg);
/* intake_store_report - the reasons report (INTAKE_REPORT) from intake.db;
 * NULL with err on a bad request */
json_t *intake_store_report(sqlite3 *db, const reasons_t *r, const json_t *req, char *err,
                      size_t errlen);

/* intake_store_unreachable - why a reply to customer cid (NULL: none)
 * cannot be mailed: "no_customer", "no_email" (intake.db knows no address)
 * or "bounced" (the address hard-bounced); NULL when it can.  An
 * unsubscribe does not count: a reply to a complaint is not marketing. */
const char *intake_store_unreachable(sqlite3 *db, const char *cid);

/* intake_store_cases - INTAKE_CASES: a list (filters) or one case with notes */
json_t *intake_store_cases(sqlite3 *db, const reasons_t *r, const json_t *req, int64_t now,
                           char *err, size_t errlen);

/* INTAKE_CASE_COLS - the columns intake_store_case_row reads, in order */
#define INTAKE_CASE_COLS                                                                     \
    "id, kind, customer_id, codes, reason, team, via, status, opened_at, due_at,"            \
    " first_reply_at, loop_closed, resolved_at, text, locale, order_id, channel, score,"      \
    " breach_alerted, assignee, needs_review"

/* intake_store_case_row - a list's case from a row of INTAKE_CASE_COLS */
json_t *intake_store_case_row(sqlite3_stmt *st, int64_t now);

/* --- intake_list.c: INTAKE_CASES' lists ----------------------------------- */

/* intake_list_memo_t - the counts of the last few inbox asks, each kept
 * while intake.db is unchanged and no deadline has passed (intake_list.c) */
typedef struct intake_list_memo intake_list_memo_t;
void intake_list_memo_destroy(intake_list_memo_t **self_p);

/* intake_list_cases - the cases req asks for (filters, order, offset,
 * limit) and, in order "due", their total and counts per facet; NULL with
 * err on a bad request or a store error.  memo (NULL: none) keeps the
 * counts for the next ask, made on first use. */
json_t *intake_list_cases(sqlite3 *db, intake_list_memo_t **memo, const json_t *req, int64_t now,
                          char *err, size_t errlen);

/* intake_list_index - move up to max cases noted in case_search_todo into
 * the text search, in one transaction (not inside another: 0); how many,
 * or -1 on a store error */
int intake_list_index(sqlite3 *db, int max);

/* intake_list_index_timer - intake_list_index on a timer (arg: the service) */
int intake_list_index_timer(evloop_t *loop, void *arg);

/* --- the service (intake.c) and its parts -------------------------------- */

/* hark-intake's state, set up by intake.c's init.  Settings are read once
 * there: staff_url here, [intake] reasons into the taxonomy; handlers never
 * see the config. */
typedef struct {
    reasons_t *reasons;
    intake_match_t *match; /* the taxonomy's keywords */
    intake_tagger_t *tagger; /* trained at start (examples + staff retags) */
    words_t *words;        /* fixed texts of the staff mails (words.json "intake") */
    char staff_url[512];   /* Hark Console's address (staff_link_base); no trailing '/' */
    int due_timer;
    long long opened;
    intake_list_memo_t *inbox; /* the inbox's counts (intake_list.c) */
    reply_memo_t *report;      /* INTAKE_REPORT's replies while intake.db is unchanged */
} intake_t;

/* Event handlers (intake_case.c), see service_event_fn */
int intake_case_customer(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int intake_case_complaint(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int intake_case_feedback(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int intake_case_staff(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int intake_case_tagged(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int intake_case_loop_notified(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                              consumer_t *c);
int intake_case_bounced(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
/* intake_case_unsuppressed - customer.unsuppressed: replies to it again */
int intake_case_unsuppressed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                             consumer_t *c);
/* intake_reply_apply - case.customer_replied (intake_reply.c) */
int intake_reply_apply(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
/* intake_case_breaches - the timer (arg: the service) that alerts cases
 * past their deadline and flushes the outbox (intake_case.c) */
int intake_case_breaches(evloop_t *loop, void *arg);

/* Control commands (intake_control.c), see service_command_fn */
json_t *intake_control_cases(service_t *svc, const json_t *req, service_err_t *err);
json_t *intake_control_report(service_t *svc, const json_t *req, service_err_t *err);
json_t *intake_control_customer(service_t *svc, const json_t *req, service_err_t *err);
/* intake_control_status - case counts in SERVICE_STATUS */
void intake_control_status(service_t *svc, json_t *body);

#endif
