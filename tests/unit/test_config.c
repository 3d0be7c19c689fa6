/*
 * test_config.c - unit tests for services/common/config.c (+ config_table.c).
 *
 * Real INI files in a temp dir: defaults, {state_dir} expansion, the state
 * dir made absolute, and every kind of error collected as "FILE:LINE: ..."
 * in file order.  config_sections_like is not tested: config_table has no
 * "name.*" section yet, so there is nothing for it to match.
 */
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

static char s_dir[64];

/* s_rm - nftw callback removing one entry */
static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* s_write - write text to <s_dir>/name, path into out */
static const char *s_write(const char *name, const char *text, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", s_dir, name);
    FILE *f = fopen(out, "w");
    if (!f)
        return out;
    fputs(text, f);
    fclose(f);
    return out;
}

/* s_load - write text to a file and load it */
static config_t *s_load(const char *name, const char *text, char *path, size_t len)
{
    s_write(name, text, path, len);
    return config_load(path);
}

/* s_def - the table default of section/key */
static const char *s_def(const char *section, const char *key)
{
    for (const config_setting_t *s = config_table; s->section; s++)
        if (strcmp(s->section, section) == 0 && strcmp(s->key, key) == 0)
            return s->def;
    return NULL;
}

/* s_print_errors - show the errors of cfg when a check is about to fail */
static void s_print_errors(const config_t *cfg)
{
    for (size_t i = 0; i < config_error_count(cfg); i++)
        fprintf(stderr, "  error %zu: %s\n", i, config_error(cfg, i));
}

/* s_check_error - error i is exactly "<path>:<line>: <msg>" */
static void s_check_error(const config_t *cfg, size_t i, const char *path, int line,
                          const char *msg)
{
    char want[1024];
    if (line > 0)
        snprintf(want, sizeof want, "%s:%d: %s", path, line, msg);
    else
        snprintf(want, sizeof want, "%s: %s", path, msg);
    CHECK_STR(config_error(cfg, i), want);
}

static void test_empty_file_gets_every_default(void)
{
    char path[256], cwd[PATH_MAX], want[PATH_MAX + 64];
    config_t *cfg = s_load("empty.conf", "", path, sizeof path);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_INT(config_error_count(cfg), 0);
    CHECK_STR(config_path(cfg), path);
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(want, sizeof want, "%s/var", cwd);
    CHECK_STR(config_state_dir(cfg), want);
    snprintf(want, sizeof want, "ipc://%s/var/journal.sock", cwd);
    CHECK_STR(config_get(cfg, "journal", "endpoint"), want);
    /* every setting with a default reads back as that default */
    for (const config_setting_t *s = config_table; s->section; s++) {
        if (strchr(s->section, '*'))
            continue;
        const char *v = config_get(cfg, s->section, s->key);
        if (!s->def) {
            CHECK(v == NULL);
            continue;
        }
        if (!strstr(s->def, "{state_dir}"))
            CHECK_STR(v, s->def);
        long long n = -1;
        if (s->type == CFG_INT)
            CHECK_INT(config_int(cfg, s->section, s->key), strtoll(s->def, NULL, 10));
        if (s->type == CFG_DURATION && config_parse_duration(s->def, &n) == 0)
            CHECK_INT(config_duration_ms(cfg, s->section, s->key), n);
        if (s->type == CFG_SIZE && config_parse_size(s->def, &n) == 0)
            CHECK_INT(config_size(cfg, s->section, s->key), n);
    }
    /* no default: unset */
    CHECK(config_get(cfg, "harkd", "bin_dir") == NULL);
    CHECK(config_get(cfg, "gateway", "ingest_key") == NULL);
    CHECK_INT(config_int(cfg, "gateway", "ingest_key"), 0);
    /* not in the table at all */
    CHECK(config_get(cfg, "journal", "nope") == NULL);
    CHECK(config_get(cfg, "nope", "endpoint") == NULL);
    config_destroy(&cfg);
    CHECK(cfg == NULL);
    config_destroy(&cfg); /* safe twice */
    config_destroy(NULL);
}

