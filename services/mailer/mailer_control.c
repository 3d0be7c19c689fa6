/*
 * mailer_control.c - what the mailer serves on [mailer] control: MAILER_QUEUE,
 * MAILER_CONTACT and its part of SERVICE_STATUS.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "customer.h"
#include "db.h"
#include "mailer.h"

/* mailer_control_contact - MAILER_CONTACT {customer_id?, address?}: whether
 * the suppression list holds the address (given, else the contact copy's
 * email), and why.  Hark Console shows it on a case, so staff know whether
 * the customer can be mailed before they write.  With customer_id, known
 * and locale say whether a customer event for it arrived and its
 * language (`hark cases link` makes links only for a known customer, in
 * their language). */
json_t *mailer_control_contact(service_t *svc, const json_t *req, service_err_t *err)
{
    (void)err;
    sqlite3 *db = service_db(svc);
    const char *cid = json_string_value(json_object_get(req, "customer_id"));
    const char *given = json_string_value(json_object_get(req, "address"));
    char addr[330] = "", low[330], locale[40] = "";
    int known = 0;
    if (given)
        snprintf(addr, sizeof addr, "%s", given);
    sqlite3_stmt *st =
        cid ? db_prepare(db, "SELECT email, locale FROM customers WHERE id = ?") : NULL;
    if (st) {
        sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            known = 1;
            if (!given && sqlite3_column_text(st, 0))
                snprintf(addr, sizeof addr, "%s", (const char *)sqlite3_column_text(st, 0));
            if (sqlite3_column_text(st, 1))
                snprintf(locale, sizeof locale, "%s", (const char *)sqlite3_column_text(st, 1));
        }
        db_finish(st);
    }
    json_t *out = json_pack("{s:b}", "suppressed", 0);
    if (cid)
        json_object_set_new(out, "known", json_boolean(known));
    if (*locale)
        json_object_set_new(out, "locale", json_string(locale));
    if (!*addr)
        return out;
    json_object_set_new(out, "address", json_string(addr));
    st = db_prepare(db, "SELECT reason FROM suppressions WHERE address = ?");
    if (st) {
        sqlite3_bind_text(st, 1, contacts_lower(addr, low, sizeof low), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            json_object_set_new(out, "suppressed", json_true());
            json_object_set_new(out, "reason",
                                json_string((const char *)sqlite3_column_text(st, 0)));
        }
        db_finish(st);
    }
    return out;
}

