/*
 * hark_template.c - `hark template`: the email templates as a marketer
 * edits them from the shell, the same versions Hark Console's /templates
 * and the admin API's /v1/templates show (MAILER_TEMPLATES on [mailer]
 * control; every change a template.saved event, by "cli:$USER").
 *
 *   template list [--json]                 every template in every locale,
 *                                          its current version and who saved it
 *   template show NAME [--locale L] [--version N]
 *                                          the text (current; 0: the file)
 *   template set NAME [--locale L] --file F
 *                                          a new version from F, checked as
 *                                          the mailer compiles it (errors name
 *                                          the line) before it is journaled
 *   template history NAME [--locale L] [--json]
 *   template restore NAME [--locale L] (--version N | --default)
 *                                          a new version with N's text (or
 *                                          back to the file): the history
 *                                          only grows
 *
 * --locale defaults to [mailer] default_locale.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hark.h"
#include "proto.h"
#include "render.h"
#include "template_saved.h"

/* The options of one template command. */
typedef struct {
    const char *name, *locale, *file;
    long long version;  /* -1: not given */
    int as_json, to_default;
} s_opts_t;

/* s_opts - NAME and the options after it; 0, or 2 having said why */
static int s_opts(cli_t *cli, const char *sub, int need_name, s_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->version = -1;
    o->locale = config_get(cli->cfg, "mailer", "default_locale");
    int i = 1;
    if (need_name) {
        if (cli->argc < 2 || cli->argv[1][0] == '-') {
            fprintf(stderr, "hark: template %s needs a template name\n", sub);
            return 2;
        }
        o->name = cli->argv[1];
        i = 2;
    }
    for (; i < cli->argc; i++) {
        const char *a = cli->argv[i];
        int has = i + 1 < cli->argc;
        if (strcmp(a, "--json") == 0) {
            o->as_json = 1;
        } else if (strcmp(a, "--default") == 0) {
            o->to_default = 1;
        } else if (strcmp(a, "--locale") == 0 && has) {
            o->locale = cli->argv[++i];
        } else if (strcmp(a, "--file") == 0 && has) {
            o->file = cli->argv[++i];
        } else if (strcmp(a, "--version") == 0 && has) {
            char *end;
            o->version = strtoll(cli->argv[++i], &end, 10);
            if (*end || o->version < 0) {
                fprintf(stderr, "hark: template %s: --version takes a number, not \"%s\"\n", sub,
                        cli->argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "hark: template %s: %s %s\n", sub, a,
                    strncmp(a, "--", 2) == 0 && !has ? "needs a value" : "is not an option");
            return 2;
        }
    }
    return 0;
}

/* s_ask - MAILER_TEMPLATES (req stolen) once the mailer has applied the
 * journal; the reply or NULL having said why (*rc set) */
static json_t *s_ask(cli_t *cli, json_t *req, int *rc)
{
    const char *ep = config_get(cli->cfg, "mailer", "control");
    hark_wait_applied(cli, ep);
    json_t *r = req ? hark_ask(cli, ep, CMD_MAILER_TEMPLATES, CMD_MAILER_TEMPLATES_OK, req,
                               "hark-mailer", "template", rc)
                    : NULL;
    json_decref(req);
    return r;
}

/* s_one - MAILER_TEMPLATES for o's (locale, name[, version]) */
static json_t *s_one(cli_t *cli, const s_opts_t *o, int *rc)
{
    json_t *req = json_pack("{s:s,s:s}", "name", o->name, "locale", o->locale);
    if (req && o->version >= 0)
        json_object_set_new(req, "version", json_integer(o->version));
    return s_ask(cli, req, rc);
}

/* s_list - one line per template and locale */
static int s_list(cli_t *cli)
{
    s_opts_t o;
    int rc = s_opts(cli, "list", 0, &o);
    if (rc)
        return rc;
    json_t *r = s_ask(cli, json_object(), &rc);
    if (!r)
        return rc;
    json_t *list = json_object_get(r, "templates"), *t;
    if (o.as_json) {
        hark_print_json(list, JSON_COMPACT, "[]");
        json_decref(r);
        return 0;
    }
    printf("%-22s %-7s %-8s %-24s %s\n", "template", "locale", "version", "saved", "by");
    size_t i;
    json_array_foreach(list, i, t) {
        json_int_t v = json_integer_value(json_object_get(t, "version"));
        int file = json_is_true(json_object_get(t, "file"));
        if (v == 0 && !file)
            continue; /* nothing for that locale: it falls back */
        const char *at = json_string_value(json_object_get(t, "saved_at"));
        const char *by = json_string_value(json_object_get(t, "by"));
        char ver[32];
        if (json_is_true(json_object_get(t, "default")))
            snprintf(ver, sizeof ver, v ? "%lld:file" : "file", (long long)v);
        else
            snprintf(ver, sizeof ver, "%lld", (long long)v);
        printf("%-22s %-7s %-8s %-24s %s\n", json_string_value(json_object_get(t, "name")),
               json_string_value(json_object_get(t, "locale")), ver, at ? at : "-",
               by ? by : "-");
    }
    json_decref(r);
    return 0;
}

/* s_show - the text of one version */
static int s_show(cli_t *cli)
{
    s_opts_t o;
    int rc = s_opts(cli, "show", 1, &o);
    if (rc)
        return rc;
    json_t *r = s_one(cli, &o, &rc);
    if (!r)
        return rc;
    const char *src = json_string_value(json_object_get(r, "source"));
    if (!src) {
        fprintf(stderr, "hark: template show: %s has no text for %s\n", o.name, o.locale);
        json_decref(r);
        return 1;
    }
    fputs(src, stdout);
    json_decref(r);
    return 0;
}

/* s_history - one line per version, newest first */
static int s_history(cli_t *cli)
{
    s_opts_t o;
    int rc = s_opts(cli, "history", 1, &o);
    if (rc)
        return rc;
    json_t *r = s_one(cli, &o, &rc);
    if (!r)
        return rc;
    json_t *h = json_object_get(r, "history"), *v;
    if (o.as_json) {
        hark_print_json(h, JSON_COMPACT, "[]");
        json_decref(r);
        return 0;
    }
    printf("%-8s %-24s %-10s %s\n", "version", "saved", "offset", "by");
    size_t i;
    json_array_foreach(h, i, v) {
        json_t *rf = json_object_get(v, "restored_from");
        printf("%-8lld %-24s %-10lld %s%s", (long long)json_integer_value(json_object_get(v, "version")),
               json_string_value(json_object_get(v, "saved_at")),
               (long long)json_integer_value(json_object_get(v, "offset")),
               json_string_value(json_object_get(v, "by")),
               json_is_true(json_object_get(v, "default")) ? " (the file)" : "");
        if (rf)
            printf(" (restores %lld)", (long long)json_integer_value(rf));
        putchar('\n');
    }
    if (json_array_size(h) == 0)
        printf("never saved: the mailer sends the file %s/%s.md\n", o.locale, o.name);
    json_decref(r);
    return 0;
}

/* s_save - check payload p (stolen) as the mailer will, then journal it */
static int s_save(cli_t *cli, const char *sub, json_t *p)
{
    char by[80], field[64] = "", msg[600] = "", err[256];
    hark_by(by, sizeof by);
    json_object_set_new(p, "by", json_string(by));
    render_t *r = render_new(config_get(cli->cfg, "mailer", "templates"),
                             config_get(cli->cfg, "mailer", "default_locale"), err, sizeof err);
    schema_t *s = template_saved_schema(msg, sizeof msg);
    int bad = 1;
    if (!r)
        snprintf(msg, sizeof msg, "%s", err);
    else if (s)
        bad = template_saved_check(s, r, p, field, sizeof field, msg, sizeof msg, NULL) != NULL;
    schema_destroy(&s);
    render_destroy(&r);
    if (bad) {
        fprintf(stderr, "hark: template %s: %s\n", sub, msg);
        json_decref(p);
        return 2;
    }
    char what[140];
    snprintf(what, sizeof what, "%s/%s", json_string_value(json_object_get(p, "locale")),
             json_string_value(json_object_get(p, "name")));
    long long off = hark_journal_one(cli, EV_TEMPLATE_SAVED, what, p);
    json_decref(p);
    if (off < 0)
        return 1;
    printf("template %s saved by %s (journal offset %lld)\n", what, by, off);
    return 0;
}

/* s_set - a new version from a file */
static int s_set(cli_t *cli)
{
    s_opts_t o;
    int rc = s_opts(cli, "set", 1, &o);
    if (rc)
        return rc;
    if (!o.file) {
        fprintf(stderr, "hark: template set needs --file F (the whole template, front matter"
                        " included)\n");
        return 2;
    }
    size_t len = 0;
    char *text = hark_read_file(o.file, RENDER_MAX_SOURCE, &len);
    if (!text) {
        fprintf(stderr, "hark: template set: cannot read %s\n", o.file);
        return 2;
    }
    if (len > RENDER_MAX_SOURCE || strlen(text) != len) {
        fprintf(stderr, "hark: template set: %s is %s\n", o.file,
                len > RENDER_MAX_SOURCE ? "over the 64 KiB limit" : "not text (a NUL byte)");
        free(text);
        return 2;
    }
    json_t *p = json_pack("{s:s,s:s,s:s}", "locale", o.locale, "name", o.name, "source", text);
    free(text);
    if (!p) {
        fprintf(stderr, "hark: template set: %s is not UTF-8 text\n", o.file);
        return 2;
    }
    return s_save(cli, "set", p);
}

/* s_restore - a new version with an old one's text, or the file */
static int s_restore(cli_t *cli)
{
    s_opts_t o;
    int rc = s_opts(cli, "restore", 1, &o);
    if (rc)
        return rc;
    if (o.to_default == (o.version >= 0) || o.version == 0) {
        fprintf(stderr, "hark: template restore needs --version N (N >= 1) or --default\n");
        return 2;
    }
    if (o.to_default)
        return s_save(cli, "restore",
                      json_pack("{s:s,s:s,s:b}", "locale", o.locale, "name", o.name, "default", 1));
    json_t *r = s_one(cli, &o, &rc);
    if (!r)
        return rc;
    const char *src = json_string_value(json_object_get(r, "source"));
    json_t *p = src ? json_pack("{s:s,s:s,s:s,s:I}", "locale", o.locale, "name", o.name, "source",
                                src, "restored_from", (json_int_t)o.version)
                    : json_pack("{s:s,s:s,s:b,s:I}", "locale", o.locale, "name", o.name,
                                "default", 1, "restored_from", (json_int_t)o.version);
    json_decref(r);
    return s_save(cli, "restore", p);
}

/* hark_template - `hark template list|show|set|history|restore` */
int hark_template(cli_t *cli)
{
    static const struct {
        const char *name;
        int (*run)(cli_t *);
    } subs[] = {{"list", s_list},       {"show", s_show},       {"set", s_set},
                {"history", s_history}, {"restore", s_restore}};
    const char *sub = cli->argc > 0 ? cli->argv[0] : "";
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++)
        if (strcmp(sub, subs[i].name) == 0)
            return subs[i].run(cli);
    fprintf(stderr, "hark: template needs list, show, set, history or restore\n");
    return 2;
}
