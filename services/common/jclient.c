/*
 * jclient.c - journal requests.
 */
#include "jclient.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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
    if (r) {
        const char *code = json_string_value(json_object_get(json_object_get(r, "error"),
                                                             "code"));
        why = strcmp(cmd, CMD_ERROR) == 0 && code && strcmp(code, "store_failed") == 0
                  ? EAGAIN
                  : EBADMSG;
    }
    if (err) {
        if (r && strcmp(cmd, CMD_ERROR) == 0)
            snprintf(err, 200, "journal refused: %s",
                     json_string_value(json_object_get(json_object_get(r, "error"), "message")));
        else if (errno == ETIMEDOUT)
            snprintf(err, 200, "journal did not answer in %d ms", timeout_ms);
        else
            snprintf(err, 200, "journal call failed: %s", r ? "bad reply" : strerror(errno));
    }
    json_decref(r);
    errno = why;
    return NULL;
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
