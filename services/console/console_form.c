/*
 * console_form.c - the console's forms: application/x-www-form-urlencoded
 * bodies read strictly (a value too long, not UTF-8 or holding a NUL is
 * refused, never cut), and URL arguments written.
 */
#include <stdio.h>
#include <string.h>

#include "console.h"
#include "mime.h"

/* s_hex - a hex digit's value, or -1 */
static int s_hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* s_decode - s[0..len) urldecoded into out; its length, or -1 when it does
 * not fit in outlen - 1 or has a bad escape */
static long s_decode(const char *s, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = s_hex(s[i + 1]), lo = s_hex(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= outlen)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

int console_form_get(const char *body, size_t len, const char *name, size_t n, char *out,
                     size_t outlen)
{
    size_t nl = strlen(name), seen = 0;
    const char *p = body, *end = body ? body + len : NULL;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        char key[80];
        long kl = (size_t)(ke - p) < sizeof key ? s_decode(p, (size_t)(ke - p), key, sizeof key)
                                                : -1;
        if (kl >= 0 && (size_t)kl == nl && memcmp(key, name, nl) == 0 && seen++ == n) {
            const char *v = eq ? eq + 1 : pe;
            long vl = s_decode(v, (size_t)(pe - v), out, outlen);
            if (vl < 0 || memchr(out, '\0', (size_t)vl) || !mime_utf8_valid(out, (size_t)vl))
                return -1;
            return 1;
        }
        p = amp ? amp + 1 : end;
    }
    if (outlen)
        out[0] = '\0';
    return 0;
}

void console_url_arg(buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            buf_putc(b, (char)*c);
        } else {
            buf_putc(b, '%');
            buf_putc(b, hex[*c >> 4]);
            buf_putc(b, hex[*c & 15]);
        }
    }
}

int console_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > CONSOLE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '@' || c == '-'))
            return 0;
    }
    return 1;
}
