/*
 * pidlock.c - one copy of each service per state dir (see pidlock.h).
 * flock(2) rather than fcntl(2) locks: an fcntl lock is dropped when the
 * process closes ANY descriptor of the file, which SQLite's own handles or
 * a library could do behind our back; a flock lock lives with its
 * descriptor.
 */
#include "pidlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

/* pidlock_path - see pidlock.h */
const char *pidlock_path(const char *state_dir, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s.lock", state_dir, name);
    return out;
}

/* s_holder - the pid written in the lock file, 0 when none */
static long s_holder(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    long pid = strtol(buf, NULL, 10);
    return pid > 0 ? pid : 0;
}

/* pidlock_take - see pidlock.h */
int pidlock_take(const char *path, long *holder)
{
    *holder = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK)
            *holder = s_holder(fd);
        close(fd);
        errno = e;
        return e == EWOULDBLOCK ? -2 : -1;
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* pidlock_held - see pidlock.h */
int pidlock_held(const char *path, long *holder)
{
    *holder = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    int held = 0;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) {
            close(fd);
            return -1;
        }
        held = 1;
        *holder = s_holder(fd);
    }
    close(fd); /* drops the lock if we took it */
    return held;
}
