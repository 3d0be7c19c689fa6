/*
 * journal_scan.c - one-pass reader of JOURNAL_APPEND bodies (see the header
 * for why).
 *
 * The grammar is RFC 8259 with jansson's limits, checked while walking:
 * strings are valid UTF-8 with no control characters, every escape is one
 * of \" \\ \/ \b \f \n \r \t \uXXXX, a \u escape is not \u0000 and a
 * surrogate only comes as a high-low pair; numbers have no leading zeros,
 * and integers fit an int64 and reals a double (we take the ranges where
 * that is sure, jansson decides the rest); no object repeats a member name;
 * nothing but whitespace follows the body.  What we cannot be sure of
 * cheaply we do not guess: JSCAN_SLOW.
 *
 * The payload is kept as the text that was sent, minus the whitespace
 * between tokens.  That is equal in meaning to what jansson's compact dump
 * of the parsed payload would be (same members in the same order, same
 * strings, same numbers), though not always the same bytes: "1e2" stays
 * "1e2" where jansson would write "100.0", and escapes stay escapes.
 */
#include "journal_scan.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define S_MAX_DEPTH 64     /* nesting handled here (jansson takes up to 2048) */
#define S_MAX_NAMES 1024   /* member names of all open objects, for duplicates */
#define S_MAX_MEMBERS 128  /* members of one object handled here */
#define S_MAX_TYPE 64      /* the journal's limits, in bytes */
#define S_MAX_KEY 512
#define S_MAX_OCCURRED 63

typedef struct {
    const char *s;
    size_t n;
} s_span_t;

typedef struct {
    const unsigned char *p, *end;
    int spaced;                    /* whitespace skipped since reset */
    size_t nnames;
    s_span_t names[S_MAX_NAMES];   /* open objects' member names, innermost last */
} s_scan_t;

/* byte classes inside a string: 0 plain, 1 quote, 2 backslash, 3 control,
 * 4 non-ASCII.  Built at compile time (GNU range designators), so threads
 * never race to fill it. */
static const unsigned char s_class[256] = {
    [0x00 ... 0x1f] = 3, ['"'] = 1, ['\\'] = 2, [0x80 ... 0xff] = 4,
};

/* s_ws - skip whitespace, noting that there was some */
static inline void s_ws(s_scan_t *s)
{
    const unsigned char *p = s->p;
    while (p < s->end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    if (p != s->p)
        s->spaced = 1;
    s->p = p;
}

/* s_hex4 - four hex digits at p as a number, -1 if they are not */
static long s_hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        int d = c >= '0' && c <= '9'   ? (int)(c - '0')
                : c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10)
                : c >= 'A' && c <= 'F' ? (int)(c - 'A' + 10)
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* s_utf8 - length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if invalid:
   no overlong forms, no surrogates, nothing past U+10FFFF */
static size_t s_utf8(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if ((size_t)(end - p) <= need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return need + 1;
}

/* s_string - the string at s->p (a quote); its raw content into *out, *plain 0
   when it holds an escape.  0, or -1 for JSCAN_SLOW */
static int s_string(s_scan_t *s, s_span_t *out, int *plain)
{
    const unsigned char *p = s->p + 1, *end = s->end, *start = p;
    *plain = 1;
    for (;;) {
        while (p < end && s_class[*p] == 0)
            p++;
        if (p >= end)
            return -1;
        switch (s_class[*p]) {
        case 1:
            out->s = (const char *)start;
            out->n = (size_t)(p - start);
            s->p = p + 1;
            return 0;
        case 2: {
            *plain = 0;
            if (end - p < 2)
                return -1;
            unsigned c = p[1];
            if (c != 'u') {
                if (!c || !strchr("\"\\/bfnrt", (int)c))
                    return -1;
                p += 2;
                break;
            }
            long u = end - p >= 6 ? s_hex4(p + 2) : -1;
            if (u <= 0 || (u >= 0xDC00 && u <= 0xDFFF)) /* \u0000 or a lone low half */
                return -1;
            if (u >= 0xD800 && u <= 0xDBFF) { /* a high half needs its low half */
                long lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? s_hex4(p + 8) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                p += 12;
            } else {
                p += 6;
            }
            break;
        }
        case 3:
            return -1;
        default: {
            size_t n = s_utf8(p, end);
            if (!n)
                return -1;
            p += n;
        }
        }
    }
}

/* s_digits - skip ASCII digits; how many */
static size_t s_digits(s_scan_t *s)
{
    const unsigned char *p = s->p;
    while (p < s->end && *p >= '0' && *p <= '9')
        p++;
    size_t n = (size_t)(p - s->p);
    s->p = p;
    return n;
}

/* s_number - a number jansson surely holds: an integer of at most 18 digits, or a
   real whose magnitude stays within 1e±300 */
static int s_number(s_scan_t *s)
{
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p >= s->end || *s->p < '0' || *s->p > '9')
        return -1;
    size_t whole = *s->p == '0' ? (s->p++, 1) : s_digits(s);
    int real = 0;
    long exp = 0;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        real = 1;
        if (!s_digits(s))
            return -1;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        real = 1;
        int neg = 0;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            neg = *s->p++ == '-';
        const unsigned char *e0 = s->p;
        for (; s->p < s->end && *s->p >= '0' && *s->p <= '9'; s->p++)
            if (exp < 100000)
                exp = exp * 10 + (*s->p - '0');
        if (s->p == e0)
            return -1;
        if (neg)
            exp = -exp;
    }
    if (!real)
        return whole <= 18 ? 0 : -1;
    return exp >= -300 && (long)whole + exp <= 300 ? 0 : -1;
}

