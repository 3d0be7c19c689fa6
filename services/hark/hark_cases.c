/*
 * hark_cases.c - `hark cases …` and `hark report reasons`: staff work on
 * complaint and cancellation cases.
 *
 * Reads are asked of hark-intake ([intake] control: INTAKE_CASES,
 * INTAKE_REPORT).  Every action is a journal event with by = "cli:$USER"
 * (case.replied, case.retagged, case.resolved, case.noted, case.assigned,
 * case.reopened) that hark-intake applies;
 * the CLI checks first that the case exists and (retag) that the codes are
 * in [intake] reasons, so a typo is an error here, not a skipped event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "customer_token.h"
#include "hark.h"
#include "keys.h"
#include "mime.h"
#include "proto.h"
#include "reasons.h"

#define S_MESSAGE_MAX 20000

/* s_err - print hark-intake's error reply or "does not answer" */
static int s_err(cli_t *cli, json_t *r, const char *what)
{
    if (!r) {
        fprintf(stderr, "hark: hark-intake does not answer on %s\n",
                config_get(cli->cfg, "intake", "control"));
        return 1;
    }
    const char *m = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
    fprintf(stderr, "hark: %s: %s\n", what, m ? m : "error");
    json_decref(r);
    return 2;
}

/* s_print_json - a value as one JSON line */
static void s_print_json(const json_t *v)
{
    hark_print_json(v, JSON_COMPACT | JSON_REAL_PRECISION(6), "{}");
}

/* s_codes - "a,b" of a case's codes into out */
static const char *s_codes(const json_t *c, char *out, size_t len)
{
    size_t i, o = 0;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(json_object_get(c, "codes"), i, v) {
        if (o < len)
            o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "," : "", json_string_value(v));
    }
    return out;
}

/* s_safe - text someone typed (a customer's complaint, a note) for the
 * terminal: C0 and C1 control characters but line breaks and tabs become
 * '?', so an escape sequence in a complaint is shown, never run by the
 * staff's terminal.  Returns a malloc'd copy (caller frees) or NULL. */
static char *s_safe(const char *t)
{
    size_t n = strlen(t);
    char *out = malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; out && i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == 0xc2 && i + 1 < n && (unsigned char)t[i + 1] >= 0x80 &&
            (unsigned char)t[i + 1] <= 0x9f) { /* U+0080-U+009F */
            out[o++] = '?';
            i++;
        } else {
            out[o++] = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : (char)c;
        }
    }
    if (out)
        out[o] = '\0';
    return out;
}

/* s_puts_safe - fmt with one %s that gets s_safe(text) */
static void s_puts_safe(const char *fmt, const char *text)
{
    char *t = s_safe(text);
    printf(fmt, t ? t : "");
    free(t);
}

#define S(o, k) (json_string_value(json_object_get((o), (k))) ? json_string_value(json_object_get((o), (k))) : "-")

