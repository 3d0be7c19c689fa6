/*
 * intake_case.c - hark-intake's cases: the event handlers that open them
 * (complaint, cancellation, an NPS comment) and work them (staff replies,
 * retags and resolutions, a closed loop), each inside the consumer's
 * transaction, and the timer that alerts those past their deadline (see
 * intake.c for the life of a case).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "intake.h"
#include "log.h"
#include "outbox.h"
#include "staff_link.h"
#include "words.h"

#define BREACH_BATCH 200

static const char *s_col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* s_note_once - a line in a case's history made by the journal event at
 * offset: written once however often that event is applied (offset < 0:
 * no event of its own, written each time).  1 written, 0 it was already,
 * -1 */
static int s_note_once(sqlite3 *db, const char *case_id, int64_t at, const char *by,
                       const char *kind, const char *text, int64_t offset)
{
    /* OR IGNORE only for the unique source: any other refusal is an error */
    sqlite3_stmt *st = db_prepare(db, offset >= 0 ? "INSERT OR IGNORE INTO notes(case_id, at, by,"
                                                    " kind, text, source_offset)"
                                                    " VALUES(?, ?, ?, ?, ?, ?)"
                                                  : "INSERT INTO notes(case_id, at, by, kind,"
                                                    " text, source_offset)"
                                                    " VALUES(?, ?, ?, ?, ?, ?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, case_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, at);
    if (by)
        sqlite3_bind_text(st, 3, by, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
    if (text)
        sqlite3_bind_text(st, 5, text, -1, SQLITE_TRANSIENT);
    if (offset >= 0) /* NULL otherwise: the unique index leaves it out */
        sqlite3_bind_int64(st, 6, offset);
    int rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db) > 0 : -1;
    db_finish(st);
    return rc;
}

/* s_note - one line in a case's history; 0/-1 */
static int s_note(sqlite3 *db, const char *case_id, int64_t at, const char *by,
                  const char *kind, const char *text)
{
    return s_note_once(db, case_id, at, by, kind, text, -1) < 0 ? -1 : 0;
}

/* s_note_say - a note whose text is the word key ("intake.note_opened")
 * filled in with vars (borrowed; NULL for none), in the staff's locale:
 * the default one, as no staff member's language is known */
static int s_note_say(intake_t *s, sqlite3 *db, const char *case_id, int64_t at, const char *by,
                      const char *kind, const char *key, const json_t *vars)
{
    char *text = words_text(s->words, words_locale(s->words, NULL), key, vars);
    int rc = text ? s_note(db, case_id, at, by, kind, text) : -1;
    free(text);
    return rc;
}

typedef struct {
    char name[256], email[320], locale[64], tz[80];
} s_contact_t;

/* s_contact - what intake.db knows of a customer ("" for unknown) */
static void s_contact(sqlite3 *db, const char *cid, s_contact_t *c)
{
    memset(c, 0, sizeof *c);
    sqlite3_stmt *st =
        cid ? db_prepare(db, "SELECT name, email, locale, timezone FROM customers WHERE id = ?")
            : NULL;
    if (!st)
        return;
    sqlite3_bind_text(st, 1, cid, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(c->name, sizeof c->name, "%s", s_col(st, 0) ? s_col(st, 0) : "");
        snprintf(c->email, sizeof c->email, "%s", s_col(st, 1) ? s_col(st, 1) : "");
        snprintf(c->locale, sizeof c->locale, "%s", s_col(st, 2) ? s_col(st, 2) : "");
        snprintf(c->tz, sizeof c->tz, "%s", s_col(st, 3) ? s_col(st, 3) : "");
    }
    db_finish(st);
}

/* s_staff_url - the case's page in Hark Console (a browser there logs in
 * first; the admin API would answer it 401) */
static void s_staff_url(intake_t *s, const char *case_id, char *out, size_t len)
{
    staff_link_make(s->staff_url, "/cases/", case_id, out, len);
}

/* s_codes_text - codes idx[0..n) as "a b c" */
static void s_codes_text(const reasons_t *r, const int *idx, int n, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%s", i ? " " : "",
                              reasons_get(r, (size_t)idx[i])->code);
}

/* s_tagged - a feedback.tagged payload */
static json_t *s_tagged(const reasons_t *r, const char *case_id, const char *cid,
                        const char *kind, const int *idx, int n, const char *via,
                        const char *text, const char *locale, int64_t given, const char *source,
                        const char *by, int review)
{
    char at[40];
    json_t *codes = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(codes, json_string(reasons_get(r, (size_t)idx[i])->code));
    json_t *p = json_pack("{s:s,s:s,s:o,s:s,s:s}", "case", case_id, "kind", kind, "codes", codes,
                          "via", via, "given_at", clock_format(given, at, sizeof at));
    if (cid)
        json_object_set_new(p, "customer_id", json_string(cid));
    if (text && *text)
        json_object_set_new(p, "text", json_string(text));
    if (locale && *locale)
        json_object_set_new(p, "locale", json_string(locale));
    if (source)
        json_object_set_new(p, "source_key", json_string(source));
    if (by)
        json_object_set_new(p, "by", json_string(by));
    if (review) /* the tagger was not sure: staff give it its reason */
        json_object_set_new(p, "needs_review", json_true());
    return p;
}

static int s_mails(intake_t *s, const hark_event_t *ev, consumer_t *c, const char *kind,
                   const char *id, const char *cid, const s_contact_t *w, const int *idx,
                   const char *locale, int64_t due, const char *text, const char *order,
                   const char *channel);

/* s_bind_answer - the case id, text and score (NULL when absent) as ?1..?3:
 * the check whether an answer changed and its update bind them alike */
static void s_bind_answer(sqlite3_stmt *st, const char *id, const char *text, const json_t *js)
{
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (text)
        sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
    if (json_is_integer(js))
        sqlite3_bind_int64(st, 3, json_integer_value(js));
}

