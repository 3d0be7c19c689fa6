/*
 * hark-intake - reason-coded complaint and cancellation intake: every
 * complaint, cancellation and NPS comment becomes a case with reason codes,
 * an owning team and a first-response clock.
 *
 * Owns:     intake.db ([intake] db): customers (contact copies),
 *           suppressions (hard-bounced addresses), cases (with their
 *           assignee), case_search (their text, for the inbox's search),
 *           notes (a case's history), outbox (events on their way to the
 *           journal).
 * Consumes: customer; complaint, cancellation (gateway) and feedback.given
 *           (hark-survey's NPS comments): open a case; case.replied,
 *           case.retagged, case.resolved (staff, journaled by the gateway's
 *           admin API, `hark cases` and Hark Console); case.noted,
 *           case.assigned, case.reopened (Hark Console: an internal note,
 *           the case's assignee, a resolved case open again; none is
 *           mailed to anyone); loop.notified (hark-loop: the customer was
 *           told a loop closed; open cases get "loop closed"); mail.bounced
 *           (the address is unusable for replies); case.customer_replied
 *           (hark-inbox: the customer answered by email; intake_reply.c).
 * Emits:    feedback.tagged (key intake/<offset>/tagged; a retag
 *           intake/retag/<case>/<n>), mail.requested: complaint_ack to the
 *           customer and complaint_alert to the team (intake/<offset>/ack,
 *           /alert), complaint_reply (intake/<offset>/reply),
 *           complaint_breach (intake/breach/<case>),
 *           complaint_customer_reply (intake/<offset>/customer_reply).
 * Serves:   [intake] control: SERVICE_STATUS, INTAKE_CASES, INTAKE_REPORT.
 * Config:   [intake] control db reasons staff_url (else [console]
 *           public_url: the alerts link Hark Console's case pages);
 *           [mailer] templates default_locale (the staff mails' fixed texts
 *           and the cases' notes: the "intake" words of words.json).
 *           The taxonomy and the teams' business hours are in [intake]
 *           reasons (config/reasons.conf, see common/reasons.c).
 *
 * Notes: a case's history is written for the staff, whose language Hark
 * does not know, so its fixed texts ("opened from …", "retagged: …") are
 * the "intake" words of the default locale, filled in when the note is
 * written; a reply's note is the staff's own text.
 *
 * A case is opened in the consumer's transaction, so exactly once per
 * source event: its id is C<journal offset of the source event>, and its
 * events are keyed by that offset, so a replay after kill -9 opens nothing
 * twice and the journal stores each email request once.
 *
 * The reason: the customer's reason_code when it is in the taxonomy;
 * otherwise the text's keywords (intake_match_tag); none -> `other`.  The first
 * code (taxonomy order) picks the team, the deadline and the alert address.
 * The deadline is the reason's first_response in the team's business hours
 * from the moment the journal recorded the source event.  An NPS comment
 * with a score of 7 or more is tagged (reports count it) but opened as
 * resolved: nobody is waiting for an answer, so no mails and no clock.
 * One case per survey invite: a changed answer (the survey page allows it)
 * updates the invite's case instead of opening another (s_nps_again).
 *
 * Replies: a reply only counts as the first response when it can reach
 * the customer.  One to a case without a customer, a customer without an
 * address or one whose address hard-bounced is kept as a note with "reply
 * not sent", and the clock runs on; the gateway and `hark cases reply`
 * refuse it before journaling (INTAKE_CASES says "unreachable"), so this
 * is for a race with a bounce or a changed address.
 *
 * Breaches: a timer finds cases past their deadline with no reply and, in
 * one transaction, marks each alerted and queues its complaint_breach in
 * the outbox (key intake/breach/<case>): one alert per case, ever.  It
 * first has the consumer catch up with the journal, so a reply recorded
 * before the deadline but not applied yet does not count as missing.
 *
 * Single-threaded: the business-hours clock (intake_hours.c) sets TZ
 * through tz.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake.h"
#include "log.h"
#include "service.h"
#include "staff_link.h"
#include "words.h"

static int s_init(service_t *svc);
static void s_fini(service_t *svc);

/* What hark-intake consumes (its handlers in intake_case.c) */
static const service_event_t s_events[] = {
    {EV_CUSTOMER, intake_case_customer},
    {EV_COMPLAINT, intake_case_complaint},
    {EV_CANCELLATION, intake_case_complaint},
    {EV_FEEDBACK_GIVEN, intake_case_feedback},
    {EV_CASE_REPLIED, intake_case_staff},
    {EV_CASE_RETAGGED, intake_case_staff},
    {EV_CASE_RESOLVED, intake_case_staff},
    {EV_CASE_NOTED, intake_case_staff},
    {EV_CASE_ASSIGNED, intake_case_staff},
    {EV_CASE_REOPENED, intake_case_staff},
    {EV_LOOP_NOTIFIED, intake_case_loop_notified},
    {EV_MAIL_BOUNCED, intake_case_bounced},
    {EV_CASE_CUSTOMER_REPLIED, intake_reply_apply},
    {NULL, NULL},
};

