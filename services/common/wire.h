/*
 * wire.h - Hark's messages on ZeroMQ sockets.
 *
 * A message is two frames (three through a ROUTER, which adds the peer's
 * identity first): a header "hark/1 COMMAND REQUEST_ID" in ASCII and a JSON
 * body.  Decoding is strict: a wrong version, an unknown shape, extra frames
 * or a body that is not a JSON object are rejected, never guessed at.
 */
#ifndef HARK_WIRE_H
#define HARK_WIRE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef struct {
    char cmd[48];
    uint64_t reqid;
    unsigned char ident[256]; /* ROUTER peer identity */
    size_t ident_len;
    char *body;               /* owned, NUL-terminated JSON text */
    size_t body_len;
} wire_msg_t;

/* wire_send - send [ident] header body; ident NULL on DEALER/PUB.  body NULL
 * sends "{}".  flags are zmq_send flags (ZMQ_DONTWAIT).  0/-1 (errno). */
int wire_send(void *sock, const void *ident, size_t ident_len, const char *cmd,
              uint64_t reqid, const char *body, size_t body_len, int flags);

/* wire_reply - send a reply to the peer of request m */
int wire_reply(void *sock, const wire_msg_t *m, const char *cmd, const char *body,
               size_t body_len);

/* wire_reply_error - ERROR reply {"error":{"code":…,"message":…}} */
int wire_reply_error(void *sock, const wire_msg_t *m, const char *code,
                     const char *message);

/* wire_recv - receive one whole message.  router: 1 when the socket adds an
 * identity frame.  Returns 0, or -1 with errno EAGAIN (nothing waiting with
 * ZMQ_DONTWAIT), EPROTO (malformed: the message was consumed and dropped) or
 * another zmq error.  Caller frees with wire_msg_free(). */
int wire_recv(void *sock, int router, wire_msg_t *m, int flags);

/* wire_msg_free - release the body */
void wire_msg_free(wire_msg_t *m);

/* wire_body_json - parse the body (must be a JSON object); NULL if not.
 * Caller owns the reference. */
json_t *wire_body_json(const wire_msg_t *m);

/* wire_client_t - a DEALER with request ids and a timeout, for the
 * request/reply calls every process makes to another.  Not thread-safe: one
 * per thread. */
typedef struct wire_client wire_client_t;

/* wire_client_new - connect a DEALER to endpoint.  NULL on error.  Caller
 * frees with wire_client_destroy(). */
wire_client_t *wire_client_new(void *zctx, const char *endpoint);
void wire_client_destroy(wire_client_t **self_p);

/* wire_client_call - send cmd/body and wait up to timeout_ms for the reply
 * with the same request id (stale replies are dropped).  On a timeout the
 * socket is recreated, so a late reply never answers the next call.
 * Returns 0 and fills reply (caller frees with wire_msg_free), or -1 with
 * errno ETIMEDOUT or another error.  An ERROR reply is returned as 0 with
 * reply->cmd "ERROR". */
int wire_client_call(wire_client_t *c, const char *cmd, const char *body,
                     size_t body_len, int timeout_ms, wire_msg_t *reply);

/* wire_client_call_json - same with a json_t body (not stolen) and the reply
 * body parsed; returns the reply (caller decrefs) or NULL.  *reply_cmd gets
 * the reply's command (size 48). */
json_t *wire_client_call_json(wire_client_t *c, const char *cmd, const json_t *body,
                              int timeout_ms, char *reply_cmd);

#endif
