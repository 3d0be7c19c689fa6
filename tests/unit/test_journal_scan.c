/*
 * test_journal_scan.c - unit tests for services/journal/journal_scan.c.
 *
 * The scanner may only say yes where jansson (json_loadb with
 * JSON_REJECT_DUPLICATES) and the journal's checks say yes too, and must
 * then hand back the same type, key and occurred_at and a compact payload
 * text that jansson reads as the same value.  Hand-picked cases for each
 * rule, then a differential run: random valid bodies (which the fast path
 * must take) and random mutations of them (where every yes is checked
 * against jansson).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "journal_scan.h"
#include "unit.h"

/* s_scan - journal_scan_append on a private copy of text; its result */
static int s_scan(const char *text, journal_scan_list_t *l, char **copy)
{
    size_t n = strlen(text);
    *copy = malloc(n + 1);
    memcpy(*copy, text, n + 1);
    return journal_scan_append(*copy, n, l);
}

/* s_rc - just the result for text */
static int s_rc(const char *text)
{
    journal_scan_list_t l = {0};
    char *copy;
    int rc = s_scan(text, &l, &copy);
    free(copy);
    journal_scan_list_free(&l);
    return rc;
}

/* s_journal_ok - the journal's own rules on a parsed body (journal_serve.c s_check_append) */
static int s_journal_ok(const json_t *body)
{
    json_t *events = json_object_get(body, "events");
    if (!json_is_array(events) || json_array_size(events) == 0 || json_object_size(body) != 1)
        return 0;
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)e, k, v) {
            if (strcmp(k, "type") && strcmp(k, "key") && strcmp(k, "payload") &&
                strcmp(k, "occurred_at"))
                return 0;
        }
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *key = json_string_value(json_object_get(e, "key"));
        json_t *occ = json_object_get(e, "occurred_at");
        int64_t ms;
        if (!json_is_object(e) || !type || !*type || strlen(type) > 64 || !key || !*key ||
            strlen(key) > 512 || !json_is_object(json_object_get(e, "payload")))
            return 0;
        if (occ && (!json_is_string(occ) || clock_parse(json_string_value(occ), &ms)))
            return 0;
    }
    return 1;
}

/* s_span_is - a span equals a C string */
static int s_span_is(const char *s, size_t n, const char *want)
{
    return want && strlen(want) == n && memcmp(s, want, n) == 0;
}

/* s_compact_text - no whitespace outside strings */
static int s_compact_text(const char *s, size_t n)
{
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        if (in) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in = 0;
        } else if (s[i] == '"') {
            in = 1;
        } else if (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r') {
            return 0;
        }
    }
    return 1;
}

static int s_agree_failures;

/* s_agree - scan text and hold the result against jansson; returns the scan result.
   A JSCAN_OK must be jansson's yes with the same events. */
static int s_agree(const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    journal_scan_list_t l = {0};
    int rc = journal_scan_append(copy, len, &l);
    if (rc == JSCAN_OK) {
        json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        int good = doc && json_is_object(doc) && s_journal_ok(doc);
        json_t *events = json_object_get(doc, "events");
        if (good && json_array_size(events) != l.n)
            good = 0;
        for (size_t i = 0; good && i < l.n; i++) {
            json_t *e = json_array_get(events, i);
            journal_scan_event_t *ev = &l.ev[i];
            const char *occ = json_string_value(json_object_get(e, "occurred_at"));
            json_t *p = json_loadb(ev->payload, ev->payload_len, JSON_REJECT_DUPLICATES, NULL);
            good = s_span_is(ev->type, ev->type_len,
                             json_string_value(json_object_get(e, "type"))) &&
                   s_span_is(ev->key, ev->key_len, json_string_value(json_object_get(e, "key"))) &&
                   (occ ? ev->occurred_at && s_span_is(ev->occurred_at, ev->occurred_at_len, occ)
                        : !ev->occurred_at) &&
                   p && json_equal(p, json_object_get(e, "payload")) &&
                   s_compact_text(ev->payload, ev->payload_len);
            json_decref(p);
        }
        if (!good) {
            s_agree_failures++;
            fprintf(stderr, "scanner said yes, jansson disagrees: %.*s\n", (int)len, text);
        }
        json_decref(doc);
    } else if (memcmp(copy, text, len) != 0) {
        s_agree_failures++;
        fprintf(stderr, "scanner changed a body it did not take: %.*s\n", (int)len, text);
    }
    if (rc != JSCAN_OK && l.n != 0) {
        s_agree_failures++;
        fprintf(stderr, "scanner left events behind: %.*s\n", (int)len, text);
    }
    free(copy);
    journal_scan_list_free(&l);
    return rc;
}

