/*
 * test_evloop.c - unit tests for services/common/evloop.c.
 *
 * Timers, an inproc PAIR socket, a pipe and real signals raised at the
 * process (through the loop's signalfd); write interest on a socket pair and
 * a wake-up from another thread (what libnats' event loop mode needs).  Every run has a safety timer that
 * fails the run (-1) instead of letting a broken loop hang the test.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "evloop.h"
#include "unit.h"

static void *s_ctx;

typedef struct {
    int count;
    int64_t first_at, last_at;
    int signo;
    int value;
    int stop_after; /* stop the loop on this call (0: never) */
    int fail;       /* return -1 */
    int timer_id;
    void *sock;
    int fd;
} s_probe_t;

/* s_count - a timer/handler that counts and can stop or fail */
static int s_count(evloop_t *loop, void *arg)
{
    s_probe_t *p = arg;
    int64_t now = clock_mono_ms();
    if (!p->count++)
        p->first_at = now;
    p->last_at = now;
    if (p->stop_after && p->count >= p->stop_after)
        evloop_stop(loop);
    return p->fail ? -1 : 0;
}

/* s_safety - fails the run: the loop should have ended before this */
static int s_safety(evloop_t *loop, void *arg)
{
    (void)loop;
    *(int *)arg = 1;
    return -1;
}

