/*
 * journal_store.c - the store interface (journal_store.h), and its sqlite
 * engine: append and fetch on journal.db.
 *
 * offset is the rowid: SQLite gives max+1, and rows are never deleted, so
 * offsets only grow.  The unique index on key makes appends idempotent.
 * Payloads are stored as compact JSON text (the text they arrived as minus
 * the whitespace between tokens, see journal_scan.c), and fetch copies that
 * text into the reply without parsing it again.  Fetch reads up to the
 * head only: with group commit (journal_sync.h) rows above it are committed
 * but not yet durable, and no consumer may act on an event a power loss
 * could take back.
 */
#include "journal_store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "journal_crypt.h"
#include "log.h"

#define JSTORE_CACHE_KIB "65536" /* 64 MiB of page cache (SQLite's default is 2 MiB) */

const char *const journal_store_migrations[] = {
    "CREATE TABLE events("
    "  offset INTEGER PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  occurred_at TEXT NOT NULL,"
    "  recorded_at TEXT NOT NULL,"
    "  payload TEXT NOT NULL);"
    "CREATE UNIQUE INDEX events_key ON events(key);"
    "CREATE INDEX events_type ON events(type, offset);",
    /* personal fields sealed apart from the payload (journal_crypt.h) */
    "ALTER TABLE events ADD COLUMN sealed BLOB;"
    "ALTER TABLE events ADD COLUMN sealed_names TEXT;",
    /* whether a customer was erased (JOURNAL_ERASED), without reading
     * every erasure: only customer.erased rows are in it */
    "CREATE INDEX events_erased ON events(json_extract(payload, '$.customer_id'))"
    " WHERE type = 'customer.erased';",
    /* the names of the sealed fields stored once each (s_list_id): a row
     * holds the list's ref (a blob) instead of its text */
    "CREATE TABLE sealed_lists(id INTEGER PRIMARY KEY, names TEXT NOT NULL,"
    "  ref BLOB NOT NULL UNIQUE);",
    /* each run's nonce prefix, stored once, for the compact sealed layout
     * (journal_crypt.c, "Two layouts") */
    "CREATE TABLE seal_runs(id INTEGER PRIMARY KEY, prefix BLOB NOT NULL);",
    NULL,
};

/* the interface: an engine and what every engine shares */
struct jstore {
    const journal_store_ops_t *ops;
    void *self;      /* the engine's state */
    int64_t head;
    jcrypt_t *crypt; /* borrowed; opens sealed fields on fetch */
    buf_t open;      /* one opened payload */
};

/*
 * The names of the sealed fields (journal_crypt.h) are one of a few lists
 * per type ("email,name,-attributes"): stored as text in every row they
 * were a fifth of what sealing adds to a customer's row, and a longer row
 * is a dearer insert.  Each list is stored once in sealed_lists, and a row's
 * sealed_names holds its ref: the id's big-endian bytes (one for the first
 * 255 lists, two after), as a blob since the column's TEXT affinity would
 * turn an integer into text.  Rows written before hold the text and are
 * read as they are, so old journals need no migration of rows.  A
 * list is inserted in the round of the first row that names it, so it is
 * committed or rolled back with that row: on a rollback the lists the round
 * added are forgotten in memory too (read again from the file).  A journal
 * with more distinct lists than JSTORE_LISTS stores the others as text.
 * JetStream's messages keep the text (journal_store_jetstream.c), and
 * `hark journal export` writes the text of either (hark_journal.c).
 */
#define JSTORE_LISTS 1024

/* the sqlite engine */
typedef struct {
    sqlite3 *db;
    sqlite3_stmt *insert, *by_key, *fetch_all, *add_list;
    journal_store_t *js; /* the store it serves (its head and crypt) */
    char **lists;        /* sealed_lists' names; id i + 1 at [i] */
    size_t n_lists;
} s_sql_t;

static const journal_store_ops_t s_sql_ops;

