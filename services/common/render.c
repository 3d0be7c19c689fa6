/*
 * render.c - Markdown+Mustache templates to subject, text and HTML: the
 * mailer sends what it renders, `hark mail preview` and hark-loop's preview
 * show it.
 *
 * What happens in render_message (see render.h for the contract):
 *  1. the locale chain is built (tag, primary subtag, default) over the
 *     locale directories found by render_new; the first directory holding
 *     <name>.md supplies the template, read and compiled once and cached
 *     here as three mustache_t (subject, preheader, body);
 *  2. the variables are copied (shallowly) and get plural flags;
 *  3. subject and preheader are rendered with a plain-text escaper (controls
 *     become spaces, values are capped) and squeezed to one line; the body
 *     is rendered with mdescape_inline for {{var}};
 *  4. cmark parses the body once; the text part is written from its tree
 *     (mdtext.c), then paragraphs made only of links (the 0-10 score row)
 *     are wrapped in <div class="links"> so layout.html can style them as
 *     buttons, and cmark renders HTML in safe mode;
 *  5. layout.html wraps the HTML, with Mustache's HTML escaping.
 *
 * Ownership: render_t owns the cache entries (names, compiled templates,
 * partial texts) and the layout; strings handed out are malloc'd.
 */
#include "render.h"

#include "buf.h"
#include "locale_tag.h"
#include "mdescape.h"
#include "mdtext.h"
#include "mime.h"
#include "mustache.h"
#include "utf8.h"

#include <cmark.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define S_MAX_FILE        ((size_t)1024 * 1024)  /* a template file, bytes */
#define S_MAX_LOCALES     64        /* locale directories we look at */
#define S_MAX_NAME_LEN    64        /* template and partial names */
#define S_MAX_ENTRIES     4096      /* cache entries, misses included */
#define S_MAX_LINE_OUTPUT ((size_t)64 * 1024)   /* rendered subject, bytes */
#define S_MAX_LINK_ROWS   64        /* link rows styled per message */
#define S_ELLIPSIS        "\xE2\x80\xA6"

/* One cache entry: a template or a partial of one locale, or a miss. */
typedef struct s_entry {
    struct s_entry *next;
    char *locale;               /* owned */
    char *name;                 /* owned */
    int partial;                /* 1: a partial, text only */
    int found;                  /* 0: no such file (a remembered miss) */
    int saved;                  /* 1: from render_set_source, not the file */
    mustache_t *subject;        /* templates: owned, compiled once */
    mustache_t *preheader;      /* NULL when the template has none */
    mustache_t *body;
    char *text;                 /* partials: the file's text, owned */
} s_entry_t;

struct render {
    char *dir;                  /* templates directory, owned */
    char *default_locale;       /* owned */
    char *locales[S_MAX_LOCALES];   /* locale directories, owned */
    size_t nlocales;
    mustache_t *layout;         /* layout.html, owned */
    s_entry_t *entries;         /* cache, owned */
    size_t nentries;
};

/* Partial loader state for one render. */
typedef struct {
    render_t *r;
    const char *chain[3];       /* locales to try, best first */
    size_t n;
    int failed;                 /* a partial could not be loaded */
    char err[256];
} s_loader_t;

/* s_err - format a message into err (may be NULL); returns -1 */
static int s_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int s_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- small string helpers ----------------------------------------------- */

/* s_copy_nul - NUL-terminated copy of s[0..len) with NUL bytes as spaces;
 * the caller frees it */
static char *s_copy_nul(const char *s, size_t len)
{
    char *c = malloc(len + 1);
    if (!c)
        return NULL;
    for (size_t i = 0; i < len; i++)
        c[i] = s[i] ? s[i] : ' ';
    c[len] = '\0';
    return c;
}

/* s_cap_chars - s cut to max code points with "…" when cut; the caller
 * frees the result */
static char *s_cap_chars(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, chars = 0;
    while (i < len && chars < max) {
        uint32_t cp;
        size_t k = utf8_decode(p + i, len - i, &cp);
        i += k ? k : 1; /* an invalid byte counts as one character */
        chars++;
    }
    int cut = i < len;
    char *out = malloc(i + (cut ? sizeof S_ELLIPSIS : 1));
    if (!out)
        return NULL;
    memcpy(out, s, i);
    if (cut)
        memcpy(out + i, S_ELLIPSIS, sizeof S_ELLIPSIS);
    else
        out[i] = '\0';
    return out;
}

/* s_one_line - s with controls as spaces, whitespace runs squeezed to one
 * space and no outer whitespace; the caller frees it; NULL on bad UTF-8 */
