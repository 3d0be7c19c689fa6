/*
 * intake_store.c - intake.db: customers (contact copies), cases, their
 * notes and the outbox; the INTAKE_CASES and INTAKE_REPORT answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "privacy.h"
#include "intake.h"

const char *const intake_store_migrations[] = {
    "CREATE TABLE customers("
    "  id TEXT PRIMARY KEY, email TEXT, name TEXT, locale TEXT, timezone TEXT);"
    "CREATE TABLE cases("
    "  id TEXT PRIMARY KEY,"            /* C<source offset>: the same on replay */
    "  kind TEXT NOT NULL,"             /* complaint cancellation nps */
    "  customer_id TEXT,"
    "  codes TEXT NOT NULL,"            /* space-separated, taxonomy order */
    "  reason TEXT NOT NULL,"           /* the first code: it picks the team */
    "  team TEXT NOT NULL,"
    "  via TEXT NOT NULL,"              /* customer model keywords staff */
    "  text TEXT, locale TEXT, order_id TEXT, channel TEXT, score INTEGER,"
    "  status TEXT NOT NULL,"           /* open waiting resolved */
    "  opened_at INTEGER NOT NULL,"
    "  due_at INTEGER,"                 /* first-response deadline; NULL: none */
    "  first_reply_at INTEGER,"
    "  breach_alerted INTEGER NOT NULL DEFAULT 0,"
    "  loop_closed INTEGER NOT NULL DEFAULT 0,"
    "  resolved_at INTEGER,"
    "  retags INTEGER NOT NULL DEFAULT 0,"
    "  source_offset INTEGER NOT NULL);"
    "CREATE INDEX cases_due ON cases(due_at)"
    "  WHERE first_reply_at IS NULL AND breach_alerted = 0 AND status <> 'resolved';"
    "CREATE INDEX cases_opened ON cases(opened_at);"
    "CREATE INDEX cases_customer ON cases(customer_id);"
    "CREATE TABLE notes(id INTEGER PRIMARY KEY, case_id TEXT NOT NULL, at INTEGER NOT NULL,"
    "  by TEXT, kind TEXT NOT NULL, text TEXT);"
    "CREATE INDEX notes_case ON notes(case_id);"
    "CREATE TABLE outbox(id INTEGER PRIMARY KEY, type TEXT NOT NULL,"
    "  key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL);",
    /* 2: an NPS comment's survey invite: one case per invite, whose later
     * answers update it */
    "ALTER TABLE cases ADD COLUMN invite TEXT;"
    "CREATE INDEX cases_invite ON cases(invite) WHERE invite IS NOT NULL;",
    /* 3: addresses that hard-bounced (mail.bounced): a reply to them is
     * refused, as one with no address at all */
    "CREATE TABLE suppressions(address TEXT PRIMARY KEY, reason TEXT NOT NULL);",
    /* 4: the staff member a case is assigned to; a note's source event, so
     * a staff note (case.noted) is written once however often it is applied */
    "ALTER TABLE cases ADD COLUMN assignee TEXT;"
    "CREATE INDEX cases_assignee ON cases(assignee);"
    "ALTER TABLE notes ADD COLUMN source_offset INTEGER;"
    "CREATE UNIQUE INDEX notes_source ON notes(source_offset) WHERE source_offset IS NOT NULL;",
    /* a form's address is looked up among the known customers */
    "CREATE INDEX customers_email ON customers(lower(email));",
    /* 6: the inbox (intake_list.c): one index in its order holding every
     * column its filters read, and the text search - case id, customer id,
     * what the customer said, their name and address.  Triggers only note
     * which cases changed (case_search_todo); intake_list_index moves them
     * into case_search in batches, as FTS5 flushes at every savepoint and
     * each event is applied in one (34,000 plain rows/s, 2,200 with FTS5) */
    "CREATE INDEX cases_inbox ON cases(due_at, opened_at, source_offset, status, team, locale,"
    "  assignee, codes, first_reply_at, breach_alerted);"
    "CREATE VIRTUAL TABLE case_search USING fts5(words, tokenize = 'trigram');"
    "CREATE TABLE case_search_todo(source_offset INTEGER PRIMARY KEY, id TEXT NOT NULL);"
    "CREATE TRIGGER case_search_insert AFTER INSERT ON cases BEGIN"
    "  INSERT OR IGNORE INTO case_search_todo VALUES(new.source_offset, new.id);"
    " END;"
    "CREATE TRIGGER case_search_update AFTER UPDATE OF text, customer_id ON cases BEGIN"
    "  INSERT OR IGNORE INTO case_search_todo VALUES(new.source_offset, new.id);"
    " END;"
    "CREATE TRIGGER case_search_delete AFTER DELETE ON cases BEGIN"
    "  INSERT OR IGNORE INTO case_search_todo VALUES(old.source_offset, old.id);"
    " END;"
    "CREATE TRIGGER case_search_customer AFTER INSERT ON customers BEGIN"
    "  INSERT OR IGNORE INTO case_search_todo"
    "   SELECT source_offset, id FROM cases WHERE customer_id = new.id;"
    " END;"
    "CREATE TRIGGER case_search_contact AFTER UPDATE OF name, email ON customers"
    " WHEN old.name IS NOT new.name OR old.email IS NOT new.email BEGIN"
    "  INSERT OR IGNORE INTO case_search_todo"
    "   SELECT source_offset, id FROM cases WHERE customer_id = new.id;"
    " END;"
    "INSERT INTO case_search_todo SELECT source_offset, id FROM cases;",
    /* 7: the tagger: a case it was unsure of waits for staff to give it a
     * reason (needs_review); a staff retag of a case with text is a
     * labelled example the next start learns from (one per case: the
     * latest retag) */
    "ALTER TABLE cases ADD COLUMN needs_review INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX cases_review ON cases(needs_review) WHERE needs_review = 1;"
    "CREATE TABLE examples(case_id TEXT PRIMARY KEY, locale TEXT, code TEXT NOT NULL,"
    "  text TEXT NOT NULL, at INTEGER NOT NULL);",
    /* 8: the reasons report (and Hark Console's dashboard, which draws it):
     * the business time to the first reply, worked out once when the reply
     * is applied (intake_store_response_fill) instead of at every report,
     * where it walked each case's days in its team's zone; and an index
     * holding every column the report reads, in its order.  The cases
     * replied to before this are filled in batches after start. */
    "ALTER TABLE cases ADD COLUMN first_response_ms INTEGER;"
    "CREATE INDEX cases_report ON cases(opened_at, kind, team, locale, codes, reason, due_at,"
    "  first_reply_at, first_response_ms);"
    "CREATE INDEX cases_response_todo ON cases(first_reply_at)"
    "  WHERE first_reply_at IS NOT NULL AND first_response_ms IS NULL;",
    NULL,
};

