/*
 * jtext.c - JSON text in and out on a hot path (the gateway's ingest),
 * without jansson's general machinery where it costs most.
 *
 * Out: json_dumps checks every container for loops (a snprintf'd pointer
 * in a hash table) and builds its text a character at a time.  For the
 * small trees of a request that was a fifth of the gateway's instructions
 * for one event, so objects, arrays, strings, integers and literals are
 * written here, byte for byte as json_dumps(JSON_COMPACT) writes them;
 * only a real is left to jansson (its own formatting of doubles).
 *
 * In: json_loadb reads a character at a time through a stream with a
 * UTF-8 check on each.  jtext_load reads the common shape of an
 * ingest body itself (objects, arrays, strings of printable ASCII without
 * escapes, integers, true/false/null) and builds the same tree with
 * jansson's constructors; anything else (an escape, a non-ASCII byte, a
 * real, a duplicate key, an error) is left to json_loadb, so what is
 * accepted, what is refused and every error message stay jansson's.
 */
#include <stdlib.h>
#include <string.h>

#include "jtext.h"

/* s_json_string - a string as json_dumps writes it (compact, UTF-8 kept) */
static void s_json_string(buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': buf_append(b, "\\\"", 2); break;
        case '\\': buf_append(b, "\\\\", 2); break;
        case '\b': buf_append(b, "\\b", 2); break;
        case '\f': buf_append(b, "\\f", 2); break;
        case '\n': buf_append(b, "\\n", 2); break;
        case '\r': buf_append(b, "\\r", 2); break;
        case '\t': buf_append(b, "\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, u, 6);
        }
        }
    }
    buf_append(b, s + run, n - run);
    buf_putc(b, '"');
}

/* jtext_string - see jtext.h */
void jtext_string(buf_t *b, const char *s)
{
    s_json_string(b, s, strlen(s));
}

/* jtext_write - see jtext.h */
void jtext_write(buf_t *b, const json_t *v, size_t flags)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *m;
        int first = 1;
        buf_putc(b, '{');
        json_object_foreach((json_t *)v, k, m) {
            if (!first)
                buf_putc(b, ',');
            first = 0;
            s_json_string(b, k, strlen(k));
            buf_putc(b, ':');
            jtext_write(b, m, flags);
        }
        buf_putc(b, '}');
        return;
    }
    case JSON_ARRAY:
        buf_putc(b, '[');
        for (size_t i = 0, n = json_array_size(v); i < n; i++) {
            if (i)
                buf_putc(b, ',');
            jtext_write(b, json_array_get(v, i), flags);
        }
        buf_putc(b, ']');
        return;
    case JSON_STRING:
        s_json_string(b, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER: {
        char num[24], *e = num + sizeof num, *p = e;
        json_int_t x = json_integer_value(v);
        unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
        do
            *--p = (char)('0' + u % 10);
        while (u /= 10);
        if (x < 0)
            *--p = '-';
        buf_append(b, p, (size_t)(e - p));
        return;
    }
    case JSON_TRUE: buf_append(b, "true", 4); return;
    case JSON_FALSE: buf_append(b, "false", 5); return;
    case JSON_NULL: buf_append(b, "null", 4); return;
    default: {
        char *s = json_dumps(v, flags | JSON_COMPACT | JSON_ENCODE_ANY);
        if (s)
            buf_puts(b, s);
        else
            b->failed = 1;
        free(s);
    }
    }
}


/* the fast reader's cursor */
typedef struct {
    const char *p, *end;
    int depth;
} s_reader_t;

/* deeper than this, json_loadb decides (its own limit is 2048) */
#define S_READ_MAX_DEPTH 64

static void s_ws(s_reader_t *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* s_read_string - at '"': a string of printable ASCII without escapes
 * into *s, *n; -1 for anything else */
static int s_read_string(s_reader_t *j, const char **s, size_t *n)
{
    const char *q = ++j->p;
    for (; q < j->end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c == '"')
            break;
        if (c < 0x20 || c == '\\' || c >= 0x80)
            return -1;
    }
    if (q >= j->end)
        return -1;
    *s = j->p;
    *n = (size_t)(q - j->p);
    j->p = q + 1;
    return 0;
}

