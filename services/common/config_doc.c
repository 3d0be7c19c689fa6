/*
 * config_doc.c - hark.conf(5), generated from config_table[].
 *
 * Each setting prints its section, key, type, default, bounds, choices and
 * help, straight from the table; the prose around them (what a section is
 * for, the value syntax) is the only hand-written part.  `make man` builds
 * this file alone, with CONFIG_DOC_MAIN, into a program that writes the page,
 * so producing the manual needs no library and no running instance.
 */
#include "config_doc.h"

#include <string.h>

#include "config.h"

/* What a section is for, where the one-line help of its keys is not enough. */
static const struct {
    const char *section;
    const char *text;
} s_section_notes[] = {
    {"hark", "The whole instance.  Keys not set in the file are generated on first start "
             "into \\fIstate_dir\\fR/keys/ (mode 0600): \\fBtoken_key\\fR into token.key.  "
             "Services on other hosts must share the same token_key."},
    {"harkd", "The supervisor, harkd(8)."},
    {"journal", "The event log, hark-journal(8).  With \\fBsynchronous = full\\fR an event "
                "acknowledged by the journal (and a 202 from the gateway) survives a power "
                "loss; with \\fBnormal\\fR it survives any process crash."},
    {"gateway", "HTTP in, hark-gateway(8) and hark-api(7).  An unset \\fBingest_key\\fR or "
                "\\fBadmin_key\\fR is generated on first start into "
                "\\fIstate_dir\\fR/keys/ingest.key or admin.key; \\fBhark keys\\fR shows both.  "
                "\\fBlisten\\fR takes [::1]:8080 for IPv6."},
    {"mailer", "Renders and delivers every email, hark-mailer(8)."},
    {"smtp", "Where hark-mailer(8) delivers.  With \\fBhost\\fR empty, messages are written "
             "into a Maildir under the state directory, so a machine without a mail server "
             "still runs Hark."},
    {"survey", "NPS surveys, hark-survey(8): the settings of the shipped post-purchase "
               "campaign until a campaign.saved event for it arrives, and the defaults of "
               "every campaign's settings it leaves out."},
    {"milestone", "Birthday and anniversary messages, hark-milestone(8).  \\fBtime\\fR and "
                  "\\fBanniversary_from\\fR are the defaults of the settings a milestone.saved "
                  "event leaves out.  \\fBcatch_up\\fR is never less than \\fBinterval\\fR, so 0 "
                  "means on time only; a coupon prefix is 1 to 16 letters and digits."},
    {"intake", "Complaint and cancellation intake, hark-intake(8).  The reasons and teams "
               "themselves are in the file \\fBreasons\\fR names (see hark-intake(8)); "
               "restart the gateway and hark-intake after editing it."},
    {"loop", "Close the loop, hark-loop(8)."},
    {"console", "Hark Console, the staff's web pages, hark-console(8).  Staff accounts are "
                "made with \\fBhark user add\\fR, see hark(1)."},
    {"counter", "A test-only consumer (tests/services/counter), used by the crash tests; "
                "not started unless listed in [hark] services."},
};

/* s_put - text with roff's special characters made literal */
static void s_put(FILE *out, const char *s)
{
    int bol = 1;
    for (; *s; s++) {
        if (bol && (*s == '.' || *s == '\''))
            fputs("\\&", out);
        bol = 0;
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
        if (*s == '\n')
            bol = 1;
    }
}

