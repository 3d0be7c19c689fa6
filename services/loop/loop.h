/*
 * loop.h - what the parts of hark-loop share: loop.db's schema and its
 * writes (loop_store.c), the email of one customer (loop_send.c), quotes
 * and dates (loop_text.c), the report (loop_report.c), and the checking of
 * a close request (common/loop_check.c, as hark and the gateway check it).
 * Each function's prefix is its file's.
 */
#ifndef HARK_LOOP_H
#define HARK_LOOP_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "loop_check.h"
#include "render.h"
#include "reply_memo.h"
#include "service.h"
#include "words.h"

#define LOOP_TEMPLATE "loop_closed"

extern const char *const loop_store_migrations[];
/* loop_store_privacy - what customer.erased and privacy.retention blank */
extern const struct privacy_sql loop_store_privacy;

/* --- loop_store.c: what the journal tells us -------------------------- */

/* loop_store_tagged - a feedback.tagged payload: the case's row, and its
 * reasons replaced by the codes given (the last tagging of a case holds its
 * codes; a reason the case keeps keeps whether a loop covered it).  0/-1 */
int loop_store_tagged(sqlite3 *db, const json_t *p, int64_t offset);

/* loop_store_invite - a mail.requested of hark-survey's invites (key
 * survey/invite/<id>): which customer invite <id> asked.  0/-1 */
int loop_store_invite(sqlite3 *db, const char *key, const json_t *p);

/* loop_store_told - a mail.requested of hark-loop's own (key
 * loop/<loop>/mail/<customer>): that customer was told about that loop,
 * at_ms (when the journal recorded it), in the text of its locale.  What
 * it journaled wins over deciding again: a replay after an erasure finds
 * no address, yet the customer was told.  A recipient already 'sent' stays
 * as it is.  0/-1 */
int loop_store_told(sqlite3 *db, const char *key, const json_t *p, int64_t at_ms,
                    const char *default_locale);

/* loop_store_answer - a survey.answered: the invite's score, the last one
 * counts.  at_ms: when the journal recorded it.  0/-1 */
int loop_store_answer(sqlite3 *db, const json_t *p, int64_t at_ms);

/* loop_store_closed - a loop.closed: the loop's row and its recipients, chosen
 * now, in the consumer's transaction, so exactly once: every customer with
 * feedback tagged reason (given since `since`; without it, feedback no loop
 * covered yet) who is not a recipient of this loop yet becomes a 'pending'
 * recipient, and that feedback is covered by this loop.  Sets *added to the
 * number of new recipients.  0/-1 */
int loop_store_closed(sqlite3 *db, const json_t *p, int64_t closed_ms, int64_t offset, long *added);

/* The candidates of a close or preview: feedback tagged reason, given since
 * since_ms (or, when since_ms < 0, not covered by any loop), whose customer
 * is not yet a recipient of loop (NULL: of any loop by that id).  The SQL
 * selects (case id, customer id) with ?1 reason, ?2 since_ms, ?3 loop. */
extern const char loop_store_candidates_sql[];

/* loop_store_since_ms - a since date YYYY-MM-DD as UTC midnight ms; -1 when
 * since is NULL, -2 when it is not a date */
int64_t loop_store_since_ms(const char *since);

/* --- loop_text.c: what the email quotes -------------------------------- */

/* loop_text_excerpt - the first max_chars code points of text (whitespace runs
 * made one space, trimmed), cut at a word boundary near the end when there
 * is one, with "…" when cut; malloc'd, caller frees; NULL on no memory.
 * Never cuts inside a UTF-8 sequence; invalid bytes are dropped. */
char *loop_text_excerpt(const char *text, size_t max_chars);

/* loop_text_date - the date of ms in the customer's zone tz (NULL, "" or a
 * zone the system does not know: UTC) as they read it in locale, by the
 * "date" words of the locale folder that serves it (words_locale): "23
 * November 2026", "23 ноября 2026 г.", "2026年11月23日".  Switches TZ
 * (tz.c): single-threaded processes only.  Returns out. */
const char *loop_text_date(const words_t *w, int64_t ms, const char *locale, const char *tz,
                           char *out, size_t len);

/* --- loop_send.c: the email of one customer ------------------------------ */

