/*
 * curve.c - CURVE keypairs, CURVE socket options and the ZAP handler
 * (RFC 26 CurveZMQ, RFC 27 ZAP).
 */
#include "curve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "partition.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_ZAP_DOMAIN "hark"

/* The process's identity: set once by curve_init before any socket, read
 * only after (so the gateway's pump thread may read it too). */
static struct {
    const config_t *cfg;
    char name[64];
    char dir[PATH_MAX];
    char secret[CURVE_KEY_LEN + 1]; /* "" when there is no keypair */
    char public[CURVE_KEY_LEN + 1];
} s_id;

/* s_is_tcp - a tcp:// endpoint */
static int s_is_tcp(const char *endpoint)
{
    return endpoint && strncmp(endpoint, "tcp://", 6) == 0;
}

/* s_key_ok - exactly 40 Z85 characters that decode */
static int s_key_ok(const char *z85)
{
    uint8_t raw[32];
    return strlen(z85) == CURVE_KEY_LEN && zmq_z85_decode(raw, z85) != NULL;
}

/* s_read - the first line of path (a key) into out; 0/-1 */
static int s_read(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[128];
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    line[strcspn(line, "\r\n")] = '\0';
    if (!s_key_ok(line) || strlen(line) >= len)
        return -1;
    memcpy(out, line, CURVE_KEY_LEN + 1);
    return 0;
}

/* curve_keys_dir - the peers dir */
const char *curve_keys_dir(const config_t *cfg)
{
    const char *env = getenv("HARK_CURVE_PEERS");
    if (env && *env)
        return env;
    return config_get(cfg, "hark", "curve_keys");
}

/* curve_public - keys/curve-<name>.pub */
int curve_public(const char *dir, const char *name, char *out, size_t len)
{
    char path[PATH_MAX];
    if (!dir || snprintf(path, sizeof path, "%s/curve-%s.pub", dir, name) >= (int)sizeof path)
        return -1;
    return s_read(path, out, len);
}

/* curve_init - load this process's keypair */
void curve_init(const config_t *cfg, const char *name)
{
    memset(&s_id, 0, sizeof s_id);
    s_id.cfg = cfg;
    snprintf(s_id.name, sizeof s_id.name, "%s", name);
    const char *dir = curve_keys_dir(cfg);
    snprintf(s_id.dir, sizeof s_id.dir, "%s", dir ? dir : "");
    char path[PATH_MAX + 80];
    const char *env = getenv("HARK_CURVE_KEY");
    if (env && *env)
        snprintf(path, sizeof path, "%s", env);
    else
        snprintf(path, sizeof path, "%s/curve-%s.key", s_id.dir, name);
    if (s_read(path, s_id.secret, sizeof s_id.secret) < 0 ||
        zmq_curve_public(s_id.public, s_id.secret) < 0)
        s_id.secret[0] = s_id.public[0] = '\0';
}

/* curve_needed - any tcp:// endpoint in cfg */
int curve_needed(const config_t *cfg)
{
    for (const config_setting_t *s = config_table; s->section; s++)
        if (s->type == CFG_ENDPOINT && !strchr(s->section, '*') &&
            s_is_tcp(config_get(cfg, s->section, s->key)))
            return 1;
    return 0;
}

/* s_no_keypair - log why a tcp:// socket cannot be set up */
static int s_no_keypair(const char *endpoint)
{
    log_error("event=curve_no_keypair endpoint=%s keys=%s hint=\"run: hark keys --curve\"",
              log_value(endpoint), log_value(s_id.dir));
    return -1;
}

/* curve_server - CURVE server options */
int curve_server(void *sock, const char *endpoint)
{
    if (!s_is_tcp(endpoint))
        return 0;
    if (!s_id.secret[0])
        return s_no_keypair(endpoint);
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s_id.secret, CURVE_KEY_LEN + 1) < 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, S_ZAP_DOMAIN, strlen(S_ZAP_DOMAIN)) < 0) {
        log_error("event=curve_failed endpoint=%s error=\"%s\"", log_value(endpoint),
                  zmq_strerror(errno));
        return -1;
    }
    return 0;
}

/* s_owner - the section whose endpoint setting is endpoint */
static const char *s_owner(const char *endpoint)
{
    if (!s_id.cfg)
        return NULL;
    for (const config_setting_t *s = config_table; s->section; s++) {
        if (s->type != CFG_ENDPOINT || strchr(s->section, '*'))
            continue;
        const char *v = config_get(s_id.cfg, s->section, s->key);
        if (v && strcmp(v, endpoint) == 0)
            return s->section;
        /* the other partitions of a service share its keypair */
        long long n = config_default(s->section, "partitions")
                          ? config_int(s_id.cfg, s->section, "partitions") : 1;
        char part[512];
        for (int k = 1; v && k < n; k++)
            if (partition_endpoint(v, k, part, sizeof part) == 0 && strcmp(part, endpoint) == 0)
                return s->section;
    }
    return NULL;
}

