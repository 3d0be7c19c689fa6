/*
 * hark - the command line: talks to a running Hark instance.
 *
 *   hark [-c FILE] status [--json]      each service: pid, uptime, restarts, cursor lag
 *   hark [-c FILE] tail [--from N] [--type T]... [--follow]
 *                                        events as JSON lines
 *   hark [-c FILE] keys [--curve]        the ingest and admin keys; --curve makes the
 *                                        CURVE keypairs tcp:// endpoints use (curve.h)
 *   hark [-c FILE] check-config          every config error with file and line
 *   hark [-c FILE] config [-d|-n] [NAME]...   settings as section.key = value
 *   hark [-c FILE] mail|report|campaign|loop …   hark_mail.c, hark_report.c,
 *                                        hark_campaign.c, hark_loop.c
 *   hark [-c FILE] milestone|coupon …    hark_milestone.c
 *   hark [-c FILE] cases …               hark_cases.c (complaint and cancellation cases)
 *   hark [-c FILE] customers …           hark_customers.c (find, show, export one)
 *   hark [-c FILE] inbox unmatched       hark_inbox.c (mail hark-inbox could not place)
 *   hark [-c FILE] template …            hark_template.c (email templates, versions)
 *   hark [-c FILE] import|export …       hark_import.c (customers and purchases from
 *                                        CSV; customers and answers to CSV)
 *   hark [-c FILE] backup|restore|rebuild …   hark_backup.c (hark-backup(7))
 *   hark [-c FILE] journal export|import FILE  hark_journal.c
 *
 * Owns nothing; reads go to the service that owns the data (harkd for
 * processes, the journal for events).  -c FILE (default config/hark.conf,
 * or $HARK_CONFIG) selects the instance.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "config.h"
#include "hark.h"
#include "jclient.h"
#include "curve.h"
#include "keys.h"
#include "partition.h"
#include "proto.h"
#include "reasons.h"
#include "service.h"
#include "wire.h"
#include "words.h"

#define HARK_TIMEOUT_MS 3000

static volatile sig_atomic_t s_interrupted; /* set by SIGINT/SIGTERM in tail --follow */


/* s_on_signal - stop following */
static void s_on_signal(int sig)
{
    (void)sig;
    s_interrupted = 1;
}

