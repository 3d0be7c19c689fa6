/*
 * inbox_parse.c - one message, as GMime reads it, sorted into what it is:
 * a delivery status notification, an auto-reply, a reply to a case or a
 * survey invite, or something for staff to look at.
 *
 * GMime does the MIME: headers (RFC 2047 words decoded), the part tree,
 * transfer encodings and charsets (every text part comes out as UTF-8).
 * What is left to us is deciding, in this order, since each later test
 * would misread the earlier kinds:
 *   1. a bounce: multipart/report; report-type=delivery-status (RFC 3464),
 *      or a text bounce (MAILER-DAEMON / postmaster, or a bounce subject)
 *      quoting a Message-ID of ours.  Bounces carry Auto-Submitted too,
 *      so they come before auto-replies.
 *   2. an auto-reply: Auto-Submitted other than "no", X-Autoreply,
 *      X-Autorespond, Precedence auto_reply/bulk/junk, an out-of-office
 *      subject.
 *   3. a reply: a reply+TOKEN recipient, else a <hark.TOKEN@...> in
 *      In-Reply-To or References, with a MAC of ours (reply_token.h).
 * Everything else is unmatched.  A message GMime cannot read, or one
 * nested or split beyond reason, is bad.
 */
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inbox.h"

#define S_DEPTH_MAX 16   /* nested multiparts and attached messages */
#define S_PARTS_MAX 500  /* parts looked at in one message */
#define S_TEXT_MAX  (1 << 20)

/* inbox_parse_init - GMime's types and charset tables */
void inbox_parse_init(void)
{
    static int done;
    if (!done) {
        g_mime_init();
        done = 1;
    }
}

const char *inbox_outcome_name(inbox_outcome_t o)
{
    static const char *const names[] = {"reply", "comment", "dsn", "auto", "unmatched", "bad"};
    return (unsigned)o <= INBOX_BAD ? names[o] : "bad";
}

/* inbox_mail_clear - free what m holds and zero it */
void inbox_mail_clear(inbox_mail_t *m)
{
    free(m->from);
    free(m->subject);
    free(m->message_id);
    free(m->text);
    free(m->dsn_message_id);
    free(m->dsn_recipient);
    free(m->dsn_diagnostic);
    free(m->dsn_reporter);
    memset(m, 0, sizeof *m);
}

/* s_dup - a malloc'd, valid UTF-8 copy of at most max bytes of s, or NULL */
static char *s_dup(const char *s, size_t max)
{
    if (!s)
        return NULL;
    size_t n = strnlen(s, max);
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    inbox_text_utf8(d);
    return d;
}

/* s_walk - what the part tree holds that we look at */
typedef struct {
    char *plain, *html;     /* the first text/plain and text/html not attached (g_free) */
    char *status;           /* the message/delivery-status part's text (g_free) */
    char *orig_headers;     /* text/rfc822-headers, or an attached message's
                               Message-ID (g_free) */
    int parts, too_deep;
} s_walk_t;

/* s_part_bytes - a leaf part's content, transfer encoding undone, as a
 * NUL-terminated g_malloc'd string (at most S_TEXT_MAX) */
static char *s_part_bytes(GMimePart *part)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    if (!w)
        return NULL;
    GMimeStream *ms = g_mime_stream_mem_new();
    g_mime_data_wrapper_write_to_stream(w, ms);
    GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
    size_t n = ba->len < S_TEXT_MAX ? ba->len : S_TEXT_MAX;
    char *out = g_malloc(n + 1);
    if (n) /* an empty part has no data at all */
        memcpy(out, ba->data, n);
    out[n] = '\0';
    g_object_unref(ms);
    return out;
}

