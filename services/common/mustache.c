/*
 * mustache.c - Mustache template engine over jansson values (see mustache.h
 * for the semantics and why Hark has its own).
 *
 * Compilation turns the template text into a flat array of nodes: text,
 * interpolations, sections (whose children are the nodes up to node.end),
 * partials, and INDENT markers.  An INDENT marker sits wherever a line of
 * the template's own text starts with output (a line start that standalone
 * removal did not swallow); it emits nothing at top level and the partial's
 * indentation when the template is rendered as a standalone partial - that
 * is exactly "indentation prepended to each line of the partial", without
 * compiling the partial once per indentation.  Text nodes emit the
 * indentation after their own inner newlines.
 *
 * The parser is a loop with an explicit, bounded stack of open sections;
 * rendering recurses once per section and partial level, bounded by
 * MUSTACHE_MAX_NESTING, MUSTACHE_MAX_PARTIAL_DEPTH and S_MAX_RENDER_DEPTH.
 * Every scan is bounded by the copied text's length.
 *
 * Ownership: a mustache_t owns its text copy, its nodes (and the partial
 * names in them) and its partial cache; mustache_destroy() frees them all.
 * mustache_render() returns a malloc'd string the caller frees.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* memmem, strndup; the build passes it too */
#endif
#include "mustache.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_NPOS ((size_t)-1)
#define S_MAX_RENDER_DEPTH 512   /* sections + partials on the render stack */
#define S_OUT_HINT_MAX ((size_t)1024 * 1024)  /* start room we reuse, bytes */

enum s_kind { S_TEXT, S_INDENT, S_VAR, S_RAW, S_SECTION, S_INVERTED,
              S_PARTIAL };

struct s_node {
    enum s_kind kind;
    size_t off, len;            /* TEXT: the text; VAR/RAW/SECTION/INVERTED:
                                   the name - both as a range of src */
    size_t end;                 /* SECTION/INVERTED: index after children */
    char *partial;              /* PARTIAL: the name, owned by the node */
    int standalone;             /* PARTIAL: tag stood alone on its line */
    size_t ind_off, ind_len;    /* PARTIAL standalone: indentation in src */
};

/* One compiled partial in a root template's cache (owned by the cache). */
struct s_pentry {
    char *name;
    mustache_t *t;
    struct s_pentry *next;
};

struct mustache {
    char *src;                  /* owned copy of the template text */
    size_t srclen;
    struct s_node *nodes;       /* owned */
    size_t n, cap;
    struct s_pentry **buckets;  /* partial cache, owned; NULL until used */
    size_t nbuckets, npartials;
    unsigned busy;              /* >0 while a render is inside this one */
    size_t max_output;
    unsigned long max_steps;
    size_t last_len;            /* bytes the last render wrote: the next
                                   one starts with that much room */
};

struct mustache_buf {
    char *data;                 /* malloc'd, NUL-terminated when non-NULL */
    size_t len, cap, max;
    int failed;                 /* 0 ok, 1 out of memory, 2 over max */
    const char *var;            /* the {{tag}} being escaped (not NUL-ended) */
    size_t var_len;
};

/* Render state for one mustache_render() call. */
struct s_render {
    mustache_t *root;
    mustache_partial_fn partials;
    void *partials_arg;
    mustache_escape_fn escape;
    void *escape_arg;
    mustache_buf_t out;
    const json_t **ctx;         /* context stack, malloc'd; borrowed values */
    size_t nctx, capctx;
    int partial_depth;
    int depth;                  /* sections + partials being rendered */
    unsigned long steps, max_steps;
    char *err;
    size_t errlen;
    int errset;
};

/* ---------------------------------------------------------------- helpers */

