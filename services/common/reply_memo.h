/*
 * reply_memo.h - the replies of a read-only command, kept per request
 * while the owner's SQLite file has not changed.
 *
 * A report over a million rows (SURVEY_DASHBOARD, INTAKE_REPORT,
 * LOOP_REPORT) costs the same each time it is asked, and a dashboard asks
 * it for every view of every marketer.  The memo keeps the last few
 * replies, each keyed by its request (JSON with sorted keys) and stamped
 * with the file's change counter: sqlite3_total_changes64() of the owner's
 * connection (every row it wrote, committed or not) and PRAGMA
 * data_version (a commit by any other connection).  A reply is given again
 * only while both are unchanged, so it is never stale; the first request
 * after an answer, a case or a loop is applied costs what it did.  Only a
 * command whose reply follows from the file and the request alone (not
 * the clock) may use it.  One thread: an owner's event loop.
 */
#ifndef HARK_REPLY_MEMO_H
#define HARK_REPLY_MEMO_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>

typedef struct reply_memo reply_memo_t;

/* reply_memo_new - a memo of at most cap replies (cap >= 1); NULL on no
 * memory.  Free with reply_memo_destroy(). */
reply_memo_t *reply_memo_new(size_t cap);

/* reply_memo_destroy - free; safe on NULL and twice; sets *self_p = NULL */
void reply_memo_destroy(reply_memo_t **self_p);

/* reply_memo_get - the reply kept for req while db is unchanged (a new
 * reference: the caller owns it), or NULL */
json_t *reply_memo_get(reply_memo_t *self, sqlite3 *db, const json_t *req);

/* reply_memo_put - keep reply (not stolen: the memo takes a reference of
 * its own) for req, stamped with db's counter now; the oldest goes when
 * the memo is full.  Call it right after building reply from db. */
void reply_memo_put(reply_memo_t *self, sqlite3 *db, const json_t *req, json_t *reply);

/* reply_memo_hits - replies given again since reply_memo_new (for tests
 * and SERVICE_STATUS) */
unsigned long long reply_memo_hits(const reply_memo_t *self);

#endif
