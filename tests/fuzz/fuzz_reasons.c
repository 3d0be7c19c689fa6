/*
 * fuzz_reasons.c - the reasons matcher and the customer tokens
 * (services/intake/intake_match.c, services/common/customer_token.c).
 *
 * The input is complaint text, tagged against config/reasons.conf (loaded
 * once, from $HARK_ROOT or the current directory).  Properties: bad UTF-8
 * is refused, anything else gives distinct reason indexes in range, never
 * `other`, the same on a second run and the same set when fewer are asked
 * for first.  Then the input, cut at its first line break, is a customer
 * id: a token made for it checks back to the same id and locale, a token
 * changed by one character does not check, and the input taken as a token
 * (garbage, mostly) is refused or reads as a well-formed id and locale.
 */
#include "fuzz.h"

#include <unistr.h>

#include "customer_token.h"
#include "intake.h"
#include "reasons.h"

#define S_KEY "fuzz-secret-key-0123456789abcdef"

static reasons_t *s_r;
static intake_match_t *s_m;

static void s_report(const char *msg, void *arg)
{
    (void)arg;
    fprintf(stderr, "reasons.conf: %s\n", msg);
}

static void s_load(void)
{
    char path[4096];
    const char *root = getenv("HARK_ROOT");
    snprintf(path, sizeof path, "%s/config/reasons.conf", root && *root ? root : ".");
    int errors = 0;
    s_r = reasons_load(path, s_report, NULL, &errors);
    FUZZ_CHECK(s_r != NULL && errors == 0 && reasons_count(s_r) > 1);
    s_m = intake_match_new(s_r);
    FUZZ_CHECK(s_m != NULL);
}

static void s_check_tag(const char *text, size_t len)
{
    int idx[64], again[64], few[64];
    int n = intake_match_tag(s_m, text, len, idx, 64);
    if (u8_check((const uint8_t *)text, len) != NULL) {
        FUZZ_CHECK(n == -1);
        return;
    }
    FUZZ_CHECK(n >= 0 && n <= 64);
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(idx[i] >= 0 && (size_t)idx[i] < reasons_count(s_r));
        FUZZ_CHECK(idx[i] != reasons_other(s_r));
        FUZZ_CHECK(i == 0 || idx[i] > idx[i - 1]);
    }
    FUZZ_CHECK(intake_match_tag(s_m, text, len, again, 64) == n);
    FUZZ_CHECK(memcmp(idx, again, (size_t)n * sizeof *idx) == 0);
    if (n > 1) {
        FUZZ_CHECK(intake_match_tag(s_m, text, len, few, 1) == 1 && few[0] == idx[0]);
    }
}

static void s_check_token(const char *s)
{
    char id[129], locale[36];
    const char *nl = strchr(s, '\n');
    char cid[200];
    snprintf(cid, sizeof cid, "%.*s", (int)(nl ? nl - s : (long)strlen(s)), s);
    const char *loc = nl ? nl + 1 : "pl";
    char *tok = customer_token_make(S_KEY, cid, loc);
    if (tok) {
        FUZZ_CHECK(customer_token_check(S_KEY, tok, id, locale) == 0);
        FUZZ_CHECK(strcmp(id, cid) == 0 && strcmp(locale, loc) == 0);
        FUZZ_CHECK(customer_token_check("another-key-0123456789abcdef", tok, id, locale) == -1);
        size_t tl = strlen(tok);
        for (size_t i = 0; i < tl; i += 1 + tl / 8) {
            char saved = tok[i];
            tok[i] = saved == 'A' ? 'B' : 'A';
            FUZZ_CHECK(customer_token_check(S_KEY, tok, id, locale) == -1);
            tok[i] = saved;
        }
        free(tok);
    } else {
        FUZZ_CHECK(!*cid || strlen(cid) > 128 || strlen(loc) >= 36);
    }
    if (customer_token_check(S_KEY, s, id, locale) == 0)
        FUZZ_CHECK(*id && strlen(id) <= 128 && strlen(locale) < 36 && !strchr(id, '\n'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_r)
        s_load();
    if (size > 65536)
        return 0;
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    s_check_tag(s, size);
    if (strlen(s) == size)
        s_check_token(s);
    free(s);
    return 0;
}