static void s_walk(GMimeObject *o, int depth, s_walk_t *w)
{
    if (!o || ++w->parts > S_PARTS_MAX || depth > S_DEPTH_MAX) {
        w->too_deep = 1;
        return;
    }
    GMimeContentType *ct = g_mime_object_get_content_type(o);
    if (GMIME_IS_MULTIPART(o)) {
        GMimeMultipart *mp = GMIME_MULTIPART(o);
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n && !w->too_deep; i++)
            s_walk(g_mime_multipart_get_part(mp, i), depth + 1, w);
        return;
    }
    if (GMIME_IS_MESSAGE_PART(o)) {
        /* an attached message: in a bounce, the one that failed */
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
        if (ct && g_mime_content_type_is_type(ct, "message", "delivery-status")) {
            /* some GMime versions read the status fields as a message's
             * headers: write them back out as text */
            if (inner && !w->status)
                w->status = g_mime_object_get_headers(GMIME_OBJECT(inner), NULL);
            return;
        }
        const char *id = inner ? g_mime_message_get_message_id(inner) : NULL;
        if (id && !w->orig_headers)
            w->orig_headers = g_strdup_printf("Message-ID: <%s>\n", id);
        return;
    }
    if (!GMIME_IS_PART(o))
        return;
    GMimeContentDisposition *cd = g_mime_object_get_content_disposition(o);
    int attached = cd && g_mime_content_disposition_is_attachment(cd);
    if (ct && g_mime_content_type_is_type(ct, "message", "delivery-status")) {
        if (!w->status)
            w->status = s_part_bytes(GMIME_PART(o));
        return;
    }
    if (ct && (g_mime_content_type_is_type(ct, "text", "rfc822-headers") ||
               g_mime_content_type_is_type(ct, "message", "rfc822-headers"))) {
        if (!w->orig_headers)
            w->orig_headers = s_part_bytes(GMIME_PART(o));
        return;
    }
    if (attached || !GMIME_IS_TEXT_PART(o))
        return;
    int plain = g_mime_content_type_is_type(ct, "text", "plain");
    int html = g_mime_content_type_is_type(ct, "text", "html");
    if ((plain && w->plain) || (html && w->html) || (!plain && !html))
        return;
    /* the charset of the part (or a guess) to UTF-8 */
    char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(o));
    if (t && strlen(t) > S_TEXT_MAX)
        t[S_TEXT_MAX] = '\0';
    if (plain)
        w->plain = t;
    else
        w->html = t;
}

/* s_ci_contains - ASCII case-insensitive strstr */
static int s_ci_contains(const char *hay, const char *needle)
{
    if (!hay)
        return 0;
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

/* s_find_hark_id - the first <hark.TOKEN@...> in text with a MAC of ours,
 * malloc'd with its angle brackets, or NULL */
static char *s_find_hark_id(const char *key, const char *text)
{
    for (const char *p = text; p && (p = strstr(p, "<hark.")) != NULL; p++) {
        const char *end = strchr(p, '>');
        if (!end || end - p > 250)
            continue;
        reply_token_t t;
        if (reply_token_from_msgid(key, p, (size_t)(end - p), &t) == 0)
            return strndup(p, (size_t)(end - p + 1));
    }
    return NULL;
}

/* s_field - the value of "Name: value" at the start of a line of fields
 * (the RFC 3464 per-recipient block), malloc'd, trimmed, or NULL */
static char *s_field(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncasecmp(l, name, n) != 0 || l[n] != ':')
            continue;
        const char *v = l + n + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t len = strcspn(v, "\r\n");
        while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
            len--;
        return strndup(v, len < 300 ? len : 300);
    }
    return NULL;
}

/* s_status_code - the first RFC 3463 code ("5.1.1") in text into out[16];
 * 0, or -1 when there is none */
static int s_status_code(const char *text, char out[16])
{
    for (const char *p = text; p && *p; p++) {
        if ((*p != '4' && *p != '5') || p[1] != '.' || (p > text && (p[-1] >= '0' && p[-1] <= '9')))
            continue;
        const char *q = p + 2;
        size_t a = strspn(q, "0123456789");
        if (a < 1 || a > 3 || q[a] != '.')
            continue;
        size_t b = strspn(q + a + 1, "0123456789");
        if (b < 1 || b > 3 || (q[a + 1 + b] >= '0' && q[a + 1 + b] <= '9'))
            continue;
        snprintf(out, 16, "%.*s", (int)(2 + a + 1 + b), p);
        return 0;
    }
    return -1;
}

