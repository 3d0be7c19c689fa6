/*
 * hark_mail.c - `hark mail …`: see a template before it goes out, send one
 * for real, look at the queue, retry a failed message.
 *
 *   preview renders locally with the same code the mailer uses (nothing is
 *           sent or written);
 *   send    appends a mail.requested event, so the message takes the whole
 *           path (journal, mailer, SMTP) like any other;
 *   queue   asks the mailer (MAILER_QUEUE), every partition of it;
 *   retry   appends mail.retry_requested with who asked, for the audit trail.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hark.h"
#include "keys.h"
#include "partition.h"
#include "render.h"
#include "proto.h"

#define S_QUEUE_LIMIT 100 /* MAILER_QUEUE's rows when no limit is asked */

typedef struct {
    const char *template_name, *locale, *vars_file, *customer, *to, *category, *status;
    int wait, json;
    long long id;
} s_args_t;

/* s_parse - the options of a mail subcommand; -1 after printing why */
static int s_parse(cli_t *cli, int from, s_args_t *a)
{
    for (int i = from; i < cli->argc; i++) {
        const char *o = cli->argv[i], *v = i + 1 < cli->argc ? cli->argv[i + 1] : NULL;
        const char **slot = strcmp(o, "--template") == 0   ? &a->template_name
                            : strcmp(o, "--locale") == 0   ? &a->locale
                            : strcmp(o, "--vars") == 0     ? &a->vars_file
                            : strcmp(o, "--customer") == 0 ? &a->customer
                            : strcmp(o, "--to") == 0       ? &a->to
                            : strcmp(o, "--category") == 0 ? &a->category
                            : strcmp(o, "--status") == 0   ? &a->status
                                                           : NULL;
        if (slot) {
            if (!v) {
                fprintf(stderr, "hark: %s needs a value\n", o);
                return -1;
            }
            *slot = v;
            i++;
        } else if (strcmp(o, "--wait") == 0) {
            a->wait = 1;
        } else if (strcmp(o, "--json") == 0) {
            a->json = 1;
        } else if (o[0] != '-' && a->id == 0) {
            char *end;
            a->id = strtoll(o, &end, 10);
            if (*end || a->id <= 0) {
                fprintf(stderr, "hark: not a message id: %s\n", o);
                return -1;
            }
        } else {
            fprintf(stderr, "hark: mail: unknown argument %s\n", o);
            return -1;
        }
    }
    return 0;
}

/* s_vars - the --vars file as a JSON object (or an empty one) */
static json_t *s_vars(const char *file)
{
    if (!file)
        return json_object();
    json_error_t e;
    json_t *v = json_load_file(file, JSON_REJECT_DUPLICATES, &e);
    if (!v || !json_is_object(v)) {
        fprintf(stderr, "hark: %s:%d: %s\n", file, e.line,
                v ? "vars must be a JSON object" : e.text);
        json_decref(v);
        return NULL;
    }
    return v;
}

/* s_sample - merge the template's sample variables (templates/
 * samples.json, as the service asking for that mail gives them) into
 * vars; 1 when there were some.  Without them an invite previews with no
 * score links, which looks like a broken template. */
static int s_sample(const char *tdir, const char *name, json_t *vars)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/samples.json", tdir);
    json_t *all = json_load_file(path, 0, NULL);
    json_t *mine = json_object_get(all, name);
    int found = json_is_object(mine);
    if (found)
        json_object_update_missing(vars, mine);
    json_decref(all);
    return found;
}

/* s_warn_missing - name on stderr the variables the template looks up
 * that vars does not give (they render empty) */
static void s_warn_missing(render_t *r, const s_args_t *a, const json_t *vars)
{
    json_t *names = json_array(), *v;
    char err[256];
    if (!names || render_names(r, a->template_name, a->locale ? a->locale : "", names, err,
                               sizeof err)) {
        json_decref(names);
        return;
    }
    char list[512] = "";
    size_t i, n = 0;
    json_array_foreach(names, i, v) {
        const char *name = json_string_value(v);
        if (json_object_get(vars, name))
            continue;
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", n++ ? ", " : "", name);
    }
    if (n)
        fprintf(stderr, "hark: warning: %s uses %s, which %s not give: %s empty\n",
                a->template_name, list, a->vars_file ? "--vars does" : "the sample does",
                n > 1 ? "they render" : "it renders");
    json_decref(names);
}