/* s_nps_again - a later feedback.given of an invite that already has case
 * id: the survey page lets a customer change an answer, and hark-survey
 * emits each one.  It is the same piece of feedback, so no second case and
 * no second acknowledgement: the case takes the new text and score and
 * (unless staff retagged it) the new codes, with a feedback.tagged for
 * hark-loop; an answer re-sent unchanged changes nothing.  A case that
 * waited for nobody (a promoter's) and now should (a detractor's) opens:
 * its clock starts at this answer and the ack and alert go out. */
static int s_nps_again(intake_t *s, sqlite3 *db, const hark_event_t *ev, consumer_t *c,
                       const char *id, const int *idx, int n, const char *via, int quiet,
                       int review)
{
    const json_t *p = ev->payload;
    const reasons_t *r = s->reasons;
    const char *text = json_string_value(json_object_get(p, "text"));
    json_t *js = json_object_get(p, "score");
    sqlite3_stmt *st = db_prepare(db, "SELECT text IS ?2 AND score IS ?3, via = 'staff',"
                                      " due_at IS NULL, customer_id, locale, codes FROM cases"
                                      " WHERE id = ?1");
    if (!st)
        return -1;
    s_bind_answer(st, id, text, js);
    int same = 1, staff = 0, waited_for_nobody = 0;
    char cid[160] = "", locale[64] = "", kept[REASONS_MAX_CODES * (REASONS_CODE_MAX + 1) + 1] = "";
    if (sqlite3_step(st) == SQLITE_ROW) {
        same = sqlite3_column_int(st, 0);
        staff = sqlite3_column_int(st, 1);
        waited_for_nobody = sqlite3_column_int(st, 2);
        snprintf(cid, sizeof cid, "%s", s_col(st, 3) ? s_col(st, 3) : "");
        snprintf(locale, sizeof locale, "%s", s_col(st, 4) ? s_col(st, 4) : "");
        snprintf(kept, sizeof kept, "%s", s_col(st, 5) ? s_col(st, 5) : "");
    }
    db_finish(st);
    if (same)
        return 0;
    int opens = waited_for_nobody && !quiet;
    int staff_idx[REASONS_MAX_CODES], ns = 0;
    for (char *save = NULL, *t = staff ? strtok_r(kept, " ", &save) : NULL;
         t && ns < REASONS_MAX_CODES; t = strtok_r(NULL, " ", &save))
        if (reasons_find(r, t) >= 0)
            staff_idx[ns++] = reasons_find(r, t);
    if (ns) /* the codes staff set stay, and they pick the team and the clock */
        idx = staff_idx, n = ns;
    const reasons_reason_t *primary = reasons_get(r, (size_t)idx[0]);
    const reasons_team_t *team = reasons_team(r, primary->team);
    int64_t at = consumer_event_ms(ev);
    int64_t due = opens ? intake_hours_add(team, at, primary->target_ms) : 0;
    char codes[REASONS_MAX_CODES * (REASONS_CODE_MAX + 1) + 1];
    s_codes_text(r, idx, n, codes, sizeof codes);
    st = db_prepare(db, "UPDATE cases SET text = ?2, score = ?3,"
                        " codes = CASE WHEN ?4 THEN codes ELSE ?5 END,"
                        " reason = CASE WHEN ?4 THEN reason ELSE ?6 END,"
                        " team = CASE WHEN ?4 THEN team ELSE ?7 END,"
                        " via = CASE WHEN ?4 THEN via ELSE ?8 END,"
                        " status = CASE WHEN ?9 THEN 'open' ELSE status END,"
                        " due_at = CASE WHEN ?9 THEN ?10 ELSE due_at END,"
                        " resolved_at = CASE WHEN ?9 THEN NULL ELSE resolved_at END,"
                        " needs_review = CASE WHEN ?4 THEN needs_review ELSE ?11 END"
                        " WHERE id = ?1");
    if (!st)
        return -1;
    s_bind_answer(st, id, text, js);
    sqlite3_bind_int(st, 4, staff);
    sqlite3_bind_text(st, 5, codes, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, primary->code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, team->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, via, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 9, opens);
    sqlite3_bind_int64(st, 10, due);
    sqlite3_bind_int(st, 11, review);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    json_t *say = json_pack("{s:s,s:s,s:b}", "key", ev->key ? ev->key : "", "codes",
                            staff ? "" : codes, "waiting", opens);
    if (rc || !say || s_note_say(s, db, id, at, NULL, "answer", "intake.note_answer", say)) {
        json_decref(say);
        return -1;
    }
    json_decref(say);
    log_info("event=case_answer_changed case=%s codes=\"%s\" opens=%d", id, codes, opens);
    if (!staff && consumer_emit(c, ev, EV_FEEDBACK_TAGGED, "tagged",
                                s_tagged(r, id, *cid ? cid : NULL, "nps", idx, n, via, text,
                                         *locale ? locale : NULL, at, ev->key, NULL, review)))
        return -1;
    if (!opens)
        return 0;
    s_contact_t who;
    s_contact(db, *cid ? cid : NULL, &who);
    return s_mails(s, ev, c, "nps", id, *cid ? cid : NULL, &who, idx, *locale ? locale : NULL,
                   due, text, NULL, NULL);
}

/* A case's row as it is opened: from its complaint, cancellation or NPS
 * comment (s_open), or from intake's own journaled tagging when a replay
 * reads that source otherwise (s_tagged_open).  NULL fields stay NULL. */
typedef struct {
    const char *id, *kind, *cid, *codes, *via, *text, *locale, *order, *channel, *invite;
    const char *key; /* the source event's key, for the "opened" note */
    const reasons_reason_t *primary;
    const reasons_team_t *team;
    const json_t *score;
    int quiet; /* waits for nobody: resolved at once, no clock */
    int review;
    int64_t opened, due, source_offset;
} s_case_row_t;

/* s_case_insert - the case row and its "opened" note, unless a case with
 * that id is there already: 1 inserted, 0 there, -1 */
