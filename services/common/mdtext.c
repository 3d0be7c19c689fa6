/*
 * mdtext.c - the plain-text part of an e-mail, written from the cmark tree
 * of its Markdown (render.c parses once and renders both parts).
 *
 * The rules: paragraphs and headings are wrapped at the width on
 * spaces, and between CJK characters (never before closing or after opening
 * punctuation); a column is one code point, except East Asian wide
 * characters and most emoji, which count 2, and combining marks, which
 * count 0.  A word wider than the line (a long URL) is never split, so it
 * is the one case of a longer line.  Links are "text <url>", or the URL
 * alone when it is the text; a paragraph of links only puts each link on
 * its own line.  Lists use "- " and "1. " with hanging indents, block
 * quotes "> ", code blocks are kept as they are, hard breaks are kept, raw
 * HTML is dropped (as safe mode drops it from the HTML part).  render.c
 * wraps at 78 (RENDER_TEXT_WIDTH).
 */
#include "mdtext.h"

#include "buf.h"
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_MIN_WRAP        20        /* narrowest wrap width when nested */
#define S_MAX_DEPTH       48        /* nested blocks rendered with prefixes */

/* ---- UTF-8 and columns -------------------------------------------------- */

/* s_utf8_next - decode the code point at s (n bytes left) into *cp; returns
 * its length; an invalid byte counts as one U+FFFD */
static size_t s_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len = utf8_decode(s, n, cp);
    if (len)
        return len;
    *cp = 0xFFFD;
    return 1;
}

