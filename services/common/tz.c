/*
 * tz.c - IANA time zone names, checked one way for the config table and
 * every service.
 *
 * A name is good when it is made of the characters zone names use and its
 * file exists under the zoneinfo directory: the C library would silently
 * take an unknown name for UTC, so a typo in a setting would shift every
 * local time it governs without a word.
 */
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* tz_valid - a known zone name with no path tricks */
int tz_valid(const char *name)
{
    if (!name || !*name || strlen(name) > 64 || name[0] == '/' || strstr(name, ".."))
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '/' || *p == '_' || *p == '-' || *p == '+'))
            return 0;
    if (strcmp(name, "UTC") == 0)
        return 1;
    const char *dir = getenv("TZDIR");
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