/* curve_client_as - CURVE client options towards server's key */
int curve_client_as(void *sock, const char *endpoint, const char *server)
{
    if (!s_is_tcp(endpoint))
        return 0;
    if (!s_id.secret[0])
        return s_no_keypair(endpoint);
    char key[CURVE_KEY_LEN + 1];
    if (!server || curve_public(s_id.dir, server, key, sizeof key) < 0) {
        log_error("event=curve_no_server_key endpoint=%s server=%s keys=%s",
                  log_value(endpoint), log_value(server ? server : "?"), log_value(s_id.dir));
        return -1;
    }
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, key, CURVE_KEY_LEN + 1) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, s_id.public, CURVE_KEY_LEN + 1) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s_id.secret, CURVE_KEY_LEN + 1) < 0) {
        log_error("event=curve_failed endpoint=%s error=\"%s\"", log_value(endpoint),
                  zmq_strerror(errno));
        return -1;
    }
    return 0;
}

/* curve_client - towards the service that owns endpoint */
int curve_client(void *sock, const char *endpoint)
{
    if (!s_is_tcp(endpoint))
        return 0;
    return curve_client_as(sock, endpoint, s_owner(endpoint));
}

struct curve_zap {
    void *sock;
    /* a refused client reconnects every 100 ms or so: its refusal is
     * logged once, then once a minute with how many were not */
    char last[256];
    int64_t last_ms;
    unsigned repeats;
};

/* curve_zap_new - bind the ZAP handler */
curve_zap_t *curve_zap_new(void *zctx)
{
    curve_zap_t *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    z->sock = zmq_socket(zctx, ZMQ_REP);
    if (!z->sock) {
        free(z);
        return NULL;
    }
    int linger = 0;
    zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(z->sock, S_ZAP_ENDPOINT) < 0) {
        log_error("event=zap_bind_failed error=\"%s\"", zmq_strerror(errno));
        curve_zap_destroy(&z);
        return NULL;
    }
    return z;
}

/* curve_zap_destroy - close and free; safe on NULL and twice */
void curve_zap_destroy(curve_zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zmq_close((*self_p)->sock);
    free(*self_p);
    *self_p = NULL;
}

void *curve_zap_socket(const curve_zap_t *z)
{
    return z->sock;
}

/* s_refused - log a refusal, the same one again at most once a minute */
static void s_refused(curve_zap_t *z, const char *mech, const char *key, const char *address)
{
    char now[sizeof z->last];
    snprintf(now, sizeof now, "%s %s %s", mech, key, address);
    int64_t t = clock_mono_ms();
    if (strcmp(now, z->last) == 0 && t - z->last_ms < 60000) {
        z->repeats++;
        return;
    }
    /* the key is Z85 we encoded, but it is the peer's choice: quoted like
     * any outside text, as is the address */
    log_warn("event=curve_refused mechanism=%s key=%s address=%s repeats=%u", log_value(mech),
             log_value(key), log_value(address), z->repeats);
    snprintf(z->last, sizeof z->last, "%s", now);
    z->last_ms = t;
    z->repeats = 0;
}

/* s_admitted - the name of the peers dir's public key equal to key, into
 * name; 1 when found.  Read at each handshake, so a key added with `hark
 * keys --curve` is admitted without a restart (handshakes are rare). */
static int s_admitted(const char *key, char *name, size_t len)
{
    DIR *d = opendir(s_id.dir);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= 10 || strncmp(e->d_name, "curve-", 6) != 0 ||
            strcmp(e->d_name + n - 4, ".pub") != 0)
            continue;
        char who[256];
        snprintf(who, sizeof who, "%.*s", (int)(n - 10), e->d_name + 6);
        char pub[CURVE_KEY_LEN + 1];
        if (curve_public(s_id.dir, who, pub, sizeof pub) == 0 && strcmp(pub, key) == 0) {
            snprintf(name, len, "%s", who);
            found = 1;
        }
    }
    closedir(d);
    return found;
}

/* s_frame - frame i of the request as a NUL-terminated string (cut) */
static void s_frame(zmq_msg_t *f, size_t n, size_t i, char *out, size_t len)
{
    out[0] = '\0';
    if (i >= n)
        return;
    size_t sz = zmq_msg_size(&f[i]);
    if (sz >= len)
        sz = len - 1;
    memcpy(out, zmq_msg_data(&f[i]), sz);
    out[sz] = '\0';
}

