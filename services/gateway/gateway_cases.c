/*
 * gateway_cases.c - the admin API of hark-intake's cases (Bearer admin
 * key): reads asked of hark-intake (INTAKE_CASES), writes journaled as
 * case.* events with by = "api" (or "api:NAME" given X-Hark-Actor: NAME,
 * see gateway_actor):
 *   GET  /v1/cases[?status=&reason=&team=&breached=1]   GET /v1/cases/ID
 *   POST /v1/cases/ID/reply {message}  /retag {codes}  /resolve {}
 *        (an Idempotency-Key header makes a retry store nothing new)
 * Parameters are checked against the taxonomy the gateway loaded
 * (gateway_intake.c) so a 400 names the bad one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "gateway.h"
#include "mime.h"
#include "proto.h"
#include "reasons.h"

/* s_case_exists - 1 when hark-intake knows id, 0 when not (answered
 * 404), -1 when it did not answer (answered 503).  With reply set, a case
 * whose customer cannot be mailed is 0 too (answered 409 no_usable_email):
 * a reply nobody receives must not stop the first-response clock.  With
 * resolve set, a case already resolved is 0 (answered 409
 * already_resolved): doing it again would change nothing, and saying so
 * tells staff someone else got there first. */
static int s_case_exists(gateway_req_t *r, const char *id, int reply, int resolve)
{
    json_t *req = json_pack("{s:s}", "id", id);
    char cmd[48] = "";
    json_t *answer =
        gateway_call(r->gw, "intake", CMD_INTAKE_CASES, req, r->gw->conf.intake_timeout_ms, cmd);
    json_decref(req);
    int rc = answer && strcmp(cmd, CMD_INTAKE_CASES_OK) == 0 ? 1 : answer ? 0 : -1;
    const char *why = rc == 1 ? json_string_value(json_object_get(
                                    json_array_get(json_object_get(answer, "cases"), 0),
                                    "unreachable"))
                              : NULL;
    const json_t *one = rc == 1 ? json_array_get(json_object_get(answer, "cases"), 0) : NULL;
    const char *status = json_string_value(json_object_get(one, "status"));
    if (rc == 1 && resolve && status && strcmp(status, "resolved") == 0) {
        const char *at = json_string_value(json_object_get(one, "resolved_at"));
        char msg[200];
        snprintf(msg, sizeof msg, "the case is already resolved%s%s; nothing stored",
                 at ? " since " : "", at ? at : "");
        gateway_error(r, 409, "already_resolved", msg, "case", -1);
        rc = 0;
    } else if (rc == 0) {
        gateway_error(r, 404, "not_found", "no such case", "case", -1);
    } else if (rc < 0) {
        gateway_relay(r, "intake", NULL, cmd, "");
    } else if (reply && why) {
        gateway_error(r, 409, "no_usable_email",
                      strcmp(why, "no_customer") == 0
                          ? "the case has no customer to mail a reply to; nothing stored"
                      : strcmp(why, "bounced") == 0
                          ? "the customer's email address bounced; nothing stored (a customer"
                            " event with a working address fixes it)"
                          : "the customer has no email address Hark knows; nothing stored (send"
                            " a customer event with their email first)",
                      "case", -1);
        rc = 0;
    }
    json_decref(answer);
    return rc;
}

