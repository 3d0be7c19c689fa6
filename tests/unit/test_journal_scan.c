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

/* s_same_events - the scanner's events ev[0..n) are what jansson read as events */
static int s_same_events(const json_t *events, const journal_scan_event_t *ev, size_t n)
{
    int good = json_array_size(events) == n;
    for (size_t i = 0; good && i < n; i++) {
        json_t *e = json_array_get(events, i);
        const char *occ = json_string_value(json_object_get(e, "occurred_at"));
        json_t *p = json_loadb(ev[i].payload, ev[i].payload_len, JSON_REJECT_DUPLICATES, NULL);
        good = s_span_is(ev[i].type, ev[i].type_len,
                         json_string_value(json_object_get(e, "type"))) &&
               s_span_is(ev[i].key, ev[i].key_len, json_string_value(json_object_get(e, "key"))) &&
               (occ ? ev[i].occurred_at &&
                          s_span_is(ev[i].occurred_at, ev[i].occurred_at_len, occ)
                    : !ev[i].occurred_at) &&
               p && json_equal(p, json_object_get(e, "payload")) &&
               s_compact_text(ev[i].payload, ev[i].payload_len);
        json_decref(p);
    }
    return good;
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
        int good = doc && json_is_object(doc) && s_journal_ok(doc) &&
                   s_same_events(json_object_get(doc, "events"), l.ev, l.n);
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

/* s_rand_events - a valid JOURNAL_APPEND events array */
static json_t *s_rand_events(void)
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
    return events;
}

/* s_dump - body as text the way a client might write it (caller frees); takes body */
static char *s_dump(json_t *body)
{
    size_t flags = s_rand() % 3 == 0 ? JSON_COMPACT : JSON_INDENT((int)(s_rand() % 3));
    if (s_rand() % 3 == 0)
        flags |= JSON_ENSURE_ASCII;
    char *text = json_dumps(body, flags);
    json_decref(body);
    return text;
}

