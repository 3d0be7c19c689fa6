/*
 * journal_crypt.c - seal and open events' personal fields (see the header).
 *
 * Only events whose type lists personal fields are parsed here (jansson);
 * every other event is stored as the scanner left it.
 */
#include "journal_crypt.h"

#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto.h"

#define JCRYPT_CLASSES 2 /* 1 contact, 2 free text */
#define JCRYPT_SEG_HEAD 13
#define JCRYPT_COMPACT 3 /* the first byte of a compact blob (a segment's is its class) */

/*
 * Two layouts of the sealed blob.  The first (what the journal wrote
 * before, and still writes where there is no journal.db to hold runs: the
 * JetStream engine) is segments of class (1 byte), key id (8, big-endian),
 * length (4) and the box: the 24-byte nonce, ciphertext and tag.
 *
 * The compact one (jcrypt_use_runs) is JCRYPT_COMPACT, the run (a varint),
 * then segments of class, key id (8), the count (a varint), the length of
 * ciphertext and tag (a varint), ciphertext and tag: 22 bytes fewer for
 * one segment, of a row's ~105, since a longer row is a dearer insert.
 * The nonce is the run's 16-byte random prefix, stored once in journal.db's
 * seal_runs, and the count as its last 8 bytes (little-endian), as before.
 * A run's row is inserted by the first seal that uses it, in the round's
 * own transaction (sealing happens inside the round, on the store's
 * connection), so it is committed with the first row that needs it and
 * rolled back with it.
 *
 * A (key, nonce) pair is never used twice: within a run the count only
 * goes up; every process start draws a new prefix under a new run id; and
 * any rollback of the store (jcrypt_rollback, from journal_store_rollback)
 * draws a new prefix under a new run id too, so a round that failed and is
 * sent again is never sealed under the nonces of boxes a rolled-back
 * round made (bytes that may have reached the WAL uncommitted).  Run ids
 * are never reused in one process (the next is above every id known), so
 * the same blob bytes always name the same prefix.
 */

/* a path of the schema, split once for the text path (its strings are the
 * schema's, held by jcrypt_type_t's arrays) */
typedef struct {
    const char *path; /* "a" or "a.b" */
    size_t len, head_len; /* head: "a" of "a.b" (len when there is no dot) */
    const char *kind;     /* a subject's kind */
    int deep;             /* "a.b.c": the text path does not take it */
} jcrypt_path_t;

#define JCRYPT_PATHS 32 /* of one list; a longer list: the tree path */

typedef struct {
    char *type;
    size_t type_len;
    json_t *fields[JCRYPT_CLASSES]; /* arrays of paths ("a" or "a.b") */
    json_t *subject;                /* array of [path, kind] */
    int activity;                   /* the customer did something: counts for retention */
    jcrypt_path_t paths[JCRYPT_CLASSES][JCRYPT_PATHS], subj[JCRYPT_PATHS];
    size_t n_paths[JCRYPT_CLASSES], n_subj;
    int text; /* the lists fit: the text path may take the type's events */
} jcrypt_type_t;

#define S_MEMBERS 64 /* of one object; more: the tree path */
#define S_NESTED 4   /* objects looked into ("customer" of "customer.email") */

typedef struct {
    const char *name, *val; /* name without its quotes; val the value's text */
    size_t name_len, val_len;
    int taken;   /* class + 1 when sealed */
    int nested;  /* index into the nested table + 1 when looked into */
} s_member_t;

typedef struct {
    s_member_t top[S_MEMBERS];
    size_t n_top;
    s_member_t in[S_NESTED][S_MEMBERS];
    size_t n_in[S_NESTED], n_nested;
} s_text_t;

/*
 * Opened events, cached: every consumer (five and more) fetches each event,
 * mostly soon after it was stored, and opening one is a jansson parse of
 * the rest and of each segment, a decryption and a dump.  Direct-mapped by
 * the event's key; a slot is used only when key and sealed bytes are both
 * the same.  Bounded: JCRYPT_OPEN_CACHE slots of at most JCRYPT_OPEN_MAX
 * bytes each.  Whenever keys may have gone (an erasure, retention, a
 * rollback: jkeys_generation changes) every slot is wiped before anything
 * is opened again, so a fetch after an erasure never sees a cached field.
 */
#define JCRYPT_OPEN_CACHE 8192 /* slots (a power of two) */
#define JCRYPT_OPEN_MAX 4096   /* the key, the sealed bytes and the text of one */

typedef struct {
    char *mem; /* key, then sealed, then the opened text (NUL-terminated) */
    size_t key_len, sealed_len, text_len;
    int erased;
} jcrypt_slot_t;

/*
 * Nonces and subkeys.  XChaCha20-Poly1305 (draft-arciszewski-xchacha-03,
 * what libsodium's crypto_aead_xchacha20poly1305_ietf_* compute) is
 * ChaCha20-Poly1305 (RFC 8439) under a subkey, HChaCha20 of the key and the
 * nonce's first 16 bytes, with the nonce's last 8 as its 96-bit nonce
 * (after four zero bytes).  A nonce was 24 random bytes per event, so each
 * event paid a HChaCha20 and its share of reading the kernel's random
 * pool; now it is 16 random bytes drawn when jcrypt_new is called (prefix)
 * and a 64-bit count of the boxes sealed since.  That is safe: nonces of
 * one process never repeat (the count only goes up, a failed round's are
 * skipped, never reused), and two processes (every start, each jcrypt)
 * draw their own 128-bit prefix, so two share one with chance 2^-128 per
 * pair of runs (2^-65 among 2^32 starts of one journal): negligible, as a
 * random nonce's collision is.  A key's subkey is then the same for every
 * event the process seals under it, and is cached by key id (JCRYPT_SUBKEYS,
 * direct-mapped, with the key it came from).  The subkeys are wiped with
 * the opened events whenever keys may have gone (jkeys_generation), so an
 * erased key leaves nothing in memory that seals or opens under it.
 *
 * One box is then one call for the keystream: block 0's first 32 bytes
 * key Poly1305, blocks 1.. are XORed with the plaintext, and the tag is
 * Poly1305 of ad, zero padding to 16, ciphertext, padding, and the two
 * lengths as 64-bit little-endian numbers (RFC 8439 2.8).  libsodium's own
 * encrypt makes block 0 and the rest in two calls of its one-block code
 * (0.19 us a block on the 2-vCPU machine, where four blocks at once cost
 * 0.27 us): the same bytes, measured at half the time for a customer's
 * fields.  test_journal_crypt checks s_box against libsodium's
 * crypto_aead_xchacha20poly1305_ietf_encrypt byte for byte, and
 * everything is opened by libsodium's decrypt (jcrypt_unbox), as before.
 */
