/*
 * staff_link.h - the links in staff mail (team alerts, breach alerts,
 * detractor alerts, the NPS digest): pages of Hark Console.
 *
 * Staff open a case in the console, not in the admin API (which answers a
 * browser 401) nor the gateway (which has no such page).  The base is the
 * service's own [intake] / [survey] staff_url when set, else [console]
 * public_url when the settings table has that key, else the console's
 * default address, STAFF_LINK_DEFAULT.  Pages:
 *   <base>/cases/<case id>          one case
 *   <base>/cases?customer=<id>      a customer's cases (a detractor alert:
 *                                   its case is opened later, by hark-intake)
 *   <base>/cases                    the inbox (the digest)
 * Ids are percent-encoded (RFC 3986 unreserved characters stay), so a
 * customer's id can neither end the link nor add a parameter.
 */
#ifndef HARK_STAFF_LINK_H
#define HARK_STAFF_LINK_H

#include <stddef.h>

#include "config.h"

#define STAFF_LINK_DEFAULT "http://127.0.0.1:8081"

/* staff_link_base - the console's base URL for section's staff links into
 * out, without a trailing '/'; returns out */
const char *staff_link_base(const config_t *cfg, const char *section, char *out, size_t len);

/* staff_link_make - base + path + the percent-encoded id (NULL: none) into
 * out.  0, or -1 when it does not fit (out is then "") */
int staff_link_make(const char *base, const char *path, const char *id, char *out, size_t len);

#endif
