/*
 * test_jclient.c - unit tests for the batched JOURNAL_APPEND halves of
 * services/common/jclient.c: the body built from many event arrays, and a
 * reply split back into what became of each batch, classified as
 * jclient_append classifies a whole reply (refused as it is: EBADMSG;
 * worth a retry: EAGAIN, ETIMEDOUT).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jclient.h"
#include "unit.h"

/* s_events - an events array of n events with keys prefix0.. */
static json_t *s_events(const char *prefix, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s%d", prefix, i);
        json_array_append_new(a, json_pack("{s:s,s:s,s:{}}", "type", "t", "key", key, "payload"));
    }
    return a;
}

/* s_json - text parsed (the test's own literals are valid) */
static json_t *s_json(const char *text)
{
    return json_loads(text, 0, NULL);
}

static void test_body_holds_each_array_as_a_batch_in_order(void)
{
    json_t *ev[3] = {s_events("a", 2), s_events("b", 1), s_events("c", 3)};
    json_t *body = jclient_batches_body((const json_t *const *)ev, 3);
    CHECK(body != NULL);
    CHECK_INT(json_object_size(body), 1);
    json_t *batches = json_object_get(body, "batches");
    CHECK_INT(json_array_size(batches), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *b = json_array_get(batches, i);
        CHECK_INT(json_object_size(b), 1);
        CHECK(json_equal(json_object_get(b, "events"), ev[i]));
    }
    /* not stolen: the caller's arrays live on after the body */
    json_decref(body);
    CHECK_INT(json_array_size(ev[2]), 3);
    CHECK(jclient_batches_body((const json_t *const *)ev, 0) == NULL);
    for (int i = 0; i < 3; i++)
        json_decref(ev[i]);
}

static void test_split_gives_each_batch_its_own_result(void)
{
    json_t *ev[3] = {s_events("a", 2), s_events("b", 2), s_events("c", 1)};
    json_t *reply = s_json(
        "{\"results\":[{\"offsets\":[1,2],\"duplicates\":[false,false]},"
        "{\"error\":{\"code\":\"bad_request\",\"message\":\"event 1: unknown field in event\","
        "\"index\":1}},"
        "{\"offsets\":[1],\"duplicates\":[true]}]}");
    jclient_result_t res[3];
    CHECK_INT(jclient_batches_split("JOURNAL_APPEND_OK", reply, (const json_t *const *)ev, 3, res),
              2);
    CHECK(res[0].ok != NULL && res[0].error == 0);
    CHECK_INT(json_integer_value(json_array_get(json_object_get(res[0].ok, "offsets"), 1)), 2);
    CHECK(res[1].ok == NULL);
    CHECK_INT(res[1].error, EBADMSG); /* refused as it is: the client must not retry it */
    CHECK_STR(res[1].err, "journal refused: event 1: unknown field in event");
    CHECK(res[2].ok != NULL && res[2].error == 0);
    CHECK(json_is_true(json_array_get(json_object_get(res[2].ok, "duplicates"), 0)));
    json_decref(reply); /* the results hold references of their own */
    CHECK_INT(json_array_size(json_object_get(res[0].ok, "offsets")), 2);
    jclient_results_clear(res, 3);
    CHECK(res[0].ok == NULL && res[2].ok == NULL);
    /* a batch the journal could not hold in memory is worth a retry */
    reply = s_json("{\"results\":[{\"offsets\":[3,4],\"duplicates\":[false,false]},"
                   "{\"error\":{\"code\":\"store_failed\",\"message\":\"out of memory; retry\"}},"
                   "{\"offsets\":[5],\"duplicates\":[false]}]}");
    CHECK_INT(jclient_batches_split("JOURNAL_APPEND_OK", reply, (const json_t *const *)ev, 3, res),
              2);
    CHECK_INT(res[1].error, EAGAIN);
    jclient_results_clear(res, 3);
    json_decref(reply);
    for (int i = 0; i < 3; i++)
        json_decref(ev[i]);
}

