/*
 * unit_file.h - the files and scratch directories unit tests set up: a
 * config or key file written whole, a mkdtemp directory removed at the end.
 */
#ifndef HARK_UNIT_FILE_H
#define HARK_UNIT_FILE_H

#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

/* unit_write_file - path holds text and nothing else: 0, or -1 with the
 * test failed */
static inline int unit_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    CHECK_INT(rc, 0);
    return rc;
}

/* unit_remove_dir - remove a test's scratch directory and all in it: 0 or -1 */
static inline int unit_remove_dir(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
