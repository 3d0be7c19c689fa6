/*
 * import.c - CSV rows into customer and purchase events (import.h).
 */
#include "import.h"

#include <nettle/sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "proto.h"
#include "schema.h"
#include "utf8.h"

static const char *const s_customer_fields[] = {"id",       "email",    "name",       "locale",
                                                "timezone", "birthday", "signup_date"};
static const char *const s_purchase_fields[] = {
    "order_id", "customer_id", "occurred_at", "amount",   "currency",   "email",
    "name",     "locale",      "timezone",    "birthday", "signup_date"};

/* the fields a purchase's customer object takes besides its id */
static int s_customer_part(const char *f)
{
    return strcmp(f, "email") == 0 || strcmp(f, "name") == 0 || strcmp(f, "locale") == 0 ||
           strcmp(f, "timezone") == 0 || strcmp(f, "birthday") == 0 ||
           strcmp(f, "signup_date") == 0;
}

/* The names people give these columns, written as s_norm leaves them
 * (lower case, no spaces, '_', '-', '.', ':').  Not words Hark shows, so
 * they live here, not in templates/: a header in any of the five languages
 * maps whatever the user's own language is. */
static const struct {
    const char *field, *names;
} s_synonyms[] = {
    {"id", "|id|customerid|clientid|userid|customer|ид|идентификатор|идклиента|номерклиента|"
           "клиент|identyfikator|idklienta|numerklienta|klient|编号|客户编号|客户id|用户id|客户|"
           "ідэнтыфікатар|нумаркліента|кліент|"},
    {"customer_id", "|customerid|customer|clientid|userid|ид|идклиента|номерклиента|клиент|"
                    "idklienta|numerklienta|klient|客户编号|客户id|用户id|客户|нумаркліента|"
                    "кліент|"},
    {"order_id", "|orderid|order|ordernumber|orderno|id|заказ|номерзаказа|идзаказа|"
                 "zamówienie|numerzamówienia|idzamówienia|订单|订单号|订单编号|订单id|"
                 "замова|нумарзамовы|"},
    {"email", "|email|mail|emailaddress|почта|электроннаяпочта|адрес|адресэлектроннойпочты|"
              "емейл|имейл|adresemail|poczta|pocztaelektroniczna|邮箱|电子邮件|邮件|电子邮箱|"
              "邮箱地址|пошта|электроннаяпошта|"},
    {"name", "|name|fullname|customername|firstname|имя|фио|полноеимя|имяклиента|imię|"
             "imięinazwisko|nazwa|imieinazwisko|imie|姓名|名字|名称|客户姓名|імя|поўнаеімя|"
             "імякліента|"},
    {"locale", "|locale|language|lang|язык|локаль|język|jezyk|语言|语言代码|мова|"},
    {"timezone", "|timezone|tz|zone|часовойпояс|strefaczasowa|时区|часавыпояс|"},
    {"birthday", "|birthday|birthdate|dateofbirth|dob|деньрождения|датарождения|urodziny|"
                 "dataurodzenia|生日|出生日期|дзеньнараджэння|датанараджэння|"},
    {"signup_date", "|signupdate|signup|signedup|registered|registrationdate|joined|"
                    "датарегистрации|регистрация|datarejestracji|rejestracja|注册日期|注册时间|"
                    "датарэгістрацыі|рэгістрацыя|"},
    {"occurred_at", "|occurredat|date|orderdate|purchasedate|purchasedat|orderedat|time|"
                    "датазаказа|датапокупки|дата|datazamówienia|datazakupu|data|下单时间|"
                    "订单日期|日期|购买日期|датазамовы|датапакупкі|"},
    {"amount", "|amount|total|sum|price|сумма|итого|стоимость|kwota|suma|wartość|金额|总额|"
               "总价|сума|кошт|"},
    {"currency", "|currency|валюта|waluta|货币|币种|"},
};

/* import_kind - the kind a command line or form names */
int import_kind(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "customers") == 0 || strcmp(name, "customer") == 0)
        return IMPORT_CUSTOMERS;
    if (strcmp(name, "purchases") == 0 || strcmp(name, "purchase") == 0)
        return IMPORT_PURCHASES;
    return -1;
}

/* import_type - the event a row becomes */
const char *import_type(import_kind_t kind)
{
    return kind == IMPORT_PURCHASES ? EV_PURCHASE : EV_CUSTOMER;
}

