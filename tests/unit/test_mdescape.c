/*
 * test_mdescape.c - escaped customer text renders through cmark as itself.
 *
 * Every check renders with the real libcmark (CMARK_OPT_DEFAULT and
 * CMARK_OPT_SAFE) and compares the whole HTML with the text we expect the
 * reader to see, so an escape that is missing or one too many both fail.
 * Build: gcc ... services/common/mdescape.c tests/unit/test_mdescape.c -lcmark
 */
#include "mdescape.h"
#include "unit.h"
#include "unit_str.h"

#include <cmark.h>
#include <stdint.h>
#include <stdlib.h>

#define S_ELL "\xE2\x80\xA6"

/* Markup that must never come out of escaped text. */
static const char *const s_forbidden[] = {
    "<a ", "<img", "<h1", "<h2", "<h3", "<em>", "<strong>", "<script",
    "<code>", "<pre", "<li>", "<ul", "<ol", "<blockquote>", "<hr", "<del",
    "<table", "<div", "<!--", NULL,
};

/* s_render - cmark HTML of md; the caller frees it */
static char *s_render(const char *md, int opts)
{
    return cmark_markdown_to_html(md, strlen(md), opts);
}

/* s_html_text - text as cmark writes it in HTML; the caller frees it */
static char *s_html_text(const char *t)
{
    unit_str_t s = {0};
    unit_str_add(&s, "", 0);
    for (; *t; t++) {
        switch (*t) {
        case '&': unit_str_adds(&s, "&amp;"); break;
        case '<': unit_str_adds(&s, "&lt;"); break;
        case '>': unit_str_adds(&s, "&gt;"); break;
        case '"': unit_str_adds(&s, "&quot;"); break;
        default: unit_str_add(&s, t, 1);
        }
    }
    return s.d;
}

/* s_html_clean - 1 when html has none of the forbidden markup */
static int s_html_clean(const char *html, int allow_br)
{
    for (int i = 0; s_forbidden[i]; i++)
        if (strstr(html, s_forbidden[i]))
            return 0;
    return allow_br || !strstr(html, "<br");
}

/* s_expect_md - md renders (both option sets) to exactly one paragraph
 * showing visible, with lines joined by <br /> when block; 0 on mismatch.
 * what names the input in failure output. */
static int s_expect_md(const char *what, const char *md, const char *visible,
                       int block)
{
    static const int opts[] = {CMARK_OPT_DEFAULT, CMARK_OPT_SAFE};
    char *vis = s_html_text(visible);
    unit_str_t want = {0};
    if (*visible) {
        unit_str_adds(&want, "<p>");
        for (const char *p = vis; *p; p++) {
            if (*p == '\n')
                unit_str_adds(&want, "<br />\n");
            else
                unit_str_add(&want, p, 1);
        }
        unit_str_adds(&want, "</p>\n");
    } else {
        unit_str_add(&want, "", 0);
    }
    int ok = 1;
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        char *html = s_render(md, opts[i]);
        if (!html || !s_html_clean(html, block) || strcmp(html, want.d) != 0) {
            fprintf(stderr, "  input %s\n  markdown \"%s\"\n  html \"%s\"\n"
                    "  want \"%s\"\n", what, md, html ? html : "(null)",
                    want.d);
            ok = 0;
        }
        free(html);
    }
    free(vis);
    free(want.d);
    return ok;
}

/* s_inline_shows - mdescape_inline(in) renders as visible, alone and
 * after other text in the same paragraph */
static int s_inline_shows(const char *in, const char *visible)
{
    char *esc = mdescape_inline(in, 0);
    if (!esc)
        return 0;
    int ok = s_expect_md(in, esc, visible, 0);
    unit_str_t md = {0}, vis = {0};
    unit_str_adds(&md, "Comment: ");
    unit_str_adds(&md, esc);
    unit_str_adds(&md, "\n");
    unit_str_adds(&vis, "Comment: ");
    unit_str_adds(&vis, visible);
    ok &= s_expect_md(in, md.d, vis.d, 0);
    free(md.d);
    free(vis.d);
    free(esc);
    return ok;
}

/* s_block_shows - mdescape_block(in) renders as visible ('\n' = <br />) */
static int s_block_shows(const char *in, const char *visible)
{
    char *esc = mdescape_block(in, 0);
    if (!esc)
        return 0;
    int ok = s_expect_md(in, esc, visible, 1);
    free(esc);
    return ok;
}

