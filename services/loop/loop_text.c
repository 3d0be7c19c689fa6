/*
 * loop_text.c - what a loop email quotes: a short excerpt of what the
 * customer said, and the date they said it, written in their language.
 *
 * The dates are written from the "date" words of templates/<locale>/
 * words.json (a format and the month names), not strftime: the C library's
 * month names depend on which locales the host has generated (usually none
 * but C and C.UTF-8), and Russian, Belarusian and Polish need the genitive
 * month ("23 ноября"), which only some versions of glibc give.  The
 * languages are the folders there, as for the mail itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop.h"
#include "tz.h"
#include "utf8.h"
#include "words.h"

/* s_space - ASCII whitespace and control characters, which become one
 * space in an excerpt (the renderer would turn line breaks into spaces
 * anyway; collapsing first keeps the character budget for words) */
static int s_space(uint32_t cp)
{
    return cp <= 0x20 || cp == 0x7f || cp == 0x85 || cp == 0xa0 || cp == 0x2028 ||
           cp == 0x2029;
}

char *loop_text_excerpt(const char *text, size_t max_chars)
{
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    size_t n = strlen((const char *)s);
    /* at most 4 bytes per kept code point, plus "…" and NUL */
    size_t cap = (max_chars < n ? max_chars : n) * 4 + 8;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t len = 0, chars = 0, last_space = 0, chars_at_space = 0;
    int pending_space = 0, cut = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, n - i, &cp);
        if (k == 0) { /* not UTF-8: drop the byte */
            i++;
            continue;
        }
        if (s_space(cp)) {
            pending_space = len > 0;
            i += k;
            continue;
        }
        if (chars + pending_space + 1 > max_chars) {
            cut = 1;
            break;
        }
        if (pending_space) {
            last_space = len;
            chars_at_space = chars;
            out[len++] = ' ';
            chars++;
            pending_space = 0;
        }
        memcpy(out + len, s + i, k);
        len += k;
        chars++;
        i += k;
    }
    /* cut at the last word boundary when it keeps most of the text, so
     * the quote does not end in half a word */
    if (cut && last_space > 0 && chars_at_space * 10 >= max_chars * 7)
        len = last_space;
    if (cut) {
        while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == ',' || out[len - 1] == ';'))
            len--;
        memcpy(out + len, "\xe2\x80\xa6", 3); /* … */
        len += 3;
    }
    out[len] = '\0';
    return out;
}

const char *loop_text_date(const words_t *w, int64_t ms, const char *locale, const char *tz,
                           char *out, size_t len)
{
    /* the day the customer said it is their own day, not UTC's: 20:00 in
     * Los Angeles is already tomorrow in UTC */
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!tz || !*tz || !tz_ok(tz) || tz_local(ms, tz, &tm))
        if (!gmtime_r(&t, &tm))
            memset(&tm, 0, sizeof tm);
    const char *lang = words_locale(w, locale);
    const char *month = words_list(w, lang, "date.months", (size_t)tm.tm_mon);
    json_t *v = json_pack("{s:i,s:s,s:i,s:i}", "day", tm.tm_mday, "month", month ? month : "",
                          "month_number", tm.tm_mon + 1, "year", tm.tm_year + 1900);
    char *s = v ? words_text(w, lang, "date.format", v) : NULL;
    snprintf(out, len, "%s", s ? s : "");
    free(s);
    json_decref(v);
    return out;
}
