/*
 * test_reply_token.c - unit tests for services/common/reply_token.c: a token
 * round-trips in a reply address and in a Message-ID, its MAC is read in
 * either case, and any other key, a changed id or a flipped MAC is refused.
 */
#include <stdio.h>
#include <string.h>

#include "reply_token.h"
#include "unit.h"

static const char *K = "0123456789abcdef0123456789abcdef";

static void test_reply_token_round_trips_in_address_and_message_id(void)
{
    char tok[REPLY_TOKEN_MAX], mid[200];
    reply_token_t t;
    CHECK_INT(reply_token_make(K, 'c', "C-47", 1234, tok, sizeof tok), 0);
    CHECK_INT(reply_token_read(K, tok, strlen(tok), &t), 0);
    CHECK(t.kind == 'c');
    CHECK_STR(t.id, "C-47");
    CHECK_INT(t.n, 1234);
    snprintf(mid, sizeof mid, "<hark.%s@shop.example>", tok);
    memset(&t, 0, sizeof t);
    CHECK_INT(reply_token_from_msgid(K, mid, strlen(mid), &t), 0);
    CHECK_STR(t.id, "C-47");
    /* "reply+" and the token fit an address's 64-character local part */
    CHECK_INT(reply_token_make(K, 's', "p99", 999999999999LL, tok, sizeof tok), 0);
    CHECK(strlen(tok) + 6 <= 64);
    /* some mail systems upper-case addresses: the MAC's hex is read anyway */
    for (char *p = strrchr(tok, '.'); *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    CHECK_INT(reply_token_read(K, tok, strlen(tok), &t), 0);
    CHECK_STR(t.id, "p99");
}

static void test_reply_token_refuses_forged_or_foreign(void)
{
    char tok[REPLY_TOKEN_MAX];
    reply_token_t t;
    CHECK_INT(reply_token_make(K, 'm', "17", 17, tok, sizeof tok), 0);
    CHECK(reply_token_read("another key", tok, strlen(tok), &t) != 0);
    char bad[REPLY_TOKEN_MAX];
    snprintf(bad, sizeof bad, "%s", tok);
    bad[2] = '8'; /* another mail */
    CHECK(reply_token_read(K, bad, strlen(bad), &t) != 0);
    snprintf(bad, sizeof bad, "%s", tok);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
    CHECK(reply_token_read(K, bad, strlen(bad), &t) != 0);
    CHECK(reply_token_make(K, 'x', "1", 1, tok, sizeof tok) != 0);
    CHECK(reply_token_make(K, 'c', "a.b", 1, tok, sizeof tok) != 0);
    CHECK(reply_token_make(K, 'c', "", 1, tok, sizeof tok) != 0);
    CHECK(reply_token_from_msgid(K, "<m1.abc@shop.example>", 21, &t) != 0);
    CHECK(reply_token_read(K, "c.x.1.zz", 8, &t) != 0);
    CHECK(reply_token_read(K, "", 0, &t) != 0);
}

int main(void)
{
    UNIT_RUN(test_reply_token_round_trips_in_address_and_message_id);
    UNIT_RUN(test_reply_token_refuses_forged_or_foreign);
    return UNIT_END();
}