/* s_bounce_like - a text bounce: from a mailer daemon, or a bounce subject */
static int s_bounce_like(const char *from, const char *subject)
{
    static const char *const subjects[] = {
        "Undelivered Mail Returned to Sender", "Mail delivery failed", "failure notice",
        "Delivery Status Notification", "Undeliverable", "Returned mail", "Delivery failure",
        "Undelivered Mail", "Mail System Error", "Delivery has failed", NULL};
    if (from && (strncasecmp(from, "mailer-daemon@", 14) == 0 ||
                 strncasecmp(from, "postmaster@", 11) == 0 || strcasecmp(from, "mailer-daemon") == 0))
        return 1;
    for (int i = 0; subjects[i]; i++)
        if (s_ci_contains(subject, subjects[i]))
            return 1;
    return 0;
}

/* s_dsn - a delivery status notification for a mail of ours; 1 when m was
 * filled as one, 0 when msg is no bounce of ours */
static int s_dsn(const char *key, GMimeMessage *msg, const s_walk_t *w, inbox_mail_t *m)
{
    GMimeContentType *ct = g_mime_object_get_content_type(g_mime_message_get_mime_part(msg));
    const char *rt = ct ? g_mime_content_type_get_parameter(ct, "report-type") : NULL;
    int report = ct && g_mime_content_type_is_type(ct, "multipart", "report") && rt &&
                 strcasecmp(rt, "delivery-status") == 0 && w->status;
    if (!report && !s_bounce_like(m->from, m->subject))
        return 0;
    /* the failed message: its headers, else anywhere in the text */
    char *id = s_find_hark_id(key, w->orig_headers);
    if (!id)
        id = s_find_hark_id(key, w->plain);
    if (!id)
        id = s_find_hark_id(key, w->status);
    if (!id) {
        m->outcome = INBOX_UNMATCHED;
        snprintf(m->reason, sizeof m->reason, "a bounce for no message of ours");
        return 1;
    }
    m->dsn_message_id = id;
    if (report) {
        char *st = s_field(w->status, "Status");
        if (!st || s_status_code(st, m->dsn_status))
            snprintf(m->dsn_status, sizeof m->dsn_status, "5.0.0");
        free(st);
        char *rcpt = s_field(w->status, "Final-Recipient");
        if (!rcpt)
            rcpt = s_field(w->status, "Original-Recipient");
        char *semi = rcpt ? strchr(rcpt, ';') : NULL; /* "rfc822; a@b" */
        if (semi) {
            m->dsn_recipient = s_dup(semi + 1 + strspn(semi + 1, " "), 320);
            free(rcpt);
        } else {
            m->dsn_recipient = rcpt;
        }
        m->dsn_diagnostic = s_field(w->status, "Diagnostic-Code");
        char *rep = s_field(w->status, "Reporting-MTA");
        semi = rep ? strchr(rep, ';') : NULL;
        m->dsn_reporter = semi ? s_dup(semi + 1 + strspn(semi + 1, " "), 255) : s_dup(rep, 255);
        free(rep);
    } else {
        /* Exim, qmail, Gmail and friends: the text says what happened */
        const char *t = w->plain ? w->plain : "";
        if (s_status_code(t, m->dsn_status)) {
            int later = s_ci_contains(m->subject, "delay") || s_ci_contains(m->subject, "warning") ||
                        s_ci_contains(t, "will retry") || s_ci_contains(t, "still trying");
            snprintf(m->dsn_status, sizeof m->dsn_status, later ? "4.0.0" : "5.0.0");
        }
        /* the diagnostic: the first line that looks like an SMTP answer */
        for (const char *l = t; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
            const char *s = l + strspn(l, " \t");
            if ((s[0] == '4' || s[0] == '5') && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
                s[2] <= '9' && (s[3] == ' ' || s[3] == '-')) {
                m->dsn_diagnostic = strndup(s, strcspn(s, "\r\n") < 300 ? strcspn(s, "\r\n") : 300);
                break;
            }
        }
    }
    if (m->dsn_diagnostic)
        inbox_text_utf8(m->dsn_diagnostic);
    if (m->dsn_recipient)
        inbox_text_utf8(m->dsn_recipient);
    m->outcome = INBOX_DSN;
    return 1;
}

