/*
 * gateway_milestone.c - the milestone settings in the admin API
 * (Authorization: Bearer <admin key>):
 *
 *   GET /v1/milestones        both kinds' settings and counts, asked of
 *                             hark-milestone (MILESTONE_SETTINGS)
 *   GET /v1/milestones/KIND   one of them (KIND: birthday or anniversary)
 *   PUT /v1/milestones/KIND   replace that kind's settings: the body is the
 *                             settings (kind and by are the gateway's),
 *                             checked like `hark milestone set` checks them
 *                             (milestone_settings_check; a template must exist under
 *                             [mailer] templates: milestone_settings_template_check),
 *                             journaled as milestone.saved;
 *                             202 {kind, offset} after the commit
 *
 * Writes are events like every other: hark-milestone applies
 * milestone.saved, and the journal keeps every change (by = "api", or "api:NAME" given X-Hark-Actor).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "log.h"
#include "milestone_settings.h"
#include "proto.h"

#define MILESTONES_PATH "/v1/milestones"

/* gateway_milestone_init - compile milestone.saved's schema */
int gateway_milestone_init(gateway_t *gw)
{
    char err[256];
    gw->milestone = milestone_settings_schema(err, sizeof err);
    if (!gw->milestone)
        log_error("event=schema_failed schema=milestone.saved error=\"%s\"", err);
    return gw->milestone ? 0 : -1;
}

/* gateway_milestone_fini - free the schema */
void gateway_milestone_fini(gateway_t *gw)
{
    schema_destroy(&gw->milestone);
}

/* s_list - MILESTONE_SETTINGS {kind?}: the reply's list (caller decrefs) or
 * NULL having answered 503 */
static json_t *s_list(gateway_req_t *r, const char *kind)
{
    json_t *req = kind ? json_pack("{s:s}", "kind", kind) : json_object();
    char cmd[48] = "";
    json_t *reply = req ? gateway_call(r->gw, "milestone", CMD_MILESTONE_SETTINGS, req,
                                   r->gw->conf.milestone_timeout_ms, cmd) : NULL;
    json_decref(req);
    json_t *list = json_object_get(reply, "milestones");
    if (!reply || strcmp(cmd, CMD_MILESTONE_SETTINGS_OK) != 0 || !json_is_array(list)) {
        json_decref(reply);
        r->retry_after = "1";
        gateway_error(r, 503, "milestone_unavailable",
                      "the milestone service did not answer; retry", NULL, -1);
        return NULL;
    }
    json_incref(list);
    json_decref(reply);
    return list;
}

/* s_put - replace one kind's settings */
static void s_put(gateway_req_t *r, const char *kind)
{
    json_t *c = gateway_body_object(r);
    if (!c)
        return;
    const json_t *bk = json_object_get(c, "kind");
    if (bk && !(json_is_string(bk) && strcmp(json_string_value(bk), kind) == 0)) {
        gateway_error(r, 400, "invalid_field", "kind must be the one in the path (or left out)",
                 "kind", -1);
        json_decref(c);
        return;
    }
    json_object_set_new(c, "kind", json_string(kind));
    char by[80];
    if (gateway_actor(r, by, sizeof by)) {
        json_decref(c);
        return;
    }
    json_object_set_new(c, "by", json_string(by));
    if (!json_object_get(c, "enabled"))
        json_object_set_new(c, "enabled", json_true());
    char field[256] = "", msg[600];
    const char *code =
        milestone_settings_check(r->gw->milestone, c, field, sizeof field, msg, sizeof msg);
    const char *tmpl = json_string_value(json_object_get(c, "template"));
    if (!code && tmpl &&
        milestone_settings_template_check(r->gw->conf.templates, r->gw->conf.default_locale, tmpl,
                                          field, sizeof field, msg, sizeof msg))
        code = "invalid_field";
    if (code) {
        gateway_error(r, 400, code, msg, *field ? field : NULL, -1);
        json_decref(c);
        return;
    }
    long long off = gateway_journal_one(r, EV_MILESTONE_SAVED, c, NULL);
    json_decref(c);
    if (off < 0)
        return;
    json_t *body = json_pack("{s:s,s:I}", "kind", kind, "offset", (json_int_t)off);
    gateway_json(r, 202, body);
    json_decref(body);
}

/* gateway_milestone - /v1/milestones and /v1/milestones/KIND */
void gateway_milestone(gateway_req_t *r)
{
    if (!gateway_bearer_ok(r, r->gw->admin_key))
        return;
    const char *kind = NULL;
    if (strncmp(r->url, MILESTONES_PATH "/", sizeof MILESTONES_PATH) == 0) {
        kind = r->url + sizeof MILESTONES_PATH;
        if (milestone_settings_kind(kind) < 0) {
            gateway_error(r, 404, "not_found", "a milestone kind is birthday or anniversary",
                          "kind", -1);
            return;
        }
    }
    if (strcmp(r->method, "PUT") == 0) {
        if (r->too_large)
            gateway_error(r, 413, "body_too_large", "the body is too large", NULL, -1);
        else
            s_put(r, kind);
        return;
    }
    json_t *list = s_list(r, kind);
    if (!list)
        return;
    json_t *body = kind ? json_incref(json_array_get(list, 0))
                        : json_pack("{s:O}", "milestones", list);
    gateway_json(r, 200, body);
    json_decref(body);
    json_decref(list);
}
