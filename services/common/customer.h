/*
 * customer.h - one customer as every owner of a part of them sees it: the
 * timeline items each owner answers its *_CUSTOMER command with, and the
 * gathering of them all for the console's customer page, `hark customers
 * show|export` and GET /v1/customers/ID/export.
 *
 * Nobody holds a customer whole: hark-survey has the profile, purchases,
 * invites and answers; hark-milestone its sends; hark-intake the cases and
 * their history; hark-loop the loop emails; hark-mailer every mail, bounce
 * and suppression.  Each answers with items {at, kind, ...}; gathering asks
 * each in turn within one time budget and names those that did not answer,
 * so a page shows what it has and says what it lacks.
 */
#ifndef HARK_CUSTOMER_H
#define HARK_CUSTOMER_H

#include <jansson.h>
#include <stdint.h>

#define CUSTOMER_OWNERS 5

/* the owners asked, in order: survey milestone intake loop mailer */
extern const char *const customer_owners[CUSTOMER_OWNERS];

/* customer_item - a new timeline item {at, kind}; the caller adds the rest
 * (customer_item_str skips NULL values) */
json_t *customer_item(int64_t at_ms, const char *kind);
void customer_item_str(json_t *item, const char *key, const char *value);

/* customer_items_sort - items newest first (at is RFC 3339 UTC as
 * clock_format writes it, so the text order is the time order) */
void customer_items_sort(json_t *items);

/* customer_call_fn - ask owner cmd with body (borrowed) within timeout_ms:
 * the reply (caller decrefs) with its command in reply_cmd (size 48), or
 * NULL when it did not answer */
typedef json_t *(*customer_call_fn)(void *arg, const char *owner, const char *cmd,
                                    const json_t *body, int timeout_ms, char *reply_cmd);

/* customer_gather - everything the owners hold of customer id, asked
 * through call within timeout_ms in all:
 *   {customer_id, profile (hark-survey's, absent when unknown), address,
 *    suppressed, reason, milestones, items (newest first, each with its
 *    owner), owners (those that answered), missing (those that did not)}
 * known is set when any owner knew the customer.  A new object. */
json_t *customer_gather(const char *id, customer_call_fn call, void *arg, int timeout_ms,
                        int *known);

#endif