static char *s_one_line(const char *s)
{
    char *clean = mime_sanitize_line(s);
    if (!clean)
        return NULL;
    size_t o = 0;
    int space = 0;
    for (size_t i = 0; clean[i]; i++) {
        if (clean[i] == ' ' || clean[i] == '\t') {
            space = 1;
            continue;
        }
        if (space && o)
            clean[o++] = ' ';
        space = 0;
        clean[o++] = clean[i];
    }
    clean[o] = '\0';
    return clean;
}

/* s_name_ok - template names are [a-z0-9_-] without a leading '_';
 * partial names must start with '_' */
static int s_name_ok(const char *name, int partial)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > S_MAX_NAME_LEN || (name[0] == '_') != (partial != 0))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* s_read_file - the whole file at path, NUL-terminated, in *text (caller
 * frees); 0, 1 when it does not exist, -1 on error (too big, a NUL byte,
 * not UTF-8, unreadable) with err set */
static int s_read_file(const char *path, char **text, char *err,
                       size_t errlen)
{
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 1;
        return s_err(err, errlen, "%s: %s", path, strerror(errno));
    }
    buf_t b = BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf_append(&b, chunk, n);
        if (b.len > S_MAX_FILE)
            break;
    }
    int rerr = ferror(f);
    fclose(f);
    buf_append(&b, "", 0);
    if (rerr || buf_failed(&b) || b.len > S_MAX_FILE) {
        buf_free(&b);
        return s_err(err, errlen, "%s: %s", path,
                     rerr ? "read error" : "too big or out of memory");
    }
    if (memchr(b.data, '\0', b.len) || !mime_utf8_valid(b.data, b.len)) {
        buf_free(&b);
        return s_err(err, errlen, "%s: not UTF-8 text", path);
    }
    *text = buf_release(&b);
    return 0;
}

/* ---- the cache ---------------------------------------------------------- */

/* s_entry_free - free one entry and what it owns */
static void s_entry_free(s_entry_t *e)
{
    free(e->locale);
    free(e->name);
    mustache_destroy(&e->subject);
    mustache_destroy(&e->preheader);
    mustache_destroy(&e->body);
    free(e->text);
    free(e);
}

/* s_find - the cached entry for (locale, name, partial), or NULL */
static s_entry_t *s_find(render_t *r, const char *locale, const char *name,
                         int partial)
{
    for (s_entry_t *e = r->entries; e; e = e->next)
        if (e->partial == partial && strcmp(e->name, name) == 0 &&
            strcmp(e->locale, locale) == 0)
            return e;
    return NULL;
}

/* s_new_entry - an empty entry for (locale, name), not yet in the cache */
static s_entry_t *s_new_entry(const char *locale, const char *name,
                              int partial)
{
    s_entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->locale = strdup(locale);
    e->name = strdup(name);
    e->partial = partial;
    if (!e->locale || !e->name) {
        s_entry_free(e);
        return NULL;
    }
    return e;
}

/* s_keep - put e in the cache; a miss is dropped (and freed) instead when
 * the cache is full, so unknown names cannot grow it without bound */
static void s_keep(render_t *r, s_entry_t *e)
{
    if (!e->found && r->nentries >= S_MAX_ENTRIES) {
        s_entry_free(e);
        return;
    }
    e->next = r->entries;
    r->entries = e;
    r->nentries++;
}

/* s_compile - compile one front-matter or body text for path; NULL with
 * err set.  first_line is the file's line the text starts on, so an error
 * names the line of the file ("line 9"), not of the part */
static mustache_t *s_compile(const char *text, const char *path,
                             const char *what, size_t max_output, int first_line,
                             char *err, size_t errlen)
{
    char cerr[200];
    mustache_t *t = mustache_new(text, cerr, sizeof cerr);
    if (!t) {
        unsigned line;
        int used = 0;
        if (first_line > 1 && sscanf(cerr, "line %u:%n", &line, &used) == 1 && used > 0)
            s_err(err, errlen, "%s: %s: line %u:%s", path, what,
                  line + (unsigned)first_line - 1, cerr + used);
        else
            s_err(err, errlen, "%s: %s: %s", path, what, cerr);
        return NULL;
    }
    mustache_set_limits(t, max_output, 0);
    return t;
}

/* s_front_matter - split a template file into its subject, preheader (NULL
 * when absent) and body, compiling each into e; 0, or -1 with err set */
