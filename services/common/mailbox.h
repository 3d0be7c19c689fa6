/*
 * mailbox.h - the one rule for an e-mail address Hark will mail: schema
 * validation (the "email" format of every event and form) and the mailer
 * both ask it, so what ingest accepts is what the mailer can send to.
 *
 * The rule is RFC 5321's Mailbox with a Dot-string local part and a domain
 * of LDH labels, in ASCII:
 *   - local part: 1..64 octets of atext (A-Z a-z 0-9 !#$%&'*+-/=?^_`{|}~)
 *     in dot-separated atoms (no leading, trailing or double dot);
 *   - domain: 1..253 octets of labels of 1..63 letters, digits and hyphens,
 *     a label neither starting nor ending with a hyphen;
 *   - the whole address at most 254 octets (RFC 5321's path limit less <>).
 * Refused on purpose, each a case real customer addresses do not need and
 * that would let something past ingest that the mailer cannot deliver:
 *   - quoted local parts ("a b"@example.com) and address literals
 *     (a@[127.0.0.1]);
 *   - non-ASCII (SMTPUTF8): libESMTP does not speak the SMTPUTF8 extension,
 *     so a UTF-8 local part could never be sent; an internationalised domain
 *     must be given in its ASCII (xn--) form.
 */
#ifndef HARK_MAILBOX_H
#define HARK_MAILBOX_H

#include <stddef.h>

enum {
    MAILBOX_FQDN = 1, /* the domain must have a dot (customers; not hark@localhost) */
};

/* mailbox_valid - 1 when the n bytes at s are an address by the rule above
 * (and, with MAILBOX_FQDN, a dotted domain), else 0 */
int mailbox_valid(const char *s, size_t n, unsigned flags);

#endif
