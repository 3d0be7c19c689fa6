/*
 * survey_campaign.c - campaigns: their rows in survey.db, their effective
 * settings, which post-purchase one (if any) asks about a purchase, and the
 * runs of relationship (scheduled) ones.
 *
 * A row's settings are JSON.  The 'config' row (post-purchase, until a
 * campaign.saved for it arrives) holds the [survey] values; an 'admin' row
 * holds the last campaign.saved payload.  Either way a setting it leaves
 * out falls back to [survey], so the view of a campaign is always complete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "campaign.h"
#include "clock.h"
#include "db.h"
#include "survey.h"

/* survey_campaign_sampled - FNV-1a 64 of the order id, mixed, 53 bits as a
 * fraction in [0, 1): the same order always gets the same answer, so a
 * replay of the journal decides as the first run did */
int survey_campaign_sampled(const char *order_id, double rate)
{
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)(order_id ? order_id : ""); *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    /* FNV's top bits barely change between "o-1" and "o-2": mix them
     * (MurmurHash3's finaliser) before taking them as the fraction */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    double x = (double)(h >> 11) / 9007199254740992.0; /* 2^53 */
    return x < rate;
}

/* survey_campaign_matches - whether a purchase has one of products' SKUs */
int survey_campaign_matches(const json_t *products, const json_t *purchase)
{
    if (!json_is_array(products) || json_array_size(products) == 0)
        return 1;
    size_t i, j;
    json_t *item, *sku;
    json_array_foreach(json_object_get(purchase, "items"), i, item) {
        const char *s = json_string_value(json_object_get(item, "sku"));
        json_array_foreach(products, j, sku) {
            /* SKUs are compared ignoring ASCII case: shops write TEA-1 and tea-1 */
            if (s && json_is_string(sku) && strcasecmp(s, json_string_value(sku)) == 0)
                return 1;
        }
    }
    return 0;
}

/* s_row_view - the view of the current row of a campaigns SELECT
 * (id, enabled, source, settings) */
static json_t *s_row_view(const survey_config_t *set, sqlite3_stmt *st)
{
    return campaign_view(&set->campaign, (const char *)sqlite3_column_text(st, 0),
                         sqlite3_column_int(st, 1), (const char *)sqlite3_column_text(st, 2),
                         (const char *)sqlite3_column_text(st, 3));
}

int survey_campaign_runs(sqlite3 *db, const char *id, long *runs, int64_t *last_at)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT count(*), coalesce(max(at), -1) FROM runs"
                                      " WHERE campaign = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -1;
    if (rc == 0) {
        *runs = (long)sqlite3_column_int64(st, 0);
        *last_at = sqlite3_column_int64(st, 1);
    }
    db_finish(st);
    return rc;
}

/* s_runs_view - a relationship campaign's runs (how many, the last one's
 * counts) and next_run (null when disabled or a one-off that ran) */
static int s_runs_view(sqlite3 *db, json_t *v)
{
    if (strcmp(json_string_value(json_object_get(v, "kind")), "relationship") != 0)
        return 0;
    const char *id = json_string_value(json_object_get(v, "id"));
    long runs = 0;
    int64_t last = -1, start = 0, next = -1, due = -1;
    int off = 0;
    if (survey_campaign_runs(db, id, &runs, &last))
        return -1;
    json_object_set_new(v, "runs", json_integer(runs));
    const char *s = json_string_value(json_object_get(v, "start"));
    if (campaign_start_parse(s, &start, &off) == 0 && json_is_true(json_object_get(v, "enabled")))
        campaign_next_run(start, off, json_string_value(json_object_get(v, "every")), last,
                          clock_now_ms(), &next, &due);
    char at[40];
    /* a run that is due goes out within the second: it is the next one */
    int64_t shown = due >= 0 ? due : next;
    json_object_set_new(v, "next_run",
                        shown >= 0 ? json_string(clock_format(shown, at, sizeof at)) : json_null());
    sqlite3_stmt *st = db_prepare(db, "SELECT run, at, done_at, selected, scheduled, throttled,"
                                      " suppressed FROM runs WHERE campaign = ?"
                                      " ORDER BY run DESC LIMIT 1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        char done[40];
        json_object_set_new(
            v, "last_run",
            json_pack("{s:I,s:s,s:s,s:I,s:I,s:I,s:I}", "run", sqlite3_column_int64(st, 0), "at",
                      clock_format(sqlite3_column_int64(st, 1), at, sizeof at), "done_at",
                      clock_format(sqlite3_column_int64(st, 2), done, sizeof done), "selected",
                      sqlite3_column_int64(st, 3), "scheduled", sqlite3_column_int64(st, 4),
                      "throttled", sqlite3_column_int64(st, 5), "suppressed",
                      sqlite3_column_int64(st, 6)));
    }
    db_finish(st);
    return 0;
}

