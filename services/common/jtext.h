/*
 * jtext.h - JSON text read and written faster than jansson's general
 * functions, with the same results (jtext.c says how).
 */
#ifndef HARK_JTEXT_H
#define HARK_JTEXT_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"

/* jtext_load - text as json_loadb(text, len, JSON_REJECT_DUPLICATES, err)
 * reads it: the same tree, the same refusals and error */
json_t *jtext_load(const char *text, size_t len, json_error_t *err);

/* jtext_fast - the fast reader alone: the tree, or NULL when the text is
 * not of the shape it reads (json_loadb then decides) */
json_t *jtext_fast(const char *text, size_t len);

/* jtext_write - v as json_dumps(v, JSON_COMPACT | flags) writes it (flags:
 * JSON_REAL_PRECISION), appended to b */
void jtext_write(buf_t *b, const json_t *v, size_t flags);

/* jtext_string - s (UTF-8 without NUL) as a JSON string literal, escaped
 * as json_dumps escapes it, appended to b */
void jtext_string(buf_t *b, const char *s);

#endif
