/*
 * keys.h - secrets: generated once into the state dir, compared in
 * constant time.
 */
#ifndef HARK_KEYS_H
#define HARK_KEYS_H

#include <stddef.h>

/* keys_random_hex - nbytes of getrandom() as 2*nbytes hex chars + NUL into
 * out (size >= 2*nbytes+1); 0/-1 */
int keys_random_hex(char *out, size_t nbytes);

/* keys_load_or_create - the secret <state_dir>/keys/<name>.key, made (mode
 * 0600, 32 random bytes as hex) on first use.  Safe when two processes race
 * to create it: both end with the same key.  0/-1; out gets the key. */
int keys_load_or_create(const char *state_dir, const char *name, char *out, size_t len);

/* keys_path - where keys_load_or_create keeps name */
void keys_path(const char *state_dir, const char *name, char *out, size_t len);

/* keys_equal - compare a secret with a candidate in time that depends only
 * on the secret's length; 1 when equal */
int keys_equal(const char *secret, const char *candidate, size_t candidate_len);



#include "config.h"
/* keys_from_config - [section] key when set, else the generated key file
 * <state_dir>/keys/<file>.key (made on first use).  0/-1. */
int keys_from_config(const config_t *cfg, const char *section, const char *key,
                     const char *file, char *out, size_t len);
#endif
