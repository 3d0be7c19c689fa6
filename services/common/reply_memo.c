/*
 * reply_memo.c - the replies of a read-only command, kept per request
 * while the owner's SQLite file has not changed (see reply_memo.h).
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "reply_memo.h"

typedef struct {
    char *key;          /* the request, compact JSON with sorted keys */
    json_t *reply;
    sqlite3_int64 changes, version; /* the file's counter when it was built */
} s_entry_t;

struct reply_memo {
    s_entry_t *e;
    size_t cap, next; /* next: the slot written next (the oldest) */
    unsigned long long hits;
};

reply_memo_t *reply_memo_new(size_t cap)
{
    reply_memo_t *self = calloc(1, sizeof *self);
    if (!self || !(self->e = calloc(cap ? cap : 1, sizeof *self->e))) {
        free(self);
        return NULL;
    }
    self->cap = cap ? cap : 1;
    return self;
}

void reply_memo_destroy(reply_memo_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    reply_memo_t *self = *self_p;
    for (size_t i = 0; i < self->cap; i++) {
        free(self->e[i].key);
        json_decref(self->e[i].reply);
    }
    free(self->e);
    free(self);
    *self_p = NULL;
}

/* s_stamp - the file's change counter: rows this connection wrote, and
 * commits by any other */
static void s_stamp(sqlite3 *db, sqlite3_int64 *changes, sqlite3_int64 *version)
{
    *changes = sqlite3_total_changes64(db);
    *version = db_int(db, "PRAGMA data_version", -1);
}

json_t *reply_memo_get(reply_memo_t *self, sqlite3 *db, const json_t *req)
{
    if (!self || !db)
        return NULL;
    char *key = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
    if (!key)
        return NULL;
    sqlite3_int64 changes, version;
    s_stamp(db, &changes, &version);
    json_t *reply = NULL;
    for (size_t i = 0; i < self->cap && !reply; i++) {
        s_entry_t *e = &self->e[i];
        if (e->key && strcmp(e->key, key) == 0 && e->changes == changes &&
            e->version == version && version >= 0) {
            reply = json_incref(e->reply);
            self->hits++;
        }
    }
    free(key);
    return reply;
}

void reply_memo_put(reply_memo_t *self, sqlite3 *db, const json_t *req, json_t *reply)
{
    if (!self || !db || !reply)
        return;
    char *key = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
    if (!key)
        return;
    s_entry_t *e = NULL;
    for (size_t i = 0; i < self->cap && !e; i++) /* the same request: replaced */
        if (self->e[i].key && strcmp(self->e[i].key, key) == 0)
            e = &self->e[i];
    if (!e) {
        e = &self->e[self->next];
        self->next = (self->next + 1) % self->cap;
    }
    free(e->key);
    json_decref(e->reply);
    e->key = key;
    e->reply = json_incref(reply);
    s_stamp(db, &e->changes, &e->version);
}

unsigned long long reply_memo_hits(const reply_memo_t *self)
{
    return self ? self->hits : 0;
}