/* s_usage - help text */
static int s_usage(FILE *f)
{
    fputs("usage: hark [-c FILE] COMMAND [ARGS]\n"
          "  status [--json]                      services, pids, uptime, restarts, lag\n"
          "  tail [--from N] [--type T]... [--follow]   events as JSON lines\n"
          "  keys                                 the ingest and admin keys\n"
          "  keys --curve                         make the CURVE keypairs (for tcp://), show\n"
          "                                       their public keys\n"
          "  check-config                         check the config file, every error\n"
          "  config [-d|-n] [SECTION[.KEY]]...    every setting as section.key = value\n"
          "                                       (-d: the defaults, -n: only those changed)\n"
          "  mail preview --template T [--locale L] [--vars FILE]\n"
          "  mail send --template T (--customer ID | --to ADDR) [--locale L] [--vars FILE]\n"
          "            [--category C] [--wait]\n"
          "  mail queue [--status S] [--json]     pending, retrying, failed messages\n"
          "  mail retry ID                        try a failed message again\n"
          "  inbox unmatched [--limit N] [--json] mail that matched no case, survey or\n"
          "                                       bounce, and mail moved aside, newest first\n"
          "  report nps [--campaign C] [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n"
          "             [--by day|week|month|locale|campaign] [--json]   NPS and its trend\n"
          "  report nps --csv [--campaign C] [--from D] [--to D]   every response as CSV\n"
          "  campaign list [--json]               survey campaigns and their counts\n"
          "  campaign show ID                     one campaign as JSON\n"
          "  campaign set ID key=value ...        change settings (journaled, by cli:$USER)\n"
          "  milestone list [--json]              birthday and anniversary settings, counts\n"
          "  milestone set birthday|anniversary [--enabled on|off] [--time HH:MM]\n"
          "            [--offset -3d] [--template NAME]\n"
          "            [--anniversary-from first_purchase|signup_date]   (journaled)\n"
          "  coupon verify CODE                   is a coupon code genuine; whose, which year\n"
          "  cases list [--status open|waiting|resolved] [--reason R] [--team T] [--breached]\n"
          "             [--json]                    complaint and cancellation cases\n"
          "  cases show ID [--json]               one case with its history\n"
          "  cases reply ID --message-file F      mail the customer (Markdown), journaled\n"
          "  cases retag ID --reason R...         replace the case's reason codes, journaled\n"
          "  cases resolve ID                     close the case, journaled\n"
          "  cases note ID --text-file F          an internal note (never mailed), journaled\n"
          "  cases assign ID NAME|--nobody        assign to a Hark Console account, journaled\n"
          "  cases reopen ID                      open a resolved case again, journaled\n"
          "  cases link CUSTOMER [--locale L]     the customer's /feedback and /cancel links\n"
          "  report reasons [--from D] [--to D] [--kind complaint|cancellation|nps] [--team T]\n"
          "                 [--json]             reasons (Pareto), trend, churn, first replies\n"
          "  loop close --reason R --title T --message-file F [--since YYYY-MM-DD]\n"
          "             [--title L=T --message-file L=F]... (locale L's own text)\n"
          "             [--id ID] [--dry-run] [--json]   tell who raised R what changed\n"
          "  report loops [--reason R] [--json]   per reason: feedback, told, days, NPS\n"
          "  user add NAME --role admin|support|marketer [--locale L] [--email A]\n"
          "                                       a Hark Console account (password on stdin)\n"
          "  user set NAME --email ADDR           the account's own address (test sends)\n"
          "  user list [--json]                   the console's accounts\n"
          "  user disable NAME                    no more sign-ins; its sessions end\n"
          "  user reset NAME                      a new password (on stdin); sessions end\n"
          "  template list [--json]               email templates per locale, current version\n"
          "  template show NAME [--locale L] [--version N]   a version's text (0: the file)\n"
          "  template set NAME [--locale L] --file F   a new version (checked, journaled)\n"
          "  template history NAME [--locale L] [--json]   every saved version\n"
          "  template restore NAME [--locale L] (--version N | --default)   (journaled)\n"
          "  customers find TEXT [--page N] [--json]   customers by name, email or id\n"
          "  customers show ID [--json]           a customer's profile and timeline\n"
          "  customers export ID                  everything Hark holds of them, as JSON\n"
          "                                       (customer.exported journaled)\n"
          "  customers suppress ID                no survey, milestone or loop email (journaled)\n"
          "  customers unsuppress ID              allow that email again (journaled)\n"
          "  import customers|purchases FILE.csv [--map field=Column,...] [--check]\n"
          "         [--batch N]                   rows from CSV, journaled once each\n"
          "  export customers|answers [--output FILE]   CSV (answers: [--campaign C]\n"
          "                                       [--from D] [--to D])\n"
          "  customers erase ID                   forget a customer: keys destroyed, every\n"
          "                                       copy blanked (journaled)\n"
          "  backup DIR                           every SQLite file, online, and a manifest\n"
          "  backup --verify DIR                  every file against the manifest's SHA-256\n"
          "  restore [--state DIR] [--force] BACKUP   into a stopped or new state dir\n"
          "  rebuild SERVICE|all                  a service's file again from the journal\n"
          "  journal export FILE                  journal.db's events as JSON lines\n"
          "  journal import FILE                  those into [journal] stream, same offsets\n",
          f);
    return f == stderr ? 2 : 0;
}

/* s_call - one request to endpoint; reply body or NULL */
static json_t *s_call(cli_t *cli, const char *endpoint, const char *cmd, char *reply_cmd)
{
    return hark_call(cli, endpoint, cmd, NULL, reply_cmd);
}

/* hark_call - one request with a body (not stolen); reply body or NULL */
json_t *hark_call(cli_t *cli, const char *endpoint, const char *cmd, const json_t *body,
                 char *reply_cmd)
{
    wire_client_t *c = wire_client_new(cli->zctx, endpoint);
    json_t *r = c ? wire_client_call_json(c, cmd, body, HARK_TIMEOUT_MS, reply_cmd) : NULL;
    wire_client_destroy(&c);
    return r;
}

