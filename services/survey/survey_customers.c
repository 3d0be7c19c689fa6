/*
 * survey_customers.c - the customers as staff look them up: finding one
 * among a million (SURVEY_CUSTOMERS) and everything hark-survey holds of
 * one (SURVEY_CUSTOMER: the profile, purchases, invites and answers).
 *
 * hark-survey answers the search because it keeps the fullest copy of the
 * profiles (name, address, locale, attributes) and sees every purchase.
 * A query is tried, in this order, as:
 *   0  an exact id, an exact address (lowercased)
 *   1  the start of an id, of an address
 *   2  the start of a name (so one or two Chinese characters, a surname,
 *      find the people who have it)
 *   3  any substring of three characters or more of id, address and name:
 *      customer_search, FTS5 with the trigram tokenizer, case folded the
 *      Unicode way, so Cyrillic and Chinese need no word breaking
 * Each branch walks its index lazily and stops once a page is full, the
 * customers already found by an earlier branch skipped: a page of 20 costs
 * a few index steps whatever the million, and the order is stable across
 * pages (each branch's index order).  Triggers note changed customers in
 * customer_search_todo; survey_customers_index moves them into the FTS5
 * table in batches (a timer, and before any search), as intake does with
 * its cases: FTS5 inside each event's savepoint flushes a segment per
 * event.  The FTS5 rows are keyed by customers' rowid, which nothing here
 * ever rewrites (no VACUUM).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "customer.h"
#include "db.h"
#include "log.h"
#include "survey.h"

#define S_LIMIT 20 /* a page, when the request does not say */

/* s_col - a text column or NULL */
static const char *s_col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* survey_customers_index - see survey.h */
int survey_customers_index(sqlite3 *db, int max)
{
    static const char *const sql[] = {
        "DELETE FROM customer_search WHERE rowid IN"
        " (SELECT rid FROM customer_search_todo ORDER BY rid LIMIT ?1)",
        "INSERT INTO customer_search(rowid, words) SELECT c.rowid,"
        " c.id || ' ' || coalesce(c.email, '') || ' ' || coalesce(c.name, '')"
        " FROM (SELECT rid FROM customer_search_todo ORDER BY rid LIMIT ?1) t"
        " JOIN customers c ON c.rowid = t.rid",
        "DELETE FROM customer_search_todo WHERE rid IN"
        " (SELECT rid FROM customer_search_todo ORDER BY rid LIMIT ?1)",
    };
    if (!sqlite3_get_autocommit(db)) /* inside another's transaction: later */
        return 0;
    if (db_int(db, "SELECT EXISTS (SELECT 1 FROM customer_search_todo)", 0) == 0)
        return 0;
    int n = 0;
    if (db_begin(db))
        return -1;
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
        sqlite3_stmt *st = db_prepare(db, sql[i]);
        int rc = -1;
        if (st) {
            sqlite3_bind_int(st, 1, max);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
            n = sqlite3_changes(db);
        }
        db_finish(st);
        if (rc) {
            db_rollback(db);
            return -1;
        }
    }
    return db_commit(db) ? -1 : n;
}

/* survey_customers_index_timer - see survey.h */
int survey_customers_index_timer(evloop_t *loop, void *arg)
{
    (void)loop;
    if (survey_customers_index(service_db(arg), 5000) < 0)
        log_warn("event=search_index_failed error=\"%s\"", sqlite3_errmsg(service_db(arg)));
    return 0;
}

/* a set of rowids (open addressing), the customers a page has found */
typedef struct {
    int64_t *v;
    size_t cap, n;
} s_set_t;

/* s_set_add - 1 added, 0 there already, -1 out of memory */
static int s_set_add(s_set_t *s, int64_t x)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        int64_t *v = malloc(cap * sizeof *v);
        if (!v)
            return -1;
        for (size_t i = 0; i < cap; i++)
            v[i] = -1;
        for (size_t i = 0; i < s->cap; i++)
            for (size_t h = (size_t)s->v[i] % cap; s->v[i] >= 0; h = (h + 1) % cap)
                if (v[h] < 0) {
                    v[h] = s->v[i];
                    break;
                }
        free(s->v);
        s->v = v, s->cap = cap;
    }
    for (size_t h = (size_t)x % s->cap;; h = (h + 1) % s->cap) {
        if (s->v[h] == x)
            return 0;
        if (s->v[h] < 0) {
            s->v[h] = x;
            s->n++;
            return 1;
        }
    }
}

/* s_last - the latest purchase, invite or answer of customer id (0 none) */
static int64_t s_last(sqlite3 *db, const char *id, int64_t last_purchase)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT max(coalesce(sent_at, 0), coalesce(answered_at, 0))"
                                      " FROM invites WHERE customer_id = ?");
    int64_t last = last_purchase;
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(st) == SQLITE_ROW)
            if (sqlite3_column_int64(st, 0) > last)
                last = sqlite3_column_int64(st, 0);
    }
    db_finish(st);
    return last;
}