/* import_fields - the fields of a kind */
const char *const *import_fields(import_kind_t kind, size_t *n)
{
    if (kind == IMPORT_PURCHASES) {
        *n = sizeof s_purchase_fields / sizeof *s_purchase_fields;
        return s_purchase_fields;
    }
    *n = sizeof s_customer_fields / sizeof *s_customer_fields;
    return s_customer_fields;
}

/* import_required - the identity fields */
int import_required(import_kind_t kind, const char *field)
{
    return kind == IMPORT_PURCHASES
               ? strcmp(field, "order_id") == 0 || strcmp(field, "customer_id") == 0
               : strcmp(field, "id") == 0;
}

/* --- reading ---------------------------------------------------------- */

struct import_csv {
    char *text;        /* every cell, NUL-terminated, one after the other */
    size_t *cell;      /* each cell's offset in text */
    size_t ncell;
    size_t *row;       /* each row's first cell in cell[]; row[nrow] = ncell */
    size_t nrow;       /* rows, the header included */
};

/* s_push - add v to a growing array of size_t; 0/-1 */
static int s_push(size_t **a, size_t *n, size_t *cap, size_t v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 1024;
        size_t *p = realloc(*a, nc * sizeof *p);
        if (!p)
            return -1;
        *a = p;
        *cap = nc;
    }
    (*a)[(*n)++] = v;
    return 0;
}

/* s_delimiter - ',' unless the header row has more ';' or tabs (what
 * spreadsheets in locales with a decimal comma write) */
static char s_delimiter(const char *p, const char *end)
{
    size_t comma = 0, semi = 0, tab = 0;
    int q = 0;
    for (; p < end && (q || (*p != '\n' && *p != '\r')); p++) {
        if (*p == '"')
            q = !q;
        else if (!q)
            comma += *p == ',', semi += *p == ';', tab += *p == '\t';
    }
    return semi > comma && semi >= tab ? ';' : tab > comma ? '\t' : ',';
}

