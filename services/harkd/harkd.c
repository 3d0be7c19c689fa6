/*
 * harkd - the supervisor: starts every service of one Hark instance,
 * restarts the ones that die, and stops them all on SIGTERM/SIGINT.
 *
 * Owns:     the child processes; <state_dir>/keys/ (generated on first start,
 *           so `make run` can say where they are).
 * Serves:   [harkd] control (ROUTER): HARKD_STATUS -> each service's pid,
 *           uptime, restarts and how it last ended; SERVICE_STATUS.
 * Emits:    nothing.  Consumes: nothing.
 * Config:   [hark] services state_dir; [harkd] control grace restart_min
 *           restart_max stable_after bin_dir.
 *
 * Each service is bin_dir/hark-<name> -c <the same config file>.  A child
 * that dies is restarted after restart_min, doubling for each crash in a row
 * up to restart_max; a child that ran stable_after is forgiven its history.
 * Children get PR_SET_PDEATHSIG, so a harkd killed with -9 takes them along
 * instead of leaving orphans holding the sockets; a service whose old copy
 * is still running (it holds <state_dir>/<name>.lock) is started once that
 * copy has exited, never beside it.  Shutdown goes in reverse
 * start order (the gateway stops taking requests before the journal goes),
 * SIGTERM first and SIGKILL after [harkd] grace.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "keys.h"
#include "log.h"
#include "pidlock.h"
#include "service.h"

#define HARKD_MAX_CHILDREN 32

typedef struct {
    const char *name;
    char path[PATH_MAX + 64];
    pid_t pid;            /* 0 when not running */
    int64_t started;      /* mono ms */
    int64_t restart_at;   /* mono ms; 0 = no restart pending */
    int64_t delay;        /* next restart delay */
    int restarts;
    int started_once;     /* a later start is a restart */
    int waiting;          /* an old copy still holds the service's lock */
    char last_exit[64];
} child_t;

typedef struct {
    child_t children[HARKD_MAX_CHILDREN];
    size_t n;
    const char *config_file;
    const char *state_dir;
    int64_t restart_min, restart_max, stable_after, grace;
    int stopping;
} harkd_t;

/* s_describe - how a child ended, for logs and status */
static void s_describe(int status, char *out, size_t len)
{
    if (WIFEXITED(status))
        snprintf(out, len, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, len, "signal %s", sigabbrev_np(WTERMSIG(status))
                                            ? sigabbrev_np(WTERMSIG(status)) : "?");
    else
        snprintf(out, len, "status %d", status);
}

/* s_spawn - fork and exec one service; while an old copy of it (left by
 * a harkd killed with -9, still finishing its work) holds its lock, put
 * the start off and try again shortly: the new copy would refuse to start
 * anyway (pidlock.h), and starting it late beats a crash loop's backoff */
static int s_spawn(harkd_t *h, child_t *c)
{
    char lock[PATH_MAX];
    long holder = 0;
    pidlock_path(h->state_dir, c->name, lock, sizeof lock);
    if (pidlock_held(lock, &holder) == 1) {
        if (!c->waiting)
            log_warn("event=waiting_for_old_copy service=%s pid=%ld lock=%s", c->name, holder,
                     lock);
        c->waiting = 1;
        c->restart_at = clock_mono_ms() + 100;
        return 0;
    }
    c->waiting = 0;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_error("event=fork_failed service=%s error=\"%s\"", c->name, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        evloop_child_signals();
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) /* harkd died before prctl took effect */
            _exit(1);
        execl(c->path, c->path, "-c", h->config_file, (char *)NULL);
        fprintf(stderr, "harkd: cannot run %s: %s\n", c->path, strerror(errno));
        _exit(127);
    }
    c->pid = pid;
    if (c->started_once)
        c->restarts++;
    c->started_once = 1;
    c->started = clock_mono_ms();
    c->restart_at = 0;
    log_info("event=spawned service=%s pid=%d", c->name, (int)pid);
    return 0;
}