/* s_row - what a search shows of customer rowid */
static json_t *s_row(sqlite3 *db, int64_t rid)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT id, email, name, locale, coalesce(last_purchase_at,"
                                      " 0) FROM customers WHERE rowid = ?");
    json_t *row = NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, rid);
        if (sqlite3_step(st) == SQLITE_ROW) {
            row = json_pack("{s:s}", "id", s_col(st, 0));
            customer_item_str(row, "email", s_col(st, 1));
            customer_item_str(row, "name", s_col(st, 2));
            customer_item_str(row, "locale", s_col(st, 3));
            int64_t last = s_last(db, s_col(st, 0), sqlite3_column_int64(st, 4));
            char at[40];
            if (last > 0)
                json_object_set_new(row, "last_activity",
                                    json_string(clock_format(last, at, sizeof at)));
        }
    }
    db_finish(st);
    return row;
}

/* survey_control_customers - SURVEY_CUSTOMERS {q, offset?, limit?} */
json_t *survey_control_customers(service_t *svc, const json_t *req, service_err_t *err)
{
    sqlite3 *db = service_db(svc);
    const char *raw = json_string_value(json_object_get(req, "q"));
    json_int_t offset = json_integer_value(json_object_get(req, "offset"));
    json_int_t limit = json_integer_value(json_object_get(req, "limit"));
    if (limit <= 0)
        limit = S_LIMIT;
    char q[256], qhi[260], low[256], lowhi[260], match[520];
    while (raw && (*raw == ' ' || *raw == '\t'))
        raw++;
    size_t n = raw ? strlen(raw) : 0;
    while (n && (raw[n - 1] == ' ' || raw[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof q || limit > 200 || offset < 0 || offset > 100000)
        return service_fail(err, "invalid_request", "q: 1-200 characters; limit 1-200");
    /* the prefix ranges: [q, q + U+10FFFF), the last code point there is */
    snprintf(q, sizeof q, "%.*s", (int)n, raw);
    snprintf(qhi, sizeof qhi, "%s\xF4\x8F\xBF\xBF", q);
    for (size_t i = 0; i <= n; i++)
        low[i] = q[i] >= 'A' && q[i] <= 'Z' ? (char)(q[i] + 32) : q[i];
    snprintf(lowhi, sizeof lowhi, "%s\xF4\x8F\xBF\xBF", low);
    size_t chars = 0, o = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)q[i] & 0xC0) != 0x80;
    match[o++] = '"'; /* one phrase: q as a substring */
    for (size_t i = 0; i < n; i++) {
        if (q[i] == '"')
            match[o++] = '"';
        match[o++] = q[i];
    }
    match[o++] = '"';
    match[o] = '\0';
    /* a search sees every customer applied so far */
    for (int moved = 1; chars >= 3 && moved > 0;)
        if ((moved = survey_customers_index(db, 5000)) < 0)
            return service_fail(err, "store_failed", "%s", sqlite3_errmsg(db));
    static const char *const branch[] = {
        "SELECT rowid FROM customers WHERE id = ?1",
        "SELECT rowid FROM customers WHERE lower(email) = ?3",
        "SELECT rowid FROM customers WHERE id > ?1 AND id < ?2 ORDER BY id",
        "SELECT rowid FROM customers WHERE lower(email) > ?3 AND lower(email) < ?4"
        " ORDER BY lower(email)",
        "SELECT rowid FROM customers WHERE name >= ?1 AND name < ?2 ORDER BY name",
        "SELECT rowid FROM customer_search WHERE customer_search MATCH ?5",
    };
    size_t want = (size_t)offset + (size_t)limit + 1; /* one more: is there a next page */
    s_set_t seen = {0};
    int64_t *page = malloc(want * sizeof *page);
    size_t got = 0;
    int failed = !page;
    for (size_t b = 0; !failed && got < want && b < sizeof branch / sizeof *branch; b++) {
        if (b == 5 && chars < 3) /* no trigram in it */
            break;
        sqlite3_stmt *st = db_prepare(db, branch[b]);
        if (!st) {
            failed = 1;
            break;
        }
        sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, qhi, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, low, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, lowhi, -1, SQLITE_STATIC);
        if (b == 5)
            sqlite3_bind_text(st, 5, match, -1, SQLITE_STATIC);
        int rc;
        while (got < want && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t rid = sqlite3_column_int64(st, 0);
            int added = s_set_add(&seen, rid);
            if (added < 0)
                failed = 1;
            if (added > 0)
                page[got++] = rid;
        }
        db_finish(st);
    }
    free(seen.v);
    if (failed) {
        free(page);
        return service_fail(err, "store_failed", "%s", sqlite3_errmsg(db));
    }
    json_t *list = json_array();
    for (size_t i = (size_t)offset; i < got && i < (size_t)offset + (size_t)limit; i++) {
        json_t *row = s_row(db, page[i]);
        if (row)
            json_array_append_new(list, row);
    }
    free(page);
    return json_pack("{s:o,s:b}", "customers", list, "more", got == want);
}