/* s_set_err - format a message into err (if any). */
__attribute__((format(printf, 3, 4)))
static void s_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* s_fail - record the first render error; always returns -1. */
__attribute__((format(printf, 2, 3)))
static int s_fail(struct s_render *r, const char *fmt, ...)
{
    if (r->errset)
        return -1;
    r->errset = 1;
    if (r->err && r->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* s_is_space - whitespace inside tags (any ASCII space, newlines too). */
static int s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/* s_find - offset of needle in src[from..n), or S_NPOS. */
static size_t s_find(const char *src, size_t from, size_t n,
                     const char *needle, size_t nlen)
{
    if (from > n)
        return S_NPOS;
    const char *hit = memmem(src + from, n - from, needle, nlen);
    return hit ? (size_t)(hit - src) : S_NPOS;
}

/* s_line - 1-based line number of offset pos in src. */
static unsigned s_line(const char *src, size_t pos)
{
    unsigned line = 1;
    for (size_t i = 0; i < pos; i++)
        if (src[i] == '\n')
            line++;
    return line;
}

/* s_at_bol - whether offset pos starts a line of src. */
static int s_at_bol(const char *src, size_t pos)
{
    return pos == 0 || src[pos - 1] == '\n';
}

/* --------------------------------------------------------------- compiler */

/* s_add_node - append a zeroed node of kind; NULL when out of memory. */
static struct s_node *s_add_node(mustache_t *t, enum s_kind kind)
{
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        struct s_node *nn = realloc(t->nodes, ncap * sizeof *nn);
        if (!nn)
            return NULL;
        t->nodes = nn;
        t->cap = ncap;
    }
    struct s_node *nd = &t->nodes[t->n++];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    return nd;
}

/* s_add_text - append src[a..b) as text (INDENT first at a line start). */
static int s_add_text(mustache_t *t, size_t a, size_t b)
{
    if (b <= a)
        return 0;
    if (s_at_bol(t->src, a) && !s_add_node(t, S_INDENT))
        return -1;
    struct s_node *nd = s_add_node(t, S_TEXT);
    if (!nd)
        return -1;
    nd->off = a;
    nd->len = b - a;
    return 0;
}

/* s_check_name - 0 if src[a..b) is a valid name ("." or non-empty dotted
   parts without whitespace); dotted 0 allows any non-whitespace. */
static int s_check_name(const char *src, size_t a, size_t b, int dotted)
{
    if (b <= a)
        return -1;
    for (size_t i = a; i < b; i++)
        if (s_is_space(src[i]))
            return -1;
    if (!dotted || (b - a == 1 && src[a] == '.'))
        return 0;
    if (src[a] == '.' || src[b - 1] == '.')
        return -1;
    for (size_t i = a + 1; i < b; i++)
        if (src[i] == '.' && src[i - 1] == '.')
            return -1;
    return 0;
}

/* s_parse_delims - split "<% %>" in src[a..b) into two delimiters. */
static int s_parse_delims(const char *src, size_t a, size_t b,
                          size_t *o_off, size_t *o_len,
                          size_t *c_off, size_t *c_len)
{
    size_t i = a;
    while (i < b && s_is_space(src[i]))
        i++;
    size_t o0 = i;
    while (i < b && !s_is_space(src[i]))
        i++;
    size_t o1 = i;
    while (i < b && s_is_space(src[i]))
        i++;
    size_t c0 = i;
    while (i < b && !s_is_space(src[i]))
        i++;
    size_t c1 = i;
    while (i < b && s_is_space(src[i]))
        i++;
    if (i != b || o1 == o0 || c1 == c0)
        return -1;
    if (memchr(src + o0, '=', o1 - o0) || memchr(src + c0, '=', c1 - c0))
        return -1;
    *o_off = o0;
    *o_len = o1 - o0;
    *c_off = c0;
    *c_len = c1 - c0;
    return 0;
}

/* s_find_close - end of a tag whose content must end with `last` ('}' or
   '='): offset of that character, with the closing delimiter right after;
   S_NPOS if none. */
static size_t s_find_close(const char *src, size_t from, size_t n,
                           const char *ctag, size_t clen, char last)
{
    size_t f = from;
    for (;;) {
        size_t k = s_find(src, f, n, ctag, clen);
        if (k == S_NPOS)
            return S_NPOS;
        if (k > from && src[k - 1] == last)
            return k - 1;
        f = k + 1;
    }
}

/* s_compile - parse t->src into t->nodes; 0, or -1 with err set. */
static int s_compile(mustache_t *t, char *err, size_t errlen)
{
    struct { size_t node, pos; } open[MUSTACHE_MAX_NESTING];
    size_t depth = 0;
    const char *src = t->src;
    size_t n = t->srclen, p = 0;
    const char *otag = "{{", *ctag = "}}";
    size_t olen = 2, clen = 2;

    for (;;) {
        size_t t0 = s_find(src, p, n, otag, olen);
        if (t0 == S_NPOS) {
            if (s_add_text(t, p, n))
                goto oom;
            break;
        }
        /* Sigil, content [c0, c1), tag end. */
        size_t q = t0 + olen;
        while (q < n && s_is_space(src[q]))
            q++;
        char sigil = 0;
        if (q < n && memchr("#^/!>&{=", src[q], 8))
            sigil = src[q];
        size_t c0 = sigil ? q + 1 : q, c1, tag_end;
        if (sigil == '{' || sigil == '=') {
            c1 = s_find_close(src, c0, n, ctag, clen,
                              sigil == '{' ? '}' : '=');
            tag_end = c1 == S_NPOS ? S_NPOS : c1 + 1 + clen;
        } else {
            c1 = s_find(src, c0, n, ctag, clen);
            tag_end = c1 == S_NPOS ? S_NPOS : c1 + clen;
        }
        if (c1 == S_NPOS) {
            s_set_err(err, errlen, "line %u: unclosed tag",
                      s_line(src, t0));
            return -1;
        }

        /* Standalone: only whitespace around the tag on its line. */
        size_t ls = t0;
        while (ls > p && (src[ls - 1] == ' ' || src[ls - 1] == '\t'))
            ls--;
        size_t r = tag_end;
        while (r < n && (src[r] == ' ' || src[r] == '\t'))
            r++;
        int standalone = sigil && sigil != '&' && sigil != '{' &&
                         s_at_bol(src, ls) &&
                         (r == n || src[r] == '\n' ||
                          (src[r] == '\r' && r + 1 < n && src[r + 1] == '\n'));
        size_t next = tag_end;
        if (standalone)
            next = r == n ? n : src[r] == '\n' ? r + 1 : r + 2;

        if (s_add_text(t, p, standalone ? ls : t0))
            goto oom;
        if (!standalone && s_at_bol(src, t0) && !s_add_node(t, S_INDENT))
            goto oom;

        if (sigil == '!') {
            p = next;
            continue;
        }
        if (sigil == '=') {
            size_t oo, ol, co, cl;
            if (s_parse_delims(src, c0, c1, &oo, &ol, &co, &cl)) {
                s_set_err(err, errlen, "line %u: invalid set-delimiter tag",
                          s_line(src, t0));
                return -1;
            }
            otag = src + oo;
            olen = ol;
            ctag = src + co;
            clen = cl;
            p = next;
            continue;
        }
        while (c0 < c1 && s_is_space(src[c0]))
            c0++;
        while (c1 > c0 && s_is_space(src[c1 - 1]))
            c1--;
        int name_len = c1 - c0 > 64 ? 64 : (int)(c1 - c0);
        if (s_check_name(src, c0, c1, sigil != '>')) {
            if (c1 == c0)
                s_set_err(err, errlen, "line %u: empty tag",
                          s_line(src, t0));
            else
                s_set_err(err, errlen, "line %u: invalid tag name '%.*s'",
                          s_line(src, t0), name_len, src + c0);
            return -1;
        }

        if (sigil == '/') {
            if (depth == 0) {
                s_set_err(err, errlen,
                          "line %u: closing tag '%.*s' without an open "
                          "section", s_line(src, t0), name_len, src + c0);
                return -1;
            }
            struct s_node *sec = &t->nodes[open[depth - 1].node];
            if (sec->len != c1 - c0 ||
                memcmp(src + sec->off, src + c0, sec->len) != 0) {
                s_set_err(err, errlen,
                          "line %u: closing tag '%.*s' does not match "
                          "section '%.*s' opened on line %u",
                          s_line(src, t0), name_len, src + c0,
                          sec->len > 64 ? 64 : (int)sec->len,
                          src + sec->off, s_line(src, open[depth - 1].pos));
                return -1;
            }
            sec->end = t->n;
            depth--;
            p = next;
            continue;
        }
        if ((sigil == '#' || sigil == '^') && depth == MUSTACHE_MAX_NESTING) {
            s_set_err(err, errlen, "line %u: sections nested deeper than %d",
                      s_line(src, t0), MUSTACHE_MAX_NESTING);
            return -1;
        }

        enum s_kind kind = sigil == '#' ? S_SECTION
                         : sigil == '^' ? S_INVERTED
                         : sigil == '>' ? S_PARTIAL
                         : sigil == '&' || sigil == '{' ? S_RAW : S_VAR;
        struct s_node *nd = s_add_node(t, kind);
        if (!nd)
            goto oom;
        nd->off = c0;
        nd->len = c1 - c0;
        if (kind == S_PARTIAL) {
            nd->partial = strndup(src + c0, c1 - c0);
            if (!nd->partial)
                goto oom;
            nd->standalone = standalone;
            if (standalone) {
                nd->ind_off = ls;
                nd->ind_len = t0 - ls;
            }
        } else if (kind == S_SECTION || kind == S_INVERTED) {
            open[depth].node = t->n - 1;
            open[depth].pos = t0;
            depth++;
        }
        p = next;
    }
    if (depth) {
        const struct s_node *sec = &t->nodes[open[depth - 1].node];
        s_set_err(err, errlen, "line %u: unclosed section '%.*s'",
                  s_line(src, open[depth - 1].pos),
                  sec->len > 64 ? 64 : (int)sec->len, src + sec->off);
        return -1;
    }
    return 0;
oom:
    s_set_err(err, errlen, "out of memory");
    return -1;
}

/* mustache_new - compile template text (copied); caller frees with
   mustache_destroy(); NULL with err set on syntax error. */
mustache_t *mustache_new(const char *text, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!text) {
        s_set_err(err, errlen, "no template text");
        return NULL;
    }
    mustache_t *t = calloc(1, sizeof *t);
    if (!t || !(t->src = strdup(text))) {
        free(t);
        s_set_err(err, errlen, "out of memory");
        return NULL;
    }
    t->srclen = strlen(text);
    t->max_output = MUSTACHE_DEFAULT_MAX_OUTPUT;
    t->max_steps = MUSTACHE_DEFAULT_MAX_STEPS;
    if (s_compile(t, err, errlen)) {
        mustache_destroy(&t);
        return NULL;
    }
    return t;
}

