/*
 * console_import.c - CSV import and export for marketers and admins
 * (support gets 403, by the route table):
 *
 *   GET  /import               the upload form: a CSV file, customers or purchases
 *   POST /import               multipart/form-data (csrf, kind, file; at most
 *                              CONSOLE_IMPORT_MAX bytes): the file is read and
 *                              kept in memory as an import of its own, 303 to it
 *   GET  /import/ID            before it runs: the mapping (a select per Hark
 *                              field, pre-filled from the headers) and a
 *                              preview of the first rows, each bad cell named
 *                              beside it; running: a progress bar (the page
 *                              refreshes itself: no script needed); done: the
 *                              summary (imported, already there, rejected rows
 *                              with their reasons)
 *   POST /import/ID            do=check: keep the mapping, show the preview
 *                              again; do=run: start it
 *   GET  /export               the downloads
 *   GET  /export/customers.csv, /export/answers.csv   CSV (csv.c), from the
 *                              owners' copies: MILESTONE_CUSTOMERS, SURVEY_RESPONSES
 *
 * Reading, mapping, checking and keys are import.c's, the same as `hark
 * import`'s: a row is checked by its event's schema, and keyed by its
 * identity and content, so an import stopped by a crash (the imports live
 * in memory only) is simply uploaded and run again: what went in before is
 * "already there".  The rows are journaled by a timer on the main loop,
 * IMPORT_BATCH at a time and for at most S_SLICE_MS a turn, so the HTTP
 * threads that show the progress never wait on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "csv.h"
#include "console.h"
#include "import.h"
#include "jclient.h"
#include "log.h"
#include "proto.h"
#include "wire.h"

#define S_JOBS_MAX 16          /* imports kept in memory at once */
#define S_KEEP_MS (3600 * 1000) /* a finished or unstarted import is kept an hour */
#define S_PREVIEW_ROWS 10
#define S_REJECTS_MAX 500       /* rejected rows listed in the summary */
#define S_SLICE_MS 200          /* the longest a timer turn works */
#define S_TICK_MS 50

enum { S_MAPPING, S_RUNNING, S_DONE };

typedef struct {
    char id[CONSOLE_TOKEN_HEX + 1];
    char owner[CONSOLE_NAME_MAX + 1];
    char filename[128];
    int64_t touched;
    int state;
    import_kind_t kind;
    import_csv_t *csv;        /* immutable once read */
    import_map_t map;         /* changed only while S_MAPPING, under the lock */
    size_t done, fresh, dups, rejected;
    json_t *rejects;          /* [{row, problems}] */
    int failed;               /* the journal did not store a batch */
} s_job_t;

struct console_imports {
    pthread_mutex_t lock;
    s_job_t *jobs[S_JOBS_MAX];
    wire_client_t *journal;   /* the main loop's own */
    import_checker_t *ck[2];  /* per kind; schema_validate is thread-safe */
};

/* s_job_free - one import */
static void s_job_free(s_job_t **jp)
{
    if (!*jp)
        return;
    import_csv_destroy(&(*jp)->csv);
    json_decref((*jp)->rejects);
    free(*jp);
    *jp = NULL;
}

/* console_import_init - the checkers, the journal client, the timer */
static int s_tick(evloop_t *loop, void *arg);
int console_import_init(console_t *con, evloop_t *loop)
{
    struct console_imports *im = calloc(1, sizeof *im);
    if (!im)
        return -1;
    con->imports = im;
    pthread_mutex_init(&im->lock, NULL);
    char err[200];
    for (int k = 0; k < 2; k++)
        if (!(im->ck[k] = import_checker_new((import_kind_t)k, err, sizeof err))) {
            log_error("event=import_schema_failed error=\"%s\"", err);
            return -1;
        }
    im->journal = wire_client_new(con->zctx, con->conf.journal_endpoint);
    if (!im->journal || evloop_add_timer(loop, S_TICK_MS, s_tick, con) < 0)
        return -1;
    return 0;
}

/* console_import_fini - drop every import (one running stops here: its
 * rows so far are in, and a re-run skips them) */
