/*
 * hark_inbox.c - `hark inbox unmatched [--limit N] [--json]`: the mail
 * hark-inbox could not put anywhere (no reply address or thread of ours,
 * not a bounce) and the mail it moved aside, newest first, with what it
 * says and why, so staff can answer it by hand (INBOX_UNMATCHED).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hark.h"
#include "proto.h"

/* s_print - one block per message */
static void s_print(const json_t *r)
{
    const char *k;
    json_t *v;
    printf("read:");
    json_object_foreach(json_object_get(r, "counts"), k, v)
        printf(" %s %lld", k, (long long)json_integer_value(v));
    printf("\n");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(r, "messages"), i, m) {
        const char *from = json_string_value(json_object_get(m, "from"));
        const char *subject = json_string_value(json_object_get(m, "subject"));
        const char *reason = json_string_value(json_object_get(m, "reason"));
        const char *text = json_string_value(json_object_get(m, "text"));
        printf("\n%s  %s  %s\n  from: %s\n  subject: %s\n  why: %s\n",
               json_string_value(json_object_get(m, "received_at")),
               json_string_value(json_object_get(m, "outcome")),
               json_string_value(json_object_get(m, "file")), from ? from : "-",
               subject ? subject : "-", reason ? reason : "-");
        if (text && *text) {
            /* the first lines, indented, so one message stays one block */
            int lines = 0;
            printf("  text:\n");
            for (const char *p = text; *p && lines < 8; lines++) {
                size_t n = strcspn(p, "\n");
                printf("    %.*s\n", (int)(n < 200 ? n : 200), p);
                p += n + (p[n] ? 1 : 0);
            }
        }
    }
}

/* hark_inbox - `hark inbox unmatched` */
int hark_inbox(cli_t *cli)
{
    if (cli->argc < 1 || strcmp(cli->argv[0], "unmatched") != 0) {
        fprintf(stderr, "hark: inbox needs unmatched\n");
        return 2;
    }
    int as_json = 0;
    long limit = 0;
    for (int i = 1; i < cli->argc; i++) {
        if (strcmp(cli->argv[i], "--json") == 0) {
            as_json = 1;
        } else if (strcmp(cli->argv[i], "--limit") == 0 && i + 1 < cli->argc) {
            char *end;
            limit = strtol(cli->argv[++i], &end, 10);
            if (*end || limit < 1 || limit > 1000) {
                fprintf(stderr, "hark: inbox unmatched: --limit takes 1 to 1000\n");
                return 2;
            }
        } else {
            fprintf(stderr, "hark: inbox unmatched: unknown option %s\n", cli->argv[i]);
            return 2;
        }
    }
    json_t *body = json_object();
    if (limit)
        json_object_set_new(body, "limit", json_integer(limit));
    return hark_show(cli, config_get(cli->cfg, "inbox", "control"), CMD_INBOX_UNMATCHED,
                     CMD_INBOX_UNMATCHED_OK, body, "hark-inbox", "inbox unmatched", as_json,
                     s_print);
}