#define JCRYPT_SUBKEYS 1024 /* cached subkeys (a power of two) */
#define JCRYPT_STREAM 1024  /* keystream one box makes at once; larger ones: libsodium */

typedef struct {
    int64_t id; /* the key's; 0: empty */
    unsigned char key[JKEYS_LEN], sub[JKEYS_LEN];
} jcrypt_sub_t;

typedef struct {
    int64_t id;
    unsigned char prefix[16];
} jcrypt_run_t;

struct jcrypt {
    jkeys_t *keys;
    jcrypt_slot_t *opened;
    jcrypt_sub_t *subs;
    uint64_t opened_gen; /* the keys' generation the slots and subkeys were filled in */
    unsigned char prefix[16]; /* the nonces' first 16 bytes, random at jcrypt_new */
    uint64_t sealed;          /* boxes sealed: the nonces' last 8 bytes */
    /* compact blobs (jcrypt_use_runs): NULL db, the first layout */
    sqlite3 *db;
    sqlite3_stmt *run_put;
    jcrypt_run_t *runs; /* every run's prefix, ids ascending */
    size_t n_runs, cap_runs;
    int64_t run;    /* this run's id (prefix); its row not yet inserted: !run_stored */
    int run_stored;
    unsigned char stream[JCRYPT_STREAM];
    jcrypt_type_t *t;
    size_t n;
    buf_t plain, ad, owner;
    s_text_t text; /* s_seal_text's spans of one payload */
};

/* s_path - one path split; 0, or -1 when it is not a string */
static int s_path(jcrypt_path_t *p, json_t *path, json_t *kind)
{
    p->path = json_string_value(path);
    p->kind = kind ? json_string_value(kind) : NULL;
    if (!p->path || (kind && !p->kind))
        return -1;
    p->len = strlen(p->path);
    const char *dot = strchr(p->path, '.');
    p->head_len = dot ? (size_t)(dot - p->path) : p->len;
    p->deep = dot && strchr(dot + 1, '.') != NULL;
    return 0;
}

/* s_compile - the type's lists split for the text path (t->text) */
static void s_compile(jcrypt_type_t *t)
{
    size_t i;
    json_t *f;
    t->text = json_array_size(t->subject) <= JCRYPT_PATHS;
    json_array_foreach(t->subject, i, f) {
        if (!t->text || s_path(&t->subj[t->n_subj++], json_array_get(f, 0), json_array_get(f, 1)))
            t->text = 0;
    }
    for (int k = 0; k < JCRYPT_CLASSES; k++) {
        t->text = t->text && json_array_size(t->fields[k]) <= JCRYPT_PATHS;
        json_array_foreach(t->fields[k], i, f) {
            if (!t->text || s_path(&t->paths[k][t->n_paths[k]++], f, NULL))
                t->text = 0;
        }
    }
}

jcrypt_t *jcrypt_new(jkeys_t *keys)
{
    if (sodium_init() < 0)
        return NULL;
    jcrypt_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->keys = keys;
    c->opened = calloc(JCRYPT_OPEN_CACHE, sizeof *c->opened);
    c->subs = calloc(JCRYPT_SUBKEYS, sizeof *c->subs);
    c->opened_gen = jkeys_generation(keys);
    randombytes_buf(c->prefix, sizeof c->prefix);
    size_t cap = 0;
    while (proto_event_schemas[cap].name)
        cap++;
    c->t = calloc(cap ? cap : 1, sizeof *c->t);
    if (!c->t || !c->opened || !c->subs) {
        free(c->t);
        free(c->opened);
        free(c->subs);
        free(c);
        return NULL;
    }
    for (size_t i = 0; i < cap; i++) {
        json_t *s = json_loads(proto_event_schemas[i].json, 0, NULL);
        json_t *x = json_object_get(s, "x-hark");
        json_t *p = json_object_get(x, "personal"), *f = json_object_get(x, "free_text");
        if (json_array_size(p) + json_array_size(f) > 0) {
            jcrypt_type_t *t = &c->t[c->n++];
            t->type = strdup(proto_event_schemas[i].name);
            t->type_len = t->type ? strlen(t->type) : 0;
            t->fields[0] = json_incref(p);
            t->fields[1] = json_incref(f);
            t->subject = json_incref(json_object_get(x, "subject"));
            t->activity = json_is_true(json_object_get(x, "activity"));
            s_compile(t);
        }
        json_decref(s);
    }
    return c;
}

void jcrypt_destroy(jcrypt_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    jcrypt_t *c = *self_p;
    for (size_t i = 0; i < c->n; i++) {
        free(c->t[i].type);
        json_decref(c->t[i].fields[0]);
        json_decref(c->t[i].fields[1]);
        json_decref(c->t[i].subject);
    }
    free(c->t);
    jcrypt_forget(c);
    sqlite3_finalize(c->run_put);
    free(c->runs);
    free(c->opened);
    free(c->subs);
    buf_free(&c->plain);
    buf_free(&c->ad);
    buf_free(&c->owner);
    free(c);
    *self_p = NULL;
}