void console_import_fini(console_t *con)
{
    struct console_imports *im = con->imports;
    if (!im)
        return;
    for (size_t i = 0; i < S_JOBS_MAX; i++)
        s_job_free(&im->jobs[i]);
    for (int k = 0; k < 2; k++)
        import_checker_destroy(&im->ck[k]);
    wire_client_destroy(&im->journal);
    pthread_mutex_destroy(&im->lock);
    free(im);
    con->imports = NULL;
}

/* s_problems - the bad cells of a row as one line */
static void s_problems(buf_t *b, const import_csv_t *csv, const import_bad_t *bad, int n)
{
    for (int i = 0; i < n && i < 8; i++) {
        char cn[16] = "-";
        const char *h = "";
        if (bad[i].col >= 0) {
            import_col_name((size_t)bad[i].col, cn, sizeof cn);
            h = import_csv_header(csv, (size_t)bad[i].col);
        }
        buf_printf(b, "%s%s \"%s\" (%s): %s", i ? "; " : "", cn, h ? h : "", bad[i].field,
                   bad[i].msg);
    }
}

/* s_slice - journal the next batches of job j (main loop, lock not held:
 * only this thread changes a running job's rows and counts, and it takes
 * the lock to publish them) */
static void s_slice(console_t *con, s_job_t *j)
{
    struct console_imports *im = con->imports;
    int64_t start = clock_now_ms();
    char now[40];
    clock_format(start, now, sizeof now);
    size_t rows = import_csv_rows(j->csv);
    while (clock_now_ms() - start < S_SLICE_MS) {
        json_t *events = json_array(), *rejects = json_array();
        size_t r = j->done, nrej = 0;
        for (; r < rows && json_array_size(events) < IMPORT_BATCH; r++) {
            json_t *p;
            import_bad_t bad[8];
            int nb = import_row(im->ck[j->kind], j->csv, &j->map, r, &p, bad, 8);
            if (nb) {
                nrej++;
                buf_t b = BUF_INIT;
                s_problems(&b, j->csv, bad, nb);
                json_array_append_new(rejects, json_pack("{s:I,s:s}", "row",
                                                         (json_int_t)import_row_number(r),
                                                         "problems", b.data ? b.data : ""));
                buf_free(&b);
                continue;
            }
            json_array_append_new(events, import_event(j->kind, p, now));
        }
        size_t fresh = 0, dups = 0;
        int failed = 0;
        if (json_array_size(events)) {
            char err[200];
            json_t *ok = jclient_append(im->journal, events, con->conf.journal_timeout_ms, err);
            if (!ok) {
                log_warn("event=import_append_failed import=%.8s error=\"%s\"", j->id, err);
                failed = 1;
            }
            size_t i;
            json_t *d;
            json_array_foreach(json_object_get(ok, "duplicates"), i, d) {
                if (json_is_true(d))
                    dups++;
                else
                    fresh++;
            }
            json_decref(ok);
        }
        json_decref(events);
        pthread_mutex_lock(&im->lock);
        if (!failed) {
            j->done = r;
            j->fresh += fresh;
            j->dups += dups;
            j->rejected += nrej;
            size_t i;
            json_t *x;
            json_array_foreach(rejects, i, x)
                if (json_array_size(j->rejects) < S_REJECTS_MAX)
                    json_array_append(j->rejects, x);
        }
        j->failed = failed;
        if (failed || j->done == rows) {
            j->state = S_DONE;
            j->touched = clock_now_ms();
            log_info("event=import_done import=%.8s user=%s kind=%s rows=%zu new=%zu "
                     "already=%zu rejected=%zu failed=%d",
                     j->id, j->owner, import_type(j->kind), rows, j->fresh, j->dups, j->rejected,
                     failed);
        }
        pthread_mutex_unlock(&im->lock);
        json_decref(rejects);
        if (j->state == S_DONE)
            return;
    }
}

/* s_tick - the running import's next slice; old imports go */
static int s_tick(evloop_t *loop, void *arg)
{
    (void)loop;
    console_t *con = arg;
    struct console_imports *im = con->imports;
    s_job_t *run = NULL;
    int64_t now = clock_now_ms();
    pthread_mutex_lock(&im->lock);
    for (size_t i = 0; i < S_JOBS_MAX; i++) {
        s_job_t *j = im->jobs[i];
        if (j && j->state != S_RUNNING && now - j->touched > S_KEEP_MS)
            s_job_free(&im->jobs[i]);
        else if (j && j->state == S_RUNNING && !run)
            run = j;
    }
    pthread_mutex_unlock(&im->lock);
    if (run)
        s_slice(con, run);
    return 0;
}

