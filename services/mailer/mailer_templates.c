/*
 * mailer_templates.c - email templates edited without a restart: the
 * template.saved versions in mailer.db, MAILER_TEMPLATES on [mailer]
 * control, and the workers' renderers kept up to date.
 *
 * The store is the truth: the consumer numbers each template.saved of a
 * (locale, name) 1, 2, 3... in template_versions (so a rebuild from the
 * journal numbers them alike), and each worker, before each batch, asks
 * its own connection whether a row newer than the last it applied exists;
 * if so it hands those rows' texts to its renderer (render_set_source), in
 * order.  The main thread never has to reach into the workers, and a
 * worker that starts later (or after a restart) catches up the same way.
 * A version with no source is "back to the file".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "mailer.h"
#include "render.h"
#include "template_saved.h"

/* s_render - a renderer over [mailer] templates, to list and check (the
 * main thread's own, for one call; the caller destroys it) */
static render_t *s_render(service_t *svc)
{
    mailer_t *m = service_state(svc);
    char err[256];
    render_t *r = m ? render_new(m->conf.pool.templates, m->conf.pool.default_locale, err,
                                 sizeof err)
                    : NULL;
    if (m && !r)
        log_error("event=render_init_failed error=\"%s\"", err);
    return r;
}

/* mailer_apply_template - template.saved: the next version of (locale,
 * name).  One that names no template or does not compile (the producers
 * check, but the journal is anyone's) is logged and kept out of the
 * history. */
int mailer_apply_template(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    const json_t *p = ev->payload;
    const char *locale = json_string_value(json_object_get(p, "locale"));
    const char *name = json_string_value(json_object_get(p, "name"));
    const char *src = json_string_value(json_object_get(p, "source"));
    char field[64] = "", msg[300] = "";
    render_t *r = s_render(svc);
    int ok = r && template_saved_known(r, locale, name, field, sizeof field, msg, sizeof msg) &&
             (!src || render_check_source(src, msg, sizeof msg, NULL) == 0);
    render_destroy(&r);
    if (!ok) {
        log_error("event=template_refused offset=%lld locale=%s name=%s error=\"%s\"",
                  (long long)ev->offset, log_value(locale), log_value(name), log_value(msg));
        return 0;
    }
    sqlite3_stmt *st = db_prepare(
        db, "INSERT INTO template_versions(locale, name, version, source, by, restored_from,"
            " offset, saved_at) SELECT ?1, ?2, coalesce(max(version), 0) + 1, ?3, ?4, ?5, ?6, ?7"
            " FROM template_versions WHERE locale = ?1 AND name = ?2"
            " ON CONFLICT(offset) DO NOTHING");
    if (!st)
        return -1;
    int64_t at = 0;
    if (!ev->recorded_at || clock_parse(ev->recorded_at, &at))
        at = clock_now_ms();
    const json_t *rf = json_object_get(p, "restored_from");
    sqlite3_bind_text(st, 1, locale, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    if (src)
        sqlite3_bind_text(st, 3, src, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, json_string_value(json_object_get(p, "by")), -1, SQLITE_TRANSIENT);
    if (rf)
        sqlite3_bind_int64(st, 5, json_integer_value(rf));
    sqlite3_bind_int64(st, 6, ev->offset);
    sqlite3_bind_int64(st, 7, at);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    db_finish(st);
    if (rc == 0)
        log_info("event=template_saved locale=%s name=%s by=%s default=%d", locale, name,
                 log_value(json_string_value(json_object_get(p, "by"))), src == NULL);
    return rc;
}

/* mailer_templates_sync - see mailer.h */
void mailer_templates_sync(sqlite3 *db, render_t *r, int64_t *seen)
{
    if (!db || !r)
        return;
    sqlite3_stmt *st = db_prepare(db, "SELECT id, locale, name, source FROM template_versions"
                                      " WHERE id > ? ORDER BY id");
    if (!st)
        return;
    sqlite3_bind_int64(st, 1, *seen);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char err[300];
        const char *locale = (const char *)sqlite3_column_text(st, 1);
        const char *name = (const char *)sqlite3_column_text(st, 2);
        const char *src = (const char *)sqlite3_column_text(st, 3);
        if (render_set_source(r, locale, name, src, err, sizeof err))
            log_error("event=template_not_applied locale=%s name=%s error=\"%s\"", locale, name,
                      log_value(err));
        *seen = sqlite3_column_int64(st, 0);
    }
    db_finish(st);
}

/* s_version - one row of template_versions as a history item; with_source
 * adds its text */
static json_t *s_version(sqlite3_stmt *st, int with_source)
{
    char at[40];
    json_t *v = json_pack("{s:I,s:s,s:s,s:I,s:b}", "version",
                          (json_int_t)sqlite3_column_int64(st, 0), "by",
                          (const char *)sqlite3_column_text(st, 1), "saved_at",
                          clock_format(sqlite3_column_int64(st, 2), at, sizeof at), "offset",
                          (json_int_t)sqlite3_column_int64(st, 3), "default",
                          sqlite3_column_type(st, 4) == SQLITE_NULL);
    if (v && sqlite3_column_type(st, 5) != SQLITE_NULL)
        json_object_set_new(v, "restored_from", json_integer(sqlite3_column_int64(st, 5)));
    if (v && with_source && sqlite3_column_type(st, 4) != SQLITE_NULL)
        json_object_set_new(v, "source", json_string((const char *)sqlite3_column_text(st, 4)));
    return v;
}

