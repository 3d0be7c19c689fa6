/*
 * test_journal_crypt.c - unit tests for the journal's sealing of personal
 * fields (services/journal/journal_crypt.c, journal_keys.c): what was
 * sealed opens only with its key, its associated data and unchanged bytes;
 * a destroyed key reads "[erased]".
 */
#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal_crypt.h"
#include "journal_keys.h"
#include "unit.h"
#include "unit_file.h"

static const unsigned char s_master[JKEYS_LEN] = "0123456789abcdef0123456789abcde";

static void test_a_box_opens_with_its_key_and_associated_data(void)
{
    unsigned char key[JKEYS_LEN];
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    buf_t box = BUF_INIT, out = BUF_INIT;
    jcrypt_box(key, NULL, "customer\nc1\n1", 13, "{\"email\":\"a@b.c\"}", 17, &box);
    CHECK_INT(jcrypt_unbox(key, "customer\nc1\n1", 13, box.data, box.len, &out), 0);
    CHECK_STR(out.data, "{\"email\":\"a@b.c\"}");
    buf_free(&box);
    buf_free(&out);
}

static void test_a_tampered_box_is_refused(void)
{
    unsigned char key[JKEYS_LEN];
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    buf_t box = BUF_INIT, out = BUF_INIT;
    jcrypt_box(key, NULL, "ad", 2, "secret text", 11, &box);
    for (size_t i = 0; i < box.len; i++) {
        box.data[i] ^= 1;
        buf_reset(&out);
        CHECK_INT(jcrypt_unbox(key, "ad", 2, box.data, box.len, &out), -1);
        box.data[i] ^= 1;
    }
    CHECK_INT(jcrypt_unbox(key, "ad", 2, box.data, box.len - 1, &out), -1); /* cut short */
    buf_free(&box);
    buf_free(&out);
}

static void test_a_wrong_key_or_associated_data_is_refused(void)
{
    unsigned char key[JKEYS_LEN], other[JKEYS_LEN];
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    crypto_aead_xchacha20poly1305_ietf_keygen(other);
    buf_t box = BUF_INIT, out = BUF_INIT;
    jcrypt_box(key, NULL, "customer\nc1\n1", 13, "x", 1, &box);
    CHECK_INT(jcrypt_unbox(other, "customer\nc1\n1", 13, box.data, box.len, &out), -1);
    /* moved to another event: its key (the event's) differs */
    CHECK_INT(jcrypt_unbox(key, "customer\nc2\n1", 13, box.data, box.len, &out), -1);
    CHECK_INT(out.len, 0);
    buf_free(&box);
    buf_free(&out);
}

static void test_a_wrapped_key_opens_only_with_its_master_and_id(void)
{
    unsigned char key[JKEYS_LEN], back[JKEYS_LEN], wrapped[JKEYS_WRAPPED];
    unsigned char other[JKEYS_LEN] = {1};
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    jkeys_wrap(s_master, 42, key, NULL, wrapped);
    CHECK_INT(jkeys_unwrap(s_master, 42, wrapped, back), 0);
    CHECK(memcmp(key, back, sizeof key) == 0);
    CHECK_INT(jkeys_unwrap(s_master, 43, wrapped, back), -1);
    CHECK_INT(jkeys_unwrap(other, 42, wrapped, back), -1);
    wrapped[30] ^= 0x80;
    CHECK_INT(jkeys_unwrap(s_master, 42, wrapped, back), -1);
}

/* s_event - a scanned event over static text */
static journal_scan_event_t s_event(const char *type, const char *key, const char *payload)
{
    journal_scan_event_t e = {0};
    e.type = type;
    e.type_len = strlen(type);
    e.key = key;
    e.key_len = strlen(key);
    e.payload = payload;
    e.payload_len = strlen(payload);
    return e;
}

