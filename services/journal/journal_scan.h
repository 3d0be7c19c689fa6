/*
 * journal_scan.h - a one-pass, strict reader of JOURNAL_APPEND bodies, of
 * both forms: {"events": [...]} and {"batches": [{"events": [...]}, ...]}.
 *
 * Why: building a jansson tree of every request and dumping each payload
 * back to text was over half of the journal's CPU per event.  The scanner
 * walks the body once, checks it against the same rules as jansson
 * (json_loadb with JSON_REJECT_DUPLICATES) plus the journal's own checks,
 * and hands back each event's type, key, occurred_at and the payload's own
 * JSON text, without allocating anything per event.
 *
 * It only ever says yes to a body that the jansson path would accept too,
 * and then with the same meaning: the payload text is verified JSON (UTF-8,
 * escapes, numbers jansson can hold, no duplicate member names) made compact
 * by dropping the whitespace between tokens.  Everything else - every bad
 * body, and the rare good ones it does not handle (escapes in member names
 * or in type/key/occurred_at, integers past 18 digits, reals near the
 * overflow limit, deep nesting, huge objects) - gets JSCAN_SLOW, and the
 * caller takes the jansson path, which decides and words any error.
 */
#ifndef HARK_JOURNAL_SCAN_H
#define HARK_JOURNAL_SCAN_H

#include <stddef.h>
#include <stdint.h>

enum { JSCAN_OK = 0, JSCAN_SLOW = 1, JSCAN_NOMEM = 2 };

/* one event of a request; the strings are spans (not NUL-terminated) into
 * the body passed to journal_scan_append, or wherever the caller points them */
typedef struct {
    const char *type, *key, *occurred_at, *payload; /* occurred_at NULL when absent */
    size_t type_len, key_len, occurred_at_len, payload_len;
    int64_t offset; /* the caller's: set when stored */
    int dup;        /* the caller's: 1 when the key was stored before */
    int spaced;     /* the scanner's: the payload had whitespace to drop */
} journal_scan_event_t;

/* journal_scan_list_t - a growing array of events, reused round after round.
 * Owns only the array (free with journal_scan_list_free); never the strings. */
typedef struct {
    journal_scan_event_t *ev;
    size_t n, cap;
} journal_scan_list_t;

/* journal_scan_list_push - room for one more event at the end; NULL when out of
 * memory.  The caller fills it and the list counts it. */
journal_scan_event_t *journal_scan_list_push(journal_scan_list_t *l);
void journal_scan_list_free(journal_scan_list_t *l);

/* journal_scan_append - read body[0..len) as a JOURNAL_APPEND body.  JSCAN_OK: its
 * events were appended to l, pointing into body, whose payloads may have
 * been compacted in place (body must stay alive and unchanged while the
 * events are used).  JSCAN_SLOW: not taken (bad, or not handled here); l and
 * body are as they were.  JSCAN_NOMEM: l could not grow; l and body are as
 * they were. */
int journal_scan_append(char *body, size_t len, journal_scan_list_t *l);

/* one batch of a {"batches": [...]} body, as the scanner left it */
typedef struct {
    int rc;           /* JSCAN_OK: taken, its events are l->ev[first .. first + n);
                         JSCAN_SLOW: not taken (n 0), for jansson to decide */
    size_t first, n;
    const char *text; /* the batch object's own text, text[0..len): valid JSON */
    size_t len;
} journal_scan_batch_t;

/* journal_scan_batches_t - the batches of one body (reused; owns only the array) */
typedef struct {
    journal_scan_batch_t *b;
    size_t n, cap;
} journal_scan_batches_t;

void journal_scan_batches_free(journal_scan_batches_t *bl);

/* journal_scan_batches - read body[0..len) as {"batches": [{"events": [...]},
 * ...]} with 1 to max_batches batches.  Each batch is judged on its own, as
 * journal_scan_append judges a body: JSCAN_OK when the envelope is good and
 * every batch is valid JSON: one record per batch appended to bl, the events
 * of the batches taken appended to l in batch order (payloads compacted in
 * place, as above); a batch not taken (bad, or not handled here) is left
 * whole for jansson, with its text.  JSCAN_SLOW: the body is not taken at all
 * (a bad envelope, a batch that is not valid JSON or not handled, more than
 * max_batches batches); JSCAN_NOMEM.  Unless JSCAN_OK, l, bl and body are as
 * they were. */
int journal_scan_batches(char *body, size_t len, size_t max_batches, journal_scan_list_t *l,
                         journal_scan_batches_t *bl);

#endif
