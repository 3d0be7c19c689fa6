/*
 * harkd - the supervisor: starts every service of one Hark instance,
 * restarts the ones that die, and stops them all on SIGTERM/SIGINT.
 *
 * Owns:     the child processes; <state_dir>/keys/ (generated on first start,
 *           so `make run` can say where they are).
 * Serves:   [harkd] control (ROUTER): HARKD_STATUS -> each service's pid,
 *           uptime, restarts and how it last ended; HARKD_SERVICE_STOP,
 *           HARKD_SERVICE_START -> one service held stopped and let go
 *           again (`hark rebuild`); SERVICE_STATUS.
 * Emits:    nothing.  Consumes: nothing.
 * Config:   [hark] services state_dir; [harkd] control grace restart_min
 *           restart_max stable_after bin_dir.
 *
 * A service with [<name>] partitions = N > 1 is N children, each started
 * with --partition K and named <name>-K (hark-scaling(7)).
 * Each service is bin_dir/hark-<name> -c <the same config file>, with its
 * CURVE keypair's file in HARK_CURVE_KEY and the dir of the instance's
 * public keys in HARK_CURVE_PEERS (curve.h; used by tcp:// endpoints; the
 * secret itself never on a command line).  A child
 * that dies is restarted after restart_min, doubling for each crash in a row
 * up to restart_max; a child that ran stable_after is forgiven its history.
 * Children get PR_SET_PDEATHSIG, so a harkd killed with -9 takes them along
 * instead of leaving orphans holding the sockets; a service whose old copy
 * is still running (it holds <state_dir>/<name>.lock) is started once that
 * copy has exited, never beside it.  Shutdown goes in reverse
 * start order (the gateway stops taking requests before the journal goes),
 * SIGTERM first and SIGKILL after [harkd] grace.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "curve.h"
#include "harkd.h"
#include "keys.h"
#include "log.h"
#include "service.h"

static int s_init(service_t *svc);
static void s_fini(service_t *svc);

/* What it serves on [harkd] control (harkd_control.c) */
static const service_command_t s_commands[] = {
    {CMD_HARKD_STATUS, CMD_HARKD_STATUS_OK, harkd_control_status},
    {CMD_HARKD_SERVICE_STOP, CMD_HARKD_SERVICE_STOP_OK, harkd_control_stop},
    {CMD_HARKD_SERVICE_START, CMD_HARKD_SERVICE_START_OK, harkd_control_start},
    {NULL, NULL, NULL},
};

/* s_curve_keys - with a tcp:// endpoint, every keypair made before the
 * skeleton binds harkd's own control socket (curve.h); an error shows
 * when that bind then fails */
static void s_curve_keys(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-' && strcmp(argv[i], "-c") && strcmp(argv[i], "--config"))
            return; /* --help, --tables: nothing to make */
    config_t *cfg = config_load(service_config_arg(argc, argv));
    if (cfg && !config_error_count(cfg) && curve_needed(cfg) &&
        (config_ensure_state_dir(cfg) || curve_keygen_all(cfg)))
        fprintf(stderr, "harkd: cannot make the CURVE keypairs in %s\n", curve_keys_dir(cfg));
    config_destroy(&cfg);
}

int main(int argc, char **argv)
{
    s_curve_keys(argc, argv);
    static const service_def_t def = {
        .name = "harkd",
        .commands = s_commands,
        .init = s_init, /* keys, then every service (harkd_child.c) */
        .fini = s_fini,
    };
    return service_main(argc, argv, &def);
}