static int s_front_matter(s_entry_t *e, char *text, const char *path,
                          char *err, size_t errlen)
{
    char *p = text;
    if (strncmp(p, "---\n", 4) == 0)
        p += 4;
    else if (strncmp(p, "---\r\n", 5) == 0)
        p += 5;
    else
        return s_err(err, errlen, "%s: must start with a \"---\" front-matter "
                     "block", path);
    char *subject = NULL, *preheader = NULL;
    int subject_line = 0, preheader_line = 0, body_line = 0;
    for (int line = 2;; line++) {
        char *nl = strchr(p, '\n');
        if (!nl)
            return s_err(err, errlen, "%s: front matter is not closed by "
                         "\"---\"", path);
        *nl = '\0';
        if (nl > p && nl[-1] == '\r')
            nl[-1] = '\0';
        char *next = nl + 1;
        if (strcmp(p, "---") == 0) {
            p = next;
            body_line = line + 1;
            break;
        }
        if (p[strspn(p, " \t")] != '\0') {
            char *colon = strchr(p, ':');
            if (!colon)
                return s_err(err, errlen, "%s: line %d: expected \"key: "
                             "value\"", path, line);
            *colon = '\0';
            char *v = colon + 1;
            v += strspn(v, " \t");
            size_t vl = strlen(v);
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                v[--vl] = '\0';
            char **slot = strcmp(p, "subject") == 0   ? &subject
                          : strcmp(p, "preheader") == 0 ? &preheader
                                                        : NULL;
            if (!slot)
                return s_err(err, errlen, "%s: line %d: unknown key \"%.40s\" "
                             "(subject, preheader)", path, line, p);
            if (*slot)
                return s_err(err, errlen, "%s: line %d: %s given twice", path,
                             line, p);
            *slot = v;
            *(slot == &subject ? &subject_line : &preheader_line) = line;
        }
        p = next;
    }
    if (!subject || !*subject)
        return subject_line ? s_err(err, errlen, "%s: line %d: the subject is empty", path,
                                    subject_line)
                            : s_err(err, errlen, "%s: front matter has no subject", path);
    e->subject = s_compile(subject, path, "subject", S_MAX_LINE_OUTPUT, subject_line, err,
                           errlen);
    if (!e->subject)
        return -1;
    if (preheader && *preheader) {
        e->preheader = s_compile(preheader, path, "preheader",
                                 S_MAX_LINE_OUTPUT, preheader_line, err, errlen);
        if (!e->preheader)
            return -1;
    }
    e->body = s_compile(p, path, "body", RENDER_MAX_MARKDOWN, body_line, err, errlen);
    return e->body ? 0 : -1;
}

/* s_get - the entry for (locale, name, partial), reading and compiling the
 * file on first use; 0 with *out set, 1 when there is no such file, -1
 * with err set */
static int s_get(render_t *r, const char *locale, const char *name,
                 int partial, s_entry_t **out, char *err, size_t errlen)
{
    s_entry_t *e = s_find(r, locale, name, partial);
    if (e) {
        *out = e;
        return e->found ? 0 : 1;
    }
    size_t plen = strlen(r->dir) + strlen(locale) + strlen(name) + 8;
    char *path = malloc(plen);
    if (!path)
        return s_err(err, errlen, "out of memory");
    snprintf(path, plen, "%s/%s/%s.md", r->dir, locale, name);
    char *text = NULL;
    int rc = s_read_file(path, &text, err, errlen);
    if (rc < 0) {
        free(path);
        return -1;
    }
    e = s_new_entry(locale, name, partial);
    if (!e) {
        free(path);
        free(text);
        return s_err(err, errlen, "out of memory");
    }
    if (rc == 0) {
        e->found = 1;
        if (partial) {
            e->text = text;
            text = NULL;
        } else if (s_front_matter(e, text, path, err, errlen) != 0) {
            free(path);
            free(text);
            s_entry_free(e);
            return -1;
        }
    }
    free(path);
    free(text);
    /* s_keep frees a miss when the cache is full: decide before it */
    int found = e->found;
    s_keep(r, e);
    *out = found ? e : NULL;
    return found ? 0 : 1;
}

/* s_known_locale - the renderer's copy of locale if it is a directory */
static const char *s_known_locale(const render_t *r, const char *locale)
{
    for (size_t i = 0; i < r->nlocales; i++)
        if (strcmp(r->locales[i], locale) == 0)
            return r->locales[i];
    return NULL;
}

/* s_chain - the locale directories to try for tag, best first, into chain
 * (pointers into r); returns how many (at least the default) */
static size_t s_chain(const render_t *r, const char *tag, const char *chain[3])
{
    char norm[LOCALE_TAG_MAX + 1];
    size_t n = 0;
    if (locale_tag_norm(tag, norm, sizeof norm) == 0) {
        const char *full = s_known_locale(r, norm);
        if (full)
            chain[n++] = full;
        char *dash = strchr(norm, '-');
        if (dash) {
            *dash = '\0';
            const char *primary = s_known_locale(r, norm);
            if (primary && (n == 0 || primary != chain[0]))
                chain[n++] = primary;
        }
    }
    const char *def = s_known_locale(r, r->default_locale);
    int seen = 0;
    for (size_t i = 0; i < n; i++)
        seen |= chain[i] == def;
    if (!seen)
        chain[n++] = def;
    return n;
}

