/*
 * gateway_events.c - POST /v1/events: check, key, append, answer 202.
 *
 * A batch is all or nothing: every event is checked against
 * proto/envelope.json and proto/events/<type>.json before any is sent to
 * the journal, so a 400 stores nothing and a 202 stored everything.  The
 * 202 is sent only after the journal has committed.
 *
 * Keys make retries safe: an event "id" gives "ext:<type>:<id>"; else an
 * Idempotency-Key header gives "idem:<header>:<index in batch>"; else the
 * gateway makes a fresh time-ordered key "gw:…" (s_gw_key), and a retry
 * stores the event again.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "gateway.h"
#include "jclient.h"
#include "jtext.h"
#include "keys.h"
#include "log.h"
#include "proto.h"

#define GATEWAY_MAX_EVENTS 1000

/* gateway_events_init - compile envelope, the ingestible event schemas and
 * survey.answered (the survey page checks what it journals) */
int gateway_events_init(gateway_t *gw)
{
    char err[256];
    gw->envelope = schema_new(proto_envelope_json, err, sizeof err);
    if (!gw->envelope) {
        log_error("event=schema_failed schema=envelope error=\"%s\"", err);
        return -1;
    }
    buf_t names = BUF_INIT;
    for (const proto_doc_t *d = proto_event_schemas; d->name; d++) {
        json_t *doc = json_loads(d->json, 0, NULL);
        json_t *ingest = json_object_get(json_object_get(doc, "x-hark"), "ingest");
        if (doc && strcmp(d->name, EV_SURVEY_ANSWERED) == 0) {
            gw->answered = schema_new_json(doc, err, sizeof err);
            if (!gw->answered) {
                log_error("event=schema_failed schema=%s error=\"%s\"", d->name, err);
                json_decref(doc);
                buf_free(&names);
                return -1;
            }
        }
        if (!doc || !json_is_true(ingest) || gw->n_types == 32) {
            json_decref(doc);
            continue;
        }
        schema_t *s = schema_new_json(doc, err, sizeof err);
        json_decref(doc);
        if (!s) {
            log_error("event=schema_failed schema=%s error=\"%s\"", d->name, err);
            buf_free(&names);
            return -1;
        }
        gw->types[gw->n_types++] = (gateway_event_type_t){d->name, s};
        buf_printf(&names, "%s%s", names.len ? ", " : "", d->name);
    }
    snprintf(gw->known_types, sizeof gw->known_types, "%s", names.data ? names.data : "");
    buf_free(&names);
    return 0;
}

/* gateway_events_fini - free the schemas */
void gateway_events_fini(gateway_t *gw)
{
    schema_destroy(&gw->envelope);
    schema_destroy(&gw->answered);
    for (size_t i = 0; i < gw->n_types; i++)
        schema_destroy(&gw->types[i].schema);
    gw->n_types = 0;
}

/* s_type - the schema of an ingestible type, or NULL */
static const schema_t *s_type(const gateway_t *gw, const char *type)
{
    for (size_t i = 0; i < gw->n_types; i++)
        if (strcmp(gw->types[i].type, type) == 0)
            return gw->types[i].schema;
    return NULL;
}

/* s_too_deep - whether v (at level, 1 for the root) nests deeper than
 * PROTO_MAX_DEPTH, as schema_depth_check counts; without the path it
 * writes at every key, which only a refusal needs */
static int s_too_deep(const json_t *v, int level)
{
    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (level > PROTO_MAX_DEPTH)
        return 1;
    if (json_is_array(v)) {
        for (size_t i = 0, n = json_array_size(v); i < n; i++)
            if (s_too_deep(json_array_get(v, i), level + 1))
                return 1;
        return 0;
    }
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m)
        if (s_too_deep(m, level + 1))
            return 1;
    return 0;
}

