/*
 * loop_send.c - the email of one customer, the batches that request them,
 * and the preview that renders one without sending anything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "outbox.h"
#include "reasons.h"
#include "render.h"

/* s_col - a text column or NULL */
static const char *s_col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

json_t *loop_send_vars(const words_t *w, sqlite3_stmt *cases, const char *title,
                       const char *announcement, const char *locale, const char *tz, int quotes,
                       size_t excerpt_chars, json_t *case_ids)
{
    json_t *q = json_array();
    json_t *vars = json_pack("{s:s,s:s,s:o}", "title", title, "announcement", announcement,
                             "quotes", q);
    if (!vars)
        return NULL;
    /* newest first: the email quotes what the customer said last, and a
     * few before it, not a whole history */
    while (sqlite3_step(cases) == SQLITE_ROW) {
        if (case_ids && json_array_size(case_ids) < 1000)
            json_array_append_new(case_ids, json_string(s_col(cases, 0)));
        const char *text = s_col(cases, 1);
        if (!text || !*text || (int)json_array_size(q) >= quotes)
            continue;
        char *ex = loop_text_excerpt(text, excerpt_chars);
        char date[80];
        loop_text_date(w, sqlite3_column_int64(cases, 2), locale, tz, date, sizeof date);
        if (ex && *ex)
            json_array_append_new(q, json_pack("{s:s,s:s}", "excerpt", ex, "date", date));
        free(ex);
    }
    return vars;
}

/* the recipient's cases in a loop, newest first */
static const char s_told_sql[] =
    "SELECT c.id, c.text, c.given_at FROM told_cases t JOIN cases c ON c.id = t.case_id"
    " WHERE t.loop = ?1 AND t.customer_id = ?2 ORDER BY c.given_at DESC, c.id DESC";

/* the language of a customer's email: theirs, else that of their newest
 * feedback in the cases of sub (?1 loop, ?2 customer); "" for the mailer's
 * default */
static const char s_locale_sql[] =
    "SELECT coalesce(nullif(cu.locale, ''), (SELECT c.locale FROM told_cases t"
    "  JOIN cases c ON c.id = t.case_id WHERE t.loop = ?1 AND t.customer_id = ?2"
    "  AND c.locale IS NOT NULL ORDER BY c.given_at DESC LIMIT 1), ''),"
    " cu.email, cu.timezone FROM (SELECT 1) LEFT JOIN customers cu ON cu.id = ?2";

typedef struct {
    int64_t rowid;
    char loop[80], cid[160];
} s_pending_t;

/* s_decide - one pending recipient: the outbox rows (mail.requested and
 * loop.notified) of a customer we can write to, or the reason we do not.
 * 0/-1 */
