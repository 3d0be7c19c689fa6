/*
 * mailer_smtp.c - one SMTP session over libESMTP, many messages, one outcome
 * per message.
 *
 * libESMTP drives the protocol (EHLO, STARTTLS, AUTH, PIPELINING, DATA with
 * dot-stuffing or BDAT when CHUNKING is offered).  What it leaves to us, or
 * gets wrong in 1.1.0, is handled here:
 *
 * - Outcomes.  smtp_start_session() returns 1 whenever it talked to a server,
 *   even if every recipient was refused.  Each message's outcome is read from
 *   its MAIL FROM, RCPT TO and end-of-data statuses (mailer_smtp_send).
 *
 * - Timeouts.  libESMTP's connect() has none and its reply timeouts default
 *   to the RFC 5321 minimums (5 to 10 minutes).  We set all five with
 *   Timeout_OVERRIDE_RFC2822_MINIMUM (libESMTP still keeps 1 s as a floor) and
 *   time connect() ourselves (below).
 *
 * - TCP_NODELAY.  libESMTP writes through a 2 KB buffer and never sets
 *   TCP_NODELAY.  A message over ~2 KB ends in a short segment that Nagle
 *   holds back until the server ACKs the previous one, and the server delays
 *   that ACK by ~40 ms.  Measured against smtp-sink on loopback, one
 *   session, -O2: 1 KB messages ~6,000/s either way, but 4 KB and 12 KB ones
 *   23/s without TCP_NODELAY and ~6,000/s and ~4,500/s with it.
 *   libESMTP has no hook to its socket, so this file defines connect(): the
 *   executable's symbol comes first in the dynamic linker's search order, so
 *   libESMTP's call to connect() (through its PLT) lands here.  While
 *   mailer_smtp_send() runs on this thread, a blocking AF_INET/AF_INET6 stream
 *   socket gets TCP_NODELAY and a non-blocking connect + poll() bounded by
 *   timeout_ms, then blocking mode back.  Every other connect() in the
 *   process (ZeroMQ's, other threads') goes straight to the next definition,
 *   found with dlsym(RTLD_NEXT) - libc's, or ASan's interceptor in sanitizer
 *   builds.  This works only while this file is linked into the executable
 *   itself (not into a shared library loaded later); mailer_smtp_nodelay_count()
 *   lets tests prove it is in effect.
 *
 * - Delayed ACKs with BDAT.  Against a server that offers CHUNKING (Postfix
 *   does), libESMTP pipelines RCPT and all its BDAT chunks, so it has nothing
 *   left to send when the replies to the first chunks come in; the kernel
 *   then delays the ACK for them (up to 40 ms), and a server that does not
 *   set TCP_NODELAY (Postfix's smtpd) holds its final "250 queued" under Nagle
 *   until that ACK arrives.  Measured against a private Postfix 3.7 on
 *   loopback: 86 messages/s over 4 connections, against 500/s for
 *   smtp-source, which uses DATA.  So after every read() of the SMTP socket
 *   we set TCP_QUICKACK, which sends the pending ACK at once (Linux leaves
 *   quick-ACK mode on its own, hence every read).  read() is interposed the
 *   same way as connect(); TLS reads come through it too, since OpenSSL's
 *   socket BIO calls read().  mailer_smtp_quickack_count() lets tests see it.
 *
 * - STARTTLS, libESMTP #30.  Without smtp_starttls_set_ctx() libESMTP caches
 *   one SSL_CTX in a static variable, but smtp_destroy_session() frees it:
 *   the next STARTTLS session in the process calls SSL_new() on freed memory
 *   (ASan: heap-use-after-free in SSL_new from the second session).  We give
 *   every session its own SSL_CTX: smtp_starttls_set_ctx() takes a reference
 *   and smtp_destroy_session() drops it.  It also carries our CA file and the
 *   host name check (X509_VERIFY_PARAM), which libESMTP's own check cannot do
 *   for IP addresses.
 *
 * - STARTTLS and TLS 1.3.  A TLS 1.3 server sends NewSessionTicket records
 *   right after the handshake.  libESMTP then queues EHLO, polls for read and
 *   write at once, and, finding the socket readable, waits for the reply to
 *   an EHLO it has not sent yet - until the timeout (against aiosmtpd on
 *   loopback, 2 to 5 of 5 STARTTLS sessions in a row failed this way; with
 *   TLS 1.2, which has no such records, none did).  Once the handshake
 *   is done (SMTP_EV_STARTTLS_OK) we send NOOP over TLS ourselves and read
 *   through its reply, so the tickets are consumed before libESMTP goes on.
 *   NOOP is valid in any state (RFC 5321 4.1.1.9).
 *
 * - AUTH.  When AUTH fails, or the server offers none we can use, libESMTP
 *   goes on to MAIL FROM without it.  A relay that takes unauthenticated mail
 *   would then get it while we report a failure (and the mail is sent twice
 *   on retry).  The protocol monitor watches the AUTH replies and, if MAIL
 *   FROM is about to go out unauthenticated (or without the TLS that was
 *   required), shuts the socket down first.
 *
 * - SIGPIPE.  libESMTP and OpenSSL write() to the socket; a server that
 *   closes mid-DATA would kill the process.  SIGPIPE is blocked on this
 *   thread for the session and a SIGPIPE it raised is discarded.
 *
 * Who frees what: everything libESMTP allocates is freed by
 * smtp_destroy_session() and auth_destroy_context() before mailer_smtp_send()
 * returns; the message callback keeps its state in our slot, so libESMTP
 * has no ctx to free.
 */