/* s_lists_forget - the lists from the from-th on out of memory */
static void s_lists_forget(s_sql_t *sq, size_t from)
{
    while (sq->lists && sq->n_lists > from)
        free(sq->lists[--sq->n_lists]);
}

/* s_lists_load - sealed_lists into memory (ids 1, 2, ... in order); 0/-1 */
static int s_lists_load(s_sql_t *sq)
{
    sqlite3_stmt *st = db_prepare(sq->db, "SELECT id, names FROM sealed_lists ORDER BY id");
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && sq->n_lists < JSTORE_LISTS) {
        const char *names = (const char *)sqlite3_column_text(st, 1);
        if (sqlite3_column_int64(st, 0) != (int64_t)sq->n_lists + 1 || !names)
            break; /* not ours: later lists are stored as text */
        if (!(sq->lists[sq->n_lists] = strdup(names))) {
            rc = SQLITE_NOMEM;
            break;
        }
        sq->n_lists++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_NOMEM ? -1 : 0;
}

/* s_list_ref - id's ref into ref; its length */
static int s_list_ref(int64_t id, unsigned char ref[2])
{
    if (id < 256) {
        ref[0] = (unsigned char)id;
        return 1;
    }
    ref[0] = (unsigned char)(id >> 8);
    ref[1] = (unsigned char)id;
    return 2;
}

/* s_list_id - the id of the list names, inserted (in the open round) when
 * new; 0: store the text (the table is full, or the insert failed: the row
 * still goes in) */
static int64_t s_list_id(s_sql_t *sq, const char *names)
{
    for (size_t i = 0; i < sq->n_lists; i++)
        if (strcmp(sq->lists[i], names) == 0)
            return (int64_t)i + 1;
    if (sq->n_lists == JSTORE_LISTS)
        return 0;
    char *copy = strdup(names);
    if (!copy)
        return 0;
    int64_t id = (int64_t)sq->n_lists + 1;
    sqlite3_bind_int64(sq->add_list, 1, id);
    sqlite3_bind_text(sq->add_list, 2, names, -1, SQLITE_STATIC);
    unsigned char ref[2];
    sqlite3_bind_blob(sq->add_list, 3, ref, s_list_ref(id, ref), SQLITE_STATIC);
    int rc = sqlite3_step(sq->add_list);
    sqlite3_reset(sq->add_list);
    if (rc != SQLITE_DONE) {
        free(copy);
        return 0;
    }
    sq->lists[sq->n_lists++] = copy;
    return id;
}

/* s_list_names - a row's sealed_names column: the text it holds, or the
 * list its ref names (NULL when none) */
static const char *s_list_names(s_sql_t *sq, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) != SQLITE_BLOB)
        return (const char *)sqlite3_column_text(st, col);
    const unsigned char *ref = sqlite3_column_blob(st, col);
    int len = sqlite3_column_bytes(st, col);
    size_t id = len == 1 ? ref[0] : len == 2 ? (size_t)ref[0] << 8 | ref[1] : 0;
    return id >= 1 && id <= sq->n_lists ? sq->lists[id - 1] : NULL;
}

/* journal_store_new - prepare the statements */
journal_store_t *journal_store_new(sqlite3 *db)
{
    s_sql_t *sq = calloc(1, sizeof *sq);
    if (!sq)
        return NULL;
    journal_store_t *js = journal_store_wrap(&s_sql_ops, sq);
    if (!js)
        return NULL;
    sq->js = js;
    sq->db = db;
    /* a page cache that holds the hot parts of both indexes, so a round of
     * thousands of inserts neither spills dirty pages to the WAL before its
     * COMMIT nor re-reads index pages it evicted a moment ago */
    db_exec(db, "PRAGMA cache_size = -" JSTORE_CACHE_KIB);
    sq->insert = db_prepare(db, "INSERT INTO events(type, key, occurred_at, recorded_at, payload,"
                                " sealed, sealed_names)"
                                " VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING");
    sq->by_key = db_prepare(db, "SELECT offset FROM events WHERE key = ?");
    sq->add_list = db_prepare(db, "INSERT INTO sealed_lists(id, names, ref) VALUES(?, ?, ?)");
    sq->lists = calloc(JSTORE_LISTS, sizeof *sq->lists);
    sq->fetch_all = db_prepare(db, "SELECT offset, type, key, occurred_at, recorded_at, payload,"
                                   " sealed, sealed_names"
                                   " FROM events WHERE offset > ?1 AND offset <= ?3"
                                   " ORDER BY offset LIMIT ?2");
    if (!sq->insert || !sq->by_key || !sq->fetch_all || !sq->add_list || !sq->lists ||
        s_lists_load(sq)) {
        journal_store_destroy(&js);
        return NULL;
    }
    journal_store_reload_head(js);
    return js;
}