/* s_cp_count - code points in valid UTF-8 s */
static size_t s_cp_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* s_utf8_ok - 1 when s is well-formed UTF-8 (structure only) */
static int s_utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80 ? 1 : *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3
                 : *p >= 0xC2 ? 2 : 0;
        if (!n)
            return 0;
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += n;
    }
    return 1;
}

/* ---- inline ------------------------------------------------------------- */

/* test_inline_links_and_images_render_as_text - no <a>, no <img> */
static void test_inline_links_and_images_render_as_text(void)
{
    CHECK(s_inline_shows("[x](https://evil)", "[x](https://evil)"));
    CHECK(s_inline_shows("![i](http://x/y.png)", "![i](http://x/y.png)"));
    CHECK(s_inline_shows("[ref][1]\n\n[1]: http://evil", "[ref][1]  [1]: http://evil"));
    CHECK(s_inline_shows("[x]: http://evil \"t\"", "[x]: http://evil \"t\""));
}

/* test_inline_html_tags_render_as_text - tags and script stay visible text */
static void test_inline_html_tags_render_as_text(void)
{
    CHECK(s_inline_shows("<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>"));
    CHECK(s_inline_shows("<script>alert(1)</script>", "<script>alert(1)</script>"));
    CHECK(s_inline_shows("<!-- hidden -->", "<!-- hidden -->"));
    CHECK(s_inline_shows("<div onclick=\"x\">", "<div onclick=\"x\">"));
}

/* test_inline_emphasis_stays_literal - *, _, ~ never emphasise */
static void test_inline_emphasis_stays_literal(void)
{
    CHECK(s_inline_shows("*bold*", "*bold*"));
    CHECK(s_inline_shows("__u__", "__u__"));
    CHECK(s_inline_shows("**strong** _em_", "**strong** _em_"));
    CHECK(s_inline_shows("~~gone~~", "~~gone~~"));
}

/* test_inline_block_starters_stay_in_paragraph - headings, lists, quotes,
 * rules and indented code do not start a block */
static void test_inline_block_starters_stay_in_paragraph(void)
{
    CHECK(s_inline_shows("# heading", "# heading"));
    CHECK(s_inline_shows("- item", "- item"));
    CHECK(s_inline_shows("+ item", "+ item"));
    CHECK(s_inline_shows("1. item", "1. item"));
    CHECK(s_inline_shows("1) item", "1) item"));
    CHECK(s_inline_shows("> quote", "> quote"));
    CHECK(s_inline_shows("---", "---"));
    CHECK(s_inline_shows("***", "***"));
    CHECK(s_inline_shows("___", "___"));
    CHECK(s_inline_shows("===", "==="));
    CHECK(s_inline_shows("    indented code", "indented code"));
    CHECK(s_inline_shows("\tindented code", "indented code"));
    CHECK(s_inline_shows("```\nfence\n```", "``` fence ```"));
    CHECK(s_inline_shows("| a | b |\n|---|---|", "| a | b | |---|---|"));
}

/* test_inline_code_spans_stay_literal - backticks never make <code> */
static void test_inline_code_spans_stay_literal(void)
{
    CHECK(s_inline_shows("`code`", "`code`"));
    CHECK(s_inline_shows("``a ` b``", "``a ` b``"));
}

/* test_inline_entities_show_as_typed - &amp; shows as "&amp;" */
static void test_inline_entities_show_as_typed(void)
{
    CHECK(s_inline_shows("&amp; &#x41; &copy;", "&amp; &#x41; &copy;"));
    char *esc = mdescape_inline("&#x41;", 0);
    char *html = esc ? s_render(esc, CMARK_OPT_DEFAULT) : NULL;
    CHECK(html && strstr(html, "&amp;#x41;") && !strstr(html, ">A<"));
    free(html);
    free(esc);
}

/* test_inline_urls_are_not_linked - bare URLs, autolinks, www. and e-mail
 * forms: ':' '.' '@' are escaped so no extension can link them */