#include "mailer_smtp.h"

#include "clock.h"
#include "log.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

/* libesmtp.h needs size_t declared first.  It declares smtp_auth_set_context
 * only after auth-client.h, and smtp_starttls_set_ctx only after
 * <openssl/ssl.h>. */
#include <stddef.h>
#include <auth-client.h>
#include <libesmtp.h>

#define S_DEFAULT_TIMEOUT_MS 30000
#define S_REPLY_FLOOR_MS 1000   /* libESMTP's smallest reply timeout */

enum { S_AUTH_NONE, S_AUTH_BUSY, S_AUTH_OK, S_AUTH_FAILED };

typedef struct s_sess s_sess_t;

/* One message of the session: ours and libESMTP's view of it. */
typedef struct {
    mailer_smtp_msg_t *msg;        /* NULL: unusable, never offered */
    s_sess_t *sess;
    smtp_message_t m;        /* libESMTP's message; NULL until added */
    smtp_recipient_t r;
    int cb_state;            /* message callback: 0 data, 1 CRLF, 2 end */
    int finished;            /* libESMTP reported SMTP_EV_MESSAGESENT */
    int reported;            /* outcome computed and given to on_result */
} s_slot_t;

/* What we learn about one session while libESMTP runs it. */
struct s_sess {
    const mailer_smtp_conf_t *conf;
    int timeout_ms;          /* connect and our own waits */
    int fd;                  /* the SMTP socket (from connect()); -1 before */
    int connected;           /* connect() succeeded through us */
    int connect_errno;       /* last failed connect() */
    int tls_ok;              /* handshake done and certificate accepted */
    int auth_state;          /* S_AUTH_* */
    int auth_cont;           /* last reply was 334: next write answers it */
    int aborted;             /* we shut the socket down on purpose */
    const char *stage;       /* the last thing we sent, for diagnostics */
    int last_code;           /* the last final reply line */
    char last_reply[200];
    char reason[200];        /* why the session failed, if we know; first wins */
    char line[512];          /* reply line being assembled */
    size_t line_len;
    int64_t last_io_ms;      /* last time anything moved */
};

static _Thread_local s_sess_t *s_active;  /* session running on this thread */
static atomic_ulong s_nodelay;
static atomic_ulong s_quickack;
static atomic_int s_warned_no_interpose;

/* --- small helpers ------------------------------------------------------- */

/* s_one_line - copy src into dst as one line: controls become spaces, runs
 * of spaces collapse, both ends trimmed */
static void s_one_line(char *dst, size_t size, const char *src)
{
    size_t o = 0;
    int space = 1;
    for (; src && *src && o + 1 < size; src++) {
        unsigned char c = (unsigned char)*src;
        if (c < 0x20 || c == 0x7f || c == ' ') {
            if (!space)
                dst[o++] = ' ';
            space = 1;
        } else {
            dst[o++] = (char)c;
            space = 0;
        }
    }
    while (o > 0 && dst[o - 1] == ' ')
        o--;
    dst[o] = '\0';
}

/* s_reason - remember why the session failed (the first reason wins) */
__attribute__((format(printf, 2, 3)))
static void s_reason(s_sess_t *s, const char *fmt, ...)
{
    if (s->reason[0])
        return;
    char tmp[sizeof s->reason];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    s_one_line(s->reason, sizeof s->reason, tmp);
}

/* s_abort - end the session now: libESMTP sees the connection drop */
static void s_abort(s_sess_t *s)
{
    s->aborted = 1;
    if (s->fd >= 0)
        shutdown(s->fd, SHUT_RDWR);
}

/* s_status - "550 5.1.1 text" from a libESMTP status, one line */
static void s_status(char *dst, size_t size, const smtp_status_t *st)
{
    char text[200];
    s_one_line(text, sizeof text, st->text);
    if (st->enh_class)
        snprintf(dst, size, "%d %d.%d.%d %s", st->code, st->enh_class,
                 st->enh_subject, st->enh_detail, text);
    else
        snprintf(dst, size, "%d %s", st->code, text);
    size_t l = strlen(dst);
    while (l > 0 && dst[l - 1] == ' ')
        dst[--l] = '\0';
}

/* s_ssl_error - the last OpenSSL error of this thread, or "" */
static const char *s_ssl_error(char *buf, size_t size)
{
    unsigned long e = ERR_peek_last_error();
    buf[0] = '\0';
    if (e)
        ERR_error_string_n(e, buf, size);
    return buf;
}

