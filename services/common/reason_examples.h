/*
 * reason_examples.h - the labelled examples hark-intake's tagger learns
 * from ([intake] examples, config/reason_examples.tsv): one a line,
 * LOCALE<TAB>REASON<TAB>TEXT, where REASON is a code of the taxonomy or
 * `praise` (a comment that raises no reason).  hark-intake reads them at
 * start; `hark check-config` checks them.
 */
#ifndef HARK_REASON_EXAMPLES_H
#define HARK_REASON_EXAMPLES_H

#include "reasons.h"

#define REASON_EXAMPLES_PRAISE "praise" /* the class that is not a reason */
#define REASON_EXAMPLES_TEXT_MAX 10000  /* characters, as a complaint's text */
#define REASON_EXAMPLES_SHIPPED "config/reason_examples.tsv"

/* reason_examples_add_fn - one good example: locale normalized ("pt-br"),
 * code a reason of the taxonomy or "praise" (any code when strict < 0);
 * nonzero stops the reading */
typedef int (*reason_examples_add_fn)(const char *locale, const char *code, const char *text,
                                      void *arg);

/* reason_examples_load - read the examples at path.  Each good line goes
 * to add (when not NULL).  A line with a malformed locale, an empty or
 * over-long text, invalid UTF-8 or a code that is neither `praise` nor a
 * reason of r goes to report(msg, arg) as "FILE:LINE: message" and is
 * counted in *errors; with strict == 0 an unknown code is skipped
 * silently instead (a taxonomy may have fewer reasons than the shipped
 * examples), and with strict < 0 it goes to add as well (hark-intake
 * learns those as complaints of a reason it lacks).  Lines starting with
 * '#' and blank lines are skipped.  Returns the number of examples given
 * to add, or -1 when the file cannot be read (reported) or add said stop. */
long reason_examples_load(const char *path, const reasons_t *r, int strict,
                          reason_examples_add_fn add, void *add_arg,
                          void (*report)(const char *msg, void *arg), void *arg, int *errors);

/* reason_examples_check_config - check [intake] examples against [intake]
 * reasons (hark check-config); the number of errors.  In the shipped
 * examples a code the taxonomy lacks is skipped (a taxonomy of one's own
 * learns the reasons it shares with them); in any other file it is an
 * error. */
int reason_examples_check_config(const config_t *cfg, const reasons_t *r,
                                 void (*report)(const char *msg, void *arg), void *arg);

#endif
