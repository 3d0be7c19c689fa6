/*
 * intake_tagger.c - the reason tagger: a linear classifier over words and
 * character n-grams (LIBLINEAR), trained at start from labelled examples
 * ([intake] examples, the staff's retags in intake.db), with the
 * taxonomy's keywords as strong evidence.
 *
 * Why a classifier.  Keywords alone got 31 of 40 held-out complaints in
 * five languages right; every miss was `other` ("the parcel took almost a
 * month", "charged twice for one order", "the agent hung up") and a
 * promoter's "Lovely tea, fast delivery" became shipping_delay.  People do
 * not write the taxonomy's words; they write texts that resemble other
 * people's texts.  A classifier over the examples generalises from those.
 *
 * Features (s_features).  The text is folded as the keyword matcher folds
 * it (libunistring: case folding with compatibility decomposition, NFKD,
 * then combining marks dropped), so "ДОСТАВКА" = "доставка" and
 * "opóźnienie" = "opoznienie" (people type Polish and Belarusian without
 * their diacritics too; ł, which has no decomposition, is l); NFKC alone
 * would keep the accents apart.  Then:
 *  - word unigrams and bigrams ("charged twice");
 *  - character 3-5-grams of each word padded with a space, which carry
 *    Russian, Polish and Belarusian inflection ("доставк" is in "доставку",
 *    "доставки", "дастаўка" shares "аўк", ...);
 *  - the same n-grams of a Cyrillic word's skeleton (s_skeleton), where
 *    Belarusian "дастаўка" meets Russian "доставка": the two languages
 *    share most roots, so each lends the other its examples
 *    (cross-validation: ru +1.5, be +2 points);
 *  - the word's first 4, 5 and 6 letters (when it is longer): a crude stem
 *    that ties "opóźnienie" to "opóźniona" and "дастаўка" to "дастаўкі";
 *  - for Chinese, which has no spaces, character 1-2-grams of each run of
 *    ideographs (one character is often a word: 贵 expensive, 碎 broken;
 *    3-grams too were 1 point worse in cross-validation).
 * No stemmer: a suffix-stripping stem (one list of Russian and Belarusian
 * endings, one of Polish and English; Snowball has neither Belarusian
 * nor Polish) as a further feature, alone and in stem pairs, left 5-fold
 * cross-validation of 5,558 examples at 83.1% and the tuning set at 95.0%:
 * the n-grams and prefixes already carry the inflection.  Nor did word
 * features counted twice (83.1%, 82.9% three times) or a keyword boost of
 * 1.5 or 3 (83.0%): what moved the tagger was examples of the paraphrase
 * it missed.  Nor, later, features of their own for the two words after
 * a negation ("never late", "ни разу не опоздали": 84.2% against 84.1%
 * of 7,311 examples, the tuning set unchanged) or for the words after a
 * "but" ("lovely tea, but ...": 84.1%), or C of 30 or 50 (83.8%, 83.9%).
 * Apostrophes inside words are dropped ("сям'я", "don't").  The features
 * are binary and the vector is scaled to unit length, so a long text does
 * not shout.  The keywords (intake_match.c) are no feature: as one (value
 * 1 beside n-grams of about 0.1) the model leaned on them, and learned to
 * trust "delivery" in a promoter's "fast delivery": cross-validation was
 * 2 points worse.  They weigh in when tagging (below).
 *
 * Hashing.  Each feature is hashed (FNV-1a over its code points) into a
 * fixed space of 2^18 dimensions instead of being kept in a vocabulary:
 * no dictionary to build, store or look up (one multiply per code point),
 * a learned example with new words needs no new index, and the model's
 * size is fixed whatever the examples.  Collisions at a few tens of
 * thousands of distinct n-grams in 262,144 buckets are rare, and
 * training only sees the buckets its examples use (s_train).
 *
 * The model.  L2-regularized logistic regression, one against the rest
 * per class: unlike the SVM solvers it gives calibrated probabilities,
 * which is what a confidence threshold needs.  Solved in the dual
 * (LIBLINEAR's L2R_LR_DUAL, stopping at TRAIN_EPS): the same model as the
 * primal Newton solver to 0.1 point of cross-validation, three times
 * faster at the same eps on the ~4,000 shipped examples (0.3-0.5 s
 * under ASan).  LIBLINEAR trains the classes one after another (Debian's
 * build has no OpenMP), so s_train_ovr trains each class's own problem on
 * TRAIN_THREADS threads and puts the model together as LIBLINEAR does: the
 * same sub-problems, each with its own shuffling stream (rand, below), so
 * a model does not depend on the threads.  Classes are the reasons that
 * have examples plus `praise` (tests/bench/tagger_bench.py measures the
 * training), plus one for the examples of reasons the taxonomy lacks
 * ("elsewhere", below).
 *
 * Praise in a taxonomy of its own.  A taxonomy with three reasons learns
 * those three from the shipped examples; were the others' examples
 * dropped, praise would be learned against three kinds of complaint only,
 * and anything unlike them would look like praise ("Paket VERSPÄTET" was
 * 62% praise in a two-reason taxonomy, "the box was empty" 19% in a
 * three-reason one: a complaint taken for praise opens no case and is
 * lost).  So they stay (one in ELSEWHERE_EVERY), as one class of their
 * own: complaints, not praise, whose reason this taxonomy lacks.  It is never a tag (its
 * texts get the best reason the taxonomy has, or `other`); it only keeps
 * praise honest.  The shipped taxonomy has every reason: no such class.
 *
 * Combining (intake_tagger_tag).  The confidence of a class is its own
 * one-against-the-rest probability (the sigmoid of its decision value),
 * not predict_probability's share of the sum: a share grows as a
 * taxonomy gets fewer reasons, so one threshold could not fit them all.
 * A keyword is evidence: a reason whose keywords the text has gets its
 * odds multiplied by KW_BOOST and is at least the threshold.  So "late
 * delivery" leans to shipping_delay where the examples are thin, a
 * taxonomy's keywords tag a language the examples lack ("Paket
 * VERSPÄTET", German keyword verspätet), but a promoter's "Lovely tea,
 * fast delivery", which the examples make praise with high probability,
 * stays praise.  Then, best first:
 *  - praise when praise is the most probable class, more probable than a
 *    reason elsewhere, and at least the threshold and PRAISE_MIN: no
 *    reason;
 *  - the most probable reason when at least the threshold ([intake]
 *    tag_threshold, 2% by default), followed by any other reason at least
 *    SECOND_MIN, or SECOND_KW_MIN when its keywords are in the text (a
 *    comment about delivery and damage has both);
 *  - otherwise `other` (also when `other`, learned from greetings and
 *    questions, is the most probable), marked for review: staff give it
 *    its reason, and that retag becomes an example (intake_case.c).
 * The threshold: 5-fold cross-validation of the 4,011 shipped examples
 * was 79.9% right at 1%, 80.2% at 2%, 79.7% at 3% (75.0% at 8% with
 * older features): a real complaint the model is
 * unsure of is still far likelier its best reason than `other`, which
 * the examples teach (greetings, questions, newsletters) and which wins
 * as the most probable class.  (Cross-validation here is harsh: the
 * examples come from two writers who each made them differ; the held-out
 * lists tests/unit/tagger_heldout.tsv and tests/heldout/complaints.tsv,
 * written by others, were 96.6% and 88.1% right with this combining and
 * the features before the skeleton; make test asserts at least 80% on
 * the latter.)
 * With no examples for the taxonomy the keywords alone tag, as before.
 */
