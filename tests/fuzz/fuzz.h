/*
 * fuzz.h - what the libFuzzer targets in tests/fuzz/ share.
 *
 * Each target is one file defining LLVMFuzzerTestOneInput(); `make fuzz`
 * links it with clang's -fsanitize=fuzzer, and `make test` links it with
 * replay.c (gcc, ASan+UBSan) to run its checked-in corpus
 * tests/fuzz/<target>/ once, so the targets keep building and every input
 * that once found a bug stays a test.  A target checks properties, not only
 * crashes: FUZZ_CHECK aborts (a finding for libFuzzer, a failure for the
 * replay) with the condition that did not hold.
 */
#ifndef HARK_FUZZ_H
#define HARK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(expr)                                                     \
    do {                                                                     \
        if (!(expr)) {                                                       \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__,        \
                    __LINE__, #expr);                                        \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* fuzz_split - the input as two NUL-terminated strings, cut at the first
 * line "----" (so seeds stay readable text files): *a before it, *b after
 * (b "" when there is no such line).  The caller frees *a only. */
static inline void fuzz_split(const uint8_t *data, size_t size, char **a, char **b,
                              size_t *alen, size_t *blen)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    static const char sep[] = "\n----\n";
    char *cut = size >= sizeof sep - 1 ? memmem(s, size, sep, sizeof sep - 1) : NULL;
    *a = s;
    if (cut) {
        *cut = '\0';
        *alen = (size_t)(cut - s);
        *b = cut + sizeof sep - 1;
        *blen = size - *alen - (sizeof sep - 1);
    } else {
        *alen = size;
        *b = s + size;
        *blen = 0;
    }
}

#endif