/* --- connect(): TCP_NODELAY and a timeout for libESMTP's socket ---------- */

typedef int (*s_connect_fn)(int, __CONST_SOCKADDR_ARG, socklen_t);

/* s_next - the next definition of name after ours (libc's, or ASan's
 * interceptor), looked up once into *cache */
static void *s_next(_Atomic(void *) *cache, const char *name)
{
    void *p = atomic_load_explicit(cache, memory_order_acquire);
    if (!p) {
        p = dlsym(RTLD_NEXT, name);
        atomic_store_explicit(cache, p, memory_order_release);
    }
    return p;
}

/* s_real_connect - the connect() we stand in front of */
static s_connect_fn s_real_connect(void)
{
    static _Atomic(void *) cached;
    void *p = s_next(&cached, "connect");
    s_connect_fn fn;
    memcpy(&fn, &p, sizeof fn);   /* object to function pointer, as POSIX allows */
    return fn;
}

/* s_connect_timed - connect a blocking socket within timeout_ms */
static int s_connect_timed(s_connect_fn real, int fd, __CONST_SOCKADDR_ARG addr,
                           socklen_t len, int timeout_ms)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return real(fd, addr, len);
    if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return real(fd, addr, len);
    int r = real(fd, addr, len), err = r < 0 ? errno : 0;
    if (r < 0 && err == EINPROGRESS) {
        int64_t deadline = clock_mono_ms() + timeout_ms;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        for (;;) {
            int64_t left = deadline - clock_mono_ms();
            if (left <= 0) {
                err = ETIMEDOUT;
                break;
            }
            int n = poll(&p, 1, (int)left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                err = errno;
                break;
            }
            if (n == 0) {
                err = ETIMEDOUT;
                break;
            }
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                soerr = errno;
            err = soerr;
            break;
        }
        r = err ? -1 : 0;
    }
    fcntl(fd, F_SETFL, flags);   /* libESMTP expects the blocking socket it made */
    if (r < 0)
        errno = err;
    return r;
}

/* connect - libc's connect(); for mailer_smtp_send()'s SMTP socket also TCP_NODELAY
 * and a timeout (see the top of this file) */
__attribute__((visibility("default")))
int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
    s_connect_fn real = s_real_connect();
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    s_sess_t *s = s_active;
    const struct sockaddr *sa;
    _Static_assert(sizeof addr == sizeof sa, "sockaddr argument is one pointer");
    memcpy(&sa, &addr, sizeof sa);   /* plain pointer or glibc's transparent union */
    int type = 0;
    socklen_t tl = sizeof type;
    if (!s || !sa || len < sizeof(sa_family_t) ||
        (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM)
        return real(fd, addr, len);

    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = s_connect_timed(real, fd, addr, len, s->timeout_ms);
    if (r < 0) {
        s->connect_errno = errno;
        return r;
    }
    int on = 0;
    socklen_t ol = sizeof on;
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &ol) == 0 && on)
        atomic_fetch_add(&s_nodelay, 1);
    s->fd = fd;
    s->connected = 1;
    s->connect_errno = 0;
    s->last_io_ms = clock_mono_ms();
    return 0;
}

/* mailer_smtp_nodelay_count - SMTP connections that got TCP_NODELAY */
unsigned long mailer_smtp_nodelay_count(void)
{
    return atomic_load(&s_nodelay);
}

/* --- read(): ACK the SMTP server's replies at once ------------------------ */

typedef ssize_t (*s_read_fn)(int, void *, size_t);

/* s_real_read - the read() we stand in front of */
static s_read_fn s_real_read(void)
{
    static _Atomic(void *) cached;
    void *p = s_next(&cached, "read");
    s_read_fn fn;
    memcpy(&fn, &p, sizeof fn);   /* object to function pointer, as POSIX allows */
    return fn;
}

/* read - libc's read(); after data from mailer_smtp_send()'s SMTP socket, also
 * TCP_QUICKACK (see the top of this file).  Every other read() in the
 * process costs one thread-local load more. */
__attribute__((visibility("default")))
ssize_t read(int fd, void *buf, size_t n)
{
    s_read_fn real = s_real_read();
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    ssize_t r = real(fd, buf, n);
    s_sess_t *s = s_active;
    if (r > 0 && s && s->connected && fd == s->fd) {
        int saved = errno, one = 1;
        if (setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one) == 0)
            atomic_fetch_add_explicit(&s_quickack, 1, memory_order_relaxed);
        errno = saved;
    }
    return r;
}

/* mailer_smtp_quickack_count - reads of an SMTP socket followed by TCP_QUICKACK */
unsigned long mailer_smtp_quickack_count(void)
{
    return atomic_load(&s_quickack);
}

/* --- protocol monitor: AUTH outcome, gates, last reply ------------------- */

