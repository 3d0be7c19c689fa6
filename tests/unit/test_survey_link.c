/*
 * test_survey_link.c - unit tests for services/common/survey_link.c: link
 * tokens round-trip, are bound to their key and purpose, refuse bad invite
 * ids and locales, and any flipped character makes them forged.
 */
#include <stdlib.h>
#include <string.h>

#include "survey_link.h"
#include "token.h"
#include "unit.h"

static const char *K = "0123456789abcdef0123456789abcdef";

static void test_link_round_trip(void)
{
    char *t = survey_link_make(K, "inv-42_x", 1800000000, "pl-PL");
    CHECK(t != NULL);
    survey_link_t l;
    CHECK_INT(survey_link_check(K, t, &l), 0);
    CHECK_STR(l.invite, "inv-42_x");
    CHECK_STR(l.locale, "pl-PL");
    CHECK(l.expires == 1800000000);
    free(t);
    t = survey_link_make(K, "a", 0, NULL); /* no locale */
    CHECK_INT(survey_link_check(K, t, &l), 0);
    CHECK_STR(l.locale, "");
    free(t);
}

static void test_link_refuses_bad_input(void)
{
    CHECK(survey_link_make(K, "", 1, "en") == NULL);
    CHECK(survey_link_make(K, "a b", 1, "en") == NULL);
    CHECK(survey_link_make(K, "a\nb", 1, "en") == NULL);
    char long_id[SURVEY_INVITE_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    CHECK(survey_link_make(K, long_id, 1, "en") == NULL);
    long_id[SURVEY_INVITE_MAX] = '\0';
    char *t = survey_link_make(K, long_id, 1, "en");
    CHECK(t != NULL);
    free(t);
    CHECK(survey_link_make(K, "a", 1, "en\n1") == NULL);
    CHECK(survey_link_make(K, "a", -1, "en") == NULL);
}

static void test_link_forged_or_other_key_or_purpose(void)
{
    char *t = survey_link_make(K, "inv1", 1800000000, "ru");
    survey_link_t l;
    CHECK_INT(survey_link_check("another key", t, &l), -1);
    for (size_t i = 0; t[i]; i++) { /* every flipped character: forged */
        char saved = t[i];
        t[i] = saved == 'A' ? 'B' : 'A';
        CHECK_INT(survey_link_check(K, t, &l), -1);
        t[i] = saved;
    }
    CHECK_INT(survey_link_check(K, t, &l), 0);
    /* an unsubscribe token with the same payload is not a survey token */
    const char *payload = "inv1\n1800000000\nru";
    char *u = token_sign(K, "unsubscribe", payload, strlen(payload));
    CHECK_INT(survey_link_check(K, u, &l), -1);
    /* a form token is not a link token, nor the other way round */
    char *f = survey_link_form_make(K, "inv1");
    CHECK_INT(survey_link_check(K, f, &l), -1);
    CHECK_INT(survey_link_form_check(K, "inv1", t), 0);
    CHECK_INT(survey_link_check(K, NULL, &l), -1);
    CHECK_INT(survey_link_check(K, "", &l), -1);
    free(t);
    free(u);
    free(f);
}

static void test_form_token_binds_the_invite(void)
{
    char *f = survey_link_form_make(K, "inv1");
    CHECK(f != NULL);
    CHECK_INT(survey_link_form_check(K, "inv1", f), 1);
    CHECK_INT(survey_link_form_check(K, "inv2", f), 0);
    CHECK_INT(survey_link_form_check("other", "inv1", f), 0);
    CHECK_INT(survey_link_form_check(K, "inv1", NULL), 0);
    CHECK_INT(survey_link_form_check(K, "inv1", "x.y"), 0);
    CHECK(survey_link_form_make(K, "bad id") == NULL);
    free(f);
}

int main(void)
{
    UNIT_RUN(test_link_round_trip);
    UNIT_RUN(test_link_refuses_bad_input);
    UNIT_RUN(test_link_forged_or_other_key_or_purpose);
    UNIT_RUN(test_form_token_binds_the_invite);
    return UNIT_END();
}
