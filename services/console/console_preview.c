/*
 * console_preview.c - the reply's preview and drafts, for the case page
 * (console_cases.c answers POST /cases/ID/preview with them):
 *
 * The preview is the email the customer would get: hark-intake turns a
 * case.replied into mail.requested for template complaint_reply with
 * {case_number, reply} in the case's language, and hark-mailer adds the
 * customer's name and [mailer] shop_name, then renders it with the shared
 * renderer (common/render.c).  This does the same, with the same renderer
 * over the same templates, so the subject, the text part and the HTML
 * part are the mailer's own: the staff's Markdown rendered in cmark's safe
 * mode, whatever the customer wrote escaped.  The page shows them as text
 * (console_page: every {{value}} escaped), the HTML part as its source:
 * never as markup of the console's page, and no frame (the CSP has none).
 *
 * Drafts: console.db keeps one reply draft per account per case, saved
 * when its author previews (the button, or the live preview as they type:
 * templates/console/console.js), shown again in the reply form, and
 * deleted when the reply is sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "console.h"
#include "db.h"
#include "log.h"
#include "render.h"

#define S(o, k) json_string_value(json_object_get((o), (k)))

/* s_render_free - the render key's destructor */
static void s_render_free(void *p)
{
    render_t *rd = p;
    render_destroy(&rd);
}

int console_preview_init(console_t *con)
{
    return pthread_key_create(&con->render_key, s_render_free) ? -1 : 0;
}

void console_preview_fini(console_t *con)
{
    pthread_key_delete(con->render_key);
}

/* s_renderer - this thread's renderer (a render_t is one thread's), made
 * on first use; NULL (logged) when the templates will not load */
static render_t *s_renderer(console_t *con)
{
    render_t *rd = pthread_getspecific(con->render_key);
    if (!rd) {
        char err[300];
        rd = render_new(con->conf.templates, con->conf.default_locale, err, sizeof err);
        if (!rd)
            log_error("event=render_failed error=\"%s\"", err);
        else if (pthread_setspecific(con->render_key, rd))
            render_destroy(&rd);
    }
    return rd;
}

json_t *console_preview_mail(console_req_t *r, const json_t *c, const char *message)
{
    render_t *rd = s_renderer(r->con);
    if (!rd)
        return NULL;
    /* what hark-intake puts in mail.requested, then what the mailer adds */
    json_t *vars = json_pack("{s:s,s:s,s:s}", "case_number", S(c, "id") ? S(c, "id") : "",
                             "reply", message, "shop_name",
                             config_get(r->con->cfg, "mailer", "shop_name"));
    const char *name = S(json_object_get(c, "customer"), "name");
    if (name && *name)
        json_object_set_new(vars, "name", json_string(name));
    const char *locale = S(c, "locale");
    rendered_t out;
    char err[300];
    json_t *mail = NULL;
    if (render_message(rd, "complaint_reply", locale && *locale ? locale : NULL, vars, &out, err,
                       sizeof err) == 0) {
        mail = json_pack("{s:s,s:s,s:s,s:s,s:s}", "subject", out.subject, "preheader",
                         out.preheader, "text", out.text, "html", out.html, "locale",
                         out.locale_used);
        render_message_free(&out);
    } else {
        log_warn("event=preview_failed case=%s error=\"%s\"", log_value(S(c, "id")), err);
    }
    json_decref(vars);
    return mail;
}

char *console_draft_get(console_req_t *r, const char *id, int64_t *saved)
{
    console_t *con = r->con;
    char *text = NULL;
    pthread_mutex_lock(&con->db_lock);
    sqlite3_stmt *st = db_prepare(con->db, "SELECT text, saved_at FROM drafts"
                                           " WHERE user = ? AND case_id = ?");
    if (st) {
        sqlite3_bind_text(st, 1, r->user.name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            text = strdup((const char *)sqlite3_column_text(st, 0));
            *saved = sqlite3_column_int64(st, 1);
        }
        db_finish(st);
    }
    pthread_mutex_unlock(&con->db_lock);
    return text;
}

void console_draft_put(console_req_t *r, const char *id, const char *text)
{
    if (!*text) {
        console_draft_clear(r, id);
        return;
    }
    console_t *con = r->con;
    pthread_mutex_lock(&con->db_lock);
    sqlite3_stmt *st = db_prepare(con->db, "INSERT INTO drafts(user, case_id, text, saved_at)"
                                           " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(user, case_id)"
                                           " DO UPDATE SET text = ?3, saved_at = ?4");
    int ok = st != NULL;
    if (st) {
        sqlite3_bind_text(st, 1, r->user.name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, clock_now_ms());
        ok = sqlite3_step(st) == SQLITE_DONE;
        db_finish(st);
    }
    if (!ok)
        log_warn("event=db_error op=draft_put error=\"%s\"", sqlite3_errmsg(con->db));
    pthread_mutex_unlock(&con->db_lock);
}

void console_draft_clear(console_req_t *r, const char *id)
{
    console_t *con = r->con;
    pthread_mutex_lock(&con->db_lock);
    sqlite3_stmt *st = db_prepare(con->db, "DELETE FROM drafts WHERE user = ? AND case_id = ?");
    if (st) {
        sqlite3_bind_text(st, 1, r->user.name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_step(st);
        db_finish(st);
    }
    pthread_mutex_unlock(&con->db_lock);
}
