/*
 * test_mime.c - quoted-printable, encoded words and addresses from mime.c.
 *
 * Run without arguments for the unit tests.  Run with "--emit FILE" to write
 * 200 complete multipart messages built from seeded random UTF-8 (emoji,
 * Cyrillic, CJK, Polish, ASCII punctuation, controls) as JSON lines, which
 * tests/unit/mime_roundtrip.py parses with Python's email package - a second,
 * independent decoder.  The decoders here are deliberately strict: they
 * reject anything mime.c should never write.
 */
#include "mime.h"
#include "unit.h"
#include "unit_str.h"

#include <stdint.h>
#include <stdlib.h>

/* s_rand - xorshift64*; the state lives with the caller */
static uint64_t s_rand(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 2685821657736338717ULL;
}

/* s_below - random number in [0, n) */
static size_t s_below(uint64_t *st, size_t n)
{
    return (size_t)(s_rand(st) % n);
}

/* s_put_cp - append code point cp as UTF-8 */
static void s_put_cp(unit_str_t *s, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 63)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 63));
        u[2] = (char)(0x80 | (cp & 63)), n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 63));
        u[2] = (char)(0x80 | ((cp >> 6) & 63)), u[3] = (char)(0x80 | (cp & 63));
        n = 4;
    }
    unit_str_add(s, u, n);
}

/* ---- strict decoders and checks ------------------------------------------ */

/* s_hexval - value of an upper-case hex digit, -1 otherwise */
static int s_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* s_max_line - longest line of s split at CRLF; the first counts prefix */
static size_t s_max_line(const char *s, size_t prefix)
{
    size_t max = 0, col = prefix;
    for (const char *p = s;; p++) {
        if (*p == '\0' || (*p == '\r' && p[1] == '\n')) {
            if (col > max)
                max = col;
            if (!*p)
                return max;
            p++;
            col = 0;
        } else {
            col++;
        }
    }
}

/* s_folds_only - 1 when every CR or LF in s is part of a CRLF + space fold */
static int s_folds_only(const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\n')
            return 0;
        if (*p == '\r') {
            if (p[1] != '\n' || (p[2] != ' ' && p[2] != '\t'))
                return 0;
            p++;
        }
    }
    return 1;
}

/* s_seven_bit - 1 when s is printable ASCII, tab, or CRLF */
static int s_seven_bit(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x7F || (*p < 0x20 && *p != '\t' && *p != '\r' && *p != '\n'))
            return 0;
    return 1;
}

/* s_qp_lines_ok - every rule of RFC 2045 6.7 we promise, line by line */
static int s_qp_lines_ok(const char *qp)
{
    const char *line = qp;
    for (;;) {
        const char *end = strstr(line, "\r\n");
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n > 76)
            return 0;
        if ((n == 1 && line[0] == '.') || (n >= 5 && !memcmp(line, "From ", 5)))
            return 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)line[i];
            if (c == '=') {
                if (i + 1 == n)
                    break;                          /* soft break */
                if (i + 2 >= n)
                    return 0;                       /* cut triplet */
                if (s_hexval(line[i + 1]) < 0 || s_hexval(line[i + 2]) < 0)
                    return 0;
                i += 2;
            } else if (c == ' ' || c == '\t') {
                if (i + 1 == n)
                    return 0;                       /* trailing whitespace */
            } else if (c < 33 || c > 126) {
                return 0;
            }
        }
        if (!end)
            return 1;
        line = end + 2;
    }
}

/* s_qp_decode - strict QP decoder: CRLF becomes "\n"; NULL when malformed;
 * the caller frees the result */
static char *s_qp_decode(const char *qp)
{
    unit_str_t o = {0};
    unit_str_add(&o, "", 0);
    for (const char *p = qp; *p; p++) {
        if (*p == '=' && p[1] == '\r' && p[2] == '\n') {
            p += 2;
        } else if (*p == '=') {
            int hi = s_hexval(p[1]), lo = hi < 0 ? -1 : s_hexval(p[2]);
            if (lo < 0) {
                free(o.d);
                return NULL;
            }
            char c = (char)(hi * 16 + lo);
            unit_str_add(&o, &c, 1);
            p += 2;
        } else if (*p == '\r' && p[1] == '\n') {
            unit_str_add(&o, "\n", 1);
            p++;
        } else if (*p == '\r' || *p == '\n') {
            free(o.d);
            return NULL;
        } else {
            unit_str_add(&o, p, 1);
        }
    }
    return o.d;
}

/* s_b64val - value of a base64 digit, -1 otherwise */
static int s_b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* s_ew_decode - decode one whole encoded word w[0..n) onto out; 0 when it
 * is malformed, longer than 75 or does not hold whole UTF-8 characters */
static int s_ew_decode(const char *w, size_t n, unit_str_t *out)
{
    if (n > 75 || n < 12 || strncmp(w, "=?UTF-8?", 8) != 0 ||
        (w[8] != 'B' && w[8] != 'Q') || w[9] != '?' ||
        w[n - 2] != '?' || w[n - 1] != '=')
        return 0;
    unit_str_t bytes = {0};
    unit_str_add(&bytes, "", 0);
    const char *p = w + 10, *e = w + n - 2;
    int ok = 1;
    if (w[8] == 'Q') {
        for (; p < e && ok; p++) {
            if (*p == '_') {
                unit_str_add(&bytes, " ", 1);
            } else if (*p == '=') {
                int hi = p + 2 < e ? s_hexval(p[1]) : -1;
                int lo = hi < 0 ? -1 : s_hexval(p[2]);
                char c = (char)(hi * 16 + lo);
                ok = lo >= 0;
                if (ok)
                    unit_str_add(&bytes, &c, 1);
                p += 2;
            } else if (*p > 32 && *p < 127 && *p != '?') {
                unit_str_add(&bytes, p, 1);
            } else {
                ok = 0;
            }
        }
    } else {
        if ((e - p) % 4)
            ok = 0;
        for (; p < e && ok; p += 4) {
            int v[4], pad = 0;
            for (int k = 0; k < 4; k++) {
                v[k] = p[k] == '=' ? (pad++, 0) : s_b64val(p[k]);
                if (v[k] < 0 || (pad && p[k] != '='))
                    ok = 0;
            }
            if (pad && p + 4 != e)
                ok = 0;
            char o[3] = {(char)(v[0] << 2 | v[1] >> 4),
                         (char)((v[1] & 15) << 4 | v[2] >> 2),
                         (char)((v[2] & 3) << 6 | v[3])};
            if (ok)
                unit_str_add(&bytes, o, (size_t)(3 - pad));
        }
    }
    ok = ok && bytes.len > 0 && mime_utf8_valid(bytes.d, bytes.len);
    if (ok)
        unit_str_add(out, bytes.d, bytes.len);
    free(bytes.d);
    return ok;
}

