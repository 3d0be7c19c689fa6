/*
 * bare_httpd.c - the ceiling for the gateway benchmark (tests/bench/run.py):
 * libmicrohttpd with no Hark code behind it, driven by the same wrk command
 * as the gateway.
 *
 *   bare_httpd PORT [THREADS]
 *
 * Listens on 127.0.0.1:PORT (0 = any free port) in MHD's epoll mode with a
 * pool of THREADS threads (default: the CPUs this process may run on),
 * reads and discards every request body, and answers every request 202 with
 * a small JSON body and the same headers the gateway's 202 carries.  Prints
 * "READY <port>" once listening; stops on SIGTERM or SIGINT.
 *
 * The gap between this and the gateway on the same wrk run is what Hark
 * adds per request: routing, authentication, JSON parsing and validation,
 * the journal round trip and its commit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the gateway's 202 body for one event, byte for byte in length */
static const char s_body[] = "{\"offsets\":[1],\"duplicates\":[false],\"accepted\":1}\n";

static volatile sig_atomic_t s_stop;

static void s_on_signal(int signo)
{
    (void)signo;
    s_stop = 1;
}

/* s_access - MHD calls this first with the headers (con_cls NULL), then with
 * each piece of the body, then once more with no data: answer then */
static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size,
                                void **con_cls)
{
    static int started;
    struct MHD_Response *resp = cls;
    (void)url; (void)method; (void)version; (void)upload_data;
    if (*con_cls == NULL) {
        *con_cls = &started;
        return MHD_YES;
    }
    if (*upload_data_size) { /* discard the body */
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(conn, 202, resp);
}

static unsigned s_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: bare_httpd PORT [THREADS]\n");
        return 2;
    }
    unsigned port = (unsigned)atoi(argv[1]);
    unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : s_cpus();
    if (threads < 1)
        threads = 1;

    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof s_body - 1, (void *)s_body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");

    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = s_on_signal;
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, s_access, resp,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, 10000u,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bare_httpd: MHD_start_daemon failed on port %u\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("READY %u %u\n", info ? (unsigned)info->port : port, threads);
    fflush(stdout);

    while (!s_stop)
        sleep(1); /* a signal cuts the sleep short */
    MHD_stop_daemon(d);
    MHD_destroy_response(resp);
    return 0;
}
