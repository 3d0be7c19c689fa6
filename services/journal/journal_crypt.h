/*
 * journal_crypt.h - the personal fields of events, sealed when the journal
 * stores them and opened for its readers.
 *
 * Which fields are personal is the contract: proto/events/<type>.json
 * "x-hark" lists "personal" (contact: addresses, names, birthdays,
 * attributes, mail variables) and "free_text" (comments, complaints,
 * replies, notes, errors), and "subject": the fields, in order, that name
 * whose they are ([field, kind]; kind customer, invite, case or address).
 * The first subject present owns the keys; an event with none is its own
 * owner ("event:KEY").  When the owner is a customer, the other subjects
 * present (an invite, a case, an address) are linked to that customer, so
 * erasing the customer also destroys the keys of what was sealed under
 * them (a survey comment arrives under its invite before anything says
 * whose invite it was).
 *
 * Each class is sealed with its own key of the owner and the calendar
 * year the event occurred in (retention drops the two at different ages):
 * XChaCha20-Poly1305, a 24-byte nonce (16 random bytes per process and a
 * count: see journal_crypt.c), the event's type and key as associated
 * data, so a sealed value moved to another event does not open.
 *
 * Stored: the payload without those fields, a blob of up to two segments
 * (class byte, key id 8 bytes, the nonce or what makes it, ciphertext and
 * tag: the two layouts are in journal_crypt.c), and the names of the fields
 * sealed ("-name" when the value is not a string).
 * Opened: the payload as it came; a segment whose key is gone gives each of
 * its string fields the text "[erased]" and drops the others, and the event
 * is flagged.
 */
#ifndef HARK_JOURNAL_CRYPT_H
#define HARK_JOURNAL_CRYPT_H

#include <sqlite3.h>
#include <stddef.h>

#include "buf.h"
#include "journal_keys.h"
#include "journal_scan.h"

#define JCRYPT_ERASED "[erased]"

typedef struct jcrypt jcrypt_t;

/* jcrypt_new - the field lists from the compiled-in proto/, over keys
 * (borrowed).  NULL on error.  Free with jcrypt_destroy(). */
jcrypt_t *jcrypt_new(jkeys_t *keys);
void jcrypt_destroy(jcrypt_t **self_p);

/* jcrypt_seal - take e's personal fields out of its payload: 0 when it has
 * none (nothing written), 1 when rest (the payload left, NUL-terminated),
 * sealed and names (NUL-terminated) are filled, -1 on error.  Makes keys
 * and links in the keys' open write; now is the RFC 3339 time. */
int jcrypt_seal(jcrypt_t *c, const journal_scan_event_t *e, const char *now, buf_t *rest,
                buf_t *sealed, buf_t *names);

/* jcrypt_open - the payload text of a stored event into out: rest with what
 * sealed holds put back.  *erased is 1 when a key was gone (or the bytes did
 * not open).  0/-1 (memory, a malformed row).  What it opened is kept (a
 * bounded cache in memory, wiped when keys go), for the next consumer to
 * fetch the same event. */
int jcrypt_open(jcrypt_t *c, const char *type, const char *key, const char *rest,
                const unsigned char *sealed, size_t sealed_len, const char *names, buf_t *out,
                int *erased);

/* jcrypt_use_runs - seal in the compact layout from now on, each run's
 * nonce prefix stored once in db's seal_runs (journal.db, see
 * journal_store_migrations; the rows are inserted on db's connection in the
 * open round), and open it.  0/-1 */
int jcrypt_use_runs(jcrypt_t *c, sqlite3 *db);

/* jcrypt_rollback - the store rolled back: seal under a new nonce prefix
 * (and a new run) from now on, never the rolled-back round's nonces again */
void jcrypt_rollback(jcrypt_t *c);

/* jcrypt_forget - wipe the opened events jcrypt_open keeps and the subkeys
 * jcrypt_seal keeps (it does so by itself when keys go: see
 * jkeys_generation) */
void jcrypt_forget(jcrypt_t *c);

/* jcrypt_box - plain sealed under key with ad: nonce (24 bytes; NULL: a
 * fresh one) and ciphertext appended to out.  jcrypt_unbox - the reverse
 * into out: 0, or -1 when the bytes, the key or ad are not the ones it was
 * sealed with. */
void jcrypt_box(const unsigned char key[JKEYS_LEN], const unsigned char *nonce, const void *ad,
                size_t ad_len, const void *plain, size_t len, buf_t *out);
int jcrypt_unbox(const unsigned char key[JKEYS_LEN], const void *ad, size_t ad_len,
                 const void *box, size_t len, buf_t *out);

#endif
