/*
 * test_render.c - templates/, services/common/render.c (with mdtext.c) and
 * services/mailer/mailer_compose.c.
 *
 * Renders every template in every locale with sample variables (written
 * below), then checks what matters for mail built from customer text: that
 * names and comments never turn into links, images, HTML or emphasis, that
 * trusted staff Markdown does render but stays safe, that the plain-text
 * part wraps at 78 columns and shows link targets, plural words, locale
 * fallback, limits, and the composed RFC 5322 message.
 *
 * Run from the repository root (templates are found at ./templates, or at
 * $HARK_ROOT/templates).  Run with "--emit DIR" to write composed messages
 * with hostile names (DIR/NN.eml) and what they should decode to
 * (DIR/cases.json) for tests/unit/render_check.py, which parses them with
 * Python's email package.  Run with "--golden DIR" to write every template
 * in every locale, composed as the mailer sends it from the sample
 * variables, to DIR/<locale>/<template>.eml for tests/unit/golden.py, which
 * masks what changes per message and compares them with tests/golden/.
 */
#include "mailer_compose.h"
#include "render.h"

#include "config.h"
#include "mdtext.h"
#include "mime.h"
#include "unit.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

/* keys.c, linked for keys_random_hex(), also holds keys_from_config(),
 * which needs config.c; this test never calls it.  Weak stand-ins let the
 * test link without config.c (and give way to config.c when it is linked). */
__attribute__((weak)) const char *config_get(const config_t *cfg,
                                             const char *section,
                                             const char *key)
{
    (void)cfg, (void)section, (void)key;
    return NULL;
}

__attribute__((weak)) const char *config_state_dir(const config_t *cfg)
{
    (void)cfg;
    return NULL;
}

static const char *const s_locales[] = {"en", "ru", "pl", "zh", "be"};
#define S_NLOCALES (sizeof s_locales / sizeof s_locales[0])

static const char *const s_names[] = {
    "nps_invite",  "nps_reminder",    "nps_detractor_alert", "nps_digest",
    "birthday",    "anniversary",     "complaint_ack",       "complaint_alert",
    "complaint_reply", "complaint_breach", "loop_closed",    "test",
    "complaint_customer_reply"};
#define S_NNAMES (sizeof s_names / sizeof s_names[0])

/* staff templates: no footer, no unsubscribe line */
static const char *const s_staff[] = {"nps_detractor_alert", "nps_digest",
                                      "complaint_alert", "complaint_breach",
                                      "complaint_customer_reply"};

#define S_UNSUB "https://shop.example/u/tok123"

/* Customer text that tries everything: header injection, a link, HTML,
 * emphasis, a script URL, and a trailing Markdown character. */
#define S_NASTY "Bob\r\nBcc: x@evil [x](https://evil) <img src=x " \
                "onerror=alert(1)> *bold* <script>alert(1)</script> " \
                "javascript:alert(1) Anna*"
#define S_NASTY_FLAT "Bob Bcc: x@evil [x](https://evil) <img src=x " \
                     "onerror=alert(1)> *bold* <script>alert(1)</script> " \
                     "javascript:alert(1) Anna*"

static char s_dir[4096];        /* the templates directory */
static render_t *s_r;           /* one renderer for the whole run */

/* ---- helpers ------------------------------------------------------------ */

/* s_is_staff - whether name is a staff template */
static int s_is_staff(const char *name)
{
    for (size_t i = 0; i < sizeof s_staff / sizeof s_staff[0]; i++)
        if (strcmp(s_staff[i], name) == 0)
            return 1;
    return 0;
}

/* s_count - occurrences of needle in hay */
static size_t s_count(const char *hay, const char *needle)
{
    size_t n = 0, len = strlen(needle);
    for (const char *p = hay; p && (p = strstr(p, needle)); p += len)
        n++;
    return n;
}

/* s_cps - code points in s[0..len) */
static size_t s_cps(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* s_cols - columns of s[0..len) as the renderer counts them */
static size_t s_cols(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t cols = 0;
    for (size_t i = 0; i < len;) {
        unsigned cp = p[i];
        size_t n = 1;
        if (cp >= 0xF0)
            cp &= 0x07, n = 4;
        else if (cp >= 0xE0)
            cp &= 0x0F, n = 3;
        else if (cp >= 0xC0)
            cp &= 0x1F, n = 2;
        for (size_t k = 1; k < n && i + k < len; k++)
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        cols += (size_t)mdtext_width(cp);
        i += n;
    }
    return cols;
}

/* s_long_lines - lines of text wider than `max` code points (or columns,
 * when cols) that could have been broken: ones with a space after their
 * "> " / "- " / indentation prefix.  Prints each. */
static int s_long_lines(const char *text, size_t max, int cols)
{
    int bad = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        size_t w = cols ? s_cols(p, len) : s_cps(p, len);
        if (w > max) {
            const char *q = p, *end = p + len;
            while (q < end && (*q == '>' || *q == ' ' || *q == '-'))
                q++;
            if (memchr(q, ' ', (size_t)(end - q))) {
                fprintf(stderr, "  line of %zu > %zu: %.*s\n", w, max,
                        (int)len, p);
                bad++;
            }
        }
        p = nl ? nl + 1 : p + len;
    }
    return bad;
}

/* s_flat - the text part as one line: "> " and indentation removed from
 * each line, lines joined by a space; the caller frees it */
static char *s_flat(const char *text)
{
    size_t len = strlen(text);
    char *out = malloc(len + 1), *o = out;
    if (!out)
        abort();
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        while (p < end && (*p == '>' || *p == ' '))
            p++;
        if (p < end) {
            if (o > out)
                *o++ = ' ';
            memcpy(o, p, (size_t)(end - p));
            o += end - p;
        }
        p = nl ? nl + 1 : end;
    }
    *o = '\0';
    return out;
}

/* s_json - parse JSON text (aborts on a typo: this is a test) */
static json_t *s_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j) {
        fprintf(stderr, "bad test JSON: %s: %s\n", e.text, text);
        abort();
    }
    return j;
}

/* s_scores - the eleven {score, url} links of an NPS mail */
static json_t *s_scores(void)
{
    json_t *a = json_array();
    for (int i = 0; i <= 10; i++) {
        char url[80];
        snprintf(url, sizeof url, "https://s.example/nps/t0k?score=%d", i);
        json_array_append_new(a, json_pack("{s:i, s:s}", "score", i, "url", url));
    }
    return a;
}

/* s_samples - sample variables of each template, as JSON text */
static const struct {
    const char *name, *json;
} s_samples[] = {
    {"nps_invite",
     "{\"name\":\"Anna\",\"order_number\":\"A-1001\"}"},
    {"nps_reminder",
     "{\"name\":\"Anna\",\"order_number\":\"A-1001\"}"},
    {"nps_detractor_alert",
     "{\"customer_name\":\"Anna Nowak\",\"customer_email\":"
     "\"anna@example.pl\",\"score\":3,\"comment\":\"Delivery "
     "took two weeks.\",\"order_number\":\"A-1001\","
     "\"staff_url\":\"https://hark.example/nps/42\"}"},
    {"nps_digest",
     "{\"week\":\"17-23 Nov 2026\",\"nps\":42,\"nps_change\":"
     "\"+5\",\"responses\":120,\"promoters\":70,\"passives\":"
     "30,\"detractors\":20,\"comments\":[{\"score\":10,"
     "\"comment\":\"Great tea\",\"customer_name\":\"Ola\"},"
     "{\"score\":2,\"comment\":\"Late again\"}],\"staff_url\":"
     "\"https://hark.example/nps\"}"},
    {"birthday",
     "{\"name\":\"Anna\",\"coupon_code\":\"HB-2026\","
     "\"coupon_expires\":\"30.11.2026\"}"},
    {"anniversary",
     "{\"name\":\"Anna\",\"years\":3,\"coupon_code\":\"TY3\"}"},
    {"complaint_ack",
     "{\"name\":\"Anna\",\"case_number\":\"C-2041\","
     "\"respond_by\":\"26.11.2026 18:00\",\"reason_label\":"
     "\"Late delivery\"}"},
    {"complaint_alert",
     "{\"case_number\":\"C-2041\",\"customer_name\":\"Anna "
     "Nowak\",\"customer_email\":\"anna@example.pl\","
     "\"reason_label\":\"Late delivery\",\"text\":\"Where is my "
     "parcel?\",\"order_number\":\"A-1001\",\"channel\":\"web\","
     "\"respond_by\":\"26.11.2026 18:00\",\"staff_url\":"
     "\"https://hark.example/c/2041\"}"},
    {"complaint_reply",
     "{\"name\":\"Anna\",\"case_number\":\"C-2041\",\"reply\":"
     "\"Your parcel left our warehouse **today**.\\n\\nSorry for "
     "the wait.\"}"},
    {"complaint_breach",
     "{\"case_number\":\"C-2041\",\"customer_name\":\"Anna "
     "Nowak\",\"customer_email\":\"anna@example.pl\","
     "\"reason_label\":\"Late delivery\",\"opened\":\"24.11.2026"
     "\",\"respond_by\":\"26.11.2026 18:00\",\"overdue\":\"5 h\","
     "\"team\":\"Logistics\",\"staff_url\":"
     "\"https://hark.example/c/2041\"}"},
    {"loop_closed",
     "{\"name\":\"Anna\",\"title\":\"Free delivery from 100 PLN"
     "\",\"quotes\":[{\"excerpt\":\"Delivery is too expensive\","
     "\"date\":\"02.10.2026\"},{\"excerpt\":\"Why do I pay for "
     "shipping?\"}],\"announcement\":\"From today delivery is "
     "**free** above 100 PLN.\"}"},
    {"test",
     "{\"sent_at\":\"23.11.2026 10:35\"}"},
    {"complaint_customer_reply",
     "{\"case_number\":\"C-2041\",\"customer_name\":\"Anna "
     "Nowak\",\"customer_email\":\"anna@example.pl\","
     "\"reason_label\":\"Late delivery\",\"reopened\":true,"
     "\"text\":\"Still nothing.\\nPlease check <b>again</b>.\","
     "\"staff_url\":\"https://hark.example/c/2041\"}"},
};