/* s_partial_loader - mustache partial loader: the partial's text from the
 * first locale of the chain that has it */
static const char *s_partial_loader(const char *name, void *arg)
{
    s_loader_t *l = arg;
    if (l->failed || !s_name_ok(name, 1))
        return NULL;
    for (size_t i = 0; i < l->n; i++) {
        s_entry_t *e = NULL;
        int rc = s_get(l->r, l->chain[i], name, 1, &e, l->err, sizeof l->err);
        if (rc < 0) {
            l->failed = 1;
            return NULL;
        }
        if (rc == 0)
            return e->text;
    }
    return NULL;
}

/* ---- escapers ----------------------------------------------------------- */

/* s_multiline - the variables that carry what a customer wrote in several
 * lines (an NPS comment, a complaint's text, a quoted excerpt): their line
 * breaks stay (hard breaks inside the one paragraph, mdescape_block);
 * every other variable (a name, a title) stays on one line */
static int s_multiline(const mustache_buf_t *out)
{
    return mustache_buf_var_is(out, "comment") || mustache_buf_var_is(out, "text") ||
           mustache_buf_var_is(out, "excerpt");
}

/* s_escape_md - {{var}} in a body: Markdown-escaped, capped */
static int s_escape_md(mustache_buf_t *out, const char *s, size_t len,
                       void *arg)
{
    (void)arg;
    char *copy = s_copy_nul(s, len);
    char *esc = !copy           ? NULL
                : s_multiline(out) ? mdescape_block(copy, RENDER_MAX_VAR_CHARS)
                                   : mdescape_inline(copy, RENDER_MAX_VAR_CHARS);
    free(copy);
    if (!esc)
        return -1;
    int rc = mustache_buf_append(out, esc, strlen(esc));
    free(esc);
    return rc;
}

/* s_escape_line - {{var}} in a subject or preheader: plain text on one
 * line, capped */
static int s_escape_line(mustache_buf_t *out, const char *s, size_t len,
                         void *arg)
{
    (void)arg;
    char *copy = s_copy_nul(s, len);
    char *clean = copy ? mime_sanitize_line(copy) : NULL;
    char *capped = clean ? s_cap_chars(clean, RENDER_MAX_LINE_VAR_CHARS) : NULL;
    free(copy);
    free(clean);
    if (!capped)
        return -1;
    int rc = mustache_buf_append(out, capped, strlen(capped));
    free(capped);
    return rc;
}

/* ---- plural flags ------------------------------------------------------- */

/* render_plural_category - CLDR cardinal category of integer n */
const char *render_plural_category(const char *locale, long long n)
{
    char lang[LOCALE_TAG_MAX + 1];
    unsigned long long a = n < 0 ? 0ULL - (unsigned long long)n
                                 : (unsigned long long)n;
    unsigned m10 = (unsigned)(a % 10), m100 = (unsigned)(a % 100);
    if (locale_tag_norm(locale, lang, sizeof lang) != 0)
        return a == 1 ? "one" : "other";
    lang[strcspn(lang, "-")] = '\0';
    if (strcmp(lang, "ru") == 0 || strcmp(lang, "be") == 0 ||
        strcmp(lang, "uk") == 0) {
        if (m10 == 1 && m100 != 11)
            return "one";
        if (m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14))
            return "few";
        return "many";
    }
    if (strcmp(lang, "pl") == 0) {
        if (a == 1)
            return "one";
        if (m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14))
            return "few";
        return "many";
    }
    if (strcmp(lang, "zh") == 0 || strcmp(lang, "ja") == 0 ||
        strcmp(lang, "ko") == 0)
        return "other";
    return a == 1 ? "one" : "other";
}

/* s_integer_of - 1 with *n set when v is an integer, an integral real or a
 * string of 1..18 digits */
static int s_integer_of(const json_t *v, long long *n)
{
    if (json_is_integer(v)) {
        *n = (long long)json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= -1e15 && d <= 1e15 && d == (double)(long long)d) {
            *n = (long long)d;
            return 1;
        }
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (len == 0 || len > 18 || strspn(s, "0123456789") != len)
            return 0;
        *n = strtoll(s, NULL, 10);
        return 1;
    }
    return 0;
}

/* s_context - shallow copy of vars with plural flags for locale; NULL when
 * vars is not an object (or OOM).  The caller decrefs it. */
