/*
 * hark_backup.c - `hark backup`, `hark restore`, `hark rebuild`: the
 * backup story of hark-backup(7).
 *
 *   backup DIR           every SQLite file, copied online while Hark runs
 *                        (backup.c), and DIR/manifest.json
 *   backup --verify DIR  every file against the manifest's size and SHA-256
 *   restore [--state D] [--force] DIR
 *                        into a stopped or new state dir; the journal says
 *                        so at its next start (hark.restored)
 *   rebuild SERVICE|all  harkd holds the service stopped, its file is moved
 *                        aside, it starts again and replays the journal
 *
 * What is copied: the journal's files (required: the journal is the truth),
 * the files of the services that cannot be rebuilt from it (required, see
 * s_keep), and every other service's file (optional: each can be rebuilt
 * by replay, but a restore that has them starts at once instead of
 * replaying the whole journal).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "clock.h"
#include "hark.h"
#include "partition.h"
#include "pidlock.h"
#include "proto.h"

#define S_PENDING "restore.pending" /* in the state dir, read by hark-journal */
#define S_ASIDE ".before-rebuild"   /* survey.db -> survey.db.before-rebuild */
#define S_STALL_MS 60000            /* a rebuild that applies nothing this long failed */

enum { S_REQUIRED, S_IF_PRESENT, S_IF_SET };

/* The journal's files, copied AFTER every service's file, in this order.
 * A file joins the backup with one line here: the setting that names it
 * (when the setting is unknown or empty, name in the state dir), whether it
 * is a SQLite file (copied online) or a plain one (byte for byte), and
 * whether a backup without it is refused (S_REQUIRED), made without it when
 * it does not exist (S_IF_PRESENT) or when the setting is not set (S_IF_SET).
 * Per-customer keys are copied after the journal: a key is written before
 * the first event that uses it, so a copy of the keys taken after the
 * journal's holds every key the copied events need.  The erasure log is
 * never restored over a newer one (see s_restore_file). */
static const struct {
    const char *section, *key, *name, *role;
    int sqlite, need;
} s_journal_files[] = {
    {"journal", "db", "journal.db", "journal", 1, S_REQUIRED},
    {"privacy", "keys_db", "journal-keys.db", "journal", 1, S_IF_PRESENT},
    {"privacy", "erasure_log", "erasure.log", "erasure_log", 0, S_IF_SET},
};
#define S_NJOURNAL_FILES (sizeof s_journal_files / sizeof s_journal_files[0])

/* Services whose file the journal cannot give back: a backup without it is
 * refused, and `hark rebuild` leaves it alone. */
static const struct {
    const char *service, *why;
} s_keep[] = {
    {"console", "its staff accounts are not in the journal"},
};

/* s_kept - why service's file is not rebuilt, or NULL when it can be */
static const char *s_kept(const char *service)
{
    for (size_t i = 0; i < sizeof s_keep / sizeof s_keep[0]; i++)
        if (strcmp(s_keep[i].service, service) == 0)
            return s_keep[i].why;
    return NULL;
}

/* s_exists - path is there */
static int s_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* s_dir_empty - 1 when dir does not exist or holds nothing, else 0 */
static int s_dir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT;
    int empty = 1;
    for (struct dirent *e; empty && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            empty = 0;
    closedir(d);
    return empty;
}

/* s_journal_path - where journal file i lives for cfg; 0 when it is not
 * there to copy (S_IF_SET and unset), else 1 */
static int s_journal_path(const config_t *cfg, size_t i, char *out, size_t len)
{
    const char *v = config_get(cfg, s_journal_files[i].section, s_journal_files[i].key);
    if (v && *v) {
        snprintf(out, len, "%s", v);
        return 1;
    }
    if (s_journal_files[i].need == S_IF_SET)
        return 0;
    snprintf(out, len, "%s/%s", config_state_dir(cfg), s_journal_files[i].name);
    return 1;
}

/* s_sqlite_head - the newest offset in the journal copy at path, -1 if unreadable */
static long long s_sqlite_head(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long head = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT coalesce(max(offset), 0) FROM events", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        head = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return head;
}