static int s_decide(sqlite3 *db, const loop_send_conf_t *conf, const s_pending_t *r, const char *reason,
                    const char *title, const char *ann, const json_t *texts, int64_t now)
{
    char locale[64] = "", email[320] = "", tz[80] = "";
    sqlite3_stmt *st = db_prepare(db, s_locale_sql);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, r->loop, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r->cid, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(locale, sizeof locale, "%s", s_col(st, 0) ? s_col(st, 0) : "");
        contacts_lower(s_col(st, 1), email, sizeof email);
        snprintf(tz, sizeof tz, "%s", s_col(st, 2) ? s_col(st, 2) : "");
    }
    db_finish(st);
    /* their language's title and announcement, when the close gave one */
    const char *tl = loop_check_text_for(texts, locale, conf->default_locale);
    if (tl) {
        const json_t *t = json_object_get(texts, tl);
        title = json_string_value(json_object_get(t, "title"));
        ann = json_string_value(json_object_get(t, "announcement"));
        if (!title || !ann)
            return -1;
    }
    const char *status = "sent";
    sqlite3_stmt *sup = NULL;
    if (!*email) {
        status = "no_address";
    } else if ((sup = db_prepare(db, "SELECT reason FROM suppressions WHERE address = ?"))) {
        sqlite3_bind_text(sup, 1, email, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(sup) == SQLITE_ROW)
            status = strcmp(s_col(sup, 0), "bounced") == 0 ? "bounced" : "unsubscribed";
        db_finish(sup);
    } else {
        return -1;
    }
    /* one email per address: two customer ids with one address (a web
     * form's and the shop's) are one person, told once */
    if (strcmp(status, "sent") == 0) {
        sup = db_prepare(db, "SELECT 1 FROM recipients WHERE loop = ?1 AND address = ?2"
                             " AND rowid != ?3 LIMIT 1");
        if (!sup)
            return -1;
        sqlite3_bind_text(sup, 1, r->loop, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(sup, 2, email, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(sup, 3, r->rowid);
        if (sqlite3_step(sup) == SQLITE_ROW)
            status = "same_address";
        db_finish(sup);
    }
    if (strcmp(status, "sent") == 0) {
        st = db_prepare(db, s_told_sql);
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, r->loop, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, r->cid, -1, SQLITE_TRANSIENT);
        json_t *cases = json_array();
        json_t *vars = loop_send_vars(conf->words, st, title, ann, locale, tz, conf->quotes,
                                      conf->excerpt, cases);
        db_finish(st);
        json_t *mail = vars ? json_pack("{s:s,s:s,s:s,s:o}", "customer_id", r->cid, "template",
                                        LOOP_TEMPLATE, "category", "loop", "vars", vars)
                            : NULL;
        if (mail && *locale)
            json_object_set_new(mail, "locale", json_string(locale));
        json_t *told = json_pack("{s:s,s:s,s:s,s:O}", "loop", r->loop, "reason", reason,
                                 "customer_id", r->cid, "cases", cases);
        json_decref(cases);
        char key[400];
        int bad = !mail || !told;
        snprintf(key, sizeof key, "loop/%s/mail/%s", r->loop, r->cid);
        bad = bad || outbox_add(db, EV_MAIL_REQUESTED, key, mail);
        snprintf(key, sizeof key, "loop/%s/notified/%s", r->loop, r->cid);
        bad = bad || outbox_add(db, EV_LOOP_NOTIFIED, key, told);
        json_decref(mail);
        json_decref(told);
        if (bad)
            return -1;
    }
    st = db_prepare(db, "UPDATE recipients SET status = ?2, locale = ?3, told_at = ?4,"
                        " text_locale = ?5, address = ?6 WHERE rowid = ?1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, r->rowid);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, locale, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now);
    if (tl && strcmp(status, "sent") == 0)
        sqlite3_bind_text(st, 5, tl, -1, SQLITE_TRANSIENT);
    if (strcmp(status, "sent") == 0)
        sqlite3_bind_text(st, 6, email, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    if (strcmp(status, "sent") != 0)
        log_info("event=loop_skipped loop=%s customer=%s why=%s", log_value(r->loop),
                 log_value(r->cid), status);
    return rc;
}

int loop_send_batch(sqlite3 *db, const loop_send_conf_t *conf)
{
    s_pending_t *due = calloc((size_t)conf->batch, sizeof *due);
    if (!due)
        return -1;
    if (db_begin(db)) {
        free(due);
        return -1;
    }
    sqlite3_stmt *st = db_prepare(db, "SELECT rowid, loop, customer_id FROM recipients"
                                      " WHERE status = 'pending' ORDER BY rowid LIMIT ?");
    int n = 0, bad = !st;
    if (st) {
        sqlite3_bind_int(st, 1, conf->batch);
        while (n < conf->batch && sqlite3_step(st) == SQLITE_ROW) {
            due[n].rowid = sqlite3_column_int64(st, 0);
            snprintf(due[n].loop, sizeof due[n].loop, "%s", s_col(st, 1));
            snprintf(due[n].cid, sizeof due[n].cid, "%s", s_col(st, 2));
            n++;
        }
        db_finish(st);
    }
    int64_t now = clock_now_ms();
    char cur[80] = "", reason[80] = "";
    char *title = NULL, *ann = NULL;
    json_t *texts = NULL;
    for (int i = 0; i < n && !bad; i++) {
        if (strcmp(cur, due[i].loop) != 0) { /* a batch is mostly one loop */
            st = db_prepare(db, "SELECT reason, title, announcement, texts FROM loops"
                                " WHERE id = ?");
            bad = !st;
            if (st) {
                sqlite3_bind_text(st, 1, due[i].loop, -1, SQLITE_TRANSIENT);
                bad = sqlite3_step(st) != SQLITE_ROW;
                if (!bad) {
                    snprintf(reason, sizeof reason, "%s", s_col(st, 0));
                    free(title);
                    free(ann);
                    json_decref(texts);
                    title = strdup(s_col(st, 1));
                    ann = strdup(s_col(st, 2));
                    texts = s_col(st, 3) ? json_loads(s_col(st, 3), 0, NULL) : NULL;
                    bad = !title || !ann || (s_col(st, 3) && !texts);
                }
                db_finish(st);
            }
            snprintf(cur, sizeof cur, "%s", due[i].loop);
        }
        if (!bad)
            bad = s_decide(db, conf, &due[i], reason, title, ann, texts, now);
    }
    free(title);
    free(ann);
    json_decref(texts);
    free(due);
    if (bad || db_commit(db)) {
        db_rollback(db);
        log_error("event=loop_batch_failed");
        return -1;
    }
    return n;
}

/* s_preview_sql - the customers a close would consider, with the language
 * of their email, their address and whether it is suppressed */
static const char s_preview_sql[] =
    "WITH cand AS (%s), who AS (SELECT DISTINCT customer_id FROM cand)"
    " SELECT w.customer_id, coalesce(nullif(cu.locale, ''), (SELECT c.locale FROM cand x"
    "   JOIN cases c ON c.id = x.id WHERE x.customer_id = w.customer_id"
    "   AND c.locale IS NOT NULL ORDER BY c.given_at DESC LIMIT 1), ''),"
    " cu.email, s.reason FROM who w LEFT JOIN customers cu ON cu.id = w.customer_id"
    " LEFT JOIN suppressions s ON s.address = lower(cu.email)";

/* s_candidates - sql (built on loop_store_candidates_sql) prepared with
 * its reason (?1), since (?2) and loop (?3, NULL: any) bound, or NULL */
static sqlite3_stmt *s_candidates(sqlite3 *db, const char *sql, const char *reason,
                                  int64_t since_ms, const char *lid)
{
    sqlite3_stmt *st = db_prepare(db, sql);
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 1, reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, since_ms);
    if (lid)
        sqlite3_bind_text(st, 3, lid, -1, SQLITE_TRANSIENT);
    return st;
}

/* s_render - a sample: customer cid's email as the mailer would render it,
 * with title and ann (the text of their locale, or the fallback) */
static json_t *s_render(sqlite3 *db, loop_send_conf_t *conf, const json_t *req, const char *cid,
                        const char *locale, const char *title, const char *ann,
                        int64_t since_ms, char *err, size_t errlen)
{
    const char *reason = json_string_value(json_object_get(req, "reason"));
    const char *lid = json_string_value(json_object_get(req, "loop"));
    char sql[2048]; /* the candidates SQL and a little more */
    snprintf(sql, sizeof sql,
             "SELECT c.id, c.text, c.given_at FROM (%s) x JOIN cases c ON c.id = x.id"
             " WHERE x.customer_id = ?4 ORDER BY c.given_at DESC, c.id DESC",
             loop_store_candidates_sql);
    char tz[80] = "";
    sqlite3_stmt *st = db_prepare(db, "SELECT timezone FROM customers WHERE id = ?");
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW && s_col(st, 0))
        snprintf(tz, sizeof tz, "%s", s_col(st, 0));
    db_finish(st);
    st = s_candidates(db, sql, reason, since_ms, lid);
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 4, cid, -1, SQLITE_TRANSIENT);
    json_t *vars = loop_send_vars(conf->words, st, title, ann, locale, tz, conf->quotes,
                                  conf->excerpt, NULL);
    db_finish(st);
    if (!vars)
        return NULL;
    /* what the mailer adds at send time: the name it has, the shop */
    st = db_prepare(db, "SELECT name FROM customers WHERE id = ?");
    if (st) {
        sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW && s_col(st, 0))
            json_object_set_new(vars, "name", json_string(s_col(st, 0)));
        db_finish(st);
    }
    json_object_set_new(vars, "shop_name", json_string(conf->shop_name));
    if (!conf->render)
        conf->render = render_new(conf->templates, conf->default_locale, err, errlen);
    rendered_t out;
    json_t *sample = NULL;
    if (conf->render &&
        render_message(conf->render, LOOP_TEMPLATE, locale, vars, &out, err, errlen) == 0) {
        sample = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "customer_id", cid, "locale",
                           out.locale_used, "subject", out.subject, "preheader", out.preheader,
                           "text", out.text, "html", out.html);
        render_message_free(&out);
    }
    json_decref(vars);
    return sample;
}

