/*
 * inbox_privacy.c - what hark-inbox does with customer.erased: the mail
 * from or about the customer leaves the Maildir and their words leave
 * inbox.db.
 *
 * Which messages are theirs: every mail Hark sends carries a token naming
 * its mail.requested (reply_token.h), which a reply quotes and a bounce
 * returns, so each message row keeps that offset (messages.mail) and
 * mail.requested tells whom the mail was to or about (table mails).  On
 * customer.erased the files of their messages are deleted from new/, cur/
 * and .bad/cur/, and the rows keep their outcome (the counts) with sender,
 * subject, Message-ID and text blanked.  The consumer then truncates the
 * WAL (consumer.h); secure_delete zeroes the old pages.  Mail that names
 * no mail of ours (a new message from their address) is not found.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "inbox.h"
#include "log.h"

/* inbox_privacy_requested - see inbox.h */
int inbox_privacy_requested(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                            consumer_t *c)
{
    (void)svc;
    (void)c;
    static const char *const fields[] = {"customer_id", "about", NULL};
    for (int i = 0; fields[i]; i++) {
        const char *who = json_string_value(json_object_get(ev->payload, fields[i]));
        if (!who || !*who)
            continue;
        sqlite3_stmt *st = db_prepare(db, "INSERT OR IGNORE INTO mails(n, customer) VALUES(?, ?)");
        if (!st)
            return -1;
        sqlite3_bind_int64(st, 1, ev->offset);
        sqlite3_bind_text(st, 2, who, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        db_finish(st);
        if (rc)
            return -1;
    }
    return 0;
}

/* s_cmp - names in order, for qsort and bsearch */
static int s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* s_unlink_in - delete every file of dir whose unique name (before ':') is
 * one of names[0..n) (sorted); how many */
static size_t s_unlink_in(const char *maildir, const char *sub, char **names, size_t n)
{
    char dir[4200], path[4600], unique[256];
    snprintf(dir, sizeof dir, "%s/%s", maildir, sub);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t gone = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(unique, sizeof unique, "%.*s", (int)strcspn(e->d_name, ":"), e->d_name);
        char *key = unique;
        if (!bsearch(&key, names, n, sizeof *names, s_cmp))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0)
            gone++;
        else
            log_error("event=erase_unlink_failed file=%s error=\"%s\"", log_value(e->d_name),
                      strerror(errno));
    }
    closedir(d);
    return gone;
}

/* inbox_privacy_erased - see inbox.h */
int inbox_privacy_erased(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    inbox_t *in = service_state(svc);
    const char *who = json_string_value(json_object_get(ev->payload, "customer_id"));
    if (!who || !*who)
        return 0;
    sqlite3_stmt *st = db_prepare(db, "SELECT file FROM messages WHERE mail IN"
                                      " (SELECT n FROM mails WHERE customer = ?1)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, who, -1, SQLITE_STATIC);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            char **more = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
            if (!more)
                break;
            names = more;
        }
        names[n] = strdup((const char *)sqlite3_column_text(st, 0));
        if (!names[n])
            break;
        n++;
    }
    db_finish(st);
    int bad = rc != SQLITE_DONE;
    if (!bad && n) {
        /* the rows first: if this fails nothing is deleted and the event is
         * applied again */
        st = db_prepare(db, "UPDATE messages SET from_addr = NULL, subject = NULL,"
                            " message_id = NULL, text = NULL WHERE mail IN"
                            " (SELECT n FROM mails WHERE customer = ?1)");
        if (st)
            sqlite3_bind_text(st, 1, who, -1, SQLITE_STATIC);
        bad = !st || sqlite3_step(st) != SQLITE_DONE;
        db_finish(st);
        qsort(names, n, sizeof *names, s_cmp);
        size_t gone = 0;
        static const char *const subs[] = {"new", "cur", ".bad/new", ".bad/cur", NULL};
        for (int i = 0; !bad && subs[i]; i++)
            gone += s_unlink_in(in->maildir, subs[i], names, n);
        log_info("event=customer_erased messages=%zu files=%zu", n, gone);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return bad ? -1 : 0;
}