/* s_verb - the SMTP command at the start of buf, as a stage name, or NULL */
static const char *s_verb(const char *buf, size_t len)
{
    static const struct {
        const char *verb, *stage;
    } verbs[] = {
        {"EHLO", "EHLO"}, {"HELO", "HELO"}, {"STARTTLS", "STARTTLS"},
        {"AUTH", "AUTH"}, {"MAIL", "MAIL FROM"}, {"RCPT", "RCPT TO"},
        {"DATA", "DATA"}, {"BDAT", "BDAT"}, {"RSET", "RSET"},
        {"QUIT", "QUIT"}, {"NOOP", "NOOP"},
    };
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        size_t vl = strlen(verbs[i].verb);
        if (len > vl && strncasecmp(buf, verbs[i].verb, vl) == 0 &&
            (buf[vl] == ' ' || buf[vl] == '\r' || buf[vl] == ':'))
            return verbs[i].stage;
    }
    return NULL;
}

/* s_gate - MAIL FROM is about to go out: stop it if AUTH or TLS is missing */
static void s_gate(s_sess_t *s)
{
    const mailer_smtp_conf_t *c = s->conf;
    if (c->tls == MSMTP_TLS_REQUIRED && !s->tls_ok) {
        s_reason(s, "STARTTLS required but not in effect");
        s_abort(s);
    } else if (c->user && s->auth_state != S_AUTH_OK) {
        if (s->auth_state == S_AUTH_FAILED)
            s_reason(s, "AUTH as %s failed: %s", c->user, s->last_reply);
        else
            s_reason(s, "server offers no AUTH we can use (PLAIN, LOGIN)%s",
                     s->tls_ok || c->tls == MSMTP_TLS_OFF ? "" : " before STARTTLS");
        s_abort(s);
    }
}

/* s_on_write - a buffer libESMTP is about to send */
static void s_on_write(s_sess_t *s, const char *buf, size_t len)
{
    if (s->auth_cont) {          /* the answer to a 334 challenge */
        s->auth_cont = 0;
        return;
    }
    const char *stage = s_verb(buf, len);
    if (!stage)
        return;
    if (strcmp(stage, "AUTH") == 0)
        s->auth_state = S_AUTH_BUSY;
    if (strcmp(stage, "MAIL FROM") == 0 && !s->aborted)
        s_gate(s);
    s->stage = stage;
}

/* s_on_reply_line - one complete line from the server */
static void s_on_reply_line(s_sess_t *s, const char *line, size_t len)
{
    if (len < 3 || !isdigit((unsigned char)line[0]) ||
        !isdigit((unsigned char)line[1]) || !isdigit((unsigned char)line[2]))
        return;
    if (len > 3 && line[3] == '-')
        return;                  /* continuation; the last line decides */
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    char tmp[sizeof s->last_reply];
    snprintf(tmp, sizeof tmp, "%.*s", (int)len, line);
    s_one_line(s->last_reply, sizeof s->last_reply, tmp);
    s->last_code = code;
    if (s->auth_state == S_AUTH_BUSY && s->stage && strcmp(s->stage, "AUTH") == 0) {
        if (code == 334)
            s->auth_cont = 1;
        else if (code >= 200 && code < 300)
            s->auth_state = S_AUTH_OK;
        else
            s->auth_state = S_AUTH_FAILED;
    }
}

/* s_on_read - bytes libESMTP read from the server */
static void s_on_read(s_sess_t *s, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s->line_len < sizeof s->line - 1)
            s->line[s->line_len++] = buf[i];
        if (buf[i] == '\n') {
            s_on_reply_line(s, s->line, s->line_len);
            s->line_len = 0;
        }
    }
}

/* s_monitor - libESMTP's protocol monitor (not called for message data) */
static void s_monitor(const char *buf, int len, int writing, void *arg)
{
    s_sess_t *s = arg;
    s->last_io_ms = clock_mono_ms();
    if (len <= 0)
        return;
    if (writing == SMTP_CB_WRITING)
        s_on_write(s, buf, (size_t)len);
    else if (writing == SMTP_CB_READING)
        s_on_read(s, buf, (size_t)len);
}

/* --- STARTTLS ------------------------------------------------------------ */

/* s_ssl_wait - wait for what OpenSSL asked for after ret; 1 to retry */
static int s_ssl_wait(SSL *ssl, int ret, int fd, int64_t deadline)
{
    int e = SSL_get_error(ssl, ret);
    short events = e == SSL_ERROR_WANT_READ ? POLLIN
                   : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (!events)
        return 0;
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            return 0;
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        return n > 0;
    }
}

/* s_has_final_reply - buf holds a complete final reply line ("ddd ...\n") */
static int s_has_final_reply(const char *buf, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i - start >= 3 && isdigit((unsigned char)buf[start]) &&
            (i - start == 3 || buf[start + 3] == ' ' || buf[start + 3] == '\r'))
            return 1;
        start = i + 1;
    }
    return 0;
}

/* s_tls_sync - right after the handshake: NOOP and its reply, so that TLS 1.3
 * session tickets are read before libESMTP sends EHLO (top of this file) */
