/*
 * csv.c - RFC 4180 cells and the response export's rows.
 */
#include "csv.h"

#include <stdio.h>
#include <string.h>

const char *const csv_response_cols[] = {"invite",   "campaign", "customer_id",
                                         "email",    "locale",   "order_id",
                                         "score",    "comment",  "answered_at"};
const size_t csv_response_ncols = sizeof csv_response_cols / sizeof *csv_response_cols;

/* csv_cell - one cell; a formula-looking one is quoted with a leading ' */
void csv_cell(buf_t *b, const char *v, int last)
{
    if (!v)
        v = "";
    int formula = *v == '=' || *v == '+' || *v == '-' || *v == '@' || *v == '\t' || *v == '\r';
    if (formula || strpbrk(v, ",\"\r\n")) {
        buf_putc(b, '"');
        if (formula)
            buf_putc(b, '\'');
        for (const char *p = v; *p; p++) {
            if (*p == '"')
                buf_putc(b, '"');
            buf_putc(b, *p);
        }
        buf_putc(b, '"');
    } else {
        buf_puts(b, v);
    }
    buf_puts(b, last ? "\r\n" : ",");
}

/* csv_header - the column names */
void csv_header(buf_t *b)
{
    for (size_t c = 0; c < csv_response_ncols; c++)
        csv_cell(b, csv_response_cols[c], c + 1 == csv_response_ncols);
}

/* csv_responses - a page of responses */
size_t csv_responses(buf_t *b, const json_t *reply)
{
    json_t *rows = json_object_get(reply, "responses"), *row;
    size_t i;
    json_array_foreach(rows, i, row) {
        for (size_t c = 0; c < csv_response_ncols; c++) {
            json_t *v = json_object_get(row, csv_response_cols[c]);
            char num[24];
            if (json_is_integer(v))
                snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            csv_cell(b, json_is_integer(v) ? num : json_string_value(v),
                     c + 1 == csv_response_ncols);
        }
    }
    return json_array_size(rows);
}