/* s_trim - the cell [s, e) without spaces around it, NUL-terminated in place */
static void s_trim(buf_t *b, size_t start)
{
    char *s = b->data + start;
    size_t n = b->len - start, lead = 0;
    while (lead < n && (s[lead] == ' ' || s[lead] == '\t'))
        lead++;
    while (n > lead && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    memmove(s, s + lead, n - lead);
    b->len = start + n - lead;
}

/* import_csv_new - parse a whole file */
import_csv_t *import_csv_new(const char *data, size_t len, char *err, size_t errlen)
{
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        data += 3, len -= 3;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_decode((const unsigned char *)data + i, len - i, NULL);
        if (!k || data[i] == '\0') {
            snprintf(err, errlen, "the file is not UTF-8 text (byte %zu); save it as CSV UTF-8",
                     i + 1);
            return NULL;
        }
        i += k;
    }
    import_csv_t *csv = calloc(1, sizeof *csv);
    if (!csv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    buf_t text = BUF_INIT;
    buf_reserve(&text, len + len / 4 + 16);
    size_t ccap = 0, rcap = 0, rowcells = 0;
    char delim = s_delimiter(data, data + len);
    const char *p = data, *end = data + len;
    size_t line = 1, row_line = 1;
    int bad = 0;
    while (p < end && !bad) { /* one row */
        size_t first = csv->ncell;
        row_line = line;
        rowcells = 0;
        for (;;) { /* one cell */
            size_t start = text.len;
            if (p < end && *p == '"') {
                p++;
                for (;;) {
                    if (p == end) {
                        snprintf(err, errlen,
                                 "line %zu: a quoted cell is never closed (a \" is missing)",
                                 row_line);
                        bad = 1;
                        break;
                    }
                    if (*p == '"' && p + 1 < end && p[1] == '"') {
                        buf_putc(&text, '"');
                        p += 2;
                    } else if (*p == '"') {
                        p++;
                        break;
                    } else {
                        line += *p == '\n';
                        buf_putc(&text, *p++);
                    }
                }
                /* text after the closing quote joins the cell, as spreadsheets read it */
                while (!bad && p < end && *p != delim && *p != '\n' && *p != '\r')
                    buf_putc(&text, *p++);
            } else {
                while (p < end && *p != delim && *p != '\n' && *p != '\r')
                    buf_putc(&text, *p++);
            }
            if (bad)
                break;
            s_trim(&text, start);
            buf_putc(&text, '\0');
            if (s_push(&csv->cell, &csv->ncell, &ccap, start))
                text.failed = 1;
            rowcells++;
            if (p < end && *p == delim) {
                p++;
                continue;
            }
            break;
        }
        if (p < end && *p == '\r')
            p++;
        if (p < end && *p == '\n')
            p++;
        line++;
        /* a blank line (one empty cell) is no row */
        if (rowcells == 1 && text.data[csv->cell[first]] == '\0') {
            csv->ncell = first;
            continue;
        }
        if (s_push(&csv->row, &csv->nrow, &rcap, first))
            text.failed = 1;
    }
    if (!bad && (buf_failed(&text) || s_push(&csv->row, &csv->nrow, &rcap, csv->ncell))) {
        snprintf(err, errlen, "out of memory");
        bad = 1;
    }
    if (!bad)
        csv->nrow--; /* row[nrow] is the end */
    if (!bad && csv->nrow == 0) {
        snprintf(err, errlen, "the file is empty: the first row must name the columns");
        bad = 1;
    }
    csv->text = buf_release(&text);
    if (bad) {
        import_csv_destroy(&csv);
        return NULL;
    }
    return csv;
}

/* import_csv_destroy - free */
void import_csv_destroy(import_csv_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    import_csv_t *csv = *self_p;
    free(csv->text);
    free(csv->cell);
    free(csv->row);
    free(csv);
    *self_p = NULL;
}

size_t import_csv_cols(const import_csv_t *csv)
{
    return csv->row[1] - csv->row[0];
}

size_t import_csv_rows(const import_csv_t *csv)
{
    return csv->nrow - 1;
}

const char *import_csv_header(const import_csv_t *csv, size_t c)
{
    return c < import_csv_cols(csv) ? csv->text + csv->cell[c] : NULL;
}

size_t import_csv_width(const import_csv_t *csv, size_t r)
{
    return r + 1 < csv->nrow ? csv->row[r + 2] - csv->row[r + 1] : 0;
}

const char *import_csv_cell(const import_csv_t *csv, size_t r, size_t c)
{
    if (r + 1 >= csv->nrow || c >= import_csv_width(csv, r))
        return NULL;
    return csv->text + csv->cell[csv->row[r + 1] + c];
}

size_t import_row_number(size_t r)
{
    return r + 2;
}

/* import_col_name - A..Z, AA.. */
void import_col_name(size_t c, char *out, size_t len)
{
    char tmp[16];
    size_t n = 0;
    c++;
    while (c && n < sizeof tmp) {
        c--;
        tmp[n++] = (char)('A' + c % 26);
        c /= 26;
    }
    size_t i = 0;
    for (; i < n && i + 1 < len; i++)
        out[i] = tmp[n - 1 - i];
    if (len)
        out[i] = '\0';
}

/* --- mapping ---------------------------------------------------------- */

/* s_norm - a header compared: lower case (ASCII, and the Cyrillic and
 * Polish capitals), without spaces, '_', '-', '.', ':', '(' and ')' */
static void s_norm(const char *s, char *out, size_t len)
{
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n && o + 5 < len;) {
        uint32_t cp;
        size_t k = utf8_decode(u + i, n - i, &cp);
        if (!k)
            break;
        i += k;
        if (cp == ' ' || cp == '_' || cp == '-' || cp == '.' || cp == ':' || cp == '(' ||
            cp == ')' || cp == 0xA0)
            continue;
        if (cp >= 'A' && cp <= 'Z')
            cp += 32;
        else if (cp >= 0x410 && cp <= 0x42F) /* А-Я */
            cp += 32;
        else if (cp >= 0x400 && cp <= 0x40F) /* Ё, І, Ў ... */
            cp += 80;
        else if (cp == 0x141 || cp == 0x15A || cp == 0x179 || cp == 0x17B || cp == 0x143 ||
                 cp == 0x106 || cp == 0x118 || cp == 0x104) /* Ł Ś Ź Ż Ń Ć Ę Ą */
            cp += 1;
        else if (cp == 0xD3)
            cp = 0xF3;
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xC0 | cp >> 6);
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[o++] = (char)(0xE0 | cp >> 12);
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | cp >> 18);
            out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    out[o] = '\0';
}