/* s_pair - a bound to endpoint and b connected to it, ZMQ_PAIR, no linger */
static void s_pair(const char *endpoint, void **a, void **b)
{
    int linger = 0;
    *a = zmq_socket(s_ctx, ZMQ_PAIR);
    *b = zmq_socket(s_ctx, ZMQ_PAIR);
    zmq_setsockopt(*a, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(*b, ZMQ_LINGER, &linger, sizeof linger);
    CHECK_INT(zmq_bind(*a, endpoint), 0);
    CHECK_INT(zmq_connect(*b, endpoint), 0);
}

/* s_loop - a new loop with a 3 s safety timer setting *tripped */
static evloop_t *s_loop(int *tripped)
{
    evloop_t *loop = evloop_new();
    *tripped = 0;
    if (loop)
        evloop_add_timer(loop, 3000, s_safety, tripped);
    return loop;
}

static void test_repeating_timer_fires_until_stop(void)
{
    int tripped;
    evloop_t *loop = s_loop(&tripped);
    CHECK(loop != NULL);
    if (!loop)
        return;
    s_probe_t tick = {0}, stop = {.stop_after = 1};
    int64_t t0 = clock_mono_ms();
    CHECK(evloop_add_timer(loop, 10, s_count, &tick) >= 0);
    CHECK(evloop_add_timer(loop, 150, s_count, &stop) >= 0);
    CHECK_INT(evloop_run(loop), 0);
    CHECK(!tripped);
    CHECK_INT(stop.count, 1);
    CHECK(tick.count >= 3);
    CHECK(tick.count <= 16); /* not in a busy loop either */
    CHECK(tick.first_at - t0 >= 10);
    CHECK(stop.first_at - t0 >= 150);
    evloop_destroy(&loop);
    CHECK(loop == NULL);
    evloop_destroy(&loop);
    evloop_destroy(NULL);
}

static void test_timer_ids_count_up(void)
{
    evloop_t *loop = evloop_new();
    CHECK(loop != NULL);
    if (!loop)
        return;
    s_probe_t p = {0};
    CHECK_INT(evloop_add_timer(loop, 1000, s_count, &p), 0);
    CHECK_INT(evloop_add_timer(loop, 1000, s_count, &p), 1);
    for (int i = 2; i < 32; i++)
        CHECK_INT(evloop_add_timer(loop, 1000, s_count, &p), i);
    CHECK_INT(evloop_add_timer(loop, 1000, s_count, &p), -1); /* table full */
    evloop_timer_at(loop, 99, 0);                               /* unknown id: ignored */
    evloop_timer_at(loop, -1, 0);
    evloop_destroy(&loop);
}

static void test_timer_at_zero_fires_promptly(void)
{
    int tripped;
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    s_probe_t slow = {.stop_after = 1};
    int id = evloop_add_timer(loop, 60000, s_count, &slow);
    CHECK(id >= 0);
    int64_t t0 = clock_mono_ms();
    evloop_timer_at(loop, id, 0);
    CHECK_INT(evloop_run(loop), 0);
    CHECK(!tripped);
    CHECK_INT(slow.count, 1);
    CHECK(slow.first_at - t0 < 500);
    evloop_destroy(&loop);
}

/* s_kick - a timer that moves probe->timer_id to now */
static int s_kick(evloop_t *loop, void *arg)
{
    s_probe_t *p = arg;
    p->count++;
    p->first_at = clock_mono_ms();
    evloop_timer_at(loop, p->timer_id, 0);
    return 0;
}

static void test_timer_at_from_a_handler_and_later_delay(void)
{
    int tripped;
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    s_probe_t slow = {.stop_after = 1}, kick = {0};
    kick.timer_id = evloop_add_timer(loop, 60000, s_count, &slow);
    CHECK(evloop_add_timer(loop, 30, s_kick, &kick) >= 0);
    CHECK_INT(evloop_run(loop), 0);
    CHECK(!tripped);
    CHECK_INT(kick.count, 1);
    CHECK_INT(slow.count, 1);
    CHECK(slow.first_at - kick.first_at < 500);
    evloop_destroy(&loop);

    /* a delay postpones: a 10 ms timer moved to 200 ms fires after that */
    loop = s_loop(&tripped);
    if (!loop)
        return;
    s_probe_t later = {.stop_after = 1};
    int id = evloop_add_timer(loop, 10, s_count, &later);
    int64_t t0 = clock_mono_ms();
    evloop_timer_at(loop, id, 200);
    CHECK_INT(evloop_run(loop), 0);
    CHECK(!tripped);
    CHECK(later.first_at - t0 >= 200);
    evloop_destroy(&loop);
}

/* s_on_pair - read one message from the PAIR socket */
static int s_on_pair(evloop_t *loop, void *arg)
{
    s_probe_t *p = arg;
    char buf[32];
    int n = zmq_recv(p->sock, buf, sizeof buf, ZMQ_DONTWAIT);
    if (n < 0)
        return 0;
    p->count++;
    p->value = n == 5 && memcmp(buf, "hello", 5) == 0;
    evloop_stop(loop);
    return 0;
}

/* s_send_hello - a timer that sends "hello" once on the other socket */
static int s_send_hello(evloop_t *loop, void *arg)
{
    s_probe_t *p = arg;
    (void)loop;
    if (p->count++ == 0)
        zmq_send(p->sock, "hello", 5, 0);
    return 0;
}

static void test_socket_handler_runs_when_message_arrives(void)
{
    int tripped;
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    void *a, *b;
    s_pair("inproc://loop-pair", &a, &b);
    s_probe_t rx = {.sock = a}, tx = {.sock = b};
    CHECK_INT(evloop_add_socket(loop, a, s_on_pair, &rx), 0);
    CHECK(evloop_add_timer(loop, 50, s_send_hello, &tx) >= 0);
    int64_t t0 = clock_mono_ms();
    CHECK_INT(evloop_run(loop), 0);
    CHECK(!tripped);
    CHECK_INT(rx.count, 1);
    CHECK_INT(rx.value, 1);
    CHECK_INT(tx.count, 1);
    CHECK(clock_mono_ms() - t0 < 1000); /* woken by the message, not a timeout */
    zmq_close(a);
    zmq_close(b);
    evloop_destroy(&loop);
}

/* s_on_pipe - read what is in the pipe */
static int s_on_pipe(evloop_t *loop, void *arg)
{
    s_probe_t *p = arg;
    char buf[16];
    ssize_t n = read(p->fd, buf, sizeof buf);
    if (n > 0) {
        p->count++;
        p->value = buf[0];
        evloop_stop(loop);
    }
    return 0;
}

/* s_write_pipe - a timer that writes one byte to the pipe */
static int s_write_pipe(evloop_t *loop, void *arg)
{
    s_probe_t *p = arg;
    (void)loop;
    if (p->count++ == 0 && write(p->fd, "Z", 1) != 1)
        return -1;
    return 0;
}

static void test_fd_handler_runs_when_readable(void)
{
    int tripped, fds[2];
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    CHECK_INT(pipe(fds), 0);
    s_probe_t rx = {.fd = fds[0]}, tx = {.fd = fds[1]};
    CHECK_INT(evloop_add_fd(loop, fds[0], s_on_pipe, &rx), 0);
    CHECK(evloop_add_timer(loop, 30, s_write_pipe, &tx) >= 0);
    CHECK_INT(evloop_run(loop), 0);
    CHECK(!tripped);
    CHECK_INT(rx.count, 1);
    CHECK_INT(rx.value, 'Z');
    close(fds[0]);
    close(fds[1]);
    evloop_destroy(&loop);
}

static void test_poll_item_table_has_a_limit(void)
{
    evloop_t *loop = evloop_new();
    if (!loop)
        return;
    s_probe_t p = {0};
    int added = 0;
    while (evloop_add_fd(loop, 0, s_count, &p) == 0 && added < 100)
        added++;
    CHECK_INT(added, 63); /* 64 items, one of them the signalfd */
    evloop_destroy(&loop);
}

/* s_raise - a timer that raises the signal in probe->signo once */
static int s_raise(evloop_t *loop, void *arg)
{
    s_probe_t *p = arg;
    (void)loop;
    if (p->count++ == 0) {
        p->first_at = clock_mono_ms();
        raise(p->signo);
    }
    return 0;
}

static void test_sigterm_stops_the_loop_with_zero(void)
{
    int tripped;
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    s_probe_t r = {.signo = SIGTERM};
    CHECK(evloop_add_timer(loop, 20, s_raise, &r) >= 0);
    CHECK_INT(evloop_run(loop), 0);
    CHECK(!tripped);
    CHECK_INT(r.count, 1);
    evloop_destroy(&loop);
}

static void test_sigint_stops_the_loop_with_zero(void)
{
    int tripped;
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    s_probe_t r = {.signo = SIGINT};
    CHECK(evloop_add_timer(loop, 20, s_raise, &r) >= 0);
    CHECK_INT(evloop_run(loop), 0);
    CHECK(!tripped);
    evloop_destroy(&loop);
}

static void test_signal_raised_before_run_is_not_lost(void)
{
    int tripped;
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    raise(SIGTERM);
    CHECK_INT(evloop_run(loop), 0);
    CHECK(!tripped);
    evloop_destroy(&loop);
}

/* s_on_signal - a signal handler that records and can stop or fail */
static int s_on_signal(evloop_t *loop, int signo, void *arg)
{
    s_probe_t *p = arg;
    p->count++;
    p->signo = signo;
    if (p->stop_after && p->count >= p->stop_after)
        evloop_stop(loop);
    return p->fail ? -1 : 0;
}

static void test_sighup_handler_is_called(void)
{
    int tripped;
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    s_probe_t hup = {.stop_after = 1}, r = {.signo = SIGHUP};
    CHECK_INT(evloop_on_signal(loop, SIGHUP, s_on_signal, &hup), 0);
    CHECK(evloop_add_timer(loop, 20, s_raise, &r) >= 0);
    CHECK_INT(evloop_run(loop), 0);
    CHECK(!tripped);
    CHECK_INT(hup.count, 1);
    CHECK_INT(hup.signo, SIGHUP);
    evloop_destroy(&loop);
}

static void test_sigterm_handler_replaces_the_default_stop(void)
{
    int tripped;
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    s_probe_t term = {0}, r = {.signo = SIGTERM}, after = {.stop_after = 1};
    CHECK_INT(evloop_on_signal(loop, SIGTERM, s_on_signal, &term), 0);
    CHECK(evloop_add_timer(loop, 20, s_raise, &r) >= 0);
    CHECK(evloop_add_timer(loop, 200, s_count, &after) >= 0);
    CHECK_INT(evloop_run(loop), 0);
    CHECK(!tripped);
    CHECK_INT(term.count, 1);
    CHECK_INT(term.signo, SIGTERM);
    CHECK_INT(after.count, 1); /* the loop went on after SIGTERM */
    CHECK(r.first_at > 0 && after.first_at > r.first_at);
    evloop_destroy(&loop);
}

static void test_sigchld_handler_sees_child_exit(void)
{
    int tripped;
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    s_probe_t chld = {.stop_after = 1};
    CHECK_INT(evloop_on_signal(loop, SIGCHLD, s_on_signal, &chld), 0);
    pid_t pid = fork();
    if (pid == 0) {
        evloop_child_signals();
        _exit(7);
    }
    CHECK(pid > 0);
    CHECK_INT(evloop_run(loop), 0);
    CHECK(!tripped);
    CHECK_INT(chld.count, 1);
    CHECK_INT(chld.signo, SIGCHLD);
    int status = 0;
    CHECK_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
    evloop_destroy(&loop);
}

static void test_child_signals_are_restored_for_exec(void)
{
    evloop_t *loop = evloop_new();
    if (!loop)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        evloop_child_signals();
        sigset_t cur;
        sigprocmask(SIG_SETMASK, NULL, &cur);
        struct sigaction sa;
        sigaction(SIGPIPE, NULL, &sa);
        int ok = !sigismember(&cur, SIGTERM) && !sigismember(&cur, SIGINT) &&
                 !sigismember(&cur, SIGHUP) && !sigismember(&cur, SIGCHLD) &&
                 sa.sa_handler == SIG_DFL;
        _exit(ok ? 0 : 1);
    }
    int status = -1;
    CHECK_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* the parent keeps them blocked and SIGPIPE ignored */
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    CHECK(sigismember(&cur, SIGTERM));
    struct sigaction sa;
    sigaction(SIGPIPE, NULL, &sa);
    CHECK(sa.sa_handler == SIG_IGN);
    /* drain the SIGCHLD this child caused */
    s_probe_t chld = {.stop_after = 1};
    evloop_on_signal(loop, SIGCHLD, s_on_signal, &chld);
    s_probe_t stop = {.stop_after = 1};
    evloop_add_timer(loop, 100, s_count, &stop);
    evloop_run(loop);
    evloop_destroy(&loop);
}

