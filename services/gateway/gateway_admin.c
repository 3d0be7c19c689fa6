/*
 * gateway_admin.c - the admin API (Authorization: Bearer <admin key>):
 *
 *   GET /v1/campaigns        the campaigns, asked of hark-survey (SURVEY_CAMPAIGNS)
 *   GET /v1/campaigns/ID     one of them (404 when unknown)
 *   PUT /v1/campaigns/ID     create or replace: the body is the campaign
 *                            (id and by are the gateway's), checked against
 *                            proto/events/campaign.saved.json, journaled as
 *                            campaign.saved; 202 {offset} after the commit
 *
 * Writes are events like every other: hark-survey applies campaign.saved,
 * and the journal keeps every change (with by = "api", or "api:NAME" given X-Hark-Actor: NAME) as the audit trail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "gateway.h"
#include "log.h"
#include "proto.h"
#include "tz.h"

#define CAMPAIGNS_PATH "/v1/campaigns"

/* gateway_admin_init - compile campaign.saved's schema */
int gateway_admin_init(gateway_t *gw)
{
    char err[256];
    gw->campaign = campaign_schema(err, sizeof err);
    if (!gw->campaign)
        log_error("event=schema_failed schema=campaign.saved error=\"%s\"", err);
    return gw->campaign ? 0 : -1;
}

/* gateway_admin_fini - free the schema */
void gateway_admin_fini(gateway_t *gw)
{
    schema_destroy(&gw->campaign);
}

/* s_slug_ok - a campaign id: [a-z0-9-]{1,64} */
static int s_slug_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return 0;
    return 1;
}

/* s_list - SURVEY_CAMPAIGNS {id?}; the reply's campaigns array (caller
 * decrefs) or NULL having answered 503 */
static json_t *s_list(gateway_req_t *r, const char *id)
{
    json_t *req = id ? json_pack("{s:s}", "id", id) : json_object();
    char cmd[48] = "";
    json_t *reply = req ? gateway_call(r->gw, "survey", CMD_SURVEY_CAMPAIGNS, req,
                                         r->gw->conf.survey_timeout_ms, cmd)
                        : NULL;
    json_decref(req);
    json_t *list = json_object_get(reply, "campaigns");
    if (!reply || strcmp(cmd, CMD_SURVEY_CAMPAIGNS_OK) != 0 || !json_is_array(list)) {
        json_decref(reply);
        r->retry_after = "1";
        gateway_error(r, 503, "survey_unavailable", "the survey service did not answer; retry",
                 NULL, -1);
        return NULL;
    }
    json_incref(list);
    json_decref(reply);
    return list;
}

/* s_check - a PUT body made a campaign.saved payload; 0, or -1 having
 * answered 400 naming the field */
static int s_check(gateway_req_t *r, json_t *c, const char *id)
{
    const json_t *bid = json_object_get(c, "id");
    if (bid && !(json_is_string(bid) && strcmp(json_string_value(bid), id) == 0)) {
        gateway_error(r, 400, "invalid_field", "id must be the one in the path (or left out)", "id",
                 -1);
        return -1;
    }
    /* what a marketer would not bother to say */
    json_object_set_new(c, "id", json_string(id));
    char by[80];
    if (gateway_actor(r, by, sizeof by))
        return -1;
    json_object_set_new(c, "by", json_string(by));
    if (!json_object_get(c, "kind"))
        json_object_set_new(c, "kind", json_string("post_purchase"));
    if (!json_object_get(c, "enabled"))
        json_object_set_new(c, "enabled", json_true());
    char field[256], msg[600];
    const char *code = campaign_check(r->gw->campaign, c, field, sizeof field, msg, sizeof msg);
    if (code) {
        gateway_error(r, 400, code, msg, *field ? field : NULL, -1);
        return -1;
    }
    /* a window like 20-9 has the schema's shape but never opens: the
     * same parser hark-survey uses (common/tz.c) decides, one
     * field at a time so the 400 names it */
    const char *hours = json_string_value(json_object_get(c, "window_hours"));
    const char *days = json_string_value(json_object_get(c, "window_days"));
    tz_window_t w;
    const char *bad = NULL;
    if (hours && tz_window_parse(hours, "all", &w, msg, sizeof msg))
        bad = "window_hours";
    else if (days && tz_window_parse("0-24", days, &w, msg, sizeof msg))
        bad = "window_days";
    if (bad) {
        gateway_error(r, 400, "invalid_field", msg, bad, -1);
        return -1;
    }
    return 0;
}

/* s_put - create or replace one campaign */
static void s_put(gateway_req_t *r, const char *id)
{
    json_t *c = gateway_body_object(r);
    if (!c)
        return;
    if (s_check(r, c, id)) {
        json_decref(c);
        return;
    }
    /* one that can never invite anyone is saved (the campaign in its way
     * may be the next one changed) but the answer says so */
    json_t *all = s_list(r, NULL);
    if (!all) {
        json_decref(c);
        return;
    }
    char shadow[80];
    int never = campaign_shadow(all, c, shadow, sizeof shadow);
    json_decref(all);
    long long off = gateway_journal_one(r, EV_CAMPAIGN_SAVED, c, NULL);
    json_decref(c);
    if (off < 0)
        return;
    json_t *body = json_pack("{s:s,s:I}", "id", id, "offset", (json_int_t)off);
    if (never) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "this campaign can never invite anyone: %s is tried first (priority, then id)"
                 " and takes every purchase it would; give this one a smaller priority",
                 shadow);
        json_object_set_new(body, "warnings",
                            json_pack("[{s:s,s:s,s:s,s:s}]", "code", "never_invites", "field",
                                      "priority", "because", shadow, "message", msg));
    }
    gateway_json(r, 202, body);
    json_decref(body);
}

/* gateway_admin_campaigns - /v1/campaigns and /v1/campaigns/ID */
void gateway_admin_campaigns(gateway_req_t *r)
{
    if (!gateway_bearer_ok(r, r->gw->admin_key))
        return;
    const char *id = NULL;
    if (strncmp(r->url, CAMPAIGNS_PATH "/", sizeof CAMPAIGNS_PATH) == 0) {
        id = r->url + sizeof CAMPAIGNS_PATH;
        if (!s_slug_ok(id)) {
            gateway_error(r, 400, "invalid_field", "a campaign id is 1-64 of a-z, 0-9 and -", "id",
                     -1);
            return;
        }
    }
    if (strcmp(r->method, "PUT") == 0) {
        if (r->too_large) {
            gateway_error(r, 413, "body_too_large", "the body is too large", NULL, -1);
            return;
        }
        s_put(r, id);
        return;
    }
    json_t *list = s_list(r, id);
    if (!list)
        return;
    if (id && json_array_size(list) == 0) {
        gateway_error(r, 404, "not_found", "no such campaign", "id", -1);
    } else {
        json_t *body = id ? json_incref(json_array_get(list, 0))
                          : json_pack("{s:O}", "campaigns", list);
        gateway_json(r, 200, body);
        json_decref(body);
    }
    json_decref(list);
}
