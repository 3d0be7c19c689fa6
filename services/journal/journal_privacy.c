/*
 * journal_privacy.c - the journal's side of privacy: sealing in each round,
 * customer.erased, the erasure log, and retention's sweep.
 *
 * Erasure: a customer.erased event stored in a round (not a duplicate)
 * looks up the ids of every key of that customer and of what is linked to
 * them, appends a line to [privacy] erasure_log and fsyncs it, and deletes
 * those keys in the round's write on journal-keys.db.  That write commits
 * before the events do; after the events, the keys file's WAL is
 * checkpointed and truncated (jkeys_shred), so the key bytes are in no
 * file.  Events later in the same round get new keys: a customer event
 * after the erasure is a new person.
 *
 * The log outlives the keys: when the journal starts, every line whose keys
 * still exist (a restored older copy of the state dir) is applied again,
 * and its customer.erased event appended again under its own key when the
 * journal does not have it, so every service blanks what it copied.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "journal.h"
#include "keys.h"
#include "log.h"
#include "proto.h"

/* s_log_append - one JSON line, fsynced; 0/-1 */
static int s_log_append(const char *path, const char *line)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("event=erasure_log_failed path=%s error=\"%s\"", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(line);
    int bad = write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd);
    if (bad)
        log_error("event=erasure_log_failed path=%s error=\"%s\"", path, strerror(errno));
    close(fd);
    return bad ? -1 : 0;
}

/* s_us - a monotonic clock in microseconds, for the erasure's figures in the log */
static int64_t s_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* s_forget_opened - wipe the opened events the sealing tables keep */
static void s_forget_opened(journal_t *j)
{
    if (j->crypt)
        jcrypt_forget(j->crypt);
    if (j->crypt_off)
        jcrypt_forget(j->crypt_off);
}

/* s_erase - destroy the keys of customer (in the keys' open write), the
 * line logged first; 0/-1 */
static int s_erase(journal_t *j, const char *customer, const char *by, const char *key,
                   size_t key_len, const char *now)
{
    int64_t *ids = NULL;
    size_t n = 0, gone = 0;
    int64_t t0 = s_us();
    if (jkeys_customer_keys(j->keys, customer, &ids, &n))
        return -1;
    int64_t t1 = s_us(), t2 = t1;
    json_t *line = json_pack("{s:s, s:s%, s:s, s:s, s:[]}", "at", now, "key", key, key_len,
                             "customer_id", customer, "by", by ? by : "api", "keys");
    char idtext[24];
    for (size_t i = 0; line && i < n; i++) {
        snprintf(idtext, sizeof idtext, "%lld", (long long)ids[i]);
        json_array_append_new(json_object_get(line, "keys"), json_string(idtext));
    }
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    int rc = !text || s_log_append(j->erasure_log, text) ||
                     ((t2 = s_us()), jkeys_drop(j->keys, ids, n, &gone)) ||
                     jkeys_unlink(j->keys, customer)
                 ? -1
                 : 0;
    free(text);
    free(ids);
    if (rc == 0) {
        j->shred = 1;
        s_forget_opened(j); /* the cache would notice; the plaintext goes now */
        /* where an erasure's time goes (the shred's is logged after the commit) */
        log_info("event=customer_erased keys=%zu lookup_us=%lld log_us=%lld delete_us=%lld", gone,
                 (long long)(t1 - t0), (long long)(t2 - t1), (long long)(s_us() - t2));
    }
    return rc;
}

/* journal_privacy_seal - before e is stored: its personal fields out of
 * its payload.  *sealed and *names are what to store beside it (NULL when
 * nothing).  0/-1 */
int journal_privacy_seal(journal_t *j, journal_scan_event_t *e, const char *now,
                         const buf_t **sealed, const char **names)
{
    *sealed = NULL;
    *names = NULL;
    if (!j->crypt)
        return 0;
    int rc = jcrypt_seal(j->crypt, e, now, &j->rest, &j->sealed, &j->names);
    if (rc <= 0)
        return rc;
    e->payload = j->rest.data;
    e->payload_len = j->rest.len;
    *sealed = &j->sealed;
    *names = j->names.data;
    return 0;
}