#include <linear.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "intake.h"
#include "log.h"
#include "reason_examples.h"

#define DIM_BITS 18
#define DIM (1 << DIM_BITS)  /* hashed features: index 1..DIM; DIM + 1 the bias */
#define KW_BOOST 2.0          /* odds a keyword hit multiplies its reason's by: 5-fold
                                 cross-validation of 4,011 examples (before the skeleton) gave
                                 78.7% at 1.5, 78.9% at 2, 78.7% at 3; with the keywords as
                                 features too, a boost of 6 and praise needing 30%, 75.9% */
#define PRAISE_MIN 0.10       /* praise needs at least this: a complaint the model can tell
                                 little of (every class a few percent) is no praise, which
                                 opens no case.  Cross-validation of the shipped examples:
                                 80.2% -> 79.8% at 10%; 30% cost a point more */
#define ELSEWHERE_EVERY 3     /* one in this many examples of reasons elsewhere is learned:
                                 all of them made a small taxonomy's training 3 times slower,
                                 one in 8 made "the box was empty" praise again, and so did
                                 one in 4 once the examples had 1,351 more, praise among them
                                 (the balance is praise against complaints); one in 3 trains
                                 a three-reason taxonomy in about 0.25 s */
#define SECOND_MIN 0.20       /* probability a further reason needs to be listed */
#define SECOND_KW_MIN 0.10    /* ... when its keywords are in the text: with a boost of 2
                                 rather than 6, "too expensive and the delivery was late"
                                 had price at 19% */
#define LR_C 100.0            /* inverse regularization: 5-fold cross-validation of 4,011
                                 examples gave 75.5% at 8, 78.0% at 30, 78.9% at 100, 78.4% at
                                 300; of 5,904, 82.4% at 30, 82.7% at 50, 82.6% at 100 */
#define TRAIN_EPS 2.0        /* the dual solver's stopping tolerance: with 9,515 examples,
                                 5-fold cross-validation was 86.3% at 0.3, 86.3% at 0.5,
                                 86.2% at 1.0, and the whole start 2.8, 2.3 and 1.8 s of CPU
                                 (on a loaded machine); with 7,311, 84.1% at 0.1 and at 0.3.
                                 The examples grew by two fifths; training must stay under
                                 2 s.  With 15,062 (quiet 2-vCPU machine, two threads): 87.6%
                                 and 1.4-1.9 s of training at 1.0, 87.4% and 1.1-1.3 s at 2.0,
                                 reading them 0.46-0.6 s more */
#define NGRAM_MIN 3           /* character n-grams of words: 3..5 (with 2-grams too,
                                 cross-validation was 0.7 point worse) */
#define NGRAM_MAX 5
#define PREFIX_MIN 4          /* word prefixes of PREFIX_MIN..PREFIX_MAX letters: a stem */
#define PREFIX_MAX 6
#ifndef TRAIN_THREADS
#define TRAIN_THREADS 2       /* the classes' models are trained on this many threads (s_train) */
#endif
#define RAND_SEED 1           /* each class's shuffling stream starts here (rand) */

