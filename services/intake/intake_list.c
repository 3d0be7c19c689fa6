/*
 * intake_list.c - INTAKE_CASES' lists: the filters, the two orders, the
 * page, and (in the inbox's order) the total and the counts per facet.
 *
 * Order "newest" (the default: the admin API, `hark cases`) walks
 * cases_opened backwards.  Order "due" is the inbox's: breached first, then
 * the soonest due, then the oldest opened.  Whether a case is breached
 * depends on the time (an open case unanswered at due_at becomes breached
 * then), so no index can hold that order.  It is three runs of one index
 * instead, cases_inbox (due_at, opened_at, source_offset, then every column
 * a filter reads): the breached cases, the others with a deadline, those
 * without one (NULL sorts first in an index, so a run is one walk of it in
 * the same order).  One scan of the same index, in C, counts each run and
 * the facets, so a page at any offset is found by subtracting runs and
 * asking the one or two runs it falls in with LIMIT and OFFSET; a walk that
 * skips rows reads the index only, never the table.  Measured with the
 * sqlite3 shell on 100,000 generated cases: the first page about 1 ms,
 * offset 40,000 about 20 ms, the scan about 25 ms (console_bench.py's
 * figures are in tests/bench/README.md).  The counts of the last few asks
 * are kept (the memo) while intake.db is unchanged and no deadline has
 * passed: paging through the inbox, or coming back to it, is one scan.
 *
 * The filters a facet is counted under are the other active ones: "Billing
 * (12)" says how many cases the inbox would show if team were Billing and
 * everything else stayed as it is.  A case with two codes counts under both
 * reasons, as the reason filter matches either.
 *
 * Text (q) is searched in case_search (FTS5, trigram tokenizer: any
 * substring of three characters or more, case folded the Unicode way, so
 * Cyrillic and Chinese work without word breaking): the case id, customer
 * id, what the customer said and the customer's name and address.
 * Triggers note each case whose words changed in case_search_todo, and
 * intake_list_index moves them in (a timer, and before any search): FTS5
 * written inside each event's savepoint flushes a segment per event,
 * fifteen times slower than a plain insert.  A query of one or two characters has no
 * trigram: it is a scan with instr(), case folded for ASCII only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "intake.h"
#include "log.h"

/* the breach state at ?5: past the deadline unanswered, or answered late
 * (never NULL: the runs below use NOT of it) */
#define S_BREACHED                                                                           \
    "(breach_alerted = 1 OR (due_at IS NOT NULL AND"                                         \
    " ((first_reply_at IS NULL AND status <> 'resolved' AND due_at < ?5)"                    \
    "  OR (first_reply_at IS NOT NULL AND first_reply_at > due_at))))"

/* the filters that are not facets (the scan that counts facets applies
 * only these; a '+' keeps the planner on the ordering index).  Every
 * column they read is in cases_inbox: one that is not (customer_id, S_CUST,
 * only when asked for) makes SQLite read the table for every entry it
 * walks - at 100,000 cases, the difference between a scan of the index
 * and 100,000 lookups. */
#define S_WHERE_OTHER                                                                        \
    "(?4 = 0 OR " S_BREACHED ")"                                                             \
    " AND (?10 IS NULL OR source_offset IN"                                                  \
    "  (SELECT rowid FROM case_search WHERE case_search MATCH ?10))"                         \
    " AND (?11 IS NULL OR source_offset IN"                                                  \
    "  (SELECT rowid FROM case_search WHERE instr(lower(words), ?11) > 0))"

#define S_CUST " AND customer_id = ?8"

#define S_WHERE_FACETS                                                                       \
    " AND (?1 IS NULL OR +status = ?1)"                                                      \
    " AND (?2 IS NULL OR ' ' || codes || ' ' LIKE '% ' || ?2 || ' %')"                       \
    " AND (?3 IS NULL OR +team = ?3)"                                                        \
    " AND (?7 IS NULL OR coalesce(assignee, '') = ?7)"                                       \
    " AND (?9 IS NULL OR coalesce(locale, '') = ?9)"

/* the runs of the "due" order (?12): 0 breached, 1 due later, 2 no deadline */
#define S_RUN                                                                                \
    " AND CASE ?12 WHEN 0 THEN " S_BREACHED " WHEN 1 THEN due_at IS NOT NULL AND NOT "       \
    S_BREACHED " ELSE due_at IS NULL AND NOT " S_BREACHED " END"