static void test_inline_urls_are_not_linked(void)
{
    CHECK(s_inline_shows("https://evil.example/path", "https://evil.example/path"));
    CHECK(s_inline_shows("<https://evil>", "<https://evil>"));
    CHECK(s_inline_shows("<x@evil.example>", "<x@evil.example>"));
    CHECK(s_inline_shows("www.evil.example", "www.evil.example"));
    CHECK(s_inline_shows("x@evil.example", "x@evil.example"));
    char *esc = mdescape_inline("see https://evil.example or www.evil.example", 0);
    CHECK(esc && !strstr(esc, "://") && !strstr(esc, "www.") &&
          strstr(esc, "https\\:\\/\\/evil\\.example"));
    free(esc);
}

/* test_inline_line_breaks_become_spaces - a CRLF cannot start a new block
 * (or a new header line, should the text end up in one) */
static void test_inline_line_breaks_become_spaces(void)
{
    CHECK(s_inline_shows("Bob\r\nBcc: x@evil", "Bob Bcc: x@evil"));
    CHECK(s_inline_shows("a\rb\nc\r\n# d", "a b c # d"));
    CHECK(s_inline_shows("line\n===", "line ==="));
    char *esc = mdescape_inline("Bob\r\nBcc: x@evil", 0);
    CHECK(esc && !strchr(esc, '\r') && !strchr(esc, '\n'));
    free(esc);
}

/* test_inline_unicode_stays_intact - non-ASCII passes through unchanged */
static void test_inline_unicode_stays_intact(void)
{
    const char *t = "Доставка опоздала 😡, żółw 快递";
    CHECK(s_inline_shows(t, t));
    char *esc = mdescape_inline("Доставка 😡 żółw 快递 👍🏽", 0);
    CHECK_STR(esc, "Доставка 😡 żółw 快递 👍🏽");
    free(esc);
}

/* test_inline_escapes_every_ascii_punctuation - each one escaped once */
static void test_inline_escapes_every_ascii_punctuation(void)
{
    const char *punct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    char *esc = mdescape_inline(punct, 0);
    CHECK_INT(esc ? strlen(esc) : 0, 2 * strlen(punct));
    for (size_t i = 0; esc && i < strlen(punct); i++) {
        CHECK(esc[2 * i] == '\\');
        CHECK(esc[2 * i + 1] == punct[i]);
    }
    CHECK(s_inline_shows(punct, punct));
    free(esc);
}

/* test_inline_trailing_backslash_is_literal - cannot become a hard break or
 * swallow what the caller writes next */
static void test_inline_trailing_backslash_is_literal(void)
{
    CHECK(s_inline_shows("ends with \\", "ends with \\"));
    char *esc = mdescape_inline("x\\", 0);
    CHECK_STR(esc, "x\\\\");
    free(esc);
}

/* test_inline_empty_and_blank - empty or blank input gives "" */
static void test_inline_empty_and_blank(void)
{
    char *a = mdescape_inline("", 0), *b = mdescape_inline(" \r\n\t ", 0);
    CHECK_STR(a, "");
    CHECK_STR(b, "");
    free(a);
    free(b);
}

/* test_bad_utf8_returns_null - overlong, surrogate, truncated, stray bytes */
static void test_bad_utf8_returns_null(void)
{
    static const char *const bad[] = {
        "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
        "ok \xE2\x82", "\x80", "\xFF", "abc\xF0\x9F\x98",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(mdescape_inline(bad[i], 0) == NULL);
        CHECK(mdescape_block(bad[i], 0) == NULL);
        CHECK(mdescape_inline(bad[i], 1) == NULL);   /* even past the cut */
    }
    CHECK(mdescape_inline(NULL, 0) == NULL);
    CHECK(mdescape_block(NULL, 0) == NULL);
}

/* ---- truncation ---------------------------------------------------------- */

/* test_truncation_never_splits_a_character - every cap gives valid UTF-8
 * of at most max_chars visible code points plus "…" */
static void test_truncation_never_splits_a_character(void)
{
    const char *t = "Доставка опоздала 😡, żółw 快递 👍🏽!";
    size_t total = s_cp_count(t);
    for (size_t max = 1; max <= total + 2; max++) {
        char *esc = mdescape_inline(t, max);
        CHECK(esc != NULL);
        if (!esc)
            continue;
        CHECK(s_utf8_ok(esc));
        size_t ell = strlen(S_ELL), n = strlen(esc);
        int cut = n >= ell && strcmp(esc + n - ell, S_ELL) == 0;
        CHECK_INT(cut, max < total);
        /* visible code points: drop escapes and the ellipsis */
        size_t vis = s_cp_count(esc) - (size_t)cut;
        for (const char *p = esc; *p; p++)
            if (*p == '\\') {
                vis--;
                p++;
            }
        CHECK(vis <= max);
        char *html = s_render(esc, CMARK_OPT_DEFAULT);
        CHECK(html && s_utf8_ok(html) && s_html_clean(html, 0));
        free(html);
        free(esc);
    }
}