typedef struct {
    int label;                 /* a reason index, or the praise label */
    char locale[16];
    char *text;                /* for cross-validation */
    struct feature_node *x;    /* ends with index -1 */
} s_example_t;

struct intake_tagger {
    const reasons_t *r;          /* borrowed */
    const intake_match_t *m;     /* borrowed */
    int nreasons;
    int praise;                  /* praise's label: nreasons; praise + 1: a reason elsewhere */
    double threshold;
    long nelsewhere;             /* examples of reasons elsewhere seen */
    s_example_t *ex;
    size_t nex, capex;
    struct model *model;
    int nclass;
    int *labels;                 /* the model's class -> label */
    int *class_of;               /* label -> the model's class, or -1 */
    int32_t *slot;               /* hashed index -> the model's index, 0: unseen */
    int nslots;                  /* the model's features (bias: nslots + 1) */
};

/* s_quiet - LIBLINEAR's progress lines go nowhere (logs are one line each) */
static void s_quiet(const char *s) { (void)s; }

/* --- features ------------------------------------------------------------ */

typedef struct {
    uint32_t *h;  /* feature indices, 1..DIM */
    size_t n, cap;
} s_feats_t;

static int s_push(s_feats_t *f, uint64_t hash)
{
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 256;
        uint32_t *h = realloc(f->h, nc * sizeof *h);
        if (!h)
            return -1;
        f->h = h;
        f->cap = nc;
    }
    f->h[f->n++] = (uint32_t)(hash & (DIM - 1)) + 1;
    return 0;
}

#define FNV_OFF 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t s_hash(uint64_t h, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= FNV_PRIME;
    }
    return h;
}

/* s_hash_run - the hash of kind followed by cp[0..n) */
static uint64_t s_hash_run(uint32_t kind, const ucs4_t *cp, size_t n)
{
    uint64_t h = s_hash(FNV_OFF, kind);
    for (size_t i = 0; i < n; i++)
        h = s_hash(h, cp[i]);
    return h;
}

/* s_ngrams - character lo..hi-grams of cp[0..n) as features of kind */
static int s_ngrams(s_feats_t *f, uint32_t kind, const ucs4_t *cp, size_t n, size_t lo,
                    size_t hi)
{
    for (size_t k = lo; k <= hi; k++)
        for (size_t i = 0; i + k <= n; i++)
            if (s_push(f, s_hash_run(kind + (uint32_t)k, cp + i, k)))
                return -1;
    return 0;
}

/* s_skeleton - the Cyrillic word w[0..n) (padded) as Russian and
 * Belarusian share it, into sk (room for n): і ы -> и, э ё -> е, о -> а
 * (Belarusian writes the unstressed о as а), ў -> у, ь ъ dropped, so
 * "дастаўка" and "доставка" are both "дастаука", "цэны" and "цены"
 * "цени".  0 when w has no Cyrillic letter. */
static size_t s_skeleton(const ucs4_t *w, size_t n, ucs4_t *sk)
{
    size_t o = 0;
    int cyrillic = 0;
    for (size_t i = 0; i < n; i++) {
        ucs4_t c = w[i];
        cyrillic |= c >= 0x400 && c <= 0x4ff;
        if (c == 0x456 || c == 0x44b)
            c = 0x438;
        else if (c == 0x44d || c == 0x451)
            c = 0x435;
        else if (c == 0x43e)
            c = 0x430;
        else if (c == 0x45e)
            c = 0x443;
        else if (c == 0x44c || c == 0x44a)
            continue;
        sk[o++] = c;
    }
    return cyrillic ? o : 0;
}

static int s_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* s_features - the feature vector of text (see the header comment):
 * malloc'd, sorted, ending with the bias and index -1; NULL on invalid
 * UTF-8 or OOM.  *kw (unless NULL) gets a flag per reason whose keywords
 * it has. */
