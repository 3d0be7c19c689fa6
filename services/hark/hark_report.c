/*
 * hark_report.c - `hark report nps`: the NPS report from hark-survey
 * (SURVEY_REPORT on [survey] control), as a table with a bar chart of NPS
 * per period, or as the reply's JSON with --json; --csv exports the
 * responses themselves (SURVEY_RESPONSES).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "hark.h"
#include "proto.h"
#include "utf8.h"

/* s_num - a number or null as text */
static const char *s_num(const json_t *v, const char *suffix, char *buf, size_t len)
{
    if (!json_is_number(v))
        return "-";
    snprintf(buf, len, "%.1f%s", json_number_value(v), suffix);
    return buf;
}

/* s_bar - NPS -100..100 as a bar around a centre line, 20 cells a side */
static void s_bar(const json_t *nps, char *out, size_t len)
{
    char left[21 * 3 + 1] = "", right[21 * 3 + 1] = "";
    if (json_is_number(nps)) {
        double v = json_number_value(nps);
        int cells = (int)lround(fabs(v) / 5.0);
        char *side = v < 0 ? left : right;
        for (int i = 0; i < cells && i < 20; i++)
            strcat(side, "█");
    }
    /* the left half is right-aligned: pad with spaces */
    size_t used = utf8_count(left, strlen(left));
    snprintf(out, len, "%*s%s|%s", (int)(20 - used), "", left, right);
}

/* hark_report_csv - see hark.h */
int hark_report_csv(cli_t *cli, json_t *filters, FILE *f)
{
    const char *ep = config_get(cli->cfg, "survey", "control");
    json_object_del(filters, "by");
    buf_t out = BUF_INIT;
    csv_header(&out);
    json_int_t after = 0;
    for (;;) {
        fwrite(out.data, 1, out.len, f);
        buf_reset(&out);
        json_object_set_new(filters, "after", json_integer(after));
        char cmd[48] = "";
        json_t *r = hark_call(cli, ep, CMD_SURVEY_RESPONSES, filters, cmd);
        if (!r || strcmp(cmd, CMD_SURVEY_RESPONSES_OK) != 0) {
            fprintf(stderr, "hark: the survey service does not answer on %s\n", ep);
            json_decref(r);
            buf_free(&out);
            return 1;
        }
        size_t n = csv_responses(&out, r);
        after = json_integer_value(json_object_get(r, "next"));
        json_decref(r);
        if (n == 0) {
            buf_free(&out);
            return 0;
        }
    }
}

/* s_nps_print - SURVEY_REPORT_OK as totals, then a bar per period */
static void s_nps_print(const json_t *r)
{
    json_t *t = json_object_get(r, "totals");
    char a[32], b[32], c[32];
#define N(o, k) ((long long)json_integer_value(json_object_get((o), (k))))
    printf("NPS %s   responses %lld   promoters %lld · passives %lld · detractors %lld\n",
           s_num(json_object_get(t, "nps"), "", a, sizeof a), N(t, "responses"),
           N(t, "promoters"), N(t, "passives"), N(t, "detractors"));
    printf("invites sent %lld   delivered %lld   throttled %lld   suppressed %lld\n",
           N(t, "sent"), N(t, "delivered"), N(t, "throttled"), N(t, "suppressed"));
    printf("response rate %s   comment rate %s\n\n",
           s_num(json_object_get(t, "response_rate"), "%", b, sizeof b),
           s_num(json_object_get(t, "comment_rate"), "%", c, sizeof c));
    printf("%-12s %6s %5s %5s  %-20s%-21s\n", json_string_value(json_object_get(r, "by")),
           "NPS", "resp", "sent", "-100", "0                +100");
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(r, "series"), i, row) {
        char bar[200];
        s_bar(json_object_get(row, "nps"), bar, sizeof bar);
        printf("%-12s %6s %5lld %5lld  %s\n", json_string_value(json_object_get(row, "period")),
               s_num(json_object_get(row, "nps"), "", a, sizeof a), N(row, "responses"),
               N(row, "sent"), bar);
    }
#undef N
}

/* s_nps - `hark report nps [--campaign C] [--from D] [--to D] [--by B] [--json|--csv]` */
static int s_nps(cli_t *cli)
{
    json_t *body = json_object();
    int as_json = 0, as_csv = 0;
    for (int i = 1; i < cli->argc; i++) {
        const char *o = cli->argv[i], *v = i + 1 < cli->argc ? cli->argv[i + 1] : NULL;
        if (strcmp(o, "--json") == 0) {
            as_json = 1;
        } else if (strcmp(o, "--csv") == 0) {
            as_csv = 1;
        } else if ((strcmp(o, "--campaign") == 0 || strcmp(o, "--from") == 0 ||
                    strcmp(o, "--to") == 0 || strcmp(o, "--by") == 0) && v) {
            json_object_set_new(body, o + 2, json_string(v));
            i++;
        } else {
            fprintf(stderr, "hark: report nps: unknown or incomplete argument %s\n", o);
            json_decref(body);
            return 2;
        }
    }
    if (as_csv) {
        int rc = hark_report_csv(cli, body, stdout);
        json_decref(body);
        return rc;
    }
    return hark_show(cli, config_get(cli->cfg, "survey", "control"), CMD_SURVEY_REPORT,
                     CMD_SURVEY_REPORT_OK, body, "the survey service", "report nps", as_json,
                     s_nps_print);
}

/* hark_report - `hark report nps|reasons|loops …` */
int hark_report(cli_t *cli)
{
    if (cli->argc >= 1 && strcmp(cli->argv[0], "reasons") == 0)
        return hark_cases_report(cli);
    if (cli->argc >= 1 && strcmp(cli->argv[0], "loops") == 0)
        return hark_loop_report(cli);
    if (cli->argc < 1 || strcmp(cli->argv[0], "nps") != 0) {
        fprintf(stderr, "hark: report needs nps, reasons or loops\n");
        return 2;
    }
    return s_nps(cli);
}
