/*
 * hark-inbox - reads the mail that comes back: customers' replies,
 * delivery status notifications, auto-replies.
 *
 * Owns:     inbox.db ([inbox] db): messages (every message read from the
 *           Maildir, by its unique name, with what became of it), outbox
 *           (events on their way to the journal); the Maildir [inbox]
 *           maildir (new/ is read, read mail goes to cur/, mail that
 *           cannot be read to .bad/cur/).  An empty inbox.db (hark
 *           rebuild inbox) is filled again from cur/ and .bad/cur/.
 * Consumes: mail.requested (whom each mail of ours is to or about) and
 *           customer.erased: the erased person's messages leave the Maildir,
 *           their rows are blanked (inbox_privacy.c).
 * Emits:    case.customer_replied (a reply on a case, quote removed),
 *           survey.commented (a reply to a survey invite),
 *           mail.dsn_received (a bounce for a mail of ours).
 * Serves:   [inbox] control: SERVICE_STATUS, INBOX_UNMATCHED.
 * Config:   [inbox] control db maildir max_size poll; [journal] endpoint;
 *           [hark] token_key (checks the reply tokens the mailer signed).
 *
 * Mail reaches the Maildir by whatever delivers mail there (Postfix,
 * OpenSMTPD, fetchmail: hark-inbox(8)); the addresses are [mailer] from,
 * where bounces go, and reply+TOKEN@[mailer] reply_domain, where replies
 * go.  Each message is parsed with GMime (inbox_parse.c), sorted (a bounce,
 * an auto-reply, a reply to a case or invite, or unmatched), recorded with
 * its event in one transaction and moved out of new/ (inbox_maildir.c), so
 * each is handled exactly once whatever is killed when.  Unmatched mail and
 * mail moved aside wait for staff: `hark inbox unmatched`.
 *
 * Its own journal client appends the outbox after each message read; the
 * consumer of the two event types appends it too after each batch (the
 * journal stores each key once).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "inbox.h"
#include "service.h"

static int s_init(service_t *svc);
static void s_fini(service_t *svc);

/* What it serves on [inbox] control (inbox_control.c) */
static const service_command_t s_commands[] = {
    {CMD_INBOX_UNMATCHED, CMD_INBOX_UNMATCHED_OK, inbox_control_unmatched},
    {NULL, NULL, NULL},
};

/* What it consumes: only to forget an erased customer (inbox_privacy.c) */
static const service_event_t s_events[] = {
    {EV_MAIL_REQUESTED, inbox_privacy_requested},
    {EV_CUSTOMER_ERASED, inbox_privacy_erased},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "inbox",
        .migrations = inbox_store_migrations,
        .events = s_events,
        .commands = s_commands,
        .init = s_init, /* settings, the Maildir, the journal client, the timer */
        .fini = s_fini,
        .status = inbox_control_status,
    };
    return service_main(argc, argv, &def);
}

/* s_init - settings, the Maildir's folders, the reading timer */
static int s_init(service_t *svc)
{
    const config_t *cfg = service_config(svc);
    inbox_t *in = calloc(1, sizeof *in);
    if (!in)
        return -1;
    service_set_state(svc, in);
    in->maildir = config_get(cfg, "inbox", "maildir");
    in->max_size = config_size(cfg, "inbox", "max_size");
    in->poll_ms = config_duration_ms(cfg, "inbox", "poll");
    if (keys_from_config(cfg, "hark", "token_key", "token", in->token_key, sizeof in->token_key))
        return -1;
    if (inbox_maildir_prepare(in->maildir))
        return -1;
    in->journal = wire_client_new(service_zctx(svc), config_get(cfg, "journal", "endpoint"));
    if (!in->journal)
        return -1;
    inbox_parse_init();
    /* inbox.db made again (hark rebuild inbox): what was read is in cur/ */
    if (inbox_maildir_reread(svc))
        return -1;
    in->timer = evloop_add_timer(service_evloop(svc), in->poll_ms, inbox_maildir_run, svc);
    if (in->timer < 0)
        return -1;
    evloop_timer_at(service_evloop(svc), in->timer, 0);
    log_info("event=inbox_ready maildir=%s", log_value(in->maildir));
    return 0;
}

/* s_fini - the journal client, GMime */
static void s_fini(service_t *svc)
{
    inbox_t *in = service_state(svc);
    if (!in)
        return;
    wire_client_destroy(&in->journal);
    g_mime_shutdown();
    free(in);
    service_set_state(svc, NULL);
}
