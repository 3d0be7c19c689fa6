/*
 * milestone_config.c - hark-milestone's settings, read from the config once
 * at start into one milestone_config_t; handlers read the struct, never the
 * config (every value was checked by the config table before we run).
 */
#include <string.h>

#include "milestone.h"

/* milestone_config_load - [milestone] */
void milestone_config_load(const config_t *cfg, milestone_config_t *out)
{
    memset(out, 0, sizeof *out);
    out->time_min = config_time_min(cfg, "milestone", "time");
    const char *from = config_get(cfg, "milestone", "anniversary_from");
    out->from_signup = from && strcmp(from, "signup_date") == 0;
    out->default_tz = config_get(cfg, "milestone", "default_timezone");
    out->catch_up = config_duration_ms(cfg, "milestone", "catch_up");
    out->interval = config_duration_ms(cfg, "milestone", "interval");
    out->batch = (int)config_int(cfg, "milestone", "batch");
    const char *feb29 = config_get(cfg, "milestone", "feb29");
    out->mar1 = feb29 && strcmp(feb29, "mar1") == 0;
    /* coupon = on: the prefix GIFT; off (or empty): no coupons; else the prefix */
    const char *c = config_get(cfg, "milestone", "coupon");
    out->coupon_prefix = !c || !*c || strcmp(c, "off") == 0 ? NULL
                         : strcmp(c, "on") == 0             ? "GIFT"
                                                            : c;
}
