/*
 * schema.c - a JSON Schema validator (Draft 2020-12 subset) on top of jansson.
 *
 * Why: Debian packages no C JSON Schema library, and our payload schemas
 * (proto/events/<name>.json) need checking in C services as well as in the Python
 * tests, where python3-jsonschema validates the same files.  So the keywords
 * handled here keep their standard Draft 2020-12 meaning; schema.h lists them.
 *
 * How: schema_new_json() walks the schema once and builds a tree of s_node_t,
 * one per (sub)schema, each keyword parsed into a field: regexes compiled,
 * formats looked up, "$ref"s resolved to node pointers.  Every node is listed
 * in schema->nodes, which owns them all, so a $ref may point anywhere (even
 * round a cycle) without ownership questions.  Nodes borrow strings and values
 * from schema->doc, the schema's private copy of the schema document.
 * schema_validate() walks the value and the tree together, keeping the current
 * path in a buffer on its own stack, so a compiled schema is never written to.
 */
#include "schema.h"

#include "mailbox.h"
#include "tz.h"
#include "utf8.h"

#include <locale.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PATH_MAX 1024     /* longest path reported; longer ones are cut */
#define S_MSG_MAX 256       /* longest message reported */
#define S_WHERE_MAX 512     /* longest schema location named in compile errors */
#define S_MAX_LEVEL 128     /* deepest schema nesting, and deepest validation recursion */

/* type bits; a node with no bits set accepts any type */
enum {
    T_NULL = 1 << 0,
    T_BOOLEAN = 1 << 1,
    T_OBJECT = 1 << 2,
    T_ARRAY = 1 << 3,
    T_NUMBER = 1 << 4,
    T_STRING = 1 << 5,
    T_INTEGER = 1 << 6,
};

/* the type names in the order messages list them */
static const struct {
    const char *name;
    const char *phrase;
    unsigned bit;
} s_types[] = {
    {"string", "a string", T_STRING},   {"integer", "an integer", T_INTEGER},
    {"number", "a number", T_NUMBER},   {"boolean", "a boolean", T_BOOLEAN},
    {"object", "an object", T_OBJECT},  {"array", "an array", T_ARRAY},
    {"null", "null", T_NULL},
};

/* a format checker gets the string bytes (valid UTF-8, no NUL) and says 1 when fine */
typedef int (*s_format_fn)(const char *s, size_t n);

typedef struct {
    const char *name;
    s_format_fn check;
    const char *msg;
} s_format_t;

typedef struct s_node s_node_t;

/* s_node_t - one compiled (sub)schema.  Arrays are owned by the node; the nodes they
   point to are owned by schema->nodes; json_t and char pointers are borrowed from
   schema->doc unless marked owned. */
struct s_node {
    int boolean;                 /* -1: an object schema; 0 / 1: the schema false / true */
    unsigned types;              /* T_* bits; 0 = any type */
    int strict_string;           /* string keywords present: check UTF-8 and NUL */
    const json_t *const_v;       /* NULL when absent (a JSON null is a non-NULL json_t) */
    const json_t *enum_v;        /* array, NULL when absent */
    long long min_len, max_len;  /* -1 when absent */
    int has_pattern;             /* re is compiled and must be regfree()d */
    regex_t re;
    const char *pattern;
    const json_t *minimum, *maximum, *xminimum, *xmaximum;  /* numbers, NULL when absent */
    s_node_t *items;
    long long min_items, max_items, min_props, max_props;   /* -1 when absent */
    size_t nprops;
    const char **prop_names;     /* owned array of borrowed keys */
    s_node_t **prop_nodes;       /* owned array */
    const json_t *required;      /* array of strings, NULL when absent */
    s_node_t *additional;        /* NULL: any additional property is fine */
    s_node_t **all_of, **any_of, **one_of;  /* owned arrays */
    size_t n_all, n_any, n_one;
    s_node_t *not_;
    char *ref_name;              /* owned: the <name> of "#/$defs/<name>", decoded */
    s_node_t *ref;               /* resolved once the whole schema is compiled */
    const s_format_t *format;    /* NULL when absent */
};

struct schema {
    json_t *doc;                 /* owned: private copy of the schema document */
    s_node_t *root;
    s_node_t **nodes;            /* owned, with every node in it */
    size_t nnodes, capnodes;
    const char **def_names;      /* owned array of the root $defs keys (borrowed) */
    s_node_t **def_nodes;        /* owned array */
    size_t ndefs;
    locale_t utf8;               /* owned; C.UTF-8 for regcomp/regexec, 0 when no pattern */
};

/* compile state */
typedef struct {
    schema_t *s;
    char *err;
    size_t errlen;
    char where[S_WHERE_MAX];     /* JSON pointer of the schema being compiled, "#/properties/x" */
    size_t wlen;
    int level;
} s_cctx_t;

/* validation state: the path of the value being checked */
typedef struct {
    const schema_t *s;
    char path[S_PATH_MAX];
    size_t plen;
    int depth;                   /* path segments in path */
    int level;                   /* recursion level */
    unsigned long steps;         /* checks passed so far: how far a oneOf branch got */
} s_vctx_t;

/* one validation error */
typedef struct {
    char path[S_PATH_MAX];
    char msg[S_MSG_MAX];
    int depth;                   /* path segments */
    unsigned long steps;         /* s_vctx_t.steps when it happened */
    int type_fail;               /* the value had the wrong type for the failing schema */
} s_verr_t;

/* ------------------------------------------------------------------------ */
/* small helpers */