/* s_sql_destroy - finalize */
static void s_sql_destroy(void *self)
{
    s_sql_t *sq = self;
    s_lists_forget(sq, 0);
    free(sq->lists);
    sqlite3_finalize(sq->add_list);
    sqlite3_finalize(sq->insert);
    sqlite3_finalize(sq->by_key);
    sqlite3_finalize(sq->fetch_all);
    free(sq);
}

/* journal_store_wrap - the interface over an engine */
journal_store_t *journal_store_wrap(const journal_store_ops_t *ops, void *self)
{
    journal_store_t *js = calloc(1, sizeof *js);
    if (!js) {
        ops->destroy(self);
        return NULL;
    }
    js->ops = ops;
    js->self = self;
    return js;
}

/* journal_store_destroy - the engine and the interface; safe on NULL and twice */
void journal_store_destroy(journal_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    journal_store_t *js = *self_p;
    js->ops->destroy(js->self);
    buf_free(&js->open);
    free(js);
    *self_p = NULL;
}

const char *journal_store_engine(const journal_store_t *js) { return js->ops->name; }
int journal_store_deferred(const journal_store_t *js) { return js->ops->deferred; }
int journal_store_begin(journal_store_t *js) { return js->ops->begin(js->self); }
int journal_store_commit(journal_store_t *js) { return js->ops->commit(js->self); }
void journal_store_rollback(journal_store_t *js)
{
    js->ops->rollback(js->self);
    if (js->crypt) /* never the rolled-back round's nonces again */
        jcrypt_rollback(js->crypt);
}
int journal_store_flush(journal_store_t *js) { return js->ops->flush(js->self); }
int journal_store_has_key(journal_store_t *js, const char *key, size_t key_len)
{
    return js->ops->has_key(js->self, key, key_len);
}
int journal_store_append(journal_store_t *js, journal_scan_event_t *e, const char *now,
                         const buf_t *sealed, const char *names)
{
    return js->ops->append(js->self, e, now, sealed, names);
}
int journal_store_fetch(journal_store_t *js, int64_t after, int limit, const char *const *types,
                        int n_types, buf_t *out)
{
    return js->ops->fetch(js->self, after, limit, types, n_types, out);
}

int64_t journal_store_head(journal_store_t *js) { return js->head; }
void journal_store_set_head(journal_store_t *js, int64_t head) { js->head = head; }
void journal_store_reload_head(journal_store_t *js) { js->head = js->ops->last(js->self); }

void journal_store_set_crypt(journal_store_t *js, jcrypt_t *crypt) { js->crypt = crypt; }
jcrypt_t *journal_store_crypt(journal_store_t *js) { return js->crypt; }

