/*
 * fuzz_mdescape.c - Markdown escaping of customer text
 * (services/common/mdescape.c) read back by the real cmark.
 *
 * Whatever a customer types, once escaped it must parse as one paragraph of
 * plain text (hard breaks only in the block form): no link, image, HTML,
 * emphasis, code, heading, list or quote, in safe mode or not.  And the
 * reader must see what was typed: the paragraph's text equals the input
 * with its whitespace and controls collapsed (the escaper trims each line
 * and turns controls into spaces; cmark trims the paragraph).  The input is
 * also cut at a code point limit taken from its first byte, and must stay
 * valid UTF-8 within that many code points plus the ellipsis.
 */
#include "fuzz.h"

#include <cmark.h>
#include <unistr.h>

#include "mdescape.h"

/* s_norm - s with every run of whitespace or control bytes as one space,
 * trimmed, into out (at least strlen(s)+1); its length */
static size_t s_norm(const char *s, char *out)
{
    size_t n = 0;
    int space = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= 0x20 || *p == 0x7F) {
            space = 1;
            continue;
        }
        if (space && n)
            out[n++] = ' ';
        space = 0;
        out[n++] = (char)*p;
    }
    out[n] = '\0';
    return n;
}

/* s_text - the text of the cmark document md (NULL when it holds anything
 * but a paragraph of text, and line breaks when block) */
static char *s_text(const char *md, int block, int opts)
{
    cmark_node *doc = cmark_parse_document(md, strlen(md), opts);
    FUZZ_CHECK(doc != NULL);
    size_t cap = strlen(md) * 4 + 16, n = 0;
    char *out = malloc(cap);
    FUZZ_CHECK(out != NULL);
    int ok = 1, paragraphs = 0;
    cmark_iter *it = cmark_iter_new(doc);
    cmark_event_type ev;
    while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        if (ev != CMARK_EVENT_ENTER)
            continue;
        cmark_node *node = cmark_iter_get_node(it);
        switch (cmark_node_get_type(node)) {
        case CMARK_NODE_DOCUMENT:
            break;
        case CMARK_NODE_PARAGRAPH:
            paragraphs++;
            break;
        case CMARK_NODE_TEXT: {
            const char *t = cmark_node_get_literal(node);
            size_t tl = strlen(t);
            FUZZ_CHECK(n + tl + 2 < cap);
            memcpy(out + n, t, tl);
            n += tl;
            break;
        }
        case CMARK_NODE_LINEBREAK:
            if (!block)
                ok = 0;
            out[n++] = ' ';
            break;
        case CMARK_NODE_SOFTBREAK: /* never made by the escaper */
        default:
            fprintf(stderr, "markup in escaped text: %s\n",
                    cmark_node_get_type_string(node));
            ok = 0;
        }
    }
    out[n] = '\0';
    cmark_iter_free(it);
    cmark_node_free(doc);
    if (!ok || paragraphs > 1) {
        free(out);
        return NULL;
    }
    return out;
}

static void s_check(const char *in, int block)
{
    char *md = block ? mdescape_block(in, 0) : mdescape_inline(in, 0);
    FUZZ_CHECK(md != NULL);
    FUZZ_CHECK(block || strchr(md, '\n') == NULL);
    char *want = malloc(strlen(in) + 1), *got_n = NULL;
    FUZZ_CHECK(want != NULL);
    s_norm(in, want);
    for (int safe = 0; safe < 2; safe++) {
        char *got = s_text(md, block, safe ? CMARK_OPT_SAFE : CMARK_OPT_DEFAULT);
        if (!got)
            fprintf(stderr, "input: %s\nescaped: %s\n", in, md);
        FUZZ_CHECK(got != NULL);
        got_n = malloc(strlen(got) + 1);
        FUZZ_CHECK(got_n != NULL);
        s_norm(got, got_n);
        if (strcmp(got_n, want) != 0)
            fprintf(stderr, "input: %s\nescaped: %s\nread:  %s\n", want, md, got_n);
        FUZZ_CHECK(strcmp(got_n, want) == 0);
        free(got_n);
        free(got);
    }
    free(want);
    free(md);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8192)
        return 0;
    char *in = malloc(size);
    FUZZ_CHECK(in != NULL);
    memcpy(in, data + 1, size - 1);
    in[size - 1] = '\0';
    size_t len = strlen(in);
    if (u8_check((const uint8_t *)in, len) != NULL) {
        FUZZ_CHECK(mdescape_inline(in, 0) == NULL && mdescape_block(in, 0) == NULL);
        free(in);
        return 0;
    }
    s_check(in, 0);
    s_check(in, 1);
    size_t cap = data[0] % 64 + 1;
    char *cut = mdescape_inline(in, cap);
    FUZZ_CHECK(cut != NULL && u8_check((const uint8_t *)cut, strlen(cut)) == NULL);
    /* escapes add at most one byte per code point, the ellipsis one more */
    FUZZ_CHECK(u8_mbsnlen((const uint8_t *)cut, strlen(cut)) <= 2 * cap + 1);
    free(cut);
    free(in);
    return 0;
}
