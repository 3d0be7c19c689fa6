/*
 * test_keys.c - unit tests for services/common/keys.c.
 *
 * Random hex (length, charset, no repeats), key files made once with mode
 * 0600 under <state_dir>/keys/ in a real temp dir, several processes racing
 * to create the same key, the constant-time comparison, and the choice
 * between a configured key and the generated one.
 */
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "keys.h"
#include "unit.h"
#include "unit_file.h"

static char s_dir[64];

/* s_rm - nftw callback removing one entry */
static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* s_count_entries - names in dir besides . and .., -1 if unreadable */
static int s_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* s_is_hex - s is exactly n lowercase hex digits */
static int s_is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return 0;
    return 1;
}

static void test_random_hex_has_length_and_charset(void)
{
    size_t sizes[] = {0, 1, 16, 32, 64};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char out[130];
        memset(out, 'Z', sizeof out);
        CHECK_INT(keys_random_hex(out, sizes[i]), 0);
        CHECK(s_is_hex(out, 2 * sizes[i]));
        CHECK_INT(out[2 * sizes[i] + 1], 'Z'); /* nothing written past the NUL */
    }
}

static void test_random_hex_refuses_more_than_64_bytes(void)
{
    char out[300] = "untouched";
    CHECK_INT(keys_random_hex(out, 65), -1);
    CHECK_STR(out, "untouched");
}

static void test_random_hex_differs_between_calls(void)
{
    char a[65], b[65];
    CHECK_INT(keys_random_hex(a, 32), 0);
    CHECK_INT(keys_random_hex(b, 32), 0);
    CHECK(strcmp(a, b) != 0);
    /* every hex digit shows up across a few hundred bytes */
    int seen[16] = {0};
    for (int round = 0; round < 8; round++) {
        CHECK_INT(keys_random_hex(a, 32), 0);
        for (int i = 0; i < 64; i++)
            seen[strchr("0123456789abcdef", a[i]) - "0123456789abcdef"] = 1;
    }
    for (int d = 0; d < 16; d++)
        CHECK(seen[d]);
}

static void test_path_is_under_keys_dir(void)
{
    char p[256];
    keys_path("/var/lib/hark", "ingest", p, sizeof p);
    CHECK_STR(p, "/var/lib/hark/keys/ingest.key");
}

