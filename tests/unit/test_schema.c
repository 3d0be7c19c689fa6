/*
 * test_schema.c - unit tests for services/common/schema.c, the JSON Schema subset validator.
 *
 * Each keyword and format is checked with values that must pass and values
 * that must fail, with the exact path and message reported, because the
 * gateway returns those to API clients.  Compile errors (unknown keyword,
 * unknown format, ...) are checked too: they are how typos in proto/events
 * schemas get caught.
 */
#include "schema.h"
#include "unit.h"

#include <stdlib.h>

/* result_t - what one validation said */
typedef struct {
    int rc;
    char path[256];
    char msg[256];
} result_t;

/* compile - schema text to a schema, printing the reason on failure; caller destroys */
static schema_t *compile(const char *text)
{
    char err[256];
    schema_t *s = schema_new(text, err, sizeof err);
    if (!s)
        fprintf(stderr, "  compile failed: %s\n  schema: %s\n", err, text);
    return s;
}

/* compile_error - the error text for a schema that must not compile ("" if it compiled) */
static void compile_error(const char *text, char *err, size_t errlen)
{
    schema_t *s = schema_new(text, err, errlen);
    if (s) {
        snprintf(err, errlen, "%s", "");
        schema_destroy(&s);
    }
}

/* run - validate JSON text (any value, \u0000 allowed) against s */
static result_t run(const schema_t *s, const char *json)
{
    result_t r;
    memset(&r, 0, sizeof r);
    json_error_t jerr;
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v) {
        r.rc = 99;
        snprintf(r.msg, sizeof r.msg, "test JSON does not parse: %s", jerr.text);
        return r;
    }
    r.rc = schema_validate(s, v, r.path, sizeof r.path, r.msg, sizeof r.msg);
    json_decref(v);
    return r;
}

/* ok - 1 when json is valid against s */
static int ok(const schema_t *s, const char *json)
{
    result_t r = run(s, json);
    if (r.rc != 0)
        fprintf(stderr, "  %s -> rc %d, \"%s\": %s\n", json, r.rc, r.path, r.msg);
    return r.rc == 0;
}

/* bad - 1 when json is invalid against s (and the test JSON itself parsed) */
static int bad(const schema_t *s, const char *json)
{
    result_t r = run(s, json);
    if (r.rc != -1)
        fprintf(stderr, "  %s -> rc %d, expected a validation error\n", json, r.rc);
    return r.rc == -1;
}

/* format_schema - a schema {"type":"string","format":name}; caller destroys */
static schema_t *format_schema(const char *name)
{
    char text[128];
    snprintf(text, sizeof text, "{\"type\":\"string\",\"format\":\"%s\"}", name);
    return compile(text);
}

/* format_check - with the schema of format name, each of good (the text of a
 * JSON string, quotes left out) validates, each of wrong does not, and
 * refused is refused with msg */
static void format_check(const char *name, const char *const *good, const char *const *wrong,
                         const char *refused, const char *msg)
{
    schema_t *s = format_schema(name);
    CHECK(s);
    char json[600];
    for (; *good; good++) {
        snprintf(json, sizeof json, "\"%s\"", *good);
        CHECK(ok(s, json));
    }
    for (; *wrong; wrong++) {
        snprintf(json, sizeof json, "\"%s\"", *wrong);
        CHECK(bad(s, json));
    }
    snprintf(json, sizeof json, "\"%s\"", refused);
    CHECK_STR(run(s, json).msg, msg);
    schema_destroy(&s);
}

static void test_type_names_each_json_type(void)
{
    schema_t *s = compile("{\"type\":\"string\"}");
    CHECK(s);
    CHECK(ok(s, "\"x\""));
    result_t r = run(s, "5");
    CHECK_INT(r.rc, -1);
    CHECK_STR(r.path, "");
    CHECK_STR(r.msg, "must be a string");
    schema_destroy(&s);

    s = compile("{\"type\":\"boolean\"}");
    CHECK(ok(s, "true"));
    CHECK(ok(s, "false"));
    CHECK(bad(s, "0"));
    CHECK_STR(run(s, "null").msg, "must be a boolean");
    schema_destroy(&s);

    s = compile("{\"type\":\"null\"}");
    CHECK(ok(s, "null"));
    CHECK(bad(s, "false"));
    CHECK_STR(run(s, "{}").msg, "must be null");
    schema_destroy(&s);

    s = compile("{\"type\":\"object\"}");
    CHECK(ok(s, "{}"));
    CHECK_STR(run(s, "[]").msg, "must be an object");
    schema_destroy(&s);

    s = compile("{\"type\":\"array\"}");
    CHECK(ok(s, "[]"));
    CHECK_STR(run(s, "{}").msg, "must be an array");
    schema_destroy(&s);

    s = compile("{\"type\":\"number\"}");
    CHECK(ok(s, "1"));
    CHECK(ok(s, "1.5"));
    CHECK(bad(s, "true"));
    CHECK_STR(run(s, "\"1\"").msg, "must be a number");
    schema_destroy(&s);
}