/* s_sample - sample variables for template name; the caller decrefs */
static json_t *s_sample(const char *name)
{
    json_t *v = NULL;
    for (size_t i = 0; i < sizeof s_samples / sizeof s_samples[0] && !v; i++)
        if (strcmp(name, s_samples[i].name) == 0)
            v = s_json(s_samples[i].json);
    if (!v)
        abort();
    if (strcmp(name, "nps_invite") == 0 || strcmp(name, "nps_reminder") == 0)
        json_object_set_new(v, "scores", s_scores());
    json_object_set_new(v, "shop_name", json_string("Herbata & Co"));
    json_object_set_new(v, "shop_url", json_string("https://shop.example"));
    if (!s_is_staff(name))
        json_object_set_new(v, "unsubscribe_url", json_string(S_UNSUB));
    return v;
}

/* s_nastify - replace every escaped text variable in v (recursively) with
 * S_NASTY; URLs, numbers and trusted Markdown stay */
static void s_nastify(json_t *v)
{
    static const char *const keys[] = {
        "name", "customer_name", "customer_email", "comment", "text",
        "reason_label", "title", "coupon_code", "coupon_expires",
        "case_number", "respond_by", "week", "team", "opened", "overdue",
        "channel", "order_number", "sent_at", "excerpt", "date"};
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            s_nastify(json_array_get(v, i));
        return;
    }
    if (!json_is_object(v))
        return;
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (json_is_array(val) || json_is_object(val)) {
            s_nastify(val);
            continue;
        }
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (strcmp(key, keys[i]) == 0 && json_is_string(val))
                json_string_set(val, S_NASTY);
    }
}

/* s_render - render with vars given as JSON text; 0/-1 */
static int s_render(const char *name, const char *locale, const char *vars,
                    rendered_t *out)
{
    char err[512];
    json_t *v = vars ? s_json(vars) : NULL;
    int rc = render_message(s_r, name, locale, v, out, err, sizeof err);
    if (rc)
        fprintf(stderr, "  render %s/%s: %s\n", locale ? locale : "(null)",
                name, err);
    json_decref(v);
    return rc;
}

/* ---- templates ---------------------------------------------------------- */

/* every template and the footer exist as files in all five locales */
static void test_every_template_exists_in_every_locale(void)
{
    for (size_t l = 0; l < S_NLOCALES; l++) {
        for (size_t n = 0; n <= S_NNAMES; n++) {
            char path[4400];
            snprintf(path, sizeof path, "%s/%s/%s.md", s_dir, s_locales[l],
                     n < S_NNAMES ? s_names[n] : "_footer");
            int ok = access(path, R_OK) == 0;
            if (!ok)
                fprintf(stderr, "  missing %s\n", path);
            CHECK(ok);
        }
    }
}

/* each template renders with sample variables in each locale: a subject,
 * nothing left of Mustache, the right lang, short lines, the footer's
 * unsubscribe link exactly in customer mails */
static void test_every_template_renders_in_every_locale(void)
{
    for (size_t l = 0; l < S_NLOCALES; l++) {
        for (size_t n = 0; n < S_NNAMES; n++) {
            const char *loc = s_locales[l], *name = s_names[n];
            json_t *v = s_sample(name);
            rendered_t o;
            char err[512], lang[32];
            int rc = render_message(s_r, name, loc, v, &o, err, sizeof err);
            json_decref(v);
            if (rc) {
                fprintf(stderr, "  %s/%s: %s\n", loc, name, err);
                CHECK(rc == 0);
                continue;
            }
            int good = o.subject[0] && !strstr(o.subject, "{{") &&
                       !strstr(o.preheader, "{{") && !strstr(o.text, "{{") &&
                       !strstr(o.html, "{{") && !strchr(o.subject, '\n') &&
                       !strchr(o.preheader, '\n') && o.preheader[0];
            if (!good)
                fprintf(stderr, "  %s/%s: subject \"%s\" preheader \"%s\"\n",
                        loc, name, o.subject, o.preheader);
            CHECK(good);
            CHECK_STR(o.locale_used, loc);
            snprintf(lang, sizeof lang, "<html lang=\"%s\">", loc);
            CHECK(strstr(o.html, lang) != NULL);
            CHECK(mime_utf8_valid(o.text, strlen(o.text)));
            CHECK(strlen(o.text) > 1 && o.text[strlen(o.text) - 1] == '\n');
            CHECK_INT(s_long_lines(o.text, RENDER_TEXT_WIDTH, 1), 0);
            int unsub = strstr(o.text, "<" S_UNSUB ">") != NULL &&
                        strstr(o.html, "href=\"" S_UNSUB "\"") != NULL;
            if (unsub == s_is_staff(name))
                fprintf(stderr, "  %s/%s: unsubscribe link %s\n", loc, name,
                        unsub ? "in a staff mail" : "missing");
            CHECK(unsub != s_is_staff(name));
            /* the signature partial came along in customer mails */
            CHECK((strstr(o.text, "Herbata & Co") != NULL) ||
                  s_is_staff(name));
            render_message_free(&o);
        }
    }
}

/* "pl-PL" finds pl/, unknown tags the default; locale_used says which */
static void test_locale_fallback(void)
{
    static const char *const cases[][2] = {
        {"pl-PL", "pl"}, {"PL_pl", "pl"}, {"zh-Hans-CN", "zh"},
        {"be-BY", "be"}, {"ru", "ru"},    {"xx", "en"},
        {"xx-YY", "en"}, {"", "en"},      {"../../etc/passwd", "en"},
        {"en-GB", "en"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rendered_t o;
        CHECK_INT(s_render("test", cases[i][0], "{\"shop_name\":\"S\"}", &o), 0);
        CHECK_STR(o.locale_used, cases[i][1]);
        render_message_free(&o);
    }
    rendered_t o;
    CHECK_INT(s_render("test", NULL, "{\"shop_name\":\"S\"}", &o), 0);
    CHECK_STR(o.locale_used, "en");
    render_message_free(&o);
}

/* unknown templates, bad names and non-object variables fail cleanly */
static void test_bad_names_and_vars_fail(void)
{
    static const char *const bad[] = {"nope", "../en/test", "_footer",
                                      "Test", "a/b", ""};
    char err[256];
    rendered_t o;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK_INT(render_message(s_r, bad[i], "en", NULL, &o, err, sizeof err), -1);
        CHECK(err[0] != '\0');
        CHECK(o.subject == NULL && o.html == NULL);
    }
    CHECK_INT(render_message(s_r, NULL, "en", NULL, &o, err, sizeof err), -1);
    json_t *arr = json_array();
    CHECK_INT(render_message(s_r, "test", "en", arr, &o, err, sizeof err), -1);
    json_decref(arr);
    /* no variables at all is fine (sections are simply empty) */
    CHECK_INT(render_message(s_r, "test", "en", NULL, &o, err, sizeof err), 0);
    render_message_free(&o);
    render_message_free(&o);          /* twice is safe */
}

/* ---- escaping ----------------------------------------------------------- */

/* customer text in every variable of every template: no new links, images,
 * scripts or emphasis in the HTML; shown literally in the text part */
