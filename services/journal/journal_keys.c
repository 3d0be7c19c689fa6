/*
 * journal_keys.c - journal-keys.db: the data keys, wrapped, and the links
 * that tie invites, cases and addresses to a customer.
 *
 * The file has secure_delete on, so a deleted key's bytes are zeroed in
 * its page, and jkeys_shred() checkpoints the WAL and truncates it, so no
 * earlier copy of that page survives in the WAL either.  Writes happen in
 * one transaction per journal round, begun on the first write and
 * committed (jkeys_commit) before the round's events are: an event is
 * never durable before the key that opens it.  A key committed for a
 * round that then failed opens nothing and costs 80 bytes.
 *
 * A new key's row goes straight into keys, at its right edge; its entry
 * in the owner index (the table owners) waits in memory and goes in with
 * many others at once (s_flush): see "The unindexed keys" below.
 *
 * Unwrapped keys are cached in two small direct-mapped tables (by owner,
 * as the caller names it, and by id): a customer's events mostly come
 * together, and a collision only costs an unwrap.  An erasure, retention
 * or a rollback forgets the whole cache and bumps the generation, which
 * tells jcrypt to wipe the events it keeps opened.
 */
#include "journal_keys.h"

#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "journal_ckpt.h"
#include "journal_crypt.h"
#include "db.h"
#include "log.h"

#define JKEYS_CACHE 4096 /* entries of each cache (a power of two) */
#define JKEYS_OWNER_MAX 300
#define JKEYS_CKPT_PAGES 256 /* WAL growth (pages) that wakes the checkpoint thread */

static const char *const s_migrations[] = {
    "CREATE TABLE keys("
    "  id INTEGER PRIMARY KEY,"          /* random, never reused */
    "  owner TEXT NOT NULL,"              /* tag of customer:ID invite:ID case:ID address:A event:KEY */
    "  period INTEGER NOT NULL,"          /* year * 10 + class (1 contact, 2 free text) */
    "  wrapped BLOB NOT NULL,"
    "  made_at TEXT NOT NULL,"
    "  used_at TEXT NOT NULL,"            /* the day it last sealed an event */
    "  who BLOB,"                         /* the owner, sealed by the master key (for retention) */
    "  customer INTEGER NOT NULL DEFAULT 0);" /* 1: the owner is a customer */
    "CREATE UNIQUE INDEX keys_owner ON keys(owner, period);"
    "CREATE TABLE links(ref TEXT PRIMARY KEY, customer TEXT NOT NULL);" /* tags */
    "CREATE INDEX links_customer ON links(customer);",
    /* owners are found by a 64-bit integer tag (the first 8 bytes of the
     * same keyed hash, s_tags) instead of the 32-hex text: a new owner's
     * entry lands in a random page of this index, and one half the size
     * means fewer pages each round rewrites.  The text stays in the row,
     * so two owners whose tags collide are told apart.  Rows made before
     * get their tag from the text when the file is opened (s_backfill). */
    "ALTER TABLE keys ADD COLUMN tag INTEGER;"
    "DROP INDEX keys_owner;"
    "CREATE INDEX keys_tag ON keys(tag, period);"
    /* new keys, not yet in keys (s_flush): found by jkeys_t's fresh map */
    "CREATE TABLE fresh(id INTEGER PRIMARY KEY, owner TEXT NOT NULL, period INTEGER NOT NULL,"
    "  wrapped BLOB NOT NULL, made_at TEXT NOT NULL, used_at TEXT NOT NULL, who BLOB,"
    "  customer INTEGER NOT NULL DEFAULT 0, tag INTEGER NOT NULL);",
    /* a new key's row was written twice, into fresh and then into keys,
     * and deleted from fresh (secure_delete zeroing it): two thirds of the
     * bytes a new key cost.  Now the row goes into keys once, at its right
     * edge (ids rise with time), and only the owner index waits: it is a
     * table of its own, owners (tag, period, id: 20-odd bytes an entry),
     * filled by s_flush from the keys above indexed.upto.  The trigger
     * keeps it from naming a deleted key.  (db_open has secure_delete on
     * here, so fresh's pages are zeroed as it goes.) */
    "INSERT INTO keys(id, owner, period, wrapped, made_at, used_at, who, customer, tag)"
    " SELECT id, owner, period, wrapped, made_at, used_at, who, customer, tag FROM fresh;"
    "DROP TABLE fresh;"
    "DROP INDEX keys_tag;"
    "CREATE TABLE owners(tag INTEGER NOT NULL, period INTEGER NOT NULL, id INTEGER NOT NULL,"
    "  PRIMARY KEY(tag, period, id)) WITHOUT ROWID;"
    "CREATE TABLE indexed(upto INTEGER NOT NULL);" /* keys with a higher id are not in owners */
    "INSERT INTO indexed VALUES(0);"
    "CREATE TRIGGER keys_gone AFTER DELETE ON keys BEGIN"
    "  DELETE FROM owners WHERE tag = old.tag AND period = old.period AND id = old.id;"
    "END;",
    NULL,
};