/* s_list - hark cases list */
static int s_list(cli_t *cli)
{
    json_t *req = json_object();
    int as_json = 0;
    for (int i = 1; i < cli->argc; i++) {
        const char *o = cli->argv[i], *v = i + 1 < cli->argc ? cli->argv[i + 1] : NULL;
        if (strcmp(o, "--json") == 0)
            as_json = 1;
        else if (strcmp(o, "--breached") == 0)
            json_object_set_new(req, "breached", json_true());
        else if ((strcmp(o, "--status") == 0 || strcmp(o, "--reason") == 0 ||
                  strcmp(o, "--team") == 0) && v) {
            json_object_set_new(req, o + 2, json_string(v));
            i++;
        } else {
            fprintf(stderr, "hark: cases list: unknown or incomplete argument %s\n", o);
            json_decref(req);
            return 2;
        }
    }
    /* a reason or team that is not in the taxonomy would list nothing, as
     * if there were no such cases: say it is unknown (as the API does) */
    const char *want_reason = json_string_value(json_object_get(req, "reason"));
    const char *want_team = json_string_value(json_object_get(req, "team"));
    if (want_reason || want_team) {
        int errors = 0;
        const char *path = config_get(cli->cfg, "intake", "reasons");
        reasons_t *rs = reasons_load(path, NULL, NULL, &errors);
        const char *bad = !rs                                                  ? NULL
                          : want_reason && reasons_find(rs, want_reason) < 0    ? "reason"
                          : want_team && reasons_team_find(rs, want_team) < 0   ? "team"
                                                                                : NULL;
        reasons_destroy(&rs);
        if (bad) {
            fprintf(stderr, "hark: cases list: unknown %s \"%s\" (not in %s)\n", bad,
                    *bad == 'r' ? want_reason : want_team, path);
            json_decref(req);
            return 2;
        }
    }
    char cmd[48] = "";
    json_t *r = hark_call(cli, config_get(cli->cfg, "intake", "control"), CMD_INTAKE_CASES, req,
                         cmd);
    json_decref(req);
    if (!r || strcmp(cmd, CMD_INTAKE_CASES_OK) != 0)
        return s_err(cli, r, "cases list");
    if (as_json) {
        s_print_json(r);
        json_decref(r);
        return 0;
    }
    printf("%-10s %-12s %-9s %-12s %-30s %-20s %s\n", "CASE", "KIND", "STATUS", "TEAM", "CODES",
           "OPENED", "FLAGS");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(r, "cases"), i, c) {
        char codes[300], flags[64] = "";
        if (json_is_true(json_object_get(c, "breached")))
            strcat(flags, "breached ");
        if (json_is_true(json_object_get(c, "loop_closed")))
            strcat(flags, "loop-closed");
        printf("%-10s %-12s %-9s %-12s %-30s %-20.19s %s\n", S(c, "id"), S(c, "kind"),
               S(c, "status"), S(c, "team"), s_codes(c, codes, sizeof codes), S(c, "opened_at"),
               flags);
    }
    printf("%zu case%s\n", json_array_size(json_object_get(r, "cases")),
           json_array_size(json_object_get(r, "cases")) == 1 ? "" : "s");
    json_decref(r);
    return 0;
}

/* s_get - one case (INTAKE_CASES {id}); NULL having said why */
static json_t *s_get(cli_t *cli, const char *id)
{
    json_t *req = json_pack("{s:s}", "id", id);
    char cmd[48] = "";
    json_t *r = hark_call(cli, config_get(cli->cfg, "intake", "control"), CMD_INTAKE_CASES, req,
                         cmd);
    json_decref(req);
    if (!r || strcmp(cmd, CMD_INTAKE_CASES_OK) != 0) {
        s_err(cli, r, id);
        return NULL;
    }
    json_t *c = json_incref(json_array_get(json_object_get(r, "cases"), 0));
    json_decref(r);
    return c;
}

/* s_unreachable_text - INTAKE_CASES' "unreachable" for a person */
static const char *s_unreachable_text(const char *why)
{
    return strcmp(why, "no_customer") == 0 ? "the case has no customer to mail a reply to"
           : strcmp(why, "bounced") == 0
               ? "the customer's email address bounced (no usable email); fix it with a"
                 " customer event carrying a working address"
               : "the customer has no usable email (Hark knows no address); send a customer"
                 " event with their email first";
}

/* s_show - hark cases show ID */
static int s_show(cli_t *cli)
{
    if (cli->argc < 2) {
        fprintf(stderr, "hark: cases show needs a case id\n");
        return 2;
    }
    json_t *c = s_get(cli, cli->argv[1]);
    if (!c)
        return 1;
    if (cli->argc > 2 && strcmp(cli->argv[2], "--json") == 0) {
        s_print_json(c);
        json_decref(c);
        return 0;
    }
    char codes[300];
    printf("case %s  (%s, %s%s%s)\n", S(c, "id"), S(c, "kind"), S(c, "status"),
           json_is_true(json_object_get(c, "breached")) ? ", breached" : "",
           json_is_true(json_object_get(c, "loop_closed")) ? ", loop closed" : "");
    s_puts_safe("customer:  %s\n", S(c, "customer_id"));
    printf("reasons:   %s (via %s)\nteam:      %s\nopened:    %s\n"
           "reply due: %s\nreplied:   %s\n",
           s_codes(c, codes, sizeof codes), S(c, "via"), S(c, "team"), S(c, "opened_at"),
           S(c, "due_at"), S(c, "first_reply_at"));
    if (json_object_get(c, "assignee"))
        s_puts_safe("assignee:  %s\n", S(c, "assignee"));
    if (json_object_get(c, "order_id"))
        s_puts_safe("order:     %s\n", S(c, "order_id"));
    if (json_object_get(c, "unreachable"))
        printf("replies:   refused: %s\n", s_unreachable_text(S(c, "unreachable")));
    if (json_object_get(c, "text"))
        s_puts_safe("\n%s\n", S(c, "text"));
    printf("\nhistory:\n");
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(c, "notes"), i, n) {
        printf("  %.19s  %-12s %-16s ", S(n, "at"), S(n, "kind"), S(n, "by"));
        s_puts_safe("%s\n", S(n, "text"));
    }
    json_decref(c);
    return 0;
}

