/*
 * hark-intake - reason-coded complaint and cancellation intake: every
 * complaint, cancellation and NPS comment becomes a case with reason codes,
 * an owning team and a first-response clock.
 *
 * Owns:     intake.db ([intake] db): customers (contact copies),
 *           suppressions (hard-bounced addresses), cases (with their
 *           assignee), case_search (their text, for the inbox's search),
 *           notes (a case's history), outbox (events on their way to the
 *           journal), examples (staff retags the tagger learns).
 * Consumes: customer; complaint, cancellation (gateway) and feedback.given
 *           (hark-survey's NPS comments): open a case; case.replied,
 *           case.retagged, case.resolved (staff, journaled by the gateway's
 *           admin API, `hark cases` and Hark Console); case.noted,
 *           case.assigned, case.reopened (Hark Console: an internal note,
 *           the case's assignee, a resolved case open again; none is
 *           mailed to anyone); loop.notified (hark-loop: the customer was
 *           told a loop closed; open cases get "loop closed"); mail.bounced
 *           (the address is unusable for replies); case.customer_replied
 *           (hark-inbox: the customer answered by email; intake_reply.c);
 *           customer.unsuppressed (staff: the address works again);
 *           feedback.tagged (its own, keys intake/...: the codes it
 *           journaled win over tagging a replayed "[erased]" text again,
 *           and a case the replay read as praise is opened from it).
 *           customer.erased, privacy.retention: what it copied about the customer
 *           blanked, counts kept (intake_store_privacy, privacy.h).
 * Emits:    feedback.tagged (key intake/<offset>/tagged; a retag
 *           intake/retag/<case>/<n>), mail.requested: complaint_ack to the
 *           customer and complaint_alert to the team (intake/<offset>/ack,
 *           /alert), complaint_reply (intake/<offset>/reply),
 *           complaint_breach (intake/breach/<case>),
 *           complaint_customer_reply (intake/<offset>/customer_reply).
 * Serves:   [intake] control: SERVICE_STATUS, INTAKE_CASES, INTAKE_REPORT,
 *           INTAKE_CUSTOMER (all it holds of one customer).
 * Config:   [intake] control db reasons examples tag_threshold staff_url (else [console]
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
 * otherwise the tagger's codes, best first (intake_tagger.c: a classifier
 * trained at start on [intake] examples and the staff's retags, the
 * keywords as strong evidence); not sure -> `other`, marked needs_review.
 * The first code picks the team, the deadline and the alert address.  A
 * comment the tagger reads as praise opens no case (s_praise).
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
 * through tz.c.  (Training the tagger runs its classes on two threads,
 * which touch nothing but the examples and are joined before it returns.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "intake.h"
#include "log.h"
#include "reason_examples.h"
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
    {EV_CUSTOMER_UNSUPPRESSED, intake_case_unsuppressed},
    {EV_FEEDBACK_TAGGED, intake_case_tagged},
    {NULL, NULL},
};

/* What it serves on [intake] control (intake_control.c) */
static const service_command_t s_commands[] = {
    {CMD_INTAKE_CASES, CMD_INTAKE_CASES_OK, intake_control_cases},
    {CMD_INTAKE_REPORT, CMD_INTAKE_REPORT_OK, intake_control_report},
    {CMD_INTAKE_CUSTOMER, CMD_INTAKE_CUSTOMER_OK, intake_control_customer},
    {NULL, NULL, NULL},
};

static int s_offline(int argc, char **argv);

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--evaluate") == 0 || strcmp(argv[i], "--cross-validate") == 0)
            return s_offline(argc, argv);
    static const service_def_t def = {
        .name = "intake",
        .migrations = intake_store_migrations,
        .privacy = &intake_store_privacy,
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

/* s_add_example - one shipped example for the tagger */
static int s_add_example(const char *locale, const char *code, const char *text, void *arg)
{
    return intake_tagger_add(arg, locale, code, text) < 0 ? -1 : 0;
}

/* s_tagger - the tagger of taxonomy s->reasons, trained on [intake]
 * examples and (db not NULL) the staff's retags, each of those counted
 * LEARNED_WEIGHT times: a staff member's correction of this shop's own
 * text says more than a shipped example.  NULL on an error (logged). */
#define LEARNED_WEIGHT 2
static intake_tagger_t *s_tagger(const config_t *cfg, intake_t *s, sqlite3 *db)
{
    int64_t t0 = clock_mono_ms();
    intake_tagger_t *t = intake_tagger_new(s->reasons, s->match,
                                           (int)config_int(cfg, "intake", "tag_threshold"));
    if (!t)
        return NULL;
    const char *path = config_get(cfg, "intake", "examples");
    int errors = 0;
    long shipped = 0, learned = 0;
    if (path && *path) { /* codes this taxonomy lacks are no errors (intake_tagger_add) */
        shipped = reason_examples_load(path, s->reasons, -1, s_add_example, t, s_config_error,
                                       NULL, &errors);
        if (shipped < 0 || errors) {
            intake_tagger_destroy(&t);
            return NULL;
        }
    }
    sqlite3_stmt *st = db ? db_prepare(db, "SELECT locale, code, text FROM examples") : NULL;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *loc = (const char *)sqlite3_column_text(st, 0);
        const char *code = (const char *)sqlite3_column_text(st, 1);
        const char *text = (const char *)sqlite3_column_text(st, 2);
        for (int w = 0; w < LEARNED_WEIGHT && code && text; w++)
            if (intake_tagger_add(t, loc, code, text) == 0 && w == 0)
                learned++;
    }
    db_finish(st);
    int64_t t1 = clock_mono_ms();
    if (intake_tagger_train(t)) {
        intake_tagger_destroy(&t);
        return NULL;
    }
    log_info("event=tagger_trained shipped=%ld learned=%ld model=%s read_ms=%lld train_ms=%lld",
             shipped, learned, intake_tagger_trained(t) ? "yes" : "keywords_only",
             (long long)(t1 - t0), (long long)(clock_mono_ms() - t1));
    return t;
}