static void test_seal_open_and_erase_a_customer(void)
{
    char dir[] = "/tmp/hark-crypt-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.db", dir);
    jkeys_t *k = jkeys_new(path, "normal", s_master);
    jcrypt_t *c = k ? jcrypt_new(k) : NULL;
    CHECK(c != NULL);
    if (!c)
        return;
    buf_t rest = BUF_INIT, sealed = BUF_INIT, names = BUF_INIT, out = BUF_INIT;
    const char *payload = "{\"id\":\"c1\",\"email\":\"a@b.c\",\"attributes\":{\"x\":1}}";
    journal_scan_event_t e = s_event("customer", "k1", payload);
    CHECK_INT(jcrypt_seal(c, &e, "2026-12-07T10:00:00Z", &rest, &sealed, &names), 1);
    CHECK_INT(jkeys_commit(k), 0);
    CHECK_STR(rest.data, "{\"id\":\"c1\"}");
    CHECK_STR(names.data, "email,-attributes");
    CHECK(memmem(sealed.data, sealed.len, "a@b.c", 5) == NULL);
    int erased = -1;
    CHECK_INT(jcrypt_open(c, "customer", "k1", rest.data, (unsigned char *)sealed.data,
                          sealed.len, names.data, &out, &erased), 0);
    CHECK_INT(erased, 0);
    CHECK_STR(out.data, "{\"id\":\"c1\",\"email\":\"a@b.c\",\"attributes\":{\"x\":1}}");
    /* another event's key as associated data: does not open */
    buf_reset(&out);
    CHECK_INT(jcrypt_open(c, "customer", "k2", rest.data, (unsigned char *)sealed.data,
                          sealed.len, names.data, &out, &erased), 0);
    CHECK_INT(erased, 1);
    CHECK_STR(out.data, "{\"id\":\"c1\",\"email\":\"[erased]\"}");
    /* a type without personal fields is left alone */
    journal_scan_event_t t = s_event("test.x", "k3", "{\"email\":\"a@b.c\"}");
    CHECK_INT(jcrypt_seal(c, &t, "2026-12-07T10:00:00Z", &rest, &sealed, &names), 0);
    /* erased: the key is gone */
    int64_t *ids = NULL;
    size_t n = 0, gone = 0;
    CHECK_INT(jkeys_customer_keys(k, "c1", &ids, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(jkeys_drop(k, ids, n, &gone), 0);
    CHECK_INT(gone, 1);
    CHECK_INT(jkeys_commit(k), 0);
    CHECK_INT(jkeys_shred(k), 0);
    CHECK_INT(jkeys_count_existing(k, ids, n), 0);
    free(ids);
    jcrypt_seal(c, &e, "2026-12-07T10:00:00Z", &rest, &sealed, &names);
    jkeys_rollback(k);
    /* the old sealed bytes stay unreadable even after a new key for c1 */
    buf_reset(&out);
    jcrypt_destroy(&c);
    jkeys_destroy(&k);
    buf_free(&rest);
    buf_free(&sealed);
    buf_free(&names);
    buf_free(&out);
    unit_remove_dir(dir);
}

/* s_opened - seal payload as type, commit, open it again: 1 when what
 * opens means what was sealed and rest holds none of absent[] */
static int s_round_trip(jcrypt_t *c, jkeys_t *k, const char *type, const char *payload,
                        const char *want_names, const char *const *absent)
{
    buf_t rest = BUF_INIT, sealed = BUF_INIT, names = BUF_INIT, out = BUF_INIT;
    journal_scan_event_t e = s_event(type, "rt", payload);
    int ok = jcrypt_seal(c, &e, "2026-12-07T10:00:00Z", &rest, &sealed, &names) == 1 &&
             jkeys_commit(k) == 0;
    if (ok && want_names && strcmp(names.data, want_names) != 0) {
        fprintf(stderr, "names %s, want %s\n", names.data, want_names);
        ok = 0;
    }
    for (size_t i = 0; ok && absent[i]; i++)
        if (strstr(rest.data, absent[i])) {
            fprintf(stderr, "rest %s holds %s\n", rest.data, absent[i]);
            ok = 0;
        }
    int erased = -1;
    ok = ok && jcrypt_open(c, type, "rt", rest.data, (unsigned char *)sealed.data, sealed.len,
                           names.data, &out, &erased) == 0 && erased == 0;
    json_t *a = json_loads(payload, 0, NULL), *b = ok ? json_loads(out.data, 0, NULL) : NULL;
    ok = ok && a && b && json_equal(a, b);
    if (!ok)
        fprintf(stderr, "payload %s opened as %s\n", payload, out.data ? out.data : "");
    json_decref(a);
    json_decref(b);
    buf_free(&rest);
    buf_free(&sealed);
    buf_free(&names);
    buf_free(&out);
    return ok;
}

static void test_sealing_cuts_the_fields_out_of_the_text_and_opening_puts_them_back(void)
{
    char dir[] = "/tmp/hark-crypt-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.db", dir);
    jkeys_t *k = jkeys_new(path, "normal", s_master);
    jcrypt_t *c = k ? jcrypt_new(k) : NULL;
    CHECK(c != NULL);
    if (!c)
        return;
    static const char *const mail[] = {"a@b.c", "Ann", NULL};
    static const char *const none[] = {NULL};
    /* nested fields: the rest keeps "customer" with what is not personal */
    CHECK(s_round_trip(c, k, "complaint",
                       "{\"customer_id\":\"c9\",\"customer\":{\"id\":\"c9\",\"email\":\"a@b.c\","
                       "\"name\":\"Ann\",\"attributes\":{\"a\":[1,{\"b\":\"}\"}]}},"
                       "\"text\":\"it broke, \\\"badly\\\" {\",\"reason\":\"late\"}",
                       "customer.email,customer.name,-customer.attributes,text", mail));
    /* strings with escapes, numbers, literals, arrays, an empty object */
    CHECK(s_round_trip(c, k, "mail.requested",
                       "{\"customer_id\":\"c1\",\"address\":\"a@b.c\",\"name\":\"A\\u00e9n\\\\\","
                       "\"vars\":{},\"n\":-1.5e3,\"ok\":true,\"x\":null,\"l\":[]}",
                       "address,name,-vars", mail));
    /* whitespace, or an escape in a member name: the tree path, the same meaning */
    CHECK(s_round_trip(c, k, "customer", "{ \"id\": \"c2\", \"email\": \"a@b.c\" }", "email",
                       mail));
    CHECK(s_round_trip(c, k, "customer", "{\"id\":\"c3\",\"em\\u0061il\":\"a@b.c\"}", "email",
                       mail));
    /* a subject with an escape: the tree path decodes it */
    CHECK(s_round_trip(c, k, "customer", "{\"id\":\"c\\u0034\",\"name\":\"Ann\"}", "name", mail));
    /* no subject: the event owns its keys */
    CHECK(s_round_trip(c, k, "survey.answered", "{\"comment\":\"fine\",\"score\":9}", "comment",
                       none));
    jcrypt_destroy(&c);
    jkeys_destroy(&k);
    unit_remove_dir(dir);
}

/* s_file_has - 1 when path's bytes hold needle */
static int s_file_has(const char *path, const void *needle, size_t len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    buf_t b = BUF_INIT;
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, got);
    fclose(f);
    int has = b.data && memmem(b.data, b.len, needle, len) != NULL;
    buf_free(&b);
    return has;
}

static void test_after_erasure_and_shred_no_file_holds_the_key_and_nothing_opens(void)
{
    char dir[] = "/tmp/hark-crypt-XXXXXX", path[300], wal[320];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.db", dir);
    snprintf(wal, sizeof wal, "%s-wal", path);
    jkeys_t *k = jkeys_new(path, "normal", s_master);
    jcrypt_t *c = k ? jcrypt_new(k) : NULL;
    CHECK(c != NULL);
    if (!c)
        return;
    buf_t rest = BUF_INIT, sealed = BUF_INIT, names = BUF_INIT, out = BUF_INIT;
    journal_scan_event_t e = s_event("customer", "k1", "{\"id\":\"c1\",\"email\":\"a@b.c\"}");
    CHECK_INT(jcrypt_seal(c, &e, "2026-12-07T10:00:00Z", &rest, &sealed, &names), 1);
    CHECK_INT(jkeys_commit(k), 0);
    /* the wrapped key as the file holds it (its first JKEYS_WRAPPED bytes:
     * the owner is sealed after the key), read beside the journal's handle */
    unsigned char wrapped[JKEYS_WRAPPED];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT wrapped FROM keys",
                                 -1, &st, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT(sqlite3_column_bytes(st, 0), JKEYS_WRAPPED + (int)strlen("customer:c1"));
    memcpy(wrapped, sqlite3_column_blob(st, 0), sizeof wrapped);
    sqlite3_finalize(st);
    sqlite3_close(db);
    CHECK(s_file_has(path, wrapped, sizeof wrapped) || s_file_has(wal, wrapped, sizeof wrapped));
    /* opened once: the key is cached */
    int erased = -1;
    CHECK_INT(jcrypt_open(c, "customer", "k1", rest.data, (unsigned char *)sealed.data,
                          sealed.len, names.data, &out, &erased), 0);
    CHECK_INT(erased, 0);
    int64_t *ids = NULL;
    size_t n = 0, gone = 0;
    CHECK_INT(jkeys_customer_keys(k, "c1", &ids, &n), 0);
    CHECK_INT(jkeys_drop(k, ids, n, &gone), 0);
    free(ids);
    /* right after the drop, before any commit: nothing opens any more */
    buf_reset(&out);
    CHECK_INT(jcrypt_open(c, "customer", "k1", rest.data, (unsigned char *)sealed.data,
                          sealed.len, names.data, &out, &erased), 0);
    CHECK_INT(erased, 1);
    CHECK_STR(out.data, "{\"id\":\"c1\",\"email\":\"[erased]\"}");
    CHECK_INT(jkeys_commit(k), 0);
    CHECK_INT(jkeys_shred(k), 0);
    CHECK(!s_file_has(path, wrapped, sizeof wrapped));
    CHECK(!s_file_has(wal, wrapped, sizeof wrapped));
    /* a new key for c1 is a new person's: the old bytes stay shut */
    journal_scan_event_t again = s_event("customer", "k2", "{\"id\":\"c1\",\"email\":\"x@y.z\"}");
    buf_t r2 = BUF_INIT, s2 = BUF_INIT, n2 = BUF_INIT;
    CHECK_INT(jcrypt_seal(c, &again, "2026-12-07T10:00:00Z", &r2, &s2, &n2), 1);
    CHECK_INT(jkeys_commit(k), 0);
    buf_reset(&out);
    CHECK_INT(jcrypt_open(c, "customer", "k1", rest.data, (unsigned char *)sealed.data,
                          sealed.len, names.data, &out, &erased), 0);
    CHECK_INT(erased, 1);
    jcrypt_destroy(&c);
    jkeys_destroy(&k);
    buf_free(&rest);
    buf_free(&sealed);
    buf_free(&names);
    buf_free(&out);
    buf_free(&r2);
    buf_free(&s2);
    buf_free(&n2);
    unit_remove_dir(dir);
}

