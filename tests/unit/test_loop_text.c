/*
 * test_loop_text.c - unit tests for hark-loop's quotes and dates
 * (services/loop/loop_text.c), its loop ids and request checks
 * (loop_check.c) and the report's arithmetic (loop_report.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "unit.h"
#include "utf8.h"

static words_t *s_words; /* templates/<locale>/words.json, for the dates */

/* s_chars - code points of a valid UTF-8 string, -1 when it is not valid */
static long s_chars(const char *s)
{
    long n = 0;
    size_t len = strlen(s);
    for (size_t i = 0; i < len; n++) {
        size_t k = utf8_decode((const unsigned char *)s + i, len - i, NULL);
        if (!k)
            return -1;
        i += k;
    }
    return n;
}

static void test_excerpt_short_text_is_kept_with_whitespace_collapsed(void)
{
    char *e = loop_text_excerpt("  Slow\n\n delivery\tagain  ", 200);
    CHECK_STR(e, "Slow delivery again");
    free(e);
    e = loop_text_excerpt("", 200);
    CHECK_STR(e, "");
    free(e);
}

static void test_excerpt_cuts_at_a_word_boundary_with_an_ellipsis(void)
{
    char *e = loop_text_excerpt("one two three four five six seven eight nine ten", 20);
    CHECK_STR(e, "one two three four…");
    free(e);
}

static void test_excerpt_never_cuts_inside_a_character(void)
{
    /* no spaces: the cut falls between code points, never inside one */
    char text[4 * 300 + 1] = "";
    for (int i = 0; i < 100; i++)
        strcat(text, "Я中😀");
    for (size_t max = 20; max < 40; max++) {
        char *e = loop_text_excerpt(text, max);
        CHECK(e != NULL);
        CHECK_INT(s_chars(e), (long)max + 1); /* max kept, then … */
        CHECK(strcmp(e + strlen(e) - 3, "…") == 0);
        free(e);
    }
}

static void test_excerpt_drops_invalid_bytes(void)
{
    char *e = loop_text_excerpt("ab\xff\xc3(cd", 200);
    CHECK_STR(e, "ab(cd");
    free(e);
}

static void test_dates_in_each_language(void)
{
    char b[80];
    int64_t ms = 1795435200000LL; /* 2026-11-23T... UTC */
    CHECK_STR(loop_text_date(s_words, ms, "en", NULL, b, sizeof b), "23 November 2026");
    CHECK_STR(loop_text_date(s_words, ms, "ru-RU", NULL, b, sizeof b), "23 ноября 2026 г.");
    CHECK_STR(loop_text_date(s_words, ms, "be", NULL, b, sizeof b), "23 лістапада 2026 г.");
    CHECK_STR(loop_text_date(s_words, ms, "pl_PL", NULL, b, sizeof b), "23 listopada 2026");
    CHECK_STR(loop_text_date(s_words, ms, "zh-Hans", NULL, b, sizeof b), "2026年11月23日");
    CHECK_STR(loop_text_date(s_words, ms, "fr", NULL, b, sizeof b), "23 November 2026");
    CHECK_STR(loop_text_date(s_words, ms, NULL, NULL, b, sizeof b), "23 November 2026");
    CHECK_STR(loop_text_date(s_words, ms, "pol", NULL, b, sizeof b), "23 November 2026");
}

static void test_dates_are_the_customers_own_day(void)
{
    char b[80];
    /* 2026-03-06T04:00Z: still the 5th in Los Angeles, already the 6th in
     * Auckland; a zone hark does not know reads as UTC */
    int64_t ms = 1772769600000LL;
    CHECK_STR(loop_text_date(s_words, ms, "en", "America/Los_Angeles", b, sizeof b), "5 March 2026");
    CHECK_STR(loop_text_date(s_words, ms, "ru", "Pacific/Auckland", b, sizeof b), "6 марта 2026 г.");
    CHECK_STR(loop_text_date(s_words, ms, "en", "UTC", b, sizeof b), "6 March 2026");
    CHECK_STR(loop_text_date(s_words, ms, "en", "Mars/Olympus", b, sizeof b), "6 March 2026");
    CHECK_STR(loop_text_date(s_words, ms, "en", "", b, sizeof b), "6 March 2026");
    /* 2026-12-31T23:30Z is New Year's Day in Kiritimati */
    CHECK_STR(loop_text_date(s_words, 1798759800000LL, "zh", "Pacific/Kiritimati", b, sizeof b),
              "2027年1月1日");
}