/* mdtext_width - columns of code point cp in the text part */
int mdtext_width(unsigned cp)
{
    if (cp < 0x300)             /* below every range here: most text */
        return 1;
    if ((cp >= 0x300 && cp <= 0x36F) || (cp >= 0x483 && cp <= 0x489) ||
        (cp >= 0x1AB0 && cp <= 0x1AFF) || (cp >= 0x1DC0 && cp <= 0x1DFF) ||
        (cp >= 0x20D0 && cp <= 0x20FF) || (cp >= 0xFE20 && cp <= 0xFE2F) ||
        (cp >= 0x200B && cp <= 0x200D) || cp == 0x2060 ||
        (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0x1F3FB && cp <= 0x1F3FF) ||
        (cp >= 0xE0100 && cp <= 0xE01EF))
        return 0;
    if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x231A && cp <= 0x231B) ||
        (cp >= 0x2E80 && cp <= 0x303E) || (cp >= 0x3041 && cp <= 0x33FF) ||
        (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
        (cp >= 0xA000 && cp <= 0xA4CF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
        (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
        (cp >= 0xFF00 && cp <= 0xFF60) || (cp >= 0xFFE0 && cp <= 0xFFE6) ||
        (cp >= 0x1F300 && cp <= 0x1F64F) || (cp >= 0x1F680 && cp <= 0x1F6FF) ||
        (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD))
        return 2;
    return 1;
}

/* s_no_break_before - closing punctuation that must not start a line */
static int s_no_break_before(uint32_t c)
{
    static const uint32_t set[] = {
        0x3001, 0x3002, 0xFF0C, 0xFF0E, 0xFF1A, 0xFF1B, 0xFF1F, 0xFF01,
        0xFF09, 0x3009, 0x300B, 0x300D, 0x300F, 0x3011, 0x3015, 0x3017,
        0x3019, 0x301B, 0xFF5D, 0xFF5E, 0x301C, 0x30FC, 0x30FB, 0xFF05,
        0x2026, 0x2014, 0x201D, 0x2019, 0x00BB};
    if (c > 0 && c < 0x80)
        return strchr(")]}.,!?;:%'\"", (int)c) != NULL;
    for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
        if (set[i] == c)
            return 1;
    return 0;
}

/* s_no_break_after - opening punctuation that must not end a line */
static int s_no_break_after(uint32_t c)
{
    static const uint32_t set[] = {
        0xFF08, 0x3008, 0x300A, 0x300C, 0x300E, 0x3010, 0x3014, 0x3016,
        0x3018, 0x301A, 0xFF5B, 0x201C, 0x2018, 0x00AB, 0x2014};
    if (c > 0 && c < 0x80)
        return strchr("([{'\"", (int)c) != NULL;
    for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
        if (set[i] == c)
            return 1;
    return 0;
}

/* s_break_between - whether a line may break between code points a and b
 * written without a space: only next to wide (CJK) characters */
static int s_break_between(uint32_t a, uint32_t b)
{
    if (mdtext_width(b) == 0 || a == 0x200D)
        return 0;
    if (mdtext_width(a) != 2 && mdtext_width(b) != 2)
        return 0;
    return !s_no_break_before(b) && !s_no_break_after(a);
}

/* ---- the text part ------------------------------------------------------ */

/* s_url_shown - whether a link's URL may appear in the text part (the
 * schemes cmark's safe mode drops from the HTML do not) */
static int s_url_shown(const char *url)
{
    static const char *const bad[] = {"javascript:", "vbscript:", "file:",
                                      "data:"};
    if (!url || !*url)
        return 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (strncasecmp(url, bad[i], strlen(bad[i])) == 0)
            return 0;
    return 1;
}

/* s_inlines - append the plain text of node's inline content (node itself
 * included when it is inline): soft breaks as spaces, hard breaks as "\n",
 * links as "text <url>".  Iterative, so deep emphasis cannot blow the
 * stack. */
static void s_inlines(buf_t *out, cmark_node *node)
{
    size_t starts[64];          /* link text start offsets, innermost last */
    size_t nstarts = 0;
    cmark_iter *it = cmark_iter_new(node);
    if (!it) {
        out->failed = 1;
        return;
    }
    cmark_event_type ev;
    while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        cmark_node *n = cmark_iter_get_node(it);
        int enter = ev == CMARK_EVENT_ENTER;
        switch (cmark_node_get_type(n)) {
        case CMARK_NODE_TEXT:
        case CMARK_NODE_CODE:
            buf_puts(out, cmark_node_get_literal(n));
            break;
        case CMARK_NODE_SOFTBREAK:
            buf_putc(out, ' ');
            break;
        case CMARK_NODE_LINEBREAK:
            buf_putc(out, '\n');
            break;
        case CMARK_NODE_LINK:
            if (enter) {
                if (nstarts < sizeof starts / sizeof starts[0])
                    starts[nstarts] = out->len;
                nstarts++;
                break;
            }
            if (nstarts-- > sizeof starts / sizeof starts[0])
                break;
            {
                const char *url = cmark_node_get_url(n);
                if (!s_url_shown(url) || out->failed)
                    break;
                const char *text = out->data ? out->data + starts[nstarts] : "";
                size_t tlen = out->len - starts[nstarts];
                int same = (strlen(url) == tlen && memcmp(url, text, tlen) == 0) ||
                           (strncmp(url, "mailto:", 7) == 0 &&
                            strlen(url + 7) == tlen &&
                            memcmp(url + 7, text, tlen) == 0);
                if (tlen == 0) {
                    buf_puts(out, url);
                } else if (!same) {
                    buf_puts(out, " <");
                    buf_puts(out, url);
                    buf_putc(out, '>');
                }
            }
            break;
        default:                /* emphasis, images (alt text), raw HTML: */
            break;              /* children only, or nothing */
        }
    }
    cmark_iter_free(it);
}

/* s_wrap_line - append one line of text (no "\n") wrapped at width: breaks
 * at spaces (dropped) or next to CJK characters; a unit wider than the
 * line gets a line of its own */
static void s_wrap_line(buf_t *out, const char *s, size_t len, size_t width)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, col = 0;
    int space = 0;              /* a space is owed before the next unit */
    while (i < len) {
        if (p[i] == ' ' || p[i] == '\t') {
            space = col > 0;
            i++;
            continue;
        }
        /* one unbreakable unit: up to a space or a break opportunity */
        size_t j = i, w = 0;
        uint32_t cp, last = 0;
        while (j < len && p[j] != ' ' && p[j] != '\t') {
            /* ASCII after ASCII: one column, and never a break (only wide
             * characters make one), so no decoding or table lookups */
            if (p[j] < 0x80 && last < 0x80) {
                w++;
                last = p[j++];
                continue;
            }
            size_t n = s_utf8_next(p + j, len - j, &cp);
            if (j > i && s_break_between(last, cp))
                break;
            w += (size_t)mdtext_width(cp);
            last = cp;
            j += n;
        }
        size_t sep = space ? 1 : 0;
        if (col > 0 && col + sep + w > width) {
            buf_putc(out, '\n');
            col = 0;
            sep = 0;
        }
        if (sep)
            buf_putc(out, ' ');
        buf_append(out, s + i, j - i);
        col += sep + w;
        space = 0;
        i = j;
    }
}

