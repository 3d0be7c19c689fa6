/*
 * console_page.c - the console's pages: Mustache templates from
 * <[mailer] templates>/console/ (read once at start), the words of
 * templates/<locale>/words.json's "console" object, one layout, one
 * stylesheet.
 *
 * Every {{value}} is HTML-escaped by the template engine (mustache.c's
 * default escaper), so customer text shows as text and never becomes markup
 * or a link; the templates use {{{…}}} only for the page body the layout
 * wraps, which is itself a rendered template.  Templates are compiled per
 * render: a compiled mustache_t caches partials and must not be shared
 * between the HTTP threads, and compiling these small files costs
 * microseconds.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "log.h"
#include "mustache.h"
#include "words.h"

/* s_read - a whole file, NUL-terminated (caller frees); NULL when unreadable */
static char *s_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf_t b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    if (buf_failed(&b)) {
        buf_free(&b);
        return NULL;
    }
    buf_putc(&b, '\0');
    return buf_release(&b);
}

/* the templates a console needs; a missing one stops it at start */
static const char *const s_needed[] = {"layout", "login", "cases", "case", "error",
                                      "users", "welcome", NULL};

int console_page_init(console_t *con)
{
    char err[600], path[1024];
    const char *dir = con->conf.templates;
    con->words = words_load(dir, con->conf.default_locale, err, sizeof err);
    if (!con->words) {
        log_error("event=bad_words error=\"%s\"", err);
        return -1;
    }
    /* the console's words are the keys of the fallback's "console" object */
    snprintf(path, sizeof path, "%s/%s/words.json", dir, con->conf.default_locale);
    json_t *all = json_load_file(path, 0, NULL);
    json_t *cw = json_object_get(all, "console");
    con->word_keys = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(cw, k, v) json_array_append_new(con->word_keys, json_string(k));
    json_decref(all);
    if (json_array_size(con->word_keys) == 0) {
        log_error("event=bad_words error=\"%s has no console words\"", path);
        return -1;
    }
    snprintf(path, sizeof path, "%s/console", dir);
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d)) && con->n_pages < CONSOLE_PAGE_MAX) {
        size_t nl = strlen(de->d_name);
        if (nl < 6 || strcmp(de->d_name + nl - 5, ".html") != 0)
            continue;
        snprintf(path, sizeof path, "%s/console/%s", dir, de->d_name);
        char *text = s_read(path);
        mustache_t *t = text ? mustache_new(text, err, sizeof err) : NULL;
        if (!t) {
            log_error("event=bad_template path=%s error=\"%s\"", log_value(path),
                      text ? err : "cannot read");
            free(text);
            closedir(d);
            return -1;
        }
        mustache_destroy(&t);
        con->pages[con->n_pages] = text;
        con->page_names[con->n_pages++] = strndup(de->d_name, nl - 5);
    }
    if (d)
        closedir(d);
    for (int i = 0; s_needed[i]; i++) {
        size_t j = 0;
        while (j < con->n_pages && strcmp(con->page_names[j], s_needed[i]) != 0)
            j++;
        if (j == con->n_pages) {
            log_error("event=bad_template path=%s/console/%s.html error=\"missing\"", dir,
                      s_needed[i]);
            return -1;
        }
    }
    snprintf(path, sizeof path, "%s/console/console.css", dir);
    con->stylesheet = s_read(path);
    if (!con->stylesheet) {
        log_error("event=bad_template path=%s error=\"cannot read\"", log_value(path));
        return -1;
    }
    snprintf(path, sizeof path, "%s/console/console.js", dir);
    con->script = s_read(path);
    if (!con->script) {
        log_error("event=bad_template path=%s error=\"cannot read\"", log_value(path));
        return -1;
    }
    log_info("event=pages_loaded dir=\"%s/console\" pages=%zu locales=%zu", dir, con->n_pages,
             words_count(con->words));
    return 0;
}

void console_page_fini(console_t *con)
{
    for (size_t i = 0; i < con->n_pages; i++) {
        free(con->pages[i]);
        free(con->page_names[i]);
    }
    con->n_pages = 0;
    free(con->stylesheet);
    con->stylesheet = NULL;
    free(con->script);
    con->script = NULL;
    json_decref(con->word_keys);
    con->word_keys = NULL;
    words_destroy(&con->words);
}

void console_page_locale(console_req_t *r)
{
    const words_t *w = r->con->words;
    const char *loc = NULL;
    if (r->signed_in && r->user.locale[0])
        loc = words_locale(w, r->user.locale);
    if (!loc)
        loc = words_accept(w, console_http_header(r, "Accept-Language"));
    if (!loc)
        loc = words_locale(w, NULL);
    snprintf(r->locale, sizeof r->locale, "%s", loc);
}

