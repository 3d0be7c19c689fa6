/*
 * mailer_compose.c - headers and a multipart/alternative body around a
 * rendered message (see mailer_compose.h for the layout).
 *
 * Every header value comes from mime.c or is checked here to be printable
 * ASCII without spaces (Message-ID, URL, category), so nothing the customer
 * typed can reach a header unencoded.  Values that do not fit on the
 * header's line go to a continuation line; a single token longer than a
 * line (a very long unsubscribe URL) is written whole, up to RFC 5322's
 * 998-character limit.
 */
#include "mailer_compose.h"

#include "buf.h"
#include "keys.h"
#include "mime.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_LINE_MAX     78       /* RFC 5322 2.1.1: SHOULD */
#define S_LINE_HARD    998      /* RFC 5322 2.1.1: MUST */
#define S_BOUNDARY_HEX 12       /* random bytes in the boundary */
#define S_URL_MAX      900
#define S_MSGID_MAX    250
#define S_CATEGORY_MAX 64

/* s_err - format a message into err (may be NULL); returns NULL */
static char *s_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static char *s_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

/* mailer_compose_date - RFC 5322 date in UTC */
const char *mailer_compose_date(int64_t ms, char *buf, size_t len)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri",
                                    "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May",
                                       "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"};
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        t = 0;
        gmtime_r(&t, &tm);
    }
    snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000",
             days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

/* s_token_ok - printable ASCII without space, of 1..max characters, and
 * none of the bytes in `bad` */
static int s_token_ok(const char *s, size_t max, const char *bad)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7F || strchr(bad, c))
            return 0;
    }
    return 1;
}

/* s_msgid_ok - "<left@right>" with one '@', text either side */
static int s_msgid_ok(const char *id)
{
    if (!s_token_ok(id, S_MSGID_MAX, "\"(),:;\\[]"))
        return 0;
    size_t n = strlen(id);
    if (n < 5 || id[0] != '<' || id[n - 1] != '>')
        return 0;
    const char *at = strchr(id, '@');
    if (!at || strchr(at + 1, '@') || at == id + 1 || at == id + n - 2)
        return 0;
    return strcspn(id + 1, "<>") == n - 2;
}

/* s_url_ok - an http(s) or mailto URL we can put inside <...> */
static int s_url_ok(const char *url)
{
    if (!s_token_ok(url, S_URL_MAX, "<>\"\\`{}|^"))
        return 0;
    return strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0 ||
           strncmp(url, "mailto:", 7) == 0;
}

/* s_category_ok - [A-Za-z0-9._-]{1,64} */
static int s_category_ok(const char *c)
{
    size_t n = c ? strlen(c) : 0;
    if (n == 0 || n > S_CATEGORY_MAX)
        return 0;
    return strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789._-") == n;
}

/* s_header_token - "Name: value" for a value without whitespace, moved to
 * a continuation line when it does not fit on the name's line */
static void s_header_token(buf_t *b, const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    buf_puts(b, name);
    buf_puts(b, n + 2 + v <= S_LINE_MAX ? ": " : ":\r\n ");
    buf_puts(b, value);
    buf_puts(b, "\r\n");
}

/* s_header - "Name: value" for a value already encoded and folded */
static void s_header(buf_t *b, const char *name, const char *value)
{
    buf_puts(b, name);
    buf_puts(b, ": ");
    buf_puts(b, value);
    buf_puts(b, "\r\n");
}

/* s_part - one body part: its headers, a blank line, the text encoded as
 * QP straight into b; -1 when text is not UTF-8 or on OOM */
