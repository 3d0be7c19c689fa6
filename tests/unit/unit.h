/*
 * unit.h - the smallest test harness that does the job.
 *
 * A test file defines functions named test_<what_it_proves>() and lists them
 * in main() with UNIT_RUN(); each check that fails prints file:line and the
 * expression, and the run ends with the plain line "N passed, N failed" that
 * CI reads.  We write our own because Debian's check/cmocka would add a
 * dependency for what is forty lines here.
 */
#ifndef HARK_UNIT_H
#define HARK_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failures_in_test;
static int unit_passed;
static int unit_failed;

#define CHECK(expr)                                                          \
    do {                                                                     \
        if (!(expr)) {                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #expr);                                                  \
            unit_failures_in_test++;                                         \
        }                                                                    \
    } while (0)

#define CHECK_STR(got, want)                                                 \
    do {                                                                     \
        const char *g_ = (got), *w_ = (want);                                \
        if (!g_ || !w_ || strcmp(g_, w_) != 0) {                             \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s\n  got:  \"%s\"\n"  \
                    "  want: \"%s\"\n", __FILE__, __LINE__, #got,           \
                    g_ ? g_ : "(null)", w_ ? w_ : "(null)");                 \
            unit_failures_in_test++;                                         \
        }                                                                    \
    } while (0)

#define CHECK_INT(got, want)                                                 \
    do {                                                                     \
        long long g_ = (long long)(got), w_ = (long long)(want);             \
        if (g_ != w_) {                                                      \
            fprintf(stderr, "%s:%d: CHECK_INT failed: %s = %lld, want %lld\n",\
                    __FILE__, __LINE__, #got, g_, w_);                       \
            unit_failures_in_test++;                                         \
        }                                                                    \
    } while (0)

#define UNIT_RUN(fn)                                                         \
    do {                                                                     \
        unit_failures_in_test = 0;                                           \
        fn();                                                                \
        if (unit_failures_in_test) {                                         \
            unit_failed++;                                                   \
            fprintf(stderr, "FAIL %s\n", #fn);                               \
        } else {                                                             \
            unit_passed++;                                                   \
            printf("ok   %s\n", #fn);                                        \
        }                                                                    \
    } while (0)

#define UNIT_END()                                                           \
    (printf("%d passed, %d failed\n", unit_passed, unit_failed),             \
     unit_failed ? 1 : 0)

#endif