/* What an erasure or retention blanks here (privacy.h): the contact, the texts of
 * their cases and notes and the tagger's examples from them; the cases
 * themselves (kind, codes, status, times) stay, so `hark report reasons`
 * keeps its counts.  The text search is re-indexed by its triggers */
static const char *const s_erase[] = {
    "DELETE FROM suppressions WHERE address IN (SELECT lower(email) FROM customers"
     " WHERE id = ?1 AND email IS NOT NULL)",
    "UPDATE notes SET text = NULL WHERE case_id IN (SELECT id FROM cases WHERE customer_id = ?1)",
    /* their emailed answers name them by address ("customer:ADDR") */
    "UPDATE notes SET by = 'customer' WHERE by LIKE 'customer:%' AND case_id IN"
    " (SELECT id FROM cases WHERE customer_id = ?1)",
    "DELETE FROM examples WHERE case_id IN (SELECT id FROM cases WHERE customer_id = ?1)",
    /* out of the search now, not at the next indexing: the triggers index
     * the cases again, without what was blanked */
    "DELETE FROM case_search WHERE rowid IN (SELECT source_offset FROM cases"
    " WHERE customer_id = ?1)",
    "UPDATE cases SET text = NULL WHERE customer_id = ?1",
    "DELETE FROM customers WHERE id = ?1",
    NULL,
};
static const char *const s_free_text[] = {
    "UPDATE notes SET text = NULL WHERE case_id IN (SELECT id FROM cases WHERE customer_id = ?1)",
    "DELETE FROM examples WHERE case_id IN (SELECT id FROM cases WHERE customer_id = ?1)",
    "DELETE FROM case_search WHERE rowid IN (SELECT source_offset FROM cases"
    " WHERE customer_id = ?1)",
    "UPDATE cases SET text = NULL WHERE customer_id = ?1",
    NULL,
};
static const char *const s_contact[] = {
    "DELETE FROM case_search WHERE rowid IN (SELECT source_offset FROM cases"
    " WHERE customer_id = ?1)",
    "UPDATE customers SET email = NULL, name = NULL WHERE id = ?1",
    "UPDATE notes SET by = 'customer' WHERE by LIKE 'customer:%' AND case_id IN"
    " (SELECT id FROM cases WHERE customer_id = ?1)",
    NULL,
};
const privacy_sql_t intake_store_privacy = {s_erase, s_free_text, s_contact};