/* journal_privacy_stored - after e is stored: a new customer.erased erases */
int journal_privacy_stored(journal_t *j, const journal_scan_event_t *e, const char *now)
{
    if (e->dup || !j->keys || e->type_len != strlen(EV_CUSTOMER_ERASED) ||
        memcmp(e->type, EV_CUSTOMER_ERASED, e->type_len))
        return 0;
    /* a deferred store tells dup only at commit, after the keys' write:
     * ask it whether the key is already stored (a retried erasure) */
    if (journal_store_deferred(j->store)) {
        int has = journal_store_has_key(j->store, e->key, e->key_len);
        if (has)
            return has < 0 ? -1 : 0;
    }
    json_t *p = json_loadb(e->payload, e->payload_len, 0, NULL);
    const char *customer = json_string_value(json_object_get(p, "customer_id"));
    int rc = customer && *customer
                 ? s_erase(j, customer, json_string_value(json_object_get(p, "by")), e->key,
                           e->key_len, now)
                 : 0;
    json_decref(p);
    return rc;
}

/* journal_privacy_commit - the keys' write, before the events commit; 0/-1 */
int journal_privacy_commit(journal_t *j)
{
    return j->keys ? jkeys_commit(j->keys) : 0;
}

/* journal_privacy_rollback - the round failed */
void journal_privacy_rollback(journal_t *j)
{
    if (j->keys)
        jkeys_rollback(j->keys);
    /* j->shred stays: it may be an earlier round's shred that failed */
}

/* journal_privacy_done - after the events committed: shred what an erasure
 * deleted.  0, or -1 when the shred failed: it stays asked for, and is
 * tried again after the next round */
int journal_privacy_done(journal_t *j)
{
    if (!j->shred || !j->keys)
        return 0;
    int64_t t0 = s_us();
    if (jkeys_shred(j->keys))
        return -1;
    j->shred = 0;
    log_info("event=keys_shredded us=%lld", (long long)(s_us() - t0));
    return 0;
}

/* s_reapply - one line of the log, again when its keys or event are missing */
static int s_reapply(journal_t *j, json_t *line, int *appended)
{
    const char *key = json_string_value(json_object_get(line, "key"));
    const char *customer = json_string_value(json_object_get(line, "customer_id"));
    const char *by = json_string_value(json_object_get(line, "by"));
    json_t *ks = json_object_get(line, "keys");
    if (!key || !customer || !json_is_array(ks))
        return 0; /* not ours to judge: a torn last line, say */
    size_t n = json_array_size(ks), gone = 0;
    int64_t *ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids)
        return -1;
    for (size_t i = 0; i < n; i++)
        ids[i] = strtoll(json_string_value(json_array_get(ks, i)) ? json_string_value(json_array_get(ks, i)) : "0", NULL, 10);
    for (size_t i = 0; i < n; i++)
        jkeys_seen(j->keys, ids[i]); /* no new key takes an erased one's id */
    int rc = 0;
    if (jkeys_count_existing(j->keys, ids, n) > 0) {
        rc = jkeys_drop(j->keys, ids, n, &gone) || jkeys_commit(j->keys) ? -1 : 0;
        j->shred = rc == 0;
        log_info("event=erasure_reapplied keys=%zu", gone);
    }
    free(ids);
    int has = rc == 0 ? journal_store_has_key(j->store, key, strlen(key)) : 0;
    if (has < 0)
        rc = -1;
    if (rc == 0 && has == 0) {
        /* the copy the journal started from is older than the erasure */
        json_t *p = json_pack("{s:s, s:s}", "customer_id", customer, "by", by ? by : "journal");
        char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);
        char now[40];
        clock_format(clock_now_ms(), now, sizeof now);
        journal_scan_event_t e = {0};
        e.type = EV_CUSTOMER_ERASED;
        e.type_len = strlen(e.type);
        e.key = key;
        e.key_len = strlen(key);
        e.payload = text;
        e.payload_len = text ? strlen(text) : 0;
        rc = text && journal_store_append(j->store, &e, now, NULL, NULL) == 0 &&
                     journal_store_flush(j->store) == 0
                 ? 0
                 : -1;
        *appended += rc == 0;
        free(text);
    }
    return rc;
}

/* s_reapply_log - every line of the erasure log, in one transaction */
static int s_reapply_log(journal_t *j)
{
    FILE *f = fopen(j->erasure_log, "r");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    char *text = NULL;
    size_t cap = 0;
    int rc = journal_store_begin(j->store), appended = 0;
    while (rc == 0 && getline(&text, &cap, f) > 0) {
        json_t *line = json_loads(text, 0, NULL);
        if (line)
            rc = s_reapply(j, line, &appended);
        json_decref(line);
    }
    free(text);
    fclose(f);
    if (rc || journal_store_commit(j->store)) {
        journal_store_rollback(j->store);
        return -1;
    }
    journal_store_reload_head(j->store);
    journal_privacy_done(j); /* when it fails, the first round tries again */
    if (appended)
        log_info("event=erasure_events_appended n=%d", appended);
    return 0;
}

#define S_RETENTION_CHUNK 1000 /* customers per privacy.retention (proto's maxItems) */

