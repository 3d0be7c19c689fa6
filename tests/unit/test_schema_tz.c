/*
 * test_schema_tz.c - the "timezone" format of services/common/schema.c once
 * its names are remembered.
 *
 * test_schema.c checks each name once; here every name is checked again and
 * again, so the second answer comes from the table of known zones and must
 * be the first answer, and many threads check at once (as the gateway's
 * connection threads do) while the table fills.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "schema.h"
#include "unit.h"

#define THREADS 16
#define ROUNDS 200

static const char *const s_good[] = {
    "Europe/Warsaw", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "UTC", "Europe/London",
    "Asia/Tokyo", "Australia/Sydney", "America/New_York", "Etc/GMT-14", "Africa/Abidjan",
};
static const char *const s_bad[] = {
    "Mars/Olympus", "../etc/passwd", "Europe/../Europe/Warsaw",
    "/usr/share/zoneinfo/Europe/Warsaw", "Europe", "Europe/", "Europe//Warsaw",
    "Europe/Warsaw ", "zone.tab", "leapseconds", "localtime", "",
    "Europe/Warsa", "Europe/Warsawx", "europe/warsaw", "Europe/Warsaw/",
};

static schema_t *s_schema;

/* s_valid - 1 when name passes the format */
static int s_valid(const char *name)
{
    json_t *v = json_string(name);
    char path[64], msg[128];
    int rc = schema_validate(s_schema, v, path, sizeof path, msg, sizeof msg);
    json_decref(v);
    return rc == 0;
}

/* s_check_all - every good name passes and every bad one fails; the number of wrong answers */
static int s_check_all(void)
{
    int wrong = 0;
    for (size_t i = 0; i < sizeof s_good / sizeof *s_good; i++)
        wrong += !s_valid(s_good[i]);
    for (size_t i = 0; i < sizeof s_bad / sizeof *s_bad; i++)
        wrong += s_valid(s_bad[i]);
    return wrong;
}

static void test_answers_stay_the_same_when_remembered(void)
{
    for (int round = 0; round < 3; round++)
        CHECK_INT(s_check_all(), 0);
    /* a prefix or extension of a remembered name is not taken for it */
    CHECK(s_valid("Europe/Warsaw"));
    CHECK(!s_valid("Europe/Wars"));
    CHECK(!s_valid("Europe/Warsaw2"));
}

/* s_worker - check everything ROUNDS times; returns the wrong answers */
static void *s_worker(void *arg)
{
    (void)arg;
    long wrong = 0;
    for (int r = 0; r < ROUNDS; r++)
        wrong += s_check_all();
    return (void *)wrong;
}

static void test_many_threads_agree(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK_INT(pthread_create(&t[i], NULL, s_worker, NULL), 0);
    long wrong = 0;
    for (int i = 0; i < THREADS; i++) {
        void *w;
        pthread_join(t[i], &w);
        wrong += (long)w;
    }
    CHECK_INT(wrong, 0);
}

int main(void)
{
    char err[128];
    s_schema = schema_new("{\"type\":\"string\",\"format\":\"timezone\"}", err, sizeof err);
    if (!s_schema) {
        fprintf(stderr, "schema: %s\n", err);
        return 1;
    }
    /* threads first, while nothing is remembered yet, so they race to fill the table */
    UNIT_RUN(test_many_threads_agree);
    UNIT_RUN(test_answers_stay_the_same_when_remembered);
    schema_destroy(&s_schema);
    return UNIT_END();
}
