/*
 * console_dashboard.c - the marketers' dashboard (admin, marketer):
 *
 *   GET /dashboard[?from=&to=&campaign=&locale=&by=&score=]
 *       NPS over time with the promoters', passives' and detractors'
 *       shares, per campaign and per locale with the response rate, the
 *       score distribution and the newest comments (SURVEY_DASHBOARD,
 *       hark-survey); the reasons' Pareto, their trend and the first
 *       response per team (INTAKE_REPORT, hark-intake); the NPS of
 *       customers told that a reason was dealt with against those not told
 *       (LOOP_REPORT, hark-loop)
 *   GET /dashboard.csv?chart=NAME&<the same filters>
 *       one chart's table as CSV (common/csv.c: a cell a spreadsheet would
 *       run as a formula gets a leading ')
 *
 * Every chart is SVG written here (no library, no script): patterns,
 * dashes and marker shapes besides colour, its values written beside its
 * marks, a <title> and <desc> it is labelled by, and the same numbers in
 * a table below it and in its CSV.  The filters are GET parameters, kept
 * in every link, so a view can be bookmarked and shared.  Customer text
 * (the comments) is escaped like everywhere in the console, and is
 * never a link.
 *
 * hark-survey answers from aggregates (per day, campaign, locale and
 * score), so the page costs the same with a million answers; without it
 * there is no page (503).  The intake and loop parts say they are not
 * available when their owner does not answer, and the rest still shows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "console.h"
#include "csv.h"
#include "log.h"
#include "proto.h"
#include "reasons.h"
#include "wire.h"

#define S(o, k) json_string_value(json_object_get((o), (k)))
#define S_DEFAULT_DAYS 90 /* the range when none is chosen: the last 90 days */
#define S_TREND_REASONS 5 /* reasons drawn in the trend (all are in its table) */
#define S_W 720           /* a chart's width in SVG units */

static pthread_key_t s_survey_key; /* each HTTP thread's DEALER to hark-survey */
static pthread_key_t s_loop_key;   /* and to hark-loop */

int console_dashboard_init(console_t *con)
{
    (void)con;
    if (pthread_key_create(&s_survey_key, console_client_free))
        return -1;
    if (pthread_key_create(&s_loop_key, console_client_free)) {
        pthread_key_delete(s_survey_key);
        return -1;
    }
    return 0;
}

void console_dashboard_fini(console_t *con)
{
    (void)con;
    pthread_key_delete(s_survey_key);
    pthread_key_delete(s_loop_key);
}

/* --- the filters --------------------------------------------------------- */

typedef struct {
    char from[11], to[11];
    char campaign[65], locale[36], by[6];
    int score;  /* the comments' score, -1 any */
    char chart[16]; /* /dashboard.csv's */
} s_filter_t;

/* s_date_ok - YYYY-MM-DD */
static int s_date_ok(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    return 1;
}

/* s_word_ok - 1-max of a-z A-Z 0-9 - _ */
static int s_word_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}

/* s_filters - the query's filters into f, defaults filled in; 0, or -1
 * when one is malformed */
static int s_filters(console_req_t *r, s_filter_t *f)
{
    memset(f, 0, sizeof *f);
    f->score = -1;
    const char *v;
    int64_t now = clock_now_ms();
    char at[40];
    clock_format(now, at, sizeof at);
    snprintf(f->to, sizeof f->to, "%.10s", at);
    clock_format(now - (int64_t)(S_DEFAULT_DAYS - 1) * 86400000, at, sizeof at);
    snprintf(f->from, sizeof f->from, "%.10s", at);
    snprintf(f->by, sizeof f->by, "week");
    if ((v = console_http_arg(r, "from"))) {
        if (!s_date_ok(v))
            return -1;
        snprintf(f->from, sizeof f->from, "%s", v);
    }
    if ((v = console_http_arg(r, "to"))) {
        if (!s_date_ok(v))
            return -1;
        snprintf(f->to, sizeof f->to, "%s", v);
    }
    if ((v = console_http_arg(r, "campaign"))) {
        if (!s_word_ok(v, 64))
            return -1;
        snprintf(f->campaign, sizeof f->campaign, "%s", v);
    }
    if ((v = console_http_arg(r, "locale"))) {
        if (!s_word_ok(v, 35))
            return -1;
        snprintf(f->locale, sizeof f->locale, "%s", v);
    }
    if ((v = console_http_arg(r, "by"))) {
        if (strcmp(v, "day") && strcmp(v, "week") && strcmp(v, "month"))
            return -1;
        snprintf(f->by, sizeof f->by, "%s", v);
    }
    if ((v = console_http_arg(r, "score"))) {
        char *end;
        long s = strtol(v, &end, 10);
        if (*end || end == v || s < 0 || s > 10)
            return -1;
        f->score = (int)s;
    }
    if ((v = console_http_arg(r, "chart"))) {
        if (!s_word_ok(v, sizeof f->chart - 1))
            return -1;
        snprintf(f->chart, sizeof f->chart, "%s", v);
    }
    return 0;
}

/* s_query - the filters as a query string ("from=...&to=..."), score
 * only when with_score */
static void s_query(buf_t *b, const s_filter_t *f, int with_score)
{
    buf_puts(b, "from=");
    console_url_arg(b, f->from);
    buf_puts(b, "&to=");
    console_url_arg(b, f->to);
    buf_puts(b, "&by=");
    console_url_arg(b, f->by);
    if (*f->campaign) {
        buf_puts(b, "&campaign=");
        console_url_arg(b, f->campaign);
    }
    if (*f->locale) {
        buf_puts(b, "&locale=");
        console_url_arg(b, f->locale);
    }
    if (with_score && f->score >= 0)
        buf_printf(b, "&score=%d", f->score);
}