static void test_type_integer_accepts_whole_reals_only(void)
{
    schema_t *s = compile("{\"type\":\"integer\"}");
    CHECK(s);
    CHECK(ok(s, "7"));
    CHECK(ok(s, "-7"));
    CHECK(ok(s, "1.0"));
    CHECK(ok(s, "1e3"));
    CHECK(bad(s, "1.5"));
    CHECK(bad(s, "true"));
    CHECK_STR(run(s, "0.1").msg, "must be an integer");
    schema_destroy(&s);
}

static void test_type_array_lists_every_allowed_type(void)
{
    schema_t *s = compile("{\"type\":[\"string\",\"null\"]}");
    CHECK(s);
    CHECK(ok(s, "\"a\""));
    CHECK(ok(s, "null"));
    CHECK_STR(run(s, "3").msg, "must be a string or null");
    schema_destroy(&s);

    s = compile("{\"type\":[\"null\",\"integer\",\"array\"]}");
    CHECK(ok(s, "[]"));
    CHECK(ok(s, "2"));
    CHECK_STR(run(s, "\"x\"").msg, "must be an integer, an array or null");
    schema_destroy(&s);
}

static void test_required_names_the_missing_property(void)
{
    schema_t *s = compile("{\"type\":\"object\",\"required\":[\"customer\"],"
                          "\"properties\":{\"customer\":{\"type\":\"object\","
                          "\"required\":[\"name\",\"email\"],"
                          "\"properties\":{\"email\":{\"type\":\"string\"}}}}}");
    CHECK(s);
    CHECK(ok(s, "{\"customer\":{\"name\":\"A\",\"email\":\"a@b.c\"}}"));
    result_t r = run(s, "{\"customer\":{\"name\":\"A\"}}");
    CHECK_INT(r.rc, -1);
    CHECK_STR(r.path, "customer.email");
    CHECK_STR(r.msg, "is required");
    r = run(s, "{}");
    CHECK_STR(r.path, "customer");
    CHECK_STR(r.msg, "is required");
    r = run(s, "{\"customer\":{\"name\":\"A\",\"email\":5}}");
    CHECK_STR(r.path, "customer.email");
    CHECK_STR(r.msg, "must be a string");
    schema_destroy(&s);
}

static void test_properties_apply_only_to_objects(void)
{
    schema_t *s = compile("{\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"]}");
    CHECK(s);
    /* without "type" the object keywords say nothing about other types */
    CHECK(ok(s, "5"));
    CHECK(ok(s, "[1]"));
    CHECK(ok(s, "{\"a\":\"x\",\"other\":1}"));
    CHECK(bad(s, "{\"a\":1}"));
    schema_destroy(&s);
}

static void test_additional_properties_false_rejects_unknown_fields(void)
{
    schema_t *s = compile("{\"type\":\"object\",\"additionalProperties\":false,"
                          "\"properties\":{\"sku\":{\"type\":\"string\"},"
                          "\"qty\":{\"type\":\"integer\"}}}");
    CHECK(s);
    CHECK(ok(s, "{\"sku\":\"A1\",\"qty\":2}"));
    CHECK(ok(s, "{}"));
    result_t r = run(s, "{\"sku\":\"A1\",\"colour\":\"red\"}");
    CHECK_INT(r.rc, -1);
    CHECK_STR(r.path, "colour");
    CHECK_STR(r.msg, "is not a known field");
    schema_destroy(&s);
}

static void test_additional_properties_schema_checks_the_rest(void)
{
    schema_t *s = compile("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"}},"
                          "\"additionalProperties\":{\"type\":\"integer\"}}");
    CHECK(s);
    CHECK(ok(s, "{\"id\":\"x\",\"a\":1,\"b\":2}"));
    result_t r = run(s, "{\"id\":\"x\",\"a\":1,\"b\":\"two\"}");
    CHECK_STR(r.path, "b");
    CHECK_STR(r.msg, "must be an integer");
    schema_destroy(&s);

    s = compile("{\"additionalProperties\":true}");
    CHECK(ok(s, "{\"anything\":[1,2]}"));
    schema_destroy(&s);
}

static void test_enum_lists_the_choices(void)
{
    schema_t *s = compile("{\"enum\":[\"a\",\"b\"]}");
    CHECK(s);
    CHECK(ok(s, "\"a\""));
    CHECK(ok(s, "\"b\""));
    result_t r = run(s, "\"c\"");
    CHECK_INT(r.rc, -1);
    CHECK_STR(r.msg, "must be one of: a, b");
    CHECK(bad(s, "\"A\""));
    schema_destroy(&s);

    s = compile("{\"enum\":[1,null,[1,2],{\"k\":true}]}");
    CHECK(ok(s, "1.0")); /* numbers compare by value */
    CHECK(ok(s, "null"));
    CHECK(ok(s, "[1.0,2]"));
    CHECK(ok(s, "{\"k\":true}"));
    CHECK(bad(s, "true")); /* true is not 1 */
    CHECK(bad(s, "[2,1]"));
    CHECK(bad(s, "{\"k\":1}"));
    CHECK_STR(run(s, "2").msg, "must be one of: 1, null, [1,2], {\"k\":true}");
    schema_destroy(&s);
}

