/*
 * journal_sync.h - group commit for the sqlite engine: the WAL fsynced by a
 * thread of its own, while the loop commits the next round.
 *
 * Why: with synchronous=full every COMMIT wrote its frames into the WAL and
 * then waited for their fsync on the loop thread, so round N+1 could not
 * begin (nor its requests be read) before round N was on disk: the rounds
 * were serialized behind one fsync each.  Here a round commits with
 * synchronous=normal (its frames are written into the WAL, not fsynced),
 * its replies are held, and the thread fdatasyncs the WAL.  Every round
 * that had committed when an fdatasync began is durable when it returns;
 * only then are its replies sent and the head moved.  Meanwhile the loop
 * reads, checks, seals and commits the next round.
 *
 * Nothing acknowledged can be lost: an acknowledged round's frames were
 * written before an fdatasync of the WAL began and that fdatasync returned,
 * which is what synchronous=full's own fsync at COMMIT gives.  Frames of
 * later rounds that a crash cuts short are dropped by SQLite's WAL recovery,
 * which keeps the frames up to the last commit whose checksums hold, so a
 * power loss loses at most rounds no one was told about; a kill -9 loses
 * nothing written (it is in the OS's page cache).  A checkpoint never makes
 * an unsynced frame matter: SQLite fsyncs the WAL before it copies frames
 * into the db file, with synchronous=normal as with full (walCheckpoint).
 *
 * The connection is at synchronous=normal only inside a round
 * (journal_sync_round_begin .. _end): every other write of the journal
 * (sweeps, erasures, hark.restored) commits at full, as before.  When the
 * WAL file cannot be opened, or [journal] synchronous is not full, there is
 * no jsync and rounds commit as before.
 */
#ifndef HARK_JOURNAL_SYNC_H
#define HARK_JOURNAL_SYNC_H

#include <sqlite3.h>
#include <stdint.h>

typedef struct jsync journal_sync_t;

/* journal_sync_new - group commit over db (an open WAL database at
 * synchronous=full, which stays the caller's and must outlive the jsync);
 * NULL when it cannot be had (logged): rounds then commit at full. */
journal_sync_t *journal_sync_new(sqlite3 *db);
/* journal_sync_destroy - stop and join the thread; safe on NULL and twice.
 * Call journal_sync_wait first: what is not durable is not reported. */
void journal_sync_destroy(journal_sync_t **self_p);

/* journal_sync_fd - readable when journal_sync_durable has moved */
int journal_sync_fd(const journal_sync_t *s);

/* journal_sync_round_begin / _end - around one round's BEGIN .. COMMIT (or
 * ROLLBACK): the connection at synchronous=normal, then back at full.  0/-1 */
int journal_sync_round_begin(journal_sync_t *s);
void journal_sync_round_end(journal_sync_t *s);

/* journal_sync_committed - a round's COMMIT returned: its ticket (1, 2,
 * ...), durable once journal_sync_durable reaches it */
uint64_t journal_sync_committed(journal_sync_t *s);

/* journal_sync_durable - the newest ticket known durable (after reading
 * journal_sync_fd's wake-up) */
uint64_t journal_sync_durable(journal_sync_t *s);

/* journal_sync_wait - fdatasync the WAL on this thread: every round
 * committed so far is durable.  The newest ticket. */
uint64_t journal_sync_wait(journal_sync_t *s);

#endif
