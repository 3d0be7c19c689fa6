/*
 * contacts.h - a service's own copy of how to reach each customer.
 *
 * Services that write to customers (mailer, survey, milestone, intake, loop) keep what they
 * need from `customer` events in their own SQLite file, in a table each
 * creates in its migrations:
 *   CREATE TABLE customers(id TEXT PRIMARY KEY, email TEXT, name TEXT,
 *                          locale TEXT, timezone TEXT);
 * and its own suppression list (addresses that get no marketing mail:
 * unsubscribed, hard-bounced), at least
 *   CREATE TABLE suppressions(address TEXT PRIMARY KEY, reason TEXT, ...);
 * (a service may add columns of its own).  Addresses are compared in lower
 * case.
 */
#ifndef HARK_CONTACTS_H
#define HARK_CONTACTS_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>

/* contacts_upsert - merge the fields a customer object gives (id required;
 * a field left out keeps what was there).  0/-1 */
int contacts_upsert(sqlite3 *db, const json_t *customer);

/* contacts_suppress - put address (NULL: nothing to do) on the suppression
 * list with reason (unsubscribed, bounced), keeping an earlier entry; 0/-1 */
int contacts_suppress(sqlite3 *db, const char *address, const char *reason);

/* contacts_unsuppress - take address (NULL: nothing to do) off the
 * suppression list, whatever put it there (customer.unsuppressed); 0/-1 */
int contacts_unsuppress(sqlite3 *db, const char *address);

/* contacts_suppressed - 1 when address is on the suppression list */
int contacts_suppressed(sqlite3 *db, const char *address);

/* contacts_lower - ASCII-lowercase copy of an address into out (size len,
 * cut to fit; NULL reads as ""); returns out */
const char *contacts_lower(const char *address, char *out, size_t len);

#endif
