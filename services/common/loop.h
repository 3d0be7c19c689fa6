/*
 * loop.h - the event loop every Hark process runs: zmq_poll over ZeroMQ
 * sockets and plain fds, timers, and signals through a signalfd.
 *
 * SIGTERM and SIGINT stop the loop (loop_run returns 0) unless a handler is
 * registered for them; SIGPIPE is ignored.  Handlers return 0 to go on or
 * -1 to stop the loop with an error.
 */
#ifndef HARK_LOOP_H
#define HARK_LOOP_H

#include <stdint.h>

typedef struct loop loop_t;
typedef int (*loop_fn)(loop_t *loop, void *arg);
typedef int (*loop_signal_fn)(loop_t *loop, int signo, void *arg);

/* loop_new - a loop that owns a signalfd for TERM, INT, HUP and CHLD.
 * NULL on error.  Caller frees with loop_destroy(). */
loop_t *loop_new(void);
void loop_destroy(loop_t **self_p);

/* loop_add_socket / loop_add_fd - call fn whenever it is readable */
int loop_add_socket(loop_t *loop, void *zsock, loop_fn fn, void *arg);
int loop_add_fd(loop_t *loop, int fd, loop_fn fn, void *arg);

/* loop_add_timer - call fn every interval_ms (first after interval_ms);
 * returns a timer id >= 0 or -1. */
int loop_add_timer(loop_t *loop, int64_t interval_ms, loop_fn fn, void *arg);

/* loop_timer_at - make timer id fire after delay_ms from now (0: at once) */
void loop_timer_at(loop_t *loop, int id, int64_t delay_ms);

/* loop_on_signal - handle signo (TERM, INT, HUP or CHLD) instead of the
 * default */
int loop_on_signal(loop_t *loop, int signo, loop_signal_fn fn, void *arg);

/* loop_run - run until a stop signal (0), loop_stop (0) or a handler's -1
 * (-1) */
int loop_run(loop_t *loop);
void loop_stop(loop_t *loop);

/* loop_child_signals - for a forked child before exec: restore the signal
 * mask and dispositions the loop changed */
void loop_child_signals(void);

#endif