/* s_words_decode - decode v, a run of encoded words separated by "\r\n ";
 * NULL when any piece is not one good word; the caller frees the result */
static char *s_words_decode(const char *v, int *words)
{
    unit_str_t o = {0};
    unit_str_add(&o, "", 0);
    *words = 0;
    const char *p = v;
    if (!strncmp(p, "\r\n ", 3))
        p += 3;                 /* the name left no room on the first line */
    for (;;) {
        const char *end = strstr(p, "\r\n ");
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (!s_ew_decode(p, n, &o)) {
            free(o.d);
            return NULL;
        }
        (*words)++;
        if (!end)
            return o.d;
        p = end + 3;
    }
}

/* s_header_decode - what a reader sees in a mime_header_value result:
 * encoded words decoded, or plain text unfolded; the caller frees it */
static char *s_header_decode(const char *v, int *words)
{
    *words = 0;
    if (!strncmp(v, "=?", 2) || !strncmp(v, "\r\n =?", 5))
        return s_words_decode(v, words);
    unit_str_t o = {0};
    unit_str_add(&o, "", 0);
    for (const char *p = v; *p; p++) {
        if (*p == '\r' && p[1] == '\n')
            p++;
        else
            unit_str_add(&o, p, 1);
    }
    return o.d;
}

/* s_sanitized - test model of mime_sanitize_line for ASCII-and-simple
 * input: each control but tab a space; the caller frees it */
static char *s_sanitized(const char *s)
{
    unit_str_t o = {0};
    unit_str_add(&o, "", 0);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        unit_str_add(&o, (*p < 0x20 && *p != '\t') || *p == 0x7F ? " " : (const char *)p, 1);
    return o.d;
}

/* s_header_roundtrip - value encodes for Subject within every limit and
 * decodes back to its sanitized self; returns 1 when all holds */
static int s_header_roundtrip(const char *name, const char *value,
                              const char *want)
{
    char *v = mime_header_value(name, value);
    int words = 0, ok = v != NULL;
    char *back = v ? s_header_decode(v, &words) : NULL;
    ok = ok && back && strcmp(back, want) == 0;
    ok = ok && s_max_line(v, strlen(name) + 2) <= 78;
    ok = ok && s_folds_only(v) && s_seven_bit(v);
    if (!ok)
        fprintf(stderr, "  value \"%s\"\n  encoded \"%s\"\n  decoded \"%s\"\n",
                value, v ? v : "(null)", back ? back : "(null)");
    free(back);
    free(v);
    return ok;
}

/* ---- utf-8 and sanitising ------------------------------------------------ */

/* test_utf8_valid_accepts_good_and_rejects_bad - overlongs, surrogates,
 * out of range, truncated and stray bytes are all refused */
