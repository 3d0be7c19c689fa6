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

static const char *const s_consumes[] = {
    "customer",        "purchase",       "complaint",   "cancellation", "mail.unsubscribed",
    "mail.bounced",    "feedback.tagged", "loop.closed", "mail.requested", "survey.answered",
    NULL,
};

/* s_apply - one journal event */
static int s_apply(void *arg, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)c;
    service_t *svc = arg;
    loop_state_t *h = service_state(svc);
    const json_t *p = ev->payload;
    if (strcmp(ev->type, "customer") == 0)
        return contacts_upsert(db, p);
    if (strcmp(ev->type, "purchase") == 0 || strcmp(ev->type, "complaint") == 0 ||
        strcmp(ev->type, "cancellation") == 0) {
        json_t *cust = json_object_get(p, "customer");
        return cust ? contacts_upsert(db, cust) : 0;
    }
    if (strcmp(ev->type, "mail.unsubscribed") == 0)
        return contacts_suppress(db, json_string_value(json_object_get(p, "address")),
                               "unsubscribed");
    if (strcmp(ev->type, "mail.bounced") == 0)
        return contacts_suppress(db, json_string_value(json_object_get(p, "address")), "bounced");
    if (strcmp(ev->type, "feedback.tagged") == 0)
        return loop_store_tagged(db, p, ev->offset);
    if (strcmp(ev->type, "mail.requested") == 0)
        return loop_store_invite(db, ev->key, p);
    if (strcmp(ev->type, "survey.answered") == 0)
        return loop_store_answer(db, p, consumer_event_ms(ev));
    if (strcmp(ev->type, "loop.closed") == 0) {
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

/* s_reply - a JSON reply body, or ERROR invalid_request with err */
static int s_reply(void *sock, const wire_msg_t *msg, const char *cmd, json_t *body,
                   const char *err)
{
    if (!body)
        return wire_reply_error(sock, msg, "invalid_request", err), 0;
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (text)
        wire_reply(sock, msg, cmd, text, strlen(text));
    free(text);
    json_decref(body);
    return 0;
}

/* s_command - LOOP_PREVIEW, LOOP_REPORT */
static int s_command(service_t *svc, void *sock, const wire_msg_t *msg)
{
    loop_state_t *h = service_state(svc);
    int preview = strcmp(msg->cmd, CMD_LOOP_PREVIEW) == 0;
    if (!preview && strcmp(msg->cmd, CMD_LOOP_REPORT) != 0)
        return -1;
    json_t *req = wire_body_json(msg);
    char err[300] = "not a JSON object";
    json_t *body = !req      ? NULL
                   : preview ? loop_send_preview(service_db(svc), &h->send, req, err, sizeof err)
                             : loop_report_build(service_db(svc), req);
    if (req && !body && !preview)
        snprintf(err, sizeof err, "the report failed");
    json_decref(req);
    return s_reply(sock, msg, preview ? CMD_LOOP_PREVIEW_OK : CMD_LOOP_REPORT_OK, body, err);
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

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "loop",
        .migrations = loop_store_migrations,
        .apply = s_apply,
        .consumes = s_consumes,
        .init = s_init,
        .fini = s_fini,
        .status = s_status,
        .command = s_command,
    };
    return service_main(argc, argv, &def);
}