const char *console_word(console_req_t *r, const char *key)
{
    char full[120];
    snprintf(full, sizeof full, "console.%s", key);
    return words_get(r->con->words, r->locale, full);
}

/* s_text - the template text of name, or NULL */
static const char *s_text(const console_t *con, const char *name)
{
    for (size_t i = 0; i < con->n_pages; i++)
        if (strcmp(con->page_names[i], name) == 0)
            return con->pages[i];
    return NULL;
}

/* s_partial - the partial loader: another template of the folder */
static const char *s_partial(const char *name, void *arg)
{
    return s_text(arg, name);
}

/* s_render - one template over ctx; malloc'd, NULL on error (logged) */
static char *s_render(console_t *con, const char *name, const json_t *ctx)
{
    char err[300];
    const char *text = s_text(con, name);
    mustache_t *t = text ? mustache_new(text, err, sizeof err) : NULL;
    char *out = t ? mustache_render(t, ctx, s_partial, con, NULL, NULL, err, sizeof err) : NULL;
    if (!out)
        log_error("event=render_failed template=%s error=\"%s\"", name,
                  text ? err : "no such template");
    mustache_destroy(&t);
    return out;
}

void console_page(console_req_t *r, unsigned status, const char *name, const char *title_key,
                  json_t *ctx)
{
    console_t *con = r->con;
    if (!ctx)
        ctx = json_object();
    json_t *w = json_object();
    size_t i;
    json_t *k;
    json_array_foreach(con->word_keys, i, k) {
        const char *key = json_string_value(k);
        json_object_set_new(w, key, json_string(console_word(r, key)));
    }
    json_object_set_new(ctx, "w", w);
    json_object_set_new(ctx, "lang", json_string(r->locale));
    json_object_set_new(ctx, "title", json_string(console_word(r, title_key)));
    if (r->signed_in) {
        json_object_set_new(ctx, "user", json_pack("{s:s,s:s,s:s,s:b,s:b}", "name", r->user.name,
                                                   "role", r->user.role, "role_word",
                                                   console_word(r, r->user.role), "admin",
                                                   strcmp(r->user.role, "admin") == 0, "templates",
                                                   strcmp(r->user.role, "support") != 0));
        json_object_set_new(ctx, "csrf", json_string(r->user.csrf));
    }
    char *body = s_render(con, name, ctx);
    char *page = NULL;
    if (body) {
        json_object_set_new(ctx, "body", json_string(body));
        page = s_render(con, "layout", ctx);
    }
    free(body);
    json_decref(ctx);
    buf_reset(&r->out);
    if (!page) {
        buf_puts(&r->out, "the page could not be rendered\n");
        r->status = 500;
        r->content_type = "text/plain; charset=utf-8";
        return;
    }
    buf_puts(&r->out, page);
    free(page);
    r->status = status;
    r->content_type = "text/html; charset=utf-8";
}

void console_page_error(console_req_t *r, unsigned status)
{
    char tk[40], xk[40];
    snprintf(tk, sizeof tk, "error_%u_title", status);
    snprintf(xk, sizeof xk, "error_%u_text", status);
    json_t *ctx = json_pack("{s:i,s:s}", "status", (int)status, "text", console_word(r, xk));
    if (status == 403 && r->signed_in)
        json_object_set_new(ctx, "role_refused", json_true());
    console_page(r, status, "error", tk, ctx);
}

void console_header(console_req_t *r, const char *name, const char *value)
{
    if (r->n_hdr == CONSOLE_HEADERS_MAX)
        return;
    char *v = strdup(value);
    if (!v)
        return;
    r->hdr_name[r->n_hdr] = name;
    r->hdr_value[r->n_hdr++] = v;
}

void console_redirect(console_req_t *r, const char *path)
{
    buf_reset(&r->out);
    r->status = 303;
    r->content_type = "text/plain; charset=utf-8";
    console_header(r, "Location", path);
}

void console_page_css(console_req_t *r)
{
    buf_reset(&r->out);
    buf_puts(&r->out, r->con->stylesheet);
    r->status = 200;
    r->content_type = "text/css; charset=utf-8";
}

void console_page_js(console_req_t *r)
{
    buf_reset(&r->out);
    buf_puts(&r->out, r->con->script);
    r->status = 200;
    r->content_type = "text/javascript; charset=utf-8";
}