static struct feature_node *s_features(const intake_tagger_t *t, const char *text, size_t len,
                                       unsigned char *kw)
{
    if (u8_check((const uint8_t *)text, len))
        return NULL;
    size_t fl = 0;
    uint8_t *fold = u8_casefold((const uint8_t *)text, len, NULL, UNINORM_NFKD, NULL, &fl);
    if (!fold && len)
        return NULL;
    /* code points, each token padded by a space on both sides; the
     * skeleton of the longest word */
    ucs4_t *cp = malloc((fl * 3 + 4) * sizeof *cp); /* a one-letter word: 3 */
    ucs4_t *sk = malloc((fl + 2) * sizeof *sk);
    s_feats_t f = {0};
    struct feature_node *x = NULL;
    if (!cp || !sk)
        goto done;
    size_t n = 0, tok = 0, prev_word = 0, prev_len = 0;
    int in = 0; /* 0 none, 1 a word, 2 a run of ideographs */
    int have_prev = 0;
    for (size_t i = 0; i <= fl;) {
        ucs4_t c = 0;
        int k = 1, type = 0;
        if (i < fl) {
            k = u8_mbtouc(&c, fold + i, fl - i);
            if (k <= 0)
                k = 1;
            if (uc_is_general_category(c, UC_CATEGORY_M) ||
                ((c == '\'' || c == 0x2019 || c == 0x02bc) && in == 1)) {
                i += (size_t)k; /* accents; apostrophes inside a word */
                continue;
            }
            if (c == 0x142)
                c = 'l';
            type = uc_is_property_ideographic(c) ? 2 : uc_is_alnum(c) ? 1 : 0;
        }
        if (in && type != in) { /* a token ends */
            size_t wl = n - tok;
            if (in == 1) {
                if (s_push(&f, s_hash_run('w', cp + tok, wl)))
                    goto done;
                if (have_prev) { /* the bigram: previous word, space, this one */
                    uint64_t h = s_hash_run('b', cp + prev_word, prev_len);
                    h = s_hash(h, ' ');
                    for (size_t j = 0; j < wl; j++)
                        h = s_hash(h, cp[tok + j]);
                    if (s_push(&f, h))
                        goto done;
                }
                /* padded: " word " */
                memmove(cp + tok + 1, cp + tok, wl * sizeof *cp);
                cp[tok] = ' ';
                cp[tok + wl + 1] = ' ';
                if (s_ngrams(&f, 'c' << 8, cp + tok, wl + 2, NGRAM_MIN, NGRAM_MAX))
                    goto done;
                size_t sn = s_skeleton(cp + tok, wl + 2, sk);
                if (sn && s_ngrams(&f, 's' << 8, sk, sn, NGRAM_MIN, NGRAM_MAX))
                    goto done;
                for (size_t pl = PREFIX_MIN; pl <= PREFIX_MAX && pl < wl; pl++)
                    if (s_push(&f, s_hash_run('p' + (uint32_t)(pl << 8), cp + tok + 1, pl)))
                        goto done;
                prev_word = tok + 1;
                prev_len = wl;
                have_prev = 1;
                n = tok + wl + 2;
            } else {
                if (s_ngrams(&f, 'z' << 8, cp + tok, wl, 1, 2))
                    goto done;
                have_prev = 0;
            }
            in = 0;
        }
        if (i >= fl)
            break;
        if (type == 0) { /* punctuation and spaces end a run of words for bigrams */
            if (c != ' ' && c != '\t' && c != '\n' && !uc_is_space(c))
                have_prev = 0;
        } else {
            if (!in) {
                in = type;
                tok = n;
            }
            cp[n++] = c;
        }
        i += (size_t)k;
    }
    /* binary features at unit length, then the bias */
    if (f.n) /* an empty text has none (and qsort wants a pointer) */
        qsort(f.h, f.n, sizeof *f.h, s_cmp_u32);
    size_t uniq = 0;
    for (size_t i = 0; i < f.n; i++)
        if (i == 0 || f.h[i] != f.h[i - 1])
            f.h[uniq++] = f.h[i];
    if (kw) /* tagging: the keywords weigh in (training does not use them) */
        memset(kw, 0, (size_t)t->nreasons);
    if (kw && t->m) {
        int idx[REASONS_MAX_CODES];
        int found = intake_match_tag(t->m, text, len, idx, REASONS_MAX_CODES);
        for (int i = 0; i < found; i++)
            kw[idx[i]] = 1;
    }
    x = malloc((uniq + 2) * sizeof *x);
    if (!x)
        goto done;
    double v = uniq ? 1.0 / sqrt((double)uniq) : 0;
    size_t o = 0;
    for (size_t i = 0; i < uniq; i++) {
        x[o].index = (int)f.h[i];
        x[o++].value = v;
    }
    x[o].index = DIM + 1; /* the bias */
    x[o++].value = 1.0;
    x[o].index = -1;
    x[o].value = 0;
done:
    free(fold);
    free(cp);
    free(sk);
    free(f.h);
    return x;
}

/* --- building ------------------------------------------------------------ */

intake_tagger_t *intake_tagger_new(const reasons_t *r, const intake_match_t *m,
                                   int threshold_percent)
{
    intake_tagger_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->r = r;
    t->m = m;
    t->nreasons = (int)reasons_count(r);
    t->praise = t->nreasons;
    t->threshold = threshold_percent / 100.0;
    t->class_of = malloc(((size_t)t->nreasons + 1) * sizeof *t->class_of);
    if (!t->class_of) {
        free(t);
        return NULL;
    }
    for (int i = 0; i <= t->nreasons; i++)
        t->class_of[i] = -1;
    set_print_string_function(s_quiet);
    return t;
}

void intake_tagger_destroy(intake_tagger_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    intake_tagger_t *t = *self_p;
    for (size_t i = 0; i < t->nex; i++) {
        free(t->ex[i].x);
        free(t->ex[i].text);
    }
    free(t->ex);
    if (t->model)
        free_and_destroy_model(&t->model);
    free(t->labels);
    free(t->class_of);
    free(t->slot);
    free(t);
    *self_p = NULL;
}