static json_t *s_context(const json_t *vars, const char *locale)
{
    if (vars && !json_is_object(vars))
        return NULL;
    json_t *ctx = vars ? json_copy((json_t *)vars) : json_object();
    if (!ctx || !vars)
        return ctx;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)vars, key, v) {
        long long n;
        char flag[128];
        if (!s_integer_of(v, &n))
            continue;
        int w = snprintf(flag, sizeof flag, "%s_%s", key,
                         render_plural_category(locale, n));
        if (w < 0 || (size_t)w >= sizeof flag || json_object_get(ctx, flag))
            continue;
        if (json_object_set_new(ctx, flag, json_true()) != 0) {
            json_decref(ctx);
            return NULL;
        }
    }
    return ctx;
}

/* s_mark_link_rows - wrap each link-row paragraph in <div class="links">
 * (a custom block, which safe mode leaves alone) for layout.html's CSS */
static void s_mark_link_rows(cmark_node *doc)
{
    cmark_node *rows[S_MAX_LINK_ROWS];
    size_t n = 0;
    cmark_iter *it = cmark_iter_new(doc);
    cmark_event_type ev;
    while (it && n < S_MAX_LINK_ROWS &&
           (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        cmark_node *node = cmark_iter_get_node(it);
        if (ev == CMARK_EVENT_ENTER &&
            cmark_node_get_type(node) == CMARK_NODE_PARAGRAPH &&
            mdtext_is_link_row(node))
            rows[n++] = node;
    }
    cmark_iter_free(it);
    for (size_t i = 0; i < n; i++) {
        cmark_node *div = cmark_node_new(CMARK_NODE_CUSTOM_BLOCK);
        if (!div)
            return;
        if (!cmark_node_set_on_enter(div, "<div class=\"links\">") ||
            !cmark_node_set_on_exit(div, "</div>") ||
            !cmark_node_insert_before(rows[i], div)) {
            cmark_node_free(div);
            continue;
        }
        cmark_node_append_child(div, rows[i]);
    }
}

/* ---- public ------------------------------------------------------------- */

/* render_new - load the layout and list the locale directories */
render_t *render_new(const char *templates_dir, const char *default_locale,
                     char *err, size_t errlen)
{
    char def[LOCALE_TAG_MAX + 1];
    if (!templates_dir || !*templates_dir) {
        s_err(err, errlen, "no templates directory");
        return NULL;
    }
    if (locale_tag_norm(default_locale, def, sizeof def) != 0) {
        s_err(err, errlen, "bad default locale \"%.40s\"",
              default_locale ? default_locale : "");
        return NULL;
    }
    DIR *d = opendir(templates_dir);
    if (!d) {
        s_err(err, errlen, "%s: %s", templates_dir, strerror(errno));
        return NULL;
    }
    render_t *r = calloc(1, sizeof *r);
    if (!r || !(r->dir = strdup(templates_dir)) ||
        !(r->default_locale = strdup(def))) {
        closedir(d);
        render_destroy(&r);
        s_err(err, errlen, "out of memory");
        return NULL;
    }
    struct dirent *de;
    while ((de = readdir(d)) && r->nlocales < S_MAX_LOCALES) {
        char norm[LOCALE_TAG_MAX + 1];
        if (locale_tag_norm(de->d_name, norm, sizeof norm) != 0 ||
            strcmp(norm, de->d_name) != 0)
            continue;           /* directory names are lowercase tags */
        size_t plen = strlen(templates_dir) + strlen(de->d_name) + 2;
        char *path = malloc(plen);
        struct stat st;
        if (!path)
            break;
        snprintf(path, plen, "%s/%s", templates_dir, de->d_name);
        int isdir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        free(path);
        if (isdir && (r->locales[r->nlocales] = strdup(de->d_name)))
            r->nlocales++;
    }
    closedir(d);
    if (!s_known_locale(r, r->default_locale)) {
        s_err(err, errlen, "%s: no directory for the default locale \"%s\"",
              templates_dir, r->default_locale);
        render_destroy(&r);
        return NULL;
    }
    size_t plen = strlen(templates_dir) + sizeof "/layout.html";
    char *path = malloc(plen);
    char *text = NULL;
    if (!path) {
        s_err(err, errlen, "out of memory");
        render_destroy(&r);
        return NULL;
    }
    snprintf(path, plen, "%s/layout.html", templates_dir);
    int rc = s_read_file(path, &text, err, errlen);
    if (rc == 1)
        s_err(err, errlen, "%s: missing", path);
    if (rc == 0)
        r->layout = s_compile(text, path, "layout", 0, 1, err, errlen);
    free(text);
    free(path);
    if (!r->layout) {
        render_destroy(&r);
        return NULL;
    }
    return r;
}

/* render_destroy - free everything; *self_p = NULL */
void render_destroy(render_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    render_t *r = *self_p;
    s_entry_t *e = r->entries;
    while (e) {
        s_entry_t *next = e->next;
        s_entry_free(e);
        e = next;
    }
    for (size_t i = 0; i < r->nlocales; i++)
        free(r->locales[i]);
    mustache_destroy(&r->layout);
    free(r->dir);
    free(r->default_locale);
    free(r);
    *self_p = NULL;
}

/* render_message_free - free the strings of r and zero it */
void render_message_free(rendered_t *r)
{
    if (!r)
        return;
    free(r->subject);
    free(r->preheader);
    free(r->text);
    free(r->html);
    free(r->locale_used);
    memset(r, 0, sizeof *r);
}

/* s_render_line - render a subject or preheader template to one plain
 * line; the caller frees it; NULL with err set */
static char *s_render_line(mustache_t *t, json_t *ctx, s_loader_t *l,
                           const char *what, char *err, size_t errlen)
{
    char merr[256];
    char *raw = mustache_render(t, ctx, s_partial_loader, l, s_escape_line,
                                NULL, merr, sizeof merr);
    if (!raw || l->failed) {
        free(raw);
        s_err(err, errlen, "%s: %s", what, l->failed ? l->err : merr);
        return NULL;
    }
    char *line = s_one_line(raw);
    free(raw);
    if (!line)
        s_err(err, errlen, "%s: not UTF-8 or out of memory", what);
    return line;
}

/* s_lookup - the template name of the first locale of chain[0..n) that has
 * it (*used: its index), or NULL with err set (no such template, or a
 * file that fails to load) */
static s_entry_t *s_lookup(render_t *r, const char *name, const char *locale,
                           const char *const *chain, size_t n, size_t *used, char *err,
                           size_t errlen)
{
    s_entry_t *e = NULL;
    for (*used = 0; *used < n; (*used)++) {
        int rc = s_get(r, chain[*used], name, 0, &e, err, errlen);
        if (rc < 0)
            return NULL;
        if (rc == 0)
            return e;
    }
    s_err(err, errlen, "no template \"%s\" for locale \"%.40s\" or \"%s\"", name,
          locale ? locale : "", r->default_locale);
    return NULL;
}

/* render_message - render one message; see render.h */
int render_message(render_t *r, const char *name, const char *locale,
                   const json_t *vars, rendered_t *out, char *err,
                   size_t errlen)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!r || !out)
        return s_err(err, errlen, "no renderer or output");
    if (!s_name_ok(name, 0))
        return s_err(err, errlen, "bad template name \"%.64s\"",
                     name ? name : "");
    if (vars && !json_is_object(vars))
        return s_err(err, errlen, "template variables must be a JSON object");

    const char *chain[3];
    size_t n = s_chain(r, locale, chain), used = 0;
    s_entry_t *e = s_lookup(r, name, locale, chain, n, &used, err, errlen);
    if (!e)
        return -1;

    s_loader_t l = {.r = r, .n = 0};
    for (size_t i = used; i < n; i++)
        l.chain[l.n++] = chain[i];
    const char *loc = chain[used];
    json_t *ctx = s_context(vars, loc);
    json_t *lctx = NULL;
    char *md = NULL, *body_html = NULL;
    cmark_node *doc = NULL;
    char merr[256], what[160];
    int rc = -1;
    if (!ctx) {
        s_err(err, errlen, "out of memory");
        goto done;
    }
    snprintf(what, sizeof what, "template %s/%s subject", loc, name);
    if (!(out->subject = s_render_line(e->subject, ctx, &l, what, err, errlen)))
        goto done;
    if (!*out->subject) {
        s_err(err, errlen, "template %s/%s: the subject renders empty", loc,
              name);
        goto done;
    }
    snprintf(what, sizeof what, "template %s/%s preheader", loc, name);
    out->preheader = e->preheader
                         ? s_render_line(e->preheader, ctx, &l, what, err, errlen)
                         : strdup("");
    if (!out->preheader) {
        if (!e->preheader)
            s_err(err, errlen, "out of memory");
        goto done;
    }
    md = mustache_render(e->body, ctx, s_partial_loader, &l, s_escape_md, NULL,
                         merr, sizeof merr);
    if (!md || l.failed) {
        s_err(err, errlen, "template %s/%s: %s (the Markdown limit is %zu "
              "bytes)", loc, name, l.failed ? l.err : merr,
              (size_t)RENDER_MAX_MARKDOWN);
        goto done;
    }
    size_t mdlen = strlen(md);
    if (mdlen > RENDER_MAX_MARKDOWN) {
        s_err(err, errlen, "template %s/%s: Markdown of %zu bytes is over "
              "the %zu limit", loc, name, mdlen, (size_t)RENDER_MAX_MARKDOWN);
        goto done;
    }
    doc = cmark_parse_document(md, mdlen, CMARK_OPT_SAFE | CMARK_OPT_VALIDATE_UTF8);
    if (!doc || !(out->text = mdtext_from_doc(doc, RENDER_TEXT_WIDTH))) {
        s_err(err, errlen, "out of memory");
        goto done;
    }
    s_mark_link_rows(doc);
    body_html = cmark_render_html(doc, CMARK_OPT_SAFE);
    out->locale_used = strdup(loc);
    if (!body_html || !out->locale_used) {
        s_err(err, errlen, "out of memory");
        goto done;
    }
    /* body_html is most of the message: checked here with the fast
     * validator, then handed to jansson without its slower second check */
    size_t hlen = strlen(body_html);
    if (!mime_utf8_valid(body_html, hlen)) {
        s_err(err, errlen, "template %s/%s: the HTML is not UTF-8", loc, name);
        goto done;
    }
    lctx = json_pack("{s:s, s:s, s:s}", "subject", out->subject,
                     "preheader", out->preheader, "lang", loc);
    if (!lctx || json_object_set_new(lctx, "body_html",
                                     json_stringn_nocheck(body_html, hlen))) {
        s_err(err, errlen, "out of memory");
        goto done;
    }
    out->html = mustache_render(r->layout, lctx, NULL, NULL, NULL, NULL, merr,
                                sizeof merr);
    if (!out->html) {
        s_err(err, errlen, "layout.html: %s", merr);
        goto done;
    }
    rc = 0;
