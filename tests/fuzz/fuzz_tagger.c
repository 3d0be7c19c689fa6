/*
 * fuzz_tagger.c - the reason tagger's reading of any text
 * (services/intake/intake_tagger.c: folding, words and character n-grams,
 * hashing, the keyword matcher, the classifier, the codes best first).
 *
 * Trained once on config/reasons.conf and config/reason_examples.tsv
 * (from $HARK_ROOT or the current directory).  Properties: bad UTF-8 is
 * refused; anything else is praise with no codes, or one or more distinct
 * reasons in range with `other` only alone and then marked for review,
 * a confidence in [0, 1], and the same result on a second run.
 */
#include "fuzz.h"

#include <unistr.h>

#include "intake.h"
#include "reason_examples.h"
#include "reasons.h"

static reasons_t *s_r;
static intake_match_t *s_m;
static intake_tagger_t *s_t;

static void s_report(const char *msg, void *arg)
{
    (void)arg;
    fprintf(stderr, "tagger: %s\n", msg);
}

static int s_add(const char *locale, const char *code, const char *text, void *arg)
{
    return intake_tagger_add(arg, locale, code, text) < 0 ? -1 : 0;
}

static void s_load(void)
{
    char path[4096];
    const char *root = getenv("HARK_ROOT");
    root = root && *root ? root : ".";
    snprintf(path, sizeof path, "%s/config/reasons.conf", root);
    int errors = 0;
    s_r = reasons_load(path, s_report, NULL, &errors);
    FUZZ_CHECK(s_r != NULL && errors == 0);
    s_m = intake_match_new(s_r);
    s_t = s_m ? intake_tagger_new(s_r, s_m, 8) : NULL;
    FUZZ_CHECK(s_t != NULL);
    snprintf(path, sizeof path, "%s/config/reason_examples.tsv", root);
    FUZZ_CHECK(reason_examples_load(path, s_r, 1, s_add, s_t, s_report, NULL, &errors) > 0);
    FUZZ_CHECK(errors == 0 && intake_tagger_train(s_t) == 0 && intake_tagger_trained(s_t));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_t)
        s_load();
    if (size > 65536)
        return 0;
    const char *text = (const char *)data;
    intake_tag_t g, again;
    int rc = intake_tagger_tag(s_t, text, size, &g);
    if (u8_check(data, size) != NULL) {
        FUZZ_CHECK(rc == -1);
        return 0;
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(g.confidence >= 0 && g.confidence <= 1);
    if (g.praise) {
        FUZZ_CHECK(g.n == 0 && !g.review);
    } else {
        FUZZ_CHECK(g.n >= 1 && g.n <= REASONS_MAX_CODES);
        for (int i = 0; i < g.n; i++) {
            FUZZ_CHECK(g.idx[i] >= 0 && (size_t)g.idx[i] < reasons_count(s_r));
            for (int j = 0; j < i; j++)
                FUZZ_CHECK(g.idx[i] != g.idx[j]);
            FUZZ_CHECK(g.idx[i] != reasons_other(s_r) || (g.n == 1 && g.review));
        }
        FUZZ_CHECK(!g.review || (g.n == 1 && g.idx[0] == reasons_other(s_r)));
    }
    FUZZ_CHECK(intake_tagger_tag(s_t, text, size, &again) == 0);
    FUZZ_CHECK(memcmp(&g, &again, sizeof g) == 0);
    return 0;
}