json_t *loop_send_preview(sqlite3 *db, loop_send_conf_t *conf, const json_t *req, char *err,
                      size_t errlen)
{
    const char *reason = json_string_value(json_object_get(req, "reason"));
    const char *lid = json_string_value(json_object_get(req, "loop"));
    const char *since = json_string_value(json_object_get(req, "since"));
    int64_t since_ms = loop_store_since_ms(since);
    if (!reason || since_ms == -2) {
        snprintf(err, errlen, "%s", reason ? "since must be a date YYYY-MM-DD" : "reason is required");
        return NULL;
    }
    int render = json_is_true(json_object_get(req, "render")) &&
                 json_is_string(json_object_get(req, "title")) &&
                 json_is_string(json_object_get(req, "announcement"));
    sqlite3_stmt *st = db_prepare(db, "SELECT count(*) FROM case_reasons WHERE reason = ?");
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 1, reason, -1, SQLITE_TRANSIENT);
    long long tagged = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    db_finish(st);
    char sql[4096];
    snprintf(sql, sizeof sql, s_preview_sql, loop_store_candidates_sql);
    st = s_candidates(db, sql, reason, since_ms, lid);
    if (!st)
        return NULL;
    json_t *locales = json_object(), *skipped = json_object();
    json_t *first = json_object(); /* locale: its first customer, whose email is the sample */
    long long customers = 0;
    char sample_cid[160] = "", sample_locale[64] = "";
    json_t *seen = json_object(); /* addresses counted: one email each */
    while (sqlite3_step(st) == SQLITE_ROW) {
        char low[330];
        contacts_lower(s_col(st, 2), low, sizeof low);
        const char *why = !s_col(st, 2) || !*s_col(st, 2) ? "no_address"
                          : s_col(st, 3) && strcmp(s_col(st, 3), "bounced") == 0 ? "bounced"
                          : s_col(st, 3)                                          ? "unsubscribed"
                          : json_object_get(seen, low)                            ? "same_address"
                                                                                  : NULL;
        if (!why)
            json_object_set_new(seen, low, json_true());
        json_t *tally = why ? skipped : locales;
        const char *k = why ? why : s_col(st, 1);
        json_object_set_new(tally, k,
                            json_integer(json_integer_value(json_object_get(tally, k)) + 1));
        if (!why && !json_object_get(first, k))
            json_object_set_new(first, k, json_string(s_col(st, 0)));
        if (!why && customers++ == 0) {
            snprintf(sample_cid, sizeof sample_cid, "%s", s_col(st, 0));
            snprintf(sample_locale, sizeof sample_locale, "%s", s_col(st, 1));
        }
    }
    db_finish(st);
    json_decref(seen);
    /* which text each locale reads: its own, or the fallback */
    const json_t *texts = json_object_get(req, "texts");
    json_t *text_of = json_object();
    const char *lk;
    json_t *lv;
    json_object_foreach(locales, lk, lv) {
        const char *tl = loop_check_text_for(texts, lk, conf->default_locale);
        json_object_set_new(text_of, lk, json_string(tl ? tl : "fallback"));
    }
    /* known: some feedback carries the reason, or the taxonomy defines it
     * (closing a defined reason nobody raised yet tells nobody) */
    int defined = conf->reasons && reasons_find(conf->reasons, reason) >= 0;
    json_t *body = json_pack("{s:s,s:b,s:b,s:I,s:I,s:o,s:o,s:o}", "reason", reason, "known",
                             tagged > 0 || defined, "defined", defined, "feedback",
                             (json_int_t)tagged, "customers", (json_int_t)customers,
                             "locales", locales, "skipped", skipped, "texts", text_of);
    if (!body) {
        json_decref(first);
        return NULL;
    }
    if (lid) {
        json_object_set_new(body, "loop", json_string(lid));
        /* a loop belongs to one reason: a close of its id under another
         * would be journaled and then not applied, so say whose it is */
        st = db_prepare(db, "SELECT reason FROM loops WHERE id = ?");
        if (!st) {
            snprintf(err, errlen, "loop.db could not be read");
            json_decref(body);
            json_decref(first);
            return NULL;
        }
        sqlite3_bind_text(st, 1, lid, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW)
            json_object_set_new(body, "loop_reason", json_string(s_col(st, 0)));
        db_finish(st);
    }
    if (since)
        json_object_set_new(body, "since", json_string(since));
    if (render && *sample_cid) {
        /* one email per locale, each as its first customer will get it
         * (sample: the first customer's, as before texts) */
        json_t *samples = json_array();
        json_object_set_new(body, "samples", samples);
        json_object_foreach(first, lk, lv) {
            const char *tl = json_string_value(json_object_get(text_of, lk));
            const json_t *t = strcmp(tl, "fallback") != 0 ? json_object_get(texts, tl) : req;
            json_t *sample =
                s_render(db, conf, req, json_string_value(lv), lk,
                         json_string_value(json_object_get(t, "title")),
                         json_string_value(json_object_get(t, "announcement")), since_ms, err,
                         errlen);
            if (!sample) {
                json_decref(body);
                json_decref(first);
                return NULL;
            }
            json_object_set_new(sample, "for_locale", json_string(lk));
            json_object_set_new(sample, "text_locale", json_string(tl));
            if (strcmp(lk, sample_locale) == 0)
                json_object_set(body, "sample", sample);
            json_array_append_new(samples, sample);
        }
    }
    json_decref(first);
    return body;
}

/* loop_send_due - tell the next batch of pending recipients */
int loop_send_due(evloop_t *loop, void *arg)
{
    service_t *svc = arg;
    loop_t *h = service_state(svc);
    sqlite3 *db = service_db(svc);
    service_flush_outbox(svc); /* left over from a crash or a journal outage */
    /* decide on the whole journal: a replay (hark rebuild) reaches the
     * emails this loop journaled before it decides anyone again, so whom
     * it told is read back (loop_store_told), not decided from what an
     * erasure left; one batch per round so the loop stays responsive */
    int caught_up = consumer_caught_up(service_consumer(svc));
    if (caught_up <= 0) {
        if (caught_up == 0)
            evloop_timer_at(loop, h->send_timer, 0);
        return 0;
    }
    int n = loop_send_batch(db, &h->send);
    if (n > 0) {
        service_flush_outbox(svc);
        evloop_timer_at(loop, h->send_timer, 0); /* there may be more */
    }
    return 0;
}