static void test_utf8_valid_accepts_good_and_rejects_bad(void)
{
    static const char *const good[] = {
        "", "plain", "Доставка", "żółw", "快递", "😡👍🏽", "\xEF\xBF\xBF",
        "\xF4\x8F\xBF\xBF", "\xC2\x80", "\xE0\xA0\x80", "\xF0\x90\x80\x80",
    };
    static const char *const bad[] = {
        "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xE0\x9F\xBF",
        "\xF0\x80\x80\x80", "\xF0\x8F\xBF\xBF", "\xED\xA0\x80", "\xED\xBF\xBF",
        "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\x80", "\xBF", "\xFE", "\xFF",
        "\xE2\x82", "ok\xF0\x9F\x98", "\xC3\x28",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK_INT(mime_utf8_valid(good[i], strlen(good[i])), 1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(mime_utf8_valid(bad[i], strlen(bad[i])), 0);
    CHECK_INT(mime_utf8_valid("a\0b", 3), 1);            /* NUL is a character */
    CHECK_INT(mime_utf8_valid("\xC3\xA9", 1), 0);        /* cut by len */
}

/* test_utf8_valid_finds_bad_bytes_anywhere_in_ascii - the validator skips
 * ASCII eight bytes at a time; a bad or cut sequence at every offset and
 * length around those blocks is still found, and good ones still pass */
static void test_utf8_valid_finds_bad_bytes_anywhere_in_ascii(void)
{
    static const char *const seqs[] = {"\xFF", "\x80", "\xC3", "\xE2\x82",
                                       "\xED\xA0\x80", "\xC3\xA9", "\xF0\x9F\x98\x80"};
    char s[64];
    for (size_t k = 0; k < sizeof seqs / sizeof seqs[0]; k++) {
        size_t sl = strlen(seqs[k]);
        int good = k >= 5;
        for (size_t len = sl; len <= 40; len++) {
            for (size_t at = 0; at + sl <= len; at++) {
                memset(s, 'a', len);
                memcpy(s + at, seqs[k], sl);
                CHECK_INT(mime_utf8_valid(s, len), good);
                if (good)               /* cut by len: invalid again */
                    CHECK_INT(mime_utf8_valid(s, at + sl - 1), 0);
            }
        }
    }
}

/* test_sanitize_line_replaces_controls - CR, LF, C0 (not tab), DEL, C1,
 * U+2028/2029 each become one space; bad UTF-8 gives NULL */
static void test_sanitize_line_replaces_controls(void)
{
    char *a = mime_sanitize_line("a\r\nb\x01" "c\td\x1f" "e\x7f" "f");
    char *b = mime_sanitize_line("x\xC2\x85y\xE2\x80\xA8z\xE2\x80\xA9w żółw");
    CHECK_STR(a, "a  b c\td e f");
    CHECK_STR(b, "x y z w żółw");
    CHECK(mime_sanitize_line("bad \xFF") == NULL);
    CHECK(mime_sanitize_line(NULL) == NULL);
    free(a);
    free(b);
}

/* ---- quoted-printable ---------------------------------------------------- */

/* test_qp_plain_text_and_equals - ASCII stays, '=' and non-ASCII encode */
static void test_qp_plain_text_and_equals(void)
{
    char *a = mime_qp_encode("hello world", 11);
    char *b = mime_qp_encode("a=b", 3);
    char *c = mime_qp_encode("h\xC3\xA9llo \xF0\x9F\x98\xA1", 11);
    char *d = mime_qp_encode("", 0);
    char *e = mime_qp_encode("bell\x07 del\x7f", 10);
    char *z = mime_qp_encode("a\0b", 3);           /* NUL in a body is data */
    char *n = mime_qp_encode(NULL, 0);
    CHECK_STR(z, "a=00b");
    CHECK_STR(n, "");
    CHECK(mime_qp_encode(NULL, 1) == NULL);
    free(z), free(n);
    CHECK_STR(a, "hello world");
    CHECK_STR(b, "a=3Db");
    CHECK_STR(c, "h=C3=A9llo =F0=9F=98=A1");
    CHECK_STR(d, "");
    CHECK_STR(e, "bell=07 del=7F");
    free(a), free(b), free(c), free(d), free(e);
}

/* test_qp_line_breaks_become_crlf - \n and \r\n give CRLF, a lone CR is
 * data and is encoded */
static void test_qp_line_breaks_become_crlf(void)
{
    const char *in = "a\nb\r\nc\rd\n";
    char *q = mime_qp_encode(in, strlen(in));
    CHECK_STR(q, "a\r\nb\r\nc=0Dd\r\n");
    free(q);
}

/* test_qp_trailing_whitespace_is_encoded - before a break and at the end */
static void test_qp_trailing_whitespace_is_encoded(void)
{
    const char *in = "a \nb\t\r\nc d  \n  \nend ";
    char *q = mime_qp_encode(in, strlen(in));
    CHECK_STR(q, "a=20\r\nb=09\r\nc d =20\r\n =20\r\nend=20");
    free(q);
}

/* test_qp_dot_and_from_lines_are_safe - "." alone and "From " lines */
static void test_qp_dot_and_from_lines_are_safe(void)
{
    const char *in = ".\nFrom me\n..\nFrom\n x.\nFromage";
    char *q = mime_qp_encode(in, strlen(in));
    CHECK_STR(q, "=2E\r\n=46rom me\r\n..\r\nFrom\r\n x.\r\nFromage");
    free(q);
    /* the same rules hold where a soft break starts a physical line */
    unit_str_t s = {0};
    for (int i = 0; i < 75; i++)
        unit_str_add(&s, "x", 1);
    unit_str_adds(&s, "From here and on");
    q = mime_qp_encode(s.d, s.len);
    CHECK(q && strstr(q, "=\r\n=46rom here"));
    CHECK(q && s_qp_lines_ok(q));
    free(q);
    s.len = 0;
    for (int i = 0; i < 75; i++)
        unit_str_add(&s, "y", 1);
    unit_str_adds(&s, ".");
    q = mime_qp_encode(s.d, s.len);
    CHECK(q && s_qp_lines_ok(q) && !strstr(q, "\r\n.\r\n") &&
          !(strlen(q) >= 3 && !strcmp(q + strlen(q) - 3, "\n.")));
    free(q);
    free(s.d);
}

/* test_qp_long_lines_soft_break_at_76 - every line <= 76, soft breaks
 * end all but the last line, decoding joins them */
static void test_qp_long_lines_soft_break_at_76(void)
{
    unit_str_t s = {0};
    for (int i = 0; i < 300; i++)
        unit_str_add(&s, i % 7 == 6 ? " " : "x", 1);
    char *q = mime_qp_encode(s.d, s.len);
    CHECK(q && s_qp_lines_ok(q));
    CHECK(q && s_max_line(q, 0) == 76);         /* lines are filled, too */
    char *back = q ? s_qp_decode(q) : NULL;
    CHECK_STR(back, s.d);
    /* a line of exactly 76 needs no soft break; 77 does */
    char *q76 = mime_qp_encode(s.d, 76), *q77 = mime_qp_encode(s.d, 77);
    CHECK(q76 && !strchr(q76, '\r'));
    CHECK(q77 && strstr(q77, "=\r\n"));
    free(q76), free(q77), free(back), free(q), free(s.d);
}

/* test_qp_never_splits_triplets_or_characters - with '=' and 2-4 byte
 * characters at every offset, no =XX and no character straddles a break */
static void test_qp_never_splits_triplets_or_characters(void)
{
    static const char *const fill[] = {"=", "é", "快", "😡", "a=", "ab😡"};
    for (size_t f = 0; f < sizeof fill / sizeof fill[0]; f++) {
        for (size_t lead = 0; lead < 8; lead++) {
            unit_str_t s = {0};
            for (size_t i = 0; i < lead; i++)
                unit_str_add(&s, "L", 1);
            for (int i = 0; i < 40; i++)
                unit_str_adds(&s, fill[f]);
            char *q = mime_qp_encode(s.d, s.len);
            CHECK(q && s_qp_lines_ok(q));
            /* each physical line must decode to whole UTF-8 characters */
            for (const char *line = q; line;) {
                const char *end = strstr(line, "\r\n");
                size_t n = end ? (size_t)(end - line) : strlen(line);
                char *one = strndup(line, n);
                if (n && one[n - 1] == '=')
                    one[n - 1] = '\0';
                char *dec = s_qp_decode(one);
                CHECK(dec && mime_utf8_valid(dec, strlen(dec)));
                free(dec);
                free(one);
                line = end ? end + 2 : NULL;
            }
            char *back = q ? s_qp_decode(q) : NULL;
            CHECK_STR(back, s.d);
            free(back), free(q), free(s.d);
        }
    }
}

/* test_qp_random_round_trip - 500 random texts decode back exactly */
static void test_qp_random_round_trip(void)
{
    static const char *const atoms[] = {
        "a", "Z", "0", " ", "  ", "\t", "=", "==", ".", "From ", "\n", "\r\n",
        "\r", "\x01", "~", "?", "_", "д", "ż", "快", "😡", "👍🏽", "=?UTF-8?",
    };
    uint64_t st = 42;
    int bad = 0;
    for (int n = 0; n < 500 && bad < 3; n++) {
        unit_str_t s = {0}, want = {0};
        unit_str_add(&s, "", 0);
        size_t count = s_below(&st, 200);
        for (size_t i = 0; i < count; i++)
            unit_str_adds(&s, atoms[s_below(&st, sizeof atoms / sizeof atoms[0])]);
        for (const char *p = s.d; *p; p++)   /* CRLF reads as \n */
            if (!(*p == '\r' && p[1] == '\n'))
                unit_str_add(&want, p, 1);
        unit_str_add(&want, "", 0);
        char *q = mime_qp_encode(s.d, s.len);
        char *back = q ? s_qp_decode(q) : NULL;
        int ok = q && s_qp_lines_ok(q) && s_seven_bit(q) && back &&
                 strcmp(back, want.d) == 0;
        if (!ok) {
            bad++;
            fprintf(stderr, "  input \"%s\"\n  qp \"%s\"\n", s.d, q ? q : "(null)");
        }
        CHECK(ok);
        free(back), free(q), free(s.d), free(want.d);
    }
}

/* test_qp_rejects_bad_utf8 - NULL, not mangled output */
static void test_qp_rejects_bad_utf8(void)
{
    CHECK(mime_qp_encode("ab\xFF", 3) == NULL);
    CHECK(mime_qp_encode("\xED\xA0\x80", 3) == NULL);
    CHECK(mime_qp_encode("\xC3\xA9", 1) == NULL);
}

/* s_qp_ref_line - the QP rules applied one character at a time, the way
 * mime.c did before it learned to copy runs: a reference for its fast path */
static void s_qp_ref_line(unit_str_t *o, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0, k = 0;
    while (k < n) {
        unsigned char c = p[k];
        size_t seq = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        int last = k + seq == n;
        int enc = c >= 0x80 || c == '=' || c == 0x7F ||
                  ((c == ' ' || c == '\t') ? last : c < 0x20);
        if (col == 0 && !enc)
            enc = (c == '.' && last) ||
                  (n - k >= 5 && memcmp(p + k, "From ", 5) == 0);
        size_t w = enc ? 3 * seq : 1;
        if (col + w > (last ? 76u : 75u)) {
            unit_str_adds(o, "=\r\n");
            col = 0;
            continue;
        }
        for (size_t j = 0; j < seq; j++) {
            char t[3] = {'=', hex[p[k + j] >> 4], hex[p[k + j] & 15]};
            if (enc)
                unit_str_add(o, t, 3);
            else
                unit_str_add(o, (const char *)p + k, 1);
        }
        col += w;
        k += seq;
    }
}

/* s_qp_ref - reference encoding of a whole text; NULL on bad UTF-8 */
static char *s_qp_ref(const char *text, size_t len)
{
    if (!mime_utf8_valid(text, len))
        return NULL;
    unit_str_t o = {0};
    unit_str_add(&o, "", 0);
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        size_t end = j;
        if (j < len && end > i && text[end - 1] == '\r')
            end--;
        s_qp_ref_line(&o, (const unsigned char *)text + i, end - i);
        if (j >= len)
            break;
        unit_str_adds(&o, "\r\n");
        i = j + 1;
    }
    return o.d;
}

/* test_qp_equals_character_by_character_reference - 3000 random texts
 * (long plain runs that cross column 75, "From " and "." at line and soft
 * break starts, trailing blanks, controls, multi-byte characters, some bad
 * UTF-8) encode exactly as the one-character-at-a-time reference */
static void test_qp_equals_character_by_character_reference(void)
{
    static const char *const atoms[] = {
        "a", "Z", " ", "\t", "=", ".", "F", "From ", "\n", "\r\n", "\r",
        "\x01", "\x7f", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
        "Fro", "m ", ".\n", "x.y", "\xC3", "\x80", "\xED\xA0\x80",
    };
    size_t natoms = sizeof atoms / sizeof atoms[0];
    uint64_t st = 7;
    int bad = 0, invalid = 0;
    for (int n = 0; n < 3000 && bad < 3; n++) {
        unit_str_t s = {0};
        unit_str_add(&s, "", 0);
        int valid_only = s_below(&st, 4) != 0;
        size_t count = s_below(&st, 80);
        for (size_t i = 0; i < count; i++) {
            if (s_below(&st, 6) == 0) {         /* a run of plain bytes */
                size_t run = s_below(&st, 160);
                for (size_t r = 0; r < run; r++)
                    unit_str_add(&s, "abc de"+ s_below(&st, 6), 1);
            }
            size_t a = s_below(&st, natoms - (valid_only ? 3 : 0));
            unit_str_adds(&s, atoms[a]);
        }
        char *q = mime_qp_encode(s.d, s.len), *ref = s_qp_ref(s.d, s.len);
        invalid += ref == NULL;
        int ok = (q == NULL) == (ref == NULL) && (!q || strcmp(q, ref) == 0);
        if (!ok) {
            bad++;
            fprintf(stderr, "  input \"%s\"\n  qp  \"%s\"\n  ref \"%s\"\n", s.d,
                    q ? q : "(null)", ref ? ref : "(null)");
        }
        CHECK(ok);
        free(q), free(ref), free(s.d);
    }
    CHECK(invalid > 0);         /* the bad-UTF-8 case was exercised */
}

/* test_qp_append_adds_to_a_buffer_or_leaves_it - appending gives the same
 * bytes after what is there; bad UTF-8 leaves the buffer untouched */
static void test_qp_append_adds_to_a_buffer_or_leaves_it(void)
{
    const char *text = "caf\xC3\xA9 = 5 \xE2\x82\xAC \n.\nFrom here\n";
    char *q = mime_qp_encode(text, strlen(text));
    buf_t b = BUF_INIT;
    buf_puts(&b, "head:");
    CHECK_INT(mime_qp_append(&b, text, strlen(text)), 0);
    CHECK(q && b.data && strncmp(b.data, "head:", 5) == 0 &&
          strcmp(b.data + 5, q) == 0);
    size_t len = b.len;
    CHECK_INT(mime_qp_append(&b, "long enough text then \xFF", 23), -1);
    CHECK_INT(b.len, len);
    CHECK(!buf_failed(&b));
    CHECK(b.data && strcmp(b.data + 5, q) == 0);
    CHECK_INT(mime_qp_append(&b, NULL, 1), -1);
    CHECK_INT(b.len, len);
    free(q);
    buf_free(&b);
}

/* ---- header values -------------------------------------------------------- */

/* test_header_ascii_passes_through - short printable ASCII is unchanged */
static void test_header_ascii_passes_through(void)
{
    char *a = mime_header_value("Subject", "Your order #1234 is late");
    char *b = mime_header_value("Subject", "");
    char *c = mime_header_value("Subject", "quotes \"x\" and \\ and (y)");
    CHECK_STR(a, "Your order #1234 is late");
    CHECK_STR(b, "");
    CHECK_STR(c, "quotes \"x\" and \\ and (y)");
    free(a), free(b), free(c);
}

/* test_header_long_ascii_folds_at_whitespace - lines <= 78 with the name,
 * folds are CRLF before a space, unfolding gives the value back */
static void test_header_long_ascii_folds_at_whitespace(void)
{
    const char *v = "This is a rather long subject line that certainly will "
                    "not fit on one line of seventy-eight characters, so it "
                    "has to be folded at whitespace more than once, twice";
    char *f = mime_header_value("Subject", v);
    CHECK(f && strstr(f, "\r\n ") && !strstr(f, "=?"));
    CHECK(s_header_roundtrip("Subject", v, v));
    free(f);
    /* a word too long to fold falls back to encoded words */
    unit_str_t s = {0};
    unit_str_adds(&s, "see ");
    for (int i = 0; i < 100; i++)
        unit_str_add(&s, "x", 1);
    f = mime_header_value("Subject", s.d);
    CHECK(f && !strncmp(f, "=?UTF-8?", 8));
    CHECK(s_header_roundtrip("Subject", s.d, s.d));
    free(f);
    free(s.d);
}

/* test_header_non_ascii_uses_encoded_words - B or Q words decode back */
static void test_header_non_ascii_uses_encoded_words(void)
{
    char *a = mime_header_value("Subject", "Доставка опоздала 😡");
    char *b = mime_header_value("Subject", "Re: your order caf\xC3\xA9");
    CHECK(a && !strncmp(a, "=?UTF-8?B?", 10));
    CHECK_STR(b, "=?UTF-8?Q?Re=3A_your_order_caf=C3=A9?=");
    CHECK(s_header_roundtrip("Subject", "Доставка опоздала 😡", "Доставка опоздала 😡"));
    CHECK(s_header_roundtrip("Subject", "żółw 快递", "żółw 快递"));
    free(a), free(b);
}

/* test_header_words_fit_and_hold_whole_characters - long values in every
 * script: lines <= 78, words <= 75, each word whole UTF-8 on its own */
static void test_header_words_fit_and_hold_whole_characters(void)
{
    static const char *const unit[] = {
        "😡", "快递", "Доставка ", "żółw ", "a😡", "ab👍🏽", "x", "=?", "_ ?",
    };
    static const char *const names[] = {"Subject", "X", "X-Hark-Long-Header-Name-For-Testing"};
    for (size_t u = 0; u < sizeof unit / sizeof unit[0]; u++) {
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            for (int reps = 1; reps < 60; reps += 7) {
                unit_str_t s = {0};
                unit_str_adds(&s, "ж");
                for (int i = 0; i < reps; i++)
                    unit_str_adds(&s, unit[u]);
                unit_str_adds(&s, "!");
                CHECK(s_header_roundtrip(names[k], s.d, s.d));
                free(s.d);
            }
        }
    }
}

