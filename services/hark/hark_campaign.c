/*
 * hark_campaign.c - `hark campaign list|show|set`: survey campaigns as a
 * marketer manages them from the shell.
 *
 *   list [--json]            every campaign (SURVEY_CAMPAIGNS on [survey] control)
 *   show ID                  one campaign, as JSON
 *   set ID key=value ...     read the campaign, change the given settings,
 *                            append campaign.saved with by = "cli:$USER";
 *                            a relationship campaign's segment is set with
 *                            segment.locales=en,pl, segment.purchased_within=90d,
 *                            segment.attributes.NAME=VALUE (empty: removed);
 *                            priority=N orders post-purchase campaigns (1 is
 *                            tried first); a campaign that another one tried
 *                            before it would always take is saved with a
 *                            warning that it can never invite anyone
 *
 * A change is an event like the admin API's, checked against the same
 * schema (proto/events/campaign.saved.json) before it is appended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "campaign.h"
#include "hark.h"
#include "keys.h"
#include "proto.h"
#include "schema.h"

/* s_campaigns - SURVEY_CAMPAIGNS {id?}: the campaigns array (caller
 * decrefs), or NULL having said why */
static json_t *s_campaigns(cli_t *cli, const char *id)
{
    return hark_applied_list(cli, "survey", CMD_SURVEY_CAMPAIGNS, CMD_SURVEY_CAMPAIGNS_OK,
                            id ? json_pack("{s:s}", "id", id) : json_object(), "campaigns",
                            "campaign");
}

/* s_list - one line per campaign */
static int s_list(cli_t *cli)
{
    int as_json = cli->argc > 1 && strcmp(cli->argv[1], "--json") == 0;
    json_t *list = s_campaigns(cli, NULL);
    if (!list)
        return 1;
    if (as_json) {
        hark_print_json(list, JSON_COMPACT | JSON_REAL_PRECISION(6), "[]");
        json_decref(list);
        return 0;
    }
    printf("%-24s %-8s %-8s %-7s %-6s %-20s %-7s %s\n", "id", "enabled", "priority", "delay",
           "sample", "products", "source", "by");
    /* relationship campaigns have no delay, sample or products: their
     * line says when they run instead */
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        char products[256] = "all";
        json_t *p = json_object_get(c, "products"), *sku;
        size_t j;
        if (json_array_size(p))
            products[0] = '\0';
        json_array_foreach(p, j, sku) {
            size_t n = strlen(products); /* snprintf cuts a long list short */
            snprintf(products + n, sizeof products - n, "%s%s", j ? "," : "",
                     json_is_string(sku) ? json_string_value(sku) : "?");
        }
        const char *by = json_string_value(json_object_get(c, "by"));
        const char *kind = json_string_value(json_object_get(c, "kind"));
        if (kind && strcmp(kind, "relationship") == 0) {
            const char *every = json_string_value(json_object_get(c, "every"));
            const char *next = json_string_value(json_object_get(c, "next_run"));
            printf("%-24s %-8s relationship: every %s, next run %s, %lld runs so far, %-7s %s\n",
                   json_string_value(json_object_get(c, "id")),
                   json_is_true(json_object_get(c, "enabled")) ? "yes" : "no",
                   every ? every : "- (once)", next ? next : "none",
                   (long long)json_integer_value(json_object_get(c, "runs")),
                   json_string_value(json_object_get(c, "source")), by ? by : "-");
            continue;
        }
        printf("%-24s %-8s %-8lld %-7s %-6.2f %-20s %-7s %s\n",
               json_string_value(json_object_get(c, "id")),
               json_is_true(json_object_get(c, "enabled")) ? "yes" : "no",
               (long long)json_integer_value(json_object_get(c, "priority")),
               json_string_value(json_object_get(c, "delay")),
               json_number_value(json_object_get(c, "sample_rate")), products,
               json_string_value(json_object_get(c, "source")), by ? by : "-");
        const char *because =
            json_string_value(json_object_get(json_object_get(c, "never_invites"), "because"));
        if (because)
            printf("%-24s never invites anyone: %s is tried first and takes every purchase it"
                   " would (priority, then id)\n",
                   "", because);
    }
    json_decref(list);
    return 0;
}

