/*
 * test_survey_campaign.c - unit tests for services/survey/survey_campaign.c's
 * pure parts: the sample decision (deterministic, about the rate asked,
 * 0 and 1 exact), product matching, and a campaign's view and settings
 * falling back to [survey] for what it leaves out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "survey.h"
#include "unit.h"
#include "unit_file.h"

static char s_dir[] = "/tmp/hark-survey-campaign-XXXXXX";

static void test_sample_is_deterministic_and_near_the_rate(void)
{
    int in = 0;
    char order[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(order, sizeof order, "o-%d", i);
        int a = survey_campaign_sampled(order, 0.3);
        CHECK(a == survey_campaign_sampled(order, 0.3)); /* a replay decides the same */
        CHECK(survey_campaign_sampled(order, 1.0));
        CHECK(!survey_campaign_sampled(order, 0.0));
        /* a larger rate keeps every order a smaller one took */
        CHECK(!a || survey_campaign_sampled(order, 0.6));
        in += a;
    }
    CHECK(in > 2800 && in < 3200);
}

static void test_products_match_any_item_ignoring_case(void)
{
    json_t *p = json_loads("{\"items\":[{\"sku\":\"MUG-2\"},{\"sku\":\"tea-1\"}]}", 0, NULL);
    json_t *none = json_loads("{\"order_id\":\"o\"}", 0, NULL);
    json_t *tea = json_loads("[\"TEA-1\"]", 0, NULL), *cup = json_loads("[\"CUP\"]", 0, NULL);
    json_t *empty = json_array();
    CHECK(survey_campaign_matches(tea, p));
    CHECK(!survey_campaign_matches(cup, p));
    CHECK(!survey_campaign_matches(tea, none));
    CHECK(survey_campaign_matches(NULL, none)); /* no products: every purchase */
    CHECK(survey_campaign_matches(empty, p));
    json_decref(p), json_decref(none), json_decref(tea), json_decref(cup), json_decref(empty);
}

static void test_view_falls_back_to_survey_config_and_parses(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/hark.conf", s_dir);
    if (unit_write_file(path, "[survey]\ndelay = 3d\nwindow_hours = 9-18\nwindow_days = mon-fri\n"
                              "expiry = 10d\n"))
        return;
    config_t *cfg = config_load(path);
    CHECK(cfg != NULL);
    survey_config_t set;
    survey_config_load(cfg, &set);
    json_t *v = campaign_view(&set.campaign, "tea", 1, "admin",
                              "{\"delay\":\"90s\",\"products\":[\"TEA-1\"],"
                              "\"sample_rate\":0.5,\"by\":\"api\"}");
    CHECK_STR(json_string_value(json_object_get(v, "delay")), "90s");
    CHECK_STR(json_string_value(json_object_get(v, "window_hours")), "9-18");
    CHECK_STR(json_string_value(json_object_get(v, "expiry")), "10d");
    CHECK_STR(json_string_value(json_object_get(v, "kind")), "post_purchase");
    CHECK_STR(json_string_value(json_object_get(v, "by")), "api");
    campaign_t c;
    char err[200] = "";
    CHECK_INT(campaign_parse(v, &c, err, sizeof err), 0);
    CHECK_INT(c.delay, 90000);
    CHECK_INT(c.expiry, 10LL * 86400000);
    CHECK_INT(c.window.start_hour, 9);
    CHECK(c.sample_rate == 0.5 && c.enabled && json_array_size(c.products) == 1);
    campaign_free(&c);
    json_decref(v);
    /* a row that says nothing is [survey] with every purchase, all of them */
    v = campaign_view(&set.campaign, "post-purchase", 0, "config", NULL);
    CHECK_INT(campaign_parse(v, &c, err, sizeof err), 0);
    CHECK(c.delay == 3LL * 86400000 && c.sample_rate == 1.0 && !c.products && !c.enabled);
    campaign_free(&c);
    json_decref(v);
    v = campaign_view(&set.campaign, "x", 1, "admin", "{\"window_hours\":\"20-9\"}");
    CHECK_INT(campaign_parse(v, &c, err, sizeof err), -1);
    json_decref(v);
    config_destroy(&cfg);
}

int main(void)
{
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    UNIT_RUN(test_sample_is_deterministic_and_near_the_rate);
    UNIT_RUN(test_products_match_any_item_ignoring_case);
    UNIT_RUN(test_view_falls_back_to_survey_config_and_parses);
    if (unit_remove_dir(s_dir) != 0)
        fprintf(stderr, "could not remove %s\n", s_dir);
    return UNIT_END();
}