static void test_customer_text_never_becomes_markup(void)
{
    static const char *const tags[] = {"<a ", "<img", "<script", "<strong>",
                                       "<em>", "<h1", "<h2", "<h3", "<li>",
                                       "<blockquote>", "<code>"};
    for (size_t l = 0; l < S_NLOCALES; l++) {
        for (size_t n = 0; n < S_NNAMES; n++) {
            const char *loc = s_locales[l], *name = s_names[n];
            json_t *good = s_sample(name), *bad = s_sample(name);
            s_nastify(bad);
            rendered_t g, b;
            char err[512];
            int rc = render_message(s_r, name, loc, good, &g, err, sizeof err) |
                     render_message(s_r, name, loc, bad, &b, err, sizeof err);
            json_decref(good);
            json_decref(bad);
            CHECK_INT(rc, 0);
            if (rc) {
                render_message_free(&g);
                render_message_free(&b);
                continue;
            }
            for (size_t t = 0; t < sizeof tags / sizeof tags[0]; t++) {
                size_t cg = s_count(g.html, tags[t]), cb = s_count(b.html, tags[t]);
                if (cg != cb)
                    fprintf(stderr, "  %s/%s: %zu x %s, %zu with hostile text\n",
                            loc, name, cg, tags[t], cb);
                CHECK(cg == cb);
            }
            CHECK(strstr(b.html, "&lt;img src=x onerror=alert(1)&gt;") != NULL);
            CHECK(strstr(b.html, "href=\"javascript") == NULL);
            CHECK(strstr(b.html, "href=\"https://evil") == NULL);
            char *flat = s_flat(b.text);
            int literal = strstr(flat, S_NASTY_FLAT) != NULL;
            if (!literal)
                fprintf(stderr, "  %s/%s: text part lost the literal text:\n%s\n",
                        loc, name, b.text);
            CHECK(literal);
            free(flat);
            CHECK(!strchr(b.subject, '\n') && !strchr(b.subject, '\r'));
            CHECK(!strchr(b.preheader, '\n') && !strchr(b.preheader, '\r'));
            CHECK(strchr(b.subject, '\\') == NULL);
            CHECK_INT(s_long_lines(b.text, RENDER_TEXT_WIDTH, 1), 0);
            render_message_free(&g);
            render_message_free(&b);
        }
    }
}

/* A customer's comment, complaint text or quoted excerpt keeps its line
 * breaks (one paragraph with hard breaks), and no line of it can start a
 * block of its own: a heading, a list, a quote, a rule, a setext heading, a
 * fence; a name stays on one line. */
static void test_multiline_customer_text_keeps_its_lines_and_no_line_is_markup(void)
{
    static const char *const ml =
        "first line\n# not a heading\n1. not a list\n> not a quote\n- not an item\n"
        "===\n```\n***\n\n\nlast line";
    static const struct {
        const char *name, *var;
        int in_list;
    } cases[] = {{"nps_detractor_alert", "comment", 0}, {"complaint_alert", "text", 0},
                 {"loop_closed", "excerpt", 0}, {"nps_digest", "comment", 1}};
    static const char *const tags[] = {"<h1", "<h2", "<ol", "<hr", "<pre", "<code"};
    for (size_t l = 0; l < S_NLOCALES; l++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            json_t *v = s_sample(cases[c].name);
            if (strcmp(cases[c].name, "loop_closed") == 0)
                json_object_set_new(json_array_get(json_object_get(v, "quotes"), 0), "excerpt",
                                    json_string(ml));
            else if (cases[c].in_list)
                json_object_set_new(json_array_get(json_object_get(v, "comments"), 1), "comment",
                                    json_string(ml));
            else
                json_object_set_new(v, cases[c].var, json_string(ml));
            json_object_set_new(v, "customer_name", json_string("Anna\nNowak"));
            rendered_t o;
            char err[512];
            int rc = render_message(s_r, cases[c].name, s_locales[l], v, &o, err, sizeof err);
            json_decref(v);
            CHECK_INT(rc, 0);
            if (rc)
                continue;
            const char *a = strstr(o.html, "first line"), *z = strstr(o.html, "last line");
            CHECK(a && z && a < z);
            if (a && z && a < z) {
                /* one paragraph: the same quote (or list item) holds every line */
                char *span = strndup(a, (size_t)(z - a));
                CHECK(strstr(span, "</p>") == NULL);
                CHECK(strstr(span, cases[c].in_list ? "</li>" : "</blockquote>") == NULL);
                CHECK(s_count(span, "<br />") == 8);
                for (size_t t = 0; t < sizeof tags / sizeof tags[0]; t++)
                    CHECK(strstr(span, tags[t]) == NULL);
                free(span);
            }
            CHECK(strstr(o.html, "# not a heading") != NULL);
            CHECK(strstr(o.html, "&gt; not a quote") != NULL);
            CHECK(strstr(o.html, "Anna Nowak") != NULL || strcmp(cases[c].name, "loop_closed") == 0);
            /* the text part: each line on its own line */
            CHECK(strstr(o.text, "# not a heading") != NULL);
            const char *t1 = strstr(o.text, "first line"), *t2 = strstr(o.text, "# not a heading");
            CHECK(t1 && t2 && memchr(t1, '\n', (size_t)(t2 - t1)) != NULL);
            render_message_free(&o);
        }
}

/* names in subjects and preheaders are plain text: no escapes, one line */
static void test_subject_and_preheader_are_plain_lines(void)
{
    rendered_t o;
    CHECK_INT(s_render("birthday", "en",
                       "{\"shop_name\":\"S\",\"name\":\"Anna*  \\t_x_\\r\\n"
                       "\\\\o/ [a](b) <b>\"}", &o), 0);
    CHECK_STR(o.subject, "Happy birthday, Anna* _x_ \\o/ [a](b) <b>! \xF0\x9F\x8E\x82");
    CHECK_STR(o.preheader, "Warm wishes from all of us at S");
    render_message_free(&o);
    CHECK_INT(s_render("nps_detractor_alert", "ru",
                       "{\"shop_name\":\"S\",\"score\":2,\"customer_name\":"
                       "\"Bob\\r\\nBcc: x@evil\",\"staff_url\":\"https://h/\"}",
                       &o), 0);
    CHECK_STR(o.subject, "Низкая оценка 2/10 — Bob Bcc: x@evil");
    render_message_free(&o);
}

/* {{{reply}}} is staff Markdown: rendered, but raw HTML and script links
 * are dropped */
static void test_trusted_markdown_renders_safely(void)
{
    rendered_t o;
    CHECK_INT(s_render("complaint_reply", "en",
                       "{\"shop_name\":\"S\",\"case_number\":\"C-1\",\"reply\":"
                       "\"We **fixed** it, *really*. <b>raw</b> "
                       "<script>alert(1)</script>\\n\\n<div onclick=x>block"
                       "</div>\\n\\n[x](javascript:alert(1)) [ok](https://ok."
                       "example/) ![i](javascript:alert(2))\"}", &o), 0);
    CHECK(strstr(o.html, "<strong>fixed</strong>") != NULL);
    CHECK(strstr(o.html, "<em>really</em>") != NULL);
    CHECK(strstr(o.html, "<script") == NULL);
    CHECK(strstr(o.html, "<b>") == NULL);
    CHECK(strstr(o.html, "<div onclick") == NULL);
    CHECK(strstr(o.html, "javascript:") == NULL);
    CHECK(strstr(o.html, "<a href=\"https://ok.example/\">ok</a>") != NULL);
    CHECK(strstr(o.text, "We fixed it, really. raw alert(1)") != NULL);
    CHECK(strstr(o.text, "ok <https://ok.example/>") != NULL);
    CHECK(strstr(o.text, "javascript") == NULL);
    CHECK(strstr(o.text, "block") == NULL);     /* raw HTML block dropped */
    render_message_free(&o);
}

/* {{{announcement}}} and the quotes: every text-part rule in one mail */
static void test_text_part_structure(void)
{
    rendered_t o;
    CHECK_INT(s_render("loop_closed", "en",
                       "{\"shop_name\":\"S\",\"title\":\"Free *delivery*\","
                       "\"quotes\":[{\"excerpt\":\"Too [expensive](https://x)"
                       "\",\"date\":\"2026-10-02\"}],\"announcement\":"
                       "\"# Big news\\n\\nSee [our page](https://s.example/d) or "
                       "<https://s.example/d2>.\\n\\n- one\\n- two\\n\\n3. "
                       "third\\n4. fourth\\n\\n> quoted\\n\\n```\\ncode   as "
                       "is\\n```\\n\\nline one\\\\\\nline two\\n\"}", &o), 0);
    CHECK(strstr(o.text, "> Too [expensive](https://x)\n> \xE2\x80\x94 2026-10-02\n") != NULL);
    CHECK(strstr(o.text, "\nFree *delivery*\n") != NULL);
    CHECK(strstr(o.text, "\nBig news\n") != NULL);
    CHECK(strstr(o.text, "See our page <https://s.example/d> or https://s.example/d2.") != NULL);
    CHECK(strstr(o.text, "\n- one\n- two\n") != NULL);
    CHECK(strstr(o.text, "\n3. third\n4. fourth\n") != NULL);
    CHECK(strstr(o.text, "\n> quoted\n") != NULL);
    CHECK(strstr(o.text, "\ncode   as is\n") != NULL);
    CHECK(strstr(o.text, "\nline one\nline two\n") != NULL);
    CHECK(strstr(o.html, "<h1>Big news</h1>") != NULL);
    CHECK(strstr(o.html, "<h2>Free *delivery*</h2>") != NULL);
    render_message_free(&o);
}

