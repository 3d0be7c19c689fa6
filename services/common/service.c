/*
 * service.c - the shared server skeleton (cf. Postfix's single_server).
 */
#include "outbox.h"
#include "service.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "curve.h"
#include "db.h"
#include "log.h"
#include "partition.h"
#include "privacy.h"
#include "pidlock.h"

struct service {
    const service_def_t *def;
    config_t *cfg;
    void *zctx;
    evloop_t *loop;
    void *control;
    curve_zap_t *zap;      /* the ZAP handler, when an endpoint is tcp:// (curve.h) */
    sqlite3 *db;
    consumer_t *consumer;
    void *state;
    int64_t started_mono;
    int lock_fd;           /* <state_dir>/<name>.lock, held for our life (pidlock.h) */
    unsigned part, nparts; /* --partition K of [<name>] partitions N (partition.h) */
    char instance[64];     /* name, or name-K: log, lock */
    char db_path[PATH_MAX]; /* the SQLite file opened: [<name>] db, or its -K (partition.h) */
    const char **consumes; /* derived from def->events */
};

const config_t *service_config(const service_t *svc) { return svc->cfg; }
evloop_t *service_evloop(const service_t *svc) { return svc->loop; }
sqlite3 *service_db(const service_t *svc) { return svc->db; }

void service_flush_outbox(service_t *svc)
{
    /* the consumer's journal client: appends and fetches take turns on the
     * loop's thread, so one connection serves both */
    wire_client_t *journal = consumer_journal(svc->consumer);
    if (svc->db && journal)
        outbox_flush(svc->db, journal);
}
void *service_zctx(const service_t *svc) { return svc->zctx; }
consumer_t *service_consumer(const service_t *svc) { return svc->consumer; }
const char *service_name(const service_t *svc) { return svc->def->name; }
void service_set_state(service_t *svc, void *state) { svc->state = state; }
const char *service_db_path(const service_t *svc) { return svc->db_path; }
unsigned service_partition(const service_t *svc, unsigned *n)
{
    *n = svc->nparts;
    return svc->part;
}
void *service_state(const service_t *svc) { return svc->state; }

/* service_config_arg - find -c FILE */
const char *service_config_arg(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)
            return argv[i + 1];
    const char *env = getenv("HARK_CONFIG");
    return env && *env ? env : "config/hark.conf";
}

/* service_bind - bind a socket, replacing a stale ipc file */
void *service_bind(void *zctx, int type, const char *endpoint)
{
    void *s = zmq_socket(zctx, type);
    if (!s)
        return NULL;
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_ROUTER) {
        /* a reply to a peer that went away is dropped, not an error */
        int hwm = 100000;
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    }
    if (curve_server(s, endpoint) < 0) {
        zmq_close(s);
        return NULL;
    }
    if (zmq_bind(s, endpoint) < 0 && strncmp(endpoint, "ipc://", 6) == 0 &&
        errno == EADDRINUSE) {
        /* left by a killed process: nobody answers on it any more */
        unlink(endpoint + 6);
        if (zmq_bind(s, endpoint) == 0)
            return s;
    } else {
        return s;
    }
    log_error("event=bind_failed endpoint=%s error=\"%s\"", endpoint, zmq_strerror(errno));
    zmq_close(s);
    return NULL;
}

json_t *service_fail(service_err_t *err, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
    return NULL;
}

