/*
 * test_intake_tagger.c - the reason tagger (intake_tagger.c) trained as
 * hark-intake trains it at start, on the shipped config/reasons.conf and
 * config/reason_examples.tsv: a held-out list written apart from the
 * examples (tests/unit/tagger_heldout.tsv, five languages) is at least
 * 90% right; praise is praise (no reason, no case); several reasons come
 * best first; an unsure text is `other` for staff; a staff retag (an
 * added example) teaches it; the examples' errors name file and line; a
 * small taxonomy of one's own takes no complaint for praise.
 * Run from the checkout, as make does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intake.h"
#include "reason_examples.h"
#include "unit.h"

static reasons_t *s_r;
static intake_match_t *s_m;
static intake_tagger_t *s_t;

static int s_add(const char *locale, const char *code, const char *text, void *arg)
{
    return intake_tagger_add(arg, locale, code, text) < 0 ? -1 : 0;
}

static char s_errs[2000];
static void s_collect(const char *msg, void *arg)
{
    (void)arg;
    size_t n = strlen(s_errs);
    snprintf(s_errs + n, sizeof s_errs - n, "%s\n", msg);
}

/* s_tagger - a tagger trained on the shipped examples (threshold as shipped) */
static intake_tagger_t *s_tagger(void)
{
    intake_tagger_t *t = intake_tagger_new(s_r, s_m, 8);
    int errors = 0;
    long n = reason_examples_load("config/reason_examples.tsv", s_r, 1, s_add, t, s_collect, NULL,
                                  &errors);
    if (!t || n < 0 || errors || intake_tagger_train(t)) {
        fprintf(stderr, "examples: %s\n", s_errs);
        intake_tagger_destroy(&t);
    }
    return t;
}

/* s_first - the code a text is tagged with first ("praise" for praise) */
static const char *s_first(const intake_tagger_t *t, const char *text, intake_tag_t *g)
{
    if (intake_tagger_tag(t, text, strlen(text), g))
        return "(invalid)";
    return g->praise ? "praise" : reasons_get(s_r, (size_t)g->idx[0])->code;
}

static int s_has(const intake_tag_t *g, const char *code)
{
    for (int i = 0; i < g->n; i++)
        if (strcmp(reasons_get(s_r, (size_t)g->idx[i])->code, code) == 0)
            return 1;
    return 0;
}

static void test_tagger__ships_at_least_15_examples_per_reason_and_language(void)
{
    CHECK(intake_tagger_trained(s_t));
    CHECK(intake_tagger_examples(s_t) >= 12 * 5 * 15);
}

static void test_tagger__held_out_complaints_in_five_languages_at_least_90_percent(void)
{
    FILE *out = fopen("/dev/null", "w");
    double acc = intake_tagger_evaluate(s_t, "tests/unit/tagger_heldout.tsv", out, s_collect, NULL);
    if (out)
        fclose(out);
    printf("     held-out accuracy %.1f%%\n", acc * 100);
    CHECK(acc >= 0.90);
}

static void test_tagger__praise_is_praise_with_no_reason(void)
{
    intake_tag_t g;
    CHECK_STR(s_first(s_t, "Lovely tea, fast delivery", &g), "praise");
    CHECK_INT(g.n, 0); /* no shipping_delay: nothing to count or quote back */
    CHECK_STR(s_first(s_t, "Отличный чай, быстрая доставка", &g), "praise");
    CHECK_INT(g.n, 0);
    CHECK(g.confidence >= 0.08);
}

static void test_tagger__what_keywords_missed(void)
{
    intake_tag_t g;
    CHECK_STR(s_first(s_t, "the parcel took almost a month", &g), "shipping_delay");
    CHECK_STR(s_first(s_t, "charged twice for one order", &g), "billing_error");
    CHECK_STR(s_first(s_t, "the agent hung up", &g), "customer_service");
    CHECK_INT(g.review, 0);
}

static void test_tagger__several_reasons_best_first(void)
{
    intake_tag_t g;
    /* mostly about delivery and damage: both listed, neither billing */
    const char *first = s_first(s_t, "The parcel came two weeks late and the teapot inside was "
                                     "smashed to pieces, the box was crushed", &g);
    CHECK(strcmp(first, "damaged_item") == 0 || strcmp(first, "shipping_delay") == 0);
    CHECK(s_has(&g, "damaged_item"));
    CHECK(!s_has(&g, "billing_error") && !s_has(&g, "price"));
    for (int i = 1; i < g.n; i++) /* no reason twice */
        CHECK(g.idx[i] != g.idx[0]);
}