/* s_journal - append one case.* event; 0 once committed */
static int s_journal(cli_t *cli, const char *type, json_t *payload)
{
    long long off = hark_journal_one(cli, type, json_string_value(json_object_get(payload, "case")),
                                    payload);
    json_decref(payload);
    if (off < 0)
        return 1;
    printf("%s journaled at offset %lld\n", type, off);
    return 0;
}

/* s_action - hark cases reply|retag|resolve|note|assign|reopen ID … */
static int s_action(cli_t *cli, const char *what)
{
    if (cli->argc < 2) {
        fprintf(stderr, "hark: cases %s needs a case id\n", what);
        return 2;
    }
    const char *id = cli->argv[1];
    char by[80];
    hark_by(by, sizeof by);
    json_t *p = json_pack("{s:s,s:s}", "case", id, "by", by);
    const char *type = EV_CASE_RESOLVED;
    if (strcmp(what, "reply") == 0 || strcmp(what, "note") == 0) {
        /* a reply is mailed; a note (internal) never is */
        int reply = strcmp(what, "reply") == 0;
        type = reply ? EV_CASE_REPLIED : EV_CASE_NOTED;
        const char *opt = reply ? "--message-file" : "--text-file";
        const char *file = cli->argc == 4 && strcmp(cli->argv[2], opt) == 0 ? cli->argv[3]
                                                                            : NULL;
        size_t len = 0;
        char *msg = file ? hark_read_file(file, S_MESSAGE_MAX, &len) : NULL;
        if (!msg || len == 0 || len > S_MESSAGE_MAX || strlen(msg) != len ||
            !mime_utf8_valid(msg, len)) {
            fprintf(stderr, "hark: cases %s ID %s F: F must hold the %s (UTF-8, 1-%d bytes)\n",
                    what, opt, reply ? "reply's Markdown" : "note", S_MESSAGE_MAX);
            free(msg);
            json_decref(p);
            return 2;
        }
        json_object_set_new(p, reply ? "message" : "text", json_string(msg));
        free(msg);
    } else if (strcmp(what, "assign") == 0) {
        /* a Hark Console account's name, or --nobody; the console's
         * accounts are its own, so only the name's form is checked here */
        type = EV_CASE_ASSIGNED;
        const char *who = cli->argc == 3 ? cli->argv[2] : NULL;
        int nobody = who && strcmp(who, "--nobody") == 0;
        size_t n = who ? strlen(who) : 0;
        if (!who || (!nobody && (n < 1 || n > 64 ||
                                 strspn(who, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                             "0123456789._@-") != n))) {
            fprintf(stderr, "hark: cases assign ID NAME|--nobody (NAME: a Hark Console"
                            " account)\n");
            json_decref(p);
            return 2;
        }
        json_object_set_new(p, "assignee", json_string(nobody ? "" : who));
    } else if (strcmp(what, "reopen") == 0) {
        type = EV_CASE_REOPENED;
        if (cli->argc != 2) {
            fprintf(stderr, "hark: cases reopen takes only the case id\n");
            json_decref(p);
            return 2;
        }
    } else if (strcmp(what, "retag") == 0) {
        type = EV_CASE_RETAGGED;
        int errors = 0;
        reasons_t *r = reasons_load(config_get(cli->cfg, "intake", "reasons"), NULL, NULL, &errors);
        json_t *codes = json_array();
        int bad = !r;
        for (int i = 2; i < cli->argc && r; i++) {
            if (strcmp(cli->argv[i], "--reason") == 0)
                continue;
            if (reasons_find(r, cli->argv[i]) < 0) {
                fprintf(stderr, "hark: cases retag: unknown reason \"%s\" (not in %s)\n",
                        cli->argv[i], config_get(cli->cfg, "intake", "reasons"));
                bad = 1;
            } else {
                int dup = 0;
                size_t j;
                json_t *v;
                json_array_foreach(codes, j, v) dup |= strcmp(json_string_value(v),
                                                              cli->argv[i]) == 0;
                if (!dup)
                    json_array_append_new(codes, json_string(cli->argv[i]));
            }
        }
        reasons_destroy(&r);
        if (bad || json_array_size(codes) == 0 || json_array_size(codes) > REASONS_MAX_CODES) {
            if (!bad)
                fprintf(stderr, "hark: cases retag ID --reason R [R...]\n");
            json_decref(codes);
            json_decref(p);
            return 2;
        }
        json_object_set_new(p, "codes", codes);
    } else if (cli->argc != 2) {
        fprintf(stderr, "hark: cases resolve takes only the case id\n");
        json_decref(p);
        return 2;
    }
    json_t *c = s_get(cli, id);
    if (!c) {
        json_decref(p);
        return 1;
    }
    /* a reply nobody can receive is refused, so it never counts as the
     * first response (hark-intake would keep it only as a note) */
    const char *why = json_string_value(json_object_get(c, "unreachable"));
    if (why && strcmp(type, EV_CASE_REPLIED) == 0) {
        fprintf(stderr, "hark: cases reply %s: not sent, nothing stored: %s\n", id,
                s_unreachable_text(why));
        json_decref(c);
        json_decref(p);
        return 1;
    }
    /* resolving a resolved case (or reopening an open one) changes
     * nothing: say so rather than journal it */
    const char *status = json_string_value(json_object_get(c, "status"));
    int resolved = status && strcmp(status, "resolved") == 0;
    if ((strcmp(type, EV_CASE_RESOLVED) == 0 && resolved) ||
        (strcmp(type, EV_CASE_REOPENED) == 0 && status && !resolved)) {
        const char *at = json_string_value(json_object_get(c, "resolved_at"));
        fprintf(stderr, "hark: cases %s %s: the case is %s%s%s; nothing stored\n", what, id,
                resolved ? "already resolved" : "not resolved", resolved && at ? " since " : "",
                resolved && at ? at : "");
        json_decref(c);
        json_decref(p);
        return 1;
    }
    json_decref(c);
    return s_journal(cli, type, p);
}