/* --- asking the owners ---------------------------------------------------- */

/* s_ask - cmd with req (not stolen) to endpoint under key; the reply, or
 * NULL (logged) */
static json_t *s_ask(console_req_t *r, pthread_key_t key, const char *endpoint, int timeout_ms,
                     const char *cmd, const char *ok, const json_t *req)
{
    wire_client_t *c = console_client(r->con, key, endpoint);
    char got[48] = "";
    json_t *reply = c ? wire_client_call_json(c, cmd, req, timeout_ms, got) : NULL;
    if (reply && strcmp(got, ok) == 0)
        return reply;
    log_warn("event=dashboard_unavailable cmd=%s answer=%s", cmd, reply ? got : "none");
    json_decref(reply);
    return NULL;
}

/* --- numbers for people -------------------------------------------------- */

/* s_fmt - a JSON number with one decimal, an integer as is, null as "—" */
static const char *s_fmt(const json_t *v, char *out, size_t len)
{
    if (json_is_integer(v))
        snprintf(out, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_number(v))
        snprintf(out, len, "%.1f", json_number_value(v));
    else
        snprintf(out, len, "—");
    return out;
}

/* s_num - a number of a JSON object's key (null: NAN) */
static double s_num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* --- a chart: its SVG and its table -------------------------------------- */

typedef struct {
    const char *id;    /* the CSV's chart=, and the SVG's ids */
    const char *title; /* words: borrowed */
    buf_t desc;        /* what it shows, in a sentence with the numbers' gist */
    buf_t svg;
    json_t *head;      /* the table's column titles */
    json_t *rows;      /* each an array of cells (strings) */
} s_chart_t;

static void s_chart_init(s_chart_t *c, const char *id, const char *title)
{
    memset(c, 0, sizeof *c);
    c->id = id;
    c->title = title;
    c->head = json_array();
    c->rows = json_array();
}

static void s_chart_free(s_chart_t *c)
{
    buf_free(&c->desc);
    buf_free(&c->svg);
    json_decref(c->head);
    json_decref(c->rows);
}

/* s_head - the table's column titles, NULL-terminated words */
static void s_head(s_chart_t *c, console_req_t *r, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++)
        json_array_append_new(c->head, json_string(console_word(r, keys[i])));
}

/* s_row - a row of n cells; each cell a string, or a JSON value to format */
static json_t *s_row(s_chart_t *c)
{
    json_t *row = json_array();
    json_array_append_new(c->rows, row);
    return row;
}
static void s_cell(json_t *row, const char *s)
{
    json_array_append_new(row, json_string(s ? s : ""));
}
static void s_cellv(json_t *row, const json_t *v)
{
    char n[40];
    s_cell(row, s_fmt(v, n, sizeof n));
}

/* the fills and line styles of up to five series: a fill each, told apart
 * without colour (solid, hatched, dotted, cross-hatched, striped) */
#define S_SERIES 5
static const char *const s_dash[S_SERIES] = {"", "8 4", "2 3", "12 3 2 3", "4 4"};

/* s_svg_open - <svg> with its title and description and the patterns */
static void s_svg_open(s_chart_t *c, int h)
{
    buf_t *b = &c->svg;
    buf_printf(b,
               "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\""
               " aria-labelledby=\"%s-t %s-d\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\">",
               c->id, c->id, S_W, h, S_W, h);
    buf_printf(b, "<title id=\"%s-t\">", c->id);
    buf_html(b, c->title);
    buf_printf(b, "</title><desc id=\"%s-d\">", c->id);
    buf_html(b, c->desc.data ? c->desc.data : "");
    buf_puts(b, "</desc><defs>");
    buf_printf(b,
               "<pattern id=\"%s-p1\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\""
               " patternTransform=\"rotate(45)\"><rect class=\"pb\" width=\"6\" height=\"6\"/>"
               "<line class=\"pf\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\"/></pattern>",
               c->id);
    buf_printf(b,
               "<pattern id=\"%s-p2\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">"
               "<rect class=\"pb\" width=\"6\" height=\"6\"/><circle class=\"pd\" cx=\"3\""
               " cy=\"3\" r=\"1.5\"/></pattern>",
               c->id);
    buf_printf(b,
               "<pattern id=\"%s-p3\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">"
               "<rect class=\"pb\" width=\"6\" height=\"6\"/><path class=\"pf\""
               " d=\"M0 3H6M3 0V6\"/></pattern>",
               c->id);
    buf_printf(b,
               "<pattern id=\"%s-p4\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">"
               "<rect class=\"pb\" width=\"6\" height=\"6\"/><path class=\"pf\" d=\"M0 1.5H6\"/>"
               "</pattern>",
               c->id);
    buf_puts(b, "</defs>");
}

/* s_fill - the fill attribute of series i */
static void s_fill(s_chart_t *c, int i)
{
    i %= S_SERIES;
    if (i == 0)
        buf_puts(&c->svg, " class=\"s0\"");
    else
        buf_printf(&c->svg, " class=\"sp\" fill=\"url(#%s-p%d)\"", c->id, i);
}

/* s_text - a label at x, y (anchor start, middle or end) */
static void s_text(s_chart_t *c, double x, double y, const char *anchor, const char *text)
{
    buf_printf(&c->svg, "<text class=\"lbl\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", x, y,
               anchor);
    buf_html(&c->svg, text);
    buf_puts(&c->svg, "</text>");
}

