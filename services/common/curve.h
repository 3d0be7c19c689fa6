/*
 * curve.h - CURVE on every tcp:// socket, and the ZAP handler that decides
 * who may connect.
 *
 * A ZeroMQ endpoint in hark.conf may be tcp://HOST:PORT, so a service can
 * run on another host.  Such a socket is encrypted and authenticated with
 * CURVE: each process has a keypair (keys/curve-<name>.key, the secret in
 * Z85, mode 0600; keys/curve-<name>.pub, its public key), a server socket
 * proves it holds the secret of its service's public key, and the ZAP
 * handler of the server's process admits a client only when the client's
 * public key is one of the instance's keys/curve-*.pub.  CURVE alone
 * authenticates no one: without ZAP any keypair would be let in.
 *
 * ipc:// sockets stay plaintext: they are files in the state dir, reached
 * only by the Unix user who can read the secret keys anyway.
 *
 * The identity is one per process, set once at start-up (curve_init) and
 * read-only after, so every thread (the gateway's pump) may use it; it is
 * kept file-local like the log's service name.
 */
#ifndef HARK_CURVE_H
#define HARK_CURVE_H

#include <stddef.h>

#include "config.h"
#include "evloop.h"

/* CURVE_KEY_LEN - a Z85 key's length (32 bytes encoded), without NUL */
#define CURVE_KEY_LEN 40

/* curve_init - this process's identity: name's keypair, read from
 * $HARK_CURVE_KEY (set by harkd) or else <curve_keys>/curve-<name>.key,
 * and the public keys in $HARK_CURVE_PEERS or else [hark] curve_keys.
 * cfg must outlive the process's sockets.  Missing keys are not an error
 * here: a tcp:// socket set up without them is (curve_server, curve_client). */
void curve_init(const config_t *cfg, const char *name);

/* curve_needed - 1 when any endpoint of cfg is tcp:// */
int curve_needed(const config_t *cfg);

/* curve_server - before binding sock to endpoint: for tcp://, make it a
 * CURVE server with this process's secret key whose clients ZAP checks.
 * ipc:// is left alone.  0, or -1 (logged) when tcp:// and no keypair. */
int curve_server(void *sock, const char *endpoint);

/* curve_client - before connecting sock to endpoint: for tcp://, a CURVE
 * client with this process's keypair expecting the public key of the
 * service whose setting names that endpoint.  0, or -1 (logged). */
int curve_client(void *sock, const char *endpoint);

/* curve_client_as - curve_client towards a server known by name (a
 * service's second copy on an endpoint no setting names) */
int curve_client_as(void *sock, const char *endpoint, const char *server);

typedef struct curve_zap curve_zap_t;

/* curve_zap_new - the ZAP handler (a REP on inproc://zeromq.zap.01 of
 * zctx), bound before any CURVE server socket; NULL on error.  Freed with
 * curve_zap_destroy (safe on NULL and twice). */
curve_zap_t *curve_zap_new(void *zctx);
void curve_zap_destroy(curve_zap_t **self_p);
/* curve_zap_socket - its socket, for the event loop */
void *curve_zap_socket(const curve_zap_t *z);
/* curve_zap_on - evloop callback: answer the pending ZAP requests (arg:
 * the curve_zap_t).  Admits a CURVE client whose public key is in the
 * peers dir; refuses and logs any other. */
int curve_zap_on(evloop_t *loop, void *arg);

/* curve_keys_dir - where the keys are: $HARK_CURVE_PEERS, else [hark]
 * curve_keys */
const char *curve_keys_dir(const config_t *cfg);

/* curve_keygen - make name's keypair in dir unless it is there: the secret
 * written whole and linked into place (so two makers racing end with one
 * key), then its public key.  *made set to 1 when new.  0/-1. */
int curve_keygen(const char *dir, const char *name, int *made);

/* curve_names - who has a keypair: harkd, hark (the command) and every
 * service of [hark] services, up to max; pointers owned by cfg */
size_t curve_names(const config_t *cfg, const char **out, size_t max);

/* curve_keygen_all - curve_keygen for harkd, the hark command and every
 * service of [hark] services; 0/-1 */
int curve_keygen_all(const config_t *cfg);

/* curve_public - the public key of name in dir into out (>= 41 bytes);
 * 0/-1 */
int curve_public(const char *dir, const char *name, char *out, size_t len);

#endif