/* mustache_destroy - free t, its nodes and cached partials; *self_p = NULL. */
void mustache_destroy(mustache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mustache_t *t = *self_p;
    for (size_t i = 0; i < t->n; i++)
        free(t->nodes[i].partial);
    free(t->nodes);
    for (size_t b = 0; b < t->nbuckets; b++) {
        struct s_pentry *e = t->buckets[b];
        while (e) {
            struct s_pentry *next = e->next;
            mustache_destroy(&e->t);   /* partials have no cache: depth 1 */
            free(e->name);
            free(e);
            e = next;
        }
    }
    free(t->buckets);
    free(t->src);
    free(t);
    *self_p = NULL;
}

/* mustache_set_limits - cap output bytes and steps per render (0: default). */
void mustache_set_limits(mustache_t *t, size_t max_output,
                         unsigned long max_steps)
{
    if (!t)
        return;
    t->max_output = max_output ? max_output : MUSTACHE_DEFAULT_MAX_OUTPUT;
    t->max_steps = max_steps ? max_steps : MUSTACHE_DEFAULT_MAX_STEPS;
}

/* ----------------------------------------------------------------- output */

/* mustache_buf_append - append s[0..len) to b; -1 on OOM or over the cap. */
int mustache_buf_var_is(const mustache_buf_t *b, const char *name)
{
    if (!b->var)
        return 0;
    /* the last segment of a dotted name: {{q.comment}} is a comment too */
    const char *v = b->var;
    size_t n = b->var_len;
    for (size_t i = n; i > 0; i--)
        if (b->var[i - 1] == '.') {
            v = b->var + i;
            n = b->var_len - i;
            break;
        }
    return strlen(name) == n && memcmp(v, name, n) == 0;
}