static void test_const_requires_that_exact_value(void)
{
    schema_t *s = compile("{\"const\":\"order.created\"}");
    CHECK(s);
    CHECK(ok(s, "\"order.created\""));
    result_t r = run(s, "\"order.paid\"");
    CHECK_INT(r.rc, -1);
    CHECK_STR(r.msg, "must be order.created");
    schema_destroy(&s);

    s = compile("{\"const\":null}");
    CHECK(ok(s, "null"));
    CHECK(bad(s, "0"));
    schema_destroy(&s);

    s = compile("{\"const\":2}");
    CHECK(ok(s, "2.0"));
    CHECK(bad(s, "2.5"));
    schema_destroy(&s);
}

static void test_length_counts_code_points_not_bytes(void)
{
    schema_t *s = compile("{\"type\":\"string\",\"maxLength\":4}");
    CHECK(s);
    CHECK(ok(s, "\"\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87\"")); /* "żółć": 4 characters, 8 bytes */
    CHECK(ok(s, "\"\\ud83d\\ude00abc\""));               /* one emoji + 3 = 4 */
    result_t r = run(s, "\"\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87x\"");
    CHECK_INT(r.rc, -1);
    CHECK_STR(r.msg, "must be at most 4 characters");
    schema_destroy(&s);

    s = compile("{\"type\":\"string\",\"minLength\":5}");
    CHECK(bad(s, "\"\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87\""));
    CHECK(ok(s, "\"abcde\""));
    CHECK_STR(run(s, "\"abcd\"").msg, "must be at least 5 characters");
    schema_destroy(&s);

    s = compile("{\"minLength\":1}");
    CHECK_STR(run(s, "\"\"").msg, "must be at least 1 character");
    CHECK(ok(s, "[]")); /* string keywords ignore other types */
    schema_destroy(&s);
}

static void test_max_length_200_message(void)
{
    schema_t *s = compile("{\"type\":\"string\",\"maxLength\":200}");
    CHECK(s);
    char json[300];
    json[0] = '"';
    memset(json + 1, 'a', 201);
    json[202] = '"';
    json[203] = '\0';
    CHECK_STR(run(s, json).msg, "must be at most 200 characters");
    json[201] = '"';
    json[202] = '\0';
    CHECK(ok(s, json));
    schema_destroy(&s);
}

static void test_pattern_searches_as_posix_ere(void)
{
    schema_t *s = compile("{\"type\":\"string\",\"pattern\":\"^[A-Z]{2}-[0-9]+$\"}");
    CHECK(s);
    CHECK(ok(s, "\"PL-123\""));
    CHECK(bad(s, "\"pl-123\""));
    CHECK(bad(s, "\"PL-\""));
    CHECK_STR(run(s, "\"X\"").msg, "must match the pattern ^[A-Z]{2}-[0-9]+$");
    schema_destroy(&s);

    /* unanchored patterns search, as in ECMA */
    s = compile("{\"pattern\":\"b+\"}");
    CHECK(ok(s, "\"abbbc\""));
    CHECK(bad(s, "\"ac\""));
    CHECK(ok(s, "12")); /* not a string: pattern does not apply */
    schema_destroy(&s);

    /* "." is one character, not one byte */
    s = compile("{\"pattern\":\"^.{4}$\"}");
    CHECK(ok(s, "\"\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87\""));
    CHECK(bad(s, "\"abcdefgh\""));
    schema_destroy(&s);

    s = compile("{\"pattern\":\"^[^<>]{1,3}$\"}");
    CHECK(ok(s, "\"\xc5\xbc\xc3\xb3\xc5\x82\""));
    CHECK(bad(s, "\"a<b\""));
    schema_destroy(&s);
}

static void test_pattern_refuses_non_portable_regexes(void)
{
    char err[256];
    compile_error("{\"pattern\":\"^\\\\d+$\"}", err, sizeof err);
    CHECK(strstr(err, "not portable") != NULL);
    compile_error("{\"pattern\":\"(?:ab)+\"}", err, sizeof err);
    CHECK(strstr(err, "not portable") != NULL);
    compile_error("{\"pattern\":\"a+?\"}", err, sizeof err);
    CHECK(strstr(err, "not portable") != NULL);
    compile_error("{\"pattern\":\"[\\\\]]\"}", err, sizeof err);
    CHECK(strstr(err, "not portable") != NULL);
    compile_error("{\"pattern\":\"([a-z\"}", err, sizeof err);
    CHECK(strstr(err, "does not compile") != NULL);
    /* escaped punctuation is fine in both */
    schema_t *s = compile("{\"pattern\":\"^a\\\\.b$\"}");
    CHECK(s);
    CHECK(ok(s, "\"a.b\""));
    CHECK(bad(s, "\"axb\""));
    schema_destroy(&s);
}

static void test_numeric_bounds_inclusive_and_exclusive(void)
{
    schema_t *s = compile("{\"type\":\"number\",\"minimum\":1,\"maximum\":10}");
    CHECK(s);
    CHECK(ok(s, "1"));
    CHECK(ok(s, "10"));
    CHECK(ok(s, "10.0"));
    CHECK(ok(s, "5.5"));
    CHECK_STR(run(s, "0.5").msg, "must be at least 1");
    CHECK_STR(run(s, "11").msg, "must be at most 10");
    CHECK(bad(s, "10.000001"));
    schema_destroy(&s);

    s = compile("{\"exclusiveMinimum\":0,\"exclusiveMaximum\":2.5}");
    CHECK(ok(s, "0.001"));
    CHECK(ok(s, "2"));
    CHECK_STR(run(s, "0").msg, "must be greater than 0");
    CHECK_STR(run(s, "2.5").msg, "must be less than 2.5");
    CHECK(ok(s, "\"not a number\""));
    schema_destroy(&s);

    s = compile("{\"maximum\":9007199254740993}");
    CHECK(ok(s, "9007199254740993"));
    CHECK(bad(s, "9007199254740994"));
    schema_destroy(&s);
}

