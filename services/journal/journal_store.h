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

extern const char *const journal_migrations[];

typedef struct jstore jstore_t;

/* jstore_new - statements over an open journal.db; NULL on error.  The db
 * stays the caller's.  Free with jstore_destroy(). */
jstore_t *jstore_new(sqlite3 *db);
void jstore_destroy(jstore_t **self_p);

/* jstore_append - insert e inside the caller's transaction, recorded_at now
 * (also its occurred_at when it has none).  Sets e->offset and e->dup: a key
 * already stored is not stored again, e->offset is then the existing offset
 * and e->dup 1.  The strings stay the caller's (only read during the call).
 * 0/-1. */
int jstore_append(jstore_t *js, jscan_event_t *e, const char *now);

/* jstore_fetch - append the JOURNAL_FETCH_OK body for events after `after`
 * (at most limit, only types if n_types > 0) to out.  0/-1. */
int jstore_fetch(jstore_t *js, int64_t after, int limit, const char *const *types,
                 int n_types, buf_t *out);

/* jstore_head - the newest committed offset (0 when empty) */
int64_t jstore_head(jstore_t *js);
/* jstore_set_head - after a commit, the newest offset */
void jstore_set_head(jstore_t *js, int64_t head);
/* jstore_reload_head - read the head from the file (after a rollback) */
void jstore_reload_head(jstore_t *js);

#endif
