/*
 * journal_store.h - the events table of journal.db.
 *
 * Only hark-journal includes this: it is the single writer of journal.db.
 */
#ifndef HARK_JOURNAL_STORE_H
#define HARK_JOURNAL_STORE_H

#include <sqlite3.h>
#include <stdint.h>

#include "buf.h"
#include "journal_scan.h"

extern const char *const journal_store_migrations[];

typedef struct jstore journal_store_t;

/* journal_store_new - statements over an open journal.db; NULL on error.  The db
 * stays the caller's.  Free with journal_store_destroy(). */
journal_store_t *journal_store_new(sqlite3 *db);
void journal_store_destroy(journal_store_t **self_p);

/* journal_store_append - insert e inside the caller's transaction, recorded_at now
 * (also its occurred_at when it has none).  Sets e->offset and e->dup: a key
 * already stored is not stored again, e->offset is then the existing offset
 * and e->dup 1.  The strings stay the caller's (only read during the call).
 * sealed and names (NULL when nothing was sealed): journal_crypt.h.  0/-1. */
int journal_store_append(journal_store_t *js, journal_scan_event_t *e, const char *now,
                         const buf_t *sealed, const char *names);

/* journal_store_set_crypt - open sealed personal fields on fetch with crypt
 * (borrowed; NULL: never) */
struct jcrypt;
void journal_store_set_crypt(journal_store_t *js, struct jcrypt *crypt);

/* journal_store_fetch - append the JOURNAL_FETCH_OK body for events after `after`
 * (at most limit, only types if n_types > 0) to out.  0/-1. */
int journal_store_fetch(journal_store_t *js, int64_t after, int limit, const char *const *types,
                 int n_types, buf_t *out);

/* journal_store_head - the newest committed offset (0 when empty) */
int64_t journal_store_head(journal_store_t *js);
/* journal_store_set_head - after a commit, the newest offset */
void journal_store_set_head(journal_store_t *js, int64_t head);
/* journal_store_reload_head - read the head from the file (after a rollback) */
void journal_store_reload_head(journal_store_t *js);

#endif
