/*
 * hark_customers.c - `hark customers` (also spelt `hark customer`): find a
 * customer, show their timeline, export everything Hark holds of them.
 *
 *   customers find TEXT [--page N] [--json]   SURVEY_CUSTOMERS, 20 a page
 *   customers show ID [--json]                the profile and the timeline,
 *                                             newest first, from every owner
 *   customers export ID                       the same as one JSON document
 *                                             (every owner must answer), and
 *                                             customer.exported journaled
 *                                             by cli:$USER
 *   customers suppress|unsuppress ID          mail.unsubscribed (via staff) or
 *                                             customer.unsuppressed for the
 *                                             address hark-mailer knows
 *
 * Gathering is common/customer.c's, as for the console's customer page and
 * GET /v1/customers/ID/export.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "customer.h"
#include "hark.h"
#include "partition.h"
#include "proto.h"
#include "wire.h"

#define S(o, k) json_string_value(json_object_get((o), (k)))

/* s_call - customer_call_fn over a fresh client to [owner] control */
static json_t *s_call(void *arg, const char *owner, const char *cmd, const json_t *body,
                      int timeout_ms, char *reply_cmd)
{
    cli_t *cli = arg;
    char ep[512];
    /* a partitioned owner: the partition that holds the customer */
    if (partition_control(cli->cfg, owner, json_string_value(json_object_get(body, "customer_id")),
                          ep, sizeof ep))
        return NULL;
    wire_client_t *c = wire_client_new(cli->zctx, ep);
    json_t *r = c ? wire_client_call_json(c, cmd, body, timeout_ms, reply_cmd) : NULL;
    wire_client_destroy(&c);
    return r;
}

/* s_find - customers find TEXT [--page N] [--json] */
static int s_find(cli_t *cli)
{
    const char *q = NULL;
    long page = 1;
    int as_json = 0;
    for (int i = 1; i < cli->argc; i++) {
        if (strcmp(cli->argv[i], "--json") == 0)
            as_json = 1;
        else if (strcmp(cli->argv[i], "--page") == 0 && i + 1 < cli->argc)
            page = strtol(cli->argv[++i], NULL, 10);
        else if (!q)
            q = cli->argv[i];
        else
            q = NULL, i = cli->argc;
    }
    if (!q || !*q || page < 1 || page > 5000) {
        fprintf(stderr, "usage: hark customers find TEXT [--page N] [--json]\n");
        return 2;
    }
    json_t *req = json_pack("{s:s,s:I,s:i}", "q", q, "offset", (json_int_t)(page - 1) * 20,
                            "limit", 20);
    int rc = 0;
    json_t *r = hark_ask(cli, config_get(cli->cfg, "survey", "control"), CMD_SURVEY_CUSTOMERS,
                         CMD_SURVEY_CUSTOMERS_OK, req, "hark-survey", "customers find", &rc);
    json_decref(req);
    if (!r)
        return rc;
    if (as_json) {
        hark_print_json(r, JSON_COMPACT, "{}");
    } else {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(r, "customers"), i, c)
            printf("%s\t%s\t%s\t%s\t%s\n", S(c, "id"), S(c, "name") ? S(c, "name") : "-",
                   S(c, "email") ? S(c, "email") : "-", S(c, "locale") ? S(c, "locale") : "-",
                   S(c, "last_activity") ? S(c, "last_activity") : "-");
        if (json_array_size(json_object_get(r, "customers")) == 0)
            printf("no customer matches \"%s\"\n", q);
        if (json_is_true(json_object_get(r, "more")))
            printf("(more: --page %ld)\n", page + 1);
    }
    json_decref(r);
    return 0;
}

/* s_gather - everything about customer id, or NULL having said why (*rc) */
static json_t *s_gather(cli_t *cli, const char *id, int *rc)
{
    if (strlen(id) == 0 || strlen(id) > 128) {
        fprintf(stderr, "hark: a customer id is 1-128 bytes\n");
        *rc = 2;
        return NULL;
    }
    int known = 0;
    json_t *g = customer_gather(id, s_call, cli, 10000, &known);
    if (!known && json_array_size(json_object_get(g, "missing")) == 0) {
        fprintf(stderr, "hark: no customer \"%s\"\n", id);
        json_decref(g);
        *rc = 1;
        return NULL;
    }
    return g;
}

/* s_missing - say which owners did not answer; 1 when any */
static int s_missing(const json_t *g)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(g, "missing"), i, v)
        fprintf(stderr, "hark: hark-%s did not answer: its part is missing\n",
                json_string_value(v));
    return json_array_size(json_object_get(g, "missing")) > 0;
}