/* the 0-10 row: one link per line in text, buttons in HTML */
static void test_score_row(void)
{
    json_t *v = s_sample("nps_invite");
    rendered_t o;
    char err[256];
    CHECK_INT(render_message(s_r, "nps_invite", "en", v, &o, err, sizeof err), 0);
    json_decref(v);
    char want[2048] = "\n";
    for (int i = 0; i <= 10; i++) {
        char line[96];
        snprintf(line, sizeof line, "%d <https://s.example/nps/t0k?score=%d>\n",
                 i, i);
        strcat(want, line);
    }
    CHECK(strstr(o.text, want) != NULL);
    CHECK(strstr(o.text, "\n0 = not at all likely, 10 = extremely likely\n") != NULL);
    const char *row = strstr(o.html, "<div class=\"links\">\n<p><a href=\"https://s.example/nps/t0k?score=0\">0</a> ");
    CHECK(row != NULL);
    CHECK(row && strstr(row, "<a href=\"https://s.example/nps/t0k?score=10\">10</a></p>\n</div>") != NULL);
    CHECK_INT(s_count(o.html, "<div class=\"links\">"), 1);
    render_message_free(&o);
}

#define S_LONG_WORD "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij" \
                    "klmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"

/* long paragraphs wrap at 78 (Cyrillic, Chinese, quotes, lists); a long
 * URL is the only longer line and stays whole */
static void test_text_wraps_at_78(void)
{
    static const char *const ru =
        "Мы проверили ваш заказ и выяснили, что посылка задержалась на "
        "сортировочном центре из-за ошибки в адресе. Мы уже исправили адрес, "
        "отправили посылку повторно и оплатили доставку сами. ";
    static const char *const zh =
        "我们已经核实了您的订单，包裹因为地址错误在分拣中心滞留了几天。我们已经更正了"
        "地址，重新寄出了包裹，并承担了全部运费。给您带来不便，我们深表歉意，希望您"
        "能继续支持我们。";
    char reply[8192];
    snprintf(reply, sizeof reply,
             "%s%s\\n\\n%s\\n\\n> %s%s\\n\\n- %s\\n- %s\\n\\nhttps://s.example/"
             "%s\\n",
             ru, ru, zh, ru, ru, ru, zh,
             S_LONG_WORD);
    char vars[9000];
    snprintf(vars, sizeof vars,
             "{\"shop_name\":\"S\",\"case_number\":\"1\",\"reply\":\"%s\"}",
             reply);
    for (size_t l = 0; l < S_NLOCALES; l++) {
        rendered_t o;
        CHECK_INT(s_render("complaint_reply", s_locales[l], vars, &o), 0);
        if (!o.text)
            continue;
        CHECK_INT(s_long_lines(o.text, RENDER_TEXT_WIDTH, 0), 0);  /* code points */
        CHECK_INT(s_long_lines(o.text, RENDER_TEXT_WIDTH, 1), 0);  /* columns */
        CHECK(strstr(o.text, "\nhttps://s.example/" S_LONG_WORD "\n") != NULL);
        /* the Chinese paragraph was wrapped, not left on one line */
        CHECK(strstr(o.text, "我们已经核实了您的订单") != NULL);
        CHECK(strstr(o.text, "我们已经核实了您的订单，包裹因为地址错误在分拣中心滞留了几天。"
                             "我们已经更正了地址") == NULL);
        /* no line starts with closing punctuation */
        CHECK(strstr(o.text, "\n，") == NULL && strstr(o.text, "\n。") == NULL);
        CHECK(strstr(o.text, "\n> Мы проверили") != NULL);
        CHECK(strstr(o.text, "\n- Мы проверили") != NULL);
        CHECK(strstr(o.text, "\n  ") != NULL);      /* list continuation */
        CHECK(mime_utf8_valid(o.text, strlen(o.text)));
        render_message_free(&o);
    }
}

/* staff Markdown nested far deeper than anyone writes renders without
 * blowing the stack, and keeps its words */
static void test_deeply_nested_markdown(void)
{
    size_t depth = 3000;
    char *md = malloc(depth * 8 + 100), *p = md;
    for (size_t i = 0; i < depth; i++)
        *p++ = '>';
    p += sprintf(p, " deep quote\n\n");
    for (size_t i = 0; i < depth / 10; i++)
        p += sprintf(p, "- ");
    p += sprintf(p, "deep list\n\n");
    for (size_t i = 0; i < depth; i++)
        *p++ = '*';
    p += sprintf(p, "stars");
    for (size_t i = 0; i < depth; i++)
        *p++ = '*';
    *p = '\0';
    json_t *v = json_pack("{s:s, s:s, s:s}", "shop_name", "S", "case_number",
                          "1", "reply", md);
    rendered_t o;
    char err[512];
    CHECK_INT(render_message(s_r, "complaint_reply", "en", v, &o, err, sizeof err), 0);
    CHECK(o.text && strstr(o.text, "deep quote") != NULL);
    CHECK(o.text && strstr(o.text, "deep list") != NULL);
    CHECK(o.text && strstr(o.text, "stars") != NULL);
    CHECK(o.html && strstr(o.html, "deep quote") != NULL);
    render_message_free(&o);
    json_decref(v);
    free(md);
}

/* columns: CJK and emoji 2, combining marks 0 */
static void test_text_width(void)
{
    CHECK_INT(mdtext_width('a'), 1);
    CHECK_INT(mdtext_width(0x0416), 1);    /* Ж */
    CHECK_INT(mdtext_width(0x4E2D), 2);    /* 中 */
    CHECK_INT(mdtext_width(0xFF0C), 2);    /* ， */
    CHECK_INT(mdtext_width(0x1F389), 2);   /* 🎉 */
    CHECK_INT(mdtext_width(0x0301), 0);    /* combining acute */
    CHECK_INT(mdtext_width(0x200D), 0);    /* ZWJ */
}

/* ---- plurals ------------------------------------------------------------ */

/* CLDR categories, and the anniversary words they pick */
static void test_plurals(void)
{
    static const struct {
        const char *loc;
        long long n;
        const char *cat;
    } cats[] = {
        {"ru", 1, "one"},  {"ru", 2, "few"},   {"ru", 5, "many"},
        {"ru", 11, "many"}, {"ru", 21, "one"}, {"ru", 22, "few"},
        {"ru", 112, "many"}, {"ru", 0, "many"}, {"be-BY", 3, "few"},
        {"pl", 1, "one"},  {"pl", 2, "few"},   {"pl", 5, "many"},
        {"pl", 12, "many"}, {"pl", 21, "many"}, {"pl", 22, "few"},
        {"en", 1, "one"},  {"en", 2, "other"}, {"en", 0, "other"},
        {"zh", 1, "other"}, {"xx", 1, "one"},  {"ru", -21, "one"}};
    for (size_t i = 0; i < sizeof cats / sizeof cats[0]; i++)
        CHECK_STR(render_plural_category(cats[i].loc, cats[i].n), cats[i].cat);

    static const struct {
        const char *loc, *years, *want;
    } words[] = {
        {"ru", "1", "уже 1 год."},   {"ru", "3", "уже 3 года."},
        {"ru", "11", "уже 11 лет."}, {"ru", "21", "уже 21 год."},
        {"ru", "\"5\"", "уже 5 лет."},
        {"pl", "1", "już 1 rok!"},   {"pl", "22", "już 22 lata!"},
        {"pl", "5", "już 5 lat!"},   {"pl", "12", "już 12 lat!"},
        {"be", "2", "ўжо 2 гады."},  {"be", "5", "ўжо 5 гадоў."},
        {"be", "1", "ўжо 1 год."},
        {"en", "1", "for 1 year."},  {"en", "4", "for 4 years."},
        {"zh", "4", "陪伴我们 4 年了"}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        char vars[128];
        snprintf(vars, sizeof vars, "{\"shop_name\":\"S\",\"years\":%s}",
                 words[i].years);
        rendered_t o;
        CHECK_INT(s_render("anniversary", words[i].loc, vars, &o), 0);
        int ok = o.text && strstr(o.text, words[i].want) != NULL;
        if (!ok)
            fprintf(stderr, "  %s years=%s: want \"%s\" in:\n%s\n",
                    words[i].loc, words[i].years, words[i].want,
                    o.text ? o.text : "");
        CHECK(ok);
        render_message_free(&o);
    }
    rendered_t o;   /* the sender's own word wins */
    CHECK_INT(s_render("anniversary", "ru", "{\"shop_name\":\"S\",\"years\":5,"
                       "\"years_word\":\"годиков\"}", &o), 0);
    CHECK(o.text && strstr(o.text, "уже 5 годиков.") != NULL);
    render_message_free(&o);
}