/* hark_ask - request cmd of the service answering on ep, as hark_call; the
 * reply when it is ok (caller decrefs), else NULL having said why: *rc 1
 * when `who` does not answer, 2 when it refused ("hark: what: message") */
json_t *hark_ask(cli_t *cli, const char *ep, const char *cmd, const char *ok, const json_t *body,
                 const char *who, const char *what, int *rc)
{
    char got[48] = "";
    json_t *r = hark_call(cli, ep, cmd, body, got);
    if (!r) {
        fprintf(stderr, "hark: %s does not answer on %s\n", who, ep);
        *rc = 1;
        return NULL;
    }
    if (strcmp(got, ok) != 0) {
        const char *m = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
        fprintf(stderr, "hark: %s: %s\n", what, m ? m : got);
        json_decref(r);
        *rc = 2;
        return NULL;
    }
    return r;
}

/* hark_show - hark_ask (body stolen), then the reply as one JSON line
 * (as_json) or as print lays it out; the exit code */
int hark_show(cli_t *cli, const char *ep, const char *cmd, const char *ok, json_t *body,
              const char *who, const char *what, int as_json, void (*print)(const json_t *r))
{
    int rc = 0;
    json_t *r = hark_ask(cli, ep, cmd, ok, body, who, what, &rc);
    json_decref(body);
    if (!r)
        return rc;
    if (as_json)
        hark_print_json(r, JSON_COMPACT | JSON_REAL_PRECISION(6), "{}");
    else
        print(r);
    json_decref(r);
    return 0;
}

/* hark_print_json - v as one line (flags as json_dumps's), or `empty`
 * when it cannot be written */
void hark_print_json(const json_t *v, size_t flags, const char *empty)
{
    char *s = json_dumps(v, flags);
    puts(s ? s : empty);
    free(s);
}

/* hark_save - journal `type` for name with the settings c (stolen) unless
 * bad, in which case say msg as "hark: what set:"; the exit code */
int hark_save(cli_t *cli, const char *what, const char *type, const char *name, const char *by,
              json_t *c, int bad, const char *msg)
{
    if (bad) {
        fprintf(stderr, "hark: %s set: %s\n", what, msg);
        json_decref(c);
        return 2;
    }
    long long off = hark_journal_one(cli, type, name, c);
    json_decref(c);
    if (off < 0)
        return 1;
    printf("%s %s saved by %s (journal offset %lld)\n", what, name, by, off);
    return 0;
}

/* hark_append - append events to the journal; the reply or NULL (said why) */
json_t *hark_append(cli_t *cli, json_t *events)
{
    const char *ep = config_get(cli->cfg, "journal", "endpoint");
    wire_client_t *c = wire_client_new(cli->zctx, ep);
    char err[200] = "cannot connect";
    json_t *r = c ? jclient_append(c, events, HARK_TIMEOUT_MS, err) : NULL;
    wire_client_destroy(&c);
    if (!r)
        fprintf(stderr, "hark: %s (%s)\n", err, ep);
    return r;
}

/* hark_journal_one - append one event of type whose payload is borrowed (the
 * caller keeps and frees it), keyed cli/<type>/<name>/<random> so that a
 * retried command is a new change; its journal offset, or -1 having printed
 * why */
long long hark_journal_one(cli_t *cli, const char *type, const char *name, json_t *payload)
{
    char rnd[17], key[256];
    if (keys_random_hex(rnd, 8)) {
        fprintf(stderr, "hark: no random bytes for an event key\n");
        return -1;
    }
    snprintf(key, sizeof key, "cli/%s/%.128s/%s", type, name, rnd);
    json_t *events = json_pack("[{s:s,s:s,s:O}]", "type", type, "key", key, "payload", payload);
    json_t *ok = events ? hark_append(cli, events) : NULL;
    json_decref(events);
    if (!ok)
        return -1;
    long long off = json_integer_value(json_array_get(json_object_get(ok, "offsets"), 0));
    json_decref(ok);
    return off;
}

