/*
 * fuzz_mime.c - quoted-printable, RFC 2047 headers and addresses
 * (services/common/mime.c).
 *
 * Input "TEXT\n----\nADDRESS".  Properties:
 *   - mime_utf8_valid agrees with libunistring's u8_check;
 *   - quoted-printable: 7-bit lines of at most 76 with no trailing blank,
 *     no "." line and no "From " line, '=' only before two upper-case hex
 *     digits or a soft break; decoding it gives TEXT back (line ends as
 *     CRLF);
 *   - a header value: 7-bit, CRLF only before a folding space, lines of at
 *     most 78 with "Subject: ", encoded words of at most 75; unfolded and
 *     decoded, it reads as TEXT with its controls made spaces;
 *   - mime_sanitize_line keeps the number of code points and leaves no
 *     control; mime_address of TEXT and ADDRESS ends with "<ADDRESS>".
 */
#include "fuzz.h"

#include <unistr.h>

#include "buf.h"
#include "mime.h"

/* s_hex - value of an upper-case hex digit, or -1 */
static int s_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* s_crlf_to_lf - s[0..len) with every CRLF as LF, into out; its length */
static size_t s_crlf_to_lf(const char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
            continue;
        out[n++] = s[i];
    }
    return n;
}

static void s_check_qp(const char *text, size_t len)
{
    char *qp = mime_qp_encode(text, len);
    if (!qp)
        return; /* bad UTF-8 (checked by the caller) or OOM */
    size_t qlen = strlen(qp);
    char *dec = malloc(qlen + 1), *want = malloc(len + 1), *got = malloc(qlen + 1);
    FUZZ_CHECK(dec && want && got);
    size_t n = 0, col = 0;
    for (size_t i = 0; i < qlen; i++) {
        unsigned char c = (unsigned char)qp[i];
        FUZZ_CHECK(c < 0x7F && (c >= 0x20 || c == '\r' || c == '\n' || c == '\t'));
        if (c == '\r') {
            FUZZ_CHECK(i + 1 < qlen && qp[i + 1] == '\n');
            FUZZ_CHECK(i == 0 || (qp[i - 1] != ' ' && qp[i - 1] != '\t'));
            FUZZ_CHECK(col <= 76);
            const char *line = qp + i + 2;
            FUZZ_CHECK(strncmp(line, "From ", 5) != 0);
            FUZZ_CHECK(!(line[0] == '.' && (line[1] == '\r' || line[1] == '\0')));
            dec[n++] = '\r';
            dec[n++] = '\n';
            i++;
            col = 0;
            continue;
        }
        FUZZ_CHECK(c != '\n');
        if (c == '=') {
            if (qp[i + 1] == '\r') { /* soft break */
                FUZZ_CHECK(qp[i + 2] == '\n');
                FUZZ_CHECK(col + 1 <= 76);
                i += 2;
                col = 0;
                continue;
            }
            int hi = s_hex(qp[i + 1]), lo = hi < 0 ? -1 : s_hex(qp[i + 2]);
            FUZZ_CHECK(hi >= 0 && lo >= 0);
            dec[n++] = (char)(hi * 16 + lo);
            i += 2;
            col += 3;
            continue;
        }
        dec[n++] = (char)c;
        col++;
    }
    FUZZ_CHECK(col <= 76);
    FUZZ_CHECK(qlen == 0 || (qp[qlen - 1] != ' ' && qp[qlen - 1] != '\t'));
    FUZZ_CHECK(strncmp(qp, "From ", 5) != 0 && strcmp(qp, ".") != 0 && strncmp(qp, ".\r", 2) != 0);
    size_t wn = s_crlf_to_lf(text, len, want), gn = s_crlf_to_lf(dec, n, got);
    FUZZ_CHECK(wn == gn && memcmp(want, got, wn) == 0);
    /* the buffer form writes the same bytes */
    buf_t b = BUF_INIT;
    FUZZ_CHECK(mime_qp_append(&b, text, len) == 0 && b.len == qlen &&
               memcmp(b.data, qp, qlen) == 0);
    buf_free(&b);
    free(dec);
    free(want);
    free(got);
    free(qp);
}

/* s_b64 - value of a base64 digit, or -1 */
static int s_b64(char c)
{
    const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(tab, c) : NULL;
    return p ? (int)(p - tab) : -1;
}

/* s_decode_words - the text of a value made only of encoded words
 * separated by CRLF SP, into out; its length, or -1 when it is not that */
