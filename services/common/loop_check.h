/*
 * loop_check.h - checking a request to close a loop (POST /v1/loops,
 * `hark loop close`) and building hark-loop's preview request from it: the
 * gateway and `hark` check the same way, and hark-loop names loops the
 * same way.
 */
#ifndef HARK_LOOP_CHECK_H
#define HARK_LOOP_CHECK_H

#include <jansson.h>
#include <stddef.h>

/* loop_check_loop_id - the id of a loop: reason "-" the first 12 hex digits
 * of SHA-256(reason "\n" title) (reason cut to 40 characters), so the same
 * reason and title always name the same loop.  out: at least 65 bytes. */
const char *loop_check_loop_id(const char *reason, const char *title, char *out, size_t len);

/* loop_check_request - check a close request {reason, title, announcement,
 * texts?, since?, id?, dry_run?} (the body of POST /v1/loops; `hark loop close`
 * builds the same).  preview: title and announcement may be left out.  On
 * success returns 0 and, when payload is not NULL, the loop.closed payload
 * (with by) in *payload (caller decrefs) and dry_run in *dry_run.  On a bad
 * request -1 with the field ("" for the whole body) and a message naming
 * it.  texts: {locale: {title, announcement}}, each locale a tag
 * (loop_check_locale) given once, with both halves (else the field is
 * texts.<locale>.title or .announcement); the payload's keys are
 * normalised ("pt_BR" -> "pt-br"), and an empty texts is left out, so the
 * event is the one a close without texts always was. */
int loop_check_request(const json_t *req, int preview, const char *by, json_t **payload,
                   int *dry_run, char *field, size_t flen, char *msg, size_t mlen);

/* loop_check_locale - tag normalised (locale_tag_norm: lowercase, '_' as
 * '-') into out when it is a locale tag language[-Script][-REGION] as the
 * schemas' format "locale" reads one (en, pt-BR, zh-Hans-CN); 0, else -1 */
int loop_check_locale(const char *tag, char *out, size_t len);

/* loop_check_text_for - the key of the text of texts (a loop.closed's,
 * keys normalised) that a customer writing in locale reads: the locale's
 * own ("ru-ru"), else its language's ("ru"); a customer without a locale
 * ("" or NULL) reads in default_locale, the mailer's.  NULL: the
 * fallback (the loop's title and announcement).  Points into texts. */
const char *loop_check_text_for(const json_t *texts, const char *locale,
                                const char *default_locale);

/* loop_check_preview_body - the LOOP_PREVIEW request for a checked loop.closed
 * payload (or a preview's fields), render as given.  Caller decrefs. */
json_t *loop_check_preview_body(const json_t *payload, int render);

#endif
