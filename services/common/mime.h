/*
 * mime.h - the encoding pieces of an RFC 5322 / 2045 / 2047 e-mail, UTF-8 only.
 *
 * Hark composes its own notification mails: libesmtp sends bytes but composes
 * nothing, and no library Debian ships does RFC 2047 encoded words and
 * quoted-printable bodies the way we need them (never splitting a UTF-8
 * character across encoded words or soft line breaks, folding to 78 columns,
 * turning customer text that tries to add a header into plain spaces).  So
 * this file does exactly that and no more; it writes 7-bit output only.
 *
 * Every function that returns char * returns a malloc'd NUL-terminated string
 * the caller frees, or NULL on error (input that is not valid UTF-8, an
 * invalid header name or address, or out of memory).  No state is kept.
 */
#ifndef HARK_MIME_H
#define HARK_MIME_H

#include <stddef.h>

#include "buf.h"

/* mime_qp_encode - quoted-printable body (RFC 2045) of len bytes of UTF-8.
 * Input lines end in "\n" or "\r\n" and come out as CRLF lines (a final line
 * without a newline gets no CRLF).  Output lines are at most 76 characters,
 * with soft breaks "=\r\n"; an =XX triplet, and the triplets of one UTF-8
 * character, are never split.  '=', bytes >= 0x7F, control characters (a lone
 * CR too) and a space or tab before a line break or at the end are encoded;
 * so is the first character of a physical line that is "." alone or starts
 * with "From ".  NULL on bad UTF-8 or OOM; the caller frees the result. */
char *mime_qp_encode(const char *text, size_t len);

/* mime_qp_append - the same encoding appended to b, so a caller building a
 * whole message writes each body once instead of copying a malloc'd one.
 * 0, or -1 on bad UTF-8 (b is left as it was) or OOM (buf_failed(b)). */
int mime_qp_append(buf_t *b, const char *text, size_t len);

/* mime_header_value - the folded, encoded value to write after "name: ".
 * Controls (C0 but tab, DEL, C1, U+2028/2029) become spaces first, so
 * customer text can never end the header or add one.  Printable ASCII passes
 * through, folded at whitespace so no line with the name exceeds 78; any
 * non-ASCII (or a value that cannot fold, contains "=?", or starts or ends
 * with whitespace, which readers would drop) becomes RFC 2047
 * "=?UTF-8?B?...?=" or "?Q?" words (whichever is shorter) of at most 75
 * characters each, never splitting a UTF-8 character, separated by CRLF +
 * space.  NULL if value is not valid UTF-8, name is not a field name, or OOM;
 * the caller frees the result. */
char *mime_header_value(const char *name, const char *value);

/* mime_address - "Name <addr>" for From/To/Cc/Reply-To, or just addr when
 * display_name is NULL, "" or only whitespace.  Controls in the name become
 * spaces as in mime_header_value.  An ASCII name becomes a quoted-string
 * (" and \ escaped); a non-ASCII one, one containing "=?", or one too long
 * for a line becomes encoded words.  Folded so that no line exceeds 78 after
 * a header name of up to 8 characters ("Reply-To: ") unless addr itself is
 * longer than 75.  addr must be
 * printable ASCII of at most 254 characters with exactly one '@' and text
 * either side, and none of space, <, >, comma, ;, :, ", (, ), [, ], \ -
 * otherwise NULL.  The caller frees the result. */
char *mime_address(const char *display_name, const char *addr);

/* mime_utf8_valid - 1 when s[0..len) is valid UTF-8 (no overlong forms,
 * surrogates or code points above U+10FFFF), else 0. */
int mime_utf8_valid(const char *s, size_t len);

/* mime_sanitize_line - copy of s with CR, LF and every other C0 control but
 * tab (also DEL, C1 controls and U+2028/U+2029) replaced by one space each.
 * NULL on bad UTF-8 or OOM; the caller frees the result. */
char *mime_sanitize_line(const char *s);

#endif
