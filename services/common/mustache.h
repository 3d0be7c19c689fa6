/*
 * mustache.h - Mustache templates rendered over jansson values.
 *
 * Hark's email templates (Markdown) are compiled once with mustache_new()
 * and rendered many times with mustache_render() against different JSON
 * contexts.  {{name}} passes the value through a pluggable escape function
 * (Hark plugs in a Markdown escaper; NULL means the spec's HTML escaping),
 * while {{{name}}} and {{& name}} insert the value raw.
 *
 * Why our own: Debian ships no C Mustache library that fits - none renders
 * jansson values, takes a pluggable escaper, and passes the official spec
 * suite - and the language is small enough to implement here.  This module
 * passes every test of the official spec files comments, delimiters,
 * interpolation, inverted, partials and sections (tests/unit/test_mustache.c
 * runs them).  Lambdas and template inheritance are not supported.
 *
 * Semantics (per the spec):
 *  - names: "." is the top of the context stack; "a.b.c" resolves "a"
 *    against the context stack (top first), then "b" and "c" only against
 *    the previous result; "a.b" is never looked up as a single key.
 *  - falsy, for sections and inverted sections: missing, null, false, the
 *    empty array, the empty string "" and the number 0 - the spec defines
 *    truthiness as `!!data` in JavaScript terms.  Empty objects are truthy.
 *    A section over an array renders once per element; over any other
 *    truthy value, once with that value pushed on the context stack.
 *  - interpolation: strings as is; integers plainly ("42"); reals in the
 *    shortest form that round-trips ("1.21", "3", "1e+21"); true/false as
 *    "true"/"false"; null and misses as ""; objects and arrays as compact
 *    JSON.  The escape function sees that string form.
 *  - standalone section/inverted/close/comment/partial/set-delimiter tags
 *    remove their whole line; a standalone partial's indentation is
 *    prepended to every line of the partial's own text.  A partial the
 *    loader does not know renders as "".
 *
 * Limits, for hostile templates: sections may nest MUSTACHE_MAX_NESTING
 * deep within one template (a compile error beyond), partials
 * MUSTACHE_MAX_PARTIAL_DEPTH deep (a render error beyond - this is what stops
 * a partial that includes itself forever), and a render stops with an error
 * past a maximum output size or number of steps (mustache_set_limits()).
 * Nothing reads outside the template text.
 *
 * Thread-safety: a compiled mustache_t caches compiled partials lazily while
 * rendering, and remembers its last output size to size the next one, so
 * one mustache_t must not be rendered from two threads at once (different
 * mustache_t objects are independent).  No global state.
 */
#ifndef HARK_MUSTACHE_H
#define HARK_MUSTACHE_H

#include <stddef.h>
#include <jansson.h>

#define MUSTACHE_MAX_NESTING       100   /* sections within one template */
#define MUSTACHE_MAX_PARTIAL_DEPTH 32    /* partials within partials */
#define MUSTACHE_DEFAULT_MAX_OUTPUT ((size_t)64 * 1024 * 1024)  /* bytes */
#define MUSTACHE_DEFAULT_MAX_STEPS  50000000UL  /* nodes visited per render */

typedef struct mustache mustache_t;
typedef struct mustache_buf mustache_buf_t;

/* mustache_buf_append - append s[0..len) to the render output; 0, or -1
   when out of memory or over the output limit (the render then fails). */
int mustache_buf_append(mustache_buf_t *b, const char *s, size_t len);

/* mustache_buf_var_is - 1 when the value being escaped is the tag `name`
   (its last dotted segment), so an escaper can treat some variables
   differently (Hark keeps line breaks in customers' comments); 0 otherwise */
int mustache_buf_var_is(const mustache_buf_t *b, const char *name);

/* escape callback: append the escaped form of s[0..len) to out via
   mustache_buf_append; return 0, or -1 to fail the render. */
typedef int (*mustache_escape_fn)(mustache_buf_t *out, const char *s,
                                  size_t len, void *arg);

/* mustache_escape_html - the spec's escaping: & " < > become
   &amp; &quot; &lt; &gt; (arg unused). */
int mustache_escape_html(mustache_buf_t *out, const char *s, size_t len,
                         void *arg);

/* partial loader: return the TEXT of partial `name`, or NULL if there is
   none (it then renders as "").  The engine copies what it needs; the text
   only has to stay valid until the loader is called again.  Compiled
   partials are cached in the template being rendered and recompiled when
   the loader returns different text for a name. */
typedef const char *(*mustache_partial_fn)(const char *name, void *arg);

/* mustache_new - compile template text (copied).  NULL on syntax error with
   a message naming the line ("line 3: unclosed section 'items'") in err
   (err may be NULL).  Caller frees with mustache_destroy(). */
mustache_t *mustache_new(const char *text, char *err, size_t errlen);

/* mustache_destroy - free a template and its cached partials; safe on NULL
   and twice; sets *self_p = NULL. */
void mustache_destroy(mustache_t **self_p);

/* mustache_set_limits - cap one render's output bytes and steps (node
   visits); 0 keeps the default (MUSTACHE_DEFAULT_MAX_*). */
void mustache_set_limits(mustache_t *t, size_t max_output,
                         unsigned long max_steps);

/* mustache_render - render with a JSON context (NULL: empty context).
   Returns a malloc'd NUL-terminated string the caller frees, or NULL on
   error (err says why: a partial that fails to compile, partials nested
   deeper than MUSTACHE_MAX_PARTIAL_DEPTH, a limit, out of memory, or the
   escape callback failing).  partials NULL means no partials; escape NULL
   means HTML escaping.  Not reentrant per template: see thread-safety. */
char *mustache_render(mustache_t *t, const json_t *context,
                      mustache_partial_fn partials, void *partials_arg,
                      mustache_escape_fn escape, void *escape_arg,
                      char *err, size_t errlen);

/* mustache_names - call fn once per tag at the template's top level (not
   inside a section, where a name may be a field of the section's item)
   with the name it looks up, cut at its first '.'; "." is skipped.
   Partials are not followed.  A preview uses it to say which variables a
   template wants that it was not given. */
void mustache_names(const mustache_t *t,
                    void (*fn)(const char *name, size_t len, void *arg),
                    void *arg);

#endif