/* s_check_event - validate one envelope; 0, or -1 having answered 400 */
static int s_check_event(gateway_req_t *r, const json_t *e, long index)
{
    char path[256], msg[256], field[300];
    if (!json_is_object(e)) {
        gateway_error(r, 400, "invalid_event", "each event must be a JSON object", NULL, index);
        return -1;
    }
    if (schema_validate(r->gw->envelope, e, path, sizeof path, msg, sizeof msg)) {
        snprintf(field, sizeof field, "%s", path);
        char full[600];
        snprintf(full, sizeof full, "%s %s", *path ? path : "event", msg);
        gateway_error(r, 400, "invalid_field", full, field, index);
        return -1;
    }
    /* the one depth limit, before any schema: deeper than this, the
     * journal's envelope around the payload could be refused further on */
    char deep[120];
    if (s_too_deep(json_object_get(e, "data"), 1) &&
        schema_depth_check(json_object_get(e, "data"), PROTO_MAX_DEPTH, deep, sizeof deep)) {
        snprintf(field, sizeof field, "data%s%s", *deep ? "." : "", deep);
        char full[400];
        snprintf(full, sizeof full, "data nests deeper than %d levels (at %s)", PROTO_MAX_DEPTH,
                 field);
        gateway_error(r, 400, "too_deep", full, field, index);
        return -1;
    }
    const char *type = json_string_value(json_object_get(e, "type"));
    const schema_t *s = s_type(r->gw, type);
    if (!s) {
        char full[800];
        snprintf(full, sizeof full, "unknown event type \"%.64s\"; known types: %s", type,
                 r->gw->known_types);
        gateway_error(r, 400, "unknown_type", full, "type", index);
        return -1;
    }
    if (schema_validate(s, json_object_get(e, "data"), path, sizeof path, msg,
                        sizeof msg)) {
        snprintf(field, sizeof field, "data%s%s", *path ? "." : "", path);
        char full[600];
        snprintf(full, sizeof full, "%s %s", field, msg);
        gateway_error(r, 400, "invalid_field", full, field, index);
        return -1;
    }
    return gateway_intake_check(r, type, json_object_get(e, "data"), index);
}

/* s_idem_ok - Idempotency-Key: 1-200 printable ASCII characters */
static int s_idem_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 200)
        return 0;
    for (const char *p = k; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return 0;
    return 1;
}

/* the parts of the gateway's own keys "gw:<ms><seq><rnd>": 13 digits of the
 * request's time in ms, then a per-process counter (10+ hex digits), then 16
 * hex digits of getrandom() drawn once per process (a getrandom(2) a
 * request was a syscall each, and the counter already tells a process's
 * requests apart).  Keys made later sort later, so inserts land at the end
 * of the journal's key index instead of on a random page of it (random
 * keys halved the journal's throughput).  Unique within a process by the
 * counter; across processes and restarts (a clock set back) by the 64
 * random bits. */
typedef struct {
    long long ms;
    unsigned long long seq; /* the next counter value reserved for this request */
    int reserved;           /* seq is reserved (at the first key made) */
} gateway_events_keygen_t;

static atomic_ullong s_key_seq; /* counter values handed out so far */
static pthread_once_t s_rnd_once = PTHREAD_ONCE_INIT;
static char s_rnd[17];          /* this process's random part; "" if none */

static void s_rnd_draw(void)
{
    if (keys_random_hex(s_rnd, 8))
        s_rnd[0] = '\0';
}

/* s_key_write - "gw:%013lld%010llx<s_rnd>" into key, written by hand: it
 * runs for every event, and vfprintf was the larger part of its cost */
