/*
 * outbox.h - events a service emits, kept in its own SQLite file until the
 * journal has them.
 *
 * Everything a service emits goes this one way: whether it decides in a
 * timer (the mailer's outcomes, the survey's invites) or while applying a
 * journal event (consumer_emit), it writes the event into its `outbox`
 * table in the same transaction as the state change that caused it, and
 * hands the outbox to the journal after the commit.  A crash in between
 * loses nothing: the rows stay and the next flush sends them; the journal
 * stores a key once, so a resend adds nothing.
 * The table (each service creates it in its migrations; the consumer
 * creates it when they do not):
 *   CREATE TABLE outbox(id INTEGER PRIMARY KEY, type TEXT NOT NULL,
 *                       key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL);
 */
#ifndef HARK_OUTBOX_H
#define HARK_OUTBOX_H

#include <jansson.h>
#include <sqlite3.h>

#include "wire.h"

/* outbox_add - queue one event (payload is not stolen); a key already
 * queued is kept as it is.  Call inside the caller's transaction.  0/-1 */
int outbox_add(sqlite3 *db, const char *type, const char *key, const json_t *payload);

/* outbox_flush - append what is queued to the journal through client, in
 * batches, deleting each batch once the journal acknowledged it.  On a
 * failure (logged) the rest stays for the next flush. */
void outbox_flush(sqlite3 *db, wire_client_t *journal);

#endif