/* s_bin_dir - [harkd] bin_dir, or the directory harkd runs from */
static void s_bin_dir(const config_t *cfg, char *out, size_t len)
{
    const char *d = config_get(cfg, "harkd", "bin_dir");
    if (d && *d) {
        snprintf(out, len, "%s", d);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", out, len - 1);
    out[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(out, len, ".");
}

/* s_init - keys, then every service */
static int s_init(service_t *svc)
{
    const config_t *cfg = service_config(svc);
    harkd_t *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    service_set_state(svc, h);
    h->config_file = config_path(cfg);
    h->state_dir = config_state_dir(cfg);
    h->restart_min = config_duration_ms(cfg, "harkd", "restart_min");
    h->restart_max = config_duration_ms(cfg, "harkd", "restart_max");
    h->stable_after = config_duration_ms(cfg, "harkd", "stable_after");
    h->grace = config_duration_ms(cfg, "harkd", "grace");
    h->curve_keys = curve_keys_dir(cfg);

    /* keys first, so they exist before anyone asks `hark keys` */
    char key[128];
    const char *ik = config_get(cfg, "gateway", "ingest_key");
    const char *ak = config_get(cfg, "gateway", "admin_key");
    if ((!(ik && *ik) && keys_load_or_create(config_state_dir(cfg), "ingest", key, sizeof key)) ||
        (!(ak && *ak) && keys_load_or_create(config_state_dir(cfg), "admin", key, sizeof key))) {
        log_error("event=keys_failed dir=%s/keys", config_state_dir(cfg));
        return -1;
    }

    char bin[PATH_MAX - 64];
    s_bin_dir(cfg, bin, sizeof bin);
    const char *names[HARKD_MAX_CHILDREN];
    size_t nnames = config_list(cfg, "hark", "services", names, HARKD_MAX_CHILDREN);
    for (size_t i = 0; i < nnames; i++) {
        /* a service with [<name>] partitions = N > 1 is N children
         * (partition.h), each started with --partition K */
        long long parts = config_default(names[i], "partitions")
                              ? config_int(cfg, names[i], "partitions") : 1;
        for (long long k = 0; k < parts; k++) {
            if (h->n == HARKD_MAX_CHILDREN) {
                log_error("event=too_many_children max=%d", HARKD_MAX_CHILDREN);
                return -1;
            }
            harkd_child_t *c = &h->children[h->n++];
            c->service = c->name = names[i];
            c->partition = parts > 1 ? (int)k : -1;
            if (parts > 1) {
                snprintf(c->instance, sizeof c->instance, "%s-%lld", names[i], k);
                c->name = c->instance;
            }
            c->delay = h->restart_min;
            snprintf(c->path, sizeof c->path, "%s/hark-%s", bin, names[i]);
            if (access(c->path, X_OK) != 0) {
                log_error("event=no_such_service service=%s path=%s", c->name, c->path);
                return -1;
            }
        }
    }
    evloop_t *loop = service_evloop(svc);
    if (evloop_on_signal(loop, SIGCHLD, harkd_child_on_chld, svc) ||
        evloop_add_timer(loop, 50, harkd_child_tick, svc) < 0)
        return -1;
    for (size_t i = 0; i < h->n; i++)
        if (harkd_child_spawn(h, &h->children[i]))
            return -1;
    const char *listen = config_get(cfg, "gateway", "listen");
    char console[300] = "";
    for (size_t i = 0; i < nnames; i++) /* staff sign in there (hark-console(8)) */
        if (strcmp(names[i], "console") == 0)
            snprintf(console, sizeof console, "  console:  %s\n",
                     config_get(cfg, "console", "public_url"));
    fprintf(stderr,
            "\nHark is starting: %zu services, state in %s\n"
            "  gateway:  http://%s\n"
            "%s"
            "  keys:     %s/keys/ (or run: bin/hark -c %s keys)\n"
            "  status:   bin/hark -c %s status\n"
            "  stop:     Ctrl-C\n\n",
            h->n, config_state_dir(cfg), listen, console, config_state_dir(cfg), h->config_file,
            h->config_file);
    return 0;
}

/* s_fini - stop the children in reverse order */
static void s_fini(service_t *svc)
{
    harkd_t *h = service_state(svc);
    if (!h)
        return;
    harkd_child_stop(h);
    free(h);
    service_set_state(svc, NULL);
}
