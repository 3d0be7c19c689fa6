/*
 * test_proto.c - unit tests for the event-type constants generated from
 * proto/events/: each names a type whose schema is compiled in, and the
 * look-up from a type's text to its id finds exactly those.
 */
#include <string.h>

#include "proto.h"
#include "unit.h"

static void test_every_event_constant_names_a_schema_in_proto(void)
{
    static const char *const all[] = {
        EV_CAMPAIGN_SAVED, EV_CANCELLATION,  EV_CASE_REPLIED,   EV_CASE_RESOLVED,
        EV_CASE_ASSIGNED,  EV_CASE_NOTED,    EV_CASE_REOPENED,
        EV_CASE_RETAGGED,  EV_COMPLAINT,     EV_CUSTOMER,       EV_FEEDBACK_GIVEN,
        EV_FEEDBACK_TAGGED, EV_LOOP_CLOSED,  EV_LOOP_NOTIFIED,  EV_MAIL_BOUNCED,
        EV_MAIL_DELIVERED, EV_MAIL_FAILED,   EV_MAIL_REQUESTED, EV_MAIL_RETRY_REQUESTED,
        EV_MAIL_SKIPPED,   EV_MAIL_UNSUBSCRIBED, EV_MILESTONE_SAVED, EV_PURCHASE,
        EV_SURVEY_ANSWERED, EV_TEST_COUNTED,
        EV_CASE_CUSTOMER_REPLIED, EV_SURVEY_COMMENTED, EV_MAIL_DSN_RECEIVED, EV_TEMPLATE_SAVED,
        EV_CUSTOMER_UNSUPPRESSED, EV_CUSTOMER_EXPORTED,
        EV_CUSTOMER_ERASED, EV_PRIVACY_RETENTION,
        EV_HARK_RESTORED,
    };
    size_t n = sizeof all / sizeof all[0];
    CHECK_INT(n, PROTO_EVENT_COUNT);
    for (size_t i = 0; i < n; i++) {
        int id = proto_event_id(all[i]);
        CHECK(id >= 0 && id < PROTO_EVENT_COUNT);
        if (id >= 0)
            CHECK_STR(proto_event_schemas[id].name, all[i]);
    }
}

static void test_constants_spell_the_type_as_proto_does(void)
{
    CHECK_STR(EV_MAIL_REQUESTED, "mail.requested");
    CHECK_STR(EV_MAIL_RETRY_REQUESTED, "mail.retry_requested");
    CHECK_STR(EV_PURCHASE, "purchase");
}

static void test_event_id_of_an_unknown_type_is_minus_one(void)
{
    CHECK_INT(proto_event_id("mail.requestd"), -1);
    CHECK_INT(proto_event_id(""), -1);
    CHECK_INT(proto_event_id(NULL), -1);
    /* ids are distinct: the table has no type twice */
    int seen[PROTO_EVENT_COUNT] = {0};
    for (int i = 0; proto_event_schemas[i].name; i++) {
        int id = proto_event_id(proto_event_schemas[i].name);
        CHECK_INT(id, i);
        if (id >= 0 && id < PROTO_EVENT_COUNT)
            seen[id]++;
    }
    for (int i = 0; i < PROTO_EVENT_COUNT; i++)
        CHECK_INT(seen[i], 1);
}

int main(void)
{
    UNIT_RUN(test_every_event_constant_names_a_schema_in_proto);
    UNIT_RUN(test_constants_spell_the_type_as_proto_does);
    UNIT_RUN(test_event_id_of_an_unknown_type_is_minus_one);
    return UNIT_END();
}
