/*
 * console_templates.c - the email templates, edited by marketers and
 * admins (support gets 403, by the route table):
 *
 *   GET  /templates                 every template x locale: its current
 *                                   version, who saved it and when
 *   GET  /templates/LOCALE/NAME     the editor: the source (?version=N an
 *                                   old one), the variables it can use, the
 *                                   exact email rendered on the sample data
 *                                   (templates/samples.json), the history
 *   POST /templates/LOCALE/NAME     do=preview: the same page for the posted
 *                                   text (format=json: just the preview, for
 *                                   templates.js); do=save: template.saved
 *                                   by "user:NAME"; do=restore version=N;
 *                                   do=default (back to the file); do=test:
 *                                   the saved version to the account's own
 *                                   address (console_testsend.c)
 *   GET  /templates.js              the live preview: a debounced fetch of
 *                                   do=preview&format=json as one types
 *
 * The versions live in hark-mailer (MAILER_TEMPLATES); a save is checked
 * here exactly as the mailer compiles it (template_saved_check) and the
 * preview is render.c itself on a renderer of our own with the text in
 * the file's place, so what the page shows is what the mailer will send.
 * The page works without JavaScript (Preview is a submit button); with it,
 * templates.js - served by us, allowed on this page alone by a CSP that
 * adds script-src 'self' and connect-src 'self' - fills the same preview
 * with textContent, never markup.  The email's HTML is shown as escaped
 * source, not rendered: the console's CSP allows no inline style, and a
 * template's HTML is no business of the console's own origin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "log.h"
#include "proto.h"
#include "render.h"
#include "template_saved.h"
#include "wire.h"

#define S(o, k) json_string_value(json_object_get((o), (k)))
#define S_PREFIX "/templates/"
/* the editor's CSP: the console's, plus its own script and its fetch */
#define S_EDITOR_CSP CONSOLE_CSP "; script-src 'self'; connect-src 'self'"

/* A (locale, name) from the path. */
typedef struct {
    char locale[40], name[72];
} s_which_t;

/* s_path - /templates/LOCALE/NAME into w; 0, or -1 having answered 404 */
static int s_path(console_req_t *r, s_which_t *w)
{
    const char *rest = r->url + strlen(S_PREFIX);
    size_t ll = strcspn(rest, "/");
    const char *name = rest[ll] ? rest + ll + 1 : "";
    if (ll == 0 || ll >= sizeof w->locale || !*name || strlen(name) >= sizeof w->name ||
        strchr(name, '/')) {
        console_page_error(r, 404);
        return -1;
    }
    memcpy(w->locale, rest, ll);
    w->locale[ll] = '\0';
    snprintf(w->name, sizeof w->name, "%s", name);
    return 0;
}

/* s_ask - MAILER_TEMPLATES (req stolen): the reply, or NULL having
 * answered (404 for an unknown template, 503 when the mailer is away) */
static json_t *s_ask(console_req_t *r, json_t *req)
{
    console_t *con = r->con;
    wire_client_t *mc = console_client(con, con->mailer_key, con->conf.mailer_control);
    char cmd[48] = "";
    json_t *reply = mc && req ? wire_client_call_json(mc, CMD_MAILER_TEMPLATES, req,
                                                      con->conf.intake_timeout_ms, cmd)
                              : NULL;
    json_decref(req);
    if (reply && strcmp(cmd, CMD_MAILER_TEMPLATES_OK) == 0)
        return reply;
    const char *code = S(json_object_get(reply, "error"), "code");
    int not_found = code && strcmp(code, "not_found") == 0;
    json_decref(reply);
    if (not_found) {
        console_page_error(r, 404);
    } else {
        log_warn("event=mailer_unavailable cmd=%s", CMD_MAILER_TEMPLATES);
        console_header(r, "Retry-After", "2");
        console_page_error(r, 503);
    }
    return NULL;
}

/* s_renderer - a renderer of our own over [mailer] templates (one per
 * request: render_t is not shared between threads); NULL logged */
static render_t *s_renderer(console_req_t *r)
{
    char err[300];
    render_t *rd = render_new(r->con->conf.templates, r->con->conf.default_locale, err,
                              sizeof err);
    if (!rd)
        log_error("event=render_init_failed error=\"%s\"", log_value(err));
    return rd;
}

/* s_samples - templates/samples.json's variables for name (caller
 * decrefs; an empty object when it has none) */
static json_t *s_samples(console_req_t *r, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/samples.json", r->con->conf.templates);
    json_t *all = json_load_file(path, 0, NULL);
    json_t *v = json_object_get(all, name);
    json_t *out = json_is_object(v) ? json_incref(v) : json_object();
    json_decref(all);
    return out;
}