/* s_legend - the series' swatches and names along the top; the height used */
static int s_legend(s_chart_t *c, const char *const *names, int n, int lines)
{
    double x = 10;
    for (int i = 0; i < n; i++) {
        if (lines) {
            buf_printf(&c->svg,
                       "<line class=\"ln\" x1=\"%.1f\" y1=\"12\" x2=\"%.1f\" y2=\"12\"%s%s%s/>",
                       x, x + 24, *s_dash[i % S_SERIES] ? " stroke-dasharray=\"" : "",
                       s_dash[i % S_SERIES], *s_dash[i % S_SERIES] ? "\"" : "");
        } else {
            buf_printf(&c->svg, "<rect x=\"%.1f\" y=\"4\" width=\"24\" height=\"14\"", x);
            s_fill(c, i);
            buf_puts(&c->svg, "/>");
        }
        s_text(c, x + 30, 16, "start", names[i]);
        x += 40 + 8.0 * (double)strlen(names[i]);
    }
    return n ? 28 : 0;
}

/* s_hbars - rows of horizontal bars, k series per row (values may be
 * negative or NAN: no bar), each bar's value written at its end */
static void s_hbars(s_chart_t *c, const char *const *labels, size_t n, const double *v, int k,
                    const char *const *series, const char *unit, const char *const *vlabels)
{
    int bar = 16, gap = 12, top = k > 1 ? 30 : 6;
    int h = top + (int)n * (k * bar + gap) + 24;
    s_svg_open(c, h);
    if (k > 1)
        s_legend(c, series, k, 0);
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n * (size_t)k; i++)
        if (!isnan(v[i]))
            lo = v[i] < lo ? v[i] : lo, hi = v[i] > hi ? v[i] : hi;
    if (hi - lo <= 0)
        hi = lo + 1;
    double x0 = 200, x1 = S_W - 90, scale = (x1 - x0) / (hi - lo), zero = x0 - lo * scale;
    for (size_t i = 0; i < n; i++) {
        double y = top + (double)i * (k * bar + gap);
        s_text(c, x0 - 8, y + (k * bar) / 2.0 + 4, "end", labels[i]);
        for (int j = 0; j < k; j++) {
            double x = v[i * (size_t)k + (size_t)j];
            double yy = y + j * bar;
            char t[48];
            if (isnan(x)) {
                s_text(c, zero + 4, yy + bar - 4, "start", "—");
                continue;
            }
            double a = zero, bx = zero + x * scale;
            if (bx < a)
                a = bx, bx = zero;
            buf_printf(&c->svg,
                       "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\"", a, yy,
                       bx - a < 1 ? 1 : bx - a, bar - 2);
            s_fill(c, j);
            buf_puts(&c->svg, "/>");
            if (vlabels)
                snprintf(t, sizeof t, "%s", vlabels[i * (size_t)k + (size_t)j]);
            else
                snprintf(t, sizeof t, x == floor(x) && fabs(x) < 1e15 ? "%.0f%s" : "%.1f%s", x,
                         unit);
            if (x >= 0)
                s_text(c, bx + 4, yy + bar - 4, "start", t);
            else
                s_text(c, a - 4, yy + bar - 4, "end", t);
        }
    }
    buf_printf(&c->svg, "<line class=\"ax\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>",
               zero, top - 2, zero, h - 20);
    buf_puts(&c->svg, "</svg>");
}

/* s_columns - vertical stacked columns: n columns of k segments (counts or
 * shares), segment j in series j's fill; a segment's value inside it when
 * it has room, the column's total (or the single segment's value) above */
static void s_columns(s_chart_t *c, const char *const *labels, size_t n, const double *v, int k,
                      const char *const *series, const int *fill, const char *unit)
{
    int top = series ? 34 : 10, ph = 200, h = top + ph + 40;
    s_svg_open(c, h);
    if (series)
        s_legend(c, series, k, 0);
    double hi = 0;
    for (size_t i = 0; i < n; i++) {
        double t = 0;
        for (int j = 0; j < k; j++)
            t += isnan(v[i * (size_t)k + (size_t)j]) ? 0 : v[i * (size_t)k + (size_t)j];
        hi = t > hi ? t : hi;
    }
    if (hi <= 0)
        hi = 1;
    double x0 = 40, cw = n ? (S_W - x0 - 10) / (double)n : 1, base = top + ph;
    /* every label when they fit, else every m-th */
    size_t every = (size_t)(60.0 / cw) + 1;
    for (size_t i = 0; i < n; i++) {
        double x = x0 + (double)i * cw, y = base, total = 0;
        for (int j = 0; j < k; j++) {
            double x_ = v[i * (size_t)k + (size_t)j];
            if (isnan(x_) || x_ <= 0)
                continue;
            double hh = x_ / hi * ph;
            y -= hh;
            total += x_;
            buf_printf(&c->svg, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"",
                       x + cw * 0.1, y, cw * 0.8, hh);
            s_fill(c, fill ? fill[i * (size_t)k + (size_t)j] : j);
            buf_puts(&c->svg, "/>");
            if (k > 1 && hh >= 16 && cw >= 34) {
                char t[40];
                snprintf(t, sizeof t, "%.0f%s", x_, unit);
                buf_printf(&c->svg, "<rect class=\"tag\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\""
                                    " height=\"14\"/>",
                           x + cw / 2 - 15, y + hh / 2 - 10, 30.0);
                s_text(c, x + cw / 2, y + hh / 2 + 2, "middle", t);
            }
        }
        if (k == 1 && cw >= 24) {
            char t[40];
            snprintf(t, sizeof t, "%.0f%s", total, unit);
            s_text(c, x + cw / 2, y - 4, "middle", t);
        }
        if (i % every == 0)
            s_text(c, x + cw / 2, base + 16, "middle", labels[i]);
    }
    buf_printf(&c->svg, "<line class=\"ax\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", x0,
               base, S_W - 10, base);
    buf_puts(&c->svg, "</svg>");
}