/* s_show - one campaign as JSON */
static int s_show(cli_t *cli)
{
    if (cli->argc < 2) {
        fprintf(stderr, "hark: campaign show needs an id\n");
        return 2;
    }
    json_t *list = s_campaigns(cli, cli->argv[1]);
    if (!list)
        return 1;
    int rc = 0;
    if (json_array_size(list) == 0) {
        fprintf(stderr, "hark: no campaign %s\n", cli->argv[1]);
        rc = 1;
    } else {
        hark_print_json(json_array_get(list, 0), JSON_INDENT(2) | JSON_REAL_PRECISION(6), "{}");
    }
    json_decref(list);
    return rc;
}

/* s_value - the JSON of one key=value setting: enabled true/false,
 * sample_rate a number, products a comma list (empty: every product), the
 * rest text.  NULL when the value cannot be that key's. */
static json_t *s_value(const char *key, const char *v)
{
    if (strcmp(key, "enabled") == 0)
        return strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0 ? json_true()
               : strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0
                   ? json_false()
                   : NULL;
    if (strcmp(key, "priority") == 0) {
        char *end;
        long n = strtol(v, &end, 10);
        return *v && !*end && n >= 1 && n <= 1000 ? json_integer(n) : NULL;
    }
    if (strcmp(key, "sample_rate") == 0) {
        char *end;
        double d = strtod(v, &end);
        return *v && !*end ? json_real(d) : NULL;
    }
    if (strcmp(key, "products") == 0 || strcmp(key, "segment.locales") == 0) {
        json_t *a = json_array();
        char *copy = strdup(v), *save = NULL;
        for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
            json_array_append_new(a, json_string(t));
        free(copy);
        return a;
    }
    return json_string(v);
}

/* s_segment_set - one segment.KEY=VALUE: locales (comma list),
 * purchased_within, attributes.NAME (empty value: removed); an empty
 * segment is dropped.  0, or -1 for a key the segment does not have. */
static int s_segment_set(json_t *c, const char *key, const char *v)
{
    json_t *seg = json_object_get(c, "segment");
    if (!json_is_object(seg)) {
        seg = json_object();
        json_object_set_new(c, "segment", seg);
    }
    int rc = 0;
    if (strcmp(key, "locales") == 0 || strcmp(key, "purchased_within") == 0) {
        char full[64];
        snprintf(full, sizeof full, "segment.%s", key);
        json_t *val = s_value(full, v);
        if (!*v || (json_is_array(val) && json_array_size(val) == 0)) {
            json_decref(val);
            json_object_del(seg, key);
        } else {
            json_object_set_new(seg, key, val);
        }
    } else if (strncmp(key, "attributes.", 11) == 0 && key[11]) {
        json_t *attrs = json_object_get(seg, "attributes");
        if (!json_is_object(attrs)) {
            attrs = json_object();
            json_object_set_new(seg, "attributes", attrs);
        }
        if (*v)
            json_object_set_new(attrs, key + 11, json_string(v));
        else
            json_object_del(attrs, key + 11);
        if (json_object_size(attrs) == 0)
            json_object_del(seg, "attributes");
    } else {
        rc = -1;
    }
    if (json_object_size(seg) == 0)
        json_object_del(c, "segment");
    return rc;
}

/* s_warn_shadow - say on stderr when the campaign about to be saved can
 * never invite anyone (common/campaign.c: campaign_shadow); saving goes
 * on, since the campaign in its way may be the next one changed */
static void s_warn_shadow(cli_t *cli, const json_t *c)
{
    json_t *all = s_campaigns(cli, NULL);
    char by[80];
    if (all && campaign_shadow(all, c, by, sizeof by)) {
        json_t *o = NULL, *x;
        size_t i;
        json_array_foreach(all, i, x) {
            if (strcmp(json_string_value(json_object_get(x, "id")), by) == 0)
                o = x;
        }
        fprintf(stderr,
                "hark: warning: campaign %s can never invite anyone: %s (priority %lld) is tried"
                " first and takes every purchase it would; give %s a smaller priority, e.g."
                " priority=%lld\n",
                json_string_value(json_object_get(c, "id")), by,
                (long long)json_integer_value(json_object_get(o, "priority")),
                json_string_value(json_object_get(c, "id")),
                json_integer_value(json_object_get(o, "priority")) > 1
                    ? (long long)json_integer_value(json_object_get(o, "priority")) - 1
                    : 1LL);
    }
    json_decref(all);
}

