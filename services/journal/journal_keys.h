/*
 * journal_keys.h - the data keys that seal events' personal fields, kept in
 * journal-keys.db apart from the events, so that destroying a key erases
 * what it sealed without touching journal.db.
 *
 * A key belongs to an owner ("customer:ID", "invite:ID", "case:ID",
 * "address:ADDR" or "event:KEY") and a period (a calendar year).  Its id is
 * the time it was made (ms, shifted left 21 bits) plus a count, above every
 * id the file and the erasure log hold, so an erasure can name exactly the
 * keys it destroyed whatever became of the file since (a restored older
 * copy makes no key with an id the log names).  A
 * key is stored wrapped by the master key (XChaCha20-Poly1305, its id as
 * associated data), so journal-keys.db alone opens nothing.
 *
 * links(ref, customer) says which invites, cases and addresses are a
 * customer's, learnt from events that carry both: erasing the customer
 * destroys their keys too.  Owners, refs and customers are stored as keyed
 * hashes, so the file names no one; each key row also holds its owner
 * sealed by the master key, for retention to say whose keys it dropped
 * (in the key's own box since one box holds both; before, in a second).
 *
 * Only hark-journal includes this.
 */
#ifndef HARK_JOURNAL_KEYS_H
#define HARK_JOURNAL_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define JKEYS_LEN 32 /* crypto_aead_xchacha20poly1305_ietf_KEYBYTES */

typedef struct jkeys jkeys_t;

/* jkeys_new - open (creating) path with secure_delete on; master is the
 * 32-byte key that wraps the data keys.  NULL on error.  Free with
 * jkeys_destroy(). */
jkeys_t *jkeys_new(const char *path, const char *synchronous,
                   const unsigned char master[JKEYS_LEN]);
void jkeys_destroy(jkeys_t **self_p);

/* jkeys_get - the key of owner for period into key, and its id; made (in
 * the open write, see jkeys_commit) when there is none.  touch: the event
 * is the owner's own activity (proto's "activity"), which retention counts
 * from (a key's used_at, written at most once a day).  0/-1. */
int jkeys_get(jkeys_t *k, const char *owner, int period, int touch, int64_t *id,
              unsigned char key[JKEYS_LEN]);

/* jkeys_by_id - the key with id into key: 0, 1 when it is gone, -1 on error */
int jkeys_by_id(jkeys_t *k, int64_t id, unsigned char key[JKEYS_LEN]);

/* jkeys_link - ref ("invite:ID", ...) is customer's (in the open write).  0/-1 */
int jkeys_link(jkeys_t *k, const char *ref, const char *customer);

/* jkeys_customer_keys - the ids of every key of customer and of the refs
 * linked to them; *ids malloc'd (the caller frees), *n their number.  0/-1 */
int jkeys_customer_keys(jkeys_t *k, const char *customer, int64_t **ids, size_t *n);

/* jkeys_drop - delete the keys ids[0..n) (in the open write) and forget
 * every cached key; *gone gets how many existed.  0/-1 */
int jkeys_drop(jkeys_t *k, const int64_t *ids, size_t n, size_t *gone);

/* jkeys_unlink - forget which refs were customer's (in the open write); 0/-1 */
int jkeys_unlink(jkeys_t *k, const char *customer);

/* jkeys_seen - id was a key's (the erasure log names it): no new key gets
 * it or a lower one */
void jkeys_seen(jkeys_t *k, int64_t id);

/* jkeys_generation - a number that changes whenever keys may have gone
 * (drop, retention, a rollback): what was opened with them before is stale */
uint64_t jkeys_generation(const jkeys_t *k);

/* jkeys_count_existing - how many of ids[0..n) still exist */
size_t jkeys_count_existing(jkeys_t *k, const int64_t *ids, size_t n);

/* jkeys_commit - commit what jkeys_get, _link and _drop wrote (nothing
 * when they wrote nothing).  0/-1 (rolled back: every cached key is
 * forgotten) */
int jkeys_commit(jkeys_t *k);
/* jkeys_rollback - undo what was written since the last commit */
void jkeys_rollback(jkeys_t *k);

/* jkeys_shred - checkpoint the WAL into the file and truncate it, so the
 * pages that held destroyed keys are overwritten (secure_delete zeroed
 * them) and no old copy stays in the WAL.  0/-1 */
int jkeys_shred(jkeys_t *k);

/* jkeys_retention - drop (in the open write) the keys of class (1 contact,
 * 2 free text) of every owner whose last activity (the newest use of a key
 * of theirs or of what is linked to them) is before idle_before (RFC
 * 3339): *customers (malloc'd, each malloc'd) the customers concerned, *n
 * their number, *dropped the keys.  0/-1 */
int jkeys_retention(jkeys_t *k, int class, const char *idle_before, char ***customers,
                    size_t *n, size_t *dropped);

/* jkeys_random - n random bytes from a pool refilled from the kernel 4 KiB
 * at a time: a getrandom() per nonce was a tenth of the journal's time
 * (each syscall is dear in a virtual machine) */
void jkeys_random(jkeys_t *k, void *out, size_t n);

/* jkeys_wrap, jkeys_unwrap - the wrapping of one data key by master, with
 * id as associated data: wrapped is JKEYS_WRAPPED bytes (nonce: 24 bytes,
 * NULL for fresh ones); unwrap 0, or -1 when the bytes were changed or
 * master/id are not theirs.  A row made now holds the key with its owner
 * after it in the same box: JKEYS_WRAPPED + the owner's length bytes. */
#define JKEYS_WRAPPED (24 + JKEYS_LEN + 16)
void jkeys_wrap(const unsigned char master[JKEYS_LEN], int64_t id,
                const unsigned char key[JKEYS_LEN], const unsigned char *nonce,
                unsigned char wrapped[JKEYS_WRAPPED]);
int jkeys_unwrap(const unsigned char master[JKEYS_LEN], int64_t id,
                 const unsigned char wrapped[JKEYS_WRAPPED], unsigned char key[JKEYS_LEN]);

#endif