/* s_read_int - an integer as jansson reads one (no leading zeros), of at
 * most 18 digits so it cannot overflow; NULL for a real or anything else */
static json_t *s_read_int(s_reader_t *j)
{
    const char *q = j->p;
    int neg = q < j->end && *q == '-';
    q += neg;
    const char *digits = q;
    long long v = 0;
    while (q < j->end && *q >= '0' && *q <= '9' && q - digits < 18)
        v = v * 10 + (*q++ - '0');
    size_t nd = (size_t)(q - digits);
    if (nd == 0 || nd > 18 || (nd > 1 && *digits == '0'))
        return NULL;
    if (q < j->end && (*q == '.' || *q == 'e' || *q == 'E' || (*q >= '0' && *q <= '9')))
        return NULL;
    j->p = q;
    return json_integer(neg ? -v : v);
}

static json_t *s_read_value(s_reader_t *j);

/* s_read_object - at '{' */
static json_t *s_read_object(s_reader_t *j)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    j->p++;
    s_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return o;
    }
    for (;;) {
        const char *k;
        size_t kn;
        s_ws(j);
        if (j->p >= j->end || *j->p != '"' || s_read_string(j, &k, &kn))
            break;
        s_ws(j);
        if (j->p >= j->end || *j->p != ':' || json_object_getn(o, k, kn))
            break; /* a duplicate: json_loadb words the refusal */
        j->p++;
        json_t *v = s_read_value(j);
        if (!v || json_object_setn_new_nocheck(o, k, kn, v))
            break;
        s_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return o;
        }
        break;
    }
    json_decref(o);
    return NULL;
}

/* s_read_array - at '[' */
static json_t *s_read_array(s_reader_t *j)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    j->p++;
    s_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return a;
    }
    for (;;) {
        json_t *v = s_read_value(j);
        if (!v || json_array_append_new(a, v))
            break;
        s_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return a;
        }
        break;
    }
    json_decref(a);
    return NULL;
}

/* s_read_literal - word at the cursor, or -1 */
static int s_read_literal(s_reader_t *j, const char *word, size_t n)
{
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return -1;
    j->p += n;
    return 0;
}

static json_t *s_read_value(s_reader_t *j)
{
    s_ws(j);
    if (j->p >= j->end)
        return NULL;
    switch (*j->p) {
    case '{':
    case '[': {
        if (++j->depth > S_READ_MAX_DEPTH)
            return NULL;
        json_t *v = *j->p == '{' ? s_read_object(j) : s_read_array(j);
        j->depth--;
        return v;
    }
    case '"': {
        const char *s;
        size_t n;
        return s_read_string(j, &s, &n) ? NULL : json_stringn_nocheck(s, n);
    }
    case 't': return s_read_literal(j, "true", 4) ? NULL : json_true();
    case 'f': return s_read_literal(j, "false", 5) ? NULL : json_false();
    case 'n': return s_read_literal(j, "null", 4) ? NULL : json_null();
    default: return s_read_int(j);
    }
}

/* jtext_fast - see jtext.h */
json_t *jtext_fast(const char *text, size_t len)
{
    s_reader_t j = {text, text + len, 0};
    s_ws(&j);
    if (j.p >= j.end || (*j.p != '{' && *j.p != '['))
        return NULL; /* json_loadb takes only an object or an array */
    json_t *v = s_read_value(&j);
    s_ws(&j);
    if (v && j.p != j.end) { /* more after the value: json_loadb's error */
        json_decref(v);
        return NULL;
    }
    return v;
}

/* jtext_load - see jtext.h */
json_t *jtext_load(const char *text, size_t len, json_error_t *err)
{
    json_t *v = jtext_fast(text, len);
    return v ? v : json_loadb(text, len, JSON_REJECT_DUPLICATES, err);
}
