/*
 * test_staff_link.c - unit tests for services/common/staff_link.c: the base
 * of staff links (the service's staff_url, else the console's default) and
 * links whose id is percent-encoded so it cannot change the link's shape.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "staff_link.h"
#include "unit.h"
#include "unit_file.h"

static void test_make_encodes_the_id(void)
{
    char out[200];
    CHECK_INT(staff_link_make("https://c.example", "/cases/", "C42", out, sizeof out), 0);
    CHECK_STR(out, "https://c.example/cases/C42");
    CHECK_INT(staff_link_make("https://c", "/cases?customer=", "a b&x=1/../#?\"<é", out,
                              sizeof out), 0);
    CHECK_STR(out, "https://c/cases?customer=a%20b%26x%3D1%2F..%2F%23%3F%22%3C%C3%A9");
    CHECK_INT(staff_link_make("https://c", "/cases?customer=", "r\r\nBcc: x", out, sizeof out),
              0);
    CHECK_STR(out, "https://c/cases?customer=r%0D%0ABcc%3A%20x");
    CHECK_INT(staff_link_make("https://c", "/cases", NULL, out, sizeof out), 0);
    CHECK_STR(out, "https://c/cases");
    CHECK_INT(staff_link_make("https://c", "/cases/", "Id-9_x.y~z", out, sizeof out), 0);
    CHECK_STR(out, "https://c/cases/Id-9_x.y~z");
}

static void test_make_refuses_what_does_not_fit(void)
{
    char out[24]; /* "https://c/cases/C123456" and its NUL */
    CHECK_INT(staff_link_make("https://c", "/cases/", "C1234567", out, sizeof out), -1);
    CHECK_STR(out, "");
    CHECK_INT(staff_link_make("https://c", "/cases/", "C123456", out, sizeof out), 0);
    CHECK_STR(out, "https://c/cases/C123456");
    /* an encoded byte is all or nothing */
    CHECK_INT(staff_link_make("https://c", "/cases/", "C12345 ", out, sizeof out), -1);
}

static void test_base_from_config(void)
{
    char dir[] = "/tmp/hark-test-staff-link-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[300], text[600], base[200];
    snprintf(path, sizeof path, "%s/hark.conf", dir);
    snprintf(text, sizeof text, "[hark]\nstate_dir = %s\n[intake]\nstaff_url = https://c.example/"
                                "staff//\n", dir);
    if (unit_write_file(path, text) == 0) {
        config_t *cfg = config_load(path);
        CHECK(cfg != NULL && config_error_count(cfg) == 0);
        CHECK_STR(staff_link_base(cfg, "intake", base, sizeof base), "https://c.example/staff");
        /* unset: the console's address (its own setting when the table has it) */
        const char *console = config_get(cfg, "console", "public_url");
        staff_link_base(cfg, "survey", base, sizeof base);
        CHECK_STR(base, console ? console : STAFF_LINK_DEFAULT);
        config_destroy(&cfg);
    }
    CHECK_STR(staff_link_base(NULL, "survey", base, sizeof base), STAFF_LINK_DEFAULT);
    unit_remove_dir(dir);
}

int main(void)
{
    UNIT_RUN(test_make_encodes_the_id);
    UNIT_RUN(test_make_refuses_what_does_not_fit);
    UNIT_RUN(test_base_from_config);
    return UNIT_END();
}
