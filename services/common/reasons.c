/*
 * reasons.c - the reason taxonomy (config/reasons.conf): reasons, their
 * labels and keywords, and the teams that own them.  hark-intake tags and
 * routes with it, the gateway and `hark` check reason codes and show
 * labels, hark-loop knows a reason before any feedback carries it.
 *
 * The file (libinih, read through our own line reader so every error names
 * its line, as config.c does):
 *
 *   [team.support]                 a team: where its alerts go and when it works
 *   email = support@example.com
 *   days = mon-fri                 as [survey] window_days
 *   hours = 9-17                   local hours START-END
 *   timezone = Europe/Warsaw
 *
 *   [reason.shipping_delay]        a reason; the code never changes once used
 *   label.en = Late delivery       one per language: any tag (de, pt-BR);
 *                                  the pages and mails of a language
 *                                  without one show en's
 *   team = logistics
 *   churn = voluntary              or involuntary
 *   influenceable = yes
 *   first_response = 8h            business time of the owning team
 *   keywords.en = late, delay, not arrived
 *   keywords.pl = opóźnienie, dostawa    (a key may repeat; lists add up)
 *
 * The keywords are kept as written: hark-intake's matcher
 * (intake_match.c) folds them and builds its automaton.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistr.h>

#include "reason_examples.h"
#include "reasons.h"

#define S_LINE_MAX 200 /* Debian's libinih INI_MAX_LINE */

struct reasons {
    reasons_reason_t *reasons;
    int *team_line;           /* per reason: the line of its team key */
    char **team_name;         /* per reason, until resolved */
    size_t n, cap;
    reasons_team_t *teams;
    size_t nt, capt;
    int other;
    /* parse state */
    FILE *fp;
    const char *path;
    char *linebuf;
    size_t linecap;
    int line;
    char section[128];
    int cur_reason, cur_team;
    void (*report)(const char *, void *);
    void *arg;
    int errors;
    /* the keywords as written, for the matcher (intake_match.c) */
    char **raw;
    int *raw_reason;
    size_t nraw, capraw;
};

/* s_error - one error "FILE:LINE: message" */
static void s_error(reasons_t *r, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_error(reasons_t *r, int line, const char *fmt, ...)
{
    char msg[400], full[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(full, sizeof full, "%s:%d: %s", r->path, line, msg);
    else
        snprintf(full, sizeof full, "%s: %s", r->path, msg);
    r->errors++;
    if (r->report)
        r->report(full, r->arg);
}

/* s_grow - make room for one more element in *p (count n, capacity *cap) */
static int s_grow(void **p, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, nc * size);
    if (!q)
        return -1;
    memset((char *)q + *cap * size, 0, (nc - *cap) * size);
    *p = q;
    *cap = nc;
    return 0;
}

int reasons_code_ok(const char *c)
{
    size_t n = strlen(c);
    if (n == 0 || n > REASONS_CODE_MAX || !(c[0] >= 'a' && c[0] <= 'z'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '0' && c[i] <= '9') || c[i] == '_'))
            return 0;
    return 1;
}

/* s_section_start - a "[name]" line: a new reason or team */
static void s_section_start(reasons_t *r, const char *name)
{
    snprintf(r->section, sizeof r->section, "%s", name);
    r->cur_reason = r->cur_team = -1;
    if (strncmp(name, "reason.", 7) == 0) {
        const char *code = name + 7;
        if (!reasons_code_ok(code)) {
            s_error(r, r->line, "[%s]: a reason code is a-z, 0-9 and _, starting with a letter",
                    name);
            return;
        }
        if (reasons_find(r, code) >= 0) {
            s_error(r, r->line, "[%s]: duplicate reason code \"%s\"", name, code);
            return;
        }
        if (r->n >= REASONS_MAX) { /* the matcher marks reasons in a fixed array */
            s_error(r, r->line, "[%s]: more than %d reasons", name, REASONS_MAX);
            return;
        }
        if (s_grow((void **)&r->reasons, r->n, &r->cap, sizeof *r->reasons)) {
            s_error(r, r->line, "out of memory");
            return;
        }
        /* the per-reason side arrays follow the reasons' capacity */
        char **tn = realloc(r->team_name, r->cap * sizeof *tn);
        if (tn)
            r->team_name = tn;
        int *tl = tn ? realloc(r->team_line, r->cap * sizeof *tl) : NULL;
        if (!tl) {
            s_error(r, r->line, "out of memory");
            return;
        }
        r->team_line = tl;
        reasons_reason_t *x = &r->reasons[r->n];
        memset(x, 0, sizeof *x);
        snprintf(x->code, sizeof x->code, "%.64s", code);
        x->team = -1;
        x->voluntary = 1;
        x->target_ms = 8LL * 3600 * 1000;
        r->team_name[r->n] = NULL;
        r->team_line[r->n] = r->line;
        r->cur_reason = (int)r->n++;
    } else if (strncmp(name, "team.", 5) == 0) {
        const char *tname = name + 5;
        if (!*tname || strlen(tname) >= sizeof r->teams->name) {
            s_error(r, r->line, "[%s]: a team needs a name", name);
            return;
        }
        if (reasons_team_find(r, tname) >= 0) {
            s_error(r, r->line, "[%s]: duplicate team \"%s\"", name, tname);
            return;
        }
        if (s_grow((void **)&r->teams, r->nt, &r->capt, sizeof *r->teams)) {
            s_error(r, r->line, "out of memory");
            return;
        }
        reasons_team_t *t = &r->teams[r->nt];
        snprintf(t->name, sizeof t->name, "%.63s", tname);
        snprintf(t->tz, sizeof t->tz, "UTC");
        char err[200];
        tz_window_parse("9-17", "mon-fri", &t->hours, err, sizeof err);
        r->cur_team = (int)r->nt++;
    } else {
        s_error(r, r->line, "[%s]: unknown section (expected [reason.CODE] or [team.NAME])",
                name);
    }
}