static void test_tagger__unsure_is_other_for_staff(void)
{
    intake_tag_t g;
    CHECK_STR(s_first(s_t, "hello there", &g), "other");
    CHECK_INT(g.review, 1);
    CHECK_INT(g.n, 1);
    CHECK(intake_tagger_tag(s_t, "\xff\xfe", 2, &g) < 0); /* not UTF-8 */
}

/* the tagger trained on the shipped examples (s_t, not a second one trained
 * the same: a training is most of this suite's time under ASan), taught
 * and destroyed here, so this runs last */
static void test_tagger__a_staff_retag_is_learned_by_the_next_training(void)
{
    intake_tagger_t *t = s_t;
    s_t = NULL;
    CHECK(t != NULL);
    if (!t)
        return;
    intake_tag_t g;
    const char *text = "the zorblax widget keeps glorping";
    CHECK(strcmp(s_first(t, text, &g), "too_complex") != 0);
    /* what intake_case.c stores on case.retagged, read back at start */
    for (int i = 0; i < 4; i++)
        CHECK_INT(intake_tagger_add(t, "en", "too_complex", "zorblax glorping again"), 0);
    /* a code the taxonomy lacks: no reason of it, only "not praise" (1) */
    CHECK_INT(intake_tagger_add(t, "en", "no_such_reason", "zorblax"), 1);
    CHECK_INT(intake_tagger_train(t), 0);
    CHECK_STR(s_first(t, text, &g), "too_complex");
    intake_tagger_destroy(&t);
    CHECK(t == NULL);
    intake_tagger_destroy(&t); /* twice is fine */
}

static void test_tagger__example_errors_name_file_and_line(void)
{
    char path[] = "/tmp/hark_examples_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *body = "# comment\n"
                       "en\tprice\ttoo dear\n"
                       "en\tno_such_reason\tsomething\n"
                       "not a locale!\tprice\tcostly\n"
                       "pl\tpraise\t\n"
                       "en only two fields\n";
    CHECK(write(fd, body, strlen(body)) == (ssize_t)strlen(body));
    close(fd);
    s_errs[0] = '\0';
    int errors = 0;
    long n = reason_examples_load(path, s_r, 1, NULL, NULL, s_collect, NULL, &errors);
    CHECK_INT(n, 1);
    CHECK_INT(errors, 4);
    char want[300];
    snprintf(want, sizeof want, "%s:3: unknown reason \"no_such_reason\"", path);
    CHECK(strstr(s_errs, want) != NULL);
    snprintf(want, sizeof want, "%s:4: bad locale", path);
    CHECK(strstr(s_errs, want) != NULL);
    snprintf(want, sizeof want, "%s:5: the text is empty", path);
    CHECK(strstr(s_errs, want) != NULL);
    snprintf(want, sizeof want, "%s:6: expected LOCALE<TAB>REASON<TAB>TEXT", path);
    CHECK(strstr(s_errs, want) != NULL);
    /* not strict (hark-intake at start): an unknown code is skipped */
    errors = 0;
    s_errs[0] = '\0';
    reason_examples_load(path, s_r, 0, NULL, NULL, s_collect, NULL, &errors);
    CHECK(strstr(s_errs, "no_such_reason") == NULL);
    /* strict < 0 (hark-intake's shipped examples): it goes to add as well */
    errors = 0;
    CHECK_INT(reason_examples_load(path, s_r, -1, NULL, NULL, s_collect, NULL, &errors), 2);
    CHECK_INT(errors, 3);
    unlink(path);
}

/* s_small - a tagger of a small taxonomy (the reasons conf text), trained
 * as hark-intake trains it: the shipped examples, the codes it lacks too */
