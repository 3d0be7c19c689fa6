/*
 * locale_tag.c - normalise a locale tag (see locale_tag.h).
 */
#include <string.h>

#include "locale_tag.h"

int locale_tag_norm(const char *tag, char *out, size_t outlen)
{
    size_t n = tag ? strlen(tag) : 0;
    if (n == 0 || n > LOCALE_TAG_MAX || n + 1 > outlen)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = tag[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        else if (c == '_')
            c = '-';
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return -1;
        out[i] = c;
    }
    out[n] = '\0';
    return (out[0] >= 'a' && out[0] <= 'z') ? 0 : -1;
}
