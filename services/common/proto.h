/*
 * proto.h - the contract between processes, compiled in from proto/.
 *
 * proto/events/<type>.json is the JSON Schema of each event type's payload;
 * proto/envelope.json the shape of an event POSTed to the gateway;
 * proto/commands.json every internal command (CMD_* in proto_cmds.h).
 */
#ifndef HARK_PROTO_H
#define HARK_PROTO_H

#include "proto_cmds.h"

typedef struct {
    const char *name; /* event type, e.g. "purchase" */
    const char *json; /* schema text */
} proto_doc_t;

extern const proto_doc_t proto_event_schemas[]; /* ends with {NULL, NULL} */
extern const char proto_commands_json[];
extern const char proto_envelope_json[];

#endif
