/*
 * test_smtp.c - mailer_smtp.c against real SMTP servers on 127.0.0.1.
 *
 * The servers: Postfix's smtp-sink (fast; answers 4xx/5xx or hangs up at a
 * chosen command), aiosmtpd from Debian (STARTTLS, AUTH, per-recipient
 * answers) and a small hand-written server for CHUNKING/BDAT, a connection
 * dropped mid-DATA and a server that never greets - the last two through
 * tests/unit/smtp_servers.py.  Each test starts its server on a free port and
 * stops it.  A missing tool (smtp-sink, /usr/bin/python3 with aiosmtpd,
 * openssl) fails the tests that need it, with a message saying which
 * package to install; nothing is skipped.
 *
 * Run from the repository root (make test-unit does), or set HARK_ROOT.
 */
#include "mailer_smtp.h"
#include "unit.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_PYTHON "/usr/bin/python3"
#define S_OPENSSL "/usr/bin/openssl"

static char s_tmp[64];          /* this run's scratch directory */
static char s_cert[128], s_key[128];
static int s_have_cert;
static int s_nserver;

/* A server this test started: its pid, port and message directory. */
typedef struct {
    pid_t pid;
    int stdin_fd;               /* the server exits when this closes */
    int port;
    char dir[128];
} s_server_t;

/* --- helpers ------------------------------------------------------------- */

/* s_ms - monotonic milliseconds */
static long long s_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* s_fail - a failed precondition: say why and count it against the test */
__attribute__((format(printf, 1, 2)))
static void s_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    unit_failures_in_test++;
}

/* s_root - the repository root (HARK_ROOT or the current directory) */
static const char *s_root(void)
{
    const char *r = getenv("HARK_ROOT");
    return r && *r ? r : ".";
}

/* s_read_file - the whole file (caller frees) or NULL */
static char *s_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *d = malloc(cap + 1);
    size_t got;
    while (d && (got = fread(d + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nd = realloc(d, cap * 2 + 1);
            if (!nd) {
                free(d);
                d = NULL;
                break;
            }
            d = nd;
            cap *= 2;
        }
    }
    fclose(f);
    if (d) {
        d[n] = '\0';
        if (len)
            *len = n;
    }
    return d;
}

/* s_connections - how many connections the server has accepted */
static int s_connections(const s_server_t *sv)
{
    char path[192];
    snprintf(path, sizeof path, "%s/connections", sv->dir);
    char *d = s_read_file(path, NULL);
    int n = d ? atoi(d) : 0;
    free(d);
    return n;
}

/* s_stored - the i-th (1-based) message the server stored, or NULL; env
 * gets "from\nrcpt\nvia\n" when not NULL (caller frees both) */
static char *s_stored(const s_server_t *sv, int i, size_t *len, char **env)
{
    char path[192];
    snprintf(path, sizeof path, "%s/msg-%03d.env", sv->dir, i);
    if (env)
        *env = s_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/msg-%03d.eml", sv->dir, i);
    return s_read_file(path, len);
}

/* s_nstored - how many messages the server stored */
static int s_nstored(const s_server_t *sv)
{
    int n = 0;
    for (;;) {
        char path[192];
        struct stat st;
        snprintf(path, sizeof path, "%s/msg-%03d.eml", sv->dir, n + 1);
        if (stat(path, &st) != 0)
            return n;
        n++;
    }
}

/* s_child_reset - in a forked child: the signal mask and dispositions a
 * fresh program expects, whatever the test process has */