/* ---- limits ------------------------------------------------------------- */

/* variables are capped at 2000 code points (200 in a subject), and a body
 * over 256 KB of Markdown is an error */
static void test_limits(void)
{
    size_t n = 5000;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    json_t *v = json_pack("{s:s, s:s, s:i, s:s, s:s}", "shop_name", "S",
                          "customer_name", big, "score", 1, "comment", big,
                          "staff_url", "https://h/");
    rendered_t o;
    char err[512];
    CHECK_INT(render_message(s_r, "nps_detractor_alert", "en", v, &o, err, sizeof err), 0);
    json_decref(v);
    char *cut = malloc(RENDER_MAX_VAR_CHARS + 8);
    memset(cut, 'a', RENDER_MAX_VAR_CHARS);
    strcpy(cut + RENDER_MAX_VAR_CHARS, "\xE2\x80\xA6");     /* … */
    CHECK(o.html && strstr(o.html, cut) != NULL);
    cut[RENDER_MAX_VAR_CHARS] = 'a';
    CHECK(o.html && strstr(o.html, cut) == NULL);
    CHECK(o.subject && strlen(o.subject) < 260);
    CHECK(o.subject && strstr(o.subject, "a\xE2\x80\xA6") != NULL);
    render_message_free(&o);
    free(cut);

    size_t huge = RENDER_MAX_MARKDOWN + 100;
    char *raw = malloc(huge + 1);
    for (size_t i = 0; i < huge; i++)
        raw[i] = i % 80 == 79 ? '\n' : 'x';
    raw[huge] = '\0';
    v = json_pack("{s:s, s:s, s:s}", "shop_name", "S", "case_number", "1",
                  "reply", raw);
    err[0] = '\0';
    CHECK_INT(render_message(s_r, "complaint_reply", "en", v, &o, err, sizeof err), -1);
    CHECK(strstr(err, "complaint_reply") != NULL);
    CHECK(o.text == NULL && o.html == NULL);
    json_decref(v);
    raw[RENDER_MAX_MARKDOWN / 2] = '\0';        /* half the limit is fine */
    v = json_pack("{s:s, s:s, s:s}", "shop_name", "S", "case_number", "1",
                  "reply", raw);
    CHECK_INT(render_message(s_r, "complaint_reply", "en", v, &o, err, sizeof err), 0);
    json_decref(v);
    render_message_free(&o);
    free(raw);
    free(big);
}

/* ---- layout ------------------------------------------------------------- */

/* layout.html gets the escaped subject, the hidden preheader, dark mode */
static void test_layout(void)
{
    rendered_t o;
    CHECK_INT(s_render("birthday", "ru", "{\"shop_name\":\"S\",\"name\":"
                       "\"<b>Ann</b> & \\\"Co\\\"\"}", &o), 0);
    CHECK(strstr(o.html, "<html lang=\"ru\">") != NULL);
    CHECK(strstr(o.html, "<title>С днём рождения, &lt;b&gt;Ann&lt;/b&gt; &amp; "
                         "&quot;Co&quot;! \xF0\x9F\x8E\x82</title>") != NULL);
    CHECK(strstr(o.html, "class=\"preheader\"") != NULL);
    CHECK(strstr(o.html, "Тёплые поздравления от всей нашей команды</span>") != NULL);
    CHECK(strstr(o.html, "prefers-color-scheme: dark") != NULL);
    CHECK(strstr(o.html, "name=\"color-scheme\"") != NULL);
    CHECK(strstr(o.html, "name=\"viewport\"") != NULL);
    CHECK(strstr(o.html, "<b>") == NULL);
    CHECK(strstr(o.html, "<p>С днём рождения, &lt;b&gt;Ann&lt;/b&gt;") != NULL);
    render_message_free(&o);
}

/* ---- a private templates directory: cache, partials, errors ------------- */

/* s_write - write text to dir/rel (aborts on failure: this is a test) */
static void s_write(const char *dir, const char *rel, const char *text)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

/* s_rmtree - remove the small test tree (two levels) */
static void s_rmtree(const char *dir)
{
    static const char *const files[] = {
        "layout.html", "en/a.md", "en/_p.md", "en/bad.md", "en/nofm.md",
        "en/empty.md", "en/rec.md", "en/_r.md", "en/key.md", "pl/a.md",
        "pl-pl/a.md"};
    char path[4400];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/en", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/pl", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/pl-pl", dir);
    rmdir(path);
    rmdir(dir);
}

/* compiled once; partials fall back along the chain; broken files fail
 * with the file named */
static void test_private_templates(void)
{
    char dir[] = "/tmp/hark_render_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    char sub[4400], err[512];
    snprintf(sub, sizeof sub, "%s/en", dir);
    mkdir(sub, 0700);
    snprintf(sub, sizeof sub, "%s/pl", dir);
    mkdir(sub, 0700);
    snprintf(sub, sizeof sub, "%s/pl-pl", dir);
    mkdir(sub, 0700);
    s_write(dir, "layout.html", "[{{lang}}]{{{body_html}}}");
    s_write(dir, "en/a.md", "---\nsubject: A {{x}}\n---\nen body {{x}}\n\n{{> _p}}\n");
    s_write(dir, "en/_p.md", "partial from en\n");
    s_write(dir, "en/bad.md", "---\nsubject: s\n---\n{{#open}}\n");
    s_write(dir, "en/nofm.md", "no front matter\n");
    s_write(dir, "en/empty.md", "---\nsubject: {{nothing}}\n---\nbody\n");
    s_write(dir, "en/rec.md", "---\nsubject: r\n---\n{{> _r}}\n");
    s_write(dir, "en/_r.md", "again {{> _r}}\n");
    s_write(dir, "en/key.md", "---\nsubjekt: typo\n---\nbody\n");
    s_write(dir, "pl/a.md", "---\r\nsubject: PL {{x}}\r\npreheader: p\r\n---\r\npl body\r\n\r\n{{> _p}}\r\n");

    CHECK(render_new(dir, "de", err, sizeof err) == NULL);   /* no de/ */
    render_t *r = render_new(dir, "en", err, sizeof err);
    CHECK(r != NULL);
    if (!r) {
        fprintf(stderr, "  %s\n", err);
        s_rmtree(dir);
        return;
    }
    json_t *v = s_json("{\"x\":\"1\"}");
    rendered_t o;
    CHECK_INT(render_message(r, "a", "pl-PL", v, &o, err, sizeof err), 0);
    CHECK_STR(o.locale_used, "pl");             /* pl-pl/ has no a.md */
    CHECK_STR(o.subject, "PL 1");
    CHECK_STR(o.preheader, "p");
    CHECK_STR(o.text, "pl body\n\npartial from en\n");
    CHECK_STR(o.html, "[pl]<p>pl body</p>\n<p>partial from en</p>\n");
    render_message_free(&o);

    /* edits after the first use are not seen: compiled once */
    s_write(dir, "pl/a.md", "---\nsubject: changed\n---\nchanged\n");
    s_write(dir, "pl-pl/a.md", "---\nsubject: new file\n---\nnew\n");
    CHECK_INT(render_message(r, "a", "pl-PL", v, &o, err, sizeof err), 0);
    CHECK_STR(o.subject, "PL 1");
    render_message_free(&o);
    CHECK_INT(render_message(r, "a", "en", v, &o, err, sizeof err), 0);
    CHECK_STR(o.subject, "A 1");
    CHECK_STR(o.preheader, "");
    render_message_free(&o);

    static const char *const broken[][2] = {
        {"bad", "bad.md"}, {"nofm", "nofm.md"}, {"empty", "empty"},
        {"rec", "rec"}, {"key", "subjekt"}, {"missing", "missing"}};
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        err[0] = '\0';
        CHECK_INT(render_message(r, broken[i][0], "en", v, &o, err, sizeof err), -1);
        if (!strstr(err, broken[i][1]))
            fprintf(stderr, "  %s: error \"%s\" does not name %s\n",
                    broken[i][0], err, broken[i][1]);
        CHECK(strstr(err, broken[i][1]) != NULL);
    }
    render_destroy(&r);
    CHECK(r == NULL);
    render_destroy(&r);

    /* a new renderer reads the files again */
    r = render_new(dir, "en", err, sizeof err);
    CHECK(r != NULL);
    if (r) {
        CHECK_INT(render_message(r, "a", "pl-PL", v, &o, err, sizeof err), 0);
        CHECK_STR(o.locale_used, "pl-pl");
        CHECK_STR(o.subject, "new file");
        render_message_free(&o);
        render_destroy(&r);
    }
    json_decref(v);

    unlink(strcat(strcpy(sub, dir), "/layout.html"));
    CHECK(render_new(dir, "en", err, sizeof err) == NULL);
    CHECK(strstr(err, "layout.html") != NULL);
    s_rmtree(dir);
    CHECK(render_new(dir, "en", err, sizeof err) == NULL);
    CHECK(render_new(NULL, "en", err, sizeof err) == NULL);
    CHECK(render_new(s_dir, "../x", err, sizeof err) == NULL);
}

