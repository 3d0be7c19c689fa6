/*
 * mime.c - quoted-printable bodies, RFC 2047 header values and addresses.
 *
 * Written here because libesmtp only sends bytes and no Debian C library
 * encodes headers and bodies the way we need (see mime.h).  Every output is
 * 7-bit ASCII with CRLF line ends, so it can go to libesmtp as it is.
 * Strings are built in a small local growable buffer; the one that is
 * returned is malloc'd and handed to the caller, who frees it.
 */
#include "buf.h"
#include "mime.h"
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_HDR_LINE_MAX 78   /* RFC 5322 2.1.1: lines SHOULD be at most 78 */
#define S_QP_LINE_MAX 76    /* RFC 2045 6.7 (5): encoded lines at most 76 */
#define S_EW_MAX 75         /* RFC 2047 2: an encoded word at most 75 */
#define S_EW_OVERHEAD 12    /* strlen("=?UTF-8?B?") + strlen("?=") */
#define S_ADDR_PREFIX 10    /* strlen("Reply-To: "), the longest we fold for */
#define S_ADDR_MAX 254      /* RFC 5321 4.5.3.1.3 path limit less <> */

static const char s_hex[] = "0123456789ABCDEF";


/* mime_utf8_valid - 1 when s[0..len) is valid UTF-8, else 0 */
int mime_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    uint32_t cp;
    if (!s)
        return len == 0;
    while (i < len) {
        /* ASCII eight bytes at a time: most of every body is ASCII */
        uint64_t w;
        while (len - i >= 8 && (memcpy(&w, p + i, 8),
                                (w & 0x8080808080808080ULL) == 0))
            i += 8;
        if (i == len)
            break;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (!n)
            return 0;
        i += n;
    }
    return 1;
}

/* s_is_control - whether code point cp becomes a space in a header */
static int s_is_control(uint32_t cp)
{
    return (cp < 0x20 && cp != '\t') || cp == 0x7F ||
           (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

/* s_sanitize - copy of s[0..len) with controls as spaces, for the caller to
 * free; NULL on bad UTF-8 or OOM */
static char *s_sanitize(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    buf_t b = {0};
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (!n) {
            buf_free(&b);
            return NULL;
        }
        if (s_is_control(cp))
            buf_putc(&b, ' ');
        else
            buf_append(&b, s + i, n);
        i += n;
    }
    return buf_release(&b);
}

/* mime_sanitize_line - controls replaced by spaces; the caller frees */
char *mime_sanitize_line(const char *s)
{
    if (!s)
        return NULL;
    return s_sanitize(s, strlen(s));
}

/* ---- quoted-printable ---------------------------------------------------- */

/* s_qp_plain - bytes that stand for themselves in a quoted-printable line
 * unless they end it (tab, and printable ASCII but '='); the rest ('=',
 * controls, DEL, every byte of a non-ASCII character) is always encoded.
 * A table, because the encoder looks at every byte of every body. */
static const unsigned char s_qp_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, /* 30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 70 */
    /* 80-FF: 0 */
};

/* s_qp_plain8 - whether all eight bytes of w are printable ASCII but '='
 * (a tab answers no; the byte loop after it takes tabs).  Word-at-a-time
 * tests, exact for "is there any such byte": one below 0x20, one above
 * 0x7E, one equal to '='. */
static int s_qp_plain8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t eq = w ^ (ones * '=');
    uint64_t below = (w - ones * 0x20) & ~w & highs;
    uint64_t above = ((w + ones * (0x7F - 0x7E)) | w) & highs;
    uint64_t equal = (eq - ones) & ~eq & highs;
    return (below | above | equal) == 0;
}

/* s_qp_line - append one logical line (no line break in it) as QP lines;
 * -1 when it is not valid UTF-8 */
