/*
 * harkd.h - what harkd's parts share: the children and their handling
 * (harkd_child.c), what it serves (harkd_control.c).
 */
#ifndef HARKD_H
#define HARKD_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "service.h"

#define HARKD_MAX_CHILDREN 32

typedef struct {
    const char *name;     /* the instance: "mailer", or "mailer-2" of partitions */
    const char *service;  /* hark-<service>, its config section and keypair */
    int partition;        /* --partition K; -1 when the service is not partitioned */
    char instance[64];    /* name's storage for a partition */
    char path[PATH_MAX + 64];
    pid_t pid;            /* 0 when not running */
    int64_t started;      /* mono ms */
    int64_t restart_at;   /* mono ms; 0 = no restart pending */
    int64_t delay;        /* next restart delay */
    int restarts;
    int started_once;     /* a later start is a restart */
    int waiting;          /* an old copy still holds the service's lock */
    int held;             /* stopped by HARKD_SERVICE_STOP: not restarted */
    int64_t kill_at;      /* mono ms: SIGKILL a held child still running then */
    char last_exit[64];
} harkd_child_t;

typedef struct {
    harkd_child_t children[HARKD_MAX_CHILDREN];
    size_t n;
    const char *config_file;
    const char *state_dir;
    const char *curve_keys; /* [hark] curve_keys: the keypairs (curve.h) */
    int64_t restart_min, restart_max, stable_after, grace;
    int stopping;
} harkd_t;

/* --- the children (harkd_child.c) ----------------------------------------- */

/* harkd_child_spawn - fork and exec one service (or put its start off while
 * an old copy holds its lock); 0/-1 */
int harkd_child_spawn(harkd_t *h, harkd_child_t *c);
/* harkd_child_reap - collect dead children and plan their restarts */
void harkd_child_reap(harkd_t *h);
/* harkd_child_on_chld - SIGCHLD (arg: the service) */
int harkd_child_on_chld(evloop_t *loop, int signo, void *arg);
/* harkd_child_tick - timer: restart what is due (arg: the service) */
int harkd_child_tick(evloop_t *loop, void *arg);
/* harkd_child_stop - stop every child in reverse start order: SIGTERM, and
 * SIGKILL after h->grace */
void harkd_child_stop(harkd_t *h);

/* --- [harkd] control (harkd_control.c) ------------------------------------ */

json_t *harkd_control_status(service_t *svc, const json_t *req, service_err_t *err);
/* HARKD_SERVICE_STOP / HARKD_SERVICE_START: hold one service stopped (while
 * `hark rebuild` moves its file aside), and let it run again */
json_t *harkd_control_stop(service_t *svc, const json_t *req, service_err_t *err);
json_t *harkd_control_start(service_t *svc, const json_t *req, service_err_t *err);

#endif
