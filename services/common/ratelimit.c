/*
 * ratelimit.c - exact per-address counters in a bounded hash (see the
 * header for why).
 *
 * Entries live in one array of cap; buckets chain them by index.  Finding
 * a free entry when all are used scans the array once (expired first, else
 * the oldest window): that only happens while more than cap addresses are
 * active, and cap scans of a few thousand entries cost microseconds.
 */
#include "ratelimit.h"

#include <netinet/in.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define S_KEY_MAX 17 /* family byte + an IPv6 address */
#define S_NONE ((uint32_t)-1)

typedef struct {
    unsigned char key[S_KEY_MAX];
    unsigned char klen;
    uint32_t next;   /* the next entry in this bucket, or S_NONE */
    int64_t start;   /* when this address's window began */
    int count;
} s_entry_t;

struct ratelimit {
    pthread_mutex_t mu;
    int limit;
    int64_t window_ms;
    size_t cap, used, nbuckets;
    uint32_t *buckets;
    s_entry_t *entries;
};

ratelimit_t *ratelimit_new(int limit, int64_t window_ms, size_t cap)
{
    if (cap == 0 || cap >= S_NONE / 2)
        return NULL;
    ratelimit_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->limit = limit;
    self->window_ms = window_ms > 0 ? window_ms : 1;
    self->cap = cap;
    self->nbuckets = cap * 2;
    self->buckets = malloc(self->nbuckets * sizeof *self->buckets);
    self->entries = calloc(cap, sizeof *self->entries);
    if (!self->buckets || !self->entries || pthread_mutex_init(&self->mu, NULL)) {
        free(self->buckets);
        free(self->entries);
        free(self);
        return NULL;
    }
    for (size_t i = 0; i < self->nbuckets; i++)
        self->buckets[i] = S_NONE;
    return self;
}

void ratelimit_destroy(ratelimit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ratelimit_t *self = *self_p;
    pthread_mutex_destroy(&self->mu);
    free(self->buckets);
    free(self->entries);
    free(self);
    *self_p = NULL;
}

/* s_key - the address as bytes: family, then the address; its length */
static size_t s_key(const struct sockaddr *sa, unsigned char *key)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (sa && sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 5;
    }
    if (sa && sa->sa_family == AF_INET6) {
        const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        if (memcmp(a, mapped, sizeof mapped) == 0) { /* ::ffff:a.b.c.d is a.b.c.d */
            key[0] = 4;
            memcpy(key + 1, a + 12, 4);
            return 5;
        }
        key[0] = 6;
        memcpy(key + 1, a, 16);
        return 17;
    }
    key[0] = 0;
    return 1;
}

/* s_hash - FNV-1a of the key */
static uint32_t s_hash(const unsigned char *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 16777619u;
    return h;
}

/* s_unlink - take entry i out of its bucket's chain */
static void s_unlink(ratelimit_t *self, uint32_t i)
{
    s_entry_t *e = &self->entries[i];
    uint32_t *p = &self->buckets[s_hash(e->key, e->klen) % self->nbuckets];
    while (*p != S_NONE && *p != i)
        p = &self->entries[*p].next;
    if (*p == i)
        *p = e->next;
}

/* s_free_entry - an entry for a new address: unused, else expired, else
 * the oldest window's (unlinked) */
static uint32_t s_free_entry(ratelimit_t *self, int64_t now)
{
    if (self->used < self->cap)
        return (uint32_t)self->used++;
    uint32_t best = 0;
    for (uint32_t i = 0; i < self->cap; i++) {
        if (now - self->entries[i].start >= self->window_ms) {
            best = i;
            break;
        }
        if (self->entries[i].start < self->entries[best].start)
            best = i;
    }
    s_unlink(self, best);
    return best;
}

static int s_hit(ratelimit_t *self, const unsigned char *key, size_t klen, int64_t now_ms,
                 int *retry_s);

int ratelimit_hit(ratelimit_t *self, const struct sockaddr *sa, int64_t now_ms, int *retry_s)
{
    unsigned char key[S_KEY_MAX];
    size_t klen = s_key(sa, key);
    return s_hit(self, key, klen, now_ms, retry_s);
}

int ratelimit_hit_name(ratelimit_t *self, const char *name, int64_t now_ms, int *retry_s)
{
    unsigned char key[S_KEY_MAX], digest[SHA256_DIGEST_SIZE];
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, strlen(name), (const uint8_t *)name);
    sha256_digest(&ctx, sizeof digest, digest);
    key[0] = 'n'; /* addresses are 0, 4 and 6 */
    memcpy(key + 1, digest, 16);
    return s_hit(self, key, S_KEY_MAX, now_ms, retry_s);
}

static int s_hit(ratelimit_t *self, const unsigned char *key, size_t klen, int64_t now_ms,
                 int *retry_s)
{
    uint32_t b = s_hash(key, klen) % self->nbuckets;
    pthread_mutex_lock(&self->mu);
    uint32_t i = self->buckets[b];
    while (i != S_NONE &&
           (self->entries[i].klen != klen || memcmp(self->entries[i].key, key, klen) != 0))
        i = self->entries[i].next;
    s_entry_t *e;
    if (i == S_NONE) {
        i = s_free_entry(self, now_ms);
        e = &self->entries[i];
        memcpy(e->key, key, klen);
        e->klen = (unsigned char)klen;
        e->next = self->buckets[b];
        self->buckets[b] = i;
        e->start = now_ms;
        e->count = 0;
    } else {
        e = &self->entries[i];
    }
    if (now_ms - e->start >= self->window_ms) { /* a new window */
        e->start = now_ms;
        e->count = 0;
    }
    int ok = e->count < self->limit;
    if (ok)
        e->count++;
    int64_t left = e->start + self->window_ms - now_ms;
    pthread_mutex_unlock(&self->mu);
    if (!ok && retry_s)
        *retry_s = left > 0 ? (int)((left + 999) / 1000) : 1;
    return ok;
}

size_t ratelimit_size(ratelimit_t *self)
{
    pthread_mutex_lock(&self->mu);
    size_t n = self->used;
    pthread_mutex_unlock(&self->mu);
    return n;
}
