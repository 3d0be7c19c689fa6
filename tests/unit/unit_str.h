/*
 * unit_str.h - a growable string for tests that build long inputs or
 * expected outputs piece by piece (test_mime.c, test_mdescape.c).
 */
#ifndef HARK_UNIT_STR_H
#define HARK_UNIT_STR_H

#include <stdlib.h>
#include <string.h>

/* Always NUL-terminated once anything was added; the owner frees d. */
typedef struct {
    char *d;
    size_t len, cap;
} unit_str_t;

/* unit_str_add - append n bytes (aborts on OOM: this is a test) */
static inline void unit_str_add(unit_str_t *s, const char *p, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        s->cap = (s->len + n + 1) * 2;
        s->d = realloc(s->d, s->cap);
        if (!s->d)
            abort();
    }
    if (n)
        memcpy(s->d + s->len, p, n);
    s->len += n;
    s->d[s->len] = '\0';
}

/* unit_str_adds - append a C string */
static inline void unit_str_adds(unit_str_t *s, const char *p)
{
    unit_str_add(s, p, strlen(p));
}

#endif