/* s_print_error - an error of --evaluate / --cross-validate */
static void s_print_error(const char *msg, void *arg)
{
    (void)arg;
    fprintf(stderr, "hark-intake: %s\n", msg);
}

/* s_offline - hark-intake --evaluate FILE | --cross-validate K [--min
 * PERCENT] [-c FILE]: train as at start (shipped examples only), tag a
 * held-out TSV or cross-validate, print per-locale accuracy and the misses;
 * exit 1 below --min, 2 on an error */
static int s_offline(int argc, char **argv)
{
    const char *file = NULL;
    int folds = 0;
    double min = 0;
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--evaluate") == 0)
            file = argv[i + 1];
        else if (strcmp(argv[i], "--cross-validate") == 0)
            folds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--min") == 0)
            min = atof(argv[i + 1]) / 100.0;
    }
    if (!file && folds < 2) {
        fprintf(stderr, "usage: hark-intake [-c FILE] --evaluate TSV | --cross-validate K "
                        "[--min PERCENT]\n");
        return 2;
    }
    config_t *cfg = config_load(service_config_arg(argc, argv));
    if (!cfg || config_error_count(cfg)) {
        for (size_t i = 0; cfg && i < config_error_count(cfg); i++)
            s_print_error(config_error(cfg, i), NULL);
        config_destroy(&cfg);
        return 2;
    }
    intake_t s = {0};
    int errors = 0, rc = 2;
    s.reasons = reasons_load(config_get(cfg, "intake", "reasons"), s_print_error, NULL, &errors);
    s.match = s.reasons && !errors ? intake_match_new(s.reasons) : NULL;
    intake_tagger_t *t = s.match ? s_tagger(cfg, &s, NULL) : NULL;
    double acc = -1;
    if (t && folds >= 2)
        acc = intake_tagger_cross_validate(t, folds, stdout);
    else if (t && intake_tagger_trained(t))
        acc = intake_tagger_evaluate(t, file, stdout, s_print_error, NULL);
    if (acc >= 0)
        rc = acc + 1e-9 >= min ? 0 : 1;
    intake_tagger_destroy(&t);
    intake_match_destroy(&s.match);
    reasons_destroy(&s.reasons);
    config_destroy(&cfg);
    return rc;
}

/* s_init - the taxonomy, the tagger and the breach timer */
static int s_init(service_t *svc)
{
    const config_t *cfg = service_config(svc);
    intake_t *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    service_set_state(svc, s);
    staff_link_base(cfg, "intake", s->staff_url, sizeof s->staff_url);
    if (!(s->report = reply_memo_new(16)))
        return -1;
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
    s->tagger = s_tagger(cfg, s, service_db(svc));
    if (!s->tagger)
        return -1;
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
    /* the first responses of cases replied to before schema version 8 */
    if (evloop_add_timer(service_evloop(svc), 250, intake_response_timer, svc) < 0)
        return -1;
    log_info("event=intake_ready reasons=%zu teams=%zu keywords=%zu",
             reasons_count(s->reasons), reasons_team_count(s->reasons),
             intake_match_keywords(s->match));
    return 0;
}

int intake_response_timer(evloop_t *loop, void *arg)
{
    (void)loop;
    service_t *svc = arg;
    intake_t *s = service_state(svc);
    sqlite3 *db = service_db(svc);
    if (db_begin(db))
        return 0;
    int n = intake_store_response_fill(db, s->reasons, NULL, 2000);
    if (n < 0 || db_commit(db)) {
        db_rollback(db);
        return 0;
    }
    if (n > 0)
        log_info("event=first_responses_filled cases=%d", n);
    return 0;
}

/* s_fini - nothing in flight: every change is committed as it is made */
static void s_fini(service_t *svc)
{
    intake_t *s = service_state(svc);
    if (!s)
        return;
    intake_tagger_destroy(&s->tagger);
    intake_match_destroy(&s->match);
    reasons_destroy(&s->reasons);
    words_destroy(&s->words);
    intake_list_memo_destroy(&s->inbox);
    reply_memo_destroy(&s->report);
    free(s);
    service_set_state(svc, NULL);
}