/* s_preview - render text as (locale, name) on the sample data into ctx:
 * preview {subject, preheader, text, html} and variables, or error and
 * error_line.  0 rendered, -1 not. */
static int s_preview(console_req_t *r, const s_which_t *w, const char *text, json_t *ctx)
{
    char err[600] = "";
    int line = 0, rc = -1;
    render_t *rd = s_renderer(r);
    json_t *vars = s_samples(r, w->name), *names = json_array();
    rendered_t out = {0};
    if (!rd) {
        snprintf(err, sizeof err, "%s", console_word(r, "tpl_no_renderer"));
    } else if (render_check_source(text, err, sizeof err, &line) == 0 &&
               render_set_source(rd, w->locale, w->name, text, err, sizeof err) == 0 &&
               render_names(rd, w->name, w->locale, names, err, sizeof err) == 0 &&
               render_message(rd, w->name, w->locale, vars, &out, err, sizeof err) == 0) {
        json_object_set_new(ctx, "preview",
                            json_pack("{s:s,s:s,s:s,s:s}", "subject", out.subject, "preheader",
                                      out.preheader, "text", out.text, "html", out.html));
        rc = 0;
    }
    if (rc != 0) {
        json_object_set_new(ctx, "error", json_string(err));
        if (line > 0)
            json_object_set_new(ctx, "error_line", json_integer(line));
    }
    /* the variables: each with its sample value, so a marketer sees both */
    json_t *list = json_array(), *v;
    size_t i;
    json_array_foreach(names, i, v) {
        json_t *sample = json_object_get(vars, json_string_value(v));
        char *shown = json_is_string(sample) ? strdup(json_string_value(sample))
                      : sample ? json_dumps(sample, JSON_COMPACT | JSON_ENCODE_ANY)
                               : NULL;
        json_t *item = json_pack("{s:O}", "name", v);
        if (shown && strlen(shown) > 120)
            strcpy(shown + 117, "...");
        if (shown)
            json_object_set_new(item, "sample", json_string(shown));
        free(shown);
        json_array_append_new(list, item);
    }
    json_object_set_new(ctx, "variables", list);
    json_object_set_new(ctx, "has_variables", json_boolean(json_array_size(list) > 0));
    render_message_free(&out);
    json_decref(names);
    json_decref(vars);
    render_destroy(&rd);
    return rc;
}

/* s_csp - this answer's CSP is the editor's (the route's header was set
 * before the handler ran: replace its value) */
static void s_csp(console_req_t *r)
{
    for (size_t i = 0; i < r->n_hdr; i++) {
        if (strcmp(r->hdr_name[i], "Content-Security-Policy") == 0) {
            char *v = strdup(S_EDITOR_CSP);
            if (v) {
                free(r->hdr_value[i]);
                r->hdr_value[i] = v;
            }
            return;
        }
    }
    console_header(r, "Content-Security-Policy", S_EDITOR_CSP);
}

/* s_editor - the editor page for w with text in the textarea; reply is
 * MAILER_TEMPLATES's for w (the history; borrowed) */
static void s_editor(console_req_t *r, unsigned status, const s_which_t *w, const char *text,
                     const json_t *reply, json_t *ctx)
{
    json_t *row = json_array_get(json_object_get(reply, "templates"), 0), *v;
    json_object_set_new(ctx, "name", json_string(w->name));
    json_object_set_new(ctx, "locale", json_string(w->locale));
    json_object_set_new(ctx, "source", json_string(text));
    json_object_set(ctx, "current", json_object_get(row, "version"));
    json_object_set_new(ctx, "current_default", json_boolean(json_is_true(json_object_get(row, "default"))));
    char action[160];
    snprintf(action, sizeof action, S_PREFIX "%s/%s", w->locale, w->name);
    json_object_set_new(ctx, "action", json_string(action));
    json_t *hist = json_array();
    size_t i;
    json_array_foreach(json_object_get(reply, "history"), i, v) {
        json_t *h = json_deep_copy(v);
        json_object_set_new(h, "is_current", json_boolean(i == 0));
        json_object_set_new(h, "action", json_string(action));
        json_array_append_new(hist, h);
    }
    json_object_set_new(ctx, "has_history", json_boolean(json_array_size(hist) > 0));
    json_object_set_new(ctx, "history", hist);
    if (!json_object_get(ctx, "preview") && !json_object_get(ctx, "error"))
        s_preview(r, w, text, ctx);
    s_csp(r);
    console_page(r, status, "template", "tpl_edit_title", ctx);
}

