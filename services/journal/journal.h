/*
 * journal.h - what hark-journal's parts share: the process's state and the
 * handlers of what it serves on [journal] endpoint (journal_serve.c).
 */
#ifndef HARK_JOURNAL_H
#define HARK_JOURNAL_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "journal_ckpt.h"
#include "journal_scan.h"
#include "journal_store.h"
#include "service.h"
#include "wire.h"

#define JOURNAL_MAX_MSGS 4096 /* requests drained into one transaction */

typedef struct {
    void *router, *pub;
    journal_store_t *store;
    journal_ckpt_t *ckpt;       /* WAL checkpoints, off the commit path */
    int max_batch, fetch_max;
    wire_msg_t *pending; /* JOURNAL_APPEND requests of this round */
    json_t **bodies;     /* per request: the jansson tree on the slow path, else NULL */
    size_t *first;       /* per request: its first event in events */
    journal_scan_list_t events; /* this round's events, pointing into pending[] bodies
                            or bodies[] trees (and owned[] payload texts) */
    char **owned;        /* payload texts made by json_dumps on the slow path */
    size_t n_owned, cap_owned;
    buf_t reply;         /* reused for every JOURNAL_APPEND_OK */
} journal_t;

/* One command of [journal] endpoint: its handler answers request
 * j->pending[n] and returns 0 (the caller frees it), or takes it into this
 * round's transaction and returns 1 (kept until the round commits). */
typedef struct {
    const char *cmd;
    int (*handler)(journal_t *j, int n);
} journal_command_t;

/* journal_serve_append - JOURNAL_APPEND: its events into the round (1), or
 * answered with an ERROR (0) */
int journal_serve_append(journal_t *j, int n);
/* journal_serve_fetch - JOURNAL_FETCH: answered at once (0) */
int journal_serve_fetch(journal_t *j, int n);
/* journal_serve_unknown - answer a command the table does not have */
void journal_serve_unknown(journal_t *j, const wire_msg_t *m);
/* journal_serve_commit - append every request taken into the round (n of
 * them) in one transaction; reply to each only after the commit, and
 * publish the new head */
void journal_serve_commit(service_t *svc, journal_t *j, int n);
/* journal_serve_status - add the head to SERVICE_STATUS_OK */
void journal_serve_status(service_t *svc, json_t *body);

#endif
