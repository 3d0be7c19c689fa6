/*
 * test_httpd.c - services/common/httpd.c: the check of a connection's first
 * request head, made before libmicrohttpd reads it, so that a malformed
 * or ambiguous head is answered in Hark's words.
 */
#include "httpd.h"
#include "unit.h"

static httpd_head_t s_check(const char *head)
{
    httpd_head_t h;
    size_t n = strlen(head);
    size_t hl = httpd_head_end(head, n);
    CHECK_INT((long long)hl, (long long)n); /* every case here is one whole head */
    httpd_head_check(head, hl, 1000, &h);
    return h;
}

static void test_a_plain_head_is_taken_with_its_path_and_language(void)
{
    httpd_head_t h = s_check("GET /s/abc?score=9 HTTP/1.1\r\nHost: x\r\n"
                             "Accept-Language: ru, en;q=0.5\r\n\r\n");
    CHECK_INT(h.status, 0);
    CHECK_STR(h.path, "/s/abc");
    CHECK_STR(h.lang, "ru, en;q=0.5");
    h = s_check("POST /v1/events HTTP/1.0\n\n"); /* bare LF, no Host in 1.0 */
    CHECK_INT(h.status, 0);
}

static void test_the_end_of_a_head_is_found_only_when_whole(void)
{
    CHECK_INT((long long)httpd_head_end("GET / HTTP/1.1\r\nHost: x\r\n", 25), 0);
    CHECK_INT((long long)httpd_head_end("GET / HTTP/1.1\r\nHost: x\r\n\r\nbody", 31), 27);
}

static void test_two_framings_of_one_body_are_a_400_naming_the_header(void)
{
    httpd_head_t h = s_check("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                             "content-length: 5\r\n\r\n");
    CHECK_INT(h.status, 400);
    CHECK_STR(h.field, "Content-Length");
    h = s_check("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                "Transfer-Encoding: chunked\r\n\r\n");
    CHECK_INT(h.status, 400);
    h = s_check("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n");
    CHECK_INT(h.status, 501);
    CHECK_STR(h.field, "Transfer-Encoding");
}

static void test_a_length_over_the_limit_is_a_413_saying_the_limit(void)
{
    httpd_head_t h = s_check("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
    CHECK_INT(h.status, 413);
    CHECK_STR(h.msg, "the body is larger than 1000 bytes");
    h = s_check("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 123456789012345678901234567890\r\n\r\n");
    CHECK_INT(h.status, 413);
    h = s_check("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n");
    CHECK_INT(h.status, 400);
    h = s_check("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    CHECK_INT(h.status, 0);
}

static void test_malformed_lines_are_refused(void)
{
    CHECK_INT(s_check("GET  / HTTP/1.1\r\nHost: x\r\n\r\n").status, 400);
    CHECK_INT(s_check("G(T / HTTP/1.1\r\nHost: x\r\n\r\n").status, 400);
    CHECK_INT(s_check("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n").status, 400);
    CHECK_INT(s_check("GET / HTTP/1.1\r\nHost: x\r\nNo-Colon\r\n\r\n").status, 400);
    CHECK_INT(s_check("GET / HTTP/1.1\r\nHost: x\r\nX: a\x01" "b\r\n\r\n").status, 400);
    CHECK_INT(s_check("GET / HTTP/1.1\r\n\r\n").status, 400);            /* no Host */
    CHECK_INT(s_check("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status, 400);
    CHECK_INT(s_check("GET / HTTP/2.0\r\nHost: x\r\n\r\n").status, 505);
    CHECK_INT(s_check("GET / HTTP/1.9\r\nHost: x\r\n\r\n").status, 505);
    CHECK_INT(s_check("GET / HTTQ/1.1\r\nHost: x\r\n\r\n").status, 400);
}

int main(void)
{
    UNIT_RUN(test_a_plain_head_is_taken_with_its_path_and_language);
    UNIT_RUN(test_the_end_of_a_head_is_found_only_when_whole);
    UNIT_RUN(test_two_framings_of_one_body_are_a_400_naming_the_header);
    UNIT_RUN(test_a_length_over_the_limit_is_a_413_saying_the_limit);
    UNIT_RUN(test_malformed_lines_are_refused);
    return UNIT_END();
}