/* service_consumes - the types of the event table */
const char **service_consumes(const service_def_t *def, int *ok)
{
    *ok = 1;
    size_t n = 0;
    for (; def->events && def->events[n].type; n++)
        if (strcmp(def->events[n].type, SERVICE_EVERY_TYPE) == 0)
            return NULL;
    if (n == 0)
        return NULL;
    const char **types = calloc(n + 3, sizeof *types);
    if (!types) {
        *ok = 0;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        types[i] = def->events[i].type;
    if (def->privacy) { /* unless the table has its own handler too (run after the SQL) */
        const char *privacy[] = {EV_CUSTOMER_ERASED, EV_PRIVACY_RETENTION};
        for (size_t p = 0, m = n; p < 2; p++) {
            size_t i = 0;
            while (i < m && strcmp(types[i], privacy[p]) != 0)
                i++;
            if (i == m)
                types[n++] = privacy[p];
        }
    }
    return types;
}

/* s_apply - an event to the handler its type has in the event table */
static int s_apply(void *arg, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    service_t *svc = arg;
    if (svc->def->privacy && privacy_apply(db, ev, svc->def->privacy))
        return -1;
    for (const service_event_t *e = svc->def->events; e->type; e++)
        if (strcmp(e->type, ev->type) == 0 || strcmp(e->type, SERVICE_EVERY_TYPE) == 0)
            return e->fn(svc, db, ev, c);
    return 0; /* not ours: the journal sends only our types, so never */
}

/* s_command - one request to the handler its command has in the table:
 * decode, call, encode and send the reply or the ERROR.  0 when the table
 * has the command, -1 when not. */
static int s_command(service_t *svc, const wire_msg_t *m)
{
    const service_command_t *cmd = svc->def->commands;
    while (cmd && cmd->cmd && strcmp(cmd->cmd, m->cmd) != 0)
        cmd++;
    if (!cmd || !cmd->cmd)
        return -1;
    json_t *req = wire_body_json(m);
    if (!json_is_object(req)) {
        json_decref(req);
        wire_reply_error(svc->control, m, "invalid_request", "not a JSON object");
        return 0;
    }
    service_err_t err = {.code = NULL};
    json_t *body = cmd->fn(svc, req, &err);
    json_decref(req);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    if (text) {
        wire_reply(svc->control, m, cmd->reply, text, strlen(text));
    } else if (err.code) {
        wire_reply_error(svc->control, m, err.code, err.text);
    } else {
        wire_reply_error(svc->control, m, "internal", "out of memory");
    }
    free(text);
    json_decref(body);
    return 0;
}

/* s_on_control - SERVICE_STATUS, or the service's own commands */
static int s_on_control(evloop_t *loop, void *arg)
{
    (void)loop;
    service_t *svc = arg;
    wire_msg_t m;
    for (int i = 0; i < 100; i++) {
        if (wire_recv(svc->control, 1, &m, ZMQ_DONTWAIT) < 0) {
            if (errno == EPROTO) {
                log_warn("event=bad_message socket=control");
                continue;
            }
            break;
        }
        if (strcmp(m.cmd, CMD_SERVICE_STATUS) == 0) {
            json_t *b = json_pack("{s:s,s:i,s:I}", "service", svc->def->name, "pid",
                                  (int)getpid(), "uptime_ms",
                                  (json_int_t)(clock_mono_ms() - svc->started_mono));
            if (svc->consumer)
                json_object_set_new(b, "cursor",
                                    json_integer(consumer_cursor(svc->consumer)));
            if (svc->def->status)
                svc->def->status(svc, b);
            char *s = json_dumps(b, JSON_COMPACT);
            if (s)
                wire_reply(svc->control, &m, CMD_SERVICE_STATUS_OK, s, strlen(s));
            free(s);
            json_decref(b);
        } else if (s_command(svc, &m) < 0) {
            wire_reply_error(svc->control, &m, "unknown_command", m.cmd);
        }
        wire_msg_free(&m);
    }
    return 0;
}

/* s_config_load - load and print every error; NULL when unusable */
static config_t *s_config_load(const char *path)
{
    config_t *cfg = config_load(path);
    if (!cfg)
        return NULL;
    if (config_error_count(cfg)) {
        for (size_t i = 0; i < config_error_count(cfg); i++)
            log_error("event=config_error error=\"%s\"", config_error(cfg, i));
        config_destroy(&cfg);
    }
    return cfg;
}

/* s_partition - --partition K, checked against [<name>] partitions: a
 * partitioned service runs only as one partition (a copy without one would
 * take every customer's work), an unpartitioned one never does */
static int s_partition(service_t *svc, int argc, char **argv)
{
    const char *name = svc->def->name, *arg = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--partition") == 0)
            arg = argv[i + 1];
    long long n = config_default(name, "partitions") ? config_int(svc->cfg, name, "partitions") : 1;
    svc->nparts = (unsigned)n;
    snprintf(svc->instance, sizeof svc->instance, "%s", name);
    if (!arg && n <= 1)
        return 0;
    char *end = NULL;
    long k = arg ? strtol(arg, &end, 10) : -1;
    if (!arg || !*arg || *end || k < 0 || k >= n) {
        log_error("event=bad_partition partition=%s partitions=%lld", log_value(arg ? arg : "-"),
                  n);
        fprintf(stderr, "%s: [%s] partitions = %lld needs --partition K, 0 <= K < %lld "
                        "(harkd starts one copy for each)\n", name, name, n, n);
        return -1;
    }
    svc->part = (unsigned)k;
    snprintf(svc->instance, sizeof svc->instance, "%s-%ld", name, k);
    log_init(svc->instance);
    return 0;
}

/* s_layout - refuse files made with another [<name>] partitions: with
 * fewer partitions, or none, some customers' queued work would sit in a
 * file no process reads; with more, a partition would miss the customers
 * that moved to it.  The operator re-partitions with `hark rebuild <name>`
 * (hark-scaling(7)), which moves every such file aside.  path is the
 * service's [<name>] db; db, once open, is this partition's file, where the
 * number it was made with is kept.  0, or -1 having said why. */
static int s_layout(service_t *svc, const char *path, sqlite3 *db)
{
    const char *name = svc->def->name;
    char other[PATH_MAX], why[PATH_MAX + 160] = "";
    struct stat sb;
    if (!path || !config_default(name, "partitions"))
        return 0;
    if (svc->nparts > 1 && stat(path, &sb) == 0)
        snprintf(why, sizeof why, "%s was made with no partitions", path);
    for (int k = svc->nparts > 1 ? (int)svc->nparts : 0; !*why && k < PARTITION_MAX; k++)
        if (partition_path(path, k, other, sizeof other) == 0 && stat(other, &sb) == 0)
            snprintf(why, sizeof why, "%s was made with more partitions", other);
    if (!*why && db && svc->nparts > 1) {
        /* the count a partition's file was made with, kept in it */
        long long was = -1;
        sqlite3_stmt *st = NULL;
        if (db_exec(db, "CREATE TABLE IF NOT EXISTS hark_partitions(n INTEGER NOT NULL)") ||
            !(st = db_prepare(db, "SELECT n FROM hark_partitions")))
            return -1;
        if (sqlite3_step(st) == SQLITE_ROW)
            was = sqlite3_column_int64(st, 0);
        db_finish(st);
        if (was < 0) {
            char sql[96];
            snprintf(sql, sizeof sql, "INSERT INTO hark_partitions(n) VALUES(%u)", svc->nparts);
            if (db_exec(db, sql))
                return -1;
        } else if (was != svc->nparts) {
            snprintf(why, sizeof why, "%s was made with partitions = %lld", svc->db_path, was);
        }
    }
    if (!*why)
        return 0;
    log_error("event=partitions_changed partitions=%u why=\"%s\"", svc->nparts, why);
    fprintf(stderr, "%s: %s, [%s] partitions is %u now: run `hark rebuild %s` to make the "
                    "partitions' files again from the journal, or set it back (hark-scaling(7))\n",
            svc->instance, why, name, svc->nparts, name);
    return -1;
}

/* service_main - set up, run, tear down */
int service_main(int argc, char **argv, const service_def_t *def)
{
    log_init(def->name);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: %s [-c FILE] [--tables] [--partition K]\n", argv[0]);
            return 0;
        }
    /* an argument nobody reads is an error, not ignored: a mistyped
     * option (hark-intake --cv 5 for --cross-validate) would otherwise
     * start the service instead of doing what was asked */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tables") == 0)
            continue;
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0 ||
             strcmp(argv[i], "--partition") == 0) && i + 1 < argc) {
            i++;
            continue;
        }
        fprintf(stderr, "%s: unknown or incomplete argument '%s'\n"
                        "usage: %s [-c FILE] [--tables] [--partition K]\n",
                def->name, argv[i], argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--tables") == 0) {
            int ok;
            const char **types = service_consumes(def, &ok);
            for (size_t t = 0; types && types[t]; t++)
                printf("consumes %s\n", types[t]);
            for (const service_command_t *c = def->commands; c && c->cmd; c++)
                printf("serves %s %s\n", c->cmd, c->reply);
            free(types);
            return ok ? 0 : 1;
        }
    service_t svc_mem = {.def = def, .lock_fd = -1, .nparts = 1}, *svc = &svc_mem;
    int rc = 1, inited = 0;
    svc->started_mono = clock_mono_ms();
    svc->cfg = s_config_load(service_config_arg(argc, argv));
    if (!svc->cfg)
        return 2;
    if (s_partition(svc, argc, argv))
        goto out;
    if (config_ensure_state_dir(svc->cfg)) {
        log_error("event=state_dir_failed dir=%s error=\"%s\"", config_state_dir(svc->cfg),
                  strerror(errno));
        goto out;
    }
    /* one copy per state dir: a second one would write the same SQLite
     * file and answer on the same sockets (pidlock.h) */
    char lock[PATH_MAX];
    long holder = 0;
    pidlock_path(config_state_dir(svc->cfg), svc->instance, lock, sizeof lock);
    svc->lock_fd = pidlock_take(lock, &holder);
    if (svc->lock_fd == -2) {
        log_error("event=already_running lock=%s holder_pid=%ld", lock, holder);
        fprintf(stderr, "%s: another copy (pid %ld) is running on this state dir (it holds %s); "
                        "not starting\n", def->name, holder, lock);
        rc = 3;
        goto out;
    }
    if (svc->lock_fd < 0) {
        log_error("event=lock_failed lock=%s error=\"%s\"", lock, strerror(errno));
        goto out;
    }
    svc->zctx = zmq_ctx_new();
    svc->loop = evloop_new();
    if (!svc->zctx || !svc->loop)
        goto out;
    /* the ZAP handler before any CURVE server socket: a handshake with no
     * handler bound would be let in unchecked */
    curve_init(svc->cfg, def->name);
    if (curve_needed(svc->cfg)) {
        svc->zap = curve_zap_new(svc->zctx);
        if (!svc->zap ||
            evloop_add_socket(svc->loop, curve_zap_socket(svc->zap), curve_zap_on, svc->zap))
            goto out;
    }
    const char *ctl = config_get(svc->cfg, def->name, "control");
    char part_ctl[512], part_db[PATH_MAX - 1];
    if (ctl && svc->nparts > 1) {
        if (partition_endpoint(ctl, (int)svc->part, part_ctl, sizeof part_ctl)) {
            log_error("event=bad_partition_endpoint endpoint=%s", log_value(ctl));
            goto out;
        }
        ctl = part_ctl;
    }
    if (ctl) {
        svc->control = service_bind(svc->zctx, ZMQ_ROUTER, ctl);
        if (!svc->control || evloop_add_socket(svc->loop, svc->control, s_on_control, svc))
            goto out;
    }
    if (def->migrations) {
        const char *path = config_get(svc->cfg, def->name, "db");
        const char *sync = config_get(svc->cfg, def->name, "synchronous");
        if (path && svc->nparts > 1) {
            if (partition_path(path, (int)svc->part, part_db, sizeof part_db))
                goto out;
            path = part_db;
        }
        const char *whole = config_get(svc->cfg, def->name, "db");
        snprintf(svc->db_path, sizeof svc->db_path, "%s", path ? path : "");
        if (s_layout(svc, whole, NULL))
            goto out;
        svc->db = path ? db_open(path, sync ? sync : "normal", def->migrations) : NULL;
        if (!svc->db || s_layout(svc, whole, svc->db))
            goto out;
    }
    if (def->events) {
        int ok;
        svc->consumes = service_consumes(def, &ok);
        if (!ok)
            goto out;
        svc->consumer = consumer_new(svc->zctx, def->name, svc->db,
                                     config_get(svc->cfg, "journal", "endpoint"),
                                     config_get(svc->cfg, "journal", "pub_endpoint"),
                                     svc->consumes, 500, s_apply, svc);
        if (!svc->consumer || consumer_attach(svc->consumer, svc->loop, 1000))
            goto out;
    }
    inited = 1;
    if (def->init && def->init(svc) < 0)
        goto out;
    log_info("event=started pid=%d", (int)getpid());
    rc = evloop_run(svc->loop) < 0 ? 1 : 0;
    log_info("event=stopped status=%d", rc);
out:
    /* fini runs whenever init was called, so it must handle a partial init */
    if (inited && def->fini)
        def->fini(svc);
    consumer_destroy(&svc->consumer);
    free(svc->consumes);
    db_close(&svc->db);
    if (svc->control)
        zmq_close(svc->control);
    curve_zap_destroy(&svc->zap);
    evloop_destroy(&svc->loop);
    if (svc->zctx)
        zmq_ctx_term(svc->zctx);
    config_destroy(&svc->cfg);
    if (svc->lock_fd >= 0)
        close(svc->lock_fd);
    return rc;
}