/* s_views - the effective campaigns (all, or id only), without counts */
static json_t *s_views(sqlite3 *db, const survey_config_t *set, const char *id)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT id, enabled, source, settings FROM campaigns"
                                      " WHERE ?1 IS NULL OR id = ?1 ORDER BY id");
    if (!st)
        return NULL;
    if (id)
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    json_t *list = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *v = s_row_view(set, st);
        if (v)
            json_array_append_new(list, v);
    }
    db_finish(st);
    return list;
}

/* survey_campaign_history_add - see survey.h */
int survey_campaign_history_add(sqlite3 *db, int64_t offset, int64_t at_ms,
                                const json_t *payload)
{
    char *text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    const char *id = json_string_value(json_object_get(payload, "id"));
    const char *by = json_string_value(json_object_get(payload, "by"));
    sqlite3_stmt *st = text && id ? db_prepare(db, "INSERT OR IGNORE INTO campaign_history(offset,"
                                                   " campaign, at, by, settings)"
                                                   " VALUES(?, ?, ?, ?, ?)")
                                  : NULL;
    int rc = -1;
    if (st) {
        sqlite3_bind_int64(st, 1, offset);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, at_ms);
        sqlite3_bind_text(st, 4, by ? by : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, text, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        db_finish(st);
    }
    free(text);
    return rc;
}

/* s_history - campaign id's saved versions, newest first (100 at most) */
static json_t *s_history(sqlite3 *db, const char *id)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT offset, at, by, settings FROM campaign_history"
                                      " WHERE campaign = ? ORDER BY offset DESC LIMIT 100");
    json_t *list = json_array();
    if (!st)
        return list;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char at[40];
        json_t *settings = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
        if (!json_is_object(settings)) {
            json_decref(settings);
            continue;
        }
        json_array_append_new(
            list, json_pack("{s:I,s:s,s:s,s:o}", "offset", sqlite3_column_int64(st, 0), "at",
                            clock_format(sqlite3_column_int64(st, 1), at, sizeof at), "by",
                            (const char *)sqlite3_column_text(st, 2), "settings", settings));
    }
    db_finish(st);
    return list;
}

/* survey_campaign_list - SURVEY_CAMPAIGNS_OK */
json_t *survey_campaign_list(sqlite3 *db, const survey_config_t *set, const char *id,
                             int history)
{
    json_t *list = s_views(db, set, id);
    if (!list)
        return NULL;
    /* which can never invite: asked of every campaign, not of the one
     * listed alone */
    json_t *all = id ? s_views(db, set, NULL) : json_incref(list);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        char by[80];
        if (campaign_shadow(all, v, by, sizeof by))
            json_object_set_new(v, "never_invites", json_pack("{s:s}", "because", by));
    }
    json_decref(all);
    json_array_foreach(list, i, v) {
        json_t *counts = json_object();
        sqlite3_stmt *c = db_prepare(db, "SELECT status, count(*) FROM invites"
                                         " WHERE campaign = ? GROUP BY status");
        if (c) {
            sqlite3_bind_text(c, 1, json_string_value(json_object_get(v, "id")), -1,
                              SQLITE_TRANSIENT);
            while (sqlite3_step(c) == SQLITE_ROW)
                json_object_set_new(counts, (const char *)sqlite3_column_text(c, 0),
                                    json_integer(sqlite3_column_int64(c, 1)));
            db_finish(c);
        }
        json_object_set_new(v, "counts", counts);
        sqlite3_stmt *a = db_prepare(db, "SELECT count(*) FROM invites WHERE campaign = ?"
                                         " AND score IS NOT NULL");
        if (a) {
            sqlite3_bind_text(a, 1, json_string_value(json_object_get(v, "id")), -1,
                              SQLITE_TRANSIENT);
            if (sqlite3_step(a) == SQLITE_ROW)
                json_object_set_new(v, "answered", json_integer(sqlite3_column_int64(a, 0)));
            db_finish(a);
        }
        if (id && history)
            json_object_set_new(v, "history", s_history(db, id));
        if (s_runs_view(db, v))
            break;
    }
    return json_pack("{s:o}", "campaigns", list);
}

