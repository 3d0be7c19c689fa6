/*
 * test_mustache.c - unit tests for services/common/mustache.c.
 *
 * Runs the official Mustache spec suite (each spec file is one test, so a
 * failure names the file; mismatches print file, test name, expected and
 * got) from tests/spec/mustache (kept in the repository with its MIT
 * licence, so a plain clone needs nothing beside it) under $HARK_ROOT or the
 * current directory, with HTML escaping and each case's partials.
 * Then Hark's own needs: compile once / render many, the pluggable escaper,
 * syntax errors naming the line, and hostile templates (recursive partials,
 * deep nesting, truncated tags, output/step limits) failing cleanly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mustache.h"
#include "unit.h"

/* s_json_loader - partial loader over a JSON object of name -> text. */
static const char *s_json_loader(const char *name, void *arg)
{
    const json_t *v = json_object_get((const json_t *)arg, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* s_quote - JSON-quoted copy of s for messages; caller frees. */
static char *s_quote(const char *s)
{
    if (!s)
        return strdup("(null)");
    json_t *j = json_string(s);
    char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return q ? q : strdup("(unprintable)");
}

/* s_render - compile tpl, render it with data (JSON text) and partials
   (JSON text, may be NULL), HTML escaping; caller frees the result; NULL
   on error with the message in err. */
static char *s_render(const char *tpl, const char *data, const char *partials,
                      char *err, size_t errlen)
{
    mustache_t *t = mustache_new(tpl, err, errlen);
    if (!t)
        return NULL;
    json_t *ctx = data ? json_loads(data, JSON_DECODE_ANY, NULL) : NULL;
    json_t *parts = partials ? json_loads(partials, 0, NULL) : NULL;
    char *out = mustache_render(t, ctx, parts ? s_json_loader : NULL, parts,
                                NULL, NULL, err, errlen);
    json_decref(ctx);
    json_decref(parts);
    mustache_destroy(&t);
    return out;
}

/* s_spec_path - path of spec file `file` into buf. */
static void s_spec_path(char *buf, size_t size, const char *file)
{
    const char *root = getenv("HARK_ROOT");
    snprintf(buf, size, "%s/tests/spec/mustache/%s",
             root && *root ? root : ".", file);
}

/* s_run_spec - run every case of one spec file; CHECKs each. */
static void s_run_spec(const char *file)
{
    char path[4096];
    s_spec_path(path, sizeof path, file);
    json_error_t jerr;
    json_t *spec = json_load_file(path, JSON_DECODE_ANY, &jerr);
    if (!spec)
        fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
    CHECK(spec != NULL);
    json_t *tests = json_object_get(spec, "tests");
    CHECK(json_array_size(tests) > 0);

    size_t i, passed = 0;
    json_t *tc;
    json_array_foreach(tests, i, tc) {
        const char *name = json_string_value(json_object_get(tc, "name"));
        const char *tpl = json_string_value(json_object_get(tc, "template"));
        const char *want = json_string_value(json_object_get(tc, "expected"));
        json_t *parts = json_object_get(tc, "partials");
        char err[256] = "";
        char *got = NULL;
        mustache_t *t = mustache_new(tpl, err, sizeof err);
        if (t)
            got = mustache_render(t, json_object_get(tc, "data"),
                                  s_json_loader, parts, NULL, NULL,
                                  err, sizeof err);
        if (got && want && strcmp(got, want) == 0) {
            passed++;
        } else {
            char *qw = s_quote(want), *qg = s_quote(got);
            fprintf(stderr, "%s: \"%s\" failed%s%s\n  expected: %s\n"
                    "  got:      %s\n", file, name ? name : "?",
                    *err ? ": " : "", err, qw, qg);
            free(qw);
            free(qg);
            unit_failures_in_test++;
        }
        free(got);
        mustache_destroy(&t);
    }
    printf("     %s: %zu/%zu passed\n", file, passed, json_array_size(tests));
    json_decref(spec);
}

static void test_spec_comments(void) { s_run_spec("comments.json"); }
static void test_spec_delimiters(void) { s_run_spec("delimiters.json"); }
static void test_spec_interpolation(void) { s_run_spec("interpolation.json"); }
static void test_spec_inverted(void) { s_run_spec("inverted.json"); }
static void test_spec_partials(void) { s_run_spec("partials.json"); }
static void test_spec_sections(void) { s_run_spec("sections.json"); }

/* test_compile_once_render_many_contexts */
static void test_compile_once_render_many_contexts(void)
{
    char err[256];
    mustache_t *t = mustache_new(
        "Hi {{name}},\n"
        "{{#items}}\n"
        "- {{title}} x{{qty}}\n"
        "{{/items}}\n"
        "{{^items}}\n"
        "Your cart is empty.\n"
        "{{/items}}\n", err, sizeof err);
    CHECK(t != NULL);
    const char *data[] = {
        ("{\"name\":\"Ann\",\"items\":[{\"title\":\"Pen\",\"qty\":2},"
         "{\"title\":\"Ink\",\"qty\":1}]}"),
        "{\"name\":\"Bob\",\"items\":[]}",
        "{\"name\":\"<Cy>\",\"items\":[{\"title\":\"A&B\",\"qty\":1.5}]}",
    };
    const char *want[] = {
        "Hi Ann,\n- Pen x2\n- Ink x1\n",
        "Hi Bob,\nYour cart is empty.\n",
        "Hi &lt;Cy&gt;,\n- A&amp;B x1.5\n",
    };
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < 3; i++) {
            json_t *ctx = json_loads(data[i], 0, NULL);
            char *out = mustache_render(t, ctx, NULL, NULL, NULL, NULL,
                                        err, sizeof err);
            CHECK_STR(out, want[i]);
            free(out);
            json_decref(ctx);
        }
    }
    mustache_destroy(&t);
}