static void test_signal_handler_table_has_a_limit(void)
{
    evloop_t *loop = evloop_new();
    if (!loop)
        return;
    s_probe_t p = {0};
    for (int i = 0; i < 4; i++)
        CHECK_INT(evloop_on_signal(loop, SIGHUP, s_on_signal, &p), 0);
    CHECK_INT(evloop_on_signal(loop, SIGHUP, s_on_signal, &p), -1);
    evloop_destroy(&loop);
}

static void test_failing_timer_ends_run_with_minus_one(void)
{
    int tripped;
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    s_probe_t bad = {.fail = 1};
    CHECK(evloop_add_timer(loop, 20, s_count, &bad) >= 0);
    CHECK_INT(evloop_run(loop), -1);
    CHECK(!tripped);
    CHECK_INT(bad.count, 1);
    evloop_destroy(&loop);
}

/* s_fail_on_read - a socket handler that drains then fails */
static int s_fail_on_read(evloop_t *loop, void *arg)
{
    s_probe_t *p = arg;
    char buf[8];
    (void)loop;
    zmq_recv(p->sock, buf, sizeof buf, ZMQ_DONTWAIT);
    p->count++;
    return -1;
}

static void test_failing_socket_handler_ends_run_with_minus_one(void)
{
    int tripped;
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    void *a, *b;
    s_pair("inproc://loop-fail", &a, &b);
    s_probe_t rx = {.sock = a};
    CHECK_INT(evloop_add_socket(loop, a, s_fail_on_read, &rx), 0);
    CHECK_INT(zmq_send(b, "x", 1, 0), 1);
    CHECK_INT(evloop_run(loop), -1);
    CHECK(!tripped);
    CHECK_INT(rx.count, 1);
    zmq_close(a);
    zmq_close(b);
    evloop_destroy(&loop);
}

