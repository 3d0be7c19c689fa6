/*
 * mailer_smtp.h - hand finished messages to an SMTP relay, several per
 * connection, and say per message what the relay answered.
 *
 * Built on libESMTP 1.1.0 (Debian libesmtp-dev), with what it does not get
 * right on its own done here: a connect timeout and short protocol timeouts,
 * TCP_NODELAY (without it every message over ~2 KB stalls ~40 ms), a fresh
 * TLS context per session (libESMTP #30: the second STARTTLS session in a
 * process uses a freed SSL_CTX), TLS 1.3 session tickets that otherwise stall
 * the EHLO after STARTTLS, AUTH that must succeed before any MAIL FROM, and
 * SIGPIPE kept away from the process.  mailer_smtp.c says how and why.
 *
 * smtp_start_session() "succeeding" says nothing about the mail: the outcome
 * of each message is read from its MAIL FROM, RCPT TO and end-of-data replies
 * and put into mailer_smtp_msg_t.  Nothing is kept between calls: every call is
 * one SMTP session, and the caller owns every string it passes in.
 */
#ifndef HARK_MAILER_SMTP_H
#define HARK_MAILER_SMTP_H

#include <stddef.h>

/* STARTTLS means TLS 1.2 or later, and a certificate that passes (see
 * tls_no_verify) - also with OPTIONAL: a server that offers STARTTLS and then
 * fails it gets no mail in plain text. */
typedef struct mailer_smtp_msg mailer_smtp_msg_t;

typedef enum {
    MSMTP_TLS_OFF,      /* never STARTTLS, even when offered */
    MSMTP_TLS_OPTIONAL, /* STARTTLS when offered, plain text when not */
    MSMTP_TLS_REQUIRED  /* no STARTTLS offered or it fails: no mail sent */
} mailer_smtp_tls_t;

typedef struct {
    const char *host;     /* "127.0.0.1" or a name; IPv6 literals are not
                           * possible (libESMTP splits "host:port" at the
                           * first ':') */
    int port;             /* 2525 */
    mailer_smtp_tls_t tls;
    const char *user;     /* NULL: no AUTH.  Otherwise AUTH PLAIN or LOGIN
                           * must succeed before MAIL FROM, or nothing is sent */
    const char *password; /* already read from the password file by the caller */
    const char *helo;     /* our EHLO name; NULL: the host name (uname) */
    int timeout_ms;       /* for connect and for every protocol step (greeting,
                           * each reply, each write); 0: 30000.  libESMTP
                           * never waits less than 1000 ms for a reply */
    const char *ca_file;  /* PEM file of CAs to trust for STARTTLS; NULL: the
                           * system's (/etc/ssl/certs) */
    /* on_result: when set, called once per offered message as soon as its
     * outcome is final: for a message the server accepted, right after its
     * end-of-data reply and before the next message goes, so the caller can
     * commit "delivered" and a crash repeats at most that one message.
     * Called on the thread running mailer_smtp_send.  Messages that were never
     * offered (unusable, or the session failed) are not reported here. */
    void (*on_result)(void *arg, mailer_smtp_msg_t *msg);
    void *on_result_arg;
    int tls_no_verify;    /* 1: accept any certificate (tests with a
                           * self-signed one).  0, the default: the chain must
                           * verify and name host (DNS name or IP address) */
} mailer_smtp_conf_t;

struct mailer_smtp_msg {
    const char *envelope_from; /* MAIL FROM address, "" or NULL for <> */
    const char *rcpt;          /* RCPT TO address, one per message */
    const char *data;          /* the whole RFC 5322 message, CRLF line ends.
                                * Not dot-stuffed: libESMTP stuffs for DATA,
                                * and BDAT needs none.  libESMTP adds Date,
                                * From and Message-Id when missing and drops
                                * Return-Path and repeats of one-only headers */
    size_t len;
    /* out */
    int code;                  /* the reply that decided this message: 250,
                                * 451, 550...  0: no reply (connection failed,
                                * dropped or timed out first) */
    int permanent;             /* 1: a 5xx for the sender, the recipient or
                                * the message, or an unusable message: bounce,
                                * do not retry.  0: retry later */
    char diag[256];            /* one line, no CR/LF: the server's words or
                                * ours */
};

/* mailer_smtp_send - deliver msgs[0..n) in ONE SMTP session, in order.  Fills each
 * msg's code/permanent/diag.  Returns how many were accepted (2xx), or -1 if
 * the session could not be set up at all (bad conf, connect, greeting,
 * STARTTLS or AUTH failed: no MAIL FROM was answered).  Then every msg has
 * code 0, permanent 0 and diag saying why - except unusable ones (empty data,
 * an address with spaces, controls or <>), which are never offered and
 * always get permanent 1 and "not sent: ...".  Blocks for at most about
 * timeout_ms per protocol step.  Safe to call from several threads at once. */
int mailer_smtp_send(const mailer_smtp_conf_t *conf, mailer_smtp_msg_t *msgs, size_t n);

/* mailer_smtp_nodelay_count - how many SMTP connections so far had TCP_NODELAY set
 * and read back by this module's connect() (for tests and health checks:
 * if it stays 0 while mail goes out, the interposition is not in effect). */
unsigned long mailer_smtp_nodelay_count(void);

/* mailer_smtp_quickack_count - how many reads of an SMTP socket so far were
 * followed by TCP_QUICKACK (see mailer_smtp.c: delayed ACKs with BDAT), so a
 * test can prove the read() interposer is in effect. */
unsigned long mailer_smtp_quickack_count(void);

#endif
