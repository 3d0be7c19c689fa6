/*
 * fuzz_schema.c - schema validation (services/common/schema.c).
 *
 * Input "SCHEMA\n----\nVALUE": SCHEMA is compiled with schema_new and VALUE
 * (JSON) validated against it.  Without the "----" line, the first byte
 * picks one of proto/'s event schemas that schema.c compiles (once) and
 * the rest is the value, so most runs exercise the schemas Hark really
 * uses.  Properties: validation is deterministic, and a refusal always
 * names a message.
 */
#include "fuzz.h"

#include <jansson.h>

#include "proto.h"
#include "schema.h"

static schema_t *s_proto[128];
static size_t s_nproto;

/* s_check - validate v against s twice; the answers must agree */
static void s_check(const schema_t *s, const json_t *v)
{
    char path[256], msg[256], path2[256], msg2[256];
    int rc = schema_validate(s, v, path, sizeof path, msg, sizeof msg);
    int rc2 = schema_validate(s, v, path2, sizeof path2, msg2, sizeof msg2);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(rc == rc2);
    if (rc) {
        FUZZ_CHECK(msg[0] != '\0');
        FUZZ_CHECK(strcmp(path, path2) == 0 && strcmp(msg, msg2) == 0);
    }
    FUZZ_CHECK(schema_validate(s, v, NULL, 0, NULL, 0) == rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_nproto) {
        for (size_t i = 0; proto_event_schemas[i].name && s_nproto < 128; i++) {
            char err[256];
            /* only the gateway's (ingested) schemas need to compile here;
             * internal ones may use keywords it does not take */
            s_proto[s_nproto] = schema_new(proto_event_schemas[i].json, err, sizeof err);
            if (s_proto[s_nproto])
                s_nproto++;
        }
    }
    char *a, *b;
    size_t alen, blen;
    fuzz_split(data, size, &a, &b, &alen, &blen);
    if (b > a + alen) { /* a schema of its own */
        char err[256] = "";
        schema_t *s = schema_new(a, err, sizeof err);
        if (!s)
            FUZZ_CHECK(err[0] != '\0');
        json_t *v = json_loadb(b, blen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (s && v)
            s_check(s, v);
        json_decref(v);
        schema_destroy(&s);
        FUZZ_CHECK(s == NULL);
    } else if (size > 0) {
        json_t *v = json_loadb((const char *)data + 1, size - 1,
                               JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (v)
            s_check(s_proto[data[0] % s_nproto], v);
        json_decref(v);
    }
    free(a);
    return 0;
}
