/*
 * backup.c - online copies of SQLite files, SHA-256 of files, and the
 * manifest of a backup directory (backup.h).
 *
 * The copy uses SQLite's online backup API rather than cp(1): a file copied
 * byte for byte while a service commits is torn (half its pages before the
 * commit, half after, and the WAL left behind), whereas sqlite3_backup_step()
 * reads the source inside one read transaction, so the copy is the database
 * as it was at one commit.  In WAL mode that read transaction blocks no
 * writer: the services go on committing while the copy is made.
 *
 * Checksums are SHA-256 from libsodium (already linked for the tokens), so
 * `sha256sum FILE` gives the same value by hand.
 */
#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"

#define BACKUP_BUSY_TRIES 600 /* of 50 ms: half a minute of a lock held elsewhere */

/* s_fsync_path - fsync the file at path; 0/-1 */
static int s_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* backup_fsync_dir - see backup.h */
int backup_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* backup_sqlite_copy - see backup.h.  All pages in ONE step (-1): a copy
 * made in steps of N pages starts over whenever another process commits
 * between two steps, which on a busy journal could be forever; one step
 * holds one read transaction from the first page to the last, so it ends,
 * and ends consistent.  BUSY/LOCKED (a writer in its checkpoint, a service
 * starting) are waited out. */