/* s_copy_out - copy src to dst (len dstlen), cutting at a UTF-8 boundary; NULL/0 is fine */
static void s_copy_out(char *dst, size_t dstlen, const char *src)
{
    if (!dst || dstlen == 0)
        return;
    size_t n = strlen(src);
    if (n >= dstlen) {
        n = dstlen - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* s_utf8_next - decode the code point at s[*i] (n bytes in all), advance *i; -1 when invalid */
static long s_utf8_next(const char *s, size_t n, size_t *i)
{
    uint32_t cp;
    size_t len = utf8_decode((const unsigned char *)s + *i, n - *i, &cp);
    if (!len)
        return -1;
    *i += len;
    return (long)cp;
}

/* s_utf8_valid - 1 when the n bytes are well-formed UTF-8 */
static int s_utf8_valid(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n)
        if (s_utf8_next(s, n, &i) < 0)
            return 0;
    return 1;
}

/* s_is_integral - 1 when the real has no fraction (jansson reals are finite) */
static int s_is_integral(double d)
{
    if (d >= 4503599627370496.0 || d <= -4503599627370496.0)
        return 1; /* 2^52 and beyond: every double is a whole number */
    return (double)(long long)d == d;
}

/* s_num_cmp - compare two JSON numbers by value: <0, 0, >0 */
static int s_num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    long double x = json_is_integer(a) ? (long double)json_integer_value(a)
                                       : (long double)json_real_value(a);
    long double y = json_is_integer(b) ? (long double)json_integer_value(b)
                                       : (long double)json_real_value(b);
    return (x > y) - (x < y);
}

/* s_equal - JSON Schema equality: like json_equal() but 1 equals 1.0 at any depth */
static int s_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return s_num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!s_equal(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        const char *key;
        json_t *va;
        json_object_foreach((json_t *)a, key, va) {
            const json_t *vb = json_object_get(b, key);
            if (!vb || !s_equal(va, vb))
                return 0;
        }
        return 1;
    }
    default:
        return 1; /* true, false, null: same type is same value */
    }
}

/* ------------------------------------------------------------------------ */
/* formats */

/* s_digits - 1 when s[0..n) are all ASCII digits */
static int s_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* s_num - the value of n ASCII digits (checked by the caller) */
static int s_num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* s_days_in_month - days in month m (1-12) of year y */
static int s_days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return days[m - 1];
}

/* s_fmt_date - YYYY-MM-DD, a real day of year 0001-9999 */
static int s_fmt_date(const char *s, size_t n)
{
    if (n != 10 || s[4] != '-' || s[7] != '-' || !s_digits(s, 4) || !s_digits(s + 5, 2) ||
        !s_digits(s + 8, 2))
        return 0;
    int y = s_num(s, 4), m = s_num(s + 5, 2), d = s_num(s + 8, 2);
    return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= s_days_in_month(y, m);
}

/* s_fmt_hhmm - "hh:mm" with hh 00-23 and mm 00-59 */
static int s_fmt_hhmm(const char *s)
{
    return s_digits(s, 2) && s[2] == ':' && s_digits(s + 3, 2) && s_num(s, 2) <= 23 &&
           s_num(s + 3, 2) <= 59;
}

/* s_fmt_date_time - RFC 3339 date-time: date "T" hh:mm:ss [.frac] (Z | +hh:mm | -hh:mm).
   Like python's rfc3339-validator, 't'/'z' may be lower case and second 60 is refused. */
static int s_fmt_date_time(const char *s, size_t n)
{
    if (n < 20 || !s_fmt_date(s, 10) || (s[10] != 'T' && s[10] != 't'))
        return 0;
    if (!s_fmt_hhmm(s + 11) || s[16] != ':' || !s_digits(s + 17, 2) || s_num(s + 17, 2) > 59)
        return 0;
    size_t p = 19;
    if (s[p] == '.') {
        size_t start = ++p;
        while (p < n && s[p] >= '0' && s[p] <= '9')
            p++;
        if (p == start)
            return 0;
    }
    if (p + 1 == n && (s[p] == 'Z' || s[p] == 'z'))
        return 1;
    return p + 6 == n && (s[p] == '+' || s[p] == '-') && s_fmt_hhmm(s + p + 1);
}

/* s_fmt_email - the one address rule (mailbox.c), with a dotted domain */
static int s_fmt_email(const char *s, size_t n)
{
    return mailbox_valid(s, n, MAILBOX_FQDN);
}

/* s_fmt_birthday - YYYY-MM-DD (a real day) or --MM-DD (any day that exists in some year) */
static int s_fmt_birthday(const char *s, size_t n)
{
    if (n == 10)
        return s_fmt_date(s, n);
    if (n != 7 || s[0] != '-' || s[1] != '-' || s[4] != '-' || !s_digits(s + 2, 2) ||
        !s_digits(s + 5, 2))
        return 0;
    int m = s_num(s + 2, 2), d = s_num(s + 5, 2);
    return m >= 1 && m <= 12 && d >= 1 && d <= s_days_in_month(2000, m);
}

/* s_alpha_run - 1 when s[0..n) are ASCII letters */
static int s_alpha_run(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
            return 0;
    return 1;
}

/* s_fmt_locale - language(2-3 letters) [-script(4 letters)] [-region(2 letters | 3 digits)];
   case-insensitive like BCP 47 itself */
static int s_fmt_locale(const char *s, size_t n)
{
    const char *tag[4];
    size_t len[4], ntags = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '-')
            continue;
        if (ntags == 3)
            return 0;
        tag[ntags] = s + start;
        len[ntags++] = i - start;
        start = i + 1;
    }
    if (len[0] < 2 || len[0] > 3 || !s_alpha_run(tag[0], len[0]))
        return 0;
    size_t k = 1;
    if (k < ntags && len[k] == 4 && s_alpha_run(tag[k], 4))
        k++;
    if (k < ntags && ((len[k] == 2 && s_alpha_run(tag[k], 2)) ||
                      (len[k] == 3 && s_digits(tag[k], 3))))
        k++;
    return k == ntags;
}

/* s_fmt_currency - three upper-case ASCII letters */
static int s_fmt_currency(const char *s, size_t n)
{
    return n == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' &&
           s[2] <= 'Z';
}