/* journal_store_put_event - one event of the reply, sealed fields opened */
int journal_store_put_event(journal_store_t *js, buf_t *out, int first, int64_t offset,
                            const char *type, const char *key, const char *occurred_at,
                            const char *recorded_at, const char *payload,
                            const unsigned char *sealed, size_t sealed_len, const char *names)
{
    buf_printf(out, "%s{\"offset\":%lld,\"type\":", first ? "" : ",", (long long)offset);
    buf_json_string(out, type);
    buf_puts(out, ",\"key\":");
    buf_json_string(out, key);
    buf_puts(out, ",\"occurred_at\":");
    buf_json_string(out, occurred_at);
    buf_puts(out, ",\"recorded_at\":");
    buf_json_string(out, recorded_at);
    if (sealed && js->crypt) {
        int erased = 0;
        buf_reset(&js->open);
        if (jcrypt_open(js->crypt, type, key, payload, sealed, sealed_len, names, &js->open,
                        &erased) ||
            buf_failed(&js->open))
            return -1;
        if (erased)
            buf_puts(out, ",\"erased\":true");
        buf_puts(out, ",\"payload\":");
        buf_append(out, js->open.data, js->open.len);
    } else {
        buf_puts(out, ",\"payload\":");
        buf_puts(out, payload);
    }
    buf_putc(out, '}');
    return 0;
}

/* journal_store_put_end - next and head */
int journal_store_put_end(journal_store_t *js, buf_t *out, int n, int limit, int64_t after,
                          int64_t scanned, int64_t last)
{
    /* a short page means everything up to scanned was looked at, so a
     * consumer filtering on types can move its cursor past what it does not
     * want */
    int64_t next = n < limit ? (scanned > after ? scanned : after) : last;
    buf_printf(out, "],\"next\":%lld,\"head\":%lld}", (long long)next, (long long)js->head);
    return buf_failed(out) ? -1 : 0;
}

/* journal_store_attach - the engine's sockets into the loop */
int journal_store_attach(journal_store_t *js, evloop_t *loop)
{
    return js->ops->attach ? js->ops->attach(js->self, loop) : 0;
}

/* journal_store_open - the engine the settings name */
journal_store_t *journal_store_open(const config_t *cfg, sqlite3 *db)
{
    const char *engine = config_get(cfg, "journal", "engine");
    if (engine && strcmp(engine, "jetstream") == 0)
        return journal_store_jetstream_new(cfg);
    return journal_store_new(db);
}

/* s_sql_last - the newest offset in the file */
static int64_t s_sql_last(void *self)
{
    s_sql_t *sq = self;
    return db_int(sq->db, "SELECT max(offset) FROM events", 0);
}

static int s_sql_begin(void *self) { return db_begin(((s_sql_t *)self)->db); }
static int s_sql_commit(void *self) { return db_commit(((s_sql_t *)self)->db); }

static void s_sql_rollback(void *self)
{
    s_sql_t *sq = self;
    db_rollback(sq->db);
    /* memory as the file has it again (a list inserted outside a round is
     * committed already) */
    s_lists_forget(sq, 0);
    if (s_lists_load(sq))
        log_error("event=sealed_lists_reload_failed");
}
static int s_sql_flush(void *self) { (void)self; return 0; }

