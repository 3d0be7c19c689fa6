/*
 * reply_token.h - what a reply to a Hark mail answers, signed.
 *
 * Every message the mailer sends names what it is about in a short token,
 *
 *     K.ID.N.MAC     K: c (a case), s (a survey invite), m (a mail)
 *                    ID: the case or invite id, or for m the request's
 *                        journal offset ([A-Za-z0-9_-]{1,40})
 *                    N: the journal offset of the mail.requested event
 *                       (one per message, so two mails differ)
 *                    MAC: HMAC-SHA256([hark] token_key, "reply" NUL
 *                         "K.ID.N"), first 8 bytes, lowercase hex
 *
 * carried twice: in the Message-ID, <hark.TOKEN@from-domain>, which a reply
 * quotes in In-Reply-To and References, and (with [mailer] reply_domain) in
 * the reply address reply+TOKEN@reply_domain.  hark-inbox checks the MAC, so
 * only mail Hark sent can be answered onto a case, and a forged bounce
 * cannot suppress an address.  The token is at most 64 characters (an
 * address's local part with "reply+") and uses only characters that are
 * safe in both places; the MAC's hex is read in either case, since some
 * mail systems change the case of addresses.
 */
#ifndef HARK_REPLY_TOKEN_H
#define HARK_REPLY_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define REPLY_TOKEN_ID_MAX 40
#define REPLY_TOKEN_MAX    80 /* a buffer that holds any token */

typedef struct {
    char kind;                          /* 'c', 's' or 'm' */
    char id[REPLY_TOKEN_ID_MAX + 1];
    int64_t n;
} reply_token_t;

/* reply_token_make - the token for kind/id/n into out (REPLY_TOKEN_MAX);
 * 0, or -1 when kind or id cannot be carried */
int reply_token_make(const char *key, char kind, const char *id, int64_t n, char *out,
                     size_t len);

/* reply_token_read - check a token of len bytes (not NUL-terminated); 0 and
 * *out filled when it is well formed and its MAC is ours, else -1 */
int reply_token_read(const char *key, const char *tok, size_t len, reply_token_t *out);

/* reply_token_from_msgid - the token inside a Message-ID of ours
 * ("<hark.TOKEN@...>", angle brackets optional); 0 and *out, else -1 */
int reply_token_from_msgid(const char *key, const char *msgid, size_t len, reply_token_t *out);

#endif