static void test_a_restart_opens_what_was_sealed_before_and_makes_higher_ids(void)
{
    char dir[] = "/tmp/hark-crypt-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.db", dir);
    jkeys_t *k = jkeys_new(path, "normal", s_master);
    jcrypt_t *c = k ? jcrypt_new(k) : NULL;
    CHECK(c != NULL);
    if (!c)
        return;
    buf_t rest = BUF_INIT, sealed = BUF_INIT, names = BUF_INIT, out = BUF_INIT;
    const char *payload = "{\"id\":\"c1\",\"email\":\"a@b.c\"}";
    journal_scan_event_t e = s_event("customer", "k1", payload);
    CHECK_INT(jcrypt_seal(c, &e, "2026-12-07T10:00:00Z", &rest, &sealed, &names), 1);
    CHECK_INT(jkeys_commit(k), 0);
    int64_t *ids = NULL;
    size_t n = 0;
    CHECK_INT(jkeys_customer_keys(k, "c1", &ids, &n), 0);
    CHECK_INT(n, 1);
    int64_t first = n ? ids[0] : 0;
    free(ids);
    CHECK(first > 0);
    jcrypt_destroy(&c);
    jkeys_destroy(&k);
    k = jkeys_new(path, "normal", s_master);
    c = k ? jcrypt_new(k) : NULL;
    CHECK(c != NULL);
    if (!c)
        return;
    int erased = -1;
    CHECK_INT(jcrypt_open(c, "customer", "k1", rest.data, (unsigned char *)sealed.data,
                          sealed.len, names.data, &out, &erased), 0);
    CHECK_INT(erased, 0);
    CHECK_STR(out.data, payload);
    /* an id the erasure log names (a key a restored copy never had): new
     * keys come after it */
    jkeys_seen(k, first + ((int64_t)1 << 40));
    journal_scan_event_t e2 = s_event("customer", "k2", "{\"id\":\"c2\",\"email\":\"d@e.f\"}");
    CHECK_INT(jcrypt_seal(c, &e2, "2026-12-07T10:00:00Z", &rest, &sealed, &names), 1);
    CHECK_INT(jkeys_commit(k), 0);
    CHECK_INT(jkeys_customer_keys(k, "c2", &ids, &n), 0);
    CHECK_INT(n, 1);
    CHECK(n && ids[0] > first + ((int64_t)1 << 40));
    free(ids);
    jcrypt_destroy(&c);
    jkeys_destroy(&k);
    buf_free(&rest);
    buf_free(&sealed);
    buf_free(&names);
    buf_free(&out);
    unit_remove_dir(dir);
}

