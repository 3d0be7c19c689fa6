/*
 * test_mailbox.c - unit tests for services/common/mailbox.c, the one address
 * rule of schema validation and the mailer: the addresses an attacker got
 * past ingest (each then became mail.skipped) are refused; what customers
 * really use passes.
 */
#include <string.h>

#include "mailbox.h"
#include "unit.h"

static int ok(const char *s) { return mailbox_valid(s, strlen(s), MAILBOX_FQDN); }

static void test_mailbox__addresses_the_mailer_cannot_use_are_refused(void)
{
    const char *bad[] = {
        "a;b@example.com", "a(c)@example.com", "a:b@example.com", "a\\b@example.com",
        "a@[127.0.0.1]", "a@exa[]mple.com", "\xc3\xa4@example.com", "\"a b\"@example.com",
        "a@example.com\r\nBcc: x@y.z", "a@-example.com", "a@example-.com", "a@exa_mple.com",
        "a..b@example.com", ".a@example.com", "a.@example.com", "a@example..com",
        "a@.example.com", "a@example.com.", "@example.com", "a@", "a", "", "a@b@example.com",
        "a b@example.com", "<a@example.com>", "a@example.com, b@example.com",
        "a@ex\xc3\xa4mple.com", "a\t@example.com",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (ok(bad[i]))
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(!ok(bad[i]));
    }
}

static void test_mailbox__real_addresses_pass(void)
{
    const char *good[] = {
        "bob@example.com", "bob.smith+tag@mail.example.co.uk", "o'brien@example.ie",
        "x_y-z@a-b.example", "1@2.pl", "zane@xn--przykad-fsb.pl", "a!#$%&'*+/=?^_`{|}~-@example.com",
        "ANNA@EXAMPLE.COM",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        if (!ok(good[i]))
            fprintf(stderr, "refused: %s\n", good[i]);
        CHECK(ok(good[i]));
    }
}

static void test_mailbox__lengths_are_rfc_5321s(void)
{
    char a[400];
    memset(a, 'a', 64);
    strcpy(a + 64, "@example.com");
    CHECK(ok(a));
    memset(a, 'a', 65);
    strcpy(a + 65, "@example.com");
    CHECK(!ok(a));
    /* a label of 63 passes, of 64 does not */
    strcpy(a, "a@");
    memset(a + 2, 'b', 63);
    strcpy(a + 65, ".com");
    CHECK(ok(a));
    strcpy(a, "a@");
    memset(a + 2, 'b', 64);
    strcpy(a + 66, ".com");
    CHECK(!ok(a));
    /* 254 octets in all pass, 255 do not */
    char *p = a;
    memset(p, 'l', 64);
    p += 64;
    *p++ = '@';
    for (int i = 0; i < 3; i++) {
        memset(p, 'd', 61);
        p += 61;
        *p++ = '.';
    }
    memset(p, 'e', 3);
    p += 3;
    *p = '\0';
    CHECK_INT(strlen(a), 254);
    CHECK(ok(a));
    p[0] = 'e';
    p[1] = '\0';
    CHECK(!ok(a));
}

static void test_mailbox__a_dotless_domain_only_without_fqdn(void)
{
    CHECK(!ok("hark@localhost"));
    CHECK(mailbox_valid("hark@localhost", 14, 0));
    CHECK(!mailbox_valid(NULL, 0, 0));
    /* n counts: a NUL inside is not a terminator */
    CHECK(!mailbox_valid("a@example.com\0x", 15, 0));
}

int main(void)
{
    UNIT_RUN(test_mailbox__addresses_the_mailer_cannot_use_are_refused);
    UNIT_RUN(test_mailbox__real_addresses_pass);
    UNIT_RUN(test_mailbox__lengths_are_rfc_5321s);
    UNIT_RUN(test_mailbox__a_dotless_domain_only_without_fqdn);
    return UNIT_END();
}
