/*
 * gateway_customers.c - a person's access to their data, through the shop:
 *
 *   GET /v1/customers/ID/export (Bearer admin key)  everything Hark holds
 *       of customer ID, gathered from every owner (common/customer.c) as
 *       one JSON document: the profile, whether mail to them is suppressed,
 *       their milestones and every item of their timeline, newest first,
 *       each naming its owner; nothing about any other customer.  An
 *       owner that does not answer makes it 503 owners_unavailable (an
 *       export is all or nothing); an id no owner knows is 404.  Before
 *       answering, customer.exported (by "api" or "api:NAME") is journaled,
 *       the record a data-access request needs.  An erased customer is 410
 *       customer_erased (JOURNAL_ERASED).
 *   DELETE /v1/customers/ID (Bearer admin key)  erase a customer: journals
 *       customer.erased {customer_id, by} and answers 202 {customer, event,
 *       offset} once it is committed: by then hark-journal has destroyed
 *       the customer's keys; the services blank their copies as they read
 *       it (hark-journal(8) PRIVACY).  An Idempotency-Key makes a retry the
 *       same event.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "customer.h"
#include "gateway.h"
#include "log.h"
#include "partition.h"
#include "proto.h"

#define S_PREFIX "/v1/customers/"
#define S_SUFFIX "/export"

/* s_call - customer_call_fn through this thread's client */
static json_t *s_call(void *arg, const char *owner, const char *cmd, const json_t *body,
                      int timeout_ms, char *reply_cmd)
{
    gateway_t *gw = arg;
    const char *ep = config_get(gw->cfg, owner, "control");
    char part[512];
    /* a partitioned owner (hark-scaling(7)): the customer's partition, over
     * a client of this call's own when it is not partition 0 */
    const char *cid = json_string_value(json_object_get(body, "customer_id"));
    if (ep && partition_control(gw->cfg, owner, cid, part, sizeof part) == 0 &&
        strcmp(part, ep) != 0) {
        wire_client_t *one = wire_client_new(gw->zctx, part);
        json_t *reply = one ? wire_client_call_json(one, cmd, body, timeout_ms, reply_cmd) : NULL;
        wire_client_destroy(&one);
        return reply;
    }
    return gateway_call(gw, owner, cmd, body, timeout_ms, reply_cmd);
}

/* gateway_customers_export - GET /v1/customers/ID/export */
void gateway_customers_export(gateway_req_t *r)
{
    if (!gateway_bearer_ok(r, r->gw->admin_key))
        return;
    const char *rest = r->url + strlen(S_PREFIX);
    size_t n = strlen(rest), sl = strlen(S_SUFFIX);
    if (n <= sl || n - sl > 128 || strcmp(rest + n - sl, S_SUFFIX) != 0) {
        gateway_error(r, 404, "not_found", "no such path: GET /v1/customers/ID/export", NULL,
                      -1);
        return;
    }
    char id[129], by[80], at[40];
    snprintf(id, sizeof id, "%.*s", (int)(n - sl), rest);
    if (gateway_actor(r, by, sizeof by))
        return;
    if (gateway_pages_erased(r->gw, id)) {
        gateway_error(r, 410, "customer_erased", "this customer was erased", NULL, -1);
        return;
    }
    int known = 0;
    json_t *g = customer_gather(id, s_call, r->gw, r->gw->conf.intake_timeout_ms, &known);
    json_t *missing = json_object_get(g, "missing");
    if (json_array_size(missing)) {
        json_t *body = json_pack("{s:{s:s,s:s,s:O}}", "error", "code", "owners_unavailable",
                                 "message", "these services did not answer; send it again",
                                 "missing", missing);
        r->retry_after = "5";
        gateway_json(r, 503, body);
        json_decref(body);
        json_decref(g);
        return;
    }
    if (!known) {
        json_decref(g);
        gateway_error(r, 404, "not_found", "no service knows this customer", NULL, -1);
        return;
    }
    json_t *ev = json_pack("{s:s,s:s,s:O}", "customer_id", id, "by", by, "owners",
                           json_object_get(g, "owners"));
    long long off = gateway_journal_one(r, EV_CUSTOMER_EXPORTED, ev, NULL);
    json_decref(ev);
    if (off < 0) {
        json_decref(g);
        return;
    }
    json_object_del(g, "missing");
    json_object_set_new(g, "exported_at", json_string(clock_format(clock_now_ms(), at, sizeof at)));
    log_info("event=customer_exported customer=%s by=%s offset=%lld", log_value(id), by, off);
    gateway_json(r, 200, g);
    json_decref(g);
}

/* gateway_customers_erase - DELETE /v1/customers/ID */
void gateway_customers_erase(gateway_req_t *r)
{
    if (!gateway_bearer_ok(r, r->gw->admin_key))
        return;
    const char *id = r->url + strlen("/v1/customers/");
    if (!*id || strlen(id) > 128 || strchr(id, '/')) {
        gateway_error(r, 404, "not_found", "DELETE /v1/customers/ID (1-128 characters)", NULL,
                      -1);
        return;
    }
    char by[80];
    if (gateway_actor(r, by, sizeof by))
        return;
    const char *idem = gateway_header(r, "Idempotency-Key");
    int idem_ok = idem && *idem && strlen(idem) <= 200;
    for (const char *c = idem; idem_ok && *c; c++)
        idem_ok = *c >= 0x21 && *c <= 0x7e;
    if (idem && !idem_ok) {
        gateway_error(r, 400, "invalid_header",
                      "Idempotency-Key must be 1-200 printable ASCII characters",
                      "Idempotency-Key", -1);
        return;
    }
    char key[400];
    if (idem)
        snprintf(key, sizeof key, "idem:customers/%s/erase:%s", id, idem);
    json_t *p = json_pack("{s:s,s:s}", "customer_id", id, "by", by);
    long long off = p ? gateway_journal_one(r, EV_CUSTOMER_ERASED, p, idem ? key : NULL) : -1;
    json_decref(p);
    if (off < 0)
        return;
    json_t *ans = json_pack("{s:s,s:s,s:I}", "customer", id, "event", EV_CUSTOMER_ERASED,
                            "offset", (json_int_t)off);
    gateway_json(r, 202, ans);
    json_decref(ans);
}
