/*
 * hark-journal - the durable, ordered event log; the single source of truth.
 *
 * Owns:     journal.db ([journal] db), table events(offset, type, key,
 *           occurred_at, recorded_at, payload, sealed, sealed_names).
 *           Nothing else writes it.  journal-keys.db ([privacy] keys_db):
 *           the data keys and links; [privacy] erasure_log (appended).
 * Serves:   [journal] endpoint (ROUTER)
 *             JOURNAL_APPEND {events:[{type,key,occurred_at?,payload}]}
 *               -> JOURNAL_APPEND_OK {offsets, duplicates}, sent only after
 *                  the transaction holding the events has committed
 *             JOURNAL_APPEND {batches:[{events:[...]}, ...]}
 *               -> JOURNAL_APPEND_OK {results:[{offsets, duplicates} or
 *                  {error}, ...]}: each batch taken or refused on its own,
 *                  as if it were a request of its own (a gateway coalesces
 *                  many clients' requests into one message this way)
 *             JOURNAL_FETCH {after, limit?, types?} -> JOURNAL_FETCH_OK
 *           [journal] control (ROUTER): SERVICE_STATUS (+ head);
 *             JOURNAL_ERASED {customer_id} -> JOURNAL_ERASED_OK {customer_id,
 *               erased, erased_at?} (journal_privacy.c)
 * Emits:    [journal] pub_endpoint (PUB): JOURNAL_HEAD {head} after each
 *           commit.  A hint only; consumers also poll.  hark.restored, once, at
 *           the first start after `hark restore` (journal_restored.c).
 * Consumes: nothing.
 * Config:   [journal] endpoint pub_endpoint control db synchronous max_batch
 *           fetch_max engine nats_urls stream replicas allow_single_node
 *           ack_timeout dup_window; [privacy] encrypt keys_db erasure_log free_text_days
 *           contact_days sweep.
 *
 * Privacy: personal fields are sealed per customer and year before they
 * are stored, with keys kept in journal-keys.db apart from the events, and
 * opened on fetch; customer.erased destroys the keys (journal_crypt.c,
 * journal_keys.c, journal_privacy.c, hark-journal(8)).
 *
 * Group commit: the loop drains every request waiting on the socket, runs
 * all their appends in ONE transaction, commits, and only then replies.
 * Requests that arrive while a commit is under way wait in ZeroMQ's queue
 * and form the next transaction, so one fsync serves many clients and
 * throughput grows with concurrency.
 *
 * CPU per event: a JOURNAL_APPEND body, of either form, is read by one
 * pass of journal_scan.c, which checks it as strictly as jansson and our
 * rules would and hands back each payload's own text (compacted), so the
 * common case builds no JSON tree and dumps nothing; a body it does not
 * take goes the jansson way (journal_serve.c), which also words every
 * error - in a {"batches"} body, only the batch it does not take does.  Replies
 * are written straight into a reused buffer.  Checkpoints run in a thread
 * of their own (journal_ckpt.c), not inside COMMIT.
 *
 * Engines: journal_store.h.  With [journal] engine = jetstream the events
 * are in a NATS JetStream stream instead of journal.db
 * (journal_store_jetstream.c); everything above the store is the same.
 *
 * Durability: WAL mode.  synchronous=full (the default) fsyncs the WAL at
 * every commit: an acknowledged event survives kill -9 of any process and
 * power loss.  synchronous=normal survives any process crash (the WAL is in
 * the OS page cache) but the last commits may be lost on power loss.  At
 * full the sqlite engine overlaps rounds: each commits without its fsync,
 * a thread fdatasyncs the WAL, and replies wait for the fdatasync that
 * covers their round (journal_sync.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "config.h"
#include "journal.h"
#include "log.h"
#include "service.h"

static int s_init(service_t *svc);
static void s_fini(service_t *svc);

/* What it serves on [journal] endpoint (journal_serve.c).  Not the
 * skeleton's command table: appends are answered only after the round's
 * commit, from a socket of the journal's own. */
static const journal_command_t s_commands[] = {
    {CMD_JOURNAL_APPEND, journal_serve_append},
    {CMD_JOURNAL_FETCH, journal_serve_fetch},
    {NULL, NULL},
};

/* What it serves on [journal] control, beside SERVICE_STATUS */
static const service_command_t s_control[] = {
    {CMD_JOURNAL_ERASED, CMD_JOURNAL_ERASED_OK, journal_privacy_erased},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "journal",
        .commands = s_control,
        .migrations = journal_store_migrations,
        .init = s_init, /* the store, the checkpointer, the sockets */
        .fini = s_fini,
        .status = journal_serve_status,
    };
    return service_main(argc, argv, &def);
}