/* s_lines - k lines over n periods (NAN: no point), each with its dashes
 * and marker, its name and last value written at its end */
static void s_lines(s_chart_t *c, const char *const *labels, size_t n, const double *v, int k,
                    const char *const *series, const char *unit)
{
    int top = k > 1 ? 40 : 24, ph = 200, h = top + ph + 40;
    s_svg_open(c, h);
    if (k > 1)
        s_legend(c, series, k, 1);
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n * (size_t)k; i++)
        if (!isnan(v[i]))
            lo = v[i] < lo ? v[i] : lo, hi = v[i] > hi ? v[i] : hi;
    if (hi - lo <= 0)
        hi = lo + 1;
    double x0 = 50, x1 = S_W - 130, base = top + ph;
    double dx = n > 1 ? (x1 - x0) / (double)(n - 1) : 0;
#define S_Y(val) (base - ((val) - lo) / (hi - lo) * ph)
    /* the axis: the zero line, and the lowest and highest values */
    char t[48];
    double marks[3] = {lo, 0, hi};
    for (int i = 0; i < 3; i++) {
        if (i != 1 && marks[i] == 0)
            continue;
        buf_printf(&c->svg, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                   i == 1 ? "ax" : "grid", x0, S_Y(marks[i]), x1, S_Y(marks[i]));
        snprintf(t, sizeof t, "%.0f", marks[i]);
        s_text(c, x0 - 6, S_Y(marks[i]) + 4, "end", t);
    }
    size_t every = n ? (size_t)(70.0 / (dx > 0 ? dx : 70.0)) + 1 : 1;
    for (size_t i = 0; i < n; i++)
        if (i % every == 0)
            s_text(c, x0 + (double)i * dx, base + 18, "middle", labels[i]);
    for (int j = 0; j < k; j++) {
        const char *dash = s_dash[j % S_SERIES];
        buf_puts(&c->svg, "<path class=\"ln\" fill=\"none\" d=\"");
        int pen = 0;
        for (size_t i = 0; i < n; i++) {
            double x = v[i * (size_t)k + (size_t)j];
            if (isnan(x)) {
                pen = 0;
                continue;
            }
            buf_printf(&c->svg, "%s%.1f %.1f", pen ? "L" : "M", x0 + (double)i * dx, S_Y(x));
            pen = 1;
        }
        buf_printf(&c->svg, "\"%s%s%s/>", *dash ? " stroke-dasharray=\"" : "", dash,
                   *dash ? "\"" : "");
        /* markers: circle, square, triangle, diamond, cross; values when few */
        double lx = -1, ly = 0, lastv = 0;
        for (size_t i = 0; i < n; i++) {
            double x = v[i * (size_t)k + (size_t)j];
            if (isnan(x))
                continue;
            double px = x0 + (double)i * dx, py = S_Y(x);
            switch (j % S_SERIES) {
            case 0:
                buf_printf(&c->svg, "<circle class=\"mk\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\"/>", px,
                           py);
                break;
            case 1:
                buf_printf(&c->svg, "<rect class=\"mk\" x=\"%.1f\" y=\"%.1f\" width=\"7\""
                                    " height=\"7\"/>", px - 3.5, py - 3.5);
                break;
            case 2:
                buf_printf(&c->svg, "<path class=\"mk\" d=\"M%.1f %.1fl4 7h-8z\"/>", px, py - 4.5);
                break;
            case 3:
                buf_printf(&c->svg, "<path class=\"mk\" d=\"M%.1f %.1fl4.5 4.5l-4.5 4.5l-4.5"
                                    " -4.5z\"/>", px, py - 4.5);
                break;
            default:
                buf_printf(&c->svg, "<path class=\"ln\" d=\"M%.1f %.1fl7 7m0 -7l-7 7\"/>",
                           px - 3.5, py - 3.5);
            }
            if (k == 1 && n <= 16) {
                snprintf(t, sizeof t, "%.1f%s", x, unit);
                s_text(c, px, py - 8, "middle", t);
            }
            lx = px, ly = py, lastv = x;
        }
        if (lx >= 0 && !(k == 1 && n <= 16)) { /* (else every point says its value) */
            snprintf(t, sizeof t, "%s %.1f%s", k > 1 ? series[j] : "", lastv, unit);
            s_text(c, lx + 10, ly + 4 + (k > 1 ? (j - k / 2.0) * 3 : 0), "start",
                   t + (k > 1 ? 0 : 1));
        }
    }
#undef S_Y
    buf_puts(&c->svg, "</svg>");
}

/* --- the charts ---------------------------------------------------------- */

/* s_period_label - a period for people (a week: its Monday) */
static const char *s_period(const json_t *row)
{
    const char *p = S(row, "period");
    return p ? p : "";
}

