/*
 * ratelimit.h - at most N hits per window for each client address, exactly.
 *
 * Each address is its own key: the whole IPv4 or IPv6 address (an
 * IPv4-mapped IPv6 address counts as the IPv4 one), compared byte for byte,
 * so two addresses never share a counter.  An earlier hashed table of
 * slots let 127.0.8.1 and 127.0.2.115 reset each other's count: 60 POSTs,
 * no 429.  Memory is bounded: at most cap addresses are remembered; when
 * all are in use an address whose window is over is forgotten first, else
 * the one whose window began earliest (it is the nearest to being let go
 * anyway).  A window starts at an address's first hit and lasts window_ms.
 * Safe to call from several threads.
 */
#ifndef HARK_RATELIMIT_H
#define HARK_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct ratelimit ratelimit_t;

/* ratelimit_new - limit hits per window_ms for at most cap addresses;
 * NULL on no memory.  Free with ratelimit_destroy(). */
ratelimit_t *ratelimit_new(int limit, int64_t window_ms, size_t cap);

/* ratelimit_destroy - free; safe on NULL and twice; sets *self_p = NULL */
void ratelimit_destroy(ratelimit_t **self_p);

/* ratelimit_hit - count one hit from sa at now_ms (a monotonic clock).
 * 1 when within the limit; 0 when over it, with *retry_s (may be NULL)
 * the whole seconds until the address's window ends (at least 1).  An
 * address that is neither IPv4 nor IPv6 (or NULL) counts as one key. */
int ratelimit_hit(ratelimit_t *self, const struct sockaddr *sa, int64_t now_ms, int *retry_s);

/* ratelimit_hit_name - the same for a name instead of an address (a
 * customer behind a link, whatever address they come from): the name's
 * SHA-256, cut to 128 bits, is its key, which never equals an address's */
int ratelimit_hit_name(ratelimit_t *self, const char *name, int64_t now_ms, int *retry_s);

/* ratelimit_size - the addresses remembered now (for tests) */
size_t ratelimit_size(ratelimit_t *self);

#endif