/* s_wrapped - the wrapped key id as the file holds it, read beside k's handle; 0/-1 */
static int s_wrapped(const char *path, int64_t id, unsigned char wrapped[JKEYS_WRAPPED])
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT wrapped FROM keys WHERE id = ?1", -1, &st, NULL) ==
            SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) > JKEYS_WRAPPED) {
            memcpy(wrapped, sqlite3_column_blob(st, 0), JKEYS_WRAPPED);
            rc = 0;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* s_file_size - path's size in bytes, 0 when it is not there */
static long s_file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void test_an_erasure_amid_background_checkpoints_leaves_no_key_bytes_in_any_file(void)
{
    char dir[] = "/tmp/hark-crypt-XXXXXX", path[300], wal[320];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.db", dir);
    snprintf(wal, sizeof wal, "%s-wal", path);
    jkeys_t *k = jkeys_new(path, "normal", s_master);
    CHECK(k != NULL);
    if (!k)
        return;
    enum { ROUNDS = 12, PER_ROUND = 1500 };
    unsigned char erased[ROUNDS][JKEYS_WRAPPED], kept[JKEYS_WRAPPED], key[JKEYS_LEN];
    char owner[64];
    int64_t id = 0, kept_id = 0;
    long first_size = s_file_size(path);
    for (int r = 0; r < ROUNDS; r++) {
        /* a round of new owners: hundreds of pages, so the thread is woken
         * after nearly every commit and is copying while the erasure runs */
        for (int i = 0; i < PER_ROUND; i++) {
            snprintf(owner, sizeof owner, "customer:r%d-%d", r, i);
            CHECK_INT(jkeys_get(k, owner, 20261, 1, &id, key), 0);
            if (r == 0 && i == 1)
                kept_id = id;
        }
        CHECK_INT(jkeys_commit(k), 0);
        if (r < 4)
            continue; /* let the WAL grow past the thread's mark first */
        if (r == 4) { /* nothing but the thread checkpoints before the first shred */
            for (int w = 0; w < 400 && s_file_size(path) <= first_size + 65536; w++)
                usleep(5000);
            CHECK(s_file_size(path) > first_size + 65536);
        }
        char customer[32];
        snprintf(customer, sizeof customer, "r%d-%d", r, 7);
        int64_t *ids = NULL;
        size_t n = 0, gone = 0;
        CHECK_INT(jkeys_customer_keys(k, customer, &ids, &n), 0);
        CHECK_INT(n, 1);
        CHECK_INT(n ? s_wrapped(path, ids[0], erased[r]) : -1, 0);
        CHECK_INT(jkeys_drop(k, ids, n, &gone), 0);
        CHECK_INT(gone, 1);
        CHECK_INT(jkeys_commit(k), 0);
        CHECK_INT(jkeys_shred(k), 0); /* waits for the thread's PASSIVE, never BUSY */
        CHECK_INT(s_file_size(wal), 0);
        free(ids);
        for (int e = 4; e <= r; e++) {
            CHECK(!s_file_has(path, erased[e], JKEYS_WRAPPED));
            CHECK(!s_file_has(wal, erased[e], JKEYS_WRAPPED));
        }
    }
    /* the search finds what was not erased: its absence above means something */
    CHECK_INT(s_wrapped(path, kept_id, kept), 0);
    CHECK(s_file_has(path, kept, sizeof kept) || s_file_has(wal, kept, sizeof kept));
    jkeys_destroy(&k);
    unit_remove_dir(dir);
}

/* s_key_of - the id and key jkeys_get gives owner for period 20261 */
static int64_t s_key_of(jkeys_t *k, const char *owner, unsigned char key[JKEYS_LEN])
{
    int64_t id = 0;
    return jkeys_get(k, owner, 20261, 0, &id, key) == 0 ? id : -1;
}

static void test_a_keys_file_of_the_first_schema_still_opens_and_erases(void)
{
    char dir[] = "/tmp/hark-crypt-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.db", dir);
    jkeys_t *k = jkeys_new(path, "normal", s_master);
    jcrypt_t *c = k ? jcrypt_new(k) : NULL;
    CHECK(c != NULL);
    if (!c)
        return;
    buf_t rest = BUF_INIT, sealed = BUF_INIT, names = BUF_INIT, out = BUF_INIT;
    const char *payload = "{\"id\":\"c1\",\"email\":\"a@b.c\"}";
    journal_scan_event_t e = s_event("customer", "k1", payload);
    CHECK_INT(jcrypt_seal(c, &e, "2026-12-07T10:00:00Z", &rest, &sealed, &names), 1);
    unsigned char key[JKEYS_LEN], inv[JKEYS_LEN], again[JKEYS_LEN];
    int64_t invite = s_key_of(k, "invite:i1", inv), other = s_key_of(k, "customer:c2", key);
    CHECK(invite > 0 && other > 0);
    CHECK_INT(jkeys_link(k, "invite:i1", "c1"), 0);
    CHECK_INT(jkeys_commit(k), 0);
    int64_t *ids = NULL;
    size_t n = 0;
    CHECK_INT(jkeys_customer_keys(k, "c1", &ids, &n), 0);
    CHECK_INT(n, 2);
    free(ids);
    jcrypt_destroy(&c);
    jkeys_destroy(&k);
    /* the file as the first schema made it: every key in keys, owners by
     * their hex text only */
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db,
                           "DROP TRIGGER keys_gone; DROP TABLE owners; DROP TABLE indexed;"
                           "ALTER TABLE keys DROP COLUMN tag;"
                           "CREATE UNIQUE INDEX keys_owner ON keys(owner, period);"
                           "PRAGMA user_version = 1",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);
    k = jkeys_new(path, "normal", s_master);
    c = k ? jcrypt_new(k) : NULL;
    CHECK(c != NULL);
    if (!c)
        return;
    /* every row has its tag back: the same keys are found, none made anew */
    db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT count(*) FROM keys WHERE tag IS NULL", -1, &st, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    CHECK(s_key_of(k, "invite:i1", again) == invite && memcmp(again, inv, sizeof inv) == 0);
    CHECK(s_key_of(k, "customer:c2", again) == other && memcmp(again, key, sizeof key) == 0);
    int erased = -1;
    CHECK_INT(jcrypt_open(c, "customer", "k1", rest.data, (unsigned char *)sealed.data,
                          sealed.len, names.data, &out, &erased), 0);
    CHECK_INT(erased, 0);
    CHECK_STR(out.data, payload);
    /* the erasure still reaches the customer's key and the invite linked to them */
    size_t gone = 0;
    CHECK_INT(jkeys_customer_keys(k, "c1", &ids, &n), 0);
    CHECK_INT(n, 2);
    CHECK_INT(jkeys_drop(k, ids, n, &gone), 0);
    CHECK_INT(gone, 2);
    free(ids);
    CHECK_INT(jkeys_commit(k), 0);
    buf_reset(&out);
    CHECK_INT(jcrypt_open(c, "customer", "k1", rest.data, (unsigned char *)sealed.data,
                          sealed.len, names.data, &out, &erased), 0);
    CHECK_INT(erased, 1);
    CHECK(s_key_of(k, "customer:c2", again) == other);
    CHECK_INT(jkeys_commit(k), 0);
    jcrypt_destroy(&c);
    jkeys_destroy(&k);
    buf_free(&rest);
    buf_free(&sealed);
    buf_free(&names);
    buf_free(&out);
    unit_remove_dir(dir);
}

static void test_two_owners_whose_tags_collide_keep_their_own_keys(void)
{
    char dir[] = "/tmp/hark-crypt-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.db", dir);
    jkeys_t *k = jkeys_new(path, "normal", s_master);
    CHECK(k != NULL);
    if (!k)
        return;
    unsigned char k1[JKEYS_LEN], k2[JKEYS_LEN], got[JKEYS_LEN];
    int64_t a = s_key_of(k, "customer:c1", k1), b = s_key_of(k, "customer:c2", k2);
    CHECK(a > 0 && b > 0 && a != b);
    CHECK_INT(jkeys_commit(k), 0);
    jkeys_destroy(&k);
    /* a 64-bit tag may collide: give c1's row c2's tag, so two rows answer it */
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    char sql[200];
    snprintf(sql, sizeof sql,
             "UPDATE keys SET tag = (SELECT tag FROM keys WHERE id = %lld) WHERE id = %lld",
             (long long)b, (long long)a);
    CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_changes(db), 1);
    sqlite3_close(db);
    k = jkeys_new(path, "normal", s_master); /* no cached key */
    CHECK(k != NULL);
    if (!k)
        return;
    CHECK(s_key_of(k, "customer:c2", got) == b && memcmp(got, k2, sizeof got) == 0);
    CHECK(memcmp(got, k1, sizeof got) != 0);
    int64_t *ids = NULL;
    size_t n = 0;
    CHECK_INT(jkeys_customer_keys(k, "c2", &ids, &n), 0);
    CHECK_INT(n, 1);
    CHECK(n == 1 && ids[0] == b);
    free(ids);
    CHECK_INT(jkeys_commit(k), 0);
    /* the same in owners, where retention (nothing idle) puts the unindexed keys */
    char **customers = NULL;
    size_t dropped = 0;
    CHECK_INT(jkeys_retention(k, 1, "2000-01-01", &customers, &n, &dropped), 0);
    CHECK_INT(n + dropped, 0);
    free(customers);
    CHECK_INT(jkeys_commit(k), 0);
    jkeys_destroy(&k);
    k = jkeys_new(path, "normal", s_master);
    CHECK(k != NULL);
    if (!k)
        return;
    CHECK(s_key_of(k, "customer:c2", got) == b && memcmp(got, k2, sizeof got) == 0);
    CHECK_INT(jkeys_customer_keys(k, "c2", &ids, &n), 0);
    CHECK(n == 1 && ids[0] == b);
    free(ids);
    CHECK_INT(jkeys_commit(k), 0);
    jkeys_destroy(&k);
    unit_remove_dir(dir);
}

