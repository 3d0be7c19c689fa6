/*
 * inbox.h - what hark-inbox's parts share.
 */
#ifndef HARK_INBOX_H
#define HARK_INBOX_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "reply_token.h"
#include "service.h"
#include "wire.h"

/* --- one message read (inbox_parse.c) ------------------------------------ */
typedef enum {
    INBOX_REPLY,     /* a customer's answer to a case */
    INBOX_COMMENT,   /* a customer's answer to a survey invite */
    INBOX_DSN,       /* a delivery status notification for a mail of ours */
    INBOX_AUTO,      /* an auto-reply: recorded, nothing done */
    INBOX_UNMATCHED, /* kept for staff to look at */
    INBOX_BAD,       /* cannot be read: moved aside */
} inbox_outcome_t;

typedef struct {
    inbox_outcome_t outcome;
    char reason[200];           /* why AUTO, UNMATCHED or BAD */
    char *from, *subject;       /* decoded, UTF-8 (may be NULL) */
    char *message_id;           /* the message's own, without <> */
    char *text;                 /* REPLY/COMMENT: the new text, quote removed;
                                   UNMATCHED: the text, for staff */
    reply_token_t ref;          /* REPLY, COMMENT: what it answers; any
                                   message naming a mail of ours: that mail */
    /* DSN */
    char *dsn_message_id;       /* "<hark.TOKEN@...>" of the mail that failed */
    char dsn_status[16];        /* "5.1.1" */
    char *dsn_recipient, *dsn_diagnostic, *dsn_reporter;
} inbox_mail_t;

/* inbox_parse_init - GMime, once per process */
void inbox_parse_init(void);
/* inbox_parse - read one RFC 5322 message of len bytes into *out (cleared
 * first; free with inbox_mail_clear); key checks reply tokens.  Never
 * fails: what cannot be read is INBOX_BAD with a reason. */
void inbox_parse(const char *key, const char *data, size_t len, inbox_mail_t *out);
void inbox_mail_clear(inbox_mail_t *m);
const char *inbox_outcome_name(inbox_outcome_t o);

/* --- text (inbox_text.c) -------------------------------------------------- */
/* inbox_text_new - the new text of a reply: quoted lines (">"), quote
 * headers ("On ... wrote:" and the same in ru, pl, zh, be), Outlook's
 * "-----Original Message-----" and "From:/Sent:" blocks and the signature
 * removed, blank lines trimmed.  malloc'd (may be ""), NULL on OOM. */
char *inbox_text_new(const char *text);
/* inbox_text_from_html - HTML as plain text: tags dropped, script, style,
 * head and blockquote (the quote) left out, blocks as lines, entities
 * decoded; never more than the input's length times four.  malloc'd. */
char *inbox_text_from_html(const char *html);
/* inbox_text_utf8 - s made valid UTF-8 in place (bad bytes become '?'),
 * controls but tab and newline dropped */
void inbox_text_utf8(char *s);

/* --- the store (inbox_store.c) -------------------------------------------- */
extern const char *const inbox_store_migrations[];
/* inbox_store_seen - the outcome a file was recorded with (into out), 1;
 * 0 when it was not; -1 on error */
int inbox_store_seen(sqlite3 *db, const char *file, char *out, size_t len);
/* inbox_store_record - the message's row and, when journal, its events
 * (outbox), in one transaction; 0/-1 */
int inbox_store_record(sqlite3 *db, const char *file, int64_t size, const inbox_mail_t *m,
                       int64_t now_ms, int journal);

/* --- the process's state (inbox.c) ---------------------------------------- */
typedef struct {
    const char *maildir;
    int64_t max_size, poll_ms;
    char token_key[128];
    wire_client_t *journal; /* appends the outbox */
    int timer;
} inbox_t;

/* --- the Maildir (inbox_maildir.c) ---------------------------------------- */
/* inbox_maildir_prepare - new/ cur/ tmp/ and .bad/{new,cur,tmp}; 0/-1 */
int inbox_maildir_prepare(const char *maildir);
/* inbox_maildir_reread - on an empty inbox.db (a rebuild, a lost file):
 * record what cur/ and .bad/cur/ hold, as read before, without events (the
 * journal has them); 0/-1 */
int inbox_maildir_reread(service_t *svc);
/* inbox_maildir_run - timer: read what is in new/ */
int inbox_maildir_run(evloop_t *loop, void *arg);

/* --- customer.erased (inbox_privacy.c) ---------------------------------- */
/* inbox_privacy_requested - mail.requested: whom mail ev->offset is to or
 * about */
int inbox_privacy_requested(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                            consumer_t *c);
/* inbox_privacy_erased - customer.erased: their messages' files deleted,
 * their rows blanked (the rows and outcomes stay, the counts with them) */
int inbox_privacy_erased(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);

/* --- [inbox] control (inbox_control.c) ------------------------------------ */
json_t *inbox_control_unmatched(service_t *svc, const json_t *req, service_err_t *err);
void inbox_control_status(service_t *svc, json_t *body);

#endif