static intake_tagger_t *s_small(const char *conf, reasons_t **r, intake_match_t **m)
{
    char path[] = "/tmp/hark_reasons_XXXXXX";
    int fd = mkstemp(path), errors = 0;
    *r = NULL;
    *m = NULL;
    if (fd < 0)
        return NULL;
    int ok = write(fd, conf, strlen(conf)) == (ssize_t)strlen(conf);
    close(fd);
    *r = ok ? reasons_load(path, s_collect, NULL, &errors) : NULL;
    unlink(path);
    *m = *r && !errors ? intake_match_new(*r) : NULL;
    intake_tagger_t *t = *m ? intake_tagger_new(*r, *m, 2) : NULL;
    if (!t || reason_examples_load("config/reason_examples.tsv", *r, -1, s_add, t, s_collect,
                                   NULL, &errors) < 0 || errors || intake_tagger_train(t))
        intake_tagger_destroy(&t);
    return t;
}

static void test_tagger__a_small_taxonomy_takes_no_complaint_for_praise(void)
{
    /* two reasons, German keywords the examples never saw */
    const char *two = "[team.t]\nemail = t@example.com\n"
                      "[reason.shipping_delay]\nlabel.en = Late\nteam = t\nfirst_response = 1h\n"
                      "keywords.en = late\nkeywords.de = verspätet\n"
                      "[reason.other]\nlabel.en = Other\nteam = t\nfirst_response = 1h\n";
    reasons_t *r;
    intake_match_t *m;
    intake_tagger_t *t = s_small(two, &r, &m);
    CHECK(t != NULL && intake_tagger_trained(t));
    intake_tag_t g;
    if (t) {
        CHECK_INT(intake_tagger_tag(t, "Paket VERSPÄTET", strlen("Paket VERSPÄTET"), &g), 0);
        CHECK_INT(g.praise, 0);
        CHECK_STR(reasons_get(r, (size_t)g.idx[0])->code, "shipping_delay");
        /* a complaint of a reason it lacks: a complaint still */
        const char *dear = "Far too expensive for what you get";
        CHECK_INT(intake_tagger_tag(t, dear, strlen(dear), &g), 0);
        CHECK_INT(g.praise, 0);
        const char *nice = "Lovely tea, thank you so much!";
        CHECK_INT(intake_tagger_tag(t, nice, strlen(nice), &g), 0);
        CHECK_INT(g.praise, 1);
    }
    intake_tagger_destroy(&t);
    intake_match_destroy(&m);
    reasons_destroy(&r);
    /* three reasons, none about what went wrong here */
    const char *three = "[team.t]\nemail = t@example.com\n"
                        "[reason.shipping_delay]\nlabel.en = Late\nteam = t\n"
                        "first_response = 1h\nkeywords.en = late, delivery\n"
                        "[reason.price]\nlabel.en = Price\nteam = t\nfirst_response = 1h\n"
                        "keywords.en = expensive\n"
                        "[reason.other]\nlabel.en = Other\nteam = t\nfirst_response = 1h\n";
    t = s_small(three, &r, &m);
    CHECK(t != NULL);
    if (t) {
        CHECK_INT(intake_tagger_tag(t, "the box was empty", 17, &g), 0);
        CHECK_INT(g.praise, 0);
        CHECK(g.n >= 1);
    }
    intake_tagger_destroy(&t);
    intake_match_destroy(&m);
    reasons_destroy(&r);
}

int main(void)
{
    int errors = 0;
    s_r = reasons_load("config/reasons.conf", s_collect, NULL, &errors);
    s_m = s_r && !errors ? intake_match_new(s_r) : NULL;
    s_t = s_m ? s_tagger() : NULL;
    if (!s_t) {
        fprintf(stderr, "no tagger: %s\n", s_errs);
        return 1;
    }
    UNIT_RUN(test_tagger__ships_at_least_15_examples_per_reason_and_language);
    UNIT_RUN(test_tagger__held_out_complaints_in_five_languages_at_least_90_percent);
    UNIT_RUN(test_tagger__praise_is_praise_with_no_reason);
    UNIT_RUN(test_tagger__what_keywords_missed);
    UNIT_RUN(test_tagger__several_reasons_best_first);
    UNIT_RUN(test_tagger__unsure_is_other_for_staff);
    UNIT_RUN(test_tagger__example_errors_name_file_and_line);
    UNIT_RUN(test_tagger__a_small_taxonomy_takes_no_complaint_for_praise);
    UNIT_RUN(test_tagger__a_staff_retag_is_learned_by_the_next_training); /* takes s_t */
    intake_tagger_destroy(&s_t);
    intake_match_destroy(&s_m);
    reasons_destroy(&s_r);
    return UNIT_END();
}