int intake_tagger_add(intake_tagger_t *t, const char *locale, const char *code,
                      const char *text)
{
    int label = strcmp(code, REASON_EXAMPLES_PRAISE) == 0 ? t->praise : reasons_find(t->r, code);
    int elsewhere = label < 0;
    if (elsewhere) { /* a reason this taxonomy lacks: a complaint all the same */
        if (t->nelsewhere++ % ELSEWHERE_EVERY)
            return 1;
        label = t->praise + 1;
    }
    if (t->nex == t->capex) {
        size_t nc = t->capex ? t->capex * 2 : 1024;
        s_example_t *e = realloc(t->ex, nc * sizeof *e);
        if (!e)
            return -1;
        t->ex = e;
        t->capex = nc;
    }
    if (u8_check((const uint8_t *)text, strlen(text)))
        return 1; /* invalid UTF-8: the readers check it; skip */
    char *copy = strdup(text);
    if (!copy)
        return -1;
    s_example_t *e = &t->ex[t->nex++];
    e->label = label;
    e->x = NULL; /* made before training, on every thread (s_featurize) */
    e->text = copy;
    snprintf(e->locale, sizeof e->locale, "%s", locale ? locale : "");
    return elsewhere;
}

size_t intake_tagger_examples(const intake_tagger_t *t) { return t->nex; }

/* s_remap - x (hashed indices) in the model's indices (slot; bias at
 * nslots + 1), dropping features no training example had: their weights
 * would be 0.  Into out (room for x's length); returns out. */
static struct feature_node *s_remap(const struct feature_node *x, const int32_t *slot,
                                    int nslots, struct feature_node *out)
{
    size_t o = 0;
    for (; x->index != -1; x++) {
        int to = x->index == DIM + 1 ? nslots + 1 : slot[x->index];
        if (to > 0) {
            out[o].index = to;
            out[o++].value = x->value;
        }
    }
    out[o].index = -1;
    out[o].value = 0;
    return out;
}

static size_t s_len(const struct feature_node *x)
{
    size_t n = 1;
    while (x[n - 1].index != -1)
        n++;
    return n;
}

/* rand - LIBLINEAR's dual solver visits the examples in an order that
 * rand() shuffles.  Trained one after another (LIBLINEAR's train() of a
 * multi-class problem), the classes drew from one stream, so a class's
 * model depended on those trained before it; trained on two threads they
 * would depend on the scheduling, and no two starts would tag alike.  So
 * this definition, which interposes the C library's for liblinear.so (a
 * shared library's calls bind to the executable's symbols first), draws
 * from a stream of the calling thread's own, which s_train_class restarts
 * for each class: a class's model depends on its examples only, whatever
 * the threads.  Hark uses no rand() of its own (secrets come from
 * libsodium).  A 64-bit LCG (Knuth's MMIX constants); its top 31 bits,
 * 0..RAND_MAX. */
static _Thread_local uint64_t s_rand_state = RAND_SEED;

int rand(void)
{
    s_rand_state = s_rand_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (int)(s_rand_state >> 33);
}

/* One class against the rest, for s_train's threads */
typedef struct {
    const struct problem *prob;   /* shared, read only; y: labels */
    const struct parameter *param;
    const int *labels;            /* the classes */
    int nclass;
    int next;                     /* the next class to train (under lock) */
    pthread_mutex_t lock;
    double *w;                    /* the multi-class model's weights: w[j * nclass + c] */
    int failed;
} s_ovr_t;

/* s_train_class - the one-against-the-rest model of class c into w: what
 * LIBLINEAR's train() of the whole problem computes for it (the same
 * sub-problem, C for both sides), but with c's own shuffling stream */
static int s_train_class(s_ovr_t *o, int c)
{
    const struct problem *prob = o->prob;
    struct problem sub = *prob;
    sub.y = malloc((size_t)prob->l * sizeof *sub.y);
    if (!sub.y)
        return -1;
    for (int i = 0; i < prob->l; i++)
        sub.y[i] = prob->y[i] == o->labels[c] ? 1 : -1;
    if (sub.y[0] < 0) { /* LIBLINEAR's first label is the one it models: c's first */
        for (int i = 1; i < prob->l; i++)
            if (sub.y[i] > 0) {
                struct feature_node **x = malloc((size_t)prob->l * sizeof *x);
                double *y = malloc((size_t)prob->l * sizeof *y);
                if (!x || !y) {
                    free(x);
                    free(y);
                    free(sub.y);
                    return -1;
                }
                /* c's example first, the rest in order: the solver shuffles */
                x[0] = prob->x[i];
                y[0] = 1;
                for (int j = 0, o2 = 1; j < prob->l; j++)
                    if (j != i) {
                        x[o2] = prob->x[j];
                        y[o2++] = sub.y[j];
                    }
                free(sub.y);
                sub.x = x;
                sub.y = y;
                break;
            }
    }
    s_rand_state = RAND_SEED;
    struct model *m = train(&sub, o->param);
    if (sub.x != prob->x)
        free(sub.x);
    free(sub.y);
    if (!m)
        return -1;
    for (int j = 0; j < prob->n; j++)
        o->w[(size_t)j * (size_t)o->nclass + (size_t)c] = m->w[j];
    free_and_destroy_model(&m);
    return 0;
}

static void *s_train_worker(void *arg)
{
    s_ovr_t *o = arg;
    for (;;) {
        pthread_mutex_lock(&o->lock);
        int c = o->failed ? o->nclass : o->next++;
        pthread_mutex_unlock(&o->lock);
        if (c >= o->nclass)
            return NULL;
        if (s_train_class(o, c)) {
            pthread_mutex_lock(&o->lock);
            o->failed = 1;
            pthread_mutex_unlock(&o->lock);
        }
    }
}