/* s_set - change some settings of a campaign (or make it) */
static int s_set(cli_t *cli)
{
    if (cli->argc < 3) {
        fprintf(stderr, "hark: campaign set needs an id and key=value settings\n");
        return 2;
    }
    const char *id = cli->argv[1];
    json_t *list = s_campaigns(cli, id);
    if (!list)
        return 1;
    json_t *c = json_array_size(list) ? json_copy(json_array_get(list, 0))
                                      : json_pack("{s:s,s:s,s:b}", "id", id, "kind",
                                                  "post_purchase", "enabled", 1);
    json_decref(list);
    /* what the survey service adds to a view is not part of the campaign */
    json_object_del(c, "source");
    json_object_del(c, "counts");
    json_object_del(c, "runs");
    json_object_del(c, "next_run");
    json_object_del(c, "last_run");
    json_object_del(c, "never_invites");
    json_object_del(c, "answered");
    /* kind=...: the view's settings of the other kind go (what the
     * command line gives is then checked as it is) */
    static const char *const post_only[] = {"delay", "sample_rate", "products", "priority", NULL};
    static const char *const rel_only[] = {"start", "every", "segment", "spread", NULL};
    for (int i = 2; i < cli->argc; i++) {
        if (strncmp(cli->argv[i], "kind=", 5) != 0)
            continue;
        const char *const *drop =
            strcmp(cli->argv[i] + 5, "relationship") == 0 ? post_only : rel_only;
        for (int j = 0; drop[j]; j++)
            json_object_del(c, drop[j]);
    }
    for (int i = 2; i < cli->argc; i++) {
        const char *eq = strchr(cli->argv[i], '=');
        char key[64];
        if (!eq || eq == cli->argv[i] || (size_t)(eq - cli->argv[i]) >= sizeof key) {
            fprintf(stderr, "hark: campaign set: expected key=value, got %s\n", cli->argv[i]);
            json_decref(c);
            return 2;
        }
        snprintf(key, sizeof key, "%.*s", (int)(eq - cli->argv[i]), cli->argv[i]);
        if (strcmp(key, "id") == 0 || strcmp(key, "by") == 0) {
            fprintf(stderr, "hark: campaign set: %s cannot be set\n", key);
            json_decref(c);
            return 2;
        }
        if (strncmp(key, "segment.", 8) == 0) {
            if (s_segment_set(c, key + 8, eq + 1)) {
                fprintf(stderr, "hark: campaign set: %s: bad value \"%s\"\n", key, eq + 1);
                json_decref(c);
                return 2;
            }
            continue;
        }
        if (strcmp(key, "every") == 0 && !eq[1]) { /* every= : runs once */
            json_object_del(c, "every");
            continue;
        }
        json_t *v = s_value(key, eq + 1);
        if (!v) {
            fprintf(stderr, "hark: campaign set: %s: bad value \"%s\"\n", key, eq + 1);
            json_decref(c);
            return 2;
        }
        if (strcmp(key, "products") == 0 && json_array_size(v) == 0) {
            json_decref(v);
            json_object_del(c, "products");
        } else {
            json_object_set_new(c, key, v);
        }
    }
    char by[80];
    hark_by(by, sizeof by);
    json_object_set_new(c, "by", json_string(by));
    /* the same check as the admin API's, so nothing the survey service
     * would have to ignore is ever journaled */
    char path[256] = "", msg[600] = "";
    schema_t *s = campaign_schema(msg, sizeof msg);
    int bad = !s || campaign_check(s, c, path, sizeof path, msg, sizeof msg) != NULL;
    schema_destroy(&s);
    if (!bad) {
        /* settings the survey service could not use (a window like 20-9)
         * it would not apply: say so now */
        char *text = json_dumps(c, JSON_COMPACT);
        campaign_defaults_t def;
        campaign_defaults_load(cli->cfg, &def);
        json_t *v = text ? campaign_view(&def, id, 1, "admin", text) : NULL;
        campaign_t parsed;
        *path = '\0';
        bad = !v || campaign_parse(v, &parsed, msg, sizeof msg) != 0;
        if (!bad)
            campaign_free(&parsed);
        json_decref(v);
        free(text);
    }
    if (!bad)
        s_warn_shadow(cli, c);
    return hark_save(cli, "campaign", EV_CAMPAIGN_SAVED, id, by, c, bad, msg);
}

/* hark_campaign - `hark campaign list|show|set` */
int hark_campaign(cli_t *cli)
{
    const char *sub = cli->argc > 0 ? cli->argv[0] : "";
    if (strcmp(sub, "list") == 0)
        return s_list(cli);
    if (strcmp(sub, "show") == 0)
        return s_show(cli);
    if (strcmp(sub, "set") == 0)
        return s_set(cli);
    fprintf(stderr, "hark: campaign needs list, show or set\n");
    return 2;
}
