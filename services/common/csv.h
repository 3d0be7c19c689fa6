/*
 * csv.h - RFC 4180 CSV for the response export, shared by `hark report nps
 * --csv` and the gateway's GET /v1/reports/nps.csv so both write the same
 * bytes.
 *
 * Cells are quoted where needed, rows end in CRLF.  Text a spreadsheet
 * would run as a formula (= + - @, tab or CR at the start) gets a leading
 * ' inside quotes, so a customer's comment stays text.
 */
#ifndef HARK_CSV_H
#define HARK_CSV_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"

/* the columns of the response export, in order: the keys of a
 * SURVEY_RESPONSES_OK row */
extern const char *const csv_response_cols[];
extern const size_t csv_response_ncols;

/* csv_cell - append one cell (NULL is empty) and "," or, when last, CRLF */
void csv_cell(buf_t *b, const char *v, int last);

/* csv_header - append the header row of the response export */
void csv_header(buf_t *b);

/* csv_responses - append one row per SURVEY_RESPONSES_OK row of reply (not
 * stolen); integers as decimal, absent keys as empty cells.  Returns the
 * number of rows appended. */
size_t csv_responses(buf_t *b, const json_t *reply);

#endif
