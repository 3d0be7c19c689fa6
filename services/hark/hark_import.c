/*
 * hark_import.c - `hark import customers|purchases FILE.csv` and `hark
 * export customers|answers`.
 *
 * An import reads the whole file (import.c: the same reading, mapping,
 * checking and keys as hark-console's /import), names every bad cell by
 * row and column, and journals the good rows IMPORT_BATCH at a time, each
 * keyed by its identity and content: a second run of the same file stores
 * nothing ("0 new, N already imported"), and an import cut short is simply
 * run again.  The services apply the rows as they apply events from POST
 * /v1/events (a purchase asks for its survey invite the same way).
 *
 * Exit codes (hark(1)): 0 every row is in the journal (new or already
 * there; with --check: no bad cell); 1 the journal did not answer or
 * refused (the rows sent before are in; run again); 2 a usage error, or the
 * file cannot be read, is not CSV, or lacks a required column; 3 some rows
 * have bad cells (listed; the others were imported unless --check).
 *
 * An export pages through the owner's own copy (hark-milestone's customers,
 * hark-survey's answers) and writes CSV (csv.c: a header row, UTF-8,
 * formula-looking cells kept as text with a leading ').
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "csv.h"
#include "hark.h"
#include "import.h"
#include "jclient.h"
#include "proto.h"
#include "wire.h"

#define HARK_IMPORT_MAX (1024L * 1024 * 1024) /* bytes of CSV, at most */
#define HARK_IMPORT_TIMEOUT_MS 30000
#define HARK_IMPORT_BAD_MAX 16                /* bad cells named per row */

/* s_progress - the bar on a terminal, else a plain line every tenth */
static void s_progress(int tty, size_t done, size_t total, size_t *last_tenth)
{
    if (total == 0)
        return;
    if (tty) {
        int w = 30, fill = (int)(done * (size_t)w / total);
        fprintf(stderr, "\r[%.*s%*s] %3d%% %zu/%zu rows", fill,
                "##############################", w - fill, "", (int)(done * 100 / total),
                done, total);
        if (done == total)
            fputc('\n', stderr);
        fflush(stderr);
        return;
    }
    size_t tenth = done * 10 / total;
    if (tenth > *last_tenth || done == total) {
        *last_tenth = tenth;
        fprintf(stderr, "hark: import: %zu/%zu rows sent\n", done, total);
    }
}

/* s_append - one batch to the journal, tried again while it is worth it
 * (the keys make a retry safe); adds to *fresh and *dups; 0/-1 said why */
static int s_append(wire_client_t *jc, json_t *events, size_t *fresh, size_t *dups)
{
    char err[200] = "";
    for (int attempt = 0; attempt < 5; attempt++) {
        json_t *ok = jclient_append(jc, events, HARK_IMPORT_TIMEOUT_MS, err);
        if (ok) {
            size_t i;
            json_t *d;
            json_array_foreach(json_object_get(ok, "duplicates"), i, d) {
                if (json_is_true(d))
                    (*dups)++;
                else
                    (*fresh)++;
            }
            json_decref(ok);
            return 0;
        }
        if (errno == EBADMSG)
            break;
        usleep(200000u << attempt);
    }
    fprintf(stderr, "hark: import: the journal did not store a batch: %s\n", err);
    return -1;
}

/* s_print_map - which column feeds which field, and the columns left out */
static void s_print_map(const import_map_t *m, const import_csv_t *csv)
{
    size_t nf, nc = import_csv_cols(csv);
    const char *const *f = import_fields(m->kind, &nf);
    char used[256] = {0};
    printf("columns:");
    for (size_t i = 0; i < nf; i++) {
        if (m->col[i] < 0)
            continue;
        char cn[16];
        import_col_name((size_t)m->col[i], cn, sizeof cn);
        printf(" %s=%s \"%s\"", f[i], cn, import_csv_header(csv, (size_t)m->col[i]));
        if (m->col[i] < 256)
            used[m->col[i]] = 1;
    }
    printf("\n");
    for (size_t c = 0; c < nc && c < 256; c++)
        if (!used[c]) {
            char cn[16];
            import_col_name(c, cn, sizeof cn);
            printf("not imported: column %s \"%s\"\n", cn, import_csv_header(csv, c));
        }
}

