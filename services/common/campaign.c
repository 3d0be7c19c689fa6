/*
 * campaign.c - checking a campaign.saved payload: its schema, then what a
 * schema cannot say (durations as the config file takes them, which
 * fields belong to which kind), the run times of a relationship
 * (scheduled) campaign, a campaign's effective settings over [survey]
 * (its view, parsed) over the [survey] values behind them.  hark-survey,
 * the gateway's admin API and `hark campaign set` all check this way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "campaign.h"
#include "clock.h"
#include "config.h"
#include "proto.h"
#include "tz.h"

/* campaign_schema - compile the embedded schema */
schema_t *campaign_schema(char *err, size_t errlen)
{
    for (const proto_doc_t *d = proto_event_schemas; d->name; d++)
        if (strcmp(d->name, EV_CAMPAIGN_SAVED) == 0)
            return schema_new(d->json, err, errlen);
    snprintf(err, errlen, "no schema for campaign.saved");
    return NULL;
}

/* the fields only one kind has: a 400 names the first one given to the
 * other kind, before the schema's generic "must match one of" */
static const char *const s_post_only[] = {"delay", "products", "sample_rate", NULL};
static const char *const s_rel_only[] = {"start", "every", "segment", "spread", NULL};

/* campaign_check - kind, schema, durations */
const char *campaign_check(const schema_t *s, const json_t *c, char *field, size_t flen,
                           char *msg, size_t mlen)
{
    const char *kind = json_string_value(json_object_get(c, "kind"));
    int rel = kind && strcmp(kind, "relationship") == 0;
    int post = kind && strcmp(kind, "post_purchase") == 0;
    if (rel && !json_object_get(c, "start")) {
        snprintf(field, flen, "start");
        snprintf(msg, mlen, "start is required for a relationship campaign: its first run,"
                            " like 2026-12-01T09:00:00Z");
        return "invalid_field";
    }
    if (post && !json_object_get(c, "delay")) {
        snprintf(field, flen, "delay");
        snprintf(msg, mlen, "delay is required for a post_purchase campaign, like 7d");
        return "invalid_field";
    }
    const char *const *other = rel ? s_post_only : post ? s_rel_only : NULL;
    for (int i = 0; other && other[i]; i++)
        if (json_object_get(c, other[i])) {
            snprintf(field, flen, "%s", other[i]);
            snprintf(msg, mlen, "%s applies to %s campaigns only", other[i],
                     rel ? "post_purchase" : "relationship");
            return "invalid_field";
        }
    char why[256];
    if (schema_validate(s, c, field, flen, why, sizeof why)) {
        snprintf(msg, mlen, "%s %s", *field ? field : "campaign", why);
        return "invalid_field";
    }
    /* the schema's pattern is the shape; the config parser has the last
     * word, so a campaign takes exactly the durations [survey] takes */
    static const char *const dur[] = {"delay", "reminder", "expiry", "spread", NULL};
    const json_t *seg = json_object_get(c, "segment");
    for (int i = 0; dur[i] || i == 4; i++) {
        const char *name = dur[i] ? dur[i] : "segment.purchased_within";
        const char *v = json_string_value(dur[i] ? json_object_get(c, dur[i])
                                                 : json_object_get(seg, "purchased_within"));
        long long ms;
        if (v && config_parse_duration(v, &ms)) {
            snprintf(field, flen, "%s", name);
            snprintf(msg, mlen, "%s must be a duration like 90s, 2h or 7d, got \"%.64s\"",
                     name, v);
            return "invalid_field";
        }
        /* bought within no time is nobody; hark-survey reads 0 as "no
         * filter", so a zero would ask every customer instead */
        if (v && !dur[i] && ms <= 0) {
            snprintf(field, flen, "%s", name);
            snprintf(msg, mlen, "%s must be more than 0, like 90d (leave it out for every"
                                " customer)", name);
            return "invalid_field";
        }
        if (!dur[i])
            break;
    }
    int n, months;
    const char *every = json_string_value(json_object_get(c, "every"));
    if (every && campaign_every_parse(every, &n, &months)) {
        snprintf(field, flen, "every");
        snprintf(msg, mlen, "every must be like 1w, 2w, 3mo or 10d, got \"%.64s\"", every);
        return "invalid_field";
    }
    return NULL;
}