/* s_train_ovr - the one-against-the-rest model of prob's classes, as
 * LIBLINEAR's train() makes it, but with the classes trained on
 * TRAIN_THREADS threads: LIBLINEAR trains them one after another, and
 * Debian's build has no OpenMP.  Two classes make one model, as in
 * LIBLINEAR.  NULL on OOM. */
static struct model *s_train_ovr(const struct problem *prob, const struct parameter *param)
{
    struct model *m = calloc(1, sizeof *m);
    s_ovr_t o = {.prob = prob, .param = param};
    int *labels = malloc((size_t)prob->l * sizeof *labels);
    if (!m || !labels)
        goto fail;
    for (int i = 0; i < prob->l; i++) { /* in order of first appearance, as LIBLINEAR */
        int c = 0;
        while (c < o.nclass && labels[c] != (int)prob->y[i])
            c++;
        if (c == o.nclass)
            labels[o.nclass++] = (int)prob->y[i];
    }
    if (o.nclass <= 2) {
        free(labels);
        free(m);
        s_rand_state = RAND_SEED;
        return train(prob, param);
    }
    o.labels = labels;
    o.w = calloc((size_t)prob->n * (size_t)o.nclass, sizeof *o.w);
    if (!o.w || pthread_mutex_init(&o.lock, NULL))
        goto fail;
    pthread_t th[TRAIN_THREADS];
    int started = 0;
    while (started < TRAIN_THREADS - 1 && pthread_create(&th[started], NULL, s_train_worker, &o) == 0)
        started++;
    s_train_worker(&o); /* this thread too; alone, should no thread start */
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&o.lock);
    if (o.failed)
        goto fail;
    m->param = *param;
    m->nr_class = o.nclass;
    m->nr_feature = prob->bias >= 0 ? prob->n - 1 : prob->n;
    m->bias = prob->bias;
    m->w = o.w;
    m->label = realloc(labels, (size_t)o.nclass * sizeof *labels);
    if (!m->label)
        m->label = labels;
    return m; /* free_and_destroy_model frees it: LIBLINEAR allocates with malloc */
fail:
    free(o.w);
    free(labels);
    free(m);
    return NULL;
}

/* s_featurize - the feature vectors of the examples that have none yet,
 * on TRAIN_THREADS threads: hashing 15,000 examples' n-grams one after
 * another took 0.5-0.6 s of a start's 1.6-1.9.  Each vector is its text's
 * alone, so the model is the same.  0, or -1 (out of memory). */
typedef struct {
    intake_tagger_t *t;
    size_t first;
    int failed;
} s_featjob_t;

static void *s_featurize_worker(void *arg)
{
    s_featjob_t *j = arg;
    for (size_t i = j->first; i < j->t->nex; i += TRAIN_THREADS) {
        s_example_t *e = &j->t->ex[i];
        if (!e->x && !(e->x = s_features(j->t, e->text, strlen(e->text), NULL)))
            j->failed = 1;
    }
    return NULL;
}

static int s_featurize(intake_tagger_t *t)
{
    s_featjob_t job[TRAIN_THREADS];
    pthread_t th[TRAIN_THREADS];
    int started[TRAIN_THREADS];
    for (size_t k = 0; k < TRAIN_THREADS; k++) {
        job[k] = (s_featjob_t){.t = t, .first = k};
        started[k] = k > 0 && pthread_create(&th[k], NULL, s_featurize_worker, &job[k]) == 0;
    }
    s_featurize_worker(&job[0]);
    int failed = job[0].failed;
    for (size_t k = 1; k < TRAIN_THREADS; k++) {
        if (started[k])
            pthread_join(th[k], NULL);
        else
            s_featurize_worker(&job[k]); /* no thread: this one does its share */
        failed |= job[k].failed;
    }
    return failed ? -1 : 0;
}

/* s_train - a model of the examples but those of fold `skip` of k (skip
 * < 0: all), and its index map (*slot, malloc'd; *nslots).  Training
 * runs over the features the examples have (a few ten thousand), not the
 * whole hashed space: LIBLINEAR's solver works on dense vectors of the
 * problem's width, and 2^18 of them made training 20 times slower.  NULL
 * when there are no two classes to tell apart or out of memory. */
