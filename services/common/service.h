/*
 * service.h - the skeleton every Hark process runs on.
 *
 * A service's main() fills a service_def_t and calls service_main(), which:
 * parses -c FILE, loads and checks the config (refusing to start on any
 * error, naming file and line), sets up logging, the state dir, a ZeroMQ
 * context and the event loop; binds the service's control socket
 * ([<name>] control) which answers SERVICE_STATUS and the commands of
 * def->commands; opens the service's SQLite file ([<name>] db) with its
 * migrations; attaches a journal consumer when def->events is set; calls
 * def->init; runs the loop until SIGTERM/SIGINT; then def->fini and tears
 * everything down so a clean exit leaks nothing.
 *
 * A service is two tables: the events it consumes, each with its handler,
 * and the control commands it serves, each with its handler.  The skeleton
 * fetches only the types of the event table, so what a service consumes is
 * said once; it decodes each request, calls the command's handler with the
 * body and sends the reply (or the ERROR the handler chose).
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

/* service_event_fn - apply ev: change the service's tables on db inside
 * the consumer's open transaction; emit with consumer_emit().  0, or -1 to
 * skip ev (its changes are rolled back and it is logged). */
typedef int (*service_event_fn)(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                                consumer_t *c);

/* SERVICE_EVERY_TYPE - an event table's type that takes every event (a
 * table that has it has nothing else) */
#define SERVICE_EVERY_TYPE "*"

typedef struct {
    const char *type;    /* EV_*; NULL ends the table */
    service_event_fn fn;
} service_event_t;

/* service_err_t - why a command failed: the ERROR reply's code and text */
typedef struct {
    const char *code; /* "invalid_request", "not_found", ... (static) */
    char text[512];
} service_err_t;

/* service_command_fn - answer a control command.  req is the request's
 * body, always a JSON object (the skeleton answers anything else with
 * ERROR invalid_request).  Returns the reply's body (the skeleton sends it
 * as the table's reply and frees it), or NULL with err set (ERROR err->code
 * err->text; "internal" when the handler left err alone). */
typedef json_t *(*service_command_fn)(service_t *svc, const json_t *req, service_err_t *err);

typedef struct {
    const char *cmd;       /* CMD_*; NULL ends the table */
    const char *reply;     /* CMD_*_OK, its reply */
    service_command_fn fn;
} service_command_t;

/* service_fail - fill err (printf-style text); returns NULL, so a handler
 * can `return service_fail(err, "not_found", "no such invite");` */
json_t *service_fail(service_err_t *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef struct {
    const char *name;               /* "gateway": config section and log name */
    const char *const *migrations;  /* NULL: the service has no SQLite file */
    const service_event_t *events;  /* NULL: the service consumes nothing */
    const service_command_t *commands; /* NULL: only SERVICE_STATUS */
    int (*init)(service_t *svc);    /* 0/-1; after everything above is ready */
    void (*fini)(service_t *svc);   /* before teardown */
    /* status: add service-specific fields to the SERVICE_STATUS_OK body */
    void (*status)(service_t *svc, json_t *body);
    /* privacy: what the service blanks on customer.erased and
     * privacy.retention (privacy.h); the skeleton consumes both for it,
     * before any handler the event table has for them */
    const struct privacy_sql *privacy;
} service_def_t;

/* service_main - run the service; returns the process exit status.
 * `--tables` prints its tables and exits: "consumes <type>" for each event
 * type it fetches (none for every type), "serves <COMMAND> <REPLY>" for
 * each control command besides SERVICE_STATUS; tests compare them with the
 * Consumes: and Serves: of the service's header comment. */
int service_main(int argc, char **argv, const service_def_t *def);

/* service_consumes - the event types of def->events as a NULL-terminated
 * list (the caller frees the array, not the strings); NULL when the table
 * takes every type or there is none; *ok set to 0 on out of memory */
const char **service_consumes(const service_def_t *def, int *ok);

const config_t *service_config(const service_t *svc);
evloop_t *service_evloop(const service_t *svc);
sqlite3 *service_db(const service_t *svc);
/* service_flush_outbox - append what the service queued in its outbox
 * (outbox.h) to the journal, through the consumer's connection */
void service_flush_outbox(service_t *svc);
void *service_zctx(const service_t *svc);
consumer_t *service_consumer(const service_t *svc);
const char *service_name(const service_t *svc);
/* service_db_path - the SQLite file the skeleton opened (partition K's own
 * when partitioned), for a thread's own connection to it */
const char *service_db_path(const service_t *svc);
/* service_partition - the partition K this copy owns (0 .. *n - 1) when
 * [<name>] partitions = *n > 1 (partition.h); 0 and *n = 1 otherwise */
unsigned service_partition(const service_t *svc, unsigned *n);
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