/* --- multipart/form-data ------------------------------------------------ */

/* console_multipart_get - see console.h */
int console_multipart_get(console_req_t *r, const char *name, const char **val, size_t *len,
                          char *filename, size_t flen)
{
    const char *ct = console_http_header(r, "Content-Type");
    if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0)
        return -1;
    const char *bp = strstr(ct, "boundary=");
    if (!bp)
        return -1;
    bp += 9;
    char boundary[120];
    size_t bl = *bp == '"' ? strcspn(bp + 1, "\"") : strcspn(bp, "; \t");
    if (bl == 0 || bl > 70)
        return -1;
    snprintf(boundary, sizeof boundary, "--%.*s", (int)bl, *bp == '"' ? bp + 1 : bp);
    bl += 2;
    const char *body = r->body.data, *end = body + r->body.len;
    if (!body)
        return 0;
    const char *p = memmem(body, r->body.len, boundary, bl);
    while (p) {
        p += bl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return 0; /* the closing boundary */
        const char *head_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!head_end)
            return 0;
        const char *content = head_end + 4;
        /* the part ends at CRLF and the next boundary */
        const char *next = content;
        for (;;) {
            next = memmem(next, (size_t)(end - next), boundary, bl);
            if (!next)
                return 0;
            if (next - content >= 2 && next[-2] == '\r' && next[-1] == '\n')
                break;
            next++;
        }
        char head[1024];
        size_t hl = (size_t)(head_end - p) < sizeof head - 1 ? (size_t)(head_end - p)
                                                            : sizeof head - 1;
        memcpy(head, p, hl);
        head[hl] = '\0';
        char want[140];
        snprintf(want, sizeof want, "name=\"%s\"", name);
        const char *cd = strcasestr(head, "Content-Disposition:");
        const char *nm = cd ? strstr(cd, want) : NULL;
        if (nm && (nm[-1] == ' ' || nm[-1] == ';')) {
            *val = content;
            *len = (size_t)(next - 2 - content);
            if (filename && flen) {
                const char *fn = strstr(cd, "filename=\"");
                size_t fl = fn ? strcspn(fn + 10, "\"\r\n") : 0;
                snprintf(filename, flen, "%.*s", (int)fl, fn ? fn + 10 : "");
            }
            return 1;
        }
        p = next;
    }
    return 0;
}

/* --- pages ---------------------------------------------------------------- */

/* s_form - the upload form, with an error beside the file when err */
static void s_form(console_req_t *r, unsigned status, const char *err, const char *detail)
{
    json_t *ctx = json_object();
    if (err)
        json_object_set_new(ctx, "error", json_pack("{s:s,s:s}", "text", console_word(r, err),
                                                    "detail", detail ? detail : ""));
    console_page(r, status, "import", "imp_title", ctx);
}

void console_import_form(console_req_t *r)
{
    s_form(r, 200, NULL, NULL);
}

