/*
 * customer_token.c - the customers' tokens of the feedback and cancel
 * forms: the gateway checks them, `hark cases token` makes them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "customer_token.h"
#include "token.h"

char *customer_token_make(const char *key, const char *customer_id, const char *locale)
{
    if (!customer_id || !*customer_id || strlen(customer_id) > 128 || strchr(customer_id, '\n'))
        return NULL;
    if (locale && strlen(locale) >= 36) /* customer_token_check would refuse it */
        return NULL;
    char payload[200];
    int n = snprintf(payload, sizeof payload, "%s\n%s", customer_id, locale ? locale : "");
    if (n < 0 || (size_t)n >= sizeof payload)
        return NULL;
    return token_sign(key, "customer", payload, (size_t)n);
}

int customer_token_check(const char *key, const char *token, char *id, char *locale)
{
    size_t len = 0;
    char *p = token ? token_verify(key, "customer", token, &len) : NULL;
    if (!p)
        return -1;
    char *nl = memchr(p, '\n', len);
    int rc = -1;
    if (nl && nl > p && (size_t)(nl - p) <= 128 && strlen(nl + 1) < 36 &&
        strlen(p) == len) {
        snprintf(id, 129, "%.*s", (int)(nl - p), p);
        snprintf(locale, 36, "%s", nl + 1);
        rc = 0;
    }
    free(p);
    return rc;
}
