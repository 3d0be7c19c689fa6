/*
 * test_curve.c - unit tests for services/common/curve.c: keypairs made
 * once (secret mode 0600, public key derived from it), several processes
 * racing to make the same one, and CURVE asked of tcp:// endpoints only.
 * The handshakes themselves are tested end to end (tests/e2e/test_curve.py).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "config.h"
#include "curve.h"
#include "log.h"
#include "unit.h"
#include "unit_file.h"

static char s_dir[64];

/* s_read - a file's first line */
static void s_read(const char *dir, const char *file, char *out, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    if (f) {
        if (fgets(out, (int)len, f))
            out[strcspn(out, "\n")] = '\0';
        fclose(f);
    }
}

static void test_curve__a_keypair_is_made_once_its_secret_0600_and_its_public_key_matches(void)
{
    char keys[128], secret[64], pub[64], again[64], derived[41];
    snprintf(keys, sizeof keys, "%s/keys", s_dir);
    int made = 0;
    CHECK_INT(curve_keygen(keys, "mailer", &made), 0);
    CHECK_INT(made, 1);
    s_read(keys, "curve-mailer.key", secret, sizeof secret);
    s_read(keys, "curve-mailer.pub", pub, sizeof pub);
    CHECK_INT(strlen(secret), CURVE_KEY_LEN);
    CHECK_INT(zmq_curve_public(derived, secret), 0);
    CHECK_STR(pub, derived);
    struct stat st;
    char path[256];
    snprintf(path, sizeof path, "%s/curve-mailer.key", keys);
    CHECK_INT(stat(path, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0600);
    CHECK_INT(curve_keygen(keys, "mailer", &made), 0);
    CHECK_INT(made, 0);
    s_read(keys, "curve-mailer.key", again, sizeof again);
    CHECK_STR(again, secret);
    CHECK_INT(curve_public(keys, "mailer", again, sizeof again), 0);
    CHECK_STR(again, pub);
    CHECK_INT(curve_public(keys, "nobody", again, sizeof again), -1);
}

static void test_curve__makers_racing_end_with_one_keypair(void)
{
    char keys[128], pub[64], derived[41], secret[64];
    snprintf(keys, sizeof keys, "%s/race", s_dir);
    mkdir(keys, 0700);
    for (int i = 0; i < 4; i++)
        if (fork() == 0) {
            int made;
            _exit(curve_keygen(keys, "journal", &made) == 0 ? 0 : 1);
        }
    int st, ok = 0;
    while (wait(&st) > 0)
        ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    CHECK_INT(ok, 4);
    s_read(keys, "curve-journal.key", secret, sizeof secret);
    s_read(keys, "curve-journal.pub", pub, sizeof pub);
    CHECK_INT(zmq_curve_public(derived, secret), 0);
    CHECK_STR(pub, derived);
}

static void test_curve__only_tcp_endpoints_need_a_keypair(void)
{
    char conf[128], text[300];
    snprintf(conf, sizeof conf, "%s/hark.conf", s_dir);
    snprintf(text, sizeof text, "[hark]\nstate_dir = %s/var\ncurve_keys = %s/nokeys\n", s_dir,
             s_dir);
    unit_write_file(conf, text);
    config_t *cfg = config_load(conf);
    CHECK(cfg && config_error_count(cfg) == 0);
    unsetenv("HARK_CURVE_KEY");
    unsetenv("HARK_CURVE_PEERS");
    curve_init(cfg, "journal");
    CHECK_INT(curve_needed(cfg), 0);
    void *zctx = zmq_ctx_new();
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    CHECK_INT(curve_server(s, "ipc:///tmp/x.sock"), 0);
    CHECK_INT(curve_client(s, "ipc:///tmp/x.sock"), 0);
    CHECK_INT(curve_server(s, "tcp://127.0.0.1:5555"), -1); /* no keypair: refused */
    CHECK_INT(curve_client(s, "tcp://127.0.0.1:5555"), -1);
    zmq_close(s);
    zmq_ctx_term(zctx);
    config_destroy(&cfg);
}

int main(void)
{
    log_init("test_curve");
    snprintf(s_dir, sizeof s_dir, "/tmp/hark-test-curve-XXXXXX");
    if (!mkdtemp(s_dir))
        return 1;
    UNIT_RUN(test_curve__a_keypair_is_made_once_its_secret_0600_and_its_public_key_matches);
    UNIT_RUN(test_curve__makers_racing_end_with_one_keypair);
    UNIT_RUN(test_curve__only_tcp_endpoints_need_a_keypair);
    unit_remove_dir(s_dir);
    return UNIT_END();
}
