/*
 * intake_control.c - hark-intake's control commands (intake.c lists them
 * in its command table; the skeleton decodes each request and sends each
 * reply) and its SERVICE_STATUS detail.
 */
#include <stdlib.h>

#include "clock.h"
#include "consumer.h"
#include "customer.h"
#include "db.h"
#include "intake.h"

static const char *s_col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* s_read_own_write - a case id is "C<journal offset>": when that offset is
 * past our cursor, the case was journaled (its id handed out) but not yet
 * applied here, so apply up to it before answering, or a caller that reads
 * right after writing would be told "no such case".  Bounded: a journal we
 * cannot reach, or a few batches that do not reach it, answer as we are. */
static void s_read_own_write(service_t *svc, const char *id)
{
    consumer_t *c = service_consumer(svc);
    char *end = NULL;
    if (!c || !id || id[0] != 'C' || id[1] < '1' || id[1] > '9')
        return;
    long long off = strtoll(id + 1, &end, 10);
    for (int i = 0; *end == '\0' && off > consumer_cursor(c) && i < 16; i++)
        if (consumer_caught_up(c) != 0)
            break;
}

/* intake_control_cases - INTAKE_CASES: a page of cases, or one case by id */
json_t *intake_control_cases(service_t *svc, const json_t *req, service_err_t *err)
{
    intake_t *s = service_state(svc);
    s_read_own_write(svc, json_string_value(json_object_get(req, "id")));
    json_t *body = json_object_get(req, "id")
                       ? intake_store_cases(service_db(svc), s->reasons, req, clock_now_ms(),
                                            err->text, sizeof err->text)
                       : intake_list_cases(service_db(svc), &s->inbox, req, clock_now_ms(),
                                           err->text, sizeof err->text);
    if (!body)
        err->code = "invalid_request";
    else if (json_object_get(req, "id") && json_array_size(json_object_get(body, "cases")) == 0) {
        json_decref(body);
        return service_fail(err, "not_found", "no such case");
    }
    return body;
}

/* intake_control_report - INTAKE_REPORT: cases by reason, team and day; a
 * report asked again while intake.db is unchanged is the reply kept for it
 * (reply_memo.h): the dashboard asks it at every view, and a year of cases
 * is a walk through each */
json_t *intake_control_report(service_t *svc, const json_t *req, service_err_t *err)
{
    intake_t *s = service_state(svc);
    json_t *body = reply_memo_get(s->report, service_db(svc), req);
    if (body)
        return body;
    body = intake_store_report(service_db(svc), s->reasons, req, err->text, sizeof err->text);
    if (!body)
        err->code = "invalid_request";
    reply_memo_put(s->report, service_db(svc), req, body);
    return body;
}

/* intake_control_status - case counts in SERVICE_STATUS */
void intake_control_status(service_t *svc, json_t *body)
{
    json_t *d = json_object();
    sqlite3_stmt *st = db_prepare(service_db(svc),
                                  "SELECT status, count(*) FROM cases GROUP BY status");
    long long total = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        json_object_set_new(d, s_col(st, 0), json_integer(sqlite3_column_int64(st, 1)));
        total += sqlite3_column_int64(st, 1);
    }
    db_finish(st);
    json_object_set_new(d, "cases", json_integer(total));
    json_object_set_new(body, "detail", d);
}

/* intake_control_customer - INTAKE_CUSTOMER {customer_id}: the customer's
 * cases and each one's history, as timeline items (customer.h) */
json_t *intake_control_customer(service_t *svc, const json_t *req, service_err_t *err)
{
    (void)err;
    sqlite3 *db = service_db(svc);
    const char *cid = json_string_value(json_object_get(req, "customer_id"));
    json_t *items = json_array();
    sqlite3_stmt *st = db_prepare(db, "SELECT id, kind, status, reason, text, order_id, score,"
                                      " opened_at FROM cases WHERE customer_id = ?");
    if (st)
        sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        json_t *it = customer_item(sqlite3_column_int64(st, 7), "case");
        customer_item_str(it, "case", s_col(st, 0));
        customer_item_str(it, "case_kind", s_col(st, 1));
        customer_item_str(it, "status", s_col(st, 2));
        customer_item_str(it, "reason", s_col(st, 3));
        customer_item_str(it, "text", s_col(st, 4));
        customer_item_str(it, "order_id", s_col(st, 5));
        if (sqlite3_column_type(st, 6) != SQLITE_NULL)
            json_object_set_new(it, "score", json_integer(sqlite3_column_int(st, 6)));
        json_array_append_new(items, it);
    }
    db_finish(st);
    st = db_prepare(db, "SELECT n.case_id, n.kind, n.by, n.text, n.at FROM cases c"
                        " JOIN notes n ON n.case_id = c.id WHERE c.customer_id = ?");
    if (st)
        sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        json_t *it = customer_item(sqlite3_column_int64(st, 4), "case_note");
        customer_item_str(it, "case", s_col(st, 0));
        customer_item_str(it, "note", s_col(st, 1));
        customer_item_str(it, "by", s_col(st, 2));
        customer_item_str(it, "text", s_col(st, 3));
        json_array_append_new(items, it);
    }
    db_finish(st);
    customer_items_sort(items);
    return json_pack("{s:s,s:o}", "customer_id", cid, "items", items);
}