/* s_reader - fgets-like reader for inih that counts lines, sees section
 * headers (duplicates are errors inih would merge) and long lines */
static char *s_reader(char *str, int num, void *stream)
{
    reasons_t *r = stream;
    ssize_t n = getline(&r->linebuf, &r->linecap, r->fp);
    if (n < 0)
        return NULL;
    r->line++;
    char *l = r->linebuf;
    while (n > 0 && (l[n - 1] == '\n' || l[n - 1] == '\r'))
        l[--n] = '\0';
    if (n >= num - 1 || n >= S_LINE_MAX - 1) {
        s_error(r, r->line, "line is longer than %d bytes (repeat the key to add more)",
                S_LINE_MAX - 2);
        str[0] = '\0';
        return str;
    }
    const char *p = l;
    if (r->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (!end || end - p - 1 >= (long)sizeof r->section) {
            s_error(r, r->line, "malformed section header");
            str[0] = '\0';
            return str;
        }
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(end - p - 1), p + 1);
        s_section_start(r, name);
    } else if (*p && *p != ';' && *p != '#' && !strchr(p, '=') && p == l) {
        s_error(r, r->line, "expected key = value");
        str[0] = '\0';
        return str;
    }
    memcpy(str, l, (size_t)n + 1);
    return str;
}

/* s_bool - yes/no/true/false/on/off/1/0; -1 otherwise */
static int s_bool(const char *v)
{
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false",
                                                                              "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* s_tag - a language tag lowercased with '_' as '-' into out (size >
 * REASONS_TAG_MAX); -1 unless [a-z0-9-] starting with a letter.  No list of
 * languages: a new one is a templates/ folder and its labels here. */
static int s_tag(const char *l, char *out)
{
    size_t n = l ? strlen(l) : 0;
    if (n == 0 || n > REASONS_TAG_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = l[i] == '_' ? '-' : (char)tolower((unsigned char)l[i]);
        if (!islower((unsigned char)c) && !isdigit((unsigned char)c) && c != '-')
            return -1;
        out[i] = c;
    }
    out[n] = '\0';
    return islower((unsigned char)out[0]) ? 0 : -1;
}

/* s_label_find - reason x's label for tag, or NULL */
static const char *s_label_find(const reasons_reason_t *x, const char *tag)
{
    for (size_t i = 0; i < x->nlabels; i++)
        if (strcmp(x->labels[i].tag, tag) == 0)
            return x->labels[i].text;
    return NULL;
}

/* s_label_set - label.<tag> = value (a repeated key replaces); 0/-1 */
static int s_label_set(reasons_reason_t *x, const char *tag, const char *value)
{
    size_t i = 0;
    while (i < x->nlabels && strcmp(x->labels[i].tag, tag) != 0)
        i++;
    char *text = strdup(value);
    if (!text)
        return -1;
    if (i == x->nlabels) {
        reasons_label_t *nl = realloc(x->labels, (x->nlabels + 1) * sizeof *nl);
        if (!nl) {
            free(text);
            return -1;
        }
        x->labels = nl;
        snprintf(nl[i].tag, sizeof nl[i].tag, "%s", tag);
        nl[i].text = NULL;
        x->nlabels++;
    }
    free(x->labels[i].text);
    x->labels[i].text = text;
    return 0;
}

