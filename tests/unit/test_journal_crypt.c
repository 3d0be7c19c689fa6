/*
 * test_journal_crypt.c - unit tests for the journal's sealing of personal
 * fields (services/journal/journal_crypt.c, journal_keys.c): what was
 * sealed opens only with its key, its associated data and unchanged bytes;
 * a destroyed key reads "[erased]".
 */
#include <sodium.h>
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

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    UNIT_RUN(test_a_box_opens_with_its_key_and_associated_data);
    UNIT_RUN(test_a_tampered_box_is_refused);
    UNIT_RUN(test_a_wrong_key_or_associated_data_is_refused);
    UNIT_RUN(test_a_wrapped_key_opens_only_with_its_master_and_id);
    UNIT_RUN(test_seal_open_and_erase_a_customer);
    return UNIT_END();
}
