/*
 * gateway_reports.c - the admin API's reports, asked of the service that
 * owns the data; the gateway keeps none.
 *
 *   GET /v1/reports/nps?campaign=&from=&to=&by=   SURVEY_REPORT -> 200 JSON
 *   GET /v1/reports/nps.csv?campaign=&from=&to=   SURVEY_RESPONSES, a page
 *       at a time, streamed as CSV (csv.h, the bytes `hark report nps
 *       --csv` writes); also GET /v1/reports/nps?format=csv
 *   GET /v1/reports/reasons?from=&to=&kind=&team=   INTAKE_REPORT of
 *       hark-intake -> 200 JSON (parameters as the cases API checks them)
 *
 * Authorization: Bearer <admin key> (the ingest key is not enough).  The
 * parameters are checked here so a 400 names the bad one; hark-survey not
 * answering in [gateway] survey_timeout is a 503.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "gateway.h"
#include "log.h"
#include "mime.h"
#include "proto.h"

#define S_PAGE 1000 /* responses per SURVEY_RESPONSES */

/* the query parameters, each at most once */
typedef struct {
    const char *campaign, *from, *to, *by, *format;
    const char *bad;    /* the first unknown or repeated parameter */
    int repeated;
} s_query_t;

/* s_arg - MHD's iterator over the query string: keep the known ones */
static enum MHD_Result s_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                             const char *value)
{
    (void)kind;
    s_query_t *q = cls;
    const char **slot = strcmp(key, "campaign") == 0 ? &q->campaign
                        : strcmp(key, "from") == 0   ? &q->from
                        : strcmp(key, "to") == 0     ? &q->to
                        : strcmp(key, "by") == 0     ? &q->by
                        : strcmp(key, "format") == 0 ? &q->format
                                                     : NULL;
    if (!q->bad && (!slot || *slot)) {
        q->bad = key;
        q->repeated = slot != NULL;
    }
    if (slot && !*slot)
        *slot = value ? value : "";
    return MHD_YES;
}

/* s_date_ok - 1 when s is a real calendar date YYYY-MM-DD */
static int s_date_ok(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1] && (m != 2 || d < 29 || leap);
}

/* s_bad - a 400 naming the parameter; returns NULL for the caller */
static json_t *s_bad(gateway_req_t *r, json_t *body, const char *code, const char *msg,
                     const char *field)
{
    gateway_error(r, 400, code, msg, field, -1);
    json_decref(body);
    return NULL;
}

/* s_filters - the request body for hark-survey from the query string, or
 * NULL having answered 400.  csv: the export, which has no "by" but may
 * have format=csv.  Caller decrefs. */
static json_t *s_filters(gateway_req_t *r, int csv)
{
    s_query_t q = {0};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, s_arg, &q);
    json_t *body = json_object();
    char msg[160];
    if (q.bad) {
        snprintf(msg, sizeof msg, q.repeated ? "%.64s is given more than once"
                                             : "unknown parameter %.64s; known: campaign, "
                                               "from, to, by, format",
                 q.bad);
        return s_bad(r, body, q.repeated ? "invalid_parameter" : "unknown_parameter", msg,
                     q.bad);
    }
    if (q.format && strcmp(q.format, "json") != 0 && strcmp(q.format, "csv") != 0)
        return s_bad(r, body, "invalid_parameter", "format must be json or csv", "format");
    if (q.campaign) {
        size_t n = strlen(q.campaign);
        if (n == 0 || n > 64 || !mime_utf8_valid(q.campaign, n))
            return s_bad(r, body, "invalid_parameter",
                         "campaign must be 1-64 characters of UTF-8", "campaign");
        json_object_set_new(body, "campaign", json_string(q.campaign));
    }
    if (q.from && !s_date_ok(q.from))
        return s_bad(r, body, "invalid_parameter", "from must be a date YYYY-MM-DD", "from");
    if (q.to && !s_date_ok(q.to))
        return s_bad(r, body, "invalid_parameter", "to must be a date YYYY-MM-DD", "to");
    if (q.from && q.to && strcmp(q.from, q.to) > 0)
        return s_bad(r, body, "invalid_parameter", "to is before from", "to");
    if (q.from)
        json_object_set_new(body, "from", json_string(q.from));
    if (q.to)
        json_object_set_new(body, "to", json_string(q.to));
    if (q.by && csv)
        return s_bad(r, body, "invalid_parameter", "the CSV export has no by", "by");
    if (q.by) {
        static const char *const bys[] = {"day", "week", "month", "locale", "campaign"};
        size_t i = 0;
        while (i < 5 && strcmp(q.by, bys[i]) != 0)
            i++;
        if (i == 5)
            return s_bad(r, body, "invalid_parameter",
                         "by must be day, week, month, locale or campaign", "by");
        json_object_set_new(body, "by", json_string(q.by));
    }
    return body;
}

/* The CSV stream: the rows already fetched wait in out; when they are
 * sent, the reader fetches the next page.  Owned by the MHD response
 * (s_csv_free). */