/* s_add_keywords - a comma-separated list for reason i */
static void s_add_keywords(reasons_t *r, int reason, const char *list)
{
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *a = p, *b = p + n;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a) {
            size_t cap = r->capraw;
            if (s_grow((void **)&r->raw, r->nraw, &r->capraw, sizeof *r->raw) ||
                s_grow((void **)&r->raw_reason, r->nraw, &cap, sizeof *r->raw_reason)) {
                s_error(r, r->line, "out of memory");
                return;
            }
            r->raw[r->nraw] = strndup(a, (size_t)(b - a));
            if (!r->raw[r->nraw]) {
                s_error(r, r->line, "out of memory");
                return;
            }
            if (u8_check((const uint8_t *)r->raw[r->nraw], strlen(r->raw[r->nraw]))) {
                s_error(r, r->line, "keyword is not valid UTF-8");
                free(r->raw[r->nraw]);
                return;
            }
            r->raw_reason[r->nraw++] = reason;
        }
        p += n;
        if (*p == ',')
            p++;
    }
}

/* s_handler - one key = value */
static int s_handler(void *user, const char *section, const char *name, const char *value)
{
    reasons_t *r = user;
    (void)section; /* the reader tracked it (with duplicates rejected) */
    if (r->cur_reason >= 0) {
        reasons_reason_t *x = &r->reasons[r->cur_reason];
        char tag[REASONS_TAG_MAX + 1];
        if (strncmp(name, "label.", 6) == 0 && s_tag(name + 6, tag) == 0) {
            if (s_label_set(x, tag, value))
                s_error(r, r->line, "out of memory");
        } else if (strncmp(name, "keywords.", 9) == 0 && s_tag(name + 9, tag) == 0) {
            s_add_keywords(r, r->cur_reason, value);
        } else if (strcmp(name, "team") == 0) {
            free(r->team_name[r->cur_reason]);
            r->team_name[r->cur_reason] = strdup(value);
            r->team_line[r->cur_reason] = r->line;
        } else if (strcmp(name, "churn") == 0) {
            if (strcmp(value, "voluntary") == 0 || strcmp(value, "involuntary") == 0)
                x->voluntary = strcmp(value, "voluntary") == 0;
            else
                s_error(r, r->line, "[%s] churn: voluntary or involuntary, not \"%s\"",
                        r->section, value);
        } else if (strcmp(name, "influenceable") == 0) {
            int b = s_bool(value);
            if (b < 0)
                s_error(r, r->line, "[%s] influenceable: yes or no, not \"%s\"", r->section,
                        value);
            else
                x->influenceable = b;
        } else if (strcmp(name, "first_response") == 0) {
            long long ms;
            if (config_parse_duration(value, &ms) || ms <= 0 || ms > 365LL * 86400 * 1000)
                s_error(r, r->line,
                        "[%s] first_response: a duration like 4h or 2d (business time), not"
                        " \"%s\"",
                        r->section, value);
            else
                x->target_ms = ms;
        } else {
            s_error(r, r->line, "[%s] %s: unknown key", r->section, name);
        }
    } else if (r->cur_team >= 0) {
        reasons_team_t *t = &r->teams[r->cur_team];
        if (strcmp(name, "email") == 0) {
            const char *at = strchr(value, '@');
            if (!at || at == value || !at[1] || strpbrk(value, " <>\"\r\n,;") ||
                strlen(value) >= sizeof t->email)
                s_error(r, r->line, "[%s] email: not an email address: \"%s\"", r->section,
                        value);
            else
                snprintf(t->email, sizeof t->email, "%s", value);
        } else if (strcmp(name, "hours") == 0 || strcmp(name, "days") == 0) {
            char err[200];
            tz_window_t w = t->hours;
            char hours[32], days[128];
            snprintf(hours, sizeof hours, "%d-%d", w.start_hour, w.end_hour);
            snprintf(days, sizeof days, "all");
            if (strcmp(name, "hours") == 0)
                snprintf(hours, sizeof hours, "%s", value);
            else
                snprintf(days, sizeof days, "%s", value);
            if (tz_window_parse(hours, days, &w, err, sizeof err)) {
                const char *m = strchr(err, ':');
                s_error(r, r->line, "[%s] %s: bad %s%s", r->section, name, name,
                        m ? m : "");
            } else {
                if (strcmp(name, "hours") == 0) {
                    t->hours.start_hour = w.start_hour;
                    t->hours.end_hour = w.end_hour;
                } else {
                    t->hours.days = w.days;
                }
            }
        } else if (strcmp(name, "timezone") == 0) {
            if (!tz_ok(value) || strlen(value) >= sizeof t->tz)
                s_error(r, r->line, "[%s] timezone: unknown time zone \"%s\"", r->section,
                        value);
            else
                snprintf(t->tz, sizeof t->tz, "%s", value);
        } else {
            s_error(r, r->line, "[%s] %s: unknown key", r->section, name);
        }
    }
    return 1;
}

