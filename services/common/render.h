/*
 * render.h - turn a template name, a locale and JSON variables into
 * the subject, preheader, plain-text and HTML parts of one e-mail.
 *
 * Templates are Markdown with Mustache, one file per template and locale:
 * <templates_dir>/<locale>/<name>.md, starting with a front-matter block
 * ("---", "subject: ...", optional "preheader: ...", "---").  Partials
 * ({{> _footer}}) are <locale>/<partial>.md without front matter.  The HTML
 * part is the rendered Markdown wrapped in <templates_dir>/layout.html.
 * templates/README.md lists every template and its variables.
 *
 * Why this shape: customers' names, comments and complaint texts end up in
 * these mails, so {{var}} is escaped for Markdown (mdescape_inline: the
 * text shows literally and never becomes a link, image, heading or HTML),
 * while {{{var}}} is trusted staff Markdown (replies, announcements) or a
 * URL the sender built.  cmark renders in safe mode either way, so even
 * trusted Markdown cannot carry raw HTML or javascript: links.  The plain
 * text part is made from the same cmark tree, wrapped at 78 columns.
 *
 * Locale fallback: the requested tag ("pl-PL", "zh_Hans"), then its primary
 * subtag ("pl", "zh"), then the default locale; the first locale directory
 * holding the template wins (rendered_t.locale_used) and its partials are
 * looked up along the same chain starting from there.
 *
 * Plurals: for every top-level integer variable N (an integer, or a string
 * of digits) the renderer adds the boolean N_one, N_few, N_many or N_other
 * - the CLDR cardinal category of N in the template's language - unless the
 * sender set that key, so templates pick words with sections:
 * {{#years_one}}год{{/years_one}}{{#years_few}}года{{/years_few}}...
 *
 * Caching: each (locale, name) is read and compiled once (mustache_new),
 * on first use, and kept until render_destroy(); edits to template files
 * need a restart.  A text saved by staff (the template.saved event) takes
 * a file's place through render_set_source(): the files stay the defaults,
 * and hark-mailer hands every worker's renderer the newest saved versions
 * without a restart.  Ownership: render_t owns its caches; rendered_t's
 * strings are malloc'd, freed by render_message_free().
 *
 * Thread-safety: a render_t is used by one thread at a time (its caches and
 * the compiled templates' partial caches are not locked); make one per
 * thread if needed.
 */
#ifndef HARK_RENDER_H
#define HARK_RENDER_H

#include <stddef.h>
#include <jansson.h>

#define RENDER_TEXT_WIDTH     78      /* plain-text part wraps here */
#define RENDER_MAX_VAR_CHARS  2000    /* {{var}} in a body: code points kept */
#define RENDER_MAX_LINE_VAR_CHARS 200 /* {{var}} in subject/preheader */
#define RENDER_MAX_MARKDOWN   ((size_t)256 * 1024)  /* rendered body, bytes */
#define RENDER_MAX_SOURCE     ((size_t)64 * 1024)   /* a saved template's text, bytes */

typedef struct render render_t;

/* One rendered message; every string is malloc'd and NUL-terminated. */
typedef struct {
    char *subject;      /* one line, plain text (no Markdown escapes) */
    char *preheader;    /* one line, plain text; "" when the template has none */
    char *text;         /* text/plain body, "\n" line ends, ends with "\n" */
    char *html;         /* text/html: the body inside layout.html */
    char *locale_used;  /* the locale directory the template came from */
} rendered_t;

/* render_new - renderer over templates_dir (its layout.html is loaded and
 * compiled now, and default_locale must be one of its directories).  NULL
 * with a message in err on error.  Free with render_destroy(). */
render_t *render_new(const char *templates_dir, const char *default_locale,
                     char *err, size_t errlen);

/* render_destroy - free the renderer and its caches; safe on NULL and
 * twice; sets *self_p = NULL. */
void render_destroy(render_t **self_p);

/* render_message_free - free r's strings and zero it; safe on NULL and twice. */
void render_message_free(rendered_t *r);

/* render_message - render template `name` for `locale` (NULL or "": the
 * default) with vars (a JSON object; NULL: none) into *out, which the
 * caller frees with render_message_free().  {{var}} values are capped at
 * RENDER_MAX_VAR_CHARS code points (RENDER_MAX_LINE_VAR_CHARS in subject
 * and preheader) with "…" appended when cut; a body whose Markdown exceeds
 * RENDER_MAX_MARKDOWN is an error (cmark has quadratic inputs).  Returns 0,
 * or -1 with err set (unknown template, bad name, template syntax error,
 * an empty subject, a limit, out of memory); *out is zeroed then. */
int render_message(render_t *r, const char *name, const char *locale,
                   const json_t *vars, rendered_t *out, char *err,
                   size_t errlen);

/* render_names - the variables template `name` (for locale, as
 * render_message picks it) looks up at its top level in subject,
 * preheader and body, each once, appended to names (a JSON array of
 * strings); 0, or -1 with err set as render_message would */
int render_names(render_t *r, const char *name, const char *locale, json_t *names, char *err,
                 size_t errlen);

/* render_plural_category - CLDR cardinal plural category of the integer n
 * in language `locale` ("one", "few", "many" or "other"); the primary
 * subtag decides: ru and be (one/few/many), pl (one/few/many), en and
 * unknown (one/other), zh (other). */
const char *render_plural_category(const char *locale, long long n);

/* render_check_source - whether text (a whole template file: front matter
 * and body) compiles: a front-matter block with a non-empty subject,
 * Mustache syntax of subject, preheader and body, at most
 * RENDER_MAX_SOURCE bytes of UTF-8.  0, or -1 with err naming the line of
 * text ("template: body: line 9: unclosed section 'items'") and *line
 * (may be NULL) that line, 0 when the error is not on one line. */
int render_check_source(const char *text, char *err, size_t errlen, int *line);

/* render_set_source - render template `name` of locale directory `locale`
 * from text (copied; checked as render_check_source does) from now on,
 * instead of <locale>/<name>.md, replacing what was cached; text NULL
 * drops such a text (the file counts again).  The locale must be one of
 * the renderer's directories; the file need not exist (a saved text for
 * a locale that has none is found before the fallback).  0, or -1 with
 * err set and the renderer unchanged. */
int render_set_source(render_t *r, const char *locale, const char *name, const char *text,
                      char *err, size_t errlen);

/* render_source_text - the file text of template `name` in locale
 * directory `locale` (not a saved text: the default) into *text (caller
 * frees); 0, 1 when there is no such file, -1 with err set */
int render_source_text(const render_t *r, const char *locale, const char *name, char **text,
                       char *err, size_t errlen);

/* render_templates - every template name (<name>.md, not a partial) of
 * every locale directory, each once, appended to names (a JSON array);
 * 0/-1 */
int render_templates(const render_t *r, json_t *names);

/* render_locales - the renderer's locale directories that hold a template
 * (pointers into r), sorted, at most max, into out; how many */
size_t render_locales(const render_t *r, const char **out, size_t max);

#endif
