/*
 * config_table.c - every setting of every Hark process, declared once.
 *
 * Name, type, default, bounds and a one-line help.  config/hark.conf and the
 * README list the same keys; tests/e2e/test_config.py checks they agree.
 */
#include "config.h"

#define MS(x) ((long long)(x))
#define SEC(x) ((long long)(x) * 1000)
#define BIG 9000000000000000000LL

const config_setting_t config_table[] = {
    /* [hark] - the whole instance */
    {"hark", "state_dir", CFG_PATH, "var", 0, 0, NULL,
     "directory for SQLite files, sockets and generated keys (relative to the working directory)"},
    {"hark", "services", CFG_LIST, "journal gateway mailer", 0, 0, NULL,
     "services harkd starts, in order"},
    {"hark", "token_key", CFG_STR, NULL, 0, 0, NULL,
     "secret for signed links (generated into the state dir when unset; same on every host)"},

    /* [harkd] - the supervisor */
    {"harkd", "control", CFG_ENDPOINT, "ipc://{state_dir}/harkd.ctl", 0, 0, NULL,
     "where harkd answers `hark status`"},
    {"harkd", "grace", CFG_DURATION, "5s", MS(0), SEC(300), NULL,
     "how long services get to stop after SIGTERM before SIGKILL"},
    {"harkd", "restart_min", CFG_DURATION, "200ms", MS(10), SEC(60), NULL,
     "first restart delay after a crash; doubles on each crash"},
    {"harkd", "restart_max", CFG_DURATION, "30s", MS(10), SEC(3600), NULL,
     "cap on the restart delay"},
    {"harkd", "stable_after", CFG_DURATION, "60s", SEC(1), SEC(86400), NULL,
     "a service up this long has its restart delay reset"},
    {"harkd", "bin_dir", CFG_PATH, NULL, 0, 0, NULL,
     "where the hark-* programs are (default: beside harkd)"},

    /* [journal] - the event log */
    {"journal", "endpoint", CFG_ENDPOINT, "ipc://{state_dir}/journal.sock", 0, 0, NULL,
     "ROUTER socket for JOURNAL_APPEND and JOURNAL_FETCH"},
    {"journal", "pub_endpoint", CFG_ENDPOINT, "ipc://{state_dir}/journal.pub", 0, 0, NULL,
     "PUB socket announcing the newest offset after each commit (a hint)"},
    {"journal", "control", CFG_ENDPOINT, "ipc://{state_dir}/journal.ctl", 0, 0, NULL,
     "ROUTER socket for SERVICE_STATUS"},
    {"journal", "db", CFG_PATH, "{state_dir}/journal.db", 0, 0, NULL,
     "the journal's SQLite file"},
    {"journal", "synchronous", CFG_ENUM, "full", 0, 0, "full normal",
     "full: an acknowledged event survives power loss; normal: survives any process crash"},
    {"journal", "max_batch", CFG_INT, "20000", 1, 1000000, NULL,
     "most events committed in one group-commit transaction"},
    {"journal", "fetch_max", CFG_INT, "1000", 1, 100000, NULL,
     "most events one JOURNAL_FETCH returns"},

    /* [gateway] - HTTP in */
    {"gateway", "listen", CFG_LISTEN, "127.0.0.1:8080", 0, 0, NULL,
     "HTTP address and port"},
    {"gateway", "control", CFG_ENDPOINT, "ipc://{state_dir}/gateway.ctl", 0, 0, NULL,
     "ROUTER socket for SERVICE_STATUS"},
    {"gateway", "public_url", CFG_URL, "http://127.0.0.1:8080", 0, 0, NULL,
     "the address customers reach the gateway at, used in links"},
    {"gateway", "ingest_key", CFG_STR, NULL, 0, 0, NULL,
     "bearer key for POST /v1/events (generated into the state dir when unset)"},
    {"gateway", "admin_key", CFG_STR, NULL, 0, 0, NULL,
     "bearer key for the admin API (generated into the state dir when unset)"},
    {"gateway", "max_body", CFG_SIZE, "4M", 1024, 64LL << 20, NULL,
     "largest request body accepted (413 beyond)"},
    {"gateway", "connection_timeout", CFG_DURATION, "30s", SEC(1), SEC(3600), NULL,
     "idle HTTP connections are closed after this"},
    {"gateway", "max_connections", CFG_INT, "512", 1, 10000, NULL,
     "total HTTP connections at once"},
    {"gateway", "per_ip_connections", CFG_INT, "128", 1, 10000, NULL,
     "HTTP connections at once from one client address"},
    {"gateway", "journal_timeout", CFG_DURATION, "5s", MS(100), SEC(120), NULL,
     "how long a request waits for the journal before answering 503"},

    /* [mailer] - renders and delivers every email */
    {"mailer", "control", CFG_ENDPOINT, "ipc://{state_dir}/mailer.ctl", 0, 0, NULL,
     "ROUTER socket for SERVICE_STATUS, MAILER_QUEUE"},
    {"mailer", "db", CFG_PATH, "{state_dir}/mailer.db", 0, 0, NULL,
     "the mailer's SQLite file"},
    {"mailer", "templates", CFG_PATH, "templates", 0, 0, NULL,
     "template directory (relative to the working directory)"},
    {"mailer", "default_locale", CFG_STR, "en", 0, 0, NULL,
     "locale used when a customer's (or its language's) template is missing"},
    {"mailer", "from", CFG_EMAIL, "hark@localhost", 0, 0, NULL,
     "From address (and envelope sender)"},
    {"mailer", "from_name", CFG_STR, "Hark", 0, 0, NULL,
     "From display name"},
    {"mailer", "reply_to", CFG_EMAIL, "", 0, 0, NULL,
     "Reply-To address (empty: none)"},
    {"mailer", "shop_name", CFG_STR, "Our shop", 0, 0, NULL,
     "the shop's name, {{shop_name}} in templates"},
    {"mailer", "connections", CFG_INT, "2", 1, 64, NULL,
     "SMTP connections (worker threads) at once"},
    {"mailer", "per_connection", CFG_INT, "20", 1, 1000, NULL,
     "messages sent over one SMTP connection before it is closed"},
    {"mailer", "rate", CFG_INT, "0", 0, 1000000, NULL,
     "most messages per second (0: no limit)"},
    {"mailer", "retry_min", CFG_DURATION, "5m", MS(10), SEC(86400), NULL,
     "first retry after a temporary failure; doubles each time"},
    {"mailer", "retry_max", CFG_DURATION, "4h", MS(10), SEC(7 * 86400), NULL,
     "cap on the retry delay"},
    {"mailer", "give_up", CFG_DURATION, "5d", MS(100), SEC(60 * 86400), NULL,
     "after this long failing temporarily, a message fails for good (mail.failed)"},
    {"mailer", "lease", CFG_DURATION, "10m", SEC(1), SEC(86400), NULL,
     "a message claimed for sending and not finished in this time is claimed again"},
    {"mailer", "maildir", CFG_PATH, "{state_dir}/maildir", 0, 0, NULL,
     "where messages go when [smtp] host is empty"},

    /* [smtp] - where the mailer delivers */
    {"smtp", "host", CFG_STR, "", 0, 0, NULL,
     "SMTP server host; empty: write messages to [mailer] maildir instead"},
    {"smtp", "port", CFG_INT, "25", 1, 65535, NULL, "SMTP server port"},
    {"smtp", "starttls", CFG_ENUM, "optional", 0, 0, "required optional off",
     "STARTTLS: required (fail without it), optional (use when offered), off"},
    {"smtp", "tls_verify", CFG_BOOL, "yes", 0, 0, NULL,
     "verify the server's certificate (turn off only for tests)"},
    {"smtp", "user", CFG_STR, "", 0, 0, NULL, "AUTH user (empty: no AUTH)"},
    {"smtp", "password_file", CFG_PATH, "", 0, 0, NULL,
     "file holding the AUTH password (first line)"},
    {"smtp", "timeout", CFG_DURATION, "30s", MS(100), SEC(600), NULL,
     "connect and per-command timeout"},

    /* [counter] - test-only consumer (tests/services/counter) */
    {"counter", "control", CFG_ENDPOINT, "ipc://{state_dir}/counter.ctl", 0, 0, NULL,
     "ROUTER socket for SERVICE_STATUS"},
    {"counter", "db", CFG_PATH, "{state_dir}/counter.db", 0, 0, NULL,
     "the counter's SQLite file"},
    {"counter", "emit_every", CFG_INT, "10", 0, 1000000, NULL,
     "emit one test.counted event for every Nth event applied (0: never)"},
    {"counter", "apply_delay", CFG_DURATION, "0ms", MS(0), SEC(10), NULL,
     "sleep per event applied, to widen crash windows in tests"},

    {NULL, NULL, CFG_STR, NULL, 0, 0, NULL, NULL},
};