/* s_wrap - append text wrapped at width, keeping its "\n" hard breaks */
static void s_wrap(buf_t *out, const char *s, size_t len, size_t width)
{
    size_t i = 0;
    for (;;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - s) : len;
        s_wrap_line(out, s + i, end - i, width);
        if (!nl)
            break;
        buf_putc(out, '\n');
        i = end + 1;
    }
}

/* s_prefix - append in's lines with `first` before the first line and
 * `rest` before the others (a blank line gets the prefix without its
 * trailing spaces) */
static void s_prefix(buf_t *out, const buf_t *in, const char *first,
                     const char *rest)
{
    if (!in->len)
        return;
    const char *s = in->data;
    size_t len = in->len, i = 0;
    int line = 0;
    for (;;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - s) : len;
        const char *pre = line ? rest : first;
        size_t plen = strlen(pre);
        if (end == i)
            while (plen && pre[plen - 1] == ' ')
                plen--;
        buf_append(out, pre, plen);
        buf_append(out, s + i, end - i);
        if (!nl)
            break;
        buf_putc(out, '\n');
        i = end + 1;
        line++;
    }
}

/* mdtext_is_link_row - a paragraph of two or more links and only whitespace
 * between them (the 0-10 score row) */
int mdtext_is_link_row(cmark_node *para)
{
    int links = 0;
    for (cmark_node *c = cmark_node_first_child(para); c;
         c = cmark_node_next(c)) {
        switch (cmark_node_get_type(c)) {
        case CMARK_NODE_LINK:
            links++;
            break;
        case CMARK_NODE_SOFTBREAK:
            break;
        case CMARK_NODE_TEXT: {
            const char *t = cmark_node_get_literal(c);
            if (t[strspn(t, " \t")] != '\0')
                return 0;
            break;
        }
        default:
            return 0;
        }
    }
    return links >= 2;
}

static void s_text_blocks(buf_t *out, cmark_node *first, size_t width,
                          int tight, int depth);

/* s_text_flat - a subtree too deep for prefixes, as one wrapped paragraph */
static void s_text_flat(buf_t *out, cmark_node *node, size_t width)
{
    buf_t t = BUF_INIT;
    cmark_iter *it = cmark_iter_new(node);
    cmark_event_type ev;
    if (!it)
        out->failed = 1;
    while (it && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        cmark_node *n = cmark_iter_get_node(it);
        cmark_node_type ty = cmark_node_get_type(n);
        if (ev == CMARK_EVENT_ENTER &&
            (ty == CMARK_NODE_TEXT || ty == CMARK_NODE_CODE ||
             ty == CMARK_NODE_CODE_BLOCK)) {
            if (t.len)
                buf_putc(&t, ' ');
            buf_puts(&t, cmark_node_get_literal(n));
        }
    }
    cmark_iter_free(it);
    for (size_t i = 0; i < t.len; i++)
        if (t.data[i] == '\n')
            t.data[i] = ' ';
    if (t.len)
        s_wrap(out, t.data, t.len, width);
    if (t.failed)
        out->failed = 1;
    buf_free(&t);
}

/* s_text_block - append the text of one block (lines joined by "\n", no
 * final newline; nothing for raw HTML) */
