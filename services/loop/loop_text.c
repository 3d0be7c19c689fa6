/*
 * loop_text.c - what a loop email quotes: a short excerpt of what the
 * customer said, and the date they said it, written in their language.
 *
 * The dates are our own small table, not strftime: the C library's month
 * names depend on which locales the host has generated (usually none but C
 * and C.UTF-8), and Russian, Belarusian and Polish need the genitive month
 * ("23 ноября"), which only some versions of glibc give.  Five languages
 * are what the templates exist in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop.h"
#include "tz.h"
#include "utf8.h"

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

const char *loop_text_date(int64_t ms, const char *locale, const char *tz, char *out, size_t len)
{
    static const char *const en[] = {"January", "February", "March",     "April",
                                     "May",     "June",     "July",      "August",
                                     "September", "October", "November", "December"};
    static const char *const ru[] = {"января", "февраля", "марта",    "апреля",
                                     "мая",    "июня",    "июля",     "августа",
                                     "сентября", "октября", "ноября", "декабря"};
    static const char *const be[] = {"студзеня", "лютага",  "сакавіка", "красавіка",
                                     "мая",      "чэрвеня", "ліпеня",   "жніўня",
                                     "верасня",  "кастрычніка", "лістапада", "снежня"};
    static const char *const pl[] = {"stycznia", "lutego",   "marca",    "kwietnia",
                                     "maja",     "czerwca",  "lipca",    "sierpnia",
                                     "września", "października", "listopada", "grudnia"};
    /* the day the customer said it is their own day, not UTC's: 20:00 in
     * Los Angeles is already tomorrow in UTC */
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!tz || !*tz || !tz_ok(tz) || tz_local(ms, tz, &tm))
        if (!gmtime_r(&t, &tm))
            memset(&tm, 0, sizeof tm);
    char lang[4] = "en";
    if (locale && strlen(locale) >= 2) {
        lang[0] = (char)(locale[0] | 0x20);
        lang[1] = (char)(locale[1] | 0x20);
        lang[2] = '\0';
        if (locale[2] && locale[2] != '-' && locale[2] != '_')
            snprintf(lang, sizeof lang, "en"); /* three letters: none of ours */
    }
    int y = tm.tm_year + 1900, d = tm.tm_mday, m = tm.tm_mon;
    if (strcmp(lang, "zh") == 0)
        snprintf(out, len, "%d年%d月%d日", y, m + 1, d);
    else if (strcmp(lang, "ru") == 0)
        snprintf(out, len, "%d %s %d г.", d, ru[m], y);
    else if (strcmp(lang, "be") == 0)
        snprintf(out, len, "%d %s %d г.", d, be[m], y);
    else if (strcmp(lang, "pl") == 0)
        snprintf(out, len, "%d %s %d", d, pl[m], y);
    else
        snprintf(out, len, "%d %s %d", d, en[m], y);
    return out;
}
