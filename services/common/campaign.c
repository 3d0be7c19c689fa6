/*
 * campaign.c - checking a campaign.saved payload: its schema, then what a
 * schema cannot say (durations as the config file takes them, the kinds
 * not supported yet).
 */
#include <stdio.h>
#include <string.h>

#include "campaign.h"
#include "config.h"
#include "proto.h"

/* campaign_schema - compile the embedded schema */
schema_t *campaign_schema(char *err, size_t errlen)
{
    for (const proto_doc_t *d = proto_event_schemas; d->name; d++)
        if (strcmp(d->name, "campaign.saved") == 0)
            return schema_new(d->json, err, errlen);
    snprintf(err, errlen, "no schema for campaign.saved");
    return NULL;
}

/* campaign_check - schema, kind, durations */
const char *campaign_check(const schema_t *s, const json_t *c, char *field, size_t flen,
                           char *msg, size_t mlen)
{
    const char *kind = json_string_value(json_object_get(c, "kind"));
    if (kind && strcmp(kind, "relationship") == 0) {
        snprintf(field, flen, "kind");
        snprintf(msg, mlen,
                 "relationship campaigns are not supported yet; kind must be post_purchase");
        return "unsupported";
    }
    char why[256];
    if (schema_validate(s, c, field, flen, why, sizeof why)) {
        snprintf(msg, mlen, "%s %s", *field ? field : "campaign", why);
        return "invalid_field";
    }
    /* the schema's pattern is the shape; the config parser has the last
     * word, so a campaign takes exactly the durations [survey] takes */
    static const char *const dur[] = {"delay", "reminder", "expiry", NULL};
    for (int i = 0; dur[i]; i++) {
        const char *v = json_string_value(json_object_get(c, dur[i]));
        long long ms;
        if (v && config_parse_duration(v, &ms)) {
            snprintf(field, flen, "%s", dur[i]);
            snprintf(msg, mlen, "%s must be a duration like 90s, 2h or 7d, got \"%.64s\"",
                     dur[i], v);
            return "invalid_field";
        }
    }
    return NULL;
}