/* s_preview - render locally and print */
static int s_preview(cli_t *cli, s_args_t *a)
{
    if (!a->template_name) {
        fprintf(stderr, "hark: mail preview needs --template NAME\n");
        return 2;
    }
    json_t *vars = s_vars(a->vars_file);
    if (!vars)
        return 2;
    const char *tdir = config_get(cli->cfg, "mailer", "templates");
    if (!a->vars_file && s_sample(tdir, a->template_name, vars))
        fprintf(stderr, "hark: no --vars: the sample variables of %s/samples.json\n", tdir);
    if (!json_object_get(vars, "shop_name"))
        json_object_set_new(vars, "shop_name",
                            json_string(config_get(cli->cfg, "mailer", "shop_name")));
    char err[256];
    render_t *r = render_new(tdir,
                             config_get(cli->cfg, "mailer", "default_locale"), err, sizeof err);
    if (!r) {
        fprintf(stderr, "hark: %s\n", err);
        json_decref(vars);
        return 1;
    }
    s_warn_missing(r, a, vars);
    rendered_t out = {0};
    int rc = render_message(r, a->template_name, a->locale ? a->locale : "", vars, &out, err,
                            sizeof err);
    if (rc) {
        fprintf(stderr, "hark: %s\n", err);
    } else {
        printf("Subject: %s\nPreheader: %s\nLocale: %s\n\n--- text ---\n%s\n--- html ---\n%s\n",
               out.subject, out.preheader ? out.preheader : "",
               out.locale_used ? out.locale_used : "", out.text, out.html);
        render_message_free(&out);
    }
    render_destroy(&r);
    json_decref(vars);
    return rc ? 1 : 0;
}

/* s_actor - who is asking, for the audit trail */
static void s_actor(char *out, size_t len)
{
    struct passwd *pw = getpwuid(getuid());
    char host[128] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(out, len, "%s@%s", pw ? pw->pw_name : "unknown", host);
}

/* s_send - append mail.requested, optionally wait for the outcome */
static int s_send(cli_t *cli, s_args_t *a)
{
    if (!a->template_name || (!a->customer == !a->to)) {
        fprintf(stderr, "hark: mail send needs --template and one of --customer or --to\n");
        return 2;
    }
    json_t *vars = s_vars(a->vars_file);
    if (!vars)
        return 2;
    json_t *p = json_pack("{s:s,s:s,s:o}", "template", a->template_name, "category",
                          a->category ? a->category : "alert", "vars", vars);
    json_object_set_new(p, a->customer ? "customer_id" : "address",
                        json_string(a->customer ? a->customer : a->to));
    if (a->locale)
        json_object_set_new(p, "locale", json_string(a->locale));
    char rnd[17], key[64];
    keys_random_hex(rnd, 8);
    snprintf(key, sizeof key, "cli/mail.send/%s", rnd);
    json_t *events = json_pack("[{s:s,s:s,s:o}]", "type", EV_MAIL_REQUESTED, "key", key,
                               "payload", p);
    json_t *ok = hark_append(cli, events);
    json_decref(events);
    if (!ok)
        return 1;
    long long off = json_integer_value(json_array_get(json_object_get(ok, "offsets"), 0));
    json_decref(ok);
    printf("requested: journal offset %lld (key %s)\n", off, key);
    if (!a->wait)
        return 0;
    /* wait for the mailer's outcome event for this request */
    const char *ep = config_get(cli->cfg, "journal", "endpoint");
    int64_t deadline = clock_mono_ms() + 60000, after = off;
    while (clock_mono_ms() < deadline) {
        json_t *body = json_pack("{s:I,s:i,s:[ssss]}", "after", (json_int_t)after, "limit", 1000,
                                 "types", EV_MAIL_DELIVERED, EV_MAIL_BOUNCED, EV_MAIL_FAILED,
                                 EV_MAIL_SKIPPED);
        char cmd[48];
        json_t *r = hark_call(cli, ep, CMD_JOURNAL_FETCH, body, cmd);
        json_decref(body);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(r, "events"), i, e) {
            json_t *pl = json_object_get(e, "payload");
            const char *rk = json_string_value(json_object_get(pl, "request_key"));
            if (rk && strcmp(rk, key) == 0) {
                const char *type = json_string_value(json_object_get(e, "type"));
                const char *err = json_string_value(json_object_get(pl, "error"));
                const char *reason = json_string_value(json_object_get(pl, "reason"));
                printf("%s: message %lld to %s%s%s\n", type,
                       (long long)json_integer_value(json_object_get(pl, "message")),
                       json_string_value(json_object_get(pl, "address"))
                           ? json_string_value(json_object_get(pl, "address"))
                           : "?",
                       err || reason ? ": " : "", err ? err : reason ? reason : "");
                int good = strcmp(type, EV_MAIL_DELIVERED) == 0;
                json_decref(r);
                return good ? 0 : 1;
            }
        }
        if (r)
            after = json_integer_value(json_object_get(r, "next"));
        json_decref(r);
        struct timespec ts = {0, 200 * 1000000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "hark: no outcome within 60 s; see `hark mail queue`\n");
    return 1;
}

/* s_by_id - qsort: the lower message number first */
static int s_by_id(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "id"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "id"));
    return (x > y) - (x < y);
}

/* s_queue_all - MAILER_QUEUE of every partition as one mailer's answer:
 * counts summed, messages merged by number (unique across partitions,
 * hark-scaling(7)) and cut at the limit; NULL having said which did not
 * answer */
