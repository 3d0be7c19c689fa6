/*
 * hark.h - what the parts of the hark command share.
 */
#ifndef HARK_CLI_H
#define HARK_CLI_H

#include <jansson.h>

#include "config.h"

typedef struct {
    config_t *cfg;
    void *zctx;
    int argc;
    char **argv; /* the command's own arguments, -c removed */
} cli_t;

/* cli_call - request cmd of the service at endpoint; reply body (caller
 * decrefs) or NULL; reply_cmd (48 bytes) gets the reply's command */
json_t *cli_call(cli_t *cli, const char *endpoint, const char *cmd, const json_t *body,
                 char *reply_cmd);

/* cli_append - append events (array, not stolen) to the journal; the
 * JOURNAL_APPEND_OK body or NULL after printing why */
json_t *cli_append(cli_t *cli, json_t *events);

/* cli_by - who is acting, "cli:<user>" as the events' by fields take it
 * (hark_campaign.c) */
void cli_by(char *out, size_t len);

/* hark_mail - `hark mail preview|send|queue|retry` */
int hark_mail(cli_t *cli);

/* hark_report - `hark report nps` */
int hark_report(cli_t *cli);

/* hark_campaign - `hark campaign list|show|set` */
int hark_campaign(cli_t *cli);

/* hark_loop - `hark loop close` (hark_loop.c) */
int hark_loop(cli_t *cli);

/* hark_report_loops - `hark report loops` (hark_loop.c) */
int hark_report_loops(cli_t *cli);

#endif