/* s_fmt_duration - 1-10 digits, no leading zero (so positive), then one of s m h d w */
static int s_fmt_duration(const char *s, size_t n)
{
    return n >= 2 && n <= 11 && s[0] != '0' && s_digits(s, n - 1) && strchr("smhdw", s[n - 1]) &&
           s[n - 1] != '\0';
}

static const s_format_t s_formats[] = {
    {"date", s_fmt_date, "must be a date YYYY-MM-DD"},
    {"date-time", s_fmt_date_time, "must be a date-time YYYY-MM-DDThh:mm:ssZ (RFC 3339)"},
    {"email", s_fmt_email, "must be an e-mail address"},
    {"birthday", s_fmt_birthday, "must be a birthday YYYY-MM-DD or --MM-DD"},
    {"timezone", tz_valid, "must be a known time zone like Europe/Warsaw"},
    {"locale", s_fmt_locale, "must be a locale like en or pl-PL"},
    {"currency", s_fmt_currency, "must be a currency code like EUR"},
    {"duration", s_fmt_duration, "must be a duration like 90s, 2h or 7d"},
};

/* ------------------------------------------------------------------------ */
/* compiling */

/* s_cfail - write "reason (at #/where)" to the caller's err; returns NULL for convenience */
static void *s_cfail(s_cctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void *s_cfail(s_cctx_t *c, const char *fmt, ...)
{
    char reason[S_MSG_MAX + S_WHERE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    char line[sizeof reason + S_WHERE_MAX + 8];
    snprintf(line, sizeof line, "%s (at %s)", reason, c->where);
    s_copy_out(c->err, c->errlen, line);
    return NULL;
}

/* s_wpush - append "/tok" (JSON-pointer escaped) to the schema location; returns the old length */
static size_t s_wpush(s_cctx_t *c, const char *tok)
{
    size_t old = c->wlen;
    if (c->wlen + 1 < sizeof c->where)
        c->where[c->wlen++] = '/';
    for (const char *p = tok; *p && c->wlen + 2 < sizeof c->where; p++) {
        if (*p == '~' || *p == '/') {
            c->where[c->wlen++] = '~';
            c->where[c->wlen++] = *p == '~' ? '0' : '1';
        } else {
            c->where[c->wlen++] = *p;
        }
    }
    c->where[c->wlen] = '\0';
    return old;
}

/* s_wpop - go back to an earlier schema location */
static void s_wpop(s_cctx_t *c, size_t old)
{
    c->wlen = old;
    c->where[old] = '\0';
}

/* s_count - read a non-negative integer keyword value (2 and 2.0 both count) */
static int s_count(s_cctx_t *c, const char *kw, const json_t *v, long long *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 9e15 &&
        s_is_integral(json_real_value(v))) {
        *out = (long long)json_real_value(v);
        return 0;
    }
    s_cfail(c, "%s must be a non-negative integer", kw);
    return -1;
}

/* s_parse_type - the "type" keyword: a type name or an array of distinct names */
static int s_parse_type(s_cctx_t *c, const json_t *v, unsigned *types)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_string(v) && !(json_is_array(v) && n > 0)) {
        s_cfail(c, "type must be a type name or a non-empty array of them");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_is_array(v) ? json_array_get(v, i) : v;
        const char *name = json_string_value(t);
        unsigned bit = 0;
        for (size_t k = 0; name && k < sizeof s_types / sizeof s_types[0]; k++)
            if (strcmp(name, s_types[k].name) == 0)
                bit = s_types[k].bit;
        if (!bit) {
            s_cfail(c, "unknown type %s", name ? name : "(not a string)");
            return -1;
        }
        if (*types & bit) {
            s_cfail(c, "type %s is listed twice", name);
            return -1;
        }
        *types |= bit;
    }
    return 0;
}

/* s_pattern_lint - NULL when the ECMA-262 pattern means the same as a POSIX ERE, else why not.
   Our schemas only use patterns that mean the same in both (python's re agrees with both
   for those too); this refuses the common constructs where they differ instead of
   silently matching something else. */
static const char *s_pattern_lint(const char *p)
{
    int in_bracket = 0;
    for (size_t i = 0; p[i]; i++) {
        char ch = p[i];
        if (in_bracket) {
            if (ch == '\\')
                return "a backslash inside [...] is literal in POSIX but an escape in ECMA";
            if (ch == '[' && (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '='))
                return "POSIX [: :], [. .] and [= =] are not ECMA";
            if (ch == ']')
                in_bracket = 0;
            continue;
        }
        if (ch == '\\') {
            char next = p[i + 1];
            if (next == '\0')
                return "it ends with a backslash";
            if ((next >= '0' && next <= '9') || (next >= 'A' && next <= 'Z') ||
                (next >= 'a' && next <= 'z') || strchr("<>`'", next))
                return "escapes like \\d \\w \\s \\b \\1 differ between ECMA and POSIX; "
                       "use [0-9] and the like";
            i++;
            continue;
        }
        if (ch == '(' && p[i + 1] == '?')
            return "(?...) groups are not POSIX";
        if (strchr("*+?}", ch) && (p[i + 1] == '?' || p[i + 1] == '+'))
            return "lazy and possessive quantifiers are not POSIX";
        if (ch == '[') {
            size_t j = i + 1;
            if (p[j] == '^')
                j++;
            if (p[j] == ']')
                return "']' first in [...] differs between ECMA and POSIX";
            in_bracket = 1;
            i = j - 1;
        }
    }
    return NULL;
}