/* s_count - the rows of table in path */
static long s_count(const char *path, const char *table)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char sql[200];
    long n = -1;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void test_new_keys_go_into_the_owner_index_together_and_stay_the_same(void)
{
    char dir[] = "/tmp/hark-crypt-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.db", dir);
    jkeys_t *k = jkeys_new(path, "normal", s_master);
    CHECK(k != NULL);
    if (!k)
        return;
    enum { MANY = 32768 + 100 }; /* over JKEYS_FRESH_MAX: one flush */
    unsigned char key[JKEYS_LEN], first[JKEYS_LEN], got[JKEYS_LEN];
    char owner[64];
    int64_t first_id = s_key_of(k, "customer:n0", first);
    CHECK(first_id > 0);
    CHECK_INT(jkeys_commit(k), 0);
    /* before the flush: a restart finds it among the unindexed keys */
    jkeys_destroy(&k);
    CHECK_INT(s_count(path, "keys"), 1);
    CHECK_INT(s_count(path, "owners"), 0);
    k = jkeys_new(path, "normal", s_master);
    CHECK(k != NULL);
    if (!k)
        return;
    CHECK(s_key_of(k, "customer:n0", got) == first_id && memcmp(got, first, sizeof got) == 0);
    int bad = 0;
    for (int i = 1; i < MANY; i++) {
        snprintf(owner, sizeof owner, "customer:n%d", i);
        bad += s_key_of(k, owner, key) <= 0;
        if (i % 8192 == 0)
            bad += jkeys_commit(k) != 0;
    }
    CHECK_INT(bad, 0);
    CHECK_INT(jkeys_commit(k), 0);
    jkeys_destroy(&k);
    /* every row written once: MANY in keys, the first 32,768 indexed */
    CHECK_INT(s_count(path, "keys"), MANY);
    CHECK(s_count(path, "owners") >= 32768 && s_count(path, "owners") < MANY);
    CHECK_INT(s_count(path, "keys WHERE id > (SELECT upto FROM indexed)"),
              MANY - s_count(path, "owners"));
    k = jkeys_new(path, "normal", s_master);
    CHECK(k != NULL);
    if (!k)
        return;
    /* indexed or not, every owner has its one key, and an erasure reaches it */
    CHECK(s_key_of(k, "customer:n0", got) == first_id && memcmp(got, first, sizeof got) == 0);
    snprintf(owner, sizeof owner, "customer:n%d", MANY - 1);
    int64_t last_id = s_key_of(k, owner, key);
    CHECK(last_id > first_id);
    CHECK_INT(jkeys_commit(k), 0);
    CHECK_INT(s_count(path, "keys"), MANY);
    long indexed = s_count(path, "owners");
    const char *who[] = {"n0", owner + 9};
    for (int i = 0; i < 2; i++) {
        int64_t *ids = NULL;
        size_t n = 0, gone = 0;
        CHECK_INT(jkeys_customer_keys(k, who[i], &ids, &n), 0);
        CHECK_INT(n, 1);
        CHECK_INT(jkeys_drop(k, ids, n, &gone), 0);
        CHECK_INT(gone, 1);
        CHECK_INT(jkeys_by_id(k, n ? ids[0] : 0, got), 1);
        free(ids);
    }
    CHECK_INT(jkeys_commit(k), 0);
    CHECK_INT(s_count(path, "keys"), MANY - 2);
    /* the indexed one's entry went with its row: owners names no erased key */
    CHECK_INT(s_count(path, "owners"), indexed - 1);
    CHECK_INT(s_count(path, "owners WHERE id NOT IN (SELECT id FROM keys)"), 0);
    jkeys_destroy(&k);
    unit_remove_dir(dir);
}

static void test_a_keys_file_with_the_fresh_table_still_opens_and_erases(void)
{
    char dir[] = "/tmp/hark-crypt-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.db", dir);
    jkeys_t *k = jkeys_new(path, "normal", s_master);
    CHECK(k != NULL);
    if (!k)
        return;
    unsigned char k1[JKEYS_LEN], k2[JKEYS_LEN], inv[JKEYS_LEN], got[JKEYS_LEN];
    int64_t a = s_key_of(k, "customer:c1", k1), b = s_key_of(k, "customer:c2", k2);
    int64_t i1 = s_key_of(k, "invite:i1", inv);
    CHECK(a > 0 && b > a && i1 > b);
    CHECK_INT(jkeys_link(k, "invite:i1", "c1"), 0);
    CHECK_INT(jkeys_commit(k), 0);
    jkeys_destroy(&k);
    /* the file as the second schema had it: c1's key in keys under the tag
     * index, c2's and the invite's still in fresh */
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    char sql[900];
    snprintf(sql, sizeof sql,
             "DROP TRIGGER keys_gone; DROP TABLE owners; DROP TABLE indexed;"
             "CREATE INDEX keys_tag ON keys(tag, period);"
             "CREATE TABLE fresh(id INTEGER PRIMARY KEY, owner TEXT NOT NULL,"
             " period INTEGER NOT NULL, wrapped BLOB NOT NULL, made_at TEXT NOT NULL,"
             " used_at TEXT NOT NULL, who BLOB, customer INTEGER NOT NULL DEFAULT 0,"
             " tag INTEGER NOT NULL);"
             "INSERT INTO fresh SELECT id, owner, period, wrapped, made_at, used_at, who,"
             " customer, tag FROM keys WHERE id > %lld;"
             "DELETE FROM keys WHERE id > %lld; PRAGMA user_version = 2",
             (long long)a, (long long)a);
    CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    CHECK_INT(s_count(path, "fresh"), 2);
    k = jkeys_new(path, "normal", s_master);
    CHECK(k != NULL);
    if (!k)
        return;
    /* every key where it was, none made anew, fresh gone */
    CHECK_INT(s_count(path, "keys"), 3);
    CHECK_INT(s_count(path, "sqlite_master WHERE name IN ('fresh', 'keys_tag')"), 0);
    CHECK(s_key_of(k, "customer:c1", got) == a && memcmp(got, k1, sizeof got) == 0);
    CHECK(s_key_of(k, "customer:c2", got) == b && memcmp(got, k2, sizeof got) == 0);
    CHECK(s_key_of(k, "invite:i1", got) == i1 && memcmp(got, inv, sizeof got) == 0);
    CHECK_INT(jkeys_commit(k), 0);
    CHECK_INT(s_count(path, "keys"), 3);
    /* the erasure reaches c1's key and the invite linked to them, not c2's */
    int64_t *ids = NULL;
    size_t n = 0, gone = 0;
    CHECK_INT(jkeys_customer_keys(k, "c1", &ids, &n), 0);
    CHECK_INT(n, 2);
    CHECK_INT(jkeys_drop(k, ids, n, &gone), 0);
    CHECK_INT(gone, 2);
    free(ids);
    CHECK_INT(jkeys_commit(k), 0);
    CHECK_INT(jkeys_by_id(k, a, got), 1);
    CHECK_INT(jkeys_by_id(k, i1, got), 1);
    CHECK_INT(jkeys_by_id(k, b, got), 0);
    CHECK(memcmp(got, k2, sizeof got) == 0);
    jkeys_destroy(&k);
    unit_remove_dir(dir);
}

/* s_old_row - a key row as the files before one box held both made it:
 * the key wrapped alone, its owner in who; idle since 2020 */