static void test_an_error_reply_is_every_batchs(void)
{
    json_t *ev[2] = {s_events("a", 1), s_events("b", 1)};
    jclient_result_t res[2];
    /* a failed commit: retry */
    json_t *reply = s_json("{\"error\":{\"code\":\"store_failed\","
                           "\"message\":\"the journal could not commit; retry\"}}");
    CHECK_INT(jclient_batches_split("ERROR", reply, (const json_t *const *)ev, 2, res), 0);
    for (int i = 0; i < 2; i++) {
        CHECK(res[i].ok == NULL);
        CHECK_INT(res[i].error, EAGAIN);
        CHECK_STR(res[i].err, "journal refused: the journal could not commit; retry");
    }
    json_decref(reply);
    /* the message refused whole (too many events, a bad envelope): not as it is */
    reply = s_json("{\"error\":{\"code\":\"bad_request\",\"message\":\"\\\"batches\\\" hold\"}}");
    CHECK_INT(jclient_batches_split("ERROR", reply, (const json_t *const *)ev, 2, res), 0);
    CHECK_INT(res[0].error, EBADMSG);
    CHECK_INT(res[1].error, EBADMSG);
    json_decref(reply);
    /* no reply at all */
    jclient_batches_fail(res, 2, ETIMEDOUT, "journal did not answer in 5000 ms");
    CHECK_INT(res[1].error, ETIMEDOUT);
    CHECK_STR(res[1].err, "journal did not answer in 5000 ms");
    jclient_results_clear(res, 2);
    for (int i = 0; i < 2; i++)
        json_decref(ev[i]);
}

static void test_a_reply_that_does_not_fit_is_a_bad_reply(void)
{
    json_t *ev[2] = {s_events("a", 2), s_events("b", 1)};
    jclient_result_t res[2];
    const char *whole[] = {
        "{\"results\":[{\"offsets\":[1,2],\"duplicates\":[false,false]}]}", /* one result short */
        "{\"offsets\":[1,2,3],\"duplicates\":[false,false,false]}",          /* the single form */
        "{}",
    };
    for (size_t k = 0; k < sizeof whole / sizeof *whole; k++) {
        json_t *reply = s_json(whole[k]);
        CHECK_INT(jclient_batches_split("JOURNAL_APPEND_OK", reply, (const json_t *const *)ev, 2,
                                        res),
                  0);
        CHECK(res[0].ok == NULL && res[0].error == EBADMSG);
        CHECK_STR(res[1].err, "journal call failed: bad reply");
        json_decref(reply);
    }
    /* a result with too few offsets for its batch is that batch's bad reply */
    json_t *reply = s_json("{\"results\":[{\"offsets\":[1],\"duplicates\":[false]},"
                           "{\"offsets\":[2],\"duplicates\":[false]}]}");
    CHECK_INT(jclient_batches_split("JOURNAL_APPEND_OK", reply, (const json_t *const *)ev, 2, res),
              1);
    CHECK_INT(res[0].error, EBADMSG);
    CHECK(res[1].ok != NULL);
    jclient_results_clear(res, 2);
    json_decref(reply);
    /* a reply of another command */
    reply = s_json("{\"events\":[],\"next\":0,\"head\":0}");
    CHECK_INT(jclient_batches_split("JOURNAL_FETCH_OK", reply, (const json_t *const *)ev, 2, res),
              0);
    CHECK_INT(res[1].error, EBADMSG);
    json_decref(reply);
    for (int i = 0; i < 2; i++)
        json_decref(ev[i]);
}

int main(void)
{
    UNIT_RUN(test_body_holds_each_array_as_a_batch_in_order);
    UNIT_RUN(test_split_gives_each_batch_its_own_result);
    UNIT_RUN(test_an_error_reply_is_every_batchs);
    UNIT_RUN(test_a_reply_that_does_not_fit_is_a_bad_reply);
    return UNIT_END();
}
