/*
 * hark_journal.c - `hark journal export FILE` and `hark journal import FILE`:
 * a SQLite journal moved into a JetStream stream with the same offsets and
 * keys, and checked.
 *
 * export reads [journal] db (read-only, one snapshot: the journal may run)
 * and writes one JSON line per event, the payload and sealed bytes as
 * stored (sealed fields stay sealed: journal-keys.db opens them, and their
 * associated data is the type and key, which do not change), journal.db's
 * compact form made whole (s_expand, the names' text).
 *
 * import publishes the lines into [journal] stream, each with
 * Nats-Expected-Last-Sequence = its offset - 1 (so it lands at its own
 * offset or not at all: another writer, a gap, a reordered file are
 * refused) and Nats-Expected-Last-Subject-Sequence = 0 (its key is new).
 * Lines the stream already holds are checked instead of published, so an
 * import that stopped half-way is run again to finish.  Then every event is
 * read back and compared with its line.
 */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "hark.h"
#include "jstream.h"

/* s_expand - a sealed blob as a stream holds it: journal.db's compact
 * layout (first byte 3: the run, then per segment class, key id, count,
 * length, ciphertext; journal_crypt.c) made whole again, each segment with
 * its 4-byte length and 24-byte nonce (the run's prefix from seal_runs and
 * the count), since a stream has no seal_runs.  Other blobs as they are.
 * 0/-1 */
static int s_expand(sqlite3 *db, sqlite3_stmt **runs, const unsigned char *b, size_t len,
                    buf_t *out)
{
    buf_reset(out);
    if (len == 0 || b[0] != 3) {
        buf_append(out, (const char *)b, len);
        return buf_failed(out) ? -1 : 0;
    }
    size_t off = 1;
    uint64_t run;
    unsigned char prefix[16];
    if (buf_varint_get(b, len, &off, &run) ||
        (!*runs && sqlite3_prepare_v2(db, "SELECT prefix FROM seal_runs WHERE id = ?", -1, runs,
                                      NULL) != SQLITE_OK))
        return -1;
    sqlite3_bind_int64(*runs, 1, (sqlite3_int64)run);
    int ok = sqlite3_step(*runs) == SQLITE_ROW && sqlite3_column_bytes(*runs, 0) == 16;
    if (ok)
        memcpy(prefix, sqlite3_column_blob(*runs, 0), 16);
    sqlite3_reset(*runs);
    while (ok && off < len) {
        uint64_t count, n;
        if (len - off < 9)
            return -1;
        buf_append(out, (const char *)b + off, 9); /* class, key id */
        off += 9;
        if (buf_varint_get(b, len, &off, &count) || buf_varint_get(b, len, &off, &n) || n > len - off ||
            n > UINT32_MAX - 24)
            return -1;
        unsigned char h[4 + 16 + 8];
        for (int i = 0; i < 4; i++)
            h[i] = (unsigned char)((n + 24) >> (24 - 8 * i));
        memcpy(h + 4, prefix, 16);
        for (int i = 0; i < 8; i++)
            h[20 + i] = (unsigned char)(count >> (8 * i));
        buf_append(out, (const char *)h, sizeof h);
        buf_append(out, (const char *)b + off, (size_t)n);
        off += (size_t)n;
    }
    return ok && !buf_failed(out) ? 0 : -1;
}

/* s_export - journal.db's events as JSON lines into path */
static int s_export(cli_t *cli, const char *path)
{
    sqlite3 *db = NULL;
    const char *dbp = config_get(cli->cfg, "journal", "db");
    if (sqlite3_open_v2(dbp, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "hark: journal export: cannot open %s: %s\n", dbp, sqlite3_errmsg(db));
        sqlite3_close(db);
        return 1;
    }
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *st = NULL, *runs = NULL;
    buf_t blob = BUF_INIT;
    FILE *f = NULL;
    int rc = 1;
    long long n = 0;
    /* sealed_names holds a list's ref in sealed_lists since the journal
     * stores each list once (journal_store.c): its text goes out */
    if (sqlite3_prepare_v2(db,
                           "SELECT offset, type, key, occurred_at, recorded_at, payload, sealed,"
                           " CASE typeof(sealed_names) WHEN 'blob' THEN (SELECT names FROM"
                           " sealed_lists WHERE ref = sealed_names) ELSE sealed_names END"
                           " FROM events ORDER BY offset",
                           -1, &st, NULL) != SQLITE_OK &&
        sqlite3_prepare_v2(db,
                           "SELECT offset, type, key, occurred_at, recorded_at, payload, sealed,"
                           " sealed_names FROM events ORDER BY offset",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "hark: journal export: %s\n", sqlite3_errmsg(db));
        goto done;
    }
    f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "hark: journal export: %s: %s\n", path, strerror(errno));
        goto done;
    }
    int step;
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL); /* one snapshot */
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *line = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "offset",
                                 (json_int_t)sqlite3_column_int64(st, 0), "type",
                                 (const char *)sqlite3_column_text(st, 1), "key",
                                 (const char *)sqlite3_column_text(st, 2), "occurred_at",
                                 (const char *)sqlite3_column_text(st, 3), "recorded_at",
                                 (const char *)sqlite3_column_text(st, 4), "payload",
                                 (const char *)sqlite3_column_text(st, 5));
        if (line && sqlite3_column_type(st, 6) == SQLITE_BLOB) {
            if (s_expand(db, &runs, sqlite3_column_blob(st, 6),
                         (size_t)sqlite3_column_bytes(st, 6), &blob)) {
                fprintf(stderr, "hark: journal export: event %lld: sealed bytes unreadable\n",
                        (long long)sqlite3_column_int64(st, 0));
                json_decref(line);
                goto done;
            }
            size_t len = blob.len;
            size_t b64 = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
            char *text = malloc(b64);
            if (text)
                sodium_bin2base64(text, b64, (const unsigned char *)blob.data, len,
                                  sodium_base64_VARIANT_ORIGINAL);
            json_object_set_new(line, "sealed", text ? json_string(text) : NULL);
            const char *names = (const char *)sqlite3_column_text(st, 7);
            json_object_set_new(line, "sealed_names", json_string(names ? names : ""));
            free(text);
        }
        char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
        json_decref(line);
        if (!text || fprintf(f, "%s\n", text) < 0) {
            free(text);
            fprintf(stderr, "hark: journal export: writing %s failed\n", path);
            goto done;
        }
        free(text);
        n++;
    }
    if (step != SQLITE_DONE) {
        fprintf(stderr, "hark: journal export: %s\n", sqlite3_errmsg(db));
        goto done;
    }
    rc = 0;