static int s_case_insert(intake_t *s, sqlite3 *db, const s_case_row_t *c)
{
    sqlite3_stmt *st = db_prepare(
        db, "INSERT OR IGNORE INTO cases(id, kind, customer_id, codes, reason, team, via, text,"
            " locale, order_id, channel, score, status, opened_at, due_at, resolved_at,"
            " source_offset, invite, needs_review) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
            " ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)");
    if (!st)
        return -1;
    const char *text[] = {c->id,  c->kind, c->cid,    c->codes, c->primary->code, c->team->name,
                          c->via, c->text, c->locale, c->order, c->channel};
    for (int i = 0; i < (int)(sizeof text / sizeof *text); i++)
        if (text[i])
            sqlite3_bind_text(st, i + 1, text[i], -1, SQLITE_TRANSIENT);
    if (json_is_integer(c->score))
        sqlite3_bind_int64(st, 12, json_integer_value(c->score));
    sqlite3_bind_text(st, 13, c->quiet ? "resolved" : "open", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 14, c->opened);
    if (c->quiet)
        sqlite3_bind_int64(st, 16, c->opened); /* resolved when opened */
    else
        sqlite3_bind_int64(st, 15, c->due);
    sqlite3_bind_int64(st, 17, c->source_offset);
    if (c->invite)
        sqlite3_bind_text(st, 18, c->invite, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 19, c->review);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    int inserted = rc == 0 && sqlite3_changes(db) > 0;
    db_finish(st);
    if (rc || !inserted)
        return rc;
    json_t *say = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", c->kind, "key", c->key ? c->key : "",
                            "codes", c->codes, "via", c->via, "team", c->team->name);
    rc = say ? s_note_say(s, db, c->id, c->opened, NULL, "opened", "intake.note_opened", say) : -1;
    json_decref(say);
    if (rc)
        return -1;
    s->opened++;
    return 1;
}

/* s_known_address - for a web: customer (one a public form made from an
 * address), the id of a customer of the shop with that address
 * (case-folded), the first by id: 1 with it in out, 0 when none, -1 */
static int s_known_address(sqlite3 *db, const json_t *cust, char *out, size_t len)
{
    const char *id = json_string_value(json_object_get(cust, "id"));
    const char *email = json_string_value(json_object_get(cust, "email"));
    if (!id || strncmp(id, "web:", 4) != 0 || !email || !*email)
        return 0;
    char low[330];
    contacts_lower(email, low, sizeof low);
    sqlite3_stmt *st = db_prepare(db, "SELECT id FROM customers WHERE lower(email) = ?1"
                                      " AND id NOT LIKE 'web:%' ORDER BY id LIMIT 1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, low, -1, SQLITE_TRANSIENT);
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out, len, "%s", s_col(st, 0));
        rc = 1;
    }
    db_finish(st);
    return rc;
}

/* a complaint read as praise with less confidence than this still opens a
 * case (as `other`, for review): losing a complaint costs more than a case
 * staff close as praise.  At 0.5, "the courier never rang the bell" (0.53
 * praise once the examples had grown to 15,062) was dropped; praise that
 * comes through the complaint channel reads 0.88-0.99 ("Lovely tea, fast
 * delivery", "Great service, thank you!") */
#define COMPLAINT_PRAISE_MIN 0.8

/* s_praise - a comment the tagger reads as praise: no case, no reason (so
 * no report counts it and no loop includes it), no feedback.tagged: a
 * log line.  A later answer of a survey
 * invite that already has a case leaves that case as it is. */
static int s_praise(intake_t *s, sqlite3 *db, const hark_event_t *ev, const char *kind,
                    double confidence)
{
    (void)s;
    (void)db;
    log_info("event=praise offset=%lld kind=%s confidence=%.2f", (long long)ev->offset, kind,
             confidence);
    return 0;
}

