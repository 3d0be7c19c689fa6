/*
 * customer.c - see customer.h.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "customer.h"
#include "proto.h"

const char *const customer_owners[CUSTOMER_OWNERS] = {"survey", "milestone", "intake", "loop",
                                                      "mailer"};

/* what each owner is asked, in customer_owners' order */
static const struct {
    const char *cmd, *ok;
} s_cmds[CUSTOMER_OWNERS] = {
    {CMD_SURVEY_CUSTOMER, CMD_SURVEY_CUSTOMER_OK},
    {CMD_MILESTONE_CUSTOMER, CMD_MILESTONE_CUSTOMER_OK},
    {CMD_INTAKE_CUSTOMER, CMD_INTAKE_CUSTOMER_OK},
    {CMD_LOOP_CUSTOMER, CMD_LOOP_CUSTOMER_OK},
    {CMD_MAILER_CUSTOMER, CMD_MAILER_CUSTOMER_OK},
};

/* customer_item - see customer.h */
json_t *customer_item(int64_t at_ms, const char *kind)
{
    char at[40];
    return json_pack("{s:s,s:s}", "at", clock_format(at_ms, at, sizeof at), "kind", kind);
}

/* customer_item_str - see customer.h */
void customer_item_str(json_t *item, const char *key, const char *value)
{
    if (value)
        json_object_set_new(item, key, json_string(value));
}

/* s_newer - qsort: later "at" first */
static int s_newer(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "at"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "at"));
    return strcmp(y ? y : "", x ? x : "");
}

/* customer_items_sort - see customer.h */
void customer_items_sort(json_t *items)
{
    size_t n = json_array_size(items);
    if (n < 2)
        return;
    json_t **v = malloc(n * sizeof *v);
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(items, i));
    qsort(v, n, sizeof *v, s_newer); /* ties keep no order: none is promised */
    json_array_clear(items);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, v[i]);
    free(v);
}

/* customer_gather - see customer.h */
json_t *customer_gather(const char *id, customer_call_fn call, void *arg, int timeout_ms,
                        int *known)
{
    json_t *out = json_pack("{s:s,s:b,s:[],s:[],s:[]}", "customer_id", id, "suppressed", 0,
                            "items", "owners", "missing");
    json_t *items = json_object_get(out, "items");
    json_t *req = json_pack("{s:s}", "customer_id", id);
    int64_t deadline = clock_mono_ms() + timeout_ms;
    *known = 0;
    for (size_t i = 0; i < CUSTOMER_OWNERS; i++) {
        const char *owner = customer_owners[i];
        int64_t left = deadline - clock_mono_ms();
        char got[48] = "";
        /* every owner gets a moment even when the budget is spent, so one
         * slow owner does not silence the ones after it */
        json_t *reply = call(arg, owner, s_cmds[i].cmd, req, left > 100 ? (int)left : 100, got);
        const char *code =
            json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
        int not_found = reply && strcmp(got, CMD_ERROR) == 0 && code &&
                        strcmp(code, "not_found") == 0;
        if (!reply || (strcmp(got, s_cmds[i].ok) != 0 && !not_found)) {
            json_array_append_new(json_object_get(out, "missing"), json_string(owner));
            json_decref(reply);
            continue;
        }
        json_array_append_new(json_object_get(out, "owners"), json_string(owner));
        if (not_found) {
            json_decref(reply);
            continue;
        }
        size_t j;
        json_t *it;
        json_array_foreach(json_object_get(reply, "items"), j, it) {
            json_t *c = json_deep_copy(it);
            json_object_set_new(c, "owner", json_string(owner));
            json_array_append_new(items, c);
        }
        *known |= json_array_size(json_object_get(reply, "items")) > 0;
        if (i == 0) {
            json_object_set(out, "profile", json_object_get(reply, "profile"));
            *known = 1;
        } else if (strcmp(owner, "milestone") == 0) {
            json_object_set(out, "milestones", json_object_get(reply, "milestones"));
            *known = 1;
        } else if (strcmp(owner, "mailer") == 0) {
            static const char *const keep[] = {"address", "suppressed", "reason"};
            for (size_t k = 0; k < 3; k++)
                if (json_object_get(reply, keep[k]))
                    json_object_set(out, keep[k], json_object_get(reply, keep[k]));
        }
        json_decref(reply);
    }
    json_decref(req);
    customer_items_sort(items);
    return out;
}