static void s_tls_sync(s_sess_t *s, SSL *ssl)
{
    static const char noop[] = "NOOP\r\n";
    int fd = SSL_get_fd(ssl);
    int64_t deadline = clock_mono_ms() +
        (s->timeout_ms > S_REPLY_FLOOR_MS ? s->timeout_ms : S_REPLY_FLOOR_MS);
    int r;
    while ((r = SSL_write(ssl, noop, (int)sizeof noop - 1)) <= 0)
        if (!s_ssl_wait(ssl, r, fd, deadline))
            goto fail;
    char buf[1024];
    size_t len = 0;
    for (;;) {
        r = SSL_read(ssl, buf + len, (int)(sizeof buf - len));
        if (r <= 0) {
            if (!s_ssl_wait(ssl, r, fd, deadline))
                goto fail;
            continue;
        }
        len += (size_t)r;
        if (s_has_final_reply(buf, len))
            break;
        if (len == sizeof buf) {  /* keep only the unfinished line */
            char *nl = memrchr(buf, '\n', len);
            size_t keep = nl ? len - (size_t)(nl + 1 - buf) : 0;
            memmove(buf, buf + len - keep, keep);
            len = keep;
        }
    }
    s->last_io_ms = clock_mono_ms();
    return;
fail:
    s_reason(s, "no reply to NOOP after STARTTLS");
    s_abort(s);
}

/* s_ssl_info - at handshake start, send the host name (SNI) unless it is an
 * IP address */
static void s_ssl_info(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if (!(where & SSL_CB_HANDSHAKE_START))
        return;
    const char *host = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    unsigned char ip[16];
    if (host && inet_pton(AF_INET, host, ip) != 1 && inet_pton(AF_INET6, host, ip) != 1)
        SSL_set_tlsext_host_name((SSL *)ssl, host);
}

/* s_tls_ctx - this session's SSL_CTX (caller drops its reference), or NULL
 * with s->reason set */