typedef struct {
    int batch;              /* [loop] batch: recipients per transaction */
    int quotes;             /* [loop] quotes: pieces of feedback quoted per email */
    size_t excerpt;         /* [loop] excerpt: code points per quote */
    const char *shop_name;  /* [mailer] shop_name, for the preview */
    const char *templates;  /* [mailer] templates */
    const char *default_locale;
    render_t *render;       /* the preview's renderer, made on first use; owned */
    const words_t *words;   /* the dates' words ([mailer] templates); owned by loop.c */
    const struct reasons *reasons; /* [intake] reasons (NULL: none could be read): a
                                    * reason defined there is known before any
                                    * feedback carries it; owned by loop.c */
} loop_send_conf_t;

/* loop_send_vars - the loop_closed variables: title, announcement and quotes,
 * the first `quotes` rows with text of the statement cases (stepped to its
 * end, not finished; columns: case id, text, given_at ms; newest first),
 * each cut to excerpt_chars and dated in locale, on the customer's day in
 * zone tz (loop_text_date).  Every case id is
 * appended to case_ids when not NULL (at most 1000).  Caller decrefs. */
json_t *loop_send_vars(const words_t *w, sqlite3_stmt *cases, const char *title,
                       const char *announcement, const char *locale, const char *tz, int quotes,
                       size_t excerpt_chars, json_t *case_ids);

/* loop_send_batch - in one transaction, decide up to conf->batch pending
 * recipients: for each customer we may write to, its mail.requested (key
 * loop/<loop>/mail/<customer>) and loop.notified (loop/<loop>/notified/
 * <customer>) go into the outbox; the others are marked unsubscribed,
 * bounced or no_address.  Returns how many were decided (0: none pending),
 * -1 on error (nothing changed). */
int loop_send_batch(sqlite3 *db, const loop_send_conf_t *conf);

/* loop_send_preview - the LOOP_PREVIEW_OK body for request req; NULL with err
 * on a bad request or a render error.  Writes nothing.  Caller decrefs. */
json_t *loop_send_preview(sqlite3 *db, loop_send_conf_t *conf, const json_t *req, char *err,
                      size_t errlen);

/* --- loop_report.c ------------------------------------------------------- */

/* loop_report_build - the LOOP_REPORT_OK body (every reason, or req's reason;
 * all time, or req's from/to); caller decrefs; NULL with err on a bad range
 * or a database error */
json_t *loop_report_build(sqlite3 *db, const json_t *req, char *err, size_t errlen);

/* loop_report_median - the median of n sorted values (0 when n is 0) */
double loop_report_median(const double *v, size_t n);

/* loop_report_nps - % promoters - % detractors, one decimal (0 when n is 0) */
double loop_report_nps(long promoters, long detractors, long n);

/* --- loop_send.c: the send timer ----------------------------------------- */

/* loop_send_due - timer: tell the next batch of pending recipients (and
 * again at once while there are more) */
int loop_send_due(evloop_t *loop, void *arg);

/* --- the process's state (loop.c) ----------------------------------------- */

typedef struct {
    loop_send_conf_t send;
    struct reasons *reasons; /* [intake] reasons, or NULL; send.reasons points to it */
    words_t *words;     /* the dates' words; send.words points to it */
    int send_timer;
    reply_memo_t *report; /* LOOP_REPORT's replies while loop.db is unchanged */
} loop_t;

/* --- the events it consumes (loop_apply.c) -------------------------------- */

int loop_apply_customer(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int loop_apply_contact(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int loop_apply_unsubscribed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                            consumer_t *c);
int loop_apply_bounced(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int loop_apply_unsuppressed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                            consumer_t *c);
int loop_apply_tagged(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int loop_apply_closed(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int loop_apply_requested(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);
int loop_apply_answered(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c);

/* --- [loop] control (loop_control.c) -------------------------------------- */

json_t *loop_control_preview(service_t *svc, const json_t *req, service_err_t *err);
json_t *loop_control_report(service_t *svc, const json_t *req, service_err_t *err);
json_t *loop_control_customer(service_t *svc, const json_t *req, service_err_t *err);
void loop_control_status(service_t *svc, json_t *body);

#endif
