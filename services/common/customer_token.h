/*
 * customer_token.h - a customer's token for the feedback and cancel forms
 * (/feedback, /cancel): purpose "customer" (token.c), payload
 * "<customer id>\n<locale>".  The gateway checks them; `hark cases token`
 * and the shop make them.
 */
#ifndef HARK_CUSTOMER_TOKEN_H
#define HARK_CUSTOMER_TOKEN_H

/* customer_token_make - a malloc'd token for customer_id (1..128 bytes, no
 * newline) and locale (at most 35 bytes, what customer_token_check takes);
 * NULL on a bad id or locale, or no memory */
char *customer_token_make(const char *key, const char *customer_id, const char *locale);

/* customer_token_check - fills id (129 bytes) and locale (36 bytes) from a
 * genuine token; 0/-1 */
int customer_token_check(const char *key, const char *token, char *id, char *locale);

#endif