/* s_copy_one - src into dir/name (online when sqlite) and into m; 0/-1 */
static int s_copy_one(json_t *m, const char *dir, const char *src, const char *name,
                      const char *setting, const char *role, int required, int sqlite)
{
    char dst[PATH_MAX], err[PATH_MAX + 200];
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    if ((sqlite ? backup_sqlite_copy(src, dst, err, sizeof err)
                : backup_plain_copy(src, dst, err, sizeof err)) ||
        backup_manifest_add(m, dir, name, setting, role, required, err, sizeof err)) {
        fprintf(stderr, "hark: backup: %s\n", err);
        return -1;
    }
    const json_t *files = json_object_get(m, "files");
    const json_t *f = json_array_get(files, json_array_size(files) - 1);
    printf("  %-20s %12lld bytes  %s\n", name,
           (long long)json_integer_value(json_object_get(f, "size")),
           required ? "required" : "rebuildable");
    return 0;
}

/* One process of a service, as harkd names it, with its file and control
 * socket: the service itself, or with [<name>] partitions = N > 1 each of
 * its N partitions (partition.h) */
typedef struct {
    char name[80], db[PATH_MAX], ctl[512];
} s_instance_t;

/* s_instances - service's instances into out (PARTITION_MAX of them); how
 * many, 0 when a name does not fit */
static size_t s_instances(const config_t *cfg, const char *service, s_instance_t *out)
{
    const char *db = config_get(cfg, service, "db"), *ctl = config_get(cfg, service, "control");
    unsigned n = partition_count(cfg, service);
    for (unsigned k = 0; k < n; k++) {
        s_instance_t *in = &out[k];
        if (n == 1) {
            snprintf(in->name, sizeof in->name, "%s", service);
            snprintf(in->db, sizeof in->db, "%s", db ? db : "");
            snprintf(in->ctl, sizeof in->ctl, "%s", ctl ? ctl : "");
        } else {
            snprintf(in->name, sizeof in->name, "%s-%u", service, k);
            if (!db || !ctl || partition_path(db, (int)k, in->db, sizeof in->db) ||
                partition_endpoint(ctl, (int)k, in->ctl, sizeof in->ctl))
                return 0;
        }
    }
    return n;
}

