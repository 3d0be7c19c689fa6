/*
 * words.c - the short texts people read, one words.json per language
 * folder under the templates directory (see words.h).
 *
 * JSON rather than INI: Debian's libinih cuts lines at 200 bytes, which one
 * Cyrillic sentence exceeds, and month names are a list.  jansson names the
 * line and column of a mistake, and a translator sees the same nesting as
 * the keys the code asks for ("survey.title").
 *
 * Filling a word in compiles it with mustache.c at each use: words are a
 * line each, so that costs microseconds, and it keeps words_t free of the
 * per-template caches that would make it unsafe to share between the
 * gateway's connection threads.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "locale_tag.h"
#include "mustache.h"
#include "words.h"

typedef struct {
    char *name; /* the folder */
    json_t *root;
} s_locale_t;

struct words {
    s_locale_t *loc;
    size_t n;
    size_t fallback;
};

/* s_find - the locale whose folder is name (case aside), or -1 */
static int s_find(const words_t *w, const char *name)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcasecmp(w->loc[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* s_check - every word under v compiles; path grows with the keys.
 * 0, or -1 with err */
static int s_check(const json_t *v, char *path, size_t plen, const char *file, char *err,
                   size_t errlen)
{
    size_t at = strlen(path);
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            snprintf(path + at, plen - at, "%s%s", at ? "." : "", k);
            if (s_check(x, path, plen, file, err, errlen))
                return -1;
        }
        path[at] = '\0';
        return 0;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (!json_is_string(x)) {
                snprintf(err, errlen, "%s: %s[%zu]: not a string", file, path, i);
                return -1;
            }
        }
        return 0;
    }
    if (!json_is_string(v)) {
        snprintf(err, errlen, "%s: %s: not a string, list or object", file, path);
        return -1;
    }
    char why[200] = "";
    mustache_t *t = mustache_new(json_string_value(v), why, sizeof why);
    if (!t) {
        snprintf(err, errlen, "%s: %s: %s", file, path, why);
        return -1;
    }
    mustache_destroy(&t);
    return 0;
}

static int s_by_name(const void *a, const void *b)
{
    return strcmp(((const s_locale_t *)a)->name, ((const s_locale_t *)b)->name);
}

words_t *words_load(const char *dir, const char *fallback, char *err, size_t errlen)
{
    words_t *w = calloc(1, sizeof *w);
    DIR *d = w ? opendir(dir) : NULL;
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, w ? "cannot open the directory" : "out of memory");
        free(w);
        return NULL;
    }
    struct dirent *e;
    size_t cap = 0;
    int bad = 0;
    while (!bad && (e = readdir(d))) {
        char norm[LOCALE_TAG_MAX + 1], file[4096];
        struct stat st;
        if (locale_tag_norm(e->d_name, norm, sizeof norm))
            continue; /* ".", "..", or no language tag */
        snprintf(file, sizeof file, "%s/%s/words.json", dir, e->d_name);
        if (stat(file, &st) || !S_ISREG(st.st_mode))
            continue; /* a folder of mail templates only */
        json_error_t je;
        json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(root)) {
            if (root)
                snprintf(err, errlen, "%s: not a JSON object", file);
            else
                snprintf(err, errlen, "%s:%d:%d: %s", file, je.line, je.column, je.text);
            json_decref(root);
            bad = 1;
            break;
        }
        char path[512] = "";
        if (s_check(root, path, sizeof path, file, err, errlen)) {
            json_decref(root);
            bad = 1;
            break;
        }
        if (w->n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            s_locale_t *nl = realloc(w->loc, nc * sizeof *nl);
            if (!nl) {
                json_decref(root);
                snprintf(err, errlen, "out of memory");
                bad = 1;
                break;
            }
            w->loc = nl;
            cap = nc;
        }
        w->loc[w->n].name = strdup(e->d_name);
        w->loc[w->n].root = root;
        if (!w->loc[w->n++].name) {
            snprintf(err, errlen, "out of memory");
            bad = 1;
        }
    }
    closedir(d);
    if (!bad && w->n)
        qsort(w->loc, w->n, sizeof *w->loc, s_by_name);
    int fb = bad ? -1 : s_find(w, fallback ? fallback : "");
    if (!bad && fb < 0)
        snprintf(err, errlen, "%s/%s/words.json: the fallback locale's words are missing", dir,
                 fallback ? fallback : "");
    if (fb < 0) {
        words_destroy(&w);
        return NULL;
    }
    w->fallback = (size_t)fb;
    return w;
}

void words_destroy(words_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    words_t *w = *self_p;
    for (size_t i = 0; i < w->n; i++) {
        free(w->loc[i].name);
        json_decref(w->loc[i].root);
    }
    free(w->loc);
    free(w);
    *self_p = NULL;
}

size_t words_count(const words_t *w) { return w->n; }
const char *words_name(const words_t *w, size_t i) { return i < w->n ? w->loc[i].name : NULL; }