/* console_templates_list - GET /templates */
void console_templates_list(console_req_t *r)
{
    json_t *reply = s_ask(r, json_object());
    if (!reply)
        return;
    json_t *rows = json_array(), *t;
    size_t i;
    json_array_foreach(json_object_get(reply, "templates"), i, t) {
        json_int_t v = json_integer_value(json_object_get(t, "version"));
        if (v == 0 && !json_is_true(json_object_get(t, "file")))
            continue; /* that locale falls back to another's */
        json_t *row = json_deep_copy(t);
        json_object_set_new(row, "saved", json_boolean(v > 0));
        char href[160];
        snprintf(href, sizeof href, S_PREFIX "%s/%s", S(t, "locale"), S(t, "name"));
        json_object_set_new(row, "href", json_string(href));
        json_array_append_new(rows, row);
    }
    json_decref(reply);
    console_page(r, 200, "templates", "tpl_title", json_pack("{s:o}", "rows", rows));
}

/* console_templates_show - GET /templates/LOCALE/NAME[?version=N] */
void console_templates_show(console_req_t *r)
{
    s_which_t w;
    if (s_path(r, &w))
        return;
    json_t *req = json_pack("{s:s,s:s}", "locale", w.locale, "name", w.name);
    const char *ver = console_http_arg(r, "version");
    if (ver)
        json_object_set_new(req, "version", json_integer(strtoll(ver, NULL, 10)));
    json_t *reply = s_ask(r, req);
    if (!reply)
        return;
    json_t *ctx = json_object();
    const char *done = console_http_arg(r, "done");
    if (done && (strcmp(done, "saved") == 0 || strcmp(done, "restored") == 0)) {
        char key[40];
        snprintf(key, sizeof key, "tpl_done_%s", done);
        json_object_set_new(ctx, "done", json_string(console_word(r, key)));
    }
    if (ver)
        json_object_set(ctx, "shown", json_object_get(reply, "version"));
    const char *src = S(reply, "source");
    s_editor(r, 200, &w, src ? src : "", reply, ctx);
    json_decref(reply);
}

/* s_field - a form field (at most max bytes) as a malloc'd string, NULL
 * when absent or too long */
static char *s_field(console_req_t *r, const char *name, size_t max)
{
    char *v = malloc(max + 1);
    if (v && console_form_get(r->body.data, r->body.len, name, 0, v, max + 1) == 1)
        return v;
    free(v);
    return NULL;
}

/* s_save - journal payload p (stolen) as template.saved by the user, after
 * the checks the mailer makes; 0 journaled, -1 with msg and *line set
 * (the caller answers), -2 having answered */
static int s_save(console_req_t *r, json_t *p, char *msg, size_t mlen, int *line)
{
    char by[CONSOLE_NAME_MAX + 8], field[64] = "", key[120], tok[CONSOLE_TOKEN_HEX + 1];
    snprintf(by, sizeof by, "user:%s", r->user.name);
    json_object_set_new(p, "by", json_string(by));
    render_t *rd = s_renderer(r);
    schema_t *s = template_saved_schema(msg, mlen);
    const char *bad = rd && s ? template_saved_check(s, rd, p, field, sizeof field, msg, mlen,
                                                     line)
                              : "internal";
    render_destroy(&rd);
    schema_destroy(&s);
    if (bad) {
        json_decref(p);
        return -1;
    }
    console_token(tok);
    snprintf(key, sizeof key, "console/template/%.16s", tok);
    int rc = console_journal(r, EV_TEMPLATE_SAVED, key, p, "name");
    json_decref(p);
    return rc == 0 ? 0 : -2;
}

/* s_redirect_done - 303 to the editor saying what happened */
static void s_redirect_done(console_req_t *r, const s_which_t *w, const char *done)
{
    char to[200];
    snprintf(to, sizeof to, S_PREFIX "%s/%s?done=%s", w->locale, w->name, done);
    console_redirect(r, to);
}

/* s_json_preview - do=preview&format=json: just the preview, for templates.js */
static void s_json_preview(console_req_t *r, const s_which_t *w, const char *text)
{
    json_t *ctx = json_object();
    s_preview(r, w, text, ctx);
    json_t *body = json_pack("{s:O?,s:O?,s:O?,s:O}", "preview", json_object_get(ctx, "preview"),
                             "error", json_object_get(ctx, "error"), "error_line",
                             json_object_get(ctx, "error_line"), "variables",
                             json_object_get(ctx, "variables"));
    char *s = json_dumps(body, JSON_COMPACT);
    buf_reset(&r->out);
    if (s)
        buf_puts(&r->out, s);
    free(s);
    json_decref(body);
    json_decref(ctx);
    r->status = 200;
    r->content_type = "application/json; charset=utf-8";
}