/* s_literal - true, false or null */
static int s_literal(s_scan_t *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

static int s_value(s_scan_t *s, int depth);

/* s_object - an object at s->p ('{'), members checked for duplicates */
static int s_object(s_scan_t *s, int depth)
{
    if (depth > S_MAX_DEPTH)
        return -1;
    s->p++;
    s_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    size_t first = s->nnames;
    for (;;) {
        s_span_t name;
        int plain;
        if (s->p >= s->end || *s->p != '"' || s_string(s, &name, &plain) || !plain)
            return -1; /* an escaped name would need decoding to compare: jansson's job */
        if (s->nnames == S_MAX_NAMES || s->nnames - first == S_MAX_MEMBERS)
            return -1;
        for (size_t i = first; i < s->nnames; i++)
            if (s->names[i].n == name.n && memcmp(s->names[i].s, name.s, name.n) == 0)
                return -1;
        s->names[s->nnames++] = name;
        s_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return -1;
        s->p++;
        s_ws(s);
        if (s_value(s, depth))
            return -1;
        s_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            s_ws(s);
            continue;
        }
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            s->nnames = first;
            return 0;
        }
        return -1;
    }
}

/* s_array - an array at s->p ('[') */
static int s_array(s_scan_t *s, int depth)
{
    if (depth > S_MAX_DEPTH)
        return -1;
    s->p++;
    s_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    for (;;) {
        if (s_value(s, depth))
            return -1;
        s_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            s_ws(s);
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return 0;
        }
        return -1;
    }
}

/* s_value - any value at s->p (no whitespace before it) */
static int s_value(s_scan_t *s, int depth)
{
    if (s->p >= s->end)
        return -1;
    s_span_t str;
    int plain;
    switch (*s->p) {
    case '{': return s_object(s, depth + 1);
    case '[': return s_array(s, depth + 1);
    case '"': return s_string(s, &str, &plain);
    case 't': return s_literal(s, "true", 4);
    case 'f': return s_literal(s, "false", 5);
    case 'n': return s_literal(s, "null", 4);
    default: return s_number(s);
    }
}

/* s_expect - skip whitespace, then the byte c */
static int s_expect(s_scan_t *s, char c)
{
    s_ws(s);
    if (s->p >= s->end || *s->p != (unsigned char)c)
        return -1;
    s->p++;
    return 0;
}

/* s_plain_string - a string value without escapes, 1 to max bytes long */
static int s_plain_string(s_scan_t *s, s_span_t *out, size_t max)
{
    int plain;
    if (s->p >= s->end || *s->p != '"' || s_string(s, out, &plain) || !plain || out->n == 0 ||
        out->n > max)
        return -1;
    return 0;
}

/* s_compact - drop the whitespace between the tokens of valid JSON text, in place;
   the new length */
