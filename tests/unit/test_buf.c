/*
 * test_buf.c - unit tests for services/common/buf.c.
 *
 * Growth over many appends, printf past the 256-byte fast path, JSON string
 * escaping (quotes, backslash, control characters, UTF-8 left alone) checked
 * against jansson's parser, and the release/reset/free life cycle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "unit.h"

/* s_json_roundtrip - parse b as a JSON string literal; caller frees; NULL
 * when jansson rejects it */
static char *s_json_roundtrip(const buf_t *b)
{
    json_error_t err;
    json_t *j = json_loadb(b->data, b->len, JSON_DECODE_ANY, &err);
    if (!json_is_string(j)) {
        json_decref(j);
        return NULL;
    }
    char *s = strdup(json_string_value(j));
    json_decref(j);
    return s;
}

static void test_empty_buf_is_null_until_first_append(void)
{
    buf_t b = BUF_INIT;
    CHECK(b.data == NULL);
    CHECK_INT(b.len, 0);
    buf_append(&b, "", 0);
    CHECK(b.data != NULL);
    CHECK_STR(b.data, "");
    CHECK_INT(b.len, 0);
    CHECK(!buf_failed(&b));
    buf_free(&b);
    CHECK(b.data == NULL);
}

static void test_many_appends_grow_and_keep_every_byte(void)
{
    buf_t b = BUF_INIT;
    char expect[20000];
    size_t n = 0;
    for (int i = 0; i < 4000; i++) {
        char piece[8];
        int k = snprintf(piece, sizeof piece, "%d,", i % 1000);
        buf_append(&b, piece, (size_t)k);
        memcpy(expect + n, piece, (size_t)k);
        n += (size_t)k;
    }
    expect[n] = '\0';
    CHECK(!buf_failed(&b));
    CHECK_INT(b.len, n);
    CHECK(b.cap > b.len);
    CHECK_INT(b.data[b.len], '\0');
    CHECK(memcmp(b.data, expect, n + 1) == 0);
    buf_free(&b);
}

static void test_putc_and_puts_append_in_order(void)
{
    buf_t b = BUF_INIT;
    for (int i = 0; i < 300; i++)
        buf_putc(&b, (char)('a' + i % 26));
    buf_puts(&b, "END");
    CHECK_INT(b.len, 303);
    CHECK_INT(b.data[0], 'a');
    CHECK_INT(b.data[25], 'z');
    CHECK_INT(b.data[26], 'a');
    CHECK_STR(b.data + 300, "END");
    buf_free(&b);
}

static void test_embedded_nul_is_kept_by_append(void)
{
    buf_t b = BUF_INIT;
    buf_append(&b, "a\0b", 3);
    CHECK_INT(b.len, 3);
    CHECK(memcmp(b.data, "a\0b", 4) == 0);
    buf_free(&b);
}

static void test_printf_short_and_long_output(void)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "x=%d ", 42);
    CHECK_STR(b.data, "x=42 ");

    char big[1001];
    memset(big, 'q', 1000);
    big[1000] = '\0';
    buf_printf(&b, "[%s]%d", big, 7);
    CHECK(!buf_failed(&b));
    CHECK_INT(b.len, 5 + 1 + 1000 + 1 + 1);
    CHECK(strncmp(b.data, "x=42 [qqq", 9) == 0);
    CHECK_STR(b.data + 5 + 1 + 1000, "]7");
    CHECK_INT(strlen(b.data), b.len);
    buf_free(&b);
}

static void test_printf_exactly_at_the_256_byte_boundary(void)
{
    /* 255 fits the stack buffer; 256 takes the second vsnprintf path */
    for (int width = 250; width <= 260; width++) {
        buf_t b = BUF_INIT;
        buf_puts(&b, "<");
        buf_printf(&b, "%*d", width, 1);
        CHECK_INT(b.len, 1 + width);
        CHECK_INT(b.data[b.len - 1], '1');
        CHECK_INT(b.data[1], ' ');
        CHECK_INT(strlen(b.data), b.len);
        buf_free(&b);
    }
}

static void test_json_string_escapes_quotes_and_backslash(void)
{
    buf_t b = BUF_INIT;
    buf_json_string(&b, "say \"hi\" \\ back");
    CHECK_STR(b.data, "\"say \\\"hi\\\" \\\\ back\"");
    char *back = s_json_roundtrip(&b);
    CHECK_STR(back, "say \"hi\" \\ back");
    free(back);
    buf_free(&b);
}