/* mailer_control_queue - MAILER_QUEUE {status?, limit?}: counts and the rows */
json_t *mailer_control_queue(service_t *svc, const json_t *req, service_err_t *err)
{
    (void)err;
    sqlite3 *db = service_db(svc);
    const char *status = json_string_value(json_object_get(req, "status"));
    json_int_t limit = json_integer_value(json_object_get(req, "limit"));
    if (limit <= 0 || limit > 1000)
        limit = 100;
    json_t *counts = json_object(), *rows = json_array();
    sqlite3_stmt *st = db_prepare(db, "SELECT status, count(*) FROM messages GROUP BY status");
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(counts, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    sqlite3_finalize(st);
    st = db_prepare(db, "SELECT id, status, template, category, coalesce(sent_to, address,"
                        " customer_id), attempts, next_at, last_error FROM messages"
                        " WHERE (?1 IS NULL AND status NOT IN ('delivered', 'skipped'))"
                        " OR status = ?1 ORDER BY id LIMIT ?2");
    if (st) {
        if (status)
            sqlite3_bind_text(st, 1, status, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, limit);
        while (sqlite3_step(st) == SQLITE_ROW) {
            char at[40];
            json_t *r = json_pack("{s:I,s:s,s:s,s:s,s:s,s:i,s:s}", "id",
                                  (json_int_t)sqlite3_column_int64(st, 0), "status",
                                  sqlite3_column_text(st, 1), "template",
                                  sqlite3_column_text(st, 2), "category",
                                  sqlite3_column_text(st, 3), "to",
                                  sqlite3_column_text(st, 4) ? (const char *)sqlite3_column_text(st, 4) : "",
                                  "attempts", sqlite3_column_int(st, 5), "next_at",
                                  clock_format(sqlite3_column_int64(st, 6), at, sizeof at));
            if (sqlite3_column_type(st, 7) != SQLITE_NULL)
                json_object_set_new(r, "last_error",
                                    json_string((const char *)sqlite3_column_text(st, 7)));
            json_array_append_new(rows, r);
        }
        sqlite3_finalize(st);
    }
    return json_pack("{s:o,s:o}", "counts", counts, "messages", rows);
}

/* mailer_control_status - queue counts in SERVICE_STATUS */
void mailer_control_status(service_t *svc, json_t *body)
{
    mailer_t *m = service_state(svc);
    json_t *d = json_object();
    sqlite3_stmt *st = db_prepare(service_db(svc),
                                  "SELECT status, count(*) FROM messages GROUP BY status");
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(d, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    sqlite3_finalize(st);
    if (m && m->pool)
        json_object_set_new(d, "in_flight", json_integer((json_int_t)mailer_pool_pending(m->pool)));
    json_object_set_new(body, "detail", d);
}

/* mailer_control_customer - MAILER_CUSTOMER {customer_id}: every mail to
 * the customer (not the staff alerts about them), each bounce again, and
 * the suppression of their address, as timeline items (customer.h) */
json_t *mailer_control_customer(service_t *svc, const json_t *req, service_err_t *err)
{
    sqlite3 *db = service_db(svc);
    const char *cid = json_string_value(json_object_get(req, "customer_id"));
    json_t *out = mailer_control_contact(svc, req, err);
    if (!out)
        return NULL;
    json_object_del(out, "known");
    json_object_del(out, "locale");
    json_object_set_new(out, "customer_id", json_string(cid));
    json_t *items = json_array();
    sqlite3_stmt *st = db_prepare(db, "SELECT id, template, category, status,"
                                      " coalesce(sent_to, address), last_error, updated_at"
                                      " FROM messages WHERE customer_id = ?"
                                      " AND category <> 'alert'");
    if (st)
        sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(st, 3);
        for (int bounce = 0; bounce < 2; bounce++) {
            if (bounce && strcmp(status, "bounced") != 0)
                break;
            json_t *it = customer_item(sqlite3_column_int64(st, 6), bounce ? "bounce" : "mail");
            json_object_set_new(it, "message", json_integer(sqlite3_column_int64(st, 0)));
            if (!bounce) {
                customer_item_str(it, "template", (const char *)sqlite3_column_text(st, 1));
                customer_item_str(it, "category", (const char *)sqlite3_column_text(st, 2));
                customer_item_str(it, "status", status);
            }
            customer_item_str(it, "address", (const char *)sqlite3_column_text(st, 4));
            customer_item_str(it, "error", (const char *)sqlite3_column_text(st, 5));
            json_array_append_new(items, it);
        }
    }
    db_finish(st);
    const char *addr = json_string_value(json_object_get(out, "address"));
    char low[320];
    st = addr ? db_prepare(db, "SELECT reason, at FROM suppressions WHERE address = ?"
                               " AND at IS NOT NULL")
              : NULL;
    if (st) {
        sqlite3_bind_text(st, 1, contacts_lower(addr, low, sizeof low), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *reason = (const char *)sqlite3_column_text(st, 0);
            json_t *it = customer_item(sqlite3_column_int64(st, 1),
                                       strcmp(reason, "unsubscribed") == 0
                                           ? "unsubscribe"
                                           : "bounce_suppression");
            customer_item_str(it, "address", addr);
            json_array_append_new(items, it);
        }
    }
    db_finish(st);
    customer_items_sort(items);
    json_object_set_new(out, "items", items);
    return out;
}