/* s_run_add - a run's prefix into memory (ids ascending); 0/-1 */
static int s_run_add(jcrypt_t *c, int64_t id, const unsigned char prefix[16])
{
    if (c->n_runs == c->cap_runs) {
        size_t cap = c->cap_runs ? 2 * c->cap_runs : 16;
        jcrypt_run_t *r = realloc(c->runs, cap * sizeof *r);
        if (!r)
            return -1;
        c->runs = r;
        c->cap_runs = cap;
    }
    c->runs[c->n_runs].id = id;
    memcpy(c->runs[c->n_runs++].prefix, prefix, 16);
    return 0;
}

/* s_run_prefix - run id's prefix, or NULL when none is known */
static const unsigned char *s_run_prefix(const jcrypt_t *c, int64_t id)
{
    size_t lo = 0, hi = c->n_runs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->runs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->n_runs && c->runs[lo].id == id ? c->runs[lo].prefix : NULL;
}

/* s_run_next - this process's next run: an id above every one known */
static void s_run_next(jcrypt_t *c)
{
    int64_t top = c->n_runs ? c->runs[c->n_runs - 1].id : 0;
    c->run = (top > c->run ? top : c->run) + 1;
    c->run_stored = 0;
}

int jcrypt_use_runs(jcrypt_t *c, sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, prefix FROM seal_runs ORDER BY id", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 1) != 16)
            continue; /* not one of ours: its rows do not open */
        if (s_run_add(c, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1))) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE ||
        sqlite3_prepare_v2(db, "INSERT INTO seal_runs(id, prefix) VALUES(?, ?)", -1, &c->run_put,
                           NULL) != SQLITE_OK)
        return -1;
    c->db = db;
    s_run_next(c);
    return 0;
}

void jcrypt_rollback(jcrypt_t *c)
{
    /* a new prefix (see "Two layouts"): the subkeys made from the old one go */
    randombytes_buf(c->prefix, sizeof c->prefix);
    c->sealed = 0;
    jcrypt_forget(c);
    if (c->db)
        s_run_next(c);
}

/* s_seal_begin - sealed reset, with the compact layout's head (the run's
 * row inserted first, in the open round, when this run has none); 0/-1 */
static int s_seal_begin(jcrypt_t *c, buf_t *sealed)
{
    buf_reset(sealed);
    if (!c->db)
        return 0;
    if (!c->run_stored) {
        sqlite3_bind_int64(c->run_put, 1, c->run);
        sqlite3_bind_blob(c->run_put, 2, c->prefix, sizeof c->prefix, SQLITE_STATIC);
        int rc = sqlite3_step(c->run_put);
        sqlite3_reset(c->run_put);
        if (rc != SQLITE_DONE || s_run_add(c, c->run, c->prefix)) {
            log_error("event=seal_run_failed error=\"%s\"", sqlite3_errmsg(c->db));
            return -1;
        }
        c->run_stored = 1;
    }
    buf_putc(sealed, JCRYPT_COMPACT);
    buf_varint(sealed, (uint64_t)c->run);
    return 0;
}

/* s_type - the type's lists, or NULL when it has no personal fields */
static const jcrypt_type_t *s_type(const jcrypt_t *c, const char *type, size_t len)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->t[i].type_len == len && memcmp(c->t[i].type, type, len) == 0)
            return &c->t[i];
    return NULL;
}

/* s_parent - the object holding path's last part, and that part; with
 * make, the objects on the way are created */
static json_t *s_parent(json_t *root, const char *path, const char **leaf, int make)
{
    const char *dot = strchr(path, '.');
    if (!dot) {
        *leaf = path;
        return root;
    }
    char head[64];
    size_t hl = (size_t)(dot - path);
    if (hl >= sizeof head)
        return NULL;
    memcpy(head, path, hl);
    head[hl] = '\0';
    json_t *o = json_object_get(root, head);
    if (!o && make) {
        o = json_object();
        json_object_set_new(root, head, o);
    }
    *leaf = dot + 1;
    return json_is_object(o) ? o : NULL;
}

static json_t *s_get(json_t *root, const char *path)
{
    const char *leaf;
    json_t *p = s_parent(root, path, &leaf, 0);
    return p ? json_object_get(p, leaf) : NULL;
}

void jcrypt_box(const unsigned char key[JKEYS_LEN], const unsigned char *nonce, const void *ad,
                size_t ad_len, const void *plain, size_t len, buf_t *out)
{
    size_t need = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + len +
                  crypto_aead_xchacha20poly1305_ietf_ABYTES;
    if (buf_reserve(out, need))
        return;
    unsigned char *n = (unsigned char *)out->data + out->len;
    if (nonce)
        memcpy(n, nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    else
        randombytes_buf(n, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(n + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                               NULL, plain, len, ad, ad_len, NULL, n, key);
    out->len += need;
    out->data[out->len] = '\0';
}

int jcrypt_unbox(const unsigned char key[JKEYS_LEN], const void *ad, size_t ad_len,
                 const void *box, size_t len, buf_t *out)
{
    const size_t over =
        crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    if (len < over || buf_reserve(out, len - over))
        return -1;
    const unsigned char *n = box;
    unsigned long long got = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            (unsigned char *)out->data + out->len, &got, NULL,
            n + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
            len - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ad, ad_len, n, key) != 0)
        return -1;
    out->len += (size_t)got;
    out->data[out->len] = '\0';
    return 0;
}

/* s_unbox - box (ciphertext and tag) opened with key and nonce into out: 0/-1 */
static int s_unbox(const unsigned char key[JKEYS_LEN], const unsigned char nonce[24],
                   const void *ad, size_t ad_len, const unsigned char *box, size_t len, buf_t *out)
{
    unsigned long long got = 0;
    if (len < crypto_aead_xchacha20poly1305_ietf_ABYTES ||
        buf_reserve(out, len - crypto_aead_xchacha20poly1305_ietf_ABYTES) ||
        crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)out->data + out->len, &got,
                                                   NULL, box, len, ad, ad_len, nonce, key) != 0)
        return -1;
    out->len += (size_t)got;
    out->data[out->len] = '\0';
    return 0;
}

