/*
 * inbox_maildir.c - reading the Maildir, each message exactly once.
 *
 * For each file in new/ (oldest names first, at most S_BATCH a tick):
 *   1. its unique name (before any ':') already in inbox.db: a crash
 *      came between the commit and the rename; only the rename is left;
 *   2. else read and parse it (inbox_parse.c), then in one transaction
 *      record it and write the event it became into the outbox;
 *   3. rename it into cur/ with ":2,S" (seen), or .bad/cur/ when it could
 *      not be read;
 * and then hand the outbox to the journal (whose keys, inbox/<name>, make
 * a second append of the same event a no-op).  A kill -9 before the
 * commit leaves the file in new/ and nothing recorded, so it is read
 * again; after it, step 1 finishes the move: never twice, never lost.
 *
 * Test hook: HARK_INBOX_CRASH_FILE names a file holding "parse" or
 * "commit"; when it exists the service removes it and kills itself with
 * SIGKILL after parsing (before the commit) or after the commit (before
 * the rename) of the next message, once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "inbox.h"
#include "log.h"
#include "outbox.h"

#define S_BATCH 500

/* s_mkdir - path, which may exist */
static int s_mkdir(const char *path)
{
    return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* inbox_maildir_prepare - the folders Maildir readers and writers expect */
int inbox_maildir_prepare(const char *maildir)
{
    static const char *const sub[] = {"", "/new", "/cur", "/tmp", "/.bad", "/.bad/new",
                                      "/.bad/cur", "/.bad/tmp", NULL};
    char path[4200];
    for (int i = 0; sub[i]; i++) {
        snprintf(path, sizeof path, "%s%s", maildir, sub[i]);
        if (s_mkdir(path)) {
            log_error("event=maildir_unusable path=%s error=\"%s\"", log_value(path),
                      strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* s_crash_hook - the test hook (see the file's comment) */
static void s_crash_hook(const char *when)
{
    const char *f = getenv("HARK_INBOX_CRASH_FILE");
    if (!f || !*f)
        return;
    char what[32] = "";
    FILE *fp = fopen(f, "r");
    if (!fp)
        return;
    if (!fgets(what, sizeof what, fp))
        what[0] = '\0';
    fclose(fp);
    what[strcspn(what, "\r\n")] = '\0';
    if (strcmp(what, when) != 0)
        return;
    unlink(f);
    log_warn("event=crash_hook when=%s", when);
    raise(SIGKILL);
}

/* s_read - the whole file (malloc'd) if it is at most max bytes; *size
 * set either way; NULL when unreadable or too large */
static char *s_read(const char *path, int64_t max, int64_t *size, int *too_big)
{
    *too_big = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        close(fd);
        return NULL;
    }
    *size = sb.st_size;
    if (sb.st_size > max) {
        *too_big = 1;
        close(fd);
        return NULL;
    }
    char *data = malloc((size_t)sb.st_size + 1);
    size_t got = 0;
    while (data && got < (size_t)sb.st_size) {
        ssize_t r = read(fd, data + got, (size_t)sb.st_size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (data && got != (size_t)sb.st_size) {
        free(data);
        return NULL;
    }
    if (data)
        data[got] = '\0';
    return data;
}

/* s_parse_file - the message at path parsed into m, or m set aside (bad)
 * with why: larger than [inbox] max_size, or unreadable; *size its bytes */
static void s_parse_file(const inbox_t *in, const char *path, int64_t *size, inbox_mail_t *m)
{
    int too_big;
    char *data = s_read(path, in->max_size, size, &too_big);
    if (data) {
        inbox_parse(in->token_key, data, (size_t)*size, m);
        free(data);
        return;
    }
    memset(m, 0, sizeof *m);
    m->outcome = INBOX_BAD;
    if (too_big)
        snprintf(m->reason, sizeof m->reason, "larger than [inbox] max_size (%lld bytes)",
                 (long long)*size);
    else
        snprintf(m->reason, sizeof m->reason, "unreadable: %s", strerror(errno));
}

/* s_move - new/NAME into cur/ (or .bad/cur/) as UNIQUE:2,S */
static void s_move(const char *maildir, const char *name, const char *unique, int bad)
{
    char from[4400], to[4400];
    snprintf(from, sizeof from, "%s/new/%s", maildir, name);
    snprintf(to, sizeof to, "%s/%s/%s:2,S", maildir, bad ? ".bad/cur" : "cur", unique);
    if (rename(from, to) != 0)
        log_error("event=move_failed file=%s error=\"%s\"", log_value(name), strerror(errno));
}

/* s_cmp - names in order (Maildir names start with the delivery time) */
static int s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* s_one - steps 1-3 for one file; 0, or -1 to stop this tick (the
 * database refused: try again later) */
static int s_one(service_t *svc, inbox_t *in, const char *name)
{
    sqlite3 *db = service_db(svc);
    char unique[256], seen[32], path[4400];
    snprintf(unique, sizeof unique, "%.*s", (int)strcspn(name, ":"), name);
    int was = inbox_store_seen(db, unique, seen, sizeof seen);
    if (was < 0)
        return -1;
    if (was) {
        log_info("event=moved_after_restart file=%s", log_value(unique));
        s_move(in->maildir, name, unique, strcmp(seen, "bad") == 0);
        return 0;
    }
    snprintf(path, sizeof path, "%s/new/%s", in->maildir, name);
    int64_t size = 0;
    inbox_mail_t m;
    s_parse_file(in, path, &size, &m);
    s_crash_hook("parse");
    if (inbox_store_record(db, unique, size, &m, clock_now_ms(), 1)) {
        log_error("event=record_failed file=%s error=\"%s\"", log_value(unique),
                  sqlite3_errmsg(db));
        inbox_mail_clear(&m);
        return -1;
    }
    s_crash_hook("commit");
    log_info("event=mail_read file=%s outcome=%s from=%s reason=\"%s\"", log_value(unique),
             inbox_outcome_name(m.outcome), log_value(m.from ? m.from : ""), m.reason);
    s_move(in->maildir, name, unique, m.outcome == INBOX_BAD);
    inbox_mail_clear(&m);
    return 0;
}

/* s_names - the names in dir but dot files, sorted (*names malloc'd, each
 * too); 0/-1 */
static int s_names(const char *dir, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nn = realloc(*names, nc * sizeof *nn);
            if (!nn) {
                rc = -1;
                break;
            }
            *names = nn;
            cap = nc;
        }
        if (!((*names)[*n] = strdup(e->d_name))) {
            rc = -1;
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (*n > 1)
        qsort(*names, *n, sizeof **names, s_cmp);
    return rc;
}

/* s_reread_one - a file of cur/ (bad: .bad/cur/) recorded as read, no
 * event; 0/-1 */
static int s_reread_one(sqlite3 *db, inbox_t *in, const char *sub, const char *name, int bad)
{
    char unique[256], seen[32], path[4400];
    snprintf(unique, sizeof unique, "%.*s", (int)strcspn(name, ":"), name);
    int was = inbox_store_seen(db, unique, seen, sizeof seen);
    if (was)
        return was < 0 ? -1 : 0;
    snprintf(path, sizeof path, "%s/%s/%s", in->maildir, sub, name);
    struct stat sb;
    /* when it was read: not known any more; when it was delivered is close */
    int64_t at = stat(path, &sb) == 0 ? (int64_t)sb.st_mtime * 1000 : clock_now_ms();
    int64_t size = 0;
    inbox_mail_t m;
    s_parse_file(in, path, &size, &m);
    if (bad && m.outcome != INBOX_BAD) { /* set aside before: it stays aside */
        m.outcome = INBOX_BAD;
        snprintf(m.reason, sizeof m.reason, "set aside before inbox.db was made again");
    }
    int rc = inbox_store_record(db, unique, size, &m, at, 0);
    inbox_mail_clear(&m);
    return rc;
}

int inbox_maildir_reread(service_t *svc)
{
    inbox_t *in = service_state(svc);
    sqlite3 *db = service_db(svc);
    if (db_int(db, "SELECT count(*) FROM messages", -1) != 0)
        return 0;
    static const struct {
        const char *sub;
        int bad;
    } subs[] = {{"cur", 0}, {".bad/cur", 1}};
    size_t total = 0;
    for (size_t s = 0; s < 2; s++) {
        char dir[4200], **names = NULL;
        size_t n = 0;
        snprintf(dir, sizeof dir, "%s/%s", in->maildir, subs[s].sub);
        int rc = s_names(dir, &names, &n);
        for (size_t i = 0; i < n; i++) {
            if (rc == 0 && s_reread_one(db, in, subs[s].sub, names[i], subs[s].bad))
                rc = -1;
            free(names[i]);
        }
        free(names);
        if (rc) {
            log_error("event=reread_failed dir=%s", log_value(dir));
            return -1;
        }
        total += n;
    }
    if (total)
        log_info("event=maildir_reread files=%zu", total);
    return 0;
}

/* inbox_maildir_run - timer: what new/ holds, a batch at a time */
int inbox_maildir_run(evloop_t *loop, void *arg)
{
    service_t *svc = arg;
    inbox_t *in = service_state(svc);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/new", in->maildir);
    DIR *d = opendir(dir);
    if (!d) {
        log_error("event=maildir_unreadable path=%s error=\"%s\"", log_value(dir), strerror(errno));
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int more = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn)
                break;
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, s_cmp);
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        if (done < S_BATCH && s_one(svc, in, names[i]) == 0)
            done++;
        else
            more = 1;
        free(names[i]);
    }
    free(names);
    /* every tick: what a journal that was away did not take goes now */
    outbox_flush(service_db(svc), in->journal);
    /* a full batch: the rest at once, after the loop has served the rest */
    evloop_timer_at(loop, in->timer, more && done ? 0 : in->poll_ms);
    return 0;
}