int mustache_buf_append(mustache_buf_t *b, const char *s, size_t len)
{
    if (!b || b->failed)
        return -1;
    if (len == 0)
        return 0;
    if (!s)
        return -1;
    if (len > b->max || b->len > b->max - len) {
        b->failed = 2;
        return -1;
    }
    if (len + 1 > b->cap - b->len) {
        size_t need = b->len + len + 1;
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < need)
            ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
        char *nd = realloc(b->data, ncap);
        if (!nd) {
            b->failed = 1;
            return -1;
        }
        b->data = nd;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

/* mustache_escape_html - append s[0..len) with & " < > entity-escaped. */
int mustache_escape_html(mustache_buf_t *out, const char *s, size_t len,
                         void *arg)
{
    (void)arg;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '"': rep = "&quot;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        default: continue;
        }
        if (mustache_buf_append(out, s + run, i - run) ||
            mustache_buf_append(out, rep, strlen(rep)))
            return -1;
        run = i + 1;
    }
    return mustache_buf_append(out, s + run, len - run);
}

/* s_out_fail - render error for a failed append or escape callback. */
static int s_out_fail(struct s_render *r)
{
    if (r->out.failed == 1)
        return s_fail(r, "out of memory");
    if (r->out.failed == 2)
        return s_fail(r, "output exceeds %zu bytes", r->out.max);
    return s_fail(r, "escape callback failed");
}