/* s_md_escape - test escaper: backslash before Markdown specials; counts
   its calls in *(int *)arg. */
static int s_md_escape(mustache_buf_t *out, const char *s, size_t len,
                       void *arg)
{
    (*(int *)arg)++;
    for (size_t i = 0; i < len; i++) {
        if (strchr("*_[]`\\", s[i]) && s[i] &&
            mustache_buf_append(out, "\\", 1))
            return -1;
        if (mustache_buf_append(out, s + i, 1))
            return -1;
    }
    return 0;
}

/* s_failing_escape - test escaper that always fails. */
static int s_failing_escape(mustache_buf_t *out, const char *s, size_t len,
                            void *arg)
{
    (void)out, (void)s, (void)len, (void)arg;
    return -1;
}

/* test_custom_escape_is_used_for_escaped_but_not_raw */
static void test_custom_escape_is_used_for_escaped_but_not_raw(void)
{
    char err[256];
    mustache_t *t = mustache_new("{{x}}|{{{x}}}|{{& x}}|{{n}}", err,
                                 sizeof err);
    CHECK(t != NULL);
    json_t *ctx = json_pack("{s:s, s:i}", "x", "*a_b* <c>", "n", 7);
    int calls = 0;
    char *out = mustache_render(t, ctx, NULL, NULL, s_md_escape, &calls,
                                err, sizeof err);
    CHECK_STR(out, "\\*a\\_b\\* <c>|*a_b* <c>|*a_b* <c>|7");
    CHECK_INT(calls, 2);                /* {{x}} and {{n}} only */
    free(out);

    out = mustache_render(t, ctx, NULL, NULL, NULL, NULL, err, sizeof err);
    CHECK_STR(out, "*a_b* &lt;c&gt;|*a_b* <c>|*a_b* <c>|7");
    free(out);

    out = mustache_render(t, ctx, NULL, NULL, s_failing_escape, NULL,
                          err, sizeof err);
    CHECK(out == NULL);
    CHECK_STR(err, "escape callback failed");
    json_decref(ctx);
    mustache_destroy(&t);
}

/* s_compile_error - the error message of compiling tpl (which must fail). */
static void s_compile_error(const char *tpl, char *err, size_t errlen)
{
    mustache_t *t = mustache_new(tpl, err, errlen);
    CHECK(t == NULL);
    mustache_destroy(&t);
}