enum { S_STATUS, S_REASON, S_TEAM, S_ASSIGNEE, S_LANG, S_FACETS };
static const char *const s_facet_name[S_FACETS] = {"status", "reason", "team", "assignee",
                                                    "lang"};

typedef struct {
    const char *v[S_FACETS]; /* the facet filters; NULL: any */
    const char *customer;
    int breached;
    char match[1024]; /* q as an FTS5 phrase, or "" */
    char scan[256];   /* a short q, lower-cased, or "" */
    int64_t now;
} s_filter_t;

/* s_bind - the filters into st's parameters (run: ?12, -1 for none); a
 * parameter the statement does not use is refused by SQLite, harmlessly */
static void s_bind(sqlite3_stmt *st, const s_filter_t *f, int run)
{
    static const int param[S_FACETS] = {1, 2, 3, 7, 9};
    for (int i = 0; i < S_FACETS; i++)
        if (f->v[i])
            sqlite3_bind_text(st, param[i], f->v[i], -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, f->breached);
    sqlite3_bind_int64(st, 5, f->now);
    if (f->customer)
        sqlite3_bind_text(st, 8, f->customer, -1, SQLITE_TRANSIENT);
    if (*f->match)
        sqlite3_bind_text(st, 10, f->match, -1, SQLITE_TRANSIENT);
    if (*f->scan)
        sqlite3_bind_text(st, 11, f->scan, -1, SQLITE_TRANSIENT);
    if (run >= 0)
        sqlite3_bind_int(st, 12, run);
}

/* s_query - q (trimmed) as f->match or f->scan; -1 when too long */
static int s_query(const char *q, s_filter_t *f)
{
    while (*q == ' ' || *q == '\t')
        q++;
    size_t n = strlen(q);
    while (n && (q[n - 1] == ' ' || q[n - 1] == '\t'))
        n--;
    if (n == 0)
        return 0;
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)q[i] & 0xC0) != 0x80;
    if (chars < 3) {
        if (n >= sizeof f->scan)
            return -1;
        for (size_t i = 0; i < n; i++)
            f->scan[i] = q[i] >= 'A' && q[i] <= 'Z' ? (char)(q[i] - 'A' + 'a') : q[i];
        f->scan[n] = '\0';
        return 0;
    }
    /* one phrase: the trigrams of q in a row, that is q as a substring */
    size_t o = 0;
    f->match[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (o + 3 >= sizeof f->match)
            return -1;
        if (q[i] == '"')
            f->match[o++] = '"';
        f->match[o++] = q[i];
    }
    f->match[o++] = '"';
    f->match[o] = '\0';
    return 0;
}

/* --- the counts: a tally per facet -------------------------------------- */

#define S_SLOTS 1024 /* distinct values per facet counted; more are left out */

typedef struct {
    char *key[S_SLOTS];
    long long n[S_SLOTS];
    size_t used;
    size_t last; /* the slot counted last + 1 (0: none): most rows repeat it */
} s_tally_t;

/* s_tally_add - one more case under key (len bytes) */
static void s_tally_add(s_tally_t *t, const char *key, size_t len)
{
    if (t->last && strncmp(t->key[t->last - 1], key, len) == 0 && !t->key[t->last - 1][len]) {
        t->n[t->last - 1]++;
        return;
    }
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    for (size_t i = 0, j = h % S_SLOTS; i < S_SLOTS; i++, j = (j + 1) % S_SLOTS) {
        if (!t->key[j]) {
            if (t->used * 4 >= S_SLOTS * 3 || !(t->key[j] = strndup(key, len)))
                return;
            t->used++;
        } else if (strncmp(t->key[j], key, len) != 0 || t->key[j][len]) {
            continue;
        }
        t->n[j]++;
        t->last = j + 1;
        return;
    }
}

/* s_tally_json - the tally as {key: n}, freed */
static json_t *s_tally_json(s_tally_t *t)
{
    json_t *o = json_object();
    for (size_t j = 0; j < S_SLOTS; j++)
        if (t->key[j]) {
            json_object_set_new(o, t->key[j], json_integer(t->n[j]));
            free(t->key[j]);
        }
    return o;
}

