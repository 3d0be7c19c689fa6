/*
 * config_table.c - every setting of every Hark process, declared once.
 *
 * Name, type, default, bounds and a one-line help.  hark.conf(5) is generated
 * from this table (config_doc.c); tests/e2e/test_docs.py checks that it shows
 * every key and that config/hark.conf sets none but these.
 */
#include "config.h"

#define MS(x) ((long long)(x))
#define SEC(x) ((long long)(x) * 1000)
#define BIG 9000000000000000000LL

const config_setting_t config_table[] = {
    /* [hark] - the whole instance */
    {"hark", "state_dir", CFG_PATH, "var", 0, 0, NULL,
     "directory for SQLite files, sockets and generated keys (relative to the working directory)"},
    {"hark", "services", CFG_LIST, "journal gateway mailer survey milestone intake loop console inbox", 0, 0,
     NULL, "services harkd starts, in order"},
    {"hark", "token_key", CFG_STR, NULL, 0, 0, NULL,
     "secret for signed links (generated into the state dir when unset; same on every host)"},
    {"hark", "curve_keys", CFG_PATH, "{state_dir}/keys", 0, 0, NULL,
     "directory of the CURVE keypairs (curve-NAME.key, curve-NAME.pub) that tcp:// endpoints "
     "use; `hark keys --curve` makes them"},

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
    {"journal", "engine", CFG_ENUM, "sqlite", 0, 0, "sqlite jetstream",
     "where the events are kept: sqlite (db) or a NATS JetStream stream (hark-journal(8))"},
    {"journal", "nats_urls", CFG_LIST, "nats://127.0.0.1:4222", 0, 0, NULL,
     "engine jetstream: the NATS servers (loopback or a private network)"},
    {"journal", "stream", CFG_STR, "hark", 0, 0, NULL,
     "engine jetstream: the stream's name, 1-32 letters and digits (made at first start)"},
    {"journal", "replicas", CFG_INT, "3", 1, 5, NULL,
     "engine jetstream: copies of each event; an ack means a majority holds it"},
    {"journal", "allow_single_node", CFG_BOOL, "no", 0, 0, NULL,
     "engine jetstream: yes lets replicas = 1 start (one server: no copy survives its disk)"},
    {"journal", "ack_timeout", CFG_DURATION, "10s", MS(100), SEC(300), NULL,
     "engine jetstream: how long a round waits for its acks (resending each second) before it fails"},
    {"journal", "dup_window", CFG_DURATION, "2m", SEC(1), SEC(604800), NULL,
     "engine jetstream: the stream's Nats-Msg-Id window (keys stay unique for ever regardless)"},

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
     "a kept-alive connection is closed when its next request has not come whole within this"},
    {"gateway", "head_timeout", CFG_DURATION, "10s", SEC(1), SEC(600), NULL,
     "a new connection's request line and headers must arrive whole within this (408 after)"},
    {"gateway", "body_timeout", CFG_DURATION, "60s", SEC(1), SEC(3600), NULL,
     "a request's whole body must arrive within this of its headers (the connection is "
     "closed after)"},
    {"gateway", "max_header", CFG_SIZE, "16K", 1024, 64 * 1024, NULL,
     "largest request line and headers accepted (431 beyond)"},
    {"gateway", "threads", CFG_INT, "1", 0, 64, NULL,
     "HTTP loops, each a thread with its own connections and its own line to the journal "
     "(0: one per CPU); requests that wait for another service run on four workers per CPU, "
     "and a waiting request holds no thread"},
    {"gateway", "max_connections", CFG_INT, "4096", 1, 100000, NULL,
     "total HTTP connections at once (when full, the one idle longest is closed to make "
     "room; with none idle, 503)"},
    {"gateway", "per_ip_connections", CFG_INT, "512", 1, 100000, NULL,
     "HTTP connections at once from one client address (429 beyond); behind "
     "trusted_proxies, from one forwarded address"},
    {"gateway", "trusted_proxies", CFG_ADDRS, "", 0, 32, NULL,
     "IPv4 or IPv6 addresses of reverse proxies in front of the gateway; a request from one of "
     "them is counted, for the connection and form rate limits, against the address its "
     "X-Forwarded-For names "
     "(empty: X-Forwarded-For is ignored)"},
    {"gateway", "journal_timeout", CFG_DURATION, "5s", MS(100), SEC(120), NULL,
     "how long a request waits for the journal before answering 503"},
    {"gateway", "survey_timeout", CFG_DURATION, "5s", MS(100), SEC(120), NULL,
     "how long a report request waits for hark-survey before a 503"},
    {"gateway", "milestone_timeout", CFG_DURATION, "5s", MS(100), SEC(120), NULL,
     "how long GET /v1/milestones waits for hark-milestone before a 503"},
    {"gateway", "loop_timeout", CFG_DURATION, "10s", MS(100), SEC(120), NULL,
     "how long a loop request (preview, close, report) waits for hark-loop before a 503"},
    {"gateway", "pipeline_events", CFG_INT, "16", 0, 100000, NULL,
     "events waiting in an HTTP loop that go to the journal as a second message while one is "
     "still unanswered, so the journal commits one group while the loop reads the next "
     "(0: one message at a time)"},

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
     "Reply-To address (empty: none); [mailer] reply_domain takes its place when set"},
    {"mailer", "reply_domain", CFG_STR, "", 0, 0, NULL,
     "replies come back to reply+TOKEN@ this domain, delivered to hark-inbox (empty: no"
     " reply address; the token, signed, names the case, survey invite or mail; staff"
     " alerts keep reply_to)"},
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
    {"mailer", "partitions", CFG_INT, "1", 1, 16, NULL,
     "hark-mailer processes harkd starts; each delivers the mail of the customers whose hash mod"
     " this is its number, with its own mailer-K.db (hark-scaling(7))"},

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

    /* [survey] - NPS surveys (the post-purchase campaign's settings) */
    {"survey", "control", CFG_ENDPOINT, "ipc://{state_dir}/survey.ctl", 0, 0, NULL,
     "ROUTER socket for SERVICE_STATUS, SURVEY_REPORT, SURVEY_RESPONSES, SURVEY_INVITE"},
    {"survey", "db", CFG_PATH, "{state_dir}/survey.db", 0, 0, NULL,
     "the survey service's SQLite file"},
    {"survey", "delay", CFG_DURATION, "7d", MS(0), SEC(365LL * 86400), NULL,
     "a purchase is followed by an invite this long after it"},
    {"survey", "window_hours", CFG_HOURS, "9-20", 0, 0, NULL,
     "local hours invites go out in, START-END like 9-20 or 09:00-20:00 (0-24: any time)"},
    {"survey", "window_days", CFG_DAYS, "mon-sun", 0, 0, NULL,
     "local days invites go out on: mon-sat, mon,wed,fri or all"},
    {"survey", "default_timezone", CFG_TZ, "UTC", 0, 0, NULL,
     "IANA zone for customers whose record has none"},
    {"survey", "throttle", CFG_DURATION, "90d", MS(0), SEC(3650LL * 86400), NULL,
     "one address is invited at most once in this long, across all campaigns"},
    {"survey", "expiry", CFG_DURATION, "30d", SEC(1), SEC(365LL * 86400), NULL,
     "score links stop working this long after the invite is sent"},
    {"survey", "reminder", CFG_DURATION, "0", MS(0), SEC(365LL * 86400), NULL,
     "one reminder this long after the invite when unanswered (0: none)"},
    {"survey", "alert_to", CFG_EMAIL, "", 0, 0, NULL,
     "where a detractor's answer is mailed (empty: no alerts)"},
    {"survey", "staff_url", CFG_URL, NULL, 0, 0, NULL,
     "Hark Console's public address, linked from detractor alerts (URL/cases?customer=ID)"
     " and the digest (URL/cases); default: [console] public_url, else http://127.0.0.1:8081"},
    {"survey", "digest_to", CFG_EMAIL, "", 0, 0, NULL,
     "where the weekly NPS digest is mailed (empty: no digest)"},
    {"survey", "digest_day", CFG_ENUM, "mon", 0, 0, "mon tue wed thu fri sat sun",
     "the weekday the digest of the seven days before goes out"},
    {"survey", "digest_hour", CFG_INT, "9", 0, 23, NULL,
     "the hour it goes out, in default_timezone"},

    /* [milestone] - birthday and anniversary messages */
    {"milestone", "control", CFG_ENDPOINT, "ipc://{state_dir}/milestone.ctl", 0, 0, NULL,
     "ROUTER socket for SERVICE_STATUS, MILESTONE_SETTINGS, MILESTONE_CUSTOMER"},
    {"milestone", "db", CFG_PATH, "{state_dir}/milestone.db", 0, 0, NULL,
     "the milestone service's SQLite file"},
    {"milestone", "time", CFG_TIME, "09:00", 0, 0, NULL,
     "local send time HH:MM of both kinds until a milestone.saved sets one"},
    {"milestone", "default_timezone", CFG_TZ, "UTC", 0, 0, NULL,
     "IANA zone for customers whose record has none"},
    {"milestone", "catch_up", CFG_DURATION, "12h", MS(0), SEC(24 * 3600), NULL,
     "a message not sent at its time (downtime) still goes out up to this late"},
    {"milestone", "feb29", CFG_ENUM, "feb28", 0, 0, "feb28 mar1",
     "29 February milestones in common years: on 28 February or on 1 March"},
    {"milestone", "coupon", CFG_WORD, "on", 1, 16, NULL,
     "personal coupon codes in the messages: on (prefix GIFT), off, or the prefix to use"},
    {"milestone", "anniversary_from", CFG_ENUM, "first_purchase", 0, 0,
     "first_purchase signup_date", "what anniversaries count from until a milestone.saved says"},
    {"milestone", "interval", CFG_DURATION, "1m", MS(100), SEC(3600), NULL,
     "how often it looks for messages due"},
    {"milestone", "batch", CFG_INT, "500", 1, 100000, NULL,
     "messages decided per transaction (each batch goes to the journal before the next)"},

    /* [intake] - reason-coded complaint and cancellation intake */
    {"intake", "control", CFG_ENDPOINT, "ipc://{state_dir}/intake.ctl", 0, 0, NULL,
     "ROUTER socket for SERVICE_STATUS, INTAKE_CASES, INTAKE_REPORT"},
    {"intake", "db", CFG_PATH, "{state_dir}/intake.db", 0, 0, NULL,
     "the intake service's SQLite file"},
    {"intake", "reasons", CFG_PATH, "config/reasons.conf", 0, 0, NULL,
     "the reason taxonomy and teams (relative to the working directory)"},
    {"intake", "examples", CFG_PATH, "config/reason_examples.tsv", 0, 0, NULL,
     "labelled examples (LOCALE<TAB>REASON<TAB>TEXT a line, REASON a code or praise) the tagger"
     " learns from at start, with the staff's retags; empty: the keywords alone tag"},
    {"intake", "tag_threshold", CFG_INT, "2", 1, 99, NULL,
     "the tagger's confidence in percent below which a text is filed under `other` and the case"
     " marked as needing a reason from staff"},
    {"intake", "staff_url", CFG_URL, NULL, 0, 0, NULL,
     "Hark Console's public address: team and breach alerts link URL/cases/ID;"
     " default: [console] public_url, else http://127.0.0.1:8081"},
    {"intake", "timeout", CFG_DURATION, "5s", MS(100), SEC(120), NULL,
     "how long the gateway and the CLI wait for hark-intake before giving up"},
    {"intake", "form_rate", CFG_INT, "20", 1, 100000, NULL,
     "customer form POSTs (/feedback, /cancel) per minute from one client address, and for one "
     "customer's link from all addresses; 429 beyond"},

    /* [loop] - close the loop: tell customers what changed (hark-loop) */
    {"loop", "control", CFG_ENDPOINT, "ipc://{state_dir}/loop.ctl", 0, 0, NULL,
     "ROUTER socket for SERVICE_STATUS, LOOP_PREVIEW, LOOP_REPORT"},
    {"loop", "db", CFG_PATH, "{state_dir}/loop.db", 0, 0, NULL,
     "the loop service's SQLite file"},
    {"loop", "batch", CFG_INT, "500", 1, 100000, NULL,
     "customers told per transaction (their requests are journaled after each)"},
    {"loop", "quotes", CFG_INT, "2", 1, 20, NULL,
     "pieces of a customer's feedback quoted in one email, newest first"},
    {"loop", "excerpt", CFG_INT, "200", 20, 2000, NULL,
     "characters of each quote; longer feedback is cut at a word boundary with …"},

    /* [console] - Hark Console, the staff's web pages (hark-console) */
    {"console", "listen", CFG_LISTEN, "127.0.0.1:8081", 0, 0, NULL,
     "HTTP address and port of the console (put a TLS proxy in front for staff elsewhere)"},
    {"console", "public_url", CFG_URL, "http://127.0.0.1:8081", 0, 0, NULL,
     "the address staff reach the console at: the Origin every form POST must come from, "
     "and https here makes the session cookie Secure"},
    {"console", "control", CFG_ENDPOINT, "ipc://{state_dir}/console.ctl", 0, 0, NULL,
     "ROUTER socket for SERVICE_STATUS and `hark user` (CONSOLE_USER_*)"},
    {"console", "db", CFG_PATH, "{state_dir}/console.db", 0, 0, NULL,
     "the console's SQLite file: staff accounts and sessions"},
    {"console", "threads", CFG_INT, "4", 1, 64, NULL,
     "HTTP worker threads (each serves many connections through epoll)"},
    {"console", "session_idle", CFG_DURATION, "30m", SEC(60), SEC(7 * 86400), NULL,
     "a session unused this long ends (sign in again)"},
    {"console", "session_max", CFG_DURATION, "12h", SEC(60), SEC(30 * 86400), NULL,
     "a session ends this long after sign-in, however busy"},
    {"console", "login_failures", CFG_INT, "5", 1, 1000, NULL,
     "failed sign-ins to one account in login_lockout before it is refused (429) until the "
     "window ends"},
    {"console", "login_lockout", CFG_DURATION, "15m", SEC(1), SEC(86400), NULL,
     "the window login_failures counts in"},
    {"console", "login_rate", CFG_INT, "20", 1, 100000, NULL,
     "sign-in attempts per minute from one client address; 429 beyond"},
    {"console", "page_size", CFG_INT, "50", 5, 500, NULL,
     "cases per inbox page"},

    /* [inbox] - mail coming back: replies, bounces, auto-replies */
    {"inbox", "control", CFG_ENDPOINT, "ipc://{state_dir}/inbox.ctl", 0, 0, NULL,
     "ROUTER socket for SERVICE_STATUS, INBOX_UNMATCHED"},
    {"inbox", "db", CFG_PATH, "{state_dir}/inbox.db", 0, 0, NULL,
     "the inbox's SQLite file: every message read, and what became of it"},
    {"inbox", "maildir", CFG_PATH, "{state_dir}/inbox", 0, 0, NULL,
     "the Maildir mail to [mailer] from and reply+TOKEN@[mailer] reply_domain is delivered"
     " to (new/ is read, read mail goes to cur/, what cannot be read to .bad/cur/)"},
    {"inbox", "max_size", CFG_SIZE, "10M", 1024, 256LL << 20, NULL,
     "a larger message is not parsed but moved aside to .bad/"},
    {"inbox", "poll", CFG_DURATION, "1s", MS(50), SEC(3600), NULL,
     "how often new/ is looked at"},

    /* [counter] - test-only consumer (tests/services/counter) */
    {"counter", "control", CFG_ENDPOINT, "ipc://{state_dir}/counter.ctl", 0, 0, NULL,
     "ROUTER socket for SERVICE_STATUS"},
    {"counter", "db", CFG_PATH, "{state_dir}/counter.db", 0, 0, NULL,
     "the counter's SQLite file"},
    {"counter", "emit_every", CFG_INT, "10", 0, 1000000, NULL,
     "emit one test.counted event for every Nth event applied (0: never)"},
    {"counter", "apply_delay", CFG_DURATION, "0ms", MS(0), SEC(10), NULL,
     "sleep per event applied, to widen crash windows in tests"},

    /* [privacy] - personal fields sealed in the journal, erasure, retention */
    {"privacy", "encrypt", CFG_BOOL, "yes", 0, 0, NULL,
     "seal events' personal fields with per-customer keys (no: stored in clear and erasure"
     " cannot shred them; for measuring only)"},
    {"privacy", "keys_db", CFG_PATH, "{state_dir}/journal-keys.db", 0, 0, NULL,
     "the journal's data keys, apart from the events (secure_delete on)"},
    {"privacy", "erasure_log", CFG_PATH, "{state_dir}/erasure.log", 0, 0, NULL,
     "every erasure, appended and fsynced; re-applied when the journal starts. Keep it"
     " outside the state dir (or copy it with every backup) so a restored older copy cannot"
     " bring an erased person back"},
    {"privacy", "free_text_days", CFG_INT, "730", 1, 36500, NULL,
     "free text (comments, complaints, replies, notes) becomes unreadable this many days"
     " after the customer's last activity (their newest event with personal fields)"},
    {"privacy", "contact_days", CFG_INT, "1095", 1, 36500, NULL,
     "contact fields (address, name, birthday, attributes) likewise"},
    {"privacy", "sweep", CFG_DURATION, "1h", SEC(1), SEC(86400), NULL,
     "how often the journal looks for keys retention drops"},

    {NULL, NULL, CFG_STR, NULL, 0, 0, NULL, NULL},
};