/* survey_campaign_get - one campaign's settings; an unknown id (a campaign
 * row lost to nothing we know of) gets the [survey] ones */
int survey_campaign_get(sqlite3 *db, const survey_config_t *set, const char *id,
                        campaign_t *out, char *err, size_t len)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT id, enabled, source, settings FROM campaigns"
                                      " WHERE id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    json_t *v = sqlite3_step(st) == SQLITE_ROW
                    ? s_row_view(set, st)
                    : campaign_view(&set->campaign, id, 1, "config", "{}");
    db_finish(st);
    int rc = v ? campaign_parse(v, out, err, len) : -1;
    json_decref(v);
    return rc;
}

/* survey_campaign_pick - the first enabled campaign, in priority then id
 * order, whose products the purchase matches */
int survey_campaign_pick(sqlite3 *db, const survey_config_t *set, const json_t *purchase,
                         campaign_t *out, char *err, size_t len)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT id, enabled, source, settings FROM campaigns"
                                      " WHERE enabled = 1 AND kind = 'post_purchase'"
                                      " ORDER BY coalesce(json_extract(settings, '$.priority'),"
                                      " " CAMPAIGN_PRIORITY_TEXT "), id");
    if (!st)
        return -1;
    int found = 0;
    while (!found && sqlite3_step(st) == SQLITE_ROW) {
        json_t *v = s_row_view(set, st);
        if (!v)
            continue;
        campaign_t c;
        if (campaign_parse(v, &c, err, len) == 0) {
            if (survey_campaign_matches(c.products, purchase)) {
                *out = c;
                found = 1;
            } else {
                campaign_free(&c);
            }
        }
        json_decref(v);
    }
    db_finish(st);
    return found;
}

/* survey_campaign_save - apply a campaign.saved: the event wins over
 * [survey] from now on (source 'admin') */
int survey_campaign_save(sqlite3 *db, const survey_config_t *set, const json_t *payload,
                         char *err, size_t len)
{
    const char *id = json_string_value(json_object_get(payload, "id"));
    if (!id)
        return snprintf(err, len, "no id"), 1;
    char *text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    /* the schema checks shapes; a window like 20-9 passes it but could
     * never send: such a change is not applied (the campaign stays as it
     * was), rather than stop every invite behind it */
    json_t *v = text ? campaign_view(&set->campaign, id, 1, "admin", text) : NULL;
    campaign_t c;
    int usable = v && campaign_parse(v, &c, err, len) == 0;
    if (usable)
        campaign_free(&c);
    json_decref(v);
    if (text && !usable) {
        free(text);
        return 1;
    }
    const char *kind = json_string_value(json_object_get(payload, "kind"));
    sqlite3_stmt *st = text ? db_prepare(db, "INSERT INTO campaigns(id, kind, enabled, source,"
                                             " settings) VALUES(?1, ?4, ?2,"
                                             " 'admin', ?3) ON CONFLICT(id) DO UPDATE SET"
                                             " kind = ?4, enabled = ?2,"
                                             " source = 'admin', settings = ?3")
                            : NULL;
    int rc = -1;
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, json_is_true(json_object_get(payload, "enabled")));
        sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4,
                          kind && strcmp(kind, "relationship") == 0 ? "relationship"
                                                                    : "post_purchase",
                          -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        db_finish(st);
    }
    free(text);
    return rc;
}