/* s_nps_charts - NPS over time, and the three shares per period */
static void s_nps_charts(console_req_t *r, const json_t *d, s_chart_t *nps, s_chart_t *shares)
{
    const json_t *series = json_object_get(d, "series");
    size_t n = json_array_size(series);
    const char **labels = calloc(n ? n : 1, sizeof *labels);
    double *v = calloc(n ? n : 1, sizeof *v), *sh = calloc(n ? n * 3 : 1, sizeof *sh);
    const json_t *tot = json_object_get(d, "totals");
    char a[40];
    s_chart_init(nps, "nps", console_word(r, "dash_nps_title"));
    buf_printf(&nps->desc, "%s %s.", console_word(r, "dash_nps_desc"),
               s_fmt(json_object_get(tot, "nps"), a, sizeof a));
    static const char *const nh[] = {"dash_col_period", "dash_col_nps", "dash_col_promoters",
                                     "dash_col_passives", "dash_col_detractors",
                                     "dash_col_delivered", "dash_col_answered",
                                     "dash_col_response_rate", NULL};
    s_head(nps, r, nh);
    s_chart_init(shares, "shares", console_word(r, "dash_shares_title"));
    buf_printf(&shares->desc, "%s", console_word(r, "dash_shares_desc"));
    static const char *const sh_h[] = {"dash_col_period", "dash_col_promoters_pct",
                                       "dash_col_passives_pct", "dash_col_detractors_pct",
                                       "dash_col_answered", NULL};
    s_head(shares, r, sh_h);
    size_t i;
    json_t *row;
    json_array_foreach(series, i, row) {
        if (!labels || !v || !sh)
            break;
        labels[i] = s_period(row);
        v[i] = s_num(row, "nps");
        sh[i * 3] = s_num(row, "promoter_share");
        sh[i * 3 + 1] = s_num(row, "passive_share");
        sh[i * 3 + 2] = s_num(row, "detractor_share");
        json_t *t = s_row(nps);
        s_cell(t, labels[i]);
        static const char *const k1[] = {"nps", "promoters", "passives", "detractors",
                                         "delivered", "responses", "response_rate"};
        for (size_t j = 0; j < sizeof k1 / sizeof *k1; j++)
            s_cellv(t, json_object_get(row, k1[j]));
        t = s_row(shares);
        s_cell(t, labels[i]);
        static const char *const k2[] = {"promoter_share", "passive_share", "detractor_share",
                                         "responses"};
        for (size_t j = 0; j < sizeof k2 / sizeof *k2; j++)
            s_cellv(t, json_object_get(row, k2[j]));
    }
    json_t *t = s_row(nps);
    s_cell(t, console_word(r, "dash_total"));
    static const char *const k1[] = {"nps", "promoters", "passives", "detractors",
                                     "delivered", "responses", "response_rate"};
    for (size_t j = 0; j < sizeof k1 / sizeof *k1; j++)
        s_cellv(t, json_object_get(tot, k1[j]));
    if (labels && v && sh) {
        s_lines(nps, labels, n, v, 1, NULL, "");
        const char *names[] = {console_word(r, "dash_promoters"), console_word(r, "dash_passives"),
                               console_word(r, "dash_detractors")};
        s_columns(shares, labels, n, sh, 3, names, NULL, "%");
    }
    free(labels);
    free(v);
    free(sh);
}

/* s_group_chart - NPS per campaign or per locale, with the response rate */
static void s_group_chart(console_req_t *r, const json_t *d, s_chart_t *c, const char *id,
                          const char *list, const char *key, const char *title,
                          const char *col)
{
    const json_t *rows = json_object_get(d, list);
    size_t n = json_array_size(rows);
    const char **labels = calloc(n ? n : 1, sizeof *labels);
    double *v = calloc(n ? n * 2 : 1, sizeof *v);
    s_chart_init(c, id, console_word(r, title));
    buf_printf(&c->desc, "%s", console_word(r, "dash_group_desc"));
    const char *h[] = {col, "dash_col_nps", "dash_col_response_rate", "dash_col_delivered",
                       "dash_col_answered", "dash_col_promoters", "dash_col_passives",
                       "dash_col_detractors", NULL};
    s_head(c, r, h);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        if (!labels || !v)
            break;
        labels[i] = S(row, key) && *S(row, key) ? S(row, key) : "—";
        v[i * 2] = s_num(row, "nps");
        v[i * 2 + 1] = s_num(row, "response_rate");
        json_t *t = s_row(c);
        s_cell(t, labels[i]);
        static const char *const k[] = {"nps", "response_rate", "delivered", "responses",
                                        "promoters", "passives", "detractors"};
        for (size_t j = 0; j < sizeof k / sizeof *k; j++)
            s_cellv(t, json_object_get(row, k[j]));
    }
    if (labels && v) {
        const char *names[] = {console_word(r, "dash_col_nps"),
                               console_word(r, "dash_col_response_rate")};
        s_hbars(c, labels, n, v, 2, names, "", NULL);
    }
    free(labels);
    free(v);
}

/* s_scores_chart - how many answered each score 0..10 */
static void s_scores_chart(console_req_t *r, const json_t *d, s_chart_t *c)
{
    const json_t *sc = json_object_get(d, "scores");
    s_chart_init(c, "scores", console_word(r, "dash_scores_title"));
    buf_printf(&c->desc, "%s", console_word(r, "dash_scores_desc"));
    static const char *const h[] = {"dash_col_score", "dash_col_answers", "dash_col_group", NULL};
    s_head(c, r, h);
    const char *labels[11];
    char names[11][12];
    double v[11];
    int fill[11];
    for (int i = 0; i <= 10; i++) {
        snprintf(names[i], sizeof names[i], "%d", i);
        labels[i] = names[i];
        v[i] = (double)json_integer_value(json_array_get(sc, (size_t)i));
        /* detractors hatched, passives dotted, promoters solid */
        fill[i] = i >= 9 ? 0 : i >= 7 ? 2 : 1;
        json_t *t = s_row(c);
        s_cell(t, names[i]);
        s_cellv(t, json_array_get(sc, (size_t)i));
        s_cell(t, console_word(r, i >= 9   ? "dash_promoters"
                                  : i >= 7 ? "dash_passives"
                                           : "dash_detractors"));
    }
    s_columns(c, labels, 11, v, 1, NULL, fill, "");
}

