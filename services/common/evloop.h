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

/* evloop_add_fd_rw - watch fd for reading (read_fn) and, while write
 * interest is on, for writing (write_fn); an error or hang-up on fd counts as
 * readable.  Read interest starts on, write interest off.  For a peer's
 * socket that a library reads and writes through the loop (libnats' event
 * loop mode).  Loop thread only, like every call here but evloop_wake. */
int evloop_add_fd_rw(evloop_t *loop, int fd, evloop_fn read_fn, evloop_fn write_fn, void *arg);

/* evloop_fd_interest - turn read and write interest on fd on (1) or off (0);
 * -1 if fd is not watched */
int evloop_fd_interest(evloop_t *loop, int fd, int read, int write);

/* evloop_remove_fd - stop watching fd (also from inside one of its handlers);
 * -1 if it was not watched */
int evloop_remove_fd(evloop_t *loop, int fd);

/* evloop_on_wake - call fn in the loop after evloop_wake; makes the loop's
 * eventfd, so call it before another thread may wake the loop */
int evloop_on_wake(evloop_t *loop, evloop_fn fn, void *arg);

/* evloop_wake - from any thread (and from a signal handler): the loop runs
 * its wake handlers soon; wakes that come together run them once */
void evloop_wake(evloop_t *loop);

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