/* test_syntax_errors_name_the_line */
static void test_syntax_errors_name_the_line(void)
{
    char err[256];
    s_compile_error("Hello\n{{name}}\n{{#items}}\n- {{.}}\n", err, sizeof err);
    CHECK_STR(err, "line 3: unclosed section 'items'");
    s_compile_error("a\n{{name", err, sizeof err);
    CHECK_STR(err, "line 2: unclosed tag");
    s_compile_error("{{{name}}\n", err, sizeof err);
    CHECK_STR(err, "line 1: unclosed tag");
    s_compile_error("{{#a}}\n{{/b}}", err, sizeof err);
    CHECK_STR(err, "line 2: closing tag 'b' does not match section 'a' "
                   "opened on line 1");
    s_compile_error("\n\n\n{{/x}}", err, sizeof err);
    CHECK_STR(err, "line 4: closing tag 'x' without an open section");
    s_compile_error("x\n{{= a =}}", err, sizeof err);
    CHECK_STR(err, "line 2: invalid set-delimiter tag");
    s_compile_error("{{=<% %>=}}\n\n<%#a%>", err, sizeof err);
    CHECK_STR(err, "line 3: unclosed section 'a'");
    s_compile_error("{{ }}", err, sizeof err);
    CHECK_STR(err, "line 1: empty tag");
    s_compile_error("\n{{first name}}", err, sizeof err);
    CHECK_STR(err, "line 2: invalid tag name 'first name'");
    s_compile_error("{{a..b}}", err, sizeof err);
    CHECK_STR(err, "line 1: invalid tag name 'a..b'");
    s_compile_error(NULL, err, sizeof err);
    CHECK_STR(err, "no template text");
    /* err may be NULL */
    CHECK(mustache_new("{{#x}}", NULL, 0) == NULL);
}

/* test_recursive_partial_stops_with_error */
static void test_recursive_partial_stops_with_error(void)
{
    char err[256];
    char *out = s_render("{{>loop}}", "{}", "{\"loop\":\"x{{>loop}}\"}",
                         err, sizeof err);
    CHECK(out == NULL);
    CHECK_STR(err, "partial 'loop' nested deeper than 32 "
                   "(recursive partial?)");
    free(out);

    /* mutual recursion, standalone so the indentation grows each level */
    out = s_render("{{>a}}", "{}", "{\"a\":\" {{>b}}\\n\",\"b\":\" {{>a}}\\n\"}",
                   err, sizeof err);
    CHECK(out == NULL);
    CHECK(strstr(err, "nested deeper than 32") != NULL);
    free(out);

    /* recursion that data stops within the limit is fine (the innermost
       "k" must be present, or lookup would find the parent's "k" again) */
    out = s_render("{{>n}}",
                   "{\"v\":1,\"k\":[{\"v\":2,\"k\":[{\"v\":3,\"k\":[]}]}]}",
                   "{\"n\":\"{{v}}{{#k}}({{>n}}){{/k}}\"}", err, sizeof err);
    CHECK_STR(out, "1(2(3))");
    free(out);

    /* a partial that does not compile is an error naming it */
    out = s_render("a {{>bad}}", "{}", "{\"bad\":\"\\n{{#x}}\"}", err,
                   sizeof err);
    CHECK(out == NULL);
    CHECK_STR(err, "partial 'bad': line 2: unclosed section 'x'");
    free(out);
}

/* test_very_deep_nesting_does_not_crash */
static void test_very_deep_nesting_does_not_crash(void)
{
    char err[256];
    enum { DEEP = 100000 };
    char *tpl = malloc(DEEP * 6 + 1);
    CHECK(tpl != NULL);
    if (!tpl)
        return;

    for (int i = 0; i < DEEP; i++)
        memcpy(tpl + i * 6, "{{#a}}", 6);
    tpl[DEEP * 6] = '\0';
    s_compile_error(tpl, err, sizeof err);
    CHECK_STR(err, "line 1: sections nested deeper than 100");

    memset(tpl, '{', DEEP * 6);         /* "{{{{{{..." */
    s_compile_error(tpl, err, sizeof err);
    CHECK_STR(err, "line 1: unclosed tag");

    /* exactly at the limit: compiles and renders */
    size_t o = 0;
    for (int i = 0; i < MUSTACHE_MAX_NESTING; i++, o += 6)
        memcpy(tpl + o, "{{#a}}", 6);
    tpl[o++] = 'x';
    for (int i = 0; i < MUSTACHE_MAX_NESTING; i++, o += 6)
        memcpy(tpl + o, "{{/a}}", 6);
    tpl[o] = '\0';
    char *out = s_render(tpl, "{\"a\":true}", NULL, err, sizeof err);
    CHECK_STR(out, "x");
    free(out);

    /* deep sections inside recursive partials hit the render depth cap */
    memmove(tpl + 606, tpl + 601, strlen(tpl + 601) + 1);
    memcpy(tpl + 600, "{{>p}}", 6);     /* the 'x' becomes {{>p}} */
    json_t *parts = json_object();
    json_object_set_new(parts, "p", json_string(tpl));
    mustache_t *t = mustache_new("{{>p}}", err, sizeof err);
    json_t *ctx = json_pack("{s:b}", "a", 1);
    out = mustache_render(t, ctx, s_json_loader, parts, NULL, NULL, err,
                          sizeof err);
    CHECK(out == NULL);
    CHECK(strstr(err, "nested deeper than") != NULL);
    free(out);
    json_decref(ctx);
    json_decref(parts);
    mustache_destroy(&t);

    /* deep data and a long dotted name */
    json_t *deep = json_string("bottom");
    for (int i = 0; i < 5000; i++)
        deep = json_pack("{s:o}", "a", deep);
    o = 0;
    tpl[o++] = '{';
    tpl[o++] = '{';
    for (int i = 0; i < 5000; i++) {
        tpl[o++] = 'a';
        tpl[o++] = '.';
    }
    o--;
    tpl[o++] = '}';
    tpl[o++] = '}';
    tpl[o] = '\0';
    t = mustache_new(tpl, err, sizeof err);
    out = mustache_render(t, deep, NULL, NULL, NULL, NULL, err, sizeof err);
    CHECK_STR(out, "bottom");
    free(out);
    mustache_destroy(&t);
    json_decref(deep);
    free(tpl);
}

