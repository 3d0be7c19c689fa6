/*
 * fuzz_jtext.c - the gateway's fast JSON reader and writer
 * (services/common/jtext.c) against jansson, which it stands in for on the
 * ingest path: every request body an attacker sends goes through it.
 *
 * Properties: jtext_load reads any input exactly as json_loadb(...,
 * JSON_REJECT_DUPLICATES) does - both refuse it, or both give equal trees;
 * whatever jtext_fast takes, jansson takes too and reads the same; and
 * jtext_write of the tree is byte for byte json_dumps(JSON_COMPACT).
 */
#include "fuzz.h"

#include <jansson.h>

#include "buf.h"
#include "jtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    const char *text = (const char *)data;
    json_error_t e1, e2;
    json_t *ours = jtext_load(text, size, &e1);
    json_t *theirs = json_loadb(text, size, JSON_REJECT_DUPLICATES, &e2);
    FUZZ_CHECK(!ours == !theirs);
    if (ours)
        FUZZ_CHECK(json_equal(ours, theirs));
    json_t *fast = jtext_fast(text, size);
    if (fast) {
        FUZZ_CHECK(theirs && json_equal(fast, theirs));
        json_decref(fast);
    }
    if (theirs) {
        char *want = json_dumps(theirs, JSON_COMPACT | JSON_ENCODE_ANY);
        buf_t b = BUF_INIT;
        jtext_write(&b, theirs, 0);
        FUZZ_CHECK(want && b.data && strcmp(want, b.data) == 0);
        buf_free(&b);
        free(want);
    }
    json_decref(ours);
    json_decref(theirs);
    return 0;
}