/* console_import_upload - POST /import */
void console_import_upload(console_req_t *r)
{
    struct console_imports *im = r->con->imports;
    const char *kv = NULL, *data = NULL;
    size_t kl = 0, dl = 0;
    char filename[128] = "", kind_s[16] = "";
    if (console_multipart_get(r, "kind", &kv, &kl, NULL, 0) == 1)
        snprintf(kind_s, sizeof kind_s, "%.*s", (int)(kl < 15 ? kl : 15), kv);
    int kind = import_kind(kind_s);
    if (console_multipart_get(r, "file", &data, &dl, filename, sizeof filename) != 1 || dl == 0) {
        s_form(r, 400, "imp_no_file", NULL);
        return;
    }
    if (kind < 0) {
        s_form(r, 400, "imp_kind", NULL);
        return;
    }
    char err[300];
    import_csv_t *csv = import_csv_new(data, dl, err, sizeof err);
    if (!csv) {
        s_form(r, 400, "imp_bad_file", err);
        return;
    }
    s_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        import_csv_destroy(&csv);
        console_page_error(r, 503);
        return;
    }
    console_token(j->id);
    j->id[32] = '\0'; /* 128 bits are plenty for a path */
    snprintf(j->owner, sizeof j->owner, "%s", r->user.name);
    snprintf(j->filename, sizeof j->filename, "%s", filename);
    j->kind = (import_kind_t)kind;
    j->csv = csv;
    j->rejects = json_array();
    j->touched = clock_now_ms();
    import_map_auto(&j->map, j->kind, csv);
    pthread_mutex_lock(&im->lock);
    size_t slot = S_JOBS_MAX;
    for (size_t i = 0; i < S_JOBS_MAX && slot == S_JOBS_MAX; i++)
        if (!im->jobs[i])
            slot = i;
    for (size_t i = 0; i < S_JOBS_MAX && slot == S_JOBS_MAX; i++) /* the oldest idle one goes */
        if (im->jobs[i]->state != S_RUNNING &&
            (slot == S_JOBS_MAX || im->jobs[i]->touched < im->jobs[slot]->touched))
            slot = i;
    if (slot < S_JOBS_MAX) {
        s_job_free(&im->jobs[slot]);
        im->jobs[slot] = j;
    }
    pthread_mutex_unlock(&im->lock);
    if (slot == S_JOBS_MAX) {
        s_job_free(&j);
        console_page_error(r, 503);
        return;
    }
    log_info("event=import_uploaded import=%.8s user=%s kind=%s rows=%zu bytes=%zu", j->id,
             r->user.name, import_type(j->kind), import_csv_rows(csv), dl);
    char path[80];
    snprintf(path, sizeof path, "/import/%s", j->id);
    console_redirect(r, path);
}

/* s_find - the import of path /import/ID, the caller's own (lock held); NULL */
static s_job_t *s_find(console_req_t *r)
{
    struct console_imports *im = r->con->imports;
    const char *id = r->url + strlen("/import/");
    for (size_t i = 0; i < S_JOBS_MAX; i++) {
        s_job_t *j = im->jobs[i];
        if (j && strcmp(j->id, id) == 0 && strcmp(j->owner, r->user.name) == 0)
            return j;
    }
    return NULL;
}

/* s_mapping_ctx - the selects and the preview of job j (lock held) */
static void s_mapping_ctx(console_req_t *r, s_job_t *j, json_t *ctx)
{
    struct console_imports *im = r->con->imports;
    size_t nf, nc = import_csv_cols(j->csv), rows = import_csv_rows(j->csv);
    const char *const *f = import_fields(j->kind, &nf);
    json_t *fields = json_array(), *head = json_array(), *prev = json_array();
    for (size_t i = 0; i < nf; i++) {
        json_t *opts = json_array();
        json_array_append_new(opts, json_pack("{s:s,s:s,s:b}", "value", "", "label",
                                              console_word(r, "imp_not_imported"), "selected",
                                              j->map.col[i] < 0));
        for (size_t c = 0; c < nc; c++) {
            char cn[16], v[24], label[300];
            import_col_name(c, cn, sizeof cn);
            snprintf(v, sizeof v, "%zu", c);
            snprintf(label, sizeof label, "%s: %s", cn, import_csv_header(j->csv, c));
            json_array_append_new(opts, json_pack("{s:s,s:s,s:b}", "value", v, "label", label,
                                                  "selected", j->map.col[i] == (int)c));
        }
        json_array_append_new(fields, json_pack("{s:s,s:b,s:o}", "name", f[i], "required",
                                                import_required(j->kind, f[i]), "options", opts));
    }
    for (size_t c = 0; c < nc; c++) {
        char cn[16];
        import_col_name(c, cn, sizeof cn);
        json_array_append_new(head, json_pack("{s:s,s:s}", "letter", cn, "name",
                                              import_csv_header(j->csv, c)));
    }
    for (size_t r2 = 0; r2 < rows && r2 < S_PREVIEW_ROWS; r2++) {
        json_t *cells = json_array(), *p = NULL;
        for (size_t c = 0; c < nc; c++) {
            const char *v = import_csv_cell(j->csv, r2, c);
            json_array_append_new(cells, json_pack("{s:s}", "v", v ? v : ""));
        }
        import_bad_t bad[8];
        int nb = import_row(im->ck[j->kind], j->csv, &j->map, r2, &p, bad, 8);
        json_decref(p);
        buf_t b = BUF_INIT;
        s_problems(&b, j->csv, bad, nb);
        json_array_append_new(prev, json_pack("{s:I,s:o,s:b,s:s}", "row",
                                              (json_int_t)import_row_number(r2), "cells", cells,
                                              "bad", nb > 0, "problems", b.data ? b.data : ""));
        buf_free(&b);
    }
    json_object_set_new(ctx, "mapping", json_true());
    json_object_set_new(ctx, "fields", fields);
    json_object_set_new(ctx, "head", head);
    json_object_set_new(ctx, "preview", prev);
}