/* s_open - a complaint, cancellation or NPS comment becomes a case */
static int s_open(intake_t *s, sqlite3 *db, const hark_event_t *ev, consumer_t *c,
                  const char *kind)
{
    const json_t *p = ev->payload;
    const reasons_t *r = s->reasons;
    json_t *cust = json_object_get(p, "customer");
    const char *cid = json_string_value(json_object_get(cust ? cust : p,
                                                        cust ? "id" : "customer_id"));
    /* one person, one customer: a form's web: customer whose address Hark
     * knows under the shop's id is that customer (her case, her language,
     * one loop email) */
    char same[160];
    if (cust && s_known_address(db, cust, same, sizeof same) == 1)
        cid = same;
    else if (cust && contacts_upsert(db, cust))
        return -1;
    const char *text = json_string_value(json_object_get(p, "text"));
    const char *code = json_string_value(json_object_get(p, "reason_code"));
    const char *order = json_string_value(json_object_get(p, "order_id"));
    const char *channel = json_string_value(json_object_get(p, "channel"));
    json_t *js = json_object_get(p, "score");
    int idx[REASONS_MAX_CODES], n = 0, review = 0;
    const char *via = intake_tagger_trained(s->tagger) ? "model" : "keywords";
    int explicit = code ? reasons_find(r, code) : -1;
    if (explicit >= 0) {
        idx[n++] = explicit;
        via = "customer";
    } else {
        if (code) /* the gateway refuses these; a taxonomy changed since */
            log_warn("event=unknown_reason_code offset=%lld code=%s", (long long)ev->offset,
                     log_value(code));
        intake_tag_t tag;
        if (text && *text && intake_tagger_tag(s->tagger, text, strlen(text), &tag) == 0) {
            /* Praise opens no case, but a customer who chose to complain
             * is not dropped on a guess: a complaint the model reads as
             * praise with little confidence ("late <script>...", every
             * class a few percent) opens as `other` for staff to read. */
            int doubtful = tag.praise && strcmp(kind, "complaint") == 0 &&
                           tag.confidence < COMPLAINT_PRAISE_MIN;
            if (tag.praise && strcmp(kind, "cancellation") != 0 && !doubtful)
                return s_praise(s, db, ev, kind, tag.confidence);
            if (!tag.praise) {
                memcpy(idx, tag.idx, (size_t)tag.n * sizeof *idx);
                n = tag.n;
                review = tag.review;
            }
        }
    }
    if (n == 0) { /* no text, or a cancellation in words of praise */
        idx[n++] = reasons_other(r);
        review = 1;
    }
    const reasons_reason_t *primary = reasons_get(r, (size_t)idx[0]);
    const reasons_team_t *team = reasons_team(r, primary->team);
    s_contact_t who;
    s_contact(db, cid, &who);
    const char *locale = json_string_value(json_object_get(p, "locale"));
    if (!locale && *who.locale)
        locale = who.locale;
    int64_t opened = consumer_event_ms(ev);
    /* an NPS comment of a promoter or passive waits for no answer */
    int quiet = strcmp(kind, "nps") == 0 && json_is_integer(js) && json_integer_value(js) >= 7;
    const char *invite = strcmp(kind, "nps") == 0
                             ? json_string_value(json_object_get(p, "invite"))
                             : NULL;
    if (invite) { /* one case per survey invite */
        char prior[32] = "";
        sqlite3_stmt *q = db_prepare(db, "SELECT id FROM cases WHERE invite = ?");
        if (!q)
            return -1;
        sqlite3_bind_text(q, 1, invite, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(q) == SQLITE_ROW)
            snprintf(prior, sizeof prior, "%s", s_col(q, 0));
        db_finish(q);
        if (*prior)
            return s_nps_again(s, db, ev, c, prior, idx, n, via, quiet, review);
    }
    int64_t due = quiet ? 0 : intake_hours_add(team, opened, primary->target_ms);
    char id[32], codes[REASONS_MAX_CODES * (REASONS_CODE_MAX + 1) + 1];
    snprintf(id, sizeof id, "C%lld", (long long)ev->offset);
    s_codes_text(r, idx, n, codes, sizeof codes);
    s_case_row_t row = {.id = id, .kind = kind, .cid = cid, .codes = codes, .via = via,
                        .text = text, .locale = locale, .order = order, .channel = channel,
                        .invite = invite, .key = ev->key, .primary = primary, .team = team,
                        .score = js, .quiet = quiet, .review = review, .opened = opened,
                        .due = due, .source_offset = ev->offset};
    int rc = s_case_insert(s, db, &row);
    if (rc <= 0)
        return rc;
    log_info("event=case_opened case=%s kind=%s codes=\"%s\" via=%s team=%s needs_review=%d",
             id, kind, codes, via, team->name, review);
    if (consumer_emit(c, ev, EV_FEEDBACK_TAGGED, "tagged",
                      s_tagged(r, id, cid, kind, idx, n, via, text, locale, opened, ev->key,
                               NULL, review)))
        return -1;
    if (quiet)
        return 0;
    return s_mails(s, ev, c, kind, id, cid, &who, idx, locale, due, text, order, channel);
}

/* s_mails - a case's acknowledgement to the customer and alert to the
 * team (keys intake/<offset of ev>/ack, /alert) */
static int s_mails(intake_t *s, const hark_event_t *ev, consumer_t *c, const char *kind,
                   const char *id, const char *cid, const s_contact_t *w, const int *idx,
                   const char *locale, int64_t due, const char *text, const char *order,
                   const char *channel)
{
    const reasons_t *r = s->reasons;
    const reasons_team_t *team = reasons_team(r, reasons_get(r, (size_t)idx[0])->team);
    s_contact_t who = *w;
    char respond_by[120], staff[700];
    const char *label_en = reasons_label(r, (size_t)idx[0], NULL);
    if (cid) { /* the customer's acknowledgement, in their zone and language */
        intake_hours_format(due, *who.tz ? who.tz : team->tz, respond_by, sizeof respond_by);
        json_t *vars = json_pack("{s:s,s:s,s:s}", "case_number", id, "respond_by", respond_by,
                                 "reason_label", reasons_label(r, (size_t)idx[0], locale));
        json_t *mail = json_pack("{s:s,s:s,s:s,s:o}", "customer_id", cid, "template",
                                 "complaint_ack", "category", "complaint", "vars", vars);
        if (locale && *locale)
            json_object_set_new(mail, "locale", json_string(locale));
        if (consumer_emit(c, ev, EV_MAIL_REQUESTED, "ack", mail))
            return -1;
    }
    if (*team->email) { /* the team's alert, in the team's zone */
        intake_hours_format(due, team->tz, respond_by, sizeof respond_by);
        s_staff_url(s, id, staff, sizeof staff);
        json_t *vars = json_pack("{s:s,s:s,s:s,s:s,s:s}", "case_number", id, "reason_label",
                                 label_en, "customer_name",
                                 *who.name ? who.name : *who.email ? who.email : cid ? cid : "?",
                                 "respond_by", respond_by, "staff_url", staff);
        if (*who.email)
            json_object_set_new(vars, "customer_email", json_string(who.email));
        if (order)
            json_object_set_new(vars, "order_number", json_string(order));
        if (channel)
            json_object_set_new(vars, "channel", json_string(channel));
        if (text && *text)
            json_object_set_new(vars, "text", json_string(text));
        /* the alert names what came in: a cancellation is not a complaint */
        if (strcmp(kind, "cancellation") == 0 || strcmp(kind, "nps") == 0)
            json_object_set_new(vars, strcmp(kind, "nps") == 0 ? "nps_comment" : "cancellation",
                                json_true());
        json_t *mail = json_pack("{s:s,s:s,s:s,s:o}", "address", team->email, "template",
                                 "complaint_alert", "category", "alert", "vars", vars);
        if (mail && cid && *cid) /* whom it quotes: erased with them */
            json_object_set_new(mail, "about", json_string(cid));
        if (consumer_emit(c, ev, EV_MAIL_REQUESTED, "alert", mail))
            return -1;
    }
    return 0;
}

/* s_case_get - status, customer, kind, locale of a case; 0, or -1 when
 * there is no such case */
static int s_case_get(sqlite3 *db, const char *id, char *status, char *cid, char *kind,
                      char *locale, int *retags)
{
    sqlite3_stmt *st = id ? db_prepare(db, "SELECT status, customer_id, kind, locale, retags"
                                           " FROM cases WHERE id = ?")
                          : NULL;
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(status, 16, "%s", s_col(st, 0));
        snprintf(cid, 160, "%s", s_col(st, 1) ? s_col(st, 1) : "");
        snprintf(kind, 16, "%s", s_col(st, 2));
        snprintf(locale, 64, "%s", s_col(st, 3) ? s_col(st, 3) : "");
        *retags = sqlite3_column_int(st, 4);
        rc = 0;
    }
    db_finish(st);
    return rc;
}