/* s_reason_label - a reason code's label in r's language */
static const char *s_reason_label(console_req_t *r, const char *code)
{
    const reasons_t *rs = r->con->reasons;
    int i = rs && code ? reasons_find(rs, code) : -1;
    return i >= 0 ? reasons_label(rs, (size_t)i, r->locale) : code ? code : "";
}

/* s_reason_charts - the Pareto, and the trend of the most frequent */
static void s_reason_charts(console_req_t *r, const json_t *rep, s_chart_t *pareto,
                            s_chart_t *trend)
{
    const json_t *rs = json_object_get(rep, "reasons");
    size_t n = json_array_size(rs);
    const char **labels = calloc(n ? n : 1, sizeof *labels);
    double *v = calloc(n ? n : 1, sizeof *v);
    char(*vl)[48] = calloc(n ? n : 1, sizeof *vl);
    const char **vlp = calloc(n ? n : 1, sizeof *vlp);
    s_chart_init(pareto, "reasons", console_word(r, "dash_reasons_title"));
    buf_printf(&pareto->desc, "%s", console_word(r, "dash_reasons_desc"));
    static const char *const h[] = {"dash_col_reason", "dash_col_count", "dash_col_share",
                                    "dash_col_cumulative", NULL};
    s_head(pareto, r, h);
    size_t i;
    json_t *row;
    json_array_foreach(rs, i, row) {
        if (!labels || !v || !vl || !vlp)
            break;
        labels[i] = s_reason_label(r, S(row, "code"));
        v[i] = s_num(row, "count");
        char cum[40];
        snprintf(vl[i], sizeof vl[i], "%.0f (%s: %s%%)", v[i], console_word(r, "dash_cum"),
                 s_fmt(json_object_get(row, "cumulative"), cum, sizeof cum));
        vlp[i] = vl[i];
        json_t *t = s_row(pareto);
        s_cell(t, labels[i]);
        s_cellv(t, json_object_get(row, "count"));
        s_cellv(t, json_object_get(row, "share"));
        s_cellv(t, json_object_get(row, "cumulative"));
    }
    if (labels && v && vl && vlp) /* each bar says its count and the cumulative share */
        s_hbars(pareto, labels, n, v, 1, NULL, "", vlp);
    free(vl);
    free(vlp);
    /* the trend: per week, the top reasons' counts */
    const json_t *weeks = json_object_get(rep, "trend");
    size_t nw = json_array_size(weeks), k = n < S_TREND_REASONS ? n : S_TREND_REASONS;
    s_chart_init(trend, "trend", console_word(r, "dash_trend_title"));
    buf_printf(&trend->desc, "%s", console_word(r, "dash_trend_desc"));
    json_array_append_new(trend->head, json_string(console_word(r, "dash_col_week")));
    for (size_t j = 0; j < n; j++)
        json_array_append_new(trend->head, json_string(labels ? labels[j] : ""));
    const char **wl = calloc(nw ? nw : 1, sizeof *wl);
    double *wv = calloc(nw > 0 && k > 0 ? nw * k : 1, sizeof *wv);
    json_array_foreach(weeks, i, row) {
        json_t *t = s_row(trend);
        s_cell(t, S(row, "period"));
        const json_t *wr = json_object_get(row, "reasons");
        for (size_t j = 0; j < n; j++) {
            const char *code = S(json_array_get(rs, j), "code");
            json_int_t c = code ? json_integer_value(json_object_get(wr, code)) : 0;
            char num[24];
            snprintf(num, sizeof num, "%lld", (long long)c);
            s_cell(t, num);
            if (j < k && wv)
                wv[i * k + j] = (double)c;
        }
        if (wl)
            wl[i] = S(row, "period");
    }
    if (wl && wv && labels)
        s_lines(trend, wl, nw, wv, (int)k, labels, "");
    free(wl);
    free(wv);
    free(labels);
    free(v);
}

/* s_team_chart - the first response per team: median and p90 hours */
static void s_team_chart(console_req_t *r, const json_t *rep, s_chart_t *c)
{
    const json_t *ts = json_object_get(rep, "teams");
    size_t n = json_array_size(ts);
    const char **labels = calloc(n ? n : 1, sizeof *labels);
    double *v = calloc(n ? n * 2 : 1, sizeof *v);
    s_chart_init(c, "teams", console_word(r, "dash_teams_title"));
    buf_printf(&c->desc, "%s", console_word(r, "dash_teams_desc"));
    static const char *const h[] = {"dash_col_team", "dash_col_cases", "dash_col_replied",
                                    "dash_col_median_h", "dash_col_p90_h",
                                    "dash_col_within_target", NULL};
    s_head(c, r, h);
    size_t i;
    json_t *row;
    json_array_foreach(ts, i, row) {
        if (!labels || !v)
            break;
        labels[i] = S(row, "team");
        v[i * 2] = s_num(row, "median_first_response_hours");
        v[i * 2 + 1] = s_num(row, "p90_first_response_hours");
        json_t *t = s_row(c);
        s_cell(t, labels[i]);
        s_cellv(t, json_object_get(row, "cases"));
        s_cellv(t, json_object_get(row, "replied"));
        s_cellv(t, json_object_get(row, "median_first_response_hours"));
        s_cellv(t, json_object_get(row, "p90_first_response_hours"));
        s_cellv(t, json_object_get(row, "within_target_share"));
    }
    if (labels && v) {
        const char *names[] = {console_word(r, "dash_col_median_h"),
                               console_word(r, "dash_col_p90_h")};
        s_hbars(c, labels, n, v, 2, names, " h", NULL);
    }
    free(labels);
    free(v);
}

