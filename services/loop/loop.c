/*
 * hark-loop - close the loop: "you said, we listened".  When support staff
 * close a loop for a reason code, every customer whose feedback was tagged
 * with it hears back once, in their language, quoting what they said.
 *
 * Owns:     loop.db ([loop] db): customers (contact copies), suppressions,
 *           cases (feedback and its reason codes, from feedback.tagged),
 *           loops, recipients (who hears about which loop, and whether they
 *           did), told_cases, invites and answers (hark-survey's, for the
 *           NPS in the report), outbox (events on their way to the journal).
 * Consumes: customer, purchase, complaint, cancellation (contact copies),
 *           mail.unsubscribed and mail.bounced (suppress: no loop email),
 *           feedback.tagged (who raised which reason; the last tagging of a
 *           case holds its codes), loop.closed (close a loop),
 *           mail.requested (only hark-survey's invites: invite -> customer)
 *           and survey.answered (scores), for the report.
 * Emits:    mail.requested (template loop_closed, category loop; key
 *           loop/<loop>/mail/<customer>) and loop.notified (key
 *           loop/<loop>/notified/<customer>), one each per customer told.
 * Serves:   [loop] control: SERVICE_STATUS, LOOP_PREVIEW, LOOP_REPORT.
 * Config:   [loop] control db batch quotes excerpt; [intake] reasons (a
 *           reason defined there is one a loop may close before any
 *           feedback carries it: that close tells nobody); [mailer] templates
 *           default_locale shop_name (the preview renders as the mailer
 *           does, with common/render.c; the dates of quotes are
 *           written with the "date" words of templates/<locale>/words.json).
 *
 * The life of a loop: a loop.closed event (hark loop close, POST /v1/loops)
 * is applied in the consumer's transaction: the customers to tell are
 * chosen then and written as 'pending' recipients, and the feedback they
 * gave is marked covered by the loop - so exactly once, whatever restarts.
 * A timer then takes up to [loop] batch pending recipients per transaction:
 * for each customer it writes the mail.requested and the loop.notified into
 * the outbox and marks the recipient sent (or unsubscribed, bounced,
 * no_address); after the commit the outbox goes to the journal.  A kill -9
 * before a commit undoes that batch, which is decided again at the next
 * start; after it, the outbox is flushed at the next start and the journal
 * stores each key once.  So every customer gets exactly one request.
 *
 * Single-threaded: everything runs on the loop's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contacts.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "outbox.h"
#include "proto.h"
#include "reasons.h"
#include "service.h"

typedef struct {
    loop_send_conf_t send;
    reasons_t *reasons; /* [intake] reasons, or NULL; send.reasons points to it */
    words_t *words;     /* the dates' words; send.words points to it */
    int send_timer;
} loop_state_t;

static int s_on_customer(service_t *, sqlite3 *, const hark_event_t *, consumer_t *);
static int s_on_contact(service_t *, sqlite3 *, const hark_event_t *, consumer_t *);
static int s_on_unsubscribed(service_t *, sqlite3 *, const hark_event_t *, consumer_t *);
static int s_on_bounced(service_t *, sqlite3 *, const hark_event_t *, consumer_t *);
static int s_on_tagged(service_t *, sqlite3 *, const hark_event_t *, consumer_t *);
static int s_on_closed(service_t *, sqlite3 *, const hark_event_t *, consumer_t *);
static int s_on_requested(service_t *, sqlite3 *, const hark_event_t *, consumer_t *);
static int s_on_answered(service_t *, sqlite3 *, const hark_event_t *, consumer_t *);
static json_t *s_preview(service_t *, const json_t *, service_err_t *);
static json_t *s_report(service_t *, const json_t *, service_err_t *);
static int s_init(service_t *svc);
static void s_fini(service_t *svc);
static void s_status(service_t *svc, json_t *body);

static const service_event_t s_events[] = {
    {EV_CUSTOMER, s_on_customer},
    {EV_PURCHASE, s_on_contact},
    {EV_COMPLAINT, s_on_contact},
    {EV_CANCELLATION, s_on_contact},
    {EV_MAIL_UNSUBSCRIBED, s_on_unsubscribed},
    {EV_MAIL_BOUNCED, s_on_bounced},
    {EV_FEEDBACK_TAGGED, s_on_tagged},
    {EV_LOOP_CLOSED, s_on_closed},
    {EV_MAIL_REQUESTED, s_on_requested},
    {EV_SURVEY_ANSWERED, s_on_answered},
    {NULL, NULL},
};

static const service_command_t s_commands[] = {
    {CMD_LOOP_PREVIEW, CMD_LOOP_PREVIEW_OK, s_preview},
    {CMD_LOOP_REPORT, CMD_LOOP_REPORT_OK, s_report},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "loop",
        .migrations = loop_store_migrations,
        .events = s_events,
        .commands = s_commands,
        .init = s_init, /* settings, the taxonomy, the send timer */
        .fini = s_fini,
        .status = s_status,
    };
    return service_main(argc, argv, &def);
}

/* s_on_customer - customer: the contact copy */
static int s_on_customer(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_upsert(db, ev->payload);
}

/* s_on_contact - purchase, complaint, cancellation: the customer they carry */
static int s_on_contact(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    json_t *cust = json_object_get(ev->payload, "customer");
    return cust ? contacts_upsert(db, cust) : 0;
}

/* s_on_unsubscribed - mail.unsubscribed: no loop email */
static int s_on_unsubscribed(service_t *svc, sqlite3 *db, const hark_event_t *ev,
                             consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_suppress(db, json_string_value(json_object_get(ev->payload, "address")),
                             "unsubscribed");
}

