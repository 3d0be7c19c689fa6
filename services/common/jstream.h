/*
 * jstream.h - the journal's events as NATS JetStream messages: the layout of
 * one stored event, the subject of a key, and a connection from [journal]
 * settings.  Shared by hark-journal's jetstream engine and `hark journal
 * import`, so both write and read the same bytes.
 */
#ifndef HARK_JSTREAM_H
#define HARK_JSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "buf.h"
#include "config.h"

/* the fields of one stored event, in their order in a message */
enum { JSTREAM_TYPE, JSTREAM_KEY, JSTREAM_OCCURRED_AT, JSTREAM_RECORDED_AT, JSTREAM_PAYLOAD,
       JSTREAM_NAMES, JSTREAM_SEALED, JSTREAM_FIELDS };

#define JSTREAM_SUBJECT_MAX 96

/* jstream_subject - "<stream>.k.<BLAKE2b-128 of key, hex>": a subject per key,
 * so that Nats-Expected-Last-Subject-Sequence: 0 makes a key unique for ever */
void jstream_subject(const char *stream, const char *key, size_t key_len, char *out,
                     size_t size);

/* jstream_encode - one event's message body into b (reset first): each
 * field's length (4 bytes, big-endian; none: 0xffffffff) and bytes, after a
 * version mark.  f[i] NULL is none.  0/-1 (memory, a field too long) */
int jstream_encode(buf_t *b, const char *const f[JSTREAM_FIELDS],
                   const size_t len[JSTREAM_FIELDS]);

/* jstream_decode - a body's fields as NUL-terminated copies in scratch
 * (reset first): f[i] NULL for none, len[i] its length.  0, or -1 when the
 * bytes are not this layout (never guessed at) */
int jstream_decode(const char *d, size_t n, buf_t *scratch, const char *f[JSTREAM_FIELDS],
                   size_t len[JSTREAM_FIELDS]);

/* jstream_connect - a connection to [journal] nats_urls (reconnecting for
 * ever) and its JetStream context with opts (NULL: defaults).  0, or -1 with
 * the reason logged; on success free both with jstream_close */
int jstream_connect(const config_t *cfg, const char *name, jsOptions *opts, natsOptions **no,
                    natsConnection **nc, jsCtx **js);
void jstream_close(natsOptions **no, natsConnection **nc, jsCtx **js);

/* jstream_stream - make [journal] stream (subjects <stream>.k.>, replicas,
 * dup_window, deletes and purges denied), or check the one there.  0/-1
 * (logged) */
int jstream_stream(const config_t *cfg, jsCtx *js);

#endif