/* s_import - hark import KIND FILE [--map SPEC]... [--check] [--batch N] */
static int s_import(cli_t *cli)
{
    int kind = cli->argc > 0 ? import_kind(cli->argv[0]) : -1;
    const char *file = NULL;
    int check = 0;
    long batch = IMPORT_BATCH;
    const char *maps[32];
    int nmaps = 0;
    for (int i = 1; i < cli->argc; i++) {
        const char *o = cli->argv[i];
        if (strcmp(o, "--check") == 0 || strcmp(o, "--dry-run") == 0)
            check = 1;
        else if (strcmp(o, "--map") == 0 && i + 1 < cli->argc && nmaps < 32)
            maps[nmaps++] = cli->argv[++i];
        else if (strcmp(o, "--batch") == 0 && i + 1 < cli->argc) {
            char *e;
            batch = strtol(cli->argv[++i], &e, 10);
            if (*e || batch < 1 || batch > 20000) {
                fprintf(stderr, "hark: import: --batch takes 1 to 20000\n");
                return 2;
            }
        } else if (o[0] != '-' && !file)
            file = o;
        else {
            fprintf(stderr, "hark: import: unknown argument %s\n", o);
            return 2;
        }
    }
    if (kind < 0 || !file) {
        fprintf(stderr, "usage: hark import customers|purchases FILE.csv [--map field=Column,...]"
                        " [--check] [--batch N]\n");
        return 2;
    }
    size_t len = 0;
    char *data = hark_read_file(file, (size_t)HARK_IMPORT_MAX, &len);
    if (!data) {
        fprintf(stderr, "hark: import: cannot read %s: %s\n", file, strerror(errno));
        return 2;
    }
    if (len > (size_t)HARK_IMPORT_MAX) {
        fprintf(stderr, "hark: import: %s is larger than %ld bytes\n", file, HARK_IMPORT_MAX);
        free(data);
        return 2;
    }
    char err[400];
    import_csv_t *csv = import_csv_new(data, len, err, sizeof err);
    free(data);
    if (!csv) {
        fprintf(stderr, "hark: import: %s: %s\n", file, err);
        return 2;
    }
    import_map_t map;
    import_map_auto(&map, (import_kind_t)kind, csv);
    for (int i = 0; i < nmaps; i++)
        if (import_map_set(&map, csv, maps[i], err, sizeof err)) {
            fprintf(stderr, "hark: import: %s\n", err);
            import_csv_destroy(&csv);
            return 2;
        }
    if (import_map_check(&map, err, sizeof err)) {
        fprintf(stderr, "hark: import: %s: %s; name it with --map\n", file, err);
        s_print_map(&map, csv);
        import_csv_destroy(&csv);
        return 2;
    }
    import_checker_t *ck = import_checker_new((import_kind_t)kind, err, sizeof err);
    if (!ck) {
        fprintf(stderr, "hark: import: %s\n", err);
        import_csv_destroy(&csv);
        return 1;
    }
    if (check)
        s_print_map(&map, csv);
    const char *ep = config_get(cli->cfg, "journal", "endpoint");
    wire_client_t *jc = check ? NULL : wire_client_new(cli->zctx, ep);
    if (!check && !jc) {
        fprintf(stderr, "hark: import: cannot connect to the journal on %s\n", ep);
        import_checker_destroy(&ck);
        import_csv_destroy(&csv);
        return 1;
    }
    size_t rows = import_csv_rows(csv), bad_rows = 0, fresh = 0, dups = 0, sent = 0;
    size_t tenth = 0;
    int tty = !check && isatty(STDERR_FILENO), failed = 0;
    char now[40];
    clock_format(clock_now_ms(), now, sizeof now);
    json_t *events = json_array();
    import_bad_t bad[HARK_IMPORT_BAD_MAX];
    for (size_t r = 0; r < rows && !failed; r++) {
        json_t *payload;
        int nb = import_row(ck, csv, &map, r, &payload, bad, HARK_IMPORT_BAD_MAX);
        if (nb) {
            bad_rows++;
            if (tty)
                fputs("\r\033[K", stderr);
            for (int b = 0; b < nb && b < HARK_IMPORT_BAD_MAX; b++) {
                char cn[16] = "-";
                const char *h = "";
                if (bad[b].col >= 0) {
                    import_col_name((size_t)bad[b].col, cn, sizeof cn);
                    h = import_csv_header(csv, (size_t)bad[b].col);
                }
                printf("row %zu, column %s \"%s\" (%s): %s\n", import_row_number(r), cn,
                       h ? h : "", bad[b].field, bad[b].msg);
            }
            continue;
        }
        if (check) {
            json_decref(payload);
            continue;
        }
        json_array_append_new(events, import_event((import_kind_t)kind, payload, now));
        if (json_array_size(events) >= (size_t)batch) {
            sent += json_array_size(events);
            failed = s_append(jc, events, &fresh, &dups) != 0;
            json_array_clear(events);
            s_progress(tty, sent + bad_rows, rows, &tenth);
        }
    }
    if (!failed && json_array_size(events)) {
        sent += json_array_size(events);
        failed = s_append(jc, events, &fresh, &dups) != 0;
    }
    if (!check && !failed)
        s_progress(tty, rows, rows, &tenth);
    fflush(stdout);
    json_decref(events);
    wire_client_destroy(&jc);
    import_checker_destroy(&ck);
    import_csv_destroy(&csv);
    if (check) {
        printf("%zu rows: %zu good, %zu with bad cells (nothing imported: --check)\n", rows,
               rows - bad_rows, bad_rows);
        return bad_rows ? 3 : 0;
    }
    printf("%zu new, %zu already imported, %zu rejected (rows with bad cells), of %zu rows\n",
           fresh, dups, bad_rows, rows);
    if (failed) {
        fprintf(stderr, "hark: import: stopped; run the same command again to finish (rows "
                        "imported already are not imported twice)\n");
        return 1;
    }
    return bad_rows ? 3 : 0;
}

