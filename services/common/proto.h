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
