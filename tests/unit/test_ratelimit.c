/*
 * test_ratelimit.c - services/common/ratelimit.c: exact per-address counts
 * in bounded memory.
 */
#include "ratelimit.h"
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>

/* v4 - a sockaddr for a dotted address */
static struct sockaddr_in v4(const char *a)
{
    struct sockaddr_in s = {.sin_family = AF_INET};
    inet_pton(AF_INET, a, &s.sin_addr);
    return s;
}

/* v6 - a sockaddr for an IPv6 address */
static struct sockaddr_in6 v6(const char *a)
{
    struct sockaddr_in6 s = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, a, &s.sin6_addr);
    return s;
}

#define SA(x) ((const struct sockaddr *)&(x))

/* the two addresses that shared one slot of the old hashed table */
static void test_colliding_addresses_keep_their_own_counts(void)
{
    ratelimit_t *rl = ratelimit_new(3, 60000, 1024);
    struct sockaddr_in a = v4("127.0.8.1"), b = v4("127.0.2.115");
    for (int i = 0; i < 3; i++) {
        CHECK_INT(ratelimit_hit(rl, SA(a), 1000, NULL), 1);
        CHECK_INT(ratelimit_hit(rl, SA(b), 1000, NULL), 1);
    }
    int retry = 0;
    CHECK_INT(ratelimit_hit(rl, SA(a), 31000, &retry), 0);
    CHECK_INT(retry, 30);
    CHECK_INT(ratelimit_hit(rl, SA(b), 31000, NULL), 0);
    CHECK_INT(ratelimit_size(rl), 2);
    ratelimit_destroy(&rl);
    CHECK(rl == NULL);
    ratelimit_destroy(&rl);
}

static void test_a_window_ends_and_counting_starts_again(void)
{
    ratelimit_t *rl = ratelimit_new(1, 60000, 4);
    struct sockaddr_in a = v4("10.0.0.1");
    int retry = 0;
    CHECK_INT(ratelimit_hit(rl, SA(a), 0, NULL), 1);
    CHECK_INT(ratelimit_hit(rl, SA(a), 59999, &retry), 0);
    CHECK_INT(retry, 1);
    CHECK_INT(ratelimit_hit(rl, SA(a), 60000, NULL), 1);
    ratelimit_destroy(&rl);
}

static void test_ipv6_is_exact_and_mapped_ipv4_is_the_ipv4_address(void)
{
    ratelimit_t *rl = ratelimit_new(1, 60000, 16);
    struct sockaddr_in6 a = v6("2001:db8::1"), b = v6("2001:db8::2"),
                        m = v6("::ffff:192.0.2.7");
    struct sockaddr_in c = v4("192.0.2.7");
    CHECK_INT(ratelimit_hit(rl, SA(a), 0, NULL), 1);
    CHECK_INT(ratelimit_hit(rl, SA(b), 0, NULL), 1);
    CHECK_INT(ratelimit_hit(rl, SA(a), 0, NULL), 0);
    CHECK_INT(ratelimit_hit(rl, SA(c), 0, NULL), 1);
    CHECK_INT(ratelimit_hit(rl, SA(m), 0, NULL), 0);
    CHECK_INT(ratelimit_size(rl), 3);
    ratelimit_destroy(&rl);
}

/* more addresses than cap: memory stays at cap, the oldest is forgotten */
static void test_memory_is_bounded_and_the_oldest_goes_first(void)
{
    ratelimit_t *rl = ratelimit_new(1, 60000, 8);
    char ip[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(ip, sizeof ip, "10.1.%d.%d", i / 256, i % 256);
        struct sockaddr_in a = v4(ip);
        CHECK_INT(ratelimit_hit(rl, SA(a), i, NULL), 1);
        CHECK(ratelimit_size(rl) <= 8);
    }
    struct sockaddr_in last = v4("10.1.3.231"), first = v4("10.1.0.0");
    CHECK_INT(ratelimit_hit(rl, SA(last), 1000, NULL), 0);  /* still counted */
    CHECK_INT(ratelimit_hit(rl, SA(first), 1000, NULL), 1); /* long forgotten */
    ratelimit_destroy(&rl);
}

/* a name (a customer behind a link) has its own count, apart from any
 * address and from other names */
static void test_names_are_counted_apart_from_addresses(void)
{
    ratelimit_t *rl = ratelimit_new(2, 60000, 1024);
    struct sockaddr_in a = v4("127.0.0.1");
    CHECK_INT(ratelimit_hit_name(rl, "customer:c1", 1000, NULL), 1);
    CHECK_INT(ratelimit_hit_name(rl, "customer:c1", 1000, NULL), 1);
    int retry = 0;
    CHECK_INT(ratelimit_hit_name(rl, "customer:c1", 2000, &retry), 0);
    CHECK_INT(retry, 59);
    CHECK_INT(ratelimit_hit_name(rl, "customer:c2", 2000, NULL), 1);
    CHECK_INT(ratelimit_hit(rl, SA(a), 2000, NULL), 1);
    CHECK_INT((long long)ratelimit_size(rl), 3);
    ratelimit_destroy(&rl);
}

int main(void)
{
    UNIT_RUN(test_colliding_addresses_keep_their_own_counts);
    UNIT_RUN(test_a_window_ends_and_counting_starts_again);
    UNIT_RUN(test_ipv6_is_exact_and_mapped_ipv4_is_the_ipv4_address);
    UNIT_RUN(test_memory_is_bounded_and_the_oldest_goes_first);
    UNIT_RUN(test_names_are_counted_apart_from_addresses);
    return UNIT_END();
}
