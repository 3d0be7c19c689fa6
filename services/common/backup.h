/*
 * backup.h - the parts of a Hark backup that are not the CLI: an online
 * copy of one SQLite file, SHA-256 of a file, and the manifest that lists
 * a backup's files (hark-backup(7), `hark backup`, `hark restore`).
 *
 * A backup is a directory: one copy per file plus manifest.json, written
 * last, so a directory without a manifest is an unfinished backup:
 *
 *   {"format": 1, "hark_version": "hark/7", "created_at": "...Z",
 *    "by": "cli:ann", "journal_head": 1234,
 *    "files": [{"name": "survey.db", "setting": "survey.db",
 *               "role": "service", "required": false,
 *               "size": 8192, "sha256": "<64 hex>"}, ...]}
 *
 * name is the file's name in the backup directory (never a path);
 * setting the [section] key that says where it goes on restore.
 */
#ifndef HARK_BACKUP_H
#define HARK_BACKUP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define BACKUP_MANIFEST "manifest.json"
#define BACKUP_FORMAT 1

/* backup_sqlite_copy - a consistent copy of the SQLite file src (which
 * running services may be writing) into dst, a new file, with SQLite's
 * online backup API; then dst is fsynced.  0, or -1 with err said. */
int backup_sqlite_copy(const char *src, const char *dst, char *err, size_t elen);

/* backup_plain_copy - copy a plain file byte for byte into dst (new),
 * fsynced; 0, or -1 with err said */
int backup_plain_copy(const char *src, const char *dst, char *err, size_t elen);

/* backup_sha256_file - the lowercase hex SHA-256 of path's content into
 * hex (65 bytes) and its size into *size; 0/-1 (errno set) */
int backup_sha256_file(const char *path, char *hex, int64_t *size);

/* backup_name_ok - name is a plain file name (no '/', not . or ..) */
int backup_name_ok(const char *name);

/* backup_manifest_new - an empty manifest: format, version, now, by, head
 * 0; NULL when out of memory.  Caller decrefs. */
json_t *backup_manifest_new(const char *hark_version, const char *by);

/* backup_manifest_add - the file dir/name into m's files with its size
 * and checksum; 0, or -1 with err said */
int backup_manifest_add(json_t *m, const char *dir, const char *name, const char *setting,
                        const char *role, int required, char *err, size_t elen);

/* backup_manifest_save - m as dir/manifest.json: a temp file, fsync,
 * rename, fsync of dir; 0/-1 (errno set) */
int backup_manifest_save(const json_t *m, const char *dir);

/* backup_manifest_load - dir/manifest.json, its shape checked (format,
 * journal_head, every file with a plain name, a size and a checksum);
 * NULL with err said.  Caller decrefs. */
json_t *backup_manifest_load(const char *dir, char *err, size_t elen);

/* backup_manifest_check - every file of m against what dir holds: present,
 * the size and the checksum the manifest says.  Each difference is said
 * through say(msg, arg); the number of files that differ. */
int backup_manifest_check(const json_t *m, const char *dir,
                          void (*say)(const char *msg, void *arg), void *arg);

/* backup_fsync_dir - fsync a directory (after a rename in it); 0/-1 */
int backup_fsync_dir(const char *dir);

#endif
