/*
 * template_saved.c - checks of a template.saved payload (template_saved.h).
 *
 * The schema gives the shape; the renderer has the last word: the source
 * is compiled exactly as hark-mailer will compile it, so a text that
 * passes here never fails to compile in the mailer (it could only fail to
 * render, e.g. a subject made only of a variable the mail lacks).
 */
#include "template_saved.h"

#include <stdio.h>
#include <string.h>

#include "proto.h"

/* template_saved_schema - compile proto/events/template.saved.json */
schema_t *template_saved_schema(char *err, size_t errlen)
{
    for (const proto_doc_t *d = proto_event_schemas; d->name; d++)
        if (strcmp(d->name, EV_TEMPLATE_SAVED) == 0)
            return schema_new(d->json, err, errlen);
    snprintf(err, errlen, "no schema for template.saved");
    return NULL;
}

/* template_saved_known - a folder and a template of r */
int template_saved_known(const render_t *r, const char *locale, const char *name, char *field,
                         size_t flen, char *msg, size_t mlen)
{
    const char *locs[64];
    size_t n = render_locales(r, locs, 64), i;
    for (i = 0; i < n; i++)
        if (locale && strcmp(locs[i], locale) == 0)
            break;
    if (i == n) {
        snprintf(field, flen, "locale");
        snprintf(msg, mlen, "locale %.40s is not one of the template folders", locale ? locale : "");
        return 0;
    }
    json_t *names = json_array(), *v;
    int found = 0;
    if (names && render_templates(r, names) == 0)
        json_array_foreach(names, i, v) found |= name && strcmp(json_string_value(v), name) == 0;
    json_decref(names);
    if (!found) {
        snprintf(field, flen, "name");
        snprintf(msg, mlen, "%.64s is not a template: no %.64s.md in the template folders",
                 name ? name : "", name ? name : "");
    }
    return found;
}

/* template_saved_check - schema, names, then the source compiled */
const char *template_saved_check(const schema_t *s, const render_t *r, const json_t *p,
                                 char *field, size_t flen, char *msg, size_t mlen, int *line)
{
    char why[256];
    if (line)
        *line = 0;
    *field = '\0';
    if (schema_validate(s, p, field, flen, why, sizeof why)) {
        snprintf(msg, mlen, "%s %s", *field ? field : "template", why);
        return "invalid_field";
    }
    if (!template_saved_known(r, json_string_value(json_object_get(p, "locale")),
                              json_string_value(json_object_get(p, "name")), field, flen, msg,
                              mlen))
        return "invalid_field";
    const char *src = json_string_value(json_object_get(p, "source"));
    if (src && render_check_source(src, msg, mlen, line)) {
        snprintf(field, flen, "source");
        return "invalid_field";
    }
    return NULL;
}