/* hark_read_file - a file named on the command line (--message-file) */
char *hark_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(max + 2);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/* hark_wait_applied - wait (up to 3 s) until the service at ep has applied
 * the journal as it is now, so what we read includes the last change (a
 * PUT answered a moment ago), and `set` changes that, not an older state.
 * (hark_campaign.c, hark_milestone.c). */
void hark_wait_applied(cli_t *cli, const char *ep)
{
    char cmd[48] = "";
    json_t *req = json_pack("{s:i,s:i}", "after", 0, "limit", 1);
    json_t *f = hark_call(cli, config_get(cli->cfg, "journal", "endpoint"), CMD_JOURNAL_FETCH,
                         req, cmd);
    json_int_t head = json_integer_value(json_object_get(f, "head"));
    json_decref(req);
    json_decref(f);
    for (int i = 0; i < 60 && head > 0; i++) {
        json_t *st = hark_call(cli, ep, CMD_SERVICE_STATUS, NULL, cmd);
        json_int_t cursor = json_integer_value(json_object_get(st, "cursor"));
        json_decref(st);
        if (!st || cursor >= head)
            return;
        usleep(50000);
    }
}

/* hark_applied_list - wait until the consumer `service` has applied the
 * journal, send it cmd with req (stolen) and return the array `field` of
 * its ok reply (caller decrefs), or NULL having said why as "hark: what:" */
json_t *hark_applied_list(cli_t *cli, const char *service, const char *cmd, const char *ok,
                         json_t *req, const char *field, const char *what)
{
    const char *ep = config_get(cli->cfg, service, "control");
    hark_wait_applied(cli, ep);
    char got[48] = "";
    json_t *r = req ? hark_call(cli, ep, cmd, req, got) : NULL;
    json_decref(req);
    json_t *list = json_object_get(r, field);
    if (!r || strcmp(got, ok) != 0 || !json_is_array(list)) {
        const char *m = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
        if (m)
            fprintf(stderr, "hark: %s: %s\n", what, m);
        else
            fprintf(stderr, "hark: %s: hark-%s does not answer on %s\n", what, service, ep);
        json_decref(r);
        return NULL;
    }
    json_incref(list);
    json_decref(r);
    return list;
}

/* hark_by - "cli:<user>" from $USER (else the account), keeping only the
 * characters the schema allows */
void hark_by(char *out, size_t len)
{
    const char *user = getenv("USER");
    if (!user || !*user) {
        struct passwd *pw = getpwuid(getuid());
        user = pw ? pw->pw_name : "unknown";
    }
    size_t n = (size_t)snprintf(out, len, "cli:");
    for (const char *p = user; *p && n + 1 < len && n < 4 + 64; p++) {
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '@' || ch == '-';
        out[n++] = ok ? ch : '_';
    }
    out[n] = '\0';
}

