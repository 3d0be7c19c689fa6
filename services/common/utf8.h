/*
 * utf8.h - decode one UTF-8 sequence, strictly: no overlong forms, no
 * surrogates, nothing above U+10FFFF, no truncated sequences.  One decoder
 * for the MIME encoder, the Markdown escaper, the schema checker and the
 * renderer.  (journal_scan.c keeps its own byte-range check, which needs no
 * code point and sits on the journal's hottest path.)
 */
#ifndef HARK_UTF8_H
#define HARK_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* utf8_decode - the length (1-4) of the valid sequence at s, which has n >= 1
 * bytes left, storing its code point in *cp when cp is not NULL; 0 when the
 * bytes there are not valid UTF-8 (*cp untouched). */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* utf8_count - the number of code points in s[0..n), which is valid UTF-8
 * (lengths in characters: schema maxLength, form fields, CLI columns) */
size_t utf8_count(const char *s, size_t n);

#endif