/* ---- compose ------------------------------------------------------------ */

/* s_compose - render name/locale with the sample vars and compose it;
 * the caller frees the message */
static char *s_compose(const char *name, const char *locale,
                       const mailer_compose_opts_t *o, size_t *len)
{
    json_t *v = s_sample(name);
    rendered_t r;
    char err[512];
    int rc = render_message(s_r, name, locale, v, &r, err, sizeof err);
    json_decref(v);
    if (rc)
        return NULL;
    char *msg = mailer_compose_message(o, &r, len, err, sizeof err);
    if (!msg)
        fprintf(stderr, "  compose: %s\n", err);
    render_message_free(&r);
    return msg;
}

/* s_header_count - header lines (not continuations) starting "Name:" */
static int s_header_count(const char *msg, const char *name)
{
    int n = 0;
    size_t len = strlen(name);
    const char *end = strstr(msg, "\r\n\r\n");
    for (const char *p = msg; p && p < end;) {
        if (strncasecmp(p, name, len) == 0 && p[len] == ':')
            n++;
        p = strstr(p, "\r\n");
        p = p ? p + 2 : NULL;
    }
    return n;
}

/* a composed message: CRLF only, 7-bit, line limits, each header once, no
 * injected Bcc, both parts, List-Unsubscribe only when given */