/* s_ad - the associated data of a segment: type, key and class */
static void s_ad(buf_t *ad, const char *type, size_t type_len, const char *key, size_t key_len,
                 int class)
{
    buf_reset(ad);
    buf_append(ad, type, type_len);
    buf_putc(ad, '\n');
    buf_append(ad, key, key_len);
    buf_putc(ad, '\n');
    buf_putc(ad, (char)('0' + class));
}

/* s_owner_add - one subject present, in the spec's order: the first names the
 * owner (and *customer when it is a customer); a later one is linked to that
 * customer, so the customer's erasure reaches the keys it owns; 0/-1.  Both
 * s_owner (jansson) and s_seal_text (the compact text) build owners here, so
 * the two readers cannot disagree on whose key seals an event. */
static int s_owner_add(jcrypt_t *c, buf_t *owner, const char *kind, const char *v,
                       const char **customer)
{
    if (owner->len == 0) {
        buf_puts(owner, kind);
        buf_putc(owner, ':');
        buf_puts(owner, v);
        if (strcmp(kind, "customer") == 0)
            *customer = v;
        return 0;
    }
    if (!*customer || strcmp(kind, "customer") == 0)
        return 0;
    char ref[320];
    snprintf(ref, sizeof ref, "%s:%s", kind, v);
    return jkeys_link(c->keys, ref, *customer) ? -1 : 0;
}

/* s_owner_end - an event with no subject present is its own owner */
static void s_owner_end(buf_t *owner, const journal_scan_event_t *e)
{
    if (owner->len == 0) {
        buf_puts(owner, "event:");
        buf_append(owner, e->key, e->key_len);
    }
}

/* s_owner - whose keys seal the event, links made on the way; 0/-1 */
static int s_owner(jcrypt_t *c, const jcrypt_type_t *t, json_t *tree,
                   const journal_scan_event_t *e, buf_t *owner)
{
    size_t i;
    json_t *s;
    const char *customer = NULL;
    buf_reset(owner);
    json_array_foreach(t->subject, i, s) {
        const char *v = json_string_value(s_get(tree, json_string_value(json_array_get(s, 0))));
        const char *kind = json_string_value(json_array_get(s, 1));
        if (!v || !*v || !kind)
            continue;
        if (s_owner_add(c, owner, kind, v, &customer))
            return -1;
    }
    s_owner_end(owner, e);
    return buf_failed(owner) ? -1 : 0;
}

/* s_year - the calendar year the event occurred in */
static int s_year(const journal_scan_event_t *e, const char *now)
{
    const char *s = e->occurred_at && e->occurred_at_len >= 4 ? e->occurred_at : now;
    int y = 0;
    for (int i = 0; i < 4 && s[i] >= '0' && s[i] <= '9'; i++)
        y = y * 10 + (s[i] - '0');
    return y;
}