done:
    json_decref(ctx);
    json_decref(lctx);
    if (doc)
        cmark_node_free(doc);
    free(md);
    free(body_html);
    if (rc != 0)
        render_message_free(out);
    return rc;
}

/* s_name_add - mustache_names' callback: a name into the array once */
static void s_name_add(const char *name, size_t len, void *arg)
{
    json_t *names = arg, *v;
    size_t i;
    json_array_foreach(names, i, v) {
        if (strlen(json_string_value(v)) == len && memcmp(json_string_value(v), name, len) == 0)
            return;
    }
    json_array_append_new(names, json_stringn(name, len));
}

/* render_names - see render.h */
int render_names(render_t *r, const char *name, const char *locale, json_t *names, char *err,
                 size_t errlen)
{
    if (!r || !json_is_array(names))
        return s_err(err, errlen, "no renderer or list");
    if (!s_name_ok(name, 0))
        return s_err(err, errlen, "bad template name \"%.64s\"", name ? name : "");
    const char *chain[3];
    size_t n = s_chain(r, locale, chain), used = 0;
    s_entry_t *e = s_lookup(r, name, locale, chain, n, &used, err, errlen);
    if (!e)
        return -1;
    mustache_names(e->subject, s_name_add, names);
    mustache_names(e->preheader, s_name_add, names);
    mustache_names(e->body, s_name_add, names);
    return 0;
}