static void test_takes_a_plain_body_and_points_into_it(void)
{
    journal_scan_list_t l = {0};
    char *body;
    CHECK_INT(s_scan("{\"events\":[{\"type\":\"customer\",\"key\":\"k1\",\"payload\":{\"a\":1}},"
                     "{\"payload\":{},\"occurred_at\":\"2026-01-02T03:04:05Z\",\"key\":\"k2\","
                     "\"type\":\"t\"}]}",
                     &l, &body),
              JSCAN_OK);
    CHECK_INT(l.n, 2);
    CHECK(s_span_is(l.ev[0].type, l.ev[0].type_len, "customer"));
    CHECK(s_span_is(l.ev[0].key, l.ev[0].key_len, "k1"));
    CHECK(s_span_is(l.ev[0].payload, l.ev[0].payload_len, "{\"a\":1}"));
    CHECK(l.ev[0].occurred_at == NULL);
    CHECK(l.ev[0].type > body && l.ev[0].type < body + strlen(body));
    CHECK(s_span_is(l.ev[1].occurred_at, l.ev[1].occurred_at_len, "2026-01-02T03:04:05Z"));
    CHECK(s_span_is(l.ev[1].payload, l.ev[1].payload_len, "{}"));
    /* a second request appends after the first */
    char *body2;
    CHECK_INT(s_scan("{\"events\":[{\"type\":\"x\",\"key\":\"k3\",\"payload\":{}}]}", &l, &body2),
              JSCAN_OK);
    CHECK_INT(l.n, 3);
    CHECK(s_span_is(l.ev[2].key, l.ev[2].key_len, "k3"));
    /* and a refused one leaves the list as it was */
    char *body3;
    CHECK_INT(s_scan("{\"events\":[{\"type\":\"x\",\"key\":\"k4\",\"payload\":{}},{}]}", &l, &body3),
              JSCAN_SLOW);
    CHECK_INT(l.n, 3);
    free(body);
    free(body2);
    free(body3);
    journal_scan_list_free(&l);
}

static void test_compacts_the_payload_in_place(void)
{
    journal_scan_list_t l = {0};
    char *body;
    CHECK_INT(s_scan(" \n{ \"events\" : [ { \"type\" : \"t\" , \"key\" : \"k\" , \"payload\" : "
                     "{ \"a\" : [ 1 , 2.5e3 , \"x y\\\" \" ] ,\r\n\t\"b\" : { } , \"c\":null } } ] } \n",
                     &l, &body),
              JSCAN_OK);
    CHECK_INT(l.n, 1);
    CHECK(s_span_is(l.ev[0].payload, l.ev[0].payload_len,
                    "{\"a\":[1,2.5e3,\"x y\\\" \"],\"b\":{},\"c\":null}"));
    free(body);
    journal_scan_list_free(&l);
}

static void test_leaves_every_bad_body_to_jansson(void)
{
    const char *bad[] = {
        "",
        "[]",
        "{}",
        "{\"events\":[]}",
        "{\"events\":{}}",
        "{\"events\":[{}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\"}]}",
        "{\"events\":[{\"type\":\"t\",\"payload\":{}}]}",
        "{\"events\":[{\"key\":\"k\",\"payload\":{}}]}",
        "{\"events\":[{\"type\":\"\",\"key\":\"k\",\"payload\":{}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"\",\"payload\":{}}]}",
        "{\"events\":[{\"type\":1,\"key\":\"k\",\"payload\":{}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":[]}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{},\"extra\":1}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{},\"occurred_at\":\"yesterday\"}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{},\"occurred_at\":null}]}",
        "{\"events\":[{\"type\":\"t\",\"type\":\"t\",\"key\":\"k\",\"payload\":{}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{}}],\"more\":1}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{}}],\"events\":[]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{}},]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{}}]} x",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{}}]",
        /* payload JSON jansson refuses */
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":1,\"a\":2}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"o\":{\"a\":1,\"b\":{},\"a\":2}}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":01}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":1.}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":.5}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":1e}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":-}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":+1}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":1e400}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":99999999999999999999}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":tru}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":truex}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":NaN}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":\"\\u0000\"}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":\"\\ud800\"}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":\"\\udc00\"}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":\"\\ud800\\u0041\"}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":\"\\x\"}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":\"\\u12\"}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":\"tab\there\"}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":\"\xc3\"}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":\"\xc0\xaf\"}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":\"\xed\xa0\x80\"}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":\"\xf4\x90\x80\x80\"}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":\"\xff\"}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\" 1}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":1 \"b\":2}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":[1,]}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{1:2}}]}",
        /* good for jansson, but not taken here: jansson decides */
        "{\"events\":[{\"type\":\"t\\u0041\",\"key\":\"k\",\"payload\":{}}]}",
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"\\u0061\":1,\"a\":2}}]}",
        "{\"ev\\u0065nts\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (s_rc(bad[i]) != JSCAN_SLOW) {
            fprintf(stderr, "taken: %s\n", bad[i]);
            CHECK(0);
        }
        s_agree(bad[i], strlen(bad[i]));
    }
    /* a body with a NUL byte inside */
    static const char nul[] = "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":\"x\0\"}}]}";
    journal_scan_list_t l = {0};
    char copy[sizeof nul];
    memcpy(copy, nul, sizeof nul);
    CHECK_INT(journal_scan_append(copy, sizeof nul - 1, &l), JSCAN_SLOW);
    journal_scan_list_free(&l);
    CHECK_INT(s_agree_failures, 0);
}