static void test_items_report_nested_paths(void)
{
    schema_t *s = compile(
        "{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":"
        "{\"type\":\"object\",\"required\":[\"sku\"],\"properties\":"
        "{\"sku\":{\"type\":\"string\",\"minLength\":1}}}}}}");
    CHECK(s);
    CHECK(ok(s, "{\"items\":[{\"sku\":\"A\"},{\"sku\":\"B\"}]}"));
    result_t r = run(s, "{\"items\":[{\"sku\":\"A\"},{\"sku\":7}]}");
    CHECK_INT(r.rc, -1);
    CHECK_STR(r.path, "items[1].sku");
    CHECK_STR(r.msg, "must be a string");
    r = run(s, "{\"items\":[{\"sku\":\"A\"},{\"sku\":\"B\"},{}]}");
    CHECK_STR(r.path, "items[2].sku");
    CHECK_STR(r.msg, "is required");
    r = run(s, "{\"items\":[{\"sku\":\"\"}]}");
    CHECK_STR(r.path, "items[0].sku");
    schema_destroy(&s);

    s = compile("{\"items\":{\"items\":{\"type\":\"integer\"}}}");
    r = run(s, "[[1],[2,\"x\"]]");
    CHECK_STR(r.path, "[1][1]");
    schema_destroy(&s);
}

static void test_item_and_property_counts(void)
{
    schema_t *s = compile("{\"minItems\":1,\"maxItems\":2}");
    CHECK(s);
    CHECK(ok(s, "[1]"));
    CHECK(ok(s, "[1,2]"));
    CHECK_STR(run(s, "[]").msg, "must have at least 1 item");
    CHECK_STR(run(s, "[1,2,3]").msg, "must have at most 2 items");
    schema_destroy(&s);

    s = compile("{\"minProperties\":1,\"maxProperties\":2}");
    CHECK(ok(s, "{\"a\":1}"));
    CHECK_STR(run(s, "{}").msg, "must have at least 1 property");
    CHECK_STR(run(s, "{\"a\":1,\"b\":2,\"c\":3}").msg, "must have at most 2 properties");
    CHECK(ok(s, "[]"));
    schema_destroy(&s);
}

static void test_ref_uses_root_defs(void)
{
    schema_t *s = compile(
        "{\"$defs\":{\"money\":{\"type\":\"object\",\"required\":[\"currency\"],"
        "\"properties\":{\"currency\":{\"type\":\"string\",\"format\":\"currency\"}}}},"
        "\"type\":\"object\",\"properties\":{\"total\":{\"$ref\":\"#/$defs/money\"},"
        "\"tax\":{\"$ref\":\"#/$defs/money\",\"description\":\"siblings apply too\","
        "\"required\":[\"rate\"]}}}");
    CHECK(s);
    CHECK(ok(s, "{\"total\":{\"currency\":\"PLN\"},\"tax\":{\"currency\":\"PLN\",\"rate\":1}}"));
    result_t r = run(s, "{\"total\":{\"currency\":\"pln\"}}");
    CHECK_STR(r.path, "total.currency");
    CHECK_STR(r.msg, "must be a currency code like EUR");
    r = run(s, "{\"tax\":{\"currency\":\"PLN\"}}");
    CHECK_STR(r.path, "tax.rate");
    CHECK_STR(r.msg, "is required");
    schema_destroy(&s);
}

static void test_ref_may_recurse(void)
{
    schema_t *s = compile(
        "{\"$ref\":\"#/$defs/node\",\"$defs\":{\"node\":{\"type\":\"object\","
        "\"properties\":{\"name\":{\"type\":\"string\"},"
        "\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}}}}}");
    CHECK(s);
    CHECK(ok(s, "{\"name\":\"a\",\"children\":[{\"name\":\"b\",\"children\":[]}]}"));
    result_t r = run(s, "{\"children\":[{\"children\":[{\"name\":1}]}]}");
    CHECK_STR(r.path, "children[0].children[0].name");
    schema_destroy(&s);

    /* a $ref loop that never reaches a value must end, not hang or overflow */
    s = compile("{\"$ref\":\"#/$defs/a\",\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},"
                "\"b\":{\"$ref\":\"#/$defs/a\"}}}");
    CHECK(s);
    r = run(s, "1");
    CHECK_INT(r.rc, -1);
    CHECK_STR(r.msg, "is nested too deeply");
    schema_destroy(&s);
}

