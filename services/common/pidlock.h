/*
 * pidlock.h - one copy of each service per state dir.
 *
 * Every service takes an exclusive flock(2) on <state_dir>/<name>.lock at
 * start and holds it until it exits (the kernel drops it then, kill -9
 * included), with its pid written inside for the message of the copy that
 * finds it taken.  Without it, a harkd restarted at once after kill -9
 * started a second hark-survey while the old one was still finishing its
 * batch, and the two wrote survey.db together.  harkd asks pidlock_held()
 * before it starts a service, and waits while an old copy still runs.
 */
#ifndef HARK_PIDLOCK_H
#define HARK_PIDLOCK_H

#include <stddef.h>

/* pidlock_path - "<state_dir>/<name>.lock" into out; out */
const char *pidlock_path(const char *state_dir, const char *name, char *out, size_t len);

/* pidlock_take - lock path for the life of the process and write our pid
 * in it.  Returns the descriptor (close-on-exec; keep it open), -1 on an
 * error (errno set), or -2 when another process holds it (*holder: its pid,
 * 0 when unknown). */
int pidlock_take(const char *path, long *holder);

/* pidlock_held - 1 when another process holds path (*holder: its pid, 0
 * when unknown), 0 when nobody does (or the file does not exist), -1 on an
 * error.  Takes and drops the lock to find out. */
int pidlock_held(const char *path, long *holder);

#endif
