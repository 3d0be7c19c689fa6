/*
 * import.h - customers and purchases from a CSV file: the part `hark
 * import` and hark-console's /import share, so both read, map, check and
 * key a row alike.
 *
 * Reading (import_csv_new): RFC 4180 with what spreadsheets write: a UTF-8
 * byte order mark is skipped, rows end in LF or CRLF, quoted cells may hold
 * commas, quotes ("") and line breaks.  The first row names the columns.
 * Cells are trimmed of spaces; an empty cell is a field left out.
 *
 * Mapping: each Hark field (import_fields) takes one column, by its header
 * (import_map_auto knows usual names in en, ru, pl, zh and be, compared
 * without case, spaces, '_', '-' and '.') or as the user says
 * (import_map_set, "email=E-mail,name=Full name").
 *
 * Checking (import_row): the row becomes the payload of a customer or
 * purchase event, checked by the event's own JSON Schema (proto/events/,
 * schema.c, whose "email" format is mailbox.c's rule), so a row the import
 * accepts is one POST /v1/events would accept.  Every bad cell is named, not
 * only the first: a field found bad is left out and the rest checked again.
 *
 * Keys (import_key): "import:<type>:<id>:<hash>", the row's identity (the
 * customer's id, the order's id) and a SHA-256 of its payload (keys sorted),
 * so importing the same file again stores nothing twice (the journal keeps a
 * key once), a crash mid-import is safe to run again, and a row whose
 * content changed is imported as the update it is.
 */
#ifndef HARK_IMPORT_H
#define HARK_IMPORT_H

#include <jansson.h>
#include <stddef.h>

typedef enum { IMPORT_CUSTOMERS = 0, IMPORT_PURCHASES = 1 } import_kind_t;

#define IMPORT_FIELDS_MAX 16 /* Hark fields of one kind, at most */
#define IMPORT_BATCH 500     /* rows a journal append carries */

/* import_kind - "customers" or "purchases" (also the singular); -1 otherwise */
int import_kind(const char *name);

/* import_type - the event type a kind's rows become (EV_CUSTOMER, EV_PURCHASE) */
const char *import_type(import_kind_t kind);

/* import_fields - the Hark fields of kind, in the order forms list them;
 * *n gets their number.  The first is the row's identity (required). */
const char *const *import_fields(import_kind_t kind, size_t *n);

/* import_required - 1 when kind's field is required in every row */
int import_required(import_kind_t kind, const char *field);

typedef struct import_csv import_csv_t;

/* import_csv_new - parse data[0..len) (copied).  NULL with the reason in err
 * (at least 200 bytes) when it is empty, not UTF-8, has no header, or a
 * quote is never closed.  Free with import_csv_destroy. */
import_csv_t *import_csv_new(const char *data, size_t len, char *err, size_t errlen);
void import_csv_destroy(import_csv_t **self_p);

/* import_csv_cols / _rows - the header's columns; the data rows (not the header) */
size_t import_csv_cols(const import_csv_t *csv);
size_t import_csv_rows(const import_csv_t *csv);

/* import_csv_header - column c's name */
const char *import_csv_header(const import_csv_t *csv, size_t c);

/* import_csv_cell - data row r's cell c (trimmed), NULL when the row is
 * shorter; import_csv_width - how many cells row r has */
const char *import_csv_cell(const import_csv_t *csv, size_t r, size_t c);
size_t import_csv_width(const import_csv_t *csv, size_t r);

/* import_row_number - data row r as a spreadsheet numbers it: the header is
 * row 1, so the first data row is 2 */
size_t import_row_number(size_t r);

/* import_col_name - column c as a spreadsheet names it (A, B, ... Z, AA) */
void import_col_name(size_t c, char *out, size_t len);

/* import_map_t - for each of the kind's fields (import_fields' order) its
 * column, or -1 */
typedef struct {
    import_kind_t kind;
    int col[IMPORT_FIELDS_MAX];
} import_map_t;

/* import_map_auto - every field whose usual name a header has */
void import_map_auto(import_map_t *m, import_kind_t kind, const import_csv_t *csv);

/* import_map_set - apply "field=Header,field=Header" over m (a header by its
 * name, or by its column letter or 1-based number; "field=" unmaps it); 0,
 * or -1 with the reason in err */
int import_map_set(import_map_t *m, const import_csv_t *csv, const char *spec, char *err,
                   size_t errlen);

/* import_map_field - set field's column (-1 none); 0, -1 unknown field */
int import_map_field(import_map_t *m, const char *field, int col);

/* import_map_check - 0 when every required field has a column, else -1 with
 * which one is missing in err */
int import_map_check(const import_map_t *m, char *err, size_t errlen);

/* one bad cell of a row */
typedef struct {
    int col;          /* its column, -1 when no column (a required field unmapped) */
    char field[32];   /* the Hark field */
    char msg[200];    /* why, as the schema says it ("must be a date YYYY-MM-DD") */
} import_bad_t;

typedef struct import_checker import_checker_t;

/* import_checker_new - the kind's event schema compiled; NULL (err) on failure */
import_checker_t *import_checker_new(import_kind_t kind, char *err, size_t errlen);
void import_checker_destroy(import_checker_t **self_p);

/* import_row - data row r of csv as mapped by m: the event payload in
 * *payload (caller decrefs) and 0 when the row is good; else the number of
 * bad cells (the first max of them in bad[]) and *payload NULL */
int import_row(const import_checker_t *ck, const import_csv_t *csv, const import_map_t *m,
               size_t r, json_t **payload, import_bad_t *bad, size_t max);

/* import_key - the journal key of payload (see the top): into out (at
 * least 600 bytes) */
void import_key(import_kind_t kind, const json_t *payload, char *out, size_t len);

/* import_event - {type, key, occurred_at, payload} for JOURNAL_APPEND
 * (payload stolen); occurred_at the purchase's own, else now */
json_t *import_event(import_kind_t kind, json_t *payload, const char *now);

#endif
