/*
 * test_reply_memo.c - unit tests for services/common/reply_memo.c.
 *
 * A real SQLite file in a temp dir, opened twice: a reply comes back for
 * the same request (keys in any order) while nothing changed, and never
 * after a row was written by the owner's connection (committed or rolled
 * back) or a commit by another connection; a full memo forgets its oldest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "reply_memo.h"
#include "unit.h"

static char s_dir[64], s_file[96];

/* s_open - the test file, a table t(x) in it */
static sqlite3 *s_open(void)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(s_file, &db) != SQLITE_OK)
        return NULL;
    sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS t(x)", NULL, NULL, NULL);
    return db;
}

/* s_reply - a reply to keep: {"n": n} */
static json_t *s_reply(int n)
{
    return json_pack("{s:i}", "n", n);
}

/* s_got - the n of what the memo gives for req, -1 none */
static int s_got(reply_memo_t *m, sqlite3 *db, const json_t *req)
{
    json_t *r = reply_memo_get(m, db, req);
    int n = r ? (int)json_integer_value(json_object_get(r, "n")) : -1;
    json_decref(r);
    return n;
}

static void test_same_request_while_unchanged(void)
{
    sqlite3 *db = s_open();
    reply_memo_t *m = reply_memo_new(4);
    json_t *a = json_pack("{s:s,s:s}", "from", "2026-01-01", "by", "week");
    json_t *a2 = json_pack("{s:s,s:s}", "by", "week", "from", "2026-01-01");
    json_t *b = json_pack("{s:s,s:s}", "from", "2026-01-01", "by", "day");
    CHECK_INT(s_got(m, db, a), -1);
    json_t *r = s_reply(7);
    reply_memo_put(m, db, a, r);
    json_decref(r); /* the memo holds its own reference */
    CHECK_INT(s_got(m, db, a), 7);
    CHECK_INT(s_got(m, db, a2), 7); /* the same filters in another order */
    CHECK_INT(s_got(m, db, b), -1);
    CHECK_INT(reply_memo_hits(m), 2);
    json_decref(a), json_decref(a2), json_decref(b);
    reply_memo_destroy(&m);
    CHECK(m == NULL);
    reply_memo_destroy(&m);
    sqlite3_close(db);
}

static void test_own_write_forgets(void)
{
    sqlite3 *db = s_open();
    reply_memo_t *m = reply_memo_new(4);
    json_t *a = json_pack("{s:s}", "by", "week");
    json_t *r = s_reply(1);
    reply_memo_put(m, db, a, r);
    json_decref(r);
    CHECK(sqlite3_exec(db, "INSERT INTO t VALUES(1)", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_INT(s_got(m, db, a), -1);
    r = s_reply(2);
    reply_memo_put(m, db, a, r); /* replaces the stale one */
    json_decref(r);
    CHECK_INT(s_got(m, db, a), 2);
    /* a change rolled back still counts: the memo never guesses */
    CHECK(sqlite3_exec(db, "BEGIN; INSERT INTO t VALUES(2); ROLLBACK", NULL, NULL, NULL) ==
          SQLITE_OK);
    CHECK_INT(s_got(m, db, a), -1);
    /* an UPDATE of no row changes nothing */
    r = s_reply(3);
    reply_memo_put(m, db, a, r);
    json_decref(r);
    CHECK(sqlite3_exec(db, "UPDATE t SET x = 0 WHERE x = 99", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_INT(s_got(m, db, a), 3);
    json_decref(a);
    reply_memo_destroy(&m);
    sqlite3_close(db);
}

static void test_other_connection_forgets(void)
{
    sqlite3 *db = s_open(), *other = s_open();
    reply_memo_t *m = reply_memo_new(4);
    json_t *a = json_pack("{s:s}", "by", "month");
    json_t *r = s_reply(5);
    reply_memo_put(m, db, a, r);
    json_decref(r);
    CHECK_INT(s_got(m, db, a), 5);
    CHECK(sqlite3_exec(other, "INSERT INTO t VALUES(3)", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_INT(s_got(m, db, a), -1);
    json_decref(a);
    reply_memo_destroy(&m);
    sqlite3_close(other);
    sqlite3_close(db);
}

static void test_full_memo_forgets_the_oldest(void)
{
    sqlite3 *db = s_open();
    reply_memo_t *m = reply_memo_new(2);
    json_t *q[3];
    for (int i = 0; i < 3; i++) {
        q[i] = json_pack("{s:i}", "score", i);
        json_t *r = s_reply(10 + i);
        reply_memo_put(m, db, q[i], r);
        json_decref(r);
    }
    CHECK_INT(s_got(m, db, q[0]), -1);
    CHECK_INT(s_got(m, db, q[1]), 11);
    CHECK_INT(s_got(m, db, q[2]), 12);
    for (int i = 0; i < 3; i++)
        json_decref(q[i]);
    reply_memo_put(NULL, db, NULL, NULL); /* safe on NULL */
    CHECK(reply_memo_get(NULL, db, NULL) == NULL);
    reply_memo_destroy(&m);
    sqlite3_close(db);
}

int main(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/hark-test-memo-XXXXXX");
    if (!mkdtemp(s_dir))
        return 1;
    snprintf(s_file, sizeof s_file, "%s/memo.db", s_dir);
    UNIT_RUN(test_same_request_while_unchanged);
    UNIT_RUN(test_own_write_forgets);
    UNIT_RUN(test_other_connection_forgets);
    UNIT_RUN(test_full_memo_forgets_the_oldest);
    unlink(s_file);
    rmdir(s_dir);
    return UNIT_END();
}