static void s_key_write(char *key, size_t len, long long ms, unsigned long long seq)
{
    char dec[24], hex[24];
    int nd = 0, nh = 0;
    unsigned long long v = ms > 0 ? (unsigned long long)ms : 0, x = seq;
    do
        dec[nd++] = (char)('0' + v % 10);
    while ((v /= 10) && nd < (int)sizeof dec);
    do
        hex[nh++] = "0123456789abcdef"[x & 15];
    while ((x >>= 4) && nh < (int)sizeof hex);
    size_t rl = strlen(s_rnd);
    size_t need = 3 + (size_t)(nd > 13 ? nd : 13) + (size_t)(nh > 10 ? nh : 10) + rl + 1;
    if (ms < 0 || need > len) { /* not met by the callers' buffers; kept exact */
        snprintf(key, len, "gw:%013lld%010llx%s", ms, seq, s_rnd);
        return;
    }
    char *p = key;
    memcpy(p, "gw:", 3);
    p += 3;
    for (int i = nd; i < 13; i++)
        *p++ = '0';
    while (nd)
        *p++ = dec[--nd];
    for (int i = nh; i < 10; i++)
        *p++ = '0';
    while (nh)
        *p++ = hex[--nh];
    memcpy(p, s_rnd, rl + 1);
}

/* s_gw_key - the next gateway key of this request into key; 0/-1 */
static int s_gw_key(gateway_events_keygen_t *g, size_t events, char *key, size_t len)
{
    pthread_once(&s_rnd_once, s_rnd_draw);
    if (!s_rnd[0])
        return -1;
    if (!g->reserved) {
        g->seq = atomic_fetch_add(&s_key_seq, (unsigned long long)events);
        g->reserved = 1;
    }
    s_key_write(key, len, g->ms, g->seq++);
    return 0;
}

/* gateway_events_key_fresh - one fresh key, as for an event posted without id or
 * Idempotency-Key */
int gateway_events_key_fresh(char *key, size_t len)
{
    int64_t now_ms = clock_now_ms();
    gateway_events_keygen_t g = {.ms = now_ms > 0 ? (long long)now_ms : 0};
    return s_gw_key(&g, 1, key, len);
}

/* s_journal_event - the JOURNAL_APPEND form of one checked event of n,
 * {"type","key","occurred_at","payload"}, written into b as json_pack and
 * json_dumps made it (without building it: see jtext_write); 0/-1 */
static int s_journal_event(buf_t *b, const json_t *e, const char *idem, long index, size_t n,
                           const char *now, gateway_events_keygen_t *keygen)
{
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *id = json_string_value(json_object_get(e, "id"));
    json_t *data = json_object_get(e, "data");
    char key[600];
    if (id)
        snprintf(key, sizeof key, "ext:%s:%s", type, id);
    else if (idem)
        snprintf(key, sizeof key, "idem:%s:%ld", idem, index);
    else if (s_gw_key(keygen, n, key, sizeof key))
        return -1;
    const char *occ = json_string_value(json_object_get(e, "occurred_at"));
    if (!occ)
        occ = json_string_value(json_object_get(data, "occurred_at"));
    if (!type || !data)
        return -1;
    buf_append(b, "{\"type\":", 8);
    jtext_string(b, type);
    buf_append(b, ",\"key\":", 7);
    jtext_string(b, key);
    buf_append(b, ",\"occurred_at\":", 15);
    jtext_string(b, occ ? occ : now);
    buf_append(b, ",\"payload\":", 11);
    jtext_write(b, data, 0);
    buf_putc(b, '}');
    return 0;
}

/* s_appended - the journal's answer (on the request's loop): 202 with the
 * offsets once committed */
static void s_appended(gateway_req_t *r, json_t *ok, const char *err, int refused)
{
    if (!ok) {
        char q[260];
        log_warn("event=append_failed error=%s", log_quote(err, q, sizeof q));
        if (refused) { /* the same request would be refused again: no 503 */
            gateway_error(r, 500, "journal_refused",
                          "the journal refused the events; sending them again will not help",
                          NULL, -1);
            return;
        }
        r->retry_after = "1";
        gateway_error(r, 503, "journal_unavailable",
                      "the journal did not confirm the events; retry with the same "
                      "Idempotency-Key or event ids",
                      NULL, -1);
        return;
    }
    json_object_set_new(ok, "accepted", json_integer((json_int_t)r->job.n_events));
    gateway_json(r, 202, ok);
    json_decref(ok);
}