/* s_compile_pattern - check and regcomp() the pattern into n->re, in the C.UTF-8 locale */
static int s_compile_pattern(s_cctx_t *c, s_node_t *n, const json_t *v)
{
    const char *p = json_string_value(v);
    if (!p || memchr(p, '\0', json_string_length(v))) {
        s_cfail(c, "pattern must be a string without NUL");
        return -1;
    }
    const char *why = s_pattern_lint(p);
    if (why) {
        s_cfail(c, "pattern \"%s\" is not portable: %s", p, why);
        return -1;
    }
    if (!c->s->utf8) {
        /* so that . and [^x] take a whole character and {m,n} counts characters */
        c->s->utf8 = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
        if (!c->s->utf8)
            c->s->utf8 = newlocale(LC_ALL_MASK, "C.utf8", (locale_t)0);
        if (!c->s->utf8) {
            s_cfail(c, "pattern needs the C.UTF-8 locale, which is not available");
            return -1;
        }
    }
    locale_t old = uselocale(c->s->utf8);
    int rc = regcomp(&n->re, p, REG_EXTENDED | REG_NOSUB);
    uselocale(old);
    if (rc != 0) {
        char why_re[128];
        regerror(rc, &n->re, why_re, sizeof why_re);
        s_cfail(c, "pattern \"%s\" does not compile: %s", p, why_re);
        return -1;
    }
    n->has_pattern = 1;
    n->pattern = p;
    return 0;
}

/* s_parse_ref - "#/$defs/<name>" into an owned, JSON-pointer-decoded name */
static int s_parse_ref(s_cctx_t *c, s_node_t *n, const json_t *v)
{
    static const char prefix[] = "#/$defs/";
    const char *r = json_string_value(v);
    if (!r || strncmp(r, prefix, sizeof prefix - 1) != 0 || !r[sizeof prefix - 1]) {
        s_cfail(c, "$ref must be \"#/$defs/<name>\"");
        return -1;
    }
    const char *src = r + sizeof prefix - 1;
    char *name = malloc(strlen(src) + 1);
    if (!name) {
        s_cfail(c, "out of memory");
        return -1;
    }
    size_t k = 0;
    for (const char *p = src; *p; p++) {
        if (*p == '/' || *p == '%' || (*p == '~' && p[1] != '0' && p[1] != '1')) {
            free(name);
            s_cfail(c, "$ref \"%s\" must name one entry of the root $defs", r);
            return -1;
        }
        if (*p == '~') {
            name[k++] = *++p == '0' ? '~' : '/';
        } else {
            name[k++] = *p;
        }
    }
    name[k] = '\0';
    n->ref_name = name; /* owned by the node, freed in schema_destroy() */
    return 0;
}

static s_node_t *s_compile(s_cctx_t *c, json_t *js);

/* s_compile_at - compile js found at the schema location kw[/tok] */
static s_node_t *s_compile_at(s_cctx_t *c, const char *kw, const char *tok, json_t *js)
{
    size_t old = s_wpush(c, kw);
    if (tok)
        s_wpush(c, tok);
    s_node_t *n = s_compile(c, js);
    if (n)
        s_wpop(c, old);
    return n; /* on failure keep the location: the error message already names it */
}

/* s_compile_list - allOf / anyOf / oneOf: a non-empty array of schemas; *out is owned by the node */
static int s_compile_list(s_cctx_t *c, const char *kw, json_t *v, s_node_t ***out, size_t *count)
{
    if (!json_is_array(v) || json_array_size(v) == 0) {
        s_cfail(c, "%s must be a non-empty array of schemas", kw);
        return -1;
    }
    *count = json_array_size(v);
    *out = calloc(*count, sizeof **out);
    if (!*out) {
        s_cfail(c, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < *count; i++) {
        char tok[32];
        snprintf(tok, sizeof tok, "%zu", i);
        if (!((*out)[i] = s_compile_at(c, kw, tok, json_array_get(v, i))))
            return -1;
    }
    return 0;
}

/* s_compile_props - "properties": an object of schemas */
static int s_compile_props(s_cctx_t *c, s_node_t *n, json_t *v)
{
    if (!json_is_object(v)) {
        s_cfail(c, "properties must be an object");
        return -1;
    }
    size_t count = json_object_size(v);
    n->prop_names = calloc(count ? count : 1, sizeof *n->prop_names);
    n->prop_nodes = calloc(count ? count : 1, sizeof *n->prop_nodes);
    if (!n->prop_names || !n->prop_nodes) {
        s_cfail(c, "out of memory");
        return -1;
    }
    const char *key;
    json_t *sub;
    json_object_foreach(v, key, sub) {
        if (!(n->prop_nodes[n->nprops] = s_compile_at(c, "properties", key, sub)))
            return -1;
        n->prop_names[n->nprops++] = key;
    }
    return 0;
}

/* s_compile_defs - "$defs": an object of schemas; the root's are what $ref can name */
static int s_compile_defs(s_cctx_t *c, json_t *v)
{
    if (!json_is_object(v)) {
        s_cfail(c, "$defs must be an object");
        return -1;
    }
    int root = c->level == 1;
    size_t count = json_object_size(v);
    if (root) {
        c->s->def_names = calloc(count ? count : 1, sizeof *c->s->def_names);
        c->s->def_nodes = calloc(count ? count : 1, sizeof *c->s->def_nodes);
        if (!c->s->def_names || !c->s->def_nodes) {
            s_cfail(c, "out of memory");
            return -1;
        }
    }
    const char *key;
    json_t *sub;
    json_object_foreach(v, key, sub) {
        s_node_t *d = s_compile_at(c, "$defs", key, sub);
        if (!d)
            return -1;
        if (root) {
            c->s->def_names[c->s->ndefs] = key;
            c->s->def_nodes[c->s->ndefs++] = d;
        }
    }
    return 0;
}

/* s_is_annotation - keywords that carry no assertion and are skipped */
static int s_is_annotation(const char *kw)
{
    static const char *const names[] = {"title", "description", "$schema", "$comment",
                                        "examples", "default", "deprecated", "readOnly",
                                        "writeOnly"};
    if (strncmp(kw, "x-", 2) == 0)
        return 1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(kw, names[i]) == 0)
            return 1;
    return 0;
}