static void test_failing_signal_handler_ends_run_with_minus_one(void)
{
    int tripped;
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    s_probe_t hup = {.fail = 1}, r = {.signo = SIGHUP};
    CHECK_INT(evloop_on_signal(loop, SIGHUP, s_on_signal, &hup), 0);
    CHECK(evloop_add_timer(loop, 20, s_raise, &r) >= 0);
    CHECK_INT(evloop_run(loop), -1);
    CHECK(!tripped);
    CHECK_INT(hup.count, 1);
    evloop_destroy(&loop);
}

/* s_stop_later - a timer that stops the loop */
static int s_stop_later(evloop_t *loop, void *arg)
{
    (void)arg;
    evloop_stop(loop);
    return 0;
}

/* s_on_writable - counts; turns write interest off; stops the loop the
 */
static int s_on_writable(evloop_t *loop, void *arg)
{
    s_probe_t *p = arg;
    p->count++;
    CHECK_INT(evloop_fd_interest(loop, p->fd, 1, 0), 0);
    return 0;
}

/* s_stop_when_written - a timer: stops the loop once the write handler ran
 * and one more timer period passed without it running again */
static int s_stop_when_written(evloop_t *loop, void *arg)
{
    s_probe_t *p = arg;
    if (p->count > 0 && p->stop_after++ > 0)
        evloop_stop(loop);
    return 0;
}