done:
    if (f && (fflush(f) || fsync(fileno(f)) || fclose(f)) && rc == 0) {
        fprintf(stderr, "hark: journal export: writing %s failed\n", path);
        rc = 1;
    } else if (f && rc) {
        fclose(f);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(runs);
    buf_free(&blob);
    sqlite3_close(db);
    if (rc == 0)
        printf("exported %lld events to %s\n", n, path);
    return rc;
}

/* one line of an export, as the stream should hold it */
typedef struct {
    int64_t offset;
    const char *f[JSTREAM_FIELDS];
    size_t len[JSTREAM_FIELDS];
    unsigned char *sealed; /* decoded; freed by s_line_free */
} s_line_t;

/* s_line - parse one export line (line stays alive while l is used); 0/-1 */
static int s_line(json_t *line, s_line_t *l)
{
    memset(l, 0, sizeof *l);
    static const char *const names[] = {"type", "key", "occurred_at", "recorded_at", "payload"};
    json_t *o = json_object_get(line, "offset");
    if (!json_is_integer(o) || json_integer_value(o) < 1)
        return -1;
    l->offset = json_integer_value(o);
    for (int i = 0; i < 5; i++) {
        json_t *v = json_object_get(line, names[i]);
        if (!json_is_string(v))
            return -1;
        l->f[i] = json_string_value(v);
        l->len[i] = json_string_length(v);
    }
    const char *sealed = json_string_value(json_object_get(line, "sealed"));
    const char *snames = json_string_value(json_object_get(line, "sealed_names"));
    if (!sealed)
        return 0;
    size_t cap = strlen(sealed), got = 0;
    l->sealed = malloc(cap ? cap : 1);
    if (!l->sealed || !snames ||
        sodium_base642bin(l->sealed, cap, sealed, strlen(sealed), NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL))
        return -1;
    l->f[JSTREAM_NAMES] = snames;
    l->len[JSTREAM_NAMES] = strlen(snames);
    l->f[JSTREAM_SEALED] = (const char *)l->sealed;
    l->len[JSTREAM_SEALED] = got;
    return 0;
}

static void s_line_free(s_line_t *l)
{
    free(l->sealed);
    l->sealed = NULL;
}

/* s_same - the message at l's offset holds l; 1/0 (-1: cannot be read) */
static int s_same(cli_t *cli, jsCtx *js, const s_line_t *l, buf_t *scratch)
{
    natsMsg *m = NULL;
    jsErrCode err = 0;
    if (js_GetMsg(&m, js, config_get(cli->cfg, "journal", "stream"), (uint64_t)l->offset, NULL,
                  &err) != NATS_OK) {
        natsMsg_Destroy(m);
        return -1;
    }
    const char *f[JSTREAM_FIELDS];
    size_t len[JSTREAM_FIELDS];
    int same = jstream_decode(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), scratch, f,
                              len) == 0;
    for (int i = 0; same && i < JSTREAM_FIELDS; i++)
        same = (!f[i] == !l->f[i]) && len[i] == l->len[i] &&
               (!f[i] || memcmp(f[i], l->f[i], len[i]) == 0);
    natsMsg_Destroy(m);
    return same;
}