/* s_has_code - the space-separated codes hold code */
static int s_has_code(const char *codes, const char *code)
{
    size_t n = strlen(code);
    for (const char *p = codes; (p = strstr(p, code)); p += n)
        if ((p == codes || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

/* s_count - one scan: the cases of each run (runs[3]) under every filter,
 * and counts into out: per facet the cases under the other filters */
static int s_count(sqlite3 *db, const s_filter_t *f, long long runs[3], json_t *out)
{
    /* the breach state is worked out here, not by SQL for every row: this
     * loop is most of the inbox's time at 100,000 cases */
#define S_COUNT                                                                              \
    "SELECT status, codes, team, assignee, locale, due_at, first_reply_at,"                  \
    " breach_alerted FROM cases INDEXED BY cases_inbox WHERE " S_WHERE_OTHER
    sqlite3_stmt *st = db_prepare(db, f->customer ? S_COUNT S_CUST : S_COUNT);
    if (!st)
        return -1;
    s_bind(st, f, -1);
    s_tally_t *t = calloc(S_FACETS, sizeof *t);
    if (!t) {
        db_finish(st);
        return -1;
    }
    const char *col[S_FACETS];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int pass[S_FACETS], fails = 0, which = -1;
        for (int i = 0; i < S_FACETS; i++) {
            col[i] = (const char *)sqlite3_column_text(st, i);
            if (!col[i])
                col[i] = "";
            pass[i] = !f->v[i] || (i == S_REASON ? s_has_code(col[i], f->v[i])
                                                  : strcmp(col[i], f->v[i]) == 0);
            if (!pass[i])
                fails++, which = i;
        }
        if (fails > 1)
            continue;
        if (fails == 0) {
            int has_due = sqlite3_column_type(st, 5) != SQLITE_NULL;
            int64_t due = sqlite3_column_int64(st, 5);
            int replied = sqlite3_column_type(st, 6) != SQLITE_NULL;
            int breached = sqlite3_column_int(st, 7) ||
                           (has_due && (replied ? sqlite3_column_int64(st, 6) > due
                                                : strcmp(col[S_STATUS], "resolved") != 0 &&
                                                      due < f->now));
            runs[breached ? 0 : has_due ? 1 : 2]++;
        }
        for (int i = 0; i < S_FACETS; i++) {
            if (fails && which != i)
                continue;
            if (i != S_REASON) {
                s_tally_add(&t[i], col[i], strlen(col[i]));
                continue;
            }
            for (const char *p = col[i]; *p;) {
                size_t len = strcspn(p, " ");
                if (len)
                    s_tally_add(&t[i], p, len);
                p += len + (p[len] == ' ');
            }
        }
    }
    db_finish(st);
    json_t *counts = json_object();
    for (int i = 0; i < S_FACETS; i++)
        json_object_set_new(counts, s_facet_name[i], s_tally_json(&t[i]));
    free(t);
    json_object_set_new(out, "counts", counts);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* --- the memo: the counts of the last few asks --------------------------- */

#define S_MEMO 8 /* filters remembered: the inbox, its pages, a few filters */

struct intake_list_memo {
    struct {
        char *key;          /* the filters (s_memo_key); NULL: free */
        sqlite3_int64 changes; /* intake.db's total changes when counted */
        int64_t until;      /* the next deadline then: the runs change at it */
        long long runs[3];
        json_t *counts;
    } e[S_MEMO];
    unsigned next;
};

void intake_list_memo_destroy(intake_list_memo_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (int i = 0; i < S_MEMO; i++) {
        free((*self_p)->e[i].key);
        json_decref((*self_p)->e[i].counts);
    }
    free(*self_p);
    *self_p = NULL;
}

/* s_memo_key - the filters that decide the counts, as one string */
static char *s_memo_key(const s_filter_t *f)
{
    buf_t b = BUF_INIT;
    for (int i = 0; i < S_FACETS; i++) {
        buf_puts(&b, f->v[i] ? f->v[i] : "\x01");
        buf_putc(&b, '\x02');
    }
    buf_printf(&b, "%s\x02%d\x02%s\x02%s", f->customer ? f->customer : "\x01", f->breached,
               f->match, f->scan);
    return buf_failed(&b) ? (buf_free(&b), NULL) : buf_release(&b);
}

/* s_next_due - the next moment an unanswered case becomes breached (the
 * runs and the breached filter change then), or INT64_MAX */
static int64_t s_next_due(sqlite3 *db, int64_t now)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT min(due_at) FROM cases WHERE first_reply_at IS NULL"
                                      " AND breach_alerted = 0 AND status <> 'resolved'"
                                      " AND due_at >= ?1");
    int64_t next = INT64_MAX;
    if (st) {
        sqlite3_bind_int64(st, 1, now);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            next = sqlite3_column_int64(st, 0);
    }
    db_finish(st);
    return next;
}

/* s_count_memo - s_count, or what memo kept of the same filters while
 * intake.db has not changed and no deadline has passed: a staff member
 * paging through the inbox, or several looking at it, cost one scan */
static int s_count_memo(sqlite3 *db, intake_list_memo_t **memo, const s_filter_t *f,
                        long long runs[3], json_t *out)
{
    if (!memo)
        return s_count(db, f, runs, out);
    if (!*memo && !(*memo = calloc(1, sizeof **memo)))
        return s_count(db, f, runs, out);
    intake_list_memo_t *m = *memo;
    char *key = s_memo_key(f);
    sqlite3_int64 changes = sqlite3_total_changes64(db);
    for (int i = 0; key && i < S_MEMO; i++)
        if (m->e[i].key && strcmp(m->e[i].key, key) == 0 && m->e[i].changes == changes &&
            f->now < m->e[i].until) {
            memcpy(runs, m->e[i].runs, sizeof m->e[i].runs);
            json_object_set(out, "counts", m->e[i].counts);
            free(key);
            return 0;
        }
    int64_t until = s_next_due(db, f->now);
    if (s_count(db, f, runs, out) < 0 || !key) {
        free(key);
        return key ? -1 : 0;
    }
    unsigned i = m->next++ % S_MEMO;
    free(m->e[i].key);
    json_decref(m->e[i].counts);
    m->e[i].key = key;
    m->e[i].changes = changes;
    m->e[i].until = until;
    memcpy(m->e[i].runs, runs, sizeof m->e[i].runs);
    m->e[i].counts = json_incref(json_object_get(out, "counts"));
    return 0;
}

/* s_page - up to limit cases of run (or of the newest order, run -1) from
 * offset into list */
static int s_page(sqlite3 *db, const s_filter_t *f, int run, long long offset, long long limit,
                  json_t *list)
{
    /* one customer's cases (the case page asks) by cases_customer, not by
     * walking every case newest first */
    sqlite3_stmt *st =
        run < 0 && f->customer
            ? db_prepare(db, "SELECT " INTAKE_CASE_COLS " FROM cases WHERE customer_id = ?8 AND "
                             S_WHERE_OTHER S_WHERE_FACETS
                             " ORDER BY opened_at DESC, source_offset DESC LIMIT ?6 OFFSET ?13")
        : run < 0 ? db_prepare(db, "SELECT " INTAKE_CASE_COLS " FROM cases WHERE " S_WHERE_OTHER
                                   S_WHERE_FACETS
                               " ORDER BY opened_at DESC, source_offset DESC LIMIT ?6 OFFSET ?13")
        : f->customer
            ? db_prepare(db, "SELECT " INTAKE_CASE_COLS " FROM cases INDEXED BY cases_inbox"
                             " WHERE " S_WHERE_OTHER S_WHERE_FACETS S_RUN S_CUST
                             " ORDER BY due_at, opened_at, source_offset LIMIT ?6 OFFSET ?13")
            : db_prepare(db, "SELECT " INTAKE_CASE_COLS " FROM cases INDEXED BY cases_inbox"
                             " WHERE " S_WHERE_OTHER S_WHERE_FACETS S_RUN
                             " ORDER BY due_at, opened_at, source_offset LIMIT ?6 OFFSET ?13");
    if (!st)
        return -1;
    s_bind(st, f, run);
    sqlite3_bind_int64(st, 6, limit);
    sqlite3_bind_int64(st, 13, offset);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(list, intake_store_case_row(st, f->now));
    db_finish(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* S_WORDS - what the text search finds a case by, from row t of cases */
#define S_WORDS(t)                                                                           \
    t ".id || ' ' || coalesce(" t ".customer_id, '') || ' ' || coalesce(" t ".text, '')"     \
    " || coalesce((SELECT ' ' || coalesce(name, '') || ' ' || coalesce(email, '')"           \
    " FROM customers WHERE id = " t ".customer_id), '')"

/* intake_list_index - see intake.h */
int intake_list_index(sqlite3 *db, int max)
{
    static const char *const sql[] = {
        "DELETE FROM case_search WHERE rowid IN"
        " (SELECT source_offset FROM case_search_todo ORDER BY source_offset LIMIT ?1)",
        "INSERT INTO case_search(rowid, words) SELECT c.source_offset, " S_WORDS("c")
        " FROM (SELECT id FROM case_search_todo ORDER BY source_offset LIMIT ?1) t"
        " JOIN cases c ON c.id = t.id",
        "DELETE FROM case_search_todo WHERE source_offset IN"
        " (SELECT source_offset FROM case_search_todo ORDER BY source_offset LIMIT ?1)",
    };
    if (!sqlite3_get_autocommit(db)) /* inside another's transaction: later */
        return 0;
    if (db_int(db, "SELECT EXISTS (SELECT 1 FROM case_search_todo)", 0) == 0)
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
            n = sqlite3_changes(db); /* the last: the cases moved */
        }
        db_finish(st);
        if (rc) {
            db_rollback(db);
            return -1;
        }
    }
    if (db_commit(db))
        return -1;
    return n;
}

/* intake_list_index_timer - see intake.h */
int intake_list_index_timer(evloop_t *loop, void *arg)
{
    (void)loop;
    if (intake_list_index(service_db(arg), 5000) < 0)
        log_warn("event=search_index_failed error=\"%s\"", sqlite3_errmsg(service_db(arg)));
    return 0;
}

/* s_arg - a string field of req, or NULL */
static const char *s_arg(const json_t *req, const char *k)
{
    return json_string_value(json_object_get(req, k));
}

json_t *intake_list_cases(sqlite3 *db, intake_list_memo_t **memo, const json_t *req, int64_t now,
                          char *err, size_t errlen)
{
    s_filter_t f = {.now = now};
    f.v[S_STATUS] = s_arg(req, "status");
    f.v[S_REASON] = s_arg(req, "reason");
    f.v[S_TEAM] = s_arg(req, "team");
    f.v[S_ASSIGNEE] = s_arg(req, "assignee");
    f.v[S_LANG] = s_arg(req, "lang");
    f.customer = s_arg(req, "customer_id");
    f.breached = json_is_true(json_object_get(req, "breached"));
    const char *order = s_arg(req, "order");
    const char *q = s_arg(req, "q");
    json_int_t limit = json_integer_value(json_object_get(req, "limit"));
    json_int_t offset = json_integer_value(json_object_get(req, "offset"));
    if (limit <= 0 || limit > 1000)
        limit = 200;
    if (f.v[S_STATUS] && strcmp(f.v[S_STATUS], "open") != 0 &&
        strcmp(f.v[S_STATUS], "waiting") != 0 && strcmp(f.v[S_STATUS], "resolved") != 0) {
        snprintf(err, errlen, "status: open, waiting or resolved");
        return NULL;
    }
    if (order && strcmp(order, "newest") != 0 && strcmp(order, "due") != 0) {
        snprintf(err, errlen, "order: newest or due");
        return NULL;
    }
    if (offset < 0 || offset > 1000000) {
        snprintf(err, errlen, "offset: 0 to 1000000");
        return NULL;
    }
    if (q && s_query(q, &f) < 0) {
        snprintf(err, errlen, "q: at most 200 characters");
        return NULL;
    }
    /* a search sees every case applied so far: what the timer has not
     * indexed yet is indexed first */
    for (int moved = 1; (*f.match || *f.scan) && moved > 0;)
        if ((moved = intake_list_index(db, 5000)) < 0) {
            snprintf(err, errlen, "store: %s", sqlite3_errmsg(db));
            return NULL;
        }
    json_t *out = json_object(), *list = json_array();
    json_object_set_new(out, "cases", list);
    if (!order || strcmp(order, "newest") == 0) {
        if (s_page(db, &f, -1, offset, limit, list) < 0)
            goto fail;
        return out;
    }
    long long runs[3] = {0, 0, 0};
    if (s_count_memo(db, memo, &f, runs, out) < 0)
        goto fail;
    json_object_set_new(out, "total", json_integer(runs[0] + runs[1] + runs[2]));
    long long skip = offset;
    for (int run = 0; run < 3 && (long long)json_array_size(list) < limit; run++) {
        if (skip >= runs[run]) {
            skip -= runs[run];
            continue;
        }
        if (s_page(db, &f, run, skip, limit - (long long)json_array_size(list), list) < 0)
            goto fail;
        skip = 0;
    }
    return out;
fail:
    json_decref(out);
    snprintf(err, errlen, "store: %s", sqlite3_errmsg(db));
    return NULL;
}