/* s_interest_once - a timer: the first time, notes p->count in p->value and
 * turns on the interest p->signo says (1 read, 2 write) */
static int s_interest_once(evloop_t *loop, void *arg)
{
    s_probe_t *p = arg;
    if (p->timer_id++)
        return 0;
    p->value = p->count;
    CHECK_INT(evloop_fd_interest(loop, p->fd, 1, p->signo == 2), 0);
    return 0;
}

static void test_write_interest_is_off_until_asked_and_off_again(void)
{
    int tripped, sv[2];
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    s_probe_t rd = {0}, wr = {.fd = sv[0], .signo = 2};
    CHECK_INT(evloop_add_fd_rw(loop, sv[0], s_count, s_on_writable, &wr), 0);
    /* writable all along, but nobody asks before 60 ms; then once */
    CHECK(evloop_add_timer(loop, 60, s_interest_once, &wr) >= 0);
    CHECK(evloop_add_timer(loop, 50, s_stop_when_written, &wr) >= 0);
    CHECK_INT(evloop_run(loop), 0);
    CHECK_INT(wr.value, 0);
    CHECK_INT(wr.count, 1);
    CHECK_INT(rd.count, 0);
    CHECK(!tripped);
    CHECK_INT(evloop_fd_interest(loop, 12345, 1, 1), -1);
    close(sv[0]);
    close(sv[1]);
    evloop_destroy(&loop);
}

/* s_read_byte - a read handler: one byte; stops at p->stop_after bytes */
static int s_read_byte(evloop_t *loop, void *arg)
{
    s_probe_t *p = arg;
    char c;
    if (read(p->fd, &c, 1) == 1)
        p->count++;
    if (p->stop_after && p->count >= p->stop_after)
        evloop_stop(loop);
    return 0;
}

static void test_read_interest_off_leaves_data_unread(void)
{
    int tripped, sv[2];
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    s_probe_t rd = {.fd = sv[0], .signo = 1, .stop_after = 2};
    CHECK_INT(evloop_add_fd_rw(loop, sv[0], s_read_byte, NULL, &rd), 0);
    CHECK_INT(evloop_fd_interest(loop, sv[0], 0, 0), 0);
    CHECK_INT(write(sv[1], "ab", 2), 2);
    CHECK(evloop_add_timer(loop, 60, s_interest_once, &rd) >= 0);
    CHECK_INT(evloop_run(loop), 0);
    CHECK_INT(rd.value, 0);
    CHECK_INT(rd.count, 2);
    CHECK(!tripped);
    close(sv[0]);
    close(sv[1]);
    evloop_destroy(&loop);
}

/* s_read_and_remove - reads one byte and stops watching its fd */
static int s_read_and_remove(evloop_t *loop, void *arg)
{
    s_probe_t *p = arg;
    char c;
    if (read(p->fd, &c, 1) == 1)
        p->count++;
    CHECK_INT(evloop_remove_fd(loop, p->fd), 0);
    CHECK_INT(evloop_remove_fd(loop, p->fd), -1);
    return 0;
}

