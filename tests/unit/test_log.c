/*
 * test_log.c - unit tests for services/common/log.c: whatever a call site
 * passes, one call writes exactly one line, and control bytes come out as
 * \xNN (a forged "\nts=... level=error" cannot start a line of its own).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "unit.h"

/* s_capture - run log_warn("customer=%s", value) with stderr on a pipe;
 * the bytes written, NUL-terminated, in buf */
static size_t s_capture(const char *value, char *buf, size_t len)
{
    int p[2];
    if (pipe(p) != 0)
        return 0;
    int saved = dup(STDERR_FILENO);
    dup2(p[1], STDERR_FILENO);
    log_warn("event=test customer=%s", value);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(p[1]);
    ssize_t n = read(p[0], buf, len - 1);
    close(p[0]);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    return (size_t)n;
}

/* s_lines - the number of '\n' in s */
static int s_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_log__forged_newline_in_a_value_stays_one_line(void)
{
    char out[4096];
    s_capture("m1\nts=2026-12-07T00:00:00.000Z svc=journal level=error event=FORGED_LINE", out,
              sizeof out);
    CHECK_INT(s_lines(out), 1);
    CHECK(out[strlen(out) - 1] == '\n');
    CHECK(strstr(out, "customer=m1\\x0ats=2026") != NULL);
    CHECK(strstr(out, "svc=test level=warn ") != NULL);
}

static void test_log__carriage_return_tab_and_del_are_escaped(void)
{
    char out[4096];
    s_capture("a\rb\tc\x7f" "d\x1b[2J", out, sizeof out);
    CHECK_INT(s_lines(out), 1);
    CHECK(strstr(out, "customer=a\\x0db\\x09c\\x7fd\\x1b[2J") != NULL);
}

static void test_log__a_value_of_only_newlines_longer_than_the_line_is_cut_not_split(void)
{
    char big[3000];
    memset(big, '\n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char out[8192];
    size_t n = s_capture(big, out, sizeof out);
    CHECK(n > 100);
    CHECK(n <= 2048);
    CHECK_INT(s_lines(out), 1);
    CHECK(out[n - 1] == '\n');
}

static void test_log__utf8_passes_unchanged(void)
{
    char out[4096];
    s_capture("Пётр 张伟", out, sizeof out);
    CHECK(strstr(out, "customer=Пётр 张伟\n") != NULL);
}

static void test_log__log_value_leaves_plain_ids_bare_and_quotes_the_rest(void)
{
    CHECK_STR(log_value("c-42"), "c-42");
    CHECK_STR(log_value("web:ola@example.pl"), "web:ola@example.pl");
    CHECK_STR(log_value("o1 level=error"), "\"o1 level=error\"");
    CHECK_STR(log_value("a=b"), "\"a=b\"");
    CHECK_STR(log_value("say \"hi\""), "\"say \\\"hi\\\"\"");
    CHECK_STR(log_value("m1\nts=x"), "\"m1\\x0ats=x\"");
    CHECK_STR(log_value(""), "\"\"");
    CHECK_STR(log_value(NULL), "\"\"");
}

static void test_log__a_forged_order_id_adds_no_key_to_the_line(void)
{
    char out[4096];
    s_capture(log_value("o1 level=error event=FORGED"), out, sizeof out);
    CHECK(strstr(out, "customer=\"o1 level=error event=FORGED\"\n") != NULL);
    CHECK(strstr(out, " level=error") == strstr(out, "o1 level=error") + 2);
}

static void test_log__eight_values_in_one_call_do_not_overwrite_each_other(void)
{
    const char *v[8];
    char want[8][16];
    for (int i = 0; i < 8; i++) {
        snprintf(want[i], sizeof want[i], "v%d", i);
        v[i] = log_value(want[i]);
    }
    for (int i = 0; i < 8; i++)
        CHECK_STR(v[i], want[i]);
}

int main(void)
{
    log_init("test");
    UNIT_RUN(test_log__forged_newline_in_a_value_stays_one_line);
    UNIT_RUN(test_log__carriage_return_tab_and_del_are_escaped);
    UNIT_RUN(test_log__a_value_of_only_newlines_longer_than_the_line_is_cut_not_split);
    UNIT_RUN(test_log__utf8_passes_unchanged);
    UNIT_RUN(test_log__log_value_leaves_plain_ids_bare_and_quotes_the_rest);
    UNIT_RUN(test_log__a_forged_order_id_adds_no_key_to_the_line);
    UNIT_RUN(test_log__eight_values_in_one_call_do_not_overwrite_each_other);
    return UNIT_END();
}