/* campaign_every_parse - "10d", "2w", "3mo" */
int campaign_every_parse(const char *every, int *n, int *months)
{
    char *end;
    long v = every ? strtol(every, &end, 10) : 0;
    if (!every || end == every || v < 1 || v > 999 || *every == '+' || *every == '-')
        return -1;
    if (strcmp(end, "d") == 0 || strcmp(end, "w") == 0) {
        *n = (int)(*end == 'w' ? v * 7 : v);
        *months = 0;
        return 0;
    }
    if (strcmp(end, "mo") == 0) {
        *n = (int)v;
        *months = 1;
        return 0;
    }
    return -1;
}

/* campaign_start_parse - see campaign.h */
int campaign_start_parse(const char *text, int64_t *ms, int *off_min)
{
    if (!text || clock_parse(text, ms))
        return -1;
    /* clock_parse took the whole RFC 3339 text, so it ends in Z or in
     * +HH:MM / -HH:MM */
    size_t n = strlen(text);
    *off_min = 0;
    if (n > 6 && (text[n - 6] == '+' || text[n - 6] == '-') && text[n - 3] == ':') {
        int h = (text[n - 5] - '0') * 10 + (text[n - 4] - '0');
        int m = (text[n - 2] - '0') * 10 + (text[n - 1] - '0');
        *off_min = (text[n - 6] == '-' ? -1 : 1) * (h * 60 + m);
    }
    return 0;
}

/* campaign_run_at - start plus k periods; months step the calendar of
 * start's own offset (Jan 31 + 1mo is the last day of February: the day
 * is clamped, and each run counts from start, so later runs return to the
 * 31st) */
int64_t campaign_run_at(int64_t start_ms, int off_min, int n, int months, long k)
{
    if (!months)
        return start_ms + (int64_t)k * n * 86400000LL;
    int64_t off_ms = (int64_t)off_min * 60000;
    int64_t local = start_ms + off_ms; /* the wall time start was written in, read as UTC */
    time_t secs = (time_t)(local >= 0 ? local / 1000 : (local - 999) / 1000);
    int64_t frac = local - (int64_t)secs * 1000;
    struct tm tm;
    gmtime_r(&secs, &tm);
    long total = (long)tm.tm_year * 12 + tm.tm_mon + k * n;
    tm.tm_year = (int)(total / 12);
    tm.tm_mon = (int)(total % 12);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = tm.tm_year + 1900;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int last = mdays[tm.tm_mon] + (tm.tm_mon == 1 && leap);
    if (tm.tm_mday > last)
        tm.tm_mday = last;
    return (int64_t)timegm(&tm) * 1000 + frac - off_ms;
}

int campaign_next_run(int64_t start_ms, int off_min, const char *every, int64_t last_at,
                      int64_t now, int64_t *next, int64_t *due)
{
    int n = 0, months = 0;
    int repeats = every && *every && campaign_every_parse(every, &n, &months) == 0;
    *next = -1;
    if (due)
        *due = -1;
    /* runs are few (a campaign every day for years is thousands): walk */
    for (long k = 0; k < 100000; k++) {
        int64_t t = repeats ? campaign_run_at(start_ms, off_min, n, months, k) : start_ms;
        if (t > last_at) {
            if (t > now) {
                *next = t;
                break;
            }
            if (due)
                *due = t; /* missed ones (hark-survey was down) run once, as the last */
        }
        if (!repeats)
            break;
    }
    return *next >= 0 || (due && *due >= 0) ? 0 : 1;
}

/* the campaign fields that fall back to [survey] when a row leaves them out
 * (delay only for post-purchase campaigns: the first entry) */
static const char *const s_defaulted[] = {"delay", "window_hours", "window_days", "reminder",
                                          "expiry", NULL};

/* campaign_defaults_load - [survey]'s values, as written */
void campaign_defaults_load(const config_t *cfg, campaign_defaults_t *out)
{
    out->delay = config_get(cfg, "survey", "delay");
    out->window_hours = config_get(cfg, "survey", "window_hours");
    out->window_days = config_get(cfg, "survey", "window_days");
    out->reminder = config_get(cfg, "survey", "reminder");
    out->expiry = config_get(cfg, "survey", "expiry");
}