/* s_on_bounced - mail.bounced: no loop email */
static int s_on_bounced(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return contacts_suppress(db, json_string_value(json_object_get(ev->payload, "address")),
                             "bounced");
}

/* s_on_tagged - feedback.tagged: who raised which reason */
static int s_on_tagged(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return loop_store_tagged(db, ev->payload, ev->offset);
}

/* s_on_requested - mail.requested: hark-survey's invites, for the report */
static int s_on_requested(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return loop_store_invite(db, ev->key, ev->payload);
}

/* s_on_answered - survey.answered: scores, for the report */
static int s_on_answered(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)c;
    return loop_store_answer(db, ev->payload, consumer_event_ms(ev));
}

/* s_on_closed - loop.closed: a loop and the customers to tell */
static int s_on_closed(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    loop_state_t *h = service_state(svc);
    const json_t *p = ev->payload;
    long added = 0;
    if (loop_store_closed(db, p, consumer_event_ms(ev), ev->offset, &added)) {
        log_error("event=loop_not_closed offset=%lld loop=%s", (long long)ev->offset,
                  json_string_value(json_object_get(p, "loop")));
        return -1;
    }
    log_info("event=loop_closed loop=%s reason=%s recipients=%ld",
             json_string_value(json_object_get(p, "loop")),
             json_string_value(json_object_get(p, "reason")), added);
    if (h && added)
        evloop_timer_at(service_evloop(svc), h->send_timer, 0);
    return 0;
}

/* s_on_send - tell the next batch of pending recipients */
static int s_on_send(evloop_t *loop, void *arg)
{
    service_t *svc = arg;
    loop_state_t *h = service_state(svc);
    sqlite3 *db = service_db(svc);
    service_flush_outbox(svc); /* left over from a crash or a journal outage */
    int n = loop_send_batch(db, &h->send);
    if (n > 0) {
        service_flush_outbox(svc);
        evloop_timer_at(loop, h->send_timer, 0); /* there may be more */
    }
    return 0;
}

/* s_preview - LOOP_PREVIEW: the mail a close would send */
static json_t *s_preview(service_t *svc, const json_t *req, service_err_t *err)
{
    loop_state_t *h = service_state(svc);
    json_t *body = loop_send_preview(service_db(svc), &h->send, req, err->text, sizeof err->text);
    if (!body)
        err->code = "invalid_request";
    return body;
}

/* s_report - LOOP_REPORT: loops and their effect */
static json_t *s_report(service_t *svc, const json_t *req, service_err_t *err)
{
    json_t *body = loop_report_build(service_db(svc), req);
    return body ? body : service_fail(err, "invalid_request", "the report failed");
}

/* s_status - recipients by status in SERVICE_STATUS */
static void s_status(service_t *svc, json_t *body)
{
    json_t *d = json_object();
    sqlite3 *db = service_db(svc);
    sqlite3_stmt *st = db_prepare(db, "SELECT status, count(*) FROM recipients GROUP BY status");
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(d, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    db_finish(st);
    json_object_set_new(d, "loops", json_integer(db_int(db, "SELECT count(*) FROM loops", 0)));
    json_object_set_new(d, "outbox", json_integer(db_int(db, "SELECT count(*) FROM outbox", 0)));
    json_object_set_new(body, "detail", d);
}

/* s_reasons_error - a problem with [intake] reasons: hark-loop goes on
 * without the taxonomy (hark-intake and hark check-config refuse it) */
static void s_reasons_error(const char *msg, void *arg)
{
    (void)arg;
    log_warn("event=reasons_not_loaded error=\"%s\"", msg);
}

/* s_init - settings and the send timer */
static int s_init(service_t *svc)
{
    const config_t *cfg = service_config(svc);
    loop_state_t *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    service_set_state(svc, h);
    h->send.batch = (int)config_int(cfg, "loop", "batch");
    h->send.quotes = (int)config_int(cfg, "loop", "quotes");
    h->send.excerpt = (size_t)config_int(cfg, "loop", "excerpt");
    h->send.shop_name = config_get(cfg, "mailer", "shop_name");
    h->send.templates = config_get(cfg, "mailer", "templates");
    h->send.default_locale = config_get(cfg, "mailer", "default_locale");
    char err[600];
    h->words = words_load(h->send.templates, h->send.default_locale, err, sizeof err);
    if (!h->words) {
        log_error("event=bad_words error=\"%s\"", err);
        return -1;
    }
    h->send.words = h->words;
    /* the taxonomy only widens what a close accepts: without it (no file,
     * or errors hark check-config names) a reason is known once feedback
     * carries it, as before */
    int errors = 0;
    h->reasons = reasons_load(config_get(cfg, "intake", "reasons"), s_reasons_error, NULL,
                              &errors);
    if (h->reasons && errors)
        reasons_destroy(&h->reasons);
    h->send.reasons = h->reasons;
    h->send_timer = evloop_add_timer(service_evloop(svc), 1000, s_on_send, svc);
    if (h->send_timer < 0)
        return -1;
    evloop_timer_at(service_evloop(svc), h->send_timer, 0); /* resume what a crash left */
    log_info("event=loop_ready batch=%d quotes=%d excerpt=%zu", h->send.batch, h->send.quotes,
             h->send.excerpt);
    return 0;
}

/* s_fini - nothing in flight: every change is committed as it is made */
static void s_fini(service_t *svc)
{
    loop_state_t *h = service_state(svc);
    if (!h)
        return;
    render_destroy(&h->send.render);
    words_destroy(&h->words);
    reasons_destroy(&h->reasons);
    free(h);
    service_set_state(svc, NULL);
}