static struct model *s_train(const intake_tagger_t *t, int skip, int k, int32_t **slot_p,
                             int *nslots_p)
{
    struct problem prob = {0};
    size_t cap = t->nex ? t->nex : 1;
    prob.y = malloc(cap * sizeof *prob.y);
    prob.x = calloc(cap, sizeof *prob.x);
    int32_t *slot = calloc((size_t)DIM + 2, sizeof *slot);
    int nslots = 0;
    struct model *model = NULL;
    if (!prob.y || !prob.x || !slot)
        goto done;
    int first = -1, two = 0;
    for (size_t i = 0; i < t->nex; i++) {
        if (skip >= 0 && (int)(i % (size_t)k) == skip)
            continue;
        for (const struct feature_node *f = t->ex[i].x; f->index != -1; f++)
            if (f->index <= DIM && !slot[f->index])
                slot[f->index] = ++nslots;
        prob.y[prob.l++] = t->ex[i].label;
        if (t->ex[i].label > t->praise)
            continue; /* reasons elsewhere and one other class make no model */
        if (first < 0)
            first = t->ex[i].label;
        two |= t->ex[i].label != first;
    }
    if (!two)
        goto done;
    prob.l = 0;
    for (size_t i = 0; i < t->nex; i++) {
        if (skip >= 0 && (int)(i % (size_t)k) == skip)
            continue;
        struct feature_node *x = malloc(s_len(t->ex[i].x) * sizeof *x);
        if (!x)
            goto done;
        prob.x[prob.l++] = s_remap(t->ex[i].x, slot, nslots, x);
    }
    prob.n = nslots + 1;
    prob.bias = 1;
    struct parameter param = {0};
    param.solver_type = L2R_LR_DUAL;
    param.eps = TRAIN_EPS;
    param.C = LR_C;
    if (check_parameter(&prob, &param))
        goto done;
    model = s_train_ovr(&prob, &param);
done:
    for (int i = 0; prob.x && i < prob.l; i++)
        free(prob.x[i]);
    free(prob.y);
    free(prob.x);
    if (model) {
        *slot_p = slot;
        *nslots_p = nslots;
    } else {
        free(slot);
    }
    return model;
}

/* s_use - make model (with its index map) the tagger's; NULL: none */
static int s_use(intake_tagger_t *t, struct model *model, int32_t *slot, int nslots)
{
    if (t->model)
        free_and_destroy_model(&t->model);
    free(t->labels);
    free(t->slot);
    t->labels = NULL;
    t->slot = slot;
    t->nslots = nslots;
    for (int i = 0; i <= t->nreasons; i++)
        t->class_of[i] = -1;
    t->model = model;
    t->nclass = model ? get_nr_class(model) : 0;
    if (!model)
        return 0;
    t->labels = malloc((size_t)t->nclass * sizeof *t->labels);
    if (!t->labels)
        return -1;
    get_labels(model, t->labels);
    for (int c = 0; c < t->nclass; c++)
        if (t->labels[c] >= 0 && t->labels[c] <= t->nreasons)
            t->class_of[t->labels[c]] = c;
    return 0;
}

int intake_tagger_train(intake_tagger_t *t)
{
    int32_t *slot = NULL;
    int nslots = 0;
    if (s_featurize(t))
        return -1;
    struct model *m = s_train(t, -1, 0, &slot, &nslots);
    return s_use(t, m, slot, nslots);
}

int intake_tagger_trained(const intake_tagger_t *t) { return t->model != NULL; }

/* --- tagging ------------------------------------------------------------- */

