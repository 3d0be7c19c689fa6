/*
 * test_inbox_parse.c - unit tests for services/inbox/inbox_parse.c and
 * inbox_text.c: replies are matched by their reply address or thread and
 * lose their quote in every language and posting style, HTML-only mail
 * becomes text, bounces of every common shape name the failed message and
 * its status, auto-replies are recognised, and the rest is unmatched or bad.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inbox.h"
#include "unit.h"

static const char *K = "unit-key-0123456789abcdef";

/* s_parse - msg (\n line ends) parsed, with TOKEN replaced by a real
 * token for kind/id */
static void s_parse(const char *msg, char kind, const char *id, inbox_mail_t *m)
{
    char tok[REPLY_TOKEN_MAX], buf[8192];
    reply_token_make(K, kind, id, 42, tok, sizeof tok);
    size_t w = 0;
    for (const char *p = msg; *p && w < sizeof buf - 100;) {
        if (strncmp(p, "TOKEN", 5) == 0) {
            w += (size_t)snprintf(buf + w, sizeof buf - w, "%s", tok);
            p += 5;
        } else {
            buf[w++] = *p++;
        }
    }
    buf[w] = '\0';
    inbox_parse(K, buf, w, m);
}

static void test_inbox_reply_by_address_loses_its_quote_in_every_language(void)
{
    static const struct {
        const char *quote_header;
    } langs[] = {
        {"On Mon, 7 Dec 2026 at 10:00, Herbata <shop@herbata.example> wrote:"},
        {"7 дек. 2026 г., в 10:00, Herbata <shop@herbata.example> написал(а):"},
        {"W dniu 7.12.2026 o 10:00 Herbata <shop@herbata.example> napisał(a):"},
        {"Herbata <shop@herbata.example> 于2026年12月7日周一 10:00写道："},
        {"7 сне 2026 г. у 10:00 Herbata <shop@herbata.example> напісаў(ла):"},
    };
    for (size_t i = 0; i < sizeof langs / sizeof *langs; i++) {
        char msg[2000];
        snprintf(msg, sizeof msg,
                 "From: Anna <anna@example.pl>\nTo: reply+TOKEN@reply.herbata.example\n"
                 "Subject: Re: your request\nMIME-Version: 1.0\n"
                 "Content-Type: text/plain; charset=UTF-8\n\n"
                 "The tea is still missing.\nPlease help.\n\n%s\n> We've received your request\n"
                 "> (case C-7)\n",
                 langs[i].quote_header);
        inbox_mail_t m;
        s_parse(msg, 'c', "C-7", &m);
        CHECK_INT(m.outcome, INBOX_REPLY);
        CHECK_STR(m.ref.id, "C-7");
        CHECK_STR(m.text ? m.text : "", "The tea is still missing.\nPlease help.");
        CHECK_STR(m.from ? m.from : "", "anna@example.pl");
        inbox_mail_clear(&m);
    }
}

static void test_inbox_bottom_posted_reply_by_references_keeps_only_new_lines(void)
{
    inbox_mail_t m;
    s_parse("From: anna@example.pl\nTo: shop@herbata.example\nSubject: Re: survey\n"
            "In-Reply-To: <other@example>\n"
            "References: <hark.TOKEN@herbata.example> <other@example>\n\n"
            "On Mon, 7 Dec 2026, Herbata <shop@herbata.example> wrote:\n"
            "> How likely are you to recommend us?\n>\n> 0 1 2 3\n\n"
            "Quite likely, the oolong was great.\n\n> Thank you\n\nAnna\n",
            's', "p12", &m);
    CHECK_INT(m.outcome, INBOX_COMMENT);
    CHECK_STR(m.ref.id, "p12");
    CHECK_STR(m.text ? m.text : "", "Quite likely, the oolong was great.\n\nAnna");
    inbox_mail_clear(&m);
}

