/*
 * inbox_store.c - inbox.db: one row per message read from the Maildir
 * (keyed by its unique name, so a message is recorded once however often
 * it is found in new/), and the outbox of the events it became.
 */
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "inbox.h"
#include "outbox.h"

const char *const inbox_store_migrations[] = {
    "CREATE TABLE messages("
    "  id INTEGER PRIMARY KEY,"
    "  file TEXT NOT NULL UNIQUE,"   /* the Maildir unique name (before ':') */
    "  received_at INTEGER NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL,"       /* reply comment dsn auto unmatched bad */
    "  reason TEXT,"
    "  from_addr TEXT, subject TEXT, message_id TEXT,"
    "  ref TEXT,"                    /* what it answers: c:C47, s:p12, or a bounce's Message-ID */
    "  text TEXT);"
    "CREATE INDEX messages_outcome ON messages(outcome, id);"
    "CREATE TABLE outbox(id INTEGER PRIMARY KEY, type TEXT NOT NULL,"
    "  key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL);",
    /* whom each message is from or about, for customer.erased
     * (inbox_privacy.c): mail is the journal offset of the mail.requested
     * a reply or bounce names in its token, mails whom each such mail was
     * to or about */
    "ALTER TABLE messages ADD COLUMN mail INTEGER;"
    "CREATE INDEX messages_mail ON messages(mail) WHERE mail IS NOT NULL;"
    "CREATE TABLE mails(n INTEGER NOT NULL, customer TEXT NOT NULL,"
    "  PRIMARY KEY (customer, n)) WITHOUT ROWID;",
    NULL,
};

/* inbox_store_seen - was file recorded, and as what */
int inbox_store_seen(sqlite3 *db, const char *file, char *out, size_t len)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT outcome FROM messages WHERE file = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, file, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    int seen = rc == SQLITE_ROW;
    if (seen)
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    db_finish(st);
    return seen ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* s_cut - s cut to at most max bytes, on a character boundary (in place) */
static const char *s_cut(char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n > max) {
        while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
            max--;
        s[max] = '\0';
    }
    return s;
}

/* s_event - the event m becomes (NULL: none), key inbox/<file> */
static json_t *s_event(const inbox_mail_t *m, const char **type)
{
    json_t *e = NULL;
    switch (m->outcome) {
    case INBOX_REPLY:
        *type = EV_CASE_CUSTOMER_REPLIED;
        e = json_pack("{s:s,s:s,s:s}", "case", m->ref.id, "message", s_cut(m->text, 20000),
                      "from", m->from ? s_cut(m->from, 320) : "");
        if (e && m->subject)
            json_object_set_new(e, "subject", json_string(s_cut(m->subject, 1000)));
        if (e && m->message_id)
            json_object_set_new(e, "message_id", json_string(s_cut(m->message_id, 1000)));
        break;
    case INBOX_COMMENT:
        *type = EV_SURVEY_COMMENTED;
        e = json_pack("{s:s,s:s}", "invite", m->ref.id, "comment", s_cut(m->text, 4000));
        if (e && m->from)
            json_object_set_new(e, "from", json_string(s_cut(m->from, 320)));
        break;
    case INBOX_DSN:
        *type = EV_MAIL_DSN_RECEIVED;
        e = json_pack("{s:s,s:s}", "message_id", s_cut(m->dsn_message_id, 1000), "status",
                      m->dsn_status);
        if (e && m->dsn_recipient)
            json_object_set_new(e, "recipient", json_string(s_cut(m->dsn_recipient, 320)));
        if (e && m->dsn_diagnostic)
            json_object_set_new(e, "diagnostic", json_string(s_cut(m->dsn_diagnostic, 300)));
        if (e && m->dsn_reporter)
            json_object_set_new(e, "reporter", json_string(s_cut(m->dsn_reporter, 255)));
        break;
    default:
        break;
    }
    return e;
}

/* inbox_store_record - the row and its event (unless !journal), one transaction */
int inbox_store_record(sqlite3 *db, const char *file, int64_t size, const inbox_mail_t *m,
                       int64_t now_ms, int journal)
{
    if (db_begin(db))
        return -1;
    sqlite3_stmt *st = db_prepare(
        db, "INSERT INTO messages(file, received_at, size, outcome, reason, from_addr, subject,"
            " message_id, ref, text, mail) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st) {
        db_rollback(db);
        return -1;
    }
    char ref[REPLY_TOKEN_ID_MAX + 4] = "";
    if (m->outcome == INBOX_REPLY || m->outcome == INBOX_COMMENT)
        snprintf(ref, sizeof ref, "%c:%s", m->ref.kind, m->ref.id);
    sqlite3_bind_text(st, 1, file, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int64(st, 3, size);
    sqlite3_bind_text(st, 4, inbox_outcome_name(m->outcome), -1, SQLITE_STATIC);
    if (*m->reason)
        sqlite3_bind_text(st, 5, m->reason, -1, SQLITE_TRANSIENT);
    if (m->from)
        sqlite3_bind_text(st, 6, m->from, -1, SQLITE_TRANSIENT);
    if (m->subject)
        sqlite3_bind_text(st, 7, m->subject, -1, SQLITE_TRANSIENT);
    if (m->message_id)
        sqlite3_bind_text(st, 8, m->message_id, -1, SQLITE_TRANSIENT);
    if (*ref)
        sqlite3_bind_text(st, 9, ref, -1, SQLITE_TRANSIENT);
    else if (m->dsn_message_id)
        sqlite3_bind_text(st, 9, m->dsn_message_id, -1, SQLITE_TRANSIENT);
    if (m->text)
        sqlite3_bind_text(st, 10, s_cut(m->text, 20000), -1, SQLITE_TRANSIENT);
    if (m->ref.kind && m->ref.n > 0)
        sqlite3_bind_int64(st, 11, m->ref.n);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    const char *type = NULL;
    json_t *e = rc == 0 ? s_event(m, &type) : NULL;
    if (rc == 0 && type && journal) {
        char key[300];
        snprintf(key, sizeof key, "inbox/%.200s", file);
        rc = e ? outbox_add(db, type, key, e) : -1;
    }
    json_decref(e);
    if (rc || db_commit(db)) {
        db_rollback(db);
        return -1;
    }
    return 0;
}
