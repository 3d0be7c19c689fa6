/*
 * jclient.c - journal requests.
 */
#include "jclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* s_refused - a journal's {"code","message"} refusal as an errno (store_failed:
 * it could not store them now, EAGAIN; anything else: refused as it is,
 * EBADMSG), and its words into err (size 200, may be NULL) */
static int s_refused(const json_t *error, char *err)
{
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *msg = json_string_value(json_object_get(error, "message"));
    if (err)
        snprintf(err, 200, "journal refused: %s", msg ? msg : "(no message)");
    return code && strcmp(code, "store_failed") == 0 ? EAGAIN : EBADMSG;
}

/* s_offsets_for - r has an offset and a duplicate flag for each of n events */
static int s_offsets_for(const json_t *r, size_t n)
{
    const json_t *off = json_object_get(r, "offsets"), *dup = json_object_get(r, "duplicates");
    return json_is_array(off) && json_array_size(off) == n && json_is_array(dup) &&
           json_array_size(dup) == n;
}

/* jclient_append - JOURNAL_APPEND and wait for the commit */
json_t *jclient_append(wire_client_t *c, const json_t *events, int timeout_ms, char *err)
{
    json_t *body = json_pack("{s:O}", "events", events);
    char cmd[48] = "";
    errno = 0;
    json_t *r = body ? wire_client_call_json(c, CMD_JOURNAL_APPEND, body, timeout_ms, cmd)
                     : NULL;
    json_decref(body);
    if (r && strcmp(cmd, CMD_JOURNAL_APPEND_OK) == 0 &&
        json_is_array(json_object_get(r, "offsets")) &&
        json_array_size(json_object_get(r, "offsets")) == json_array_size(events))
        return r;
    /* what the caller may tell its own client: retry, or not */
    int why = errno == ETIMEDOUT ? ETIMEDOUT : EAGAIN;
    if (r && strcmp(cmd, CMD_ERROR) == 0) {
        why = s_refused(json_object_get(r, "error"), err);
    } else if (r) {
        why = EBADMSG;
        if (err)
            snprintf(err, 200, "journal call failed: bad reply");
    } else if (err) {
        if (errno == ETIMEDOUT)
            snprintf(err, 200, "journal did not answer in %d ms", timeout_ms);
        else
            snprintf(err, 200, "journal call failed: %s", strerror(errno));
    }
    json_decref(r);
    errno = why;
    return NULL;
}

/* jclient_batches_body - {"batches":[{"events":...}, ...]} */
json_t *jclient_batches_body(const json_t *const *events, size_t n)
{
    json_t *batches = n ? json_array() : NULL;
    json_t *body = batches ? json_pack("{s:o}", "batches", batches) : NULL;
    if (!body)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(batches, json_pack("{s:O}", "events", (json_t *)events[i]))) {
            json_decref(body);
            return NULL;
        }
    return body;
}

/* jclient_batches_fail - the same failure for every batch */
void jclient_batches_fail(jclient_result_t *res, size_t n, int error, const char *why)
{
    for (size_t i = 0; i < n; i++) {
        res[i].ok = NULL;
        res[i].error = error;
        snprintf(res[i].err, sizeof res[i].err, "%s", why);
    }
}

/* jclient_batches_split - each batch's result, in order */
size_t jclient_batches_split(const char *cmd, const json_t *reply, const json_t *const *events,
                             size_t n, jclient_result_t *res)
{
    size_t *counts = calloc(n ? n : 1, sizeof *counts);
    if (!counts) {
        jclient_batches_fail(res, n, EAGAIN, "out of memory");
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        counts[i] = json_array_size(events[i]);
    size_t stored = jclient_batches_split_n(cmd, reply, counts, n, res);
    free(counts);
    return stored;
}

/* jclient_batches_split_n - the same, by each batch's number of events */
size_t jclient_batches_split_n(const char *cmd, const json_t *reply, const size_t *counts,
                               size_t n, jclient_result_t *res)
{
    if (cmd && strcmp(cmd, CMD_ERROR) == 0) { /* the whole message, or the round's commit */
        char err[200];
        int why = s_refused(json_object_get(reply, "error"), err);
        jclient_batches_fail(res, n, why, err);
        return 0;
    }
    const json_t *results = json_object_get(reply, "results");
    if (!cmd || strcmp(cmd, CMD_JOURNAL_APPEND_OK) != 0 || !json_is_array(results) ||
        json_array_size(results) != n) {
        jclient_batches_fail(res, n, EBADMSG, "journal call failed: bad reply");
        return 0;
    }
    size_t stored = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(results, i);
        const json_t *error = json_object_get(r, "error");
        res[i].ok = NULL;
        res[i].error = 0;
        res[i].err[0] = '\0';
        if (json_is_object(error)) {
            res[i].error = s_refused(error, res[i].err);
        } else if (s_offsets_for(r, counts[i])) {
            res[i].ok = json_incref(r);
            stored++;
        } else {
            res[i].error = EBADMSG;
            snprintf(res[i].err, sizeof res[i].err, "journal call failed: bad reply");
        }
    }
    return stored;
}

/* jclient_results_clear - drop the references */
void jclient_results_clear(jclient_result_t *res, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(res[i].ok);
        res[i].ok = NULL;
    }
}

/* jclient_fetch - JOURNAL_FETCH */
json_t *jclient_fetch(wire_client_t *c, int64_t after, int limit,
                      const char *const *types, int timeout_ms)
{
    json_t *body = json_pack("{s:I,s:i}", "after", (json_int_t)after, "limit", limit);
    if (!body)
        return NULL;
    if (types) {
        json_t *t = json_array();
        for (size_t i = 0; types[i]; i++)
            json_array_append_new(t, json_string(types[i]));
        json_object_set_new(body, "types", t);
    }
    char cmd[48] = "";
    json_t *r = wire_client_call_json(c, CMD_JOURNAL_FETCH, body, timeout_ms, cmd);
    json_decref(body);
    if (r && strcmp(cmd, CMD_JOURNAL_FETCH_OK) == 0 &&
        json_is_array(json_object_get(r, "events")))
        return r;
    json_decref(r);
    return NULL;
}