static void test_takes_what_jansson_takes_in_the_payload(void)
{
    const char *good[] = {
        "{\"a\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \x7f\"}",
        "{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\\uffff\"}",
        "{\"a\":[0,-0,-1,123456789012345678,-123456789012345678,0.5,-0.0,1e299,1E-300,"
        "2.5e+10,1e0]}",
        "{\"\":{\"\":[[],{},[[[]]]]},\"b\":true,\"c\":false,\"d\":null}",
        "{\"same\":{\"same\":{\"same\":1}},\"x\":{\"same\":2}}",
    };
    char body[1024];
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        snprintf(body, sizeof body,
                 "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":%s}]}", good[i]);
        CHECK_INT(s_agree(body, strlen(body)), JSCAN_OK);
    }
    snprintf(body, sizeof body,
             "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"occurred_at\":\"2026-02-03T04:05:06.789+01:00\","
             "\"payload\":{}}]}");
    CHECK_INT(s_agree(body, strlen(body)), JSCAN_OK);
    CHECK_INT(s_agree_failures, 0);
}

static void test_type_and_key_lengths_are_the_journals(void)
{
    char type[70], key[520], body[1200];
    memset(type, 't', sizeof type);
    memset(key, 'k', sizeof key);
    snprintf(body, sizeof body, "{\"events\":[{\"type\":\"%.64s\",\"key\":\"%.512s\",\"payload\":{}}]}",
             type, key);
    CHECK_INT(s_agree(body, strlen(body)), JSCAN_OK);
    snprintf(body, sizeof body, "{\"events\":[{\"type\":\"%.65s\",\"key\":\"k\",\"payload\":{}}]}",
             type);
    CHECK_INT(s_rc(body), JSCAN_SLOW);
    snprintf(body, sizeof body, "{\"events\":[{\"type\":\"t\",\"key\":\"%.513s\",\"payload\":{}}]}",
             key);
    CHECK_INT(s_rc(body), JSCAN_SLOW);
    /* 64 bytes of UTF-8 is 64, as strlen counts */
    snprintf(body, sizeof body, "{\"events\":[{\"type\":\"%s\",\"key\":\"k\",\"payload\":{}}]}",
             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
             "\xc3\xa9\xc3\xa9x");
    CHECK_INT(s_rc(body), JSCAN_SLOW);
    CHECK_INT(s_agree_failures, 0);
}

static void test_nesting_and_wide_objects_go_to_jansson(void)
{
    char body[4096];
    size_t n = (size_t)snprintf(body, sizeof body,
                                "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{\"a\":");
    for (int i = 0; i < 100; i++)
        body[n++] = '[';
    for (int i = 0; i < 100; i++)
        body[n++] = ']';
    n += (size_t)snprintf(body + n, sizeof body - n, "}}]}");
    CHECK_INT(s_agree(body, n), JSCAN_SLOW);
    n = (size_t)snprintf(body, sizeof body,
                         "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "%s\"m%d\":%d", i ? "," : "", i, i);
    n += (size_t)snprintf(body + n, sizeof body - n, "}}]}");
    CHECK_INT(s_agree(body, n), JSCAN_SLOW);
    CHECK_INT(s_agree_failures, 0);
}

/* --- differential: random bodies, random damage -------------------------------- */
#ifndef S_ROUNDS
#define S_ROUNDS 3000 /* random bodies; each also damaged 8 ways */
#endif

static uint64_t s_rng = 0x9E3779B97F4A7C15ull;

static uint64_t s_rand(void)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * 0x2545F4914F6CDD1Dull;
}