static void test_one_of_reports_the_branch_that_got_furthest(void)
{
    schema_t *s = compile(
        "{\"oneOf\":["
        "{\"type\":\"object\",\"required\":[\"kind\",\"card\"],\"properties\":"
        "{\"kind\":{\"const\":\"card\"},\"card\":{\"type\":\"string\"}}},"
        "{\"type\":\"object\",\"required\":[\"kind\",\"iban\"],\"properties\":"
        "{\"kind\":{\"const\":\"bank\"},\"iban\":{\"type\":\"string\",\"maxLength\":4}}}]}");
    CHECK(s);
    CHECK(ok(s, "{\"kind\":\"card\",\"card\":\"x\"}"));
    CHECK(ok(s, "{\"kind\":\"bank\",\"iban\":\"PL12\"}"));
    result_t r = run(s, "{\"kind\":\"bank\",\"iban\":\"PL1234\"}");
    CHECK_INT(r.rc, -1);
    CHECK_STR(r.path, "iban");
    CHECK_STR(r.msg, "must be at most 4 characters");
    r = run(s, "7");
    CHECK_STR(r.path, "");
    CHECK_STR(r.msg, "must match one of the allowed forms");
    schema_destroy(&s);

    s = compile("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}");
    CHECK(ok(s, "-1"));   /* only the first */
    CHECK(ok(s, "0.5"));  /* only the second */
    r = run(s, "3");      /* both */
    CHECK_INT(r.rc, -1);
    CHECK_STR(r.msg, "must match exactly one of the allowed forms");
    schema_destroy(&s);

    /* one branch of the right type: its own message is the useful one */
    s = compile("{\"oneOf\":[{\"type\":\"string\",\"format\":\"date\"},{\"type\":\"null\"}]}");
    CHECK(ok(s, "null"));
    CHECK(ok(s, "\"2024-01-31\""));
    CHECK_STR(run(s, "\"2024-01-32\"").msg, "must be a date YYYY-MM-DD");
    CHECK_STR(run(s, "1").msg, "must match one of the allowed forms");
    schema_destroy(&s);
}

static void test_any_of_all_of_and_not(void)
{
    schema_t *s = compile("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}");
    CHECK(s);
    CHECK(ok(s, "\"a\""));
    CHECK(ok(s, "1"));
    result_t r = run(s, "1.5");
    CHECK_INT(r.rc, -1);
    CHECK_STR(r.msg, "must match one of the allowed forms");
    schema_destroy(&s);

    s = compile("{\"anyOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}");
    CHECK(ok(s, "3")); /* both match: fine for anyOf */
    schema_destroy(&s);

    s = compile("{\"allOf\":[{\"type\":\"string\"},{\"maxLength\":2}]}");
    CHECK(ok(s, "\"ab\""));
    CHECK_STR(run(s, "\"abc\"").msg, "must be at most 2 characters");
    CHECK_STR(run(s, "1").msg, "must be a string");
    schema_destroy(&s);

    s = compile("{\"type\":\"string\",\"not\":{\"enum\":[\"admin\",\"root\"]}}");
    CHECK(ok(s, "\"bob\""));
    r = run(s, "\"root\"");
    CHECK_INT(r.rc, -1);
    CHECK_STR(r.msg, "must not match the excluded form");
    schema_destroy(&s);
}

static void test_boolean_schemas(void)
{
    schema_t *s = compile("true");
    CHECK(s);
    CHECK(ok(s, "{\"a\":[1]}"));
    schema_destroy(&s);
    s = compile("false");
    CHECK(s);
    CHECK_STR(run(s, "1").msg, "is not allowed");
    schema_destroy(&s);
    s = compile("{\"properties\":{\"legacy\":false}}");
    result_t r = run(s, "{\"legacy\":1}");
    CHECK_STR(r.path, "legacy");
    CHECK_STR(r.msg, "is not allowed");
    CHECK(ok(s, "{\"other\":1}"));
    schema_destroy(&s);
}

static void test_nul_is_refused_in_strings(void)
{
    schema_t *s = compile("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}}}");
    CHECK(s);
    result_t r = run(s, "{\"name\":\"Bob\\u0000Alice\"}");
    CHECK_INT(r.rc, -1);
    CHECK_STR(r.path, "name");
    CHECK_STR(r.msg, "must not contain NUL");
    CHECK(ok(s, "{\"name\":\"Bob\"}"));
    schema_destroy(&s);

    /* also when the value came from code rather than the parser */
    s = compile("{\"enum\":[\"a\"],\"type\":\"string\"}");
    json_t *v = json_stringn("a\0", 2);
    char path[16], msg[64];
    CHECK_INT(schema_validate(s, v, path, sizeof path, msg, sizeof msg), -1);
    CHECK_STR(msg, "must not contain NUL");
    json_decref(v);
    schema_destroy(&s);
}

static void test_invalid_utf8_built_in_code_is_refused(void)
{
    schema_t *s = compile("{\"type\":\"string\"}");
    CHECK(s);
    json_t *v = json_stringn_nocheck("\xc3\x28", 2);
    char path[16], msg[64];
    CHECK_INT(schema_validate(s, v, path, sizeof path, msg, sizeof msg), -1);
    CHECK_STR(msg, "must be valid UTF-8");
    json_decref(v);
    schema_destroy(&s);
}

static void test_format_date(void)
{
    static const char *const good[] = {"2024-02-29", "2000-02-29", "2023-12-31", NULL};
    static const char *const wrong[] = {
        "2023-02-29", "1900-02-29", "2023-04-31", "2023-13-01", "2023-00-10", "0000-01-01",
        "2023-1-01", "20230101", "2023-01-01T00:00:00Z", NULL,
    };
    format_check("date", good, wrong, "2023-02-30", "must be a date YYYY-MM-DD");

    /* format only constrains strings */
    schema_t *s = compile("{\"format\":\"date\"}");
    CHECK(ok(s, "20230101"));
    schema_destroy(&s);
}

