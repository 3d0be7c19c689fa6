/*
 * buf.h - a growable byte buffer, always NUL-terminated.
 *
 * Used to build JSON replies, HTTP bodies and SQL without fixed limits.
 * A buf that failed to grow remembers it (buf_failed) and ignores further
 * appends, so a caller checks once at the end instead of after every call.
 */
#ifndef HARK_BUF_H
#define HARK_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;   /* owned; NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    int failed;
} buf_t;

#define BUF_INIT {NULL, 0, 0, 0}

void buf_append(buf_t *b, const char *s, size_t len);
void buf_puts(buf_t *b, const char *s);
void buf_putc(buf_t *b, char c);
/* buf_reserve - make room for n more bytes (and the NUL) now, so a caller
 * that knows roughly how much it will write grows the buffer once instead
 * of doubling through every size; 0, or -1 when it failed (buf_failed) */
int buf_reserve(buf_t *b, size_t n);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* buf_json_string - append s as a JSON string literal, quotes included */
void buf_json_string(buf_t *b, const char *s);
/* buf_html - append s with & < > " ' escaped, for HTML text and attributes */
void buf_html(buf_t *b, const char *s);
/* buf_varint - append v as LEB128 (7 bits a byte, low first): the journal's
 * compact sealed blobs, which hark journal export reads too */
void buf_varint(buf_t *b, uint64_t v);
/* buf_varint_get - the LEB128 number at p[*off] into *v, *off moved past
 * it; 0, or -1 when it runs past len or over 10 bytes */
int buf_varint_get(const unsigned char *p, size_t len, size_t *off, uint64_t *v);
/* buf_failed - 1 if an allocation failed since init or reset */
int buf_failed(const buf_t *b);
/* buf_reset - empty the buffer, keep the memory */
void buf_reset(buf_t *b);
/* buf_release - hand the string to the caller (who frees it); buf is empty after */
char *buf_release(buf_t *b);
/* buf_free - free the memory */
void buf_free(buf_t *b);

#endif