/* The unindexed keys and their map.  A new owner's entry in the owner
 * index lands in a random page, and at commit every page a round changed
 * is written out whole: with a new customer per event that was a 4 KiB
 * page per key, most of sealing's cost.  So a new key's row goes into
 * keys (no index but its id, which rises: the right edge), and an
 * in-memory map finds it by tag; when the map holds JKEYS_FRESH_MAX the
 * entries go into owners together, in tag order, in the round's
 * transaction, so a page of the index takes many entries at once.  The
 * map is made again from the keys above indexed.upto on open and after a
 * rollback; an entry whose row is gone (dropped) or names another owner
 * (a tag collision) is skipped, as every hit is checked against the row. */
#define JKEYS_FRESH_MAX 32768
#define JKEYS_FRESH_SLOTS (2 * JKEYS_FRESH_MAX)

typedef struct {
    int64_t tag;
    int64_t id; /* 0: empty */
    int period;
} jkeys_fresh_t;

typedef struct {
    int64_t id;
    int period;
    int used_day;
    char owner[JKEYS_OWNER_MAX];
    unsigned char key[JKEYS_LEN];
} jkeys_slot_t;

struct jkeys {
    sqlite3 *db;
    journal_ckpt_t *ckpt; /* keeps the WAL short in the background */
    unsigned char master[JKEYS_LEN];
    int writing; /* a transaction is open */
    sqlite3_stmt *by_owner, *by_id, *insert, *touch, *link_get, *link_put, *del;
    sqlite3_stmt *fresh_get;
    jkeys_fresh_t *fresh; /* JKEYS_FRESH_SLOTS, open addressing */
    size_t fresh_n;       /* entries in it */
    jkeys_slot_t *by_owner_cache, *by_id_cache;
    unsigned char pool[4096]; /* jkeys_random's */
    size_t pool_left;
    int64_t last_id; /* the highest id made or seen (s_new_id) */
    uint64_t generation; /* bumped whenever cached keys are forgotten */
    buf_t who;           /* a new key wrapped with its owner (s_wrap_who), the buffer kept */
    int64_t now_ms;      /* s_today's last time, and now formatted */
    char now[40];
    int64_t day_mono; /* s_day's: when it last read the clock (monotonic), and the day */
    int day;
};

/* s_hash - FNV-1a 64 of owner and period */
static uint64_t s_hash(const char *owner, int period)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)owner; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (h ^ (uint64_t)period) * 1099511628211ULL;
}

/* s_tag64 - the integer tag of a hashed owner: its first 8 bytes, big-endian */
static int64_t s_tag64(const unsigned char h[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | h[i];
    return (int64_t)v;
}

/* s_tags - what the file stores for an owner, a ref or a customer: a keyed
 * hash (BLAKE2b under the master key) in hex, so journal-keys.db names no
 * one - an address is a ref, and an erased customer's id must not stay -
 * and, when tag is given, the integer the owner index is on */
static void s_tags(const jkeys_t *k, const char *text, char out[33], int64_t *tag)
{
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)text, strlen(text), k->master,
                       JKEYS_LEN);
    sodium_bin2hex(out, 33, h, sizeof h);
    if (tag)
        *tag = s_tag64(h);
}

static void s_tag(const jkeys_t *k, const char *text, char out[33])
{
    s_tags(k, text, out, NULL);
}

/* s_sql_tag - jkeys_tag(hex) in SQL: the integer tag of a stored hex tag,
 * for rows made before the column and for joins from links' text refs */
static void s_sql_tag(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const unsigned char *hex = sqlite3_value_text(argv[0]);
    unsigned char h[8];
    size_t got = 0;
    if (!hex || sqlite3_value_bytes(argv[0]) < 16 ||
        sodium_hex2bin(h, sizeof h, (const char *)hex, 16, NULL, &got, NULL) != 0 ||
        got != sizeof h) {
        sqlite3_result_null(ctx);
        return;
    }
    sqlite3_result_int64(ctx, s_tag64(h));
}

/* s_backfill - the tag of every row made before the column (once: only
 * the unindexed keys are looked at, and rows without a tag are unindexed
 * until the first s_flush after the migration) */
static int s_backfill(jkeys_t *k)
{
    if (db_int(k->db, "SELECT count(*) FROM (SELECT 1 FROM keys"
                      " WHERE id > (SELECT upto FROM indexed) AND tag IS NULL LIMIT 1)",
               0) == 0)
        return 0;
    if (db_begin(k->db) || db_exec(k->db, "UPDATE keys SET tag = jkeys_tag(owner)"
                                          " WHERE id > (SELECT upto FROM indexed)"
                                          " AND tag IS NULL") ||
        db_commit(k->db)) {
        db_rollback(k->db);
        return -1;
    }
    return 0;
}

static void s_forget(jkeys_t *k)
{
    k->generation++;
    sodium_memzero(k->by_owner_cache, JKEYS_CACHE * sizeof *k->by_owner_cache);
    sodium_memzero(k->by_id_cache, JKEYS_CACHE * sizeof *k->by_id_cache);
}

static size_t s_fresh_slot(int64_t tag, int period)
{
    uint64_t h = ((uint64_t)tag ^ (uint64_t)period * 0x9e3779b97f4a7c15ULL) * 0xff51afd7ed558ccdULL;
    return (size_t)(h >> 32) & (JKEYS_FRESH_SLOTS - 1);
}