/* s_duration - "3d4h", "5m10s" */
static void s_duration(long long ms, char *out, size_t len)
{
    long long s = ms / 1000;
    if (s >= 86400)
        snprintf(out, len, "%lldd%lldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(out, len, "%lldh%lldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(out, len, "%lldm%llds", s / 60, s % 60);
    else
        snprintf(out, len, "%llds", s);
}

/* s_status - hark status */
static int s_status(cli_t *cli)
{
    int as_json = cli->argc > 0 && strcmp(cli->argv[0], "--json") == 0;
    char cmd[48];
    const char *ep = config_get(cli->cfg, "harkd", "control");
    json_t *st = s_call(cli, ep, CMD_HARKD_STATUS, cmd);
    if (!st || strcmp(cmd, CMD_HARKD_STATUS_OK) != 0) {
        fprintf(stderr, "hark: harkd is not running (no answer on %s)\n", ep);
        json_decref(st);
        return 1;
    }
    json_t *services = json_object_get(st, "services");
    int64_t head = -1;
    size_t i;
    json_t *s;
    json_array_foreach(services, i, s) { /* ask each running service */
        const char *name = json_string_value(json_object_get(s, "name"));
        const char *ctl = config_get(cli->cfg, name, "control");
        char sec[64], part_ctl[512];
        int k;
        if (!ctl && name && partition_split(name, sec, sizeof sec, &k) == 0) { /* mailer-2 */
            const char *base = config_get(cli->cfg, sec, "control");
            ctl = base && partition_endpoint(base, k, part_ctl, sizeof part_ctl) == 0 ? part_ctl
                                                                                   : NULL;
        }
        if (!ctl || !json_is_true(json_object_get(s, "running")))
            continue;
        json_t *ss = s_call(cli, ctl, CMD_SERVICE_STATUS, cmd);
        if (ss && strcmp(cmd, CMD_SERVICE_STATUS_OK) == 0) {
            json_t *cur = json_object_get(ss, "cursor"), *h = json_object_get(ss, "head");
            if (cur)
                json_object_set(s, "cursor", cur);
            if (h)
                head = json_integer_value(h);
            json_object_set_new(s, "answering", json_true());
        } else {
            json_object_set_new(s, "answering", json_false());
        }
        json_decref(ss);
    }
    json_array_foreach(services, i, s) {
        json_t *cur = json_object_get(s, "cursor");
        if (cur && head >= 0)
            json_object_set_new(s, "lag", json_integer(head - json_integer_value(cur)));
    }
    if (head >= 0)
        json_object_set_new(st, "head", json_integer(head));
    if (as_json) {
        hark_print_json(st, JSON_COMPACT, "{}");
        json_decref(st);
        return 0;
    }
    printf("harkd pid %lld, journal head %lld\n",
           (long long)json_integer_value(json_object_get(st, "pid")), (long long)head);
    printf("%-12s %-8s %-10s %-9s %-9s %-7s %s\n", "SERVICE", "PID", "UPTIME", "RESTARTS",
           "CURSOR", "LAG", "STATE");
    json_array_foreach(services, i, s) {
        char up[32], cur[32] = "-", lag[32] = "-", state[96];
        s_duration(json_integer_value(json_object_get(s, "uptime_ms")), up, sizeof up);
        if (json_object_get(s, "cursor"))
            snprintf(cur, sizeof cur, "%lld",
                     (long long)json_integer_value(json_object_get(s, "cursor")));
        if (json_object_get(s, "lag"))
            snprintf(lag, sizeof lag, "%lld",
                     (long long)json_integer_value(json_object_get(s, "lag")));
        const char *last = json_string_value(json_object_get(s, "last_exit"));
        if (!json_is_true(json_object_get(s, "running")))
            snprintf(state, sizeof state, "down (last: %s)", last ? last : "?");
        else if (!json_is_true(json_object_get(s, "answering")))
            snprintf(state, sizeof state, "not answering");
        else
            snprintf(state, sizeof state, "up%s%s%s", last ? " (last exit: " : "",
                     last ? last : "", last ? ")" : "");
        printf("%-12s %-8lld %-10s %-9lld %-9s %-7s %s\n",
               json_string_value(json_object_get(s, "name")),
               (long long)json_integer_value(json_object_get(s, "pid")), up,
               (long long)json_integer_value(json_object_get(s, "restarts")), cur, lag,
               state);
    }
    json_decref(st);
    return 0;
}

/* s_print_events - print a fetch reply's events; returns the next cursor */
static int64_t s_print_events(json_t *r, int64_t after)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(r, "events"), i, e) {
        char *line = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (line)
            puts(line);
        free(line);
    }
    fflush(stdout);
    int64_t next = json_integer_value(json_object_get(r, "next"));
    return next > after ? next : after;
}

