/*
 * inbox_text.c - the new text of a reply: what the customer wrote, without
 * the message they answered.  Mail programs quote in three ways, and the
 * customer may write above the quote (top-posting) or below or between
 * its pieces (bottom-posting):
 *   - "> " before each quoted line (most plain-text programs, Gmail);
 *   - an attribution line before the quote: "On <date>, <name> wrote:"
 *     and its equivalents ("... написал(а):", "... napisał(a):",
 *     "...写道：", "... напісаў(ла):"), sometimes wrapped over two lines;
 *   - Outlook: "-----Original Message-----", or a "From:" line followed
 *     by "Sent:"/"To:"/"Subject:" (in the reader's language), and the old
 *     message below it unmarked.
 * An attribution followed by ">" lines is dropped with them (the text
 * after them is the customer's again); one followed by unmarked text, and
 * an Outlook block, end the new text.  "-- " starts the signature.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "inbox.h"
#include "utf8.h"

/* inbox_text_utf8 - bad bytes to '?', controls but \t \n dropped */
void inbox_text_utf8(char *s)
{
    if (!s)
        return;
    size_t n = strlen(s), r = 0, w = 0;
    while (r < n) {
        unsigned char c = (unsigned char)s[r];
        if (c < 0x80) {
            if (c >= 0x20 || c == '\t' || c == '\n')
                s[w++] = (char)c;
            r++;
            continue;
        }
        uint32_t cp;
        size_t k = utf8_decode((const unsigned char *)s + r, n - r, &cp);
        if (k == 0) {
            s[w++] = '?';
            r++;
            continue;
        }
        memmove(s + w, s + r, k);
        w += k;
        r += k;
    }
    s[w] = '\0';
}

/* s_ends_with - the trimmed line ends with suffix */
static int s_ends_with(const char *l, size_t n, const char *suffix)
{
    while (n && (l[n - 1] == ' ' || l[n - 1] == '\t' || l[n - 1] == '\r'))
        n--;
    size_t k = strlen(suffix);
    return n >= k && memcmp(l + n - k, suffix, k) == 0;
}

/* s_attribution - a line that introduces a quote ("On ... wrote:") */
static int s_attribution(const char *l, size_t n)
{
    static const char *const ends[] = {
        "wrote:", "wrote :", "написал:", "написала:", "написал(а):", "пишет:",
        "napisał:", "napisała:", "napisał(a):", "写道：", "写道:", "寫道：", "寫道:",
        "напісаў:", "напісала:", "напісаў(ла):", "schrieb:", "a écrit :", "a écrit:", NULL};
    if (n > 400)
        return 0;
    for (int i = 0; ends[i]; i++)
        if (s_ends_with(l, n, ends[i]))
            return 1;
    return 0;
}

/* s_starts_ci - line starts with word, ASCII case-insensitive */
static int s_starts(const char *l, size_t n, const char *word)
{
    size_t k = strlen(word);
    return n >= k && strncasecmp(l, word, k) == 0;
}

/* s_outlook_from - "From:" and its translations */
static int s_header_line(const char *l, size_t n, int from)
{
    static const char *const froms[] = {"From:", "От:", "Od:", "发件人:", "发件人：", "寄件者:",
                                        "Ад:", "Von:", "De :", "De:", NULL};
    static const char *const others[] = {"Sent:", "Date:", "To:", "Subject:", "Отправлено:",
                                         "Кому:", "Тема:", "Дата:", "Wysłano:", "Do:",
                                         "Temat:", "Data:", "发送时间:", "收件人:", "主题:",
                                         "发送时间：", "收件人：", "主题：", "Адпраўлена:",
                                         "Каму:", NULL};
    const char *const *list = from ? froms : others;
    for (int i = 0; list[i]; i++)
        if (s_starts(l, n, list[i]))
            return 1;
    return 0;
}

typedef struct {
    const char *s;
    size_t n;
} s_line_t;

