/*
 * journal_ckpt.h - WAL checkpoints of journal.db in a thread of their own.
 *
 * Why: left to itself SQLite checkpoints inside COMMIT once the WAL passes
 * 1000 pages, so the journal's one loop thread copied pages into the db
 * file and fsynced it before it could reply (about a seventh of its time
 * under load).  Here the loop's connection never checkpoints; after a
 * commit that leaves the WAL past JCKPT_PAGES the loop only wakes a thread
 * that runs a PASSIVE checkpoint on a connection of its own, while the loop
 * goes on with replies and the next round.  It does so once per JCKPT_PAGES
 * of growth, not after every commit, so that small commits do not each pay
 * for a checkpoint's fsync of the db file.
 *
 * Durability does not depend on any of this: an event is acknowledged once
 * its COMMIT has put it in the WAL (fsynced with synchronous=full), and a
 * checkpoint only copies committed pages into the db file.  What needs care
 * is the WAL's size: it starts over from its beginning only when a write
 * transaction begins after a checkpoint has copied every frame, which a
 * busy loop may never leave room for.  So once the WAL passes JCKPT_MAX_PAGES
 * the loop waits, before its next BEGIN, for a checkpoint of everything.
 */
#ifndef HARK_JOURNAL_CKPT_H
#define HARK_JOURNAL_CKPT_H

#include <sqlite3.h>

#define JCKPT_PAGES 1000      /* WAL pages that start a checkpoint (SQLite's own default) */
#define JCKPT_MAX_PAGES 16384 /* WAL pages (64 MiB) past which the writer waits for one */

typedef struct jckpt journal_ckpt_t;

/* journal_ckpt_new - take over checkpoints of db (an open WAL database, which stays
 * the caller's and must outlive the jckpt).  When the thread or its
 * connection cannot be had, falls back to SQLite's automatic checkpoints
 * and still returns a jckpt.  NULL only when out of memory.  Free with
 * journal_ckpt_destroy(). */
journal_ckpt_t *journal_ckpt_new(sqlite3 *db);

/* journal_ckpt_new_every - the same with the thread woken every pages of WAL
 * growth and the writer waiting past max_pages (the keys file's are shorter:
 * an erasure truncates its WAL, journal_ckpt_truncate) */
journal_ckpt_t *journal_ckpt_new_every(sqlite3 *db, int pages, int max_pages);

/* journal_ckpt_destroy - stop and join the thread, close its connection; safe on
 * NULL and twice */
void journal_ckpt_destroy(journal_ckpt_t **self_p);

/* journal_ckpt_committed - call after each COMMIT: wakes the thread each time the
 * WAL has grown by another JCKPT_PAGES */
void journal_ckpt_committed(journal_ckpt_t *c);

/* journal_ckpt_before_begin - call before each BEGIN: when the WAL has grown past
 * JCKPT_MAX_PAGES, waits until a checkpoint has run to its end, so that the
 * transaction starts the WAL over */
void journal_ckpt_before_begin(journal_ckpt_t *c);

/* journal_ckpt_truncate - a TRUNCATE checkpoint on the caller's connection,
 * the thread held meanwhile (a PASSIVE under way is waited for, none starts):
 * every committed page is in the db file and the WAL is empty once it
 * returns 0.  -1 when it could not be had (another process's reader held on
 * past the busy timeout, say): the WAL may still hold old pages. */
int journal_ckpt_truncate(journal_ckpt_t *c);

#endif