/* s_tail - hark tail */
static int s_tail(cli_t *cli)
{
    int64_t from = -1;
    int follow = 0;
    const char *types[33];
    int nt = 0;
    for (int i = 0; i < cli->argc; i++) {
        if (strcmp(cli->argv[i], "--from") == 0 && i + 1 < cli->argc) {
            char *end;
            from = strtoll(cli->argv[++i], &end, 10);
            if (*end || from < 0) {
                fprintf(stderr, "hark: --from takes an offset (0 or more)\n");
                return 2;
            }
        } else if (strcmp(cli->argv[i], "--type") == 0 && i + 1 < cli->argc && nt < 32) {
            types[nt++] = cli->argv[++i];
        } else if (strcmp(cli->argv[i], "--follow") == 0 || strcmp(cli->argv[i], "-f") == 0) {
            follow = 1;
        } else {
            fprintf(stderr, "hark: tail: unknown argument %s\n", cli->argv[i]);
            return 2;
        }
    }
    types[nt] = NULL;
    const char *ep = config_get(cli->cfg, "journal", "endpoint");
    wire_client_t *jc = wire_client_new(cli->zctx, ep);
    if (!jc)
        return 1;
    int rc = 0;
    if (from < 0) { /* like tail(1): the last 10 */
        json_t *r = jclient_fetch(jc, 0, 1, NULL, HARK_TIMEOUT_MS);
        if (!r) {
            fprintf(stderr, "hark: the journal does not answer on %s\n", ep);
            wire_client_destroy(&jc);
            return 1;
        }
        int64_t head = json_integer_value(json_object_get(r, "head"));
        from = head > 10 ? head - 10 : 0;
        json_decref(r);
    }
    void *sub = NULL;
    if (follow) {
        struct sigaction sa = {.sa_handler = s_on_signal};
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sub = zmq_socket(cli->zctx, ZMQ_SUB);
        int linger = 0;
        zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
        const char *pub = config_get(cli->cfg, "journal", "pub_endpoint");
        if (curve_client(sub, pub) == 0)
            zmq_connect(sub, pub);
    }
    int64_t after = from;
    while (!s_interrupted) {
        json_t *r = jclient_fetch(jc, after, 1000, nt ? types : NULL, HARK_TIMEOUT_MS);
        if (!r) {
            if (!follow) {
                fprintf(stderr, "hark: the journal does not answer on %s\n", ep);
                rc = 1;
                break;
            }
        } else {
            size_t n = json_array_size(json_object_get(r, "events"));
            after = s_print_events(r, after);
            json_decref(r);
            if (n == 1000)
                continue;
            if (!follow)
                break;
        }
        /* wait for a head announcement, or a second at most */
        zmq_pollitem_t it = {sub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 1000) > 0) {
            zmq_msg_t m;
            int more = 1;
            size_t sz = sizeof more;
            while (more) {
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, sub, ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close(&m);
                    break;
                }
                zmq_msg_close(&m);
                zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &sz);
            }
        }
    }
    if (sub)
        zmq_close(sub);
    wire_client_destroy(&jc);
    return rc;
}

/* s_keys_curve - hark keys --curve: the keypairs of harkd, hark and
 * every service, made where missing; their public keys listed */
static int s_keys_curve(cli_t *cli)
{
    const char *dir = curve_keys_dir(cli->cfg);
    if (config_ensure_state_dir(cli->cfg) || curve_keygen_all(cli->cfg)) {
        fprintf(stderr, "hark: cannot make the CURVE keypairs in %s: %s\n", dir,
                strerror(errno));
        return 1;
    }
    const char *names[40];
    size_t n = curve_names(cli->cfg, names, 40);
    for (size_t i = 0; i < n; i++) {
        char pub[CURVE_KEY_LEN + 1];
        if (curve_public(dir, names[i], pub, sizeof pub) == 0)
            printf("%-10s %s   (%s/curve-%s.key, secret)\n", names[i], pub, dir, names[i]);
    }
    return 0;
}

/* s_keys - hark keys */
static int s_keys(cli_t *cli)
{
    if (cli->argc > 0 && strcmp(cli->argv[0], "--curve") == 0)
        return s_keys_curve(cli);
    static const struct {
        const char *key, *file, *use;
    } k[] = {{"ingest_key", "ingest", "POST /v1/events"},
             {"admin_key", "admin", "the admin API"}};
    int rc = 0;
    for (size_t i = 0; i < 2; i++) {
        const char *v = config_get(cli->cfg, "gateway", k[i].key);
        char buf[256], path[4096];
        keys_path(config_state_dir(cli->cfg), k[i].file, path, sizeof path);
        if (v && *v) {
            printf("%s = %s   (from %s, for %s)\n", k[i].key, v, config_path(cli->cfg),
                   k[i].use);
            continue;
        }
        FILE *f = fopen(path, "r");
        if (f && fgets(buf, sizeof buf, f)) {
            buf[strcspn(buf, "\r\n")] = '\0';
            printf("%s = %s   (from %s, for %s)\n", k[i].key, buf, path, k[i].use);
        } else {
            printf("%s: not generated yet; harkd makes it on first start (%s)\n", k[i].key,
                   path);
            rc = 1;
        }
        if (f)
            fclose(f);
    }
    return rc;
}