/* s_link - hark cases link CUSTOMER [--locale L] */
static int s_link(cli_t *cli)
{
    if (cli->argc < 2) {
        fprintf(stderr, "hark: cases link needs a customer id\n");
        return 2;
    }
    const char *locale = cli->argc == 4 && strcmp(cli->argv[2], "--locale") == 0 ? cli->argv[3]
                                                                                : NULL;
    /* links for a customer Hark has never heard of would lead to forms
     * whose cases have nobody to answer: ask the mailer (its contact copy)
     * first, and take the customer's own language unless told */
    json_t *req = json_pack("{s:s}", "customer_id", cli->argv[1]);
    int rc = 0;
    json_t *who = req ? hark_ask(cli, config_get(cli->cfg, "mailer", "control"),
                                 CMD_MAILER_CONTACT, CMD_MAILER_CONTACT_OK, req, "hark-mailer",
                                 "cases link", &rc)
                      : NULL;
    json_decref(req);
    if (!who)
        return rc ? rc : 1;
    if (!json_is_true(json_object_get(who, "known"))) {
        fprintf(stderr, "hark: cases link: Hark knows no customer \"%s\" (send a customer event"
                        " for them first)\n",
                cli->argv[1]);
        json_decref(who);
        return 1;
    }
    const char *loc = json_string_value(json_object_get(who, "locale"));
    char theirs[40];
    snprintf(theirs, sizeof theirs, "%s", loc ? loc : "");
    json_decref(who);
    if (!locale)
        locale = theirs;
    char key[128];
    if (keys_from_config(cli->cfg, "hark", "token_key", "token", key, sizeof key)) {
        fprintf(stderr, "hark: no [hark] token_key (start Hark once to generate it)\n");
        return 1;
    }
    char *tok = customer_token_make(key, cli->argv[1], locale);
    if (!tok) {
        fprintf(stderr, "hark: cases link: not a customer id\n");
        return 2;
    }
    const char *base = config_get(cli->cfg, "gateway", "public_url");
    printf("%s/feedback?customer=%s\n%s/cancel?customer=%s\n", base, tok, base, tok);
    free(tok);
    return 0;
}