static void test_compose_structure(void)
{
    mailer_compose_opts_t o = {
        .from_name = "Herbata & Co", .from_addr = "shop@herbata.example",
        .reply_to = "help@herbata.example",
        .to_name = "Bob\r\nBcc: x@evil.example\r\n\r\nbody?",
        .to_addr = "bob@example.com", .message_id = "<m1.abc@herbata.example>",
        .date_ms = 1795430112123LL, .unsubscribe_url = S_UNSUB,
        .category = "birthday"};
    size_t len = 0;
    char *msg = s_compose("birthday", "en", &o, &len);
    CHECK(msg != NULL);
    if (!msg)
        return;
    CHECK_INT(len, strlen(msg));
    int crlf = 1, ascii = 1, hdr_ok = 1, body_ok = 1, in_hdr = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c == '\n' && (i == 0 || msg[i - 1] != '\r'))
            crlf = 0;
        if (c == '\r' && msg[i + 1] != '\n')
            crlf = 0;
        if (c >= 0x80 || c == 0)
            ascii = 0;
    }
    for (const char *p = msg; *p;) {
        const char *nl = strstr(p, "\r\n");
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (in_hdr && l == 0)
            in_hdr = 0;
        else if (in_hdr && l > 78)
            hdr_ok = 0;
        else if (!in_hdr && l > 76)
            body_ok = 0;
        p = nl ? nl + 2 : p + l;
    }
    CHECK(crlf);
    CHECK(ascii);
    CHECK(hdr_ok);
    CHECK(body_ok);
    static const char *const once[] = {
        "From", "To", "Reply-To", "Subject", "Date", "Message-ID",
        "MIME-Version", "List-Unsubscribe", "List-Unsubscribe-Post",
        "X-Hark-Category", "Content-Type"};
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++)
        CHECK_INT(s_header_count(msg, once[i]), 1);
    CHECK_INT(s_header_count(msg, "Bcc"), 0);
    CHECK(strstr(msg, "\r\nBcc:") == NULL);
    CHECK(strstr(msg, "To: \"Bob  Bcc: x@evil.example    body?\" <bob@example.com>\r\n") != NULL);
    CHECK(strstr(msg, "Date: Mon, 23 Nov 2026 10:35:12 +0000\r\n") != NULL);
    CHECK(strstr(msg, "Message-ID: <m1.abc@herbata.example>\r\n") != NULL);
    CHECK(strstr(msg, "List-Unsubscribe: <" S_UNSUB ">\r\n") != NULL);
    CHECK(strstr(msg, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") != NULL);
    CHECK(strstr(msg, "X-Hark-Category: birthday\r\n") != NULL);
    CHECK(strstr(msg, "MIME-Version: 1.0\r\n") != NULL);
    const char *b = strstr(msg, "boundary=\"");
    CHECK(b != NULL);
    if (b) {
        char boundary[80], delim[90];
        sscanf(b + 10, "%70[^\"]", boundary);
        CHECK(strncmp(boundary, "=_hark_", 7) == 0);
        snprintf(delim, sizeof delim, "\r\n--%s\r\n", boundary);
        CHECK_INT(s_count(msg, delim), 2);
        snprintf(delim, sizeof delim, "\r\n--%s--\r\n", boundary);
        CHECK_INT(s_count(msg, delim), 1);
        CHECK_INT(s_count(msg, boundary), 4);
    }
    CHECK_INT(s_count(msg, "Content-Type: text/plain; charset=UTF-8\r\n"), 1);
    CHECK_INT(s_count(msg, "Content-Type: text/html; charset=UTF-8\r\n"), 1);
    CHECK(strstr(msg, "text/plain") < strstr(msg, "text/html"));
    CHECK_INT(s_count(msg, "Content-Transfer-Encoding: quoted-printable\r\n"), 2);
    free(msg);

    /* no unsubscribe, no category, no reply-to: no such headers */
    o.unsubscribe_url = NULL;
    o.category = "";
    o.reply_to = NULL;
    o.to_name = NULL;
    msg = s_compose("complaint_alert", "zh", &o, &len);
    CHECK(msg != NULL);
    if (msg) {
        CHECK_INT(s_header_count(msg, "List-Unsubscribe"), 0);
        CHECK_INT(s_header_count(msg, "List-Unsubscribe-Post"), 0);
        CHECK_INT(s_header_count(msg, "X-Hark-Category"), 0);
        CHECK_INT(s_header_count(msg, "Reply-To"), 0);
        CHECK(strstr(msg, "\r\nTo: bob@example.com\r\n") != NULL);
        CHECK(strstr(msg, "Subject: =?UTF-8?") != NULL);
        free(msg);
    }

    /* a mail on a case follows its first one: In-Reply-To and References */
    o.in_reply_to = "<hark.c.C1.5.0123456789abcdef@herbata.example>";
    msg = s_compose("complaint_reply", "en", &o, &len);
    CHECK(msg != NULL);
    if (msg) {
        CHECK(strstr(msg, "\r\nIn-Reply-To: <hark.c.C1.5.0123456789abcdef@herbata.example>\r\n"));
        CHECK(strstr(msg, "\r\nReferences: <hark.c.C1.5.0123456789abcdef@herbata.example>\r\n"));
        free(msg);
    }
    o.in_reply_to = "no angle brackets";
    CHECK(s_compose("complaint_reply", "en", &o, &len) == NULL);
    o.in_reply_to = NULL;

    /* a long unsubscribe URL goes to its own line, whole */
    char url[300] = "https://shop.example/unsubscribe/";
    while (strlen(url) < 200)
        strcat(url, "0123456789");
    o.unsubscribe_url = url;
    msg = s_compose("test", "en", &o, &len);
    CHECK(msg != NULL);
    if (msg) {
        char want[400];
        snprintf(want, sizeof want, "\r\nList-Unsubscribe:\r\n <%s>\r\n", url);
        CHECK(strstr(msg, want) != NULL);
        free(msg);
    }
}

/* bad addresses, Message-IDs, URLs and categories are refused */
static void test_compose_rejects_bad_input(void)
{
    rendered_t r = {.subject = "s", .preheader = "", .text = "t\n",
                    .html = "<p>t</p>\n", .locale_used = "en"};
    const mailer_compose_opts_t good = {.from_addr = "a@b.example",
                                 .to_addr = "c@d.example",
                                 .message_id = "<x@b.example>"};
    char err[256];
    size_t len = 99;
    char *msg = mailer_compose_message(&good, &r, &len, err, sizeof err);
    CHECK(msg != NULL);
    CHECK(len == (msg ? strlen(msg) : 0));
    free(msg);

    mailer_compose_opts_t o;
    static const char *const bad_to[] = {"c@d.example\r\nBcc: x@evil",
                                         "c d@x.example", "nobody", "",
                                         "<c@d.example>"};
    for (size_t i = 0; i < sizeof bad_to / sizeof bad_to[0]; i++) {
        o = good;
        o.to_addr = bad_to[i];
        err[0] = '\0';
        CHECK(mailer_compose_message(&o, &r, &len, err, sizeof err) == NULL);
        CHECK(err[0] != '\0');
        CHECK_INT(len, 0);
    }
    static const char *const bad_id[] = {"x@b.example", "<x@b.example>\r\nBcc: y",
                                         "<x y@b.example>", "<xb.example>",
                                         "<x@@b>", "<@b.example>", NULL};
    for (size_t i = 0; i < sizeof bad_id / sizeof bad_id[0]; i++) {
        o = good;
        o.message_id = bad_id[i];
        CHECK(mailer_compose_message(&o, &r, &len, err, sizeof err) == NULL);
    }
    static const char *const bad_url[] = {"javascript:alert(1)", "https://x y",
                                          "https://x>\r\nBcc: y", "ftp://x"};
    for (size_t i = 0; i < sizeof bad_url / sizeof bad_url[0]; i++) {
        o = good;
        o.unsubscribe_url = bad_url[i];
        CHECK(mailer_compose_message(&o, &r, &len, err, sizeof err) == NULL);
    }
    o = good;
    o.category = "nps invite";
    CHECK(mailer_compose_message(&o, &r, &len, err, sizeof err) == NULL);
    o = good;
    o.reply_to = "x";
    CHECK(mailer_compose_message(&o, &r, &len, err, sizeof err) == NULL);
    o = good;
    o.from_addr = NULL;
    CHECK(mailer_compose_message(&o, &r, &len, err, sizeof err) == NULL);
    rendered_t broken = r;
    broken.text = "\xC3\x28";
    CHECK(mailer_compose_message(&good, &broken, &len, err, sizeof err) == NULL);
    CHECK(mailer_compose_message(&good, NULL, &len, err, sizeof err) == NULL);
}

/* RFC 5322 dates in UTC */
static void test_compose_date(void)
{
    char buf[40];
    CHECK_STR(mailer_compose_date(0, buf, sizeof buf), "Thu, 01 Jan 1970 00:00:00 +0000");
    CHECK_STR(mailer_compose_date(1795430112123LL, buf, sizeof buf),
              "Mon, 23 Nov 2026 10:35:12 +0000");
    CHECK_STR(mailer_compose_date(-1, buf, sizeof buf), "Wed, 31 Dec 1969 23:59:59 +0000");
}

/* ---- --emit ------------------------------------------------------------- */

/* One message for render_check.py. */
typedef struct {
    const char *name, *locale;
    const char *to_name, *to_addr;
    const char *from_name;
    const char *reply_to, *unsub, *category;
    const char *customer_name;      /* replaces name/customer_name, or NULL */
} s_emit_case_t;

/* s_emit - write DIR/NN.eml and DIR/cases.json; 0 on success */
static int s_emit(const char *dir)
{
    static const s_emit_case_t cases[] = {
        {"birthday", "en", "Bob\r\nBcc: x@evil.example", "bob@example.com",
         "Herbata & Co", "help@herbata.example", S_UNSUB, "birthday",
         S_NASTY},
        {"nps_invite", "ru-RU", "Анна Каренина-Вронская \xF0\x9F\x8C\xB9",
         "anna@example.ru", "Чайная «Ромашка»", NULL, S_UNSUB, "nps",
         "Анна"},
        {"complaint_ack", "zh-Hans", "王小明", "wang@example.cn", "Herbata",
         "help@herbata.example", NULL, NULL, "小明"},
        {"loop_closed", "pl-PL",
         "Zażółć Gęślą Jaźń Zażółć Gęślą Jaźń Zażółć Gęślą Jaźń Zażółć "
         "Gęślą Jaźń Zażółć Gęślą Jaźń", "ola@example.pl", NULL, NULL,
         S_UNSUB, "loop", "Ola\nNowak"},
        {"test", "be", "Аляксандра \"Саша\" \\ Бой", "sasha@example.by",
         "Hark", NULL, NULL, "test", NULL},
        {"complaint_reply", "en", "Anna \"The Boss\" O'Neil \\ x",
         "anna@example.com", "Herbata & Co", NULL, S_UNSUB, "complaint",
         NULL},
        {"nps_detractor_alert", "en", NULL, "staff@herbata.example",
         "Hark alerts", NULL, NULL, "staff", S_NASTY},
        {"anniversary", "ru", "=?UTF-8?B?QmNjOiB4QGV2aWw=?=",
         "lookalike@example.com", "\xF0\x9F\x8E\x89\xF0\x9F\x8E\x89",
         NULL, S_UNSUB, "anniversary", "\xF0\x9F\x8E\x89"},
        {"complaint_alert", "be-BY",
         "Very Long Customer Name That Goes On And On Well Past The Seventy "
         "Eight Column Limit Of A Header Line", "long@example.com", "Hark",
         NULL, NULL, "staff", "Jan\r\nKowalski"},
        {"nps_digest", "zh", "\x01\x7f\xc2\x85\xe2\x80\xa8 ", "ctl@example.com",
         "Hark", NULL, "mailto:unsubscribe@herbata.example?subject=u",
         "digest", NULL},
    };
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    json_t *all = json_array();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const s_emit_case_t *c = &cases[i];
        json_t *v = s_sample(c->name);
        if (c->customer_name) {
            json_object_set_new(v, "name", json_string(c->customer_name));
            if (json_object_get(v, "customer_name"))
                json_object_set_new(v, "customer_name",
                                    json_string(c->customer_name));
        }
        if (strcmp(c->name, "complaint_reply") == 0)
            json_object_set_new(v, "reply", json_string(
                "From now on we pack your tea in **two** boxes.\n\n.\n\n"
                "A line with trailing spaces   \n\n" S_NASTY));
        rendered_t r;
        char err[512], id[128], file[64], path[4200];
        if (render_message(s_r, c->name, c->locale, v, &r, err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", c->name, err);
            json_decref(v);
            json_decref(all);
            return 1;
        }
        json_decref(v);
        snprintf(id, sizeof id, "<case%zu.%lld@herbata.example>", i,
                 1795430112123LL + (long long)i);
        mailer_compose_opts_t o = {
            .from_name = c->from_name, .from_addr = "shop@herbata.example",
            .reply_to = c->reply_to, .to_name = c->to_name,
            .to_addr = c->to_addr, .message_id = id,
            .date_ms = 1795430112123LL + (long long)i * 86400000LL,
            .unsubscribe_url = c->unsub, .category = c->category};
        size_t len;
        char *msg = mailer_compose_message(&o, &r, &len, err, sizeof err);
        if (!msg) {
            fprintf(stderr, "%s: compose: %s\n", c->name, err);
            render_message_free(&r);
            json_decref(all);
            return 1;
        }
        snprintf(file, sizeof file, "%02zu.eml", i);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(msg, 1, len, f) != len || fclose(f) != 0) {
            perror(path);
            free(msg);
            render_message_free(&r);
            json_decref(all);
            return 1;
        }
        free(msg);
        json_t *j = json_pack(
            "{s:s, s:s, s:s?, s:s, s:s?, s:s, s:s, s:I, s:s?, s:s?, s:s, s:s, "
            "s:s, s:s}",
            "file", file, "template", c->name, "from_name", c->from_name,
            "from_addr", o.from_addr, "to_name", c->to_name, "to_addr",
            c->to_addr, "message_id", id, "date_ms", (json_int_t)o.date_ms,
            "reply_to", c->reply_to, "unsubscribe_url", c->unsub,
            "subject", r.subject, "text", r.text, "html", r.html,
            "locale_used", r.locale_used);
        json_object_set_new(j, "category", c->category ? json_string(c->category)
                                                        : json_null());
        json_array_append_new(all, j);
        render_message_free(&r);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/cases.json", dir);
    int rc = json_dump_file(all, path, JSON_INDENT(1));
    json_decref(all);
    return rc ? 1 : 0;
}

/* s_golden_category - the X-Hark-Category the mailer's callers give name */
static const char *s_golden_category(const char *name)
{
    if (strncmp(name, "nps_", 4) == 0)
        return "survey";
    if (strcmp(name, "birthday") == 0 || strcmp(name, "anniversary") == 0)
        return "milestone";
    if (strncmp(name, "complaint_", 10) == 0)
        return "intake";
    if (strcmp(name, "loop_closed") == 0)
        return "loop";
    return "test";
}

/* s_golden - write DIR/<locale>/<name>.eml for every template and locale:
 * the sample variables rendered and composed with fixed addresses, date
 * and Message-ID (the boundary stays random: golden.py masks it); 0 on
 * success */
static int s_golden(const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    for (size_t l = 0; l < S_NLOCALES; l++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, s_locales[l]);
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            perror(path);
            return 1;
        }
        for (size_t n = 0; n < S_NNAMES; n++) {
            int staff = s_is_staff(s_names[n]);
            char id[128];
            snprintf(id, sizeof id, "<golden.%s.%s@herbata.example>",
                     s_locales[l], s_names[n]);
            /* customers' mail answers to its token (reply_token.h), and a
             * staff reply follows the case's acknowledgement */
            char first[128];
            snprintf(first, sizeof first, "<golden.%s.complaint_ack@herbata.example>",
                     s_locales[l]);
            mailer_compose_opts_t o = {
                .from_name = "Herbata & Co", .from_addr = "shop@herbata.example",
                .reply_to = staff ? "help@herbata.example"
                            : strncmp(s_names[n], "complaint_", 10) == 0
                                ? "reply+c.C-2041.7.0123456789abcdef@reply.herbata.example"
                            : strncmp(s_names[n], "nps_", 4) == 0
                                ? "reply+s.p1.7.0123456789abcdef@reply.herbata.example"
                                : "reply+m.7.7.0123456789abcdef@reply.herbata.example",
                .in_reply_to = strcmp(s_names[n], "complaint_reply") == 0 ? first : NULL,
                .to_name = staff ? "Herbata staff" : "Anna Nowak",
                .to_addr = staff ? "staff@herbata.example" : "anna@example.pl",
                .message_id = id, .date_ms = 1795430112123LL,
                .unsubscribe_url = staff ? NULL : S_UNSUB,
                .category = s_golden_category(s_names[n])};
            size_t len = 0;
            char *msg = s_compose(s_names[n], s_locales[l], &o, &len);
            if (!msg) {
                fprintf(stderr, "%s/%s: no message\n", s_locales[l], s_names[n]);
                return 1;
            }
            snprintf(path, sizeof path, "%s/%s/%s.eml", dir, s_locales[l],
                     s_names[n]);
            FILE *f = fopen(path, "wb");
            int bad = !f || fwrite(msg, 1, len, f) != len;
            if ((f && fclose(f) != 0) || bad) {
                perror(path);
                free(msg);
                return 1;
            }
            free(msg);
        }
    }
    return 0;
}