static void test_json_string_escapes_every_control_char(void)
{
    char in[32];
    for (int c = 1; c < 32; c++)
        in[c - 1] = (char)c;
    in[31] = '\0';
    buf_t b = BUF_INIT;
    buf_json_string(&b, in);
    CHECK(!buf_failed(&b));
    /* no raw control byte may survive */
    for (size_t i = 0; i < b.len; i++)
        CHECK((unsigned char)b.data[i] >= 0x20);
    CHECK(strstr(b.data, "\\n") != NULL);
    CHECK(strstr(b.data, "\\r") != NULL);
    CHECK(strstr(b.data, "\\t") != NULL);
    CHECK(strstr(b.data, "\\u0001") != NULL);
    CHECK(strstr(b.data, "\\u001f") != NULL);
    CHECK(strstr(b.data, "\\u000b") != NULL);
    char *back = s_json_roundtrip(&b);
    CHECK_STR(back, in);
    free(back);
    buf_free(&b);
}

static void test_json_string_passes_utf8_through(void)
{
    const char *s = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\x89 \xe6\x97\xa5\xe6\x9c\xac";
    buf_t b = BUF_INIT;
    buf_json_string(&b, s);
    CHECK_INT(b.len, strlen(s) + 2);
    CHECK_INT(b.data[0], '"');
    CHECK(memcmp(b.data + 1, s, strlen(s)) == 0);
    char *back = s_json_roundtrip(&b);
    CHECK_STR(back, s);
    free(back);
    buf_free(&b);
}

static void test_json_string_empty_and_appended_after_text(void)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"k\":");
    buf_json_string(&b, "");
    buf_putc(&b, '}');
    CHECK_STR(b.data, "{\"k\":\"\"}");
    json_t *j = json_loads(b.data, 0, NULL);
    CHECK(json_is_object(j));
    json_decref(j);
    buf_free(&b);
}

static void test_json_string_long_mixed_input(void)
{
    buf_t b = BUF_INIT, in = BUF_INIT;
    for (int i = 0; i < 500; i++)
        buf_puts(&in, "ab\"\\\n\x01\xc3\xa9");
    buf_json_string(&b, in.data);
    CHECK(!buf_failed(&b));
    char *back = s_json_roundtrip(&b);
    CHECK_STR(back, in.data);
    free(back);
    buf_free(&b);
    buf_free(&in);
}

static void test_release_hands_over_and_empties(void)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "hello");
    char *s = buf_release(&b);
    CHECK_STR(s, "hello");
    CHECK(b.data == NULL);
    CHECK_INT(b.len, 0);
    CHECK_INT(b.cap, 0);
    /* the buf is reusable after release and does not share s */
    buf_puts(&b, "again");
    CHECK_STR(b.data, "again");
    CHECK(b.data != s);
    CHECK_STR(s, "hello");
    free(s);
    buf_free(&b);
}

static void test_release_of_untouched_buf_is_empty_string(void)
{
    buf_t b = BUF_INIT;
    char *s = buf_release(&b);
    CHECK(s != NULL);
    CHECK_STR(s, "");
    free(s);
}

static void test_reset_empties_but_keeps_capacity(void)
{
    buf_t b = BUF_INIT;
    for (int i = 0; i < 100; i++)
        buf_puts(&b, "0123456789");
    size_t cap = b.cap;
    char *mem = b.data;
    buf_reset(&b);
    CHECK_INT(b.len, 0);
    CHECK_STR(b.data, "");
    CHECK_INT(b.cap, cap);
    CHECK(b.data == mem);
    buf_puts(&b, "new");
    CHECK_STR(b.data, "new");
    CHECK(b.data == mem);
    buf_free(&b);
    CHECK(b.data == NULL);
    CHECK_INT(b.cap, 0);
}

static void test_failed_buf_ignores_appends_and_releases_null(void)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "ok");
    b.failed = 1; /* as after a failed realloc */
    CHECK(buf_failed(&b));
    buf_puts(&b, "more");
    buf_printf(&b, "%0300d", 1);
    CHECK_INT(b.len, 2);
    CHECK(buf_release(&b) == NULL);
    CHECK(b.data == NULL);
    /* reset clears the flag */
    b.failed = 1;
    buf_reset(&b);
    CHECK(!buf_failed(&b));
    buf_puts(&b, "x");
    CHECK_STR(b.data, "x");
    buf_free(&b);
}