/* s_field_index - field's index in the kind's list, or -1 */
static int s_field_index(import_kind_t kind, const char *field)
{
    size_t n;
    const char *const *f = import_fields(kind, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i], field) == 0)
            return (int)i;
    return -1;
}

/* s_known - 1 when the normalised header h is one of field's names */
static int s_known(const char *field, const char *h)
{
    char want[260], f[64];
    s_norm(field, f, sizeof f);
    if (strcmp(f, h) == 0)
        return 1;
    snprintf(want, sizeof want, "|%s|", h);
    for (size_t i = 0; i < sizeof s_synonyms / sizeof *s_synonyms; i++)
        if (strcmp(s_synonyms[i].field, field) == 0 && strstr(s_synonyms[i].names, want))
            return 1;
    return 0;
}

/* import_map_auto - by the headers: a field takes the first column that
 * names it, and a column serves one field (the first in the kind's order
 * whose names it matches: "id" in a purchases file is the order's) */
void import_map_auto(import_map_t *m, import_kind_t kind, const import_csv_t *csv)
{
    size_t nf, nc = import_csv_cols(csv);
    const char *const *f = import_fields(kind, &nf);
    m->kind = kind;
    for (size_t i = 0; i < IMPORT_FIELDS_MAX; i++)
        m->col[i] = -1;
    char taken[256] = {0};
    for (size_t i = 0; i < nf; i++)
        for (size_t c = 0; c < nc && c < sizeof taken && m->col[i] < 0; c++) {
            char h[200];
            s_norm(import_csv_header(csv, c), h, sizeof h);
            if (!taken[c] && s_known(f[i], h)) {
                m->col[i] = (int)c;
                taken[c] = 1;
            }
        }
}

/* import_map_field - one field's column */
int import_map_field(import_map_t *m, const char *field, int col)
{
    int i = s_field_index(m->kind, field);
    if (i < 0)
        return -1;
    m->col[i] = col;
    return 0;
}

/* s_column - a column by header name, letter or 1-based number; -1 none */
static int s_column(const import_csv_t *csv, const char *v)
{
    size_t nc = import_csv_cols(csv);
    for (size_t c = 0; c < nc; c++)
        if (strcmp(import_csv_header(csv, c), v) == 0)
            return (int)c;
    char want[200], h[200];
    s_norm(v, want, sizeof want);
    for (size_t c = 0; c < nc; c++) {
        s_norm(import_csv_header(csv, c), h, sizeof h);
        if (strcmp(h, want) == 0)
            return (int)c;
    }
    char *e;
    long n = strtol(v, &e, 10);
    if (*v && !*e && n >= 1 && (size_t)n <= nc)
        return (int)n - 1;
    for (size_t c = 0; c < nc; c++) {
        char name[16];
        import_col_name(c, name, sizeof name);
        if (strcmp(name, v) == 0)
            return (int)c;
    }
    return -1;
}

