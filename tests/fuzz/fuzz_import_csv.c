/*
 * fuzz_import_csv.c - the CSV reader of `hark import` and the console's
 * /import (services/common/import.c).
 *
 * Whatever the bytes: either a reason, or a table whose every cell is
 * UTF-8 without NUL, trimmed, within its row; and written back with every
 * cell quoted, the table reads again as the same table (same rows, same
 * cells).  Each row then goes through mapping and checking by the
 * customer schema without harm, a good row's payload having its id.
 */
#include "fuzz.h"

#include <unistr.h>

#include "buf.h"
#include "import.h"

/* s_write - csv with every cell quoted, "" doubled, rows ending in CRLF */
static void s_write(const import_csv_t *csv, buf_t *b)
{
    size_t nc = import_csv_cols(csv), nr = import_csv_rows(csv);
    for (size_t r = 0; r <= nr; r++) {
        size_t w = r == 0 ? nc : import_csv_width(csv, r - 1);
        for (size_t c = 0; c < w; c++) {
            const char *v = r == 0 ? import_csv_header(csv, c) : import_csv_cell(csv, r - 1, c);
            buf_putc(b, '"');
            for (const char *p = v; *p; p++) {
                if (*p == '"')
                    buf_putc(b, '"');
                buf_putc(b, *p);
            }
            buf_putc(b, '"');
            buf_puts(b, c + 1 == w ? "\r\n" : ",");
        }
    }
}

static void s_cell_ok(const char *v)
{
    FUZZ_CHECK(v != NULL);
    size_t n = strlen(v);
    FUZZ_CHECK(u8_check((const uint8_t *)v, n) == NULL);
    FUZZ_CHECK(n == 0 || (v[0] != ' ' && v[0] != '\t' && v[n - 1] != ' ' && v[n - 1] != '\t'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    char err[300];
    import_csv_t *csv = import_csv_new((const char *)data, size, err, sizeof err);
    if (!csv) {
        FUZZ_CHECK(err[0] != '\0');
        return 0;
    }
    size_t nc = import_csv_cols(csv), nr = import_csv_rows(csv);
    FUZZ_CHECK(nc >= 1);
    for (size_t c = 0; c < nc; c++)
        s_cell_ok(import_csv_header(csv, c));
    for (size_t r = 0; r < nr; r++) {
        size_t w = import_csv_width(csv, r);
        FUZZ_CHECK(w >= 1);
        for (size_t c = 0; c < w; c++)
            s_cell_ok(import_csv_cell(csv, r, c));
        FUZZ_CHECK(import_csv_cell(csv, r, w) == NULL);
    }
    buf_t b = BUF_INIT;
    s_write(csv, &b);
    FUZZ_CHECK(!buf_failed(&b));
    import_csv_t *again = import_csv_new(b.data ? b.data : "", b.len, err, sizeof err);
    if (!again) /* every row of one empty cell is skipped: nothing left */
        FUZZ_CHECK(nr == 0 && nc == 1 && import_csv_header(csv, 0)[0] == '\0');
    if (again) {
        FUZZ_CHECK(import_csv_cols(again) == nc && import_csv_rows(again) == nr);
        for (size_t r = 0; r < nr; r++) {
            FUZZ_CHECK(import_csv_width(again, r) == import_csv_width(csv, r));
            for (size_t c = 0; c < import_csv_width(csv, r); c++)
                FUZZ_CHECK(strcmp(import_csv_cell(again, r, c), import_csv_cell(csv, r, c)) == 0);
        }
    }
    import_csv_destroy(&again);
    buf_free(&b);
    import_checker_t *ck = import_checker_new(IMPORT_CUSTOMERS, err, sizeof err);
    FUZZ_CHECK(ck != NULL);
    import_map_t m;
    import_map_auto(&m, IMPORT_CUSTOMERS, csv);
    if (m.col[0] < 0)
        m.col[0] = 0;
    for (size_t r = 0; r < nr && r < 64; r++) {
        json_t *p;
        import_bad_t bad[4];
        int n = import_row(ck, csv, &m, r, &p, bad, 4);
        FUZZ_CHECK(n >= 0 && (n == 0) == (p != NULL));
        if (p) {
            FUZZ_CHECK(json_string_value(json_object_get(p, "id")) != NULL);
            char key[600];
            import_key(IMPORT_CUSTOMERS, p, key, sizeof key);
            FUZZ_CHECK(strncmp(key, "import:customer:", 16) == 0);
        }
        json_decref(p);
    }
    import_checker_destroy(&ck);
    import_csv_destroy(&csv);
    return 0;
}