/* console_import_show - GET /import/ID */
void console_import_show(console_req_t *r)
{
    struct console_imports *im = r->con->imports;
    pthread_mutex_lock(&im->lock);
    s_job_t *j = s_find(r);
    if (!j) {
        pthread_mutex_unlock(&im->lock);
        console_page_error(r, 404);
        return;
    }
    size_t rows = import_csv_rows(j->csv);
    json_t *ctx = json_pack("{s:s,s:s,s:s,s:I}", "id", j->id, "filename", j->filename,
                            "kind_word",
                            console_word(r, j->kind == IMPORT_PURCHASES ? "imp_kind_purchases"
                                                                         : "imp_kind_customers"),
                            "rows", (json_int_t)rows);
    const char *title = "imp_map_title";
    if (j->state == S_MAPPING) {
        const char *e = console_http_arg(r, "error");
        if (e && strcmp(e, "required") == 0)
            json_object_set_new(ctx, "error", json_string(console_word(r, "imp_missing_required")));
        s_mapping_ctx(r, j, ctx);
    } else if (j->state == S_RUNNING) {
        title = "imp_running";
        json_object_set_new(ctx, "running", json_true());
        json_object_set_new(ctx, "refresh", json_true());
        json_object_set_new(ctx, "done", json_integer((json_int_t)j->done));
        json_object_set_new(ctx, "percent",
                            json_integer(rows ? (json_int_t)(j->done * 100 / rows) : 100));
    } else {
        title = "imp_done_title";
        json_object_set_new(ctx, "finished", json_true());
        json_object_set_new(ctx, "failed", json_boolean(j->failed));
        json_object_set_new(ctx, "done", json_integer((json_int_t)j->done));
        json_object_set_new(ctx, "fresh", json_integer((json_int_t)j->fresh));
        json_object_set_new(ctx, "dups", json_integer((json_int_t)j->dups));
        json_object_set_new(ctx, "rejected", json_integer((json_int_t)j->rejected));
        json_object_set_new(ctx, "rejects", json_deep_copy(j->rejects));
        json_object_set_new(ctx, "has_rejects", json_boolean(json_array_size(j->rejects) > 0));
    }
    j->touched = clock_now_ms();
    pthread_mutex_unlock(&im->lock);
    console_page(r, 200, "import_job", title, ctx);
}

/* console_import_post - POST /import/ID: the mapping, then check or run */
void console_import_post(console_req_t *r)
{
    struct console_imports *im = r->con->imports;
    char doit[16] = "", v[16];
    console_form_get(r->body.data, r->body.len, "do", 0, doit, sizeof doit);
    pthread_mutex_lock(&im->lock);
    s_job_t *j = s_find(r);
    if (!j) {
        pthread_mutex_unlock(&im->lock);
        console_page_error(r, 404);
        return;
    }
    char path[120];
    snprintf(path, sizeof path, "/import/%s", j->id);
    if (j->state != S_MAPPING) { /* a second click: it runs already */
        pthread_mutex_unlock(&im->lock);
        console_redirect(r, path);
        return;
    }
    size_t nf, nc = import_csv_cols(j->csv);
    const char *const *f = import_fields(j->kind, &nf);
    for (size_t i = 0; i < nf; i++) {
        char name[48];
        snprintf(name, sizeof name, "f_%s", f[i]);
        if (console_form_get(r->body.data, r->body.len, name, 0, v, sizeof v) != 1) {
            j->map.col[i] = -1;
            continue;
        }
        char *e;
        long c = strtol(v, &e, 10);
        j->map.col[i] = *v && !*e && c >= 0 && (size_t)c < nc ? (int)c : -1;
    }
    char err[200];
    int ok = import_map_check(&j->map, err, sizeof err) == 0;
    if (strcmp(doit, "run") == 0 && ok) {
        j->state = S_RUNNING;
        log_info("event=import_started import=%.8s user=%s kind=%s rows=%zu", j->id, j->owner,
                 import_type(j->kind), import_csv_rows(j->csv));
    } else if (!ok) {
        snprintf(path, sizeof path, "/import/%s?error=required", j->id);
    }
    j->touched = clock_now_ms();
    pthread_mutex_unlock(&im->lock);
    console_redirect(r, path);
}

