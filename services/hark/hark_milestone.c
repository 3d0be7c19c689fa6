/*
 * hark_milestone.c - `hark milestone list|set` (the birthday and
 * anniversary settings as a marketer manages them from the shell) and
 * `hark coupon verify CODE`.
 *
 *   milestone list [--json]        both kinds (MILESTONE_SETTINGS on
 *                                  [milestone] control) with their counts
 *   milestone set KIND [--enabled on|off] [--time HH:MM] [--offset -3d]
 *                 [--template NAME] [--anniversary-from first_purchase|signup_date]
 *                                  read the kind's settings, change the given
 *                                  ones, append milestone.saved with by =
 *                                  "cli:$USER" (checked like the admin API's)
 *   coupon verify CODE [--json]    offline: is the code genuine under
 *                                  [hark] token_key, and whose is it
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hark.h"
#include "keys.h"
#include "milestone_coupon.h"
#include "milestone_settings.h"
#include "proto.h"

/* s_settings - MILESTONE_SETTINGS {kind?}: the list (caller decrefs), or
 * NULL having said why */
static json_t *s_settings(cli_t *cli, const char *kind)
{
    return hark_applied_list(cli, "milestone", CMD_MILESTONE_SETTINGS, CMD_MILESTONE_SETTINGS_OK,
                            kind ? json_pack("{s:s}", "kind", kind) : json_object(), "milestones",
                            "milestone");
}

/* s_list - one line per kind */
static int s_list(cli_t *cli)
{
    int as_json = cli->argc > 1 && strcmp(cli->argv[1], "--json") == 0;
    json_t *list = s_settings(cli, NULL);
    if (!list)
        return 1;
    if (as_json) {
        hark_print_json(list, JSON_COMPACT, "[]");
        json_decref(list);
        return 0;
    }
    printf("%-12s %-8s %-6s %-7s %-14s %-15s %-6s %-7s %s\n", "kind", "enabled", "time",
           "offset", "template", "from", "source", "sent", "by");
    size_t i;
    json_t *k;
    json_array_foreach(list, i, k) {
        const char *from = json_string_value(json_object_get(k, "anniversary_from"));
        const char *by = json_string_value(json_object_get(k, "by"));
        printf("%-12s %-8s %-6s %-7s %-14s %-15s %-6s %-7lld %s\n",
               json_string_value(json_object_get(k, "kind")),
               json_is_true(json_object_get(k, "enabled")) ? "yes" : "no",
               json_string_value(json_object_get(k, "time")),
               json_string_value(json_object_get(k, "offset")),
               json_string_value(json_object_get(k, "template")), from ? from : "-",
               json_string_value(json_object_get(k, "source")),
               (long long)json_integer_value(
                   json_object_get(json_object_get(k, "counts"), "sent")),
               by ? by : "-");
    }
    json_decref(list);
    return 0;
}

/* s_set - change some settings of one kind */
static int s_set(cli_t *cli)
{
    const char *kind = cli->argc > 1 ? cli->argv[1] : "";
    if (milestone_settings_kind(kind) < 0) {
        fprintf(stderr, "hark: milestone set needs a kind: birthday or anniversary\n");
        return 2;
    }
    static const struct {
        const char *opt, *key;
    } opts[] = {{"--enabled", "enabled"},   {"--time", "time"},
                {"--offset", "offset"},     {"--template", "template"},
                {"--anniversary-from", "anniversary_from"}};
    json_t *changes = json_object();
    for (int i = 2; i < cli->argc; i++) {
        const char *key = NULL;
        for (size_t j = 0; j < sizeof opts / sizeof *opts; j++)
            if (strcmp(cli->argv[i], opts[j].opt) == 0)
                key = opts[j].key;
        if (!key || i + 1 >= cli->argc) {
            fprintf(stderr, "hark: milestone set: %s %s\n", cli->argv[i],
                    key ? "needs a value" : "is not an option");
            json_decref(changes);
            return 2;
        }
        const char *v = cli->argv[++i];
        json_t *val;
        if (strcmp(key, "enabled") == 0) {
            int on = strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0;
            int off = strcmp(v, "off") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0;
            if (!on && !off) {
                fprintf(stderr, "hark: milestone set: --enabled takes on or off, not \"%s\"\n", v);
                json_decref(changes);
                return 2;
            }
            val = json_boolean(on);
        } else {
            val = json_string(v);
        }
        json_object_set_new(changes, key, val);
    }
    json_t *list = s_settings(cli, kind);
    if (!list) {
        json_decref(changes);
        return 1;
    }
    json_t *c = json_copy(json_array_get(list, 0));
    json_decref(list);
    if (!c)
        c = json_pack("{s:s,s:b}", "kind", kind, "enabled", 1);
    /* what the service adds to a view is not part of the settings */
    json_object_del(c, "source");
    json_object_del(c, "counts");
    int template_given = json_object_get(changes, "template") != NULL;
    json_object_update(c, changes);
    json_decref(changes);
    char by[80];
    hark_by(by, sizeof by);
    json_object_set_new(c, "by", json_string(by));
    char field[256] = "", msg[600] = "";
    schema_t *s = milestone_settings_schema(msg, sizeof msg);
    int bad = !s || milestone_settings_check(s, c, field, sizeof field, msg, sizeof msg) != NULL;
    schema_destroy(&s);
    if (!bad && template_given)
        bad = milestone_settings_template_check(
            config_get(cli->cfg, "mailer", "templates"),
            config_get(cli->cfg, "mailer", "default_locale"),
            json_string_value(json_object_get(c, "template")), field, sizeof field, msg,
            sizeof msg);
    return hark_save(cli, "milestone", EV_MILESTONE_SAVED, kind, by, c, bad, msg);
}

/* hark_milestone - `hark milestone list|set` */
int hark_milestone(cli_t *cli)
{
    const char *sub = cli->argc > 0 ? cli->argv[0] : "";
    if (strcmp(sub, "list") == 0)
        return s_list(cli);
    if (strcmp(sub, "set") == 0)
        return s_set(cli);
    fprintf(stderr, "hark: milestone needs list or set\n");
    return 2;
}

/* hark_milestone_coupon - `hark coupon verify CODE [--json]`: exit 0 valid, 1 not */
int hark_milestone_coupon(cli_t *cli)
{
    if (cli->argc < 2 || strcmp(cli->argv[0], "verify") != 0) {
        fprintf(stderr, "hark: coupon verify needs a code\n");
        return 2;
    }
    int as_json = cli->argc > 2 && strcmp(cli->argv[2], "--json") == 0;
    char key[128];
    if (keys_from_config(cli->cfg, "hark", "token_key", "token", key, sizeof key)) {
        fprintf(stderr, "hark: coupon: no token key ([hark] token_key)\n");
        return 2;
    }
    int kind = 0, year = 0;
    char *cid = NULL;
    int ok = milestone_coupon_verify(key, cli->argv[1], &kind, &year, &cid) == 0;
    if (as_json) {
        json_t *j =
            ok ? json_pack("{s:b,s:s,s:i,s:s}", "valid", 1, "kind",
                           milestone_settings_kind_names[kind], "year", year, "customer_id", cid)
               : json_pack("{s:b}", "valid", 0);
        hark_print_json(j, JSON_COMPACT, "{}");
        json_decref(j);
    } else if (ok) {
        printf("valid: %s coupon of customer %s for %d\n", milestone_settings_kind_names[kind], cid,
               year);
    } else {
        printf("invalid: not a coupon made with this instance's key\n");
    }
    free(cid);
    return ok ? 0 : 1;
}