/* s_loop_chart - NPS after, of customers told against not told, per reason */
static void s_loop_chart(console_req_t *r, const json_t *rep, s_chart_t *c)
{
    const json_t *rs = json_object_get(rep, "reasons");
    size_t n = json_array_size(rs);
    const char **labels = calloc(n ? n : 1, sizeof *labels);
    double *v = calloc(n ? n * 2 : 1, sizeof *v);
    s_chart_init(c, "loops", console_word(r, "dash_loops_title"));
    buf_printf(&c->desc, "%s", console_word(r, "dash_loops_desc"));
    static const char *const h[] = {"dash_col_reason", "dash_col_told", "dash_col_told_nps",
                                    "dash_col_told_answers", "dash_col_not_told_nps",
                                    "dash_col_not_told_answers", NULL};
    s_head(c, r, h);
    size_t i;
    json_t *row;
    json_array_foreach(rs, i, row) {
        if (!labels || !v)
            break;
        const json_t *told = json_object_get(json_object_get(row, "nps"), "told");
        const json_t *not = json_object_get(json_object_get(row, "nps"), "not_told");
        labels[i] = s_reason_label(r, S(row, "reason"));
        v[i * 2] = s_num(told, "after");
        v[i * 2 + 1] = s_num(not, "after");
        json_t *t = s_row(c);
        s_cell(t, labels[i]);
        s_cellv(t, json_object_get(row, "told"));
        s_cellv(t, json_object_get(told, "after"));
        s_cellv(t, json_object_get(told, "answers_after"));
        s_cellv(t, json_object_get(not, "after"));
        s_cellv(t, json_object_get(not, "answers_after"));
    }
    if (labels && v) {
        const char *names[] = {console_word(r, "dash_told"), console_word(r, "dash_not_told")};
        s_hbars(c, labels, n, v, 2, names, "", NULL);
    }
    free(labels);
    free(v);
}

/* s_comments_table - the newest comments: a table (and its CSV), no chart */
static void s_comments_table(console_req_t *r, const json_t *d, s_chart_t *c)
{
    s_chart_init(c, "comments", console_word(r, "dash_comments_title"));
    static const char *const h[] = {"dash_col_answered_at", "dash_col_score", "dash_col_comment",
                                    "dash_col_campaign", "dash_col_locale", NULL};
    s_head(c, r, h);
    size_t i;
    json_t *cm;
    json_array_foreach(json_object_get(d, "comments"), i, cm) {
        char when[40];
        const char *at = S(cm, "answered_at");
        snprintf(when, sizeof when, "%.10s %.5s", at ? at : "",
                 at && strlen(at) > 16 ? at + 11 : "");
        json_t *t = s_row(c);
        s_cell(t, when);
        s_cellv(t, json_object_get(cm, "score"));
        s_cell(t, S(cm, "comment"));
        s_cell(t, S(cm, "campaign"));
        s_cell(t, S(cm, "locale"));
    }
}

/* --- the page ----------------------------------------------------------- */

#define S_CHARTS 10

typedef struct {
    s_chart_t c[S_CHARTS];
    size_t n;
    json_t *survey, *intake, *loop; /* the owners' answers (NULL: not available) */
} s_dash_t;

static void s_dash_free(s_dash_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        s_chart_free(&d->c[i]);
    json_decref(d->survey);
    json_decref(d->intake);
    json_decref(d->loop);
}

/* s_build - ask the owners and draw every chart; 0, or -1 having
 * answered 503 (hark-survey did not answer) */
static int s_build(console_req_t *r, const s_filter_t *f, s_dash_t *d)
{
    console_t *con = r->con;
    memset(d, 0, sizeof *d);
    json_t *req = json_pack("{s:s,s:s,s:s}", "from", f->from, "to", f->to, "by", f->by);
    if (*f->campaign)
        json_object_set_new(req, "campaign", json_string(f->campaign));
    if (*f->locale)
        json_object_set_new(req, "locale", json_string(f->locale));
    if (f->score >= 0)
        json_object_set_new(req, "score", json_integer(f->score));
    d->survey = s_ask(r, s_survey_key, con->conf.survey_control, con->conf.survey_timeout_ms,
                      CMD_SURVEY_DASHBOARD, CMD_SURVEY_DASHBOARD_OK, req);
    json_decref(req);
    if (!d->survey) {
        console_header(r, "Retry-After", "5");
        console_page_error(r, 503);
        return -1;
    }
    /* cases have no campaign: the reasons follow the dates and the locale */
    req = json_pack("{s:s,s:s}", "from", f->from, "to", f->to);
    if (*f->locale)
        json_object_set_new(req, "locale", json_string(f->locale));
    d->intake = s_ask(r, con->intake_key, con->conf.intake_control, con->conf.intake_timeout_ms,
                      CMD_INTAKE_REPORT, CMD_INTAKE_REPORT_OK, req);
    json_decref(req);
    req = json_pack("{s:s,s:s}", "from", f->from, "to", f->to);
    d->loop = s_ask(r, s_loop_key, con->conf.loop_control, con->conf.loop_timeout_ms,
                    CMD_LOOP_REPORT, CMD_LOOP_REPORT_OK, req);
    json_decref(req);
    s_nps_charts(r, d->survey, &d->c[0], &d->c[1]);
    s_group_chart(r, d->survey, &d->c[2], "campaigns", "campaigns", "campaign",
                  "dash_campaigns_title", "dash_col_campaign");
    s_group_chart(r, d->survey, &d->c[3], "locales", "locales", "locale", "dash_locales_title",
                  "dash_col_locale");
    s_scores_chart(r, d->survey, &d->c[4]);
    s_comments_table(r, d->survey, &d->c[5]);
    d->n = 6;
    if (d->intake) {
        s_reason_charts(r, d->intake, &d->c[6], &d->c[7]);
        s_team_chart(r, d->intake, &d->c[8]);
        d->n = 9;
    }
    if (d->loop)
        s_loop_chart(r, d->loop, &d->c[d->n++]);
    return 0;
}

