/*
 * fuzz_httphead.c - the front door's check of a connection's first request
 * head (services/common/httpd.c: httpd_head_end, httpd_head_check), which
 * reads bytes straight from the network before libmicrohttpd does.
 *
 * Properties: the measured head never runs past the input; a head taken
 * (status 0) starts with a method token and a space, has a path that is a
 * prefix of its target, and frames its body one way at most; a refusal
 * always has a 4xx/5xx status with a code and words; nothing reads past
 * the head it was given (ASan: the input is copied into a buffer of
 * exactly its size).
 */
#include "fuzz.h"

#include <strings.h>

#include "httpd.h"

static int s_count(const char *p, size_t n, const char *name)
{
    int c = 0;
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl < n; i++)
        if ((i == 0 || p[i - 1] == '\n') && strncasecmp(p + i, name, nl) == 0)
            c++;
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *p = malloc(size ? size : 1);
    FUZZ_CHECK(p);
    memcpy(p, data, size);
    size_t hl = httpd_head_end(p, size);
    FUZZ_CHECK(hl <= size);
    if (hl) {
        httpd_head_t hc;
        httpd_head_check(p, hl, 1 << 20, &hc);
        if (hc.status == 0) {
            FUZZ_CHECK(hl > 4);
            size_t m = strspn(p, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
            FUZZ_CHECK(m > 0 && m <= 16 && p[m] == ' ');
            FUZZ_CHECK(strncmp(p + m + 1, hc.path, strlen(hc.path)) == 0);
            FUZZ_CHECK(s_count(p, hl, "Content-Length:") <= 1);
            FUZZ_CHECK(!(s_count(p, hl, "Content-Length:") && s_count(p, hl, "Transfer-Encoding:")));
        } else {
            FUZZ_CHECK(hc.status >= 400 && hc.status < 600);
            FUZZ_CHECK(hc.code && *hc.code && hc.msg && *hc.msg);
        }
    }
    free(p);
    return 0;
}
