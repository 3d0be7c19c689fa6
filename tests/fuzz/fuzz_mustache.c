/*
 * fuzz_mustache.c - the Mustache engine (services/common/mustache.c).
 *
 * Input "TEMPLATE\n----\nCONTEXT": TEMPLATE is compiled; CONTEXT, when it
 * is JSON, is the context (else there is none).  Partials: "self" is the
 * template itself (recursion), "other" a fixed text, "bad" an unclosed
 * section, anything else none.  Limits are small so a run stays quick.
 * Properties: compiling fails only with a message; a render fails only
 * with a message; rendering twice gives the same text (the partial cache
 * and the output-size memory change nothing); output stays under the
 * limit.
 */
#include "fuzz.h"

#include <jansson.h>

#include "mustache.h"

#define S_MAX_OUTPUT ((size_t)1 << 20)

static const char *s_self;

static const char *s_partial(const char *name, void *arg)
{
    (void)arg;
    if (strcmp(name, "self") == 0)
        return s_self;
    if (strcmp(name, "other") == 0)
        return "[{{name}}{{#items}}<{{.}}>{{/items}}{{> self}}]";
    if (strcmp(name, "bad") == 0)
        return "{{#open}}";
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    char *tpl, *ctx;
    size_t tlen, clen;
    fuzz_split(data, size, &tpl, &ctx, &tlen, &clen);
    s_self = tpl;
    char err[256] = "";
    mustache_t *t = mustache_new(tpl, err, sizeof err);
    if (!t) {
        FUZZ_CHECK(err[0] != '\0');
        free(tpl);
        return 0;
    }
    mustache_set_limits(t, S_MAX_OUTPUT, 200000);
    json_t *c = clen ? json_loadb(ctx, clen, JSON_DECODE_ANY, NULL) : NULL;
    char e1[256] = "", e2[256] = "";
    char *out1 = mustache_render(t, c, s_partial, NULL, NULL, NULL, e1, sizeof e1);
    char *out2 = mustache_render(t, c, s_partial, NULL, NULL, NULL, e2, sizeof e2);
    FUZZ_CHECK((out1 == NULL) == (out2 == NULL));
    if (out1) {
        FUZZ_CHECK(strlen(out1) <= S_MAX_OUTPUT);
        FUZZ_CHECK(strcmp(out1, out2) == 0);
    } else {
        FUZZ_CHECK(e1[0] != '\0' && strcmp(e1, e2) == 0);
    }
    free(out1);
    free(out2);
    json_decref(c);
    mustache_destroy(&t);
    FUZZ_CHECK(t == NULL);
    free(tpl);
    return 0;
}
