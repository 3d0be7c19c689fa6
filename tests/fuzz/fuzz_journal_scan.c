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
 *
 * The same bytes go through journal_scan_batches too: a yes must be
 * jansson's yes to {"batches": [objects]}, each batch taken must be one the
 * journal takes as a body of its own, with the same events, and each batch
 * left must be the text of that same batch.
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

/* s_check_events - the scanner's events evs[0..) are jansson's events array
 * (an array of n > 0 events the journal takes) */
static void s_check_events(const json_t *events, const journal_scan_event_t *evs, size_t n)
{
    FUZZ_CHECK(json_is_array(events) && json_array_size(events) > 0);
    FUZZ_CHECK(json_array_size(events) == n);
    json_error_t jerr;
    for (size_t i = 0; i < json_array_size(events); i++) {
        json_t *e = json_array_get(events, i);
        const journal_scan_event_t *ev = &evs[i];
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
}

/* s_batches - the bytes as a {"batches"} body */
static void s_batches(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1);
    if (!body)
        return;
    memcpy(body, data, size);
    body[size] = '\0';
    journal_scan_list_t l = {0};
    journal_scan_batches_t bl = {0};
    journal_scan_event_t *pre = journal_scan_list_push(&l);
    FUZZ_CHECK(pre != NULL);
    memset(pre, 0, sizeof *pre);
    int rc = journal_scan_batches(body, size, 8, &l, &bl);
    FUZZ_CHECK(rc == JSCAN_OK || rc == JSCAN_SLOW || rc == JSCAN_NOMEM);
    if (rc != JSCAN_OK) {
        FUZZ_CHECK(l.n == 1 && bl.n == 0);
        FUZZ_CHECK(memcmp(body, data, size) == 0);
        goto done;
    }
    json_error_t jerr;
    json_t *ref = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    FUZZ_CHECK(ref != NULL && json_is_object(ref) && json_object_size(ref) == 1);
    json_t *batches = json_object_get(ref, "batches");
    FUZZ_CHECK(json_is_array(batches) && json_array_size(batches) == bl.n);
    FUZZ_CHECK(bl.n >= 1 && bl.n <= 8);
    size_t next = 1;
    for (size_t i = 0; i < bl.n; i++) {
        json_t *b = json_array_get(batches, i);
        FUZZ_CHECK(json_is_object(b));
        if (bl.b[i].rc == JSCAN_OK) {
            FUZZ_CHECK(json_object_size(b) == 1 && bl.b[i].first == next);
            s_check_events(json_object_get(b, "events"), &l.ev[next], bl.b[i].n);
            next += bl.b[i].n;
        } else {
            FUZZ_CHECK(bl.b[i].rc == JSCAN_SLOW && bl.b[i].n == 0);
            json_t *alone = json_loadb(bl.b[i].text, bl.b[i].len, JSON_REJECT_DUPLICATES, &jerr);
            FUZZ_CHECK(alone != NULL && json_equal(alone, b));
            json_decref(alone);
        }
    }
    FUZZ_CHECK(next == l.n);
    json_decref(ref);
done:
    journal_scan_list_free(&l);
    journal_scan_batches_free(&bl);
    free(body);
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
    s_check_events(events, &l.ev[1], l.n - 1);
    json_decref(ref);
done:
    journal_scan_list_free(&l);
    free(body);
    s_batches(data, size);
    return 0;
}