/* s_auto - an auto-reply by its headers or subject; 1 with the reason */
static int s_auto(GMimeMessage *msg, inbox_mail_t *m)
{
    GMimeObject *o = GMIME_OBJECT(msg);
    const char *as = g_mime_object_get_header(o, "Auto-Submitted");
    const char *prec = g_mime_object_get_header(o, "Precedence");
    const char *why = NULL;
    if (as && strncasecmp(as + strspn(as, " \t"), "no", 2) != 0)
        why = "Auto-Submitted";
    else if (g_mime_object_get_header(o, "X-Autoreply") ||
             g_mime_object_get_header(o, "X-Autorespond") ||
             g_mime_object_get_header(o, "X-Autoresponse"))
        why = "X-Autoreply";
    else if (prec && (s_ci_contains(prec, "auto_reply") || s_ci_contains(prec, "bulk") ||
                      s_ci_contains(prec, "junk") || s_ci_contains(prec, "list")))
        why = "Precedence";
    else {
        static const char *const subjects[] = {
            "out of office", "out of the office", "automatic reply", "auto reply", "autoreply",
            "auto-reply", "abwesenheit", "vacation", "Автоответ", "Автоматический ответ",
            "Нет на месте", "Вне офиса", "Odpowiedź automatyczna", "Autoodpowiedź",
            "Poza biurem", "Nieobecność", "自动回复", "自動回覆", "不在办公室", "Аўтаадказ",
            "Аўтаматычны адказ", "Па-за офісам", NULL};
        for (int i = 0; subjects[i] && !why; i++)
            if (s_ci_contains(m->subject, subjects[i]))
                why = "subject";
        if (!why && m->subject && strncasecmp(m->subject, "Auto:", 5) == 0)
            why = "subject";
    }
    if (!why)
        return 0;
    m->outcome = INBOX_AUTO;
    snprintf(m->reason, sizeof m->reason, "auto-reply (%s)", why);
    return 1;
}

/* s_reply_ref - the token of a reply+TOKEN@ address in list; 0 when found */
static int s_ref_in_list(const char *key, InternetAddressList *list, reply_token_t *out)
{
    int n = list ? internet_address_list_length(list) : 0;
    for (int i = 0; i < n && i < 100; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_GROUP(ia)) {
            if (s_ref_in_list(key, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
                              out) == 0)
                return 0;
            continue;
        }
        const char *a = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
        const char *at = a ? strrchr(a, '@') : NULL;
        if (at && strncasecmp(a, "reply+", 6) == 0 &&
            reply_token_read(key, a + 6, (size_t)(at - a - 6), out) == 0)
            return 0;
    }
    return -1;
}

/* s_reply_ref - what a message answers: a reply+TOKEN recipient (To, Cc,
 * Delivered-To, X-Original-To), else In-Reply-To and References, the
 * latest first; 0 and *out, or -1 */
static int s_reply_ref(const char *key, GMimeMessage *msg, reply_token_t *out)
{
    GMimeObject *o = GMIME_OBJECT(msg);
    InternetAddressList *all = g_mime_message_get_all_recipients(msg);
    int found = s_ref_in_list(key, all, out) == 0;
    if (all)
        g_object_unref(all);
    static const char *const envelope[] = {"Delivered-To", "X-Original-To", "Envelope-To", NULL};
    GMimeHeaderList *hl = g_mime_object_get_header_list(o);
    int nh = hl ? g_mime_header_list_get_count(hl) : 0;
    for (int i = 0; i < nh && i < 1000 && !found; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
        const char *name = g_mime_header_get_name(h);
        for (int e = 0; envelope[e] && !found; e++) {
            if (!name || strcasecmp(name, envelope[e]) != 0)
                continue;
            InternetAddressList *l = internet_address_list_parse(NULL, g_mime_header_get_value(h));
            found = l && s_ref_in_list(key, l, out) == 0;
            if (l)
                g_object_unref(l);
        }
    }
    static const char *const threads[] = {"In-Reply-To", "References", NULL};
    for (int t = 0; threads[t] && !found; t++) {
        const char *v = g_mime_object_get_header(o, threads[t]);
        GMimeReferences *refs = v ? g_mime_references_parse(NULL, v) : NULL;
        int n = refs ? g_mime_references_length(refs) : 0;
        for (int i = n - 1; i >= 0 && !found; i--) {
            const char *id = g_mime_references_get_message_id(refs, i);
            found = id && reply_token_from_msgid(key, id, strlen(id), out) == 0;
        }
        if (refs)
            g_mime_references_free(refs);
    }
    return found ? 0 : -1;
}