static void s_child_reset(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

/* s_spawn - run path with argv, its stdin and stdout on in and out; the
 * pid, or -1 (the test failed) */
static pid_t s_spawn(const char *path, const char *const *argv, int in, int out)
{
    pid_t pid = fork();
    if (pid < 0) {
        s_fail("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        s_child_reset();
        dup2(in, 0);
        dup2(out, 1);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* s_run_quiet - run argv, output discarded; its exit status or -1 */
static int s_run_quiet(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        s_child_reset();
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 1);
        dup2(nul, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* s_rmtree - remove dir and the files (one level of subdirectories) in it */
static void s_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            s_rmtree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* s_free_port - a port on 127.0.0.1 nobody listens on right now */
static int s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* s_can_connect - 1 if something accepts on 127.0.0.1:port */
static int s_can_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* s_server_dir - a fresh directory for the next server's messages */
static void s_server_dir(s_server_t *sv)
{
    snprintf(sv->dir, sizeof sv->dir, "%s/srv%02d", s_tmp, ++s_nserver);
    mkdir(sv->dir, 0700);
}

/* s_start_py - start smtp_servers.py MODE args… and wait for "ready PORT";
 * 0, or -1 (the test is failed with the reason) */
static int s_start_py(s_server_t *sv, const char *mode, ...)
{
    memset(sv, 0, sizeof *sv);
    sv->pid = -1;
    sv->stdin_fd = -1;
    s_server_dir(sv);
    char script[256];
    snprintf(script, sizeof script, "%s/tests/unit/smtp_servers.py", s_root());
    if (access(S_PYTHON, X_OK) != 0) {
        s_fail("%s is missing (Debian package python3)", S_PYTHON);
        return -1;
    }
    if (access(script, R_OK) != 0) {
        s_fail("%s not found: run from the repository root or set HARK_ROOT", script);
        return -1;
    }
    const char *argv[24];
    int argc = 0;
    argv[argc++] = S_PYTHON;
    argv[argc++] = script;
    argv[argc++] = mode;
    va_list ap;
    va_start(ap, mode);
    const char *a;
    while ((a = va_arg(ap, const char *)) && argc < 20)
        argv[argc++] = a;
    va_end(ap);
    argv[argc++] = "--dir";
    argv[argc++] = sv->dir;
    argv[argc] = NULL;

    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
        s_fail("pipe: %s", strerror(errno));
        return -1;
    }
    /* in[0] is never 0: main() keeps 0-2 open */
    pid_t pid = s_spawn(S_PYTHON, argv, in[0], out[1]);
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        return -1;
    }
    sv->pid = pid;
    sv->stdin_fd = in[1];

    char line[256];
    size_t n = 0;
    long long deadline = s_ms() + 15000;
    while (n < sizeof line - 1 && !memchr(line, '\n', n)) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        long long left = deadline - s_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = read(out[0], line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    line[n] = '\0';
    close(out[0]);
    if (sscanf(line, "ready %d", &sv->port) != 1) {
        s_fail("smtp_servers.py %s did not start: \"%s\" (aiosmtpd needs Debian's "
               "python3-aiosmtpd: make deps-test)", mode, line);
        return -1;
    }
    return 0;
}

/* s_start_sink - start smtp-sink with options… on a free port; 0 or -1 */
static int s_start_sink(s_server_t *sv, ...)
{
    static const char *const paths[] = {"/usr/sbin/smtp-sink", "/usr/bin/smtp-sink"};
    const char *sink = NULL;
    memset(sv, 0, sizeof *sv);
    sv->pid = -1;
    sv->stdin_fd = -1;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], X_OK) == 0)
            sink = paths[i];
    if (!sink) {
        s_fail("smtp-sink not found (Debian package postfix: make deps-test)");
        return -1;
    }
    sv->port = s_free_port();
    char listen_on[32];
    snprintf(listen_on, sizeof listen_on, "127.0.0.1:%d", sv->port);
    const char *argv[24];
    int argc = 0;
    argv[argc++] = sink;
    if (geteuid() == 0) {        /* smtp-sink refuses to run as root */
        argv[argc++] = "-u";
        argv[argc++] = "nobody";
    }
    va_list ap;
    va_start(ap, sv);
    const char *a;
    while ((a = va_arg(ap, const char *)) && argc < 20)
        argv[argc++] = a;
    va_end(ap);
    argv[argc++] = listen_on;
    argv[argc++] = "64";
    argv[argc] = NULL;
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t pid = s_spawn(sink, argv, nul, nul);
    close(nul);
    if (pid < 0)
        return -1;
    sv->pid = pid;
    for (long long deadline = s_ms() + 5000; s_ms() < deadline;) {
        if (s_can_connect(sv->port))
            return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            sv->pid = -1;
            s_fail("smtp-sink exited at start (status %d)", st);
            return -1;
        }
        usleep(20000);
    }
    s_fail("smtp-sink did not listen on %s", listen_on);
    return -1;
}

/* s_stop - stop a server started above (SIGKILL if SIGTERM is not enough) */
static void s_stop(s_server_t *sv)
{
    if (sv->stdin_fd >= 0)
        close(sv->stdin_fd);
    if (sv->pid > 0) {
        kill(sv->pid, SIGTERM);
        long long deadline = s_ms() + 3000;
        while (waitpid(sv->pid, NULL, WNOHANG) == 0) {
            if (s_ms() > deadline) {
                fprintf(stderr, "  server %d ignored SIGTERM: killed\n", (int)sv->pid);
                kill(sv->pid, SIGKILL);
                waitpid(sv->pid, NULL, 0);
                break;
            }
            usleep(10000);
        }
    }
    sv->pid = -1;
    sv->stdin_fd = -1;
}

/* s_conf - plain SMTP to 127.0.0.1:port, 5 s timeout */
static mailer_smtp_conf_t s_conf(int port)
{
    mailer_smtp_conf_t c = {.host = "127.0.0.1", .port = port, .tls = MSMTP_TLS_OFF,
                      .helo = "hark-test.example", .timeout_ms = 5000};
    return c;
}

/* s_message - a CRLF message of about size bytes whose body has lines a
 * dot-stuffing bug would change (caller frees) */