/* import_map_set - "field=Header,..." */
int import_map_set(import_map_t *m, const import_csv_t *csv, const char *spec, char *err,
                   size_t errlen)
{
    char *copy = strdup(spec), *save = NULL;
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (!eq) {
            snprintf(err, errlen, "--map takes field=column pairs, not \"%.60s\"", t);
            rc = -1;
            break;
        }
        *eq = '\0';
        const char *field = t, *col = eq + 1;
        int c = *col ? s_column(csv, col) : -1;
        if (*col && c < 0) {
            snprintf(err, errlen, "--map %s: no column \"%.60s\" in the file's header", field,
                     col);
            rc = -1;
        } else if (import_map_field(m, field, c)) {
            size_t nf;
            const char *const *f = import_fields(m->kind, &nf);
            buf_t b = BUF_INIT;
            for (size_t i = 0; i < nf; i++)
                buf_printf(&b, "%s%s", i ? ", " : "", f[i]);
            snprintf(err, errlen, "--map: unknown field \"%.40s\" (fields: %s)", field,
                     b.data ? b.data : "");
            buf_free(&b);
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

/* import_map_check - the required fields have columns */
int import_map_check(const import_map_t *m, char *err, size_t errlen)
{
    size_t nf;
    const char *const *f = import_fields(m->kind, &nf);
    for (size_t i = 0; i < nf; i++)
        if (import_required(m->kind, f[i]) && m->col[i] < 0) {
            snprintf(err, errlen, "no column for the required field %s", f[i]);
            return -1;
        }
    return 0;
}

/* --- checking --------------------------------------------------------- */

struct import_checker {
    import_kind_t kind;
    schema_t *schema;
};

/* import_checker_new - compile the kind's event schema */
import_checker_t *import_checker_new(import_kind_t kind, char *err, size_t errlen)
{
    const char *type = import_type(kind);
    for (const proto_doc_t *d = proto_event_schemas; d->name; d++) {
        if (strcmp(d->name, type) != 0)
            continue;
        import_checker_t *ck = calloc(1, sizeof *ck);
        if (!ck) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        ck->kind = kind;
        ck->schema = schema_new(d->json, err, errlen);
        if (!ck->schema) {
            free(ck);
            return NULL;
        }
        return ck;
    }
    snprintf(err, errlen, "no schema for %s", type);
    return NULL;
}

void import_checker_destroy(import_checker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    schema_destroy(&(*self_p)->schema);
    free(*self_p);
    *self_p = NULL;
}

/* s_datetime - a purchase's time as RFC 3339: also YYYY-MM-DD (midnight
 * UTC) and "YYYY-MM-DD hh:mm[:ss]" (UTC), as spreadsheets write them */
static void s_datetime(const char *v, char *out, size_t len)
{
    size_t n = strlen(v);
    if (n == 10 && v[4] == '-' && v[7] == '-')
        snprintf(out, len, "%sT00:00:00Z", v);
    else if ((n == 16 || n == 19) && v[4] == '-' && v[10] == ' ')
        snprintf(out, len, "%.10sT%s%s", v, v + 11, n == 16 ? ":00Z" : "Z");
    else
        snprintf(out, len, "%s", v);
}

/* s_payload - the row as an event payload, fields left out where skip[i];
 * a cell that cannot be the field's JSON type is a bad cell at once */
static json_t *s_payload(const import_checker_t *ck, const import_csv_t *csv,
                         const import_map_t *m, size_t r, const char *skip, import_bad_t *bad,
                         size_t max, int *nbad)
{
    size_t nf;
    const char *const *f = import_fields(m->kind, &nf);
    json_t *p = json_object(), *cust = NULL;
    int whole = 0; /* a purchase's customer given whole: any customer field */
    if (ck->kind == IMPORT_PURCHASES)
        for (size_t i = 0; i < nf; i++) {
            const char *v = m->col[i] >= 0 ? import_csv_cell(csv, r, (size_t)m->col[i]) : NULL;
            whole |= s_customer_part(f[i]) && v && *v && !skip[i];
        }
    if (whole)
        cust = json_object();
    for (size_t i = 0; i < nf; i++) {
        const char *v = m->col[i] >= 0 ? import_csv_cell(csv, r, (size_t)m->col[i]) : NULL;
        if (!v || !*v || skip[i])
            continue;
        if (v[0] == '\'' && v[1] && strchr("=+-@\t\r", v[1]))
            v++; /* kept as text by an export (csv.c): the cell is what follows */
        json_t *val;
        if (strcmp(f[i], "amount") == 0) {
            char num[64], *e;
            snprintf(num, sizeof num, "%s", v);
            if (!strchr(num, '.') && strchr(num, ',') == strrchr(num, ','))
                for (char *c = num; *c; c++)
                    if (*c == ',')
                        *c = '.'; /* a decimal comma */
            double d = strtod(num, &e);
            if (e == num || *e || d != d) {
                if ((size_t)*nbad < max) {
                    bad[*nbad].col = m->col[i];
                    snprintf(bad[*nbad].field, sizeof bad[*nbad].field, "%s", f[i]);
                    snprintf(bad[*nbad].msg, sizeof bad[*nbad].msg, "must be a number");
                }
                (*nbad)++;
                continue;
            }
            val = json_real(d);
        } else if (strcmp(f[i], "occurred_at") == 0) {
            char dt[64];
            s_datetime(v, dt, sizeof dt);
            val = json_string(dt);
        } else {
            val = json_string(v);
        }
        if (!val) /* jansson refuses invalid UTF-8: import_csv_new checked */
            continue;
        if (cust && strcmp(f[i], "customer_id") == 0)
            json_object_set_new(cust, "id", val);
        else if (cust && s_customer_part(f[i]))
            json_object_set_new(cust, f[i], val);
        else
            json_object_set_new(p, f[i], val);
    }
    if (cust) /* without an id the schema names it: customer.id */
        json_object_set_new(p, "customer", cust);
    return p;
}

/* s_field_of - the Hark field a schema path names ("customer.email" of a
 * purchase is email, "customer.id" customer_id; "" for the root) */
static const char *s_field_of(import_kind_t kind, const char *path, const char *msg)
{
    if (kind == IMPORT_PURCHASES && strncmp(path, "customer.", 9) == 0)
        path += 9;
    if (kind == IMPORT_PURCHASES && (strcmp(path, "id") == 0 || strcmp(path, "customer") == 0 ||
                                     (!*path && strstr(msg, "customer"))))
        return "customer_id";
    if (!*path && kind == IMPORT_PURCHASES)
        return "customer_id"; /* oneOf customer / customer_id */
    return path;
}

/* import_row - check a row, naming every bad cell */
int import_row(const import_checker_t *ck, const import_csv_t *csv, const import_map_t *m,
               size_t r, json_t **payload, import_bad_t *bad, size_t max)
{
    char skip[IMPORT_FIELDS_MAX] = {0};
    int nbad = 0;
    *payload = NULL;
    size_t nf;
    const char *const *f = import_fields(m->kind, &nf);
    size_t width = import_csv_width(csv, r), cols = import_csv_cols(csv);
    if (width > cols) {
        if ((size_t)nbad < max) {
            bad[nbad].col = (int)cols;
            snprintf(bad[nbad].field, sizeof bad[nbad].field, "-");
            snprintf(bad[nbad].msg, sizeof bad[nbad].msg,
                     "the row has %zu cells, the header %zu (a comma in an unquoted cell?)",
                     width, cols);
        }
        nbad++;
    }
    for (size_t round = 0; round <= nf; round++) {
        int before = nbad;
        json_t *p = s_payload(ck, csv, m, r, skip, bad, max, &nbad);
        if (nbad > before) { /* bad numbers: found once, left out after */
            for (int b = before; b < nbad && (size_t)b < max; b++) {
                int i = s_field_index(m->kind, bad[b].field);
                if (i >= 0)
                    skip[i] = 1;
            }
        }
        char path[256], msg[256];
        if (!schema_validate(ck->schema, p, path, sizeof path, msg, sizeof msg)) {
            if (nbad) {
                json_decref(p);
                return nbad;
            }
            *payload = p;
            return 0;
        }
        json_decref(p);
        const char *field = s_field_of(m->kind, path, msg);
        int i = s_field_index(m->kind, field);
        if ((size_t)nbad < max) {
            bad[nbad].col = i >= 0 ? m->col[i] : -1;
            snprintf(bad[nbad].field, sizeof bad[nbad].field, "%.31s", i >= 0 ? f[i] : field);
            snprintf(bad[nbad].msg, sizeof bad[nbad].msg, "%.199s", msg);
        }
        nbad++;
        /* a required field missing, or one we cannot leave out: stop here */
        if (i < 0 || skip[i] || import_required(m->kind, f[i]))
            return nbad;
        skip[i] = 1;
    }
    return nbad;
}

/* import_key - identity and content */
void import_key(import_kind_t kind, const json_t *payload, char *out, size_t len)
{
    const char *id;
    if (kind == IMPORT_PURCHASES)
        id = json_string_value(json_object_get(payload, "order_id"));
    else
        id = json_string_value(json_object_get(payload, "id"));
    char *text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    uint8_t d[SHA256_DIGEST_SIZE];
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    if (text)
        sha256_update(&ctx, strlen(text), (const uint8_t *)text);
    sha256_digest(&ctx, sizeof d, d);
    free(text);
    char hex[33];
    for (size_t i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    snprintf(out, len, "import:%s:%s:%s", import_type(kind), id ? id : "", hex);
}

/* import_event - the JOURNAL_APPEND form */
json_t *import_event(import_kind_t kind, json_t *payload, const char *now)
{
    char key[600];
    import_key(kind, payload, key, sizeof key);
    const char *occ = json_string_value(json_object_get(payload, "occurred_at"));
    json_t *e = json_pack("{s:s,s:s,s:s,s:o}", "type", import_type(kind), "key", key,
                          "occurred_at", occ ? occ : now, "payload", payload);
    return e;
}
