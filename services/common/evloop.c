/*
 * loop.c - zmq_poll, timers, a signalfd, and an eventfd for wake-ups from
 * other threads.
 *
 * Signals arrive as readable data on a signalfd, so a handler runs in the
 * loop like any other event and never interrupts SQLite or ZeroMQ halfway.
 */
#include "evloop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"

#define LOOP_MAX_ITEMS 64
#define LOOP_MAX_TIMERS 32
#define LOOP_MAX_SIGNALS 4
#define LOOP_MAX_WAKES 4

typedef struct {
    evloop_fn fn;
    void *arg;
    evloop_fn write_fn; /* evloop_add_fd_rw's */
    int rw, dead;       /* rw: an error counts as readable; dead: removed */
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
    int wfd; /* evloop_wake's eventfd, -1 until evloop_on_wake */
    s_handler_t wakes[LOOP_MAX_WAKES];
    int n_wakes;
    int n_dead; /* removed items not yet compacted */
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
    loop->wfd = -1;
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
    if ((*self_p)->wfd >= 0)
        close((*self_p)->wfd);
    free(*self_p);
    *self_p = NULL;
}

/* s_add - one poll item */
static int s_add(evloop_t *loop, void *zsock, int fd, evloop_fn fn, void *arg)
{
    if (loop->n_items == LOOP_MAX_ITEMS)
        return -1;
    loop->items[loop->n_items] = (zmq_pollitem_t){zsock, fd, ZMQ_POLLIN, 0};
    loop->handlers[loop->n_items] = (s_handler_t){.fn = fn, .arg = arg};
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

/* s_find - the live item watching fd, or -1 */
static int s_find(const evloop_t *loop, int fd)
{
    for (int i = 1; i < loop->n_items; i++)
        if (!loop->handlers[i].dead && !loop->items[i].socket && loop->items[i].fd == fd)
            return i;
    return -1;
}

/* evloop_add_fd_rw - a read/write watch */
int evloop_add_fd_rw(evloop_t *loop, int fd, evloop_fn read_fn, evloop_fn write_fn, void *arg)
{
    if (s_add(loop, NULL, fd, read_fn, arg))
        return -1;
    loop->handlers[loop->n_items - 1].write_fn = write_fn;
    loop->handlers[loop->n_items - 1].rw = 1;
    return 0;
}

/* evloop_fd_interest - what the loop polls fd for */
int evloop_fd_interest(evloop_t *loop, int fd, int read, int write)
{
    int i = s_find(loop, fd);
    if (i < 0)
        return -1;
    loop->items[i].events = (short)((read ? ZMQ_POLLIN : 0) | (write ? ZMQ_POLLOUT : 0));
    return 0;
}

/* evloop_remove_fd - a tombstone now (evloop_run may be walking the items),
 * compacted before the next poll */
int evloop_remove_fd(evloop_t *loop, int fd)
{
    int i = s_find(loop, fd);
    if (i < 0)
        return -1;
    loop->handlers[i].dead = 1;
    loop->items[i].events = 0;
    loop->items[i].revents = 0;
    loop->n_dead++;
    return 0;
}

/* s_compact - drop the tombstones */
static void s_compact(evloop_t *loop)
{
    int k = 1;
    for (int i = 1; i < loop->n_items; i++) {
        if (loop->handlers[i].dead)
            continue;
        loop->items[k] = loop->items[i];
        loop->handlers[k++] = loop->handlers[i];
    }
    loop->n_items = k;
    loop->n_dead = 0;
}

/* s_on_wakefd - read the eventfd (resetting it) and run the wake handlers */
static int s_on_wakefd(evloop_t *loop, void *arg)
{
    (void)arg;
    uint64_t n;
    if (read(loop->wfd, &n, sizeof n) != (ssize_t)sizeof n)
        return 0; /* another read took it: nothing to do */
    for (int i = 0; i < loop->n_wakes; i++)
        if (loop->wakes[i].fn(loop, loop->wakes[i].arg) < 0)
            return -1;
    return 0;
}

/* evloop_on_wake - a wake handler (the first makes the eventfd) */
int evloop_on_wake(evloop_t *loop, evloop_fn fn, void *arg)
{
    if (loop->n_wakes == LOOP_MAX_WAKES)
        return -1;
    if (loop->wfd < 0) {
        loop->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (loop->wfd < 0)
            return -1;
        if (s_add(loop, NULL, loop->wfd, s_on_wakefd, NULL)) {
            close(loop->wfd);
            loop->wfd = -1;
            return -1;
        }
    }
    loop->wakes[loop->n_wakes++] = (s_handler_t){.fn = fn, .arg = arg};
    return 0;
}

/* evloop_wake - add one to the eventfd: write(2) is thread- and
 * signal-safe, and the counter folds many wakes into one read */
void evloop_wake(evloop_t *loop)
{
    uint64_t one = 1;
    if (loop->wfd >= 0 && write(loop->wfd, &one, sizeof one) < 0) {
        /* EAGAIN: the counter is full, so the loop is woken already */
    }
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
        if (loop->n_dead)
            s_compact(loop);
        int n = zmq_poll(loop->items, loop->n_items, (long)wait);
        if (n < 0 && errno != EINTR) {
            log_error("event=poll_failed error=\"%s\"", zmq_strerror(errno));
            return -1;
        }
        if (n > 0) {
            if ((loop->items[0].revents & ZMQ_POLLIN) && s_signals(loop) < 0)
                return -1;
            for (int i = 1; i < loop->n_items && !loop->stop; i++) {
                s_handler_t *h = &loop->handlers[i];
                short in = ZMQ_POLLIN | (h->rw ? ZMQ_POLLERR : 0);
                if (!h->dead && (loop->items[i].revents & in) && h->fn &&
                    h->fn(loop, h->arg) < 0)
                    return -1;
                /* h may be dead now: the read handler removed its fd */
                if (!h->dead && (loop->items[i].revents & ZMQ_POLLOUT) && h->write_fn &&
                    h->write_fn(loop, h->arg) < 0)
                    return -1;
            }
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
