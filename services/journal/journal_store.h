/*
 * journal_store.h - where hark-journal keeps its events: one interface, two
 * engines ([journal] engine).
 *
 *   sqlite     the events table of journal.db (journal_store.c), the default
 *   jetstream  a NATS JetStream stream (journal_store_jetstream.c)
 *
 * A round is begin, appends, commit (or rollback).  The sqlite engine stores
 * each append at once inside the transaction; the jetstream engine only
 * queues it, and publishes the round at commit, so an appended event's
 * offset and dup are known after append (sqlite) or after flush/commit
 * (jetstream): journal_store_deferred() says which.  Sealed personal fields
 * are the caller's business (journal_crypt.h): the store keeps the sealed
 * bytes it is given and opens them on fetch with the crypt it is handed.
 *
 * Only hark-journal includes this: it is the single writer of the store.
 */
#ifndef HARK_JOURNAL_STORE_H
#define HARK_JOURNAL_STORE_H

#include <sqlite3.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "evloop.h"
#include "journal_scan.h"

extern const char *const journal_store_migrations[];

typedef struct jstore journal_store_t;
struct jcrypt;

/* One engine: what each journal_store_* call below does, on its own state. */
typedef struct {
    const char *name;
    int (*begin)(void *self);
    int (*append)(void *self, journal_scan_event_t *e, const char *now, const buf_t *sealed,
                  const char *names);
    int (*flush)(void *self);
    int (*commit)(void *self);
    void (*rollback)(void *self);
    int (*fetch)(void *self, int64_t after, int limit, const char *const *types, int n_types,
                 buf_t *out);
    int (*has_key)(void *self, const char *key, size_t key_len);
    int64_t (*last)(void *self); /* the newest stored offset, from the store itself */
    int (*attach)(void *self, evloop_t *loop); /* NULL: the engine has no socket of its own */
    void (*destroy)(void *self);
    int deferred;                /* appends are stored at flush/commit, not at once */
} journal_store_ops_t;

/* journal_store_new - the sqlite engine over an open journal.db; NULL on
 * error.  The db stays the caller's.  Free with journal_store_destroy(). */
journal_store_t *journal_store_new(sqlite3 *db);
/* journal_store_open - the engine [journal] engine names: sqlite over db, or
 * jetstream (journal_store_jetstream.c); NULL on error (logged) */
journal_store_t *journal_store_open(const config_t *cfg, sqlite3 *db);
/* journal_store_jetstream_new - the jetstream engine: connect to [journal]
 * nats_urls and make or check [journal] stream; NULL on error (logged) */
journal_store_t *journal_store_jetstream_new(const config_t *cfg);
/* journal_store_wrap - a store over an engine's state self (taken: freed by
 * ops->destroy); NULL (self destroyed) when out of memory */
journal_store_t *journal_store_wrap(const journal_store_ops_t *ops, void *self);
void journal_store_destroy(journal_store_t **self_p);
/* journal_store_engine - "sqlite" or "jetstream" */
const char *journal_store_engine(const journal_store_t *js);
/* journal_store_deferred - 1 when offsets and dup are known only after
 * journal_store_flush or commit */
int journal_store_deferred(const journal_store_t *js);

/* journal_store_attach - let the engine watch its sockets in the journal's
 * poll loop between rounds (jetstream: libnats' socket); a no-op for
 * sqlite.  0/-1 */
int journal_store_attach(journal_store_t *js, evloop_t *loop);

/* journal_store_begin / commit / rollback - one round.  commit is the
 * moment the events are durable; rollback forgets what was not yet stored
 * (a jetstream round that failed in its commit may have stored part of it:
 * hark-journal(8), All or nothing).  0/-1 */
int journal_store_begin(journal_store_t *js);
int journal_store_commit(journal_store_t *js);
void journal_store_rollback(journal_store_t *js);

/* journal_store_append - add e to the round, recorded_at now (also its
 * occurred_at when it has none).  Sets e->offset and e->dup, at once or at
 * flush/commit (journal_store_deferred): a key already stored is not stored
 * again, e->offset is then the existing offset and e->dup 1.  A deferred
 * engine keeps e to fill in: e must outlive the flush or commit; its strings
 * and sealed are copied.  sealed and names (NULL when nothing was sealed):
 * journal_crypt.h.  0/-1. */
int journal_store_append(journal_store_t *js, journal_scan_event_t *e, const char *now,
                         const buf_t *sealed, const char *names);
/* journal_store_flush - store what the round appended so far, offsets and
 * dup filled in (a no-op when not deferred).  0/-1 */
int journal_store_flush(journal_store_t *js);

/* journal_store_has_key - 1 when an event with key is stored, 0 when not, -1
 * on error */
int journal_store_has_key(journal_store_t *js, const char *key, size_t key_len);

/* journal_store_set_crypt - open sealed personal fields on fetch with crypt
 * (borrowed; NULL: never) */
void journal_store_set_crypt(journal_store_t *js, struct jcrypt *crypt);

/* journal_store_fetch - append the JOURNAL_FETCH_OK body for events after `after`
 * (at most limit, only types if n_types > 0) to out.  0/-1. */
int journal_store_fetch(journal_store_t *js, int64_t after, int limit, const char *const *types,
                 int n_types, buf_t *out);

/* journal_store_put_event - one event of a JOURNAL_FETCH_OK body into out (",{...}"
 * after the first): its sealed fields opened with js's crypt.  For the
 * engines' fetch.  0/-1 */
int journal_store_put_event(journal_store_t *js, buf_t *out, int first, int64_t offset,
                            const char *type, const char *key, const char *occurred_at,
                            const char *recorded_at, const char *payload,
                            const unsigned char *sealed, size_t sealed_len, const char *names);
/* journal_store_put_end - close a JOURNAL_FETCH_OK body: next and head.  n
 * events were put; scanned is the offset the engine looked up to (head
 * when it looked at everything), last the newest event put.  0/-1 */
int journal_store_put_end(journal_store_t *js, buf_t *out, int n, int limit, int64_t after,
                          int64_t scanned, int64_t last);
/* journal_store_crypt - the crypt the engines' fetch opens with */
struct jcrypt *journal_store_crypt(journal_store_t *js);

/* journal_store_head - the newest committed offset (0 when empty) */
int64_t journal_store_head(journal_store_t *js);
/* journal_store_set_head - after a commit, the newest offset */
void journal_store_set_head(journal_store_t *js, int64_t head);
/* journal_store_reload_head - read the head from the store (after a rollback) */
void journal_store_reload_head(journal_store_t *js);

#endif