/* test_reserve_grows_once_and_keeps_content - appends within what was
 * reserved never move the data; a fresh reserve is already "" */
static void test_reserve_grows_once_and_keeps_content(void)
{
    buf_t b = BUF_INIT;
    CHECK_INT(buf_reserve(&b, 1000), 0);
    CHECK(b.data != NULL);
    CHECK_STR(b.data, "");
    CHECK_INT(b.len, 0);
    CHECK(b.cap >= 1001);
    buf_puts(&b, "abc");
    CHECK_INT(buf_reserve(&b, 997), 0);
    CHECK_STR(b.data, "abc");
    const char *before = b.data;
    for (int i = 0; i < 997; i++)
        buf_putc(&b, 'x');
    CHECK(b.data == before);
    CHECK_INT(b.len, 1000);
    CHECK(!buf_failed(&b));
    char *s = buf_release(&b);
    CHECK(s && strlen(s) == 1000 && memcmp(s, "abcx", 4) == 0);
    free(s);
}

/* test_reserve_too_much_fails_without_wrapping - a size that would wrap
 * len + n + 1 fails the buf instead of shrinking it */
static void test_reserve_too_much_fails_without_wrapping(void)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "abc");
    CHECK_INT(buf_reserve(&b, (size_t)-1 - 2), -1);
    CHECK(buf_failed(&b));
    buf_free(&b);
    char *r = buf_release(&b);
    CHECK_STR(r, "");
    free(r);
}

/* LEB128 as the journal's compact sealed blobs hold it: known encodings,
 * round trips at every width, and truncated or overlong input refused */
static void test_varint_round_trips_and_refuses_what_is_cut(void)
{
    buf_t b = BUF_INIT;
    buf_varint(&b, 0);
    buf_varint(&b, 127);
    buf_varint(&b, 300);
    CHECK_INT((long long)b.len, 4);
    CHECK_INT((unsigned char)b.data[0], 0);
    CHECK_INT((unsigned char)b.data[1], 0x7f);
    CHECK_INT((unsigned char)b.data[2], 0xac);
    CHECK_INT((unsigned char)b.data[3], 0x02);
    const uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, 1ull << 32, (1ull << 63) + 5, UINT64_MAX};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        buf_reset(&b);
        buf_varint(&b, vals[i]);
        size_t off = 0;
        uint64_t v = 1;
        CHECK_INT(buf_varint_get((const unsigned char *)b.data, b.len, &off, &v), 0);
        CHECK(v == vals[i]);
        CHECK_INT((long long)off, (long long)b.len);
        off = 0; /* one byte short: refused */
        CHECK_INT(buf_varint_get((const unsigned char *)b.data, b.len - 1, &off, &v), -1);
    }
    unsigned char over[11];
    memset(over, 0x80, sizeof over); /* never ends within 64 bits */
    size_t off = 0;
    uint64_t v;
    CHECK_INT(buf_varint_get(over, sizeof over, &off, &v), -1);
    buf_free(&b);
}

int main(void)
{
    UNIT_RUN(test_empty_buf_is_null_until_first_append);
    UNIT_RUN(test_many_appends_grow_and_keep_every_byte);
    UNIT_RUN(test_putc_and_puts_append_in_order);
    UNIT_RUN(test_embedded_nul_is_kept_by_append);
    UNIT_RUN(test_printf_short_and_long_output);
    UNIT_RUN(test_printf_exactly_at_the_256_byte_boundary);
    UNIT_RUN(test_json_string_escapes_quotes_and_backslash);
    UNIT_RUN(test_json_string_escapes_every_control_char);
    UNIT_RUN(test_json_string_passes_utf8_through);
    UNIT_RUN(test_json_string_empty_and_appended_after_text);
    UNIT_RUN(test_json_string_long_mixed_input);
    UNIT_RUN(test_release_hands_over_and_empties);
    UNIT_RUN(test_release_of_untouched_buf_is_empty_string);
    UNIT_RUN(test_reset_empties_but_keeps_capacity);
    UNIT_RUN(test_failed_buf_ignores_appends_and_releases_null);
    UNIT_RUN(test_reserve_grows_once_and_keeps_content);
    UNIT_RUN(test_reserve_too_much_fails_without_wrapping);
    UNIT_RUN(test_varint_round_trips_and_refuses_what_is_cut);
    return UNIT_END();
}