/* s_appended_text - the 202 of s_appended, from the journal's result text
 * {"offsets":[...],"duplicates":[...]}: the same bytes jtext_write wrote
 * from its tree with "accepted" added last */
static void s_appended_text(gateway_req_t *r, const char *ok, size_t len)
{
    buf_reset(&r->out);
    buf_append(&r->out, ok, len - 1); /* without its closing brace */
    buf_printf(&r->out, ",\"accepted\":%zu}\n", r->job.n_events);
    r->status = 202;
    r->content_type = "application/json";
}

/* gateway_events_post - the ingest endpoint (on an HTTP thread: it checks,
 * then hands the events to the pump and is resumed by s_appended) */
void gateway_events_post(gateway_req_t *r)
{
    if (!gateway_bearer_ok(r, r->gw->ingest_key))
        return;
    const char *ct = gateway_header(r, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
        gateway_error(r, 415, "unsupported_media_type",
                 "send the events as Content-Type: application/json", "Content-Type", -1);
        return;
    }
    if (r->too_large) {
        char msg[120];
        snprintf(msg, sizeof msg, "the body is larger than %lld bytes", r->gw->conf.max_body);
        gateway_error(r, 413, "body_too_large", msg, NULL, -1);
        return;
    }
    const char *idem = gateway_header(r, "Idempotency-Key");
    if (idem && !s_idem_ok(idem)) {
        gateway_error(r, 400, "invalid_header",
                 "Idempotency-Key must be 1-200 printable ASCII characters",
                 "Idempotency-Key", -1);
        return;
    }
    json_error_t jerr;
    json_t *doc = jtext_load(r->body.data ? r->body.data : "", r->body.len, &jerr);
    if (!doc) {
        char msg[300];
        if (strstr(jerr.text, "\\u0000")) /* jansson's wording names its own flag */
            snprintf(msg, sizeof msg, "text must not contain \\u0000 (line %d column %d)",
                     jerr.line, jerr.column);
        else
            snprintf(msg, sizeof msg, "not valid JSON at line %d column %d: %s", jerr.line,
                     jerr.column, jerr.text);
        gateway_error(r, 400, "invalid_json", msg, NULL, -1);
        return;
    }
    json_t *list = json_is_array(doc) ? doc : NULL;
    size_t n = list ? json_array_size(list) : 1;
    if (list && n == 0) {
        gateway_error(r, 400, "empty_batch", "the array holds no events", NULL, -1);
        json_decref(doc);
        return;
    }
    if (n > GATEWAY_MAX_EVENTS) {
        char msg[120];
        snprintf(msg, sizeof msg, "a batch holds at most %d events, this one %zu",
                 GATEWAY_MAX_EVENTS, n);
        gateway_error(r, 413, "too_many_events", msg, NULL, -1);
        json_decref(doc);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (s_check_event(r, list ? json_array_get(list, i) : doc, list ? (long)i : -1)) {
            json_decref(doc);
            return;
        }
    char now[40];
    int64_t now_ms = clock_now_ms();
    clock_format(now_ms, now, sizeof now);
    gateway_events_keygen_t keygen = {.ms = now_ms > 0 ? (long long)now_ms : 0};
    /* the events' JOURNAL_APPEND text, written once here on the HTTP
     * thread: the pump only concatenates */
    buf_t text = BUF_INIT;
    buf_reserve(&text, r->body.len + n * 160 + 2);
    buf_putc(&text, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(&text, ',');
        if (s_journal_event(&text, list ? json_array_get(list, i) : doc, idem, (long)i, n, now,
                            &keygen))
            text.failed = 1;
    }
    buf_putc(&text, ']');
    json_decref(doc);
    if (buf_failed(&text)) {
        buf_free(&text);
        gateway_error(r, 500, "internal", "out of memory", NULL, -1);
        return;
    }
    size_t len = text.len;
    gateway_append_then(r, buf_release(&text), len, n, s_appended);
    gateway_append_then_text(r, s_appended_text);
}
