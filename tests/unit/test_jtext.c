/*
 * test_jtext.c - the fast JSON reader and writer (services/common/jtext.c)
 * against jansson's: for every input the
 * reader gives the tree json_loadb(JSON_REJECT_DUPLICATES) gives, or
 * leaves the input to it; the writer gives json_dumps(JSON_COMPACT)'s
 * bytes.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jtext.h"
#include "unit.h"

/* s_same_as_jansson - jtext_load reads text as json_loadb does */
static int s_same_as_jansson(const char *text)
{
    json_error_t e1, e2;
    size_t n = strlen(text);
    json_t *a = jtext_load(text, n, &e1);
    json_t *b = json_loadb(text, n, JSON_REJECT_DUPLICATES, &e2);
    int same = (!a && !b && strcmp(e1.text, e2.text) == 0) || (a && b && json_equal(a, b));
    if (!same)
        fprintf(stderr, "differs from jansson: %s\n", text);
    json_decref(a);
    json_decref(b);
    return same;
}

static void test_reader_reads_the_usual_body_itself(void)
{
    const char *body = "{\"type\":\"customer\",\"data\":{\"id\":\"c1\",\"email\":\"a@example.com\","
                       "\"attributes\":{\"visits\":-12,\"newsletter\":true,\"x\":null,"
                       "\"n\":false,\"list\":[1,2,[],{}]}}}";
    json_t *v = jtext_fast(body, strlen(body));
    CHECK(v != NULL);
    CHECK(s_same_as_jansson(body));
    CHECK_INT(json_integer_value(json_object_get(
                  json_object_get(json_object_get(v, "data"), "attributes"), "visits")),
              -12);
    json_decref(v);
    CHECK(s_same_as_jansson(" [ {\"a\" : 1 } ,\n{\"b\":\"\"}\t]\r\n"));
    CHECK(s_same_as_jansson("[0,-0,123456789012345678]"));
}

static void test_reader_leaves_everything_else_to_jansson(void)
{
    /* each is either refused by jansson or outside the fast reader's
     * shape; either way the result (and error) must be jansson's */
    const char *cases[] = {
        "",
        "   ",
        "\"a string\"",
        "12",
        "{\"a\":1,\"a\":2}",                 /* a duplicate */
        "{\"a\":\"\\u0000\"}",               /* NUL */
        "{\"a\":\"tab\\there\"}",            /* an escape */
        "{\"a\":\"\\ud800\"}",               /* a lone surrogate */
        "{\"a\":\"caf\xc3\xa9\"}",           /* UTF-8 */
        "{\"a\":\"bad \xc3\x28\"}",          /* invalid UTF-8 */
        "{\"a\":\"raw\ttab\"}",              /* a control character */
        "{\"a\":1.5}",
        "{\"a\":1e3}",
        "{\"a\":01}",
        "{\"a\":-}",
        "{\"a\":1234567890123456789}",
        "{\"a\":99999999999999999999999}",   /* too big for jansson */
        "{\"a\":truex}",
        "{\"a\":tru}",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{\"a\":1} extra",
        "{\"a\":1}{}",
        "[1 2]",
        "{\"a\":[1,2}",
        "{\"a\":\"unterminated",
        "\xef\xbb\xbf{}",                    /* a BOM */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK(s_same_as_jansson(cases[i]));
    char deep[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    for (int i = 0; i < 100; i++)
        strcat(deep, "]");
    CHECK(s_same_as_jansson(deep));
    /* an embedded NUL after the value */
    json_error_t e;
    CHECK(jtext_load("{}\0{}", 5, &e) == NULL);
}

/* s_writes_as_jansson - jtext_write gives json_dumps' bytes */
static int s_writes_as_jansson(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!v)
        return 0;
    buf_t b = BUF_INIT;
    jtext_write(&b, v, 0);
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    int same = want && b.data && strcmp(b.data, want) == 0;
    if (!same)
        fprintf(stderr, "written %s, jansson %s\n", b.data ? b.data : "(null)", want);
    free(want);
    buf_free(&b);
    json_decref(v);
    return same;
}

static void test_writer_writes_what_json_dumps_writes(void)
{
    CHECK(s_writes_as_jansson("{\"b\":1,\"a\":[true,false,null,-9223372036854775808,0],\"c\":{}}"));
    CHECK(s_writes_as_jansson("[\"quote \\\" backslash \\\\ slash / \\b\\f\\n\\r\\t \\u0001 \\u001f\"]"));
    CHECK(s_writes_as_jansson("[\"caf\xc3\xa9 \xe4\xb8\xad \\u2028 \\ud83d\\ude00\", \"\\u007f\"]"));
    CHECK(s_writes_as_jansson("{\"r\":1.5,\"e\":1e300,\"s\":[]}"));
    CHECK(s_writes_as_jansson("{\"key \\\"q\\\"\":\"\"}"));
    json_t *r = json_real(33.299999999999997);
    buf_t b = BUF_INIT;
    jtext_write(&b, r, JSON_REAL_PRECISION(6));
    CHECK_STR(b.data, "33.3");
    buf_free(&b);
    json_decref(r);
    b = (buf_t)BUF_INIT;
    jtext_string(&b, "a\"b");
    CHECK_STR(b.data, "\"a\\\"b\"");
    buf_free(&b);
}

int main(void)
{
    UNIT_RUN(test_reader_reads_the_usual_body_itself);
    UNIT_RUN(test_reader_leaves_everything_else_to_jansson);
    UNIT_RUN(test_writer_writes_what_json_dumps_writes);
    return UNIT_END();
}
