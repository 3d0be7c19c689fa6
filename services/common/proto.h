/*
 * proto.h - the contract between processes, compiled in from proto/.
 *
 * proto/events/<type>.json is the JSON Schema of each event type's payload;
 * proto/envelope.json the shape of an event POSTed to the gateway;
 * proto/commands.json every internal command (CMD_* in proto_cmds.h).
 * Every event type has a constant (EV_* in proto_events.h): EV_MAIL_REQUESTED
 * is "mail.requested", so a type that proto/ does not define fails to compile.
 */
#ifndef HARK_PROTO_H
#define HARK_PROTO_H

#include "proto_cmds.h"
#include "proto_events.h"

/* PROTO_MAX_DEPTH - the deepest a payload may nest objects and arrays (the
 * payload itself is level 1), checked once, where a value comes in (the
 * gateway's ingest and admin bodies).  Every message that carries a payload
 * wraps it in a few levels more (JOURNAL_APPEND three, or five in batches,
 * a fetch reply three), so one number far below jansson's parser limit (2048) means that a
 * payload the gateway takes is never refused further on: a client told 202
 * could otherwise see the journal refuse the same value as too deep. */
#define PROTO_MAX_DEPTH 32

typedef struct {
    const char *name; /* event type, e.g. "purchase" */
    const char *json; /* schema text */
} proto_doc_t;

extern const proto_doc_t proto_event_schemas[]; /* ends with {NULL, NULL} */
extern const char proto_commands_json[];
extern const char proto_envelope_json[];

/* proto_event_id - the index of type in proto_event_schemas (0 ..
 * PROTO_EVENT_COUNT - 1), or -1 for a type proto/ does not define */
int proto_event_id(const char *type);

#endif
