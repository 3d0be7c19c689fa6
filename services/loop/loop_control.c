/*
 * loop_control.c - what hark-loop serves on [loop] control: LOOP_PREVIEW,
 * LOOP_REPORT and its part of SERVICE_STATUS.
 */
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

/* loop_control_report - LOOP_REPORT: loops and their effect */
json_t *loop_control_report(service_t *svc, const json_t *req, service_err_t *err)
{
    json_t *body = loop_report_build(service_db(svc), req);
    return body ? body : service_fail(err, "invalid_request", "the report failed");
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