/* s_col - a text column or NULL */
static const char *s_col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* s_set_time - key = RFC 3339 of column i when not NULL */
static void s_set_time(json_t *o, const char *key, sqlite3_stmt *st, int i)
{
    char at[40];
    if (sqlite3_column_type(st, i) != SQLITE_NULL)
        json_object_set_new(o, key, json_string(clock_format(sqlite3_column_int64(st, i), at,
                                                             sizeof at)));
}

/* s_set_str - key = column i when not NULL */
static void s_set_str(json_t *o, const char *key, sqlite3_stmt *st, int i)
{
    if (s_col(st, i))
        json_object_set_new(o, key, json_string(s_col(st, i)));
}

/* intake_store_unreachable - why a reply cannot be mailed to customer cid */
const char *intake_store_unreachable(sqlite3 *db, const char *cid)
{
    if (!cid || !*cid)
        return "no_customer";
    sqlite3_stmt *st = db_prepare(db, "SELECT email FROM customers WHERE id = ?");
    if (!st)
        return "no_email";
    sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    char email[320] = "";
    if (sqlite3_step(st) == SQLITE_ROW && s_col(st, 0))
        snprintf(email, sizeof email, "%s", s_col(st, 0));
    db_finish(st);
    if (!*email)
        return "no_email";
    return contacts_suppressed(db, email) ? "bounced" : NULL;
}

#define S_CASE_COLS INTAKE_CASE_COLS

/* s_case_json - one row of S_CASE_COLS */
static json_t *s_case_json(sqlite3_stmt *st, int64_t now, int full)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", s_col(st, 0), "kind", s_col(st, 1),
                          "reason", s_col(st, 4), "team", s_col(st, 5), "via", s_col(st, 6),
                          "status", s_col(st, 7));
    s_set_str(o, "customer_id", st, 2);
    json_t *codes = json_array();
    char buf[REASONS_MAX_CODES * (REASONS_CODE_MAX + 1) + 1];
    snprintf(buf, sizeof buf, "%s", s_col(st, 3));
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
        json_array_append_new(codes, json_string(t));
    json_object_set_new(o, "codes", codes);
    s_set_time(o, "opened_at", st, 8);
    s_set_time(o, "due_at", st, 9);
    s_set_time(o, "first_reply_at", st, 10);
    s_set_time(o, "resolved_at", st, 12);
    int has_due = sqlite3_column_type(st, 9) != SQLITE_NULL;
    int64_t due = sqlite3_column_int64(st, 9);
    int replied = sqlite3_column_type(st, 10) != SQLITE_NULL;
    int breached = has_due && (replied ? sqlite3_column_int64(st, 10) > due
                                       : (strcmp(s_col(st, 7), "resolved") != 0 && now > due));
    json_object_set_new(o, "breached", json_boolean(breached || sqlite3_column_int(st, 18)));
    json_object_set_new(o, "loop_closed", json_boolean(sqlite3_column_int(st, 11)));
    /* the language the customer wrote in: a list shows it (Hark Console's inbox) */
    s_set_str(o, "locale", st, 14);
    s_set_str(o, "assignee", st, 19);
    /* the tagger was not sure: the inbox shows "needs a reason" */
    json_object_set_new(o, "needs_review", json_boolean(sqlite3_column_int(st, 20)));
    if (full) {
        s_set_str(o, "text", st, 13);
        s_set_str(o, "order_id", st, 15);
        s_set_str(o, "channel", st, 16);
        if (sqlite3_column_type(st, 17) != SQLITE_NULL)
            json_object_set_new(o, "score", json_integer(sqlite3_column_int(st, 17)));
    }
    return o;
}