/* inbox_text_new - the reply's new text */
char *inbox_text_new(const char *text)
{
    if (!text)
        return NULL;
    size_t cap = 64, count = 0;
    s_line_t *lines = malloc(cap * sizeof *lines);
    if (!lines)
        return NULL;
    for (const char *p = text;;) {
        size_t n = strcspn(p, "\n");
        if (count == cap) {
            s_line_t *nl = realloc(lines, 2 * cap * sizeof *lines);
            if (!nl) {
                free(lines);
                return NULL;
            }
            lines = nl;
            cap *= 2;
        }
        size_t m = n && p[n - 1] == '\r' ? n - 1 : n;
        lines[count++] = (s_line_t){p, m};
        if (!p[n])
            break;
        p += n + 1;
    }
    /* keep[i]: line i is the customer's */
    char *keep = calloc(count + 1, 1);
    if (!keep) {
        free(lines);
        return NULL;
    }
    size_t end = count;
    for (size_t i = 0; i < count; i++) {
        const char *l = lines[i].s;
        size_t n = lines[i].n;
        size_t ws = 0;
        while (ws < n && (l[ws] == ' ' || l[ws] == '\t'))
            ws++;
        l += ws;
        n -= ws;
        keep[i] = 1;
        if (n >= 1 && l[0] == '>') {
            keep[i] = 0;
            continue;
        }
        if (n == 3 && memcmp(l, "-- ", 3) == 0 && ws == 0) { /* the signature */
            end = i;
            break;
        }
        if (s_starts(l, n, "-----Original Message") || s_starts(l, n, "----- Original Message") ||
            s_starts(l, n, "-----Исходное сообщение") || s_starts(l, n, "-----Wiadomość oryginalna") ||
            s_starts(l, n, "-----原始邮件") || s_starts(l, n, "-----Зыходнае паведамленне") ||
            s_starts(l, n, "________________________________")) {
            end = i;
            break;
        }
        if (s_header_line(l, n, 1)) { /* Outlook's block: From: then Sent:/To:... */
            int heads = 0;
            for (size_t j = i + 1; j < count && j <= i + 5; j++)
                heads += s_header_line(lines[j].s, lines[j].n, 0);
            if (heads >= 2) {
                end = i;
                break;
            }
        }
        if (s_attribution(l, n)) {
            /* wrapped: "On Mon, ... <a@b>" / "wrote:" */
            size_t start = i;
            if (n < 20 && i > 0 && keep[i - 1])
                start = i - 1;
            size_t j = i + 1;
            while (j < count && lines[j].n == 0)
                j++;
            if (j < count && lines[j].n > 0 && lines[j].s[strspn(lines[j].s, " \t")] == '>') {
                for (size_t k = start; k <= i; k++)
                    keep[k] = 0;
                continue;
            }
            end = start;
            break;
        }
    }
    buf_t b = BUF_INIT;
    int blank = 0, any = 0;
    for (size_t i = 0; i < end; i++) {
        if (!keep[i])
            continue;
        size_t n = lines[i].n;
        while (n && (lines[i].s[n - 1] == ' ' || lines[i].s[n - 1] == '\t'))
            n--;
        if (n == 0) {
            blank = any;
            continue;
        }
        if (blank)
            buf_puts(&b, "\n\n");
        else if (any)
            buf_puts(&b, "\n");
        buf_append(&b, lines[i].s, n);
        any = 1;
        blank = 0;
    }
    free(keep);
    free(lines);
    if (!any)
        buf_puts(&b, "");
    char *out = buf_failed(&b) ? NULL : buf_release(&b);
    buf_free(&b);
    if (!out)
        out = calloc(1, 1);
    inbox_text_utf8(out);
    return out;
}