/* s_case_at - run sql, an UPDATE of case id (?1) at time at (?2); 0/-1 */
static int s_case_at(sqlite3 *db, const char *sql, const char *id, int64_t at)
{
    sqlite3_stmt *st = db_prepare(db, sql);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, at);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}

/* s_changed - run sql, an UPDATE of case id (?1) with the text value (?2;
 * NULL when v is NULL): 1 when it changed the case, 0 not, -1 */
static int s_changed(sqlite3 *db, const char *sql, const char *id, const char *v)
{
    sqlite3_stmt *st = db_prepare(db, sql);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (v)
        sqlite3_bind_text(st, 2, v, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db) > 0 : -1;
    db_finish(st);
    return rc;
}

/* s_desk - case.noted, case.assigned, case.reopened: the staff's own
 * bookkeeping, which never mails the customer.  Each changes the case only
 * when it is not so already, so applying one again changes nothing. */
static int s_desk(intake_t *s, sqlite3 *db, const hark_event_t *ev, const char *id,
                  const char *by, int64_t at)
{
    const json_t *p = ev->payload;
    if (strcmp(ev->type, EV_CASE_NOTED) == 0) {
        const char *text = json_string_value(json_object_get(p, "text"));
        if (!text)
            return -1;
        int rc = s_note_once(db, id, at, by, "note", text, ev->offset);
        if (rc > 0)
            log_info("event=case_noted case=%s by=%s", log_value(id), log_value(by));
        return rc < 0 ? -1 : 0;
    }
    if (strcmp(ev->type, EV_CASE_ASSIGNED) == 0) {
        const char *who = json_string_value(json_object_get(p, "assignee"));
        if (!who)
            return -1;
        int rc = s_changed(db, "UPDATE cases SET assignee = ?2 WHERE id = ?1"
                               " AND assignee IS NOT ?2", id, *who ? who : NULL);
        if (rc <= 0)
            return rc;
        log_info("event=case_assigned case=%s assignee=%s by=%s", log_value(id),
                 log_value(who), log_value(by));
        json_t *say = json_pack("{s:s}", "assignee", who);
        rc = say ? s_note_say(s, db, id, at, by, "assigned",
                              *who ? "intake.note_assigned" : "intake.note_unassigned", say)
                 : -1;
        json_decref(say);
        return rc;
    }
    /* case.reopened: first_reply_at and due_at stay, so the first-response
     * clock goes on where it was (answered stays answered) */
    int rc = s_changed(db, "UPDATE cases SET status = 'open', resolved_at = NULL"
                           " WHERE id = ?1 AND status = 'resolved'", id, NULL);
    if (rc <= 0)
        return rc;
    log_info("event=case_reopened case=%s by=%s", log_value(id), log_value(by));
    return s_note_say(s, db, id, at, by, "reopened", "intake.note_reopened", NULL);
}

/* s_learn - a staff retag teaches the tagger: the case's text with its
 * new first code becomes a labelled example the next start trains on
 * (one per case, the latest retag's; a case without text teaches nothing) */
static int s_learn(sqlite3 *db, const char *id, const char *code, int64_t at)
{
    sqlite3_stmt *st = db_prepare(db, "INSERT OR REPLACE INTO examples(case_id, locale, code,"
                                      " text, at) SELECT id, coalesce(locale, ''), ?2, text, ?3"
                                      " FROM cases WHERE id = ?1 AND coalesce(text, '') <> ''");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, at);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    return rc;
}