static void test_format_date_time(void)
{
    static const char *const good[] = {
        "2024-05-01T12:30:00Z", "2024-05-01T12:30:00.123456Z", "2024-05-01T12:30:00+02:00",
        "2024-05-01T23:59:59-05:30", "2024-05-01t12:30:00z", NULL,
    };
    static const char *const wrong[] = {
        "2024-05-01T12:30:00", /* no offset */
        "2024-05-01 12:30:00Z", /* space */
        "2024-05-01T24:00:00Z", "2024-05-01T12:60:00Z", "2024-05-01T12:30:00.Z",
        "2024-05-01T12:30:00+0200", "2023-02-29T12:30:00Z", "2024-05-01T12:30Z", "2024-05-01",
        NULL,
    };
    format_check("date-time", good, wrong, "yesterday",
                 "must be a date-time YYYY-MM-DDThh:mm:ssZ (RFC 3339)");
}

static void test_format_email(void)
{
    static const char *const good[] = {
        "bob@example.com", "bob.smith+tag@mail.example.co.uk", "zane@xn--przykad-fsb.pl", NULL,
    };
    static const char *const wrong[] = {
        /* no SMTPUTF8: libESMTP cannot send to it (mailbox.h) */
        "\xc5\xbc\x61\x6e\x65@przyk\xc5\x82\x61\x64.pl",
        "Bob\\r\\n", "bob@example.com\\r\\nBcc: x@y.z", "bob", "@example.com", "bob@",
        "bob@localhost", "bob@@example.com", "a@b@example.com", "bob smith@example.com",
        "bob@example.com, eve@example.com", "Bob <bob@example.com>", "bob@.example.com",
        "bob@example.com.", "bob@example..com",
        "bob\\u00a0x@example.com", /* no-break space */
        NULL,
    };
    format_check("email", good, wrong, "nope", "must be an e-mail address");

    schema_t *s = format_schema("email");
    char json[300];
    json[0] = '"';
    memset(json + 1, 'a', 65);
    memcpy(json + 66, "@example.com\"", 14); /* local part of 65 */
    CHECK(bad(s, json));
    memcpy(json + 65, "@example.com\"", 14); /* local part of 64 */
    CHECK(ok(s, json));
    schema_destroy(&s);
}

static void test_format_birthday(void)
{
    static const char *const good[] = {
        "1990-07-15", "2024-02-29", "--02-29", "--12-31",
        "1850-01-01", /* no lower bound on the year */
        NULL,
    };
    static const char *const wrong[] = {
        "2023-02-29", "--13-01", "--02-30", "--04-31", "--00-10", "-02-28", "02-28", NULL,
    };
    format_check("birthday", good, wrong, "July", "must be a birthday YYYY-MM-DD or --MM-DD");
}

static void test_format_timezone(void)
{
    static const char *const good[] = {
        "Europe/Warsaw", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "UTC", NULL,
    };
    static const char *const wrong[] = {
        "Mars/Olympus", "../etc/passwd", "Europe/../Europe/Warsaw",
        "/usr/share/zoneinfo/Europe/Warsaw",
        "Europe", /* a directory */
        "Europe/", "Europe//Warsaw", "Europe/Warsaw ", "zone.tab",
        "leapseconds", /* a file, but not TZif data */
        "localtime", "", NULL,
    };
    format_check("timezone", good, wrong, "Mars/Olympus",
                 "must be a known time zone like Europe/Warsaw");
}

static void test_format_locale(void)
{
    static const char *const good[] = {
        "en", "be", "pl-PL", "zh-Hans", "zh-Hans-CN", "es-419", "fil-PH", NULL,
    };
    static const char *const wrong[] = {
        "e", "engl", "pl_PL", "pl-", "pl-PL-", "pl-P", "pl-PL-Latn", "zh-Hans-CN-x", "en-12", "",
        NULL,
    };
    format_check("locale", good, wrong, "english", "must be a locale like en or pl-PL");
}

static void test_format_currency(void)
{
    static const char *const good[] = {"PLN", "EUR", NULL};
    static const char *const wrong[] = {"eur", "EU", "EURO", "E1R", NULL};
    format_check("currency", good, wrong, "zl", "must be a currency code like EUR");
}

static void test_format_duration(void)
{
    static const char *const good[] = {
        "90s", "2h", "7d", "15m", "1w",
        "9999999999s", /* 10 digits */
        NULL,
    };
    static const char *const wrong[] = {
        "12345678901s", /* 11 digits */
        "0s", "05m", "-5m", "5", "s", "5y", "5 m", "1h30m", "1.5h", NULL,
    };
    format_check("duration", good, wrong, "soon", "must be a duration like 90s, 2h or 7d");
}

static void test_compile_rejects_unknown_keyword_and_format(void)
{
    char err[256];
    compile_error("{\"type\":\"object\",\"properties\":{\"name\":{\"maxLenght\":3}}}", err,
                  sizeof err);
    CHECK_STR(err, "unknown keyword maxLenght (at #/properties/name)");
    compile_error("{\"format\":\"uuid\"}", err, sizeof err);
    CHECK_STR(err, "unknown format uuid (at #)");
    compile_error("{\"patternProperties\":{}}", err, sizeof err);
    CHECK(strstr(err, "unknown keyword") != NULL);
}