/* s_order - labels 0..n by prob, best first (insertion sort: a dozen) */
static void s_order(const double *prob, int n, int *order)
{
    for (int l = 0; l < n; l++) {
        int j = l;
        while (j > 0 && prob[order[j - 1]] < prob[l]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = l;
    }
}

int intake_tagger_tag(const intake_tagger_t *t, const char *text, size_t len, intake_tag_t *out)
{
    memset(out, 0, sizeof *out);
    unsigned char kw[REASONS_MAX];
    int other = reasons_other(t->r);
    struct feature_node *x = s_features(t, text, len, kw);
    if (!x)
        return -1;
    if (!t->model) { /* no examples: the keywords alone, in taxonomy order */
        for (int i = 0; i < t->nreasons && out->n < REASONS_MAX_CODES; i++)
            if (kw[i] && i != other)
                out->idx[out->n++] = i;
        out->keywords = out->n > 0;
        out->confidence = out->n ? 1.0 : 0;
        if (!out->n) {
            out->idx[out->n++] = other;
            out->review = 1;
        }
        free(x);
        return 0;
    }
    /* each class's own probability (its one-against-the-rest model), not
     * predict_probability's normalised share: a share grows as classes
     * get fewer (a taxonomy of four reasons makes "hello there" 25%
     * anything), the class's own probability does not */
    double prob[REASONS_MAX + 1] = {0}, dec[REASONS_MAX + 2];
    predict_values(t->model, s_remap(x, t->slot, t->nslots, x), dec);
    free(x);
    double elsewhere = 0; /* a reason this taxonomy lacks */
    for (int c = 0; c < t->nclass; c++) {
        double p = t->nclass == 2 ? 1 / (1 + exp(c == 0 ? -dec[0] : dec[0])) /* one model */
                                  : 1 / (1 + exp(-dec[c]));
        if (t->labels[c] > t->praise)
            elsewhere = p;
        else if (t->labels[c] >= 0)
            prob[t->labels[c]] = p;
    }
    for (int l = 0; l < t->nreasons; l++) {
        if (!kw[l] || l == other)
            continue;
        double p = t->class_of[l] >= 0 ? prob[l]
                                       : 1.0 / (t->nclass + 1); /* keywords but no examples */
        p = p * KW_BOOST / (1 - p + p * KW_BOOST); /* a keyword multiplies the odds */
        prob[l] = p > t->threshold ? p : t->threshold; /* and is never below the threshold */
    }
    int order[REASONS_MAX + 1] = {0}, n = t->nreasons + 1;
    s_order(prob, n, order);
    out->praise_p = prob[t->praise];
    if (order[0] == t->praise && prob[t->praise] >= t->threshold &&
        prob[t->praise] > elsewhere && prob[t->praise] >= PRAISE_MIN) {
        out->praise = 1;
        out->confidence = prob[t->praise];
        return 0;
    }
    for (int i = 0; i < n && out->n < REASONS_MAX_CODES; i++) {
        int l = order[i];
        if (l == t->praise)
            continue;
        if (prob[l] < (out->n == 0 ? t->threshold : SECOND_KW_MIN))
            break; /* best first: none after this one makes it either */
        if (out->n > 0 && !kw[l] && prob[l] < SECOND_MIN)
            continue;
        if (out->n == 0)
            out->confidence = prob[l];
        out->idx[out->n++] = l;
        out->keywords |= kw[l];
    }
    if (out->n == 0) { /* not sure enough: other, for staff to decide */
        int best = order[0] == t->praise && n > 1 ? order[1] : order[0];
        out->confidence = prob[best];
        out->idx[out->n++] = other;
        out->review = 1;
    } else if (out->idx[0] == other) {
        out->n = 1; /* `other` (greetings, questions) stands alone, for staff */
        out->review = 1;
    } else {
        for (int i = 1; i < out->n; i++) /* other beside a reason adds nothing */
            if (out->idx[i] == other) {
                memmove(out->idx + i, out->idx + i + 1, (size_t)(out->n - i - 1) * sizeof(int));
                out->n--;
                break;
            }
    }
    return 0;
}

/* --- evaluating ---------------------------------------------------------- */

typedef struct {
    char locale[16];
    long right, total;
} s_tally_t;

typedef struct {
    const intake_tagger_t *t;
    FILE *out;
    s_tally_t tally[64];
    int ntally;
    long right, total;
} s_eval_t;

/* s_tally - the per-locale count of loc */
static s_tally_t *s_tally(s_eval_t *e, const char *loc)
{
    for (int i = 0; i < e->ntally; i++)
        if (strcmp(e->tally[i].locale, loc) == 0)
            return &e->tally[i];
    if (e->ntally == (int)(sizeof e->tally / sizeof e->tally[0]))
        return &e->tally[e->ntally - 1];
    s_tally_t *x = &e->tally[e->ntally++];
    snprintf(x->locale, sizeof x->locale, "%s", loc);
    return x;
}

/* s_got - what the tagger made of text, as a code */
static const char *s_got(const intake_tagger_t *t, const intake_tag_t *g)
{
    if (g->praise)
        return REASON_EXAMPLES_PRAISE;
    return reasons_get(t->r, (size_t)g->idx[0])->code;
}

static int s_eval_one(const char *locale, const char *code, const char *text, void *arg)
{
    s_eval_t *e = arg;
    intake_tag_t g;
    if (intake_tagger_tag(e->t, text, strlen(text), &g))
        return 0;
    const char *got = s_got(e->t, &g);
    int ok = strcmp(got, code) == 0;
    s_tally_t *x = s_tally(e, locale);
    x->total++;
    e->total++;
    x->right += ok;
    e->right += ok;
    if (!ok && e->out)
        fprintf(e->out, "miss %s %s -> %s%s (%.2f): %s\n", locale, code, got,
                g.review ? " review" : "", g.confidence, text);
    return 0;
}

/* s_print - the per-locale accuracy lines; the overall fraction */
static double s_print(const s_eval_t *e, FILE *out)
{
    for (int i = 0; out && i < e->ntally; i++)
        fprintf(out, "locale %s %ld/%ld %.1f%%\n", e->tally[i].locale, e->tally[i].right,
                e->tally[i].total, 100.0 * (double)e->tally[i].right /
                                       (double)(e->tally[i].total ? e->tally[i].total : 1));
    double acc = e->total ? (double)e->right / (double)e->total : 0;
    if (out)
        fprintf(out, "total %ld/%ld %.1f%%\n", e->right, e->total, 100.0 * acc);
    return acc;
}

double intake_tagger_evaluate(const intake_tagger_t *t, const char *path, FILE *out,
                              void (*report)(const char *msg, void *arg), void *arg)
{
    s_eval_t e = {.t = t, .out = out};
    int errors = 0;
    if (reason_examples_load(path, t->r, 0, s_eval_one, &e, report, arg, &errors) < 0 || errors)
        return -1;
    return s_print(&e, out);
}

double intake_tagger_cross_validate(intake_tagger_t *t, int k, FILE *out)
{
    s_eval_t e = {.t = t, .out = out};
    if (s_featurize(t))
        return -1;
    for (int fold = 0; fold < k; fold++) {
        int32_t *slot = NULL;
        int nslots = 0;
        struct model *m = s_train(t, fold, k, &slot, &nslots);
        if (s_use(t, m, slot, nslots) || !t->model)
            break;
        for (size_t i = (size_t)fold; i < t->nex; i += (size_t)k) {
            const s_example_t *x = &t->ex[i];
            if (x->label > t->praise)
                continue; /* a reason this taxonomy lacks: not a test */
            const char *code = x->label == t->praise ? REASON_EXAMPLES_PRAISE
                                                     : reasons_get(t->r, (size_t)x->label)->code;
            s_eval_one(x->locale, code, x->text, &e);
        }
    }
    s_use(t, NULL, NULL, 0);
    return s_print(&e, out);
}