static void test_values_override_defaults(void)
{
    char path[256];
    config_t *cfg = s_load("values.conf",
                           "; a comment\n"
                           "# another\n"
                           "[journal]\n"
                           "max_batch = 500\n"
                           "synchronous=normal\n"
                           "fetch_max = 7 ; inline comment\n"
                           "\n"
                           "[harkd]\n"
                           "grace = 2m\n"
                           "restart_max: 1h\n"
                           "[gateway]\n"
                           "max_body = 64k\n",
                           path, sizeof path);
    if (!cfg)
        return;
    s_print_errors(cfg);
    CHECK_INT(config_error_count(cfg), 0);
    CHECK_INT(config_int(cfg, "journal", "max_batch"), 500);
    CHECK_STR(config_get(cfg, "journal", "synchronous"), "normal");
    CHECK_INT(config_int(cfg, "journal", "fetch_max"), 7);
    CHECK_INT(config_duration_ms(cfg, "harkd", "grace"), 120000);
    CHECK_INT(config_duration_ms(cfg, "harkd", "restart_max"), 3600000);
    CHECK_INT(config_size(cfg, "gateway", "max_body"), 65536);
    /* untouched keys of a touched section keep their defaults */
    CHECK_STR(config_get(cfg, "harkd", "stable_after"), s_def("harkd", "stable_after"));
    /* where each value came from, for checks services make themselves */
    CHECK_INT(config_line(cfg, "journal", "max_batch"), 4);
    CHECK_INT(config_line(cfg, "gateway", "max_body"), 12);
    CHECK_INT(config_line(cfg, "harkd", "stable_after"), 0);
    config_destroy(&cfg);
}

static void test_indented_keys_are_separate_keys(void)
{
    char path[256];
    config_t *cfg = s_load("indent.conf",
                           "[journal]\n"
                           "    max_batch = 10\n"
                           "\tfetch_max = 20\n"
                           "  [harkd]\n"
                           "  grace = 1s\n",
                           path, sizeof path);
    if (!cfg)
        return;
    s_print_errors(cfg);
    CHECK_INT(config_error_count(cfg), 0);
    CHECK_INT(config_int(cfg, "journal", "max_batch"), 10);
    CHECK_INT(config_int(cfg, "journal", "fetch_max"), 20);
    CHECK_INT(config_duration_ms(cfg, "harkd", "grace"), 1000);
    config_destroy(&cfg);
}

static void test_utf8_bom_and_crlf_are_accepted(void)
{
    char path[256];
    config_t *cfg = s_load("bom.conf", "\xEF\xBB\xBF[journal]\r\nmax_batch = 42\r\n", path,
                           sizeof path);
    if (!cfg)
        return;
    s_print_errors(cfg);
    CHECK_INT(config_error_count(cfg), 0);
    CHECK_INT(config_int(cfg, "journal", "max_batch"), 42);
    config_destroy(&cfg);
}

static void test_state_dir_is_expanded_everywhere(void)
{
    char path[256], text[512], want[512];
    snprintf(text, sizeof text,
             "[hark]\nstate_dir = %s/state//\n"
             "[journal]\ndb = {state_dir}/j/{state_dir}.db\n"
             "endpoint = ipc://{state_dir}/j.sock\n",
             s_dir);
    config_t *cfg = s_load("expand.conf", text, path, sizeof path);
    if (!cfg)
        return;
    s_print_errors(cfg);
    CHECK_INT(config_error_count(cfg), 0);
    snprintf(want, sizeof want, "%s/state", s_dir); /* trailing slashes gone */
    CHECK_STR(config_state_dir(cfg), want);
    snprintf(want, sizeof want, "%s/state/j/%s/state.db", s_dir, s_dir);
    CHECK_STR(config_get(cfg, "journal", "db"), want);
    snprintf(want, sizeof want, "ipc://%s/state/j.sock", s_dir);
    CHECK_STR(config_get(cfg, "journal", "endpoint"), want);
    /* defaults are expanded too */
    snprintf(want, sizeof want, "ipc://%s/state/harkd.ctl", s_dir);
    CHECK_STR(config_get(cfg, "harkd", "control"), want);
    snprintf(want, sizeof want, "%s/state/counter.db", s_dir);
    CHECK_STR(config_get(cfg, "counter", "db"), want);
    config_destroy(&cfg);
}

static void test_relative_state_dir_is_made_absolute(void)
{
    char path[256], cwd[PATH_MAX], want[PATH_MAX + 64];
    config_t *cfg = s_load("rel.conf", "[hark]\nstate_dir = run/hark/\n", path, sizeof path);
    if (!cfg)
        return;
    CHECK_INT(config_error_count(cfg), 0);
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(want, sizeof want, "%s/run/hark", cwd);
    CHECK_STR(config_state_dir(cfg), want);
    CHECK(config_state_dir(cfg)[0] == '/');
    snprintf(want, sizeof want, "%s/run/hark/journal.db", cwd);
    CHECK_STR(config_get(cfg, "journal", "db"), want);
    config_destroy(&cfg);
}

