/*
 * milestone_settings.c - what a marketer sets per kind (on/off, local send
 * time, offset, template, where anniversaries count from) and the checks of
 * a milestone.saved payload shared by the service, the admin API and
 * `hark milestone set`, and the [milestone] values behind the defaults.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "milestone_settings.h"
#include "proto.h"

/* milestone_settings_parse_time - the config's time-of-day kind, so
 * [milestone] time and a milestone.saved time read alike */
int milestone_settings_parse_time(const char *s, int *minutes)
{
    return config_parse_time(s, minutes);
}

int milestone_settings_parse_offset(const char *s, int *days)
{
    if (!s)
        return -1;
    if (strcmp(s, "0") == 0) {
        *days = 0;
        return 0;
    }
    int sign = 1;
    const char *p = s;
    if (*p == '-' || *p == '+')
        sign = *p++ == '-' ? -1 : 1;
    size_t n = strlen(p);
    if (n < 2 || n > 3 || p[n - 1] != 'd')
        return -1;
    int v = config_digits(p, (int)n - 1);
    if (v < 0 || v > 30)
        return -1;
    *days = sign * v;
    return 0;
}

const char *milestone_settings_format_offset(int days, char *out, size_t len)
{
    if (days == 0)
        snprintf(out, len, "0");
    else
        snprintf(out, len, "%s%dd", days < 0 ? "-" : "+", abs(days));
    return out;
}

const char *const milestone_settings_kind_names[MILESTONE_KINDS] = {"birthday", "anniversary"};

int milestone_settings_kind(const char *name)
{
    for (int i = 0; name && i < MILESTONE_KINDS; i++)
        if (strcmp(name, milestone_settings_kind_names[i]) == 0)
            return i;
    return -1;
}

void milestone_settings_default(const milestone_config_t *mc, int kind, milestone_settings_t *out)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->enabled = 1;
    out->minutes = mc->time_min;
    snprintf(out->template_name, sizeof out->template_name, "%s",
             milestone_settings_kind_names[kind]);
    out->from_signup = mc->from_signup;
}

json_t *milestone_settings_view(const milestone_settings_t *s)
{
    char t[8], off[16]; /* an int's digits, though offsets are -30..30 */
    snprintf(t, sizeof t, "%02d:%02d", s->minutes / 60 % 100, s->minutes % 60);
    json_t *v =
        json_pack("{s:s,s:b,s:s,s:s,s:s,s:s}", "kind", milestone_settings_kind_names[s->kind],
                  "enabled", s->enabled, "time", t, "offset",
                  milestone_settings_format_offset(s->offset_days, off, sizeof off), "template",
                  s->template_name, "source", s->admin ? "admin" : "config");
    if (s->kind == MILESTONE_ANNIVERSARY)
        json_object_set_new(v, "anniversary_from",
                            json_string(s->from_signup ? "signup_date" : "first_purchase"));
    if (*s->by)
        json_object_set_new(v, "by", json_string(s->by));
    return v;
}

/* s_fail - fill field and msg; -1 */
static int s_fail(char *field, size_t flen, const char *f, char *msg, size_t mlen, const char *m)
{
    snprintf(field, flen, "%s", f);
    snprintf(msg, mlen, "%s", m);
    return -1;
}

