/*
 * proto.c - look-ups in the contract compiled in from proto/.
 */
#include "proto.h"

#include <string.h>

int proto_event_id(const char *type)
{
    for (int i = 0; type && proto_event_schemas[i].name; i++)
        if (strcmp(proto_event_schemas[i].name, type) == 0)
            return i;
    return -1;
}
