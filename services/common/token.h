/*
 * token.h - signed tokens for links in emails (unsubscribe, survey answers).
 *
 * A token is "<payload>.<mac>", both base64url without padding; the mac is
 * HMAC-SHA256(key, purpose NUL payload) cut to 128 bits.  The purpose binds a
 * token to one use: an unsubscribe token is not a survey token.  The gateway
 * stays stateless: the token carries what the link needs, and only someone
 * with the key can make one.  HMAC comes from nettle (Debian's nettle-dev).
 */
#ifndef HARK_TOKEN_H
#define HARK_TOKEN_H

#include <stddef.h>

/* token_sign - a token for payload (len bytes) under key and purpose.
 * Returns a malloc'd string the caller frees, or NULL. */
char *token_sign(const char *key, const char *purpose, const char *payload, size_t len);

/* token_verify - the payload of a valid token (malloc'd, NUL-terminated,
 * *len set; caller frees), or NULL when the token is malformed or forged.
 * The mac is compared in constant time. */
char *token_verify(const char *key, const char *purpose, const char *token, size_t *len);

#endif