/* test_truncation_exact_results - the cut, the ellipsis, no cap at 0 */
static void test_truncation_exact_results(void)
{
    char *a = mdescape_inline("ab😡cd", 3);
    char *b = mdescape_inline("ab😡cd", 2);
    char *c = mdescape_inline("ab😡cd", 5);
    char *d = mdescape_inline("ab😡cd", 0);
    char *e = mdescape_inline("Доставка опоздала", 10);
    char *f = mdescape_inline("a.b.c", 2);
    char *g = mdescape_block("one\ntwo\nthree", 5);
    CHECK_STR(a, "ab😡" S_ELL);
    CHECK_STR(b, "ab" S_ELL);
    CHECK_STR(c, "ab😡cd");
    CHECK_STR(d, "ab😡cd");
    CHECK_STR(e, "Доставка о" S_ELL);
    CHECK_STR(f, "a\\." S_ELL);
    CHECK_STR(g, "one\\\nt" S_ELL);
    free(a), free(b), free(c), free(d), free(e), free(f), free(g);
}

/* ---- block --------------------------------------------------------------- */

/* test_block_lines_become_hard_breaks - one paragraph, <br /> per line */
static void test_block_lines_become_hard_breaks(void)
{
    CHECK(s_block_shows("line one\nline two", "line one\nline two"));
    CHECK(s_block_shows("a\r\nb\rc", "a\nb\nc"));
    char *esc = mdescape_block("a\nb", 0);
    CHECK_STR(esc, "a\\\nb");
    free(esc);
}

/* test_block_blank_lines_collapse - runs of blank lines are one break;
 * leading and trailing blank lines vanish */
static void test_block_blank_lines_collapse(void)
{
    CHECK(s_block_shows("a\n\n\n\nb", "a\nb"));
    CHECK(s_block_shows("a\r\n\r\n  \t \r\nb", "a\nb"));
    CHECK(s_block_shows("\n\n  a\nb  \n\n", "a\nb"));
    char *esc = mdescape_block("\n\na\n\n\nb\n\n", 0);
    CHECK_STR(esc, "a\\\nb");
    free(esc);
}

/* test_block_lines_cannot_start_blocks - each later line stays text */
static void test_block_lines_cannot_start_blocks(void)
{
    static const char *const lines[] = {
        "# heading", "## h2", "> quote", "- item", "* item", "+ item",
        "1. item", "1) item", "---", "***", "___", "===", "```", "~~~",
        "<div>", "<script>alert(1)</script>", "<!-- c -->", "[x]: http://e",
        "| a | b |", "`code`", "![i](http://x/y.png)", "&amp;",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        unit_str_t in = {0}, want = {0};
        unit_str_adds(&in, "first line\n");
        unit_str_adds(&in, lines[i]);
        unit_str_adds(&in, "\n\n");
        unit_str_adds(&in, lines[i]);
        unit_str_adds(&in, "\n    indented code\nlast");
        unit_str_adds(&want, "first line\n");
        unit_str_adds(&want, lines[i]);
        unit_str_adds(&want, "\n");
        unit_str_adds(&want, lines[i]);
        unit_str_adds(&want, "\nindented code\nlast");
        CHECK(s_block_shows(in.d, want.d));
        /* and as the very first line */
        CHECK(s_block_shows(lines[i], lines[i]));
        free(in.d);
        free(want.d);
    }
}

/* test_block_unicode_and_links - a multi-line comment with the lot */
static void test_block_unicode_and_links(void)
{
    CHECK(s_block_shows("Доставка опоздала 😡\r\n[x](https://evil)\r\nżółw 快递",
                        "Доставка опоздала 😡\n[x](https://evil)\nżółw 快递"));
}

/* ---- property ------------------------------------------------------------ */

/* s_rand - xorshift64*; the state lives with the caller */
static uint64_t s_rand(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 2685821657736338717ULL;
}