/* s_body - the message's text as UTF-8: text/plain, else the HTML as text */
static char *s_body(const s_walk_t *w)
{
    if (w->plain)
        return s_dup(w->plain, S_TEXT_MAX);
    if (w->html)
        return inbox_text_from_html(w->html);
    return NULL;
}

/* inbox_parse - sort one message (see the file's comment) */
void inbox_parse(const char *key, const char *data, size_t len, inbox_mail_t *m)
{
    memset(m, 0, sizeof *m);
    inbox_parse_init();
    if (!data || len == 0 || memchr(data, '\0', len < 65536 ? len : 65536)) {
        m->outcome = INBOX_BAD;
        snprintf(m->reason, sizeof m->reason, len ? "NUL bytes in the message" : "empty file");
        return;
    }
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(data, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_object_unref(stream);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    /* a message needs at least a From or a Message-ID and a body to be one */
    InternetAddressList *from = msg ? g_mime_message_get_from(msg) : NULL;
    if (!msg || !g_mime_message_get_mime_part(msg) ||
        ((!from || internet_address_list_length(from) == 0) &&
         !g_mime_message_get_message_id(msg))) {
        m->outcome = INBOX_BAD;
        snprintf(m->reason, sizeof m->reason, "not an RFC 5322 message (no From, no body)");
        if (msg)
            g_object_unref(msg);
        return;
    }
    for (int i = 0; from && i < internet_address_list_length(from); i++) {
        InternetAddress *ia = internet_address_list_get_address(from, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            m->from = s_dup(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)), 320);
            break;
        }
    }
    m->subject = s_dup(g_mime_message_get_subject(msg), 1000);
    m->message_id = s_dup(g_mime_message_get_message_id(msg), 1000);

    s_walk_t w = {0};
    s_walk(g_mime_message_get_mime_part(msg), 0, &w);
    if (w.too_deep) {
        m->outcome = INBOX_BAD;
        snprintf(m->reason, sizeof m->reason, "more than %d parts or nested deeper than %d",
                 S_PARTS_MAX, S_DEPTH_MAX);
    } else if (s_dsn(key, msg, &w, m) || s_auto(msg, m)) {
        /* sorted; a bounce names the mail of ours it is about (whose
         * customer's erasure deletes it, inbox_privacy.c) */
        reply_token_t t;
        size_t n = m->dsn_message_id ? strlen(m->dsn_message_id) : 0;
        if (n && reply_token_from_msgid(key, m->dsn_message_id, n, &t) == 0)
            m->ref = t;
    } else {
        char *body = s_body(&w);
        if (s_reply_ref(key, msg, &m->ref) == 0 && m->ref.kind != 'm') {
            m->text = body ? inbox_text_new(body) : NULL;
            if (!m->text || !*m->text) {
                m->outcome = INBOX_UNMATCHED;
                snprintf(m->reason, sizeof m->reason, "a reply with no new text");
                free(m->text);
                m->text = body;
                body = NULL;
            } else {
                m->outcome = m->ref.kind == 'c' ? INBOX_REPLY : INBOX_COMMENT;
            }
        } else {
            m->outcome = INBOX_UNMATCHED;
            if (m->ref.kind == 'm')
                snprintf(m->reason, sizeof m->reason, "a reply to mail %s (no case, no survey)",
                         m->ref.id);
            else
                snprintf(m->reason, sizeof m->reason, "no reply address or thread of ours");
            m->text = body;
            body = NULL;
        }
        free(body);
    }
    g_free(w.plain);
    g_free(w.html);
    g_free(w.status);
    g_free(w.orig_headers);
    g_object_unref(msg);
}