/* s_print_error - one error line of a service's own config checks */
static void s_print_error(const char *msg, void *arg)
{
    (void)arg;
    fprintf(stderr, "%s\n", msg);
}

/* s_check_config - hark check-config: every error, then a verdict */
static int s_check_config(cli_t *cli)
{
    size_t n = config_error_count(cli->cfg);
    const char *names[64];
    size_t ns = config_list(cli->cfg, "hark", "services", names, 64);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s\n", config_error(cli->cfg, i));
    int bad = 0;
    for (size_t i = 0; i < ns; i++) {
        int known = 0;
        for (const config_setting_t *s = config_table; s->section; s++)
            if (strcmp(s->section, names[i]) == 0)
                known = 1;
        if (!known || strcmp(names[i], "harkd") == 0 || strcmp(names[i], "hark") == 0) {
            fprintf(stderr, "%s: [hark] services: unknown service \"%s\"\n",
                    config_path(cli->cfg), names[i]);
            bad++;
        }
    }
    for (size_t i = 0; i < ns; i++) {
        /* every hark.conf value is checked by the config table (config.c);
         * the reason taxonomy is a file of its own */
        if (strcmp(names[i], "intake") == 0) /* config/reasons.conf */
            bad += reasons_check_config(cli->cfg, s_print_error, NULL);
    }
    /* the words of pages and fixed mail texts, which the gateway, intake,
     * loop and console read at start (templates/<locale>/words.json) */
    int words = 0;
    for (size_t i = 0; i < ns; i++)
        words |= strcmp(names[i], "gateway") == 0 || strcmp(names[i], "intake") == 0 ||
                 strcmp(names[i], "loop") == 0 || strcmp(names[i], "console") == 0;
    if (words) {
        char err[600];
        words_t *w = words_load(config_get(cli->cfg, "mailer", "templates"),
                                config_get(cli->cfg, "mailer", "default_locale"), err, sizeof err);
        if (!w) {
            fprintf(stderr, "%s\n", err);
            bad++;
        }
        words_destroy(&w);
    }
    if (n + (size_t)bad) {
        fprintf(stderr, "%s: %zu error%s\n", config_path(cli->cfg), n + (size_t)bad,
                n + (size_t)bad == 1 ? "" : "s");
        return 1;
    }
    printf("%s: ok (%zu services, state in %s)\n", config_path(cli->cfg), ns,
           config_state_dir(cli->cfg));
    return 0;
}

/* s_wanted - line "section.key = ..." is one of names (SECTION or
 * SECTION.KEY), or names is empty */
static int s_wanted(const char *line, char **names, int n)
{
    if (n == 0)
        return 1;
    size_t klen = strcspn(line, " ");
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        if (nl <= klen && strncmp(line, names[i], nl) == 0 &&
            (nl == klen || line[nl] == '.'))
            return 1;
    }
    return 0;
}

/* s_config - hark config: the settings, as postconf shows Postfix's.
 * Values are what the services see ({state_dir} expanded, defaults for
 * keys the file leaves out); -d the table's defaults as written there;
 * -n only the keys the file sets to something other than their default. */
