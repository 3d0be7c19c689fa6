/*
 * template_saved.h - the checks of a template.saved payload (a new version
 * of one email template for one locale), shared by the admin API, `hark
 * template`, Hark Console and hark-mailer, so a text is refused before it
 * is journaled with the same words wherever it comes from.
 */
#ifndef HARK_TEMPLATE_SAVED_H
#define HARK_TEMPLATE_SAVED_H

#include <jansson.h>
#include <stddef.h>

#include "render.h"
#include "schema.h"

/* template_saved_schema - template.saved's schema, compiled (caller frees
 * with schema_destroy); NULL with a message in err */
schema_t *template_saved_schema(char *err, size_t errlen);

/* template_saved_known - 1 when name is a template of r (a <name>.md in
 * one of its locale folders) and locale one of its folders; else 0 with
 * the field ("name" or "locale") and a message naming it */
int template_saved_known(const render_t *r, const char *locale, const char *name, char *field,
                         size_t flen, char *msg, size_t mlen);

/* template_saved_check - NULL when p is a template.saved payload that can
 * be applied: the schema, a known locale and name (template_saved_known),
 * a source that compiles (render_check_source).  Else the error code
 * ("invalid_field") with the field, a message naming it and, for the
 * source, *line (may be NULL) the line of the source at fault (0: none). */
const char *template_saved_check(const schema_t *s, const render_t *r, const json_t *p,
                                 char *field, size_t flen, char *msg, size_t mlen, int *line);

#endif
