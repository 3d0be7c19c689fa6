/*
 * loop_control.c - what hark-loop serves on [loop] control: LOOP_PREVIEW,
 * LOOP_REPORT and its part of SERVICE_STATUS.
 */
#include "customer.h"
#include "db.h"
#include "loop.h"

/* loop_control_preview - LOOP_PREVIEW: the mail a close would send */
json_t *loop_control_preview(service_t *svc, const json_t *req, service_err_t *err)
{
    loop_t *h = service_state(svc);
    json_t *body = loop_send_preview(service_db(svc), &h->send, req, err->text, sizeof err->text);
    if (!body)
        err->code = "invalid_request";
    return body;
}

/* loop_control_report - LOOP_REPORT: loops and their effect; a report
 * asked again while loop.db is unchanged is the reply kept for it
 * (reply_memo.h): the dashboard asks it at every view */
json_t *loop_control_report(service_t *svc, const json_t *req, service_err_t *err)
{
    loop_t *h = service_state(svc);
    json_t *body = reply_memo_get(h->report, service_db(svc), req);
    if (body)
        return body;
    body = loop_report_build(service_db(svc), req, err->text, sizeof err->text);
    if (!body)
        err->code = "invalid_request";
    reply_memo_put(h->report, service_db(svc), req, body);
    return body;
}

/* loop_control_status - recipients by status in SERVICE_STATUS */
void loop_control_status(service_t *svc, json_t *body)
{
    json_t *d = json_object();
    sqlite3 *db = service_db(svc);
    sqlite3_stmt *st = db_prepare(db, "SELECT status, count(*) FROM recipients GROUP BY status");
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(d, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    db_finish(st);
    json_object_set_new(d, "loops", json_integer(db_int(db, "SELECT count(*) FROM loops", 0)));
    json_object_set_new(d, "outbox", json_integer(db_int(db, "SELECT count(*) FROM outbox", 0)));
    json_object_set_new(body, "detail", d);
}

/* loop_control_customer - LOOP_CUSTOMER {customer_id}: the loop emails of
 * one customer as timeline items (customer.h), at the telling (else the
 * close, while pending) */
json_t *loop_control_customer(service_t *svc, const json_t *req, service_err_t *err)
{
    (void)err;
    const char *cid = json_string_value(json_object_get(req, "customer_id"));
    json_t *items = json_array();
    sqlite3_stmt *st = db_prepare(service_db(svc),
                                  "SELECT r.loop, l.title, l.reason, r.status, r.locale,"
                                  " coalesce(r.told_at, l.closed_at) FROM recipients r"
                                  " JOIN loops l ON l.id = r.loop WHERE r.customer_id = ?");
    if (st)
        sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        json_t *it = customer_item(sqlite3_column_int64(st, 5), "loop_email");
        static const char *const keys[] = {"loop", "title", "reason", "status", "locale"};
        for (int i = 0; i < 5; i++)
            customer_item_str(it, keys[i], (const char *)sqlite3_column_text(st, i));
        json_array_append_new(items, it);
    }
    db_finish(st);
    customer_items_sort(items);
    return json_pack("{s:s,s:o}", "customer_id", cid, "items", items);
}