typedef struct {
    gateway_t *gw;
    json_t *filters;  /* SURVEY_RESPONSES body; "after" moves on */
    buf_t out;
    size_t sent;      /* bytes of out already handed to MHD */
    int done;         /* an empty page came: nothing after out */
} s_csv_t;

/* s_csv_read - MHD's content reader, on the connection's thread */
static ssize_t s_csv_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    s_csv_t *c = cls;
    while (c->sent == c->out.len) {
        if (c->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        buf_reset(&c->out);
        c->sent = 0;
        char got[48] = "";
        json_t *reply = gateway_call(c->gw, "survey", CMD_SURVEY_RESPONSES, c->filters,
                                       c->gw->conf.survey_timeout_ms, got);
        if (!reply || strcmp(got, CMD_SURVEY_RESPONSES_OK) != 0) {
            /* the status line is gone: cutting the body short is all that
             * tells the client the export is incomplete */
            log_warn("event=survey_csv_cut cmd=%s", got[0] ? got : "none");
            json_decref(reply);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        c->done = csv_responses(&c->out, reply) == 0;
        json_object_set(c->filters, "after", json_object_get(reply, "next"));
        json_decref(reply);
        if (buf_failed(&c->out))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = c->out.len - c->sent;
    if (n > max)
        n = max;
    memcpy(buf, c->out.data + c->sent, n);
    c->sent += n;
    return (ssize_t)n;
}

/* s_csv_free - the stream's free callback */
static void s_csv_free(void *cls)
{
    s_csv_t *c = cls;
    json_decref(c->filters);
    buf_free(&c->out);
    free(c);
}

/* s_csv - the export: the first page is asked for before answering, so a
 * hark-survey that is down is a 503, not a cut 200 */
static void s_csv(gateway_req_t *r, json_t *filters)
{
    json_object_set_new(filters, "after", json_integer(0));
    json_object_set_new(filters, "limit", json_integer(S_PAGE));
    json_t *first = gateway_ask(r, "survey", CMD_SURVEY_RESPONSES, filters,
                                r->gw->conf.survey_timeout_ms, CMD_SURVEY_RESPONSES_OK);
    if (!first) {
        json_decref(filters);
        return;
    }
    s_csv_t *c = calloc(1, sizeof *c);
    if (!c) {
        json_decref(first);
        json_decref(filters);
        gateway_error(r, 500, "internal", "out of memory", NULL, -1);
        return;
    }
    c->gw = r->gw;
    c->filters = filters;
    csv_header(&c->out);
    c->done = csv_responses(&c->out, first) == 0;
    json_object_set(filters, "after", json_object_get(first, "next"));
    json_decref(first);
    r->status = 200;
    r->content_type = "text/csv; charset=utf-8; header=present";
    r->disposition = "attachment; filename=\"nps-responses.csv\"";
    r->reader = s_csv_read;
    r->reader_cls = c;
    r->reader_free = s_csv_free;
}

/* s_report - both routes; csv from the path */
static void s_report(gateway_req_t *r, int csv)
{
    if (!gateway_bearer_ok(r, r->gw->admin_key))
        return;
    const char *format =
        MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "format");
    if (csv && format && strcmp(format, "csv") != 0) {
        gateway_error(r, 400, "invalid_parameter", "nps.csv is always CSV", "format", -1);
        return;
    }
    csv = csv || (format && strcmp(format, "csv") == 0);
    json_t *filters = s_filters(r, csv);
    if (!filters)
        return;
    if (csv) {
        s_csv(r, filters);
        return;
    }
    json_t *reply = gateway_ask(r, "survey", CMD_SURVEY_REPORT, filters,
                                r->gw->conf.survey_timeout_ms, CMD_SURVEY_REPORT_OK);
    json_decref(filters);
    if (!reply)
        return;
    gateway_json(r, 200, reply);
    json_decref(reply);
}

/* gateway_reports_nps - GET /v1/reports/nps (JSON, or CSV with format=csv) */
void gateway_reports_nps(gateway_req_t *r)
{
    s_report(r, 0);
}

/* gateway_reports_nps_csv - GET /v1/reports/nps.csv */
void gateway_reports_nps_csv(gateway_req_t *r)
{
    s_report(r, 1);
}

/* gateway_reports_reasons - GET /v1/reports/reasons */
void gateway_reports_reasons(gateway_req_t *r)
{
    if (!gateway_bearer_ok(r, r->gw->admin_key))
        return;
    json_t *req = json_object();
    static const char *const keys[] = {"from", "to", "kind", "team", NULL};
    if (gateway_cases_params(r, req, keys)) {
        json_decref(req);
        return;
    }
    char cmd[48] = "";
    json_t *reply =
        gateway_call(r->gw, "intake", CMD_INTAKE_REPORT, req, r->gw->conf.intake_timeout_ms, cmd);
    json_decref(req);
    gateway_relay(r, "intake", reply, cmd, CMD_INTAKE_REPORT_OK);
    json_decref(reply);
}
