/*
 * survey_config.c - hark-survey's settings, read from the config once at
 * start into one survey_config_t; handlers read the struct, never the
 * config (every value was checked by the config table before we run).
 */
#include <stdio.h>
#include <string.h>

#include "staff_link.h"
#include "survey.h"

/* survey_config_load - [survey] and the [gateway] and [mailer] keys the
 * survey service uses */
void survey_config_load(const config_t *cfg, survey_config_t *out)
{
    static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    memset(out, 0, sizeof *out);
    campaign_defaults_load(cfg, &out->campaign);
    out->default_tz = config_get(cfg, "survey", "default_timezone");
    out->throttle_text = config_get(cfg, "survey", "throttle");
    out->throttle = config_duration_ms(cfg, "survey", "throttle");
    out->alert_to = config_get(cfg, "survey", "alert_to");
    out->digest_to = config_get(cfg, "survey", "digest_to");
    out->digest_hour = (int)config_int(cfg, "survey", "digest_hour");
    const char *dday = config_get(cfg, "survey", "digest_day");
    for (int i = 0; i < 7; i++)
        if (dday && strcmp(dday, days[i]) == 0)
            out->digest_wday = i;
    out->default_locale = config_get(cfg, "mailer", "default_locale");
    const char *pub = config_get(cfg, "gateway", "public_url");
    snprintf(out->public_url, sizeof out->public_url, "%s", pub ? pub : "");
    size_t ul = strlen(out->public_url);
    while (ul > 0 && out->public_url[ul - 1] == '/')
        out->public_url[--ul] = '\0';
    staff_link_base(cfg, "survey", out->staff_url, sizeof out->staff_url);
}