/* ---- main --------------------------------------------------------------- */

/* s_find_templates - ./templates, else $HARK_ROOT/templates, into s_dir */
static int s_find_templates(void)
{
    if (access("templates/layout.html", R_OK) == 0) {
        snprintf(s_dir, sizeof s_dir, "templates");
        return 0;
    }
    const char *root = getenv("HARK_ROOT");
    if (root && *root) {
        snprintf(s_dir, sizeof s_dir, "%s/templates", root);
        return 0;
    }
    return -1;
}

/* a saved text takes the file's place for its (locale, name) only, at
 * once; NULL goes back to the file; a text that does not compile changes
 * nothing and its error names the line of the text */
static void test_saved_source_replaces_the_file_until_dropped(void)
{
    char err[512];
    int line = -1;
    render_t *r = render_new(s_dir, "en", err, sizeof err);
    CHECK(r != NULL);
    json_t *vars = json_pack("{s:s}", "name", "Anna");
    rendered_t o;
    CHECK(render_message(r, "test", "en", vars, &o, err, sizeof err) == 0);
    CHECK(strncmp(o.subject, "Test message", 12) == 0);
    render_message_free(&o);
    const char *text = "---\nsubject: Saved for {{name}}\n---\nHello **{{name}}**.\n";
    CHECK(render_check_source(text, err, sizeof err, &line) == 0 && line == 0);
    CHECK(render_set_source(r, "en", "test", text, err, sizeof err) == 0);
    CHECK(render_message(r, "test", "en", vars, &o, err, sizeof err) == 0);
    CHECK_STR(o.subject, "Saved for Anna");
    CHECK(strstr(o.html, "<strong>Anna</strong>") != NULL);
    render_message_free(&o);
    /* pl keeps its own file; a locale without the file falls back to en's saved text */
    CHECK(render_message(r, "test", "pl", vars, &o, err, sizeof err) == 0);
    CHECK(strstr(o.subject, "Saved") == NULL);
    render_message_free(&o);
    CHECK(render_message(r, "test", "de", vars, &o, err, sizeof err) == 0);
    CHECK_STR(o.subject, "Saved for Anna");
    render_message_free(&o);
    /* a bad text: refused with the line of the whole text, the old one stays */
    const char *bad = "---\nsubject: Hi\n---\nOne.\n\n{{#items}}\nopen\n";
    CHECK(render_check_source(bad, err, sizeof err, &line) == -1);
    CHECK(line == 6);
    CHECK(strstr(err, "line 6: unclosed section 'items'") != NULL);
    CHECK(render_set_source(r, "en", "test", bad, err, sizeof err) == -1);
    CHECK(render_check_source("---\nsubject:\n---\nx\n", err, sizeof err, &line) == -1);
    CHECK(line == 2 && strstr(err, "subject is empty") != NULL);
    CHECK(render_check_source("---\npreheader: {{/x}}\nsubject: s\n---\nx\n", err, sizeof err,
                              &line) == -1 && line == 2);
    CHECK(render_set_source(r, "xx", "test", text, err, sizeof err) == -1);
    CHECK(render_set_source(r, "en", "../test", text, err, sizeof err) == -1);
    CHECK(render_message(r, "test", "en", vars, &o, err, sizeof err) == 0);
    CHECK_STR(o.subject, "Saved for Anna");
    render_message_free(&o);
    /* back to the file */
    CHECK(render_set_source(r, "en", "test", NULL, err, sizeof err) == 0);
    CHECK(render_message(r, "test", "en", vars, &o, err, sizeof err) == 0);
    CHECK(strncmp(o.subject, "Test message", 12) == 0);
    render_message_free(&o);
    /* the lists: sorted, templates without partials */
    json_t *names = json_array();
    CHECK(render_templates(r, names) == 0);
    CHECK(json_array_size(names) > 5);
    CHECK_STR(json_string_value(json_array_get(names, 0)), "anniversary");
    for (size_t i = 0; i < json_array_size(names); i++)
        CHECK(json_string_value(json_array_get(names, i))[0] != '_');
    json_decref(names);
    const char *locs[8];
    size_t nl = render_locales(r, locs, 8);
    CHECK(nl == 5 && strcmp(locs[0], "be") == 0 && strcmp(locs[4], "zh") == 0);
    char *file = NULL;
    CHECK(render_source_text(r, "en", "test", &file, err, sizeof err) == 0);
    CHECK(file && strncmp(file, "---\nsubject: Test message", 25) == 0);
    free(file);
    json_decref(vars);
    render_destroy(&r);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !(argc == 3 && (strcmp(argv[1], "--emit") == 0 ||
                                     strcmp(argv[1], "--golden") == 0))) {
        fprintf(stderr, "usage: %s [--emit DIR | --golden DIR]\n", argv[0]);
        return 2;
    }
    if (s_find_templates() != 0) {
        fprintf(stderr, "no templates/: run from the repository root or set "
                "HARK_ROOT\n");
        return 2;
    }
    char err[512];
    s_r = render_new(s_dir, "en", err, sizeof err);
    if (!s_r) {
        fprintf(stderr, "render_new: %s\n", err);
        return 2;
    }
    if (argc == 3) {
        int rc = strcmp(argv[1], "--emit") == 0 ? s_emit(argv[2])
                                                 : s_golden(argv[2]);
        render_destroy(&s_r);
        return rc;
    }
    UNIT_RUN(test_every_template_exists_in_every_locale);
    UNIT_RUN(test_every_template_renders_in_every_locale);
    UNIT_RUN(test_locale_fallback);
    UNIT_RUN(test_bad_names_and_vars_fail);
    UNIT_RUN(test_customer_text_never_becomes_markup);
    UNIT_RUN(test_multiline_customer_text_keeps_its_lines_and_no_line_is_markup);
    UNIT_RUN(test_subject_and_preheader_are_plain_lines);
    UNIT_RUN(test_trusted_markdown_renders_safely);
    UNIT_RUN(test_text_part_structure);
    UNIT_RUN(test_score_row);
    UNIT_RUN(test_text_wraps_at_78);
    UNIT_RUN(test_deeply_nested_markdown);
    UNIT_RUN(test_text_width);
    UNIT_RUN(test_plurals);
    UNIT_RUN(test_limits);
    UNIT_RUN(test_layout);
    UNIT_RUN(test_private_templates);
    UNIT_RUN(test_compose_structure);
    UNIT_RUN(test_compose_rejects_bad_input);
    UNIT_RUN(test_compose_date);
    UNIT_RUN(test_saved_source_replaces_the_file_until_dropped);
    render_destroy(&s_r);
    return UNIT_END();
}
