/*
 * test_service.c - unit tests for the skeleton's tables (service.c): the
 * types a service fetches are exactly its event table's, in its order;
 * a table that takes every type fetches with no filter.
 */
#include <stdlib.h>
#include <string.h>

#include "service.h"
#include "unit.h"

static int s_nop(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    (void)svc, (void)db, (void)ev, (void)c;
    return 0;
}

static void test_consumed_types_are_the_event_table_in_order(void)
{
    static const service_event_t events[] = {
        {EV_CUSTOMER, s_nop},
        {EV_PURCHASE, s_nop},
        {EV_MAIL_BOUNCED, s_nop},
        {NULL, NULL},
    };
    service_def_t def = {.name = "t", .events = events};
    int ok = 0;
    const char **types = service_consumes(&def, &ok);
    CHECK(ok);
    CHECK(types != NULL);
    if (types) {
        CHECK_STR(types[0], "customer");
        CHECK_STR(types[1], "purchase");
        CHECK_STR(types[2], "mail.bounced");
        CHECK(types[3] == NULL);
    }
    free(types);
}

static void test_every_type_or_no_table_means_no_filter(void)
{
    static const service_event_t every[] = {{SERVICE_EVERY_TYPE, s_nop}, {NULL, NULL}};
    static const service_event_t empty[] = {{NULL, NULL}};
    service_def_t def = {.name = "t", .events = every};
    int ok = 0;
    CHECK(service_consumes(&def, &ok) == NULL);
    CHECK(ok);
    def.events = empty;
    ok = 0;
    CHECK(service_consumes(&def, &ok) == NULL);
    CHECK(ok);
    def.events = NULL;
    ok = 0;
    CHECK(service_consumes(&def, &ok) == NULL);
    CHECK(ok);
}

static void test_service_fail_fills_code_and_text(void)
{
    service_err_t err = {.code = NULL};
    CHECK(service_fail(&err, "not_found", "no such %s %d", "case", 7) == NULL);
    CHECK_STR(err.code, "not_found");
    CHECK_STR(err.text, "no such case 7");
}

int main(void)
{
    UNIT_RUN(test_consumed_types_are_the_event_table_in_order);
    UNIT_RUN(test_every_type_or_no_table_means_no_filter);
    UNIT_RUN(test_service_fail_fills_code_and_text);
    return UNIT_END();
}