static int s_old_row(const char *path, int64_t id, const char *owner,
                     const unsigned char key[JKEYS_LEN])
{
    unsigned char h[16], wrapped[JKEYS_WRAPPED], ad[8];
    char hex[33];
    crypto_generichash(h, sizeof h, (const unsigned char *)owner, strlen(owner), s_master,
                       JKEYS_LEN);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    int64_t tag = 0;
    for (int i = 0; i < 8; i++) {
        tag = (int64_t)((uint64_t)tag << 8 | h[i]);
        ad[i] = (unsigned char)((uint64_t)id >> (56 - 8 * i));
    }
    jkeys_wrap(s_master, id, key, NULL, wrapped);
    buf_t who = BUF_INIT;
    jcrypt_box(s_master, NULL, ad, sizeof ad, owner, strlen(owner), &who);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db,
                           "INSERT INTO keys(id, owner, period, wrapped, made_at, used_at, who,"
                           " customer, tag) VALUES(?, ?, 20261, ?, '2020-01-01T00:00:00.000Z',"
                           " '2020-01-01T00:00:00.000Z', ?, 1, ?)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, hex, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, wrapped, sizeof wrapped, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, who.data, (int)who.len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, tag);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    buf_free(&who);
    return rc;
}

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_retention_names_the_customers_of_keys_wrapped_alone_or_with_their_owner(void)
{
    char dir[] = "/tmp/hark-crypt-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.db", dir);
    jkeys_t *k = jkeys_new(path, "normal", s_master);
    CHECK(k != NULL);
    if (!k)
        return;
    unsigned char k1[JKEYS_LEN], k9[JKEYS_LEN], got[JKEYS_LEN];
    int64_t a = s_key_of(k, "customer:c1", k1);
    CHECK(a > 0);
    CHECK_INT(jkeys_commit(k), 0);
    jkeys_destroy(&k);
    randombytes_buf(k9, sizeof k9);
    CHECK_INT(s_old_row(path, a + 1000, "customer:c9", k9), 0);
    k = jkeys_new(path, "normal", s_master);
    CHECK(k != NULL);
    if (!k)
        return;
    /* both forms open, by owner and by id */
    CHECK(s_key_of(k, "customer:c1", got) == a && memcmp(got, k1, sizeof got) == 0);
    CHECK(s_key_of(k, "customer:c9", got) == a + 1000 && memcmp(got, k9, sizeof got) == 0);
    CHECK_INT(jkeys_by_id(k, a + 1000, got), 0);
    CHECK(memcmp(got, k9, sizeof got) == 0);
    CHECK_INT(jkeys_commit(k), 0);
    /* everyone idle before 2100: both dropped, both named */
    char **customers = NULL;
    size_t n = 0, dropped = 0;
    CHECK_INT(jkeys_retention(k, 1, "2100-01-01", &customers, &n, &dropped), 0);
    CHECK_INT(jkeys_commit(k), 0);
    CHECK_INT(dropped, 2);
    CHECK_INT(n, 2);
    if (n == 2) {
        qsort(customers, n, sizeof *customers, s_cmp_str);
        CHECK_STR(customers[0], "c1");
        CHECK_STR(customers[1], "c9");
    }
    for (size_t i = 0; i < n; i++)
        free(customers[i]);
    free(customers);
    CHECK_INT(jkeys_by_id(k, a, got), 1);
    CHECK_INT(jkeys_by_id(k, a + 1000, got), 1);
    jkeys_destroy(&k);
    unit_remove_dir(dir);
}

/* s_segment - the first segment of sealed: its key id, and its box (nonce,
 * ciphertext, tag) and length; 0, or -1 when sealed holds none */
static int s_segment(const buf_t *sealed, int64_t *id, const unsigned char **box, size_t *len)
{
    const unsigned char *h = (const unsigned char *)sealed->data;
    if (sealed->len < 13)
        return -1;
    uint64_t v = 0;
    uint32_t n = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | h[1 + i];
    for (int i = 0; i < 4; i++)
        n = n << 8 | h[9 + i];
    if (n > sealed->len - 13)
        return -1;
    *id = (int64_t)v;
    *box = h + 13;
    *len = n;
    return 0;
}

static void test_every_box_is_libsodiums_xchacha20poly1305_byte_for_byte(void)
{
    char dir[] = "/tmp/hark-crypt-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.db", dir);
    jkeys_t *k = jkeys_new(path, "normal", s_master);
    jcrypt_t *c = k ? jcrypt_new(k) : NULL;
    CHECK(c != NULL);
    if (!c)
        return;
    buf_t rest = BUF_INIT, sealed = BUF_INIT, names = BUF_INIT, payload = BUF_INIT,
          plain = BUF_INIT, again = BUF_INIT, ad = BUF_INIT;
    unsigned char seen[400][24];
    int bad = 0, n_seen = 0;
    /* names of 0 to 1,500 bytes: every padding of the tag's input, the
     * one-call keystream and the longer boxes left to libsodium; event keys
     * of 1 to 40 bytes: every padding of the associated data */
    for (int len = 0; len <= 1500; len += len < 300 ? 1 : 37) {
        char key[64];
        int kl = 1 + len % 40;
        memset(key, 'k', sizeof key);
        snprintf(key + kl, sizeof key - (size_t)kl, "%d", len);
        buf_reset(&payload);
        buf_printf(&payload, "{\"id\":\"c%d\",\"name\":\"", len % 7);
        for (int i = 0; i < len; i++)
            buf_putc(&payload, (char)('a' + (i * 7 + len) % 26));
        buf_puts(&payload, "\"}");
        journal_scan_event_t e = s_event("customer", key, payload.data);
        bad += jcrypt_seal(c, &e, "2026-12-07T10:00:00Z", &rest, &sealed, &names) != 1;
        int64_t id = 0;
        const unsigned char *box = NULL;
        size_t box_len = 0;
        unsigned char dk[JKEYS_LEN];
        bad += s_segment(&sealed, &id, &box, &box_len) != 0 || jkeys_by_id(k, id, dk) != 0;
        if (bad)
            break;
        /* what was sealed: the class's fields as one object */
        buf_reset(&plain);
        buf_puts(&plain, "{\"name\":");
        buf_append(&plain, strstr(payload.data, "\"name\":") + 7,
                   payload.len - (size_t)(strstr(payload.data, "\"name\":") + 7 - payload.data) - 1);
        buf_putc(&plain, '}');
        buf_reset(&ad);
        buf_printf(&ad, "customer\n%s\n1", key);
        /* libsodium's encrypt, with the nonce the box carries, gives the
         * same bytes; and its decrypt opens them */
        buf_reset(&again);
        jcrypt_box(dk, box, ad.data, ad.len, plain.data, plain.len, &again);
        bad += again.len != box_len || memcmp(again.data, box, box_len) != 0;
        buf_reset(&again);
        bad += jcrypt_unbox(dk, ad.data, ad.len, box, box_len, &again) != 0 ||
               strcmp(again.data, plain.data) != 0;
        if (n_seen < 400)
            memcpy(seen[n_seen++], box, 24);
        if (bad) {
            fprintf(stderr, "  differs at %d\n", len);
            break;
        }
    }
    CHECK_INT(bad, 0);
    CHECK(n_seen > 300);
    /* no nonce twice */
    int same = 0;
    for (int i = 0; i < n_seen; i++)
        for (int j = i + 1; j < n_seen; j++)
            same += memcmp(seen[i], seen[j], 24) == 0;
    CHECK_INT(same, 0);
    /* another jcrypt (another start) draws its own nonces' first 16 bytes */
    jcrypt_t *c2 = jcrypt_new(k);
    CHECK(c2 != NULL);
    journal_scan_event_t e = s_event("customer", "other", "{\"id\":\"c1\",\"name\":\"x\"}");
    CHECK_INT(jcrypt_seal(c2, &e, "2026-12-07T10:00:00Z", &rest, &sealed, &names), 1);
    int64_t id = 0;
    const unsigned char *box = NULL;
    size_t box_len = 0;
    CHECK_INT(s_segment(&sealed, &id, &box, &box_len), 0);
    CHECK(box && memcmp(box, seen[0], 16) != 0);
    jcrypt_destroy(&c2);
    CHECK_INT(jkeys_commit(k), 0);
    buf_free(&rest);
    buf_free(&sealed);
    buf_free(&names);
    buf_free(&payload);
    buf_free(&plain);
    buf_free(&again);
    buf_free(&ad);
    jcrypt_destroy(&c);
    jkeys_destroy(&k);
    unit_remove_dir(dir);
}

