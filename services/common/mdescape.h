/*
 * mdescape.h - make customer text safe to paste into a Markdown document.
 *
 * Hark renders its Markdown with cmark (libcmark 0.30), which has no escaper
 * for inline text, so we write our own.  The escaped text, placed inside a
 * paragraph, renders as exactly the characters the customer typed: never a
 * link, autolink, image, heading, list, block quote, code, emphasis, HTML tag
 * or entity; and since ':', '.' and '@' are escaped too, no extension that
 * links bare URLs, www. names or e-mail addresses (GFM's) can match either.
 *
 * How: every ASCII punctuation character is backslash-escaped (CommonMark
 * allows that for all of them); tabs, other controls and DEL become spaces;
 * leading and trailing spaces of each line are dropped (a paragraph drops
 * them when rendering anyway) so the text cannot be indented code.  Non-ASCII
 * text passes through unchanged.
 */
#ifndef HARK_MDESCAPE_H
#define HARK_MDESCAPE_H

#include <stddef.h>

/* mdescape_inline - escaped copy of s for use inside a paragraph.  Line
 * breaks (\r\n, \r, \n) become spaces so the text cannot start a new block.
 * s is first cut to at most max_chars code points (0 = no cap), and when
 * anything was cut "…" is appended.  Returns a malloc'd string the caller
 * frees, or NULL when s is NULL or not valid UTF-8, or on OOM. */
char *mdescape_inline(const char *s, size_t max_chars);

/* mdescape_block - like mdescape_inline, but each line break becomes a
 * hard line break ("\\\n") inside the one paragraph, for quoting multi-line
 * comments; blank lines collapse into one hard break, and blank lines at the
 * start or end are dropped, so the text stays one paragraph.  The caller
 * frees the result; NULL as for mdescape_inline. */
char *mdescape_block(const char *s, size_t max_chars);

#endif
