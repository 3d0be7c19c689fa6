/*
 * test_import.c - unit tests for services/common/import.c: the CSV that
 * spreadsheets write is read as they meant it, headers in the five
 * languages map by themselves, every bad cell of a row is named, and the
 * keys that make a re-run import nothing twice.
 */
#include <string.h>

#include "import.h"
#include "unit.h"

static import_csv_t *s_csv(const char *text)
{
    char err[300];
    import_csv_t *csv = import_csv_new(text, strlen(text), err, sizeof err);
    if (!csv)
        fprintf(stderr, "not read: %s\n", err);
    return csv;
}

static void test_import__csv_reads_bom_crlf_quotes_and_line_breaks(void)
{
    import_csv_t *csv = s_csv("\xEF\xBB\xBFid,name\r\n"
                              "c1,\"Smith, Anna\"\r\n"
                              "\r\n"
                              "c2,\"Ola \"\"the best\"\"\r\nNowak\"\r\n"
                              "c3,  \xD0\x98\xD0\xB2\xD0\xB0\xD0\xBD  \n"
                              "c4");
    CHECK(csv != NULL);
    CHECK_INT(import_csv_cols(csv), 2);
    CHECK_INT(import_csv_rows(csv), 4); /* the blank line is no row */
    CHECK_STR(import_csv_header(csv, 0), "id");
    CHECK_STR(import_csv_cell(csv, 0, 1), "Smith, Anna");
    CHECK_STR(import_csv_cell(csv, 1, 1), "Ola \"the best\"\r\nNowak");
    CHECK_STR(import_csv_cell(csv, 2, 1), "\xD0\x98\xD0\xB2\xD0\xB0\xD0\xBD"); /* trimmed */
    CHECK(import_csv_cell(csv, 3, 1) == NULL);
    CHECK_INT(import_csv_width(csv, 3), 1);
    import_csv_destroy(&csv);
    import_csv_destroy(&csv);
}

static void test_import__semicolons_separate_when_the_header_has_more_of_them(void)
{
    import_csv_t *csv = s_csv("Kod;Adres;Kwota\nk1;k1@example.com;12,50\n");
    CHECK(csv != NULL);
    CHECK_INT(import_csv_cols(csv), 3);
    CHECK_STR(import_csv_cell(csv, 0, 2), "12,50");
    import_csv_destroy(&csv);
}

static void test_import__what_cannot_be_read_says_why(void)
{
    char err[300];
    CHECK(import_csv_new("", 0, err, sizeof err) == NULL);
    CHECK(strstr(err, "empty") != NULL);
    CHECK(import_csv_new("id\n\"open", 8, err, sizeof err) == NULL);
    CHECK(strstr(err, "line 2") != NULL);
    CHECK(import_csv_new("id\n\xff\n", 5, err, sizeof err) == NULL);
    CHECK(strstr(err, "UTF-8") != NULL);
}

static void test_import__headers_in_five_languages_map_by_themselves(void)
{
    import_csv_t *csv = s_csv("Customer ID,E-Mail,\xD0\xA4\xD0\x98\xD0\x9E,J\xC4\x99zyk,"
                              "\xE6\x97\xB6\xE5\x8C\xBA,\xD0\x94\xD0\xB0\xD1\x82\xD0\xB0 "
                              "\xD0\xBD\xD0\xB0\xD1\x80\xD0\xB0\xD0\xB4\xD0\xB6\xD1\x8D\xD0\xBD"
                              "\xD0\xBD\xD1\x8F,Notes\n");
    import_map_t m;
    import_map_auto(&m, IMPORT_CUSTOMERS, csv);
    /* id email name locale timezone birthday signup_date */
    CHECK_INT(m.col[0], 0);
    CHECK_INT(m.col[1], 1);
    CHECK_INT(m.col[2], 2); /* ФИО */
    CHECK_INT(m.col[3], 3); /* Język */
    CHECK_INT(m.col[4], 4); /* 时区 */
    CHECK_INT(m.col[5], 5); /* Дата нараджэння */
    CHECK_INT(m.col[6], -1);
    char err[200];
    CHECK(import_map_set(&m, csv, "signup_date=G,name=", err, sizeof err) == 0);
    CHECK_INT(m.col[6], 6);
    CHECK_INT(m.col[2], -1);
    CHECK(import_map_set(&m, csv, "id=Nope", err, sizeof err) == -1);
    CHECK(strstr(err, "Nope") != NULL);
    CHECK(import_map_set(&m, csv, "shoe_size=A", err, sizeof err) == -1);
    CHECK(strstr(err, "unknown field") != NULL);
    import_csv_destroy(&csv);
}

static void test_import__every_bad_cell_of_a_row_is_named(void)
{
    import_csv_t *csv = s_csv("id,email,locale,birthday\n"
                              "c1,nobody,english,1990-13-01\n"
                              "c2,a@example.com,en,--02-29\n"
                              ",a@example.com,en,\n");
    import_map_t m;
    import_map_auto(&m, IMPORT_CUSTOMERS, csv);
    char err[200];
    import_checker_t *ck = import_checker_new(IMPORT_CUSTOMERS, err, sizeof err);
    CHECK(ck != NULL);
    import_bad_t bad[8];
    json_t *p;
    int n = import_row(ck, csv, &m, 0, &p, bad, 8);
    CHECK_INT(n, 3);
    CHECK(p == NULL);
    CHECK_STR(bad[0].field, "email");
    CHECK_INT(bad[0].col, 1);
    CHECK_STR(bad[1].field, "locale");
    CHECK_STR(bad[2].field, "birthday");
    CHECK_INT(bad[2].col, 3);
    CHECK_INT(import_row(ck, csv, &m, 1, &p, bad, 8), 0);
    CHECK_STR(json_string_value(json_object_get(p, "birthday")), "--02-29");
    json_decref(p);
    n = import_row(ck, csv, &m, 2, &p, bad, 8);
    CHECK_INT(n, 1);
    CHECK_STR(bad[0].field, "id");
    import_checker_destroy(&ck);
    import_csv_destroy(&csv);
}

