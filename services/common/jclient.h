/*
 * jclient.h - calls to the journal: append a batch, fetch after an offset.
 *
 * Thin wrappers over wire_client_call that build and check the bodies of
 * JOURNAL_APPEND and JOURNAL_FETCH (proto/commands.json), and the two
 * halves of a batched JOURNAL_APPEND for a caller that sends it itself
 * (the gateway, coalescing its clients' requests into one message on a
 * socket of its own): the body, and the reply split per batch.
 */
#ifndef HARK_JCLIENT_H
#define HARK_JCLIENT_H

#include <jansson.h>
#include <stdint.h>

#include "wire.h"

/* jclient_append - append events (a JSON array of {type, key, occurred_at?,
 * payload}; not stolen).  Returns the JOURNAL_APPEND_OK body ({"offsets",
 * "duplicates"}, caller decrefs) once the journal has committed, or NULL on
 * timeout or error; err (may be NULL, size >= 200) says which, and errno:
 * EBADMSG when the journal refused the request as it is (a permanent error:
 * the same events would be refused again), else ETIMEDOUT (no answer) or
 * EAGAIN (it could not store them now): worth a retry. */
json_t *jclient_append(wire_client_t *c, const json_t *events, int timeout_ms, char *err);

/* JCLIENT_MAX_BATCHES - the most batches the journal takes in one message
 * (proto/commands.json, and the journal's JOURNAL_MAX_BATCHES) */
#define JCLIENT_MAX_BATCHES 4096

/* jclient_batches_body - the body of one JOURNAL_APPEND carrying n batches,
 * {"batches":[{"events":events[0]}, ...]} (each an array of events, not
 * stolen; each batch is stored or refused on its own).  NULL when n is 0 or
 * out of memory.  The journal refuses the whole message when n is more than
 * JCLIENT_MAX_BATCHES, or when n > 1 and the batches hold more than
 * [journal] max_batch events in all: a caller coalescing requests stops
 * adding before that, and sends a request bigger than max_batch alone. */
json_t *jclient_batches_body(const json_t *const *events, size_t n);

/* jclient_result_t - what became of one batch */
typedef struct {
    json_t *ok;    /* stored: its {"offsets","duplicates"} (caller's reference), else NULL */
    int error;     /* 0 when stored, else as jclient_append's errno: EBADMSG refused
                      as it is (permanent), EAGAIN or ETIMEDOUT (worth a retry) */
    char err[200]; /* why, when error */
} jclient_result_t;

/* jclient_batches_split - the reply (cmd, body) to a request built by
 * jclient_batches_body from the same events[0..n) into res[0..n): a
 * JOURNAL_APPEND_OK's results one by one, an ERROR (the message refused
 * whole, or a failed commit) or a malformed reply for every batch.  Returns
 * how many batches were stored. */
size_t jclient_batches_split(const char *cmd, const json_t *reply, const json_t *const *events,
                             size_t n, jclient_result_t *res);
/* jclient_batches_split_n - the same, given each batch's number of events
 * (counts[0..n)) instead of the events */
size_t jclient_batches_split_n(const char *cmd, const json_t *reply, const size_t *counts,
                               size_t n, jclient_result_t *res);

/* jclient_batches_fail - no reply to use (none in time, or the send failed):
 * every batch gets error (ETIMEDOUT, EAGAIN) and the message why */
void jclient_batches_fail(jclient_result_t *res, size_t n, int error, const char *why);

/* jclient_results_clear - drop the references in res[0..n) */
void jclient_results_clear(jclient_result_t *res, size_t n);

/* jclient_fetch - events after offset `after`, at most limit, only `types`
 * (NULL-terminated, or NULL for all).  Returns the JOURNAL_FETCH_OK body
 * ({"events", "next", "head"}, caller decrefs) or NULL. */
json_t *jclient_fetch(wire_client_t *c, int64_t after, int limit,
                      const char *const *types, int timeout_ms);

#endif