static void s_fresh_put(jkeys_t *k, int64_t tag, int period, int64_t id)
{
    size_t i = s_fresh_slot(tag, period);
    while (k->fresh[i].id)
        i = (i + 1) & (JKEYS_FRESH_SLOTS - 1);
    k->fresh[i].tag = tag;
    k->fresh[i].period = period;
    k->fresh[i].id = id;
    k->fresh_n++;
}

/* s_fresh_load - the map from the unindexed keys (on open, after a rollback) */
static int s_fresh_load(jkeys_t *k)
{
    memset(k->fresh, 0, JKEYS_FRESH_SLOTS * sizeof *k->fresh);
    k->fresh_n = 0;
    sqlite3_stmt *st = db_prepare(k->db, "SELECT id, tag, period FROM keys"
                                         " WHERE id > (SELECT upto FROM indexed)");
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && k->fresh_n < JKEYS_FRESH_SLOTS - 1)
        s_fresh_put(k, sqlite3_column_int64(st, 1), sqlite3_column_int(st, 2),
                    sqlite3_column_int64(st, 0));
    db_finish(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* s_ad - a key's id as associated data, big-endian */
static void s_ad(int64_t id, unsigned char ad[8])
{
    for (int i = 0; i < 8; i++)
        ad[i] = (unsigned char)((uint64_t)id >> (56 - 8 * i));
}

/* s_unwrap - a stored key into key: wrapped (len bytes) is JKEYS_WRAPPED
 * bytes, the key alone (its owner then in the column who), or longer: the
 * key and its owner sealed in one box (s_wrap_who), the owner into who
 * when it is given.  0, or -1 when the bytes, master or id are not theirs */
static int s_unwrap(const jkeys_t *k, int64_t id, const unsigned char *wrapped, size_t len,
                    unsigned char key[JKEYS_LEN], buf_t *who)
{
    if (len == JKEYS_WRAPPED && !who)
        return jkeys_unwrap(k->master, id, wrapped, key);
    if (len <= JKEYS_WRAPPED || len >= JKEYS_WRAPPED + JKEYS_OWNER_MAX)
        return -1;
    unsigned char plain[JKEYS_LEN + JKEYS_OWNER_MAX], ad[8];
    s_ad(id, ad);
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, wrapped + 24, len - 24,
                                                        ad, sizeof ad, wrapped, k->master);
    if (rc == 0) {
        memcpy(key, plain, JKEYS_LEN);
        if (who) {
            buf_reset(who);
            buf_append(who, (const char *)plain + JKEYS_LEN, len - JKEYS_WRAPPED);
        }
    }
    sodium_memzero(plain, sizeof plain);
    return rc == 0 ? 0 : -1;
}

/* s_wrap_who - key and its owner (plain) sealed together by the master,
 * id as associated data, into out: 24 bytes of nonce, then the box, so
 * JKEYS_WRAPPED + strlen(plain) bytes.  The owner was a second box (the
 * column who) with a nonce and a tag of its own: one AEAD and 40 bytes a
 * new key more. */
static void s_wrap_who(const jkeys_t *k, int64_t id, const unsigned char key[JKEYS_LEN],
                       const char *plain, const unsigned char nonce[24], buf_t *out)
{
    size_t len = strlen(plain);
    unsigned char msg[JKEYS_LEN + JKEYS_OWNER_MAX], ad[8];
    memcpy(msg, key, JKEYS_LEN);
    memcpy(msg + JKEYS_LEN, plain, len);
    s_ad(id, ad);
    buf_reset(out);
    if (buf_reserve(out, JKEYS_WRAPPED + len) == 0) {
        unsigned char *w = (unsigned char *)out->data;
        memcpy(w, nonce, 24);
        crypto_aead_xchacha20poly1305_ietf_encrypt(w + 24, NULL, msg, JKEYS_LEN + len, ad,
                                                   sizeof ad, NULL, w, k->master);
        out->len = JKEYS_WRAPPED + len;
    }
    sodium_memzero(msg, sizeof msg);
}

/* s_fresh_find - the unindexed key of owner (its hex tag) for period: 1
 * found (*id, key, used), 0 none, -1 error */
static int s_fresh_find(jkeys_t *k, int64_t tag, const char *owner, int period, int64_t *id,
                        unsigned char key[JKEYS_LEN], char *used, size_t used_len)
{
    for (size_t i = s_fresh_slot(tag, period); k->fresh[i].id;
         i = (i + 1) & (JKEYS_FRESH_SLOTS - 1)) {
        if (k->fresh[i].tag != tag || k->fresh[i].period != period)
            continue;
        sqlite3_bind_int64(k->fresh_get, 1, k->fresh[i].id);
        int rc = sqlite3_step(k->fresh_get), found = 0;
        if (rc == SQLITE_ROW && sqlite3_column_int(k->fresh_get, 3) == period &&
            strcmp((const char *)sqlite3_column_text(k->fresh_get, 2), owner) == 0) {
            *id = k->fresh[i].id;
            snprintf(used, used_len, "%s", (const char *)sqlite3_column_text(k->fresh_get, 1));
            found = s_unwrap(k, *id, sqlite3_column_blob(k->fresh_get, 0),
                             (size_t)sqlite3_column_bytes(k->fresh_get, 0), key, NULL) == 0
                        ? 1
                        : -1;
        }
        sqlite3_reset(k->fresh_get);
        if (found || (rc != SQLITE_ROW && rc != SQLITE_DONE))
            return found > 0 ? 1 : -1;
    }
    return 0;
}