static long s_decode_words(const char *v, char *out)
{
    size_t n = 0;
    const char *p = v;
    while (*p) {
        if (p != v) {
            if (strncmp(p, "\r\n ", 3) != 0 && *p != ' ')
                return -1;
            p += *p == ' ' ? 1 : 3;
        }
        const char *w = p;
        if (strncmp(p, "=?UTF-8?", 8) != 0 || !(p[8] == 'B' || p[8] == 'Q') || p[9] != '?')
            return -1;
        char enc = p[8];
        p += 10;
        const char *end = strstr(p, "?=");
        if (!end)
            return -1;
        FUZZ_CHECK(end + 2 - w <= 75);
        if (enc == 'B') {
            unsigned acc = 0;
            int bits = 0;
            for (; p < end && *p != '='; p++) {
                int d = s_b64(*p);
                FUZZ_CHECK(d >= 0);
                acc = (acc << 6) | (unsigned)d;
                bits += 6;
                if (bits >= 8) {
                    bits -= 8;
                    out[n++] = (char)((acc >> bits) & 0xFF);
                }
            }
        } else {
            for (; p < end; p++) {
                if (*p == '_') {
                    out[n++] = ' ';
                } else if (*p == '=') {
                    int hi = s_hex(p[1]), lo = hi < 0 ? -1 : s_hex(p[2]);
                    FUZZ_CHECK(hi >= 0 && lo >= 0);
                    out[n++] = (char)(hi * 16 + lo);
                    p += 2;
                } else {
                    out[n++] = *p;
                }
            }
        }
        p = end + 2;
    }
    return (long)n;
}

static void s_check_header(const char *text)
{
    char *v = mime_header_value("Subject", text);
    if (!v)
        return;
    char *clean = mime_sanitize_line(text);
    FUZZ_CHECK(clean != NULL);
    size_t col = strlen("Subject: ");
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        FUZZ_CHECK(c < 0x7F && (c >= 0x20 || c == '\r' || c == '\t'));
        if (c == '\r') {
            FUZZ_CHECK(p[1] == '\n' && (p[2] == ' ' || p[2] == '\t'));
            FUZZ_CHECK(col <= 78);
            p++;
            col = 0;
            continue;
        }
        col++;
    }
    FUZZ_CHECK(col <= 78);
    char *dec = malloc(strlen(v) + 1);
    FUZZ_CHECK(dec != NULL);
    long n = strstr(v, "=?UTF-8?") ? s_decode_words(v, dec) : -1;
    if (n >= 0) {
        FUZZ_CHECK((size_t)n == strlen(clean) && memcmp(dec, clean, (size_t)n) == 0);
    } else { /* plain: unfolding gives the text back */
        FUZZ_CHECK(strstr(v, "=?") == NULL);
        size_t k = 0;
        for (const char *p = v; *p; p++) {
            if (p[0] == '\r' && p[1] == '\n') {
                p++;
                continue;
            }
            dec[k++] = *p;
        }
        FUZZ_CHECK(k == strlen(clean) && memcmp(dec, clean, k) == 0);
    }
    free(dec);
    free(clean);
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *text, *addr;
    size_t tlen, alen;
    fuzz_split(data, size, &text, &addr, &tlen, &alen);
    int valid = mime_utf8_valid((const char *)data, size);
    FUZZ_CHECK(valid == (u8_check(data, size) == NULL));
    int tvalid = u8_check((const uint8_t *)text, tlen) == NULL;
    FUZZ_CHECK(mime_utf8_valid(text, tlen) == tvalid);
    if (tvalid)
        s_check_qp(text, tlen);
    else
        FUZZ_CHECK(mime_qp_encode(text, tlen) == NULL);
    int nul_free = strlen(text) == tlen;
    if (nul_free && tvalid) {
        s_check_header(text);
        char *clean = mime_sanitize_line(text);
        FUZZ_CHECK(clean != NULL);
        FUZZ_CHECK(u8_mbsnlen((const uint8_t *)clean, strlen(clean)) ==
                   u8_mbsnlen((const uint8_t *)text, tlen));
        for (const unsigned char *p = (const unsigned char *)clean; *p; p++)
            FUZZ_CHECK(*p >= 0x20 || *p == '\t');
        free(clean);
        if (strlen(addr) == alen) {
            char *a = mime_address(text, addr);
            if (a) {
                size_t al = strlen(a);
                if (a[al - 1] == '>') /* Name <addr> */
                    FUZZ_CHECK(al >= alen + 2 && a[al - alen - 2] == '<' &&
                               strncmp(a + al - alen - 1, addr, alen) == 0);
                else /* the bare address */
                    FUZZ_CHECK(strcmp(a, addr) == 0);
                for (const unsigned char *p = (const unsigned char *)a; *p; p++)
                    FUZZ_CHECK(*p < 0x7F && (*p >= 0x20 || *p == '\r' || *p == '\n' || *p == '\t'));
                free(a);
            }
        }
    } else if (!tvalid) {
        FUZZ_CHECK(nul_free ? mime_header_value("Subject", text) == NULL : 1);
    }
    free(text);
    return 0;
}