static void test_loop_id_is_deterministic_and_fits_the_schema(void)
{
    char a[80], b[80], c[80];
    loop_check_loop_id("slow_delivery", "Faster shipping", a, sizeof a);
    loop_check_loop_id("slow_delivery", "Faster shipping", b, sizeof b);
    loop_check_loop_id("slow_delivery", "Faster shipping!", c, sizeof c);
    CHECK_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    CHECK(strncmp(a, "slow_delivery-", 14) == 0);
    char longr[65];
    memset(longr, 'a', 64);
    longr[64] = '\0';
    loop_check_loop_id(longr, "t", a, sizeof a);
    CHECK(strlen(a) <= 64);
}

static void test_request_check_names_the_field(void)
{
    char field[64], msg[300];
    json_t *p = NULL;
    int dry = -1;
    json_t *r = json_pack("{s:s,s:s,s:s,s:b}", "reason", "price", "title", "Cheaper",
                          "announcement", "10% off", "dry_run", 1);
    CHECK_INT(loop_check_request(r, 0, "api", &p, &dry, field, sizeof field, msg, sizeof msg), 0);
    CHECK_INT(dry, 1);
    CHECK_STR(json_string_value(json_object_get(p, "by")), "api");
    CHECK(json_object_get(p, "dry_run") == NULL); /* never journaled */
    CHECK(strncmp(json_string_value(json_object_get(p, "loop")), "price-", 6) == 0);
    json_decref(p);
    json_object_set_new(r, "since", json_string("2026-13-01"));
    CHECK_INT(loop_check_request(r, 0, "api", NULL, NULL, field, sizeof field, msg, sizeof msg), -1);
    CHECK_STR(field, "since");
    json_object_del(r, "since");
    json_object_del(r, "title");
    CHECK_INT(loop_check_request(r, 0, "api", NULL, NULL, field, sizeof field, msg, sizeof msg), -1);
    CHECK_STR(field, "title");
    /* a preview needs only the reason */
    CHECK_INT(loop_check_request(r, 1, "api", NULL, NULL, field, sizeof field, msg, sizeof msg), 0);
    json_object_set_new(r, "reason", json_string("Price"));
    CHECK_INT(loop_check_request(r, 1, "api", NULL, NULL, field, sizeof field, msg, sizeof msg), -1);
    CHECK_STR(field, "reason");
    json_decref(r);
}

/* s_texts_req - a close with the fallback and texts (JSON) */
static json_t *s_texts_req(const char *texts)
{
    json_t *r = json_pack("{s:s,s:s,s:s}", "reason", "slow_delivery", "title",
                          "Faster shipping", "announcement", "Two days now.");
    json_object_set_new(r, "texts", json_loads(texts, 0, NULL));
    return r;
}

/* s_texts_field - the field loop_check_request names for texts, "" when
 * it accepts them */
static const char *s_texts_field(const char *texts, char *field, size_t flen)
{
    char msg[300];
    json_t *r = s_texts_req(texts);
    if (loop_check_request(r, 0, "api", NULL, NULL, field, flen, msg, sizeof msg) == 0)
        field[0] = '\0';
    json_decref(r);
    return field;
}

