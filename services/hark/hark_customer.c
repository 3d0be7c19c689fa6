/*
 * hark_customer.c - `hark customer erase ID`: forget a customer.
 *
 * Appends customer.erased (by cli:$USER).  hark-journal destroys the keys
 * that sealed the customer's personal fields and logs the erasure; every
 * service blanks what it copied (hark-journal(8) PRIVACY).
 */
#include <stdio.h>
#include <string.h>

#include "hark.h"
#include "proto.h"

/* s_erase - hark customer erase ID */
static int s_erase(cli_t *cli)
{
    if (cli->argc != 2 || !*cli->argv[1] || strlen(cli->argv[1]) > 128) {
        fprintf(stderr, "hark: customer erase needs one customer id (1-128 characters)\n");
        return 2;
    }
    char by[80];
    hark_by(by, sizeof by);
    json_t *p = json_pack("{s:s,s:s}", "customer_id", cli->argv[1], "by", by);
    long long off = p ? hark_journal_one(cli, EV_CUSTOMER_ERASED, cli->argv[1], p) : -1;
    json_decref(p);
    if (off < 0)
        return 1;
    printf("%s journaled at offset %lld: the customer's keys are destroyed\n",
           EV_CUSTOMER_ERASED, off);
    return 0;
}

/* hark_customer - `hark customer erase ID` */
int hark_customer(cli_t *cli)
{
    if (cli->argc >= 1 && strcmp(cli->argv[0], "erase") == 0)
        return s_erase(cli);
    fprintf(stderr, "hark: customer erase ID\n");
    return 2;
}