/* s_command - the table's entry for cmd, or NULL */
static const journal_command_t *s_command(const char *cmd)
{
    for (const journal_command_t *c = s_commands; c->cmd; c++)
        if (strcmp(c->cmd, cmd) == 0)
            return c;
    return NULL;
}

/* s_on_router - drain the socket: fetches at once, appends as one round */
static int s_on_router(evloop_t *loop, void *arg)
{
    (void)loop;
    service_t *svc = arg;
    journal_t *j = service_state(svc);
    int n = 0;
    while (n < JOURNAL_MAX_MSGS && j->events.n < (size_t)j->max_batch) {
        wire_msg_t *m = &j->pending[n];
        if (wire_recv(j->router, 1, m, ZMQ_DONTWAIT) < 0) {
            if (errno == EPROTO) {
                log_warn("event=bad_message socket=journal");
                continue;
            }
            break;
        }
        const journal_command_t *c = s_command(m->cmd);
        if (c && c->handler(j, n)) {
            n++;
            continue; /* keep m (the events point into it) until the round commits */
        }
        if (!c)
            journal_serve_unknown(j, m);
        wire_msg_free(m);
    }
    if (n > 0)
        journal_serve_commit(svc, j, n);
    journal_serve_end(j); /* before the bodies the events point into */
    for (int r = 0; r < n; r++)
        wire_msg_free(&j->pending[r]);
    return 0;
}

/* s_on_durable - an fdatasync of the WAL returned: answer the rounds it covered */
static int s_on_durable(evloop_t *loop, void *arg)
{
    (void)loop;
    journal_serve_durable(arg);
    return 0;
}

/* s_init - bind the sockets */
static int s_init(service_t *svc)
{
    const config_t *cfg = service_config(svc);
    journal_t *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    service_set_state(svc, j);
    j->max_batch = (int)config_int(cfg, "journal", "max_batch");
    j->fetch_max = (int)config_int(cfg, "journal", "fetch_max");
    j->pending = calloc(JOURNAL_MAX_MSGS, sizeof *j->pending);
    j->bfirst = calloc(JOURNAL_MAX_MSGS, sizeof *j->bfirst);
    j->batched = calloc(JOURNAL_MAX_MSGS, sizeof *j->batched);
    j->store = journal_store_open(cfg, service_db(svc));
    if (j->store && journal_restored_note(svc, j))
        return -1;
    j->ckpt = journal_ckpt_new(service_db(svc));
    j->router = service_bind(service_zctx(svc), ZMQ_ROUTER,
                             config_get(cfg, "journal", "endpoint"));
    j->pub = service_bind(service_zctx(svc), ZMQ_PUB,
                          config_get(cfg, "journal", "pub_endpoint"));
    if (!j->pending || !j->bfirst || !j->batched || !j->store || !j->ckpt || !j->router || !j->pub)
        return -1;
    if (journal_store_attach(j->store, service_evloop(svc)))
        return -1;
    if (journal_privacy_init(j, svc))
        return -1;
    /* group commit, on the sqlite engine at synchronous=full (journal_sync.h) */
    if (strcmp(journal_store_engine(j->store), "sqlite") == 0)
        j->sync = journal_sync_new(service_db(svc));
    if (j->sync &&
        evloop_add_fd(service_evloop(svc), journal_sync_fd(j->sync), s_on_durable, j) < 0)
        return -1;
    log_info("event=journal_open engine=%s head=%lld group_commit=%s",
             journal_store_engine(j->store), (long long)journal_store_head(j->store),
             j->sync ? "on" : "off");
    return evloop_add_socket(service_evloop(svc), j->router, s_on_router, svc);
}

/* s_fini - close and free */
static void s_fini(service_t *svc)
{
    journal_t *j = service_state(svc);
    if (!j)
        return;
    if (j->router)
        journal_serve_flush(j); /* the rounds committed are answered, not left to time out */
    journal_sync_destroy(&j->sync);
    free(j->held);
    free(j->rounds);
    if (j->router)
        zmq_close(j->router);
    if (j->pub)
        zmq_close(j->pub);
    journal_ckpt_destroy(&j->ckpt);
    journal_store_destroy(&j->store);
    journal_privacy_fini(j);
    free(j->pending);
    free(j->bfirst);
    free(j->batched);
    free(j->batch);
    journal_scan_batches_free(&j->scanned);
    journal_scan_list_free(&j->events);
    free(j->trees);
    free(j->owned);
    buf_free(&j->reply);
    free(j);
    service_set_state(svc, NULL);
}
