/*
 * fuzz_inbox_parse.c - one message as hark-inbox reads it
 * (services/inbox/inbox_parse.c, inbox_text.c): GMime's parse, the sorting
 * into bounce / auto-reply / reply / unmatched / bad, the quote removal
 * and the HTML-to-text conversion.
 *
 * Input: any bytes, taken as a message.  Properties:
 *   - it never crashes or leaks, and always ends in one of the outcomes;
 *   - every string it gives (from, subject, text, DSN fields) is valid
 *     UTF-8 without controls but tab and newline;
 *   - a reply or comment has new text and a reference; a bounce names a
 *     <hark.TOKEN@...> Message-ID and a 4.x.x or 5.x.x status; bad and
 *     unmatched say why;
 *   - the quote remover and the HTML converter, run on the input as text,
 *     never give more than four times its length.
 */
#include "fuzz.h"

#include <unistr.h>

#include "inbox.h"

static const char *K = "fuzz-key-0123456789abcdef";

static void s_valid(const char *s)
{
    if (!s)
        return;
    FUZZ_CHECK(u8_check((const uint8_t *)s, strlen(s)) == NULL);
    for (const char *p = s; *p; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 || *p == '\t' || *p == '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    inbox_mail_t m;
    inbox_parse(K, (const char *)data, size, &m);
    FUZZ_CHECK(m.outcome >= INBOX_REPLY && m.outcome <= INBOX_BAD);
    s_valid(m.from);
    s_valid(m.subject);
    s_valid(m.text);
    s_valid(m.dsn_recipient);
    s_valid(m.dsn_diagnostic);
    if (m.outcome == INBOX_REPLY || m.outcome == INBOX_COMMENT) {
        FUZZ_CHECK(m.text && *m.text);
        FUZZ_CHECK(m.ref.kind == 'c' || m.ref.kind == 's');
    }
    if (m.outcome == INBOX_DSN) {
        FUZZ_CHECK(m.dsn_message_id && strncmp(m.dsn_message_id, "<hark.", 6) == 0);
        FUZZ_CHECK(m.dsn_status[0] == '4' || m.dsn_status[0] == '5');
    }
    if (m.outcome == INBOX_BAD || m.outcome == INBOX_UNMATCHED || m.outcome == INBOX_AUTO)
        FUZZ_CHECK(m.reason[0] != '\0');
    inbox_mail_clear(&m);

    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *n = inbox_text_new(text);
    FUZZ_CHECK(n && strlen(n) <= 4 * strlen(text) + 4);
    s_valid(n);
    free(n);
    char *h = inbox_text_from_html(text);
    FUZZ_CHECK(h && strlen(h) <= 4 * strlen(text) + 4);
    s_valid(h);
    free(h);
    free(text);
    return 0;
}
