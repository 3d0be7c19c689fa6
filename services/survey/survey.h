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

extern const char *const survey_migrations[];

/* sstore_lower - ASCII-lowercase copy of an address into out; returns out */
const char *sstore_lower(const char *a, char *out, size_t len);

/* sstore_upsert_customer - keep the fields of a customer object we use
 * (email, name, locale, timezone); fields left out are kept.  0/-1. */
int sstore_upsert_customer(sqlite3 *db, const json_t *c);

/* sstore_suppress - an address that gets no invites (unsubscribed,
 * bounced); 0/-1 */
int sstore_suppress(sqlite3 *db, const char *address, const char *reason);

/* sstore_is_suppressed - 1 when the address is suppressed */
int sstore_is_suppressed(sqlite3 *db, const char *address);

/* sstore_stat_add - add delta to one counter of the aggregate row of the
 * UTC day of at_ms, campaign and locale.  column is one of sent delivered
 * throttled suppressed responses comments promoters passives detractors.
 * 0/-1. */
int sstore_stat_add(sqlite3 *db, int64_t at_ms, const char *campaign, const char *locale,
                    const char *column, int delta);

/* sstore_outbox_add - an event for the journal (payload not stolen), kept
 * until flushed; a key already waiting is not added twice.  0/-1. */
int sstore_outbox_add(sqlite3 *db, const char *type, const char *key, const json_t *payload);

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

#endif