/* s_time - column i as RFC 3339, into out */
static const char *s_time(sqlite3_stmt *st, int i, char *out, size_t len)
{
    return clock_format(sqlite3_column_int64(st, i), out, len);
}

/* survey_control_customer - SURVEY_CUSTOMER {customer_id} */
json_t *survey_control_customer(service_t *svc, const json_t *req, service_err_t *err)
{
    sqlite3 *db = service_db(svc);
    const char *cid = json_string_value(json_object_get(req, "customer_id"));
    sqlite3_stmt *st = db_prepare(db, "SELECT email, name, locale, timezone, attributes,"
                                      " last_purchase_at FROM customers WHERE id = ?");
    if (st)
        sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        db_finish(st);
        return service_fail(err, "not_found", "no such customer");
    }
    char at[40];
    json_t *profile = json_pack("{s:s}", "id", cid);
    static const char *const keys[] = {"email", "name", "locale", "timezone"};
    for (int i = 0; i < 4; i++)
        customer_item_str(profile, keys[i], s_col(st, i));
    json_t *attrs = s_col(st, 4) ? json_loads(s_col(st, 4), 0, NULL) : NULL;
    if (json_is_object(attrs))
        json_object_set(profile, "attributes", attrs);
    json_decref(attrs);
    if (sqlite3_column_type(st, 5) != SQLITE_NULL)
        json_object_set_new(profile, "last_purchase_at", json_string(s_time(st, 5, at, sizeof at)));
    db_finish(st);

    json_t *items = json_array();
    st = db_prepare(db, "SELECT at, order_id, amount, currency, items FROM purchases"
                        " WHERE customer_id = ?");
    if (st)
        sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        json_t *it = customer_item(sqlite3_column_int64(st, 0), "purchase");
        customer_item_str(it, "order_id", s_col(st, 1));
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            json_object_set_new(it, "amount", json_real(sqlite3_column_double(st, 2)));
        customer_item_str(it, "currency", s_col(st, 3));
        json_t *lines = s_col(st, 4) ? json_loads(s_col(st, 4), 0, NULL) : NULL;
        if (json_is_array(lines))
            json_object_set(it, "items", lines);
        json_decref(lines);
        json_array_append_new(items, it);
    }
    db_finish(st);
    st = db_prepare(db, "SELECT id, campaign, order_id, status, due_at, sent_at, score, comment,"
                        " answered_at FROM invites WHERE customer_id = ?");
    if (st)
        sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        int sent = sqlite3_column_type(st, 5) != SQLITE_NULL;
        json_t *it = customer_item(sqlite3_column_int64(st, sent ? 5 : 4), "invite");
        customer_item_str(it, "invite", s_col(st, 0));
        customer_item_str(it, "campaign", s_col(st, 1));
        customer_item_str(it, "status", s_col(st, 3));
        customer_item_str(it, "order_id", s_col(st, 2));
        json_array_append_new(items, it);
        if (sqlite3_column_type(st, 6) == SQLITE_NULL)
            continue;
        it = customer_item(sqlite3_column_int64(st, 8), "answer");
        customer_item_str(it, "invite", s_col(st, 0));
        customer_item_str(it, "campaign", s_col(st, 1));
        json_object_set_new(it, "score", json_integer(sqlite3_column_int(st, 6)));
        customer_item_str(it, "comment", s_col(st, 7));
        json_array_append_new(items, it);
    }
    db_finish(st);
    customer_items_sort(items);
    return json_pack("{s:s,s:o,s:o}", "customer_id", cid, "profile", profile, "items", items);
}

/* survey_customers_purchase - see survey.h */
int survey_customers_purchase(sqlite3 *db, const hark_event_t *ev, const char *cid, int64_t at)
{
    const json_t *p = ev->payload;
    const json_t *lines = json_object_get(p, "items");
    char *text = json_is_array(lines) ? json_dumps(lines, JSON_COMPACT) : NULL;
    /* keyed by the event's offset: a replay writes it once */
    sqlite3_stmt *st = db_prepare(db, "INSERT OR IGNORE INTO purchases(source_offset, customer_id,"
                                      " order_id, at, amount, currency, items)"
                                      " VALUES(?, ?, ?, ?, ?, ?, ?)");
    int rc = -1;
    if (st) {
        sqlite3_bind_int64(st, 1, ev->offset);
        sqlite3_bind_text(st, 2, cid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, json_string_value(json_object_get(p, "order_id")), -1,
                          SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, at);
        if (json_is_number(json_object_get(p, "amount")))
            sqlite3_bind_double(st, 5, json_number_value(json_object_get(p, "amount")));
        sqlite3_bind_text(st, 6, json_string_value(json_object_get(p, "currency")), -1,
                          SQLITE_TRANSIENT);
        if (text)
            sqlite3_bind_text(st, 7, text, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    }
    db_finish(st);
    free(text);
    return rc;
}