static void test_fd_removed_in_its_handler_is_not_called_again(void)
{
    int tripped, sv[2], pv[2];
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, pv), 0);
    s_probe_t a = {.fd = sv[0]}, b = {.fd = pv[0], .stop_after = 3};
    CHECK_INT(evloop_add_fd_rw(loop, sv[0], s_read_and_remove, NULL, &a), 0);
    CHECK_INT(evloop_add_fd_rw(loop, pv[0], s_read_byte, NULL, &b), 0);
    CHECK_INT(write(sv[1], "abc", 3), 3);
    CHECK_INT(write(pv[1], "xyz", 3), 3);
    CHECK_INT(evloop_run(loop), 0);
    CHECK_INT(a.count, 1);
    CHECK_INT(b.count, 3); /* the item after the removed one still served */
    CHECK(!tripped);
    close(sv[0]);
    close(sv[1]);
    close(pv[0]);
    close(pv[1]);
    evloop_destroy(&loop);
}

/* s_waker - another thread: wakes the loop after a pause */
static void *s_waker(void *arg)
{
    usleep(50 * 1000);
    evloop_wake(arg);
    return NULL;
}

static void test_wake_from_another_thread_runs_the_wake_handler(void)
{
    int tripped;
    evloop_t *loop = s_loop(&tripped);
    if (!loop)
        return;
    s_probe_t w = {.stop_after = 1};
    evloop_wake(loop); /* no handler, no eventfd yet: nothing happens */
    CHECK_INT(evloop_on_wake(loop, s_count, &w), 0);
    pthread_t t;
    CHECK_INT(pthread_create(&t, NULL, s_waker, loop), 0);
    CHECK_INT(evloop_run(loop), 0);
    pthread_join(t, NULL);
    CHECK_INT(w.count, 1);
    CHECK(!tripped);
    evloop_destroy(&loop);
    /* three wakes before the loop looks: folded into one call */
    loop = s_loop(&tripped);
    if (!loop)
        return;
    s_probe_t w3 = {0};
    CHECK_INT(evloop_on_wake(loop, s_count, &w3), 0);
    evloop_wake(loop);
    evloop_wake(loop);
    evloop_wake(loop);
    CHECK(evloop_add_timer(loop, 100, s_stop_later, NULL) >= 0);
    CHECK_INT(evloop_run(loop), 0);
    CHECK_INT(w3.count, 1);
    CHECK(!tripped);
    evloop_destroy(&loop);
}

int main(void)
{
    log_init("test_loop");
    /* the loop first, so ZeroMQ's threads start with the signals blocked */
    evloop_t *first = evloop_new();
    s_ctx = zmq_ctx_new();
    UNIT_RUN(test_repeating_timer_fires_until_stop);
    UNIT_RUN(test_timer_ids_count_up);
    UNIT_RUN(test_timer_at_zero_fires_promptly);
    UNIT_RUN(test_timer_at_from_a_handler_and_later_delay);
    UNIT_RUN(test_socket_handler_runs_when_message_arrives);
    UNIT_RUN(test_fd_handler_runs_when_readable);
    UNIT_RUN(test_poll_item_table_has_a_limit);
    UNIT_RUN(test_sigterm_stops_the_loop_with_zero);
    UNIT_RUN(test_sigint_stops_the_loop_with_zero);
    UNIT_RUN(test_signal_raised_before_run_is_not_lost);
    UNIT_RUN(test_sighup_handler_is_called);
    UNIT_RUN(test_sigterm_handler_replaces_the_default_stop);
    UNIT_RUN(test_sigchld_handler_sees_child_exit);
    UNIT_RUN(test_child_signals_are_restored_for_exec);
    UNIT_RUN(test_signal_handler_table_has_a_limit);
    UNIT_RUN(test_failing_timer_ends_run_with_minus_one);
    UNIT_RUN(test_failing_socket_handler_ends_run_with_minus_one);
    UNIT_RUN(test_failing_signal_handler_ends_run_with_minus_one);
    UNIT_RUN(test_write_interest_is_off_until_asked_and_off_again);
    UNIT_RUN(test_read_interest_off_leaves_data_unread);
    UNIT_RUN(test_fd_removed_in_its_handler_is_not_called_again);
    UNIT_RUN(test_wake_from_another_thread_runs_the_wake_handler);
    evloop_destroy(&first);
    zmq_ctx_term(s_ctx);
    return UNIT_END();
}