/* s_put_seg - a segment's head: class, key id and length, big-endian */
static void s_put_seg(buf_t *b, int class, int64_t id, uint32_t len)
{
    char h[JCRYPT_SEG_HEAD];
    h[0] = (char)class;
    for (int i = 0; i < 8; i++)
        h[1 + i] = (char)((uint64_t)id >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        h[9 + i] = (char)(len >> (24 - 8 * i));
    buf_append(b, h, sizeof h);
}

/* s_subkey - the subkey of key (id) for this jcrypt's prefix: cached */
static const unsigned char *s_subkey(jcrypt_t *c, int64_t id, const unsigned char key[JKEYS_LEN])
{
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ULL; /* ids' low bits are mostly 0 */
    jcrypt_sub_t *s = &c->subs[(h >> 32) & (JCRYPT_SUBKEYS - 1)];
    if (s->id != id || memcmp(s->key, key, JKEYS_LEN) != 0) {
        crypto_core_hchacha20(s->sub, c->prefix, key, NULL);
        memcpy(s->key, key, JKEYS_LEN);
        s->id = id;
    }
    return s->sub;
}

/* s_box - jcrypt_box's bytes, nonce given, with sub its subkey (see
 * "Nonces and subkeys" above) */
static void s_box(jcrypt_t *c, const unsigned char sub[JKEYS_LEN], const unsigned char nonce[24],
                  int put_nonce, const void *ad, size_t ad_len, const void *plain, size_t len,
                  buf_t *out)
{
    static const unsigned char zero[16] = {0};
    const size_t nl = put_nonce ? 24 : 0;
    const size_t need = nl + len + crypto_aead_chacha20poly1305_ietf_ABYTES;
    if (buf_reserve(out, need))
        return;
    unsigned char *n = (unsigned char *)out->data + out->len, *ct = n + nl, *tag = ct + len;
    unsigned char in[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = {0};
    memcpy(n, nonce, nl);
    memcpy(in + 4, nonce + 16, 8);
    size_t blocks = (64 + len + 255) & ~(size_t)255; /* libsodium's 4- and 8-block code */
    if (blocks > sizeof c->stream) {
        crypto_aead_chacha20poly1305_ietf_encrypt_detached(ct, tag, NULL, plain, len, ad, ad_len,
                                                           NULL, in, sub);
    } else {
        crypto_stream_chacha20_ietf(c->stream, blocks, in, sub);
        const unsigned char *p = plain, *ks = c->stream + 64;
        size_t i = 0;
        for (; i + 8 <= len; i += 8) {
            uint64_t a, b;
            memcpy(&a, p + i, 8);
            memcpy(&b, ks + i, 8);
            a ^= b;
            memcpy(ct + i, &a, 8);
        }
        for (; i < len; i++)
            ct[i] = p[i] ^ ks[i];
        crypto_onetimeauth_poly1305_state st;
        unsigned char lens[16];
        for (int b = 0; b < 8; b++) {
            lens[b] = (unsigned char)((uint64_t)ad_len >> (8 * b));
            lens[8 + b] = (unsigned char)((uint64_t)len >> (8 * b));
        }
        crypto_onetimeauth_poly1305_init(&st, c->stream);
        crypto_onetimeauth_poly1305_update(&st, ad, ad_len);
        crypto_onetimeauth_poly1305_update(&st, zero, (0x10 - ad_len) & 0xf);
        crypto_onetimeauth_poly1305_update(&st, ct, len);
        crypto_onetimeauth_poly1305_update(&st, zero, (0x10 - len) & 0xf);
        crypto_onetimeauth_poly1305_update(&st, lens, sizeof lens);
        crypto_onetimeauth_poly1305_final(&st, tag);
        sodium_memzero(&st, sizeof st);
        sodium_memzero(c->stream, blocks);
    }
    out->len += need;
    out->data[out->len] = '\0';
}

/* s_seal_part - one class's fields (plain, a JSON object) sealed under the
 * owner's key for the year, as a segment appended to sealed; 0/-1 */
static int s_seal_part(jcrypt_t *c, const jcrypt_type_t *t, const journal_scan_event_t *e,
                       const char *owner, int year, int k, const char *plain, size_t len,
                       buf_t *sealed)
{
    int64_t id;
    unsigned char key[JKEYS_LEN];
    if (jkeys_get(c->keys, owner, year * 10 + k + 1, t->activity, &id, key))
        return -1;
    s_ad(&c->ad, e->type, e->type_len, e->key, e->key_len, k + 1);
    unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    memcpy(nonce, c->prefix, sizeof c->prefix);
    uint64_t count = c->sealed++;
    for (int i = 0; i < 8; i++)
        nonce[16 + i] = (unsigned char)(count >> (8 * i));
    if (c->db) { /* compact: class, id, count, length */
        char h[9];
        h[0] = (char)(k + 1);
        for (int i = 0; i < 8; i++)
            h[1 + i] = (char)((uint64_t)id >> (56 - 8 * i));
        buf_append(sealed, h, sizeof h);
        buf_varint(sealed, count);
        buf_varint(sealed, len + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    } else {
        s_put_seg(sealed, k + 1, id,
                  (uint32_t)(len + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                             crypto_aead_xchacha20poly1305_ietf_ABYTES));
    }
    s_box(c, s_subkey(c, id, key), nonce, !c->db, c->ad.data, c->ad.len, plain, len, sealed);
    sodium_memzero(key, sizeof key);
    return 0;
}

/* s_seal_tree - jcrypt_seal by a jansson tree: any payload s_seal_text
 * does not take */
static int s_seal_tree(jcrypt_t *c, const jcrypt_type_t *t, const journal_scan_event_t *e,
                       const char *now, buf_t *rest, buf_t *sealed, buf_t *names)
{
    json_t *tree = json_loadb(e->payload, e->payload_len, 0, NULL);
    if (!json_is_object(tree)) {
        json_decref(tree);
        return -1;
    }
    json_t *part[JCRYPT_CLASSES] = {NULL, NULL};
    int rc = -1;
    /* the owner from the whole payload, before the fields go: an address
     * is both a subject and personal */
    buf_t owner = BUF_INIT;
    if (s_owner(c, t, tree, e, &owner))
        goto out;
    rc = 0;
    buf_reset(names);
    for (int k = 0; k < JCRYPT_CLASSES; k++) {
        size_t i;
        json_t *f;
        json_array_foreach(t->fields[k], i, f) {
            const char *path = json_string_value(f), *leaf, *pl;
            json_t *p = s_parent(tree, path, &leaf, 0), *v = p ? json_object_get(p, leaf) : NULL;
            if (!v)
                continue;
            if (!part[k])
                part[k] = json_object();
            json_t *q = s_parent(part[k], path, &pl, 1);
            if (!q)
                continue;
            json_object_set(q, pl, v);
            json_object_del(p, leaf);
            buf_printf(names, "%s%s%s", names->len ? "," : "", json_is_string(v) ? "" : "-",
                       path);
        }
    }
    if (!part[0] && !part[1])
        goto out; /* nothing personal in this one */
    rc = -1;
    if (s_seal_begin(c, sealed))
        goto out;
    int year = s_year(e, now);
    for (int k = 0; k < JCRYPT_CLASSES; k++) {
        if (!part[k])
            continue;
        char *plain = json_dumps(part[k], JSON_COMPACT);
        if (!plain)
            goto out;
        size_t len = strlen(plain);
        int bad = s_seal_part(c, t, e, owner.data, year, k, plain, len, sealed);
        sodium_memzero(plain, len);
        free(plain);
        if (bad)
            goto out;
    }
    char *r = json_dumps(tree, JSON_COMPACT);
    buf_reset(rest);
    if (r)
        buf_puts(rest, r);
    free(r);
    rc = r && !buf_failed(rest) && !buf_failed(sealed) && !buf_failed(names) &&
                 !buf_failed(&c->ad)
             ? 1
             : -1;
out:
    buf_free(&owner);
    json_decref(part[0]);
    json_decref(part[1]);
    json_decref(tree);
    return rc;
}

/*
 * The text path.  Parsing each payload into a jansson tree and dumping the
 * rest and each class back to text was most of sealing's CPU (a tree of a
 * 300-byte customer is some 30 allocations).  The payloads the journal
 * stores are compact JSON already checked (journal_scan.c, or jansson's own
 * dump), so the members can be cut out of the text as it is: s_skip finds
 * where a value ends, s_members lists an object's members, and the rest and
 * the parts are copied from those spans.  What this reader does not take
 * (whitespace, an escape in a member name or in a subject's value, too many
 * members) goes to s_seal_tree, which gives the same meaning.
 */
/* s_skip - the end of the compact JSON value at p, or NULL when it is not
 * one this reader takes */
static const char *s_skip(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < end; p++) {
            if (*p == '"') {
                const char *q = s_skip(p, end);
                if (!q)
                    return NULL;
                p = q - 1;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
        }
        return NULL;
    }
    const char *q = p;
    while (q < end && *q != ',' && *q != '}' && *q != ']') {
        if (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
            return NULL;
        q++;
    }
    return q > p ? q : NULL;
}

/* s_members - the members of the object text[0..len) (exactly one object)
 * into m; 0, or -1 when this reader does not take it */
static int s_members(const char *text, size_t len, s_member_t *m, size_t *n)
{
    const char *p = text, *end = text + len;
    *n = 0;
    if (len < 2 || *p != '{' || end[-1] != '}')
        return -1;
    p++;
    if (p == end - 1)
        return 0;
    for (;;) {
        if (*n == S_MEMBERS || p >= end || *p != '"')
            return -1;
        const char *q = s_skip(p, end);
        if (!q || q >= end || *q != ':' || memchr(p, '\\', (size_t)(q - p)))
            return -1;
        s_member_t *x = &m[(*n)++];
        x->taken = x->nested = 0;
        x->name = p + 1;
        x->name_len = (size_t)(q - p) - 2;
        x->val = q + 1;
        const char *v = s_skip(x->val, end);
        if (!v)
            return -1;
        x->val_len = (size_t)(v - x->val);
        if (v == end - 1)
            return 0;
        if (*v != ',')
            return -1;
        p = v + 1;
    }
}

static s_member_t *s_find(s_member_t *m, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].name_len == len && memcmp(m[i].name, name, len) == 0)
            return &m[i];
    return NULL;
}

/* s_lookup - the member at path p ("a" or "a.b").  0 (*out NULL when
 * absent), or -1 when this reader does not take it */
static int s_lookup(s_text_t *x, const jcrypt_path_t *p, s_member_t **out)
{
    *out = NULL;
    if (p->deep)
        return -1;
    s_member_t *h = s_find(x->top, x->n_top, p->path, p->head_len);
    if (p->head_len == p->len) {
        *out = h;
        return 0;
    }
    if (!h || h->val_len == 0 || h->val[0] != '{')
        return 0; /* absent, or not an object: nothing there */
    if (!h->nested) {
        if (x->n_nested == S_NESTED)
            return -1;
        size_t i = x->n_nested;
        if (s_members(h->val, h->val_len, x->in[i], &x->n_in[i]))
            return -1;
        h->nested = (int)++x->n_nested;
    }
    size_t i = (size_t)h->nested - 1;
    *out = s_find(x->in[i], x->n_in[i], p->path + p->head_len + 1, p->len - p->head_len - 1);
    return 0;
}

/*
 * The rest and the parts are written into room reserved once: each is at
 * most the payload's length (its members, names and commas are the
 * payload's own, a nested object's head at most once), so the writer only
 * checks it stays inside (s_w_put), instead of a buf call per piece.
 */
typedef struct {
    char *at, *end;
    int over; /* a piece did not fit (cannot happen: see above) */
} s_w_t;

static void s_w_put(s_w_t *w, const char *p, size_t n)
{
    if ((size_t)(w->end - w->at) < n) {
        w->over = 1;
        return;
    }
    memcpy(w->at, p, n);
    w->at += n;
}

static void s_w_c(s_w_t *w, char ch)
{
    if (w->at == w->end) {
        w->over = 1;
        return;
    }
    *w->at++ = ch;
}

/* s_put_member - "name":value, straight from the payload (the quote before
 * the name and the colon after it are the payload's too) */
static void s_put_member(s_w_t *w, const s_member_t *m)
{
    s_w_put(w, m->name - 1, (size_t)(m->val + m->val_len - (m->name - 1)));
}

/* s_put_head - "name":{ of a nested object */
static void s_put_head(s_w_t *w, const s_member_t *m)
{
    s_w_put(w, m->name - 1, (size_t)(m->val - (m->name - 1)) + 1);
}

/* s_put_part - class k's members as one object: nested ones under their
 * head, as s_seal_tree's tree would have them */
static void s_put_part(s_w_t *w, s_text_t *x, int k)
{
    s_w_c(w, '{');
    int first = 1;
    for (size_t i = 0; i < x->n_top; i++) {
        s_member_t *m = &x->top[i];
        if (m->taken == k + 1) {
            if (!first)
                s_w_c(w, ',');
            s_put_member(w, m);
            first = 0;
            continue;
        }
        if (!m->nested)
            continue;
        size_t n = (size_t)m->nested - 1, any = 0;
        for (size_t j = 0; j < x->n_in[n]; j++) {
            if (x->in[n][j].taken != k + 1)
                continue;
            if (!any) {
                if (!first)
                    s_w_c(w, ',');
                s_put_head(w, m);
            } else {
                s_w_c(w, ',');
            }
            s_put_member(w, &x->in[n][j]);
            any = 1;
            first = 0;
        }
        if (any)
            s_w_c(w, '}');
    }
    s_w_c(w, '}');
}

/* s_put_rest - the payload without what was taken */
static void s_put_rest(s_w_t *w, s_text_t *x)
{
    s_w_c(w, '{');
    int first = 1;
    for (size_t i = 0; i < x->n_top; i++) {
        s_member_t *m = &x->top[i];
        if (m->taken)
            continue;
        if (!first)
            s_w_c(w, ',');
        first = 0;
        size_t n = (size_t)m->nested - 1;
        int cut = 0;
        for (size_t j = 0; m->nested && j < x->n_in[n]; j++)
            cut |= x->in[n][j].taken != 0;
        if (!cut) {
            s_put_member(w, m);
            continue;
        }
        s_put_head(w, m);
        int f = 1;
        for (size_t j = 0; j < x->n_in[n]; j++) {
            if (x->in[n][j].taken)
                continue;
            if (!f)
                s_w_c(w, ',');
            s_put_member(w, &x->in[n][j]);
            f = 0;
        }
        s_w_c(w, '}');
    }
    s_w_c(w, '}');
}

/* s_write - b reset and written by put (the part of class k, or the rest
 * when k < 0), NUL-terminated; 0/-1 */
static int s_write(buf_t *b, s_text_t *x, size_t room, int k)
{
    buf_reset(b);
    if (buf_reserve(b, room))
        return -1;
    s_w_t w = {b->data, b->data + room, 0};
    if (k < 0)
        s_put_rest(&w, x);
    else
        s_put_part(&w, x, k);
    b->len = (size_t)(w.at - b->data);
    b->data[b->len] = '\0';
    return w.over ? -1 : 0;
}

/* s_seal_text - jcrypt_seal on the payload's text; 2 when this reader does
 * not take it (nothing done) */
static int s_seal_text(jcrypt_t *c, const jcrypt_type_t *t, const journal_scan_event_t *e,
                       const char *now, buf_t *rest, buf_t *sealed, buf_t *names)
{
    s_text_t *x = &c->text;
    x->n_nested = 0;
    if (!t->text || s_members(e->payload, e->payload_len, x->top, &x->n_top))
        return 2;
    /* everything this reader might refuse, before anything is written */
    s_member_t *subj[JCRYPT_PATHS], *field[JCRYPT_CLASSES][JCRYPT_PATHS];
    for (size_t i = 0; i < t->n_subj; i++) {
        s_member_t *m;
        if (s_lookup(x, &t->subj[i], &m))
            return 2;
        if (m && m->val[0] == '"' && (m->val_len > 250 || memchr(m->val, '\\', m->val_len)))
            return 2;
        subj[i] = m;
    }
    for (int k = 0; k < JCRYPT_CLASSES; k++)
        for (size_t i = 0; i < t->n_paths[k]; i++)
            if (s_lookup(x, &t->paths[k][i], &field[k][i]))
                return 2;
    /* the owner, as s_owner finds it: the first subject present */
    buf_t *owner = &c->owner;
    buf_reset(owner);
    const char *customer = NULL;
    char cust[256];
    for (size_t i = 0; i < t->n_subj; i++) {
        const s_member_t *m = subj[i];
        if (!m || m->val[0] != '"' || m->val_len <= 2)
            continue;
        char v[256];
        memcpy(v, m->val + 1, m->val_len - 2);
        v[m->val_len - 2] = '\0';
        if (s_owner_add(c, owner, t->subj[i].kind, v, &customer))
            return -1;
        if (customer == v) { /* v is this iteration's copy */
            memcpy(cust, v, m->val_len - 1);
            customer = cust;
        }
    }
    s_owner_end(owner, e);
    if (buf_failed(owner))
        return -1;
    /* the fields, class by class; one listed twice goes with the first */
    buf_reset(names);
    int any[JCRYPT_CLASSES] = {0, 0};
    for (int k = 0; k < JCRYPT_CLASSES; k++) {
        for (size_t i = 0; i < t->n_paths[k]; i++) {
            s_member_t *m = field[k][i];
            if (!m || m->taken)
                continue;
            m->taken = k + 1;
            any[k] = 1;
            if (names->len)
                buf_putc(names, ',');
            if (m->val[0] != '"')
                buf_putc(names, '-');
            buf_append(names, t->paths[k][i].path, t->paths[k][i].len);
        }
    }
    if (!any[0] && !any[1])
        return 0;
    if (s_seal_begin(c, sealed))
        return -1;
    int year = s_year(e, now);
    for (int k = 0; k < JCRYPT_CLASSES; k++) {
        if (!any[k])
            continue;
        int bad = s_write(&c->plain, x, e->payload_len, k) ||
                  s_seal_part(c, t, e, owner->data, year, k, c->plain.data, c->plain.len, sealed);
        if (c->plain.data)
            sodium_memzero(c->plain.data, c->plain.len);
        if (bad)
            return -1;
    }
    return !s_write(rest, x, e->payload_len, -1) && !buf_failed(sealed) && !buf_failed(names) &&
                   !buf_failed(&c->ad)
               ? 1
               : -1;
}

int jcrypt_seal(jcrypt_t *c, const journal_scan_event_t *e, const char *now, buf_t *rest,
                buf_t *sealed, buf_t *names)
{
    const jcrypt_type_t *t = s_type(c, e->type, e->type_len);
    if (!t)
        return 0;
    if (c->opened_gen != jkeys_generation(c->keys))
        jcrypt_forget(c); /* keys may have gone: their subkeys with them */
    int rc = s_seal_text(c, t, e, now, rest, sealed, names);
    return rc == 2 ? s_seal_tree(c, t, e, now, rest, sealed, names) : rc;
}

/* s_merge - put src's members into dst, objects one level down merged */
static void s_merge(json_t *dst, json_t *src)
{
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v) {
        json_t *d = json_object_get(dst, k);
        if (json_is_object(d) && json_is_object(v))
            json_object_update(d, v);
        else
            json_object_set(dst, k, v);
    }
}

