/*
 * staff_link.c - links to Hark Console's pages in staff mail (see
 * staff_link.h).
 */
#include <stdio.h>
#include <string.h>

#include "staff_link.h"

/* staff_link_base - [section] staff_url, [console] public_url, the default */
const char *staff_link_base(const config_t *cfg, const char *section, char *out, size_t len)
{
    const char *v = cfg ? config_get(cfg, section, "staff_url") : NULL;
    /* config_get answers NULL for a key the table does not have, so this
     * reads the console's address once hark-console's settings exist */
    if (!v || !*v)
        v = cfg ? config_get(cfg, "console", "public_url") : NULL;
    if (!v || !*v)
        v = STAFF_LINK_DEFAULT;
    snprintf(out, len, "%s", v);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
    return out;
}

/* s_unreserved - RFC 3986 unreserved: kept as is in a path or query */
static int s_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* staff_link_make - base, path and the encoded id */
int staff_link_make(const char *base, const char *path, const char *id, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!len)
        return -1;
    int n = snprintf(out, len, "%s%s", base ? base : "", path ? path : "");
    if (n < 0 || (size_t)n >= len) {
        out[0] = '\0';
        return -1;
    }
    size_t o = (size_t)n;
    for (const unsigned char *p = (const unsigned char *)(id ? id : ""); *p; p++) {
        size_t need = s_unreserved(*p) ? 1 : 3;
        if (o + need >= len) {
            out[0] = '\0';
            return -1;
        }
        if (need == 1) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return 0;
}