/* s_keyword - apply one keyword of an object schema to node n; -1 after s_cfail() */
static int s_keyword(s_cctx_t *c, s_node_t *n, const char *kw, json_t *v)
{
    if (s_is_annotation(kw))
        return 0;
    if (strcmp(kw, "$id") == 0) {
        if (c->level != 1)
            return s_cfail(c, "$id is only allowed at the root"), -1;
        return 0;
    }
    if (strcmp(kw, "type") == 0)
        return s_parse_type(c, v, &n->types);
    if (strcmp(kw, "properties") == 0)
        return s_compile_props(c, n, v);
    if (strcmp(kw, "required") == 0) {
        for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
            if (!json_is_string(json_array_get(v, i)))
                return s_cfail(c, "required must be an array of strings"), -1;
        if (!json_is_array(v))
            return s_cfail(c, "required must be an array of strings"), -1;
        n->required = v;
        return 0;
    }
    if (strcmp(kw, "additionalProperties") == 0)
        return (n->additional = s_compile_at(c, kw, NULL, v)) ? 0 : -1;
    if (strcmp(kw, "enum") == 0) {
        if (!json_is_array(v) || json_array_size(v) == 0)
            return s_cfail(c, "enum must be a non-empty array"), -1;
        n->enum_v = v;
        return 0;
    }
    if (strcmp(kw, "const") == 0) {
        n->const_v = v;
        return 0;
    }
    if (strcmp(kw, "minLength") == 0)
        return s_count(c, kw, v, &n->min_len);
    if (strcmp(kw, "maxLength") == 0)
        return s_count(c, kw, v, &n->max_len);
    if (strcmp(kw, "minItems") == 0)
        return s_count(c, kw, v, &n->min_items);
    if (strcmp(kw, "maxItems") == 0)
        return s_count(c, kw, v, &n->max_items);
    if (strcmp(kw, "minProperties") == 0)
        return s_count(c, kw, v, &n->min_props);
    if (strcmp(kw, "maxProperties") == 0)
        return s_count(c, kw, v, &n->max_props);
    if (strcmp(kw, "pattern") == 0)
        return s_compile_pattern(c, n, v);
    const json_t **bound = strcmp(kw, "minimum") == 0            ? &n->minimum
                           : strcmp(kw, "maximum") == 0          ? &n->maximum
                           : strcmp(kw, "exclusiveMinimum") == 0 ? &n->xminimum
                           : strcmp(kw, "exclusiveMaximum") == 0 ? &n->xmaximum
                                                                 : NULL;
    if (bound) {
        if (!json_is_number(v))
            return s_cfail(c, "%s must be a number", kw), -1;
        *bound = v;
        return 0;
    }
    if (strcmp(kw, "items") == 0) {
        if (json_is_array(v))
            return s_cfail(c, "items must be one schema (the array form is prefixItems, "
                              "not supported)"), -1;
        return (n->items = s_compile_at(c, kw, NULL, v)) ? 0 : -1;
    }
    if (strcmp(kw, "allOf") == 0)
        return s_compile_list(c, kw, v, &n->all_of, &n->n_all);
    if (strcmp(kw, "anyOf") == 0)
        return s_compile_list(c, kw, v, &n->any_of, &n->n_any);
    if (strcmp(kw, "oneOf") == 0)
        return s_compile_list(c, kw, v, &n->one_of, &n->n_one);
    if (strcmp(kw, "not") == 0)
        return (n->not_ = s_compile_at(c, kw, NULL, v)) ? 0 : -1;
    if (strcmp(kw, "$ref") == 0)
        return s_parse_ref(c, n, v);
    if (strcmp(kw, "$defs") == 0)
        return s_compile_defs(c, v);
    if (strcmp(kw, "format") == 0) {
        const char *name = json_string_value(v);
        for (size_t i = 0; name && i < sizeof s_formats / sizeof s_formats[0]; i++)
            if (strcmp(name, s_formats[i].name) == 0)
                n->format = &s_formats[i];
        if (!n->format)
            return s_cfail(c, "unknown format %s", name ? name : "(not a string)"), -1;
        return 0;
    }
    return s_cfail(c, "unknown keyword %s", kw), -1;
}

/* s_compile - compile one (sub)schema; the node is owned by c->s->nodes.  NULL after s_cfail(). */
static s_node_t *s_compile(s_cctx_t *c, json_t *js)
{
    schema_t *s = c->s;
    if (c->level >= S_MAX_LEVEL)
        return s_cfail(c, "schema nested more than %d deep", S_MAX_LEVEL);
    if (s->nnodes == s->capnodes) {
        size_t cap = s->capnodes ? s->capnodes * 2 : 16;
        s_node_t **nodes = realloc(s->nodes, cap * sizeof *nodes);
        if (!nodes)
            return s_cfail(c, "out of memory");
        s->nodes = nodes;
        s->capnodes = cap;
    }
    s_node_t *n = calloc(1, sizeof *n);
    if (!n)
        return s_cfail(c, "out of memory");
    s->nodes[s->nnodes++] = n;
    n->min_len = n->max_len = n->min_items = n->max_items = n->min_props = n->max_props = -1;
    if (json_is_boolean(js)) {
        n->boolean = json_is_true(js);
        return n;
    }
    n->boolean = -1;
    if (!json_is_object(js))
        return s_cfail(c, "a schema must be an object or a boolean");
    c->level++;
    const char *kw;
    json_t *v;
    json_object_foreach(js, kw, v) {
        if (s_keyword(c, n, kw, v) != 0)
            return NULL;
    }
    c->level--;
    n->strict_string = (n->types & T_STRING) || n->min_len >= 0 || n->max_len >= 0 ||
                       n->has_pattern || n->format;
    return n;
}

/* s_resolve_refs - point every $ref at its root $defs entry */
static int s_resolve_refs(s_cctx_t *c)
{
    schema_t *s = c->s;
    for (size_t i = 0; i < s->nnodes; i++) {
        s_node_t *n = s->nodes[i];
        if (!n->ref_name)
            continue;
        for (size_t k = 0; k < s->ndefs && !n->ref; k++)
            if (strcmp(s->def_names[k], n->ref_name) == 0)
                n->ref = s->def_nodes[k];
        if (!n->ref) {
            s_cfail(c, "$ref names #/$defs/%s, which the root $defs does not have", n->ref_name);
            return -1;
        }
    }
    return 0;
}