/* s_rand_body - a valid JOURNAL_APPEND body as text (caller frees) */
static char *s_rand_body(void)
{
    return s_dump(json_pack("{s:o}", "events", s_rand_events()));
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

/* --- the batched form: {"batches":[{"events":[...]}, ...]} ------------------ */

#define EV(k) "{\"type\":\"t\",\"key\":\"" k "\",\"payload\":{}}"

/* s_scan_batches - journal_scan_batches on a private copy of text */
static int s_scan_batches(const char *text, size_t max, journal_scan_list_t *l,
                          journal_scan_batches_t *bl, char **copy)
{
    size_t n = strlen(text);
    *copy = malloc(n + 1);
    memcpy(*copy, text, n + 1);
    return journal_scan_batches(*copy, n, max, l, bl);
}

static void test_batches_take_each_batch_in_order(void)
{
    journal_scan_list_t l = {0};
    journal_scan_batches_t bl = {0};
    char *body;
    CHECK_INT(s_scan_batches(" {\"batches\" : [ {\"events\":[" EV("a1") "," EV("a2") "]},\n"
                             "{ \"events\" : [" EV("b1") "] } ] } ",
                             4096, &l, &bl, &body),
              JSCAN_OK);
    CHECK_INT(bl.n, 2);
    CHECK_INT(l.n, 3);
    CHECK_INT(bl.b[0].rc, JSCAN_OK);
    CHECK_INT(bl.b[0].first, 0);
    CHECK_INT(bl.b[0].n, 2);
    CHECK_INT(bl.b[1].rc, JSCAN_OK);
    CHECK_INT(bl.b[1].first, 2);
    CHECK_INT(bl.b[1].n, 1);
    CHECK(s_span_is(l.ev[0].key, l.ev[0].key_len, "a1"));
    CHECK(s_span_is(l.ev[1].key, l.ev[1].key_len, "a2"));
    CHECK(s_span_is(l.ev[2].key, l.ev[2].key_len, "b1"));
    CHECK(s_span_is(bl.b[1].text, bl.b[1].len, "{ \"events\" : [" EV("b1") "] }"));
    /* the {"events"} reader does not take it, nor this one an {"events"} body */
    CHECK_INT(s_rc(body), JSCAN_SLOW);
    char *body2;
    CHECK_INT(s_scan_batches("{\"events\":[" EV("x") "]}", 4096, &l, &bl, &body2), JSCAN_SLOW);
    CHECK_INT(l.n, 3);
    CHECK_INT(bl.n, 2);
    free(body);
    free(body2);
    journal_scan_list_free(&l);
    journal_scan_batches_free(&bl);
}

static void test_batches_leave_a_bad_batch_to_jansson_and_take_the_others(void)
{
    /* batch 2 of 3 is bad in each a different way; valid JSON all the same */
    const char *bad[] = {
        "{\"events\":[" EV("b1") ",{\"type\":\"t\",\"key\":\"b2\"}]}", /* event 1: no payload */
        "{\"events\":[]}",
        "{\"events\":[" EV("b1") "],\"x\":1}",
        "{\"x\":1,\"events\":[" EV("b1") "]}",
        "{}",
        "{\"events\":[" EV("b\\u00e9") "]}", /* good, but escaped: jansson's */
        "{\"events\":[{\"type\":\"t\",\"key\":\"k\",\"payload\":{},\"occurred_at\":\"now\"}]}",
        "{\"events\":[" EV("b1") "],\"events\":[" EV("b2") "]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "{\"batches\":[{\"events\":[" EV("a1") "]}, %s ,{\"events\":[{\"type\":\"t\","
                 "\"key\":\"c1\",\"payload\":{ \"x\" : 1 }}]}]}",
                 bad[i]);
        journal_scan_list_t l = {0};
        journal_scan_batches_t bl = {0};
        char *body;
        int rc = s_scan_batches(text, 4096, &l, &bl, &body);
        if (strstr(bad[i], "\"events\":[" EV("b1") "],\"events\"")) {
            CHECK_INT(rc, JSCAN_SLOW); /* a repeated name is not JSON jansson takes */
        } else {
            CHECK_INT(rc, JSCAN_OK);
            CHECK_INT(bl.n, 3);
            CHECK_INT(l.n, 2);
            CHECK_INT(bl.b[0].rc, JSCAN_OK);
            CHECK_INT(bl.b[1].rc, JSCAN_SLOW);
            CHECK_INT(bl.b[1].n, 0);
            CHECK(s_span_is(bl.b[1].text, bl.b[1].len, bad[i]));
            CHECK_INT(bl.b[2].rc, JSCAN_OK);
            CHECK_INT(bl.b[2].first, 1);
            CHECK(s_span_is(l.ev[1].key, l.ev[1].key_len, "c1"));
            CHECK(s_span_is(l.ev[1].payload, l.ev[1].payload_len, "{\"x\":1}")); /* compacted */
        }
        if (unit_failures_in_test)
            fprintf(stderr, "  with batch 2: %s\n", bad[i]);
        free(body);
        journal_scan_list_free(&l);
        journal_scan_batches_free(&bl);
    }
}

static void test_bad_batches_envelopes_go_to_jansson_whole(void)
{
    const char *bad[] = {
        "",
        "{}",
        "{\"batches\":[]}",
        "{\"batches\":{}}",
        "{\"batches\":null}",
        "{\"batches\":[5]}",
        "{\"batches\":[[]]}",
        "{\"batches\":[\"x\"]}",
        "{\"batches\":[{\"events\":[" EV("a") "]},7]}",
        "{\"batches\":[{\"events\":[" EV("a") "]}],\"events\":[" EV("b") "]}",
        "{\"events\":[" EV("b") "],\"batches\":[{\"events\":[" EV("a") "]}]}",
        "{\"batches\":[{\"events\":[" EV("a") "]}],\"x\":1}",
        "{\"batches\":[{\"events\":[" EV("a") "]}],}",
        "{\"batches\":[{\"events\":[" EV("a") "]},]}",
        "{\"batches\":[{\"events\":[" EV("a") "]}]",
        "{\"batches\":[{\"events\":[" EV("a") "]}]}x",
        "{\"b\\u0061tches\":[{\"events\":[" EV("a") "]}]}",
        /* a batch that is not JSON (or not JSON this reader vouches for) spoils the lot */
        "{\"batches\":[{\"events\":[" EV("a") "]},{\"events\":[{\"payload\":{\"n\":01}}]}]}",
        "{\"batches\":[{\"events\":[" EV("a") "]},{\"events\":[{\"payload\":\"\x01\"}]}]}",
        "{\"batches\":[{\"events\":[" EV("a") "]},{\"events\":[{\"p\\u0061yload\":{}}]}]}",
        "{\"batches\":[{\"events\":[" EV("a") "]},{\"events\":[" EV("b") "],\"n\":1234567890123456789012}]}",
        /* too many batches for max_batches (3 here) */
        "{\"batches\":[{\"events\":[" EV("a") "]},{\"events\":[" EV("b") "]},"
        "{\"events\":[" EV("c") "]},{\"events\":[" EV("d") "]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        journal_scan_list_t l = {0};
        journal_scan_batches_t bl = {0};
        char *body;
        int rc = s_scan_batches(bad[i], 3, &l, &bl, &body);
        CHECK_INT(rc, JSCAN_SLOW);
        CHECK_INT(l.n, 0);
        CHECK_INT(bl.n, 0);
        CHECK(strcmp(body, bad[i]) == 0);
        if (unit_failures_in_test) {
            fprintf(stderr, "  body: %s\n", bad[i]);
            break;
        }
        free(body);
        journal_scan_list_free(&l);
        journal_scan_batches_free(&bl);
    }
    /* three is not too many for 3 */
    journal_scan_list_t l = {0};
    journal_scan_batches_t bl = {0};
    char *body;
    CHECK_INT(s_scan_batches("{\"batches\":[{\"events\":[" EV("a") "]},{\"events\":[" EV("b") "]},"
                             "{\"events\":[" EV("c") "]}]}",
                             3, &l, &bl, &body),
              JSCAN_OK);
    CHECK_INT(bl.n, 3);
    free(body);
    journal_scan_list_free(&l);
    journal_scan_batches_free(&bl);
}

/* s_agree_batches - scan a batches body and hold the result against jansson:
 * JSCAN_OK must be jansson's yes to the envelope; a batch taken must be one
 * jansson and the journal take, with the same events; a batch left must be
 * the text of the same batch; anything else must leave all as it was */
static int s_agree_batches(const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    journal_scan_list_t l = {0};
    journal_scan_batches_t bl = {0};
    int rc = journal_scan_batches(copy, len, 8, &l, &bl);
    if (rc == JSCAN_OK) {
        json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        json_t *batches = json_object_get(doc, "batches");
        int good = doc && json_object_size(doc) == 1 && json_array_size(batches) == bl.n &&
                   bl.n >= 1 && bl.n <= 8;
        size_t taken = 0;
        for (size_t i = 0; good && i < bl.n; i++) {
            json_t *b = json_array_get(batches, i);
            if (!json_is_object(b)) {
                good = 0;
            } else if (bl.b[i].rc == JSCAN_OK) {
                good = s_journal_ok(b) && bl.b[i].first == taken &&
                       s_same_events(json_object_get(b, "events"), &l.ev[taken], bl.b[i].n);
                taken += bl.b[i].n;
            } else {
                json_t *alone = json_loadb(bl.b[i].text, bl.b[i].len, JSON_REJECT_DUPLICATES,
                                           NULL);
                good = bl.b[i].n == 0 && alone && json_equal(alone, b);
                json_decref(alone);
            }
        }
        if (!good || taken != l.n) {
            s_agree_failures++;
            fprintf(stderr, "batches: scanner said yes, jansson disagrees: %.*s\n", (int)len, text);
        }
        json_decref(doc);
    } else if (memcmp(copy, text, len) != 0 || l.n || bl.n) {
        s_agree_failures++;
        fprintf(stderr, "batches: scanner changed or kept what it did not take: %.*s\n", (int)len,
                text);
    }
    free(copy);
    journal_scan_list_free(&l);
    journal_scan_batches_free(&bl);
    return rc;
}

/* s_rand_batches - a batches body, every so often with a batch the journal refuses */
static char *s_rand_batches(int *refused)
{
    json_t *batches = json_array();
    int n = 1 + (int)(s_rand() % 4);
    *refused = 0;
    for (int i = 0; i < n; i++) {
        json_t *events = s_rand_events();
        json_t *b = json_pack("{s:o}", "events", events);
        switch (s_rand() % 8) {
        case 0: json_object_del(json_array_get(events, 0), "payload"); (*refused)++; break;
        case 1: json_object_set_new(b, "x", json_true()); (*refused)++; break;
        case 2: json_array_clear(events); (*refused)++; break;
        default: break;
        }
        json_array_append_new(batches, b);
    }
    return s_dump(json_pack("{s:o}", "batches", batches));
}

static void test_random_batches_agree_with_jansson(void)
{
    int bodies = 0, mutants_taken = 0;
    for (int round = 0; round < S_ROUNDS; round++) {
        int refused;
        char *text = s_rand_batches(&refused);
        size_t len = strlen(text);
        if (s_agree_batches(text, len) == JSCAN_OK)
            bodies++;
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
            if (s_agree_batches(bad, blen) == JSCAN_OK)
                mutants_taken++;
            free(bad);
        }
        free(text);
    }
    CHECK_INT(bodies, S_ROUNDS); /* every well-formed envelope is taken, bad batches and all */
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
    UNIT_RUN(test_batches_take_each_batch_in_order);
    UNIT_RUN(test_batches_leave_a_bad_batch_to_jansson_and_take_the_others);
    UNIT_RUN(test_bad_batches_envelopes_go_to_jansson_whole);
    UNIT_RUN(test_random_batches_agree_with_jansson);
    return UNIT_END();
}