/* s_emit_retention - privacy.retention events for customers[0..n) of class,
 * appended in the open transaction; 0/-1 */
static int s_emit_retention(journal_t *j, const char *class, char **customers, size_t n,
                            size_t dropped, int64_t now_ms, const char *now, int64_t *head)
{
    for (size_t at = 0; at == 0 || at < n; at += S_RETENTION_CHUNK) {
        json_t *list = json_array();
        for (size_t i = at; i < n && i < at + S_RETENTION_CHUNK; i++)
            json_array_append_new(list, json_string(customers[i]));
        json_t *p = json_pack("{s:s, s:o, s:I}", "class", class, "customers", list, "keys",
                              (json_int_t)(at == 0 ? dropped : 0));
        char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);
        char key[96];
        snprintf(key, sizeof key, "journal/retention/%s/%lld/%zu", class, (long long)now_ms,
                 at / S_RETENTION_CHUNK);
        journal_scan_event_t e = {0};
        e.type = EV_PRIVACY_RETENTION;
        e.type_len = strlen(e.type);
        e.key = key;
        e.key_len = strlen(key);
        e.payload = text;
        e.payload_len = text ? strlen(text) : 0;
        int rc = text ? journal_store_append(j->store, &e, now, NULL, NULL) : -1;
        if (rc == 0)
            rc = journal_store_flush(j->store); /* e.offset now, whatever the engine */
        free(text);
        if (rc)
            return -1;
        if (!e.dup && e.offset > *head)
            *head = e.offset;
    }
    return 0;
}

/* journal_privacy_sweep - retention: drop the keys of each class whose
 * owner was idle longer than its setting, and tell the services whose
 * (privacy.retention).  The events commit before the keys' deletion: a
 * crash between repeats the sweep, it never loses the telling.  0/-1 */
int journal_privacy_sweep(journal_t *j)
{
    static const struct {
        int class;
        const char *name;
    } classes[] = {{2, "free_text"}, {1, "contact"}};
    int64_t now_ms = clock_now_ms(), head = journal_store_head(j->store);
    char now[40];
    clock_format(now_ms, now, sizeof now);
    if (journal_store_begin(j->store))
        return -1;
    int rc = 0, any = 0;
    for (size_t c = 0; c < 2 && rc == 0; c++) {
        int days = classes[c].class == 2 ? j->free_text_days : j->contact_days;
        char before[40];
        clock_format(now_ms - (int64_t)days * 86400000, before, sizeof before);
        char **customers = NULL;
        size_t n = 0, dropped = 0;
        rc = jkeys_retention(j->keys, classes[c].class, before, &customers, &n, &dropped);
        if (rc == 0 && dropped) {
            any = 1;
            rc = s_emit_retention(j, classes[c].name, customers, n, dropped, now_ms, now, &head);
            log_info("event=retention class=%s keys=%zu customers=%zu", classes[c].name,
                     dropped, n);
        }
        for (size_t i = 0; i < n; i++)
            free(customers[i]);
        free(customers);
    }
    if (rc || journal_store_commit(j->store)) {
        journal_store_rollback(j->store);
        jkeys_rollback(j->keys);
        return -1;
    }
    journal_store_set_head(j->store, head);
    if (jkeys_commit(j->keys))
        return -1;
    if (any) {
        s_forget_opened(j);
        j->shred = 1;
        journal_privacy_done(j); /* when it fails, the next round tries again */
        char body[64];
        int len = snprintf(body, sizeof body, "{\"head\":%lld}", (long long)head);
        wire_send(j->pub, NULL, 0, CMD_JOURNAL_HEAD, 0, body, (size_t)len, ZMQ_DONTWAIT);
    }
    return 0;
}

/* s_on_sweep - the retention timer */
static int s_on_sweep(evloop_t *loop, void *arg)
{
    (void)loop;
    service_t *svc = arg;
    if (journal_privacy_sweep(service_state(svc)))
        log_error("event=retention_failed");
    return 0;
}

/* s_came_back - 1 when an event after offset carries customer's record (a
 * customer event, or a purchase, complaint or cancellation with its
 * customer), 0 when none does, -1 on error */