/* test_every_prefix_of_a_template_is_safe: truncated tags of every kind
   must fail cleanly or render, never read past the end (ASan checks). */
static void test_every_prefix_of_a_template_is_safe(void)
{
    const char *full =
        "A {{x}} {{{x}}} {{& x}}\n"
        "  {{#list}}\n"
        "  * {{.}}{{! note }}\n"
        "  {{/list}}\n"
        "{{^none}}none{{/none}}\n"
        "  {{>p}}\n"
        "{{=<% %>=}}\n"
        "<%x%> <%{x}%> <%#list%><%.%><%/list%>\n"
        "<%={{ }}=%>{{a.b.c}}";
    const char *want =
        "A &lt;y&gt; <y> <y>\n"
        "  * 1\n"
        "  * 2\n"
        "none\n"
        "  P\n"
        "  &lt;y&gt;\n"
        "&lt;y&gt; <y> 12\n"
        "deep";
    json_t *ctx = json_loads("{\"x\":\"<y>\",\"list\":[1,2],"
                             "\"a\":{\"b\":{\"c\":\"deep\"}}}", 0, NULL);
    json_t *parts = json_pack("{s:s}", "p", "P\n{{x}}\n");
    size_t n = strlen(full);
    char *buf = malloc(n + 1);
    int rendered = 0;
    for (size_t len = 0; len <= n && buf; len++) {
        memcpy(buf, full, len);
        buf[len] = '\0';
        char err[256];
        mustache_t *t = mustache_new(buf, err, sizeof err);
        if (!t) {
            CHECK(strncmp(err, "line ", 5) == 0);
            continue;
        }
        char *out = mustache_render(t, ctx, s_json_loader, parts, NULL, NULL,
                                    err, sizeof err);
        CHECK(out != NULL);
        rendered++;
        if (len == n)
            CHECK_STR(out, want);
        free(out);
        mustache_destroy(&t);
    }
    CHECK(rendered > 10);
    free(buf);
    json_decref(ctx);
    json_decref(parts);
}

/* test_falsy_values_follow_javascript_truthiness */
static void test_falsy_values_follow_javascript_truthiness(void)
{
    const char *data =
        "{\"f\":false,\"n\":null,\"e\":[],\"s\":\"\",\"z\":0,\"zr\":0.0,"
        "\"t\":true,\"o\":{},\"s0\":\"0\",\"one\":1,\"l\":[0]}";
    const char *tpl =
        "{{^f}}f{{/f}}{{^n}}n{{/n}}{{^e}}e{{/e}}{{^s}}s{{/s}}{{^z}}z{{/z}}"
        "{{^zr}}zr{{/zr}}{{^missing}}m{{/missing}}|"
        "{{#t}}t{{/t}}{{#o}}o{{/o}}{{#s0}}s0{{/s0}}{{#one}}1{{/one}}"
        "{{#l}}[{{.}}]{{/l}}";
    char err[256];
    char *out = s_render(tpl, data, NULL, err, sizeof err);
    CHECK_STR(out, "fneszzrm|tos01[0]");
    free(out);
}