/* test_header_random_round_trip - 400 random values of mixed scripts */
static void test_header_random_round_trip(void)
{
    static const char *const atoms[] = {
        "a", "B", "7", " ", "  ", "\t", "=", "?", "_", "\"", "\\", ":", "=?",
        "?=", "д", "Ж", "ż", "Ł", "快", "递", "😡", "👍🏽", "🇵🇱", "From ",
        "word ", "longerword ",
    };
    uint64_t st = 7;
    int bad = 0;
    for (int n = 0; n < 400 && bad < 3; n++) {
        unit_str_t s = {0};
        unit_str_add(&s, "", 0);
        size_t count = s_below(&st, 90);
        for (size_t i = 0; i < count; i++)
            unit_str_adds(&s, atoms[s_below(&st, sizeof atoms / sizeof atoms[0])]);
        int ok = s_header_roundtrip("Subject", s.d, s.d);
        bad += !ok;
        CHECK(ok);
        free(s.d);
    }
}

/* test_header_neutralises_crlf_and_controls - customer text can never add
 * a header: CR, LF and controls are spaces, only CRLF+space folds remain */
static void test_header_neutralises_crlf_and_controls(void)
{
    static const char *const evil[] = {
        "Hi\r\nBcc: evil@example.com",
        "Hi\nBcc: evil@example.com",
        "Hi\rBcc: evil@example.com",
        "Привет\r\nBcc: evil@example.com\r\n\r\nbody",
        "x\x01y\x1bz\x7f",
        "\r\n",
        "tab\tstays",
    };
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        char *want = s_sanitized(evil[i]);
        CHECK(s_header_roundtrip("Subject", evil[i], want));
        char *v = mime_header_value("Subject", evil[i]);
        CHECK(v && s_folds_only(v) && !strstr(v, "\nBcc"));
        free(v);
        free(want);
    }
    char *v = mime_header_value("Subject", "a\r\nb");
    CHECK_STR(v, "a  b");
    free(v);
    /* a NUL ends a C string: nothing after it can reach the header */
    v = mime_header_value("Subject", "Hi\0\r\nBcc: evil@example.com");
    CHECK_STR(v, "Hi");
    free(v);
}