static int s_config(cli_t *cli)
{
    int mode = CONFIG_PRINT_VALUES, nn = 0;
    char *names[64];
    for (int i = 0; i < cli->argc; i++) {
        if (strcmp(cli->argv[i], "-d") == 0)
            mode = CONFIG_PRINT_DEFAULTS;
        else if (strcmp(cli->argv[i], "-n") == 0)
            mode = CONFIG_PRINT_CHANGED;
        else if (cli->argv[i][0] == '-' || nn == 64)
            return s_usage(stderr);
        else
            names[nn++] = cli->argv[i];
    }
    for (int i = 0; i < nn; i++) {
        char sec[128];
        const char *dot = strrchr(names[i], '.');
        int known = 0;
        for (const config_setting_t *s = config_table; s->section && !known; s++) {
            snprintf(sec, sizeof sec, "%s", s->section);
            known = dot ? (size_t)(dot - names[i]) == strlen(sec) &&
                              strncmp(names[i], sec, strlen(sec)) == 0 &&
                              strcmp(dot + 1, s->key) == 0
                        : strcmp(names[i], sec) == 0;
        }
        if (!known) {
            fprintf(stderr, "hark: config: unknown setting \"%s\"\n", names[i]);
            return 1;
        }
    }
    if (mode != CONFIG_PRINT_DEFAULTS && config_error_count(cli->cfg)) {
        for (size_t i = 0; i < config_error_count(cli->cfg); i++)
            fprintf(stderr, "%s\n", config_error(cli->cfg, i));
        return 2;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return 1;
    config_print(mode == CONFIG_PRINT_DEFAULTS ? NULL : cli->cfg, mode, mem);
    fclose(mem);
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (s_wanted(l, names, nn))
            printf("%s\n", l);
    free(buf);
    return 0;
}

/* the commands that talk to the services (check-config and config do not) */
static const struct {
    const char *name;
    int (*run)(cli_t *cli);
} s_commands[] = {
    {"status", s_status},         {"tail", s_tail},
    {"keys", s_keys},             {"mail", hark_mail},
    {"report", hark_report},      {"campaign", hark_campaign},
    {"milestone", hark_milestone}, {"coupon", hark_milestone_coupon},
    {"cases", hark_cases},        {"loop", hark_loop},
    {"user", hark_user},          {"inbox", hark_inbox},
    {"template", hark_template},
    {"customers", hark_customers}, {"customer", hark_customers},
    {"import", hark_import},      {"export", hark_export},
    {"backup", hark_backup},      {"restore", hark_restore},
    {"rebuild", hark_rebuild},     {"journal", hark_journal},
};
#define S_NCOMMANDS (sizeof s_commands / sizeof s_commands[0])

int main(int argc, char **argv)
{
    const char *file = service_config_arg(argc, argv);
    char *rest[64];
    int nrest = 0;
    for (int i = 1; i < argc && nrest < 64; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            i++;
            continue;
        }
        rest[nrest++] = argv[i];
    }
    if (nrest == 0)
        return s_usage(stderr);
    if (strcmp(rest[0], "-h") == 0 || strcmp(rest[0], "--help") == 0 ||
        strcmp(rest[0], "help") == 0)
        return s_usage(stdout);
    cli_t cli = {.argc = nrest - 1, .argv = rest + 1};
    cli.cfg = config_load(file);
    if (!cli.cfg)
        return 1;
    int rc;
    if (strcmp(rest[0], "check-config") == 0) {
        rc = s_check_config(&cli);
        config_destroy(&cli.cfg);
        return rc;
    }
    if (strcmp(rest[0], "config") == 0) {
        rc = s_config(&cli);
        config_destroy(&cli.cfg);
        return rc;
    }
    if (config_error_count(cli.cfg)) {
        for (size_t i = 0; i < config_error_count(cli.cfg); i++)
            fprintf(stderr, "%s\n", config_error(cli.cfg, i));
        config_destroy(&cli.cfg);
        return 2;
    }
    /* the CLI talks to tcp:// endpoints with its own keypair (curve.h) */
    curve_init(cli.cfg, "hark");
    cli.zctx = zmq_ctx_new();
    size_t c = 0;
    while (c < S_NCOMMANDS && strcmp(rest[0], s_commands[c].name) != 0)
        c++;
    if (c < S_NCOMMANDS) {
        rc = s_commands[c].run(&cli);
    } else {
        fprintf(stderr, "hark: unknown command \"%s\"\n", rest[0]);
        rc = s_usage(stderr);
    }
    zmq_ctx_term(cli.zctx);
    config_destroy(&cli.cfg);
    return rc;
}
