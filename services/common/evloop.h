/*
 * loop.h - the event loop every Hark process runs: zmq_poll over ZeroMQ
 * sockets and plain fds, timers, and signals through a signalfd.
 *
 * SIGTERM and SIGINT stop the loop (evloop_run returns 0) unless a handler is
 * registered for them; SIGPIPE is ignored.  Handlers return 0 to go on or
 * -1 to stop the loop with an error.
 */
#ifndef HARK_EVLOOP_H
#define HARK_EVLOOP_H

#include <stdint.h>

typedef struct loop evloop_t;
typedef int (*evloop_fn)(evloop_t *loop, void *arg);
typedef int (*evloop_signal_fn)(evloop_t *loop, int signo, void *arg);

/* evloop_new - a loop that owns a signalfd for TERM, INT, HUP and CHLD.
 * NULL on error.  Caller frees with evloop_destroy(). */
evloop_t *evloop_new(void);
void evloop_destroy(evloop_t **self_p);

/* evloop_add_socket / evloop_add_fd - call fn whenever it is readable */
int evloop_add_socket(evloop_t *loop, void *zsock, evloop_fn fn, void *arg);
int evloop_add_fd(evloop_t *loop, int fd, evloop_fn fn, void *arg);

/* evloop_add_timer - call fn every interval_ms (first after interval_ms);
 * returns a timer id >= 0 or -1. */
int evloop_add_timer(evloop_t *loop, int64_t interval_ms, evloop_fn fn, void *arg);

/* evloop_timer_at - make timer id fire after delay_ms from now (0: at once) */
void evloop_timer_at(evloop_t *loop, int id, int64_t delay_ms);

/* evloop_on_signal - handle signo (TERM, INT, HUP or CHLD) instead of the
 * default */
int evloop_on_signal(evloop_t *loop, int signo, evloop_signal_fn fn, void *arg);

/* evloop_run - run until a stop signal (0), evloop_stop (0) or a handler's -1
 * (-1) */
int evloop_run(evloop_t *loop);
void evloop_stop(evloop_t *loop);

/* evloop_child_signals - for a forked child before exec: restore the signal
 * mask and dispositions the loop changed */
void evloop_child_signals(void);

#endif
