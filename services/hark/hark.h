/*
 * hark.h - what the parts of the hark command share.
 */
#ifndef HARK_CLI_H
#define HARK_CLI_H

#include <jansson.h>

#include <stddef.h>

#include "config.h"

typedef struct {
    config_t *cfg;
    void *zctx;
    int argc;
    char **argv; /* the command's own arguments, -c removed */
} cli_t;

/* hark_call - request cmd of the service at endpoint; reply body (caller
 * decrefs) or NULL; reply_cmd (48 bytes) gets the reply's command */
json_t *hark_call(cli_t *cli, const char *endpoint, const char *cmd, const json_t *body,
                 char *reply_cmd);

/* hark_ask - hark_call on ep expecting the reply ok; NULL having said why
 * (*rc 1: `who` does not answer; 2: refused, said as "hark: what: ...") */
json_t *hark_ask(cli_t *cli, const char *ep, const char *cmd, const char *ok, const json_t *body,
                 const char *who, const char *what, int *rc);

/* hark_show - hark_ask (body stolen), then the reply as a JSON line when
 * as_json, else by print; the exit code */
int hark_show(cli_t *cli, const char *ep, const char *cmd, const char *ok, json_t *body,
              const char *who, const char *what, int as_json, void (*print)(const json_t *r));

/* hark_print_json - v as one line, json_dumps flags; `empty` if it cannot */
void hark_print_json(const json_t *v, size_t flags, const char *empty);

/* hark_save - `hark X set`'s end: journal type for name with c (stolen), or
 * say msg when bad; prints "X name saved by ..."; the exit code */
int hark_save(cli_t *cli, const char *what, const char *type, const char *name, const char *by,
              json_t *c, int bad, const char *msg);

/* hark_append - append events (array, not stolen) to the journal; the
 * JOURNAL_APPEND_OK body or NULL after printing why */
json_t *hark_append(cli_t *cli, json_t *events);

/* hark_journal_one - append one event (payload borrowed), key
 * cli/<type>/<name>/<random>; its offset, or -1 having printed why */
long long hark_journal_one(cli_t *cli, const char *type, const char *name, json_t *payload);

/* hark_by - "cli:<user>" (from $USER) into out: who a journaled change is by */
void hark_by(char *out, size_t len);

/* hark_read_file - path's content, NUL-terminated (caller frees), reading at
 * most max + 1 bytes: *len is max + 1 when the file is larger than max;
 * NULL when it cannot be read */
char *hark_read_file(const char *path, size_t max, size_t *len);

/* hark_customers - `hark customers find|show|export` (hark_customers.c) */
int hark_customers(cli_t *cli);

/* hark_cases - `hark cases list|show|reply|retag|resolve|link` */
int hark_cases(cli_t *cli);

/* hark_cases_report - `hark report reasons` */
int hark_cases_report(cli_t *cli);

/* hark_inbox - `hark inbox unmatched` (hark_inbox.c) */
int hark_inbox(cli_t *cli);

/* hark_mail - `hark mail preview|send|queue|retry` */
int hark_mail(cli_t *cli);

/* hark_report - `hark report nps` */
int hark_report(cli_t *cli);
/* hark_report_csv - every response (SURVEY_RESPONSES, a page at a time) as
 * CSV into f (csv.h, as the gateway's /v1/reports/nps.csv writes it): `hark
 * report nps --csv` and `hark export answers`.  filters: SURVEY_RESPONSES'
 * (by is dropped; after is set page by page).  0, 1 the survey service did
 * not answer (hark_report.c) */
int hark_report_csv(cli_t *cli, json_t *filters, FILE *f);

/* hark_campaign - `hark campaign list|show|set` */
int hark_campaign(cli_t *cli);

/* hark_applied_list - once the consumer `service` has applied the journal,
 * the array `field` of its reply to cmd (req stolen); NULL having said why */
json_t *hark_applied_list(cli_t *cli, const char *service, const char *cmd, const char *ok,
                         json_t *req, const char *field, const char *what);

/* hark_wait_applied - wait (up to 3 s) until the consumer answering on
 * control endpoint ep has applied the journal up to its head now */
void hark_wait_applied(cli_t *cli, const char *ep);


/* hark_milestone - `hark milestone list|set` */
int hark_milestone(cli_t *cli);

/* hark_milestone_coupon - `hark coupon verify CODE` */
int hark_milestone_coupon(cli_t *cli);

/* hark_loop - `hark loop close` (hark_loop.c) */
int hark_loop(cli_t *cli);

/* hark_user - `hark user add|list|disable|reset` (hark_user.c) */
int hark_user(cli_t *cli);

/* hark_template - `hark template list|show|set|history|restore` (hark_template.c) */
int hark_template(cli_t *cli);
/* hark_customer - `hark customer erase ID` (hark_customer.c) */
int hark_customer(cli_t *cli);

/* hark_backup - `hark backup [--verify] DIR` (hark_backup.c) */
int hark_backup(cli_t *cli);

/* hark_restore - `hark restore [--state DIR] [--force] BACKUP` (hark_backup.c) */
int hark_restore(cli_t *cli);

/* hark_rebuild - `hark rebuild SERVICE|all` (hark_backup.c) */
int hark_rebuild(cli_t *cli);

/* hark_journal - `hark journal export|import FILE` (hark_journal.c) */
int hark_journal(cli_t *cli);

/* hark_loop_report - `hark report loops` (hark_loop.c) */
int hark_loop_report(cli_t *cli);

/* hark_import - `hark import customers|purchases FILE.csv` (hark_import.c) */
int hark_import(cli_t *cli);

/* hark_export - `hark export customers|answers` (hark_import.c) */
int hark_export(cli_t *cli);

#endif
