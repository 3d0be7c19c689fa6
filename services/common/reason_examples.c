/*
 * reason_examples.c - reading the tagger's labelled examples (see
 * reason_examples.h).  A plain TSV rather than an INI file: thousands of
 * short lines that staff and translators edit with any spreadsheet, and
 * one line is one example, so an error names the line to fix.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

#include "locale_tag.h"
#include "reason_examples.h"

/* s_say - report "FILE:LINE: message" and count it */
static void s_say(void (*report)(const char *, void *), void *arg, int *errors,
                  const char *path, long line, const char *fmt, const char *what)
{
    char msg[600], text[400];
    snprintf(text, sizeof text, fmt, what ? what : "");
    snprintf(msg, sizeof msg, "%s:%ld: %s", path, line, text);
    if (report)
        report(msg, arg);
    if (errors)
        (*errors)++;
}

long reason_examples_load(const char *path, const reasons_t *r, int strict,
                          reason_examples_add_fn add, void *add_arg,
                          void (*report)(const char *msg, void *arg), void *arg, int *errors)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: cannot read the examples: %s", path ? path : "(unset)",
                 path ? strerror(errno) : "no file");
        if (report)
            report(msg, arg);
        if (errors)
            (*errors)++;
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0, n = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        if (got == 0 || line[0] == '#')
            continue;
        char *tab1 = strchr(line, '\t');
        char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        if (!tab2) {
            s_say(report, arg, errors, path, lineno,
                  "expected LOCALE<TAB>REASON<TAB>TEXT%s", NULL);
            continue;
        }
        *tab1 = *tab2 = '\0';
        const char *code = tab1 + 1, *text = tab2 + 1;
        char locale[LOCALE_TAG_MAX + 1];
        if (locale_tag_norm(line, locale, sizeof locale)) {
            s_say(report, arg, errors, path, lineno, "bad locale \"%s\" (en, pt-BR, ...)", line);
            continue;
        }
        if (u8_check((const uint8_t *)text, strlen(text))) {
            s_say(report, arg, errors, path, lineno, "the text is not valid UTF-8%s", NULL);
            continue;
        }
        size_t chars = u8_mbsnlen((const uint8_t *)text, strlen(text));
        if (chars == 0 || chars > REASON_EXAMPLES_TEXT_MAX) {
            s_say(report, arg, errors, path, lineno, "the text is empty or longer than 10000 "
                                                    "characters%s", NULL);
            continue;
        }
        if (strict >= 0 && strcmp(code, REASON_EXAMPLES_PRAISE) != 0 &&
            reasons_find(r, code) < 0) {
            if (strict)
                s_say(report, arg, errors, path, lineno,
                      "unknown reason \"%s\" (not in [intake] reasons, nor praise)", code);
            continue;
        }
        if (add && add(locale, code, text, add_arg)) {
            n = -1;
            break;
        }
        n++;
    }
    free(line);
    fclose(f);
    return n;
}

int reason_examples_check_config(const config_t *cfg, const reasons_t *r,
                                 void (*report)(const char *msg, void *arg), void *arg)
{
    const char *path = config_get(cfg, "intake", "examples");
    int errors = 0;
    if (!r || !path || !*path) /* none: the keywords alone tag */
        return 0;
    /* the shipped examples cover the shipped taxonomy: a taxonomy of one's
     * own learns the reasons it shares with them, and the rest are skipped
     * (as at start), not 1,000 errors; in examples of one's own an unknown
     * code is a typo to fix */
    int strict = strcmp(path, REASON_EXAMPLES_SHIPPED) != 0;
    reason_examples_load(path, r, strict, NULL, NULL, report, arg, &errors);
    return errors;
}