/* s_zap_one - answer one ZAP request (RFC 27): version, request id,
 * domain, address, identity, mechanism, credentials */
static void s_zap_one(curve_zap_t *z, zmq_msg_t *f, size_t n)
{
    void *sock = z->sock;
    char version[8], mech[16], address[128], key[CURVE_KEY_LEN + 1] = "", who[256] = "";
    s_frame(f, n, 0, version, sizeof version);
    s_frame(f, n, 5, mech, sizeof mech);
    s_frame(f, n, 3, address, sizeof address);
    const char *status = "400", *text = "not allowed";
    if (n >= 7 && strcmp(version, "1.0") == 0 && strcmp(mech, "CURVE") == 0 &&
        zmq_msg_size(&f[6]) == 32 && zmq_z85_encode(key, zmq_msg_data(&f[6]), 32) &&
        s_admitted(key, who, sizeof who)) {
        status = "200";
        text = "OK";
    } else {
        s_refused(z, mech, key[0] ? key : "-", address);
    }
    zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(sock, n > 1 ? zmq_msg_data(&f[1]) : "", n > 1 ? zmq_msg_size(&f[1]) : 0,
             ZMQ_SNDMORE);
    zmq_send(sock, status, 3, ZMQ_SNDMORE);
    zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(sock, who, strlen(who), ZMQ_SNDMORE);
    zmq_send(sock, "", 0, 0);
}

/* curve_zap_on - every pending request */
int curve_zap_on(evloop_t *loop, void *arg)
{
    (void)loop;
    curve_zap_t *z = arg;
    void *sock = z->sock;
    for (int r = 0; r < 100; r++) {
        zmq_msg_t f[8];
        size_t n = 0;
        int more = 1, got = 0;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(&m);
                break;
            }
            got = 1;
            more = zmq_msg_more(&m);
            if (n < 8)
                f[n++] = m; /* moved: closed below */
            else
                zmq_msg_close(&m);
        }
        if (got)
            s_zap_one(z, f, n);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        if (!got)
            break;
    }
    return 0;
}

/* s_write_file - whole text to path via tmp + link (never replacing) */
static int s_write_file(const char *path, const char *text, mode_t mode)
{
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    int bad = write(fd, text, n) != (ssize_t)n || fsync(fd) != 0;
    close(fd);
    /* link() fails when another maker was first; theirs wins */
    if (!bad && link(tmp, path) < 0 && errno != EEXIST)
        bad = 1;
    unlink(tmp);
    return bad ? -1 : 0;
}

/* curve_keygen - a keypair unless there is one */
int curve_keygen(const char *dir, const char *name, int *made)
{
    char key[PATH_MAX], pub[PATH_MAX], secret[CURVE_KEY_LEN + 1], public[CURVE_KEY_LEN + 1];
    *made = 0;
    if (snprintf(key, sizeof key, "%s/curve-%s.key", dir, name) >= (int)sizeof key ||
        snprintf(pub, sizeof pub, "%s/curve-%s.pub", dir, name) >= (int)sizeof pub)
        return -1;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -1;
    if (s_read(key, secret, sizeof secret) < 0) {
        char line[CURVE_KEY_LEN + 2];
        if (zmq_curve_keypair(public, secret) < 0)
            return -1;
        snprintf(line, sizeof line, "%s\n", secret);
        if (s_write_file(key, line, 0600) < 0 || s_read(key, secret, sizeof secret) < 0)
            return -1;
        *made = 1;
    }
    /* the public key from the secret that won, so the two always match */
    char line[CURVE_KEY_LEN + 2];
    if (zmq_curve_public(public, secret) < 0)
        return -1;
    char have[CURVE_KEY_LEN + 1];
    if (s_read(pub, have, sizeof have) == 0 && strcmp(have, public) == 0)
        return 0;
    unlink(pub);
    snprintf(line, sizeof line, "%s\n", public);
    if (s_write_file(pub, line, 0644) < 0)
        return -1;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* curve_names - harkd, hark, then [hark] services */
size_t curve_names(const config_t *cfg, const char **out, size_t max)
{
    if (max < 2)
        return 0;
    out[0] = "harkd";
    out[1] = "hark";
    size_t n = 2 + config_list(cfg, "hark", "services", out + 2, max - 2);
    return n > max ? max : n;
}

/* curve_keygen_all - harkd, hark and every service */
int curve_keygen_all(const config_t *cfg)
{
    const char *dir = curve_keys_dir(cfg);
    const char *names[40];
    size_t n = curve_names(cfg, names, 40);
    for (size_t i = 0; i < n; i++) {
        int made;
        if (!dir || curve_keygen(dir, names[i], &made) < 0)
            return -1;
    }
    return 0;
}
