/*
 * survey_link.h - the signed token in an NPS invite's score links.
 *
 * hark-survey makes the links (https://<public_url>/s/<token>?score=N);
 * hark-gateway checks them, without asking anyone: the token carries the
 * invite id, when it expires and the page's language.  Two purposes, so one
 * token cannot stand in for the other:
 *   "survey"      the link token: payload "<invite>\n<expires unix s>\n<locale>"
 *   "survey-form" the form's CSRF field: payload "<invite>"
 * An invite id is 1-64 of [A-Za-z0-9_-].  Keys: [hark] token_key (as for
 * unsubscribe links).
 */
#ifndef HARK_SURVEY_LINK_H
#define HARK_SURVEY_LINK_H

#include <stdint.h>

#define SURVEY_INVITE_MAX 64

typedef struct {
    char invite[SURVEY_INVITE_MAX + 1];
    int64_t expires;   /* unix seconds */
    char locale[36];   /* "" when none was given */
} survey_link_t;

/* survey_link_make - the link token for invite; NULL on a bad invite id or
 * locale, or OOM.  The caller frees the result. */
char *survey_link_make(const char *key, const char *invite, int64_t expires,
                       const char *locale);

/* survey_link_check - fill *out from a token.  0 when it is genuine (whether
 * expired or not: compare out->expires with the clock), -1 when it is
 * malformed or forged. */
int survey_link_check(const char *key, const char *token, survey_link_t *out);

/* survey_link_form_make - the CSRF field for invite's form; the caller frees it */
char *survey_link_form_make(const char *key, const char *invite);

/* survey_link_form_check - 1 when field is the form token of invite, else 0 */
int survey_link_form_check(const char *key, const char *invite, const char *field);

/* survey_link_invite_ok - 1 when id is a valid invite id */
int survey_link_invite_ok(const char *id);

#endif
