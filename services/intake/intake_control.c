/*
 * intake_control.c - hark-intake's control commands (intake.c lists them
 * in its command table; the skeleton decodes each request and sends each
 * reply) and its SERVICE_STATUS detail.
 */
#include <stdlib.h>

#include "clock.h"
#include "consumer.h"
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

/* intake_control_report - INTAKE_REPORT: cases by reason, team and day */
json_t *intake_control_report(service_t *svc, const json_t *req, service_err_t *err)
{
    intake_t *s = service_state(svc);
    json_t *body =
        intake_store_report(service_db(svc), s->reasons, req, err->text, sizeof err->text);
    if (!body)
        err->code = "invalid_request";
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
