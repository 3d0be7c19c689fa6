/*
 * partition.h - consumers scaled out by customer (hark-scaling(7)).
 *
 * A service with [<name>] partitions = N > 1 runs as N processes, started
 * by harkd as hark-<name> --partition K (K = 0 .. N-1), the instance named
 * <name>-K.  Each owns the customers whose stable hash mod N is K and has
 * its own SQLite file (<db> with -K before its extension), lock, cursor
 * and control socket (K = 0 keeps [<name>] control; the others have -K
 * before an ipc:// file's extension, or the tcp:// port plus K).
 */
#ifndef HARK_PARTITION_H
#define HARK_PARTITION_H

#include <stddef.h>

/* PARTITION_MAX - the most partitions a service can have ([<name>]
 * partitions' upper bound in the settings table) */
#define PARTITION_MAX 16

/* partition_of - the partition of a customer id (or address): FNV-1a
 * (32 bits) of its bytes mod n; the same on every host and release.  0
 * when n <= 1. */
unsigned partition_of(const char *id, unsigned n);

/* partition_split - "mailer-2" into section "mailer" and k 2; 0, or -1
 * when instance names no partition (no "-DIGITS" at its end) */
int partition_split(const char *instance, char *section, size_t len, int *k);

/* partition_path - "dir/mailer.db" as "dir/mailer-2.db"; 0/-1 (too long) */
int partition_path(const char *path, int k, char *out, size_t len);

/* partition_endpoint - partition k's endpoint from the service's: k 0
 * unchanged, ipc://dir/mailer.ctl as ipc://dir/mailer-2.ctl, tcp://h:p as
 * tcp://h:(p+k); 0/-1 */
int partition_endpoint(const char *endpoint, int k, char *out, size_t len);

struct config;

/* partition_count - [section] partitions (1 when the section has no such
 * setting) */
unsigned partition_count(const struct config *cfg, const char *section);

/* partition_control - the control endpoint of the partition of [section]
 * that owns customer id (the service's own when not partitioned, or id is
 * NULL); 0/-1 */
int partition_control(const struct config *cfg, const char *section, const char *id, char *out,
                      size_t len);

#endif