/* s_match - the locale index for a tag (itself, then its primary
 * language), or -1 */
static int s_match(const words_t *w, const char *tag)
{
    char norm[LOCALE_TAG_MAX + 1];
    if (locale_tag_norm(tag, norm, sizeof norm))
        return -1;
    int i = s_find(w, norm);
    char *dash = strchr(norm, '-');
    if (i < 0 && dash) {
        *dash = '\0';
        i = s_find(w, norm);
    }
    return i;
}

const char *words_locale(const words_t *w, const char *tag)
{
    int i = s_match(w, tag);
    return w->loc[i >= 0 ? (size_t)i : w->fallback].name;
}

const char *words_accept(const words_t *w, const char *header)
{
    /* "da, en-GB;q=0.8, en;q=0.7": the best q wins, earlier on a tie */
    const char *p = header;
    int best = -1;
    double best_q = 0;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        char item[80];
        snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item - 1 ? n : sizeof item - 1), p);
        p += n + (p[n] == ',');
        char *semi = strchr(item, ';');
        double q = 1;
        if (semi) {
            *semi = '\0';
            const char *qs = strstr(semi + 1, "q=");
            q = qs ? strtod(qs + 2, NULL) : 1;
        }
        char *a = item, *z = item + strlen(item);
        while (*a == ' ' || *a == '\t')
            a++;
        while (z > a && (z[-1] == ' ' || z[-1] == '\t'))
            *--z = '\0';
        int i = q > 0 ? s_match(w, a) : -1;
        if (i >= 0 && q > best_q) {
            best = i;
            best_q = q;
        }
    }
    return best >= 0 ? w->loc[best].name : NULL;
}

/* s_lookup - key (dotted) in one locale's words, or NULL */
static const json_t *s_lookup(const json_t *root, const char *key)
{
    const json_t *v = root;
    char part[128];
    while (v && *key) {
        size_t n = strcspn(key, ".");
        if (n >= sizeof part)
            return NULL;
        memcpy(part, key, n);
        part[n] = '\0';
        v = json_object_get(v, part);
        key += n + (key[n] == '.');
    }
    return v;
}

/* s_word - key in locale, else in the fallback, else NULL */
static const json_t *s_word(const words_t *w, const char *locale, const char *key)
{
    int i = locale ? s_find(w, locale) : -1;
    const json_t *v = i >= 0 ? s_lookup(w->loc[i].root, key) : NULL;
    return v ? v : s_lookup(w->loc[w->fallback].root, key);
}

const char *words_get(const words_t *w, const char *locale, const char *key)
{
    const char *s = json_string_value(s_word(w, locale, key));
    return s ? s : key;
}

const char *words_list(const words_t *w, const char *locale, const char *key, size_t i)
{
    return json_string_value(json_array_get(s_word(w, locale, key), i));
}

/* s_raw - Mustache escaping that keeps the value as is (plain words) */
static int s_raw(mustache_buf_t *out, const char *s, size_t len, void *arg)
{
    (void)arg;
    return mustache_buf_append(out, s, len);
}

/* s_html - Mustache escaping as buf_html escapes, "'" included */
static int s_html(mustache_buf_t *out, const char *s, size_t len, void *arg)
{
    (void)arg;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        const char *e = s[i] == '&'    ? "&amp;"
                        : s[i] == '<'  ? "&lt;"
                        : s[i] == '>'  ? "&gt;"
                        : s[i] == '"'  ? "&quot;"
                        : s[i] == '\'' ? "&#39;"
                                       : NULL;
        if (!e)
            continue;
        if (mustache_buf_append(out, s + run, i - run) || mustache_buf_append(out, e, strlen(e)))
            return -1;
        run = i + 1;
    }
    return mustache_buf_append(out, s + run, len - run);
}

/* s_fill - the word filled in, escaping variables with esc; malloc'd */
static char *s_fill(const char *word, const json_t *vars, mustache_escape_fn esc)
{
    if (!strstr(word, "{{"))
        return strdup(word);
    mustache_t *t = mustache_new(word, NULL, 0);
    char *out = t ? mustache_render(t, vars, NULL, NULL, esc, NULL, NULL, 0) : NULL;
    mustache_destroy(&t);
    return out;
}

char *words_text(const words_t *w, const char *locale, const char *key, const json_t *vars)
{
    return s_fill(words_get(w, locale, key), vars, s_raw);
}

int words_html(buf_t *b, const words_t *w, const char *locale, const char *key,
               const json_t *vars)
{
    size_t kl = strlen(key);
    int markup = kl > 5 && strcmp(key + kl - 5, "_html") == 0;
    char *s = s_fill(words_get(w, locale, key), vars, markup ? s_html : s_raw);
    if (!s)
        return -1;
    if (markup)
        buf_puts(b, s);
    else
        buf_html(b, s);
    free(s);
    return buf_failed(b) ? -1 : 0;
}
