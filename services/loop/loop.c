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
 *           customer.unsuppressed (staff lift it),
 *           feedback.tagged (who raised which reason; the last tagging of a
 *           case holds its codes), loop.closed (close a loop),
 *           mail.requested (hark-survey's invites: invite -> customer; its
 *           own loop/<loop>/mail/<customer>: that customer was told, what
 *           it journaled winning over deciding again on a replay) and
 *           survey.answered (scores), for the report.
 *           customer.erased, privacy.retention: what it copied about the customer
 *           blanked, counts kept (loop_store_privacy, privacy.h).
 * Emits:    mail.requested (template loop_closed, category loop; key
 *           loop/<loop>/mail/<customer>) and loop.notified (key
 *           loop/<loop>/notified/<customer>), one each per customer told.
 * Serves:   [loop] control: SERVICE_STATUS, LOOP_PREVIEW, LOOP_REPORT,
 *           LOOP_CUSTOMER (one customer's loop emails).
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
 * The timer decides only once the consumer has reached the journal's end:
 * a replay (hark rebuild) first reads back, from its own mail.requested,
 * whom it told (loop_store_told), so a customer erased since, whose
 * address the replay no longer finds, still counts as told.
 *
 * Single-threaded: everything runs on the loop's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "reasons.h"
#include "service.h"

static int s_init(service_t *svc);
static void s_fini(service_t *svc);

/* What hark-loop consumes (its handlers in loop_apply.c) */
static const service_event_t s_events[] = {
    {EV_CUSTOMER, loop_apply_customer},
    {EV_PURCHASE, loop_apply_contact},
    {EV_COMPLAINT, loop_apply_contact},
    {EV_CANCELLATION, loop_apply_contact},
    {EV_MAIL_UNSUBSCRIBED, loop_apply_unsubscribed},
    {EV_MAIL_BOUNCED, loop_apply_bounced},
    {EV_CUSTOMER_UNSUPPRESSED, loop_apply_unsuppressed},
    {EV_FEEDBACK_TAGGED, loop_apply_tagged},
    {EV_LOOP_CLOSED, loop_apply_closed},
    {EV_MAIL_REQUESTED, loop_apply_requested},
    {EV_SURVEY_ANSWERED, loop_apply_answered},
    {NULL, NULL},
};

/* What it serves on [loop] control (loop_control.c) */
static const service_command_t s_commands[] = {
    {CMD_LOOP_PREVIEW, CMD_LOOP_PREVIEW_OK, loop_control_preview},
    {CMD_LOOP_REPORT, CMD_LOOP_REPORT_OK, loop_control_report},
    {CMD_LOOP_CUSTOMER, CMD_LOOP_CUSTOMER_OK, loop_control_customer},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "loop",
        .migrations = loop_store_migrations,
        .privacy = &loop_store_privacy,
        .events = s_events,
        .commands = s_commands,
        .init = s_init, /* settings, the taxonomy, the send timer (loop_send.c) */
        .fini = s_fini,
        .status = loop_control_status,
    };
    return service_main(argc, argv, &def);
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
    loop_t *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    service_set_state(svc, h);
    if (!(h->report = reply_memo_new(16)))
        return -1;
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
    h->send_timer = evloop_add_timer(service_evloop(svc), 1000, loop_send_due, svc);
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
    loop_t *h = service_state(svc);
    if (!h)
        return;
    render_destroy(&h->send.render);
    words_destroy(&h->words);
    reasons_destroy(&h->reasons);
    reply_memo_destroy(&h->report);
    free(h);
    service_set_state(svc, NULL);
}