/* s_case_action - POST /v1/cases/ID/ACTION: journal case.<action> */
static void s_case_action(gateway_req_t *r, const char *id, const char *action)
{
    const char *type = strcmp(action, "reply") == 0     ? EV_CASE_REPLIED
                       : strcmp(action, "retag") == 0   ? EV_CASE_RETAGGED
                       : strcmp(action, "resolve") == 0 ? EV_CASE_RESOLVED
                                                        : NULL;
    if (!type) {
        gateway_error(r, 404, "not_found", "actions: reply, retag, resolve", NULL, -1);
        return;
    }
    json_t *body = r->body.len ? json_loadb(r->body.data, r->body.len, 0, NULL) : json_object();
    if (!json_is_object(body)) {
        json_decref(body);
        gateway_error(r, 400, "invalid_json", "the body must be a JSON object", NULL, -1);
        return;
    }
    char by[80];
    if (gateway_actor(r, by, sizeof by)) {
        json_decref(body);
        return;
    }
    /* a client that lost an answer retries with the same Idempotency-Key
     * (as on /v1/events): the same key, so one event and one reply mail */
    const char *idem = gateway_header(r, "Idempotency-Key");
    int idem_ok = idem && *idem && strlen(idem) <= 200;
    for (const char *c = idem; idem_ok && *c; c++)
        idem_ok = *c >= 0x21 && *c <= 0x7e;
    if (idem && !idem_ok) {
        json_decref(body);
        gateway_error(r, 400, "invalid_header",
                 "Idempotency-Key must be 1-200 printable ASCII characters", "Idempotency-Key",
                 -1);
        return;
    }
    json_t *p = json_pack("{s:s,s:s}", "case", id, "by", by);
    if (strcmp(type, EV_CASE_REPLIED) == 0) {
        const char *m = json_string_value(json_object_get(body, "message"));
        if (!m || !*m || !mime_utf8_valid(m, strlen(m)) || strlen(m) > 20000) {
            gateway_error(r, 400, "invalid_field", "message: the reply's Markdown (1-20000 bytes)",
                     "message", -1);
            goto done;
        }
        json_object_set_new(p, "message", json_string(m));
    } else if (strcmp(type, EV_CASE_RETAGGED) == 0) {
        json_t *codes = json_object_get(body, "codes"), *v;
        size_t i;
        if (!json_is_array(codes) || json_array_size(codes) == 0 ||
            json_array_size(codes) > REASONS_MAX_CODES) {
            gateway_error(r, 400, "invalid_field", "codes: a list of 1-32 reason codes", "codes",
                          -1);
            goto done;
        }
        json_t *clean = json_array();
        json_array_foreach(codes, i, v) {
            const char *c = json_string_value(v);
            if (!c || !r->gw->reasons || reasons_find(r->gw->reasons, c) < 0) {
                char msg[200];
                snprintf(msg, sizeof msg, "codes[%zu]: \"%.64s\" is not a reason in the"
                                          " taxonomy", i, c ? c : "");
                gateway_error(r, 400, "unknown_reason", msg, "codes", (long)i);
                json_decref(clean);
                goto done;
            }
            int dup = 0;
            size_t j;
            json_t *w;
            json_array_foreach(clean, j, w) dup |= strcmp(json_string_value(w), c) == 0;
            if (!dup)
                json_array_append_new(clean, json_string(c));
        }
        json_object_set_new(p, "codes", clean);
    }
    /* a retry with its Idempotency-Key gets the first answer again, so
     * only a resolve without one is checked against the case's status */
    if (s_case_exists(r, id, strcmp(type, EV_CASE_REPLIED) == 0,
                      strcmp(type, EV_CASE_RESOLVED) == 0 && !idem) != 1)
        goto done;
    char key[400];
    if (idem)
        snprintf(key, sizeof key, "idem:cases/%s/%s:%s", id, action, idem);
    long long off = gateway_journal_one(r, type, p, idem ? key : NULL);
    if (off < 0)
        goto done;
    json_t *ans = json_pack("{s:s,s:s,s:I}", "case", id, "event", type, "offset", (json_int_t)off);
    gateway_json(r, 202, ans);
    json_decref(ans);
done:
    json_decref(p);
    json_decref(body);
}

/* s_day - "YYYY-MM-DD" that is a real date as its UTC midnight, or -1 */
static int64_t s_day(const char *v)
{
    char buf[40];
    int64_t ms;
    int ok = strlen(v) == 10;
    for (int i = 0; ok && i < 10; i++)
        ok = i == 4 || i == 7 ? v[i] == '-' : v[i] >= '0' && v[i] <= '9';
    snprintf(buf, sizeof buf, "%.10sT00:00:00Z", v);
    return ok && clock_parse(buf, &ms) == 0 ? ms : -1;
}

/* gateway_cases_param_ok - a report or list parameter's value, or 0 having answered
 * 400 naming it: dates real (to not before from), kind and status from
 * their lists, reason and team in the taxonomy (an unknown one would only
 * answer an empty list) */