reasons_t *reasons_load(const char *path, void (*report)(const char *msg, void *arg), void *arg,
                        int *errors)
{
    reasons_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->path = path;
    r->report = report;
    r->arg = arg;
    r->cur_reason = r->cur_team = -1;
    r->other = -1;
    r->fp = fopen(path, "r");
    if (!r->fp) {
        s_error(r, 0, "cannot open: %s", strerror(errno));
        if (errors)
            *errors = r->errors;
        reasons_destroy(&r);
        return NULL;
    }
    ini_parse_stream(s_reader, r, s_handler, r);
    fclose(r->fp);
    r->fp = NULL;
    free(r->linebuf);
    r->linebuf = NULL;
    /* what needs the whole file: teams named, `other` present */
    for (size_t i = 0; i < r->n; i++) {
        const char *tn = r->team_name[i];
        r->reasons[i].team = tn ? reasons_team_find(r, tn) : -1;
        if (!tn)
            s_error(r, r->team_line[i], "[reason.%s]: no team (team = NAME of a [team.NAME])",
                    r->reasons[i].code);
        else if (r->reasons[i].team < 0)
            s_error(r, r->team_line[i], "[reason.%s] team: unknown team \"%s\"",
                    r->reasons[i].code, tn);
    }
    r->other = reasons_find(r, "other");
    if (r->other < 0)
        s_error(r, 0, "no [reason.other]: texts that match no keyword are filed under it");
    if (r->n == 0 || r->nt == 0)
        s_error(r, 0, "the taxonomy needs at least one [team.NAME] and one [reason.CODE]");
    if (errors)
        *errors = r->errors;
    return r;
}

void reasons_destroy(reasons_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    reasons_t *r = *self_p;
    for (size_t i = 0; i < r->n; i++) {
        for (size_t l = 0; l < r->reasons[i].nlabels; l++)
            free(r->reasons[i].labels[l].text);
        free(r->reasons[i].labels);
        if (r->team_name)
            free(r->team_name[i]);
    }
    for (size_t i = 0; i < r->nraw; i++)
        free(r->raw[i]);
    free(r->raw);
    free(r->raw_reason);
    free(r->reasons);
    free(r->team_name);
    free(r->team_line);
    free(r->teams);
    free(r->linebuf);
    free(r);
    *self_p = NULL;
}

size_t reasons_count(const reasons_t *r) { return r->n; }
const reasons_reason_t *reasons_get(const reasons_t *r, size_t i) { return &r->reasons[i]; }
int reasons_other(const reasons_t *r) { return r->other; }
size_t reasons_team_count(const reasons_t *r) { return r->nt; }
size_t reasons_keyword_count(const reasons_t *r) { return r->nraw; }

const char *reasons_keyword(const reasons_t *r, size_t i, int *reason)
{
    if (i >= r->nraw)
        return NULL;
    if (reason)
        *reason = r->raw_reason[i];
    return r->raw[i];
}

const reasons_team_t *reasons_team(const reasons_t *r, int team)
{
    return team >= 0 && (size_t)team < r->nt ? &r->teams[team] : NULL;
}

int reasons_find(const reasons_t *r, const char *code)
{
    for (size_t i = 0; code && i < r->n; i++)
        if (strcmp(r->reasons[i].code, code) == 0)
            return (int)i;
    return -1;
}

int reasons_team_find(const reasons_t *r, const char *name)
{
    for (size_t i = 0; name && i < r->nt; i++)
        if (strcmp(r->teams[i].name, name) == 0)
            return (int)i;
    return -1;
}

const char *reasons_label(const reasons_t *r, size_t i, const char *locale)
{
    const reasons_reason_t *x = &r->reasons[i];
    char tag[REASONS_TAG_MAX + 1];
    const char *l = NULL;
    if (s_tag(locale, tag) == 0) { /* "pt-BR": pt-br, then pt */
        l = s_label_find(x, tag);
        char *dash = strchr(tag, '-');
        if (!l && dash) {
            *dash = '\0';
            l = s_label_find(x, tag);
        }
    }
    if (!l)
        l = s_label_find(x, "en");
    return l ? l : x->code;
}

int reasons_check_config(const config_t *cfg, void (*report)(const char *msg, void *arg),
                         void *arg)
{
    int errors = 0;
    const char *path = config_get(cfg, "intake", "reasons");
    reasons_t *r = reasons_load(path ? path : "config/reasons.conf", report, arg, &errors);
    /* the tagger's examples name reasons of this taxonomy */
    errors += reason_examples_check_config(cfg, r, report, arg);
    reasons_destroy(&r);
    return errors;
}