/* s_duration - milliseconds as the file writes them: 0, 500ms, 90s, 5m, 2h, 7d */
static void s_duration(FILE *out, long long ms)
{
    static const struct {
        long long unit;
        const char *suffix;
    } units[] = {{86400000LL, "d"}, {3600000LL, "h"}, {60000LL, "m"}, {1000LL, "s"}, {1, "ms"}};
    if (ms == 0) {
        fputs("0", out);
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (ms % units[i].unit == 0) {
            fprintf(out, "%lld%s", ms / units[i].unit, units[i].suffix);
            return;
        }
}

/* s_size - bytes as the file writes them: 512, 64k, 4M */
static void s_size(FILE *out, long long bytes)
{
    if (bytes != 0 && bytes % (1LL << 20) == 0)
        fprintf(out, "%lldM", bytes >> 20);
    else if (bytes != 0 && bytes % 1024 == 0)
        fprintf(out, "%lldk", bytes >> 10);
    else
        fprintf(out, "%lld", bytes);
}

/* s_type - the kind of value, as a reader of the file calls it; bounds say
 * whether min and max mean anything for it */
static const char *s_type(config_type_t type, int *bounds)
{
    *bounds = 0;
    switch (type) {
    case CFG_STR: return "text";
    case CFG_INT: *bounds = 1; return "integer";
    case CFG_BOOL: return "yes or no";
    case CFG_DURATION: *bounds = 1; return "duration";
    case CFG_SIZE: *bounds = 1; return "size";
    case CFG_ENUM: return "one word of";
    case CFG_ENDPOINT: return "ZeroMQ endpoint";
    case CFG_LISTEN: return "host:port";
    case CFG_LIST: return "list";
    case CFG_ADDRS: *bounds = 1; return "IPv4 or IPv6 addresses, how many";
    case CFG_PATH: return "path";
    case CFG_EMAIL: return "email address";
    case CFG_URL: return "URL";
    case CFG_TIME: return "time of day (HH:MM)";
    case CFG_TZ: return "time zone (IANA name, e.g. Europe/Warsaw)";
    case CFG_HOURS: return "hours (START-END, e.g. 09:00-17:00)";
    case CFG_DAYS: return "weekdays (e.g. mon-fri, sat sun)";
    case CFG_WORD: *bounds = 1; return "letters and digits, length";
    default: return "value";
    }
}

/* s_bound - one bound in the type's own syntax */
static void s_bound(FILE *out, config_type_t type, long long v)
{
    if (type == CFG_DURATION)
        s_duration(out, v);
    else if (type == CFG_SIZE)
        s_size(out, v);
    else
        fprintf(out, "%lld", v);
}

/* s_setting - one .TP entry: key = default, then type, bounds and help */
static void s_setting(FILE *out, const config_setting_t *c)
{
    int bounds;
    const char *type = s_type(c->type, &bounds);

    fputs(".TP\n\\fB", out);
    s_put(out, c->key);
    fputs("\\fR = ", out);
    if (!c->def)
        fputs("\\fI(unset)\\fR", out);
    else if (!*c->def)
        fputs("\\fI(empty)\\fR", out);
    else {
        fputs("\\fB", out);
        s_put(out, c->def);
        fputs("\\fR", out);
    }
    fputs("\n(", out);
    s_put(out, type);
    if (c->choices) {
        fputs(" ", out);
        s_put(out, c->choices);
    }
    if (bounds && c->min < c->max) {
        fputs(", ", out);
        s_bound(out, c->type, c->min);
        fputs(" to ", out);
        s_bound(out, c->type, c->max);
    }
    fputs(")\n", out);
    if (c->help) {
        s_put(out, c->help);
        fputs("\n", out);
    }
}

static const char s_head[] =
    ".\\\" Generated by config_doc_man() from services/common/config_table.c: do not edit.\n"
    ".TH HARK.CONF 5 \"\" Hark \"Hark Manual\"\n"
    ".nh\n"
    ".SH NAME\n"
    "hark.conf \\- configuration file of Hark\n"
    ".SH SYNOPSIS\n"
    ".B config/hark.conf\n"
    ".SH DESCRIPTION\n"
    "One INI file configures every Hark process: harkd(8) reads it, passes it to each service "
    "it starts, and hark(1) reads it to find them (\\fB\\-c\\fR \\fIFILE\\fR, default "
    "config/hark.conf or \\fB$HARK_CONFIG\\fR).\n"
    ".PP\n"
    "Every setting is declared once, in services/common/config_table.c, with its type, default "
    "and bounds; this page is generated from that table.  "
    "A service refuses to start on any error in the file, and \\fBhark check\\-config\\fR lists "
    "every error as \\fIFILE\\fR:\\fILINE\\fR: [\\fIsection\\fR] \\fIkey\\fR: \\fImessage\\fR.  "
    "An unknown section or key is an error.\n"
    ".PP\n"
    "Lines are \\fIkey\\fR = \\fIvalue\\fR under a [\\fIsection\\fR] header; lines starting with "
    "; or # are comments.  A line is at most 198 characters (libinih's buffer).\n"
    ".SS Values\n"
    ".TP\n.B duration\n"
    "A number and a unit: 500ms, 90s, 5m, 2h, 7d; 0 alone.\n"
    ".TP\n.B size\n"
    "Bytes, or with k or M: 65536, 64k, 4M.\n"
    ".TP\n.B yes or no\n"
    "yes, no, true, false, on, off, 1, 0.\n"
    ".TP\n.B ZeroMQ endpoint\n"
    "ipc://\\fIPATH\\fR (the defaults, under the state directory) or "
    "tcp://\\fIHOST\\fR:\\fIPORT\\fR, so services can run on other hosts; every tcp:// socket "
    "uses CURVE with the keypairs of \\fB[hark] curve_keys\\fR (harkd(8), ACROSS HOSTS).\n"
    ".TP\n.B list\n"
    "Words separated by spaces or commas.\n"
    ".TP\n.B {state_dir}\n"
    "In any value or default, replaced by the absolute state directory.\n"
    ".SH SETTINGS\n"
    "Each entry reads \\fIkey\\fR = \\fIdefault\\fR, then the kind of value and its bounds.\n";

static const char s_tail[] =
    ".SH FILES\n"
    ".TP\n.B config/hark.conf\n"
    "the shipped configuration\n"
    ".TP\n.B config/reasons.conf\n"
    "the reason taxonomy, see hark\\-intake(8)\n"
    ".SH SEE ALSO\n"
    ".BR hark (1),\n"
    ".BR harkd (8),\n"
    ".BR hark\\-api (7),\n"
    ".BR hark\\-events (7)\n";

int config_doc_man(FILE *out)
{
    const char *section = NULL;

    fputs(s_head, out);
    for (const config_setting_t *c = config_table; c->section; c++) {
        if (!section || strcmp(section, c->section) != 0) {
            section = c->section;
            fputs(".SS [", out);
            s_put(out, section);
            fputs("]\n", out);
            for (size_t i = 0; i < sizeof s_section_notes / sizeof *s_section_notes; i++)
                if (strcmp(s_section_notes[i].section, section) == 0)
                    fprintf(out, "%s\n", s_section_notes[i].text);
        }
        s_setting(out, c);
    }
    fputs(s_tail, out);
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

#ifdef CONFIG_DOC_MAIN
/* `make man`: this file and config_table.c alone, writing the page to stdout */
int main(void)
{
    return config_doc_man(stdout) == 0 ? 0 : 1;
}
#endif
