/*
 * mailer_compose.h - one complete RFC 5322 message from a rendered_t.
 *
 * The mailer hands the result to libesmtp as it is, so everything here is
 * 7-bit with CRLF line ends: headers go through mime.c (RFC 2047 encoded
 * words that never split a character, folded to 78 columns; CR, LF, NUL
 * and other controls in customer text become spaces, so a name can never
 * end a header or add one), and both parts are quoted-printable UTF-8 with
 * lines of at most 76.  The layout:
 *
 *   From, To, [Reply-To], Subject, Date, Message-ID, [In-Reply-To,
 *   References], MIME-Version,
 *   [List-Unsubscribe, List-Unsubscribe-Post], [X-Hark-Category],
 *   Content-Type: multipart/alternative; boundary="=_hark_<24 hex>"
 *     text/plain; charset=UTF-8, quoted-printable
 *     text/html; charset=UTF-8, quoted-printable
 *
 * The boundary starts with "=_", which quoted-printable output can never
 * contain ('=' is always followed by two hex digits or a line end there).
 * No state; the result is malloc'd and the caller frees it.
 */
#ifndef HARK_MAILER_COMPOSE_H
#define HARK_MAILER_COMPOSE_H

#include <stddef.h>
#include <stdint.h>

#include "render.h"

typedef struct {
    const char *from_name;      /* config; NULL or "": the bare address */
    const char *from_addr;      /* config; required */
    const char *reply_to;       /* config; a bare address, or NULL */
    const char *to_name;        /* customer; may contain anything (CR/LF...) */
    const char *to_addr;        /* customer; required */
    const char *message_id;     /* "<...@host>", made once per message by
                                   the caller and kept across retries */
    const char *in_reply_to;    /* NULL or "": none; else a Message-ID the
                                   message follows (In-Reply-To and
                                   References: the thread's first message) */
    int64_t date_ms;            /* Date header, Unix ms (UTC) */
    const char *unsubscribe_url;/* NULL or "": none; else List-Unsubscribe: <url>
                                   and List-Unsubscribe-Post (RFC 8058);
                                   http(s) or mailto, printable ASCII */
    const char *category;       /* X-Hark-Category ([A-Za-z0-9._-], <= 64);
                                   NULL or "": no header */
} mailer_compose_opts_t;

/* mailer_compose_message - the whole message for o and r with CRLF line ends;
 * *len gets its length (len may be NULL).  Returns a malloc'd string the
 * caller frees, or NULL with err set: a bad address, Message-ID, URL or
 * category, text that is not UTF-8, no randomness for the boundary, OOM. */
char *mailer_compose_message(const mailer_compose_opts_t *o, const rendered_t *r,
                      size_t *len, char *err, size_t errlen);

/* mailer_compose_date - RFC 5322 date ("Mon, 23 Nov 2026 10:35:12 +0000", always
 * UTC) of Unix ms into buf (at least 32 bytes); returns buf. */
const char *mailer_compose_date(int64_t ms, char *buf, size_t len);

#endif
