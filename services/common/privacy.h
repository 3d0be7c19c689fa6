/*
 * privacy.h - what a service does with customer.erased and
 * privacy.retention: blank or delete what it copied about the customer,
 * keeping its counts (hark-journal(8) PRIVACY).
 *
 * Each service lists SQL statements over its own tables, ?1 being the
 * customer id, run in order inside the event's savepoint: on
 * customer.erased the erase list, on privacy.retention the free_text or
 * contact list once per customer named.  Rows that only count (scores,
 * reason codes, case states) stay; personal columns become NULL, and rows
 * that are nothing but personal data (a customer's contact, their
 * addresses on the suppression list) are deleted.  The consumer then
 * checkpoints and truncates the WAL (consumer.h), and db_open's
 * secure_delete has zeroed what was deleted or overwritten.
 */
#ifndef HARK_PRIVACY_H
#define HARK_PRIVACY_H

#include <sqlite3.h>

#include "consumer.h"

typedef struct privacy_sql {
    const char *const *erase;     /* NULL-terminated lists of SQL */
    const char *const *free_text;
    const char *const *contact;
} privacy_sql_t;

/* privacy_apply - run sql's lists for ev (customer.erased or
 * privacy.retention; any other type does nothing).  0/-1 */
int privacy_apply(sqlite3 *db, const hark_event_t *ev, const privacy_sql_t *sql);

#endif
