/*
 * gateway_health.c - GET /healthz: is every service of this instance up?
 *
 * Asks each service in [hark] services (but the gateway, which is answering)
 * for SERVICE_STATUS on its control socket, one second each at most.  The
 * gateway itself is up once its lines to the journal (each loop's pump's
 * DEALER) have connected: until then an event posted would be a 503, so a
 * client that waits for 200 before posting is not answered one.
 */
#include <string.h>

#include "gateway.h"

/* gateway_health_get - 200 when every service answered and the gateway
 * reaches the journal, 503 otherwise */
void gateway_health_get(gateway_req_t *r)
{
    const gateway_config_t *conf = &r->gw->conf;
    const char *const *names = conf->services;
    size_t n = conf->n_services;
    json_t *services = json_object();
    int all_up = 1;
    for (size_t i = 0; i < n; i++) {
        json_t *st = NULL;
        if (strcmp(names[i], "gateway") == 0) {
            int connected = r->gw->n_pumps > 0;
            for (unsigned k = 0; k < r->gw->n_pumps; k++)
                connected &= gateway_pump_connected(r->gw->pumps[k]);
            st = json_pack("{s:b,s:b}", "up", connected, "journal_connected", connected);
            all_up &= connected;
        } else {
            const char *ep = conf->controls[i];
            wire_client_t *c = ep ? wire_client_new(r->gw->zctx, ep) : NULL;
            char cmd[48] = "";
            json_t *reply = c ? wire_client_call_json(c, CMD_SERVICE_STATUS, NULL, 1000, cmd)
                              : NULL;
            wire_client_destroy(&c);
            if (reply && strcmp(cmd, CMD_SERVICE_STATUS_OK) == 0) {
                st = json_pack("{s:b,s:O}", "up", 1, "pid", json_object_get(reply, "pid"));
            } else {
                st = json_pack("{s:b}", "up", 0);
                all_up = 0;
            }
            json_decref(reply);
        }
        json_object_set_new(services, names[i], st);
    }
    json_t *body = json_pack("{s:s,s:o}", "status", all_up ? "ok" : "degraded", "services",
                             services);
    if (!all_up)
        r->retry_after = "5";
    gateway_json(r, all_up ? 200 : 503, body);
    json_decref(body);
}
