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
#include "journal_crypt.h"
#include "journal_keys.h"
#include "journal_scan.h"
#include "journal_store.h"
#include "journal_sync.h"
#include "service.h"
#include "wire.h"

#define JOURNAL_MAX_MSGS 4096 /* requests drained into one transaction */
#define JOURNAL_MAX_BATCHES JOURNAL_MAX_MSGS /* batches in one {"batches"} request:
                                                as many as requests in a round */

/* One batch of a round: a request's events (the one batch of an {"events"}
 * request, or one of a {"batches"} request), taken or refused on its own. */
typedef struct {
    size_t first, n;   /* its events in the round's list (n 0 when refused) */
    const char *code;  /* NULL when taken; else the refusal (static strings) */
    const char *why;
    size_t index;      /* the event refused, SIZE_MAX when the batch as a whole */
} journal_batch_t;

/* A reply held until its round is durable (journal_sync.h) */
typedef struct {
    uint64_t ticket;   /* its round */
    wire_msg_t to;     /* the request's peer and id (no body) */
    char *body;        /* JOURNAL_APPEND_OK's body (owned) */
    size_t len;
} journal_held_t;

/* A round committed and not yet durable: the head it moves to */
typedef struct {
    uint64_t ticket;
    int64_t head;
} journal_round_t;

typedef struct {
    void *router, *pub;
    journal_store_t *store;
    journal_ckpt_t *ckpt;       /* WAL checkpoints, off the commit path */
    int max_batch, fetch_max;
    wire_msg_t *pending; /* JOURNAL_APPEND requests of this round */
    size_t *bfirst;      /* per request: its first batch in batch[] */
    unsigned char *batched; /* per request: 1 when it came as {"batches"} */
    journal_batch_t *batch; /* this round's batches, in arrival order */
    size_t n_batch, cap_batch;
    journal_scan_batches_t scanned; /* one request's batches, as the scanner left them */
    journal_scan_list_t events; /* this round's events, pointing into pending[] bodies
                            or trees[] (and owned[] payload texts) */
    json_t **trees;      /* jansson trees of the slow path, freed with the round */
    size_t n_trees, cap_trees;
    char **owned;        /* payload texts made by json_dumps on the slow path */
    size_t n_owned, cap_owned;
    buf_t reply;         /* reused for every JOURNAL_APPEND_OK */
    /* group commit (journal_sync.h): NULL when rounds commit at full */
    journal_sync_t *sync;
    uint64_t ticket;           /* the round being answered; 0: replies go at once */
    journal_held_t *held;      /* replies waiting for their round's fdatasync, in order */
    size_t n_held, cap_held;
    journal_round_t *rounds;   /* rounds waiting for it, in order */
    size_t n_rounds, cap_rounds;
    /* privacy (journal_privacy.c) */
    jkeys_t *keys;             /* journal-keys.db */
    jcrypt_t *crypt;           /* seals personal fields; NULL when [privacy] encrypt is off */
    jcrypt_t *crypt_off;       /* opens only, when it is off */
    const char *erasure_log;   /* [privacy] erasure_log */
    int shred;                 /* an erasure deleted keys this round */
    int free_text_days, contact_days; /* [privacy] retention */
    buf_t rest, sealed, names; /* one event's sealing */
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
/* journal_serve_durable - the fdatasync thread woke the loop: send the
 * replies of every round now durable, move the head, publish it */
void journal_serve_durable(journal_t *j);
/* journal_serve_flush - fdatasync the WAL on this thread and answer every
 * round held (before the loop's sockets close) */
void journal_serve_flush(journal_t *j);
/* journal_serve_end - forget the round's events, batches and trees (the
 * requests themselves are the caller's) */
void journal_serve_end(journal_t *j);
/* journal_privacy_init - the keys file, the sealing table, the erasure
 * log applied again (journal_privacy.c).  0/-1 */
int journal_privacy_init(journal_t *j, service_t *svc);
void journal_privacy_fini(journal_t *j);
/* journal_privacy_erased - JOURNAL_ERASED (journal_privacy.c) */
json_t *journal_privacy_erased(service_t *svc, const json_t *req, service_err_t *err);
/* journal_privacy_seal - before e is stored: its personal fields sealed;
 * *sealed and *names to store beside it (NULL when nothing).  0/-1 */
int journal_privacy_seal(journal_t *j, journal_scan_event_t *e, const char *now,
                         const buf_t **sealed, const char **names);
/* journal_privacy_stored - after e is stored: a new customer.erased
 * destroys that customer's keys (in the round's write).  0/-1 */
int journal_privacy_stored(journal_t *j, const journal_scan_event_t *e, const char *now);
/* journal_privacy_commit - commit the keys' write, before the events; 0/-1 */
int journal_privacy_commit(journal_t *j);
/* journal_privacy_rollback - the round failed: undo the keys' write */
void journal_privacy_rollback(journal_t *j);
/* journal_privacy_done - after the events' commit: shred erased keys.  0,
 * or -1 when the shred failed (asked for again after the next round): the
 * round's erasure must not be acknowledged */
int journal_privacy_done(journal_t *j);
/* journal_privacy_sweep - retention: drop idle owners' keys per class and
 * append privacy.retention; every [privacy] sweep.  0/-1 */
int journal_privacy_sweep(journal_t *j);

/* journal_serve_status - add the head to SERVICE_STATUS_OK */
void journal_serve_status(service_t *svc, json_t *body);

/* journal_restored_note - after `hark restore` (<state_dir>/restore.pending):
 * append hark.restored and remove the file (journal_restored.c).  0, or -1
 * when it could not be stored (the file stays for the next start). */
int journal_restored_note(service_t *svc, journal_t *j);

#endif