static int s_qp_line(buf_t *b, const unsigned char *p, size_t n)
{
    size_t col = 0, k = 0;
    while (k < n) {
        /* Fast path: a run of plain bytes that are not the line's last
         * (which may need encoding) and fit before column 75 (so no soft
         * break falls inside) goes out in one append.  Only a run's first
         * byte can be at column 0, so only it needs the "From " check;
         * "." alone is always the last byte and never in a run. */
        if (col < S_QP_LINE_MAX - 1 && k + 1 < n && s_qp_plain[p[k]] &&
            !(col == 0 && p[k] == 'F')) {
            size_t stop = n - 1;
            if (stop - k > S_QP_LINE_MAX - 1 - col)
                stop = k + (S_QP_LINE_MAX - 1 - col);
            size_t j = k + 1;
            uint64_t w;
            while (stop - j >= 8 && (memcpy(&w, p + j, 8), s_qp_plain8(w)))
                j += 8;
            while (j < stop && s_qp_plain[p[j]])
                j++;
            buf_append(b, (const char *)p + k, j - k);
            col += j - k;
            k = j;
            continue;
        }
        unsigned char c = p[k];
        size_t seq = 1;
        uint32_t cp;
        if (c >= 0x80 && !(seq = utf8_decode(p + k, n - k, &cp)))
            return -1;
        int last = k + seq == n;
        int enc;
        if (c >= 0x80 || c == '=' || c == 0x7F)
            enc = 1;
        else if (c == ' ' || c == '\t')
            enc = last;
        else
            enc = c < 0x20;
        /* A physical line "." would end SMTP DATA; "From " gets mangled
         * by mbox writers.  Soft breaks start physical lines too. */
        if (col == 0 && !enc) {
            if (c == '.' && last)
                enc = 1;
            else if (c == 'F' && n - k >= 5 && memcmp(p + k, "From ", 5) == 0)
                enc = 1;
        }
        size_t w = enc ? 3 * seq : 1;
        /* the last character may use column 76; others leave room for '=' */
        size_t limit = last ? S_QP_LINE_MAX : S_QP_LINE_MAX - 1;
        if (col + w > limit) {
            buf_append(b, "=\r\n", 3);
            col = 0;
            continue;       /* decide again at the start of the new line */
        }
        if (enc) {
            char t[12];     /* the triplets of one character, at most 4 */
            for (size_t j = 0; j < seq; j++) {
                t[3 * j] = '=';
                t[3 * j + 1] = s_hex[p[k + j] >> 4];
                t[3 * j + 2] = s_hex[p[k + j] & 15];
            }
            buf_append(b, t, w);
        } else {
            buf_putc(b, (char)c);
        }
        col += w;
        k += seq;
    }
    return 0;
}

/* mime_qp_append - quoted-printable body appended to b; b as it was on
 * bad UTF-8 */
int mime_qp_append(buf_t *b, const char *text, size_t len)
{
    if (!text && len)
        return -1;
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    size_t start = b->len;
    /* mostly ASCII text grows by its few escapes and soft breaks; more
     * than this only costs a further doubling */
    if (buf_reserve(b, len + len / 8 + 16))
        return -1;
    size_t i = 0;
    for (;;) {
        const unsigned char *nl = memchr(p + i, '\n', len - i);
        size_t j = nl ? (size_t)(nl - p) : len;
        size_t end = j;
        if (j < len && end > i && p[end - 1] == '\r')
            end--;                          /* CRLF; a lone CR is encoded */
        if (s_qp_line(b, p + i, end - i) != 0) {
            if (!b->failed) {               /* bad UTF-8: undo our part */
                b->len = start;
                b->data[start] = '\0';
            }
            return -1;
        }
        if (j >= len)
            break;
        buf_append(b, "\r\n", 2);
        i = j + 1;
    }
    return buf_failed(b) ? -1 : 0;
}