/* s_line_of - the first "line N" in msg, 0 when none */
static int s_line_of(const char *msg)
{
    const char *p = msg ? strstr(msg, "line ") : NULL;
    return p ? atoi(p + 5) : 0;
}

/* s_compile_source - text compiled as a template file would be, into a
 * fresh entry for (locale, name) named `label` in errors; NULL with err
 * set */
static s_entry_t *s_compile_source(const char *locale, const char *name, const char *text,
                                   const char *label, char *err, size_t errlen)
{
    size_t len = strlen(text);
    if (len > RENDER_MAX_SOURCE) {
        s_err(err, errlen, "%s: %zu bytes is over the %zu limit", label, len,
              (size_t)RENDER_MAX_SOURCE);
        return NULL;
    }
    if (!mime_utf8_valid(text, len)) {
        s_err(err, errlen, "%s: not UTF-8 text", label);
        return NULL;
    }
    s_entry_t *e = s_new_entry(locale, name, 0);
    char *copy = strdup(text); /* s_front_matter cuts it into parts */
    if (!e || !copy) {
        free(copy);
        if (e)
            s_entry_free(e);
        s_err(err, errlen, "out of memory");
        return NULL;
    }
    int rc = s_front_matter(e, copy, label, err, errlen);
    free(copy);
    if (rc != 0) {
        s_entry_free(e);
        return NULL;
    }
    e->found = 1;
    e->saved = 1;
    return e;
}

/* render_check_source - see render.h */
int render_check_source(const char *text, char *err, size_t errlen, int *line)
{
    if (line)
        *line = 0;
    if (!text)
        return s_err(err, errlen, "template: no text");
    s_entry_t *e = s_compile_source("-", "-", text, "template", err, errlen);
    if (!e) {
        if (line && err)
            *line = s_line_of(err);
        return -1;
    }
    s_entry_free(e);
    return 0;
}