static void test_inbox_outlook_block_and_html_only_reply(void)
{
    inbox_mail_t m;
    s_parse("From: anna@example.pl\nTo: reply+TOKEN@reply.herbata.example\nSubject: RE: case\n"
            "MIME-Version: 1.0\nContent-Type: text/html; charset=UTF-8\n\n"
            "<html><head><style>p{}</style></head><body><p>Za&nbsp;późno &amp; "
            "<b>źle</b>.</p><div>Druga linia</div>"
            "<div class=\"gmail_quote\"><div>W dniu ... napisał(a):</div>"
            "<blockquote>old text</blockquote></div><script>alert(1)</script></body></html>\n",
            'c', "C-9", &m);
    CHECK_INT(m.outcome, INBOX_REPLY);
    CHECK_STR(m.text ? m.text : "", "Za późno & źle.\n\nDruga linia");
    inbox_mail_clear(&m);
    s_parse("From: anna@example.pl\nTo: reply+TOKEN@reply.herbata.example\nSubject: RE: case\n\n"
            "Still waiting.\n\n-----Original Message-----\nFrom: Herbata\nSent: Monday\n"
            "Subject: case\n\nWe've received it\n",
            'c', "C-9", &m);
    CHECK_STR(m.text ? m.text : "", "Still waiting.");
    inbox_mail_clear(&m);
    s_parse("From: anna@example.pl\nTo: reply+TOKEN@reply.herbata.example\nSubject: RE: case\n\n"
            "Nadal czekam.\n\nOd: Herbata <shop@herbata.example>\nWysłano: poniedziałek\n"
            "Do: anna@example.pl\nTemat: case\n\nOtrzymaliśmy\n",
            'c', "C-9", &m);
    CHECK_STR(m.text ? m.text : "", "Nadal czekam.");
    inbox_mail_clear(&m);
}

static void test_inbox_forged_or_foreign_token_is_unmatched(void)
{
    inbox_mail_t m;
    inbox_parse(K,
                "From: x@example\nTo: reply+c.C-7.42.0000000000000000@reply.example\n"
                "Subject: hi\n\nhello\n",
                85, &m);
    CHECK_INT(m.outcome, INBOX_UNMATCHED);
    CHECK(m.reason[0] != '\0');
    CHECK_STR(m.text ? m.text : "", "hello\n");
    inbox_mail_clear(&m);
}

static void test_inbox_bounces_of_every_shape_name_message_and_status(void)
{
    inbox_mail_t m;
    /* RFC 3464 */
    s_parse("From: MAILER-DAEMON@mx.example (Mail Delivery System)\n"
            "Subject: Undelivered Mail Returned to Sender\nAuto-Submitted: auto-replied\n"
            "MIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
            "--B\nContent-Type: text/plain\n\nI'm sorry\n--B\n"
            "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\n"
            "Final-Recipient: rfc822; nobody@mx.example\nAction: failed\nStatus: 5.1.1\n"
            "Diagnostic-Code: X-Postfix; unknown user: \"nobody\"\n\n--B\n"
            "Content-Type: text/rfc822-headers\n\nFrom: shop@herbata.example\n"
            "Message-ID: <hark.TOKEN@herbata.example>\n\n--B--\n",
            'm', "12", &m);
    CHECK_INT(m.outcome, INBOX_DSN);
    CHECK_STR(m.dsn_status, "5.1.1");
    CHECK_STR(m.dsn_recipient ? m.dsn_recipient : "", "nobody@mx.example");
    CHECK(m.dsn_message_id && strncmp(m.dsn_message_id, "<hark.m.12.42.", 14) == 0);
    inbox_mail_clear(&m);
    /* qmail */
    s_parse("From: MAILER-DAEMON@qmail.example\nSubject: failure notice\n\n"
            "Hi. This is the qmail-send program at qmail.example.\n"
            "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
            "<gone@qmail.example>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
            "--- Below this line is a copy of the message.\n\n"
            "Message-ID: <hark.TOKEN@herbata.example>\nSubject: x\n",
            'c', "C-1", &m);
    CHECK_INT(m.outcome, INBOX_DSN);
    CHECK_STR(m.dsn_status, "5.1.1");
    inbox_mail_clear(&m);
    /* Exim, temporary */
    s_parse("From: Mail Delivery System <Mailer-Daemon@exim.example>\n"
            "Subject: Warning: message delayed\n\n"
            "This message was created automatically by mail delivery software.\n"
            "A message that you sent has not yet been delivered to one or more of its\n"
            "recipients after more than 24 hours on the queue on exim.example.\n\n"
            "  slow@exim.example\n    host mx.exim.example: 451 4.4.1 try later\n\n"
            "Message-ID: <hark.TOKEN@herbata.example>\n",
            's', "p3", &m);
    CHECK_INT(m.outcome, INBOX_DSN);
    CHECK_STR(m.dsn_status, "4.4.1");
    inbox_mail_clear(&m);
    /* a bounce for someone else's mail */
    s_parse("From: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail Returned to Sender\n\n"
            "Message-ID: <not-ours@example>\n",
            'm', "1", &m);
    CHECK_INT(m.outcome, INBOX_UNMATCHED);
    inbox_mail_clear(&m);
}