/* s_emit - append raw bytes to the output. */
static int s_emit(struct s_render *r, const char *s, size_t len)
{
    return mustache_buf_append(&r->out, s, len) ? s_out_fail(r) : 0;
}

/* s_emit_text - append template text, indenting after inner newlines. */
static int s_emit_text(struct s_render *r, const char *s, size_t len,
                       const char *ind, size_t ilen)
{
    if (ilen == 0)
        return s_emit(r, s, len);
    size_t a = 0;
    while (a < len) {
        const char *nl = memchr(s + a, '\n', len - a);
        size_t b = nl ? (size_t)(nl - s) + 1 : len;
        if (s_emit(r, s + a, b - a))
            return -1;
        if (nl && b < len && s_emit(r, ind, ilen))
            return -1;
        a = b;
    }
    return 0;
}

/* s_format_real - shortest round-tripping form of d, JavaScript style
   ("1.21", "3", "0.001", "1e+21", "1e-7"), into buf (>= 64 bytes). */
static void s_format_real(double d, char *buf, size_t size)
{
    if (!isfinite(d)) {
        snprintf(buf, size, "%s", isnan(d) ? "NaN"
                                  : d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (d == 0) {
        snprintf(buf, size, "0");
        return;
    }
    char e[48];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    /* e is "-D.DDDDe+XX": collect the sign, digits and exponent. */
    const char *m = e;
    int neg = *m == '-';
    if (neg)
        m++;
    char digits[24];
    size_t nd = 0;
    for (; *m && *m != 'e' && nd < sizeof digits - 1; m++)
        if (*m >= '0' && *m <= '9')
            digits[nd++] = *m;
    digits[nd] = '\0';
    int x = *m == 'e' ? atoi(m + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        digits[--nd] = '\0';

    size_t o = 0;
    if (neg)
        buf[o++] = '-';
    if (x >= 21 || x < -6) {
        buf[o++] = digits[0];
        if (nd > 1) {
            buf[o++] = '.';
            memcpy(buf + o, digits + 1, nd - 1);
            o += nd - 1;
        }
        snprintf(buf + o, size - o, "e%+d", x);
        return;
    }
    if (x < 0) {
        buf[o++] = '0';
        buf[o++] = '.';
        for (int z = 0; z < -x - 1; z++)
            buf[o++] = '0';
        memcpy(buf + o, digits, nd);
        o += nd;
    } else if ((size_t)x + 1 >= nd) {
        memcpy(buf + o, digits, nd);
        o += nd;
        for (size_t z = nd; z < (size_t)x + 1; z++)
            buf[o++] = '0';
    } else {
        memcpy(buf + o, digits, (size_t)x + 1);
        o += (size_t)x + 1;
        buf[o++] = '.';
        memcpy(buf + o, digits + x + 1, nd - (size_t)x - 1);
        o += nd - (size_t)x - 1;
    }
    buf[o] = '\0';
}

/* s_emit_value - interpolate v (NULL: miss), escaped unless raw. */
static int s_emit_value(struct s_render *r, const json_t *v, int raw)
{
    char num[64];
    const char *s = NULL;
    size_t len = 0;
    char *dump = NULL;              /* json_dumps result, freed here */

    if (!v)
        return 0;
    switch (json_typeof(v)) {
    case JSON_STRING:
        s = json_string_value(v);
        len = json_string_length(v);
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        s = num;
        len = strlen(num);
        break;
    case JSON_REAL:
        s_format_real(json_real_value(v), num, sizeof num);
        s = num;
        len = strlen(num);
        break;
    case JSON_TRUE:
        s = "true";
        len = 4;
        break;
    case JSON_FALSE:
        s = "false";
        len = 5;
        break;
    case JSON_NULL:
        return 0;
    case JSON_OBJECT:
    case JSON_ARRAY:
        dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!dump)
            return s_fail(r, "out of memory");
        s = dump;
        len = strlen(dump);
        break;
    }
    int rc = 0;
    if (len > 0) {
        rc = raw ? mustache_buf_append(&r->out, s, len)
                 : r->escape(&r->out, s, len, r->escape_arg);
        if (rc)
            rc = s_out_fail(r);
    }
    free(dump);
    return rc;
}

/* ---------------------------------------------------------------- context */

/* s_push - push v on the context stack. */
static int s_push(struct s_render *r, const json_t *v)
{
    if (r->nctx == r->capctx) {
        size_t ncap = r->capctx ? r->capctx * 2 : 16;
        const json_t **nc = realloc(r->ctx, ncap * sizeof *nc);
        if (!nc)
            return s_fail(r, "out of memory");
        r->ctx = nc;
        r->capctx = ncap;
    }
    r->ctx[r->nctx++] = v;
    return 0;
}

/* s_lookup - resolve name[0..len) on the context stack; NULL on a miss.
   The result is borrowed from the context. */
static const json_t *s_lookup(const struct s_render *r, const char *name,
                              size_t len)
{
    if (len == 1 && name[0] == '.')
        return r->nctx ? r->ctx[r->nctx - 1] : NULL;
    const char *dot = memchr(name, '.', len);
    size_t seg = dot ? (size_t)(dot - name) : len;
    const json_t *v = NULL;
    for (size_t i = r->nctx; i > 0 && !v; i--)
        if (json_is_object(r->ctx[i - 1]))
            v = json_object_getn(r->ctx[i - 1], name, seg);
    size_t a = seg;
    while (v && a < len) {
        a++;                                    /* skip the dot */
        dot = memchr(name + a, '.', len - a);
        seg = dot ? (size_t)(dot - (name + a)) : len - a;
        v = json_is_object(v) ? json_object_getn(v, name + a, seg) : NULL;
        a += seg;
    }
    return v;
}

/* s_truthy - JavaScript-style `!!data` for sections. */
static int s_truthy(const json_t *v)
{
    if (!v)
        return 0;
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE:
        return 0;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0.0;
    default:
        return 1;
    }
}

/* -------------------------------------------------------------- partials */

/* s_hash - FNV-1a of a partial name. */
static size_t s_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

/* s_cache_grow - double the partial cache's buckets (best effort). */
static void s_cache_grow(mustache_t *root)
{
    size_t nb = root->nbuckets * 2;
    struct s_pentry **nbk = calloc(nb, sizeof *nbk);
    if (!nbk)
        return;                 /* longer chains, still correct */
    for (size_t b = 0; b < root->nbuckets; b++) {
        struct s_pentry *e = root->buckets[b];
        while (e) {
            struct s_pentry *next = e->next;
            size_t h = s_hash(e->name) & (nb - 1);
            e->next = nbk[h];
            nbk[h] = e;
            e = next;
        }
    }
    free(root->buckets);
    root->buckets = nbk;
    root->nbuckets = nb;
}

/* s_partial_get - the compiled partial `name` with this text from the root's
   cache, compiling (and caching) on a miss.  A cached entry whose text
   changed is replaced unless it is being rendered.  The cache owns the
   result; NULL with the render error set on failure. */
static mustache_t *s_partial_get(struct s_render *r, const char *name,
                                 const char *text)
{
    mustache_t *root = r->root;
    if (!root->buckets) {
        root->buckets = calloc(16, sizeof *root->buckets);
        if (!root->buckets) {
            s_fail(r, "out of memory");
            return NULL;
        }
        root->nbuckets = 16;
    }
    size_t h = s_hash(name) & (root->nbuckets - 1);
    struct s_pentry *e, *spare = NULL;
    for (e = root->buckets[h]; e; e = e->next) {
        if (strcmp(e->name, name) != 0)
            continue;
        if (strcmp(e->t->src, text) == 0)
            return e->t;
        if (!e->t->busy && !spare)
            spare = e;
    }
    char cerr[256];
    mustache_t *pt = mustache_new(text, cerr, sizeof cerr);
    if (!pt) {
        s_fail(r, "partial '%.64s': %s", name, cerr);
        return NULL;
    }
    if (spare) {
        mustache_destroy(&spare->t);
        spare->t = pt;
        return pt;
    }
    e = calloc(1, sizeof *e);
    if (!e || !(e->name = strdup(name))) {
        free(e);
        mustache_destroy(&pt);
        s_fail(r, "out of memory");
        return NULL;
    }
    e->t = pt;
    e->next = root->buckets[h];
    root->buckets[h] = e;
    if (++root->npartials > root->nbuckets * 2)
        s_cache_grow(root);
    return pt;
}

/* --------------------------------------------------------------- renderer */

static int s_render_nodes(struct s_render *r, mustache_t *t, size_t from,
                          size_t to, const char *ind, size_t ilen);

/* s_render_partial - render partial node nd of template t. */
static int s_render_partial(struct s_render *r, mustache_t *t,
                            const struct s_node *nd, const char *ind,
                            size_t ilen)
{
    if (r->partial_depth >= MUSTACHE_MAX_PARTIAL_DEPTH)
        return s_fail(r, "partial '%.64s' nested deeper than %d "
                      "(recursive partial?)", nd->partial,
                      MUSTACHE_MAX_PARTIAL_DEPTH);
    const char *text = r->partials ? r->partials(nd->partial,
                                                 r->partials_arg) : NULL;
    if (!text)
        return 0;                               /* unknown partial: "" */
    mustache_t *pt = s_partial_get(r, nd->partial, text);
    if (!pt)
        return -1;

    /* A standalone partial is indented by the enclosing indentation plus
       its own; an inline one is not indented. */
    const char *pind = "";
    size_t plen = 0;
    char *owned = NULL;                         /* freed below */
    if (nd->standalone) {
        const char *own = t->src + nd->ind_off;
        if (ilen == 0) {
            pind = own;
            plen = nd->ind_len;
        } else if (nd->ind_len == 0) {
            pind = ind;
            plen = ilen;
        } else {
            owned = malloc(ilen + nd->ind_len);
            if (!owned)
                return s_fail(r, "out of memory");
            memcpy(owned, ind, ilen);
            memcpy(owned + ilen, own, nd->ind_len);
            pind = owned;
            plen = ilen + nd->ind_len;
        }
    }
    pt->busy++;
    r->partial_depth++;
    int rc = s_render_nodes(r, pt, 0, pt->n, pind, plen);
    r->partial_depth--;
    pt->busy--;
    free(owned);
    return rc;
}

/* s_render_section - render section node i of t (children i+1..end). */
static int s_render_section(struct s_render *r, mustache_t *t, size_t i,
                            const char *ind, size_t ilen)
{
    const struct s_node *nd = &t->nodes[i];
    const json_t *v = s_lookup(r, t->src + nd->off, nd->len);
    size_t end = nd->end;

    if (nd->kind == S_INVERTED)
        return s_truthy(v) ? 0 : s_render_nodes(r, t, i + 1, end, ind, ilen);
    if (json_is_array(v)) {
        for (size_t k = 0; k < json_array_size(v); k++) {
            if (s_push(r, json_array_get(v, k)))
                return -1;
            int rc = s_render_nodes(r, t, i + 1, end, ind, ilen);
            r->nctx--;
            if (rc)
                return -1;
        }
        return 0;
    }
    if (!s_truthy(v))
        return 0;
    if (s_push(r, v))
        return -1;
    int rc = s_render_nodes(r, t, i + 1, end, ind, ilen);
    r->nctx--;
    return rc;
}

/* s_render_nodes - render t->nodes[from..to) with indentation ind. */
static int s_render_nodes(struct s_render *r, mustache_t *t, size_t from,
                          size_t to, const char *ind, size_t ilen)
{
    if (r->depth >= S_MAX_RENDER_DEPTH)
        return s_fail(r, "sections and partials nested deeper than %d",
                      S_MAX_RENDER_DEPTH);
    r->depth++;
    int rc = 0;
    for (size_t i = from; i < to && rc == 0;) {
        const struct s_node *nd = &t->nodes[i];
        if (++r->steps > r->max_steps) {
            rc = s_fail(r, "render exceeded %lu steps", r->max_steps);
            break;
        }
        switch (nd->kind) {
        case S_TEXT:
            rc = s_emit_text(r, t->src + nd->off, nd->len, ind, ilen);
            i++;
            break;
        case S_INDENT:
            rc = ilen ? s_emit(r, ind, ilen) : 0;
            i++;
            break;
        case S_VAR:
        case S_RAW:
            r->out.var = t->src + nd->off;
            r->out.var_len = nd->len;
            rc = s_emit_value(r, s_lookup(r, t->src + nd->off, nd->len),
                              nd->kind == S_RAW);
            r->out.var = NULL;
            r->out.var_len = 0;
            i++;
            break;
        case S_SECTION:
        case S_INVERTED:
            rc = s_render_section(r, t, i, ind, ilen);
            i = nd->end;
            break;
        case S_PARTIAL:
            rc = s_render_partial(r, t, nd, ind, ilen);
            i++;
            break;
        }
    }
    r->depth--;
    return rc;
}

/* mustache_render - render t with context; caller frees the result. */
char *mustache_render(mustache_t *t, const json_t *context,
                      mustache_partial_fn partials, void *partials_arg,
                      mustache_escape_fn escape, void *escape_arg,
                      char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!t) {
        s_set_err(err, errlen, "no template");
        return NULL;
    }
    if (t->busy) {
        s_set_err(err, errlen, "template is already being rendered");
        return NULL;
    }
    struct s_render r = {
        .root = t,
        .partials = partials,
        .partials_arg = partials_arg,
        .escape = escape ? escape : mustache_escape_html,
        .escape_arg = escape_arg,
        .max_steps = t->max_steps,
        .err = err,
        .errlen = errlen,
    };
    r.out.max = t->max_output;
    /* One template renders to about the same size every time (an e-mail
     * body, a layout): start there instead of doubling up from 256.
     * Capped, so one huge render does not make every later one big. */
    if (t->last_len && t->last_len <= S_OUT_HINT_MAX) {
        r.out.data = malloc(t->last_len + 1);
        if (r.out.data) {
            r.out.cap = t->last_len + 1;
            r.out.data[0] = '\0';
        }
    }
    int rc = context ? s_push(&r, context) : 0;
    if (rc == 0) {
        t->busy++;
        rc = s_render_nodes(&r, t, 0, t->n, "", 0);
        t->busy--;
    }
    if (rc == 0 && !r.out.data) {
        r.out.data = strdup("");
        if (!r.out.data)
            rc = s_fail(&r, "out of memory");
    }
    free(r.ctx);
    if (rc) {
        free(r.out.data);
        return NULL;
    }
    t->last_len = r.out.len;
    return r.out.data;          /* caller frees */
}

/* mustache_names - see mustache.h */
void mustache_names(const mustache_t *t,
                    void (*fn)(const char *name, size_t len, void *arg),
                    void *arg)
{
    for (size_t i = 0; t && i < t->n;) {
        const struct s_node *nd = &t->nodes[i];
        if (nd->kind == S_VAR || nd->kind == S_RAW || nd->kind == S_SECTION ||
            nd->kind == S_INVERTED) {
            const char *name = t->src + nd->off;
            size_t len = 0;
            while (len < nd->len && name[len] != '.')
                len++;
            if (len)
                fn(name, len, arg);
        }
        i = nd->kind == S_SECTION || nd->kind == S_INVERTED ? nd->end : i + 1;
    }
}