/* s_publish - l at its own offset; 0/-1 (said why) */
static int s_publish(cli_t *cli, jsCtx *js, const s_line_t *l, buf_t *body)
{
    char subject[JSTREAM_SUBJECT_MAX], prev[24], id[48];
    jstream_subject(config_get(cli->cfg, "journal", "stream"), l->f[JSTREAM_KEY],
                    l->len[JSTREAM_KEY], subject, sizeof subject);
    snprintf(prev, sizeof prev, "%lld", (long long)(l->offset - 1));
    snprintf(id, sizeof id, "import.%lld", (long long)l->offset);
    natsMsg *m = NULL;
    jsPubAck *pa = NULL;
    jsErrCode err = 0;
    if (jstream_encode(body, l->f, l->len) ||
        natsMsg_Create(&m, subject, NULL, body->data, (int)body->len) != NATS_OK ||
        natsMsgHeader_Set(m, "Nats-Msg-Id", id) != NATS_OK ||
        natsMsgHeader_Set(m, "Nats-Expected-Last-Sequence", prev) != NATS_OK ||
        natsMsgHeader_Set(m, "Nats-Expected-Last-Subject-Sequence", "0") != NATS_OK) {
        natsMsg_Destroy(m);
        fprintf(stderr, "hark: journal import: offset %lld: out of memory\n",
                (long long)l->offset);
        return -1;
    }
    natsStatus st = js_PublishMsg(&pa, js, m, NULL, &err);
    int ok = st == NATS_OK && pa && pa->Sequence == (uint64_t)l->offset;
    if (!ok)
        fprintf(stderr, "hark: journal import: offset %lld refused (code %d): %s\n",
                (long long)l->offset, (int)err,
                st == NATS_OK ? "stored at another offset" : nats_GetLastError(NULL));
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
    return ok ? 0 : -1;
}

/* s_import_pass - every line of path: published (check 0) or compared with
 * the stream (check 1, or a line the stream already holds).  0/-1 */
static int s_import_pass(cli_t *cli, jsCtx *js, const char *path, int check, long long *n,
                         long long *published)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "hark: journal import: %s: %s\n", path, strerror(errno));
        return -1;
    }
    jsStreamInfo *si = NULL;
    jsErrCode err = 0;
    const char *stream = config_get(cli->cfg, "journal", "stream");
    if (js_GetStreamInfo(&si, js, stream, NULL, &err) != NATS_OK) {
        fprintf(stderr, "hark: journal import: stream %s: %s\n", stream, nats_GetLastError(NULL));
        fclose(f);
        return -1;
    }
    int64_t last = (int64_t)si->State.LastSeq, expect = 1;
    jsStreamInfo_Destroy(si);
    char *text = NULL;
    size_t cap = 0;
    buf_t body = BUF_INIT, scratch = BUF_INIT;
    int rc = 0;
    *n = 0;
    while (rc == 0 && getline(&text, &cap, f) > 0) {
        json_t *line = json_loads(text, 0, NULL);
        s_line_t l;
        if (!line || s_line(line, &l) || l.offset != expect) {
            fprintf(stderr, "hark: journal import: %s line %lld: not an exported event at"
                            " offset %lld\n", path, *n + 1, (long long)expect);
            rc = -1;
        } else if (check || l.offset <= last) {
            int same = s_same(cli, js, &l, &scratch);
            if (same != 1) {
                fprintf(stderr, "hark: journal import: offset %lld: the stream holds %s\n",
                        (long long)l.offset, same < 0 ? "nothing readable" : "another event");
                rc = -1;
            }
        } else if (s_publish(cli, js, &l, &body)) {
            rc = -1;
        } else {
            (*published)++;
        }
        if (line)
            s_line_free(&l);
        json_decref(line);
        expect++;
        (*n)++;
    }
    free(text);
    fclose(f);
    buf_free(&body);
    buf_free(&scratch);
    return rc;
}

/* s_import - path into the stream, then checked */
static int s_import(cli_t *cli, const char *path)
{
    natsOptions *no = NULL;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    long long n = 0, published = 0;
    int rc = 1;
    if (jstream_connect(cli->cfg, "hark-journal-import", NULL, &no, &nc, &js) ||
        jstream_stream(cli->cfg, js)) {
        fprintf(stderr, "hark: journal import: cannot reach [journal] nats_urls %s\n",
                config_get(cli->cfg, "journal", "nats_urls"));
    } else if (s_import_pass(cli, js, path, 0, &n, &published) == 0 &&
               s_import_pass(cli, js, path, 1, &n, &published) == 0) {
        printf("imported %lld events into stream %s (%lld new), every offset and key checked\n",
               n, config_get(cli->cfg, "journal", "stream"), published);
        rc = 0;
    }
    jstream_close(&no, &nc, &js);
    nats_Close();
    return rc;
}

/* hark_journal - `hark journal export|import FILE` */
int hark_journal(cli_t *cli)
{
    if (cli->argc != 2 || cli->argv[1][0] == '-' ||
        (strcmp(cli->argv[0], "export") && strcmp(cli->argv[0], "import"))) {
        fprintf(stderr, "usage: hark journal export FILE | hark journal import FILE\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    return strcmp(cli->argv[0], "export") == 0 ? s_export(cli, cli->argv[1])
                                               : s_import(cli, cli->argv[1]);
}