/* s_sql_has_key - a row with key */
static int s_sql_has_key(void *self, const char *key, size_t key_len)
{
    s_sql_t *sq = self;
    if (key_len > INT_MAX)
        return -1;
    sqlite3_bind_text(sq->by_key, 1, key, (int)key_len, SQLITE_STATIC);
    int rc = sqlite3_step(sq->by_key);
    sqlite3_reset(sq->by_key);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* s_sql_append - insert or find the existing offset */
static int s_sql_append(void *self, journal_scan_event_t *e, const char *now,
                        const buf_t *sealed, const char *names)
{
    s_sql_t *sq = self;
    if (e->type_len > INT_MAX || e->key_len > INT_MAX || e->occurred_at_len > INT_MAX ||
        e->payload_len > INT_MAX) {
        log_error("event=append_failed error=\"event too large\"");
        return -1;
    }
    sqlite3_stmt *st = sq->insert;
    sqlite3_bind_text(st, 1, e->type, (int)e->type_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, e->key, (int)e->key_len, SQLITE_STATIC);
    if (e->occurred_at)
        sqlite3_bind_text(st, 3, e->occurred_at, (int)e->occurred_at_len, SQLITE_STATIC);
    else
        sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, e->payload, (int)e->payload_len, SQLITE_STATIC);
    if (sealed && sealed->len <= INT_MAX) {
        sqlite3_bind_blob(st, 6, sealed->data, (int)sealed->len, SQLITE_STATIC);
        int64_t list = names ? s_list_id(sq, names) : 0;
        unsigned char ref[2];
        if (list)
            sqlite3_bind_blob(st, 7, ref, s_list_ref(list, ref), SQLITE_TRANSIENT);
        else
            sqlite3_bind_text(st, 7, names, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, 6);
        sqlite3_bind_null(st, 7);
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        log_error("event=append_failed error=\"%s\"", sqlite3_errmsg(sq->db));
        return -1;
    }
    if (sqlite3_changes(sq->db) == 1) {
        e->offset = sqlite3_last_insert_rowid(sq->db);
        e->dup = 0;
        return 0;
    }
    st = sq->by_key;
    sqlite3_bind_text(st, 1, e->key, (int)e->key_len, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -1;
    if (rc == 0) {
        e->offset = sqlite3_column_int64(st, 0);
        e->dup = 1;
    }
    sqlite3_reset(st);
    return rc;
}

/* s_sql_fetch - build the reply body from the rows */
static int s_sql_fetch(void *self, int64_t after, int limit, const char *const *types,
                       int n_types, buf_t *out)
{
    s_sql_t *sq = self;
    journal_store_t *js = sq->js;
    sqlite3_stmt *st = sq->fetch_all;
    sqlite3_stmt *own = NULL;
    if (n_types > 0) {
        buf_t sql = BUF_INIT;
        buf_puts(&sql, "SELECT offset, type, key, occurred_at, recorded_at, payload, sealed,"
                       " sealed_names FROM events"
                       " WHERE offset > ? AND type IN (");
        for (int i = 0; i < n_types; i++)
            buf_puts(&sql, i ? ",?" : "?");
        buf_puts(&sql, ") AND offset <= ? ORDER BY offset LIMIT ?");
        own = sql.data ? db_prepare(sq->db, sql.data) : NULL;
        buf_free(&sql);
        if (!own)
            return -1;
        st = own;
        for (int i = 0; i < n_types; i++)
            sqlite3_bind_text(st, 2 + i, types[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2 + n_types, js->head);
        sqlite3_bind_int(st, 3 + n_types, limit);
    } else {
        sqlite3_reset(st);
        sqlite3_bind_int(st, 2, limit);
        sqlite3_bind_int64(st, 3, js->head);
    }
    sqlite3_bind_int64(st, 1, after);
    int64_t last = after;
    int n = 0, rc;
    buf_puts(out, "{\"events\":[");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        last = sqlite3_column_int64(st, 0);
        int sealed = sqlite3_column_type(st, 6) == SQLITE_BLOB;
        if (journal_store_put_event(
                js, out, n == 0, last, (const char *)sqlite3_column_text(st, 1),
                (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
                (const char *)sqlite3_column_text(st, 4), (const char *)sqlite3_column_text(st, 5),
                sealed ? sqlite3_column_blob(st, 6) : NULL,
                sealed ? (size_t)sqlite3_column_bytes(st, 6) : 0,
                s_list_names(sq, st, 7))) {
            rc = SQLITE_NOMEM;
            break;
        }
        n++;
    }
    if (own)
        sqlite3_finalize(own);
    else
        sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return -1;
    return journal_store_put_end(js, out, n, limit, after, js->head, last);
}

static const journal_store_ops_t s_sql_ops = {
    .name = "sqlite",
    .begin = s_sql_begin,
    .append = s_sql_append,
    .flush = s_sql_flush,
    .commit = s_sql_commit,
    .rollback = s_sql_rollback,
    .fetch = s_sql_fetch,
    .has_key = s_sql_has_key,
    .last = s_sql_last,
    .destroy = s_sql_destroy,
    .deferred = 0,
};