/* test_values_interpolate_in_shortest_form */
static void test_values_interpolate_in_shortest_form(void)
{
    static const struct { const char *json, *want; } cases[] = {
        { "1.21", "1.21" }, { "0.1", "0.1" }, { "3.0", "3" },
        { "-2.5", "-2.5" }, { "1e21", "1e+21" }, { "1e20",
          "100000000000000000000" }, { "1e-7", "1e-7" },
        { "0.000001", "0.000001" }, { "123456.789", "123456.789" },
        { "0.30000000000000004", "0.30000000000000004" },
        { "1.7976931348623157e308", "1.7976931348623157e+308" },
        { "-0.0", "0" }, { "9007199254740993", "9007199254740993" },
        { "-42", "-42" }, { "true", "true" }, { "false", "false" },
        { "null", "" }, { "[1,\"a\"]", "[1,\"a\"]" },
        { "{\"k\":1}", "{\"k\":1}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char data[128], err[256];
        snprintf(data, sizeof data, "{\"v\":%s}", cases[i].json);
        char *out = s_render("{{{v}}}", data, NULL, err, sizeof err);
        CHECK_STR(out, cases[i].want);
        free(out);
    }
    char err[256];
    char *out = s_render("[{{v}}]", NULL, NULL, err, sizeof err);
    CHECK_STR(out, "[]");                       /* NULL context */
    free(out);
}

/* test_nested_partials_indent_each_line */
static void test_nested_partials_indent_each_line(void)
{
    char err[256];
    char *out = s_render("<\n  {{>a}}\n>", "{\"t\":true,\"v\":\"1\\n2\"}",
                         "{\"a\":\"A1\\n  {{>b}}\\nA2\\n\","
                         "\"b\":\"B1\\n{{v}}\\n{{#t}}x\\n{{/t}}y\\n\"}",
                         err, sizeof err);
    CHECK_STR(out, "<\n  A1\n    B1\n    1\n2\n    x\n    y\n  A2\n>");
    free(out);
    /* an inline partial is not indented */
    out = s_render("  x {{>b}}\n", "{}", "{\"b\":\"1\\n2\"}", err, sizeof err);
    CHECK_STR(out, "  x 1\n2\n");
    free(out);
}

/* s_text_loader - loader returning the text pointed to by arg. */
static const char *s_text_loader(const char *name, void *arg)
{
    (void)name;
    return *(const char **)arg;
}

/* test_partial_cache_follows_loader_text */
static void test_partial_cache_follows_loader_text(void)
{
    char err[256];
    mustache_t *t = mustache_new("[{{>p}}]", err, sizeof err);
    const char *text = "one {{v}}";
    json_t *ctx = json_pack("{s:s}", "v", "V");
    char *out = mustache_render(t, ctx, s_text_loader, &text, NULL, NULL,
                                err, sizeof err);
    CHECK_STR(out, "[one V]");
    free(out);
    text = "two {{v}}";
    out = mustache_render(t, ctx, s_text_loader, &text, NULL, NULL, err,
                          sizeof err);
    CHECK_STR(out, "[two V]");
    free(out);
    text = NULL;
    out = mustache_render(t, ctx, s_text_loader, &text, NULL, NULL, err,
                          sizeof err);
    CHECK_STR(out, "[]");
    free(out);
    json_decref(ctx);
    mustache_destroy(&t);
}

/* s_reentrant_loader - loader that tries to render the template in arg. */
static const char *s_reentrant_loader(const char *name, void *arg)
{
    (void)name;
    char err[256];
    char *out = mustache_render((mustache_t *)arg, NULL, NULL, NULL, NULL,
                                NULL, err, sizeof err);
    CHECK(out == NULL);
    CHECK_STR(err, "template is already being rendered");
    free(out);
    return "ok";
}

/* test_render_reentry_is_refused */
static void test_render_reentry_is_refused(void)
{
    char err[256];
    mustache_t *t = mustache_new("{{>p}}", err, sizeof err);
    char *out = mustache_render(t, NULL, s_reentrant_loader, t, NULL, NULL,
                                err, sizeof err);
    CHECK_STR(out, "ok");
    free(out);
    mustache_destroy(&t);
}

/* test_output_and_step_limits_stop_a_render */
static void test_output_and_step_limits_stop_a_render(void)
{
    char err[256];
    mustache_t *t = mustache_new("{{#l}}abcdef{{/l}}", err, sizeof err);
    json_t *ctx = json_loads("{\"l\":[1,2,3]}", 0, NULL);
    mustache_set_limits(t, 12, 0);
    char *out = mustache_render(t, ctx, NULL, NULL, NULL, NULL, err,
                                sizeof err);
    CHECK(out == NULL);
    CHECK_STR(err, "output exceeds 12 bytes");
    mustache_set_limits(t, 18, 0);
    out = mustache_render(t, ctx, NULL, NULL, NULL, NULL, err, sizeof err);
    CHECK_STR(out, "abcdefabcdefabcdef");
    free(out);
    json_decref(ctx);
    mustache_destroy(&t);

    /* 2^20 partial calls, no output: the step limit stops it */
    json_t *parts = json_object();
    for (int i = 0; i < 20; i++) {
        char name[16], body[64];
        snprintf(name, sizeof name, "p%d", i);
        snprintf(body, sizeof body, "{{>p%d}}{{>p%d}}", i + 1, i + 1);
        json_object_set_new(parts, name, json_string(body));
    }
    t = mustache_new("{{>p0}}", err, sizeof err);
    mustache_set_limits(t, 0, 10000);
    out = mustache_render(t, NULL, s_json_loader, parts, NULL, NULL, err,
                          sizeof err);
    CHECK(out == NULL);
    CHECK_STR(err, "render exceeded 10000 steps");
    json_decref(parts);
    mustache_destroy(&t);
}

/* test_destroy_is_safe_on_null_and_twice */
static void test_destroy_is_safe_on_null_and_twice(void)
{
    char err[64];
    mustache_t *t = mustache_new("x", err, sizeof err);
    CHECK(t != NULL);
    mustache_destroy(&t);
    CHECK(t == NULL);
    mustache_destroy(&t);
    mustache_destroy(NULL);
    CHECK(mustache_render(NULL, NULL, NULL, NULL, NULL, NULL, err,
                          sizeof err) == NULL);
    CHECK_STR(err, "no template");
}

/* test_renders_of_one_template_grow_and_shrink - each render starts with
 * the room the last one needed; big, empty, small and big again all come
 * out whole */
static void test_renders_of_one_template_grow_and_shrink(void)
{
    mustache_t *t = mustache_new("<{{{v}}}>", NULL, 0);
    CHECK(t != NULL);
    static const size_t sizes[] = {5000, 0, 3, 70000, 10};
    for (size_t i = 0; t && i < sizeof sizes / sizeof sizes[0]; i++) {
        char *v = malloc(sizes[i] + 1);
        memset(v, 'x', sizes[i]);
        v[sizes[i]] = '\0';
        json_t *ctx = json_pack("{s:s}", "v", v);
        char *out = mustache_render(t, ctx, NULL, NULL, NULL, NULL, NULL, 0);
        CHECK(out && strlen(out) == sizes[i] + 2 && out[0] == '<' &&
              out[sizes[i] + 1] == '>' && strspn(out + 1, "x") == sizes[i]);
        free(out);
        json_decref(ctx);
        free(v);
    }
    mustache_destroy(&t);
}

int main(void)
{
    UNIT_RUN(test_spec_comments);
    UNIT_RUN(test_spec_delimiters);
    UNIT_RUN(test_spec_interpolation);
    UNIT_RUN(test_spec_inverted);
    UNIT_RUN(test_spec_partials);
    UNIT_RUN(test_spec_sections);
    UNIT_RUN(test_compile_once_render_many_contexts);
    UNIT_RUN(test_custom_escape_is_used_for_escaped_but_not_raw);
    UNIT_RUN(test_syntax_errors_name_the_line);
    UNIT_RUN(test_recursive_partial_stops_with_error);
    UNIT_RUN(test_very_deep_nesting_does_not_crash);
    UNIT_RUN(test_every_prefix_of_a_template_is_safe);
    UNIT_RUN(test_falsy_values_follow_javascript_truthiness);
    UNIT_RUN(test_values_interpolate_in_shortest_form);
    UNIT_RUN(test_nested_partials_indent_each_line);
    UNIT_RUN(test_partial_cache_follows_loader_text);
    UNIT_RUN(test_render_reentry_is_refused);
    UNIT_RUN(test_output_and_step_limits_stop_a_render);
    UNIT_RUN(test_destroy_is_safe_on_null_and_twice);
    UNIT_RUN(test_renders_of_one_template_grow_and_shrink);
    return UNIT_END();
}
