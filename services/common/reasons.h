/*
 * reasons.h - the reason taxonomy (config/reasons.conf): reason codes,
 * their labels per locale, their keywords, and the teams that own them
 * with their business hours.  hark-intake tags and routes with it, the
 * gateway checks codes and shows labels on the customer forms, hark-loop
 * knows a reason before any feedback carries it, and `hark` checks the
 * file (check-config) and codes (retag).
 *
 * A loaded taxonomy is read-only, so any number of threads may use it.
 */
#ifndef HARK_REASONS_H
#define HARK_REASONS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "tz.h"

#define REASONS_TAG_MAX 35        /* characters of a label's language tag */
#define REASONS_CODE_MAX 64
#define REASONS_MAX_CODES 32      /* feedback.tagged's maxItems */
#define REASONS_MAX 1000          /* reasons in one taxonomy */

/* One label.<tag> of a reason: any language, as templates/ has folders */
typedef struct {
    char tag[REASONS_TAG_MAX + 1]; /* lower case, '-' between subtags: "pt-br" */
    char *text;
} reasons_label_t;

typedef struct {
    char name[64];
    char email[256];
    char tz[80];
    tz_window_t hours; /* business hours: local [start, end) on days */
} reasons_team_t;

typedef struct {
    char code[REASONS_CODE_MAX + 1];
    reasons_label_t *labels;     /* as given; none for a language falls back */
    size_t nlabels;              /* to en, then the code */
    int team;                    /* index into the teams */
    int voluntary;               /* 1 voluntary churn, 0 involuntary */
    int influenceable;
    int64_t target_ms;           /* first-response target, business time */
} reasons_reason_t;

typedef struct reasons reasons_t;

/* reasons_load - parse path (libinih); every error goes to report(msg,
 * arg) as "FILE:LINE: message" and is counted in *errors.  Returns the
 * taxonomy (even with errors, when one could be built; NULL when the file
 * cannot be read or out of memory).  Caller frees with reasons_destroy(). */
reasons_t *reasons_load(const char *path, void (*report)(const char *msg, void *arg), void *arg,
                        int *errors);
void reasons_destroy(reasons_t **self_p);

size_t reasons_count(const reasons_t *r);
const reasons_reason_t *reasons_get(const reasons_t *r, size_t i);
/* reasons_code_ok - 1 when code is a well-formed reason code,
 * ^[a-z][a-z0-9_]{0,63}$ (feedback.tagged's and loop.closed's pattern) */
int reasons_code_ok(const char *code);

/* reasons_find - index of code, or -1 */
int reasons_find(const reasons_t *r, const char *code);
/* reasons_other - index of `other` (always present in a loaded taxonomy) */
int reasons_other(const reasons_t *r);
const reasons_team_t *reasons_team(const reasons_t *r, int team);
size_t reasons_team_count(const reasons_t *r);
int reasons_team_find(const reasons_t *r, const char *name);
/* reasons_label - the label of reason i for locale: its own tag ("pt-br"),
 * then its language ("pt"), then en, then the code */
const char *reasons_label(const reasons_t *r, size_t i, const char *locale);
/* reasons_keyword_count - how many keywords the taxonomy lists (as
 * written: "late", "Доставк"; the matcher folds them) */
size_t reasons_keyword_count(const reasons_t *r);
/* reasons_keyword - keyword i (NULL past the end); *reason, when not NULL,
 * gets the index of the reason it belongs to */
const char *reasons_keyword(const reasons_t *r, size_t i, int *reason);

/* reasons_check_config - load [intake] reasons and report its errors
 * (hark check-config); returns the number of errors */
int reasons_check_config(const config_t *cfg, void (*report)(const char *msg, void *arg),
                         void *arg);

#endif