int milestone_settings_from_json(const milestone_config_t *mc, const json_t *p,
                                 milestone_settings_t *out, char *field, size_t flen, char *msg,
                                 size_t mlen)
{
    int kind = milestone_settings_kind(json_string_value(json_object_get(p, "kind")));
    if (kind < 0)
        return s_fail(field, flen, "kind", msg, mlen, "kind must be birthday or anniversary");
    milestone_settings_default(mc, kind, out);
    out->admin = 1;
    const json_t *en = json_object_get(p, "enabled");
    if (en && !json_is_boolean(en))
        return s_fail(field, flen, "enabled", msg, mlen, "enabled must be true or false");
    if (en)
        out->enabled = json_is_true(en);
    const json_t *t = json_object_get(p, "time");
    if (t && milestone_settings_parse_time(json_string_value(t), &out->minutes))
        return s_fail(field, flen, "time", msg, mlen, "time must be HH:MM, 00:00 to 23:59");
    const json_t *o = json_object_get(p, "offset");
    if (o && milestone_settings_parse_offset(json_string_value(o), &out->offset_days))
        return s_fail(field, flen, "offset", msg, mlen,
                      "offset must be 0 or whole days from -30d to +30d, like -3d");
    const char *tmpl = json_string_value(json_object_get(p, "template"));
    if (json_object_get(p, "template")) {
        int ok = tmpl && *tmpl && strlen(tmpl) < sizeof out->template_name &&
                 tmpl[0] >= 'a' && tmpl[0] <= 'z';
        for (const char *c = tmpl; ok && *c; c++)
            ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
        if (!ok)
            return s_fail(field, flen, "template", msg, mlen,
                          "template must be a template name: a-z, 0-9 and _, 1-64");
        snprintf(out->template_name, sizeof out->template_name, "%s", tmpl);
    }
    const json_t *from = json_object_get(p, "anniversary_from");
    if (from) {
        const char *f = json_string_value(from);
        if (kind != MILESTONE_ANNIVERSARY)
            return s_fail(field, flen, "anniversary_from", msg, mlen,
                          "anniversary_from is a setting of kind anniversary only");
        if (!f || (strcmp(f, "first_purchase") != 0 && strcmp(f, "signup_date") != 0))
            return s_fail(field, flen, "anniversary_from", msg, mlen,
                          "anniversary_from must be first_purchase or signup_date");
        out->from_signup = strcmp(f, "signup_date") == 0;
    }
    const char *by = json_string_value(json_object_get(p, "by"));
    snprintf(out->by, sizeof out->by, "%s", by ? by : "");
    return 0;
}

schema_t *milestone_settings_schema(char *err, size_t errlen)
{
    for (const proto_doc_t *d = proto_event_schemas; d->name; d++)
        if (strcmp(d->name, EV_MILESTONE_SAVED) == 0)
            return schema_new(d->json, err, errlen);
    snprintf(err, errlen, "no schema for milestone.saved");
    return NULL;
}

const char *milestone_settings_check(const schema_t *s, const json_t *p, char *field, size_t flen,
                           char *msg, size_t mlen)
{
    char why[256];
    if (schema_validate(s, p, field, flen, why, sizeof why)) {
        snprintf(msg, mlen, "%s %s", *field ? field : "milestone", why);
        return "invalid_field";
    }
    /* the schema's patterns are the shape; the service's parser has the
     * last word (an offset of 45d has the shape but not the range) */
    const json_t *t = json_object_get(p, "time");
    const json_t *o = json_object_get(p, "offset");
    int v;
    if (t && milestone_settings_parse_time(json_string_value(t), &v)) {
        s_fail(field, flen, "time", msg, mlen, "time must be HH:MM, 00:00 to 23:59");
        return "invalid_field";
    }
    if (o && milestone_settings_parse_offset(json_string_value(o), &v)) {
        s_fail(field, flen, "offset", msg, mlen,
               "offset must be 0 or whole days from -30d to +30d, like -3d");
        return "invalid_field";
    }
    if (json_object_get(p, "anniversary_from") &&
        milestone_settings_kind(json_string_value(json_object_get(p, "kind"))) !=
            MILESTONE_ANNIVERSARY) {
        s_fail(field, flen, "anniversary_from", msg, mlen,
               "anniversary_from is a setting of kind anniversary only");
        return "invalid_field";
    }
    return NULL;
}

int milestone_settings_template_check(const char *dir, const char *def, const char *name,
                                      char *field, size_t flen, char *msg, size_t mlen)
{
    char loc[32], path[4096];
    size_t i = 0;
    /* the mailer's folder names: lower case, "-" (pl_PL is pl-pl/) */
    for (; def && def[i] && i < sizeof loc - 1; i++)
        loc[i] = def[i] == '_' ? '-' : (char)tolower((unsigned char)def[i]);
    loc[i] = '\0';
    if (!name || !dir)
        return s_fail(field, flen, "template", msg, mlen, "template is required");
    int n = snprintf(path, sizeof path, "%s/%s/%s.md", dir, *loc ? loc : "en", name);
    if (n > 0 && (size_t)n < sizeof path && access(path, R_OK) == 0)
        return 0;
    snprintf(field, flen, "template");
    snprintf(msg, mlen, "template %.64s does not exist: no %.64s/%.64s.md under [mailer] templates",
             name, *loc ? loc : "en", name);
    return -1;
}