/* test_header_lookalike_encoded_word_is_encoded - ASCII "=?...?=" would be
 * decoded by readers, so it is itself encoded */
static void test_header_lookalike_encoded_word_is_encoded(void)
{
    const char *v = "=?UTF-8?B?SGFja2Vk?=";
    char *e = mime_header_value("Subject", v);
    CHECK(e && strcmp(e, v) != 0);
    CHECK(s_header_roundtrip("Subject", v, v));
    free(e);
}

/* test_header_rejects_bad_input - bad UTF-8, bad or missing name */
static void test_header_rejects_bad_input(void)
{
    CHECK(mime_header_value("Subject", "bad \xC0\xAF") == NULL);
    CHECK(mime_header_value("Subject", NULL) == NULL);
    CHECK(mime_header_value(NULL, "x") == NULL);
    CHECK(mime_header_value("", "x") == NULL);
    CHECK(mime_header_value("Sub ject", "x") == NULL);
    CHECK(mime_header_value("Subject:", "x") == NULL);
    CHECK(mime_header_value("Sub\r\nBcc", "x") == NULL);
}

/* ---- addresses ------------------------------------------------------------ */

/* s_address_name - the display name a reader sees in a mime_address result
 * for addr, or NULL when the form is wrong; the caller frees it */
static char *s_address_name(const char *a, const char *addr)
{
    size_t n = strlen(a), an = strlen(addr);
    if (n < an + 3 || a[n - 1] != '>' || strncmp(a + n - 1 - an, addr, an) ||
        a[n - 2 - an] != '<')
        return NULL;
    size_t cut = n - 2 - an;                 /* at '<' */
    if (cut >= 3 && !strncmp(a + cut - 3, "\r\n ", 3))
        cut -= 3;
    else if (cut >= 1 && a[cut - 1] == ' ')
        cut -= 1;
    else
        return NULL;
    char *phrase = strndup(a, cut);
    unit_str_t o = {0};
    unit_str_add(&o, "", 0);
    if (phrase[0] == '"') {
        size_t i = 1;
        for (; phrase[i] && phrase[i] != '"'; i++) {
            if (phrase[i] == '\\')
                i++;
            unit_str_add(&o, phrase + i, 1);
        }
        if (phrase[i] != '"' || phrase[i + 1] != '\0') {
            free(o.d);
            o.d = NULL;
        }
    } else {
        int words;
        free(o.d);
        o.d = s_words_decode(phrase, &words);
    }
    free(phrase);
    return o.d;
}

