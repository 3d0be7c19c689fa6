/*
 * hark_loop.c - `hark loop close` and `hark report loops`, with hark-loop
 * ([loop] control), which owns the feedback and who was told.
 *
 *   loop close --reason R --title T --message-file F [--since D] [--id ID]
 *              [--dry-run] [--json]
 *       checks the request as POST /v1/loops does (loop_check.c), asks
 *       hark-loop whether feedback was ever tagged R and who would hear
 *       (LOOP_PREVIEW); --dry-run prints that and one rendered email and
 *       stops there; otherwise appends loop.closed (by cli:$USER), which
 *       hark-loop applies.
 *   report loops [--reason R] [--json]
 *       LOOP_REPORT as a table, or its JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hark.h"
#include "keys.h"
#include "loop_check.h"
#include "proto.h"

#define S_MAX_MESSAGE (256 * 1024)

/* s_preview - LOOP_PREVIEW; the reply, or NULL after printing why (*rc
 * set: 1 hark-loop not answering, 2 refused or an unknown reason) */
static json_t *s_preview(cli_t *cli, const json_t *payload, int render, int *rc)
{
    const char *ep = config_get(cli->cfg, "loop", "control");
    json_t *req = loop_check_preview_body(payload, render);
    json_t *r = hark_ask(cli, ep, CMD_LOOP_PREVIEW, CMD_LOOP_PREVIEW_OK, req, "hark-loop",
                         "loop close", rc);
    json_decref(req);
    if (!r)
        return NULL;
    if (!json_is_true(json_object_get(r, "known"))) {
        fprintf(stderr, "hark: loop close: reason: unknown reason %s: no feedback has been "
                        "tagged with it and [intake] reasons does not define it\n",
                json_string_value(json_object_get(payload, "reason")));
        json_decref(r);
        *rc = 2;
        return NULL;
    }
    const char *lr = json_string_value(json_object_get(r, "loop_reason"));
    if (lr && strcmp(lr, json_string_value(json_object_get(payload, "reason"))) != 0) {
        fprintf(stderr, "hark: loop close: id: %s is a loop of reason %s: a loop closes one "
                        "reason\n", json_string_value(json_object_get(payload, "loop")), lr);
        json_decref(r);
        *rc = 2;
        return NULL;
    }
    return r;
}

/* s_print_preview - who would hear, and the sample email */
static void s_print_preview(const json_t *p)
{
    printf("dry run: nothing is sent or journaled\n");
    printf("loop %s, reason %s: %lld customer%s would hear", 
           json_string_value(json_object_get(p, "loop")) ? json_string_value(json_object_get(p, "loop")) : "-",
           json_string_value(json_object_get(p, "reason")),
           (long long)json_integer_value(json_object_get(p, "customers")),
           json_integer_value(json_object_get(p, "customers")) == 1 ? "" : "s");
    const char *k;
    json_t *v;
    const char *sep = " (";
    json_object_foreach(json_object_get(p, "locales"), k, v) {
        printf("%s%s %lld", sep, *k ? k : "default", (long long)json_integer_value(v));
        sep = ", ";
    }
    printf("%s\n", *sep == ',' ? ")" : "");
    sep = "skipped: ";
    json_object_foreach(json_object_get(p, "skipped"), k, v) {
        printf("%s%s %lld", sep, k, (long long)json_integer_value(v));
        sep = ", ";
    }
    if (*sep == ',')
        printf("\n");
    const json_t *s = json_object_get(p, "sample");
    if (s) {
        printf("\n--- the email to customer %s (%s) ---\nSubject: %s\n\n%s",
               json_string_value(json_object_get(s, "customer_id")),
               json_string_value(json_object_get(s, "locale")),
               json_string_value(json_object_get(s, "subject")),
               json_string_value(json_object_get(s, "text")));
    }
}