static char *s_message(const char *to, const char *tag, size_t size)
{
    size_t cap = size + 1024;
    char *d = malloc(cap);
    if (!d)
        abort();
    int n = snprintf(d, cap,
                     "From: Hark <noreply@hark.example>\r\n"
                     "To: <%s>\r\n"
                     "Subject: test %s\r\n"
                     "Date: Mon, 23 Nov 2026 10:35:12 +0000\r\n"
                     "Message-ID: <%s@hark.example>\r\n"
                     "MIME-Version: 1.0\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "\r\n"
                     "Hello %s.\r\n"
                     ".\r\n"
                     "..two dots\r\n"
                     ".leading dot\r\n"
                     "\r\n",
                     to, tag, tag, tag);
    size_t len = (size_t)n;
    for (int line = 0; len + 80 < size; line++)
        len += (size_t)snprintf(d + len, cap - len,
                                "%05d the quick brown fox jumps over the lazy dog "
                                "0123456789 abcdefghij\r\n", line);
    len += (size_t)snprintf(d + len, cap - len, "Bye.\r\n");
    d[len] = '\0';
    return d;
}

/* s_msg - a message to send; data from s_message */
static mailer_smtp_msg_t s_msg(const char *rcpt, char *data)
{
    mailer_smtp_msg_t m = {.envelope_from = "bounce@hark.example", .rcpt = rcpt,
                     .data = data, .len = strlen(data)};
    return m;
}

/* s_one_line_ok - diag is one line with no CR/LF */
static int s_one_line_ok(const char *diag)
{
    return !strchr(diag, '\r') && !strchr(diag, '\n');
}

/* --- tests --------------------------------------------------------------- */