/* intake_store_case_row - see intake.h */
json_t *intake_store_case_row(sqlite3_stmt *st, int64_t now)
{
    return s_case_json(st, now, 0);
}

json_t *intake_store_cases(sqlite3 *db, const reasons_t *r, const json_t *req, int64_t now,
                           char *err, size_t errlen)
{
    (void)r;
    const char *id = json_string_value(json_object_get(req, "id"));
    if (id) {
        sqlite3_stmt *st = db_prepare(db, "SELECT " S_CASE_COLS " FROM cases WHERE id = ?");
        if (!st)
            return NULL;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        json_t *c = sqlite3_step(st) == SQLITE_ROW ? s_case_json(st, now, 1) : NULL;
        db_finish(st);
        if (!c) {
            return json_pack("{s:[]}", "cases"); /* the caller says not_found */
        }
        /* the gateway and the CLI refuse a reply that could not be mailed */
        const char *why =
            intake_store_unreachable(db, json_string_value(json_object_get(c, "customer_id")));
        if (why)
            json_object_set_new(c, "unreachable", json_string(why));
        json_t *notes = json_array();
        st = db_prepare(db, "SELECT at, by, kind, text FROM notes WHERE case_id = ? ORDER BY id");
        if (st) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
            while (sqlite3_step(st) == SQLITE_ROW) {
                json_t *n = json_pack("{s:s}", "kind", s_col(st, 2));
                s_set_time(n, "at", st, 0);
                s_set_str(n, "by", st, 1);
                s_set_str(n, "text", st, 3);
                json_array_append_new(notes, n);
            }
            db_finish(st);
        }
        json_object_set_new(c, "notes", notes);
        /* the customer as intake.db's contact copy knows them */
        st = json_object_get(c, "customer_id")
                 ? db_prepare(db, "SELECT name, email, locale, timezone FROM customers"
                                  " WHERE id = ?")
                 : NULL;
        if (st) {
            sqlite3_bind_text(st, 1, json_string_value(json_object_get(c, "customer_id")), -1,
                              SQLITE_TRANSIENT);
            if (sqlite3_step(st) == SQLITE_ROW) {
                json_t *who = json_object();
                s_set_str(who, "name", st, 0);
                s_set_str(who, "email", st, 1);
                s_set_str(who, "locale", st, 2);
                s_set_str(who, "timezone", st, 3);
                json_object_set_new(c, "customer", who);
            }
            db_finish(st);
        }
        return json_pack("{s:[o]}", "cases", c);
    }
    return intake_list_cases(db, NULL, req, now, err, errlen);
}

/* s_day_ms - "YYYY-MM-DD" as the UTC midnight in ms; -1 if malformed */
static int64_t s_day_ms(const char *d)
{
    char buf[40];
    int64_t ms;
    if (!d || strlen(d) != 10)
        return -1;
    snprintf(buf, sizeof buf, "%sT00:00:00Z", d);
    return clock_parse(buf, &ms) ? -1 : ms;
}

/* s_pct - 100*a/b with one decimal, or JSON null */
static json_t *s_pct(long long a, long long b)
{
    if (b <= 0)
        return json_null();
    return json_real((double)(long long)(1000.0 * (double)a / (double)b + 0.5) / 10.0);
}

/* s_cmp_ll - for qsort */
static int s_cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* s_week_flush - a week's counts (wn cases, wc[i] of known reason i) into
 * its trend object w (added to what it has), the counts then zeroed */
