/*
 * survey_control.c - hark-survey's control commands (survey.c lists them
 * in its command table; the skeleton decodes each request and sends each
 * reply).
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "survey.h"
#include "survey_link.h"

/* s_col - a text column or NULL */
static const char *s_col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* survey_control_invite - SURVEY_INVITE {invite}: what the survey page shows */
json_t *survey_control_invite(service_t *svc, const json_t *req, service_err_t *err)
{
    const char *id = json_string_value(json_object_get(req, "invite"));
    sqlite3_stmt *st = id && survey_link_invite_ok(id)
                           ? db_prepare(service_db(svc),
                                        "SELECT status, campaign, locale, score, comment,"
                                        " expires_at, due_at, erased FROM invites WHERE id = ?")
                           : NULL;
    if (st)
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        db_finish(st);
        return service_fail(err, "not_found", "no such invite");
    }
    const char *status = s_col(st, 0);
    int64_t expires = sqlite3_column_int64(st, 5);
    int sent = strcmp(status, "sent") == 0;
    int scored = sqlite3_column_type(st, 3) != SQLITE_NULL;
    if (sent)
        status = expires <= clock_now_ms() ? "expired" : scored ? "answered" : "open";
    if (sqlite3_column_int(st, 7))
        status = "erased"; /* the customer was erased: the link is gone for good */
    json_t *body = json_pack("{s:s,s:s,s:s}", "invite", id, "status", status, "campaign",
                             s_col(st, 1));
    if (s_col(st, 2))
        json_object_set_new(body, "locale", json_string(s_col(st, 2)));
    if (scored)
        json_object_set_new(body, "score", json_integer(sqlite3_column_int(st, 3)));
    if (s_col(st, 4))
        json_object_set_new(body, "comment", json_string(s_col(st, 4)));
    char at[40];
    if (sent)
        json_object_set_new(body, "expires_at", json_string(clock_format(expires, at, sizeof at)));
    if (strcmp(status, "scheduled") == 0)
        json_object_set_new(body, "due_at",
                            json_string(clock_format(sqlite3_column_int64(st, 6), at, sizeof at)));
    db_finish(st);
    return body;
}

/* survey_control_campaigns - SURVEY_CAMPAIGNS {id?} */
json_t *survey_control_campaigns(service_t *svc, const json_t *req, service_err_t *err)
{
    survey_t *s = service_state(svc);
    json_t *body = survey_campaign_list(service_db(svc), &s->set,
                                         json_string_value(json_object_get(req, "id")),
                                         json_is_true(json_object_get(req, "history")));
    return body ? body : service_fail(err, "internal", "the campaigns could not be read");
}

/* survey_control_segment - SURVEY_SEGMENT {segment}: how many a run now
 * would select (Hark Console's preview) */
json_t *survey_control_segment(service_t *svc, const json_t *req, service_err_t *err)
{
    survey_t *s = service_state(svc);
    long n = 0;
    if (survey_run_segment_count(service_db(svc), &s->set, json_object_get(req, "segment"),
                                 clock_now_ms(), &n, err->text, sizeof err->text)) {
        err->code = "invalid_request";
        return NULL;
    }
    return json_pack("{s:I}", "customers", (json_int_t)n);
}

/* survey_control_report - SURVEY_REPORT: the NPS report (survey_report.c) */
json_t *survey_control_report(service_t *svc, const json_t *req, service_err_t *err)
{
    json_t *body = survey_report(service_db(svc), req, err->text, sizeof err->text);
    if (!body)
        err->code = "invalid_request";
    return body;
}

/* survey_control_dashboard - SURVEY_DASHBOARD: Hark Console's dashboard
 * (survey_dashboard.c); a view asked again while survey.db is unchanged
 * is the reply kept for it (reply_memo.h): every marketer's every reload
 * would otherwise sum the same rollups again */
json_t *survey_control_dashboard(service_t *svc, const json_t *req, service_err_t *err)
{
    survey_t *s = service_state(svc);
    json_t *body = reply_memo_get(s->dashboard, service_db(svc), req);
    if (body)
        return body;
    body = survey_dashboard(service_db(svc), req, s->set.default_locale, err->text,
                            sizeof err->text);
    if (!body)
        err->code = "invalid_request";
    reply_memo_put(s->dashboard, service_db(svc), req, body);
    return body;
}

/* survey_control_responses - SURVEY_RESPONSES: the answers, newest first */
json_t *survey_control_responses(service_t *svc, const json_t *req, service_err_t *err)
{
    json_t *body = survey_report_responses(service_db(svc), req, err->text, sizeof err->text);
    if (!body)
        err->code = "invalid_request";
    return body;
}

/* survey_control_status - invite counts in SERVICE_STATUS */
void survey_control_status(service_t *svc, json_t *body)
{
    json_t *d = json_object();
    sqlite3_stmt *st = db_prepare(service_db(svc),
                                  "SELECT status, count(*) FROM invites GROUP BY status");
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(d, s_col(st, 0), json_integer(sqlite3_column_int64(st, 1)));
    db_finish(st);
    json_object_set_new(body, "detail", d);
}
