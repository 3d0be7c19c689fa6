/*
 * keys.c - generated secrets and constant-time comparison.
 */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* keys_random_hex - random bytes as hex */
int keys_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    if (nbytes > sizeof raw)
        return -1;
    size_t got = 0;
    while (got < nbytes) {
        ssize_t n = getrandom(raw + got, nbytes - got, 0);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n > 0)
            got += (size_t)n;
    }
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * nbytes] = '\0';
    return 0;
}

/* keys_path - the file of key name */
void keys_path(const char *state_dir, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/keys/%s.key", state_dir, name);
}

/* s_read_key - read a key file, strip the newline */
static int s_read_key(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(out, (int)len, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return out[0] ? 0 : -1;
}

/* keys_load_or_create - read, or create atomically with link() */
int keys_load_or_create(const char *state_dir, const char *name, char *out, size_t len)
{
    char dir[4096], path[4096], tmp[4200];
    snprintf(dir, sizeof dir, "%s/keys", state_dir);
    keys_path(state_dir, name, path, sizeof path);
    if (s_read_key(path, out, len) == 0)
        return 0;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -1;
    char key[65];
    if (len < sizeof key || keys_random_hex(key, 32))
        return -1;
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    char line[70];
    int n = snprintf(line, sizeof line, "%s\n", key);
    int bad = write(fd, line, (size_t)n) != n || fsync(fd) != 0;
    close(fd);
    /* link() fails if another process created the key first; then theirs wins */
    if (!bad && link(tmp, path) < 0 && errno != EEXIST)
        bad = 1;
    unlink(tmp);
    if (bad)
        return -1;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return s_read_key(path, out, len);
}

/* keys_equal - constant-time comparison (time depends on the secret only) */
int keys_equal(const char *secret, const char *candidate, size_t candidate_len)
{
    size_t n = strlen(secret);
    volatile unsigned char diff = (unsigned char)(n != candidate_len);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = candidate_len ? (unsigned char)candidate[i % candidate_len] : 0;
        diff |= (unsigned char)secret[i] ^ c;
    }
    return diff == 0;
}

/* keys_from_config - configured secret, or the generated one */
int keys_from_config(const config_t *cfg, const char *section, const char *key,
                     const char *file, char *out, size_t len)
{
    const char *v = config_get(cfg, section, key);
    if (v && *v) {
        snprintf(out, len, "%s", v);
        return 0;
    }
    return keys_load_or_create(config_state_dir(cfg), file, out, len);
}
