/*
 * buf.c - growable buffer.
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* s_grow - make room for n more bytes plus the NUL */
static int s_grow(buf_t *b, size_t n)
{
    if (b->failed)
        return -1;
    if (n > ((size_t)-1) - 1 - b->len) {     /* len + n + 1 would wrap */
        b->failed = 1;
        return -1;
    }
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

/* buf_reserve - room for n more bytes; len and content are unchanged */
int buf_reserve(buf_t *b, size_t n)
{
    if (s_grow(b, n))
        return -1;
    b->data[b->len] = '\0';     /* a first allocation holds "" at once */
    return 0;
}

/* buf_append - append len bytes */
void buf_append(buf_t *b, const char *s, size_t len)
{
    /* the common case, room already there, costs no call: the bytes and
     * the NUL fit when cap - b->len > len (cap >= b->len always) */
    if (b->failed || (b->cap - b->len <= len && s_grow(b, len)))
        return;
    if (len)
        memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

/* buf_puts - append a C string */
void buf_puts(buf_t *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

/* buf_putc - append one byte */
void buf_putc(buf_t *b, char c)
{
    buf_append(b, &c, 1);
}

/* buf_printf - append formatted text */
void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        buf_append(b, small, (size_t)n);
        return;
    }
    if (s_grow(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* buf_json_string - JSON string literal; s must be valid UTF-8 */
void buf_json_string(buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    buf_putc(b, '"');
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(b, run, (size_t)(p - run));
        run = p + 1;
        switch (c) {
        case '"': buf_append(b, "\\\"", 2); break;
        case '\\': buf_append(b, "\\\\", 2); break;
        case '\n': buf_append(b, "\\n", 2); break;
        case '\r': buf_append(b, "\\r", 2); break;
        case '\t': buf_append(b, "\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, u, 6);
        }
        }
    }
    buf_puts(b, run);
    buf_putc(b, '"');
}

/* buf_html - HTML-escaped text */
void buf_html(buf_t *b, const char *s)
{
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *e = NULL;
        switch (*p) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&#39;"; break;
        default: continue;
        }
        buf_append(b, run, (size_t)(p - run));
        buf_puts(b, e);
        run = p + 1;
    }
    buf_puts(b, run);
}

/* buf_failed - whether any append failed */
void buf_varint(buf_t *b, uint64_t v)
{
    char t[10];
    size_t n = 0;
    do {
        t[n] = (char)(v & 0x7f);
        v >>= 7;
        if (v)
            t[n] = (char)(t[n] | 0x80);
        n++;
    } while (v);
    buf_append(b, t, n);
}

int buf_varint_get(const unsigned char *p, size_t len, size_t *off, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *off < len; shift += 7) {
        unsigned char c = p[(*off)++];
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

int buf_failed(const buf_t *b)
{
    return b->failed;
}

/* buf_reset - empty, keep capacity */
void buf_reset(buf_t *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* buf_release - give the string away; never NULL unless allocation failed */
char *buf_release(buf_t *b)
{
    if (b->failed) {
        buf_free(b);
        return NULL;
    }
    if (!b->data)
        buf_append(b, "", 0);
    char *d = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

/* buf_free - release memory */
void buf_free(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}
