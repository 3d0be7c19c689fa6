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
#include "locale_tag.h"
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
    /* per locale, its own text or the fallback */
    json_object_foreach(json_object_get(p, "texts"), k, v) {
        const char *t = json_string_value(v);
        if (strcmp(t, "fallback") == 0)
            printf("locale %s: the fallback title and message\n", *k ? k : "default");
        else
            printf("locale %s: its own title and message (%s)\n", *k ? k : "default", t);
    }
    size_t i;
    const json_t *s;
    const json_t *samples = json_object_get(p, "samples");
    if (!samples) { /* a hark-loop from before texts: one sample */
        json_t *one = json_object_get(p, "sample");
        if (one)
            printf("\n--- the email to customer %s (%s) ---\nSubject: %s\n\n%s",
                   json_string_value(json_object_get(one, "customer_id")),
                   json_string_value(json_object_get(one, "locale")),
                   json_string_value(json_object_get(one, "subject")),
                   json_string_value(json_object_get(one, "text")));
        return;
    }
    json_array_foreach(samples, i, s) {
        const char *tl = json_string_value(json_object_get(s, "text_locale"));
        printf("\n--- the email to customer %s (%s, %s) ---\nSubject: %s\n\n%s",
               json_string_value(json_object_get(s, "customer_id")),
               json_string_value(json_object_get(s, "locale")),
               tl && strcmp(tl, "fallback") != 0 ? "its own text" : "the fallback",
               json_string_value(json_object_get(s, "subject")),
               json_string_value(json_object_get(s, "text")));
    }
}

#define S_MAX_TEXTS 64 /* locales of one close, as loop.closed's texts */

/* One locale's --title and --message-file ("" : the fallback's). */
typedef struct {
    char locale[LOCALE_TAG_MAX + 1];
    const char *title, *file;
} s_text_t;

/* s_split - an option's value: LOC=VALUE (LOC a locale tag, normalised into
 * loc) or VALUE ("" into loc).  A value that starts like a prefix (a
 * letter, then letters, digits, '-' and '_', up to '=') must name a locale
 * tag; "=VALUE" is the fallback's, whatever follows.  The value, or NULL
 * after saying why. */
static const char *s_split(const char *opt, const char *v, char *loc, size_t len)
{
    *loc = '\0';
    const char *eq = strchr(v, '=');
    if (!eq)
        return v;
    if (eq == v)
        return v + 1;
    size_t n = (size_t)(eq - v);
    int shaped = n <= LOCALE_TAG_MAX && ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z'));
    for (size_t i = 0; shaped && i < n; i++)
        shaped = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
                 (v[i] >= '0' && v[i] <= '9') || v[i] == '-' || v[i] == '_';
    if (!shaped)
        return v;
    char tag[LOCALE_TAG_MAX + 1];
    snprintf(tag, sizeof tag, "%.*s", (int)n, v);
    if (loop_check_locale(tag, loc, len)) {
        fprintf(stderr, "hark: loop close: %s %s: %s is not a locale tag "
                        "(language[-Script][-REGION], like ru, pl-PL or zh-Hans); a fallback "
                        "with '=' in it is written %s '=%s'\n",
                opt, v, tag, opt, v);
        return NULL;
    }
    return eq + 1;
}

/* s_slot - the text of locale loc in t (*n of them), added when new; NULL
 * when there would be more than S_MAX_TEXTS locales */
static s_text_t *s_slot(s_text_t *t, int *n, const char *loc)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(t[i].locale, loc) == 0)
            return &t[i];
    if (*n == S_MAX_TEXTS + 1)
        return NULL;
    s_text_t *x = &t[(*n)++];
    snprintf(x->locale, sizeof x->locale, "%s", loc);
    x->title = x->file = NULL;
    return x;
}

/* s_read_message - file's Markdown as a JSON string; NULL after saying why */
static json_t *s_read_message(const char *file)
{
    size_t len = 0;
    char *message = hark_read_file(file, S_MAX_MESSAGE, &len);
    if (!message || len > S_MAX_MESSAGE) {
        if (message)
            fprintf(stderr, "hark: loop close: %s is too large\n", file);
        else
            fprintf(stderr, "hark: loop close: cannot read %s\n", file);
        free(message);
        return NULL;
    }
    json_t *s = json_string(message);
    free(message);
    if (!s)
        fprintf(stderr, "hark: loop close: %s is not UTF-8 text\n", file);
    return s;
}

/* s_texts - the locales' pairs of t (t[0], the fallback, aside) as a
 * close's texts, each with both halves; NULL after saying why */
