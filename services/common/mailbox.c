/*
 * mailbox.c - the one e-mail address rule (see mailbox.h for the rule and
 * why each refusal).  Written here rather than taken from a library: the
 * Debian libraries that parse addresses (GMime, libesmtp) accept the full
 * RFC 5322 grammar, comments and quoting included, which is exactly what
 * must be refused before an address is stored.
 */
#include "mailbox.h"

#include <string.h>

/* s_atext - RFC 5322 atext */
static int s_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* s_ldh - letter, digit or hyphen */
static int s_ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-';
}

/* s_local_ok - a Dot-string of 1..64 octets */
static int s_local_ok(const unsigned char *s, size_t n)
{
    if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return 0;
        } else if (!s_atext(s[i])) {
            return 0;
        }
    }
    return 1;
}

/* s_domain_ok - LDH labels, 1..253 octets; *dots gets the number of dots */
static int s_domain_ok(const unsigned char *s, size_t n, int *dots)
{
    *dots = 0;
    if (n == 0 || n > 253)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!s_ldh(s[i]))
                return 0;
            continue;
        }
        size_t len = i - start;
        if (len == 0 || len > 63 || s[start] == '-' || s[i - 1] == '-')
            return 0;
        if (i < n)
            (*dots)++;
        start = i + 1;
    }
    return 1;
}

/* mailbox_valid - see mailbox.h */
int mailbox_valid(const char *s, size_t n, unsigned flags)
{
    if (!s || n == 0 || n > 254)
        return 0;
    const unsigned char *u = (const unsigned char *)s;
    const unsigned char *at = memchr(u, '@', n);
    if (!at)
        return 0;
    size_t lp = (size_t)(at - u);
    int dots;
    if (!s_local_ok(u, lp) || !s_domain_ok(at + 1, n - lp - 1, &dots))
        return 0;
    return !(flags & MAILBOX_FQDN) || dots > 0;
}
