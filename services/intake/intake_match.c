/*
 * intake_match.c - tagging free text with the taxonomy's keywords.
 *
 * Keywords and texts go through the same normalization from
 * libunistring: full Unicode case folding with compatibility decomposition
 * (u8_casefold, NFKD), then combining marks are dropped and whitespace runs
 * become one space.  So "ДОСТАВКА" = "доставка", "Dostawa" = "dostawa",
 * "ＦＵＬＬＷＩＤＴＨ" = "fullwidth" and "opóźnienie" = "opoznienie".
 * The folded keywords form one Aho-Corasick automaton over bytes: one pass
 * over a text finds every keyword of every reason, whatever their number
 * (200 keywords cost the same scan as 2).  No library in Hark's Debian set
 * offers a multi-pattern matcher for C, so it is written here (about 100
 * lines; the byte alphabet is compressed to the bytes keywords use).
 *
 * Word starts.  Chinese has no spaces, so a keyword in an ideographic script
 * matches anywhere.  In alphabetic scripts a keyword must start a word (the
 * character before it is not a letter or digit), so that a short keyword
 * does not hit inside another word ("late" in "chocolate", "цена" in
 * "оценка"); it may end inside one, which makes a keyword a stem that
 * catches inflections ("доставк" finds "доставка", "доставку").
 */
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "intake.h"

typedef struct {
    int reason;
    int len;       /* folded bytes */
    int wordstart; /* must start a word (alphabetic scripts) */
    int next;      /* the next keyword with the same folded bytes, or -1 */
} s_kw_t;

struct intake_match {
    size_t nreasons;
    int other;
    s_kw_t *kw;
    size_t nkw;
    unsigned char cls[256];   /* byte -> class (0: no keyword uses it) */
    int ncls;
    int32_t *delta;           /* state * ncls -> state */
    int *out;                 /* per state: first keyword ending here, -1 */
    int *dict;                /* per state: next state on the fail chain with output, 0 */
    int nstates, capstates;
};

/* s_fold - the normalized form of s (see the header comment): malloc'd,
 * *outlen bytes (not NUL-terminated); when starts is not NULL it gets a
 * malloc'd flag per output byte: 1 where a word may start.  NULL on
 * invalid UTF-8 or OOM. */
static uint8_t *s_fold(const uint8_t *s, size_t n, size_t *outlen, unsigned char **starts)
{
    size_t fl = 0;
    uint8_t *f = u8_casefold(s, n, NULL, UNINORM_NFKD, NULL, &fl);
    if (!f)
        return NULL;
    uint8_t *out = malloc(fl + 1);
    unsigned char *st = starts ? malloc(fl + 1) : NULL;
    if (!out || (starts && !st)) {
        free(f);
        free(out);
        free(st);
        return NULL;
    }
    size_t o = 0;
    int prev_word = 0, prev_space = 1;
    for (size_t i = 0; i < fl;) {
        ucs4_t cp;
        int k = u8_mbtouc(&cp, f + i, fl - i);
        if (k <= 0)
            break;
        if (uc_is_general_category(cp, UC_CATEGORY_M)) { /* accents */
            i += (size_t)k;
            continue;
        }
        if (uc_is_space(cp) || uc_is_general_category(cp, UC_CATEGORY_Z) || cp == '\n' ||
            cp == '\t') {
            if (!prev_space) {
                if (st)
                    st[o] = 1;
                out[o++] = ' ';
            }
            prev_space = 1;
            prev_word = 0;
            i += (size_t)k;
            continue;
        }
        if (st) {
            st[o] = !prev_word;
            for (int j = 1; j < k; j++)
                st[o + (size_t)j] = 0;
        }
        memcpy(out + o, f + i, (size_t)k);
        o += (size_t)k;
        prev_space = 0;
        prev_word = uc_is_alnum(cp) && !uc_is_property_ideographic(cp);
        i += (size_t)k;
    }
    free(f);
    while (o > 0 && out[o - 1] == ' ') /* keywords: no trailing space */
        o--;
    *outlen = o;
    if (starts)
        *starts = st;
    return out;
}

/* s_new_state - a fresh automaton state (every edge -1); -1 on OOM */
static int s_new_state(intake_match_t *r)
{
    if (r->nstates == r->capstates) {
        int nc = r->capstates ? r->capstates * 2 : 256;
        int32_t *d = realloc(r->delta, (size_t)nc * (size_t)r->ncls * sizeof *d);
        if (!d)
            return -1;
        r->delta = d;
        int *o = realloc(r->out, (size_t)nc * sizeof *o);
        if (!o)
            return -1;
        r->out = o;
        int *di = realloc(r->dict, (size_t)nc * sizeof *di);
        if (!di)
            return -1;
        r->dict = di;
        r->capstates = nc;
    }
    int s = r->nstates++;
    for (int c = 0; c < r->ncls; c++)
        r->delta[(size_t)s * (size_t)r->ncls + (size_t)c] = -1;
    r->out[s] = -1;
    r->dict[s] = 0;
    return s;
}

