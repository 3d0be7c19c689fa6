/*
 * gateway_customers.c - DELETE /v1/customers/ID (Bearer admin key): erase
 * a customer.
 *
 * Journals customer.erased {customer_id, by} and answers 202 {customer,
 * event, offset} once it is committed: by then hark-journal has destroyed
 * the customer's keys; the services blank their copies as they read it
 * (hark-journal(8) PRIVACY).  An Idempotency-Key makes a retry the same
 * event.
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "proto.h"

void gateway_customers(gateway_req_t *r)
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