/* s_staff - case.replied, case.retagged, case.resolved; the others s_desk */
static int s_staff(intake_t *s, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    const json_t *p = ev->payload;
    const char *id = json_string_value(json_object_get(p, "case"));
    const char *by = json_string_value(json_object_get(p, "by"));
    char status[16], cid[160], kind[16], locale[64];
    int retags = 0;
    if (s_case_get(db, id, status, cid, kind, locale, &retags)) {
        log_warn("event=case_unknown type=%s case=%s", ev->type, log_value(id));
        return 0;
    }
    int64_t at = consumer_event_ms(ev);
    if (strcmp(ev->type, EV_CASE_NOTED) == 0 || strcmp(ev->type, EV_CASE_ASSIGNED) == 0 ||
        strcmp(ev->type, EV_CASE_REOPENED) == 0)
        return s_desk(s, db, ev, id, by, at);
    if (strcmp(ev->type, EV_CASE_REPLIED) == 0) {
        const char *message = json_string_value(json_object_get(p, "message"));
        if (!message)
            return -1;
        const char *why = intake_store_unreachable(db, *cid ? cid : NULL);
        if (why) { /* kept, but nobody was answered: the clock runs on */
            log_warn("event=reply_not_sent case=%s why=%s by=%s", log_value(id), why,
                     log_value(by));
            if (s_note(db, id, at, by, "reply", message))
                return -1;
            return s_note_say(s, db, id, at, NULL, "note",
                              strcmp(why, "no_customer") == 0 ? "intake.note_no_customer"
                                                              : "intake.note_reply_unsent",
                              NULL);
        }
        /* the first reply stops the first-response clock */
        int rc = s_case_at(db, "UPDATE cases SET first_reply_at = coalesce(first_reply_at, ?2),"
                               " status = CASE status WHEN 'resolved' THEN status"
                               " ELSE 'waiting' END WHERE id = ?1", id, at);
        if (rc || intake_store_response_fill(db, s->reasons, id, 1) < 0 ||
            s_note(db, id, at, by, "reply", message))
            return -1;
        log_info("event=case_replied case=%s by=%s", log_value(id), log_value(by));
        json_t *vars = json_pack("{s:s,s:s}", "case_number", id, "reply", message);
        json_t *mail = json_pack("{s:s,s:s,s:s,s:o}", "customer_id", cid, "template",
                                 "complaint_reply", "category", "complaint", "vars", vars);
        if (*locale)
            json_object_set_new(mail, "locale", json_string(locale));
        return consumer_emit(c, ev, EV_MAIL_REQUESTED, "reply", mail);
    }
    if (strcmp(ev->type, EV_CASE_RESOLVED) == 0) {
        int rc = s_case_at(db, "UPDATE cases SET status = 'resolved', resolved_at = ?2"
                               " WHERE id = ?1 AND status <> 'resolved'", id, at);
        log_info("event=case_resolved case=%s by=%s", log_value(id), log_value(by));
        return rc ? -1 : s_note_say(s, db, id, at, by, "resolved", "intake.note_resolved", NULL);
    }
    /* case.retagged: the staff's codes replace the case's */
    const reasons_t *r = s->reasons;
    int idx[REASONS_MAX_CODES], n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(p, "codes"), i, v) {
        int k = reasons_find(r, json_string_value(v));
        int dup = 0;
        for (int j = 0; j < n; j++)
            dup |= idx[j] == k;
        if (k < 0) {
            log_warn("event=retag_unknown_code case=%s code=%s", log_value(id),
                     log_value(json_string_value(v)));
            return 0; /* the CLI and gateway check codes; skip, change nothing */
        }
        if (!dup && n < REASONS_MAX_CODES)
            idx[n++] = k;
    }
    if (n == 0)
        return -1;
    char codes[REASONS_MAX_CODES * (REASONS_CODE_MAX + 1) + 1];
    s_codes_text(r, idx, n, codes, sizeof codes);
    const reasons_reason_t *primary = reasons_get(r, (size_t)idx[0]);
    const reasons_team_t *team = reasons_team(r, primary->team);
    /* the team follows the first code; the deadline stays (the customer
     * was told when they will hear back) */
    sqlite3_stmt *st = db_prepare(db, "UPDATE cases SET codes = ?2, reason = ?3, team = ?4,"
                                      " via = 'staff', retags = retags + 1, needs_review = 0"
                                      " WHERE id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, codes, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, primary->code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, team->name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    if (rc == 0)
        rc = s_learn(db, id, primary->code, at);
    json_t *say = json_pack("{s:s,s:s}", "codes", codes, "team", team->name);
    if (rc || !say || s_note_say(s, db, id, at, by, "retag", "intake.note_retagged", say)) {
        json_decref(say);
        return -1;
    }
    json_decref(say);
    /* the contract's key for a retag: intake/retag/<case>/<n> */
    char key[128];
    snprintf(key, sizeof key, "intake/retag/%s/%d", id, retags + 1);
    json_t *t = s_tagged(r, id, *cid ? cid : NULL, kind, idx, n, "staff", NULL, locale, at,
                         ev->key, by, 0);
    rc = t ? outbox_add(db, EV_FEEDBACK_TAGGED, key, t) : -1;
    json_decref(t);
    log_info("event=case_retagged case=%s codes=\"%s\" by=%s", id, codes, by ? by : "");
    return rc;
}

/* s_loop - loop.notified: the customer's still-open cases get "loop closed" */
static int s_loop(intake_t *s, sqlite3 *db, const hark_event_t *ev)
{
    const json_t *p = ev->payload;
    const char *loop = json_string_value(json_object_get(p, "loop"));
    const char *reason = json_string_value(json_object_get(p, "reason"));
    const char *cid = json_string_value(json_object_get(p, "customer_id"));
    int64_t at = consumer_event_ms(ev);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(p, "cases"), i, v) {
        const char *id = json_string_value(v);
        sqlite3_stmt *st = db_prepare(db, "UPDATE cases SET loop_closed = 1 WHERE id = ?1"
                                          " AND status <> 'resolved' AND loop_closed = 0"
                                          " AND customer_id = ?2");
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, cid, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        int changed = rc == 0 && sqlite3_changes(db) > 0;
        db_finish(st);
        if (rc)
            return -1;
        if (!changed)
            continue;
        json_t *say =
            json_pack("{s:s,s:s}", "reason", reason ? reason : "?", "loop", loop ? loop : "?");
        rc = say ? s_note_say(s, db, id, at, "loop", "loop_closed", "intake.note_loop_closed", say)
                 : -1;
        json_decref(say);
        if (rc)
            return -1;
        log_info("event=case_loop_closed case=%s loop=%s", log_value(id), log_value(loop));
    }
    return 0;
}

/* s_journaled_codes - the codes of a feedback.tagged payload that the
 * taxonomy knows, best first, into idx (at most REASONS_MAX_CODES): their
 * number, 0 when none is known */
static int s_journaled_codes(const reasons_t *r, const json_t *codes, int *idx)
{
    int n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(codes, i, v) {
        int k = reasons_find(r, json_string_value(v));
        int dup = 0;
        for (int j = 0; j < n; j++)
            dup |= idx[j] == k;
        if (k >= 0 && !dup && n < REASONS_MAX_CODES)
            idx[n++] = k;
    }
    return n;
}

/* s_tagged_open - a journaled tagging of a case this intake.db lacks: the
 * replay read its source as praise (an erased text reads "[erased]"), but
 * the intake that journaled it opened a case, so open it as it did (no
 * mails: those it journaled then).  The tagging does not say an NPS score:
 * an NPS case opened here waits for nobody, as a promoter's does. */
