/*
 * jstream.c - the journal's events as JetStream messages (jstream.h).
 *
 * The body is a small length-prefixed record rather than JSON: sealed
 * personal fields are bytes, and the journal copies the payload text into
 * its replies as it is, without a parse.
 */
#include "jstream.h"

#include <ctype.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define S_MAGIC "HJ1" /* version 1 of the layout */
#define S_NULL UINT32_MAX
#define S_MAX_URLS 16

/* jstream_subject - a subject per key */
void jstream_subject(const char *stream, const char *key, size_t key_len, char *out,
                     size_t size)
{
    unsigned char h[16];
    char hex[33];
    crypto_generichash(h, sizeof h, (const unsigned char *)key, key_len, NULL, 0);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(out, size, "%s.k.%s", stream, hex);
}

/* jstream_encode - the fields, length-prefixed */
int jstream_encode(buf_t *b, const char *const f[JSTREAM_FIELDS],
                   const size_t len[JSTREAM_FIELDS])
{
    buf_reset(b);
    buf_puts(b, S_MAGIC);
    for (int i = 0; i < JSTREAM_FIELDS; i++) {
        if (f[i] && len[i] >= S_NULL)
            return -1;
        uint32_t v = f[i] ? (uint32_t)len[i] : S_NULL;
        unsigned char l[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                              (unsigned char)(v >> 8), (unsigned char)v};
        buf_append(b, (const char *)l, 4);
        if (f[i] && len[i])
            buf_append(b, f[i], len[i]);
    }
    return buf_failed(b) || b->len > INT_MAX ? -1 : 0;
}

/* jstream_decode - strictly: every field present, nothing left over */
int jstream_decode(const char *d, size_t n, buf_t *scratch, const char *f[JSTREAM_FIELDS],
                   size_t len[JSTREAM_FIELDS])
{
    size_t at = sizeof S_MAGIC - 1, off[JSTREAM_FIELDS];
    if (!d || n < at || memcmp(d, S_MAGIC, at))
        return -1;
    buf_reset(scratch);
    for (int i = 0; i < JSTREAM_FIELDS; i++) {
        if (n - at < 4)
            return -1;
        const unsigned char *u = (const unsigned char *)d + at;
        uint32_t v = (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
        at += 4;
        if (v == S_NULL) {
            off[i] = SIZE_MAX;
            len[i] = 0;
            continue;
        }
        if (n - at < v)
            return -1;
        off[i] = scratch->len;
        len[i] = v;
        buf_append(scratch, d + at, v);
        buf_putc(scratch, '\0');
        at += v;
    }
    if (at != n || buf_failed(scratch))
        return -1;
    for (int i = 0; i < JSTREAM_FIELDS; i++)
        f[i] = off[i] == SIZE_MAX ? NULL : scratch->data + off[i];
    return 0;
}

/* jstream_connect - the servers of [journal] nats_urls */
int jstream_connect(const config_t *cfg, const char *name, jsOptions *opts, natsOptions **no,
                    natsConnection **nc, jsCtx **js)
{
    const char *urls[S_MAX_URLS];
    size_t n = config_list(cfg, "journal", "nats_urls", urls, S_MAX_URLS);
    *no = NULL;
    *nc = NULL;
    *js = NULL;
    const char *stream = config_get(cfg, "journal", "stream");
    size_t len = stream ? strlen(stream) : 0;
    int ok = len >= 1 && len <= 32;
    for (size_t i = 0; ok && i < len; i++)
        ok = isascii((unsigned char)stream[i]) && isalnum((unsigned char)stream[i]);
    if (!ok) {
        /* it becomes a subject's first token: no dots, no wildcards */
        log_error("event=config_refused error=\"[journal] stream must be 1-32 letters and"
                  " digits\"");
        return -1;
    }
    if (n == 0 || sodium_init() < 0)
        return -1;
    natsStatus st = natsOptions_Create(no);
    if (st == NATS_OK)
        st = natsOptions_SetServers(*no, urls, (int)n);
    if (st == NATS_OK)
        st = natsOptions_SetMaxReconnect(*no, -1); /* for ever: the journal waits */
    if (st == NATS_OK)
        st = natsOptions_SetReconnectWait(*no, 200);
    if (st == NATS_OK)
        st = natsOptions_SetTimeout(*no, 2000);
    if (st == NATS_OK)
        st = natsOptions_SetName(*no, name);
    if (st == NATS_OK)
        st = natsConnection_Connect(nc, *no);
    if (st == NATS_OK)
        st = natsConnection_JetStream(js, *nc, opts);
    if (st != NATS_OK) {
        log_error("event=jetstream_connect_failed status=\"%s\" error=\"%s\"",
                  natsStatus_GetText(st), nats_GetLastError(NULL));
        jstream_close(no, nc, js);
        return -1;
    }
    return 0;
}

/* jstream_close - free; safe on NULLs and twice */
void jstream_close(natsOptions **no, natsConnection **nc, jsCtx **js)
{
    jsCtx_Destroy(*js);
    natsConnection_Destroy(*nc);
    natsOptions_Destroy(*no);
    *js = NULL;
    *nc = NULL;
    *no = NULL;
}

/* jstream_stream - make the stream, or check the one there */
int jstream_stream(const config_t *cfg, jsCtx *js)
{
    const char *name = config_get(cfg, "journal", "stream");
    jsStreamInfo *si = NULL;
    jsErrCode err = 0;
    int replicas = (int)config_int(cfg, "journal", "replicas");
    natsStatus st = js_GetStreamInfo(&si, js, name, NULL, &err);
    if (st == NATS_OK) {
        if (si->Config && si->Config->Replicas != replicas)
            log_warn("event=jetstream_replicas stream=%s has=%lld setting=%d", name,
                     (long long)si->Config->Replicas, replicas);
        jsStreamInfo_Destroy(si);
        return 0;
    }
    if (err != JSStreamNotFoundErr && st != NATS_NOT_FOUND) {
        log_error("event=jetstream_info_failed stream=%s status=%d code=%d error=\"%s\"", name,
                  (int)st, (int)err, nats_GetLastError(NULL));
        return -1;
    }
    char subjects[64];
    snprintf(subjects, sizeof subjects, "%s.k.>", name);
    const char *subj[1] = {subjects};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name;
    sc.Description = "hark journal";
    sc.Subjects = subj;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = replicas;
    sc.Duplicates = config_duration_ms(cfg, "journal", "dup_window") * 1000000;
    sc.DenyDelete = true; /* offsets never get a gap */
    sc.DenyPurge = true;
    st = js_AddStream(&si, js, &sc, NULL, &err);
    jsStreamInfo_Destroy(si);
    if (st != NATS_OK) {
        log_error("event=jetstream_create_failed stream=%s status=%d code=%d error=\"%s\"", name,
                  (int)st, (int)err, nats_GetLastError(NULL));
        return -1;
    }
    log_info("event=jetstream_stream_created stream=%s replicas=%d", name, replicas);
    return 0;
}