static SSL_CTX *s_tls_ctx(s_sess_t *s)
{
    const mailer_smtp_conf_t *c = s->conf;
    char err[160];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        s_reason(s, "TLS setup failed: %s", s_ssl_error(err, sizeof err));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_app_data(ctx, (void *)c->host);
    SSL_CTX_set_info_callback(ctx, s_ssl_info);
    /* SSL_VERIFY_NONE: the handshake completes either way and libESMTP
     * reports the verification result to s_event, which decides (and so we
     * can say why).  No mail and no password is sent before that. */
    if (!c->tls_no_verify) {
        int ok = c->ca_file ? SSL_CTX_load_verify_locations(ctx, c->ca_file, NULL)
                            : SSL_CTX_set_default_verify_paths(ctx);
        if (!ok) {
            s_reason(s, "cannot load CA certificates from %s: %s",
                     c->ca_file ? c->ca_file : "the system default",
                     s_ssl_error(err, sizeof err));
            SSL_CTX_free(ctx);
            return NULL;
        }
        X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
        unsigned char ip[16];
        int is_ip = inet_pton(AF_INET, c->host, ip) == 1 ||
                    inet_pton(AF_INET6, c->host, ip) == 1;
        ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, c->host)
                   : X509_VERIFY_PARAM_set1_host(param, c->host, 0);
        if (!ok) {
            s_reason(s, "cannot check certificates for host %s", c->host);
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    return ctx;
}

/* --- libESMTP callbacks -------------------------------------------------- */

static int s_outcome(const s_sess_t *s, const s_slot_t *slot);

/* s_event - libESMTP's events: certificates, STARTTLS, finished messages */
static void s_event(smtp_session_t session, int event, void *arg, ...)
{
    (void)session;
    s_sess_t *s = arg;
    const mailer_smtp_conf_t *c = s->conf;
    va_list ap;
    va_start(ap, arg);
    switch (event) {
    case SMTP_EV_MESSAGESENT: {
        s_slot_t *slot = smtp_message_get_application_data(va_arg(ap, smtp_message_t));
        if (slot) {
            slot->finished = 1;
            /* the end-of-data reply is in: report now, before the next
             * message, so the caller can commit it */
            if (c->on_result && slot->msg && !slot->reported) {
                s_outcome(s, slot);
                slot->reported = 1;
                c->on_result(c->on_result_arg, slot->msg);
            }
        }
        break;
    }
    case SMTP_EV_INVALID_PEER_CERTIFICATE: {
        long result = va_arg(ap, long);
        int *ok = va_arg(ap, int *);
        *ok = c->tls_no_verify;
        if (!*ok) {
            s_reason(s, "TLS certificate of %s not accepted: %s", c->host,
                     X509_verify_cert_error_string(result));
            s_abort(s);
        }
        break;
    }
    case SMTP_EV_WRONG_PEER_CERTIFICATE: {
        /* libESMTP's own name check (no IP addresses); OpenSSL has already
         * checked the name we gave it in s_tls_ctx */
        int *ok = va_arg(ap, int *);
        (void)va_arg(ap, char *);
        SSL *ssl = va_arg(ap, SSL *);
        *ok = c->tls_no_verify || SSL_get_verify_result(ssl) == X509_V_OK;
        if (!*ok) {
            s_reason(s, "TLS certificate does not name %s", c->host);
            s_abort(s);
        }
        break;
    }
    case SMTP_EV_NO_PEER_CERTIFICATE: {
        int *ok = va_arg(ap, int *);
        *ok = c->tls_no_verify;
        if (!*ok) {
            s_reason(s, "server sent no TLS certificate");
            s_abort(s);
        }
        break;
    }
    case SMTP_EV_WEAK_CIPHER: {
        int bits = va_arg(ap, int);
        int *ok = va_arg(ap, int *);
        *ok = 0;
        s_reason(s, "TLS cipher too weak (%d bits)", bits);
        s_abort(s);
        break;
    }
    case SMTP_EV_STARTTLS_OK: {
        SSL *ssl = va_arg(ap, SSL *);
        s->tls_ok = 1;
        s_tls_sync(s, ssl);
        break;
    }
    case SMTP_EV_EXTNA_STARTTLS:
        s_reason(s, "server does not offer STARTTLS (tls is required)");
        break;
    case SMTP_EV_NO_CLIENT_CERTIFICATE: {
        int *ok = va_arg(ap, int *);
        *ok = 0;
        s_reason(s, "libESMTP found a client certificate without its key");
        break;
    }
    case SMTP_EV_UNUSABLE_CLIENT_CERTIFICATE:
    case SMTP_EV_UNUSABLE_CA_LIST:
        s_reason(s, "libESMTP found unusable certificates under ~/.config/libesmtp");
        break;
    default:
        break;
    }
    va_end(ap);
}

/* s_auth_interact - hand the SASL mechanism our user and password */
static int s_auth_interact(auth_client_request_t req, char **result, int fields,
                           void *arg)
{
    s_sess_t *s = arg;
    for (int i = 0; i < fields; i++) {
        if (req[i].flags & AUTH_USER)
            result[i] = (char *)s->conf->user;
        else if (req[i].flags & AUTH_PASS)
            result[i] = (char *)s->conf->password;
        else if (req[i].flags & AUTH_REALM)
            result[i] = (char *)"";
        else
            return 0;
    }
    return 1;
}

/* s_message_cb - libESMTP reads a message: len NULL rewinds; then the data,
 * a CRLF if it does not end in one, then end */
static const char *s_message_cb(void **ctx, int *len, void *arg)
{
    (void)ctx;                   /* left NULL: libESMTP would free() it */
    s_slot_t *slot = arg;
    const mailer_smtp_msg_t *m = slot->msg;
    slot->sess->last_io_ms = clock_mono_ms();
    if (!len) {
        slot->cb_state = 0;
        return NULL;
    }
    slot->sess->stage = "message data";
    if (slot->cb_state == 0) {
        slot->cb_state = 1;
        *len = (int)m->len;
        return m->data;
    }
    if (slot->cb_state == 1) {
        slot->cb_state = 2;
        if (m->data[m->len - 1] != '\n') {
            *len = 2;
            return "\r\n";
        }
    }
    *len = 0;
    return NULL;
}

/* --- mailer_smtp_send ---------------------------------------------------------- */

/* s_bad_address - why addr cannot go into MAIL FROM / RCPT TO, or NULL */
static const char *s_bad_address(const char *addr, int empty_ok)
{
    if (!addr || !*addr)
        return empty_ok ? NULL : "empty address";
    if (strlen(addr) > 254)
        return "address too long";
    for (const char *p = addr; *p; p++)
        if ((unsigned char)*p < 0x21 || *p == 0x7f || *p == '<' || *p == '>')
            return "address has spaces, controls or <>";
    return NULL;
}

/* s_bad_message - why m cannot be sent at all, or NULL */
static const char *s_bad_message(const mailer_smtp_msg_t *m)
{
    const char *why = s_bad_address(m->envelope_from, 1);
    if (why)
        return why;
    if ((why = s_bad_address(m->rcpt, 0)))
        return why;
    if (!m->data || m->len == 0)
        return "empty message";
    if (m->len > INT_MAX - 2)
        return "message too large";
    return NULL;
}

/* s_lost - why a reply never came: timed out or closed */
static void s_lost(const s_sess_t *s, char *dst, size_t size)
{
    const char *stage = s->stage ? s->stage : "greeting";
    int64_t idle = clock_mono_ms() - s->last_io_ms;
    int waited = s->timeout_ms > S_REPLY_FLOOR_MS ? s->timeout_ms : S_REPLY_FLOOR_MS;
    if (s->reason[0])
        snprintf(dst, size, "%s", s->reason);
    else if (idle + 50 >= waited)
        snprintf(dst, size, "timed out after %d ms (after %s)", waited, stage);
    else
        snprintf(dst, size, "connection closed by server (after %s)", stage);
}

/* s_setup_failure - why no message got as far as MAIL FROM */
static void s_setup_failure(const s_sess_t *s, int err, char *dst, size_t size)
{
    char tmp[200];
    const mailer_smtp_conf_t *c = s->conf;
    if (s->reason[0])
        snprintf(dst, size, "%s", s->reason);
    else if (!s->connected && s->connect_errno)
        snprintf(dst, size, "connect to %s:%d failed: %s", c->host, c->port,
                 strerror(s->connect_errno));
    else if (!s->connected)
        snprintf(dst, size, "connect to %s:%d failed: %s", c->host, c->port,
                 smtp_strerror(err, tmp, sizeof tmp));
    else if (s->stage && strcmp(s->stage, "STARTTLS") == 0 && !s->tls_ok &&
             s->last_code == 220)
        snprintf(dst, size, "TLS handshake with %s failed: %s", c->host,
                 s_ssl_error(tmp, sizeof tmp));
    else if (s->last_code >= 400)
        snprintf(dst, size, "server refused the session: %s", s->last_reply);
    else
        s_lost(s, dst, size);
}

/* s_outcome - one offered message's result from its statuses; 1 if 2xx */
static int s_outcome(const s_sess_t *s, const s_slot_t *slot)
{
    mailer_smtp_msg_t *out = slot->msg;
    const smtp_status_t *mail = smtp_reverse_path_status(slot->m);
    const smtp_status_t *rcpt = smtp_recipient_status(slot->r);
    const smtp_status_t *data = smtp_message_transfer_status(slot->m);
    const smtp_status_t *refused = NULL;
    const char *what = NULL, *lost = NULL;

    if (!mail->code)
        lost = "not sent";
    else if (mail->code / 100 != 2)
        refused = mail, what = "MAIL FROM";
    else if (!rcpt->code)
        lost = "no reply to RCPT TO";
    else if (rcpt->code / 100 != 2)
        refused = rcpt, what = "RCPT TO";
    else if (!slot->finished || !data->code || data->code / 100 == 3)
        lost = "no final reply";      /* 354 stays when the reply never came */
    else if (data->code / 100 != 2)
        refused = data, what = "message";

    if (lost) {
        char why[200];
        s_lost(s, why, sizeof why);
        out->code = 0;
        snprintf(out->diag, sizeof out->diag, "%s: %s", lost, why);
        return 0;
    }
    if (!refused) {
        out->code = data->code;
        s_status(out->diag, sizeof out->diag, data);
        return 1;
    }
    char st[220];
    s_status(st, sizeof st, refused);
    out->code = refused->code;
    out->permanent = refused->code >= 500 && refused->code < 600;
    snprintf(out->diag, sizeof out->diag, "%s refused: %s", what, st);
    return 0;
}

/* s_fail_all - every message not refused as unusable gets code 0 and why */
static void s_fail_all(s_slot_t *slots, mailer_smtp_msg_t *msgs, size_t n, const char *why)
{
    for (size_t i = 0; i < n; i++) {
        if (slots && !slots[i].msg)
            continue;
        msgs[i].code = 0;
        msgs[i].permanent = 0;
        s_one_line(msgs[i].diag, sizeof msgs[i].diag, why);
    }
}

/* s_config_problem - why conf cannot work, or NULL */
static const char *s_config_problem(const mailer_smtp_conf_t *c)
{
    if (!c)
        return "no SMTP configuration";
    if (!c->host || !*c->host)
        return "no SMTP host";
    if (strchr(c->host, ':'))
        return "SMTP host must be a name or an IPv4 address";
    if (c->port <= 0 || c->port > 65535)
        return "SMTP port out of range";
    if (c->user && (!*c->user || !c->password))
        return "SMTP user without a password";
    if (c->tls != MSMTP_TLS_OFF && c->tls != MSMTP_TLS_OPTIONAL &&
        c->tls != MSMTP_TLS_REQUIRED)
        return "unknown SMTP TLS mode";
    return NULL;
}

/* s_run - the session proper; returns mailer_smtp_send's result */
static int s_run(s_sess_t *s, s_slot_t *slots, mailer_smtp_msg_t *msgs, size_t n)
{
    const mailer_smtp_conf_t *c = s->conf;
    int result = -1;
    char tmp[300];
    smtp_session_t session = smtp_create_session();
    auth_context_t actx = NULL;
    if (!session) {
        s_fail_all(slots, msgs, n, "out of memory");
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s:%d", c->host, c->port);
    int ok = smtp_set_server(session, tmp) &&
             smtp_set_hostname(session, c->helo) &&
             smtp_set_eventcb(session, s_event, s) &&
             smtp_set_monitorcb(session, s_monitor, s, 0);
    static const int timeouts[] = {Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA,
                                   Timeout_TRANSFER, Timeout_DATA2};
    for (size_t i = 0; ok && i < sizeof timeouts / sizeof timeouts[0]; i++)
        ok = smtp_set_timeout(session, timeouts[i] | Timeout_OVERRIDE_RFC2822_MINIMUM,
                              s->timeout_ms) > 0;
    if (ok && c->tls != MSMTP_TLS_OFF) {
        SSL_CTX *ctx = s_tls_ctx(s);
        ok = ctx && smtp_starttls_enable(session, c->tls == MSMTP_TLS_REQUIRED
                                                      ? Starttls_REQUIRED
                                                      : Starttls_ENABLED) &&
             smtp_starttls_set_ctx(session, ctx);   /* takes its own reference */
        SSL_CTX_free(ctx);
    } else if (ok) {
        ok = smtp_starttls_enable(session, Starttls_DISABLED);
    }
    if (ok && c->user) {
        ok = (actx = auth_create_context()) &&
             auth_set_mechanism_flags(actx, AUTH_PLUGIN_PLAIN, 0) &&
             auth_set_interact_cb(actx, s_auth_interact, s) &&
             smtp_auth_set_context(session, actx);
    }
    for (size_t i = 0; ok && i < n; i++) {
        s_slot_t *slot = &slots[i];
        if (!slot->msg)
            continue;            /* unusable, already answered */
        slot->m = smtp_add_message(session);
        ok = slot->m &&
             smtp_set_reverse_path(slot->m, msgs[i].envelope_from ? msgs[i].envelope_from : "") &&
             (slot->r = smtp_add_recipient(slot->m, msgs[i].rcpt)) &&
             smtp_set_messagecb(slot->m, s_message_cb, slot) &&
             smtp_size_set_estimate(slot->m, msgs[i].len);
        if (slot->m)
            smtp_message_set_application_data_release(slot->m, slot, NULL);
    }
    if (!ok) {
        if (!s->reason[0])
            s_reason(s, "libESMTP setup failed: %s",
                     smtp_strerror(smtp_errno(), tmp, sizeof tmp));
        s_fail_all(slots, msgs, n, s->reason);
        goto done;
    }

    s_sess_t *outer = s_active;
    s_active = s;
    s->last_io_ms = clock_mono_ms();
    smtp_start_session(session);   /* 1 even when every message failed */
    int err = smtp_errno();
    s_active = outer;

    int offered = 0;
    for (size_t i = 0; i < n; i++)
        if (slots[i].m && smtp_reverse_path_status(slots[i].m)->code)
            offered = 1;
    if (!offered) {
        s_setup_failure(s, err, tmp, sizeof tmp);
        s_fail_all(slots, msgs, n, tmp);
        goto done;
    }
    result = 0;
    for (size_t i = 0; i < n; i++) {
        if (!slots[i].m)
            continue;
        if (slots[i].reported) {
            result += slots[i].msg->code / 100 == 2;
            continue;
        }
        result += s_outcome(s, &slots[i]);
        if (s->conf->on_result && slots[i].msg) {
            slots[i].reported = 1;
            s->conf->on_result(s->conf->on_result_arg, slots[i].msg);
        }
    }
    if (s->fd < 0 && !atomic_exchange(&s_warned_no_interpose, 1))
        log_warn("event=smtp_no_interpose msg=\"connect() of mailer_smtp.c not in "
                 "effect: no TCP_NODELAY, no connect timeout\"");
done:
    smtp_destroy_session(session);   /* also drops its SSL_CTX reference */
    if (actx)
        auth_destroy_context(actx);
    return result;
}

/* mailer_smtp_send - deliver msgs in one session; see mailer_smtp.h */
int mailer_smtp_send(const mailer_smtp_conf_t *conf, mailer_smtp_msg_t *msgs, size_t n)
{
    static pthread_once_t auth_once = PTHREAD_ONCE_INIT;
    if (n && !msgs)
        return -1;
    for (size_t i = 0; i < n; i++) {
        msgs[i].code = 0;
        msgs[i].permanent = 0;
        msgs[i].diag[0] = '\0';
    }
    if (n == 0)
        return 0;
    const char *bad = s_config_problem(conf);
    if (bad) {
        s_fail_all(NULL, msgs, n, bad);
        return -1;
    }
    s_slot_t *slots = calloc(n, sizeof *slots);
    if (!slots) {
        s_fail_all(NULL, msgs, n, "out of memory");
        return -1;
    }
    s_sess_t sess = {
        .conf = conf,
        .timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : S_DEFAULT_TIMEOUT_MS,
        .fd = -1,
    };
    size_t usable = 0;
    for (size_t i = 0; i < n; i++) {
        slots[i].sess = &sess;
        const char *why = s_bad_message(&msgs[i]);
        if (why) {
            msgs[i].permanent = 1;
            snprintf(msgs[i].diag, sizeof msgs[i].diag, "not sent: %s", why);
        } else {
            slots[i].msg = &msgs[i];
            usable++;
        }
    }
    if (!usable) {
        free(slots);
        return 0;
    }
    pthread_once(&auth_once, auth_client_init);

    /* SIGPIPE: blocked for the session, and one it raised is discarded */
    sigset_t pipe_set, old_mask, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    ERR_clear_error();

    int result = s_run(&sess, slots, msgs, n);

    ERR_clear_error();
    sigemptyset(&pending);
    if (!was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    free(slots);
    return result;
}