#define S_VERSION_COLS "version, by, saved_at, offset, source, restored_from"

/* s_has_file - whether <templates>/<locale>/<name>.md exists */
static int s_has_file(service_t *svc, const char *locale, const char *name)
{
    mailer_t *m = service_state(svc);
    char path[4200];
    int n = snprintf(path, sizeof path, "%s/%s/%s.md", m->conf.pool.templates, locale, name);
    return n > 0 && (size_t)n < sizeof path && access(path, R_OK) == 0;
}

/* s_current - the newest version of (locale, name) into item: version
 * (0: never saved), by, saved_at, default */
static void s_current(sqlite3 *db, json_t *item, const char *locale, const char *name)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT " S_VERSION_COLS " FROM template_versions"
                                      " WHERE locale = ? AND name = ? ORDER BY version DESC"
                                      " LIMIT 1");
    if (!st)
        return;
    sqlite3_bind_text(st, 1, locale, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        json_t *v = s_version(st, 0);
        json_object_update(item, v);
        json_decref(v);
    } else {
        json_object_set_new(item, "version", json_integer(0));
        json_object_set_new(item, "default", json_true());
    }
    db_finish(st);
}

/* s_one - MAILER_TEMPLATES for one (locale, name): its history and the
 * text of one version (version 0: the file; absent: the current one) */
static json_t *s_one(service_t *svc, render_t *r, const char *locale, const char *name,
                     const json_t *want, service_err_t *err)
{
    char field[64], msg[300];
    if (!template_saved_known(r, locale, name, field, sizeof field, msg, sizeof msg))
        return service_fail(err, "not_found", "%s", msg);
    sqlite3 *db = service_db(svc);
    json_t *item = json_pack("{s:s,s:s,s:b}", "name", name, "locale", locale, "file",
                             s_has_file(svc, locale, name));
    s_current(db, item, locale, name);
    json_t *history = json_array();
    sqlite3_stmt *st = db_prepare(db, "SELECT " S_VERSION_COLS " FROM template_versions"
                                      " WHERE locale = ? AND name = ? ORDER BY version DESC");
    json_int_t shown = want ? json_integer_value(want)
                            : json_integer_value(json_object_get(item, "version"));
    json_t *source = NULL;
    if (st) {
        sqlite3_bind_text(st, 1, locale, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *v = s_version(st, 0);
            json_array_append_new(history, v);
            if (sqlite3_column_int64(st, 0) == shown && sqlite3_column_type(st, 4) != SQLITE_NULL)
                source = json_string((const char *)sqlite3_column_text(st, 4));
            else if (sqlite3_column_int64(st, 0) == shown)
                shown = 0; /* that version is "the file" */
        }
        db_finish(st);
    }
    if (shown > 0 && !source) {
        json_decref(item);
        json_decref(history);
        return service_fail(err, "not_found", "%s/%s has no version %lld", locale, name,
                            (long long)shown);
    }
    if (!source) {
        char *text = NULL;
        if (render_source_text(r, locale, name, &text, msg, sizeof msg) == 0)
            source = json_string(text);
        free(text);
    }
    json_t *out = json_pack("{s:[o],s:o,s:I}", "templates", item, "history", history,
                            "version", shown);
    if (source)
        json_object_set_new(out, "source", source);
    return out;
}

/* mailer_control_templates - MAILER_TEMPLATES {locale?, name?, version?} */
json_t *mailer_control_templates(service_t *svc, const json_t *req, service_err_t *err)
{
    const char *locale = json_string_value(json_object_get(req, "locale"));
    const char *name = json_string_value(json_object_get(req, "name"));
    render_t *r = s_render(svc);
    if (!r)
        return service_fail(err, "unavailable", "the templates folder cannot be read");
    json_t *out = NULL;
    if (name || locale) {
        if (!name || !locale)
            out = service_fail(err, "invalid_request", "name and locale go together");
        else
            out = s_one(svc, r, locale, name, json_object_get(req, "version"), err);
        render_destroy(&r);
        return out;
    }
    json_t *names = json_array(), *list = json_array(), *v;
    const char *locs[64];
    size_t nl = render_locales(r, locs, 64), i;
    render_templates(r, names);
    json_array_foreach(names, i, v) {
        for (size_t k = 0; k < nl; k++) {
            const char *n = json_string_value(v);
            json_t *item = json_pack("{s:s,s:s,s:b}", "name", n, "locale", locs[k], "file",
                                     s_has_file(svc, locs[k], n));
            s_current(service_db(svc), item, locs[k], n);
            json_array_append_new(list, item);
        }
    }
    json_decref(names);
    render_destroy(&r);
    return json_pack("{s:o}", "templates", list);
}