/* mime_qp_encode - quoted-printable body; the caller frees the result */
char *mime_qp_encode(const char *text, size_t len)
{
    buf_t b = BUF_INIT;
    if (mime_qp_append(&b, text, len) != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_release(&b);
}

/* ---- RFC 2047 encoded words ---------------------------------------------- */

/* s_q_literal - whether byte c stays itself in a Q word (RFC 2047 5(3),
 * the strictest rule, so the same words are safe in a phrase) */
static int s_q_literal(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '!' || c == '*' || c == '+' ||
           c == '-' || c == '/';
}

/* s_q_cost - characters byte c takes in a Q word */
static size_t s_q_cost(unsigned char c)
{
    return (s_q_literal(c) || c == ' ') ? 1 : 3;
}

/* s_b64_len - characters n bytes take in base64 */
static size_t s_b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* s_put_b64 - append n bytes as base64 */
static void s_put_b64(buf_t *b, const unsigned char *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char o[4] = {tab[v >> 18], tab[(v >> 12) & 63],
                     i + 1 < n ? tab[(v >> 6) & 63] : '=',
                     i + 2 < n ? tab[v & 63] : '='};
        buf_append(b, o, 4);
    }
}

/* s_put_q - append n bytes as Q encoding */
static void s_put_q(buf_t *b, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s_q_literal(p[i])) {
            buf_putc(b, (char)p[i]);
        } else if (p[i] == ' ') {
            buf_putc(b, '_');
        } else {
            char t[3] = {'=', s_hex[p[i] >> 4], s_hex[p[i] & 15]};
            buf_append(b, t, 3);
        }
    }
}

/* s_pick_encoding - 'Q' when Q is no longer than B for the whole text */
static char s_pick_encoding(const unsigned char *t, size_t len)
{
    size_t q = 0;
    for (size_t i = 0; i < len; i++)
        q += s_q_cost(t[i]);
    return q <= s_b64_len(len) ? 'Q' : 'B';
}

/* s_encode_words - append valid UTF-8 t[0..len) as encoded words; the first
 * starts at column *col (moved to the next line if not even one character
 * fits), each later one on its own "\r\n " line; *col is updated */
static void s_encode_words(buf_t *b, const unsigned char *t, size_t len,
                           size_t *col)
{
    char enc = s_pick_encoding(t, len);
    size_t i = 0;
    int fold = 0;
    while (i < len) {
        if (fold) {
            buf_append(b, "\r\n ", 3);
            *col = 1;
        }
        size_t room = *col < S_HDR_LINE_MAX ? S_HDR_LINE_MAX - *col : 0;
        size_t limit = room < S_EW_MAX ? room : S_EW_MAX;
        size_t end = i, qlen = 0, payload = 0;
        while (end < len) {
            uint32_t cp;
            size_t n = utf8_decode(t + end, len - end, &cp);
            size_t q = qlen;
            for (size_t k = 0; k < n; k++)
                q += s_q_cost(t[end + k]);
            size_t want = enc == 'Q' ? q : s_b64_len(end + n - i);
            if (S_EW_OVERHEAD + want > limit)
                break;
            qlen = q;
            payload = want;
            end += n;
        }
        fold = 1;
        if (end == i) {
            if (*col <= 1) {            /* cannot happen: 75 fits 4 bytes */
                b->failed = 1;
                return;
            }
            continue;                   /* fold, then try again */
        }
        buf_puts(b, enc == 'Q' ? "=?UTF-8?Q?" : "=?UTF-8?B?");
        if (enc == 'Q')
            s_put_q(b, t + i, end - i);
        else
            s_put_b64(b, t + i, end - i);
        buf_append(b, "?=", 2);
        *col += S_EW_OVERHEAD + payload;
        i = end;
    }
}

/* s_fold_ascii - append printable ASCII v[0..len) folded before whitespace
 * so lines stay within 78 starting at column col; -1 when it cannot */
static int s_fold_ascii(buf_t *b, const char *v, size_t len, size_t col)
{
    size_t i = 0;
    int placed = 0;     /* something is on the current line already */
    while (i < len) {
        size_t ws = i;
        while (ws < len && (v[ws] == ' ' || v[ws] == '\t'))
            ws++;
        size_t end = ws;
        while (end < len && v[end] != ' ' && v[end] != '\t')
            end++;
        size_t n = end - i;
        if (col + n > S_HDR_LINE_MAX) {
            /* fold only before whitespace that has a word after it, so no
             * line is only whitespace, and never right after the name */
            if (!placed || ws == i || end == ws || n > S_HDR_LINE_MAX)
                return -1;
            buf_append(b, "\r\n", 2);
            col = 0;
        }
        buf_append(b, v + i, n);
        col += n;
        placed = 1;
        i = end;
    }
    return 0;
}