/* test_address_forms - bare, quoted-string with escapes, encoded words */
static void test_address_forms(void)
{
    char *a = mime_address(NULL, "bob@example.com");
    char *b = mime_address("", "bob@example.com");
    char *c = mime_address("Bob Smith", "bob@example.com");
    char *d = mime_address("Bob \"the\" \\ Builder", "bob@example.com");
    char *e = mime_address("Łukasz Żółw", "l@example.pl");
    char *f = mime_address("  ", "bob@example.com");
    CHECK_STR(a, "bob@example.com");
    CHECK_STR(b, "bob@example.com");
    CHECK_STR(c, "\"Bob Smith\" <bob@example.com>");
    CHECK_STR(d, "\"Bob \\\"the\\\" \\\\ Builder\" <bob@example.com>");
    CHECK(e && !strncmp(e, "=?UTF-8?", 8));
    CHECK_STR(f, "bob@example.com");
    char *n = e ? s_address_name(e, "l@example.pl") : NULL;
    CHECK_STR(n, "Łukasz Żółw");
    free(n);
    n = d ? s_address_name(d, "bob@example.com") : NULL;
    CHECK_STR(n, "Bob \"the\" \\ Builder");
    free(n);
    free(a), free(b), free(c), free(d), free(e), free(f);
}

/* test_address_rejects_injection_and_bad_addr - anything that could end
 * the address, add one, or add a header */
static void test_address_rejects_injection_and_bad_addr(void)
{
    static const char *const bad[] = {
        "a@b>\r\nBcc: c@d", "a@b\r\nBcc: c@d", "a@b\nx", "a@b\rx", "",
        "nobody", "a@@b", "a@b@c", "@b", "a@", "a b@c", "<a@b>", "a@b,c@d",
        "a@b;c", "\"a\"@b", "a(x)@b", "a@[1.2.3.4]", "a\\b@c", "ż@b.pl",
        "a@b\t", "a@b\x01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *r = mime_address("Name", bad[i]);
        if (r)
            fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
        CHECK(r == NULL);
        free(r);
        CHECK(mime_address(NULL, bad[i]) == NULL);
    }
    CHECK(mime_address("x", NULL) == NULL);
    unit_str_t s = {0};
    for (int i = 0; i < 250; i++)
        unit_str_add(&s, "x", 1);
    unit_str_adds(&s, "@b.c");                             /* 254: the limit */
    char *ok = mime_address(NULL, s.d);
    CHECK_STR(ok, s.d);
    free(ok);
    unit_str_adds(&s, "c");
    char *too = mime_address(NULL, s.d);
    CHECK(too == NULL);
    free(too);
    free(s.d);
    CHECK(mime_address("bad \xFF", "a@b.c") == NULL);
}

/* test_address_name_injection_neutralised - a CRLF in the display name is
 * a space and the result has no line break but folds */
