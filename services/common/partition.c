/*
 * partition.c - partition of a customer, and the names of a partition's
 * files and sockets.
 */
#include "partition.h"

#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* partition_of - FNV-1a 32 mod n */
unsigned partition_of(const char *id, unsigned n)
{
    if (n <= 1 || !id)
        return 0;
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h % n;
}

/* partition_split - name-K */
int partition_split(const char *instance, char *section, size_t len, int *k)
{
    const char *dash = strrchr(instance, '-');
    if (!dash || dash == instance || !dash[1] || strlen(dash + 1) > 3 ||
        strspn(dash + 1, "0123456789") != strlen(dash + 1) || (size_t)(dash - instance) >= len)
        return -1;
    memcpy(section, instance, (size_t)(dash - instance));
    section[dash - instance] = '\0';
    *k = atoi(dash + 1);
    return 0;
}

/* partition_path - -K before the extension of the last path element */
int partition_path(const char *path, int k, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    size_t stem = dot && dot != (slash ? slash + 1 : path) ? (size_t)(dot - path) : strlen(path);
    int n = snprintf(out, len, "%.*s-%d%s", (int)stem, path, k, path + stem);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* partition_endpoint - ipc: like a path; tcp: the port plus k */
int partition_endpoint(const char *endpoint, int k, char *out, size_t len)
{
    if (k == 0) {
        int n = snprintf(out, len, "%s", endpoint);
        return n < 0 || (size_t)n >= len ? -1 : 0;
    }
    if (strncmp(endpoint, "ipc://", 6) == 0)
        return partition_path(endpoint, k, out, len);
    const char *colon = strrchr(endpoint, ':');
    if (strncmp(endpoint, "tcp://", 6) != 0 || !colon || !isdigit((unsigned char)colon[1]))
        return -1;
    long port = strtol(colon + 1, NULL, 10) + k;
    if (port > 65535)
        return -1;
    int n = snprintf(out, len, "%.*s:%ld", (int)(colon - endpoint), endpoint, port);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* partition_count - see partition.h */
unsigned partition_count(const config_t *cfg, const char *section)
{
    if (!config_default(section, "partitions"))
        return 1;
    long long n = config_int(cfg, section, "partitions");
    return n > 1 ? (unsigned)n : 1;
}

/* partition_control - see partition.h */
int partition_control(const config_t *cfg, const char *section, const char *id, char *out,
                      size_t len)
{
    const char *ep = config_get(cfg, section, "control");
    if (!ep)
        return -1;
    unsigned n = partition_count(cfg, section);
    return partition_endpoint(ep, id ? (int)partition_of(id, n) : 0, out, len);
}