/* s_flush - the unindexed keys into owners, in its order (in the open write) */
static int s_flush(jkeys_t *k)
{
    if (db_exec(k->db, "INSERT OR IGNORE INTO owners(tag, period, id)"
                       " SELECT tag, period, id FROM keys WHERE id > (SELECT upto FROM indexed)"
                       " ORDER BY tag, period, id") ||
        db_exec(k->db, "UPDATE indexed SET upto = coalesce((SELECT max(id) FROM keys), upto)"))
        return -1;
    memset(k->fresh, 0, JKEYS_FRESH_SLOTS * sizeof *k->fresh);
    k->fresh_n = 0;
    return 0;
}

/* s_catch_up - on open: more unindexed keys than the map takes (a file
 * just migrated, whose keys are all above indexed.upto = 0) go into owners
 * now, in a transaction of their own */
static int s_catch_up(jkeys_t *k)
{
    if (db_int(k->db, "SELECT count(*) FROM keys WHERE id > (SELECT upto FROM indexed)", 0) <
        JKEYS_FRESH_MAX)
        return 0;
    if (db_begin(k->db) || s_flush(k) || db_commit(k->db)) {
        db_rollback(k->db);
        return -1;
    }
    return 0;
}

jkeys_t *jkeys_new(const char *path, const char *synchronous,
                   const unsigned char master[JKEYS_LEN])
{
    if (sodium_init() < 0)
        return NULL;
    jkeys_t *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    memcpy(k->master, master, JKEYS_LEN);
    k->by_owner_cache = calloc(JKEYS_CACHE, sizeof *k->by_owner_cache);
    k->by_id_cache = calloc(JKEYS_CACHE, sizeof *k->by_id_cache);
    k->fresh = calloc(JKEYS_FRESH_SLOTS, sizeof *k->fresh);
    k->db = db_open(path, synchronous, s_migrations);
    if (!k->by_owner_cache || !k->by_id_cache || !k->fresh || !k->db ||
        sqlite3_create_function_v2(k->db, "jkeys_tag", 1,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                   s_sql_tag, NULL, NULL, NULL) != SQLITE_OK ||
        db_exec(k->db, "PRAGMA secure_delete = ON") ||
        /* hashed owners land all over the owner index: with SQLite's 2 MiB
         * cache, every new key re-read pages from the OS */
        db_exec(k->db, "PRAGMA cache_size = -65536") ||
        /* each round of new owners rewrites hundreds of its pages: a
         * checkpoint every 1,000 pages (SQLite's default) ran in the commit,
         * copying every version out and fsyncing, nearly every round.  A
         * thread of its own checkpoints instead (journal_ckpt.c), PASSIVE,
         * every JKEYS_CKPT_PAGES, while the loop goes on: the WAL stays
         * short, so the TRUNCATE an erasure waits for (jkeys_shred) copies
         * little - it copied up to 16,384 pages when SQLite's checkpoint
         * was set that far apart to spare the commits. */
        s_backfill(k) || s_catch_up(k) || !(k->ckpt = journal_ckpt_new_every(k->db, JKEYS_CKPT_PAGES, JCKPT_MAX_PAGES))) {
        jkeys_destroy(&k);
        return NULL;
    }
    k->by_owner = db_prepare(k->db, "SELECT k.id, k.wrapped, k.used_at FROM owners o"
                                    " CROSS JOIN keys k ON k.id = o.id"
                                    " WHERE o.tag = ?1 AND o.period = ?2 AND k.owner = ?3");
    k->by_id = db_prepare(k->db, "SELECT wrapped FROM keys WHERE id = ?1");
    k->insert = db_prepare(k->db, "INSERT INTO keys(id, owner, period, wrapped, made_at,"
                                  " used_at, who, customer, tag)"
                                  " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    k->touch = db_prepare(k->db, "UPDATE keys SET used_at = ? WHERE id = ?");
    k->link_get = db_prepare(k->db, "SELECT customer FROM links WHERE ref = ?");
    k->link_put = db_prepare(k->db, "INSERT INTO links(ref, customer) VALUES(?, ?)"
                                    " ON CONFLICT(ref) DO UPDATE SET customer = excluded.customer");
    k->del = db_prepare(k->db, "DELETE FROM keys WHERE id = ?");
    k->fresh_get = db_prepare(k->db, "SELECT wrapped, used_at, owner, period FROM keys"
                                     " WHERE id = ?");
    if (!k->by_owner || !k->by_id || !k->insert || !k->touch || !k->link_get || !k->link_put ||
        !k->del || !k->fresh_get || s_fresh_load(k)) {
        jkeys_destroy(&k);
        return NULL;
    }
    k->last_id = db_int(k->db, "SELECT coalesce(max(id), 0) FROM keys", 0);
    return k;
}

void jkeys_destroy(jkeys_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    jkeys_t *k = *self_p;
    if (k->writing)
        db_rollback(k->db);
    sqlite3_finalize(k->by_owner);
    sqlite3_finalize(k->by_id);
    sqlite3_finalize(k->insert);
    sqlite3_finalize(k->touch);
    sqlite3_finalize(k->link_get);
    sqlite3_finalize(k->link_put);
    sqlite3_finalize(k->del);
    sqlite3_finalize(k->fresh_get);
    journal_ckpt_destroy(&k->ckpt); /* its thread stops before the connection closes */
    db_close(&k->db);
    if (k->by_owner_cache)
        s_forget(k);
    free(k->by_owner_cache);
    free(k->by_id_cache);
    free(k->fresh);
    buf_free(&k->who);
    sodium_memzero(k->master, sizeof k->master);
    sodium_memzero(k->pool, sizeof k->pool);
    free(k);
    *self_p = NULL;
}

/* s_write - open the round's write on first use */
static int s_write(jkeys_t *k)
{
    if (k->writing)
        return 0;
    journal_ckpt_before_begin(k->ckpt);
    if (db_begin(k->db))
        return -1;
    k->writing = 1;
    return 0;
}

int jkeys_commit(jkeys_t *k)
{
    if (!k->writing)
        return 0;
    k->writing = 0;
    if (db_commit(k->db) == 0) {
        journal_ckpt_committed(k->ckpt);
        return 0;
    }
    db_rollback(k->db);
    s_forget(k);
    s_fresh_load(k);
    return -1;
}

void jkeys_rollback(jkeys_t *k)
{
    if (!k->writing)
        return;
    k->writing = 0;
    db_rollback(k->db);
    s_forget(k); /* keys made in it are gone */
    if (s_fresh_load(k))
        log_error("event=key_map_failed error=\"%s\"", sqlite3_errmsg(k->db));
}

void jkeys_random(jkeys_t *k, void *out, size_t n)
{
    unsigned char *o = out;
    while (n > 0) {
        if (k->pool_left == 0) {
            randombytes_buf(k->pool, sizeof k->pool);
            k->pool_left = sizeof k->pool;
        }
        size_t take = n < k->pool_left ? n : k->pool_left;
        unsigned char *from = k->pool + sizeof k->pool - k->pool_left;
        memcpy(o, from, take);
        sodium_memzero(from, take); /* handed out once */
        k->pool_left -= take;
        o += take;
        n -= take;
    }
}

void jkeys_wrap(const unsigned char master[JKEYS_LEN], int64_t id,
                const unsigned char key[JKEYS_LEN], const unsigned char *nonce,
                unsigned char wrapped[JKEYS_WRAPPED])
{
    unsigned char ad[8];
    for (int i = 0; i < 8; i++)
        ad[i] = (unsigned char)((uint64_t)id >> (56 - 8 * i));
    if (nonce)
        memcpy(wrapped, nonce, 24);
    else
        randombytes_buf(wrapped, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(wrapped + 24, NULL, key, JKEYS_LEN, ad, sizeof ad,
                                               NULL, wrapped, master);
}

int jkeys_unwrap(const unsigned char master[JKEYS_LEN], int64_t id,
                 const unsigned char wrapped[JKEYS_WRAPPED], unsigned char key[JKEYS_LEN])
{
    unsigned char ad[8];
    for (int i = 0; i < 8; i++)
        ad[i] = (unsigned char)((uint64_t)id >> (56 - 8 * i));
    return crypto_aead_xchacha20poly1305_ietf_decrypt(key, NULL, NULL, wrapped + 24,
                                                      JKEYS_WRAPPED - 24, ad, sizeof ad, wrapped,
                                                      master) == 0
               ? 0
               : -1;
}

/* s_new_id - a key's id: the time in ms, shifted left 21 bits, plus a
 * count, and above every id this file or the erasure log ever held
 * (jkeys_seen).  Ids were random; in time order every new key row goes at
 * the right edge of the b-tree instead of into a random page, which halved
 * the pages each round wrote with a new key per event.  Never reused, even
 * after a restored older copy: the clock, and the floor, only go up. */
static int64_t s_new_id(jkeys_t *k)
{
    int64_t t = clock_now_ms();
    int64_t id = t > 0 && t < (INT64_MAX >> 21) ? t << 21 : 0;
    if (id <= k->last_id)
        id = k->last_id + 1;
    k->last_id = id;
    return id;
}

uint64_t jkeys_generation(const jkeys_t *k) { return k->generation; }

void jkeys_seen(jkeys_t *k, int64_t id)
{
    if (id > k->last_id)
        k->last_id = id;
}

/* s_today - days since the epoch, and the RFC 3339 time now: formatted
 * once a millisecond (a new key per event formatted it for each, a
 * fiftieth of the journal's time) */
static int s_today(jkeys_t *k, char *now, size_t len)
{
    int64_t ms = clock_now_ms();
    if (ms != k->now_ms || !k->now[0]) {
        clock_format(ms, k->now, sizeof k->now);
        k->now_ms = ms;
    }
    snprintf(now, len, "%s", k->now);
    return (int)(ms / 86400000);
}

/* s_day - days since the epoch, the clock read at most every 100 ms:
 * clock_now_ms looks up HARK_CLOCK_FILE in the environment each call, a
 * twentieth of a microsecond on every event sealed (jkeys_get), for a day
 * that changes once a day.  The test offset is cached for as long
 * (clock.c) */
static int s_day(jkeys_t *k)
{
    int64_t mono = clock_mono_ms();
    if (k->day == 0 || mono - k->day_mono >= 100) {
        k->day = (int)(clock_now_ms() / 86400000);
        k->day_mono = mono;
    }
    return k->day;
}

/* s_touch - a key's used_at; 0/-1 */
static int s_touch(jkeys_t *k, int64_t id, const char *now)
{
    sqlite3_bind_text(k->touch, 1, now, -1, SQLITE_STATIC);
    sqlite3_bind_int64(k->touch, 2, id);
    int rc = sqlite3_step(k->touch);
    sqlite3_reset(k->touch);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* s_del - a key gone (its owners entry with it, by the trigger): the rows
 * deleted, or -1 */
static int s_del(jkeys_t *k, int64_t id)
{
    sqlite3_bind_int64(k->del, 1, id);
    int rc = sqlite3_step(k->del);
    sqlite3_reset(k->del);
    return rc == SQLITE_DONE ? (int)sqlite3_changes(k->db) : -1;
}

int jkeys_get(jkeys_t *k, const char *owner, int period, int touch, int64_t *id,
              unsigned char key[JKEYS_LEN])
{
    if (strlen(owner) >= JKEYS_OWNER_MAX)
        return -1;
    const char *plain = owner;
    char now[40];
    int today = s_day(k);
    /* the cache is looked up by the owner as given, so a hit costs no keyed
     * hash: it is memory only, like the unwrapped key beside it */
    jkeys_slot_t *s = &k->by_owner_cache[s_hash(plain, period) & (JKEYS_CACHE - 1)];
    if (s->id && s->period == period && strcmp(s->owner, plain) == 0) {
        if (touch && s->used_day != today) { /* last activity, for retention: once a day */
            if (s_write(k))
                return -1;
            s_today(k, now, sizeof now);
            if (s_touch(k, s->id, now))
                return -1;
            s->used_day = today;
        }
        *id = s->id;
        memcpy(key, s->key, JKEYS_LEN);
        return 0;
    }
    char tag[33];
    int64_t tag64;
    s_tags(k, owner, tag, &tag64);
    owner = tag;
    today = s_today(k, now, sizeof now);
    int found = 0, rc;
    char used[40] = "";
    sqlite3_bind_int64(k->by_owner, 1, tag64);
    sqlite3_bind_int(k->by_owner, 2, period);
    sqlite3_bind_text(k->by_owner, 3, owner, -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(k->by_owner)) == SQLITE_ROW) {
        *id = sqlite3_column_int64(k->by_owner, 0);
        snprintf(used, sizeof used, "%s", (const char *)sqlite3_column_text(k->by_owner, 2));
        found = s_unwrap(k, *id, sqlite3_column_blob(k->by_owner, 1),
                         (size_t)sqlite3_column_bytes(k->by_owner, 1), key, NULL) == 0
                    ? 1
                    : -1;
    }
    sqlite3_reset(k->by_owner);
    if (found == 0 && rc == SQLITE_DONE)
        found = s_fresh_find(k, tag64, owner, period, id, key, used, sizeof used);
    if (found < 0 || (rc != SQLITE_ROW && rc != SQLITE_DONE)) {
        log_error("event=key_unreadable owner_period=%d", period);
        return -1;
    }
    if (s_write(k))
        return -1;
    if (!found) {
        /* the key and its nonce in one draw */
        unsigned char rnd[JKEYS_LEN + 24];
        if (k->fresh_n >= JKEYS_FRESH_MAX && s_flush(k)) {
            log_error("event=key_store_failed error=\"%s\"", sqlite3_errmsg(k->db));
            return -1;
        }
        *id = s_new_id(k);
        jkeys_random(k, rnd, sizeof rnd);
        memcpy(key, rnd, JKEYS_LEN);
        s_wrap_who(k, *id, key, plain, rnd + JKEYS_LEN, &k->who);
        sodium_memzero(rnd, sizeof rnd);
        sqlite3_bind_int64(k->insert, 1, *id);
        sqlite3_bind_text(k->insert, 2, owner, -1, SQLITE_STATIC);
        sqlite3_bind_int(k->insert, 3, period);
        /* SQLITE_STATIC: k->who is not touched again before the step */
        if (k->who.len != JKEYS_WRAPPED + strlen(plain))
            return -1; /* out of memory */
        sqlite3_bind_blob(k->insert, 4, k->who.data, (int)k->who.len, SQLITE_STATIC);
        sqlite3_bind_text(k->insert, 5, now, -1, SQLITE_STATIC);
        sqlite3_bind_text(k->insert, 6, now, -1, SQLITE_STATIC);
        sqlite3_bind_null(k->insert, 7); /* who: in wrapped */
        sqlite3_bind_int(k->insert, 8, strncmp(plain, "customer:", 9) == 0);
        sqlite3_bind_int64(k->insert, 9, tag64);
        rc = sqlite3_step(k->insert);
        sqlite3_reset(k->insert);
        if (rc != SQLITE_DONE) {
            log_error("event=key_store_failed error=\"%s\"", sqlite3_errmsg(k->db));
            return -1;
        }
        s_fresh_put(k, tag64, period, *id);
    } else if (touch && strncmp(used, now, 10) != 0) {
        if (s_touch(k, *id, now))
            return -1;
    }
    s->id = *id;
    s->period = period;
    s->used_day = touch || !found ? today : -1;
    snprintf(s->owner, sizeof s->owner, "%s", plain);
    memcpy(s->key, key, JKEYS_LEN);
    return 0;
}

int jkeys_by_id(jkeys_t *k, int64_t id, unsigned char key[JKEYS_LEN])
{
    jkeys_slot_t *s = &k->by_id_cache[(uint64_t)id & (JKEYS_CACHE - 1)];
    if (s->id == id) {
        memcpy(key, s->key, JKEYS_LEN);
        return 0;
    }
    sqlite3_bind_int64(k->by_id, 1, id);
    int rc = sqlite3_step(k->by_id), out = 1;
    if (rc == SQLITE_ROW)
        out = s_unwrap(k, id, sqlite3_column_blob(k->by_id, 0),
                       (size_t)sqlite3_column_bytes(k->by_id, 0), key, NULL);
    else if (rc != SQLITE_DONE)
        out = -1;
    sqlite3_reset(k->by_id);
    if (out == 0) {
        s->id = id;
        memcpy(s->key, key, JKEYS_LEN);
    }
    return out;
}

int jkeys_link(jkeys_t *k, const char *ref_plain, const char *customer_id)
{
    char ref[33], customer[33], c[JKEYS_OWNER_MAX];
    snprintf(c, sizeof c, "customer:%s", customer_id);
    s_tag(k, ref_plain, ref);
    s_tag(k, c, customer);
    sqlite3_bind_text(k->link_get, 1, ref, -1, SQLITE_STATIC);
    int same = sqlite3_step(k->link_get) == SQLITE_ROW &&
               strcmp((const char *)sqlite3_column_text(k->link_get, 0), customer) == 0;
    sqlite3_reset(k->link_get);
    if (same)
        return 0;
    if (s_write(k))
        return -1;
    sqlite3_bind_text(k->link_put, 1, ref, -1, SQLITE_STATIC);
    sqlite3_bind_text(k->link_put, 2, customer, -1, SQLITE_STATIC);
    int rc = sqlite3_step(k->link_put);
    sqlite3_reset(k->link_put);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* s_ids - every id sql (one text parameter) selects into *ids */
static int s_ids(jkeys_t *k, const char *sql, const char *p1, const char *p2, int64_t **ids,
                 size_t *n)
{
    sqlite3_stmt *st = db_prepare(k->db, sql);
    if (!st)
        return -1;
    if (p1)
        sqlite3_bind_text(st, 1, p1, -1, SQLITE_TRANSIENT);
    if (p2)
        sqlite3_bind_text(st, 2, p2, -1, SQLITE_TRANSIENT);
    size_t cap = 0;
    int rc;
    *ids = NULL;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *t = realloc(*ids, cap * sizeof *t);
            if (!t) {
                rc = SQLITE_NOMEM;
                break;
            }
            *ids = t;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    db_finish(st);
    if (rc != SQLITE_DONE) {
        free(*ids);
        *ids = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

int jkeys_customer_keys(jkeys_t *k, const char *customer, int64_t **ids, size_t *n)
{
    char plain[JKEYS_OWNER_MAX], owner[33];
    snprintf(plain, sizeof plain, "customer:%s", customer);
    s_tag(k, plain, owner);
    /* in owners, and among the unindexed keys (a range of ids: the
     * CROSS JOINs keep SQLite from scanning every key per link) */
    return s_ids(k,
                 "SELECT k.id FROM owners o CROSS JOIN keys k ON k.id = o.id"
                 " WHERE o.tag = jkeys_tag(?1) AND k.owner = ?1"
                 " UNION SELECT k.id FROM links l CROSS JOIN owners o"
                 " ON o.tag = jkeys_tag(l.ref) CROSS JOIN keys k ON k.id = o.id AND k.owner = l.ref"
                 " WHERE l.customer = ?2"
                 " UNION SELECT id FROM keys WHERE id > (SELECT upto FROM indexed) AND owner = ?1"
                 " UNION SELECT k.id FROM keys k CROSS JOIN links l ON l.ref = k.owner"
                 " WHERE k.id > (SELECT upto FROM indexed) AND l.customer = ?2",
                 owner, owner, ids, n);
}

int jkeys_retention(jkeys_t *k, int class, const char *idle_before, char ***customers,
                    size_t *n, size_t *dropped)
{
    *customers = NULL;
    *n = 0;
    *dropped = 0;
    /* a customer's last activity: the newest use of any key of theirs or
     * of what is linked to them */
    /* who is sealed with its own row's id as associated data: both from one
     * row (72: JKEYS_WRAPPED, a key wrapped without its owner) */
    sqlite3_stmt *st = db_prepare(
        k->db,
        "SELECT c.owner, w.who, w.id, w.wrapped FROM (SELECT tag, owner FROM keys"
        "  WHERE customer = 1 AND period % 10 = ?1 GROUP BY tag, owner) c"
        " LEFT JOIN keys w ON w.id = (SELECT min(x.id) FROM owners o CROSS JOIN keys x"
        "  ON x.id = o.id WHERE o.tag = c.tag AND x.owner = c.owner"
        "  AND (x.who IS NOT NULL OR length(x.wrapped) > 72))"
        " WHERE (SELECT max(x.used_at) FROM owners o CROSS JOIN keys x ON x.id = o.id"
        "  WHERE o.tag = c.tag AND x.owner = c.owner) < ?2"
        " AND coalesce((SELECT max(x.used_at) FROM links l CROSS JOIN owners o"
        "  ON o.tag = jkeys_tag(l.ref) CROSS JOIN keys x ON x.id = o.id AND x.owner = l.ref"
        "  WHERE l.customer = c.owner), '') < ?2");
    sqlite3_stmt *ids = db_prepare(
        k->db, "SELECT x.id FROM owners o CROSS JOIN keys x ON x.id = o.id"
               " WHERE o.tag = jkeys_tag(?2) AND x.owner = ?2 AND x.period % 10 = ?1"
               " UNION SELECT x.id FROM links l CROSS JOIN owners o ON o.tag = jkeys_tag(l.ref)"
               " CROSS JOIN keys x ON x.id = o.id AND x.owner = l.ref"
               " WHERE l.customer = ?2 AND x.period % 10 = ?1");
    /* the unindexed keys first join the others in owners, which the queries read */
    if (!st || !ids || s_write(k) || s_flush(k)) {
        db_finish(st);
        db_finish(ids);
        return -1;
    }
    sqlite3_bind_int(st, 1, class);
    sqlite3_bind_text(st, 2, idle_before, -1, SQLITE_TRANSIENT);
    size_t cap = 0;
    int rc = 0, step;
    buf_t who = BUF_INIT;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *owner = (const char *)sqlite3_column_text(st, 0);
        int64_t first = sqlite3_column_int64(st, 2);
        unsigned char ad[8], key[JKEYS_LEN];
        s_ad(first, ad);
        buf_reset(&who);
        int have = sqlite3_column_type(st, 1) == SQLITE_BLOB
                       ? jcrypt_unbox(k->master, ad, sizeof ad, sqlite3_column_blob(st, 1),
                                      (size_t)sqlite3_column_bytes(st, 1), &who)
                       : s_unwrap(k, first, sqlite3_column_blob(st, 3),
                                  (size_t)sqlite3_column_bytes(st, 3), key, &who);
        sodium_memzero(key, sizeof key);
        if (have == 0 && who.len > 9 && strncmp(who.data, "customer:", 9) == 0) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                char **t = realloc(*customers, cap * sizeof *t);
                if (!t) {
                    rc = -1;
                    break;
                }
                *customers = t;
            }
            (*customers)[(*n)++] = strdup(who.data + 9);
        }
        sqlite3_bind_int(ids, 1, class);
        sqlite3_bind_text(ids, 2, owner, -1, SQLITE_TRANSIENT);
        while (rc == 0 && sqlite3_step(ids) == SQLITE_ROW) {
            int n = s_del(k, sqlite3_column_int64(ids, 0));
            rc = n < 0 ? -1 : 0;
            *dropped += n > 0;
        }
        sqlite3_reset(ids);
    }
    buf_free(&who);
    db_finish(st);
    db_finish(ids);
    /* owners linked to no customer (an anonymous form's event) go by their own use */
    if (rc == 0) {
        sqlite3_stmt *anon = db_prepare(
            k->db, "DELETE FROM keys WHERE customer = 0 AND period % 10 = ?1"
                   " AND owner NOT IN (SELECT ref FROM links)"
                   " AND owner IN (SELECT owner FROM keys GROUP BY owner"
                   "  HAVING max(used_at) < ?2)");
        if (!anon)
            return -1;
        sqlite3_bind_int(anon, 1, class);
        sqlite3_bind_text(anon, 2, idle_before, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(anon) == SQLITE_DONE ? 0 : -1;
        *dropped += (size_t)sqlite3_changes(k->db);
        db_finish(anon);
    }
    if (*dropped)
        s_forget(k);
    return rc;
}

int jkeys_drop(jkeys_t *k, const int64_t *ids, size_t n, size_t *gone)
{
    *gone = 0;
    if (n == 0)
        return 0;
    if (s_write(k))
        return -1;
    for (size_t i = 0; i < n; i++) {
        int rc = s_del(k, ids[i]);
        if (rc < 0)
            return -1;
        *gone += (size_t)rc;
    }
    s_forget(k);
    return 0;
}

int jkeys_unlink(jkeys_t *k, const char *customer)
{
    char plain[JKEYS_OWNER_MAX], tag[33];
    snprintf(plain, sizeof plain, "customer:%s", customer);
    s_tag(k, plain, tag);
    if (s_write(k))
        return -1;
    sqlite3_stmt *st = db_prepare(k->db, "DELETE FROM links WHERE customer = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, tag, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}

size_t jkeys_count_existing(jkeys_t *k, const int64_t *ids, size_t n)
{
    size_t have = 0;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(k->by_id, 1, ids[i]);
        have += sqlite3_step(k->by_id) == SQLITE_ROW;
        sqlite3_reset(k->by_id);
    }
    return have;
}

int jkeys_shred(jkeys_t *k)
{
    return journal_ckpt_truncate(k->ckpt);
}
