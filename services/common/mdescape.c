/*
 * mdescape.c - backslash-escape customer text for Markdown rendered by cmark.
 *
 * cmark has no inline-text escaper (see mdescape.h), so this is ours.  The
 * input is cut to max_chars code points first, then split into lines; each
 * line loses controls and its outer spaces and has its ASCII punctuation
 * escaped; lines are joined by a space (inline) or a hard break (block).
 * The result is built in a local growable buffer handed to the caller.
 */
#include "buf.h"
#include "mdescape.h"
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_ELLIPSIS "\xE2\x80\xA6"     /* U+2026 */


/* s_is_punct - ASCII punctuation, which CommonMark lets us escape */
static int s_is_punct(unsigned char c)
{
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
           (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

/* s_is_space - bytes that become a plain space: tab, other controls, DEL */
static int s_is_space(unsigned char c)
{
    return c < 0x20 || c == ' ' || c == 0x7F;
}

/* s_put_line - append p[0..n) without its outer spaces, each line break
 * (\r\n, \r, \n) and control as one space, and punctuation escaped */
static void s_put_line(buf_t *b, const unsigned char *p, size_t n)
{
    while (n && s_is_space(p[0]))
        p++, n--;
    while (n && s_is_space(p[n - 1]))
        n--;
    for (size_t i = 0; i < n; i++) {
        char e[2] = {'\\', (char)p[i]};
        if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
            continue;                   /* CRLF is one break, one space */
        if (s_is_space(p[i]))
            buf_append(b, " ", 1);
        else if (s_is_punct(p[i]))
            buf_append(b, e, 2);
        else
            buf_append(b, e + 1, 1);
    }
}

/* s_escape - the work of both public functions; block selects hard breaks;
 * returns a string the caller frees, or NULL */
static char *s_escape(const char *s, size_t max_chars, int block)
{
    if (!s)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), cut = 0, chars = 0;
    int truncated = 0;
    while (cut < len) {
        size_t n = utf8_decode(p + cut, len - cut, NULL);
        if (!n)
            return NULL;
        if (max_chars && chars == max_chars) {
            truncated = 1;
            break;
        }
        cut += n;
        chars++;
    }
    /* validate the rest too, so bad input fails whatever max_chars says */
    for (size_t i = cut; i < len;) {
        size_t n = utf8_decode(p + i, len - i, NULL);
        if (!n)
            return NULL;
        i += n;
    }

    buf_t b = {0};
    buf_append(&b, "", 0);
    if (!block) {
        /* the whole text as one line: breaks are spaces like any control */
        s_put_line(&b, p, cut);
    } else {
        size_t i = 0;
        int pending = 0;    /* a line break is owed before the next text */
        while (i < cut) {
            size_t j = i;
            while (j < cut && p[j] != '\n' && p[j] != '\r')
                j++;
            size_t before = b.len;
            if (pending && b.len)
                buf_append(&b, "\\\n", 2);
            size_t mark = b.len;
            s_put_line(&b, p + i, j - i);
            if (b.len == mark) {
                b.len = before;         /* blank line: nothing, not a break */
                if (b.data)
                    b.data[b.len] = '\0';
            } else {
                pending = 0;
            }
            if (j < cut && p[j] == '\r' && j + 1 < cut && p[j + 1] == '\n')
                j++;
            if (j < cut)
                pending = 1;
            i = j + 1;
        }
    }
    if (truncated)
        buf_append(&b, S_ELLIPSIS, sizeof S_ELLIPSIS - 1);
    return buf_release(&b);
}

/* mdescape_inline - one-line escaped copy; the caller frees it */
char *mdescape_inline(const char *s, size_t max_chars)
{
    return s_escape(s, max_chars, 0);
}

/* mdescape_block - escaped copy with hard line breaks; the caller frees it */
char *mdescape_block(const char *s, size_t max_chars)
{
    return s_escape(s, max_chars, 1);
}