/* s_show - customers show ID [--json] */
static int s_show(cli_t *cli)
{
    if (cli->argc < 2 || (cli->argc == 3 && strcmp(cli->argv[2], "--json") != 0) ||
        cli->argc > 3) {
        fprintf(stderr, "usage: hark customers show ID [--json]\n");
        return 2;
    }
    int rc = 0;
    json_t *g = s_gather(cli, cli->argv[1], &rc);
    if (!g)
        return rc;
    int partial = s_missing(g);
    if (cli->argc == 3) {
        hark_print_json(g, JSON_COMPACT, "{}");
        json_decref(g);
        return partial;
    }
    const json_t *p = json_object_get(g, "profile");
    printf("customer %s\n", cli->argv[1]);
    static const char *const keys[] = {"name", "email", "locale", "timezone"};
    for (size_t k = 0; k < 4; k++)
        if (S(p, keys[k]))
            printf("  %-9s %s\n", keys[k], S(p, keys[k]));
    printf("  %-9s %s%s%s\n", "mail",
           json_is_true(json_object_get(g, "suppressed")) ? "suppressed: " : "allowed",
           json_is_true(json_object_get(g, "suppressed")) && S(g, "reason") ? S(g, "reason") : "",
           S(g, "address") ? "" : " (no address known)");
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(g, "items"), i, it) {
        printf("%.19s  %-12s", S(it, "at"), S(it, "kind"));
        const char *k;
        json_t *v;
        json_object_foreach(it, k, v) {
            if (strcmp(k, "at") == 0 || strcmp(k, "kind") == 0 || strcmp(k, "owner") == 0)
                continue;
            if (json_is_string(v))
                printf(" %s=%s", k, json_string_value(v));
            else if (json_is_integer(v))
                printf(" %s=%lld", k, (long long)json_integer_value(v));
            else if (json_is_real(v))
                printf(" %s=%g", k, json_real_value(v));
        }
        printf("\n");
    }
    json_decref(g);
    return partial;
}

/* s_export - customers export ID: the whole document, journaled */
static int s_export(cli_t *cli)
{
    if (cli->argc != 2) {
        fprintf(stderr, "usage: hark customers export ID\n");
        return 2;
    }
    int rc = 0;
    const char *id = cli->argv[1];
    json_t *g = s_gather(cli, id, &rc);
    if (!g)
        return rc;
    if (s_missing(g)) {
        fprintf(stderr, "hark: not exported: an export is everything or nothing; try again\n");
        json_decref(g);
        return 1;
    }
    char by[80], at[40];
    hark_by(by, sizeof by);
    json_t *ev = json_pack("{s:s,s:s,s:O}", "customer_id", id, "by", by, "owners",
                           json_object_get(g, "owners"));
    long long off = hark_journal_one(cli, EV_CUSTOMER_EXPORTED, id, ev);
    json_decref(ev);
    if (off < 0) {
        json_decref(g);
        return 1;
    }
    json_object_set_new(g, "exported_at", json_string(clock_format(clock_now_ms(), at, sizeof at)));
    json_object_del(g, "missing");
    hark_print_json(g, JSON_INDENT(2) | JSON_SORT_KEYS, "{}");
    json_decref(g);
    return 0;
}

/* s_suppress - customers suppress|unsuppress ID: the customer's address (as
 * hark-mailer knows it) off or back on every mailing list, journaled */
static int s_suppress(cli_t *cli, int on)
{
    if (cli->argc != 2) {
        fprintf(stderr, "usage: hark customers %s ID\n", on ? "unsuppress" : "suppress");
        return 2;
    }
    const char *id = cli->argv[1];
    json_t *req = json_pack("{s:s}", "customer_id", id);
    int rc = 0;
    json_t *r = hark_ask(cli, config_get(cli->cfg, "mailer", "control"), CMD_MAILER_CONTACT,
                         CMD_MAILER_CONTACT_OK, req, "hark-mailer", "customers", &rc);
    json_decref(req);
    if (!r)
        return rc;
    const char *addr = S(r, "address");
    if (!addr) {
        fprintf(stderr, "hark: no address is known for customer \"%s\"\n", id);
        json_decref(r);
        return 1;
    }
    char by[80];
    hark_by(by, sizeof by);
    json_t *ev = on ? json_pack("{s:s,s:s,s:s}", "address", addr, "customer_id", id, "by", by)
                    : json_pack("{s:s,s:s,s:s,s:s}", "address", addr, "customer_id", id, "via",
                                "staff", "by", by);
    long long off =
        hark_journal_one(cli, on ? EV_CUSTOMER_UNSUPPRESSED : EV_MAIL_UNSUBSCRIBED, id, ev);
    if (off >= 0)
        printf("%s %s (%s) by %s (journal offset %lld)\n", on ? "unsuppressed" : "suppressed",
               id, addr, by, off);
    json_decref(ev);
    json_decref(r);
    return off < 0;
}

/* hark_customers - see hark.h */
int hark_customers(cli_t *cli)
{
    const char *sub = cli->argc > 0 ? cli->argv[0] : "";
    if (strcmp(sub, "find") == 0)
        return s_find(cli);
    if (strcmp(sub, "show") == 0)
        return s_show(cli);
    if (strcmp(sub, "export") == 0)
        return s_export(cli);
    if (strcmp(sub, "suppress") == 0 || strcmp(sub, "unsuppress") == 0)
        return s_suppress(cli, sub[0] == 'u');
    if (strcmp(sub, "erase") == 0)
        return hark_customer(cli); /* hark_customer.c */
    fprintf(stderr, "usage: hark customers find TEXT [--page N] [--json]\n"
                    "       hark customers show ID [--json]\n"
                    "       hark customers export ID\n"
                    "       hark customers suppress|unsuppress ID\n"
                    "       hark customers erase ID\n");
    return 2;
}