static void test_a_cached_subkey_never_seals_after_its_key_is_erased(void)
{
    char dir[] = "/tmp/hark-crypt-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.db", dir);
    jkeys_t *k = jkeys_new(path, "normal", s_master);
    jcrypt_t *c = k ? jcrypt_new(k) : NULL;
    CHECK(c != NULL);
    if (!c)
        return;
    buf_t rest = BUF_INIT, sealed = BUF_INIT, names = BUF_INIT, out = BUF_INIT;
    const char *payload = "{\"id\":\"c1\",\"email\":\"a@b.c\"}";
    /* the same customer twice: the second from the cached subkey */
    journal_scan_event_t e1 = s_event("customer", "k1", payload);
    CHECK_INT(jcrypt_seal(c, &e1, "2026-12-07T10:00:00Z", &rest, &sealed, &names), 1);
    journal_scan_event_t e2 = s_event("customer", "k2", payload);
    CHECK_INT(jcrypt_seal(c, &e2, "2026-12-07T10:00:00Z", &rest, &sealed, &names), 1);
    int64_t old_id = 0, id = 0;
    const unsigned char *box = NULL;
    size_t box_len = 0;
    CHECK_INT(s_segment(&sealed, &old_id, &box, &box_len), 0);
    unsigned char old_key[JKEYS_LEN], key[JKEYS_LEN];
    CHECK_INT(jkeys_by_id(k, old_id, old_key), 0);
    CHECK_INT(jcrypt_unbox(old_key, "customer\nk2\n1", 13, box, box_len, &out), 0);
    CHECK_INT(jkeys_commit(k), 0);
    /* erased in the same process: the next event of that id is a new
     * person, sealed under a new key, never under the old one's subkey */
    int64_t *ids = NULL;
    size_t n = 0, gone = 0;
    CHECK_INT(jkeys_customer_keys(k, "c1", &ids, &n), 0);
    CHECK_INT(jkeys_drop(k, ids, n, &gone), 0);
    CHECK_INT(gone, 1);
    free(ids);
    CHECK_INT(jkeys_commit(k), 0);
    journal_scan_event_t e3 = s_event("customer", "k3", payload);
    CHECK_INT(jcrypt_seal(c, &e3, "2026-12-07T10:00:00Z", &rest, &sealed, &names), 1);
    CHECK_INT(s_segment(&sealed, &id, &box, &box_len), 0);
    CHECK(id != old_id);
    CHECK_INT(jkeys_by_id(k, id, key), 0);
    buf_reset(&out);
    CHECK_INT(jcrypt_unbox(old_key, "customer\nk3\n1", 13, box, box_len, &out), -1);
    CHECK_INT(jcrypt_unbox(key, "customer\nk3\n1", 13, box, box_len, &out), 0);
    CHECK_STR(out.data, "{\"email\":\"a@b.c\"}");
    /* and what the old key sealed reads erased */
    buf_t r2 = BUF_INIT, s2 = BUF_INIT, n2 = BUF_INIT;
    journal_scan_event_t e4 = s_event("customer", "k4", payload);
    CHECK_INT(jcrypt_seal(c, &e4, "2026-12-07T10:00:00Z", &r2, &s2, &n2), 1);
    CHECK_INT(jkeys_commit(k), 0);
    int erased = 0;
    buf_reset(&out);
    CHECK_INT(jcrypt_open(c, "customer", "k4", r2.data, (unsigned char *)s2.data, s2.len,
                          n2.data, &out, &erased), 0);
    CHECK_INT(erased, 0);
    CHECK_INT(jkeys_customer_keys(k, "c1", &ids, &n), 0);
    CHECK_INT(jkeys_drop(k, ids, n, &gone), 0);
    free(ids);
    CHECK_INT(jkeys_commit(k), 0);
    buf_reset(&out);
    CHECK_INT(jcrypt_open(c, "customer", "k4", r2.data, (unsigned char *)s2.data, s2.len,
                          n2.data, &out, &erased), 0);
    CHECK_INT(erased, 1);
    CHECK_STR(out.data, "{\"id\":\"c1\",\"email\":\"[erased]\"}");
    buf_free(&r2);
    buf_free(&s2);
    buf_free(&n2);
    buf_free(&rest);
    buf_free(&sealed);
    buf_free(&names);
    buf_free(&out);
    jcrypt_destroy(&c);
    jkeys_destroy(&k);
    unit_remove_dir(dir);
}

/* s_seal_one - seal a customer payload as key into sealed (keys committed); 1 when sealed */
/* s_db_int - the first column of sql's first row */
static long long s_db_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int s_seal_one(jcrypt_t *c, jkeys_t *k, const char *key, const char *payload,
                      buf_t *rest, buf_t *sealed, buf_t *names)
{
    journal_scan_event_t e = s_event("customer", key, payload);
    return jcrypt_seal(c, &e, "2026-12-07T10:00:00Z", rest, sealed, names) == 1 &&
           jkeys_commit(k) == 0;
}

static int s_opens_as(jcrypt_t *c, const char *key, const buf_t *rest, const buf_t *sealed,
                      const buf_t *names, const char *want)
{
    buf_t out = BUF_INIT;
    int erased = -1;
    int ok = jcrypt_open(c, "customer", key, rest->data, (const unsigned char *)sealed->data,
                         sealed->len, names->data, &out, &erased) == 0 &&
             erased == 0 && out.data && strcmp(out.data, want) == 0;
    if (!ok)
        fprintf(stderr, "%s opened as %s (erased %d)\n", key, out.data ? out.data : "", erased);
    buf_free(&out);
    return ok;
}