static int s_tagged_open(intake_t *s, sqlite3 *db, const char *id, const json_t *p,
                         const int *idx, int n, int64_t given)
{
    const reasons_t *r = s->reasons;
    const char *kind = json_string_value(json_object_get(p, "kind"));
    const char *via = json_string_value(json_object_get(p, "via"));
    const char *cid = json_string_value(json_object_get(p, "customer_id"));
    const char *text = json_string_value(json_object_get(p, "text"));
    const char *locale = json_string_value(json_object_get(p, "locale"));
    const char *source = json_string_value(json_object_get(p, "source_key"));
    char *end = NULL;
    long long offset = id[0] == 'C' ? strtoll(id + 1, &end, 10) : -1;
    if (!kind || !via || offset < 0 || !end || *end)
        return 0; /* not a case this intake opened from a journal event */
    const reasons_reason_t *primary = reasons_get(r, (size_t)idx[0]);
    const reasons_team_t *team = reasons_team(r, primary->team);
    int quiet = strcmp(kind, "nps") == 0;
    char codes[REASONS_MAX_CODES * (REASONS_CODE_MAX + 1) + 1];
    s_codes_text(r, idx, n, codes, sizeof codes);
    s_case_row_t row = {.id = id, .kind = kind, .cid = cid, .codes = codes, .via = via,
                        .text = text, .locale = locale, .key = source, .primary = primary,
                        .team = team, .quiet = quiet, .opened = given,
                        .due = quiet ? 0 : intake_hours_add(team, given, primary->target_ms),
                        .source_offset = offset,
                        .review = json_is_true(json_object_get(p, "needs_review"))};
    int rc = s_case_insert(s, db, &row);
    if (rc <= 0)
        return rc;
    log_info("event=case_opened_from_journal case=%s kind=%s codes=\"%s\"", id, kind, codes);
    return 0;
}

/* s_tagged_apply - feedback.tagged, intake's own: what it decided when it
 * journaled the tagging wins over deciding again.  Live the case already
 * holds these codes and nothing changes; on a replay after an erasure the
 * source reads "[erased]" and the tagger may read it otherwise, so the
 * journaled codes, reason, team, via and needs_review are set back.  A
 * first tagging's deadline follows its team, as when it was opened (from
 * given_at); a staff retag keeps the deadline, as case.retagged does.
 * Intake's own tagging is journaled after the event it tags, so a staff
 * retag can come between the two: a tagging of intake's never undoes
 * staff's codes (in the journal's order, live and on a replay alike). */
static int s_tagged_apply(intake_t *s, sqlite3 *db, const hark_event_t *ev)
{
    const json_t *p = ev->payload;
    const reasons_t *r = s->reasons;
    const char *id = json_string_value(json_object_get(p, "case"));
    const char *via = json_string_value(json_object_get(p, "via"));
    const char *given_s = json_string_value(json_object_get(p, "given_at"));
    int64_t given = 0;
    if (!ev->key || strncmp(ev->key, "intake/", 7) != 0)
        return 0; /* not intake's decision (a test's, an import's) */
    if (!id || !via || !given_s || clock_parse(given_s, &given))
        return -1;
    int idx[REASONS_MAX_CODES];
    int n = s_journaled_codes(r, json_object_get(p, "codes"), idx);
    if (n == 0) { /* a taxonomy changed since: the case keeps what it has */
        log_warn("event=tagged_unknown_codes case=%s", log_value(id));
        return 0;
    }
    sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM cases WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int exists = sqlite3_step(st) == SQLITE_ROW;
    db_finish(st);
    if (!exists)
        return s_tagged_open(s, db, id, p, idx, n, given);
    char codes[REASONS_MAX_CODES * (REASONS_CODE_MAX + 1) + 1];
    s_codes_text(r, idx, n, codes, sizeof codes);
    const reasons_reason_t *primary = reasons_get(r, (size_t)idx[0]);
    const reasons_team_t *team = reasons_team(r, primary->team);
    int first = strcmp(via, "staff") != 0;
    st = db_prepare(
        db, "UPDATE cases SET codes = ?2, reason = ?3, team = ?4, via = ?5, needs_review = ?6,"
            " due_at = CASE WHEN ?7 AND due_at IS NOT NULL AND codes IS NOT ?2 THEN ?8"
            " ELSE due_at END"
            " WHERE id = ?1 AND NOT (?7 AND via = 'staff')" /* staff's codes stay */
            " AND (codes IS NOT ?2 OR reason IS NOT ?3 OR team IS NOT ?4"
            " OR via IS NOT ?5 OR needs_review IS NOT ?6)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, codes, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, primary->code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, team->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, via, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, json_is_true(json_object_get(p, "needs_review")));
    sqlite3_bind_int(st, 7, first);
    sqlite3_bind_int64(st, 8, intake_hours_add(team, given, primary->target_ms));
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    int changed = rc == 0 && sqlite3_changes(db) > 0;
    db_finish(st);
    if (changed)
        log_info("event=case_codes_from_journal case=%s codes=\"%s\" via=%s", id, codes, via);
    return rc;
}

/* s_woken - rc, after waking the breach timer: a new case may be due
 * sooner, and the timer also flushes what a retag queued */
static int s_woken(service_t *svc, int rc)
{
    intake_t *s = service_state(svc);
    evloop_timer_at(service_evloop(svc), s->due_timer, 0);
    return rc;
}

/* intake_case_customer - customer: the contact copy */
int intake_case_customer(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_upsert(db, ev->payload);
}

/* intake_case_complaint - complaint, cancellation: open a case of that kind */
int intake_case_complaint(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    return s_woken(svc, s_open(service_state(svc), db, ev, c, ev->type));
}

/* intake_case_feedback - feedback.given (an NPS comment): open an nps case */
int intake_case_feedback(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    return s_woken(svc, s_open(service_state(svc), db, ev, c, "nps"));
}

/* intake_case_staff - case.replied, case.retagged, case.resolved,
 * case.noted, case.assigned, case.reopened: staff at work */
int intake_case_staff(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    return s_woken(svc, s_staff(service_state(svc), db, ev, c));
}

/* intake_case_tagged - feedback.tagged: intake's own journaled codes win
 * over tagging a replayed text again */
int intake_case_tagged(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    return s_woken(svc, s_tagged_apply(service_state(svc), db, ev));
}

/* intake_case_bounced - mail.bounced: a reply to that address is refused */
int intake_case_bounced(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_suppress(db, json_string_value(json_object_get(ev->payload, "address")),
                             "bounced");
}

/* intake_case_unsuppressed - customer.unsuppressed: staff say the address
 * works again, so a reply to it is allowed */
int intake_case_unsuppressed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                             consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_unsuppress(db, json_string_value(json_object_get(ev->payload, "address")));
}

