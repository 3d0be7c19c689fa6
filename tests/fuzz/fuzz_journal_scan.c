/*
 * fuzz_journal_scan.c - the journal's one-pass JOURNAL_APPEND reader
 * (services/journal/journal_scan.c) against jansson.
 *
 * The scanner's promise (journal_scan.h): it only says yes to a body the
 * jansson path accepts too, and with the same meaning.  So whenever
 * journal_scan_append returns JSCAN_OK, the body is parsed again with
 * json_loadb(JSON_REJECT_DUPLICATES) and checked as the journal's slow path
 * checks it (one "events" array of objects with type 1-64 bytes, key 1-512
 * bytes, a payload object, an RFC 3339 occurred_at), and every event the
 * scanner returned must carry the same type, key, occurred_at and a payload
 * text that parses to an equal value.  When it says JSCAN_SLOW, the body
 * and the list must be as they were.
 */
#include "fuzz.h"

#include <jansson.h>

#include "clock.h"
#include "journal_scan.h"

/* s_span_is - span [p, p+n) equals the NUL-free string s */
static int s_span_is(const char *p, size_t n, const char *s)
{
    return p && s && strlen(s) == n && memcmp(p, s, n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    journal_scan_list_t l = {0};
    /* one event already there: the scanner appends after it and keeps it */
    journal_scan_event_t *pre = journal_scan_list_push(&l);
    FUZZ_CHECK(pre != NULL);
    memset(pre, 0, sizeof *pre);
    pre->type = "pre";
    pre->type_len = 3;
    int rc = journal_scan_append(body, size, &l);
    FUZZ_CHECK(rc == JSCAN_OK || rc == JSCAN_SLOW || rc == JSCAN_NOMEM);
    FUZZ_CHECK(l.n >= 1 && l.ev[0].type_len == 3 && memcmp(l.ev[0].type, "pre", 3) == 0);
    if (rc != JSCAN_OK) {
        FUZZ_CHECK(l.n == 1);
        FUZZ_CHECK(memcmp(body, data, size) == 0);
        goto done;
    }
    json_error_t jerr;
    json_t *ref = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    FUZZ_CHECK(ref != NULL);               /* jansson accepts it too */
    FUZZ_CHECK(json_is_object(ref) && json_object_size(ref) == 1);
    json_t *events = json_object_get(ref, "events");
    FUZZ_CHECK(json_is_array(events) && json_array_size(events) > 0);
    FUZZ_CHECK(json_array_size(events) == l.n - 1);
    for (size_t i = 0; i < json_array_size(events); i++) {
        json_t *e = json_array_get(events, i);
        const journal_scan_event_t *ev = &l.ev[i + 1];
        FUZZ_CHECK(json_is_object(e));
        const char *k;
        json_t *v;
        json_object_foreach(e, k, v)
            FUZZ_CHECK(!strcmp(k, "type") || !strcmp(k, "key") || !strcmp(k, "payload") ||
                       !strcmp(k, "occurred_at"));
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *key = json_string_value(json_object_get(e, "key"));
        FUZZ_CHECK(type && *type && strlen(type) <= 64 && s_span_is(ev->type, ev->type_len, type));
        FUZZ_CHECK(key && *key && strlen(key) <= 512 && s_span_is(ev->key, ev->key_len, key));
        json_t *occ = json_object_get(e, "occurred_at");
        if (occ) {
            int64_t ms;
            FUZZ_CHECK(json_is_string(occ) && clock_parse(json_string_value(occ), &ms) == 0);
            FUZZ_CHECK(s_span_is(ev->occurred_at, ev->occurred_at_len, json_string_value(occ)));
        } else {
            FUZZ_CHECK(ev->occurred_at == NULL);
        }
        json_t *payload = json_object_get(e, "payload");
        FUZZ_CHECK(json_is_object(payload));
        json_t *got = json_loadb(ev->payload, ev->payload_len, JSON_REJECT_DUPLICATES, &jerr);
        FUZZ_CHECK(got != NULL && json_equal(got, payload));
        /* compact: no whitespace outside strings is left */
        int in_str = 0;
        for (size_t c = 0; c < ev->payload_len; c++) {
            char ch = ev->payload[c];
            if (in_str) {
                if (ch == '\\')
                    c++;
                else if (ch == '"')
                    in_str = 0;
            } else if (ch == '"') {
                in_str = 1;
            } else {
                FUZZ_CHECK(ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r');
            }
        }
        json_decref(got);
    }
    json_decref(ref);
done:
    journal_scan_list_free(&l);
    free(body);
    return 0;
}
