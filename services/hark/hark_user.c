/*
 * hark_user.c - `hark user add|list|disable|reset`: the staff accounts of
 * Hark Console, kept by hark-console in console.db and changed only through
 * its [console] control socket (CONSOLE_USER_*; why not the journal: see
 * services/console/console_control.c).
 *
 * The password is read from standard input (its first line; with no echo
 * when that is a terminal), never from the command line, where `ps` and the
 * shell's history would show it.  It is hashed here with Argon2id
 * (libsodium's crypto_pwhash_str) and only the hash is sent.  With --link
 * no password is read: hark-console makes a one-time link ([console]
 * public_url/welcome/TOKEN, 24 hours, single use) and this prints it, for
 * the admin to give the person, who chooses their own password there.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "hark.h"
#include "mailbox.h"
#include "proto.h"

#define S_PASSWORD_MIN 10
#define S_PASSWORD_MAX 1024

/* s_password - read the password from stdin into pw (sodium_malloc'd by
 * the caller, S_PASSWORD_MAX + 2 bytes); 0, or 2 having said why */
static int s_password(char *pw)
{
    int tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty && tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        fputs("Password: ", stderr);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    } else {
        tty = 0;
    }
    char *got = fgets(pw, S_PASSWORD_MAX + 2, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!got) {
        fprintf(stderr, "hark: user: give the password on standard input\n");
        return 2;
    }
    size_t n = strcspn(pw, "\r\n");
    if (pw[n] == '\0' && n > S_PASSWORD_MAX) {
        fprintf(stderr, "hark: user: the password is longer than %d bytes\n", S_PASSWORD_MAX);
        return 2;
    }
    pw[n] = '\0';
    if (n < S_PASSWORD_MIN) {
        fprintf(stderr, "hark: user: the password needs at least %d characters\n",
                S_PASSWORD_MIN);
        return 2;
    }
    return 0;
}

/* s_hash - the Argon2id hash of a password read from stdin into hash
 * (crypto_pwhash_STRBYTES); 0, or the exit code having said why */
static int s_hash(char *hash)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "hark: user: libsodium did not start\n");
        return 1;
    }
    char *pw = sodium_malloc(S_PASSWORD_MAX + 2);
    if (!pw)
        return 1;
    int rc = s_password(pw);
    if (rc == 0 && crypto_pwhash_str(hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                     crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        fprintf(stderr, "hark: user: out of memory for Argon2id\n");
        rc = 1;
    }
    sodium_free(pw);
    return rc;
}

/* s_print_list - `hark user list`'s table */
static void s_print_list(const json_t *r)
{
    printf("%-24s %-9s %-7s %-9s %-8s %s\n", "NAME", "ROLE", "LOCALE", "STATE", "SESSIONS",
           "LAST SIGN-IN");
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(r, "users"), i, u) {
        const char *loc = json_string_value(json_object_get(u, "locale"));
        const char *last = json_string_value(json_object_get(u, "last_login_at"));
        printf("%-24s %-9s %-7s %-9s %-8lld %s\n", json_string_value(json_object_get(u, "name")),
               json_string_value(json_object_get(u, "role")), loc ? loc : "-",
               json_is_true(json_object_get(u, "disabled")) ? "disabled" : "enabled",
               (long long)json_integer_value(json_object_get(u, "sessions")), last ? last : "-");
    }
}

/* s_print_link - a one-time link of reply r, and how long it works */
static void s_print_link(const json_t *r)
{
    const char *link = json_string_value(json_object_get(r, "link"));
    const char *until = json_string_value(json_object_get(r, "expires_at"));
    if (link)
        printf("one-time link (works once, until %s):\n%s\n", until ? until : "?", link);
}

/* s_usage - the user commands' usage */
static int s_usage(void)
{
    fprintf(stderr, "usage: hark user add NAME --role admin|support|marketer [--locale L]"
                    " [--email ADDR] [--link]   (password on stdin, or a one-time link)\n"
                    "       hark user set NAME --email ADDR   (\"\" removes it)\n"
                    "       hark user list [--json]\n"
                    "       hark user disable NAME\n"
                    "       hark user reset NAME [--link]   (new password on stdin, or a"
                    " one-time link)\n");
    return 2;
}