int gateway_cases_param_ok(gateway_req_t *r, const char *name, const char *v)
{
    const reasons_t *rs = r->gw->reasons;
    const char *why = NULL;
    if (strcmp(name, "from") == 0 || strcmp(name, "to") == 0) {
        const char *from = strcmp(name, "to") == 0 ? gateway_arg(r, "from") : NULL;
        if (s_day(v) < 0)
            why = "a date YYYY-MM-DD";
        else if (from && s_day(from) > s_day(v))
            why = "not before from";
    } else if (strcmp(name, "kind") == 0) {
        if (strcmp(v, "complaint") != 0 && strcmp(v, "cancellation") != 0 &&
            strcmp(v, "nps") != 0)
            why = "complaint, cancellation or nps";
    } else if (strcmp(name, "status") == 0) {
        if (strcmp(v, "open") != 0 && strcmp(v, "waiting") != 0 && strcmp(v, "resolved") != 0)
            why = "open, waiting or resolved";
    } else if (strcmp(name, "breached") == 0) {
        if (strcmp(v, "1") != 0 && strcmp(v, "true") != 0 && strcmp(v, "0") != 0 &&
            strcmp(v, "false") != 0)
            why = "1 or true (0 or false: all cases)";
    } else if (strlen(v) > 64) {
        why = "at most 64 characters";
    } else if (strcmp(name, "reason") == 0 && rs && reasons_find(rs, v) < 0) {
        why = "not a reason code in the taxonomy";
    } else if (strcmp(name, "team") == 0 && rs && reasons_team_find(rs, v) < 0) {
        why = "not a team in the taxonomy";
    }
    if (why) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s: %s", name, why);
        gateway_error(r, 400, "invalid_parameter", msg, name, -1);
    }
    return why == NULL;
}

/* gateway_cases_params - each of keys (NULL-ended) the query has, checked
 * by gateway_cases_param_ok, into req as a string; 0, or -1 having answered */
int gateway_cases_params(gateway_req_t *r, json_t *req, const char *const keys[])
{
    for (int i = 0; keys[i]; i++) {
        const char *v = gateway_arg(r, keys[i]);
        if (!v)
            continue;
        if (!gateway_cases_param_ok(r, keys[i], v))
            return -1;
        json_object_set_new(req, keys[i], json_string(v));
    }
    return 0;
}

void gateway_cases(gateway_req_t *r)
{
    if (!gateway_bearer_ok(r, r->gw->admin_key))
        return;
    const char *rest = r->url + strlen("/v1/cases");
    if (*rest == '/')
        rest++;
    char id[80] = "", action[32] = "";
    const char *slash = strchr(rest, '/');
    if (slash) {
        snprintf(id, sizeof id, "%.*s", (int)(slash - rest) < 79 ? (int)(slash - rest) : 79,
                 rest);
        snprintf(action, sizeof action, "%s", slash + 1);
    } else {
        snprintf(id, sizeof id, "%.79s", rest);
    }
    if (strcmp(r->method, "POST") == 0) {
        if (!*id || !*action) {
            gateway_error(r, 404, "not_found", "POST /v1/cases/ID/reply|retag|resolve", NULL, -1);
            return;
        }
        s_case_action(r, id, action);
        return;
    }
    if (*action) {
        gateway_error(r, 404, "not_found", "no such path", NULL, -1);
        return;
    }
    json_t *req = json_object();
    if (*id) {
        json_object_set_new(req, "id", json_string(id));
    } else {
        static const char *const keys[] = {"status", "reason", "team", NULL};
        if (gateway_cases_params(r, req, keys)) {
            json_decref(req);
            return;
        }
        const char *b = gateway_arg(r, "breached");
        if (b && !gateway_cases_param_ok(r, "breached", b)) {
            json_decref(req);
            return;
        }
        if (b && (strcmp(b, "1") == 0 || strcmp(b, "true") == 0))
            json_object_set_new(req, "breached", json_true());
    }
    char cmd[48] = "";
    json_t *reply =
        gateway_call(r->gw, "intake", CMD_INTAKE_CASES, req, r->gw->conf.intake_timeout_ms, cmd);
    json_decref(req);
    if (*id && reply && strcmp(cmd, CMD_INTAKE_CASES_OK) == 0) {
        json_t *one = json_array_get(json_object_get(reply, "cases"), 0);
        gateway_json(r, 200, one);
    } else {
        gateway_relay(r, "intake", reply, cmd, CMD_INTAKE_CASES_OK);
    }
    json_decref(reply);
}