static void test_request_texts_are_checked_per_locale_and_keys_normalised(void)
{
    char field[64], msg[300];
    json_t *p = NULL;
    json_t *r = s_texts_req("{\"ru\": {\"title\": \"Быстрая доставка\", \"announcement\":"
                            " \"Два дня.\"}, \"pt_BR\": {\"title\": \"Entrega\","
                            " \"announcement\": \"Dois dias.\"}}");
    CHECK_INT(loop_check_request(r, 0, "api", &p, NULL, field, sizeof field, msg, sizeof msg), 0);
    const json_t *t = json_object_get(p, "texts");
    CHECK_INT(json_object_size(t), 2);
    CHECK_STR(json_string_value(json_object_get(json_object_get(t, "ru"), "title")),
              "Быстрая доставка");
    CHECK(json_object_get(t, "pt-br") != NULL); /* normalised as the renderer's folders */
    /* the fallback names the loop, as before texts */
    char lid[80];
    CHECK_STR(json_string_value(json_object_get(p, "loop")),
              loop_check_loop_id("slow_delivery", "Faster shipping", lid, sizeof lid));
    json_decref(p);
    json_decref(r);
    /* an empty texts is left out: the event a close without texts always was */
    r = s_texts_req("{}");
    CHECK_INT(loop_check_request(r, 0, "api", &p, NULL, field, sizeof field, msg, sizeof msg), 0);
    CHECK(json_object_get(p, "texts") == NULL);
    json_decref(p);
    json_decref(r);

    CHECK_STR(s_texts_field("{\"pl\": {\"title\": \"Szybciej\"}}", field, sizeof field),
              "texts.pl.announcement");
    CHECK_STR(s_texts_field("{\"pl\": {\"announcement\": \"x\"}}", field, sizeof field),
              "texts.pl.title");
    CHECK_STR(s_texts_field("{\"pl\": {\"title\": \" \", \"announcement\": \"x\"}}", field,
                            sizeof field),
              "texts.pl.title");
    CHECK_STR(s_texts_field("{\"pl\": {\"title\": 1, \"announcement\": \"x\"}}", field,
                            sizeof field),
              "texts.pl.title");
    CHECK_STR(s_texts_field("{\"pl\": {\"title\": \"t\", \"announcement\": \"x\", \"to\": 1}}",
                            field, sizeof field),
              "texts.pl.to");
    CHECK_STR(s_texts_field("{\"klingon\": {\"title\": \"t\", \"announcement\": \"x\"}}",
                            field, sizeof field),
              "texts.klingon");
    CHECK_STR(s_texts_field("{\"p l\": {\"title\": \"t\", \"announcement\": \"x\"}}", field,
                            sizeof field),
              "texts.p l");
    CHECK_STR(s_texts_field("{\"pt-BR\": {\"title\": \"t\", \"announcement\": \"x\"},"
                            " \"pt_br\": {\"title\": \"t\", \"announcement\": \"y\"}}",
                            field, sizeof field),
              "texts.pt_br");
    CHECK_STR(s_texts_field("{\"pl\": \"Szybciej\"}", field, sizeof field), "texts.pl");
    CHECK_STR(s_texts_field("[]", field, sizeof field), "texts");
    /* the same limits as the fallback's, named by path */
    char longt[260];
    memset(longt, 'a', 250);
    longt[250] = '\0';
    char j[400];
    snprintf(j, sizeof j, "{\"pl\": {\"title\": \"%s\", \"announcement\": \"x\"}}", longt);
    CHECK_STR(s_texts_field(j, field, sizeof field), "texts.pl.title");
    /* texts do not stand in for the fallback */
    r = s_texts_req("{\"pl\": {\"title\": \"t\", \"announcement\": \"x\"}}");
    json_object_del(r, "title");
    CHECK_INT(loop_check_request(r, 0, "api", NULL, NULL, field, sizeof field, msg, sizeof msg), -1);
    CHECK_STR(field, "title");
    json_decref(r);
}

