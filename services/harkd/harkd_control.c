/*
 * harkd_control.c - what harkd serves on [harkd] control: HARKD_STATUS.
 */
#include <unistd.h>

#include "clock.h"
#include "harkd.h"

/* harkd_control_status - HARKD_STATUS: every child, running or not */
json_t *harkd_control_status(service_t *svc, const json_t *req, service_err_t *err)
{
    (void)req, (void)err;
    harkd_t *h = service_state(svc);
    json_t *list = json_array();
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < h->n; i++) {
        harkd_child_t *c = &h->children[i];
        json_t *o = json_pack("{s:s,s:i,s:b,s:I,s:i}", "name", c->name, "pid", (int)c->pid,
                              "running", c->pid != 0, "uptime_ms",
                              (json_int_t)(c->pid ? now - c->started : 0), "restarts",
                              c->restarts);
        if (c->last_exit[0])
            json_object_set_new(o, "last_exit", json_string(c->last_exit));
        json_array_append_new(list, o);
    }
    return json_pack("{s:i,s:o}", "pid", (int)getpid(), "services", list);
}