int hark_cases(cli_t *cli)
{
    const char *sub = cli->argc > 0 ? cli->argv[0] : "";
    if (strcmp(sub, "list") == 0)
        return s_list(cli);
    if (strcmp(sub, "show") == 0)
        return s_show(cli);
    if (strcmp(sub, "reply") == 0 || strcmp(sub, "retag") == 0 || strcmp(sub, "resolve") == 0 ||
        strcmp(sub, "note") == 0 || strcmp(sub, "assign") == 0 || strcmp(sub, "reopen") == 0)
        return s_action(cli, sub);
    if (strcmp(sub, "link") == 0)
        return s_link(cli);
    fprintf(stderr, "hark: cases needs list, show, reply, retag, resolve, note, assign, reopen"
                    " or link\n");
    return 2;
}

int hark_cases_report(cli_t *cli)
{
    json_t *req = json_object();
    int as_json = 0;
    for (int i = 1; i < cli->argc; i++) {
        const char *o = cli->argv[i], *v = i + 1 < cli->argc ? cli->argv[i + 1] : NULL;
        if (strcmp(o, "--json") == 0) {
            as_json = 1;
        } else if ((strcmp(o, "--from") == 0 || strcmp(o, "--to") == 0 ||
                    strcmp(o, "--kind") == 0 || strcmp(o, "--team") == 0) && v) {
            json_object_set_new(req, o + 2, json_string(v));
            i++;
        } else {
            fprintf(stderr, "hark: report reasons: unknown or incomplete argument %s\n", o);
            json_decref(req);
            return 2;
        }
    }
    char cmd[48] = "";
    json_t *r = hark_call(cli, config_get(cli->cfg, "intake", "control"), CMD_INTAKE_REPORT, req,
                         cmd);
    json_decref(req);
    if (!r || strcmp(cmd, CMD_INTAKE_REPORT_OK) != 0)
        return s_err(cli, r, "report reasons");
    if (as_json) {
        s_print_json(r);
        json_decref(r);
        return 0;
    }
#define N(o, k) ((long long)json_integer_value(json_object_get((o), (k))))
#define F(o, k) (json_is_number(json_object_get((o), (k))) ? json_number_value(json_object_get((o), (k))) : 0.0)
    json_t *ch = json_object_get(r, "churn");
    printf("cases %lld   voluntary %lld (%.1f%%)   involuntary %lld (%.1f%%)\n\n", N(r, "total"),
           N(ch, "voluntary"), F(ch, "voluntary_share"), N(ch, "involuntary"),
           F(ch, "involuntary_share"));
    /* Pareto: bars scaled to the largest count, with the cumulative share */
    json_t *reasons = json_object_get(r, "reasons");
    long long top = json_array_size(reasons) ? N(json_array_get(reasons, 0), "count") : 0;
    printf("%-22s %6s %6s %6s  %s\n", "REASON", "COUNT", "SHARE", "CUM", "");
    size_t i;
    json_t *row;
    json_array_foreach(reasons, i, row) {
        char bar[40 * 3 + 1] = "";
        int cells = top ? (int)(40 * N(row, "count") / top) : 0;
        for (int k = 0; k < cells; k++)
            strcat(bar, "█");
        printf("%-22s %6lld %5.1f%% %5.1f%%  %s\n", S(row, "code"), N(row, "count"),
               F(row, "share"), F(row, "cumulative"), bar);
    }
    printf("\n%-12s %6s %8s %18s %14s\n", "TEAM", "CASES", "REPLIED", "MEDIAN 1ST REPLY",
           "WITHIN TARGET");
    json_array_foreach(json_object_get(r, "teams"), i, row) {
        char med[32] = "-", within[32] = "-";
        if (json_is_number(json_object_get(row, "median_first_response_hours")))
            snprintf(med, sizeof med, "%.1f h", F(row, "median_first_response_hours"));
        if (json_is_number(json_object_get(row, "within_target_share")))
            snprintf(within, sizeof within, "%.1f%%", F(row, "within_target_share"));
        printf("%-12s %6lld %8lld %18s %14s\n", S(row, "team"), N(row, "cases"),
               N(row, "replied"), med, within);
    }
    printf("\n%-12s %6s\n", "WEEK", "CASES");
    json_array_foreach(json_object_get(r, "trend"), i, row)
        printf("%-12s %6lld\n", S(row, "period"), N(row, "count"));
#undef N
#undef F
    json_decref(r);
    return 0;
}