/* s_new_owned - compile doc, taking over the caller's reference to it (even on failure) */
static schema_t *s_new_owned(json_t *doc, char *err, size_t errlen)
{
    schema_t *s = calloc(1, sizeof *s);
    if (!s) {
        json_decref(doc);
        s_copy_out(err, errlen, "out of memory");
        return NULL;
    }
    s->doc = doc;
    s_cctx_t c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.err = err;
    c.errlen = errlen;
    strcpy(c.where, "#");
    c.wlen = 1;
    s->root = s_compile(&c, doc);
    if (!s->root || s_resolve_refs(&c) != 0) {
        schema_destroy(&s);
        return NULL;
    }
    s_copy_out(err, errlen, "");
    return s;
}

/* schema_new - compile a JSON Schema given as text (true/false too); duplicate keys are an error */
schema_t *schema_new(const char *json_text, char *err, size_t errlen)
{
    if (!json_text) {
        s_copy_out(err, errlen, "no schema text");
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loads(json_text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!doc) {
        char line[S_MSG_MAX + 64];
        snprintf(line, sizeof line, "schema is not valid JSON: line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        s_copy_out(err, errlen, line);
        return NULL;
    }
    return s_new_owned(doc, err, errlen);
}

/* schema_new_json - compile from a parsed value; the schema keeps a private deep copy */
schema_t *schema_new_json(json_t *doc, char *err, size_t errlen)
{
    if (!doc) {
        s_copy_out(err, errlen, "no schema");
        return NULL;
    }
    json_t *copy = json_deep_copy(doc);
    if (!copy) {
        s_copy_out(err, errlen, "out of memory copying the schema");
        return NULL;
    }
    return s_new_owned(copy, err, errlen);
}

/* schema_destroy - free the schema and everything it owns; safe on NULL and twice */
void schema_destroy(schema_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    schema_t *s = *self_p;
    for (size_t i = 0; i < s->nnodes; i++) {
        s_node_t *n = s->nodes[i];
        if (n->has_pattern)
            regfree(&n->re);
        free(n->prop_names);
        free(n->prop_nodes);
        free(n->all_of);
        free(n->any_of);
        free(n->one_of);
        free(n->ref_name);
        free(n);
    }
    free(s->nodes);
    free(s->def_names);
    free(s->def_nodes);
    if (s->utf8)
        freelocale(s->utf8);
    json_decref(s->doc);
    free(s);
    *self_p = NULL;
}

/* ------------------------------------------------------------------------ */
/* validating */

/* s_push_key - append ".key" (or "key" at the root) to the path; returns the old length */
static size_t s_push_key(s_vctx_t *c, const char *key)
{
    size_t old = c->plen;
    int w = snprintf(c->path + c->plen, sizeof c->path - c->plen, "%s%s", c->plen ? "." : "", key);
    c->plen = (w < 0 || (size_t)w >= sizeof c->path - old) ? sizeof c->path - 1 : old + (size_t)w;
    c->depth++;
    return old;
}

/* s_push_index - append "[i]" to the path; returns the old length */
static size_t s_push_index(s_vctx_t *c, size_t i)
{
    size_t old = c->plen;
    int w = snprintf(c->path + c->plen, sizeof c->path - c->plen, "[%zu]", i);
    c->plen = (w < 0 || (size_t)w >= sizeof c->path - old) ? sizeof c->path - 1 : old + (size_t)w;
    c->depth++;
    return old;
}

/* s_pop - back to the path before the matching push */
static void s_pop(s_vctx_t *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
    c->depth--;
}

/* s_fail - record an error at the current path; returns -1 */
static int s_fail(s_vctx_t *c, s_verr_t *e, int type_fail, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int s_fail(s_vctx_t *c, s_verr_t *e, int type_fail, const char *fmt, ...)
{
    memcpy(e->path, c->path, c->plen + 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->depth = c->depth;
    e->steps = c->steps;
    e->type_fail = type_fail;
    return -1;
}

/* s_msg_add - append text to an error message, cutting when full */
static void s_msg_add(s_verr_t *e, const char *text)
{
    size_t used = strlen(e->msg);
    snprintf(e->msg + used, sizeof e->msg - used, "%s", text);
}

/* s_msg_value - append a value: strings as they are, anything else as compact JSON */
static void s_msg_value(s_verr_t *e, const json_t *v)
{
    if (json_is_string(v)) {
        s_msg_add(e, json_string_value(v));
        return;
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    s_msg_add(e, text ? text : "?");
    free(text); /* allocated by jansson with malloc */
}

/* s_fail_type - "must be a string", "must be a string or null", ... */
static int s_fail_type(s_vctx_t *c, s_verr_t *e, unsigned types)
{
    s_fail(c, e, 1, "must be ");
    size_t total = 0, done = 0;
    for (size_t k = 0; k < sizeof s_types / sizeof s_types[0]; k++)
        if (types & s_types[k].bit)
            total++;
    if ((types & T_INTEGER) && (types & T_NUMBER))
        total--; /* "integer" says nothing more once "number" is there */
    for (size_t k = 0; k < sizeof s_types / sizeof s_types[0]; k++) {
        if (!(types & s_types[k].bit) || (s_types[k].bit == T_INTEGER && (types & T_NUMBER)))
            continue;
        if (done)
            s_msg_add(e, done + 1 == total ? " or " : ", ");
        s_msg_add(e, s_types[k].phrase);
        done++;
    }
    return -1;
}

/* s_type_ok - does v have one of the types?  1.0 counts as an integer */
static int s_type_ok(unsigned types, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return types & T_OBJECT;
    case JSON_ARRAY:
        return types & T_ARRAY;
    case JSON_STRING:
        return types & T_STRING;
    case JSON_INTEGER:
        return types & (T_INTEGER | T_NUMBER);
    case JSON_REAL:
        return (types & T_NUMBER) || ((types & T_INTEGER) && s_is_integral(json_real_value(v)));
    case JSON_TRUE:
    case JSON_FALSE:
        return types & T_BOOLEAN;
    case JSON_NULL:
        return types & T_NULL;
    }
    return 0;
}

/* s_plural - "s" unless n is 1 */
static const char *s_plural(long long n)
{
    return n == 1 ? "" : "s";
}

static int s_validate(s_vctx_t *c, const s_node_t *n, const json_t *v, s_verr_t *e);

/* s_check_string - the string keywords, once the value is known to be a string */
static int s_check_string(s_vctx_t *c, const s_node_t *n, const json_t *v, s_verr_t *e)
{
    const char *str = json_string_value(v); /* no NUL, valid UTF-8: s_validate_node checked */
    size_t len = json_string_length(v);
    if (n->min_len >= 0 || n->max_len >= 0) {
        size_t chars = utf8_count(str, len);
        if (n->min_len >= 0 && chars < (unsigned long long)n->min_len)
            return s_fail(c, e, 0, "must be at least %lld character%s", n->min_len,
                          s_plural(n->min_len));
        if (n->max_len >= 0 && chars > (unsigned long long)n->max_len)
            return s_fail(c, e, 0, "must be at most %lld character%s", n->max_len,
                          s_plural(n->max_len));
    }
    if (n->has_pattern) {
        locale_t old = uselocale(c->s->utf8);
        int rc = regexec(&n->re, str, 0, NULL, 0);
        uselocale(old);
        if (rc != 0)
            return s_fail(c, e, 0, "must match the pattern %s", n->pattern);
    }
    if (n->format && !n->format->check(str, len))
        return s_fail(c, e, 0, "%s", n->format->msg);
    c->steps++;
    return 0;
}

/* s_check_number - minimum, maximum, exclusiveMinimum, exclusiveMaximum */
static int s_check_number(s_vctx_t *c, const s_node_t *n, const json_t *v, s_verr_t *e)
{
    const json_t *b = NULL;
    const char *what = NULL;
    if (n->minimum && s_num_cmp(v, n->minimum) < 0)
        b = n->minimum, what = "at least";
    else if (n->maximum && s_num_cmp(v, n->maximum) > 0)
        b = n->maximum, what = "at most";
    else if (n->xminimum && s_num_cmp(v, n->xminimum) <= 0)
        b = n->xminimum, what = "greater than";
    else if (n->xmaximum && s_num_cmp(v, n->xmaximum) >= 0)
        b = n->xmaximum, what = "less than";
    if (!b) {
        c->steps++;
        return 0;
    }
    s_fail(c, e, 0, "must be %s ", what);
    s_msg_value(e, b);
    return -1;
}

/* s_check_array - minItems, maxItems, items */
static int s_check_array(s_vctx_t *c, const s_node_t *n, const json_t *v, s_verr_t *e)
{
    long long size = (long long)json_array_size(v);
    if (n->min_items >= 0 && size < n->min_items)
        return s_fail(c, e, 0, "must have at least %lld item%s", n->min_items,
                      s_plural(n->min_items));
    if (n->max_items >= 0 && size > n->max_items)
        return s_fail(c, e, 0, "must have at most %lld item%s", n->max_items,
                      s_plural(n->max_items));
    c->steps++;
    if (!n->items)
        return 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        size_t old = s_push_index(c, i);
        int rc = s_validate(c, n->items, json_array_get(v, i), e);
        s_pop(c, old);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* s_check_object - minProperties, maxProperties, required, properties, additionalProperties */
static int s_check_object(s_vctx_t *c, const s_node_t *n, const json_t *v, s_verr_t *e)
{
    long long size = (long long)json_object_size(v);
    if (n->min_props >= 0 && size < n->min_props)
        return s_fail(c, e, 0, "must have at least %lld propert%s", n->min_props,
                      n->min_props == 1 ? "y" : "ies");
    if (n->max_props >= 0 && size > n->max_props)
        return s_fail(c, e, 0, "must have at most %lld propert%s", n->max_props,
                      n->max_props == 1 ? "y" : "ies");
    for (size_t i = 0; n->required && i < json_array_size(n->required); i++) {
        const char *name = json_string_value(json_array_get(n->required, i));
        if (!json_object_get(v, name)) {
            size_t old = s_push_key(c, name);
            s_fail(c, e, 0, "is required");
            s_pop(c, old);
            return -1;
        }
        c->steps++;
    }
    if (!n->nprops && !n->additional)
        return 0;
    const char *key;
    json_t *member;
    json_object_foreach((json_t *)v, key, member) {
        const s_node_t *sub = n->additional;
        for (size_t k = 0; k < n->nprops; k++)
            if (strcmp(n->prop_names[k], key) == 0) {
                sub = n->prop_nodes[k];
                break;
            }
        if (!sub)
            continue;
        size_t old = s_push_key(c, key);
        int rc = sub == n->additional && sub->boolean == 0
                     ? s_fail(c, e, 0, "is not a known field")
                     : s_validate(c, sub, member, e);
        s_pop(c, old);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* s_check_branches - anyOf (want_one 0) or oneOf (want_one 1).  When nothing matches, report
   the branch that got furthest: the deepest error path, then the most checks passed.  An
   error at this very value is only reported when one branch clearly got furthest and it was
   not merely the wrong type; otherwise the message is generic. */
static int s_check_branches(s_vctx_t *c, s_node_t *const *b, size_t count, const json_t *v,
                            int want_one, s_verr_t *e)
{
    s_verr_t cur, best;
    unsigned long best_progress = 0;
    int have_best = 0, tie = 0;
    size_t matches = 0;
    for (size_t i = 0; i < count; i++) {
        unsigned long start = c->steps;
        if (s_validate(c, b[i], v, &cur) == 0) {
            if (!want_one)
                return 0;
            if (++matches > 1)
                return s_fail(c, e, 0, "must match exactly one of the allowed forms");
            continue;
        }
        unsigned long progress = cur.steps - start;
        if (!have_best || cur.depth > best.depth ||
            (cur.depth == best.depth && progress > best_progress)) {
            memcpy(&best, &cur, sizeof best);
            best_progress = progress;
            have_best = 1;
            tie = 0;
        } else if (cur.depth == best.depth && progress == best_progress) {
            tie = 1;
        }
    }
    if (matches == 1)
        return 0;
    if (have_best && (best.depth > c->depth || (!best.type_fail && !tie))) {
        memcpy(e, &best, sizeof *e);
        return -1;
    }
    return s_fail(c, e, 0, "must match one of the allowed forms");
}

/* s_validate_node - every keyword of one node against v */
static int s_validate_node(s_vctx_t *c, const s_node_t *n, const json_t *v, s_verr_t *e)
{
    if (n->boolean == 1)
        return 0;
    if (n->boolean == 0)
        return s_fail(c, e, 0, "is not allowed");
    if (n->ref && s_validate(c, n->ref, v, e) != 0)
        return -1;
    if (n->types && !s_type_ok(n->types, v))
        return s_fail_type(c, e, n->types);
    c->steps++;
    if (json_is_string(v) && n->strict_string) {
        const char *str = json_string_value(v);
        size_t len = json_string_length(v);
        if (memchr(str, '\0', len))
            return s_fail(c, e, 0, "must not contain NUL");
        if (!s_utf8_valid(str, len))
            return s_fail(c, e, 0, "must be valid UTF-8");
    }
    if (n->const_v && !s_equal(v, n->const_v)) {
        s_fail(c, e, 0, "must be ");
        s_msg_value(e, n->const_v);
        return -1;
    }
    if (n->enum_v) {
        size_t i, count = json_array_size(n->enum_v);
        for (i = 0; i < count; i++)
            if (s_equal(v, json_array_get(n->enum_v, i)))
                break;
        if (i == count) {
            s_fail(c, e, 0, "must be one of: ");
            for (i = 0; i < count; i++) {
                if (i)
                    s_msg_add(e, ", ");
                s_msg_value(e, json_array_get(n->enum_v, i));
            }
            return -1;
        }
        c->steps++;
    }
    int rc = 0;
    if (json_is_string(v) && n->strict_string)
        rc = s_check_string(c, n, v, e);
    else if (json_is_number(v))
        rc = s_check_number(c, n, v, e);
    else if (json_is_array(v))
        rc = s_check_array(c, n, v, e);
    else if (json_is_object(v))
        rc = s_check_object(c, n, v, e);
    if (rc != 0)
        return -1;
    for (size_t i = 0; i < n->n_all; i++)
        if (s_validate(c, n->all_of[i], v, e) != 0)
            return -1;
    if (n->n_any && s_check_branches(c, n->any_of, n->n_any, v, 0, e) != 0)
        return -1;
    if (n->n_one && s_check_branches(c, n->one_of, n->n_one, v, 1, e) != 0)
        return -1;
    if (n->not_) {
        s_verr_t ignored;
        if (s_validate(c, n->not_, v, &ignored) == 0)
            return s_fail(c, e, 0, "must not match the excluded form");
    }
    return 0;
}

/* s_validate - s_validate_node with a bound on recursion ($ref cycles, deep values) */
static int s_validate(s_vctx_t *c, const s_node_t *n, const json_t *v, s_verr_t *e)
{
    if (c->level >= S_MAX_LEVEL)
        return s_fail(c, e, 0, "is nested too deeply");
    c->level++;
    int rc = s_validate_node(c, n, v, e);
    c->level--;
    return rc;
}

/* schema_validate - 0 when value is valid, else -1 with the first error's path and message */
int schema_validate(const schema_t *s, const json_t *value, char *path, size_t pathlen, char *msg,
                    size_t msglen)
{
    s_copy_out(path, pathlen, "");
    s_copy_out(msg, msglen, "");
    if (!s || !value) {
        s_copy_out(msg, msglen, s ? "no value" : "no schema");
        return -1;
    }
    s_vctx_t c;
    c.s = s;
    c.path[0] = '\0';
    c.plen = 0;
    c.depth = 0;
    c.level = 0;
    c.steps = 0;
    s_verr_t e;
    if (s_validate(&c, s->root, value, &e) == 0)
        return 0;
    s_copy_out(path, pathlen, e.path);
    s_copy_out(msg, msglen, e.msg);
    return -1;
}

/* s_depth - whether v, at nesting level (1 for the root), stays within max;
 * path (S_PATH_MAX, filled to plen) names v, and on -1 the value too deep */
static int s_depth(const json_t *v, int level, int max, char *path, size_t plen)
{
    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (level > max)
        return -1;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int n = snprintf(path + plen, S_PATH_MAX - plen, "[%zu]", i);
            size_t np = n > 0 && plen + (size_t)n < S_PATH_MAX ? plen + (size_t)n : plen;
            if (s_depth(json_array_get(v, i), level + 1, max, path, np))
                return -1;
            path[plen] = '\0';
        }
        return 0;
    }
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m) {
        int n = snprintf(path + plen, S_PATH_MAX - plen, "%s%s", plen ? "." : "", k);
        size_t np = n > 0 && plen + (size_t)n < S_PATH_MAX ? plen + (size_t)n : plen;
        if (s_depth(m, level + 1, max, path, np))
            return -1;
        path[plen] = '\0';
    }
    return 0;
}

/* schema_depth_check - the nesting limit, before any schema */
int schema_depth_check(const json_t *value, int max, char *path, size_t pathlen)
{
    char p[S_PATH_MAX] = "";
    int rc = value ? s_depth(value, 1, max, p, 0) : 0;
    s_copy_out(path, pathlen, rc ? p : "");
    return rc;
}