/* s_backup - hark backup DIR */
static int s_backup(cli_t *cli, const char *dir)
{
    if (!s_dir_empty(dir)) {
        fprintf(stderr, "hark: backup: %s is not empty (a backup goes into a new directory)\n",
                dir);
        return 2;
    }
    if (mkdir(dir, 0700) && errno != EEXIST) {
        fprintf(stderr, "hark: backup: cannot make %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char by[80];
    hark_by(by, sizeof by);
    json_t *m = backup_manifest_new(HARK_WIRE_VERSION, by);
    if (!m)
        return 1;
    int64_t t0 = clock_mono_ms();
    int rc = 0;
    const char *names[64];
    size_t n = config_list(cli->cfg, "hark", "services", names, 64);
    /* The services first, the journal last.  Each service commits its
     * cursor (the journal offset it has applied) with what it applied, so a
     * service file copied at time t1 is at most at the journal's head at t1,
     * and the journal copied at t2 > t1 holds every event up to that head
     * and more: a restored service is at or BEHIND its journal and catches
     * up at start.  The other order would let a service copy be AHEAD of
     * the journal copy: its cursor past the restored head, it would skip
     * the new events that take those offsets again, and hold state from
     * events the restored journal never had. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!config_get(cli->cfg, names[i], "db") || strcmp(names[i], "journal") == 0)
            continue;
        /* a partitioned service: each partition's file, named by the
         * partition, restored where [<name>] db puts it (s_target) */
        s_instance_t in[PARTITION_MAX];
        size_t np = s_instances(cli->cfg, names[i], in);
        for (size_t k = 0; k < np && rc == 0; k++) {
            const char *src = in[k].db;
            int required = s_kept(names[i]) != NULL;
            char name[128], setting[128];
            if (snprintf(name, sizeof name, "%s.db", in[k].name) >= (int)sizeof name ||
                snprintf(setting, sizeof setting, "%s.db", names[i]) >= (int)sizeof setting) {
                fprintf(stderr, "hark: backup: %s: a service name too long\n", names[i]);
                rc = 1;
                continue;
            }
            if (!s_exists(src)) {
                if (required) {
                    fprintf(stderr, "hark: backup: %s: no such file (%s keeps what nothing else "
                                    "can give back: has it ever run?)\n", src, names[i]);
                    rc = 1;
                } else {
                    printf("  %-20s (no file yet: rebuilt from the journal)\n", name);
                }
                continue;
            }
            rc = s_copy_one(m, dir, src, name, setting, "service", required, 1);
            if (rc == 0 && np > 1) {
                json_t *files = json_object_get(m, "files");
                json_object_set_new(json_array_get(files, json_array_size(files) - 1),
                                    "partition", json_integer((json_int_t)k));
            }
        }
    }
    for (size_t i = 0; i < S_NJOURNAL_FILES && rc == 0; i++) {
        char src[PATH_MAX], setting[128];
        if (!s_journal_path(cli->cfg, i, src, sizeof src))
            continue;
        if (!s_exists(src) && s_journal_files[i].need != S_REQUIRED)
            continue;
        snprintf(setting, sizeof setting, "%s.%s", s_journal_files[i].section,
                 s_journal_files[i].key);
        rc = s_copy_one(m, dir, src, s_journal_files[i].name, setting, s_journal_files[i].role,
                        1, s_journal_files[i].sqlite);
    }
    long long head = -1;
    if (rc == 0) {
        char jpath[PATH_MAX];
        snprintf(jpath, sizeof jpath, "%s/%s", dir, s_journal_files[0].name);
        head = s_sqlite_head(jpath);
        if (head < 0) {
            fprintf(stderr, "hark: backup: %s: no events table\n", jpath);
            rc = 1;
        }
    }
    if (rc == 0) {
        json_object_set_new(m, "journal_head", json_integer(head));
        if (backup_manifest_save(m, dir)) {
            fprintf(stderr, "hark: backup: cannot write %s/%s: %s\n", dir, BACKUP_MANIFEST,
                    strerror(errno));
            rc = 1;
        }
    }
    if (rc == 0)
        printf("backup in %s: %zu files, journal head %lld, %.1f s\n", dir,
               json_array_size(json_object_get(m, "files")), head,
               (double)(clock_mono_ms() - t0) / 1000.0);
    else
        fprintf(stderr, "hark: backup: failed; %s has no manifest and is no backup\n", dir);
    json_decref(m);
    return rc;
}

/* s_say - one problem of a check, to stderr */
static void s_say(const char *msg, void *arg)
{
    fprintf(stderr, "hark: %s: %s\n", (const char *)arg, msg);
}

/* s_checked - the manifest of dir when every file matches it, else NULL
 * having said why (as "hark: what: ...") */
static json_t *s_checked(const char *dir, const char *what)
{
    char err[PATH_MAX + 200];
    json_t *m = backup_manifest_load(dir, err, sizeof err);
    if (!m) {
        fprintf(stderr, "hark: %s: %s\n", what, err);
        return NULL;
    }
    int bad = backup_manifest_check(m, dir, s_say, (void *)what);
    if (bad) {
        fprintf(stderr, "hark: %s: %s: %d file%s differ%s from the manifest\n", what, dir, bad,
                bad == 1 ? "" : "s", bad == 1 ? "s" : "");
        json_decref(m);
        return NULL;
    }
    return m;
}

/* s_verify - hark backup --verify DIR */
static int s_verify(const char *dir)
{
    json_t *m = s_checked(dir, "verify");
    if (!m)
        return 1;
    printf("%s: ok (%zu files, journal head %lld, made %s by %s)\n", dir,
           json_array_size(json_object_get(m, "files")),
           (long long)json_integer_value(json_object_get(m, "journal_head")),
           json_string_value(json_object_get(m, "created_at")),
           json_string_value(json_object_get(m, "by")));
    json_decref(m);
    return 0;
}

/* hark_backup - `hark backup [--verify] DIR` */
int hark_backup(cli_t *cli)
{
    if (cli->argc == 2 && strcmp(cli->argv[0], "--verify") == 0)
        return s_verify(cli->argv[1]);
    if (cli->argc == 1 && cli->argv[0][0] != '-')
        return s_backup(cli, cli->argv[0]);
    fprintf(stderr, "usage: hark backup DIR | hark backup --verify DIR\n");
    return 2;
}

/* --- restore ------------------------------------------------------------- */

/* s_target - where manifest file f goes: the setting's value in cfg, or
 * with a state dir given (state), its name there; the erasure log keeps
 * its configured place either way */
static void s_target(const config_t *cfg, const char *state, const json_t *f, char *out,
                     size_t len)
{
    const char *name = json_string_value(json_object_get(f, "name"));
    const char *setting = json_string_value(json_object_get(f, "setting"));
    const char *role = json_string_value(json_object_get(f, "role"));
    char sec[128];
    const char *dot = strrchr(setting, '.');
    snprintf(sec, sizeof sec, "%.*s", dot ? (int)(dot - setting) : 0, setting);
    const char *v = dot ? config_get(cfg, sec, dot + 1) : NULL;
    json_t *part = json_object_get(f, "partition"); /* mailer-2.db: [mailer] db's -2 */
    if (v && *v && !state && json_is_integer(part) &&
        partition_path(v, (int)json_integer_value(part), out, len) == 0)
        return;
    if (v && *v && (!state || strcmp(role, "erasure_log") == 0))
        snprintf(out, len, "%s", v);
    else
        snprintf(out, len, "%s/%s", state ? state : config_state_dir(cfg), name);
}

/* s_remove_db - path and its -wal and -shm gone (a WAL left beside a file
 * it does not belong to would be replayed into it); 0/-1 */
static int s_remove_db(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        char p[PATH_MAX + 16];
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        if (unlink(p) && errno != ENOENT) {
            fprintf(stderr, "hark: restore: cannot remove %s: %s\n", p, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* s_restore_file - dir/name into target: a temp file beside it, fsync,
 * rename, fsync of the directory.  The erasure log is the exception: one
 * already at target is newer than the backup's (erasures are only ever
 * added), and the journal re-applies it at start, so it is kept; only a
 * missing one is restored. */
static int s_restore_file(const char *dir, const json_t *f, const char *target)
{
    const char *name = json_string_value(json_object_get(f, "name"));
    const char *role = json_string_value(json_object_get(f, "role"));
    char src[PATH_MAX], tmp[PATH_MAX + 16], parent[PATH_MAX], err[PATH_MAX + 200];
    if (strcmp(role, "erasure_log") == 0 && s_exists(target)) {
        printf("  %-20s kept %s (newer than the backup's)\n", name, target);
        return 0;
    }
    snprintf(src, sizeof src, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.restoring", target);
    snprintf(parent, sizeof parent, "%s", target);
    char *slash = strrchr(parent, '/');
    if (slash)
        *slash = '\0';
    unlink(tmp);
    if (backup_plain_copy(src, tmp, err, sizeof err)) {
        fprintf(stderr, "hark: restore: %s\n", err);
        return -1;
    }
    if (strcmp(role, "erasure_log") != 0 && s_remove_db(target))
        return -1;
    if (rename(tmp, target) || backup_fsync_dir(slash ? parent : ".")) {
        fprintf(stderr, "hark: restore: cannot put %s in place: %s\n", target, strerror(errno));
        return -1;
    }
    printf("  %-20s -> %s\n", name, target);
    return 0;
}

/* s_running - 1 when a process of Hark holds its lock in state (said why) */
static int s_running(const config_t *cfg, const char *state)
{
    const char *names[64];
    size_t n = config_list(cfg, "hark", "services", names, 63);
    names[n++] = "harkd";
    for (size_t i = 0; i < n * (PARTITION_MAX + 1); i++) {
        /* each service, then each partition a service may have */
        char lock[PATH_MAX], inst[96];
        long pid = 0;
        const char *svc = names[i % n];
        if (i >= n && (strcmp(svc, "harkd") == 0 || !config_default(svc, "partitions")))
            continue;
        if (i < n)
            snprintf(inst, sizeof inst, "%s", svc);
        else
            snprintf(inst, sizeof inst, "%s-%zu", svc, i / n - 1);
        pidlock_path(state, inst, lock, sizeof lock);
        if (pidlock_held(lock, &pid) == 1) {
            fprintf(stderr, "hark: restore: %s (pid %ld) runs on %s (it holds %s): stop Hark "
                            "there first\n", inst, pid,
                    state, lock);
            return 1;
        }
    }
    return 0;
}

/* s_pending - state/restore.pending: what hark-journal journals as
 * hark.restored at its next start (journal_restored.c); 0/-1 */
static int s_pending(const char *state, const json_t *m, const char *by)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/%s", state, S_PENDING);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    json_t *p = json_pack("{s:s,s:O,s:O,s:O}", "by", by, "head",
                          json_object_get(m, "journal_head"), "backup_at",
                          json_object_get(m, "created_at"), "hark_version",
                          json_object_get(m, "hark_version"));
    int rc = p && json_dump_file(p, tmp, JSON_COMPACT) == 0 && rename(tmp, path) == 0 &&
                     backup_fsync_dir(state) == 0
                 ? 0
                 : -1;
    json_decref(p);
    if (rc)
        fprintf(stderr, "hark: restore: cannot write %s: %s\n", path, strerror(errno));
    return rc;
}

/* hark_restore - `hark restore [--state DIR] [--force] BACKUP` */
int hark_restore(cli_t *cli)
{
    const char *state = NULL, *dir = NULL;
    int force = 0;
    for (int i = 0; i < cli->argc; i++) {
        if (strcmp(cli->argv[i], "--state") == 0 && i + 1 < cli->argc)
            state = cli->argv[++i];
        else if (strcmp(cli->argv[i], "--force") == 0)
            force = 1;
        else if (cli->argv[i][0] != '-' && !dir)
            dir = cli->argv[i];
        else
            dir = NULL, i = cli->argc;
    }
    if (!dir) {
        fprintf(stderr, "usage: hark restore [--state DIR] [--force] BACKUP\n");
        return 2;
    }
    const char *sd = state ? state : config_state_dir(cli->cfg);
    json_t *m = s_checked(dir, "restore");
    if (!m)
        return 1;
    int rc = 0, journal = 0;
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(m, "files"), i, f)
        journal |= strcmp(json_string_value(json_object_get(f, "name")),
                          s_journal_files[0].name) == 0;
    if (!journal) { /* nothing can be restored without the truth */
        fprintf(stderr, "hark: restore: %s has no %s\n", dir, s_journal_files[0].name);
        json_decref(m);
        return 1;
    }
    if (s_running(cli->cfg, sd)) {
        json_decref(m);
        return 1;
    }
    /* what is there already: the backup's files, and every other
     * service's file (from another history: it could be ahead of the
     * restored journal, so it goes) */
    size_t nf = json_array_size(json_object_get(m, "files"));
    char (*targets)[PATH_MAX] = calloc(nf + 1, PATH_MAX);
    if (!targets) {
        json_decref(m);
        return 1;
    }
    int there = 0;
    json_array_foreach(json_object_get(m, "files"), i, f)
    {
        s_target(cli->cfg, state, f, targets[i], PATH_MAX);
        if (strcmp(json_string_value(json_object_get(f, "role")), "erasure_log") != 0 &&
            s_exists(targets[i])) {
            fprintf(stderr, "hark: restore: %s exists\n", targets[i]);
            there++;
        }
    }
    const char *names[64];
    size_t n = config_list(cli->cfg, "hark", "services", names, 64);
    char (*others)[PATH_MAX] = calloc(n * (PARTITION_MAX + 1) + 1, PATH_MAX);
    size_t no = 0;
    if (!others) {
        free(targets);
        json_decref(m);
        return 1;
    }
    /* each service's file, and the file of each partition it may have had */
    for (size_t s = 0; s < n * (PARTITION_MAX + 1); s++) {
        const char *svc = names[s % n], *db = config_get(cli->cfg, svc, "db");
        int k = (int)(s / n) - 1;
        char want[128];
        if (k >= 0 && !config_default(svc, "partitions"))
            continue;
        if (k < 0)
            snprintf(want, sizeof want, "%s.db", svc);
        else
            snprintf(want, sizeof want, "%s-%d.db", svc, k);
        int in_backup = 0;
        json_array_foreach(json_object_get(m, "files"), i, f)
            in_backup |= strcmp(json_string_value(json_object_get(f, "name")), want) == 0;
        if (!db || in_backup || strcmp(svc, "journal") == 0)
            continue;
        if (state)
            snprintf(others[no], PATH_MAX, "%s/%s", state, want);
        else if (k < 0)
            snprintf(others[no], PATH_MAX, "%s", db);
        else if (partition_path(db, k, others[no], PATH_MAX))
            continue;
        if (s_exists(others[no])) {
            fprintf(stderr, "hark: restore: %s exists\n", others[no]);
            there++;
            no++;
        }
    }
    if (there && !force) {
        fprintf(stderr, "hark: restore: %s holds an instance's files; restore replaces them "
                        "only with --force\n", sd);
        rc = 2;
        goto out;
    }
    if (mkdir(sd, 0700) && errno != EEXIST) {
        fprintf(stderr, "hark: restore: cannot make %s: %s\n", sd, strerror(errno));
        rc = 1;
        goto out;
    }
    for (size_t o = 0; o < no && rc == 0; o++)
        rc = s_remove_db(others[o]) ? 1 : 0;
    json_array_foreach(json_object_get(m, "files"), i, f)
    {
        if (rc == 0 && s_restore_file(dir, f, targets[i]))
            rc = 1;
    }
    char by[80];
    hark_by(by, sizeof by);
    if (rc == 0 && s_pending(sd, m, by))
        rc = 1;
    if (rc == 0)
        printf("restored %s into %s: journal head %lld; the journal records hark.restored "
               "when Hark starts there\n", dir, sd,
               (long long)json_integer_value(json_object_get(m, "journal_head")));
out:
    free(others);
    free(targets);
    json_decref(m);
    return rc;
}

/* --- rebuild ------------------------------------------------------------- */

/* s_head - the journal's head now, -1 when it does not answer */
static long long s_head(cli_t *cli)
{
    char cmd[48] = "";
    json_t *req = json_pack("{s:i,s:i}", "after", 0, "limit", 1);
    json_t *r = hark_call(cli, config_get(cli->cfg, "journal", "endpoint"), CMD_JOURNAL_FETCH,
                          req, cmd);
    json_decref(req);
    long long head = r && strcmp(cmd, CMD_JOURNAL_FETCH_OK) == 0
                         ? json_integer_value(json_object_get(r, "head"))
                         : -1;
    json_decref(r);
    return head;
}

/* s_harkd - ask harkd cmd for service; 0, or 1 having said why */
static int s_harkd(cli_t *cli, const char *cmd, const char *ok, const char *service)
{
    int rc = 0;
    json_t *req = json_pack("{s:s}", "service", service);
    json_t *r = hark_ask(cli, config_get(cli->cfg, "harkd", "control"), cmd, ok, req, "harkd",
                         "rebuild", &rc);
    json_decref(req);
    json_decref(r);
    return r ? 0 : 1;
}

/* s_move_aside - path (and its -wal, -shm) to path.before-rebuild, replacing
 * the one an earlier rebuild left; 0/-1 */
static int s_move_aside(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    char aside[PATH_MAX + 32];
    snprintf(aside, sizeof aside, "%s%s", path, S_ASIDE);
    if (s_remove_db(aside))
        return -1;
    for (size_t i = 0; i < 3; i++) {
        char from[PATH_MAX + 8], to[PATH_MAX + 48];
        snprintf(from, sizeof from, "%s%s", path, sfx[i]);
        snprintf(to, sizeof to, "%s%s", aside, sfx[i]);
        if (rename(from, to) && errno != ENOENT) {
            fprintf(stderr, "hark: rebuild: cannot move %s aside: %s\n", from, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* s_sleep_ms - nap */
static void s_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* s_caught_up - instance in's cursor at head (events that come meanwhile
 * it applies as usual); 0, or 1 having said it is stuck */
static int s_caught_up(cli_t *cli, const s_instance_t *in, long long head)
{
    long long cursor = -1, last = -1;
    int64_t moved = clock_mono_ms();
    while (cursor < head) {
        char cmd[48] = "";
        json_t *st = hark_call(cli, in->ctl, CMD_SERVICE_STATUS, NULL, cmd);
        if (st && strcmp(cmd, CMD_SERVICE_STATUS_OK) == 0)
            cursor = json_integer_value(json_object_get(st, "cursor"));
        json_decref(st);
        if (cursor > last)
            last = cursor, moved = clock_mono_ms();
        if (clock_mono_ms() - moved > S_STALL_MS) {
            fprintf(stderr, "hark: rebuild: %s is stuck at offset %lld of %lld (see its log)\n",
                    in->name, cursor, head);
            return 1;
        }
        if (cursor < head)
            s_sleep_ms(100);
    }
    return 0;
}

/* s_rebuild_one - one service, every partition of it: each held stopped,
 * every file of the service aside (a change of [<name>] partitions leaves
 * files of the other layout, hark-scaling(7)), each started and caught up
 * with the journal's head as it was when we began */
static int s_rebuild_one(cli_t *cli, const char *service, int harkd_up)
{
    const char *db = config_get(cli->cfg, service, "db");
    const char *why = s_kept(service);
    if (!db || strcmp(service, "journal") == 0 || why) {
        fprintf(stderr, "hark: rebuild: %s cannot be rebuilt from the journal%s%s\n", service,
                why ? ": " : "", why ? why : "");
        return 2;
    }
    s_instance_t in[PARTITION_MAX];
    size_t n = s_instances(cli->cfg, service, in);
    if (n == 0) {
        fprintf(stderr, "hark: rebuild: %s: its partitions' files or sockets cannot be named\n",
                service);
        return 2;
    }
    int64_t t0 = clock_mono_ms();
    size_t held = 0;
    int rc = 0;
    for (; held < n && rc == 0; held++)
        if (harkd_up && s_harkd(cli, CMD_HARKD_SERVICE_STOP, CMD_HARKD_SERVICE_STOP_OK,
                                in[held].name))
            rc = 1;
    /* each gone when its lock is free: [harkd] grace, then SIGKILL, then reaped */
    long long wait = config_duration_ms(cli->cfg, "harkd", "grace") + 10000;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char lock[PATH_MAX];
        long pid = 0;
        pidlock_path(config_state_dir(cli->cfg), in[i].name, lock, sizeof lock);
        for (long long w = 0; pidlock_held(lock, &pid) == 1 && w < wait; w += 50)
            s_sleep_ms(50);
        if (pidlock_held(lock, &pid) == 1) {
            fprintf(stderr, "hark: rebuild: %s (pid %ld) does not stop%s\n", in[i].name, pid,
                    harkd_up ? "" : " (harkd does not run: stop it yourself)");
            rc = 1;
        }
    }
    int moved = rc == 0 && s_exists(db);
    if (moved)
        rc = s_move_aside(db) ? 1 : 0;
    for (int k = 0; k < PARTITION_MAX && rc == 0; k++) {
        char part[PATH_MAX];
        if (partition_path(db, k, part, sizeof part) == 0 && s_exists(part)) {
            rc = s_move_aside(part) ? 1 : 0;
            moved++;
        }
    }
    for (size_t i = 0; i < held && harkd_up; i++)
        if (s_harkd(cli, CMD_HARKD_SERVICE_START, CMD_HARKD_SERVICE_START_OK, in[i].name))
            rc = 1;
    if (rc)
        return rc;
    if (!harkd_up) {
        if (n > 1)
            printf("%s: %d files moved aside (to %s%s and the like); it replays the journal "
                   "when Hark starts\n", service, moved, in[0].db, S_ASIDE);
        else
            printf("%s: %s moved aside to %s%s; it replays the journal when Hark starts\n",
                   service, db, db, S_ASIDE);
        return 0;
    }
    long long head = s_head(cli);
    if (head < 0) {
        fprintf(stderr, "hark: rebuild: the journal does not answer\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        if (s_caught_up(cli, &in[i], head))
            return 1;
    if (n > 1)
        printf("%s: %zu partitions rebuilt from the journal up to offset %lld in %.1f s (the old "
               "files are %s%s and the like)\n", service, n, head,
               (double)(clock_mono_ms() - t0) / 1000.0, in[0].db, S_ASIDE);
    else
        printf("%s: rebuilt from the journal up to offset %lld in %.1f s (the old file is %s%s)\n",
               service, head, (double)(clock_mono_ms() - t0) / 1000.0, db, S_ASIDE);
    return 0;
}

/* hark_rebuild - `hark rebuild SERVICE|all` */
int hark_rebuild(cli_t *cli)
{
    if (cli->argc != 1 || cli->argv[0][0] == '-') {
        fprintf(stderr, "usage: hark rebuild SERVICE|all\n");
        return 2;
    }
    char cmd[48] = "";
    json_t *st = hark_call(cli, config_get(cli->cfg, "harkd", "control"), CMD_HARKD_STATUS, NULL,
                           cmd);
    int harkd_up = st && strcmp(cmd, CMD_HARKD_STATUS_OK) == 0;
    json_decref(st);
    const char *names[64];
    size_t n = config_list(cli->cfg, "hark", "services", names, 64);
    if (strcmp(cli->argv[0], "all") != 0) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(names[i], cli->argv[0]) == 0)
                return s_rebuild_one(cli, names[i], harkd_up);
        fprintf(stderr, "hark: rebuild: no service \"%s\" in [hark] services\n", cli->argv[0]);
        return 2;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (config_get(cli->cfg, names[i], "db") && strcmp(names[i], "journal") != 0 &&
            !s_kept(names[i]))
            rc = s_rebuild_one(cli, names[i], harkd_up);
    return rc;
}