static json_t *s_queue_all(cli_t *cli, const json_t *body)
{
    unsigned n = partition_count(cli->cfg, "mailer");
    const char *ctl = config_get(cli->cfg, "mailer", "control");
    json_t *all = json_pack("{s:{},s:[]}", "counts", "messages");
    json_t *counts = json_object_get(all, "counts"), *msgs = json_object_get(all, "messages");
    for (unsigned k = 0; k < n; k++) {
        char ep[512], cmd[48] = "";
        if (!ctl || partition_endpoint(ctl, (int)k, ep, sizeof ep)) {
            fprintf(stderr, "hark: [mailer] control names no socket for partition %u\n", k);
            json_decref(all);
            return NULL;
        }
        json_t *r = hark_call(cli, ep, CMD_MAILER_QUEUE, body, cmd);
        if (!r || strcmp(cmd, CMD_MAILER_QUEUE_OK) != 0) {
            fprintf(stderr, "hark: the mailer does not answer on %s\n", ep);
            json_decref(r);
            json_decref(all);
            return NULL;
        }
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(r, "counts"), key, v) {
            json_int_t sum = json_integer_value(json_object_get(counts, key)) +
                             json_integer_value(v);
            json_object_set_new(counts, key, json_integer(sum));
        }
        json_array_extend(msgs, json_object_get(r, "messages"));
        json_decref(r);
    }
    size_t m = json_array_size(msgs), limit = S_QUEUE_LIMIT;
    if (n > 1 && m > 1) {
        json_t **v = malloc(m * sizeof *v);
        for (size_t i = 0; v && i < m; i++)
            v[i] = json_incref(json_array_get(msgs, i));
        if (v) {
            qsort(v, m, sizeof *v, s_by_id);
            json_array_clear(msgs);
            for (size_t i = 0; i < m; i++)
                json_array_append_new(msgs, v[i]);
        }
        free(v);
    }
    while (json_array_size(msgs) > limit)
        json_array_remove(msgs, json_array_size(msgs) - 1);
    return all;
}

/* s_queue - MAILER_QUEUE, of every partition */
static int s_queue(cli_t *cli, s_args_t *a)
{
    json_t *body = json_object();
    if (a->status)
        json_object_set_new(body, "status", json_string(a->status));
    json_t *r = s_queue_all(cli, body);
    json_decref(body);
    if (!r)
        return 1;
    if (a->json) {
        hark_print_json(r, JSON_COMPACT, "{}");
        json_decref(r);
        return 0;
    }
    const char *k;
    json_t *v;
    printf("messages:");
    json_object_foreach(json_object_get(r, "counts"), k, v)
        printf(" %s %lld", k, (long long)json_integer_value(v));
    printf("\n%-8s %-10s %-16s %-10s %-30s %-4s %-24s %s\n", "ID", "STATUS", "TEMPLATE",
           "CATEGORY", "TO", "TRY", "NEXT", "LAST ERROR");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(r, "messages"), i, m) {
        const char *err = json_string_value(json_object_get(m, "last_error"));
        printf("%-8lld %-10s %-16s %-10s %-30s %-4lld %-24s %s\n",
               (long long)json_integer_value(json_object_get(m, "id")),
               json_string_value(json_object_get(m, "status")),
               json_string_value(json_object_get(m, "template")),
               json_string_value(json_object_get(m, "category")),
               json_string_value(json_object_get(m, "to")),
               (long long)json_integer_value(json_object_get(m, "attempts")),
               json_string_value(json_object_get(m, "next_at")), err ? err : "");
    }
    json_decref(r);
    return 0;
}

/* s_retry - mail.retry_requested */
static int s_retry(cli_t *cli, s_args_t *a)
{
    if (a->id <= 0) {
        fprintf(stderr, "hark: mail retry needs a message id (see `hark mail queue`)\n");
        return 2;
    }
    char actor[200], rnd[17], key[96];
    s_actor(actor, sizeof actor);
    keys_random_hex(rnd, 8);
    snprintf(key, sizeof key, "cli/mail.retry/%lld/%s", a->id, rnd);
    json_t *events = json_pack("[{s:s,s:s,s:{s:I,s:s}}]", "type", EV_MAIL_RETRY_REQUESTED, "key",
                               key, "payload", "message", (json_int_t)a->id, "actor", actor);
    json_t *ok = hark_append(cli, events);
    json_decref(events);
    if (!ok)
        return 1;
    json_decref(ok);
    printf("retry of message %lld requested by %s\n", a->id, actor);
    return 0;
}

/* hark_mail - dispatch the subcommand */
int hark_mail(cli_t *cli)
{
    s_args_t a = {0};
    if (cli->argc < 1) {
        fprintf(stderr, "hark: mail needs preview, send, queue or retry\n");
        return 2;
    }
    if (s_parse(cli, 1, &a))
        return 2;
    const char *sub = cli->argv[0];
    if (strcmp(sub, "preview") == 0)
        return s_preview(cli, &a);
    if (strcmp(sub, "send") == 0)
        return s_send(cli, &a);
    if (strcmp(sub, "queue") == 0)
        return s_queue(cli, &a);
    if (strcmp(sub, "retry") == 0)
        return s_retry(cli, &a);
    fprintf(stderr, "hark: mail: unknown subcommand %s\n", sub);
    return 2;
}
