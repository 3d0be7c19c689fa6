/*
 * jclient.h - calls to the journal: append a batch, fetch after an offset.
 *
 * Thin wrappers over wire_client_call that build and check the bodies of
 * JOURNAL_APPEND and JOURNAL_FETCH (proto/commands.json).
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

/* jclient_fetch - events after offset `after`, at most limit, only `types`
 * (NULL-terminated, or NULL for all).  Returns the JOURNAL_FETCH_OK body
 * ({"events", "next", "head"}, caller decrefs) or NULL. */
json_t *jclient_fetch(wire_client_t *c, int64_t after, int limit,
                      const char *const *types, int timeout_ms);

#endif