static size_t s_compact(char *t, size_t n)
{
    size_t o = 0;
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (in) {
            t[o++] = c;
            if (c == '\\')
                t[o++] = t[++i]; /* the escaped byte, which may be a quote */
            else if (c == '"')
                in = 0;
        } else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
            in = c == '"';
            t[o++] = c;
        }
    }
    return o;
}

/* s_event - one event object into e */
static int s_event(s_scan_t *s, journal_scan_event_t *e)
{
    enum { F_TYPE = 1, F_KEY = 2, F_PAYLOAD = 4, F_OCCURRED = 8 };
    unsigned seen = 0;
    s_span_t v;
    if (s->p >= s->end || *s->p != '{')
        return -1;
    s->p++;
    memset(e, 0, sizeof *e);
    do {
        s_span_t name;
        int plain;
        s_ws(s);
        if (s->p >= s->end || *s->p != '"' || s_string(s, &name, &plain) || !plain)
            return -1;
        unsigned f = name.n == 4 && memcmp(name.s, "type", 4) == 0            ? F_TYPE
                     : name.n == 3 && memcmp(name.s, "key", 3) == 0           ? F_KEY
                     : name.n == 7 && memcmp(name.s, "payload", 7) == 0       ? F_PAYLOAD
                     : name.n == 11 && memcmp(name.s, "occurred_at", 11) == 0 ? F_OCCURRED
                                                                              : 0;
        if (!f || (seen & f) || s_expect(s, ':'))
            return -1;
        seen |= f;
        s_ws(s);
        if (f == F_PAYLOAD) {
            if (s->p >= s->end || *s->p != '{')
                return -1;
            const unsigned char *start = s->p;
            s->spaced = 0;
            if (s_object(s, 0))
                return -1;
            e->payload = (const char *)start;
            e->payload_len = (size_t)(s->p - start);
            e->spaced = s->spaced;
            continue;
        }
        if (s_plain_string(s, &v, f == F_TYPE ? S_MAX_TYPE
                                  : f == F_KEY ? S_MAX_KEY
                                               : S_MAX_OCCURRED))
            return -1;
        if (f == F_TYPE) {
            e->type = v.s;
            e->type_len = v.n;
        } else if (f == F_KEY) {
            e->key = v.s;
            e->key_len = v.n;
        } else {
            char ts[S_MAX_OCCURRED + 1];
            int64_t ms;
            memcpy(ts, v.s, v.n);
            ts[v.n] = '\0';
            if (clock_parse(ts, &ms))
                return -1;
            e->occurred_at = v.s;
            e->occurred_at_len = v.n;
        }
    } while (s_expect(s, ',') == 0);
    if (s->p >= s->end || *s->p != '}' || (seen & (F_TYPE | F_KEY | F_PAYLOAD)) !=
                                              (F_TYPE | F_KEY | F_PAYLOAD))
        return -1;
    s->p++;
    return 0;
}

/* journal_scan_list_push - grow by one */
journal_scan_event_t *journal_scan_list_push(journal_scan_list_t *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        journal_scan_event_t *ev = realloc(l->ev, cap * sizeof *ev);
        if (!ev)
            return NULL;
        l->ev = ev;
        l->cap = cap;
    }
    return &l->ev[l->n++];
}

/* journal_scan_list_free - free the array */
void journal_scan_list_free(journal_scan_list_t *l)
{
    free(l->ev);
    l->ev = NULL;
    l->n = l->cap = 0;
}

/* s_name_is - a plain member name at s->p equal to want, then its colon */
static int s_name_is(s_scan_t *s, const char *want, size_t n)
{
    s_span_t name;
    int plain;
    s_ws(s);
    if (s->p >= s->end || *s->p != '"' || s_string(s, &name, &plain) || !plain ||
        name.n != n || memcmp(name.s, want, n) != 0 || s_expect(s, ':'))
        return -1;
    return 0;
}

/* s_events - {"events":[event, ...]} at s->p (after its whitespace), its
 * events appended to l.  0, -1 (not taken; l may hold some of them), or
 * -2 (l could not grow) */
