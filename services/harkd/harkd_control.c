/*
 * harkd_control.c - what harkd serves on [harkd] control: HARKD_STATUS,
 * HARKD_SERVICE_STOP, HARKD_SERVICE_START.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "harkd.h"
#include "log.h"

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
        if (c->held)
            json_object_set_new(o, "held", json_true());
        json_array_append_new(list, o);
    }
    return json_pack("{s:i,s:o}", "pid", (int)getpid(), "services", list);
}

/* s_child - the child named by req's "service", or NULL with err set */
static harkd_child_t *s_child(harkd_t *h, const json_t *req, service_err_t *err)
{
    const char *name = json_string_value(json_object_get(req, "service"));
    for (size_t i = 0; name && i < h->n; i++)
        if (strcmp(h->children[i].name, name) == 0)
            return &h->children[i];
    service_fail(err, "not_found", "no service \"%s\" in [hark] services", name ? name : "");
    return NULL;
}

/* harkd_control_stop - HARKD_SERVICE_STOP: SIGTERM now and hold the service
 * stopped; the tick sends SIGKILL after [harkd] grace.  Answered at once
 * (the control socket must not wait out a grace): the caller knows the
 * service is gone when its lock is free (pidlock.h). */
json_t *harkd_control_stop(service_t *svc, const json_t *req, service_err_t *err)
{
    harkd_t *h = service_state(svc);
    harkd_child_t *c = s_child(h, req, err);
    if (!c)
        return NULL;
    c->held = 1;
    c->restart_at = 0;
    c->waiting = 0;
    if (c->pid) {
        kill(c->pid, SIGTERM);
        c->kill_at = clock_mono_ms() + h->grace;
    }
    log_info("event=service_held service=%s pid=%d", c->name, (int)c->pid);
    return json_pack("{s:s,s:i}", "service", c->name, "pid", (int)c->pid);
}

/* harkd_control_start - HARKD_SERVICE_START: let a held service run again
 * (started by the next tick; at once, not after a crash's backoff) */
json_t *harkd_control_start(service_t *svc, const json_t *req, service_err_t *err)
{
    harkd_t *h = service_state(svc);
    harkd_child_t *c = s_child(h, req, err);
    if (!c)
        return NULL;
    if (c->held && !c->pid) {
        c->delay = h->restart_min;
        c->restart_at = clock_mono_ms();
    }
    c->held = 0;
    c->kill_at = 0;
    log_info("event=service_released service=%s", c->name);
    return json_pack("{s:s}", "service", c->name);
}