static json_t *s_texts(const s_text_t *t, int n)
{
    json_t *texts = json_object();
    for (int i = 1; i < n; i++) {
        if (!t[i].title || !t[i].file) {
            fprintf(stderr, "hark: loop close: locale %s has a %s but no %s %s=…: each "
                            "locale needs both a title and a message\n",
                    t[i].locale, t[i].title ? "--title" : "--message-file",
                    t[i].title ? "--message-file" : "--title", t[i].locale);
            json_decref(texts);
            return NULL;
        }
        json_t *m = s_read_message(t[i].file);
        if (!m) {
            json_decref(texts);
            return NULL;
        }
        json_object_set_new(texts, t[i].locale,
                            json_pack("{s:s,s:o}", "title", t[i].title, "announcement", m));
    }
    return texts;
}

/* s_close - `hark loop close …` */
static int s_close(cli_t *cli)
{
    const char *reason = NULL, *since = NULL, *id = NULL;
    s_text_t texts[S_MAX_TEXTS + 1] = {{.locale = ""}}; /* [0]: the fallback */
    int ntexts = 1;
    int dry = 0, as_json = 0;
    for (int i = 1; i < cli->argc; i++) {
        const char *o = cli->argv[i], *v = i + 1 < cli->argc ? cli->argv[i + 1] : NULL;
        const char **slot = strcmp(o, "--reason") == 0  ? &reason
                            : strcmp(o, "--since") == 0 ? &since
                            : strcmp(o, "--id") == 0    ? &id
                                                        : NULL;
        int is_title = strcmp(o, "--title") == 0;
        if (slot && v) {
            *slot = v;
            i++;
        } else if ((is_title || strcmp(o, "--message-file") == 0) && v) {
            char loc[LOCALE_TAG_MAX + 1];
            const char *val = s_split(o, v, loc, sizeof loc);
            if (!val)
                return 2;
            s_text_t *t = s_slot(texts, &ntexts, loc);
            if (!t) {
                fprintf(stderr, "hark: loop close: more than %d locales\n", S_MAX_TEXTS);
                return 2;
            }
            const char **half = is_title ? &t->title : &t->file;
            if (*half) {
                fprintf(stderr, "hark: loop close: %s is given twice for %s%s: one each per "
                                "locale\n", o, *loc ? "locale " : "the fallback", loc);
                return 2;
            }
            *half = val;
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
    const char *title = texts[0].title, *file = texts[0].file;
    if (!file) {
        fprintf(stderr, "hark: loop close: --message-file is required (the announcement, "
                        "Markdown%s)\n",
                ntexts > 1 ? "; unprefixed, it is the fallback of every locale without its own"
                           : "");
        return 2;
    }
    json_t *tx = s_texts(texts, ntexts);
    if (!tx)
        return 2;
    json_t *ann = s_read_message(file);
    if (!ann) {
        json_decref(tx);
        return 2;
    }
    json_t *req = json_object();
    if (reason)
        json_object_set_new(req, "reason", json_string(reason));
    if (title)
        json_object_set_new(req, "title", json_string(title));
    json_object_set_new(req, "announcement", ann);
    if (json_object_size(tx) > 0)
        json_object_set(req, "texts", tx);
    json_decref(tx);
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
    printf("%-24s %8s %6s %5s %6s %6s  %-18s %-18s %s\n", "reason", "feedback", "open", "loops",
           "told", "days", "NPS told", "NPS not told", "texts");
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(r, "reasons"), i, row) {
#define N(k) ((long long)json_integer_value(json_object_get(row, (k))))
        char days[16] = "-", t[48], nt[48];
        const json_t *md = json_object_get(row, "median_days");
        if (json_is_number(md))
            snprintf(days, sizeof days, "%.1f", json_number_value(md));
        const json_t *nps = json_object_get(row, "nps");
        char tl[200] = "";
        size_t j, used = 0;
        json_t *x;
        json_array_foreach(json_object_get(row, "text_locales"), j, x) {
            int w = snprintf(tl + used, sizeof tl - used, "%s%s", used ? "," : "",
                             json_string_value(x));
            if (w < 0 || (size_t)w >= sizeof tl - used)
                break;
            used += (size_t)w;
        }
        printf("%-24s %8lld %6lld %5lld %6lld %6s  %-18s %-18s %s\n",
               json_string_value(json_object_get(row, "reason")), N("feedback"), N("open"),
               N("loops"), N("told"), days, s_nps(json_object_get(nps, "told"), t, sizeof t),
               s_nps(json_object_get(nps, "not_told"), nt, sizeof nt), used ? tl : "-");
#undef N
    }
    printf("\ndays: median from a piece of feedback to the email that told its author;\n"
           "NPS: latest survey answer before → after being told (not told: the reason's "
           "first loop);\ntexts: the locales with a title and message of their own (the "
           "others read the fallback)\n");
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