static void test_compile_rejects_malformed_schemas(void)
{
    char err[256];
    compile_error("{\"type\":", err, sizeof err);
    CHECK(strstr(err, "not valid JSON") != NULL);
    compile_error("{\"type\":\"string\",\"type\":\"integer\"}", err, sizeof err);
    CHECK(strstr(err, "not valid JSON") != NULL); /* duplicate keys */
    compile_error("{\"type\":\"text\"}", err, sizeof err);
    CHECK_STR(err, "unknown type text (at #)");
    compile_error("{\"minLength\":-1}", err, sizeof err);
    CHECK_STR(err, "minLength must be a non-negative integer (at #)");
    compile_error("{\"maximum\":\"5\"}", err, sizeof err);
    CHECK_STR(err, "maximum must be a number (at #)");
    compile_error("{\"items\":[{}]}", err, sizeof err);
    CHECK(strstr(err, "prefixItems") != NULL);
    compile_error("{\"enum\":[]}", err, sizeof err);
    CHECK_STR(err, "enum must be a non-empty array (at #)");
    compile_error("{\"required\":[\"a\",1]}", err, sizeof err);
    CHECK_STR(err, "required must be an array of strings (at #)");
    compile_error("{\"anyOf\":[{\"type\":\"string\"},5]}", err, sizeof err);
    CHECK_STR(err, "a schema must be an object or a boolean (at #/anyOf/1)");
    compile_error("{\"$ref\":\"#/$defs/missing\",\"$defs\":{}}", err, sizeof err);
    CHECK(strstr(err, "missing") != NULL);
    compile_error("{\"$ref\":\"other.json#/$defs/x\"}", err, sizeof err);
    CHECK(strstr(err, "$ref must be") != NULL);
    compile_error("{\"properties\":{\"a\":{\"$id\":\"a\"}}}", err, sizeof err);
    CHECK(strstr(err, "$id is only allowed at the root") != NULL);
    compile_error("5", err, sizeof err);
    CHECK(strstr(err, "object or a boolean") != NULL);
    CHECK(schema_new(NULL, err, sizeof err) == NULL);
    CHECK(schema_new_json(NULL, err, sizeof err) == NULL);
    /* a NULL or tiny err buffer is fine */
    CHECK(schema_new("{\"bogus\":1}", NULL, 0) == NULL);
    char tiny[8];
    CHECK(schema_new("{\"bogus\":1}", tiny, sizeof tiny) == NULL);
    CHECK_STR(tiny, "unknown");
}

static void test_annotations_and_x_keys_are_ignored(void)
{
    schema_t *s = compile("{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
                          "\"$id\":\"https://hark.example/order.json\",\"title\":\"t\","
                          "\"description\":\"d\",\"$comment\":\"c\",\"examples\":[1],"
                          "\"default\":{},\"x-hark-topic\":\"orders\",\"type\":\"object\"}");
    CHECK(s);
    CHECK(ok(s, "{}"));
    CHECK(bad(s, "[]"));
    schema_destroy(&s);
}

static void test_new_json_keeps_its_own_copy(void)
{
    json_t *doc = json_pack("{s:s, s:i}", "type", "string", "maxLength", 2);
    char err[128];
    schema_t *s = schema_new_json(doc, err, sizeof err);
    CHECK(s);
    CHECK_INT(doc->refcount, 1); /* the caller's reference is untouched */
    json_object_set_new(doc, "maxLength", json_integer(100));
    json_decref(doc);
    CHECK(ok(s, "\"ab\""));
    CHECK(bad(s, "\"abc\""));
    schema_destroy(&s);
}

static void test_destroy_is_safe_twice_and_on_null(void)
{
    schema_t *s = compile("{}");
    CHECK(s);
    schema_destroy(&s);
    CHECK(s == NULL);
    schema_destroy(&s);
    schema_destroy(NULL);
    CHECK(s == NULL);
}

static void test_validate_handles_null_and_small_buffers(void)
{
    schema_t *s = compile("{\"properties\":{\"\xc5\xbc\xc3\xb3\xc5\x82w\":{\"type\":\"string\"}}}");
    CHECK(s);
    json_t *v = json_loads("{\"\xc5\xbc\xc3\xb3\xc5\x82w\":1}", 0, NULL);
    char path[4], msg[64];
    CHECK_INT(schema_validate(s, v, path, sizeof path, msg, sizeof msg), -1);
    CHECK_STR(path, "\xc5\xbc"); /* cut at a character boundary, not mid-character */
    CHECK_STR(msg, "must be a string");
    CHECK_INT(schema_validate(s, v, NULL, 0, NULL, 0), -1);
    CHECK_INT(schema_validate(NULL, v, path, sizeof path, msg, sizeof msg), -1);
    CHECK_STR(msg, "no schema");
    CHECK_INT(schema_validate(s, NULL, path, sizeof path, msg, sizeof msg), -1);
    json_decref(v);
    v = json_loads("{\"\xc5\xbc\xc3\xb3\xc5\x82w\":\"ok\"}", 0, NULL);
    strcpy(msg, "stale");
    CHECK_INT(schema_validate(s, v, path, sizeof path, msg, sizeof msg), 0);
    CHECK_STR(msg, "");
    json_decref(v);
    schema_destroy(&s);
}