int backup_sqlite_copy(const char *src, const char *dst, char *err, size_t elen)
{
    sqlite3 *s = NULL, *d = NULL;
    int rc = -1;
    /* read-write without CREATE: a missing source is an error, not a new
     * empty database; nothing is written to it (WAL readers need the -shm) */
    if (sqlite3_open_v2(src, &s, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(err, elen, "cannot open %s: %s", src, s ? sqlite3_errmsg(s) : "out of memory");
        goto out;
    }
    if (sqlite3_open_v2(dst, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        snprintf(err, elen, "cannot create %s: %s", dst, d ? sqlite3_errmsg(d) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(s, 5000);
    sqlite3_backup *b = sqlite3_backup_init(d, "main", s, "main");
    if (!b) {
        snprintf(err, elen, "cannot copy %s: %s", src, sqlite3_errmsg(d));
        goto out;
    }
    int step;
    for (int tries = 0;; tries++) {
        step = sqlite3_backup_step(b, -1);
        if ((step != SQLITE_BUSY && step != SQLITE_LOCKED) || tries >= BACKUP_BUSY_TRIES)
            break;
        sqlite3_sleep(50);
    }
    int fin = sqlite3_backup_finish(b);
    if (step != SQLITE_DONE || fin != SQLITE_OK) {
        snprintf(err, elen, "cannot copy %s: %s", src,
                 step != SQLITE_DONE ? sqlite3_errstr(step) : sqlite3_errmsg(d));
        goto out;
    }
    rc = 0;
out:
    sqlite3_close(s);
    /* closing the last connection checkpoints the copy's WAL into it and
     * removes it: the copy is one self-contained file */
    if (d && sqlite3_close(d) != SQLITE_OK && rc == 0) {
        snprintf(err, elen, "cannot close %s", dst);
        rc = -1;
    }
    if (rc == 0 && s_fsync_path(dst)) {
        snprintf(err, elen, "cannot fsync %s: %s", dst, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* backup_plain_copy - see backup.h */
int backup_plain_copy(const char *src, const char *dst, char *err, size_t elen)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        snprintf(err, elen, "cannot open %s: %s", src, strerror(errno));
        return -1;
    }
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        snprintf(err, elen, "cannot create %s: %s", dst, strerror(errno));
        close(in);
        return -1;
    }
    char buf[1 << 16];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                rc = -1;
                break;
            }
            off += w;
        }
        if (rc)
            break;
    }
    if (n < 0 || rc || fsync(out)) {
        snprintf(err, elen, "cannot copy %s to %s: %s", src, dst, strerror(errno));
        rc = -1;
    }
    close(in);
    if (close(out) && rc == 0) {
        snprintf(err, elen, "cannot close %s: %s", dst, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* backup_sha256_file - see backup.h */
int backup_sha256_file(const char *path, char *hex, int64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    unsigned char buf[1 << 16], sum[crypto_hash_sha256_BYTES];
    ssize_t n;
    int64_t total = 0;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
        total += n;
    }
    close(fd);
    crypto_hash_sha256_final(&st, sum);
    sodium_bin2hex(hex, 65, sum, sizeof sum);
    *size = total;
    return 0;
}

/* backup_name_ok - see backup.h: a manifest read from a directory someone
 * handed us must not make a restore read or write outside it */
int backup_name_ok(const char *name)
{
    return name && *name && !strchr(name, '/') && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0 && strlen(name) < 256;
}

/* backup_manifest_new - see backup.h */
json_t *backup_manifest_new(const char *hark_version, const char *by)
{
    char now[40];
    clock_format(clock_now_ms(), now, sizeof now);
    return json_pack("{s:i,s:s,s:s,s:s,s:i,s:[]}", "format", BACKUP_FORMAT, "hark_version",
                     hark_version, "created_at", now, "by", by, "journal_head", 0, "files");
}

/* backup_manifest_add - see backup.h */
int backup_manifest_add(json_t *m, const char *dir, const char *name, const char *setting,
                        const char *role, int required, char *err, size_t elen)
{
    char path[PATH_MAX], hex[65];
    int64_t size;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (backup_sha256_file(path, hex, &size)) {
        snprintf(err, elen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    json_t *f = json_pack("{s:s,s:s,s:s,s:b,s:I,s:s}", "name", name, "setting", setting, "role",
                          role, "required", required, "size", (json_int_t)size, "sha256", hex);
    if (!f || json_array_append_new(json_object_get(m, "files"), f)) {
        snprintf(err, elen, "out of memory");
        return -1;
    }
    return 0;
}

/* backup_manifest_save - see backup.h */
int backup_manifest_save(const json_t *m, const char *dir)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, BACKUP_MANIFEST);
    snprintf(path, sizeof path, "%s/%s", dir, BACKUP_MANIFEST);
    if (json_dump_file(m, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) || s_fsync_path(tmp) ||
        rename(tmp, path) || backup_fsync_dir(dir)) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* backup_manifest_load - see backup.h */
json_t *backup_manifest_load(const char *dir, char *err, size_t elen)
{
    char path[PATH_MAX];
    json_error_t je;
    snprintf(path, sizeof path, "%s/%s", dir, BACKUP_MANIFEST);
    json_t *m = json_load_file(path, 0, &je);
    if (!m) {
        if (access(path, F_OK) != 0)
            snprintf(err, elen, "%s: no manifest (not a backup, or an unfinished one)", dir);
        else
            snprintf(err, elen, "%s: line %d: %s", path, je.line, je.text);
        return NULL;
    }
    const json_t *files = json_object_get(m, "files");
    const char *why = NULL;
    if (json_integer_value(json_object_get(m, "format")) != BACKUP_FORMAT)
        why = "an unknown format";
    else if (!json_is_integer(json_object_get(m, "journal_head")) ||
             json_integer_value(json_object_get(m, "journal_head")) < 0)
        why = "no journal_head";
    else if (!json_is_array(files))
        why = "no files";
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f)
    {
        const char *hex = json_string_value(json_object_get(f, "sha256"));
        if (why)
            break;
        if (!backup_name_ok(json_string_value(json_object_get(f, "name"))))
            why = "a file name that is not a plain name";
        else if (!json_is_string(json_object_get(f, "setting")) ||
                 !json_is_string(json_object_get(f, "role")))
            why = "a file without setting or role";
        else if (!json_is_integer(json_object_get(f, "size")) || !hex || strlen(hex) != 64)
            why = "a file without size or sha256";
    }
    if (why) {
        snprintf(err, elen, "%s: %s", path, why);
        json_decref(m);
        return NULL;
    }
    return m;
}

/* backup_manifest_check - see backup.h */
int backup_manifest_check(const json_t *m, const char *dir,
                          void (*say)(const char *msg, void *arg), void *arg)
{
    int bad = 0;
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(m, "files"), i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *want = json_string_value(json_object_get(f, "sha256"));
        json_int_t wsize = json_integer_value(json_object_get(f, "size"));
        char path[PATH_MAX], hex[65], msg[PATH_MAX + 200];
        int64_t size;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (backup_sha256_file(path, hex, &size)) {
            snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
        } else if (size != wsize) {
            snprintf(msg, sizeof msg, "%s: %lld bytes, the manifest says %lld", path,
                     (long long)size, (long long)wsize);
        } else if (!want || strcmp(hex, want) != 0) {
            snprintf(msg, sizeof msg, "%s: SHA-256 %s, the manifest says %s", path, hex,
                     want ? want : "none");
        } else {
            continue;
        }
        bad++;
        say(msg, arg);
    }
    return bad;
}
