/*
 * intake_reply.c - case.customer_replied (hark-inbox): the customer answered
 * a case by email.  Their words go into the case's history (a note of kind
 * "customer", by "customer:<address>"); a resolved case is open again and a
 * waiting one open (the next move is the team's); the team gets the
 * complaint_customer_reply mail with the reply as its text (key
 * intake/<offset>/customer_reply).  All in the consumer's transaction: the note's unique
 * source offset makes a replay add nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "intake.h"
#include "staff_link.h"
#include "words.h"

/* s_note - one history note from ev; 1 added, 0 there already, -1 error */
static int s_note(sqlite3 *db, const char *id, int64_t at, const char *by, const char *kind,
                  const char *text, int64_t offset)
{
    sqlite3_stmt *st = db_prepare(db, "INSERT OR IGNORE INTO notes(case_id, at, by, kind, text,"
                                      " source_offset) VALUES(?, ?, ?, ?, ?, ?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_text(st, 3, by, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, text, -1, SQLITE_TRANSIENT);
    if (offset >= 0)
        sqlite3_bind_int64(st, 6, offset);
    int rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db) > 0 : -1;
    db_finish(st);
    return rc;
}

/* intake_reply_apply - case.customer_replied */
int intake_reply_apply(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    intake_t *s = service_state(svc);
    const json_t *p = ev->payload;
    const char *id = json_string_value(json_object_get(p, "case"));
    const char *text = json_string_value(json_object_get(p, "message"));
    const char *from = json_string_value(json_object_get(p, "from"));
    if (!id || !text)
        return -1;
    sqlite3_stmt *st = db_prepare(db, "SELECT status, team, reason, customer_id FROM cases"
                                      " WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    char status[16] = "", team[128] = "", reason[80] = "", cid[160] = "";
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(team, sizeof team, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(reason, sizeof reason, "%s", (const char *)sqlite3_column_text(st, 2));
        if (sqlite3_column_type(st, 3) != SQLITE_NULL)
            snprintf(cid, sizeof cid, "%s", (const char *)sqlite3_column_text(st, 3));
    }
    db_finish(st);
    if (!found) {
        log_warn("event=case_unknown type=%s case=%s", ev->type, log_value(id));
        return 0;
    }
    int64_t at = consumer_event_ms(ev);
    char by[400];
    snprintf(by, sizeof by, "customer:%s", from && *from ? from : "?");
    int reopened = strcmp(status, "resolved") == 0;
    int rc = s_note(db, id, at, by, "customer", text, ev->offset);
    if (rc <= 0)
        return rc; /* seen before: nothing more */
    if (strcmp(status, "open") != 0) {
        st = db_prepare(db, "UPDATE cases SET status = 'open', resolved_at = NULL WHERE id = ?");
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        db_finish(st);
        if (rc)
            return -1;
        if (reopened) {
            char *say = words_text(s->words, words_locale(s->words, NULL),
                                   "intake.note_reopened", NULL);
            rc = say ? s_note(db, id, at, by, "reopened", say, -1) : -1;
            free(say);
            if (rc < 0)
                return -1;
        }
    }
    log_info("event=case_customer_replied case=%s was=%s", log_value(id), status);
    /* the team's alert: the case's team, its reply as the text */
    int ti = reasons_team_find(s->reasons, team);
    const reasons_team_t *t = ti >= 0 ? reasons_team(s->reasons, ti) : NULL;
    if (!t || !*t->email)
        return 0;
    char staff[700];
    staff_link_make(s->staff_url, "/cases/", id, staff, sizeof staff);
    int ri = reasons_find(s->reasons, reason);
    json_t *vars = json_pack("{s:s,s:s,s:s,s:s,s:s}", "case_number", id, "reason_label",
                             ri >= 0 ? reasons_label(s->reasons, (size_t)ri, NULL) : reason,
                             "customer_name", from && *from ? from : *cid ? cid : "?",
                             "staff_url", staff, "text", text);
    if (from && *from)
        json_object_set_new(vars, "customer_email", json_string(from));
    if (reopened)
        json_object_set_new(vars, "reopened", json_true());
    json_t *mail = json_pack("{s:s,s:s,s:s,s:o}", "address", t->email, "template",
                             "complaint_customer_reply", "category", "alert", "vars", vars);
    if (mail && *cid) /* whom it quotes: erased with them */
        json_object_set_new(mail, "about", json_string(cid));
    return consumer_emit(c, ev, EV_MAIL_REQUESTED, "customer_reply", mail);
}