static void test_long_state_dir_makes_default_endpoints_fail(void)
{
    /* ipc:// paths must stay under 100 bytes; the default endpoints are
     * checked again after expansion and, having no line, name only the file */
    char path[256], text[512], sd[200];
    memset(sd, 'd', 120);
    sd[0] = '/';
    sd[120] = '\0';
    snprintf(text, sizeof text, "[hark]\nstate_dir = %s\n", sd);
    config_t *cfg = s_load("longsd.conf", text, path, sizeof path);
    if (!cfg)
        return;
    CHECK(config_error_count(cfg) >= 5); /* one per ipc:// endpoint */
    int found = 0;
    char want[512];
    snprintf(want, sizeof want, "%s: [journal] endpoint: expected ipc://PATH", path);
    for (size_t i = 0; i < config_error_count(cfg); i++)
        if (strncmp(config_error(cfg, i), want, strlen(want)) == 0)
            found = 1;
    CHECK(found);
    config_destroy(&cfg);
}

static void test_each_error_names_file_and_line(void)
{
    char path[256], longline[300];
    memset(longline, 'x', sizeof longline);
    memcpy(longline, "restart_min = ", 14);
    longline[250] = '\n';
    longline[251] = '\0';
    char text[2048];
    snprintf(text, sizeof text,
             "[hark]\n"                        /* 1 */
             "services = journal\n"            /* 2 */
             "[nosuch]\n"                      /* 3 */
             "a = 1\n"                         /* 4 */
             "b = 2\n"                         /* 5: no second error for [nosuch] */
             "[journal]\n"                     /* 6 */
             "bogus = 1\n"                     /* 7 */
             "max_batch = 0\n"                 /* 8 */
             "synchronous = sometimes\n"       /* 9 */
             "endpoint = http://x\n"           /* 10 */
             "fetch_max = 10\n"                /* 11 */
             "fetch_max = 20\n"                /* 12 */
             "[harkd]\n"                       /* 13 */
             "grace = 5 parsecs\n"             /* 14 */
             "this line has no equals\n"       /* 15 */
             "[broken\n"                       /* 16 */
             "%s"                              /* 17 */
             "restart_max = 10s\n",            /* 18: still fine */
             longline);
    config_t *cfg = s_load("errors.conf", text, path, sizeof path);
    if (!cfg)
        return;
    CHECK_INT(config_error_count(cfg), 10);
    if (config_error_count(cfg) != 10)
        s_print_errors(cfg);
    s_check_error(cfg, 0, path, 4, "unknown section [nosuch]");
    s_check_error(cfg, 1, path, 7, "[journal] bogus: unknown key");
    s_check_error(cfg, 2, path, 8, "[journal] max_batch: \"0\" is out of range");
    s_check_error(cfg, 3, path, 9,
                  "[journal] synchronous: expected one of: full normal; got \"sometimes\"");
    s_check_error(cfg, 4, path, 10,
                  "[journal] endpoint: expected ipc://PATH (under 100 bytes) or "
                  "tcp://HOST:PORT, got \"http://x\"");
    s_check_error(cfg, 5, path, 12, "[journal] fetch_max: set twice (first on line 11)");
    s_check_error(cfg, 6, path, 14,
                  "[harkd] grace: expected a duration like 500ms, 90s, 5m, 2h or 7d, "
                  "got \"5 parsecs\"");
    s_check_error(cfg, 7, path, 15,
                  "expected \"key = value\", got \"this line has no equals\"");
    s_check_error(cfg, 8, path, 16, "section header without closing ']'");
    s_check_error(cfg, 9, path, 17, "line is longer than 198 characters");
    CHECK(config_error(cfg, 10) == NULL);
    /* good values around the bad ones still count; bad ones fall back */
    CHECK_STR(config_get(cfg, "hark", "services"), "journal");
    CHECK_INT(config_int(cfg, "journal", "fetch_max"), 10);
    CHECK_STR(config_get(cfg, "journal", "max_batch"), s_def("journal", "max_batch"));
    CHECK_INT(config_duration_ms(cfg, "harkd", "restart_max"), 10000);
    CHECK_STR(config_get(cfg, "harkd", "restart_min"), s_def("harkd", "restart_min"));
    config_destroy(&cfg);
}

