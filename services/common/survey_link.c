/*
 * survey_link.c - NPS link and form tokens (see the header), on token.c.
 */
#include "survey_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

int survey_link_invite_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > SURVEY_INVITE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* s_locale_ok - "" or letters, digits and '-' only, shorter than the field */
static int s_locale_ok(const char *l)
{
    size_t n = strlen(l);
    if (n >= sizeof ((survey_link_t *)0)->locale)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = l[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return 0;
    }
    return 1;
}

char *survey_link_make(const char *key, const char *invite, int64_t expires,
                       const char *locale)
{
    if (!locale)
        locale = "";
    if (!survey_link_invite_ok(invite) || !s_locale_ok(locale) || expires < 0)
        return NULL;
    char payload[160];
    int n = snprintf(payload, sizeof payload, "%s\n%lld\n%s", invite, (long long)expires, locale);
    if (n < 0 || (size_t)n >= sizeof payload)
        return NULL;
    return token_sign(key, "survey", payload, (size_t)n);
}

int survey_link_check(const char *key, const char *token, survey_link_t *out)
{
    size_t len = 0;
    char *p = token ? token_verify(key, "survey", token, &len) : NULL;
    if (!p)
        return -1;
    int rc = -1;
    char *nl1 = strlen(p) == len ? strchr(p, '\n') : NULL;
    char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    if (nl2) {
        *nl1 = *nl2 = '\0';
        char *end = NULL;
        long long exp = strtoll(nl1 + 1, &end, 10);
        if (survey_link_invite_ok(p) && end && *end == '\0' && end != nl1 + 1 && exp >= 0 &&
            s_locale_ok(nl2 + 1)) {
            snprintf(out->invite, sizeof out->invite, "%s", p);
            snprintf(out->locale, sizeof out->locale, "%s", nl2 + 1);
            out->expires = exp;
            rc = 0;
        }
    }
    free(p);
    return rc;
}

char *survey_link_form_make(const char *key, const char *invite)
{
    if (!survey_link_invite_ok(invite))
        return NULL;
    return token_sign(key, "survey-form", invite, strlen(invite));
}

int survey_link_form_check(const char *key, const char *invite, const char *field)
{
    size_t len = 0;
    char *p = field && survey_link_invite_ok(invite) ? token_verify(key, "survey-form", field, &len)
                                                : NULL;
    int ok = p && len == strlen(invite) && memcmp(p, invite, len) == 0;
    free(p);
    return ok;
}
