/*
 * test_utf8.c - unit tests for services/common/utf8.c: every class of
 * sequence, the boundaries of overlong forms, surrogates and U+10FFFF, and
 * truncation.
 */
#include <string.h>

#include "unit.h"
#include "utf8.h"

/* s_dec - decode the bytes of str (n of them) into *cp; the length */
static size_t s_dec(const char *str, size_t n, uint32_t *cp)
{
    *cp = 0xDEADu;
    return utf8_decode((const unsigned char *)str, n, cp);
}

static void test_valid_sequences_of_each_length(void)
{
    uint32_t cp;
    CHECK_INT(s_dec("A", 1, &cp), 1);
    CHECK_INT(cp, 'A');
    CHECK_INT(s_dec("\0", 1, &cp), 1);
    CHECK_INT(cp, 0);
    CHECK_INT(s_dec("\xC2\x80", 2, &cp), 2);
    CHECK_INT(cp, 0x80);
    CHECK_INT(s_dec("\xD0\xAF", 2, &cp), 2); /* Я */
    CHECK_INT(cp, 0x42F);
    CHECK_INT(s_dec("\xE0\xA0\x80", 3, &cp), 3);
    CHECK_INT(cp, 0x800);
    CHECK_INT(s_dec("\xE4\xB8\xAD", 3, &cp), 3); /* 中 */
    CHECK_INT(cp, 0x4E2D);
    CHECK_INT(s_dec("\xEF\xBF\xBF", 3, &cp), 3);
    CHECK_INT(cp, 0xFFFF);
    CHECK_INT(s_dec("\xF0\x9F\x98\x80", 4, &cp), 4); /* 😀 */
    CHECK_INT(cp, 0x1F600);
    CHECK_INT(s_dec("\xF4\x8F\xBF\xBF", 4, &cp), 4);
    CHECK_INT(cp, 0x10FFFF);
    CHECK_INT(utf8_decode((const unsigned char *)"\xD0\xAF", 2, NULL), 2); /* cp optional */
}

static void test_invalid_sequences_are_refused(void)
{
    uint32_t cp;
    static const char *const bad[] = {
        "\x80", "\xBF",                 /* continuation bytes alone */
        "\xC0\x80", "\xC1\xBF",         /* overlong 2-byte */
        "\xE0\x9F\xBF",                 /* overlong 3-byte */
        "\xF0\x8F\xBF\xBF",             /* overlong 4-byte */
        "\xED\xA0\x80", "\xED\xBF\xBF", /* surrogates */
        "\xF4\x90\x80\x80",             /* above U+10FFFF */
        "\xF5\x80\x80\x80", "\xFF",     /* bytes never used */
        "\xC3\x28", "\xE2\x82\x28",     /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(s_dec(bad[i], strlen(bad[i]), &cp), 0);
        CHECK_INT(cp, 0xDEADu); /* untouched */
    }
    /* truncated: the bytes are fine but fewer than the lead byte says */
    CHECK_INT(s_dec("\xE4\xB8\xAD", 2, &cp), 0);
    CHECK_INT(s_dec("\xF0\x9F\x98\x80", 3, &cp), 0);
    CHECK_INT(s_dec("\xC3\xA9", 1, &cp), 0);
}

static void test_count_is_code_points_not_bytes(void)
{
    CHECK_INT(utf8_count("", 0), 0);
    CHECK_INT(utf8_count("abc", 3), 3);
    CHECK_INT(utf8_count("Я中😀é", strlen("Я中😀é")), 4); /* 2 + 3 + 4 + 2 bytes */
    CHECK_INT(utf8_count("Я中😀é", 2), 1);                 /* only as far as n */
}

int main(void)
{
    UNIT_RUN(test_valid_sequences_of_each_length);
    UNIT_RUN(test_invalid_sequences_are_refused);
    UNIT_RUN(test_count_is_code_points_not_bytes);
    return UNIT_END();
}