static void test_deep_values_fail_cleanly(void)
{
    schema_t *s = compile("{\"$ref\":\"#/$defs/any\",\"$defs\":{\"any\":"
                          "{\"items\":{\"$ref\":\"#/$defs/any\"}}}}");
    CHECK(s);
    CHECK(ok(s, "[[[[1]]]]"));
    char json[2 * 400 + 1];
    memset(json, '[', 400);
    memset(json + 400, ']', 400);
    json[800] = '\0';
    result_t r = run(s, json);
    CHECK_INT(r.rc, -1);
    CHECK_STR(r.msg, "is nested too deeply");
    schema_destroy(&s);

    /* and a schema nested too deep to compile is an error, not a crash */
    char text[12 * 300 + 8];
    size_t n = 0;
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(text + n, "{\"not\":");
    n += (size_t)sprintf(text + n, "{}");
    for (int i = 0; i < 300; i++)
        text[n++] = '}';
    text[n] = '\0';
    char err[128];
    CHECK(schema_new(text, err, sizeof err) == NULL);
    CHECK(strstr(err, "nested") != NULL);
}

/* the one nesting limit: max levels pass, one more is refused with the path */
static void test_depth_check_names_the_value_too_deep(void)
{
    char path[64];
    json_t *v = json_loads("{\"a\":{\"b\":[1,{\"c\":{}}]}}", 0, NULL);
    CHECK(v != NULL);
    CHECK_INT(schema_depth_check(v, 5, path, sizeof path), 0);
    CHECK_STR(path, "");
    CHECK_INT(schema_depth_check(v, 4, path, sizeof path), -1);
    CHECK_STR(path, "a.b[1].c");
    CHECK_INT(schema_depth_check(v, 1, path, sizeof path), -1);
    CHECK_STR(path, "a");
    json_decref(v);
    json_t *s = json_string("x"); /* scalars add no level */
    CHECK_INT(schema_depth_check(s, 0, path, sizeof path), 0);
    json_decref(s);
    /* 2,000 levels (jansson takes them): refused, the path cut to the buffer */
    json_t *deep = json_object();
    for (int i = 0; i < 2000; i++)
        deep = json_pack("{s:o}", "a", deep);
    CHECK_INT(schema_depth_check(deep, 32, path, sizeof path), -1);
    CHECK(strncmp(path, "a.a.a.", 6) == 0 && strlen(path) < sizeof path);
    CHECK_INT(schema_depth_check(deep, 32, NULL, 0), -1);
    json_decref(deep);
}

int main(void)
{
    UNIT_RUN(test_type_names_each_json_type);
    UNIT_RUN(test_type_integer_accepts_whole_reals_only);
    UNIT_RUN(test_type_array_lists_every_allowed_type);
    UNIT_RUN(test_required_names_the_missing_property);
    UNIT_RUN(test_properties_apply_only_to_objects);
    UNIT_RUN(test_additional_properties_false_rejects_unknown_fields);
    UNIT_RUN(test_additional_properties_schema_checks_the_rest);
    UNIT_RUN(test_enum_lists_the_choices);
    UNIT_RUN(test_const_requires_that_exact_value);
    UNIT_RUN(test_length_counts_code_points_not_bytes);
    UNIT_RUN(test_max_length_200_message);
    UNIT_RUN(test_pattern_searches_as_posix_ere);
    UNIT_RUN(test_pattern_refuses_non_portable_regexes);
    UNIT_RUN(test_numeric_bounds_inclusive_and_exclusive);
    UNIT_RUN(test_items_report_nested_paths);
    UNIT_RUN(test_item_and_property_counts);
    UNIT_RUN(test_ref_uses_root_defs);
    UNIT_RUN(test_ref_may_recurse);
    UNIT_RUN(test_one_of_reports_the_branch_that_got_furthest);
    UNIT_RUN(test_any_of_all_of_and_not);
    UNIT_RUN(test_boolean_schemas);
    UNIT_RUN(test_nul_is_refused_in_strings);
    UNIT_RUN(test_invalid_utf8_built_in_code_is_refused);
    UNIT_RUN(test_format_date);
    UNIT_RUN(test_format_date_time);
    UNIT_RUN(test_format_email);
    UNIT_RUN(test_format_birthday);
    UNIT_RUN(test_format_timezone);
    UNIT_RUN(test_format_locale);
    UNIT_RUN(test_format_currency);
    UNIT_RUN(test_format_duration);
    UNIT_RUN(test_compile_rejects_unknown_keyword_and_format);
    UNIT_RUN(test_compile_rejects_malformed_schemas);
    UNIT_RUN(test_annotations_and_x_keys_are_ignored);
    UNIT_RUN(test_new_json_keeps_its_own_copy);
    UNIT_RUN(test_destroy_is_safe_twice_and_on_null);
    UNIT_RUN(test_validate_handles_null_and_small_buffers);
    UNIT_RUN(test_deep_values_fail_cleanly);
    UNIT_RUN(test_depth_check_names_the_value_too_deep);
    return UNIT_END();
}