/* s_reap - collect dead children and plan their restarts */
static void s_reap(harkd_t *h)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < h->n; i++) {
            child_t *c = &h->children[i];
            if (c->pid != pid)
                continue;
            c->pid = 0;
            s_describe(status, c->last_exit, sizeof c->last_exit);
            if (h->stopping) {
                log_info("event=service_stopped service=%s how=\"%s\"", c->name, c->last_exit);
                break;
            }
            int64_t ran = clock_mono_ms() - c->started;
            if (ran >= h->stable_after)
                c->delay = h->restart_min;
            c->restart_at = clock_mono_ms() + c->delay;
            log_warn("event=service_died service=%s pid=%d how=\"%s\" ran_ms=%lld "
                     "restart_in_ms=%lld",
                     c->name, (int)pid, c->last_exit, (long long)ran, (long long)c->delay);
            c->delay = c->delay * 2 > h->restart_max ? h->restart_max : c->delay * 2;
            break;
        }
    }
}

/* s_on_chld - SIGCHLD */
static int s_on_chld(evloop_t *loop, int signo, void *arg)
{
    (void)loop, (void)signo;
    harkd_t *h = service_state(arg);
    if (h)
        s_reap(h);
    return 0;
}

/* s_on_tick - restart what is due */
static int s_on_tick(evloop_t *loop, void *arg)
{
    (void)loop;
    harkd_t *h = service_state(arg);
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < h->n; i++) {
        child_t *c = &h->children[i];
        if (!c->pid && c->restart_at && c->restart_at <= now)
            s_spawn(h, c);
    }
    return 0;
}

/* s_harkd_status - HARKD_STATUS: every child, running or not */
static json_t *s_harkd_status(service_t *svc, const json_t *req, service_err_t *err)
{
    (void)req, (void)err;
    harkd_t *h = service_state(svc);
    json_t *list = json_array();
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < h->n; i++) {
        child_t *c = &h->children[i];
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
    h->n = config_list(cfg, "hark", "services", names, HARKD_MAX_CHILDREN);
    for (size_t i = 0; i < h->n; i++) {
        child_t *c = &h->children[i];
        c->name = names[i];
        c->delay = h->restart_min;
        snprintf(c->path, sizeof c->path, "%s/hark-%s", bin, names[i]);
        if (access(c->path, X_OK) != 0) {
            log_error("event=no_such_service service=%s path=%s", c->name, c->path);
            return -1;
        }
    }
    evloop_t *loop = service_evloop(svc);
    if (evloop_on_signal(loop, SIGCHLD, s_on_chld, svc) ||
        evloop_add_timer(loop, 50, s_on_tick, svc) < 0)
        return -1;
    for (size_t i = 0; i < h->n; i++)
        if (s_spawn(h, &h->children[i]))
            return -1;
    const char *listen = config_get(cfg, "gateway", "listen");
    fprintf(stderr,
            "\nHark is starting: %zu services, state in %s\n"
            "  gateway:  http://%s\n"
            "  keys:     %s/keys/ (or run: bin/hark -c %s keys)\n"
            "  status:   bin/hark -c %s status\n"
            "  stop:     Ctrl-C\n\n",
            h->n, config_state_dir(cfg), listen, config_state_dir(cfg), h->config_file,
            h->config_file);
    return 0;
}

/* s_wait_exit - wait up to ms for c to be reaped */
static int s_wait_exit(harkd_t *h, child_t *c, int64_t ms)
{
    int64_t deadline = clock_mono_ms() + ms;
    while (c->pid && clock_mono_ms() < deadline) {
        s_reap(h);
        if (c->pid) {
            struct timespec ts = {0, 10 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return c->pid ? -1 : 0;
}

/* s_fini - stop the children in reverse order */
static void s_fini(service_t *svc)
{
    harkd_t *h = service_state(svc);
    if (!h)
        return;
    h->stopping = 1;
    for (size_t i = h->n; i-- > 0;) {
        child_t *c = &h->children[i];
        if (!c->pid)
            continue;
        kill(c->pid, SIGTERM);
        if (s_wait_exit(h, c, h->grace)) {
            log_warn("event=service_kill service=%s pid=%d reason=grace_expired", c->name,
                     (int)c->pid);
            kill(c->pid, SIGKILL);
            s_wait_exit(h, c, 5000);
        }
    }
    free(h);
    service_set_state(svc, NULL);
}

static const service_command_t s_commands[] = {
    {CMD_HARKD_STATUS, CMD_HARKD_STATUS_OK, s_harkd_status},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "harkd",
        .commands = s_commands,
        .init = s_init,
        .fini = s_fini,
    };
    return service_main(argc, argv, &def);
}