static void test_import__a_purchase_carries_its_customer_when_given_more_than_the_id(void)
{
    import_csv_t *csv = s_csv("order,customer,email,amount,date\n"
                              "o1,c1,a@example.com,\"12,50\",2026-01-02\n"
                              "o2,c2,,7,2026-01-02 10:30\n"
                              "o3,,,x,\n");
    import_map_t m;
    import_map_auto(&m, IMPORT_PURCHASES, csv);
    char err[200];
    import_checker_t *ck = import_checker_new(IMPORT_PURCHASES, err, sizeof err);
    import_bad_t bad[8];
    json_t *p;
    CHECK_INT(import_row(ck, csv, &m, 0, &p, bad, 8), 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(p, "customer"), "email")),
              "a@example.com");
    CHECK(json_real_value(json_object_get(p, "amount")) == 12.5);
    CHECK_STR(json_string_value(json_object_get(p, "occurred_at")), "2026-01-02T00:00:00Z");
    json_decref(p);
    CHECK_INT(import_row(ck, csv, &m, 1, &p, bad, 8), 0);
    CHECK_STR(json_string_value(json_object_get(p, "customer_id")), "c2");
    CHECK_STR(json_string_value(json_object_get(p, "occurred_at")), "2026-01-02T10:30:00Z");
    json_decref(p);
    int n = import_row(ck, csv, &m, 2, &p, bad, 8);
    CHECK_INT(n, 2);
    CHECK_STR(bad[0].field, "amount");
    CHECK_STR(bad[0].msg, "must be a number");
    CHECK_STR(bad[1].field, "customer_id");
    import_checker_destroy(&ck);
    import_csv_destroy(&csv);
}

static void test_import__keys_follow_identity_and_content(void)
{
    json_t *a = json_pack("{s:s,s:s}", "id", "c1", "name", "Anna");
    json_t *b = json_pack("{s:s,s:s}", "name", "Anna", "id", "c1"); /* same, other order */
    json_t *c = json_pack("{s:s,s:s}", "id", "c1", "name", "Anna Smith");
    char ka[600], kb[600], kc[600];
    import_key(IMPORT_CUSTOMERS, a, ka, sizeof ka);
    import_key(IMPORT_CUSTOMERS, b, kb, sizeof kb);
    import_key(IMPORT_CUSTOMERS, c, kc, sizeof kc);
    CHECK_STR(ka, kb);
    CHECK(strcmp(ka, kc) != 0);
    CHECK(strncmp(ka, "import:customer:c1:", 19) == 0);
    CHECK_INT(strlen(ka), 19 + 32);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void test_import__an_exported_formula_cell_imports_as_it_was(void)
{
    import_csv_t *csv = s_csv("id,name,birthday\nc1,\"'=SUM(1)\",'--02-29\n");
    import_map_t m;
    import_map_auto(&m, IMPORT_CUSTOMERS, csv);
    char err[200];
    import_checker_t *ck = import_checker_new(IMPORT_CUSTOMERS, err, sizeof err);
    import_bad_t bad[8];
    json_t *p;
    CHECK_INT(import_row(ck, csv, &m, 0, &p, bad, 8), 0);
    CHECK_STR(json_string_value(json_object_get(p, "name")), "=SUM(1)");
    CHECK_STR(json_string_value(json_object_get(p, "birthday")), "--02-29");
    json_decref(p);
    import_checker_destroy(&ck);
    import_csv_destroy(&csv);
}

static void test_import__columns_are_named_as_spreadsheets_name_them(void)
{
    char n[16];
    import_col_name(0, n, sizeof n);
    CHECK_STR(n, "A");
    import_col_name(25, n, sizeof n);
    CHECK_STR(n, "Z");
    import_col_name(26, n, sizeof n);
    CHECK_STR(n, "AA");
    import_col_name(701, n, sizeof n);
    CHECK_STR(n, "ZZ");
    CHECK_INT(import_row_number(0), 2);
}

int main(void)
{
    UNIT_RUN(test_import__csv_reads_bom_crlf_quotes_and_line_breaks);
    UNIT_RUN(test_import__semicolons_separate_when_the_header_has_more_of_them);
    UNIT_RUN(test_import__what_cannot_be_read_says_why);
    UNIT_RUN(test_import__headers_in_five_languages_map_by_themselves);
    UNIT_RUN(test_import__every_bad_cell_of_a_row_is_named);
    UNIT_RUN(test_import__a_purchase_carries_its_customer_when_given_more_than_the_id);
    UNIT_RUN(test_import__keys_follow_identity_and_content);
    UNIT_RUN(test_import__an_exported_formula_cell_imports_as_it_was);
    UNIT_RUN(test_import__columns_are_named_as_spreadsheets_name_them);
    return UNIT_END();
}
