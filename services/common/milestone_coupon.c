/*
 * milestone_coupon.c - personal coupon codes in birthday and anniversary
 * messages.
 *
 * A code is "<PREFIX>-<token>", the token being token.c's signed token
 * (purpose "coupon") of "<kind>\n<year>\n<customer id>".  A shop (or `hark
 * coupon verify`) holding [hark] token_key checks a code offline, without
 * asking Hark: a code nobody with the key made does not verify, and a
 * genuine one says whose it is and for which milestone and year.  The
 * prefix is not signed: it only makes codes recognisable at checkout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "milestone_coupon.h"
#include "milestone_settings.h"
#include "token.h"

char *milestone_coupon_make(const char *key, const char *prefix, int kind, int year,
                            const char *cid)
{
    if (kind < 0 || kind >= MILESTONE_KINDS || !cid || !prefix)
        return NULL;
    char payload[256];
    int n = snprintf(payload, sizeof payload, "%c\n%d\n%s", milestone_settings_kind_names[kind][0],
                     year, cid);
    if (n < 0 || (size_t)n >= sizeof payload)
        return NULL;
    char *tok = token_sign(key, "coupon", payload, (size_t)n);
    if (!tok)
        return NULL;
    size_t len = strlen(prefix) + 1 + strlen(tok) + 1;
    char *code = malloc(len);
    if (code)
        snprintf(code, len, "%s-%s", prefix, tok);
    free(tok);
    return code;
}

int milestone_coupon_verify(const char *key, const char *code, int *kind, int *year, char **cid)
{
    const char *dash = code ? strchr(code, '-') : NULL;
    if (!dash)
        return -1;
    size_t len = 0;
    char *p = token_verify(key, "coupon", dash + 1, &len);
    if (!p)
        return -1;
    /* "<b|a>\n<year>\n<customer id>" */
    char *nl1 = strchr(p, '\n'), *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    int k = p[0] == 'b' ? MILESTONE_BIRTHDAY : p[0] == 'a' ? MILESTONE_ANNIVERSARY : -1;
    if (!nl2 || nl1 != p + 1 || k < 0 || strlen(p) != len || nl2[1] == '\0') {
        free(p);
        return -1;
    }
    *kind = k;
    *year = atoi(nl1 + 1);
    *cid = strdup(nl2 + 1);
    free(p);
    return *cid ? 0 : -1;
}