static void test_locale_tags_are_checked_and_normalised(void)
{
    char out[40];
    static const char *const good[][2] = {{"ru", "ru"},       {"PL", "pl"},
                                          {"pt_BR", "pt-br"}, {"zh-Hans-CN", "zh-hans-cn"},
                                          {"es-419", "es-419"}, {"fil", "fil"}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        CHECK_INT(loop_check_locale(good[i][0], out, sizeof out), 0);
        CHECK_STR(out, good[i][1]);
    }
    static const char *const bad[] = {"", "r", "russian", "ru-", "-ru", "ru--ru", "ru-RUS-x",
                                      "ru.UTF-8", "en-US-POSIX", "12", "ru RU", "de-1996"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(loop_check_locale(bad[i], out, sizeof out), -1);
}

static void test_a_customer_reads_their_locale_else_its_language_else_the_fallback(void)
{
    json_t *t = json_loads("{\"ru\": {}, \"pt-br\": {}, \"en\": {}}", 0, NULL);
    CHECK_STR(loop_check_text_for(t, "ru", "en"), "ru");
    CHECK_STR(loop_check_text_for(t, "ru-RU", "en"), "ru");
    CHECK_STR(loop_check_text_for(t, "ru_RU", "en"), "ru");
    CHECK_STR(loop_check_text_for(t, "pt-BR", "en"), "pt-br");
    CHECK(loop_check_text_for(t, "pt", "en") == NULL); /* a region's text is not the language's */
    CHECK(loop_check_text_for(t, "pt-PT", "en") == NULL);
    CHECK(loop_check_text_for(t, "de", "en") == NULL);
    CHECK(loop_check_text_for(t, "be", "en") == NULL);
    /* without a locale: the mailer's default_locale */
    CHECK_STR(loop_check_text_for(t, "", "en"), "en");
    CHECK_STR(loop_check_text_for(t, NULL, "en-GB"), "en");
    CHECK(loop_check_text_for(t, "", "de") == NULL);
    /* no texts (a close from before them): everyone reads the fallback */
    CHECK(loop_check_text_for(NULL, "ru", "en") == NULL);
    json_t *empty = json_object();
    CHECK(loop_check_text_for(empty, "ru", "en") == NULL);
    json_decref(empty);
    json_decref(t);
}

static void test_median_and_nps(void)
{
    double odd[] = {1, 2, 10}, even[] = {1, 2, 4, 10};
    CHECK(loop_report_median(odd, 3) == 2);
    CHECK(loop_report_median(even, 4) == 3);
    CHECK(loop_report_median(NULL, 0) == 0);
    CHECK(loop_report_nps(2, 1, 3) == 33.3);
    CHECK(loop_report_nps(0, 2, 2) == -100);
}

int main(void)
{
    /* run from the repository root (as make does), or with HARK_ROOT */
    char dir[4096], err[600];
    const char *root = getenv("HARK_ROOT");
    snprintf(dir, sizeof dir, "%s/templates", root && *root ? root : ".");
    s_words = words_load(dir, "en", err, sizeof err);
    if (!s_words) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    UNIT_RUN(test_excerpt_short_text_is_kept_with_whitespace_collapsed);
    UNIT_RUN(test_excerpt_cuts_at_a_word_boundary_with_an_ellipsis);
    UNIT_RUN(test_excerpt_never_cuts_inside_a_character);
    UNIT_RUN(test_excerpt_drops_invalid_bytes);
    UNIT_RUN(test_dates_in_each_language);
    UNIT_RUN(test_dates_are_the_customers_own_day);
    UNIT_RUN(test_loop_id_is_deterministic_and_fits_the_schema);
    UNIT_RUN(test_request_check_names_the_field);
    UNIT_RUN(test_request_texts_are_checked_per_locale_and_keys_normalised);
    UNIT_RUN(test_locale_tags_are_checked_and_normalised);
    UNIT_RUN(test_a_customer_reads_their_locale_else_its_language_else_the_fallback);
    UNIT_RUN(test_median_and_nps);
    words_destroy(&s_words);
    return UNIT_END();
}