static void s_week_flush(const reasons_t *r, json_t *w, long long wn, long long *wc, size_t nr)
{
    if (!w)
        return;
    json_object_set_new(w, "count", json_integer(json_integer_value(json_object_get(w, "count")) +
                                                 wn));
    json_t *wr = json_object_get(w, "reasons");
    for (size_t i = 0; i < nr; i++) {
        if (!wc[i])
            continue;
        const char *code = reasons_get(r, i)->code;
        json_object_set_new(wr, code,
                            json_integer(json_integer_value(json_object_get(wr, code)) + wc[i]));
        wc[i] = 0;
    }
}

typedef struct {
    long long cases, replied, within;
    long long *times; /* business ms to the first reply */
    size_t nt, capt;
} s_team_stat_t;

json_t *intake_store_report(sqlite3 *db, const reasons_t *r, const json_t *req, char *err,
                      size_t errlen)
{
    const char *from = json_string_value(json_object_get(req, "from"));
    const char *to = json_string_value(json_object_get(req, "to"));
    const char *kind = json_string_value(json_object_get(req, "kind"));
    const char *team_f = json_string_value(json_object_get(req, "team"));
    const char *locale = json_string_value(json_object_get(req, "locale"));
    int64_t a = from ? s_day_ms(from) : 0, b = to ? s_day_ms(to) : 0;
    if (a < 0 || b < 0) {
        snprintf(err, errlen, "%s: a date YYYY-MM-DD", a < 0 ? "from" : "to");
        return NULL;
    }
    if (kind && strcmp(kind, "complaint") != 0 && strcmp(kind, "cancellation") != 0 &&
        strcmp(kind, "nps") != 0) {
        snprintf(err, errlen, "kind: complaint, cancellation or nps");
        return NULL;
    }
    b = to ? b + 86400000LL : INT64_MAX; /* to is inclusive */
    size_t nr = reasons_count(r), ntm = reasons_team_count(r);
    long long *count = calloc(nr + 1, sizeof *count);
    s_team_stat_t *ts = calloc(ntm + 1, sizeof *ts);
    json_t *trend = json_object(); /* week -> {count, reasons{}} */
    long long total = 0, vol = 0, invol = 0;
    sqlite3_stmt *st = count && ts ? db_prepare(db, "SELECT codes, reason, team, opened_at,"
                                                    " due_at, first_reply_at, first_response_ms"
                                                    " FROM cases INDEXED BY cases_report"
                                                    " WHERE opened_at >= ?1 AND opened_at < ?2"
                                                    " AND (?3 IS NULL OR kind = ?3)"
                                                    " AND (?4 IS NULL OR team = ?4)"
                                                    " AND (?5 IS NULL OR locale = ?5)"
                                                    " ORDER BY opened_at")
                                   : NULL;
    /* the week's counts per known reason: the rows come in time order, so
     * a week is counted in this array and written out once it ends */
    long long *wc = calloc(nr + 1, sizeof *wc), wn = 0;
    int64_t cur = INT64_MIN;
    json_t *w = NULL;
    if (!st || !wc) {
        db_finish(st);
        free(wc);
        free(count);
        free(ts);
        json_decref(trend);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    if (kind)
        sqlite3_bind_text(st, 3, kind, -1, SQLITE_TRANSIENT);
    if (team_f)
        sqlite3_bind_text(st, 4, team_f, -1, SQLITE_TRANSIENT);
    if (locale)
        sqlite3_bind_text(st, 5, locale, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        total++;
        int64_t opened = sqlite3_column_int64(st, 3);
        /* the week (named by its Monday, UTC) */
        int64_t day = opened / 86400000LL;
        int64_t monday = day - ((day + 3) % 7); /* 1970-01-01 was a Thursday */
        if (monday != cur) {
            s_week_flush(r, w, wn, wc, nr);
            char period[40];
            clock_format(monday * 86400000LL, period, sizeof period);
            period[10] = '\0';
            w = json_object_get(trend, period);
            if (!w) {
                w = json_pack("{s:s,s:i,s:{}}", "period", period, "count", 0, "reasons");
                json_object_set_new(trend, period, w);
            }
            cur = monday;
            wn = 0;
        }
        wn++;
        json_t *wr = json_object_get(w, "reasons");
        char codes[REASONS_MAX_CODES * (REASONS_CODE_MAX + 1) + 1];
        snprintf(codes, sizeof codes, "%s", s_col(st, 0));
        for (char *save = NULL, *t = strtok_r(codes, " ", &save); t;
             t = strtok_r(NULL, " ", &save)) {
            int i = reasons_find(r, t);
            count[i < 0 ? nr : (size_t)i]++;
            if (i >= 0)
                wc[i]++;
            else /* a code the taxonomy no longer has */
                json_object_set_new(wr, t,
                                    json_integer(json_integer_value(json_object_get(wr, t)) + 1));
        }
        int pi = reasons_find(r, s_col(st, 1));
        if (pi >= 0 && reasons_get(r, (size_t)pi)->voluntary)
            vol++;
        else if (pi >= 0)
            invol++;
        int ti = reasons_team_find(r, s_col(st, 2));
        s_team_stat_t *t = &ts[ti < 0 ? ntm : (size_t)ti];
        if (sqlite3_column_type(st, 4) == SQLITE_NULL)
            continue; /* nothing to answer (an NPS comment from a promoter) */
        t->cases++;
        if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
            int64_t first = sqlite3_column_int64(st, 5);
            t->replied++;
            t->within += first <= sqlite3_column_int64(st, 4);
            if (t->nt == t->capt) {
                size_t nc = t->capt ? t->capt * 2 : 16;
                long long *q = realloc(t->times, nc * sizeof *q);
                if (!q)
                    continue;
                t->times = q;
                t->capt = nc;
            }
            const reasons_team_t *team = reasons_team(r, ti);
            t->times[t->nt++] = sqlite3_column_type(st, 6) != SQLITE_NULL
                                    ? sqlite3_column_int64(st, 6)
                                : team ? intake_hours_between(team, opened, first)
                                       : first - opened;
        }
    }
    db_finish(st);
    s_week_flush(r, w, wn, wc, nr);
    free(wc);
    /* reasons, most frequent first, with the cumulative share (Pareto) */
    json_t *reasons = json_array();
    long long tagged = 0;
    for (size_t i = 0; i < nr; i++)
        tagged += count[i];
    for (;;) {
        long long best = 0;
        size_t bi = 0;
        for (size_t i = 0; i < nr; i++)
            if (count[i] > best)
                best = count[i], bi = i;
        if (best == 0)
            break;
        const reasons_reason_t *x = reasons_get(r, bi);
        const reasons_team_t *team = reasons_team(r, x->team);
        json_array_append_new(
            reasons, json_pack("{s:s,s:s,s:s,s:s,s:b,s:I,s:o}", "code", x->code, "label",
                               reasons_label(r, bi, "en"), "team", team ? team->name : "",
                               "churn", x->voluntary ? "voluntary" : "involuntary",
                               "influenceable", x->influenceable, "count", (json_int_t)best,
                               "share", s_pct(best, tagged)));
        count[bi] = 0; /* taken */
    }
    long long cum = 0;
    size_t i;
    json_t *row;
    json_array_foreach(reasons, i, row) {
        cum += json_integer_value(json_object_get(row, "count"));
        json_object_set_new(row, "cumulative", s_pct(cum, tagged));
    }
    json_t *teams = json_array();
    for (size_t k = 0; k < ntm; k++) {
        s_team_stat_t *t = &ts[k];
        if (team_f && strcmp(reasons_team(r, (int)k)->name, team_f) != 0)
            continue;
        json_t *median = json_null(), *p90 = json_null();
        if (t->nt) {
            qsort(t->times, t->nt, sizeof *t->times, s_cmp_ll);
            long long m = t->nt % 2 ? t->times[t->nt / 2]
                                    : (t->times[t->nt / 2 - 1] + t->times[t->nt / 2]) / 2;
            median = json_real((double)(long long)((double)m / 360000.0 + 0.5) / 10.0);
            /* the 90th percentile by nearest rank: 9 in 10 replied within it */
            long long q = t->times[(t->nt * 9 + 9) / 10 - 1];
            p90 = json_real((double)(long long)((double)q / 360000.0 + 0.5) / 10.0);
        }
        json_array_append_new(teams,
                              json_pack("{s:s,s:I,s:I,s:o,s:I,s:o}", "team",
                                        reasons_team(r, (int)k)->name, "cases",
                                        (json_int_t)t->cases, "replied", (json_int_t)t->replied,
                                        "median_first_response_hours", median, "within_target",
                                        (json_int_t)t->within, "within_target_share",
                                        s_pct(t->within, t->replied)));
        json_object_set_new(json_array_get(teams, json_array_size(teams) - 1),
                            "p90_first_response_hours", p90);
    }
    for (size_t k = 0; k <= ntm; k++)
        free(ts[k].times);
    free(ts);
    free(count);
    json_t *series = json_array();
    const char *wk;
    json_t *wv;
    void *tmp;
    json_object_foreach_safe(trend, tmp, wk, wv) json_array_append(series, wv);
    json_decref(trend);
    /* json objects do not keep order: the weeks by date */
    size_t n = json_array_size(series);
    for (size_t x = 1; x < n; x++)
        for (size_t y = x; y > 0; y--) {
            json_t *p = json_array_get(series, y - 1), *q = json_array_get(series, y);
            if (strcmp(json_string_value(json_object_get(p, "period")),
                       json_string_value(json_object_get(q, "period"))) <= 0)
                break;
            json_incref(p);
            json_array_set(series, y - 1, q);
            json_array_set_new(series, y, p);
        }
    json_t *out = json_pack("{s:I,s:o,s:o,s:{s:I,s:I,s:o,s:o},s:o}", "total", (json_int_t)total,
                            "reasons", reasons, "trend", series, "churn", "voluntary",
                            (json_int_t)vol, "involuntary", (json_int_t)invol, "voluntary_share",
                            s_pct(vol, vol + invol), "involuntary_share",
                            s_pct(invol, vol + invol), "teams", teams);
    if (from)
        json_object_set_new(out, "from", json_string(from));
    if (to)
        json_object_set_new(out, "to", json_string(to));
    if (kind)
        json_object_set_new(out, "kind", json_string(kind));
    if (team_f)
        json_object_set_new(out, "team", json_string(team_f));
    if (locale)
        json_object_set_new(out, "locale", json_string(locale));
    return out;
}