/* s_model - the text a reader should see for in: the independent model of
 * what the escapers promise ('\n' marks a <br /> in block mode); the caller
 * frees it */
static char *s_model(const char *in, int block)
{
    unit_str_t out = {0}, line = {0};
    unit_str_add(&out, "", 0);
    unit_str_add(&line, "", 0);
    int pending = 0;
    for (const char *p = in;; p++) {
        int brk = *p == '\n' || *p == '\r' || *p == '\0';
        if (brk && (block || *p == '\0')) {
            size_t a = 0, z = line.len;
            while (a < z && line.d[a] == ' ')
                a++;
            while (z > a && line.d[z - 1] == ' ')
                z--;
            if (z > a) {
                if (pending && out.len)
                    unit_str_add(&out, "\n", 1);
                unit_str_add(&out, line.d + a, z - a);
                pending = 0;
            }
            line.len = 0;
            if (*p == '\0')
                break;
            if (*p == '\r' && p[1] == '\n')
                p++;
            pending = 1;
            continue;
        }
        if (*p == '\r' && p[1] == '\n')
            p++;
        unsigned char c = (unsigned char)*p;
        unit_str_add(&line, c < 0x20 || c == 0x7F ? " " : p, 1);
    }
    free(line.d);
    return out.d;
}

/* test_random_text_always_renders_literally - 3000 random strings of
 * Markdown syntax, spaces, breaks and Unicode render exactly as the model */
static void test_random_text_always_renders_literally(void)
{
    static const char *const atoms[] = {
        "*", "_", "`", "[", "]", "(", ")", "!", "<", ">", "#", "-", "+", "=",
        "~", "|", ":", ".", "/", "\\", "&", ";", "@", "\"", "'", "{", "}",
        "^", "$", "%", ",", "?", "1", "a", "Z", " ", " ", "    ", "\t", "\n",
        "\r\n", "\r", "\n\n", "http", "www.", "https://e.x/p", "<a href=x>",
        "&amp;", "&#65;", "x@e.co", "д", "ż", "快", "😡", "👍🏽", "\xC2\xA0",
        "\x01", "\x7F",
    };
    uint64_t st = 0x9E3779B97F4A7C15ULL;
    int bad = 0;
    for (int n = 0; n < 3000 && bad < 5; n++) {
        unit_str_t in = {0};
        unit_str_add(&in, "", 0);
        size_t count = s_rand(&st) % 24;
        for (size_t i = 0; i < count; i++)
            unit_str_adds(&in, atoms[s_rand(&st) % (sizeof atoms / sizeof atoms[0])]);
        for (int block = 0; block < 2; block++) {
            char *esc = block ? mdescape_block(in.d, 0)
                              : mdescape_inline(in.d, 0);
            char *vis = s_model(in.d, block);
            if (!esc || !s_expect_md("(random)", esc, vis, block)) {
                bad++;
                CHECK(!"random input rendered differently from the model");
            }
            free(esc);
            free(vis);
        }
        free(in.d);
    }
}

int main(void)
{
    UNIT_RUN(test_inline_links_and_images_render_as_text);
    UNIT_RUN(test_inline_html_tags_render_as_text);
    UNIT_RUN(test_inline_emphasis_stays_literal);
    UNIT_RUN(test_inline_block_starters_stay_in_paragraph);
    UNIT_RUN(test_inline_code_spans_stay_literal);
    UNIT_RUN(test_inline_entities_show_as_typed);
    UNIT_RUN(test_inline_urls_are_not_linked);
    UNIT_RUN(test_inline_line_breaks_become_spaces);
    UNIT_RUN(test_inline_unicode_stays_intact);
    UNIT_RUN(test_inline_escapes_every_ascii_punctuation);
    UNIT_RUN(test_inline_trailing_backslash_is_literal);
    UNIT_RUN(test_inline_empty_and_blank);
    UNIT_RUN(test_bad_utf8_returns_null);
    UNIT_RUN(test_truncation_never_splits_a_character);
    UNIT_RUN(test_truncation_exact_results);
    UNIT_RUN(test_block_lines_become_hard_breaks);
    UNIT_RUN(test_block_blank_lines_collapse);
    UNIT_RUN(test_block_lines_cannot_start_blocks);
    UNIT_RUN(test_block_unicode_and_links);
    UNIT_RUN(test_random_text_always_renders_literally);
    return UNIT_END();
}
