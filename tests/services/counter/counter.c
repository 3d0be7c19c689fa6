/*
 * hark-counter - a test-only consumer that counts what it applies.
 *
 * Owns:     counter.db ([counter] db): applied(offset, times) - how many
 *           times each journal event was applied (committed).
 * Consumes: every event type.
 * Emits:    test.counted {source_offset} for every [counter] emit_every-th
 *           offset (not for test.counted events themselves).
 * Config:   [counter] control db emit_every apply_delay.
 *
 * The crash tests kill it with -9 mid-stream and then check that every
 * offset has times = 1 and that each test.counted exists exactly once: the
 * skeleton's consumer must neither lose nor repeat an event or an emission.
 */
#include <string.h>
#include <time.h>

#include "db.h"
#include "service.h"

static const char *const s_migrations[] = {
    "CREATE TABLE applied(offset INTEGER PRIMARY KEY, type TEXT NOT NULL,"
    " times INTEGER NOT NULL)",
    NULL,
};

/* s_on_any - count one event, maybe emit */
static int s_on_any(service_t *svc, sqlite3 *db, const hark_event_t *ev, consumer_t *c)
{
    const config_t *cfg = service_config(svc);
    long long every = config_int(cfg, "counter", "emit_every");
    long long delay = config_duration_ms(cfg, "counter", "apply_delay");
    if (delay > 0) {
        struct timespec ts = {delay / 1000, (delay % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    sqlite3_stmt *st = db_prepare(db, "INSERT INTO applied(offset, type, times) VALUES(?, ?, 1)"
                                      " ON CONFLICT(offset) DO UPDATE SET times = times + 1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, ev->offset);
    sqlite3_bind_text(st, 2, ev->type, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    if (rc == 0 && every > 0 && ev->offset % every == 0 && strcmp(ev->type, EV_TEST_COUNTED))
        rc = consumer_emit(c, ev, EV_TEST_COUNTED, "counted",
                           json_pack("{s:I}", "source_offset", (json_int_t)ev->offset));
    return rc;
}

static const service_event_t s_events[] = {
    {SERVICE_EVERY_TYPE, s_on_any},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    static const service_def_t def = {
        .name = "counter",
        .migrations = s_migrations,
        .events = s_events,
    };
    return service_main(argc, argv, &def);
}