int intake_store_response_fill(sqlite3 *db, const reasons_t *r, const char *id, int limit)
{
    sqlite3_stmt *st = db_prepare(
        db, id ? "SELECT id, team, opened_at, first_reply_at FROM cases WHERE id = ?1"
                 " AND first_reply_at IS NOT NULL AND first_response_ms IS NULL"
               : "SELECT id, team, opened_at, first_reply_at FROM cases"
                 " INDEXED BY cases_response_todo WHERE first_reply_at IS NOT NULL"
                 " AND first_response_ms IS NULL LIMIT ?2");
    sqlite3_stmt *up = db_prepare(db, "UPDATE cases SET first_response_ms = ?2 WHERE id = ?1");
    int n = 0, rc = st && up ? 0 : -1;
    if (st && id)
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (st)
        sqlite3_bind_int(st, 2, limit);
    while (rc == 0 && st && sqlite3_step(st) == SQLITE_ROW) {
        const reasons_team_t *team = reasons_team(r, reasons_team_find(r, s_col(st, 1)));
        int64_t a = sqlite3_column_int64(st, 2), b = sqlite3_column_int64(st, 3);
        sqlite3_bind_text(up, 1, s_col(st, 0), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(up, 2, team ? intake_hours_between(team, a, b) : b > a ? b - a : 0);
        rc = sqlite3_step(up) == SQLITE_DONE ? 0 : -1;
        sqlite3_reset(up);
        n++;
    }
    db_finish(st);
    db_finish(up);
    return rc ? -1 : n;
}
