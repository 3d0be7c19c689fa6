/*
 * loop.c - zmq_poll, timers and a signalfd.
 *
 * Signals arrive as readable data on a signalfd, so a handler runs in the
 * loop like any other event and never interrupts SQLite or ZeroMQ halfway.
 */
#include "evloop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"

#define LOOP_MAX_ITEMS 64
#define LOOP_MAX_TIMERS 32
#define LOOP_MAX_SIGNALS 4

typedef struct {
    evloop_fn fn;
    void *arg;
} s_handler_t;

typedef struct {
    int64_t interval, next;
    evloop_fn fn;
    void *arg;
} s_timer_t;

struct loop {
    zmq_pollitem_t items[LOOP_MAX_ITEMS];
    s_handler_t handlers[LOOP_MAX_ITEMS];
    int n_items;
    s_timer_t timers[LOOP_MAX_TIMERS];
    int n_timers;
    int sfd;
    struct {
        int signo;
        evloop_signal_fn fn;
        void *arg;
    } signals[LOOP_MAX_SIGNALS];
    int n_signals;
    int stop;
};

/* s_sigset - the signals the loop takes over */
static void s_sigset(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGCHLD);
}

/* evloop_child_signals - undo the loop's signal changes in a child */
void evloop_child_signals(void)
{
    sigset_t set;
    s_sigset(&set);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    signal(SIGPIPE, SIG_DFL);
}

/* evloop_new - create, blocking the loop's signals into a signalfd */
evloop_t *evloop_new(void)
{
    evloop_t *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    sigset_t set;
    s_sigset(&set);
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
        (loop->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
        free(loop);
        return NULL;
    }
    loop->items[0] = (zmq_pollitem_t){NULL, loop->sfd, ZMQ_POLLIN, 0};
    loop->n_items = 1;
    return loop;
}

/* evloop_destroy - close the signalfd; safe on NULL and twice */
void evloop_destroy(evloop_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    close((*self_p)->sfd);
    free(*self_p);
    *self_p = NULL;
}

/* s_add - one poll item */
static int s_add(evloop_t *loop, void *zsock, int fd, evloop_fn fn, void *arg)
{
    if (loop->n_items == LOOP_MAX_ITEMS)
        return -1;
    loop->items[loop->n_items] = (zmq_pollitem_t){zsock, fd, ZMQ_POLLIN, 0};
    loop->handlers[loop->n_items] = (s_handler_t){fn, arg};
    loop->n_items++;
    return 0;
}

int evloop_add_socket(evloop_t *loop, void *zsock, evloop_fn fn, void *arg)
{
    return s_add(loop, zsock, -1, fn, arg);
}

int evloop_add_fd(evloop_t *loop, int fd, evloop_fn fn, void *arg)
{
    return s_add(loop, NULL, fd, fn, arg);
}

/* evloop_add_timer - a repeating timer */
int evloop_add_timer(evloop_t *loop, int64_t interval_ms, evloop_fn fn, void *arg)
{
    if (loop->n_timers == LOOP_MAX_TIMERS)
        return -1;
    loop->timers[loop->n_timers] =
        (s_timer_t){interval_ms, clock_mono_ms() + interval_ms, fn, arg};
    return loop->n_timers++;
}

/* evloop_timer_at - reschedule a timer */
void evloop_timer_at(evloop_t *loop, int id, int64_t delay_ms)
{
    if (id >= 0 && id < loop->n_timers)
        loop->timers[id].next = clock_mono_ms() + delay_ms;
}

/* evloop_on_signal - a handler for one signal */
int evloop_on_signal(evloop_t *loop, int signo, evloop_signal_fn fn, void *arg)
{
    if (loop->n_signals == LOOP_MAX_SIGNALS)
        return -1;
    loop->signals[loop->n_signals].signo = signo;
    loop->signals[loop->n_signals].fn = fn;
    loop->signals[loop->n_signals].arg = arg;
    loop->n_signals++;
    return 0;
}

void evloop_stop(evloop_t *loop) { loop->stop = 1; }

/* s_signals - read the signalfd and dispatch */
static int s_signals(evloop_t *loop)
{
    struct signalfd_siginfo si;
    while (read(loop->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        int handled = 0;
        for (int i = 0; i < loop->n_signals; i++) {
            if (loop->signals[i].signo != (int)si.ssi_signo)
                continue;
            handled = 1;
            if (loop->signals[i].fn(loop, (int)si.ssi_signo, loop->signals[i].arg) < 0)
                return -1;
        }
        if (!handled && (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)) {
            log_info("event=stopping signal=%s", si.ssi_signo == SIGTERM ? "TERM" : "INT");
            loop->stop = 1;
        }
    }
    return 0;
}

/* evloop_run - the loop */
int evloop_run(evloop_t *loop)
{
    while (!loop->stop) {
        int64_t now = clock_mono_ms(), wait = 1000;
        for (int i = 0; i < loop->n_timers; i++) {
            int64_t d = loop->timers[i].next - now;
            if (d < wait)
                wait = d < 0 ? 0 : d;
        }
        int n = zmq_poll(loop->items, loop->n_items, (long)wait);
        if (n < 0 && errno != EINTR) {
            log_error("event=poll_failed error=\"%s\"", zmq_strerror(errno));
            return -1;
        }
        if (n > 0) {
            if ((loop->items[0].revents & ZMQ_POLLIN) && s_signals(loop) < 0)
                return -1;
            for (int i = 1; i < loop->n_items && !loop->stop; i++)
                if ((loop->items[i].revents & ZMQ_POLLIN) &&
                    loop->handlers[i].fn(loop, loop->handlers[i].arg) < 0)
                    return -1;
        }
        now = clock_mono_ms();
        for (int i = 0; i < loop->n_timers && !loop->stop; i++) {
            if (loop->timers[i].next > now)
                continue;
            loop->timers[i].next = now + loop->timers[i].interval;
            if (loop->timers[i].fn(loop, loop->timers[i].arg) < 0)
                return -1;
        }
    }
    return 0;
}
