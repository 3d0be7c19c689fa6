/*
 * schema.h - validate JSON values against a JSON Schema (a Draft 2020-12 subset).
 *
 * Our event and command payloads are described by JSON Schemas in
 * proto/events/<name>.json.  Python's jsonschema (Draft 2020-12) checks the same
 * files in the end-to-end tests, so every keyword supported here has the
 * standard meaning.  We write our own because Debian ships no C JSON Schema
 * library; this one sits on top of jansson and covers what our schemas use.
 *
 * Supported keywords:
 *   type (a name or an array of names; "integer" also accepts 1.0),
 *   properties, required, additionalProperties (bool or schema),
 *   enum, const (numbers compare by value: 1 equals 1.0),
 *   minLength, maxLength (Unicode code points, not bytes), pattern,
 *   minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers),
 *   items (one schema), minItems, maxItems, minProperties, maxProperties,
 *   allOf, anyOf, oneOf, not, $defs, $ref ("#/$defs/<name>" only), format.
 * Annotations are ignored: title, description, $schema, $id, $comment,
 * examples, default, deprecated, readOnly, writeOnly and any "x-..." key.
 * Any other keyword is a compile error, so a typo in a schema is caught
 * when it is loaded rather than silently accepted.
 *
 * Formats are checked (an unknown format name is a compile error):
 *   date       YYYY-MM-DD, a real calendar day
 *   date-time  RFC 3339: YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|-hh:mm)
 *   email      pragmatic: one '@', non-empty local part, dotted domain,
 *              no whitespace, control characters, ',', '<' or '>'; <= 254 bytes
 *   birthday   YYYY-MM-DD or --MM-DD (no year; --02-29 allowed)
 *   timezone   an IANA name with a TZif file under /usr/share/zoneinfo, or "UTC"
 *   locale     BCP 47 subset: language[-Script][-REGION], e.g. en, pl-PL, zh-Hans-CN
 *   currency   three upper-case ASCII letters (ISO 4217 style)
 *   duration   a positive integer of up to 10 digits (no leading zero) and one
 *              unit s|m|h|d|w: 90s, 2h, 7d
 *
 * "pattern" is an ECMA-262 regex in JSON Schema; we run it as a POSIX ERE
 * (regcomp REG_EXTENDED|REG_NOSUB, compiled once, in the C.UTF-8 locale so
 * "." is one character).  Our schemas only use patterns that mean the same in
 * ECMA and ERE; constructs known to differ (\d, \w, (?:...), lazy quantifiers,
 * backslashes inside [...]) are refused when the schema is compiled.
 *
 * Wherever a string is checked as a string (type "string", minLength,
 * maxLength, pattern, format) it must also be valid UTF-8 and contain no NUL
 * ("\u0000" is legal JSON and jansson keeps it; we refuse it).
 *
 * A compiled schema is immutable; schema_validate() may be called from
 * several threads at once on the same schema.
 */
#ifndef HARK_SCHEMA_H
#define HARK_SCHEMA_H

#include <stddef.h>
#include <jansson.h>

typedef struct schema schema_t;

/* schema_new - compile a JSON Schema given as text.  Returns NULL on error and writes a
   one-line reason to err.  Caller frees with schema_destroy(). */
schema_t *schema_new(const char *json_text, char *err, size_t errlen);

/* schema_new_json - same from a parsed value (the schema keeps its own reference).
   The schema takes a private deep copy of doc, so the caller keeps, may change and
   must still json_decref() its own doc. */
schema_t *schema_new_json(json_t *doc, char *err, size_t errlen);

/* schema_destroy - free a schema; safe on NULL and twice; sets *self_p = NULL */
void schema_destroy(schema_t **self_p);

/* schema_validate - 0 when value is valid.  Otherwise -1, with the path of the first offending
   field written to path (dotted, arrays as [i]: "customer.email", "items[2].sku", "" for the root)
   and a short human message to msg ("is required", "must be a string", "must be one of: a, b",
   "must be at most 200 characters", "is not a known field", "must be a date YYYY-MM-DD", ...).
   For a missing required property the path names the missing property (e.g. "customer.email").
   path and msg are caller buffers, always NUL-terminated when their length is > 0; either
   may be NULL.  The value is only read. */
int schema_validate(const schema_t *s, const json_t *value, char *path, size_t pathlen, char *msg,
                    size_t msglen);

/* schema_depth_check - 0 when value nests objects and arrays at most max
   levels deep (value itself, if one, is level 1; scalars add none).
   Otherwise -1 with the path of the first value one level too deep written
   to path (dotted as schema_validate's, cut to pathlen).  Not a keyword:
   the one limit is PROTO_MAX_DEPTH (proto.h), checked on any JSON that
   comes in, before its schema. */
int schema_depth_check(const json_t *value, int max, char *path, size_t pathlen);

#endif
