/*
 * mdtext.h - Markdown (a cmark tree) to the plain-text part of an e-mail:
 * paragraphs wrapped at a width in columns, links as "text <url>", lists
 * and quotes with hanging indents.  render.c calls it for every message.
 */
#ifndef HARK_MDTEXT_H
#define HARK_MDTEXT_H

#include <cmark.h>
#include <stddef.h>

/* mdtext_from_doc - the text of document doc wrapped at width columns,
 * ending with "\n"; malloc'd, the caller frees it; NULL on OOM */
char *mdtext_from_doc(cmark_node *doc, size_t width);

/* mdtext_is_link_row - 1 when para is a paragraph of two or more links
 * and only whitespace between them (the 0-10 score row): the text part
 * puts each on its own line, the HTML part styles them as buttons */
int mdtext_is_link_row(cmark_node *para);

/* mdtext_width - columns the code point cp takes in the text part:
 * 0 for combining marks, joiners and variation selectors, 2 for East Asian
 * wide and fullwidth characters (CJK, Hangul, fullwidth forms, most emoji),
 * 1 otherwise.  Exposed for tests. */
int mdtext_width(unsigned cp);

#endif