/* s_default - the [survey] value a campaign's setting falls back to */
static const char *s_default(const campaign_defaults_t *def, const char *key)
{
    return strcmp(key, "delay") == 0          ? def->delay
           : strcmp(key, "window_hours") == 0 ? def->window_hours
           : strcmp(key, "window_days") == 0  ? def->window_days
           : strcmp(key, "reminder") == 0     ? def->reminder
           : strcmp(key, "expiry") == 0       ? def->expiry
                                              : NULL;
}

/* campaign_view - the effective campaign of one row */
json_t *campaign_view(const campaign_defaults_t *def, const char *id, int enabled,
                      const char *source, const char *settings)
{
    json_t *row = json_loads(settings ? settings : "{}", 0, NULL);
    const char *kind = json_string_value(json_object_get(row, "kind"));
    int rel = kind && strcmp(kind, "relationship") == 0;
    json_t *v = json_pack("{s:s,s:s,s:b}", "id", id, "kind",
                          rel ? "relationship" : "post_purchase", "enabled", enabled);
    if (!v) {
        json_decref(row);
        return NULL;
    }
    for (int i = rel ? 1 : 0; s_defaulted[i]; i++) {
        const char *x = json_string_value(json_object_get(row, s_defaulted[i]));
        const char *dflt = s_default(def, s_defaulted[i]);
        json_object_set_new(v, s_defaulted[i], json_string(x ? x : dflt ? dflt : "0"));
    }
    if (rel) {
        static const char *const own[] = {"start", "every", "segment", NULL};
        for (int i = 0; own[i]; i++) {
            json_t *x = json_object_get(row, own[i]);
            if (x)
                json_object_set(v, own[i], x);
        }
        const char *spread = json_string_value(json_object_get(row, "spread"));
        json_object_set_new(v, "spread", json_string(spread ? spread : "0"));
    } else {
        json_t *rate = json_object_get(row, "sample_rate");
        json_object_set_new(v, "sample_rate",
                            json_real(json_is_number(rate) ? json_number_value(rate) : 1.0));
        json_t *prio = json_object_get(row, "priority");
        json_object_set_new(v, "priority", json_integer(json_is_integer(prio)
                                                            ? json_integer_value(prio)
                                                            : CAMPAIGN_PRIORITY_DEFAULT));
        json_t *products = json_object_get(row, "products");
        if (json_is_array(products))
            json_object_set(v, "products", products);
    }
    json_t *by = json_object_get(row, "by");
    if (json_is_string(by))
        json_object_set(v, "by", by);
    json_object_set_new(v, "source", json_string(source ? source : "admin"));
    json_decref(row);
    return v;
}

/* campaign_parse - the settings of a view as numbers */
int campaign_parse(const json_t *view, campaign_t *out, char *err, size_t len)
{
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", json_string_value(json_object_get(view, "id")));
    out->enabled = json_is_true(json_object_get(view, "enabled"));
    out->sample_rate = json_number_value(json_object_get(view, "sample_rate"));
    const char *kind = json_string_value(json_object_get(view, "kind"));
    out->relationship = kind && strcmp(kind, "relationship") == 0;
    long long ms[3] = {0, 0, 0};
    static const char *const dur[] = {"delay", "expiry", "reminder"};
    for (int i = out->relationship ? 1 : 0; i < 3; i++)
        if (config_parse_duration(json_string_value(json_object_get(view, dur[i])), &ms[i])) {
            snprintf(err, len, "campaign %s: %s is not a duration", out->id, dur[i]);
            return -1;
        }
    out->delay = ms[0], out->expiry = ms[1], out->reminder = ms[2];
    if (tz_window_parse(json_string_value(json_object_get(view, "window_hours")),
                            json_string_value(json_object_get(view, "window_days")),
                            &out->window, err, len))
        return -1;
    if (!out->relationship) {
        json_t *prio = json_object_get(view, "priority");
        out->priority = json_is_integer(prio) ? (int)json_integer_value(prio)
                                              : CAMPAIGN_PRIORITY_DEFAULT;
        json_t *p = json_object_get(view, "products");
        out->products = json_is_array(p) ? json_incref(p) : NULL;
        return 0;
    }
    const char *start = json_string_value(json_object_get(view, "start"));
    const char *every = json_string_value(json_object_get(view, "every"));
    json_t *seg = json_object_get(view, "segment");
    const char *within = json_string_value(json_object_get(seg, "purchased_within"));
    long long spread = 0, pw = 0;
    int n, months;
    if (campaign_start_parse(start, &out->start, &out->start_off)) {
        snprintf(err, len, "campaign %s: start is not a date-time", out->id);
        return -1;
    }
    if (every && *every && (campaign_every_parse(every, &n, &months) ||
                            strlen(every) >= sizeof out->every)) {
        snprintf(err, len, "campaign %s: every is not like 2w or 3mo", out->id);
        return -1;
    }
    if (config_parse_duration(json_string_value(json_object_get(view, "spread")), &spread) ||
        (within && config_parse_duration(within, &pw))) {
        snprintf(err, len, "campaign %s: spread or segment.purchased_within is not a duration",
                 out->id);
        return -1;
    }
    snprintf(out->every, sizeof out->every, "%s", every ? every : "");
    out->spread = spread;
    out->purchased_within = within ? pw : -1;
    out->segment = json_is_object(seg) ? json_incref(seg) : NULL;
    return 0;
}