static void test_compact_layout_opens_in_libsodium_old_blobs_open_a_rollback_takes_a_new_run(void)
{
    char dir[] = "/tmp/hark-crypt-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/keys.db", dir);
    jkeys_t *k = jkeys_new(path, "normal", s_master);
    snprintf(path, sizeof path, "%s/journal.db", dir);
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, "CREATE TABLE seal_runs(id INTEGER PRIMARY KEY,"
                               " prefix BLOB NOT NULL)", NULL, NULL, NULL), SQLITE_OK);
    jcrypt_t *old = k ? jcrypt_new(k) : NULL, *c = k ? jcrypt_new(k) : NULL;
    CHECK(old && c);
    if (!old || !c)
        return;
    CHECK_INT(jcrypt_use_runs(c, db), 0);
    const char *payload = "{\"id\":\"c1\",\"email\":\"a@b.c\",\"attributes\":{\"x\":1}}";
    const char *part = "{\"email\":\"a@b.c\",\"attributes\":{\"x\":1}}";
    buf_t rest = BUF_INIT, sealed = BUF_INIT, names = BUF_INIT, v1 = BUF_INIT, v1_rest = BUF_INIT;
    /* the layout earlier journals wrote: class first, the nonce whole */
    CHECK(s_seal_one(old, k, "o1", payload, &v1_rest, &v1, &names));
    CHECK_INT((unsigned char)v1.data[0], 1);
    CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(s_seal_one(c, k, "n1", payload, &rest, &sealed, &names));
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    const unsigned char *b = (const unsigned char *)sealed.data;
    /* 3, run, class, key id (8), count, length; 24 bytes fewer than before */
    CHECK_INT(b[0], 3);
    CHECK_INT(b[2], 1);
    CHECK_INT(sealed.len + 24, v1.len);
    CHECK_INT(b[12], (int)strlen(part) + 16);
    CHECK_INT(sealed.len, 13 + strlen(part) + 16);
    /* libsodium's decrypt opens it with the run's prefix and the count */
    sqlite3_stmt *st = NULL;
    unsigned char nonce[24] = {0}, key[JKEYS_LEN], plain[256];
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT prefix FROM seal_runs WHERE id = ?", -1, &st, NULL),
              SQLITE_OK);
    sqlite3_bind_int64(st, 1, b[1]);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT(sqlite3_column_bytes(st, 0), 16);
    memcpy(nonce, sqlite3_column_blob(st, 0), 16);
    sqlite3_finalize(st);
    nonce[16] = b[11];
    int64_t id = 0;
    for (int i = 0; i < 8; i++)
        id = id << 8 | b[3 + i];
    CHECK_INT(jkeys_by_id(k, id, key), 0);
    unsigned long long got = 0;
    const char ad[] = "customer\nn1\n1";
    CHECK_INT(crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &got, NULL, b + 13, b[12],
                                                         (const unsigned char *)ad,
                                                         strlen(ad), nonce, key),
              0);
    CHECK_INT(got, strlen(part));
    CHECK(memcmp(plain, part, strlen(part)) == 0);
    /* both layouts open, here and after a restart (the prefix from the file) */
    CHECK(s_opens_as(c, "n1", &rest, &sealed, &names, payload));
    CHECK(s_opens_as(c, "o1", &v1_rest, &v1, &names, payload));
    jcrypt_t *again = jcrypt_new(k);
    CHECK(again && jcrypt_use_runs(again, db) == 0);
    CHECK(again && s_opens_as(again, "n1", &rest, &sealed, &names, payload));
    CHECK(again && s_opens_as(again, "o1", &v1_rest, &v1, &names, payload));
    jcrypt_destroy(&again);
    /* a round rolled back: the same event sealed again is under a new run
     * and prefix, never the nonce the rolled-back bytes used */
    buf_t first = BUF_INIT;
    CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(s_seal_one(c, k, "n2", payload, &rest, &first, &names));
    CHECK(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
    jcrypt_rollback(c);
    CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(s_seal_one(c, k, "n2", payload, &rest, &sealed, &names));
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    b = (const unsigned char *)sealed.data;
    CHECK_INT(first.data[1], 1);
    CHECK_INT(b[1], 2);
    CHECK_INT(b[11], 0); /* the count starts again under the new prefix */
    CHECK_INT(first.len, sealed.len);
    CHECK(memcmp(first.data + 13, sealed.data + 13, sealed.len - 13) != 0);
    CHECK_INT(s_db_int(db, "SELECT count(*) FROM seal_runs"), 2);
    CHECK(s_opens_as(c, "n2", &rest, &sealed, &names, payload));
    /* a run the file does not hold: nothing opens, the fields read erased */
    sealed.data[1] = 9;
    buf_t out = BUF_INIT;
    int erased = 0;
    CHECK_INT(jcrypt_open(c, "customer", "n2", rest.data, (const unsigned char *)sealed.data,
                          sealed.len, names.data, &out, &erased), 0);
    CHECK_INT(erased, 1);
    CHECK_STR(out.data, "{\"id\":\"c1\",\"email\":\"[erased]\"}");
    buf_free(&out);
    buf_free(&first);
    jcrypt_destroy(&c);
    jcrypt_destroy(&old);
    jkeys_destroy(&k);
    sqlite3_close(db);
    buf_free(&rest);
    buf_free(&sealed);
    buf_free(&names);
    buf_free(&v1);
    buf_free(&v1_rest);
    unit_remove_dir(dir);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    UNIT_RUN(test_a_box_opens_with_its_key_and_associated_data);
    UNIT_RUN(test_a_tampered_box_is_refused);
    UNIT_RUN(test_a_wrong_key_or_associated_data_is_refused);
    UNIT_RUN(test_a_wrapped_key_opens_only_with_its_master_and_id);
    UNIT_RUN(test_seal_open_and_erase_a_customer);
    UNIT_RUN(test_sealing_cuts_the_fields_out_of_the_text_and_opening_puts_them_back);
    UNIT_RUN(test_after_erasure_and_shred_no_file_holds_the_key_and_nothing_opens);
    UNIT_RUN(test_a_restart_opens_what_was_sealed_before_and_makes_higher_ids);
    UNIT_RUN(test_an_erasure_amid_background_checkpoints_leaves_no_key_bytes_in_any_file);
    UNIT_RUN(test_a_keys_file_of_the_first_schema_still_opens_and_erases);
    UNIT_RUN(test_two_owners_whose_tags_collide_keep_their_own_keys);
    UNIT_RUN(test_new_keys_go_into_the_owner_index_together_and_stay_the_same);
    UNIT_RUN(test_a_keys_file_with_the_fresh_table_still_opens_and_erases);
    UNIT_RUN(test_retention_names_the_customers_of_keys_wrapped_alone_or_with_their_owner);
    UNIT_RUN(test_every_box_is_libsodiums_xchacha20poly1305_byte_for_byte);
    UNIT_RUN(test_a_cached_subkey_never_seals_after_its_key_is_erased);
    UNIT_RUN(test_compact_layout_opens_in_libsodium_old_blobs_open_a_rollback_takes_a_new_run);
    return UNIT_END();
}