/* s_rand_string - a short string with some awkward characters */
static json_t *s_rand_string(void)
{
    static const char *parts[] = {"a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\x01",
                                  "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x7f",
                                  "{", "}", "[", "]", ",", ":", "0"};
    char s[64] = "";
    int n = (int)(s_rand() % 6);
    for (int i = 0; i < n; i++)
        strcat(s, parts[s_rand() % (sizeof parts / sizeof *parts)]);
    return json_string(s);
}

/* s_rand_value - a random JSON value, depth-limited */
static json_t *s_rand_value(int depth)
{
    switch (s_rand() % (depth > 3 ? 6 : 8)) {
    case 0: return json_integer((json_int_t)(s_rand() % 2000000) - 1000000);
    case 1: return json_real((double)(int64_t)(s_rand() % 100000) / 64.0);
    case 2: return s_rand_string();
    case 3: return json_true();
    case 4: return json_false();
    case 5: return json_null();
    case 6: {
        json_t *a = json_array();
        int n = (int)(s_rand() % 4);
        for (int i = 0; i < n; i++)
            json_array_append_new(a, s_rand_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        int n = (int)(s_rand() % 5);
        for (int i = 0; i < n; i++) { /* names without escapes: see test_leaves_... */
            static const char *names[] = {"", "a", "b", "a b", "{x}", "[:,]", "0", "\x7f"};
            json_object_set_new(o, names[s_rand() % 8], s_rand_value(depth + 1));
        }
        return o;
    }
    }
}

/* s_rand_body - a valid JOURNAL_APPEND body as text (caller frees) */
static char *s_rand_body(void)
{
    json_t *events = json_array();
    int n = 1 + (int)(s_rand() % 3);
    for (int i = 0; i < n; i++) {
        json_t *payload = json_object();
        int m = (int)(s_rand() % 5);
        for (int k = 0; k < m; k++) {
            char name[16];
            snprintf(name, sizeof name, "f%d", (int)(s_rand() % 8));
            json_object_set_new(payload, name, s_rand_value(1));
        }
        json_t *e = json_pack("{s:s,s:s#,s:o}", "type", "customer", "key", "key-0123456789",
                              (int)(1 + s_rand() % 14), "payload", payload);
        if (s_rand() % 2)
            json_object_set_new(e, "occurred_at", json_string("2026-11-23T10:35:12.123Z"));
        json_array_append_new(events, e);
    }
    json_t *body = json_pack("{s:o}", "events", events);
    size_t flags = s_rand() % 3 == 0 ? JSON_COMPACT : JSON_INDENT((int)(s_rand() % 3));
    if (s_rand() % 3 == 0)
        flags |= JSON_ENSURE_ASCII;
    char *text = json_dumps(body, flags);
    json_decref(body);
    return text;
}

static void test_random_bodies_agree_with_jansson(void)
{
    int taken = 0, mutants_taken = 0;
    for (int round = 0; round < S_ROUNDS; round++) {
        char *text = s_rand_body();
        size_t len = strlen(text);
        if (s_agree(text, len) == JSCAN_OK)
            taken++;
        /* damage it a little: a changed, dropped or doubled byte, a few times over */
        for (int m = 0; m < 8; m++) {
            char *bad = malloc(len + 2);
            memcpy(bad, text, len + 1);
            size_t blen = len, at = (size_t)(s_rand() % len);
            static const char bytes[] = "{}[],:\"\\ 0123456789.eE+-tfnu\x01\x80\xc3\xff";
            switch (s_rand() % 3) {
            case 0: bad[at] = bytes[s_rand() % (sizeof bytes - 1)]; break;
            case 1: memmove(bad + at, bad + at + 1, len - at); blen--; break;
            default: memmove(bad + at + 1, bad + at, len - at + 1); blen++; break;
            }
            if (s_agree(bad, blen) == JSCAN_OK)
                mutants_taken++;
            free(bad);
        }
        free(text);
    }
    CHECK_INT(taken, S_ROUNDS); /* what jansson writes, the fast path takes */
    CHECK(mutants_taken > 0);
    CHECK_INT(s_agree_failures, 0);
}

int main(void)
{
    UNIT_RUN(test_takes_a_plain_body_and_points_into_it);
    UNIT_RUN(test_compacts_the_payload_in_place);
    UNIT_RUN(test_leaves_every_bad_body_to_jansson);
    UNIT_RUN(test_takes_what_jansson_takes_in_the_payload);
    UNIT_RUN(test_type_and_key_lengths_are_the_journals);
    UNIT_RUN(test_nesting_and_wide_objects_go_to_jansson);
    UNIT_RUN(test_random_bodies_agree_with_jansson);
    return UNIT_END();
}