/* campaign_free - what parse took */
void campaign_free(campaign_t *c)
{
    json_decref(c->products);
    json_decref(c->segment);
    c->products = NULL;
    c->segment = NULL;
}

/* s_tried_before - whether post-purchase campaign a is tried before b:
 * priority, then id (the order hark-survey picks in) */
static int s_tried_before(const json_t *a, const json_t *b)
{
    json_int_t pa = json_integer_value(json_object_get(a, "priority"));
    json_int_t pb = json_integer_value(json_object_get(b, "priority"));
    if (!pa)
        pa = CAMPAIGN_PRIORITY_DEFAULT;
    if (!pb)
        pb = CAMPAIGN_PRIORITY_DEFAULT;
    if (pa != pb)
        return pa < pb;
    const char *ia = json_string_value(json_object_get(a, "id"));
    const char *ib = json_string_value(json_object_get(b, "id"));
    return ia && ib && strcmp(ia, ib) < 0;
}

/* s_takes_all - whether every purchase campaign c would take has a SKU
 * of products (no products: every purchase) */
static int s_takes_all(const json_t *products, const json_t *c)
{
    if (json_array_size(products) == 0)
        return 1;
    json_t *mine = json_object_get(c, "products");
    if (json_array_size(mine) == 0)
        return 0;
    size_t i, j;
    json_t *sku, *other;
    json_array_foreach(mine, i, sku) {
        int found = 0;
        json_array_foreach(products, j, other) {
            /* as hark-survey matches them: ASCII case ignored */
            if (json_is_string(sku) && json_is_string(other) &&
                strcasecmp(json_string_value(sku), json_string_value(other)) == 0)
                found = 1;
        }
        if (!found)
            return 0;
    }
    return 1;
}

/* campaign_shadow - see campaign.h */
int campaign_shadow(const json_t *views, const json_t *c, char *by, size_t len)
{
    const char *kind = json_string_value(json_object_get(c, "kind"));
    const char *id = json_string_value(json_object_get(c, "id"));
    if (len)
        *by = '\0';
    if ((kind && strcmp(kind, "post_purchase") != 0) || !id ||
        !json_is_true(json_object_get(c, "enabled")))
        return 0;
    size_t i;
    json_t *o;
    json_array_foreach(views, i, o) {
        const char *oid = json_string_value(json_object_get(o, "id"));
        const char *okind = json_string_value(json_object_get(o, "kind"));
        if (!oid || strcmp(oid, id) == 0 || (okind && strcmp(okind, "post_purchase") != 0) ||
            !json_is_true(json_object_get(o, "enabled")))
            continue;
        if (s_tried_before(o, c) && s_takes_all(json_object_get(o, "products"), c)) {
            snprintf(by, len, "%s", oid);
            return 1;
        }
    }
    return 0;
}