/* s_open - jcrypt_open without the cache */
static int s_open(jcrypt_t *c, const char *type, const char *key, const char *rest,
                  const unsigned char *sealed, size_t sealed_len, const char *names, buf_t *out,
                  int *erased)
{
    *erased = 0;
    json_t *tree = json_loads(rest, 0, NULL);
    if (!json_is_object(tree)) {
        json_decref(tree);
        return -1;
    }
    size_t off = 0;
    const unsigned char *prefix = NULL;
    if (sealed_len > 0 && sealed[0] == JCRYPT_COMPACT) {
        uint64_t run;
        off = 1;
        if (buf_varint_get(sealed, sealed_len, &off, &run) == 0)
            prefix = s_run_prefix(c, (int64_t)run);
        if (!prefix)
            off = sealed_len + 1; /* a run this file does not hold: nothing opens */
    }
    unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    while (off < sealed_len) {
        const unsigned char *h = sealed + off, *box;
        int class = h[0];
        uint64_t id = 0, len = 0;
        if (prefix) { /* compact: class, id, count, length; the nonce is the run's */
            uint64_t count;
            if (sealed_len - off < 9)
                break;
            for (int i = 0; i < 8; i++)
                id = id << 8 | h[1 + i];
            off += 9;
            if (buf_varint_get(sealed, sealed_len, &off, &count) ||
                buf_varint_get(sealed, sealed_len, &off, &len) ||
                len < crypto_aead_xchacha20poly1305_ietf_ABYTES || len > sealed_len - off)
                break;
            memcpy(nonce, prefix, 16);
            for (int i = 0; i < 8; i++)
                nonce[16 + i] = (unsigned char)(count >> (8 * i));
            box = sealed + off;
        } else {
            if (sealed_len - off < JCRYPT_SEG_HEAD)
                break;
            for (int i = 0; i < 8; i++)
                id = id << 8 | h[1 + i];
            for (int i = 0; i < 4; i++)
                len = len << 8 | h[9 + i];
            off += JCRYPT_SEG_HEAD;
            if (len > sealed_len - off || len < crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
                break;
            memcpy(nonce, sealed + off, sizeof nonce);
            box = sealed + off + sizeof nonce;
        }
        size_t box_len = (size_t)len - (size_t)(box - (sealed + off));
        unsigned char k[JKEYS_LEN];
        int have = jkeys_by_id(c->keys, (int64_t)id, k);
        buf_reset(&c->plain);
        s_ad(&c->ad, type, strlen(type), key, strlen(key), class);
        json_t *part = NULL;
        if (have == 0 && s_unbox(k, nonce, c->ad.data, c->ad.len, box, box_len, &c->plain) == 0)
            part = json_loadb(c->plain.data, c->plain.len, 0, NULL);
        else if (have == 0)
            log_error("event=unseal_failed key=\"%s\"", key);
        sodium_memzero(k, sizeof k);
        if (c->plain.data)
            sodium_memzero(c->plain.data, c->plain.len);
        if (json_is_object(part))
            s_merge(tree, part);
        else
            *erased = 1;
        json_decref(part);
        off += len;
    }
    if (off != sealed_len)
        *erased = 1;
    if (*erased) {
        /* every named field the segments did not give back: "[erased]" */
        char path[200];
        const char *p = names;
        while (p && *p) {
            const char *end = strchr(p, ',');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            int str = *p != '-';
            if (!str)
                p++, n--;
            if (n < sizeof path) {
                memcpy(path, p, n);
                path[n] = '\0';
                const char *leaf;
                json_t *par = s_parent(tree, path, &leaf, 1);
                if (str && par && !json_object_get(par, leaf))
                    json_object_set_new(par, leaf, json_string(JCRYPT_ERASED));
            }
            p = end ? end + 1 : NULL;
        }
    }
    char *text = json_dumps(tree, JSON_COMPACT);
    json_decref(tree);
    if (!text)
        return -1;
    buf_puts(out, text);
    free(text);
    return 0;
}

void jcrypt_forget(jcrypt_t *c)
{
    for (size_t i = 0; c->opened && i < JCRYPT_OPEN_CACHE; i++) {
        jcrypt_slot_t *s = &c->opened[i];
        if (!s->mem)
            continue;
        sodium_memzero(s->mem, s->key_len + s->sealed_len + s->text_len + 1);
        free(s->mem);
        memset(s, 0, sizeof *s);
    }
    if (c->subs)
        sodium_memzero(c->subs, JCRYPT_SUBKEYS * sizeof *c->subs);
    c->opened_gen = jkeys_generation(c->keys);
}

int jcrypt_open(jcrypt_t *c, const char *type, const char *key, const char *rest,
                const unsigned char *sealed, size_t sealed_len, const char *names, buf_t *out,
                int *erased)
{
    if (c->opened_gen != jkeys_generation(c->keys))
        jcrypt_forget(c);
    size_t key_len = strlen(key);
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < key_len; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
    jcrypt_slot_t *s = &c->opened[h & (JCRYPT_OPEN_CACHE - 1)];
    if (s->mem && s->key_len == key_len && s->sealed_len == sealed_len &&
        memcmp(s->mem, key, key_len) == 0 &&
        memcmp(s->mem + key_len, sealed, sealed_len) == 0) {
        *erased = s->erased;
        buf_append(out, s->mem + key_len + sealed_len, s->text_len);
        return 0;
    }
    size_t from = out->len;
    if (s_open(c, type, key, rest, sealed, sealed_len, names, out, erased))
        return -1;
    size_t text_len = out->len - from;
    /* an erased event is not kept: a key that failed to read is not gone */
    if (*erased || buf_failed(out) || key_len + sealed_len + text_len >= JCRYPT_OPEN_MAX)
        return 0;
    char *mem = malloc(key_len + sealed_len + text_len + 1);
    if (!mem)
        return 0;
    if (s->mem) {
        sodium_memzero(s->mem, s->key_len + s->sealed_len + s->text_len + 1);
        free(s->mem);
    }
    memcpy(mem, key, key_len);
    memcpy(mem + key_len, sealed, sealed_len);
    memcpy(mem + key_len + sealed_len, out->data + from, text_len);
    mem[key_len + sealed_len + text_len] = '\0';
    s->mem = mem;
    s->key_len = key_len;
    s->sealed_len = sealed_len;
    s->text_len = text_len;
    s->erased = *erased;
    return 0;
}