/* console_export_page - GET /export */
void console_export_page(console_req_t *r)
{
    console_page(r, 200, "export", "exp_title", NULL);
}

/* s_export_customers - every customer of hark-milestone's copy into b; 0/-1 */
static int s_export_customers(console_t *con, wire_client_t *c, buf_t *b)
{
    static const char *const cols[] = {"id",       "email",    "name",       "locale",
                                       "timezone", "birthday", "signup_date"};
    const size_t ncols = sizeof cols / sizeof *cols;
    for (size_t i = 0; i < ncols; i++)
        csv_cell(b, cols[i], i + 1 == ncols);
    char after[300] = "";
    for (;;) {
        json_t *req = json_pack("{s:s,s:i}", "after", after, "limit", 2000);
        char cmd[48] = "";
        json_t *rep = wire_client_call_json(c, CMD_MILESTONE_CUSTOMERS, req,
                                            con->conf.intake_timeout_ms, cmd);
        json_decref(req);
        if (!rep || strcmp(cmd, CMD_MILESTONE_CUSTOMERS_OK) != 0) {
            json_decref(rep);
            return -1;
        }
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(rep, "customers"), i, row)
            for (size_t k = 0; k < ncols; k++)
                csv_cell(b, json_string_value(json_object_get(row, cols[k])), k + 1 == ncols);
        const char *next = json_string_value(json_object_get(rep, "next"));
        if (next)
            snprintf(after, sizeof after, "%s", next);
        json_decref(rep);
        if (!next)
            return 0;
    }
}

/* s_export_answers - every survey answer into b, as hark report nps --csv; 0/-1 */
static int s_export_answers(console_t *con, wire_client_t *c, buf_t *b)
{
    csv_header(b);
    json_int_t after = 0;
    for (;;) {
        json_t *req = json_pack("{s:I,s:i}", "after", after, "limit", 2000);
        char cmd[48] = "";
        json_t *rep = wire_client_call_json(c, CMD_SURVEY_RESPONSES, req,
                                            con->conf.intake_timeout_ms, cmd);
        json_decref(req);
        if (!rep || strcmp(cmd, CMD_SURVEY_RESPONSES_OK) != 0) {
            json_decref(rep);
            return -1;
        }
        size_t n = csv_responses(b, rep);
        after = json_integer_value(json_object_get(rep, "next"));
        json_decref(rep);
        if (n == 0)
            return 0;
    }
}

/* console_export_csv - GET /export/customers.csv, /export/answers.csv */
void console_export_csv(console_req_t *r)
{
    console_t *con = r->con;
    const char *what = r->url + strlen("/export/");
    int customers = strcmp(what, "customers.csv") == 0;
    if (!customers && strcmp(what, "answers.csv") != 0) {
        console_page_error(r, 404);
        return;
    }
    /* a request's own client: exports are rare, and a page of thousands
     * of rows costs far more than a connect */
    wire_client_t *c = wire_client_new(con->zctx, config_get(con->cfg, customers ? "milestone"
                                                                                 : "survey",
                                                             "control"));
    buf_t b = BUF_INIT;
    int rc = c ? (customers ? s_export_customers(con, c, &b) : s_export_answers(con, c, &b)) : -1;
    wire_client_destroy(&c);
    if (rc || buf_failed(&b)) {
        buf_free(&b);
        console_page_error(r, 503);
        return;
    }
    log_info("event=exported user=%s what=%s bytes=%zu", r->user.name, what, b.len);
    buf_reset(&r->out);
    buf_append(&r->out, b.data ? b.data : "", b.len);
    buf_free(&b);
    r->status = 200;
    r->content_type = "text/csv; charset=utf-8";
    char cd[80];
    snprintf(cd, sizeof cd, "attachment; filename=\"%s\"", what);
    console_header(r, "Content-Disposition", cd);
}