/* s_build - the Aho-Corasick automaton of every keyword of rs; 0/-1 */
static int s_build(intake_match_t *r, const reasons_t *rs)
{
    size_t nraw = reasons_keyword_count(rs);
    uint8_t **folded = calloc(nraw ? nraw : 1, sizeof *folded);
    size_t *flen = calloc(nraw ? nraw : 1, sizeof *flen);
    int rc = -1;
    if (!folded || !flen)
        goto done;
    /* the alphabet: class 0 for bytes no keyword has */
    memset(r->cls, 0, sizeof r->cls);
    r->ncls = 1;
    for (size_t i = 0; i < nraw; i++) {
        const char *kw = reasons_keyword(rs, i, NULL);
        folded[i] = s_fold((const uint8_t *)kw, strlen(kw), &flen[i], NULL);
        if (!folded[i])
            goto done;
        for (size_t j = 0; j < flen[i]; j++)
            if (!r->cls[folded[i][j]])
                r->cls[folded[i][j]] = (unsigned char)r->ncls++;
    }
    r->kw = calloc(nraw ? nraw : 1, sizeof *r->kw);
    if (!r->kw || s_new_state(r) < 0)
        goto done;
    /* the trie */
    for (size_t i = 0; i < nraw; i++) {
        if (flen[i] == 0)
            continue;
        int s = 0;
        for (size_t j = 0; j < flen[i]; j++) {
            size_t at = (size_t)s * (size_t)r->ncls + r->cls[folded[i][j]];
            if (r->delta[at] < 0) {
                int ns = s_new_state(r);
                if (ns < 0)
                    goto done;
                r->delta[at] = ns; /* after s_new_state: it may move delta */
            }
            s = r->delta[(size_t)s * (size_t)r->ncls + r->cls[folded[i][j]]];
        }
        ucs4_t first;
        u8_mbtouc(&first, folded[i], flen[i]);
        s_kw_t *k = &r->kw[r->nkw];
        reasons_keyword(rs, i, &k->reason);
        k->len = (int)flen[i];
        k->wordstart = uc_is_alnum(first) && !uc_is_property_ideographic(first);
        k->next = r->out[s];
        r->out[s] = (int)r->nkw++;
    }
    /* failure links, breadth first; a missing edge becomes the failure
     * state's edge, so matching is one table lookup per byte */
    int *queue = malloc((size_t)r->nstates * sizeof *queue), *fail = calloc((size_t)r->nstates,
                                                                             sizeof *fail);
    if (!queue || !fail) {
        free(queue);
        free(fail);
        goto done;
    }
    int qh = 0, qt = 0;
    queue[qt++] = 0;
    while (qh < qt) {
        int u = queue[qh++];
        for (int c = 0; c < r->ncls; c++) {
            int32_t *e = &r->delta[(size_t)u * (size_t)r->ncls + (size_t)c];
            if (*e >= 0 && !(u == 0 && *e == 0)) {
                int v = *e;
                int f = u == 0 ? 0 : r->delta[(size_t)fail[u] * (size_t)r->ncls + (size_t)c];
                fail[v] = f;
                r->dict[v] = r->out[f] >= 0 ? f : r->dict[f];
                queue[qt++] = v;
            } else {
                *e = u == 0 ? 0 : r->delta[(size_t)fail[u] * (size_t)r->ncls + (size_t)c];
            }
        }
    }
    free(queue);
    free(fail);
    rc = 0;
done:
    for (size_t i = 0; folded && i < nraw; i++)
        free(folded[i]);
    free(folded);
    free(flen);
    return rc;
}

intake_match_t *intake_match_new(const reasons_t *rs)
{
    intake_match_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->nreasons = reasons_count(rs);
    r->other = reasons_other(rs);
    if (r->nreasons > REASONS_MAX || s_build(r, rs)) {
        intake_match_destroy(&r);
        return NULL;
    }
    return r;
}

void intake_match_destroy(intake_match_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    intake_match_t *r = *self_p;
    free(r->kw);
    free(r->delta);
    free(r->out);
    free(r->dict);
    free(r);
    *self_p = NULL;
}

size_t intake_match_keywords(const intake_match_t *r) { return r->nkw; }

int intake_match_tag(const intake_match_t *r, const char *text, size_t len, int *idx, int max)
{
    if (u8_check((const uint8_t *)text, len))
        return -1;
    size_t n = 0;
    unsigned char *starts = NULL;
    uint8_t *t = s_fold((const uint8_t *)text, len, &n, &starts);
    if (!t)
        return -1;
    unsigned char seen[REASONS_MAX]; /* per reason: found */
    size_t nr = r->nreasons;
    memset(seen, 0, nr);
    int s = 0;
    const size_t ncls = (size_t)r->ncls;
    for (size_t i = 0; i < n && r->nstates > 0; i++) {
        s = r->delta[(size_t)s * ncls + r->cls[t[i]]];
        for (int q = r->out[s] >= 0 ? s : r->dict[s]; q > 0; q = r->dict[q])
            for (int k = r->out[q]; k >= 0; k = r->kw[k].next) {
                const s_kw_t *kw = &r->kw[k];
                size_t start = i + 1 - (size_t)kw->len;
                if ((!kw->wordstart || starts[start]) && (size_t)kw->reason < nr)
                    seen[kw->reason] = 1;
            }
    }
    free(t);
    free(starts);
    int found = 0;
    for (size_t i = 0; i < nr && found < max; i++)
        if (seen[i] && (int)i != r->other)
            idx[found++] = (int)i;
    return found;
}