/* s_close - `hark loop close …` */
static int s_close(cli_t *cli)
{
    const char *reason = NULL, *title = NULL, *file = NULL, *since = NULL, *id = NULL;
    int dry = 0, as_json = 0;
    for (int i = 1; i < cli->argc; i++) {
        const char *o = cli->argv[i], *v = i + 1 < cli->argc ? cli->argv[i + 1] : NULL;
        const char **slot = strcmp(o, "--reason") == 0         ? &reason
                            : strcmp(o, "--title") == 0        ? &title
                            : strcmp(o, "--message-file") == 0 ? &file
                            : strcmp(o, "--since") == 0        ? &since
                            : strcmp(o, "--id") == 0           ? &id
                                                               : NULL;
        if (slot && v) {
            *slot = v;
            i++;
        } else if (strcmp(o, "--dry-run") == 0) {
            dry = 1;
        } else if (strcmp(o, "--json") == 0) {
            as_json = 1;
        } else {
            fprintf(stderr, "hark: loop close: unknown or incomplete argument %s\n", o);
            return 2;
        }
    }
    if (!file) {
        fprintf(stderr, "hark: loop close: --message-file is required (the announcement, "
                        "Markdown)\n");
        return 2;
    }
    size_t len = 0;
    char *message = hark_read_file(file, S_MAX_MESSAGE, &len);
    if (!message || len > S_MAX_MESSAGE) {
        if (message)
            fprintf(stderr, "hark: loop close: %s is too large\n", file);
        else
            fprintf(stderr, "hark: loop close: cannot read %s\n", file);
        free(message);
        return 2;
    }
    json_t *req = json_object();
    if (reason)
        json_object_set_new(req, "reason", json_string(reason));
    if (title)
        json_object_set_new(req, "title", json_string(title));
    json_t *ann = json_string(message);
    free(message);
    if (!ann) {
        fprintf(stderr, "hark: loop close: %s is not UTF-8 text\n", file);
        json_decref(req);
        return 2;
    }
    json_object_set_new(req, "announcement", ann);
    if (since)
        json_object_set_new(req, "since", json_string(since));
    if (id)
        json_object_set_new(req, "id", json_string(id));
    char by[80], field[128], msg[300];
    hark_by(by, sizeof by);
    json_t *payload = NULL;
    int bad = loop_check_request(req, 0, by, &payload, NULL, field, sizeof field, msg, sizeof msg);
    json_decref(req);
    if (bad) {
        fprintf(stderr, "hark: loop close: %s\n", msg);
        return 2;
    }
    int rc = 0;
    json_t *p = s_preview(cli, payload, dry, &rc);
    if (!p) {
        json_decref(payload);
        return rc;
    }
    if (dry) {
        if (as_json) {
            hark_print_json(p, JSON_COMPACT, "{}");
        } else {
            s_print_preview(p);
        }
        json_decref(p);
        json_decref(payload);
        return 0;
    }
    const char *lid = json_string_value(json_object_get(payload, "loop"));
    long long off = hark_journal_one(cli, EV_LOOP_CLOSED, lid, payload);
    if (off >= 0) {
        if (as_json)
            printf("{\"loop\":\"%s\",\"offset\":%lld,\"customers\":%lld}\n", lid, off,
                   (long long)json_integer_value(json_object_get(p, "customers")));
        else
            printf("loop %s closed (journal offset %lld): hark-loop tells %lld customer%s\n",
                   lid, off, (long long)json_integer_value(json_object_get(p, "customers")),
                   json_integer_value(json_object_get(p, "customers")) == 1 ? "" : "s");
        if (!as_json && json_integer_value(json_object_get(p, "feedback")) == 0)
            printf("no feedback carries reason %s yet: nobody was told (later feedback tagged "
                   "with it opens it again)\n", json_string_value(json_object_get(p, "reason")));
    }
    json_decref(p);
    json_decref(payload);
    return off >= 0 ? 0 : 1;
}

int hark_loop(cli_t *cli)
{
    if (cli->argc < 1 || strcmp(cli->argv[0], "close") != 0) {
        fprintf(stderr, "hark: loop needs close\n");
        return 2;
    }
    return s_close(cli);
}

/* s_nps - "before → after" of one group */
static const char *s_nps(const json_t *g, char *out, size_t len)
{
    const json_t *b = json_object_get(g, "before"), *a = json_object_get(g, "after");
    char bs[16] = "-", as[16] = "-";
    if (json_is_number(b))
        snprintf(bs, sizeof bs, "%.1f", json_number_value(b));
    if (json_is_number(a))
        snprintf(as, sizeof as, "%.1f", json_number_value(a));
    snprintf(out, len, "%s → %s", bs, as);
    return out;
}

/* s_loops_print - LOOP_REPORT_OK as a table, one line per reason */
static void s_loops_print(const json_t *r)
{
    printf("%-24s %8s %6s %5s %6s %6s  %-18s %-18s\n", "reason", "feedback", "open", "loops",
           "told", "days", "NPS told", "NPS not told");
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(r, "reasons"), i, row) {
#define N(k) ((long long)json_integer_value(json_object_get(row, (k))))
        char days[16] = "-", t[48], nt[48];
        const json_t *md = json_object_get(row, "median_days");
        if (json_is_number(md))
            snprintf(days, sizeof days, "%.1f", json_number_value(md));
        const json_t *nps = json_object_get(row, "nps");
        printf("%-24s %8lld %6lld %5lld %6lld %6s  %-18s %-18s\n",
               json_string_value(json_object_get(row, "reason")), N("feedback"), N("open"),
               N("loops"), N("told"), days, s_nps(json_object_get(nps, "told"), t, sizeof t),
               s_nps(json_object_get(nps, "not_told"), nt, sizeof nt));
#undef N
    }
    printf("\ndays: median from a piece of feedback to the email that told its author;\n"
           "NPS: latest survey answer before → after being told (not told: the reason's "
           "first loop)\n");
}

int hark_loop_report(cli_t *cli)
{
    json_t *body = json_object();
    int as_json = 0;
    for (int i = 1; i < cli->argc; i++) {
        if (strcmp(cli->argv[i], "--json") == 0) {
            as_json = 1;
        } else if (strcmp(cli->argv[i], "--reason") == 0 && i + 1 < cli->argc) {
            json_object_set_new(body, "reason", json_string(cli->argv[++i]));
        } else {
            fprintf(stderr, "hark: report loops: unknown or incomplete argument %s\n",
                    cli->argv[i]);
            json_decref(body);
            return 2;
        }
    }
    return hark_show(cli, config_get(cli->cfg, "loop", "control"), CMD_LOOP_REPORT,
                     CMD_LOOP_REPORT_OK, body, "hark-loop", "report loops", as_json,
                     s_loops_print);
}