/* s_out - the export's destination: --output FILE or standard output */
static FILE *s_out(const char *path)
{
    if (!path || strcmp(path, "-") == 0)
        return stdout;
    FILE *f = fopen(path, "wb");
    if (!f)
        fprintf(stderr, "hark: export: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

/* s_export_customers - every customer hark-milestone keeps */
static int s_export_customers(cli_t *cli, FILE *out)
{
    static const char *const cols[] = {"id",       "email",    "name",       "locale",
                                       "timezone", "birthday", "signup_date"};
    const size_t ncols = sizeof cols / sizeof *cols;
    const char *ep = config_get(cli->cfg, "milestone", "control");
    buf_t b = BUF_INIT;
    for (size_t c = 0; c < ncols; c++)
        csv_cell(&b, cols[c], c + 1 == ncols);
    char after[300] = "";
    int rc = 0;
    for (;;) {
        fwrite(b.data, 1, b.len, out);
        buf_reset(&b);
        json_t *req = json_pack("{s:s,s:i}", "after", after, "limit", 2000);
        char cmd[48] = "";
        json_t *r = hark_call(cli, ep, CMD_MILESTONE_CUSTOMERS, req, cmd);
        json_decref(req);
        if (!r || strcmp(cmd, CMD_MILESTONE_CUSTOMERS_OK) != 0) {
            fprintf(stderr, "hark: export: the milestone service does not answer on %s\n", ep);
            json_decref(r);
            rc = 1;
            break;
        }
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(r, "customers"), i, row) {
            for (size_t c = 0; c < ncols; c++)
                csv_cell(&b, json_string_value(json_object_get(row, cols[c])), c + 1 == ncols);
        }
        const char *next = json_string_value(json_object_get(r, "next"));
        if (!next) {
            fwrite(b.data, 1, b.len, out);
            json_decref(r);
            break;
        }
        snprintf(after, sizeof after, "%s", next);
        json_decref(r);
    }
    buf_free(&b);
    return rc;
}

/* hark_import - `hark import ...` */
int hark_import(cli_t *cli)
{
    return s_import(cli);
}

/* hark_export - `hark export customers|answers [--output FILE] [filters]` */
int hark_export(cli_t *cli)
{
    const char *what = cli->argc > 0 ? cli->argv[0] : "", *path = NULL;
    json_t *filters = json_object();
    for (int i = 1; i < cli->argc; i++) {
        const char *o = cli->argv[i];
        const char *key = strcmp(o, "--campaign") == 0 ? "campaign"
                          : strcmp(o, "--from") == 0   ? "from"
                          : strcmp(o, "--to") == 0     ? "to"
                                                       : NULL;
        if ((strcmp(o, "--output") == 0 || strcmp(o, "-o") == 0) && i + 1 < cli->argc) {
            path = cli->argv[++i];
        } else if (key && i + 1 < cli->argc && strcmp(what, "answers") == 0) {
            json_object_set_new(filters, key, json_string(cli->argv[++i]));
        } else {
            fprintf(stderr, "hark: export: unknown argument %s\n", o);
            json_decref(filters);
            return 2;
        }
    }
    if (strcmp(what, "customers") != 0 && strcmp(what, "answers") != 0) {
        fprintf(stderr, "usage: hark export customers|answers [--output FILE]\n"
                        "       hark export answers [--campaign C] [--from D] [--to D]\n");
        json_decref(filters);
        return 2;
    }
    FILE *out = s_out(path);
    if (!out) {
        json_decref(filters);
        return 2;
    }
    int rc = strcmp(what, "customers") == 0 ? s_export_customers(cli, out)
                                            : hark_report_csv(cli, filters, out);
    json_decref(filters);
    if (out != stdout && fclose(out) != 0) {
        fprintf(stderr, "hark: export: cannot write %s\n", path);
        rc = 1;
    }
    return rc;
}
