/*
 * test_console_form.c - hark-console's form reading (console_form.c): a
 * urlencoded body read strictly, so a value is either what the browser sent
 * or refused, never cut short; repeated fields (the retag checkboxes) by
 * index; URL arguments written back; account names.
 */
#include <string.h>

#include "console.h"
#include "unit.h"

#define BODY(s) (s), strlen(s)

static void test_fields_are_decoded_plus_and_percent(void)
{
    char v[64];
    const char *b = "csrf=ab%2Fc&message=Hello+world%21%0D%0Asecond&empty=&flag";
    CHECK_INT(console_form_get(BODY(b), "csrf", 0, v, sizeof v), 1);
    CHECK_STR(v, "ab/c");
    CHECK_INT(console_form_get(BODY(b), "message", 0, v, sizeof v), 1);
    CHECK_STR(v, "Hello world!\r\nsecond");
    CHECK_INT(console_form_get(BODY(b), "empty", 0, v, sizeof v), 1);
    CHECK_STR(v, "");
    CHECK_INT(console_form_get(BODY(b), "flag", 0, v, sizeof v), 1);
    CHECK_INT(console_form_get(BODY(b), "missing", 0, v, sizeof v), 0);
    CHECK_INT(console_form_get(BODY(b), "csr", 0, v, sizeof v), 0); /* no prefix match */
    CHECK_INT(console_form_get(NULL, 0, "csrf", 0, v, sizeof v), 0);
}

static void test_repeated_fields_are_read_by_index(void)
{
    char v[64];
    const char *b = "code=price&nonce=1&code=other&code=shipping_delay";
    CHECK_INT(console_form_get(BODY(b), "code", 0, v, sizeof v), 1);
    CHECK_STR(v, "price");
    CHECK_INT(console_form_get(BODY(b), "code", 2, v, sizeof v), 1);
    CHECK_STR(v, "shipping_delay");
    CHECK_INT(console_form_get(BODY(b), "code", 3, v, sizeof v), 0);
}

static void test_a_value_too_long_bad_escape_nul_or_not_utf8_is_refused(void)
{
    char v[8];
    CHECK_INT(console_form_get(BODY("m=12345678"), "m", 0, v, sizeof v), -1);
    CHECK_INT(console_form_get(BODY("m=1234567"), "m", 0, v, sizeof v), 1);
    CHECK_INT(console_form_get(BODY("m=%zz"), "m", 0, v, sizeof v), -1);
    CHECK_INT(console_form_get(BODY("m=%4"), "m", 0, v, sizeof v), -1);
    CHECK_INT(console_form_get(BODY("m=a%00b"), "m", 0, v, sizeof v), -1);
    CHECK_INT(console_form_get(BODY("m=%C3%28"), "m", 0, v, sizeof v), -1);
    CHECK_INT(console_form_get(BODY("m=%C3%A9"), "m", 0, v, sizeof v), 1);
    CHECK_STR(v, "\xc3\xa9");
}

static void test_url_arguments_keep_only_unreserved_characters(void)
{
    buf_t b = BUF_INIT;
    console_url_arg(&b, "/cases/C1?x=1&y=<a b>");
    buf_putc(&b, '\0');
    CHECK_STR(b.data, "%2Fcases%2FC1%3Fx%3D1%26y%3D%3Ca%20b%3E");
    buf_free(&b);
}

static void test_account_names(void)
{
    CHECK(console_name_ok("alice"));
    CHECK(console_name_ok("a.b_c@d-e"));
    CHECK(!console_name_ok(""));
    CHECK(!console_name_ok("a b"));
    CHECK(!console_name_ok("<script>"));
    CHECK(!console_name_ok("x:y"));
    char longname[70];
    memset(longname, 'a', 65);
    longname[65] = '\0';
    CHECK(!console_name_ok(longname));
    longname[64] = '\0';
    CHECK(console_name_ok(longname));
}

int main(void)
{
    UNIT_RUN(test_fields_are_decoded_plus_and_percent);
    UNIT_RUN(test_repeated_fields_are_read_by_index);
    UNIT_RUN(test_a_value_too_long_bad_escape_nul_or_not_utf8_is_refused);
    UNIT_RUN(test_url_arguments_keep_only_unreserved_characters);
    UNIT_RUN(test_account_names);
    return UNIT_END();
}