/* intake_case_loop_notified - loop.notified: the customer's open cases noted */
int intake_case_loop_notified(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                              consumer_t *c)
{
    (void)c;
    return s_woken(svc, s_loop(service_state(svc), db, ev));
}

typedef struct {
    char id[65], reason[REASONS_CODE_MAX + 1], team[64], cid[160];
    int64_t opened, due;
} s_due_t;

/* s_breach_one - the complaint_breach of one case into the outbox */
static int s_breach_one(intake_t *s, sqlite3 *db, const s_due_t *row, int64_t now)
{
    const char *id = row->id;
    const char *reason = row->reason;
    int ti = reasons_team_find(s->reasons, row->team);
    const reasons_team_t *team = reasons_team(s->reasons, ti);
    int64_t opened = row->opened, due = row->due;
    sqlite3_stmt *st = db_prepare(db, "UPDATE cases SET breach_alerted = 1 WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    if (rc || s_note_say(s, db, id, now, NULL, "breach", "intake.note_breach", NULL))
        return -1;
    log_info("event=case_breached case=%s team=%s", id, team ? team->name : "?");
    if (!team || !*team->email)
        return 0;
    s_contact_t who;
    s_contact(db, *row->cid ? row->cid : NULL, &who);
    char respond_by[120], opened_s[120], staff[700], overdue[64], key[128];
    intake_hours_format(due, team->tz, respond_by, sizeof respond_by);
    intake_hours_format(opened, team->tz, opened_s, sizeof opened_s);
    /* staff mails go out in the default locale (they carry none) */
    long long late = (now - due) / 60000;
    json_t *by = json_pack("{s:I,s:I}", "hours", (json_int_t)(late / 60), "minutes",
                           (json_int_t)(late >= 60 ? late % 60 : late));
    char *o = by ? words_text(s->words, words_locale(s->words, NULL),
                              late >= 60 ? "intake.overdue_hours" : "intake.overdue_minutes", by)
                 : NULL;
    snprintf(overdue, sizeof overdue, "%s", o ? o : "?");
    free(o);
    json_decref(by);
    s_staff_url(s, id, staff, sizeof staff);
    int ri = reasons_find(s->reasons, reason);
    json_t *vars = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "case_number", id, "customer_name",
        *who.name ? who.name : *who.email ? who.email : *row->cid ? row->cid : "?",
        "reason_label", ri >= 0 ? reasons_label(s->reasons, (size_t)ri, NULL) : reason, "opened",
        opened_s, "respond_by", respond_by, "team", team->name, "overdue", overdue, "staff_url",
        staff);
    if (*who.email)
        json_object_set_new(vars, "customer_email", json_string(who.email));
    json_t *mail = json_pack("{s:s,s:s,s:s,s:o}", "address", team->email, "template",
                             "complaint_breach", "category", "alert", "vars", vars);
    if (mail && *row->cid) /* whom it names: erased with them */
        json_object_set_new(mail, "about", json_string(row->cid));
    snprintf(key, sizeof key, "intake/breach/%s", id);
    rc = mail ? outbox_add(db, EV_MAIL_REQUESTED, key, mail) : -1;
    json_decref(mail);
    return rc;
}

/* intake_case_breaches - alert the cases past their first-response deadline; flush
 * the outbox */
int intake_case_breaches(evloop_t *loop, void *arg)
{
    service_t *svc = arg;
    intake_t *s = service_state(svc);
    sqlite3 *db = service_db(svc);
    int64_t now = clock_now_ms();
    service_flush_outbox(svc);
    long long next = db_int(db, "SELECT min(due_at) FROM cases WHERE first_reply_at IS NULL"
                                " AND breach_alerted = 0 AND status <> 'resolved'",
                            -1);
    if (next < 0 || next > now) {
        /* timers run on the monotonic clock, deadlines on clock_now_ms
         * (which tests move): never sleep longer than the timer's second */
        if (next >= 0 && next - now < 1000)
            evloop_timer_at(loop, s->due_timer, next - now);
        return 0;
    }
    /* a reply the journal recorded in time may still wait in the consumer's
     * backlog (a burst, a restart): apply what is there before deciding,
     * one batch per round so the loop stays responsive */
    int caught_up = consumer_caught_up(service_consumer(svc));
    if (caught_up <= 0) {
        if (caught_up == 0)
            evloop_timer_at(loop, s->due_timer, 0);
        return 0;
    }
    if (db_begin(db))
        return 0;
    sqlite3_stmt *st = db_prepare(db, "SELECT id, reason, team, opened_at, due_at, customer_id"
                                      " FROM cases WHERE first_reply_at IS NULL AND"
                                      " breach_alerted = 0 AND status <> 'resolved' AND"
                                      " due_at <= ?1 ORDER BY due_at LIMIT ?2");
    /* read the batch first, then update: no row changes under a running
     * SELECT on the same table */
    s_due_t *due = calloc(BREACH_BATCH, sizeof *due);
    int bad = !st || !due, n = 0;
    if (!bad) {
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int(st, 2, BREACH_BATCH);
        while (n < BREACH_BATCH && sqlite3_step(st) == SQLITE_ROW) {
            s_due_t *d = &due[n++];
            snprintf(d->id, sizeof d->id, "%s", s_col(st, 0));
            snprintf(d->reason, sizeof d->reason, "%s", s_col(st, 1));
            snprintf(d->team, sizeof d->team, "%s", s_col(st, 2));
            d->opened = sqlite3_column_int64(st, 3);
            d->due = sqlite3_column_int64(st, 4);
            snprintf(d->cid, sizeof d->cid, "%s", s_col(st, 5) ? s_col(st, 5) : "");
        }
    }
    db_finish(st);
    for (int i = 0; i < n && !bad; i++)
        bad = s_breach_one(s, db, &due[i], now);
    free(due);
    if (bad || db_commit(db)) {
        db_rollback(db);
        return 0;
    }
    service_flush_outbox(svc);
    if (n)
        evloop_timer_at(loop, s->due_timer, 0); /* there may be more */
    return 0;
}