static void test_delivers_one_message_with_exact_bytes(void)
{
    s_server_t sv;
    if (s_start_py(&sv, "aiosmtpd", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    char *data = s_message("ann@example.com", "one", 3000);
    mailer_smtp_msg_t m = s_msg("ann@example.com", data);
    CHECK_INT(mailer_smtp_send(&c, &m, 1), 1);
    CHECK_INT(m.code, 250);
    CHECK_INT(m.permanent, 0);
    CHECK(strstr(m.diag, "OK queued") != NULL);
    size_t len = 0;
    char *env = NULL;
    char *got = s_stored(&sv, 1, &len, &env);
    CHECK(got && len == m.len && memcmp(got, data, len) == 0);
    CHECK_STR(env, "bounce@hark.example\nann@example.com\nDATA\n");
    free(got);
    free(env);

    /* no final CRLF: one is added; no helo: libESMTP's default (uname) */
    c.helo = NULL;
    static const char bare[] = "From: <a@hark.example>\r\nSubject: bare\r\n"
                               "Date: Mon, 23 Nov 2026 10:35:12 +0000\r\n"
                               "Message-ID: <bare@hark.example>\r\n\r\nno newline";
    mailer_smtp_msg_t b = {.envelope_from = NULL, .rcpt = "bob@example.com", .data = bare,
                     .len = sizeof bare - 1};
    CHECK_INT(mailer_smtp_send(&c, &b, 1), 1);
    got = s_stored(&sv, 2, &len, &env);
    CHECK(got && len == b.len + 2 && memcmp(got, bare, b.len) == 0 &&
          memcmp(got + b.len, "\r\n", 2) == 0);
    CHECK_STR(env, "<>\nbob@example.com\nDATA\n");   /* MAIL FROM:<> */
    free(got);
    free(env);
    free(data);
    s_stop(&sv);
}

static void test_one_connection_many_messages_each_with_its_outcome(void)
{
    s_server_t sv;
    if (s_start_py(&sv, "aiosmtpd", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    static const char *const rcpts[] = {
        "a@example.com", "rcpt451@example.com", "rcpt550@example.com",
        "data451@example.com", "data554@example.com", "b@example.com"};
    enum { N = sizeof rcpts / sizeof rcpts[0] };
    mailer_smtp_msg_t m[N];
    char *data[N];
    for (int i = 0; i < N; i++) {
        data[i] = s_message(rcpts[i], "mixed", 1500);
        m[i] = s_msg(rcpts[i], data[i]);
    }
    CHECK_INT(mailer_smtp_send(&c, m, N), 2);
    CHECK_INT(s_connections(&sv), 1);
    CHECK_INT(s_nstored(&sv), 2);
    CHECK_INT(m[0].code, 250);
    CHECK_INT(m[1].code, 451);
    CHECK_INT(m[1].permanent, 0);
    CHECK_STR(m[1].diag, "RCPT TO refused: 451 4.2.1 Mailbox busy, try later");
    CHECK_INT(m[2].code, 550);
    CHECK_INT(m[2].permanent, 1);
    CHECK_STR(m[2].diag, "RCPT TO refused: 550 5.1.1 No such user here");
    CHECK_INT(m[3].code, 451);
    CHECK_INT(m[3].permanent, 0);
    CHECK_STR(m[3].diag, "message refused: 451 4.3.0 Queue full, try later");
    CHECK_INT(m[4].code, 554);
    CHECK_INT(m[4].permanent, 1);
    CHECK_STR(m[4].diag, "message refused: 554 5.6.0 Content rejected");
    CHECK_INT(m[5].code, 250);
    for (int i = 0; i < N; i++) {
        CHECK(s_one_line_ok(m[i].diag));
        free(data[i]);
    }
    s_stop(&sv);
}

static void test_unusable_messages_are_permanent_and_never_offered(void)
{
    s_server_t sv;
    if (s_start_py(&sv, "aiosmtpd", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    char *data = s_message("ok@example.com", "ok", 500);
    mailer_smtp_msg_t m[4] = {
        s_msg("evil@example.com>\r\nRCPT TO:<victim@example.com", data),
        s_msg("ok@example.com", data),
        s_msg("", data),
        s_msg("x@example.com", data),
    };
    m[3].len = 0;
    CHECK_INT(mailer_smtp_send(&c, m, 4), 1);
    CHECK_INT(m[0].permanent, 1);
    CHECK_INT(m[0].code, 0);
    CHECK(strncmp(m[0].diag, "not sent:", 9) == 0);
    CHECK_INT(m[1].code, 250);
    CHECK_INT(m[2].permanent, 1);
    CHECK_INT(m[3].permanent, 1);
    CHECK_INT(s_nstored(&sv), 1);
    char *env = NULL;
    free(s_stored(&sv, 1, NULL, &env));
    CHECK_STR(env, "bounce@hark.example\nok@example.com\nDATA\n");
    free(env);
    free(data);
    s_stop(&sv);
}

/* The measured trap: 12 KB messages stall ~40 ms each without TCP_NODELAY.
 * Timing is not asserted; that the SMTP socket had TCP_NODELAY is. */
static void test_smtp_socket_gets_tcp_nodelay_20_by_12k_to_smtp_sink(void)
{
    s_server_t sv;
    if (s_start_sink(&sv, NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    enum { N = 20 };
    mailer_smtp_msg_t m[N];
    char *data = s_message("sink@example.com", "12k", 12 * 1024);
    for (int i = 0; i < N; i++)
        m[i] = s_msg("sink@example.com", data);
    unsigned long before = mailer_smtp_nodelay_count();
    CHECK_INT(mailer_smtp_send(&c, m, N), N);
    CHECK_INT(mailer_smtp_nodelay_count() - before, 1);   /* one connection, NODELAY */
    for (int i = 0; i < N; i++)
        CHECK_INT(m[i].code, 250);
    free(data);
    s_stop(&sv);
}

/* The BDAT trap: with CHUNKING, libESMTP has sent everything when the replies
 * to the first chunks arrive, so unless we ACK them at once a Nagle-bound
 * server (Postfix) holds its final 250 for a delayed ACK, ~40 ms a message.
 * Timing is not asserted; that every read of the SMTP socket was followed by
 * TCP_QUICKACK is (each message needs at least one read: its final reply). */
static void test_bdat_replies_are_acked_at_once_20_by_12k(void)
{
    s_server_t sv;
    if (s_start_py(&sv, "raw", "--chunking", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    enum { N = 20 };
    mailer_smtp_msg_t m[N];
    char *data = s_message("q@example.com", "12k", 12 * 1024);
    for (int i = 0; i < N; i++)
        m[i] = s_msg("q@example.com", data);
    unsigned long before = mailer_smtp_quickack_count();
    CHECK_INT(mailer_smtp_send(&c, m, N), N);
    CHECK(mailer_smtp_quickack_count() - before >= N);
    for (int i = 0; i < N; i++)
        CHECK_INT(m[i].code, 250);
    free(data);
    s_stop(&sv);
}

/* Reads outside an SMTP session (here a pipe) pass through untouched. */
static void test_other_reads_in_the_process_are_untouched(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "abc", 3) == 3);
    unsigned long before = mailer_smtp_quickack_count();
    char b[4] = {0};
    CHECK(read(p[0], b, sizeof b) == 3);
    CHECK_STR(b, "abc");
    CHECK_INT(mailer_smtp_quickack_count(), before);
    close(p[0]);
    close(p[1]);
}

static void test_other_connects_in_the_process_are_untouched(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CHECK(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(lfd, 4) == 0);
    CHECK(getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
    unsigned long before = mailer_smtp_nodelay_count();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    int on = -1;
    socklen_t ol = sizeof on;
    CHECK(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &ol) == 0);
    CHECK_INT(on, 0);
    CHECK_INT(mailer_smtp_nodelay_count(), before);
    close(fd);
    close(lfd);
}

static void test_smtp_sink_soft_reject_of_rcpt_is_temporary(void)
{
    s_server_t sv;
    if (s_start_sink(&sv, "-r", "RCPT", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    char *data = s_message("x@example.com", "soft", 800);
    mailer_smtp_msg_t m[2] = {s_msg("x@example.com", data), s_msg("y@example.com", data)};
    CHECK_INT(mailer_smtp_send(&c, m, 2), 0);
    for (int i = 0; i < 2; i++) {
        CHECK_INT(m[i].code, 450);
        CHECK_INT(m[i].permanent, 0);
        CHECK(strstr(m[i].diag, "RCPT TO refused: 450 4.3.0") == m[i].diag);
    }
    free(data);
    s_stop(&sv);
}

static void test_smtp_sink_hard_reject_of_rcpt_is_permanent(void)
{
    s_server_t sv;
    if (s_start_sink(&sv, "-f", "RCPT", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    char *data = s_message("x@example.com", "hard", 800);
    mailer_smtp_msg_t m = s_msg("x@example.com", data);
    CHECK_INT(mailer_smtp_send(&c, &m, 1), 0);
    CHECK(m.code >= 500 && m.code < 600);
    CHECK_INT(m.permanent, 1);
    CHECK(strstr(m.diag, "RCPT TO refused: 5") == m.diag);
    free(data);
    s_stop(&sv);
}

static void test_smtp_sink_soft_reject_after_data_is_temporary(void)
{
    s_server_t sv;
    if (s_start_sink(&sv, "-r", ".", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    char *data = s_message("x@example.com", "dot", 5000);
    mailer_smtp_msg_t m = s_msg("x@example.com", data);
    CHECK_INT(mailer_smtp_send(&c, &m, 1), 0);
    CHECK_INT(m.code, 450);
    CHECK_INT(m.permanent, 0);
    CHECK(strstr(m.diag, "message refused: 450") == m.diag);
    free(data);
    s_stop(&sv);
}

static void test_smtp_sink_hard_reject_of_data_is_permanent(void)
{
    s_server_t sv;
    if (s_start_sink(&sv, "-f", "DATA", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    char *data = s_message("x@example.com", "data", 5000);
    mailer_smtp_msg_t m[2] = {s_msg("x@example.com", data), s_msg("y@example.com", data)};
    CHECK_INT(mailer_smtp_send(&c, m, 2), 0);
    for (int i = 0; i < 2; i++) {
        CHECK(m[i].code >= 500 && m[i].code < 600);
        CHECK_INT(m[i].permanent, 1);
    }
    free(data);
    s_stop(&sv);
}

static void test_smtp_sink_hangs_up_after_dot_is_temporary(void)
{
    s_server_t sv;
    if (s_start_sink(&sv, "-q", ".", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    char *data = s_message("x@example.com", "hangup", 5000);
    mailer_smtp_msg_t m[2] = {s_msg("x@example.com", data), s_msg("y@example.com", data)};
    CHECK_INT(mailer_smtp_send(&c, m, 2), 0);
    CHECK_INT(m[0].code, 0);
    CHECK_INT(m[0].permanent, 0);
    CHECK(strstr(m[0].diag, "no final reply: connection closed by server") == m[0].diag);
    CHECK_INT(m[1].code, 0);
    CHECK_INT(m[1].permanent, 0);
    CHECK(strstr(m[1].diag, "not sent:") == m[1].diag);
    free(data);
    s_stop(&sv);
}

static void test_smtp_sink_421_at_data_is_temporary(void)
{
    s_server_t sv;
    if (s_start_sink(&sv, "-Q", "DATA", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    char *data = s_message("x@example.com", "421", 800);
    mailer_smtp_msg_t m = s_msg("x@example.com", data);
    CHECK_INT(mailer_smtp_send(&c, &m, 1), 0);
    CHECK_INT(m.code, 421);
    CHECK_INT(m.permanent, 0);
    free(data);
    s_stop(&sv);
}

static void test_connection_dropped_mid_data_is_temporary_and_no_sigpipe(void)
{
    s_server_t sv;
    if (s_start_py(&sv, "raw", "--drop-in-data", "4000", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    char *data = s_message("x@example.com", "drop", 60 * 1024);
    mailer_smtp_msg_t m[2] = {s_msg("x@example.com", data), s_msg("y@example.com", data)};
    CHECK_INT(mailer_smtp_send(&c, m, 2), 0);   /* we are still alive: no SIGPIPE */
    CHECK_INT(m[0].code, 0);
    CHECK_INT(m[0].permanent, 0);
    CHECK(strstr(m[0].diag, "no final reply:") == m[0].diag);
    CHECK_INT(m[1].code, 0);
    CHECK_INT(m[1].permanent, 0);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    CHECK(!sigismember(&pending, SIGPIPE));
    CHECK_INT(s_nstored(&sv), 0);
    free(data);
    s_stop(&sv);
}

static void test_chunking_server_gets_bdat_with_exact_bytes(void)
{
    s_server_t sv;
    if (s_start_py(&sv, "raw", "--chunking", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    static const char *const rcpts[] = {"a@example.com", "rcpt550@example.com",
                                        "b@example.com", "data451@example.com"};
    static const size_t sizes[] = {12 * 1024, 500, 300, 2000};
    mailer_smtp_msg_t m[4];
    char *data[4];
    for (int i = 0; i < 4; i++) {
        data[i] = s_message(rcpts[i], "bdat", sizes[i]);
        m[i] = s_msg(rcpts[i], data[i]);
    }
    CHECK_INT(mailer_smtp_send(&c, m, 4), 2);
    CHECK_INT(m[0].code, 250);
    CHECK_INT(m[1].code, 550);
    CHECK_INT(m[1].permanent, 1);
    CHECK_INT(m[2].code, 250);
    CHECK_INT(m[3].code, 451);
    CHECK_INT(m[3].permanent, 0);
    CHECK_INT(s_connections(&sv), 1);
    CHECK_INT(s_nstored(&sv), 2);
    for (int i = 0; i < 2; i++) {
        size_t len = 0;
        char *env = NULL;
        char *got = s_stored(&sv, i + 1, &len, &env);
        const mailer_smtp_msg_t *sent = &m[i == 0 ? 0 : 2];
        CHECK(got && len == sent->len && memcmp(got, sent->data, len) == 0);
        CHECK(env && strstr(env, "\nBDAT\n") != NULL);
        free(got);
        free(env);
    }
    for (int i = 0; i < 4; i++)
        free(data[i]);
    s_stop(&sv);
}

static void test_nothing_listening_fails_fast_with_reason(void)
{
    int port = s_free_port();
    mailer_smtp_conf_t c = s_conf(port);
    char *data = s_message("x@example.com", "refused", 500);
    mailer_smtp_msg_t m[2] = {s_msg("x@example.com", data), s_msg("y@example.com", data)};
    long long t0 = s_ms();
    CHECK_INT(mailer_smtp_send(&c, m, 2), -1);
    CHECK(s_ms() - t0 < 2000);
    char want[128];
    snprintf(want, sizeof want, "connect to 127.0.0.1:%d failed: Connection refused", port);
    for (int i = 0; i < 2; i++) {
        CHECK_INT(m[i].code, 0);
        CHECK_INT(m[i].permanent, 0);
        CHECK_STR(m[i].diag, want);
    }
    free(data);
}

/* A listener whose accept queue is full drops SYNs: connect() would hang
 * for minutes without our timeout. */
static void test_connect_times_out(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CHECK(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(lfd, 0) == 0);
    CHECK(getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
    int fill[4] = {-1, -1, -1, -1}, hangs = 0;
    for (int i = 0; i < 4; i++) {   /* fill the queue until a connect hangs */
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&a, sizeof a);
        struct pollfd p = {.fd = fill[i], .events = POLLOUT};
        if (poll(&p, 1, 200) == 0) {
            hangs = 1;
            break;
        }
    }
    CHECK(hangs);
    mailer_smtp_conf_t c = s_conf(ntohs(a.sin_port));
    c.timeout_ms = 300;
    char *data = s_message("x@example.com", "ct", 500);
    mailer_smtp_msg_t m = s_msg("x@example.com", data);
    long long t0 = s_ms();
    CHECK_INT(mailer_smtp_send(&c, &m, 1), -1);
    long long took = s_ms() - t0;
    CHECK(took >= 250 && took < 3000);
    CHECK(strstr(m.diag, "Connection timed out") != NULL);
    CHECK_INT(m.code, 0);
    for (int i = 0; i < 4; i++)
        if (fill[i] >= 0)
            close(fill[i]);
    close(lfd);
    free(data);
}

static void test_silent_server_times_out_at_greeting(void)
{
    s_server_t sv;
    if (s_start_py(&sv, "raw", "--silent", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    c.timeout_ms = 1000;
    char *data = s_message("x@example.com", "silent", 500);
    mailer_smtp_msg_t m = s_msg("x@example.com", data);
    long long t0 = s_ms();
    CHECK_INT(mailer_smtp_send(&c, &m, 1), -1);
    long long took = s_ms() - t0;
    CHECK(took >= 900 && took < 5000);
    CHECK_STR(m.diag, "timed out after 1000 ms (after greeting)");
    free(data);
    s_stop(&sv);
}

static void test_starttls_required_but_not_offered_sends_nothing(void)
{
    s_server_t sv;
    if (s_start_py(&sv, "aiosmtpd", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    c.tls = MSMTP_TLS_REQUIRED;
    char *data = s_message("x@example.com", "notls", 500);
    mailer_smtp_msg_t m = s_msg("x@example.com", data);
    CHECK_INT(mailer_smtp_send(&c, &m, 1), -1);
    CHECK_INT(m.code, 0);
    CHECK_INT(m.permanent, 0);
    CHECK_STR(m.diag, "server does not offer STARTTLS (tls is required)");
    CHECK_INT(s_nstored(&sv), 0);
    free(data);
    s_stop(&sv);
}

static void test_starttls_optional_without_offer_goes_plain(void)
{
    s_server_t sv;
    if (s_start_py(&sv, "aiosmtpd", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    c.tls = MSMTP_TLS_OPTIONAL;
    char *data = s_message("x@example.com", "plain", 500);
    mailer_smtp_msg_t m = s_msg("x@example.com", data);
    CHECK_INT(mailer_smtp_send(&c, &m, 1), 1);
    CHECK_INT(m.code, 250);
    free(data);
    s_stop(&sv);
}

/* libESMTP's bug (a second STARTTLS session uses a freed SSL_CTX) and TLS 1.3
 * session tickets (EHLO after STARTTLS stalls): five sessions in a row, each
 * STARTTLS + AUTH + two messages, against a server that refuses mail
 * without both. */
static void test_five_starttls_auth_sessions_in_a_row(void)
{
    if (!s_have_cert) {
        s_fail("no test certificate (openssl)");
        return;
    }
    s_server_t sv;
    if (s_start_py(&sv, "aiosmtpd", "--tls", s_cert, s_key, "--require-tls",
                   "--auth", "hark:s3cret", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    c.tls = MSMTP_TLS_REQUIRED;
    c.tls_no_verify = 1;
    c.user = "hark";
    c.password = "s3cret";
    char *data = s_message("x@example.com", "tls", 6000);
    for (int round = 0; round < 5; round++) {
        mailer_smtp_msg_t m[2] = {s_msg("x@example.com", data), s_msg("y@example.com", data)};
        CHECK_INT(mailer_smtp_send(&c, m, 2), 2);
        CHECK_INT(m[0].code, 250);
        CHECK_INT(m[1].code, 250);
        if (m[0].code != 250)
            fprintf(stderr, "  round %d: %s\n", round, m[0].diag);
    }
    CHECK_INT(s_connections(&sv), 5);
    CHECK_INT(s_nstored(&sv), 10);
    size_t len = 0;
    char *got = s_stored(&sv, 10, &len, NULL);
    CHECK(got && len == strlen(data) && memcmp(got, data, len) == 0);
    free(got);
    free(data);
    s_stop(&sv);
}

static void test_auth_rejected_sends_nothing_even_if_server_would_take_it(void)
{
    if (!s_have_cert) {
        s_fail("no test certificate (openssl)");
        return;
    }
    s_server_t sv;
    if (s_start_py(&sv, "aiosmtpd", "--tls", s_cert, s_key, "--auth", "hark:s3cret",
                   "--auth-optional", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    c.tls = MSMTP_TLS_REQUIRED;
    c.tls_no_verify = 1;
    c.user = "hark";
    c.password = "wrong";
    char *data = s_message("x@example.com", "badauth", 500);
    mailer_smtp_msg_t m[2] = {s_msg("x@example.com", data), s_msg("y@example.com", data)};
    CHECK_INT(mailer_smtp_send(&c, m, 2), -1);
    for (int i = 0; i < 2; i++) {
        CHECK_INT(m[i].code, 0);
        CHECK_INT(m[i].permanent, 0);
        CHECK_STR(m[i].diag, "AUTH as hark failed: 535 5.7.8 Authentication credentials invalid");
    }
    CHECK_INT(s_nstored(&sv), 0);
    free(data);
    s_stop(&sv);
}

static void test_auth_not_offered_sends_nothing(void)
{
    s_server_t sv;
    if (s_start_py(&sv, "aiosmtpd", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    c.user = "hark";
    c.password = "s3cret";
    char *data = s_message("x@example.com", "noauth", 500);
    mailer_smtp_msg_t m = s_msg("x@example.com", data);
    CHECK_INT(mailer_smtp_send(&c, &m, 1), -1);
    CHECK_STR(m.diag, "server offers no AUTH we can use (PLAIN, LOGIN)");
    CHECK_INT(s_nstored(&sv), 0);
    free(data);
    s_stop(&sv);
}

static void test_tls_verified_with_ca_file_by_ip_and_by_name(void)
{
    if (!s_have_cert) {
        s_fail("no test certificate (openssl)");
        return;
    }
    s_server_t sv;
    if (s_start_py(&sv, "aiosmtpd", "--tls", s_cert, s_key, "--require-tls", NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    c.tls = MSMTP_TLS_REQUIRED;
    c.ca_file = s_cert;
    char *data = s_message("x@example.com", "verified", 500);
    mailer_smtp_msg_t m = s_msg("x@example.com", data);
    CHECK_INT(mailer_smtp_send(&c, &m, 1), 1);   /* IP SAN 127.0.0.1 */
    CHECK_INT(m.code, 250);
    if (m.code != 250)
        fprintf(stderr, "  by IP: %s\n", m.diag);
    c.host = "localhost";                  /* DNS SAN, sent as SNI */
    CHECK_INT(mailer_smtp_send(&c, &m, 1), 1);
    CHECK_INT(m.code, 250);
    if (m.code != 250)
        fprintf(stderr, "  by name: %s\n", m.diag);
    CHECK_INT(s_nstored(&sv), 2);
    char path[192];
    snprintf(path, sizeof path, "%s/sni", sv.dir);
    char *sni = s_read_file(path, NULL);
    CHECK_STR(sni, "localhost");           /* never sent for an IP address */
    free(sni);
    free(data);
    s_stop(&sv);
}

static void test_tls_untrusted_certificate_sends_nothing(void)
{
    if (!s_have_cert) {
        s_fail("no test certificate (openssl)");
        return;
    }
    s_server_t sv;
    if (s_start_py(&sv, "aiosmtpd", "--tls", s_cert, s_key, NULL) < 0)
        return;
    mailer_smtp_conf_t c = s_conf(sv.port);
    c.tls = MSMTP_TLS_OPTIONAL;            /* even optional TLS must verify */
    c.user = "hark";
    c.password = "s3cret";
    char *data = s_message("x@example.com", "untrusted", 500);
    mailer_smtp_msg_t m = s_msg("x@example.com", data);
    long long t0 = s_ms();
    CHECK_INT(mailer_smtp_send(&c, &m, 1), -1);
    CHECK(s_ms() - t0 < 3000);
    CHECK_STR(m.diag, "TLS certificate of 127.0.0.1 not accepted: self-signed certificate");
    CHECK_INT(s_nstored(&sv), 0);
    free(data);
    s_stop(&sv);
}

static void test_bad_configuration_and_empty_batch(void)
{
    mailer_smtp_conf_t c = s_conf(25);
    CHECK_INT(mailer_smtp_send(&c, NULL, 0), 0);
    char *data = s_message("x@example.com", "cfg", 300);
    mailer_smtp_msg_t m = s_msg("x@example.com", data);
    c.host = "::1";
    CHECK_INT(mailer_smtp_send(&c, &m, 1), -1);
    CHECK_STR(m.diag, "SMTP host must be a name or an IPv4 address");
    CHECK_INT(m.permanent, 0);
    c = s_conf(0);
    CHECK_INT(mailer_smtp_send(&c, &m, 1), -1);
    CHECK_STR(m.diag, "SMTP port out of range");
    CHECK_INT(mailer_smtp_send(NULL, &m, 1), -1);
    free(data);
}

/* --- main ---------------------------------------------------------------- */

/* s_setup - scratch directory and a self-signed certificate for 127.0.0.1 and
 * localhost */
static void s_setup(void)
{
    /* CI runs us without standard input: keep 0-2 open so that no pipe made
     * for a server lands on them */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
            exit(1);
    snprintf(s_tmp, sizeof s_tmp, "/tmp/hark-test-smtp-XXXXXX");
    if (!mkdtemp(s_tmp)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        exit(1);
    }
    snprintf(s_cert, sizeof s_cert, "%s/cert.pem", s_tmp);
    snprintf(s_key, sizeof s_key, "%s/key.pem", s_tmp);
    char *const argv[] = {
        S_OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
        "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-days", "2", "-keyout", s_key, "-out", s_cert, NULL};
    s_have_cert = access(S_OPENSSL, X_OK) == 0 && s_run_quiet(argv) == 0;
    if (!s_have_cert)
        fprintf(stderr, "cannot make a test certificate with %s (Debian package "
                "openssl): the TLS tests will fail\n", S_OPENSSL);
}

int main(void)
{
    s_setup();
    UNIT_RUN(test_delivers_one_message_with_exact_bytes);
    UNIT_RUN(test_one_connection_many_messages_each_with_its_outcome);
    UNIT_RUN(test_unusable_messages_are_permanent_and_never_offered);
    UNIT_RUN(test_smtp_socket_gets_tcp_nodelay_20_by_12k_to_smtp_sink);
    UNIT_RUN(test_other_connects_in_the_process_are_untouched);
    UNIT_RUN(test_smtp_sink_soft_reject_of_rcpt_is_temporary);
    UNIT_RUN(test_smtp_sink_hard_reject_of_rcpt_is_permanent);
    UNIT_RUN(test_smtp_sink_soft_reject_after_data_is_temporary);
    UNIT_RUN(test_smtp_sink_hard_reject_of_data_is_permanent);
    UNIT_RUN(test_smtp_sink_hangs_up_after_dot_is_temporary);
    UNIT_RUN(test_smtp_sink_421_at_data_is_temporary);
    UNIT_RUN(test_connection_dropped_mid_data_is_temporary_and_no_sigpipe);
    UNIT_RUN(test_chunking_server_gets_bdat_with_exact_bytes);
    UNIT_RUN(test_bdat_replies_are_acked_at_once_20_by_12k);
    UNIT_RUN(test_other_reads_in_the_process_are_untouched);
    UNIT_RUN(test_nothing_listening_fails_fast_with_reason);
    UNIT_RUN(test_connect_times_out);
    UNIT_RUN(test_silent_server_times_out_at_greeting);
    UNIT_RUN(test_starttls_required_but_not_offered_sends_nothing);
    UNIT_RUN(test_starttls_optional_without_offer_goes_plain);
    UNIT_RUN(test_five_starttls_auth_sessions_in_a_row);
    UNIT_RUN(test_auth_rejected_sends_nothing_even_if_server_would_take_it);
    UNIT_RUN(test_auth_not_offered_sends_nothing);
    UNIT_RUN(test_tls_verified_with_ca_file_by_ip_and_by_name);
    UNIT_RUN(test_tls_untrusted_certificate_sends_nothing);
    UNIT_RUN(test_bad_configuration_and_empty_batch);
    s_rmtree(s_tmp);
    return UNIT_END();
}
