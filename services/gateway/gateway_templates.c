/*
 * gateway_templates.c - the email templates in the admin API
 * (Authorization: Bearer <admin key>):
 *
 *   GET /v1/templates                every template in every locale folder
 *                                    with its current version, asked of
 *                                    hark-mailer (MAILER_TEMPLATES)
 *   GET /v1/templates/LOCALE/NAME    one: its source (the current version;
 *                                    ?version=N that one, 0 the file), its
 *                                    version and history
 *   PUT /v1/templates/LOCALE/NAME    a new version: body {source} (the whole
 *                                    text, front matter included) or
 *                                    {default: true} (back to the file), with
 *                                    restored_from N when restoring.  Checked
 *                                    as the mailer compiles it
 *                                    (template_saved_check), journaled as
 *                                    template.saved; 202 {locale, name,
 *                                    offset} after the commit, 400 naming the
 *                                    field and, for the source, its line
 *
 * Writes are events like every other: hark-mailer applies template.saved
 * (no restart), and the journal keeps every version (by = "api", or
 * "api:NAME" given X-Hark-Actor) as the audit trail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "log.h"
#include "proto.h"
#include "render.h"
#include "template_saved.h"

#define TEMPLATES_PATH "/v1/templates"
/* hark-mailer answers MAILER_TEMPLATES from its own SQLite and one
 * directory read: a second is long */
#define S_MAILER_TIMEOUT_MS 3000

/* s_error - 400 {"error":{code, message, field, line?}}: line > 0 is the
 * line of the source at fault, for an editor to point at */
static void s_error(gateway_req_t *r, const char *code, const char *msg, const char *field,
                    int line)
{
    json_t *e = json_pack("{s:s,s:s}", "code", code, "message", msg);
    if (field && *field)
        json_object_set_new(e, "field", json_string(field));
    if (line > 0)
        json_object_set_new(e, "line", json_integer(line));
    json_t *body = json_pack("{s:o}", "error", e);
    gateway_json(r, 400, body);
    json_decref(body);
}

/* s_path - LOCALE/NAME after the prefix into locale and name; 0, or -1
 * having answered 404 */
static int s_path(gateway_req_t *r, char *locale, size_t llen, char *name, size_t nlen)
{
    const char *rest = r->url + sizeof TEMPLATES_PATH;
    const char *slash = strchr(rest, '/');
    size_t ll = slash ? (size_t)(slash - rest) : 0;
    if (!slash || ll == 0 || ll >= llen || strlen(slash + 1) == 0 ||
        strlen(slash + 1) >= nlen || strchr(slash + 1, '/')) {
        gateway_error(r, 404, "not_found", "a template is /v1/templates/LOCALE/NAME", NULL, -1);
        return -1;
    }
    memcpy(locale, rest, ll);
    locale[ll] = '\0';
    snprintf(name, nlen, "%s", slash + 1);
    return 0;
}

/* s_get - GET one template or the list */
static void s_get(gateway_req_t *r, const char *locale, const char *name)
{
    json_t *req = json_object();
    if (name) {
        json_object_set_new(req, "locale", json_string(locale));
        json_object_set_new(req, "name", json_string(name));
        const char *v = gateway_arg(r, "version");
        if (v) {
            char *end;
            long long n = strtoll(v, &end, 10);
            if (*end || n < 0) {
                json_decref(req);
                gateway_error(r, 400, "invalid_field", "version is a number, 0 for the file",
                              "version", -1);
                return;
            }
            json_object_set_new(req, "version", json_integer(n));
        }
    }
    char cmd[48] = "";
    json_t *reply = gateway_call(r->gw, "mailer", CMD_MAILER_TEMPLATES, req,
                                 S_MAILER_TIMEOUT_MS, cmd);
    json_decref(req);
    if (!name || !reply || strcmp(cmd, CMD_MAILER_TEMPLATES_OK) != 0) {
        gateway_relay(r, "mailer", reply, cmd, CMD_MAILER_TEMPLATES_OK);
        json_decref(reply);
        return;
    }
    /* one template: its row's fields at the top, with history and source */
    json_t *body = json_deep_copy(json_array_get(json_object_get(reply, "templates"), 0));
    json_object_set(body, "history", json_object_get(reply, "history"));
    json_object_set(body, "shown", json_object_get(reply, "version"));
    if (json_object_get(reply, "source"))
        json_object_set(body, "source", json_object_get(reply, "source"));
    gateway_json(r, 200, body);
    json_decref(body);
    json_decref(reply);
}

/* s_put - a new version of (locale, name) */
static void s_put(gateway_req_t *r, const char *locale, const char *name)
{
    json_t *c = gateway_body_object(r);
    if (!c)
        return;
    static const char *const ours[] = {"locale", "name", "by"};
    for (size_t i = 0; i < sizeof ours / sizeof *ours; i++) {
        if (json_object_get(c, ours[i])) {
            char msg[120];
            snprintf(msg, sizeof msg, "%s comes from the path or the key, not the body", ours[i]);
            s_error(r, "invalid_field", msg, ours[i], 0);
            json_decref(c);
            return;
        }
    }
    json_object_set_new(c, "locale", json_string(locale));
    json_object_set_new(c, "name", json_string(name));
    char by[80];
    if (gateway_actor(r, by, sizeof by)) {
        json_decref(c);
        return;
    }
    json_object_set_new(c, "by", json_string(by));
    char field[64] = "", msg[600] = "", err[256];
    int line = 0;
    render_t *rd = render_new(r->gw->conf.templates, r->gw->conf.default_locale, err, sizeof err);
    schema_t *s = template_saved_schema(err, sizeof err);
    const char *code = NULL;
    if (!rd || !s) {
        log_error("event=templates_unreadable error=\"%s\"", err);
        gateway_error(r, 500, "internal", "the templates folder cannot be read", NULL, -1);
        render_destroy(&rd);
        schema_destroy(&s);
        json_decref(c);
        return;
    }
    if (!json_object_get(c, "source") && !json_object_get(c, "default")) {
        code = "invalid_field";
        snprintf(field, sizeof field, "source");
        snprintf(msg, sizeof msg, "source is required: the whole template, front matter included"
                                  " (or default: true, back to the file)");
    } else {
        code = template_saved_check(s, rd, c, field, sizeof field, msg, sizeof msg, &line);
    }
    render_destroy(&rd);
    schema_destroy(&s);
    if (code) {
        s_error(r, code, msg, field, line);
        json_decref(c);
        return;
    }
    long long off = gateway_journal_one(r, EV_TEMPLATE_SAVED, c, NULL);
    json_decref(c);
    if (off < 0)
        return;
    json_t *body = json_pack("{s:s,s:s,s:I}", "locale", locale, "name", name, "offset",
                             (json_int_t)off);
    gateway_json(r, 202, body);
    json_decref(body);
}

/* gateway_templates - /v1/templates and /v1/templates/LOCALE/NAME */
void gateway_templates(gateway_req_t *r)
{
    if (!gateway_bearer_ok(r, r->gw->admin_key))
        return;
    char locale[40], name[72];
    int one = strncmp(r->url, TEMPLATES_PATH "/", sizeof TEMPLATES_PATH) == 0;
    if (one && s_path(r, locale, sizeof locale, name, sizeof name))
        return;
    if (strcmp(r->method, "PUT") == 0) {
        if (r->too_large)
            gateway_error(r, 413, "body_too_large", "the body is too large", NULL, -1);
        else
            s_put(r, locale, name);
        return;
    }
    s_get(r, locale, one ? name : NULL);
}