/* s_field_name_ok - RFC 5322 field name: printable ASCII but ':' */
static int s_field_name_ok(const char *name)
{
    if (!name || !*name)
        return 0;
    for (const char *p = name; *p; p++)
        if (*p < 33 || *p > 126 || *p == ':')
            return 0;
    return 1;
}

/* s_ascii_plain - whether clean text (no controls) can be written as it is:
 * ASCII only, and nothing a decoder would take for an encoded word */
static int s_ascii_plain(const char *s)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p >= 0x80)
            return 0;
    return strstr(s, "=?") == NULL;
}

/* mime_header_value - folded, encoded header value; the caller frees it */
char *mime_header_value(const char *name, const char *value)
{
    if (!s_field_name_ok(name) || !value)
        return NULL;
    char *clean = mime_sanitize_line(value);
    if (!clean)
        return NULL;
    size_t len = strlen(clean);
    size_t col = strlen(name) + 2;      /* after "name: " */
    buf_t b = {0};
    buf_append(&b, "", 0);
    /* readers drop a plain value's outer whitespace; an encoded word keeps it */
    int outer_ws = len && (clean[0] == ' ' || clean[0] == '\t' ||
                           clean[len - 1] == ' ' || clean[len - 1] == '\t');
    if (outer_ws || !s_ascii_plain(clean) ||
        s_fold_ascii(&b, clean, len, col) != 0) {
        buf_free(&b);
        buf_append(&b, "", 0);
        s_encode_words(&b, (const unsigned char *)clean, len, &col);
    }
    free(clean);
    return buf_release(&b);
}

/* ---- addresses ----------------------------------------------------------- */

/* s_addr_ok - whether addr is a plain addr-spec we are willing to write */
static int s_addr_ok(const char *addr)
{
    size_t n = strlen(addr), at = 0, ats = 0;
    if (n == 0 || n > S_ADDR_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)addr[i];
        if (c <= 0x20 || c >= 0x7F || strchr("<>,;:\"()[]\\", c))
            return 0;
        if (c == '@') {
            ats++;
            at = i;
        }
    }
    return ats == 1 && at > 0 && at + 1 < n;
}

/* s_blank - whether s holds nothing but spaces and tabs */
static int s_blank(const char *s)
{
    return s[strspn(s, " \t")] == '\0';
}

/* mime_address - "Name <addr>" or addr; the caller frees the result */
char *mime_address(const char *display_name, const char *addr)
{
    if (!addr || !s_addr_ok(addr))
        return NULL;
    buf_t b = {0};
    if (!display_name || !*display_name) {
        buf_puts(&b, addr);
        return buf_release(&b);
    }
    char *clean = mime_sanitize_line(display_name);
    if (!clean)
        return NULL;
    if (s_blank(clean)) {
        free(clean);
        buf_puts(&b, addr);
        return buf_release(&b);
    }
    size_t col = S_ADDR_PREFIX;
    int done = 0;
    if (s_ascii_plain(clean)) {
        buf_putc(&b, '"');
        for (const char *p = clean; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_putc(&b, '\\');
            buf_putc(&b, *p);
        }
        buf_putc(&b, '"');
        if (col + b.len <= S_HDR_LINE_MAX) {
            col += b.len;
            done = 1;
        } else {
            buf_free(&b);         /* too long for one line: encode instead */
        }
    }
    if (!done)
        s_encode_words(&b, (const unsigned char *)clean, strlen(clean), &col);
    free(clean);
    size_t alen = strlen(addr) + 2;
    buf_puts(&b, col + 1 + alen <= S_HDR_LINE_MAX ? " <" : "\r\n <");
    buf_puts(&b, addr);
    buf_putc(&b, '>');
    return buf_release(&b);
}