/* What it serves on [intake] control (intake_control.c) */
static const service_command_t s_commands[] = {
    {CMD_INTAKE_CASES, CMD_INTAKE_CASES_OK, intake_control_cases},
    {CMD_INTAKE_REPORT, CMD_INTAKE_REPORT_OK, intake_control_report},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "intake",
        .migrations = intake_store_migrations,
        .events = s_events,
        .commands = s_commands,
        .init = s_init, /* the taxonomy, the breach timer (intake_case.c) */
        .fini = s_fini,
        .status = intake_control_status,
    };
    return service_main(argc, argv, &def);
}

/* s_config_error - a reasons.conf error at start */
static void s_config_error(const char *msg, void *arg)
{
    (void)arg;
    log_error("event=bad_reasons error=\"%s\"", msg);
}

/* s_init - the taxonomy and the breach timer */
static int s_init(service_t *svc)
{
    const config_t *cfg = service_config(svc);
    intake_t *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    service_set_state(svc, s);
    staff_link_base(cfg, "intake", s->staff_url, sizeof s->staff_url);
    int errors = 0;
    s->reasons = reasons_load(config_get(cfg, "intake", "reasons"), s_config_error, NULL,
                              &errors);
    if (!s->reasons || errors)
        return -1;
    s->match = intake_match_new(s->reasons);
    if (!s->match) {
        log_error("event=intake_failed error=\"out of memory building the keyword matcher\"");
        return -1;
    }
    char err[600];
    s->words = words_load(config_get(cfg, "mailer", "templates"),
                          config_get(cfg, "mailer", "default_locale"), err, sizeof err);
    if (!s->words) {
        log_error("event=bad_words error=\"%s\"", err);
        return -1;
    }
    s->due_timer = evloop_add_timer(service_evloop(svc), 1000, intake_case_breaches, svc);
    if (s->due_timer < 0)
        return -1;
    evloop_timer_at(service_evloop(svc), s->due_timer, 0);
    /* the text search, a batch at a time (intake_list.c) */
    if (evloop_add_timer(service_evloop(svc), 250, intake_list_index_timer, svc) < 0)
        return -1;
    log_info("event=intake_ready reasons=%zu teams=%zu keywords=%zu",
             reasons_count(s->reasons), reasons_team_count(s->reasons),
             intake_match_keywords(s->match));
    return 0;
}

/* s_fini - nothing in flight: every change is committed as it is made */
static void s_fini(service_t *svc)
{
    intake_t *s = service_state(svc);
    if (!s)
        return;
    intake_match_destroy(&s->match);
    reasons_destroy(&s->reasons);
    words_destroy(&s->words);
    intake_list_memo_destroy(&s->inbox);
    free(s);
    service_set_state(svc, NULL);
}
