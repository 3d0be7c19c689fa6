/*
 * campaign.h - checking a campaign.saved payload (proto/events/
 * campaign.saved.json), for the two places that write one: the gateway's
 * admin API and `hark campaign set`.
 */
#ifndef HARK_CAMPAIGN_H
#define HARK_CAMPAIGN_H

#include <jansson.h>
#include <stddef.h>

#include "schema.h"

/* campaign_schema - campaign.saved's schema, compiled (caller frees with
 * schema_destroy); NULL with a message in err */
schema_t *campaign_schema(char *err, size_t errlen);

/* campaign_check - NULL when c is a campaign.saved payload; else the error
 * code ("unsupported" for a kind not supported yet, "invalid_field"), with
 * the offending field ("" for the whole) and a message naming it */
const char *campaign_check(const schema_t *s, const json_t *c, char *field, size_t flen,
                           char *msg, size_t mlen);

#endif