static int s_events(s_scan_t *s, journal_scan_list_t *l)
{
    if (s->p >= s->end || *s->p != '{')
        return -1;
    s->p++;
    if (s_name_is(s, "events", 6) || s_expect(s, '['))
        return -1;
    do {
        s_ws(s);
        journal_scan_event_t *e = journal_scan_list_push(l);
        if (!e)
            return -2;
        if (s_event(s, e))
            return -1;
    } while (s_expect(s, ',') == 0);
    if (s->p >= s->end || *s->p != ']')
        return -1;
    s->p++;
    return s_expect(s, '}');
}

/* s_compact_from - compact the payloads of l's events from first on, now
 * that the whole body is good and may change */
static void s_compact_from(journal_scan_list_t *l, size_t first)
{
    for (size_t i = first; i < l->n; i++)
        if (l->ev[i].spaced)
            l->ev[i].payload_len = s_compact((char *)l->ev[i].payload, l->ev[i].payload_len);
}

/* journal_scan_append - {"events":[event, ...]} and nothing else */
int journal_scan_append(char *body, size_t len, journal_scan_list_t *l)
{
    s_scan_t s; /* ~16 KiB of names on the stack; nothing allocated per request */
    s.p = (const unsigned char *)body;
    s.end = s.p + len;
    s.nnames = 0;
    size_t first = l->n;
    s_ws(&s);
    int rc = s_events(&s, l);
    if (rc == 0) {
        s_ws(&s);
        rc = s.p == s.end ? 0 : -1;
    }
    if (rc != 0) {
        l->n = first;
        return rc == -2 ? JSCAN_NOMEM : JSCAN_SLOW;
    }
    s_compact_from(l, first);
    return JSCAN_OK;
}

/* journal_scan_batches_free - free the array */
void journal_scan_batches_free(journal_scan_batches_t *bl)
{
    free(bl->b);
    bl->b = NULL;
    bl->n = bl->cap = 0;
}

/* s_batch_push - room for one more batch record; NULL when out of memory */
static journal_scan_batch_t *s_batch_push(journal_scan_batches_t *bl)
{
    if (bl->n == bl->cap) {
        size_t cap = bl->cap ? bl->cap * 2 : 64;
        journal_scan_batch_t *b = realloc(bl->b, cap * sizeof *b);
        if (!b)
            return NULL;
        bl->b = b;
        bl->cap = cap;
    }
    return &bl->b[bl->n++];
}

/* journal_scan_batches - {"batches":[{"events":[...]}, ...]} and nothing else */
int journal_scan_batches(char *body, size_t len, size_t max_batches, journal_scan_list_t *l,
                         journal_scan_batches_t *bl)
{
    s_scan_t s;
    s.p = (const unsigned char *)body;
    s.end = s.p + len;
    s.nnames = 0;
    size_t first = l->n, bfirst = bl->n;
    int rc = JSCAN_SLOW;
    if (s_expect(&s, '{') || s_name_is(&s, "batches", 7) || s_expect(&s, '['))
        goto out;
    do {
        s_ws(&s);
        if (bl->n - bfirst == max_batches)
            goto out; /* jansson words the refusal */
        journal_scan_batch_t *b = s_batch_push(bl);
        if (!b) {
            rc = JSCAN_NOMEM;
            goto out;
        }
        const unsigned char *start = s.p;
        size_t efirst = l->n;
        int r = s_events(&s, l);
        if (r == -2) {
            rc = JSCAN_NOMEM;
            goto out;
        }
        b->rc = JSCAN_OK;
        if (r) {
            /* not taken: back to its start, and only make sure it is JSON
             * (an object), so that the other batches still count */
            l->n = efirst;
            s.p = start;
            s.nnames = 0;
            if (s.p >= s.end || *s.p != '{' || s_value(&s, 0))
                goto out;
            b->rc = JSCAN_SLOW;
        }
        b->first = efirst;
        b->n = l->n - efirst;
        b->text = (const char *)start;
        b->len = (size_t)(s.p - start);
    } while (s_expect(&s, ',') == 0);
    if (s.p >= s.end || *s.p != ']')
        goto out;
    s.p++;
    if (s_expect(&s, '}'))
        goto out;
    s_ws(&s);
    if (s.p != s.end)
        goto out;
    s_compact_from(l, first); /* only the batches taken have events in l */
    rc = JSCAN_OK;
out:
    if (rc != JSCAN_OK) {
        l->n = first;
        bl->n = bfirst;
    }
    return rc;
}
