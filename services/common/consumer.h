/*
 * consumer.h - apply the journal to a service's own SQLite file, exactly once.
 *
 * The consumer fetches events after the service's cursor and, in ONE SQLite
 * transaction, applies each (the service's callback changes its tables and
 * writes what it emits into its outbox, outbox.h) and stores the new
 * cursor; after the COMMIT it flushes the outbox to the journal.  No
 * journal round trip happens with the transaction open.  A crash anywhere
 * leaves either nothing or everything committed:
 *   - before COMMIT: the service's changes, its outbox rows and the cursor
 *     roll back; the events are applied again.  Anything they emit gets the
 *     same deterministic key (service / source offset / suffix).
 *   - after COMMIT, before the flush: the outbox rows are there; the next
 *     flush (the first poll after a restart) sends them.  The journal
 *     stores a key once, so a resend adds nothing.
 * Each event runs inside a SAVEPOINT: an event the service cannot apply is
 * logged and skipped without undoing the rest of the batch.
 */
#ifndef HARK_CONSUMER_H
#define HARK_CONSUMER_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#include "evloop.h"
#include "wire.h"

typedef struct {
    int64_t offset;
    const char *type;
    const char *key;
    const char *occurred_at;
    const char *recorded_at;
    const json_t *payload; /* borrowed for the duration of apply */
    int erased;            /* its personal fields read "[erased]" (their key is gone) */
} hark_event_t;

typedef struct consumer consumer_t;
/* After a batch that held customer.erased or privacy.retention commits, the
 * consumer checkpoints the service's WAL and truncates it, so the pages
 * that held what the service blanked are overwritten (db_open sets
 * secure_delete) and no old copy stays in the WAL. */

/* apply callback: change the service's tables for ev (inside the open
 * transaction on db); emit with consumer_emit().  0, or -1 to skip ev. */
typedef int (*consumer_apply_fn)(void *arg, sqlite3 *db, const hark_event_t *ev,
                                 consumer_t *c);

/* consumer_new - a consumer named name (its cursor row) over db.  types is a
 * NULL-terminated list or NULL for every type.  journal_endpoint and
 * pub_endpoint come from [journal].  NULL on error; free with
 * consumer_destroy(). */
consumer_t *consumer_new(void *zctx, const char *name, sqlite3 *db,
                         const char *journal_endpoint, const char *pub_endpoint,
                         const char *const *types, int batch, consumer_apply_fn apply,
                         void *arg);
void consumer_destroy(consumer_t **self_p);

/* consumer_journal - the consumer's client to the journal (borrowed; NULL
 * for NULL), for appends on the same thread between polls */
wire_client_t *consumer_journal(consumer_t *c);

/* consumer_attach - poll on journal hints and every poll_ms */
int consumer_attach(consumer_t *c, evloop_t *loop, int poll_ms);

/* consumer_poll - flush the outbox, fetch and apply one batch now, then
 * flush what it emitted.  Returns the number of events applied (0: none),
 * or -1 when the journal could not be reached or the transaction failed
 * (nothing was applied; try again later). */
int consumer_poll(consumer_t *c);

/* consumer_caught_up - fetch and apply one batch now, like consumer_poll:
 * 1 when that reached the end of the journal (everything recorded before
 * the call is applied), 0 when more is left, -1 when the journal could not
 * be reached.  For timers that must not act on state the journal already
 * changed (hark-intake's breach alerts, hark-survey's runs). */
int consumer_caught_up(consumer_t *c);

/* consumer_event_ms - when the journal recorded ev (the journal's clock,
 * so a replay decides the same); now when the event carries no valid
 * recorded_at */
int64_t consumer_event_ms(const hark_event_t *ev);

/* consumer_emit - during apply: write an event into the outbox, in the
 * open transaction, with key "<consumer name>/<source offset>/<suffix>";
 * it reaches the journal after the commit.  payload is stolen.  0/-1. */
int consumer_emit(consumer_t *c, const hark_event_t *source, const char *type,
                  const char *suffix, json_t *payload);

/* consumer_cursor - the last applied offset */
int64_t consumer_cursor(const consumer_t *c);

#endif