/* render_set_source - see render.h: the cached entry of (locale, name) is
 * replaced (a saved text) or dropped (NULL: the file is read again on
 * next use) */
int render_set_source(render_t *r, const char *locale, const char *name, const char *text,
                      char *err, size_t errlen)
{
    if (!r)
        return s_err(err, errlen, "no renderer");
    if (!s_name_ok(name, 0))
        return s_err(err, errlen, "bad template name \"%.64s\"", name ? name : "");
    const char *loc = locale ? s_known_locale(r, locale) : NULL;
    if (!loc)
        return s_err(err, errlen, "no locale directory \"%.40s\"", locale ? locale : "");
    s_entry_t *fresh = NULL;
    if (text) {
        char label[160];
        snprintf(label, sizeof label, "%s/%s (saved)", loc, name);
        if (!(fresh = s_compile_source(loc, name, text, label, err, errlen)))
            return -1;
    }
    for (s_entry_t **pp = &r->entries; *pp; pp = &(*pp)->next) {
        s_entry_t *e = *pp;
        if (!e->partial && strcmp(e->name, name) == 0 && strcmp(e->locale, loc) == 0) {
            *pp = e->next;
            s_entry_free(e);
            r->nentries--;
            break;
        }
    }
    if (fresh) {
        fresh->next = r->entries;
        r->entries = fresh;
        r->nentries++;
    }
    return 0;
}

/* s_cmp_json_str - qsort: two JSON strings by strcmp */
static int s_cmp_json_str(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* s_sort_strings - sort an array of strings in place (readdir's
 * order is the disk's, and lists should read the same every time) */
static void s_sort_strings(json_t *arr)
{
    size_t n = json_array_size(arr);
    json_t **v = n ? malloc(n * sizeof *v) : NULL;
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof *v, s_cmp_json_str);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, v[i]);
    free(v);
}

/* s_dir_templates - every template name in locale directory loc appended
 * to names (once each); 0/-1 */
static int s_dir_templates(const render_t *r, const char *loc, json_t *names)
{
    size_t plen = strlen(r->dir) + strlen(loc) + 2;
    char *path = malloc(plen);
    if (!path)
        return -1;
    snprintf(path, plen, "%s/%s", r->dir, loc);
    DIR *d = opendir(path);
    free(path);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        char name[S_MAX_NAME_LEN + 1];
        if (n < 4 || n - 3 > S_MAX_NAME_LEN || strcmp(de->d_name + n - 3, ".md") != 0)
            continue;
        memcpy(name, de->d_name, n - 3);
        name[n - 3] = '\0';
        if (s_name_ok(name, 0))
            s_name_add(name, n - 3, names);
    }
    if (d)
        closedir(d);
    return 0;
}

/* render_templates - see render.h */
int render_templates(const render_t *r, json_t *names)
{
    if (!r || !json_is_array(names))
        return -1;
    for (size_t i = 0; i < r->nlocales; i++)
        if (s_dir_templates(r, r->locales[i], names))
            return -1;
    s_sort_strings(names);
    return 0;
}

/* render_locales - see render.h */
size_t render_locales(const render_t *r, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; r && i < r->nlocales && n < max; i++) {
        json_t *names = json_array();
        int some = names && s_dir_templates(r, r->locales[i], names) == 0 &&
                   json_array_size(names) > 0;
        json_decref(names);
        if (!some)
            continue; /* templates/console/ is the console's pages, not a language */
        size_t k = n++;
        for (; k > 0 && strcmp(out[k - 1], r->locales[i]) > 0; k--)
            out[k] = out[k - 1]; /* sorted: readdir's order is the disk's */
        out[k] = r->locales[i];
    }
    return n;
}

/* render_source_text - see render.h */
int render_source_text(const render_t *r, const char *locale, const char *name, char **text,
                       char *err, size_t errlen)
{
    *text = NULL;
    if (!r || !s_name_ok(name, 0))
        return s_err(err, errlen, "bad template name \"%.64s\"", name ? name : "");
    const char *loc = locale ? s_known_locale(r, locale) : NULL;
    if (!loc)
        return s_err(err, errlen, "no locale directory \"%.40s\"", locale ? locale : "");
    size_t plen = strlen(r->dir) + strlen(loc) + strlen(name) + 8;
    char *path = malloc(plen);
    if (!path)
        return s_err(err, errlen, "out of memory");
    snprintf(path, plen, "%s/%s/%s.md", r->dir, loc, name);
    int rc = s_read_file(path, text, err, errlen);
    free(path);
    return rc;
}