static void test_one_error_per_file_for_single_mistakes(void)
{
    /* each mistake alone, so no error can hide behind another */
    static const struct {
        const char *text;
        int line;
        const char *msg;
    } cases[] = {
        {"[journal]\nmax_batch = 1000001\n", 2, "[journal] max_batch: \"1000001\" is out of range"},
        {"[journal]\nmax_batch = 12abc\n", 2,
         "[journal] max_batch: expected a whole number, got \"12abc\""},
        {"[harkd]\ngrace = 301s\n", 2, "[harkd] grace: \"301s\" is out of range"},
        {"[harkd]\ngrace = 5\n", 2,
         "[harkd] grace: expected a duration like 500ms, 90s, 5m, 2h or 7d, got \"5\""},
        {"[harkd]\ngrace = 999999999999w\n", 2,
         "[harkd] grace: expected a duration like 500ms, 90s, 5m, 2h or 7d, "
         "got \"999999999999w\""},
        {"[gateway]\nmax_body = 4T\n", 2,
         "[gateway] max_body: expected a size like 65536, 64k or 4M, got \"4T\""},
        {"[gateway]\nmax_body = 1000\n", 2, "[gateway] max_body: \"1000\" is out of range"},
        {"[gateway]\nlisten = localhost\n", 2,
         "[gateway] listen: expected HOST:PORT, got \"localhost\""},
        {"[gateway]\nlisten = 0.0.0.0:70000\n", 2,
         "[gateway] listen: expected HOST:PORT, got \"0.0.0.0:70000\""},
        {"[gateway]\npublic_url = ftp://x\n", 2,
         "[gateway] public_url: expected an http:// or https:// URL, got \"ftp://x\""},
        {"[journal]\nendpoint = tcp://host\n", 2,
         "[journal] endpoint: expected ipc://PATH (under 100 bytes) or "
         "tcp://HOST:PORT, got \"tcp://host\""},
        {"[journal]\nsynchronous = FULL\n", 2,
         "[journal] synchronous: expected one of: full normal; got \"FULL\""},
        {"\n\n[team.support]\nx = 1\n", 4, "unknown section [team.support]"},
        {"key_before_section = 1\n", 1, "unknown section []"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[256];
        config_t *cfg = s_load("one.conf", cases[i].text, path, sizeof path);
        if (!cfg)
            continue;
        CHECK_INT(config_error_count(cfg), 1);
        s_check_error(cfg, 0, path, cases[i].line, cases[i].msg);
        config_destroy(&cfg);
    }
}

/* s_first_of_type - the first table row of type t in a plain section */
static const config_setting_t *s_first_of_type(config_type_t t)
{
    for (const config_setting_t *s = config_table; s->section; s++)
        if (s->type == t && !strchr(s->section, '*'))
            return s;
    return NULL;
}

static void test_bool_values(void)
{
    const config_setting_t *s = s_first_of_type(CFG_BOOL);
    if (!s) {
        printf("     (no yes/no setting in config_table: skipped)\n");
        return;
    }
    static const struct {
        const char *v;
        int want;
    } ok[] = {{"yes", 1}, {"true", 1}, {"on", 1}, {"1", 1},
              {"no", 0}, {"false", 0}, {"off", 0}, {"0", 0}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        char text[256], path[256];
        snprintf(text, sizeof text, "[%s]\n%s = %s\n", s->section, s->key, ok[i].v);
        config_t *cfg = s_load("bool.conf", text, path, sizeof path);
        if (!cfg)
            continue;
        CHECK_INT(config_error_count(cfg), 0);
        CHECK_INT(config_bool(cfg, s->section, s->key), ok[i].want);
        config_destroy(&cfg);
    }
    char text[256], path[256], msg[256];
    snprintf(text, sizeof text, "[%s]\n%s = maybe\n", s->section, s->key);
    config_t *cfg = s_load("bool.conf", text, path, sizeof path);
    if (!cfg)
        return;
    CHECK_INT(config_error_count(cfg), 1);
    snprintf(msg, sizeof msg, "[%s] %s: expected yes or no, got \"maybe\"", s->section,
             s->key);
    s_check_error(cfg, 0, path, 2, msg);
    config_destroy(&cfg);
}

static void test_email_values(void)
{
    const config_setting_t *s = s_first_of_type(CFG_EMAIL);
    if (!s) {
        printf("     (no email setting in config_table: skipped)\n");
        return;
    }
    static const struct {
        const char *v;
        int ok;
    } cases[] = {
        {"a@b", 1}, {"shop+news@example.com", 1}, {"no-at-sign", 0}, {"@example.com", 0},
        {"a@", 0}, {"a@b@c", 0}, {"a b@c", 0}, {"<a@b>", 0}, {"a@b,c@d", 0},
        {"a;b@example.com", 0}, {"\xc3\xa4@example.com", 0}, {"a@[127.0.0.1]", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[256], path[256];
        snprintf(text, sizeof text, "[%s]\n%s = %s\n", s->section, s->key, cases[i].v);
        config_t *cfg = s_load("email.conf", text, path, sizeof path);
        if (!cfg)
            continue;
        if ((config_error_count(cfg) == 0) != cases[i].ok)
            fprintf(stderr, "  email \"%s\"\n", cases[i].v);
        CHECK_INT(config_error_count(cfg), cases[i].ok ? 0 : 1);
        config_destroy(&cfg);
    }
}

/* s_kind_cases - each value of a kind's key loads cleanly (ok) or with one
 * error "FILE:2: [section] key: <msg...>" naming file, line and key */
typedef struct {
    const char *v;
    int ok;
} s_case_t;

static void s_kind_cases(config_type_t type, const char *name, const s_case_t *cases, size_t n)
{
    const config_setting_t *s = s_first_of_type(type);
    CHECK(s != NULL);
    if (!s)
        return;
    for (size_t i = 0; i < n; i++) {
        char text[256], path[256], want[600];
        snprintf(text, sizeof text, "[%s]\n%s = %s\n", s->section, s->key, cases[i].v);
        config_t *cfg = s_load("kind.conf", text, path, sizeof path);
        if (!cfg)
            continue;
        if ((config_error_count(cfg) == 0) != cases[i].ok)
            fprintf(stderr, "  %s \"%s\"\n", name, cases[i].v);
        CHECK_INT(config_error_count(cfg), cases[i].ok ? 0 : 1);
        if (!cases[i].ok && config_error_count(cfg) == 1) {
            snprintf(want, sizeof want, "%s:2: [%s] %s: ", path, s->section, s->key);
            CHECK(strncmp(config_error(cfg, 0), want, strlen(want)) == 0);
            CHECK(strstr(config_error(cfg, 0), cases[i].v) != NULL);
        }
        config_destroy(&cfg);
    }
}

static void test_time_values(void)
{
    static const s_case_t cases[] = {
        {"00:00", 1}, {"09:30", 1}, {"23:59", 1}, {"9:00", 0}, {"24:00", 0},
        {"12:60", 0}, {"12:5", 0},  {"noon", 0},  {"12.30", 0},
    };
    s_kind_cases(CFG_TIME, "time", cases, sizeof cases / sizeof *cases);
    int m = -1;
    CHECK_INT(config_parse_time("09:30", &m), 0);
    CHECK_INT(m, 570);
    CHECK_INT(config_parse_time("23:59", &m), 0);
    CHECK_INT(m, 23 * 60 + 59);
    CHECK_INT(config_parse_time(NULL, &m), -1);
}

static void test_time_zone_values(void)
{
    static const s_case_t cases[] = {
        {"UTC", 1},           {"Europe/Warsaw", 1}, {"America/Argentina/Buenos_Aires", 1},
        {"Mars/Olympus", 0},  {"../etc/passwd", 0}, {"/etc/localtime", 0},
        {"Europe/Warsaw ", 1}, /* inih trims the value */
        {"Europe", 0},        /* a directory, not a zone */
    };
    s_kind_cases(CFG_TZ, "zone", cases, sizeof cases / sizeof *cases);
}

static void test_hour_range_values(void)
{
    static const s_case_t cases[] = {
        {"9-20", 1},  {"0-24", 1},  {"09:00-17:00", 1}, {"9-17:00", 1}, {"20-9", 0},
        {"9-9", 0},   {"0-25", 0},  {"24-24", 0},       {"09:30-17:00", 0},
        {"nine", 0},  {"9", 0},     {"-9", 0},          {"9-", 0},
    };
    s_kind_cases(CFG_HOURS, "hours", cases, sizeof cases / sizeof *cases);
    int a = -1, b = -1;
    CHECK_INT(config_parse_hours("09:00-17:00", &a, &b), 0);
    CHECK_INT(a, 9);
    CHECK_INT(b, 17);
    CHECK_INT(config_parse_hours("0-24", &a, &b), 0);
    CHECK_INT(a, 0);
    CHECK_INT(b, 24);
}

static void test_weekday_values(void)
{
    static const s_case_t cases[] = {
        {"mon-fri", 1}, {"mon,wed,fri", 1}, {"sat sun", 1}, {"all", 1}, {"sat-mon", 1},
        {"Mon-Sat", 1}, {"mon-xyz", 0},     {"monday", 0},  {"", 0},    {"1-5", 0},
    };
    s_kind_cases(CFG_DAYS, "days", cases, sizeof cases / sizeof *cases);
    unsigned m = 0;
    CHECK_INT(config_parse_days("mon-fri", &m), 0);
    CHECK_INT(m, 0x3e);
    CHECK_INT(config_parse_days("sat-mon", &m), 0); /* wraps: sat, sun, mon */
    CHECK_INT(m, 0x43);
    CHECK_INT(config_parse_days("mon tue", &m), 0);
    CHECK_INT(m, 0x06);
    CHECK_INT(config_parse_days("all", &m), 0);
    CHECK_INT(m, 0x7f);
    CHECK_INT(config_parse_days(" , ", &m), -1);
}

static void test_word_values(void)
{
    static const s_case_t cases[] = {
        {"on", 1}, {"off", 1}, {"GIFT", 1}, {"ABCDEFGHIJKLMNOP", 1},
        {"ABCDEFGHIJKLMNOPQ", 0}, {"GIFT-2027", 0}, {"gift code", 0}, {"Ünï", 0},
    };
    s_kind_cases(CFG_WORD, "word", cases, sizeof cases / sizeof *cases);
}

static void test_address_list_values(void)
{
    static const s_case_t cases[] = {
        {"127.0.0.1", 1},     {"127.0.0.1 ::1", 1},  {"10.0.0.1,10.0.0.2", 1},
        {"proxy.example", 0}, {"127.0.0.256", 0},    {"10.0.0.0/8", 0},
    };
    s_kind_cases(CFG_ADDRS, "addresses", cases, sizeof cases / sizeof *cases);
}

static void test_url_values(void)
{
    static const s_case_t cases[] = {
        {"http://127.0.0.1:8080", 1}, {"https://shop.example.com/hark", 1},
        {"ftp://example.com", 0},     {"shop.example.com", 0},
        {"http://a b", 0},
    };
    s_kind_cases(CFG_URL, "url", cases, sizeof cases / sizeof *cases);
}

static void test_typed_getters(void)
{
    char path[256];
    config_t *cfg = s_load("typed.conf",
                           "[survey]\nwindow_hours = 08:00-18:00\nwindow_days = tue thu\n"
                           "[milestone]\ntime = 07:45\n",
                           path, sizeof path);
    CHECK_INT(config_error_count(cfg), 0);
    int a = -1, b = -1;
    CHECK_INT(config_hours(cfg, "survey", "window_hours", &a, &b), 0);
    CHECK_INT(a, 8);
    CHECK_INT(b, 18);
    CHECK_INT(config_days(cfg, "survey", "window_days"), (1u << 2) | (1u << 4));
    CHECK_INT(config_time_min(cfg, "milestone", "time"), 7 * 60 + 45);
    /* unset keys: all day, every day */
    CHECK_INT(config_hours(cfg, "nosuch", "key", &a, &b), -1);
    CHECK_INT(a, 0);
    CHECK_INT(b, 24);
    CHECK_INT(config_days(cfg, "nosuch", "key"), 0x7f);
    config_destroy(&cfg);
}

static void test_print_shows_every_key_in_table_order(void)
{
    char path[256];
    config_t *cfg = s_load("print.conf", "[survey]\ndelay = 3d\n[mailer]\nfrom = shop@example.com\n",
                           path, sizeof path);
    CHECK_INT(config_error_count(cfg), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    config_print(cfg, CONFIG_PRINT_VALUES, fp);
    fclose(fp);
    size_t keys = 0;
    for (const config_setting_t *s = config_table; s->section; s++)
        keys++;
    size_t lines = 0;
    for (const char *p = buf; p && *p; p++)
        lines += *p == '\n';
    CHECK_INT(lines, keys);
    CHECK(strstr(buf, "\nsurvey.delay = 3d\n") != NULL);
    CHECK(strstr(buf, "\nmailer.from = shop@example.com\n") != NULL);
    CHECK(strstr(buf, "\nsurvey.throttle = 90d\n") != NULL);
    CHECK(strstr(buf, "\nhark.token_key =\n") != NULL); /* unset: empty */
    CHECK(strstr(buf, "hark.state_dir = var\n") == buf);
    free(buf);

    fp = open_memstream(&buf, &len);
    config_print(cfg, CONFIG_PRINT_CHANGED, fp);
    fclose(fp);
    CHECK_STR(buf, "mailer.from = shop@example.com\nsurvey.delay = 3d\n");
    free(buf);

    fp = open_memstream(&buf, &len);
    config_print(NULL, CONFIG_PRINT_DEFAULTS, fp);
    fclose(fp);
    CHECK(strstr(buf, "\nsurvey.delay = 7d\n") != NULL);
    CHECK(strstr(buf, "\njournal.endpoint = ipc://{state_dir}/journal.sock\n") != NULL);
    free(buf);
    config_destroy(&cfg);
}

static void test_good_endpoints_and_listeners_pass(void)
{
    char path[256];
    config_t *cfg = s_load("ok.conf",
                           "[journal]\n"
                           "endpoint = tcp://127.0.0.1:5555\n"
                           "pub_endpoint = tcp://*:5556\n"
                           "control = ipc:///tmp/x.ctl\n"
                           "[gateway]\n"
                           "listen = [::1]:8080\n"
                           "public_url = https://example.com/hark\n"
                           "max_body = 1M\n",
                           path, sizeof path);
    if (!cfg)
        return;
    s_print_errors(cfg);
    CHECK_INT(config_error_count(cfg), 0);
    CHECK_STR(config_get(cfg, "journal", "pub_endpoint"), "tcp://*:5556");
    CHECK_STR(config_get(cfg, "gateway", "listen"), "[::1]:8080");
    CHECK_INT(config_size(cfg, "gateway", "max_body"), 1 << 20);
    config_destroy(&cfg);
}

static void test_line_length_limit_is_exact(void)
{
    /* 198 characters is the longest line inih can take whole */
    for (int len = 196; len <= 201; len++) {
        char text[400], path[256];
        int n = snprintf(text, sizeof text, "[hark]\nservices = ");
        while (n < 7 + len)
            text[n++] = 'w';
        text[n++] = '\n';
        text[n] = '\0';
        config_t *cfg = s_load("len.conf", text, path, sizeof path);
        if (!cfg)
            continue;
        if (len <= 198) {
            CHECK_INT(config_error_count(cfg), 0);
            const char *v = config_get(cfg, "hark", "services");
            CHECK(v != NULL && strlen(v) == (size_t)len - 11);
        } else {
            CHECK_INT(config_error_count(cfg), 1);
            s_check_error(cfg, 0, path, 2, "line is longer than 198 characters");
        }
        config_destroy(&cfg);
    }
}

static void test_missing_file_is_one_error_and_defaults(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/does-not-exist.conf", s_dir);
    config_t *cfg = config_load(path);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_INT(config_error_count(cfg), 1);
    s_check_error(cfg, 0, path, 0, "cannot open: No such file or directory");
    CHECK_STR(config_get(cfg, "journal", "synchronous"), s_def("journal", "synchronous"));
    config_destroy(&cfg);
}

static void test_list_splits_on_spaces_and_commas(void)
{
    char path[256];
    config_t *cfg = s_load("list.conf", "[hark]\nservices = a, b,,c \t d,e\n", path,
                           sizeof path);
    if (!cfg)
        return;
    CHECK_INT(config_error_count(cfg), 0);
    const char *out[8] = {0};
    CHECK_INT(config_list(cfg, "hark", "services", out, 8), 5);
    CHECK_STR(out[0], "a");
    CHECK_STR(out[1], "b");
    CHECK_STR(out[2], "c");
    CHECK_STR(out[3], "d");
    CHECK_STR(out[4], "e");
    CHECK(out[5] == NULL);
    /* the value itself is untouched by splitting */
    CHECK_STR(config_get(cfg, "hark", "services"), "a, b,,c \t d,e");

    /* never more than max pointers written */
    const char *few[3] = {NULL, NULL, "sentinel"};
    CHECK_INT(config_list(cfg, "hark", "services", few, 2), 2);
    CHECK_STR(few[0], "a");
    CHECK_STR(few[1], "b");
    CHECK_STR(few[2], "sentinel");

    /* unset key: nothing */
    CHECK_INT(config_list(cfg, "harkd", "bin_dir", out, 8), 0);
    config_destroy(&cfg);

    /* the default list splits the same way (journal first: it starts first) */
    cfg = s_load("list2.conf", "", path, sizeof path);
    if (!cfg)
        return;
    size_t n = config_list(cfg, "hark", "services", out, 8);
    CHECK(n >= 2);
    CHECK_STR(out[0], "journal");
    for (size_t i = 0; i < n; i++)
        CHECK(out[i][0] && !strpbrk(out[i], " ,\t"));
    config_destroy(&cfg);
}

static void test_parse_duration(void)
{
    static const struct {
        const char *s;
        long long ms;
    } ok[] = {
        {"0ms", 0}, {"0", 0}, {"500ms", 500}, {"90s", 90000}, {"5m", 300000}, {"5min", 300000},
        {"2h", 7200000}, {"7d", 604800000LL}, {"1w", 604800000LL},
        {"999999999999ms", 999999999999LL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        long long ms = -1;
        CHECK_INT(config_parse_duration(ok[i].s, &ms), 0);
        CHECK_INT(ms, ok[i].ms);
    }
    const char *bad[] = {"", "5", "00", "01", "ms", "-5s", "+5s", " 5s", "5 s", "5S", "5sec", "1.5s",
                         "5s ", "1000000000000s", "999999999999w", "999999999999d", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        long long ms = 12345;
        if (config_parse_duration(bad[i], &ms) != -1) {
            fprintf(stderr, "  accepted duration \"%s\"\n", bad[i] ? bad[i] : "(null)");
            CHECK(0);
        }
        CHECK_INT(ms, 12345);
    }
}

static void test_parse_size(void)
{
    static const struct {
        const char *s;
        long long n;
    } ok[] = {
        {"0", 0}, {"512", 512}, {"64k", 65536}, {"64K", 65536}, {"64kB", 65536},
        {"4M", 4194304}, {"4m", 4194304}, {"1G", 1073741824LL}, {"2gb", 2147483648LL},
        {"100b", 100},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        long long n = -1;
        CHECK_INT(config_parse_size(ok[i].s, &n), 0);
        CHECK_INT(n, ok[i].n);
    }
    const char *bad[] = {"", "k", "-1", "4T", "4kk", "4 k", "1.5M", "4MiB",
                         "1000000000000", "999999999999G", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        long long n = 12345;
        if (config_parse_size(bad[i], &n) != -1) {
            fprintf(stderr, "  accepted size \"%s\"\n", bad[i] ? bad[i] : "(null)");
            CHECK(0);
        }
        CHECK_INT(n, 12345);
    }
}

static void test_ensure_state_dir_creates_nested_private_dir(void)
{
    char path[256], text[256], sd[200];
    snprintf(sd, sizeof sd, "%s/a/b/state", s_dir);
    snprintf(text, sizeof text, "[hark]\nstate_dir = %s\n", sd);
    config_t *cfg = s_load("mk.conf", text, path, sizeof path);
    if (!cfg)
        return;
    CHECK_INT(config_ensure_state_dir(cfg), 0);
    struct stat st;
    CHECK_INT(stat(sd, &st), 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK_INT(st.st_mode & 0777, 0700);
    CHECK_INT(config_ensure_state_dir(cfg), 0); /* again: already there */
    config_destroy(&cfg);

    /* a file in the way is an error */
    snprintf(text, sizeof text, "[hark]\nstate_dir = %s/mk.conf/sub\n", s_dir);
    cfg = s_load("mk2.conf", text, path, sizeof path);
    if (!cfg)
        return;
    CHECK_INT(config_ensure_state_dir(cfg), -1);
    config_destroy(&cfg);
}

static void test_table_defaults_are_all_valid(void)
{
    /* every default must pass its own check, or an empty file would not
     * load cleanly; and bounds must contain the default */
    for (const config_setting_t *s = config_table; s->section; s++) {
        CHECK(s->key != NULL && s->help != NULL);
        if (s->type == CFG_DURATION && s->def) {
            long long ms = -1;
            CHECK_INT(config_parse_duration(s->def, &ms), 0);
            CHECK(ms >= s->min && ms <= s->max);
        }
        if (s->type == CFG_SIZE && s->def) {
            long long n = -1;
            CHECK_INT(config_parse_size(s->def, &n), 0);
            CHECK(n >= s->min && n <= s->max);
        }
        if (s->type == CFG_ENUM)
            CHECK(s->choices != NULL && s->def && strstr(s->choices, s->def) != NULL);
        int a, b, m;
        unsigned d;
        if (s->type == CFG_TIME && s->def)
            CHECK_INT(config_parse_time(s->def, &m), 0);
        if (s->type == CFG_HOURS && s->def)
            CHECK_INT(config_parse_hours(s->def, &a, &b), 0);
        if (s->type == CFG_DAYS && s->def)
            CHECK_INT(config_parse_days(s->def, &d), 0);
    }
}

int main(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/hark-test-config-XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    UNIT_RUN(test_empty_file_gets_every_default);
    UNIT_RUN(test_values_override_defaults);
    UNIT_RUN(test_indented_keys_are_separate_keys);
    UNIT_RUN(test_utf8_bom_and_crlf_are_accepted);
    UNIT_RUN(test_state_dir_is_expanded_everywhere);
    UNIT_RUN(test_relative_state_dir_is_made_absolute);
    UNIT_RUN(test_long_state_dir_makes_default_endpoints_fail);
    UNIT_RUN(test_each_error_names_file_and_line);
    UNIT_RUN(test_one_error_per_file_for_single_mistakes);
    UNIT_RUN(test_bool_values);
    UNIT_RUN(test_email_values);
    UNIT_RUN(test_time_values);
    UNIT_RUN(test_time_zone_values);
    UNIT_RUN(test_hour_range_values);
    UNIT_RUN(test_weekday_values);
    UNIT_RUN(test_word_values);
    UNIT_RUN(test_address_list_values);
    UNIT_RUN(test_url_values);
    UNIT_RUN(test_typed_getters);
    UNIT_RUN(test_print_shows_every_key_in_table_order);
    UNIT_RUN(test_good_endpoints_and_listeners_pass);
    UNIT_RUN(test_line_length_limit_is_exact);
    UNIT_RUN(test_missing_file_is_one_error_and_defaults);
    UNIT_RUN(test_list_splits_on_spaces_and_commas);
    UNIT_RUN(test_parse_duration);
    UNIT_RUN(test_parse_size);
    UNIT_RUN(test_ensure_state_dir_creates_nested_private_dir);
    UNIT_RUN(test_table_defaults_are_all_valid);
    nftw(s_dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    return UNIT_END();
}