static void s_text_block(buf_t *out, cmark_node *n, size_t width, int depth)
{
    if (width < S_MIN_WRAP)
        width = S_MIN_WRAP;
    if (depth > S_MAX_DEPTH) {
        s_text_flat(out, n, width);
        return;
    }
    buf_t t = BUF_INIT;
    switch (cmark_node_get_type(n)) {
    case CMARK_NODE_PARAGRAPH:
    case CMARK_NODE_HEADING:
        if (cmark_node_get_type(n) == CMARK_NODE_PARAGRAPH &&
            mdtext_is_link_row(n)) {
            for (cmark_node *c = cmark_node_first_child(n); c;
                 c = cmark_node_next(c)) {
                if (cmark_node_get_type(c) != CMARK_NODE_LINK)
                    continue;
                buf_reset(&t);
                s_inlines(&t, c);
                if (out->len && out->data[out->len - 1] != '\n')
                    buf_putc(out, '\n');
                s_wrap(out, t.data ? t.data : "", t.len, width);
            }
            break;
        }
        s_inlines(&t, n);
        s_wrap(out, t.data ? t.data : "", t.len, width);
        break;
    case CMARK_NODE_BLOCK_QUOTE:
        s_text_blocks(&t, cmark_node_first_child(n), width - 2, 0, depth + 1);
        s_prefix(out, &t, "> ", "> ");
        break;
    case CMARK_NODE_LIST: {
        int ordered = cmark_node_get_list_type(n) == CMARK_ORDERED_LIST;
        int paren = cmark_node_get_list_delim(n) == CMARK_PAREN_DELIM;
        int tight = cmark_node_get_list_tight(n);
        long num = cmark_node_get_list_start(n);
        for (cmark_node *item = cmark_node_first_child(n); item;
             item = cmark_node_next(item), num++) {
            char marker[32], indent[32];
            if (ordered)
                snprintf(marker, sizeof marker, "%ld%c ", num, paren ? ')' : '.');
            else
                snprintf(marker, sizeof marker, "- ");
            size_t mlen = strlen(marker);
            memset(indent, ' ', mlen);
            indent[mlen] = '\0';
            buf_reset(&t);
            s_text_blocks(&t, cmark_node_first_child(item),
                          width > mlen ? width - mlen : 0, tight, depth + 1);
            if (item != cmark_node_first_child(n))
                buf_puts(out, tight ? "\n" : "\n\n");
            if (t.len)
                s_prefix(out, &t, marker, indent);
            else
                buf_append(out, marker, mlen - 1);
        }
        break;
    }
    case CMARK_NODE_CODE_BLOCK: {
        const char *lit = cmark_node_get_literal(n);
        size_t len = strlen(lit);
        if (len && lit[len - 1] == '\n')
            len--;
        buf_append(out, lit, len);
        break;
    }
    case CMARK_NODE_THEMATIC_BREAK:
        buf_puts(out, "----------");
        break;
    case CMARK_NODE_CUSTOM_BLOCK:
    case CMARK_NODE_DOCUMENT:
        s_text_blocks(out, cmark_node_first_child(n), width, 0, depth + 1);
        break;
    default:                    /* raw HTML blocks: dropped */
        break;
    }
    if (t.failed)
        out->failed = 1;
    buf_free(&t);
}

/* s_text_blocks - append blocks from `first` on, separated by a blank line,
 * or by a newline when tight (a tight list item) */
static void s_text_blocks(buf_t *out, cmark_node *first, size_t width,
                          int tight, int depth)
{
    /* Each block is written straight into out after its separator (no
     * copy through a buffer of its own); the separator is taken back when
     * the block comes out empty (raw HTML).  So a block starts on an empty
     * buffer or right after a newline, as s_text_block expects. */
    size_t base = out->len;
    for (cmark_node *n = first; n; n = cmark_node_next(n)) {
        size_t mark = out->len;
        if (out->len > base)
            buf_puts(out, tight ? "\n" : "\n\n");
        size_t start = out->len;
        s_text_block(out, n, width, depth);
        if (out->len == start && !out->failed) {
            out->len = mark;
            if (out->data)
                out->data[mark] = '\0';
        }
    }
}

/* mdtext_from_doc - the plain-text part of a parsed document */
char *mdtext_from_doc(cmark_node *doc, size_t width)
{
    buf_t out = BUF_INIT;
    s_text_blocks(&out, cmark_node_first_child(doc), width, 0, 0);
    buf_putc(&out, '\n');
    if (buf_failed(&out)) {
        buf_free(&out);
        return NULL;
    }
    return buf_release(&out);
}