static void test_load_or_create_makes_private_file_once(void)
{
    char sd[128], path[256], k1[65], k2[65];
    snprintf(sd, sizeof sd, "%s/once", s_dir);
    CHECK_INT(mkdir(sd, 0700), 0);
    CHECK_INT(keys_load_or_create(sd, "admin", k1, sizeof k1), 0);
    CHECK(s_is_hex(k1, 64));

    keys_path(sd, "admin", path, sizeof path);
    struct stat st;
    CHECK_INT(stat(path, &st), 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK_INT(st.st_mode & 0777, 0600);
    CHECK_INT(st.st_size, 65); /* 64 hex + newline */
    char kd[160];
    snprintf(kd, sizeof kd, "%s/keys", sd);
    CHECK_INT(stat(kd, &st), 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK_INT(st.st_mode & 0077, 0);

    /* the file holds the key */
    FILE *f = fopen(path, "r");
    char line[100] = "";
    CHECK(f && fgets(line, sizeof line, f));
    if (f)
        fclose(f);
    line[strcspn(line, "\n")] = '\0';
    CHECK_STR(line, k1);

    /* second call: same key, no new file */
    CHECK_INT(keys_load_or_create(sd, "admin", k2, sizeof k2), 0);
    CHECK_STR(k2, k1);
    CHECK_INT(stat(path, &st), 0);
    CHECK_INT(st.st_size, 65);

    /* another name: another key */
    CHECK_INT(keys_load_or_create(sd, "ingest", k2, sizeof k2), 0);
    CHECK(s_is_hex(k2, 64));
    CHECK(strcmp(k1, k2) != 0);

    /* no temp files left behind */
    CHECK_INT(s_count_entries(kd), 2);
}

static void test_load_reads_an_existing_file_and_strips_newline(void)
{
    char sd[128], kd[160], path[256], k[65];
    snprintf(sd, sizeof sd, "%s/given", s_dir);
    snprintf(kd, sizeof kd, "%s/keys", sd);
    CHECK_INT(mkdir(sd, 0700), 0);
    CHECK_INT(mkdir(kd, 0700), 0);
    keys_path(sd, "x", path, sizeof path);
    if (unit_write_file(path, "operator-chosen-secret\r\n"))
        return;
    CHECK_INT(keys_load_or_create(sd, "x", k, sizeof k), 0);
    CHECK_STR(k, "operator-chosen-secret");
}

static void test_load_or_create_fails_without_state_dir(void)
{
    char sd[128], k[65] = "";
    snprintf(sd, sizeof sd, "%s/missing/deeper", s_dir);
    CHECK_INT(keys_load_or_create(sd, "x", k, sizeof k), -1);
}

static void test_load_or_create_refuses_small_buffer(void)
{
    char sd[128], k[16];
    snprintf(sd, sizeof sd, "%s/small", s_dir);
    CHECK_INT(mkdir(sd, 0700), 0);
    CHECK_INT(keys_load_or_create(sd, "x", k, sizeof k), -1);
    char path[256];
    keys_path(sd, "x", path, sizeof path);
    CHECK(access(path, F_OK) != 0); /* nothing half-made */
}

static void test_racing_processes_end_with_the_same_key(void)
{
    enum { N = 8 };
    char sd[128];
    snprintf(sd, sizeof sd, "%s/race", s_dir);
    CHECK_INT(mkdir(sd, 0700), 0);
    int fds[N][2];
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        CHECK_INT(pipe(fds[i]), 0);
        pids[i] = fork();
        if (pids[i] == 0) {
            char k[65] = "";
            int rc = keys_load_or_create(sd, "shared", k, sizeof k);
            if (rc == 0 && write(fds[i][1], k, 64) != 64)
                rc = -1;
            _exit(rc == 0 ? 0 : 1);
        }
        close(fds[i][1]);
    }
    char mine[65];
    CHECK_INT(keys_load_or_create(sd, "shared", mine, sizeof mine), 0);
    for (int i = 0; i < N; i++) {
        int status = -1;
        CHECK_INT(waitpid(pids[i], &status, 0), pids[i]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        char k[65] = "";
        CHECK_INT(read(fds[i][0], k, 64), 64);
        close(fds[i][0]);
        CHECK_STR(k, mine);
    }
}

static void test_equal_accepts_only_the_exact_secret(void)
{
    const char *secret = "0123456789abcdef";
    CHECK_INT(keys_equal(secret, "0123456789abcdef", 16), 1);
    CHECK_INT(keys_equal(secret, "0123456789abcdeF", 16), 0);
    CHECK_INT(keys_equal(secret, "1123456789abcdef", 16), 0);
    /* the candidate length decides, not a NUL */
    CHECK_INT(keys_equal(secret, "0123456789abcdefXYZ", 16), 1);
    CHECK_INT(keys_equal(secret, "0123456789abcdef", 15), 0);
}

static void test_equal_rejects_other_lengths_and_empty(void)
{
    const char *secret = "abcabcabc";
    CHECK_INT(keys_equal(secret, "abc", 3), 0);   /* repeats would match mod 3 */
    CHECK_INT(keys_equal(secret, "abcabcabcabc", 12), 0);
    CHECK_INT(keys_equal(secret, "abcabcab", 8), 0);
    CHECK_INT(keys_equal(secret, "", 0), 0);
    CHECK_INT(keys_equal(secret, NULL, 0), 0);
    char big[1000];
    memset(big, 'a', sizeof big);
    CHECK_INT(keys_equal(secret, big, sizeof big), 0);
}

static void test_from_config_prefers_configured_key(void)
{
    char sd[128], conf[160], k[65], g[65];
    snprintf(sd, sizeof sd, "%s/fromcfg", s_dir);
    snprintf(conf, sizeof conf, "%s/hark.conf", s_dir);
    FILE *f = fopen(conf, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fprintf(f, "[hark]\nstate_dir = %s\n[gateway]\ningest_key = from-the-file\n", sd);
    fclose(f);
    config_t *cfg = config_load(conf);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_INT(config_error_count(cfg), 0);
    CHECK_INT(config_ensure_state_dir(cfg), 0);
    CHECK_INT(keys_from_config(cfg, "gateway", "ingest_key", "ingest", k, sizeof k), 0);
    CHECK_STR(k, "from-the-file");
    char path[256];
    keys_path(sd, "ingest", path, sizeof path);
    CHECK(access(path, F_OK) != 0); /* nothing generated */

    /* unset: the generated key file, made once */
    CHECK_INT(keys_from_config(cfg, "gateway", "admin_key", "admin", k, sizeof k), 0);
    CHECK(s_is_hex(k, 64));
    CHECK_INT(keys_load_or_create(sd, "admin", g, sizeof g), 0);
    CHECK_STR(k, g);
    config_destroy(&cfg);
}

int main(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/hark-test-keys-XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    UNIT_RUN(test_random_hex_has_length_and_charset);
    UNIT_RUN(test_random_hex_refuses_more_than_64_bytes);
    UNIT_RUN(test_random_hex_differs_between_calls);
    UNIT_RUN(test_path_is_under_keys_dir);
    UNIT_RUN(test_load_or_create_makes_private_file_once);
    UNIT_RUN(test_load_reads_an_existing_file_and_strips_newline);
    UNIT_RUN(test_load_or_create_fails_without_state_dir);
    UNIT_RUN(test_load_or_create_refuses_small_buffer);
    UNIT_RUN(test_racing_processes_end_with_the_same_key);
    UNIT_RUN(test_equal_accepts_only_the_exact_secret);
    UNIT_RUN(test_equal_rejects_other_lengths_and_empty);
    UNIT_RUN(test_from_config_prefers_configured_key);
    nftw(s_dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    return UNIT_END();
}