static int s_part(buf_t *b, const char *boundary, const char *type,
                  const char *text, size_t len)
{
    buf_puts(b, "--");
    buf_puts(b, boundary);
    buf_puts(b, "\r\nContent-Type: ");
    buf_puts(b, type);
    buf_puts(b, "; charset=UTF-8\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
    if (mime_qp_append(b, text, len) != 0)
        return -1;
    buf_puts(b, "\r\n");            /* the CRLF belongs to the delimiter */
    return 0;
}

/* mailer_compose_message - the whole message; the caller frees it */
char *mailer_compose_message(const mailer_compose_opts_t *o, const rendered_t *r,
                      size_t *len, char *err, size_t errlen)
{
    if (len)
        *len = 0;
    if (!o || !r || !r->subject || !r->text || !r->html)
        return s_err(err, errlen, "nothing to compose");
    const char *unsub = o->unsubscribe_url && *o->unsubscribe_url
                            ? o->unsubscribe_url : NULL;
    const char *category = o->category && *o->category ? o->category : NULL;
    if (!s_msgid_ok(o->message_id))
        return s_err(err, errlen, "bad Message-ID (want \"<left@right>\", "
                     "printable ASCII)");
    const char *irt = o->in_reply_to && *o->in_reply_to ? o->in_reply_to : NULL;
    if (irt && !s_msgid_ok(irt))
        return s_err(err, errlen, "bad In-Reply-To (want \"<left@right>\", "
                     "printable ASCII)");
    if (unsub && !s_url_ok(unsub))
        return s_err(err, errlen, "bad unsubscribe URL (want http(s) or "
                     "mailto, printable ASCII, no spaces)");
    if (category && !s_category_ok(category))
        return s_err(err, errlen, "bad category (want [A-Za-z0-9._-], at "
                     "most %d)", S_CATEGORY_MAX);

    char *from = NULL, *to = NULL, *reply = NULL, *subject = NULL;
    char *out = NULL;
    buf_t b = BUF_INIT;
    char hex[2 * S_BOUNDARY_HEX + 1], boundary[64], date[40];

    if (!o->from_addr || !(from = mime_address(o->from_name, o->from_addr))) {
        s_err(err, errlen, "bad From address or name");
        goto done;
    }
    if (!o->to_addr || !(to = mime_address(o->to_name, o->to_addr))) {
        s_err(err, errlen, "bad To address or name");
        goto done;
    }
    if (o->reply_to && !(reply = mime_address(NULL, o->reply_to))) {
        s_err(err, errlen, "bad Reply-To address");
        goto done;
    }
    if (!(subject = mime_header_value("Subject", r->subject))) {
        s_err(err, errlen, "subject is not UTF-8");
        goto done;
    }
    if (keys_random_hex(hex, S_BOUNDARY_HEX) != 0) {
        s_err(err, errlen, "no randomness for the MIME boundary");
        goto done;
    }
    snprintf(boundary, sizeof boundary, "=_hark_%s", hex);

    /* One allocation for the whole message, usually: headers are mostly
     * under 2 KB (the unsubscribe URL is at most 900) and QP adds little
     * to mostly-ASCII bodies; a bigger message only costs a doubling. */
    size_t tlen = strlen(r->text), hlen = strlen(r->html);
    buf_reserve(&b, tlen + hlen + (tlen + hlen) / 8 + 4096);
    s_header(&b, "From", from);
    s_header(&b, "To", to);
    if (reply)
        s_header(&b, "Reply-To", reply);
    s_header(&b, "Subject", subject);
    s_header(&b, "Date", mailer_compose_date(o->date_ms, date, sizeof date));
    s_header_token(&b, "Message-ID", o->message_id);
    if (irt) { /* one thread per case: every later mail points at its first */
        s_header_token(&b, "In-Reply-To", irt);
        s_header_token(&b, "References", irt);
    }
    s_header(&b, "MIME-Version", "1.0");
    if (unsub) {
        char *angle = malloc(strlen(unsub) + 3);
        if (!angle) {
            s_err(err, errlen, "out of memory");
            goto done;
        }
        sprintf(angle, "<%s>", unsub);
        s_header_token(&b, "List-Unsubscribe", angle);
        free(angle);
        s_header(&b, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
    }
    if (category)
        s_header(&b, "X-Hark-Category", category);
    buf_printf(&b, "Content-Type: multipart/alternative;\r\n"
                   " boundary=\"%s\"\r\n\r\n", boundary);
    if (s_part(&b, boundary, "text/plain", r->text, tlen) != 0 ||
        s_part(&b, boundary, "text/html", r->html, hlen) != 0) {
        s_err(err, errlen, "body is not UTF-8, or out of memory");
        goto done;
    }
    buf_printf(&b, "--%s--\r\n", boundary);
    if (buf_failed(&b)) {
        s_err(err, errlen, "out of memory");
        goto done;
    }
    if (len)
        *len = b.len;
    out = buf_release(&b);
done:
    buf_free(&b);
    free(from);
    free(to);
    free(reply);
    free(subject);
    return out;
}