/* console_templates_post - POST /templates/LOCALE/NAME */
void console_templates_post(console_req_t *r)
{
    s_which_t w;
    if (s_path(r, &w))
        return;
    char what[16] = "", fmt[8] = "";
    console_form_get(r->body.data, r->body.len, "do", 0, what, sizeof what);
    console_form_get(r->body.data, r->body.len, "format", 0, fmt, sizeof fmt);
    char *text = s_field(r, "source", RENDER_MAX_SOURCE);
    char msg[600] = "";
    int line = 0;
    if (strcmp(what, "preview") == 0 && strcmp(fmt, "json") == 0) {
        s_json_preview(r, &w, text ? text : "");
        free(text);
        return;
    }
    json_t *p = NULL, *ctx = json_object();
    const char *done = "saved";
    if (strcmp(what, "save") == 0) {
        if (!text)
            snprintf(msg, sizeof msg, "%s", console_word(r, "tpl_source_missing"));
        else
            p = json_pack("{s:s,s:s,s:s}", "locale", w.locale, "name", w.name, "source", text);
    } else if (strcmp(what, "default") == 0) {
        p = json_pack("{s:s,s:s,s:b}", "locale", w.locale, "name", w.name, "default", 1);
        done = "restored";
    } else if (strcmp(what, "restore") == 0) {
        char ver[24] = "";
        console_form_get(r->body.data, r->body.len, "version", 0, ver, sizeof ver);
        long long n = strtoll(ver, NULL, 10);
        json_t *old = n > 0 ? s_ask(r, json_pack("{s:s,s:s,s:I}", "locale", w.locale, "name",
                                                 w.name, "version", (json_int_t)n))
                            : NULL;
        if (!old) {
            if (n <= 0)
                console_page_error(r, 400);
            free(text);
            json_decref(ctx);
            return;
        }
        p = S(old, "source") ? json_pack("{s:s,s:s,s:s,s:I}", "locale", w.locale, "name", w.name,
                                         "source", S(old, "source"), "restored_from",
                                         (json_int_t)n)
                             : json_pack("{s:s,s:s,s:b,s:I}", "locale", w.locale, "name", w.name,
                                         "default", 1, "restored_from", (json_int_t)n);
        json_decref(old);
        done = "restored";
    } else if (strcmp(what, "test") == 0) {
        /* the saved version (what the mailer sends), to the account's own
         * address (console_testsend.c) */
        json_t *vars = json_object();
        int rc = console_test_send(r, w.name, w.locale, vars, ctx);
        json_decref(vars);
        if (rc < 0) {
            free(text);
            json_decref(ctx);
            return;
        }
    } else if (strcmp(what, "preview") != 0) {
        free(text);
        json_decref(ctx);
        console_page_error(r, 400);
        return;
    }
    if (p) {
        int rc = s_save(r, p, msg, sizeof msg, &line);
        if (rc == 0)
            s_redirect_done(r, &w, done);
        if (rc != -1) {
            free(text);
            json_decref(ctx);
            return;
        }
    }
    /* the page again with the posted text: a preview, or the error beside it */
    json_t *reply = s_ask(r, json_pack("{s:s,s:s}", "locale", w.locale, "name", w.name));
    if (!reply) {
        free(text);
        json_decref(ctx);
        return;
    }
    unsigned status = 200;
    if (*msg) {
        status = 400;
        json_object_set_new(ctx, "error", json_string(msg));
        if (line > 0)
            json_object_set_new(ctx, "error_line", json_integer(line));
        s_preview(r, &w, text ? text : "", ctx);
        json_object_set_new(ctx, "error", json_string(msg)); /* the save's words win */
    }
    s_editor(r, status, &w, text ? text : S(reply, "source") ? S(reply, "source") : "", reply,
             ctx);
    json_decref(reply);
    free(text);
}

/* console_templates_js - GET /templates.js: the live preview */
void console_templates_js(console_req_t *r)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/console/templates.js", r->con->conf.templates);
    FILE *f = fopen(path, "rb");
    buf_reset(&r->out);
    char chunk[4096];
    size_t n;
    while (f && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&r->out, chunk, n);
    if (f)
        fclose(f);
    if (!f) {
        console_page_error(r, 404);
        return;
    }
    r->status = 200;
    r->content_type = "text/javascript; charset=utf-8";
}