static void test_inbox_auto_replies_are_recognised(void)
{
    static const char *const msgs[] = {
        "From: a@b.example\nTo: reply+TOKEN@r.example\nAuto-Submitted: auto-replied\n"
        "Subject: Re: x\n\naway\n",
        "From: a@b.example\nTo: reply+TOKEN@r.example\nX-Autoreply: yes\nSubject: Re: x\n\naway\n",
        "From: a@b.example\nTo: reply+TOKEN@r.example\nPrecedence: bulk\nSubject: Re: x\n\naway\n",
        "From: a@b.example\nTo: reply+TOKEN@r.example\nSubject: Out of Office: x\n\naway\n",
        "From: a@b.example\nTo: reply+TOKEN@r.example\nSubject: =?UTF-8?B?0JDQstGC0L7QvtGC0LLQtdGC?=\n\n"
        "away\n",
        NULL};
    for (int i = 0; msgs[i]; i++) {
        inbox_mail_t m;
        s_parse(msgs[i], 'c', "C-2", &m);
        CHECK_INT(m.outcome, INBOX_AUTO);
        inbox_mail_clear(&m);
    }
    inbox_mail_t m;
    s_parse("From: a@b.example\nTo: reply+TOKEN@r.example\nAuto-Submitted: no\n"
            "Subject: Re: x\n\nreal answer\n",
            'c', "C-2", &m);
    CHECK_INT(m.outcome, INBOX_REPLY);
    inbox_mail_clear(&m);
}

static void test_inbox_not_a_message_is_bad(void)
{
    inbox_mail_t m;
    inbox_parse(K, "", 0, &m);
    CHECK_INT(m.outcome, INBOX_BAD);
    inbox_mail_clear(&m);
    inbox_parse(K, "just some words\n", 16, &m);
    CHECK_INT(m.outcome, INBOX_BAD);
    CHECK(m.reason[0] != '\0');
    inbox_mail_clear(&m);
    inbox_parse(K, "From: a@b\n\n\0\0", 13, &m);
    CHECK_INT(m.outcome, INBOX_BAD);
    inbox_mail_clear(&m);
    /* thirty multiparts deep: moved aside, not walked */
    char msg[8192];
    size_t w = (size_t)snprintf(msg, sizeof msg, "From: a@b.example\nSubject: deep\n");
    for (int i = 0; i < 30; i++)
        w += (size_t)snprintf(msg + w, sizeof msg - w,
                              "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i);
    w += (size_t)snprintf(msg + w, sizeof msg - w, "\ntext\n");
    inbox_parse(K, msg, w, &m);
    CHECK_INT(m.outcome, INBOX_BAD);
    CHECK(strstr(m.reason, "nested") != NULL);
    inbox_mail_clear(&m);
}

int main(void)
{
    UNIT_RUN(test_inbox_reply_by_address_loses_its_quote_in_every_language);
    UNIT_RUN(test_inbox_bottom_posted_reply_by_references_keeps_only_new_lines);
    UNIT_RUN(test_inbox_outlook_block_and_html_only_reply);
    UNIT_RUN(test_inbox_forged_or_foreign_token_is_unmatched);
    UNIT_RUN(test_inbox_bounces_of_every_shape_name_message_and_status);
    UNIT_RUN(test_inbox_auto_replies_are_recognised);
    UNIT_RUN(test_inbox_not_a_message_is_bad);
    return UNIT_END();
}