/* s_entity - one HTML entity at s (after '&') into b; bytes used */
static size_t s_entity(const char *s, buf_t *b)
{
    static const struct {
        const char *name;
        const char *text;
    } named[] = {{"amp;", "&"}, {"lt;", "<"}, {"gt;", ">"}, {"quot;", "\""}, {"apos;", "'"},
                 {"nbsp;", " "}, {"#39;", "'"}, {NULL, NULL}};
    for (int i = 0; named[i].name; i++) {
        size_t k = strlen(named[i].name);
        if (strncmp(s, named[i].name, k) == 0) {
            buf_puts(b, named[i].text);
            return k;
        }
    }
    if (s[0] == '#') {
        int hex = s[1] == 'x' || s[1] == 'X';
        const char *d = s + 1 + hex;
        size_t k = strspn(d, hex ? "0123456789abcdefABCDEF" : "0123456789");
        if (k == 0 || k > 7 || d[k] != ';')
            return 0;
        uint32_t cp = (uint32_t)strtoul(d, NULL, hex ? 16 : 10);
        if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp < 0x20)
            cp = '?';
        char u[5];
        size_t n = 0;
        if (cp < 0x80) {
            u[n++] = (char)cp;
        } else if (cp < 0x800) {
            u[n++] = (char)(0xC0 | (cp >> 6));
            u[n++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            u[n++] = (char)(0xE0 | (cp >> 12));
            u[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            u[n++] = (char)(0x80 | (cp & 0x3F));
        } else {
            u[n++] = (char)(0xF0 | (cp >> 18));
            u[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            u[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            u[n++] = (char)(0x80 | (cp & 0x3F));
        }
        buf_append(b, u, n);
        return (size_t)(d - s) + k + 1;
    }
    return 0;
}

/* s_tag_is - the tag name at t (after '<' and an optional '/') is name */
static int s_tag_is(const char *t, const char *name)
{
    size_t k = strlen(name);
    return strncasecmp(t, name, k) == 0 && !((t[k] >= 'a' && t[k] <= 'z') ||
                                             (t[k] >= 'A' && t[k] <= 'Z') ||
                                             (t[k] >= '0' && t[k] <= '9'));
}

/* inbox_text_from_html - see inbox.h.  Tags are never copied, so nothing
 * of the markup reaches staff; what is dropped whole (script, style,
 * head, blockquote and Gmail's quote div) is counted by depth, so nested
 * or unclosed ones end at the end of the text. */
char *inbox_text_from_html(const char *html)
{
    static const char *const hidden[] = {"script", "style", "head", "blockquote", "title", NULL};
    static const char *const blocks[] = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4",
                                         "h5", "h6", "table", "ul", "ol", "hr", NULL};
    buf_t b = BUF_INIT;
    int skip = 0, quote_div = 0, div_depth = 0;
    for (const char *p = html; *p;) {
        if (*p == '<') {
            if (strncmp(p, "<!--", 4) == 0) {
                const char *e = strstr(p + 4, "-->");
                p = e ? e + 3 : p + strlen(p);
                continue;
            }
            const char *e = strchr(p, '>');
            if (!e)
                break;
            int close = p[1] == '/';
            const char *name = p + 1 + close;
            for (int i = 0; hidden[i]; i++)
                if (s_tag_is(name, hidden[i]))
                    skip += close ? (skip > 0 ? -1 : 0) : 1;
            if (s_tag_is(name, "div")) {
                /* Gmail and others put the quote in <div class="gmail_quote"> */
                if (!close) {
                    div_depth++;
                    size_t tl = (size_t)(e - p);
                    if (!quote_div && (memmem(p, tl, "gmail_quote", 11) ||
                                       memmem(p, tl, "moz-cite-prefix", 15) ||
                                       memmem(p, tl, "divRplyFwdMsg", 13) ||
                                       memmem(p, tl, "yahoo_quoted", 12))) {
                        quote_div = div_depth;
                        skip++;
                    }
                } else {
                    if (quote_div && div_depth == quote_div) {
                        quote_div = 0;
                        skip = skip > 0 ? skip - 1 : 0;
                    }
                    div_depth = div_depth > 0 ? div_depth - 1 : 0;
                }
            }
            for (int i = 0; blocks[i]; i++)
                if (s_tag_is(name, blocks[i]) && !skip) {
                    buf_puts(&b, "\n");
                    break;
                }
            p = e + 1;
            continue;
        }
        if (skip) {
            p++;
            continue;
        }
        if (*p == '&') {
            size_t k = s_entity(p + 1, &b);
            if (k) {
                p += 1 + k;
                continue;
            }
        }
        if (*p == '\r' || *p == '\n' || *p == '\t') {
            buf_puts(&b, " ");
            p++;
            continue;
        }
        buf_append(&b, p, 1);
        p++;
    }
    char *raw = buf_failed(&b) ? NULL : buf_release(&b);
    buf_free(&b);
    if (!raw)
        return NULL;
    /* lines trimmed, runs of spaces and of blank lines made one */
    char *out = malloc(strlen(raw) + 1);
    if (!out) {
        free(raw);
        return NULL;
    }
    size_t w = 0;
    int nl = 0, sp = 0;
    for (const char *p = raw; *p; p++) {
        if (*p == '\n') {
            nl++;
            sp = 0;
            continue;
        }
        if (*p == ' ') {
            sp = 1;
            continue;
        }
        if (nl && w)
            out[w++] = '\n';
        if (nl > 1 && w)
            out[w++] = '\n';
        if (sp && !nl && w)
            out[w++] = ' ';
        nl = sp = 0;
        out[w++] = *p;
    }
    out[w] = '\0';
    free(raw);
    inbox_text_utf8(out);
    return out;
}
