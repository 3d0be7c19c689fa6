/*
 * journal_restored.c - after `hark restore`, the journal says so itself.
 *
 * The CLI restores into a stopped instance, so nothing can take an event
 * then; it leaves <state_dir>/restore.pending instead, and the journal, the
 * only writer of journal.db, appends it as hark.restored when it starts,
 * before it serves anyone: the first event after the backup's head says
 * where the restored history begins and who restored it.  The key is made
 * from the backup's time and head, so a crash between the commit and the
 * unlink appends nothing twice.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <stdlib.h>

#include <jansson.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "journal.h"
#include "log.h"
#include "proto.h"

#define S_PENDING "restore.pending"
#define S_TYPE EV_HARK_RESTORED

/* journal_restored_note - see journal.h */
int journal_restored_note(service_t *svc, journal_t *j)
{
    char path[PATH_MAX], bad[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/%s", config_state_dir(service_config(svc)), S_PENDING);
    if (access(path, F_OK) != 0)
        return 0;
    json_error_t je;
    json_t *p = json_load_file(path, 0, &je);
    const char *by = json_string_value(json_object_get(p, "by"));
    const char *at = json_string_value(json_object_get(p, "backup_at"));
    json_t *head = json_object_get(p, "head");
    int64_t ms;
    if (!by || !at || clock_parse(at, &ms) || !json_is_integer(head) ||
        json_integer_value(head) < 0) {
        /* not ours to guess at: set aside for a person, and start */
        snprintf(bad, sizeof bad, "%s.bad", path);
        rename(path, bad);
        log_error("event=restore_note_bad file=%s moved_to=%s", path, bad);
        json_decref(p);
        return 0;
    }
    json_t *payload = json_pack("{s:s,s:O,s:s}", "by", by, "head", head, "backup_at", at);
    const char *ver = json_string_value(json_object_get(p, "hark_version"));
    if (payload && ver)
        json_object_set_new(payload, "hark_version", json_string(ver));
    char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    char key[160], now[40];
    snprintf(key, sizeof key, "hark/restored/%.64s/%lld", at, (long long)json_integer_value(head));
    clock_format(clock_now_ms(), now, sizeof now);
    journal_scan_event_t e = {.type = S_TYPE, .type_len = strlen(S_TYPE), .key = key,
                              .key_len = strlen(key), .payload = text,
                              .payload_len = text ? strlen(text) : 0};
    int rc = -1;
    if (text && journal_store_begin(j->store) == 0) {
        if (journal_store_append(j->store, &e, now, NULL, NULL) == 0 &&
            journal_store_commit(j->store) == 0)
            rc = 0;
        else
            journal_store_rollback(j->store);
    }
    if (rc == 0) {
        journal_store_reload_head(j->store);
        unlink(path);
        log_info("event=restored offset=%lld head=%lld by=%s backup_at=%s", (long long)e.offset,
                 (long long)json_integer_value(head), by, at);
    } else {
        log_error("event=restore_note_failed file=%s", path);
    }
    free(text);
    json_decref(payload);
    json_decref(p);
    return rc;
}
