/*
 * milestone_coupon.h - personal coupon codes in birthday and anniversary
 * messages: hark-milestone makes them, `hark coupon verify` (and a shop
 * holding the key) checks them.
 */
#ifndef HARK_MILESTONE_COUPON_H
#define HARK_MILESTONE_COUPON_H

/* milestone_coupon_make - "<PREFIX>-<token>": an HMAC under key (purpose
 * "coupon") of kind, year and customer id, so whoever holds the key can
 * tell offline that the code is genuine, whose it is and for which year.
 * Caller frees; NULL on error. */
char *milestone_coupon_make(const char *key, const char *prefix, int kind, int year,
                            const char *cid);

/* milestone_coupon_verify - 0 when code is genuine (kind, year and the customer
 * id, malloc'd for the caller, filled); -1 otherwise */
int milestone_coupon_verify(const char *key, const char *code, int *kind, int *year, char **cid);

#endif