/* s_options - a <select>'s options: "" (all) then each of list, chosen
 * marked */
static json_t *s_options(console_req_t *r, const json_t *list, const char *chosen)
{
    json_t *a = json_array();
    json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "value", "", "label",
                                       console_word(r, "dash_all"), "selected", !*chosen));
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        if (s)
            json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "value", s, "label", s,
                                               "selected", strcmp(s, chosen) == 0));
    }
    return a;
}

/* console_dashboard - GET /dashboard */
void console_dashboard(console_req_t *r)
{
    s_filter_t f;
    if (s_filters(r, &f)) {
        console_page_error(r, 400);
        return;
    }
    s_dash_t d;
    if (s_build(r, &f, &d))
        return;
    buf_t q = BUF_INIT;
    s_query(&q, &f, 1);
    json_t *charts = json_array();
    json_t *comments = NULL;
    for (size_t i = 0; i < d.n; i++) {
        s_chart_t *c = &d.c[i];
        if (strcmp(c->id, "comments") == 0) { /* a list of its own, below the scores */
            comments = c->rows;
            continue;
        }
        json_t *rows = json_array();
        size_t j;
        json_t *row;
        json_array_foreach(c->rows, j, row) {
            json_t *cells = json_array();
            for (size_t k = 1; k < json_array_size(row); k++)
                json_array_append(cells, json_array_get(row, k));
            json_array_append_new(rows, json_pack("{s:O,s:o}", "th", json_array_get(row, 0),
                                                  "cells", cells));
        }
        json_array_append_new(
            charts, json_pack("{s:s,s:s,s:s,s:O,s:o,s:s,s:b}", "id", c->id, "title", c->title,
                              "svg", c->svg.data ? c->svg.data : "", "head", c->head, "rows",
                              rows, "query", q.data ? q.data : "", "empty",
                              json_array_size(c->rows) == 0));
    }
    /* the comments, newest first: each [when, score, comment, campaign, locale] */
    json_t *list = json_array();
    size_t i;
    json_t *cm;
    json_array_foreach(comments, i, cm) {
        json_array_append_new(list, json_pack("{s:O,s:O,s:O,s:O,s:O}", "when",
                                              json_array_get(cm, 0), "score",
                                              json_array_get(cm, 1), "comment",
                                              json_array_get(cm, 2), "campaign",
                                              json_array_get(cm, 3), "locale",
                                              json_array_get(cm, 4)));
    }
    json_t *scores = json_array();
    json_array_append_new(scores, json_pack("{s:s,s:s,s:b}", "value", "", "label",
                                            console_word(r, "dash_all"), "selected",
                                            f.score < 0));
    for (int s = 0; s <= 10; s++) {
        char v[12];
        snprintf(v, sizeof v, "%d", s);
        json_array_append_new(scores, json_pack("{s:s,s:s,s:b}", "value", v, "label", v,
                                                "selected", f.score == s));
    }
    json_t *bys = json_array();
    static const char *const by[] = {"day", "week", "month"};
    for (int k = 0; k < 3; k++) {
        char key[24];
        snprintf(key, sizeof key, "dash_by_%s", by[k]);
        json_array_append_new(bys, json_pack("{s:s,s:s,s:b}", "value", by[k], "label",
                                             console_word(r, key), "selected",
                                             strcmp(f.by, by[k]) == 0));
    }
    json_t *ctx = json_pack(
        "{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:b,s:b,s:s}", "from", f.from, "to", f.to,
        "campaigns", s_options(r, json_object_get(d.survey, "all_campaigns"), f.campaign),
        "locales", s_options(r, json_object_get(d.survey, "all_locales"), f.locale), "bys", bys,
        "scores", scores, "charts", charts, "comments", list, "has_comments",
        json_array_size(list) > 0, "no_intake", d.intake == NULL, "no_loop", d.loop == NULL,
        "query", q.data ? q.data : "");
    buf_free(&q);
    s_dash_free(&d);
    console_page(r, 200, "dashboard", "dash_title", ctx);
}

/* console_dashboard_csv - GET /dashboard.csv?chart=NAME: one chart's table */
void console_dashboard_csv(console_req_t *r)
{
    s_filter_t f;
    if (s_filters(r, &f) || !*f.chart) {
        console_page_error(r, 400);
        return;
    }
    s_dash_t d;
    if (s_build(r, &f, &d))
        return;
    s_chart_t *c = NULL;
    for (size_t i = 0; i < d.n && !c; i++)
        if (strcmp(d.c[i].id, f.chart) == 0)
            c = &d.c[i];
    if (!c) {
        s_dash_free(&d);
        console_page_error(r, 404);
        return;
    }
    buf_reset(&r->out);
    size_t i, j, nh = json_array_size(c->head);
    json_t *v, *row;
    json_array_foreach(c->head, i, v) csv_cell(&r->out, json_string_value(v), i + 1 == nh);
    json_array_foreach(c->rows, i, row) {
        size_t n = json_array_size(row);
        json_array_foreach(row, j, v) csv_cell(&r->out, json_string_value(v), j + 1 == n);
    }
    char disp[120];
    snprintf(disp, sizeof disp, "attachment; filename=\"hark-%s-%s-%s.csv\"", c->id, f.from,
             f.to);
    console_header(r, "Content-Disposition", disp);
    r->status = 200;
    r->content_type = "text/csv; charset=utf-8";
    s_dash_free(&d);
}
