/*
 * service.h - the skeleton every Hark process runs on.
 *
 * A service's main() fills a service_def_t and calls service_main(), which:
 * parses -c FILE, loads and checks the config (refusing to start on any
 * error, naming file and line), sets up logging, the state dir, a ZeroMQ
 * context and the event loop; binds the service's control socket
 * ([<name>] control) which answers SERVICE_STATUS and passes other commands
 * to def->command; opens the service's SQLite file ([<name>] db) with its
 * migrations; attaches a journal consumer when def->apply is set; calls
 * def->init; runs the loop until SIGTERM/SIGINT; then def->fini and tears
 * everything down so a clean exit leaks nothing.
 */
#ifndef HARK_SERVICE_H
#define HARK_SERVICE_H

#include <jansson.h>
#include <sqlite3.h>

#include "config.h"
#include "consumer.h"
#include "evloop.h"
#include "wire.h"

typedef struct service service_t;

typedef struct {
    const char *name;               /* "gateway": config section and log name */
    const char *const *migrations;  /* NULL: the service has no SQLite file */
    consumer_apply_fn apply;        /* NULL: the service consumes nothing */
    const char *const *consumes;    /* event types (NULL-terminated) or NULL for all */
    int (*init)(service_t *svc);    /* 0/-1; after everything above is ready */
    void (*fini)(service_t *svc);   /* before teardown */
    /* status: add service-specific fields to the SERVICE_STATUS_OK body */
    void (*status)(service_t *svc, json_t *body);
    /* command: answer a control command other than SERVICE_STATUS; return 0
     * when answered, -1 to have the skeleton reply ERROR unknown_command */
    int (*command)(service_t *svc, void *sock, const wire_msg_t *m);
} service_def_t;

/* service_main - run the service; returns the process exit status */
int service_main(int argc, char **argv, const service_def_t *def);

const config_t *service_config(const service_t *svc);
evloop_t *service_evloop(const service_t *svc);
sqlite3 *service_db(const service_t *svc);
/* service_flush_outbox - append what the service queued in its outbox
 * (outbox.h) to the journal, through the consumer's connection */
void service_flush_outbox(service_t *svc);
void *service_zctx(const service_t *svc);
consumer_t *service_consumer(const service_t *svc);
const char *service_name(const service_t *svc);
/* service_set_state / service_state - the service's own data */
void service_set_state(service_t *svc, void *state);
void *service_state(const service_t *svc);

/* service_bind - a socket of type bound to endpoint, with linger 0; NULL on
 * error (logged).  For ipc:// a stale socket file is replaced. */
void *service_bind(void *zctx, int type, const char *endpoint);

/* service_usage_config - the -c FILE argument, default "config/hark.conf";
 * shared with hark and harkd so every program finds the same file. */
const char *service_config_arg(int argc, char **argv);

#endif
