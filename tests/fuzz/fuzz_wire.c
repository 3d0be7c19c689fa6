/*
 * fuzz_wire.c - the wire decoder (services/common/wire.c: wire_recv and
 * wire_body_json) fed real ZeroMQ frames.
 *
 * The input is a first byte (bit 0: read as a ROUTER would, the first
 * frame being the peer's identity) and then frames separated by the byte
 * 0x1E; they are sent as one multipart message over an inproc PAIR and read
 * back with wire_recv (a ROUTER input of one frame gets an empty second,
 * as a real ROUTER never delivers an identity alone).  Properties: a message it takes has a command of
 * A-Z and _, the version of this build in its header, and the whole body;
 * taken or not, the message is consumed whole (the next message on the
 * socket reads correctly: a malformed one can never leave frames behind
 * that a later read would take for a message of its own).
 */
#include "fuzz.h"

#include <errno.h>
#include <zmq.h>

#include "proto.h"
#include "wire.h"

static void *s_ctx, *s_in, *s_out;

static void s_setup(void)
{
    s_ctx = zmq_ctx_new();
    s_in = zmq_socket(s_ctx, ZMQ_PAIR);
    s_out = zmq_socket(s_ctx, ZMQ_PAIR);
    FUZZ_CHECK(s_ctx && s_in && s_out);
    FUZZ_CHECK(zmq_bind(s_in, "inproc://fuzz-wire") == 0);
    FUZZ_CHECK(zmq_connect(s_out, "inproc://fuzz-wire") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_ctx)
        s_setup();
    if (size < 1 || size > 65536)
        return 0;
    int router = data[0] & 1;
    const uint8_t *p = data + 1, *end = data + size;
    const uint8_t *fp[16];
    size_t fl[16], frames = 0;
    while (frames < 16) {
        const uint8_t *sep = memchr(p, 0x1E, (size_t)(end - p));
        fp[frames] = p;
        fl[frames] = (size_t)((sep ? sep : end) - p);
        frames++;
        if (!sep)
            break;
        p = sep + 1;
    }
    /* a ROUTER always has a frame after the identity it adds */
    if (router && frames == 1) {
        fp[frames] = (const uint8_t *)"";
        fl[frames++] = 0;
    }
    for (size_t i = 0; i < frames; i++)
        FUZZ_CHECK(zmq_send(s_out, fp[i], fl[i], i + 1 < frames ? ZMQ_SNDMORE : 0) >= 0);
    const uint8_t *body = frames > (size_t)router + 1 ? fp[router + 1] : NULL;
    size_t body_len = body ? fl[router + 1] : 0;
    /* then a good message, which must come out intact after any bad one */
    char hdr[64];
    snprintf(hdr, sizeof hdr, "%s JOURNAL_HEAD 42", HARK_WIRE_VERSION);
    if (router)
        FUZZ_CHECK(zmq_send(s_out, "id", 2, ZMQ_SNDMORE) == 2);
    FUZZ_CHECK(zmq_send(s_out, hdr, strlen(hdr), ZMQ_SNDMORE) >= 0);
    FUZZ_CHECK(zmq_send(s_out, "{\"head\":1}", 10, 0) == 10);

    wire_msg_t m;
    zmq_pollitem_t first = {s_in, 0, ZMQ_POLLIN, 0};
    FUZZ_CHECK(zmq_poll(&first, 1, 2000) == 1);
    int rc = wire_recv(s_in, router, &m, ZMQ_DONTWAIT);
    if (rc == 0) {
        size_t cl = strlen(m.cmd);
        FUZZ_CHECK(cl > 0 && strspn(m.cmd, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == cl);
        FUZZ_CHECK(m.body && body && m.body_len == body_len &&
                   memcmp(m.body, body, body_len) == 0 && m.body[body_len] == '\0');
        FUZZ_CHECK(frames == (size_t)router + 2);
        json_t *j = wire_body_json(&m);
        FUZZ_CHECK(!j || json_is_object(j));
        json_decref(j);
        wire_msg_free(&m);
        FUZZ_CHECK(m.body == NULL);
    } else {
        FUZZ_CHECK(errno == EPROTO || errno == ENOMEM);
    }
    zmq_pollitem_t item = {s_in, 0, ZMQ_POLLIN, 0};
    FUZZ_CHECK(zmq_poll(&item, 1, 2000) == 1); /* never wait for ever */
    FUZZ_CHECK(wire_recv(s_in, router, &m, ZMQ_DONTWAIT) == 0);
    FUZZ_CHECK(strcmp(m.cmd, "JOURNAL_HEAD") == 0 && m.reqid == 42);
    FUZZ_CHECK(m.body_len == 10 && memcmp(m.body, "{\"head\":1}", 10) == 0);
    if (router)
        FUZZ_CHECK(m.ident_len == 2 && memcmp(m.ident, "id", 2) == 0);
    wire_msg_free(&m);
    FUZZ_CHECK(wire_recv(s_in, router, &m, ZMQ_DONTWAIT) == -1 && errno == EAGAIN);
    return 0;
}