static void test_address_name_injection_neutralised(void)
{
    char *a = mime_address("Bob\r\nBcc: x@evil", "bob@example.com");
    char *b = mime_address("Боб\r\nBcc: x@evil", "bob@example.com");
    CHECK_STR(a, "\"Bob  Bcc: x@evil\" <bob@example.com>");
    CHECK(b && s_folds_only(b));
    char *n = b ? s_address_name(b, "bob@example.com") : NULL;
    CHECK_STR(n, "Боб  Bcc: x@evil");
    free(n), free(a), free(b);
}

/* test_address_long_names_fold - within 78 after "Reply-To: " */
static void test_address_long_names_fold(void)
{
    static const char *const names[] = {
        "A very long display name that is ASCII only but far too long for one line",
        "Доставка опоздала Доставка опоздала Доставка опоздала 😡😡😡 快递快递快递 żółw",
        "x",
    };
    const char *addr = "customer.service.department@very-long-domain-name.example.com";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *a = mime_address(names[i], addr);
        CHECK(a && s_max_line(a, 10) <= 78 && s_folds_only(a) && s_seven_bit(a));
        char *n = a ? s_address_name(a, addr) : NULL;
        CHECK_STR(n, names[i]);
        free(n);
        free(a);
    }
}

/* ---- --emit: messages for mime_roundtrip.py ------------------------------- */

/* s_json - write s as a JSON string literal */
static void s_json(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7F)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* s_gen_text - append ncp random pieces to raw, and what a reader should see
 * to want; controls (when allowed) go in raw and a space in want */
static void s_gen_text(uint64_t *st, unit_str_t *raw, unit_str_t *want, size_t pieces,
                       int ascii_only, int controls)
{
    static const char *const words[] = {
        "Доставка", "опоздала", "Привет", "żółw", "Zażółć", "gęślą", "jaźń",
        "Łódź", "快递", "包裹已经到了", "你好", "😡", "👍🏽", "🎉", "🇵🇱",
        "naïve", "café", "Ελληνικά",
    };
    static const char *const ascii[] = {
        "order", "#1234", "late", "Re:", "=?", "?=", "_", "=", "\"quoted\"",
        "back\\slash", "a.b", "From", "(x)", "<y>", "a,b", "x@y.z", "100%",
    };
    for (size_t i = 0; i < pieces; i++) {
        if (i)
            unit_str_add(raw, " ", 1), unit_str_add(want, " ", 1);
        size_t k = s_below(st, 10);
        if (controls && k == 0) {
            static const char *const ctl[] = {"\r\n", "\n", "\r", "\x01", "\x7f"};
            const char *c = ctl[s_below(st, 5)];
            unit_str_adds(raw, c);
            for (size_t j = 0; j < strlen(c); j++)
                unit_str_add(want, " ", 1);
            unit_str_add(raw, "x", 1), unit_str_add(want, "x", 1);
        } else if (ascii_only || k < 4) {
            const char *w = ascii[s_below(st, sizeof ascii / sizeof ascii[0])];
            unit_str_adds(raw, w), unit_str_adds(want, w);
        } else if (k < 7) {
            const char *w = words[s_below(st, sizeof words / sizeof words[0])];
            unit_str_adds(raw, w), unit_str_adds(want, w);
        } else {
            static const uint32_t lo[] = {0x410, 0x4E00, 0x1F600, 0x100, 0xAC00};
            static const uint32_t span[] = {64, 0x5000, 80, 128, 0x2000};
            size_t r = s_below(st, 5), n = 1 + s_below(st, 6);
            for (size_t j = 0; j < n; j++) {
                uint32_t cp = lo[r] + (uint32_t)s_below(st, span[r]);
                s_put_cp(raw, cp), s_put_cp(want, cp);
            }
        }
    }
}

/* s_gen_body - random multi-line text with the QP corner cases */
static void s_gen_body(uint64_t *st, unit_str_t *raw)
{
    size_t lines = 1 + s_below(st, 12);
    unit_str_t dummy = {0};
    for (size_t i = 0; i < lines; i++) {
        if (i)
            unit_str_adds(raw, s_below(st, 3) ? "\n" : "\r\n");
        static const char *const special[] = {
            ".", "..", "From here", "From", "a=b=c", "trailing   ", "\ttab",
            "", "bell\x07", "lone\rcr", "=?UTF-8?B?x?=",
        };
        size_t k = s_below(st, 4);
        if (k == 0) {
            unit_str_adds(raw, special[s_below(st, sizeof special / sizeof special[0])]);
        } else {
            s_gen_text(st, raw, &dummy, 1 + s_below(st, k == 3 ? 60 : 12), 0, 0);
            if (s_below(st, 5) == 0)
                unit_str_adds(raw, "  ");
        }
    }
    if (s_below(st, 2))
        unit_str_adds(raw, "\n");
    free(dummy.d);
}

/* s_html_of - a small HTML page showing text; the caller frees it */
static char *s_html_of(const char *text)
{
    unit_str_t h = {0};
    unit_str_adds(&h, "<!DOCTYPE html>\n<html><body><p style=\"white-space:pre-wrap\">");
    for (const char *p = text; *p; p++) {
        if (*p == '<')
            unit_str_adds(&h, "&lt;");
        else if (*p == '>')
            unit_str_adds(&h, "&gt;");
        else if (*p == '&')
            unit_str_adds(&h, "&amp;");
        else
            unit_str_add(&h, p, 1);
    }
    unit_str_adds(&h, "</p></body></html>\n");
    return h.d;
}

/* s_crlf_to_lf - copy with CRLF as LF (what a reader gets); caller frees */
static char *s_crlf_to_lf(const char *s)
{
    unit_str_t o = {0};
    unit_str_add(&o, "", 0);
    for (const char *p = s; *p; p++)
        if (!(*p == '\r' && p[1] == '\n'))
            unit_str_add(&o, p, 1);
    return o.d;
}

