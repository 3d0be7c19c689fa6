/*
 * words.h - the short texts people read (page titles, labels, errors, month
 * names, date formats), one file per language: <templates>/<locale>/words.json.
 *
 * The set of languages is the set of folders under the templates directory
 * that hold a words.json: adding a language is adding a folder, with no
 * list of locales in C.  A word missing from a language is taken from the
 * fallback locale ([mailer] default_locale, "en"), which must exist.
 *
 * A word is found by a dotted key, "survey.title": an object per page or
 * mail part, a string (or, for lists such as month names, an array of
 * strings) per word.  Words may hold Mustache variables ({{shop}}) that the
 * caller fills in.  A word whose key ends in "_html" is trusted markup
 * written by the translator ("<b>{{score}}</b> out of 10"): its variables
 * are HTML-escaped and the rest is kept; any other word is plain text,
 * escaped whole when it goes into a page (words_html).
 *
 * Ownership: words_t is read-only once loaded, so any number of threads
 * may look words up at once; words_destroy() frees it.
 */
#ifndef HARK_WORDS_H
#define HARK_WORDS_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"

typedef struct words words_t;

/* words_load - read every <dir>/<locale>/words.json.  fallback names the
 * locale that stands in for missing words (its folder must have one).
 * Every word must be a string (or array of strings) that compiles as
 * Mustache.  NULL with err saying which file and why. */
words_t *words_load(const char *dir, const char *fallback, char *err, size_t errlen);
void words_destroy(words_t **self_p);

/* words_count / words_name - the locales found (folder names), sorted */
size_t words_count(const words_t *w);
const char *words_name(const words_t *w, size_t i);

/* words_locale - the locale that serves a BCP 47 tag: the tag itself
 * ("pt-BR", matched without regard to case and '_' as '-'), then its
 * primary language ("pt"), then the fallback.  NULL or a malformed tag
 * gets the fallback.  Never NULL. */
const char *words_locale(const words_t *w, const char *tag);

/* words_accept - the locale for an Accept-Language header: the first
 * language (by q, then order) that has a folder, its primary language
 * counting; NULL when none has one */
const char *words_accept(const words_t *w, const char *header);

/* words_get - the raw word key ("survey.title") in locale (as given by
 * words_locale), else in the fallback; the key itself when neither has it
 * (visible, and never NULL) */
const char *words_get(const words_t *w, const char *locale, const char *key);

/* words_list - the i-th string of the list word key (month names), or
 * NULL when there is none */
const char *words_list(const words_t *w, const char *locale, const char *key, size_t i);

/* words_text - the word with its {{variables}} filled in from vars (a JSON
 * object; NULL for none) as plain text.  malloc'd; NULL when out of
 * memory. */
char *words_text(const words_t *w, const char *locale, const char *key, const json_t *vars);

/* words_html - the word as HTML, appended to b: a plain word filled in and
 * escaped whole (buf_html); an "_html" word filled in with escaped
 * variables and otherwise kept.  0/-1 */
int words_html(buf_t *b, const words_t *w, const char *locale, const char *key,
               const json_t *vars);

#endif
