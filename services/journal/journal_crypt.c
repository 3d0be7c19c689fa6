/*
 * journal_crypt.c - seal and open events' personal fields (see the header).
 *
 * Only events whose type lists personal fields are parsed here (jansson);
 * every other event is stored as the scanner left it.
 */
#include "journal_crypt.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto.h"

#define JCRYPT_CLASSES 2 /* 1 contact, 2 free text */
#define JCRYPT_SEG_HEAD 13

typedef struct {
    char *type;
    size_t type_len;
    json_t *fields[JCRYPT_CLASSES]; /* arrays of paths ("a" or "a.b") */
    json_t *subject;                /* array of [path, kind] */
    int activity;                   /* the customer did something: counts for retention */
} jcrypt_type_t;

struct jcrypt {
    jkeys_t *keys;
    jcrypt_type_t *t;
    size_t n;
    buf_t plain, ad;
};

jcrypt_t *jcrypt_new(jkeys_t *keys)
{
    if (sodium_init() < 0)
        return NULL;
    jcrypt_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->keys = keys;
    size_t cap = 0;
    while (proto_event_schemas[cap].name)
        cap++;
    c->t = calloc(cap ? cap : 1, sizeof *c->t);
    if (!c->t) {
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
    buf_free(&c->plain);
    buf_free(&c->ad);
    free(c);
    *self_p = NULL;
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
        if (owner->len == 0) {
            buf_printf(owner, "%s:%s", kind, v);
            if (strcmp(kind, "customer") == 0)
                customer = v;
            continue;
        }
        if (!customer || strcmp(kind, "customer") == 0)
            continue;
        char ref[320];
        snprintf(ref, sizeof ref, "%s:%s", kind, v);
        if (jkeys_link(c->keys, ref, customer))
            return -1;
    }
    if (owner->len == 0) {
        buf_puts(owner, "event:");
        buf_append(owner, e->key, e->key_len);
    }
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

int jcrypt_seal(jcrypt_t *c, const journal_scan_event_t *e, const char *now, buf_t *rest,
                buf_t *sealed, buf_t *names)
{
    const jcrypt_type_t *t = s_type(c, e->type, e->type_len);
    if (!t)
        return 0;
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
    buf_reset(sealed);
    int year = s_year(e, now);
    rc = -1;
    for (int k = 0; k < JCRYPT_CLASSES; k++) {
        if (!part[k])
            continue;
        int64_t id;
        unsigned char key[JKEYS_LEN];
        if (jkeys_get(c->keys, owner.data, year * 10 + k + 1, t->activity, &id, key))
            goto out;
        char *plain = json_dumps(part[k], JSON_COMPACT);
        if (!plain) {
            sodium_memzero(key, sizeof key);
            goto out;
        }
        size_t len = strlen(plain);
        s_ad(&c->ad, e->type, e->type_len, e->key, e->key_len, k + 1);
        s_put_seg(sealed, k + 1, id,
                  (uint32_t)(len + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                             crypto_aead_xchacha20poly1305_ietf_ABYTES));
        unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
        jkeys_random(c->keys, nonce, sizeof nonce);
        jcrypt_box(key, nonce, c->ad.data, c->ad.len, plain, len, sealed);
        sodium_memzero(plain, len);
        free(plain);
        sodium_memzero(key, sizeof key);
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

int jcrypt_open(jcrypt_t *c, const char *type, const char *key, const char *rest,
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
    while (off + JCRYPT_SEG_HEAD <= sealed_len) {
        const unsigned char *h = sealed + off;
        int class = h[0];
        uint64_t id = 0;
        uint32_t len = 0;
        for (int i = 0; i < 8; i++)
            id = id << 8 | h[1 + i];
        for (int i = 0; i < 4; i++)
            len = len << 8 | h[9 + i];
        off += JCRYPT_SEG_HEAD;
        if (len > sealed_len - off)
            break;
        unsigned char k[JKEYS_LEN];
        int have = jkeys_by_id(c->keys, (int64_t)id, k);
        buf_reset(&c->plain);
        s_ad(&c->ad, type, strlen(type), key, strlen(key), class);
        json_t *part = NULL;
        if (have == 0 && jcrypt_unbox(k, c->ad.data, c->ad.len, sealed + off, len, &c->plain) == 0)
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