static int s_came_back(sqlite3 *db, const char *customer, int64_t offset)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM events WHERE offset > ?2 AND"
                                      " ((type = 'customer' AND json_extract(payload, '$.id') = ?1)"
                                      " OR json_extract(payload, '$.customer.id') = ?1) LIMIT 1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, customer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, offset);
    int rc = sqlite3_step(st);
    db_finish(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* journal_privacy_erased - JOURNAL_ERASED: whether customer_id was erased
 * and has not come back since.  An erasure is a customer.erased event (the
 * events_erased index finds it); a customer event after it gave the id new
 * keys (journal_crypt.c), and that new person is not erased.  The pages of
 * an erased customer's links answer 410 from this (hark-gateway(8)). */
json_t *journal_privacy_erased(service_t *svc, const json_t *req, service_err_t *err)
{
    journal_t *j = service_state(svc);
    const char *customer = json_string_value(json_object_get(req, "customer_id"));
    if (!customer || !*customer)
        return service_fail(err, "invalid_request", "customer_id: a non-empty string");
    sqlite3_stmt *st = db_prepare(service_db(svc),
                                  "SELECT recorded_at, offset FROM events"
                                  " WHERE json_extract(payload, '$.customer_id') = ?1"
                                  " AND type = 'customer.erased' ORDER BY offset DESC LIMIT 1");
    if (!st)
        return service_fail(err, "store_failed", "the journal could not be read");
    sqlite3_bind_text(st, 1, customer, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    json_t *out = json_pack("{s:s, s:b}", "customer_id", customer, "erased", 0);
    if (rc == SQLITE_ROW && out) {
        int64_t *ids = NULL;
        size_t n = 0;
        /* keys again: a later customer event made a new person of the id.
         * Unsealed ([privacy] encrypt = no), nothing makes keys: a later
         * event that carries the customer's record says so instead */
        int back = j->crypt ? !(j->keys && jkeys_customer_keys(j->keys, customer, &ids, &n) == 0 &&
                                n == 0)
                            : s_came_back(service_db(svc), customer, sqlite3_column_int64(st, 1));
        if (back < 0) {
            json_decref(out);
            out = service_fail(err, "store_failed", "the journal could not be read");
        } else if (!back) {
            json_object_set_new(out, "erased", json_true());
            json_object_set_new(out, "erased_at",
                                json_string((const char *)sqlite3_column_text(st, 0)));
        }
        free(ids);
    } else if (rc != SQLITE_DONE) {
        json_decref(out);
        out = service_fail(err, "store_failed", "the journal could not be read");
    }
    db_finish(st);
    return out;
}

/* journal_privacy_init - keys, the sealing table, the log applied again */
int journal_privacy_init(journal_t *j, service_t *svc)
{
    const config_t *cfg = service_config(svc);
    j->erasure_log = config_get(cfg, "privacy", "erasure_log");
    char hex[80];
    unsigned char master[JKEYS_LEN];
    size_t got = 0;
    if (keys_load_or_create(config_state_dir(cfg), "journal-master", hex, sizeof hex) ||
        sodium_init() < 0 ||
        sodium_hex2bin(master, sizeof master, hex, strlen(hex), NULL, &got, NULL) ||
        got != sizeof master) {
        log_error("event=master_key_failed");
        return -1;
    }
    const char *sync = config_get(cfg, "journal", "synchronous");
    j->keys = jkeys_new(config_get(cfg, "privacy", "keys_db"), sync ? sync : "full", master);
    sodium_memzero(master, sizeof master);
    sodium_memzero(hex, sizeof hex);
    if (!j->keys)
        return -1;
    if (config_bool(cfg, "privacy", "encrypt")) {
        j->crypt = jcrypt_new(j->keys);
        if (!j->crypt)
            return -1;
        journal_store_set_crypt(j->store, j->crypt);
    } else {
        /* what earlier runs sealed still opens */
        j->crypt_off = jcrypt_new(j->keys);
        journal_store_set_crypt(j->store, j->crypt_off);
    }
    /* the compact layout where journal.db holds the events (and the runs) */
    jcrypt_t *c = j->crypt ? j->crypt : j->crypt_off;
    if (c && strcmp(journal_store_engine(j->store), "sqlite") == 0 &&
        jcrypt_use_runs(c, service_db(svc))) {
        log_error("event=seal_runs_failed");
        return -1;
    }
    j->free_text_days = (int)config_int(cfg, "privacy", "free_text_days");
    j->contact_days = (int)config_int(cfg, "privacy", "contact_days");
    if (s_reapply_log(j))
        return -1;
    return evloop_add_timer(service_evloop(svc), config_duration_ms(cfg, "privacy", "sweep"),
                            s_on_sweep, svc) < 0
               ? -1
               : 0;
}

/* journal_privacy_fini - free */
void journal_privacy_fini(journal_t *j)
{
    jcrypt_destroy(&j->crypt);
    jcrypt_destroy(&j->crypt_off);
    jkeys_destroy(&j->keys);
    buf_free(&j->rest);
    buf_free(&j->sealed);
    buf_free(&j->names);
}