/* s_emit - write 200 test messages as JSON lines to path; 0 on success */
static int s_emit(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    uint64_t st = 0x5EED2024ULL;
    int rc = 0;
    for (int i = 0; i < 200 && !rc; i++) {
        unit_str_t subj = {0}, subj_want = {0}, name = {0}, name_want = {0};
        unit_str_t to = {0}, to_want = {0}, body = {0};
        int ascii = s_below(&st, 5) == 0;
        unit_str_add(&subj, "", 0), unit_str_add(&subj_want, "", 0), unit_str_add(&name, "", 0);
        unit_str_add(&name_want, "", 0), unit_str_add(&to, "", 0), unit_str_add(&to_want, "", 0);
        unit_str_add(&body, "", 0);
        s_gen_text(&st, &subj, &subj_want, 1 + s_below(&st, i % 4 ? 12 : 40), ascii, 1);
        s_gen_text(&st, &name, &name_want, 1 + s_below(&st, i % 5 ? 4 : 14), ascii, 1);
        s_gen_text(&st, &to, &to_want, 1 + s_below(&st, 3), !ascii, 0);
        s_gen_body(&st, &body);
        const char *from_addr = "sender@example.com";
        const char *to_addr = "rcpt.name+tag@example.org";

        char *hs = mime_header_value("Subject", subj.d);
        char *hf = mime_address(name.d, from_addr);
        char *ht = mime_address(to.d, to_addr);
        char *html = s_html_of(body.d);
        char *qt = mime_qp_encode(body.d, body.len);
        char *qh = mime_qp_encode(html, strlen(html));
        char *text_want = s_crlf_to_lf(body.d);
        char *html_want = s_crlf_to_lf(html);
        if (!hs || !hf || !ht || !qt || !qh) {
            fprintf(stderr, "case %d: encoding failed\n", i);
            rc = 1;
        } else {
            unit_str_t m = {0};
            char tmp[200];
            unit_str_adds(&m, "From: "), unit_str_adds(&m, hf), unit_str_adds(&m, "\r\n");
            unit_str_adds(&m, "To: "), unit_str_adds(&m, ht), unit_str_adds(&m, "\r\n");
            unit_str_adds(&m, "Subject: "), unit_str_adds(&m, hs), unit_str_adds(&m, "\r\n");
            snprintf(tmp, sizeof tmp,
                     "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
                     "Message-ID: <case-%d@hark.test>\r\n"
                     "MIME-Version: 1.0\r\n"
                     "Content-Type: multipart/alternative; boundary=\"=_hark_%d\"\r\n"
                     "\r\n", i, i);
            unit_str_adds(&m, tmp);
            snprintf(tmp, sizeof tmp,
                     "--=_hark_%d\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: quoted-printable\r\n\r\n", i);
            unit_str_adds(&m, tmp), unit_str_adds(&m, qt), unit_str_adds(&m, "\r\n");
            snprintf(tmp, sizeof tmp,
                     "--=_hark_%d\r\nContent-Type: text/html; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: quoted-printable\r\n\r\n", i);
            unit_str_adds(&m, tmp), unit_str_adds(&m, qh), unit_str_adds(&m, "\r\n");
            snprintf(tmp, sizeof tmp, "--=_hark_%d--\r\n", i);
            unit_str_adds(&m, tmp);

            fputs("{\"raw\": ", f), s_json(f, m.d);
            fputs(", \"subject\": ", f), s_json(f, subj_want.d);
            fputs(", \"name\": ", f), s_json(f, name_want.d);
            fputs(", \"addr\": ", f), s_json(f, from_addr);
            fputs(", \"to_name\": ", f), s_json(f, to_want.d);
            fputs(", \"to_addr\": ", f), s_json(f, to_addr);
            fputs(", \"text\": ", f), s_json(f, text_want);
            fputs(", \"html\": ", f), s_json(f, html_want);
            fputs("}\n", f);
            free(m.d);
        }
        free(hs), free(hf), free(ht), free(html), free(qt), free(qh);
        free(text_want), free(html_want), free(subj.d), free(subj_want.d), free(name.d);
        free(name_want.d), free(to.d), free(to_want.d), free(body.d);
    }
    if (fclose(f) != 0) {
        perror(path);
        rc = 1;
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--emit") == 0)
        return s_emit(argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--emit FILE]\n", argv[0]);
        return 2;
    }
    UNIT_RUN(test_utf8_valid_accepts_good_and_rejects_bad);
    UNIT_RUN(test_utf8_valid_finds_bad_bytes_anywhere_in_ascii);
    UNIT_RUN(test_sanitize_line_replaces_controls);
    UNIT_RUN(test_qp_plain_text_and_equals);
    UNIT_RUN(test_qp_line_breaks_become_crlf);
    UNIT_RUN(test_qp_trailing_whitespace_is_encoded);
    UNIT_RUN(test_qp_dot_and_from_lines_are_safe);
    UNIT_RUN(test_qp_long_lines_soft_break_at_76);
    UNIT_RUN(test_qp_never_splits_triplets_or_characters);
    UNIT_RUN(test_qp_random_round_trip);
    UNIT_RUN(test_qp_rejects_bad_utf8);
    UNIT_RUN(test_qp_equals_character_by_character_reference);
    UNIT_RUN(test_qp_append_adds_to_a_buffer_or_leaves_it);
    UNIT_RUN(test_header_ascii_passes_through);
    UNIT_RUN(test_header_long_ascii_folds_at_whitespace);
    UNIT_RUN(test_header_non_ascii_uses_encoded_words);
    UNIT_RUN(test_header_words_fit_and_hold_whole_characters);
    UNIT_RUN(test_header_random_round_trip);
    UNIT_RUN(test_header_neutralises_crlf_and_controls);
    UNIT_RUN(test_header_lookalike_encoded_word_is_encoded);
    UNIT_RUN(test_header_rejects_bad_input);
    UNIT_RUN(test_address_forms);
    UNIT_RUN(test_address_rejects_injection_and_bad_addr);
    UNIT_RUN(test_address_name_injection_neutralised);
    UNIT_RUN(test_address_long_names_fold);
    return UNIT_END();
}
