/*
 * harkd_child.c - harkd's children: started (not beside an old copy that
 * still holds the service's lock), reaped, restarted with backoff, stopped
 * in reverse order.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "harkd.h"
#include "log.h"
#include "pidlock.h"

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

/* harkd_child_spawn - fork and exec one service; while an old copy of it (left by
 * a harkd killed with -9, still finishing its work) holds its lock, put
 * the start off and try again shortly: the new copy would refuse to start
 * anyway (pidlock.h), and starting it late beats a crash loop's backoff */
int harkd_child_spawn(harkd_t *h, harkd_child_t *c)
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
        /* its keypair by path, never the secret on a command line */
        char key[PATH_MAX + 80];
        snprintf(key, sizeof key, "%s/curve-%s.key", h->curve_keys, c->service);
        setenv("HARK_CURVE_KEY", key, 1);
        setenv("HARK_CURVE_PEERS", h->curve_keys, 1);
        char part[16];
        snprintf(part, sizeof part, "%d", c->partition);
        if (c->partition >= 0)
            execl(c->path, c->path, "-c", h->config_file, "--partition", part, (char *)NULL);
        else
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

/* harkd_child_reap - collect dead children and plan their restarts */
void harkd_child_reap(harkd_t *h)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < h->n; i++) {
            harkd_child_t *c = &h->children[i];
            if (c->pid != pid)
                continue;
            c->pid = 0;
            s_describe(status, c->last_exit, sizeof c->last_exit);
            if (h->stopping || c->held) {
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

/* harkd_child_on_chld - SIGCHLD */
int harkd_child_on_chld(evloop_t *loop, int signo, void *arg)
{
    (void)loop, (void)signo;
    harkd_t *h = service_state(arg);
    if (h)
        harkd_child_reap(h);
    return 0;
}

/* harkd_child_tick - restart what is due */
int harkd_child_tick(evloop_t *loop, void *arg)
{
    (void)loop;
    harkd_t *h = service_state(arg);
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < h->n; i++) {
        harkd_child_t *c = &h->children[i];
        if (!c->pid && !c->held && c->restart_at && c->restart_at <= now)
            harkd_child_spawn(h, c);
        if (c->pid && c->held && c->kill_at && c->kill_at <= now) { /* HARKD_SERVICE_STOP */
            log_warn("event=service_kill service=%s pid=%d reason=grace_expired", c->name,
                     (int)c->pid);
            kill(c->pid, SIGKILL);
            c->kill_at = 0;
        }
    }
    return 0;
}

/* s_wait_exit - wait up to ms for c to be reaped */
static int s_wait_exit(harkd_t *h, harkd_child_t *c, int64_t ms)
{
    int64_t deadline = clock_mono_ms() + ms;
    while (c->pid && clock_mono_ms() < deadline) {
        harkd_child_reap(h);
        if (c->pid) {
            struct timespec ts = {0, 10 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return c->pid ? -1 : 0;
}

/* harkd_child_stop - stop the children in reverse order */
void harkd_child_stop(harkd_t *h)
{
    h->stopping = 1;
    for (size_t i = h->n; i-- > 0;) {
        harkd_child_t *c = &h->children[i];
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
}
