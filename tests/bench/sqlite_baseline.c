/*
 * sqlite_baseline.c - plain batched SQLite inserts, the ceiling the journal
 * is measured against.
 *
 * Same schema as services/journal/journal_store.c (events table, unique index
 * on key, index on (type, offset)), same INSERT ... ON CONFLICT(key) DO
 * NOTHING statement, prepared once; WAL mode and synchronous=FULL (or
 * NORMAL) like db_open() sets them.  Rows look like what bench_journal
 * sends: type "customer", a unique key, two RFC 3339 timestamps and a
 * ~200-byte JSON payload.
 *
 * Runs transactions of TXN rows until SECONDS have passed and prints one
 * JSON line: rows, transactions, rows/s, and the mean time spent in INSERTs
 * and in COMMIT per transaction (COMMIT is where the WAL is fsynced).
 *
 * usage: sqlite_baseline DBFILE TXN_ROWS SECONDS [full|normal] [sequential|random]
 *
 * Keys are "bench-sqlite-<n>" (ascending: every insert lands at the right
 * edge of the unique index), or with "random" "gw:<32 hex digits>" (like
 * the keys hark-gateway made for events without an id before they became
 * time-ordered), which land anywhere in the index.
 *
 * Built by tests/bench/run.py:
 *   cc -O2 -std=c11 sqlite_baseline.c $(pkg-config --cflags --libs sqlite3)
 */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the journal's schema, as in journal_migrations[] */
static const char *const SCHEMA =
    "CREATE TABLE events("
    "  offset INTEGER PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  occurred_at TEXT NOT NULL,"
    "  recorded_at TEXT NOT NULL,"
    "  payload TEXT NOT NULL);"
    "CREATE UNIQUE INDEX events_key ON events(key);"
    "CREATE INDEX events_type ON events(type, offset);";

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int s_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite_baseline: %s: %s\n", sql, err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* s_rand - xorshift64* */
static unsigned long long s_rand(unsigned long long *st)
{
    unsigned long long x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* s_payload - a customer-like JSON object of about 200 bytes, like bench_journal's */
static int s_payload(char *out, size_t len, unsigned long long n)
{
    return snprintf(out, len,
                    "{\"id\":\"c%llu\",\"email\":\"customer.%llu@example.com\","
                    "\"name\":\"Customer Number %llu\",\"locale\":\"en-GB\","
                    "\"timezone\":\"Europe/London\",\"signup_date\":\"2024-01-31\","
                    "\"attributes\":{\"plan\":\"gold\",\"source\":\"bench\",\"visits\":%llu,"
                    "\"newsletter\":true}}",
                    n, n, n, n % 1000);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s DBFILE TXN_ROWS SECONDS [full|normal] [sequential|random]\n",
                argv[0]);
        return 2;
    }
    const char *path = argv[1];
    long txn = atol(argv[2]);
    double seconds = atof(argv[3]);
    const char *sync = argc > 4 ? argv[4] : "full";
    int random_keys = argc > 5 && strcmp(argv[5], "random") == 0;
    unsigned long long rng = 0x9E3779B97F4A7C15ULL ^ (unsigned long long)time(NULL);
    if (txn < 1 || seconds <= 0) {
        fprintf(stderr, "sqlite_baseline: bad arguments\n");
        return 2;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, "sqlite_baseline: open %s failed\n", path);
        return 1;
    }
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous = %s",
             strcmp(sync, "normal") == 0 ? "NORMAL" : "FULL");
    if (s_exec(db, "PRAGMA journal_mode = WAL") || s_exec(db, pragma) || s_exec(db, SCHEMA))
        return 1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO events(type, key, occurred_at, recorded_at, payload)"
                           " VALUES(?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite_baseline: prepare: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    const char *ts = "2026-11-23T10:00:00.000Z";
    char key[64], payload[512];
    unsigned long long rows = 0, txns = 0, payload_bytes = 0;
    double t_insert = 0, t_commit = 0, max_commit = 0;
    double t0 = s_now(), end = t0 + seconds, now = t0;
    while (now < end) {
        double a = s_now();
        if (s_exec(db, "BEGIN IMMEDIATE"))
            return 1;
        for (long i = 0; i < txn; i++) {
            unsigned long long n = rows + 1;
            int kl;
            if (random_keys) {
                unsigned long long a = s_rand(&rng), b = s_rand(&rng);
                kl = snprintf(key, sizeof key, "gw:%016llx%016llx", a, b);
            } else {
                kl = snprintf(key, sizeof key, "bench-sqlite-%llu", n);
            }
            int pl = s_payload(payload, sizeof payload, n);
            payload_bytes += (unsigned long long)pl;
            sqlite3_reset(st);
            sqlite3_bind_text(st, 1, "customer", 8, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, key, kl, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, ts, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, ts, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 5, payload, pl, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(db) != 1) {
                fprintf(stderr, "sqlite_baseline: insert: %s\n", sqlite3_errmsg(db));
                return 1;
            }
            rows++;
        }
        double b = s_now();
        if (s_exec(db, "COMMIT"))
            return 1;
        now = s_now();
        txns++;
        t_insert += b - a;
        t_commit += now - b;
        if (now - b > max_commit)
            max_commit = now - b;
    }
    double elapsed = now - t0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    printf("{\"txn_rows\":%ld,\"keys\":\"%s\",\"synchronous\":\"%s\",\"rows\":%llu,\"transactions\":%llu,"
           "\"seconds\":%.3f,\"rows_per_s\":%.1f,\"txn_per_s\":%.1f,"
           "\"insert_us_per_row\":%.2f,\"commit_ms_avg\":%.3f,\"commit_ms_max\":%.3f,"
           "\"payload_bytes_avg\":%.1f,\"sqlite_version\":\"%s\"}\n",
           txn, random_keys ? "random" : "sequential", strcmp(sync, "normal") == 0 ? "normal" : "full", rows, txns, elapsed,
           (double)rows / elapsed, (double)txns / elapsed, t_insert / (double)rows * 1e6,
           t_commit / (double)txns * 1e3, max_commit * 1e3,
           (double)payload_bytes / (double)rows, sqlite3_libversion());
    return 0;
}