int hark_user(cli_t *cli)
{
    const char *ep = config_get(cli->cfg, "console", "control");
    const char *sub = cli->argc > 0 ? cli->argv[0] : "";
    const char *name = cli->argc > 1 ? cli->argv[1] : NULL;
    char by[80], hash[crypto_pwhash_STRBYTES];
    hark_by(by, sizeof by);
    if (strcmp(sub, "list") == 0) {
        int as_json = cli->argc == 2 && strcmp(cli->argv[1], "--json") == 0;
        if (cli->argc > 2 || (cli->argc == 2 && !as_json))
            return s_usage();
        return hark_show(cli, ep, CMD_CONSOLE_USER_LIST, CMD_CONSOLE_USER_LIST_OK, json_object(),
                         "hark-console", "user list", as_json, s_print_list);
    }
    if (!name || name[0] == '-')
        return s_usage();
    int rc = 0;
    json_t *r = NULL;
    if (strcmp(sub, "add") == 0) {
        const char *role = NULL, *locale = NULL, *email = NULL;
        int link = 0;
        for (int i = 2; i < cli->argc; i++) {
            const char *o = cli->argv[i], *v = i + 1 < cli->argc ? cli->argv[i + 1] : NULL;
            if (strcmp(o, "--role") == 0 && v)
                role = cli->argv[++i];
            else if (strcmp(o, "--locale") == 0 && v)
                locale = cli->argv[++i];
            else if (strcmp(o, "--email") == 0 && v)
                email = cli->argv[++i];
            else if (strcmp(o, "--link") == 0)
                link = 1;
            else
                return s_usage();
        }
        if (!role || (strcmp(role, "admin") && strcmp(role, "support") &&
                      strcmp(role, "marketer"))) {
            fprintf(stderr, "hark: user add: --role admin, support or marketer\n");
            return 2;
        }
        if (email && !mailbox_valid(email, strlen(email), 0)) {
            fprintf(stderr, "hark: user add: --email must be an address like name@example.com\n");
            return 2;
        }
        if (!link && (rc = s_hash(hash)) != 0)
            return rc;
        json_t *req = json_pack("{s:s,s:s,s:s}", "name", name, "role", role, "by", by);
        if (email)
            json_object_set_new(req, "email", json_string(email));
        json_object_set_new(req, link ? "link" : "hash", link ? json_true() : json_string(hash));
        if (locale)
            json_object_set_new(req, "locale", json_string(locale));
        r = hark_ask(cli, ep, CMD_CONSOLE_USER_ADD, CMD_CONSOLE_USER_ADD_OK, req, "hark-console",
                     "user add", &rc);
        json_decref(req);
        if (r)
            printf("user %s added (%s)\n", name, role);
        s_print_link(r);
    } else if (strcmp(sub, "set") == 0) {
        if (cli->argc != 4 || strcmp(cli->argv[2], "--email") != 0)
            return s_usage();
        const char *email = cli->argv[3];
        if (*email && !mailbox_valid(email, strlen(email), 0)) {
            fprintf(stderr, "hark: user set: --email must be an address like name@example.com"
                            " (or \"\" to remove it)\n");
            return 2;
        }
        json_t *req = json_pack("{s:s,s:s,s:s}", "name", name, "email", email, "by", by);
        r = hark_ask(cli, ep, CMD_CONSOLE_USER_SET, CMD_CONSOLE_USER_SET_OK, req, "hark-console",
                     "user set", &rc);
        json_decref(req);
        if (r && *email)
            printf("user %s: email %s\n", name, email);
        else if (r)
            printf("user %s: no email\n", name);
    } else if (strcmp(sub, "disable") == 0 || strcmp(sub, "reset") == 0) {
        int reset = sub[0] == 'r';
        int link = reset && cli->argc == 3 && strcmp(cli->argv[2], "--link") == 0;
        if (cli->argc != 2 + link)
            return s_usage();
        if (reset && !link && (rc = s_hash(hash)) != 0)
            return rc;
        json_t *req = json_pack("{s:s,s:s}", "name", name, "by", by);
        if (reset)
            json_object_set_new(req, link ? "link" : "hash",
                                link ? json_true() : json_string(hash));
        r = hark_ask(cli, ep, reset ? CMD_CONSOLE_USER_RESET : CMD_CONSOLE_USER_DISABLE,
                     reset ? CMD_CONSOLE_USER_RESET_OK : CMD_CONSOLE_USER_DISABLE_OK, req,
                     "hark-console", reset ? "user reset" : "user disable", &rc);
        json_decref(req);
        if (r)
            printf("user %s %s; %lld session%s ended\n", name,
                   !reset ? "disabled" : link ? "has no password until the link is used"
                                              : "has a new password",
                   (long long)json_integer_value(json_object_get(r, "sessions_ended")),
                   json_integer_value(json_object_get(r, "sessions_ended")) == 1 ? "" : "s");
        s_print_link(r);
    } else {
        return s_usage();
    }
    sodium_memzero(hash, sizeof hash);
    json_decref(r);
    return rc;
}
